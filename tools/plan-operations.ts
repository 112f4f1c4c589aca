/**
 * The offline plan's day-two summary: what is backed up, how often and for how long, and which
 * alerts tell whom. From the validated config and the resources the program registered, so the
 * alert names are those that will exist.
 */
import { ClusterConfig } from "../components/config";
import { shareSnapshotKeepDays } from "../components/constants";
import { PlannedResource } from "./plan-format";

const ALERT_TYPES = [
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:cloudwatch/eventRule:EventRule",
    "azure-native:monitor:MetricAlert",
    "azure-native:monitor:ScheduledQueryRule",
    "azure-native:alertsmanagement:AlertProcessingRuleByName",
];

export interface OperationsSummary {
    backups: string[];
    alerts: { to: string; names: string[] };
}

export function operationsSummary(cfg: ClusterConfig, resources: PlannedResource[]): OperationsSummary {
    const { enabled, everyHours, retentionDays, copyToRegion } = cfg.backup;
    const schedule = `every ${everyHours} h from 00:00 UTC`;
    const shared = cfg.storage.queueRecovery === "shared";
    const backups = !enabled
        ? ["none (backup.enabled: false)"]
        : cfg.cloud === "aws"
          ? [`AWS Backup of ${shared ? "the EFS file system" : "the two data volumes"} ${schedule}, kept ${retentionDays} days${copyToRegion ? `, copied to ${copyToRegion}` : ""}`]
          : shared
            ? [`share snapshots of the shared queue by the active worker ${schedule}, kept ${shareSnapshotKeepDays(everyHours, retentionDays)} days`]
            : [
                  `Azure Disk Backup of the two data disks ${schedule}, kept ${retentionDays} days${copyToRegion ? `, the newest of each copied hourly to ${copyToRegion} by the active worker` : ""}`,
              ];
    const receivers = [
        ...(cfg.alerts.emails.length > 0 ? [`${cfg.alerts.emails.length} email address${cfg.alerts.emails.length === 1 ? "" : "es"}`] : []),
        ...(cfg.alerts.webhookUrl !== undefined ? ["a webhook"] : []),
    ];
    const to = receivers.length > 0 ? receivers.join(" and ") : "nobody yet: set alerts.emails or alerts.webhookUrl";
    const names = resources.filter((r) => ALERT_TYPES.includes(r.type)).map((r) => r.name);
    return { backups, alerts: { to, names } };
}

export function renderOperations(summary: OperationsSummary): string {
    return [`Backups: ${summary.backups.join("; ")}`, `Alerts (${summary.alerts.names.length}, to ${summary.alerts.to}): ${summary.alerts.names.join(", ")}`].join("\n");
}
