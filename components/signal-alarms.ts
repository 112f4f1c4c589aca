/**
 * The alarms on what a worker reports about itself (SIGNAL_METRICS, published by
 * publish-event.py), one list for both clouds: each cloud's alerts module turns an entry into a
 * CloudWatch alarm or an Azure metric alert on that worker's metric.
 */
import type { AlertsConfig } from "./config-types";
import { LEASE_STORE_SILENT_SECONDS, SIGNAL_ALARM_WINDOWS, SIGNAL_METRICS } from "./constants";

/** The lease store and the disk's fill: the shortest window both clouds take. */
const SIGNAL_ALARM_MINUTES = SIGNAL_ALARM_WINDOWS[0];

export interface SignalAlarm {
    /** The alarm's name is `${cluster}-${worker}-${suffix}`. */
    suffix: string;
    metric: string;
    /** Fires when each minute's highest value is under the threshold (`below`) or over it (`above`), `minutes` in a row. */
    when: "below" | "above";
    threshold: number;
    minutes: number;
    /** Whether a worker that reports nothing counts as failing (CloudWatch's treatMissingData). */
    silenceFails: boolean;
    description: string;
}

export function signalAlarms(worker: string, leaseStore: string, alerts: Pick<AlertsConfig, "unhealthyMinutes" | "diskFillPercent">): SignalAlarm[] {
    const { unhealthyMinutes, diskFillPercent } = alerts;
    return [
        {
            suffix: "iguana-unhealthy",
            metric: SIGNAL_METRICS.iguanaHealthy,
            when: "below",
            threshold: 1,
            minutes: unhealthyMinutes,
            // A worker that reports nothing (its publisher, its guard or the machine gone) is no standby either.
            silenceFails: true,
            description: `Worker ${worker}: its Iguana has been unhealthy (or its lease guard silent) for ${unhealthyMinutes} minutes: if it is the standby the cluster has none; if it was active, its peer has taken over. Check Iguana's service and the lease guard's journal on it (docs/operations.md#alerts).`,
        },
        {
            suffix: "lease-store",
            metric: SIGNAL_METRICS.leaseStoreReachable,
            when: "below",
            threshold: 1,
            minutes: SIGNAL_ALARM_MINUTES,
            // Silence is the iguana-unhealthy alarm's to report.
            silenceFails: false,
            description: `Worker ${worker}: its lease guard has had no answer from the lease store (${leaseStore}) for ${LEASE_STORE_SILENT_SECONDS} s and more, ${SIGNAL_ALARM_MINUTES} minutes running: it cannot become or stay active (docs/lease.md).`,
        },
        {
            suffix: "disk-fill",
            metric: SIGNAL_METRICS.dataDiskUsedPercent,
            when: "above",
            threshold: diskFillPercent,
            minutes: SIGNAL_ALARM_MINUTES,
            silenceFails: false,
            description: `Worker ${worker}: the file system of Iguana's working directory (its queue) is over ${diskFillPercent} % full. Grow the data disk (workers.dataDiskGb) or clear old logs before Iguana cannot write its queue.`,
        },
    ];
}
