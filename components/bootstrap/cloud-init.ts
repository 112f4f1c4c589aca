/** Assembles a worker's files into the cloud-init user data (AWS) / custom data (Azure). */
import * as yaml from "js-yaml";
import { ROLE_PROBE_SOURCE, roleProbePath } from "./role-probe";
import {
    renderCheckIguanaScript,
    renderFetchAdminPasswordScript,
    renderInstallIguanaScript,
    renderLlpGateScript,
    renderNotifyScript,
    renderPrepareDiskScript,
    renderIguanaServiceScript,
    renderMountSharedScript,
    isShared,
} from "./scripts";
import { IGUANA_SHARED_UID } from "../constants";
import { VIP_MOVER_SOURCE, VIP_RECONCILE_TIMER, VIP_RECONCILE_UNIT, renderVipConfig, renderVipReconcileTimer, renderVipReconcileUnit, vipConfigPath, vipMoverPath } from "./vip";
import { BootstrapSettings, IGUANA_UNIT, IGUANA_USER } from "./settings";
import {
    CLOUD_LIBRARY_SOURCE,
    LEASE_GUARD_SOURCE,
    LEASE_GUARD_UNIT,
    PEER_FENCE_SOURCE,
    cloudLibraryPath,
    leaseConfigPath,
    leaseGuardPath,
    peerFenceConfigPath,
    peerFencePath,
    renderLeaseConfig,
    renderLeaseGuardUnit,
    renderPeerFenceConfig,
} from "./lease";
import {
    LLP_GATE_UNIT,
    ROLE_PROBE_UNIT,
    renderIguana6Unit,
    renderKeepaliveSysctl,
    renderLlpGateUnit,
    renderRoleProbeUnit,
    renderIguanaXDropIn,
    DATA_UNIT,
    renderDataUnit,
} from "./units";
import { PUBLISH_EVENT_SOURCE, SIGNALS_TIMER, SIGNALS_UNIT, eventsConfigPath, publishEventPath, renderEventsConfig, renderSignalsTimer, renderSignalsUnit } from "./events";
import {
    DISK_COPY_SOURCE,
    DISK_COPY_TIMER,
    DISK_COPY_UNIT,
    diskCopyConfigPath,
    diskCopyPath,
    renderDiskCopyConfig,
    renderDiskCopyTimer,
    renderDiskCopyUnit,
} from "./disk-snapshot-copies";
import {
    SHARE_SNAPSHOT_SOURCE,
    SHARE_SNAPSHOT_TIMER,
    SHARE_SNAPSHOT_UNIT,
    renderShareSnapshotConfig,
    renderShareSnapshotTimer,
    renderShareSnapshotUnit,
    shareSnapshotConfigPath,
    shareSnapshotPath,
} from "./share-snapshots";
import {
    STUNNEL_PACKAGE,
    TLS_REFRESH_TIMER,
    TLS_REFRESH_UNIT,
    TLS_UNIT,
    renderFetchTlsScript,
    renderStunnelConfig,
    renderTlsRefreshTimer,
    renderTlsRefreshUnit,
    renderTlsUnit,
    stunnelConfigPath,
} from "./tls";

export type FileKind = "shell" | "python" | "systemd" | "sysctl" | "json" | "stunnel";

export interface WorkerFile {
    path: string;
    permissions: "0644" | "0755";
    kind: FileKind;
    content: string;
    /** Written after packages are installed. */
    defer?: boolean;
}

const KEEPALIVE_SYSCTL_FILE = "/etc/sysctl.d/60-iguana-ha-keepalive.conf";

/**
 * rsyslog writes the journal to /var/log/syslog, which the CloudWatch agent ships (it reads files,
 * not the journal), and is what the Azure Monitor Agent collects syslog from (audit.workerLogs).
 * Ubuntu's images carry it; it is named so that every image does.
 */
export const WORKER_PACKAGES = ["iptables", "nftables", "curl", "python3", "git", "rsyslog"];

/**
 * Extra packages of the shared mode: the NFS client; on AWS also what building amazon-efs-utils
 * needs (its build-deb.sh; v2 builds its efs-proxy in Rust) and stunnel for older TLS mounts.
 */
export const SHARED_STORAGE_PACKAGES: Record<"aws-efs" | "azure-nfs", string[]> = {
    // build-deb.sh clones with git, builds with cargo and fills its control file with envsubst
    "aws-efs": ["nfs-common", "git", "binutils", "rustc", "cargo", "pkg-config", "libssl-dev", "gettext-base", "stunnel4"],
    "azure-nfs": ["nfs-common"],
};

export function workerPackages(s: BootstrapSettings): string[] {
    const packages = s.dataDisk.kind === "aws-efs" || s.dataDisk.kind === "azure-nfs" ? [...WORKER_PACKAGES, ...SHARED_STORAGE_PACKAGES[s.dataDisk.kind]] : WORKER_PACKAGES;
    return s.tls && !packages.includes(STUNNEL_PACKAGE) ? [...packages, STUNNEL_PACKAGE] : packages;
}

