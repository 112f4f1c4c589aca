/**
 * What only a worker knows, told to the cloud with the machine's identity (publish-event.py):
 * - when it takes the lease over from its peer (a failover, or a planned switchover), the notify
 *   script runs it detached and it writes one `Takeovers` datapoint;
 * - its signals (SIGNAL_METRICS: active, holds the lease, Iguana healthy, lease store reachable,
 *   disk fill), every minute from a timer and at once on every change of role.
 * The cloud's alarms on them tell the operators (docs/operations.md#alerts). The lease guard
 * never waits on either.
 */
import * as fs from "fs";
import * as path from "path";
import { EVENTS_NAMESPACE, SIGNALS_EVERY_SECONDS, SIGNAL_METRICS, TAKEOVER_METRIC } from "../constants";
import { guardFile, leaseFile } from "./lease";
import { BootstrapSettings, WorkerPaths } from "./settings";
import { INSTANCE_METADATA_URL } from "./vip";

export const SIGNALS_UNIT = "iguana-signals.service";
export const SIGNALS_TIMER = "iguana-signals.timer";
/** The guard writes its file at least every 5 s: three missed writes and it counts as not running. */
const GUARD_SILENT_SECONDS = 15;

export const PUBLISH_EVENT_SOURCE = fs.readFileSync(path.join(__dirname, "publish-event.py"), "utf8");

export function publishEventPath(paths: WorkerPaths): string {
    return `${paths.libDir}/publish-event.py`;
}

export function eventsConfigPath(paths: WorkerPaths): string {
    return `${paths.etcDir}/events.json`;
}

/** CloudWatch's endpoint in a region (the `monitoring` service; China's partition under amazonaws.com.cn). */
export function cloudWatchEndpoint(region: string): string {
    return `https://monitoring.${region}.amazonaws.com${region.startsWith("cn-") ? ".cn" : ""}/`;
}

/** Azure Monitor's custom-metrics ingestion endpoint of a region ("Send custom metrics ... using the REST API"). */
export function azureMonitorEndpoint(location: string): string {
    return `https://${location}.monitoring.azure.com`;
}

export function renderEventsConfig(s: BootstrapSettings): string {
    if (!s.events) throw new Error(`events.json: ${s.self.name} was given no place to publish events`);
    const imdsUrl = s.cloudApi?.imdsUrl ?? INSTANCE_METADATA_URL;
    const signals = {
        roleProbeUrl: `http://127.0.0.1:${s.roleProbe.port}${s.roleProbe.path}`,
        leaseFile: leaseFile(s),
        guardFile: guardFile(s),
        guardSilentSeconds: GUARD_SILENT_SECONDS,
        dataPath: s.paths.workingDir,
        lockFile: `${s.paths.runDir}/signals.lock`,
    };
    const metrics = { takeover: TAKEOVER_METRIC, ...SIGNAL_METRICS };
    const common = { cloud: s.cloud, namespace: EVENTS_NAMESPACE, metrics, signals, cluster: s.events.cluster, worker: s.self.name, imdsUrl };
    const config =
        s.events.kind === "aws-cloudwatch"
            ? { ...common, aws: { region: s.events.region, endpoint: cloudWatchEndpoint(s.events.region) } }
            : { ...common, azure: { endpoint: azureMonitorEndpoint(s.events.location) } };
    return `${JSON.stringify(config, null, 2)}\n`;
}

/** The notify script's line: publish `event` in the background, its words to the run directory's log. */
export function publishEventCommand(s: BootstrapSettings, event: "takeover" | "signals"): string {
    return `setsid -f /usr/bin/env python3 '${publishEventPath(s.paths)}' '${eventsConfigPath(s.paths)}' ${event} >> '${s.paths.runDir}/events.log' 2>&1 < /dev/null`;
}

export function renderSignalsUnit(s: BootstrapSettings): string {
    return `[Unit]
Description=iguana-ha: tell the cloud this worker's role, lease, Iguana health and disk fill
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 ${publishEventPath(s.paths)} ${eventsConfigPath(s.paths)} signals
TimeoutStartSec=${SIGNALS_EVERY_SECONDS}
`;
}

export function renderSignalsTimer(): string {
    return `[Unit]
Description=iguana-ha: report this worker's signals every ${SIGNALS_EVERY_SECONDS} s

[Timer]
OnActiveSec=${SIGNALS_EVERY_SECONDS}
OnUnitActiveSec=${SIGNALS_EVERY_SECONDS}
AccuracySec=1

[Install]
WantedBy=timers.target
`;
}
