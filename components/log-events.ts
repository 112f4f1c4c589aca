/**
 * The failover events an operator looks for in the workers' logs, one list for both clouds: each
 * becomes a saved CloudWatch Logs Insights query (AWS) and a saved Log Analytics search (Azure).
 * A worker's journal reaches the cloud through rsyslog: on AWS the CloudWatch agent ships
 * /var/log/syslog, where a line reads `<time> <host> <process>[<pid>]: <message>`; on Azure the
 * Azure Monitor Agent fills the Syslog table's ProcessName and SyslogMessage. The boot test
 * matches both forms against what booted workers wrote.
 */
export interface LogEvent {
    /** The saved query's name is `${cluster}-${name}`. */
    name: string;
    title: string;
    /** The syslog tag (ProcessName) that writes it; undefined: any. */
    process?: string;
    /** The one cloud whose workers write it; undefined: both. */
    cloud?: "aws" | "azure";
    /** The message, from its start: a regular expression that JavaScript, RE2 (KQL) and Logs Insights read alike. */
    message: string;
}

/** The tag of what the notify, service and gate scripts log (`logger -t`). */
export const SCRIPTS_LOG_TAG = "iguana-ha";
/** What the share snapshot tool writes before each of its lines (share-snapshot.py, log), under SCRIPTS_LOG_TAG. */
export const SHARE_SNAPSHOT_LOG_PREFIX = "share snapshot: ";
/** What the backup copy tool writes before each of its lines (disk-snapshot-copy.py, log), under SCRIPTS_LOG_TAG. */
export const DISK_COPY_LOG_PREFIX = "disk copy: ";
/** What the lease guard writes before each of its lines (lease-guard.py, log). */
export const LEASE_GUARD_LOG_PREFIX = "iguana-ha lease: ";

export const LOG_EVENTS: LogEvent[] = [
    { name: "role-changes", title: "Every change of a worker's role (MASTER, BACKUP, FENCING, STOP)", process: SCRIPTS_LOG_TAG, message: "role of [a-z0-9]+: [A-Z]+$" },
    { name: "became-active", title: "A worker became the active one", process: SCRIPTS_LOG_TAG, message: "role of [a-z0-9]+: MASTER$" },
    { name: "lease-taken-over", title: "A worker took the lease over from its peer (a failover)", message: `${LEASE_GUARD_LOG_PREFIX}active \\(epoch [0-9]+\\); took over from ` },
    { name: "lease-acquired", title: "Every lease the guard acquired, with the record it replaced", message: `${LEASE_GUARD_LOG_PREFIX}acquired the lease ` },
    { name: "iguana-health", title: "Iguana's health as the lease guard saw it change", message: `${LEASE_GUARD_LOG_PREFIX}Iguana is (un)?healthy` },
    { name: "llp-gate", title: "A worker's LLP ports opened (active) or closed (passive, fenced)", process: SCRIPTS_LOG_TAG, message: "LLP ports [^:]*: (open|close)$" },
    {
        name: "iguana-service",
        title: "Iguana started, stopped or killed on a worker (shared queue: Iguana runs on the active worker only)",
        process: SCRIPTS_LOG_TAG,
        message: "Iguana on [a-z0-9]+: [a-z]+$",
    },
    {
        name: "share-snapshots",
        title: "A snapshot of the shared queue's share taken or expired, or a run that failed (Azure, shared queue)",
        process: SCRIPTS_LOG_TAG,
        message: `${SHARE_SNAPSHOT_LOG_PREFIX}(took|deleted|failed)`,
        cloud: "azure",
    },
    {
        name: "backup-copies",
        title: "A data disk backup's copy to the disaster-recovery region started, failed or expired (Azure, backup.copyToRegion)",
        process: SCRIPTS_LOG_TAG,
        message: `${DISK_COPY_LOG_PREFIX}(started copy|deleted|failed|copy of [a-z0-9]+'s snapshot [^ ]+ failed)`,
        cloud: "azure",
    },
];

/** The events a cloud's workers can write: each gets a saved query there. */
export function logEventsOf(cloud: "aws" | "azure"): LogEvent[] {
    return LOG_EVENTS.filter((event) => event.cloud === undefined || event.cloud === cloud);
}

/** The regular expression a whole /var/log/syslog line of the event matches (CloudWatch Logs Insights' `like`). */
export function syslogLinePattern(event: LogEvent): string {
    return `${event.process ? ` ${escapeRegex(event.process)}(\\[[0-9]+\\])?` : "(\\[[0-9]+\\])?"}: ${event.message}`;
}

/** The saved CloudWatch Logs Insights query of an event. */
export function insightsQuery(event: LogEvent): string {
    return [`fields @timestamp, @logStream, @message`, `filter @message like /${syslogLinePattern(event)}/`, `sort @timestamp desc`].join("\n| ");
}

/** The saved Log Analytics (KQL) search of an event, on the Syslog table. */
export function kqlQuery(event: LogEvent): string {
    const where = [...(event.process ? [`ProcessName == "${event.process}"`] : []), `SyslogMessage matches regex @"^${event.message}"`];
    return [`Syslog`, `where ${where.join(" and ")}`, `project TimeGenerated, Computer, ProcessName, SyslogMessage`, `sort by TimeGenerated desc`].join("\n| ");
}

function escapeRegex(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
