/**
 * Step 12, the workers' logs in the cloud (`audit.workerLogs`, HIPAA 164.312(b)): the Azure
 * Monitor Agent (a VM extension, signed in with the VM's own identity) sends each worker's syslog
 * (its journal, through rsyslog) to a Log Analytics workspace, as a data collection rule says.
 * The Syslog table keeps `audit.retentionDays` (the interactive part at most 730 days, the rest in
 * long-term retention). A saved search per failover event (log-events.ts) finds them, and an alert
 * fires when a worker's agent has sent no heartbeat for ALERT_WINDOW: a VM that runs but is silent.
 * The workspace sits in the data resource group and, like the flow logs, outlives `pulumi destroy`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as monitor from "@pulumi/azure-native/monitor";
import * as operationalinsights from "@pulumi/azure-native/operationalinsights";
import { LOG_ANALYTICS_RETENTION } from "../constants";
import { DISK_COPY_LOG_PREFIX, SCRIPTS_LOG_TAG, SHARE_SNAPSHOT_LOG_PREFIX, kqlQuery, logEventsOf } from "../log-events";
import { DISK_COPY_UNIT } from "../bootstrap/disk-snapshot-copies";
import { ALERT_WINDOW, ALERT_WINDOW_MINUTES } from "./alerts";
import { AzureGroupContext } from "./context";
import type { AzureWorker } from "./workers";

/** The syslog facilities a worker's services and scripts write to (systemd services: daemon; logger: user). */
export const COLLECTED_FACILITIES = ["daemon", "user", "syslog", "auth", "kern"];
/** Every level from Info up: Debug is left out. */
export const COLLECTED_LEVELS = ["Info", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency"];
const SYSLOG_STREAM = "Microsoft-Syslog";
const WORKSPACE_DESTINATION = "workspace";

export interface AzureWorkerLogs {
    workspace: operationalinsights.Workspace;
    rule: monitor.DataCollectionRule;
    searches: operationalinsights.SavedSearch[];
    silentAlerts: monitor.ScheduledQueryRule[];
    /** Azure shared queue with backups: no share snapshot although the timer ran. */
    snapshotAlert?: monitor.ScheduledQueryRule;
    /** `backup.copyToRegion` with data disks: a copy run that failed. */
    copyAlert?: monitor.ScheduledQueryRule;
}

/** How long the Syslog table keeps the logs: `days` in all, the queryable part at most 730 of them. */
export function syslogRetention(days: number): { retentionInDays: number; totalRetentionInDays: number } {
    return { retentionInDays: Math.min(days, LOG_ANALYTICS_RETENTION.interactiveMaxDays), totalRetentionInDays: days };
}

/** The Heartbeat rows of one VM's agent (one a minute). */
export function heartbeatQuery(vmId: string): string {
    return `Heartbeat\n| where _ResourceId =~ "${vmId}"`;
}

export function createWorkerLogs(ctx: AzureGroupContext, workers: AzureWorker[], actionGroupId: pulumi.Input<string>): AzureWorkerLogs | undefined {
    const { name, cfg, opts, tags, location, resourceGroupName, dataGroup, keep } = ctx;
    if (!cfg.audit.workerLogs) return undefined;
    const days = cfg.audit.retentionDays;
    const workspace = new operationalinsights.Workspace(
        `${name}-worker-logs`,
        {
            resourceGroupName: dataGroup.name,
            location,
            sku: { name: "PerGB2018" },
            retentionInDays: Math.min(Math.max(days, LOG_ANALYTICS_RETENTION.workspaceMinDays), LOG_ANALYTICS_RETENTION.interactiveMaxDays),
            // Only Microsoft Entra sign-in (the agent's managed identity, an operator's account): no shared keys.
            features: { disableLocalAuth: true },
            tags: { ...tags, holds: "worker-logs" },
        },
        keep,
    );
    new operationalinsights.Table(`${name}-syslog`, { resourceGroupName: dataGroup.name, workspaceName: workspace.name, tableName: "Syslog", ...syslogRetention(days) }, keep);
    const rule = new monitor.DataCollectionRule(
        `${name}-worker-logs`,
        {
            resourceGroupName,
            location,
            kind: "Linux",
            description: `${name}: the Iguana workers' syslog to the cluster's Log Analytics workspace`,
            dataSources: { syslog: [{ name: "worker-syslog", streams: [SYSLOG_STREAM], facilityNames: COLLECTED_FACILITIES, logLevels: COLLECTED_LEVELS }] },
            destinations: { logAnalytics: [{ name: WORKSPACE_DESTINATION, workspaceResourceId: workspace.id }] },
            dataFlows: [{ streams: [SYSLOG_STREAM], destinations: [WORKSPACE_DESTINATION] }],
            tags,
        },
        opts,
    );
    const silentAlerts = workers.map(({ plan, vm }) => {
        const agent = new compute.VirtualMachineExtension(
            `${name}-${plan.name}-monitor-agent`,
            {
                resourceGroupName,
                location,
                vmName: vm.name,
                vmExtensionName: "AzureMonitorLinuxAgent",
                publisher: "Microsoft.Azure.Monitor",
                type: "AzureMonitorLinuxAgent",
                typeHandlerVersion: "1.0",
                autoUpgradeMinorVersion: true,
                enableAutomaticUpgrade: true,
                tags,
            },
            opts,
        );
        new monitor.DataCollectionRuleAssociation(
            `${name}-${plan.name}-worker-logs`,
            {
                associationName: `${name}-${plan.name}-worker-logs`,
                resourceUri: vm.id,
                dataCollectionRuleId: rule.id,
                description: "The worker's syslog to the cluster's workspace",
            },
            { ...opts, dependsOn: [agent] },
        );
        return logAlert(
            ctx,
            `${name}-${plan.name}-silent`,
            {
                description: `Worker ${plan.name}: its Azure Monitor Agent has sent no heartbeat in the last ${ALERT_WINDOW_MINUTES} minutes: the VM is stopped, hung or cut off, and the cluster may run without a standby. Check the VM and its boot diagnostics (docs/operations.md#alerts).`,
                workspace,
                every: ALERT_WINDOW,
                window: ALERT_WINDOW,
                query: vm.id.apply(heartbeatQuery),
                fires: { operator: "LessThan", threshold: 1 },
                actionGroupId,
            },
            [agent],
        );
    });
    const searches = logEventsOf("azure").map(
        (event) =>
            new operationalinsights.SavedSearch(
                `${name}-${event.name}`,
                {
                    resourceGroupName: dataGroup.name,
                    workspaceName: workspace.name,
                    savedSearchId: `${name}-${event.name}`,
                    category: "Iguana HA",
                    displayName: event.title,
                    query: kqlQuery(event),
                },
                opts,
            ),
    );
    const snapshotAlert = cfg.storage.queueRecovery === "shared" && cfg.backup.enabled ? createShareSnapshotAlert(ctx, workspace, actionGroupId) : undefined;
    const copyAlert = cfg.backup.enabled && cfg.backup.copyToRegion && cfg.storage.queueRecovery === "none" ? createBackupCopyAlert(ctx, workspace, actionGroupId) : undefined;
    return { workspace, rule, searches, silentAlerts, snapshotAlert, copyAlert };
}

/** The copy of the data disks' backups to the disaster-recovery region (disk-snapshot-copy.py) failed in the last hour: a run that failed, or a copy Azure could not finish. */
export function backupCopyFailedQuery(): string {
    const prefix = DISK_COPY_LOG_PREFIX;
    return [
        `Syslog`,
        `where ProcessName == "${SCRIPTS_LOG_TAG}" and SyslogMessage startswith "${prefix}"`,
        `where SyslogMessage startswith "${prefix}failed: " or (SyslogMessage startswith "${prefix}copy of " and SyslogMessage contains " failed: ")`,
    ].join("\n| ");
}

function createBackupCopyAlert(ctx: AzureGroupContext, workspace: operationalinsights.Workspace, actionGroupId: pulumi.Input<string>): monitor.ScheduledQueryRule {
    return logAlert(ctx, `${ctx.name}-backup-copy-failed`, {
        description: `A copy of the data disks' backups to ${ctx.cfg.backup.copyToRegion} failed in the last hour: the disaster-recovery region may not hold the newest backup. On the active worker: systemctl status ${DISK_COPY_UNIT}; journalctl -t ${SCRIPTS_LOG_TAG} | grep 'disk copy' (docs/operations.md#disaster-recovery).`,
        workspace,
        every: "PT1H",
        window: "PT1H",
        query: backupCopyFailedQuery(),
        fires: { operator: "GreaterThan", threshold: 0 },
        actionGroupId,
    });
}

/**
 * The shared queue's snapshots (share-snapshot.py) ran in the window but none was taken: the
 * active worker's run failed (ARM refused, the share's limit reached) or it never ran while the
 * passive one did. Before the first run there is no line at all, and nothing fires.
 */
export function shareSnapshotStaleQuery(): string {
    const prefix = SHARE_SNAPSHOT_LOG_PREFIX;
    return [
        `Syslog`,
        `where ProcessName == "${SCRIPTS_LOG_TAG}" and SyslogMessage startswith "${prefix}"`,
        `summarize runs = count(), taken = countif(SyslogMessage startswith "${prefix}took ")`,
        `where runs > 0 and taken == 0`,
    ].join("\n| ");
}

/** The window the stale-snapshot alert looks back over: one schedule period and an hour for a late timer and the agent's delay. */
export function shareSnapshotAlertWindowHours(everyHours: number): number {
    return everyHours + 1;
}

function createShareSnapshotAlert(ctx: AzureGroupContext, workspace: operationalinsights.Workspace, actionGroupId: pulumi.Input<string>): monitor.ScheduledQueryRule {
    const hours = shareSnapshotAlertWindowHours(ctx.cfg.backup.everyHours);
    return logAlert(ctx, `${ctx.name}-share-snapshots-stopped`, {
        description: `The shared queue's share has had no snapshot in the last ${hours} hours although the snapshot timer ran: the backup of the queue has stopped. On the active worker: systemctl status iguana-share-snapshot; journalctl -t ${SCRIPTS_LOG_TAG} | grep 'share snapshot' (docs/operations.md#the-shared-queue-on-azure-share-snapshots).`,
        workspace,
        every: "PT1H",
        window: `PT${hours}H`,
        query: shareSnapshotStaleQuery(),
        fires: { operator: "GreaterThan", threshold: 0 },
        actionGroupId,
    });
}

/** A log search alert on the workers' workspace: it fires when the count of the query's rows over `window` passes `fires`, and resolves by itself. */
function logAlert(
    ctx: AzureGroupContext,
    alertName: string,
    alert: {
        description: string;
        workspace: operationalinsights.Workspace;
        every: string;
        window: string;
        query: pulumi.Input<string>;
        fires: { operator: "LessThan" | "GreaterThan"; threshold: number };
        actionGroupId: pulumi.Input<string>;
    },
    dependsOn: pulumi.Resource[] = [],
): monitor.ScheduledQueryRule {
    const { opts, tags, location, resourceGroupName } = ctx;
    return new monitor.ScheduledQueryRule(
        alertName,
        {
            resourceGroupName,
            location,
            kind: "LogAlert",
            displayName: alertName,
            description: alert.description,
            severity: 2,
            enabled: true,
            scopes: [alert.workspace.id],
            evaluationFrequency: alert.every,
            windowSize: alert.window,
            criteria: {
                allOf: [
                    {
                        query: alert.query,
                        timeAggregation: "Count",
                        ...alert.fires,
                        failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 },
                    },
                ],
            },
            autoMitigate: true,
            actions: { actionGroups: [alert.actionGroupId] },
            tags,
        },
        { ...opts, dependsOn },
    );
}
