/**
 * What the worker's timer tools (the share snapshots, the backup copies) are run by: a oneshot
 * unit calling `TOOL CONFIG run` on both workers, whose lines carry the scripts' tag, and a timer.
 * The tool itself does nothing on the passive worker (iguana_ha_cloud.py, run_timer_tool).
 */
import { SCRIPTS_LOG_TAG } from "../log-events";

export function renderTimerToolUnit(description: string, script: string, config: string): string {
    return `[Unit]
Description=iguana-ha: ${description}
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 ${script} ${config} run
SyslogIdentifier=${SCRIPTS_LOG_TAG}
TimeoutStartSec=10min
`;
}

/** `persistent`: a run missed while the machine was off is made up at boot. */
export function renderTimerToolTimer(description: string, calendar: string, persistent = false): string {
    return `[Unit]
Description=iguana-ha: ${description}

[Timer]
OnCalendar=${calendar}
AccuracySec=1min
${persistent ? "Persistent=true\n" : ""}
[Install]
WantedBy=timers.target
`;
}
