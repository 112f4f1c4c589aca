/** systemd units and kernel settings a worker installs. */
import { roleProbeArgs, roleProbePath } from "./role-probe";
import { BootstrapSettings, IGUANA_UNIT, IGUANA_USER } from "./settings";

export const ROLE_PROBE_UNIT = "iguana-role-probe.service";
export const LLP_GATE_UNIT = "iguana-llp-gate.service";
export const VRRP_LINK_UNIT = "iguana-vrrp-link.service";

/** At every boot, before keepalived: the interface include and, on Azure, the VXLAN tunnel. */
export function renderVrrpLinkUnit(s: BootstrapSettings): string {
    return `[Unit]
Description=iguana-ha: prepare the link keepalived speaks VRRP on
After=network-online.target
Wants=network-online.target
Before=keepalived.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${s.paths.libDir}/vrrp-link.sh

[Install]
WantedBy=multi-user.target
`;
}

export function renderRoleProbeUnit(s: BootstrapSettings): string {
    return `[Unit]
Description=iguana-ha role probe (200 on ${s.roleProbe.path} only on the active worker)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=/usr/bin/python3 ${roleProbePath(s.paths)} ${roleProbeArgs(s).join(" ")}
Restart=always
RestartSec=1
DynamicUser=yes
ProtectSystem=strict
ReadOnlyPaths=-${s.paths.runDir}

[Install]
WantedBy=multi-user.target
`;
}

/** Closes the LLP ports at boot, before keepalived decides who is active. */
export function renderLlpGateUnit(s: BootstrapSettings): string {
    return `[Unit]
Description=iguana-ha: refuse LLP connections until keepalived makes this worker MASTER
Before=keepalived.service ${IGUANA_UNIT[s.edition]}.service
After=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${s.paths.libDir}/llp-gate.sh close

[Install]
WantedBy=multi-user.target
`;
}

/** When keepalived stops for any reason (even kill -9), record it and close the LLP ports. */
export function renderKeepalivedDropIn(s: BootstrapSettings): string {
    return `[Unit]
After=${LLP_GATE_UNIT} ${VRRP_LINK_UNIT}
Requires=${VRRP_LINK_UNIT}

[Service]
Restart=on-failure
RestartSec=2
ExecStopPost=${s.paths.libDir}/notify.sh INSTANCE IGUANA STOP 0
`;
}

/** Iguana 6 ships no systemd unit: this one runs its service wrapper as the iguana user. */
export function renderIguana6Unit(s: BootstrapSettings): string {
    return `[Unit]
Description=iNTERFACEWARE Iguana 6 (iguana_service)
After=network-online.target local-fs.target
Wants=network-online.target
RequiresMountsFor=${s.paths.workingDir}

[Service]
Type=simple
User=${IGUANA_USER}
WorkingDirectory=${s.paths.appDir}
ExecStart=${s.paths.appDir}/iguana_service
KillSignal=SIGTERM
TimeoutStopSec=120
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`;
}

/** Kernel TCP keepalive below the load balancer idle timeout. */
export function renderKeepaliveSysctl(s: BootstrapSettings): string {
    return `# iguana-ha: probe idle connections before the load balancer's idle timeout drops them.
# Applies to sockets that enable SO_KEEPALIVE.
net.ipv4.tcp_keepalive_time = ${s.tcpKeepaliveSeconds}
net.ipv4.tcp_keepalive_intvl = 15
net.ipv4.tcp_keepalive_probes = 4
`;
}

/**
 * Shared mode, IguanaX: its installer writes the unit; this drop-in makes it wait for the shared
 * file system (and stop when it goes away), and gives Iguana time to close its queue on stop.
 */
export function renderIguanaSharedDropIn(s: BootstrapSettings): string {
    return `[Unit]
RequiresMountsFor=${s.paths.workingDir}

[Service]
TimeoutStopSec=120
`;
}
