/** systemd units and kernel settings a worker installs. */
import { LEASE_GUARD_UNIT } from "./lease";
import { roleProbeArgs, roleProbePath } from "./role-probe";
import { BootstrapSettings, IGUANA_UNIT, IGUANA_USER } from "./settings";

export const ROLE_PROBE_UNIT = "iguana-role-probe.service";
export const LLP_GATE_UNIT = "iguana-llp-gate.service";
export const DATA_UNIT = "iguana-data.service";

/**
 * At every boot, before Iguana: the data disk found (it may attach late), formatted only when
 * blank, and mounted at the working directory; or the shared file system mounted there. A
 * service rather than an fstab line, because it works the same on a VM and in a container
 * (where systemd ignores fstab device entries) and Iguana can require it.
 */
export function renderDataUnit(s: BootstrapSettings): string {
    const shared = s.queueRecovery === "shared";
    return `[Unit]
Description=iguana-ha: Iguana's working directory on ${shared ? "the shared file system" : "the data disk"}
After=local-fs.target${shared ? " network-online.target\nWants=network-online.target" : ""}
Before=${IGUANA_UNIT[s.edition]}.service ${LEASE_GUARD_UNIT}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${s.paths.libDir}/${shared ? "mount-shared.sh" : "prepare-disk.sh"}
# The disk may attach minutes after the machine boots: the script waits up to 10 minutes.
TimeoutStartSec=15min

[Install]
WantedBy=multi-user.target
`;
}

/** What every Iguana unit needs: its working directory mounted first, and never the root disk. */
function iguanaStorageLines(s: BootstrapSettings): { unit: string; service: string } {
    return {
        unit: `Requires=${DATA_UNIT}\nAfter=${DATA_UNIT}\nRequiresMountsFor=${s.paths.workingDir}`,
        service: `ExecStartPre=/usr/bin/mountpoint -q ${s.paths.dataMount}`,
    };
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

/** Closes the LLP ports at boot, before the lease guard decides whether this worker is active. */
export function renderLlpGateUnit(s: BootstrapSettings): string {
    return `[Unit]
Description=iguana-ha: refuse LLP connections until this worker holds the lease
Before=${LEASE_GUARD_UNIT} ${IGUANA_UNIT[s.edition]}.service
After=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${s.paths.libDir}/llp-gate.sh close

[Install]
WantedBy=multi-user.target
`;
}

/** Iguana 6 ships no systemd unit: this one runs its service wrapper as the iguana user. */
export function renderIguana6Unit(s: BootstrapSettings): string {
    return `[Unit]
Description=iNTERFACEWARE Iguana 6 (iguana_service)
After=network-online.target local-fs.target
Wants=network-online.target
${iguanaStorageLines(s).unit}

[Service]
Type=simple
${iguanaStorageLines(s).service}
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
 * IguanaX: its installer writes the unit; this drop-in makes it wait for its working directory
 * (and stop when it goes away), and gives Iguana time to close its queue on stop.
 */
export function renderIguanaXDropIn(s: BootstrapSettings): string {
    const storage = iguanaStorageLines(s);
    return `[Unit]
${storage.unit}

[Service]
${storage.service}
TimeoutStopSec=120
`;
}