export function renderWorkerFiles(s: BootstrapSettings): WorkerFile[] {
    const lib = s.paths.libDir;
    const script = (name: string, content: string): WorkerFile => ({ path: `${lib}/${name}`, permissions: "0755", kind: "shell", content });
    const files: WorkerFile[] = [
        script("notify.sh", renderNotifyScript(s)),
        script("llp-gate.sh", renderLlpGateScript(s)),
        script("check-iguana.sh", renderCheckIguanaScript(s)),
        isShared(s) ? script("mount-shared.sh", renderMountSharedScript(s)) : script("prepare-disk.sh", renderPrepareDiskScript(s)),
        script("fetch-admin-password.sh", renderFetchAdminPasswordScript(s)),
        script("install-iguana.sh", renderInstallIguanaScript(s)),
        { path: roleProbePath(s.paths), permissions: "0755", kind: "python", content: ROLE_PROBE_SOURCE },
        { path: cloudLibraryPath(s.paths), permissions: "0644", kind: "python", content: CLOUD_LIBRARY_SOURCE },
        { path: leaseGuardPath(s.paths), permissions: "0755", kind: "python", content: LEASE_GUARD_SOURCE },
        { path: leaseConfigPath(s.paths), permissions: "0644", kind: "json", content: renderLeaseConfig(s) },
        { path: `/etc/systemd/system/${LEASE_GUARD_UNIT}`, permissions: "0644", kind: "systemd", content: renderLeaseGuardUnit(s, [LLP_GATE_UNIT, DATA_UNIT]) },
        { path: `/etc/systemd/system/${ROLE_PROBE_UNIT}`, permissions: "0644", kind: "systemd", content: renderRoleProbeUnit(s) },
        { path: `/etc/systemd/system/${LLP_GATE_UNIT}`, permissions: "0644", kind: "systemd", content: renderLlpGateUnit(s) },
        { path: `/etc/systemd/system/${DATA_UNIT}`, permissions: "0644", kind: "systemd", content: renderDataUnit(s) },
        { path: KEEPALIVE_SYSCTL_FILE, permissions: "0644", kind: "sysctl", content: renderKeepaliveSysctl(s) },
    ];
    if (s.edition === "iguana6") {
        files.push({ path: "/etc/systemd/system/iguana6.service", permissions: "0644", kind: "systemd", content: renderIguana6Unit(s) });
    } else {
        files.push({ path: `/etc/systemd/system/${IGUANA_UNIT.iguanax}.service.d/iguana-ha.conf`, permissions: "0644", kind: "systemd", content: renderIguanaXDropIn(s) });
    }
    if (s.vip) {
        files.push(
            { path: vipMoverPath(s.paths), permissions: "0755", kind: "python", content: VIP_MOVER_SOURCE },
            { path: vipConfigPath(s.paths), permissions: "0644", kind: "json", content: renderVipConfig(s) },
            { path: `/etc/systemd/system/${VIP_RECONCILE_UNIT}`, permissions: "0644", kind: "systemd", content: renderVipReconcileUnit(s) },
            { path: `/etc/systemd/system/${VIP_RECONCILE_TIMER}`, permissions: "0644", kind: "systemd", content: renderVipReconcileTimer() },
        );
    }
    if (s.peerFence) {
        files.push(
            { path: peerFencePath(s.paths), permissions: "0755", kind: "python", content: PEER_FENCE_SOURCE },
            { path: peerFenceConfigPath(s.paths), permissions: "0644", kind: "json", content: renderPeerFenceConfig(s) },
        );
    }
    if (s.events) {
        files.push(
            { path: publishEventPath(s.paths), permissions: "0755", kind: "python", content: PUBLISH_EVENT_SOURCE },
            { path: eventsConfigPath(s.paths), permissions: "0644", kind: "json", content: renderEventsConfig(s) },
            { path: `/etc/systemd/system/${SIGNALS_UNIT}`, permissions: "0644", kind: "systemd", content: renderSignalsUnit(s) },
            { path: `/etc/systemd/system/${SIGNALS_TIMER}`, permissions: "0644", kind: "systemd", content: renderSignalsTimer() },
        );
    }
    if (s.shareSnapshots) {
        files.push(
            { path: shareSnapshotPath(s.paths), permissions: "0755", kind: "python", content: SHARE_SNAPSHOT_SOURCE },
            { path: shareSnapshotConfigPath(s.paths), permissions: "0644", kind: "json", content: renderShareSnapshotConfig(s) },
            { path: `/etc/systemd/system/${SHARE_SNAPSHOT_UNIT}`, permissions: "0644", kind: "systemd", content: renderShareSnapshotUnit(s) },
            { path: `/etc/systemd/system/${SHARE_SNAPSHOT_TIMER}`, permissions: "0644", kind: "systemd", content: renderShareSnapshotTimer(s) },
        );
    }
    if (s.diskCopies) {
        files.push(
            { path: diskCopyPath(s.paths), permissions: "0755", kind: "python", content: DISK_COPY_SOURCE },
            { path: diskCopyConfigPath(s.paths), permissions: "0644", kind: "json", content: renderDiskCopyConfig(s) },
            { path: `/etc/systemd/system/${DISK_COPY_UNIT}`, permissions: "0644", kind: "systemd", content: renderDiskCopyUnit(s) },
            { path: `/etc/systemd/system/${DISK_COPY_TIMER}`, permissions: "0644", kind: "systemd", content: renderDiskCopyTimer(s) },
        );
    }
    if (s.tls) {
        files.push(
            script("fetch-tls.sh", renderFetchTlsScript(s)),
            { path: stunnelConfigPath(s), permissions: "0644", kind: "stunnel", content: renderStunnelConfig(s) },
            { path: `/etc/systemd/system/${TLS_UNIT}`, permissions: "0644", kind: "systemd", content: renderTlsUnit(s) },
            { path: `/etc/systemd/system/${TLS_REFRESH_UNIT}`, permissions: "0644", kind: "systemd", content: renderTlsRefreshUnit(s) },
            { path: `/etc/systemd/system/${TLS_REFRESH_TIMER}`, permissions: "0644", kind: "systemd", content: renderTlsRefreshTimer() },
        );
    }
    if (isShared(s)) {
        files.splice(1, 0, script("iguana-service.sh", renderIguanaServiceScript(s)));
    }
    return files;
}

/**
 * First boot, in order: kernel settings; LLP ports closed; the data disk; Iguana (with its admin
 * password from the secret store); the role probe; the lease guard.
 */
export function renderCloudInit(s: BootstrapSettings): string {
    const lib = s.paths.libDir;
    const iguanaHome = `/var/lib/${IGUANA_USER}`;
    const doc = {
        package_update: true,
        packages: workerPackages(s),
        ...(s.downloadProxy ? { apt: { http_proxy: s.downloadProxy, https_proxy: s.downloadProxy } } : {}),
        users: [
            "default",
            {
                name: IGUANA_USER,
                system: true,
                shell: "/usr/sbin/nologin",
                homedir: iguanaHome,
                // NFS compares numeric ids: both workers need the same uid on the shared file system.
                ...(isShared(s) ? { uid: IGUANA_SHARED_UID } : {}),
            },
        ],
        write_files: renderWorkerFiles(s).map((f) => ({
            path: f.path,
            owner: "root:root",
            permissions: f.permissions,
            content: f.content,
            ...(f.defer ? { defer: true } : {}),
        })),
        runcmd: [
            // One shell runs these in order: a step that fails stops the rest, and cloud-init
            // reports the error (the disk step failing must not leave Iguana on the root disk).
            "set -e",
            // A system user gets no home directory from cloud-init.
            ["install", "-d", "-o", IGUANA_USER, "-g", IGUANA_USER, "-m", "0750", iguanaHome],
            ["sysctl", "-p", KEEPALIVE_SYSCTL_FILE],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", LLP_GATE_UNIT],
            // The disk step runs as a unit (again at every boot): its own words go to the boot log too.
            `systemctl enable --now ${DATA_UNIT} || { journalctl -b -u ${DATA_UNIT} -o cat --no-pager | tail -n 20 >&2; exit 1; }`,
            [`${lib}/install-iguana.sh`],
            // Not --now: stunnel waits for the bundle (the identity's access may take minutes), and cloud-init must not.
            ...(s.tls
                ? [
                      ["systemctl", "enable", TLS_UNIT, TLS_REFRESH_TIMER],
                      ["systemctl", "start", "--no-block", TLS_UNIT, TLS_REFRESH_TIMER],
                  ]
                : []),
            ["systemctl", "enable", "--now", ROLE_PROBE_UNIT],
            ["systemctl", "enable", "--now", LEASE_GUARD_UNIT],
            ...(s.vip ? [["systemctl", "enable", "--now", VIP_RECONCILE_TIMER]] : []),
            ...(s.events ? [["systemctl", "enable", "--now", SIGNALS_TIMER]] : []),
            ...(s.shareSnapshots ? [["systemctl", "enable", "--now", SHARE_SNAPSHOT_TIMER]] : []),
            ...(s.diskCopies ? [["systemctl", "enable", "--now", DISK_COPY_TIMER]] : []),
        ],
    };
    return `#cloud-config\n# iguana-ha worker ${s.self.name} (${s.self.role}). Holds no secret: the admin password is read at boot from the cloud secret store.\n${yaml.dump(doc, { lineWidth: -1, noRefs: true })}`;
}
