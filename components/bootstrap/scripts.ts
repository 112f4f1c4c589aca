/**
 * The shell scripts a worker runs. Each is rendered from the bootstrap settings; none holds a
 * secret (the admin password is fetched at boot through the machine's own identity).
 */
import { EFS_UTILS_GIT, IGUANA_START_GRACE_SECONDS } from "../constants";
import { IGUANA_USER, IGUANA_UNIT, BootstrapSettings, SecretSource, stateFile, SharedStorageLocator, isSharedLocator } from "./settings";
import { GUARD } from "./lease";
import { SCRIPTS_LOG_TAG } from "../log-events";
import { vipMoverCommand } from "./vip";
import { publishEventCommand } from "./events";

export const LLP_CHAIN = "IGUANA_HA_LLP";
/** The nat chain that sends traffic for a public port to stunnel's port (tls.enabled). */
export const TLS_REDIRECT_CHAIN = "IGUANA_HA_TLS";
/** iptables multiport takes at most 15 ports per rule. */
const MULTIPORT_MAX = 15;

/** Shell single-quoting: safe for any value (URLs, paths). */
export function shq(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

const HEADER = (what: string) => `#!/bin/bash
# ${what}
# Rendered by iguana-ha. Do not edit by hand.
set -euo pipefail
`;

/**
 * The lease guard's notify: records the role and opens or closes the gated ports to match it;
 * with shared storage starts or stops Iguana; with a floating IP lets go of the VIP (the guard
 * takes it itself, before it calls MASTER).
 */
export function renderNotifyScript(s: BootstrapSettings): string {
    const gate = shq(`${s.paths.libDir}/llp-gate.sh`);
    const service = shq(`${s.paths.libDir}/iguana-service.sh`);
    const floating = s.failoverStrategy === "floating-ip";
    // The guard says "takeover" when it saw the peer hold the lease before it became active: tell the cloud.
    const onMaster = [
        `${gate} open`,
        ...(isShared(s) ? [`${service} start`] : []),
        ...(s.events ? [`if [ "$detail" = takeover ]; then ${publishEventCommand(s, "takeover")}; fi`] : []),
    ];
    // Shared mode: Iguana first, and SIGKILL, not a stop that may take minutes: the fence must be
    // done by 2L/3, and a killed Iguana writes nothing more to the queue (the kernel gate has
    // already closed the LLP ports at the deadline).
    const onOther = [...(isShared(s) ? [`${service} kill`] : []), `${gate} close`, ...(floating ? [vipMoverCommand(s, "release")] : [])];
    const why = [
        ...(isShared(s) ? ["# Shared working directory: Iguana runs only on the lease holder, so two never write one queue."] : []),
        ...(floating ? ["# Floating IP: the VIP is let go in the background (the fence never waits on a cloud API)."] : []),
    ];
    return `${HEADER("The lease guard's notify: $1 = the new role (MASTER = holds the lease and is active; STARTING, BACKUP, FENCING, STOP); $2 = takeover when a MASTER took the lease over from its peer.")}
state="\${1:-UNKNOWN}"
detail="\${2:-}"
run_dir=${shq(s.paths.runDir)}
umask 022
mkdir -p "$run_dir"
chmod 0755 "$run_dir"
printf '%s\\n' "$state" > "$run_dir/state.tmp"
chmod 0644 "$run_dir/state.tmp"
mv "$run_dir/state.tmp" ${shq(stateFile(s))}
logger -t ${SCRIPTS_LOG_TAG} "role of ${s.self.name}: $state" || true
${why.map((l) => `${l}\n`).join("")}case "$state" in
    MASTER)
${onMaster.map((c) => `        ${c}`).join("\n")}
        ;;
    *)
${onOther.map((c) => `        ${c}`).join("\n")}
        ;;
esac
${
    s.events
        ? `# Every change of role is told to the cloud at once, not at the signals timer's next minute.
${publishEventCommand(s, "signals")}
`
        : ""
}`;
}

/** Whether the LLP gate is open: written by llp-gate.sh (docs/lease.md). */
export function gateFile(s: Pick<BootstrapSettings, "paths">): string {
    return `${s.paths.runDir}/gate`;
}

export function isShared(s: BootstrapSettings): boolean {
    return s.queueRecovery === "shared";
}

/** Marker files of the shared mode, in the run dir: when Iguana was started, and that it answered since. */
export function iguanaMarkers(s: BootstrapSettings): { started: string; healthy: string } {
    return { started: `${s.paths.runDir}/iguana-started`, healthy: `${s.paths.runDir}/iguana-healthy` };
}

/**
 * Shared mode only: starts (on promotion) or kills (on any other state) this worker's Iguana.
 * Start does not wait for Iguana (the guard must not block on it); kill ends it at once and
 * waits until it has exited, so a fenced worker has stopped writing the queue when this returns.
 * Stop (SIGTERM, then SIGKILL after the unit's stop timeout) is for an operator.
 */
export function renderIguanaServiceScript(s: BootstrapSettings): string {
    const markers = iguanaMarkers(s);
    const unit = `${IGUANA_UNIT[s.edition]}.service`;
    return `${HEADER("Starts (start), stops (stop) or kills (kill) Iguana on this worker: the notify script runs it. iguana-service.sh start|stop|kill")}
action="\${1:?usage: iguana-service.sh start|stop|kill}"
service_command=${shq(s.serviceCommand ?? "systemctl")}
unit=${shq(unit)}
mkdir -p ${shq(s.paths.runDir)}
case "$action" in
    start)
        # Written whole (a rename), so the track script never reads it half-written.
        date +%s > ${shq(`${markers.started}.new`)}
        mv -f ${shq(`${markers.started}.new`)} ${shq(markers.started)}
        rm -f ${shq(markers.healthy)}
        "$service_command" start --no-block "$unit"
        ;;
    stop)
        rm -f ${shq(markers.started)} ${shq(markers.healthy)}
        "$service_command" stop "$unit" || true
        ;;
    kill)
        # The fence: no more writes to the shared queue from this moment (Iguana journals every
        # message before it acknowledges it, so a killed Iguana loses nothing acknowledged).
        rm -f ${shq(markers.started)} ${shq(markers.healthy)}
        "$service_command" kill --signal=SIGKILL "$unit" || true
        "$service_command" stop "$unit" || true
        ;;
    *)
        echo "usage: iguana-service.sh start|stop|kill" >&2
        exit 2
        ;;
esac
logger -t ${SCRIPTS_LOG_TAG} "Iguana on ${s.self.name}: $action" || true
`;
}

function chunks<T>(items: T[], size: number): T[][] {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
}

/**
 * Opens or closes the LLP channel ports. Closed, every packet to them is answered with a TCP
 * reset and established connections are killed: the passive worker never holds an MLLP feed,
 * even when an NLB fails open or an Azure LB keeps an old flow.
 */
export function renderLlpGateScript(s: BootstrapSettings): string {
    const rejectRules = chunks(s.gatedPorts, MULTIPORT_MAX)
        .map((ports) => `        iptables -w -A "$chain" -p tcp -m multiport --dports ${ports.join(",")} -j REJECT --reject-with tcp-reset`)
        .join("\n");
    const ports = s.gatedPorts.join(" ");
    return `${HEADER("Opens (MASTER: holds the lease) or closes (any other role) the LLP channel ports: llp-gate.sh open|close")}
chain=${LLP_CHAIN}
llp_ports=(${ports})
action="\${1:?usage: llp-gate.sh open|close}"

iptables -w -N "$chain" 2>/dev/null || true
iptables -w -C INPUT -j "$chain" 2>/dev/null || iptables -w -I INPUT 1 -j "$chain"
${tlsRedirectCommands(s)}
# What the gate is, for the operator and the drill: "open" is written before the ports open,
# "closed" once they are closed and every connection is gone, so it never says closed too early.
mkdir -p ${shq(s.paths.runDir)}
case "$action" in
    open)
        echo open > ${shq(gateFile(s))}
        iptables -w -F "$chain"
        ;;
    close)
        iptables -w -F "$chain"
${rejectRules || "        : # no LLP channels"}
        for port in "\${llp_ports[@]}"; do
            # End established connections now, not at their next packet.
            ss -K "( sport = :$port )" > /dev/null 2>&1 || true
        done
        echo closed > ${shq(gateFile(s))}
        ;;
    *)
        echo "usage: llp-gate.sh open|close" >&2
        exit 2
        ;;
esac
logger -t ${SCRIPTS_LOG_TAG} "LLP ports ${ports || "(none)"}: $action" || true
`;
}

/**
 * tls.enabled: every connection from outside the worker to a channel's or the dashboard's port is
 * redirected to stunnel's port, so only TLS reaches Iguana; stunnel connects to Iguana on
 * loopback, which PREROUTING never sees. Rules are added when missing and never flushed, so no
 * moment passes with a public port reaching Iguana in clear.
 */
function tlsRedirectCommands(s: BootstrapSettings): string {
    if (!s.tls) return "";
    const rules = s.tls.listeners.map((l) => `tls_redirect ${l.port} ${l.listenPort}`).join("\n");
    return `tls_chain=${TLS_REDIRECT_CHAIN}
iptables -w -t nat -N "$tls_chain" 2>/dev/null || true
iptables -w -t nat -C PREROUTING -p tcp -j "$tls_chain" 2>/dev/null || iptables -w -t nat -I PREROUTING 1 -p tcp -j "$tls_chain"
tls_redirect() {
    iptables -w -t nat -C "$tls_chain" -p tcp --dport "$1" -j REDIRECT --to-ports "$2" 2>/dev/null ||
        iptables -w -t nat -A "$tls_chain" -p tcp --dport "$1" -j REDIRECT --to-ports "$2"
}
${rules}
`;
}

/** The lease guard's health check: succeeds while this worker's Iguana is healthy. */
export function renderCheckIguanaScript(s: BootstrapSettings): string {
    const check = s.iguanaHealth;
    const command =
        check.protocol === "http"
            ? `curl -fsS -o /dev/null -m ${GUARD.checkTimeoutSeconds} ${shq(`http://127.0.0.1:${check.port}${check.path}`)}`
            : `timeout ${GUARD.checkTimeoutSeconds} bash -c ${shq(`exec 3<>/dev/tcp/127.0.0.1/${check.port}`)}`;
    const title = `Iguana health (${check.protocol === "http" ? `GET ${check.path}` : "TCP"} on port ${check.port}): the lease guard's health check.`;
    if (!isShared(s)) {
        return `${HEADER(title)}
exec ${command}
`;
    }
    const markers = iguanaMarkers(s);
    return `${HEADER(`${title} Shared working directory: the shared file system must answer on every worker; Iguana runs only on the MASTER.`)}
mount_point=${shq(s.paths.dataMount)}
# The shared file system is mounted and answers. A hung NFS server blocks statfs: KILL after 1 s.
mountpoint -q "$mount_point" || exit 1
timeout -s KILL 1 stat -f "$mount_point" > /dev/null || exit 1
state=$(cat ${shq(`${s.paths.runDir}/state`)} 2> /dev/null || echo UNKNOWN)
# A passive worker runs no Iguana: it is ready to take over while the shared file system answers.
[ "$state" = MASTER ] || exit 0
if ${command}; then
    touch ${shq(markers.healthy)}
    exit 0
fi
# Iguana answered since it was started, and no longer does: it failed. Hand over.
[ -e ${shq(markers.healthy)} ] && exit 1
# Still starting (it may rebuild its indexes): not a failure until the grace period is over.
# Just active, the notify not yet at "start": the grace counts from the promotion.
started=$(cat ${shq(markers.started)} 2> /dev/null || true)
case "$started" in
    "" | *[!0-9]*) started=$(stat -c %Y ${shq(stateFile(s))} 2> /dev/null || echo 0) ;;
esac
[ $(($(date +%s) - started)) -lt ${IGUANA_START_GRACE_SECONDS} ] && exit 0
exit 1
`;
}

function diskCandidates(s: BootstrapSettings): string[] {
    if (isSharedLocator(s.dataDisk)) throw new Error("prepare-disk.sh: this worker keeps its working directory on shared storage, not a data disk");
    if (s.dataDisk.kind === "azure-lun") {
        return [`/dev/disk/azure/scsi1/lun${s.dataDisk.lun}`];
    }
    // Nitro instances expose EBS as NVMe, named by volume id without the dash; Xen ones as xvdf.
    const id = s.dataDisk.volumeId.replace("-", "");
    return [`/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${id}`, `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${id}-ns-1`, "/dev/xvdf"];
}

/**
 * Finds the data disk, makes a filesystem only when it has none (a rebuilt worker keeps its
 * queue), mounts it and prepares Iguana's working directory on it. Runs at every boot.
 */
export function renderPrepareDiskScript(s: BootstrapSettings): string {
    return `${HEADER("Finds, formats (only if blank) and mounts the data disk; prepares Iguana's working directory.")}
mount_point=${shq(s.paths.dataMount)}
working_dir=${shq(s.paths.workingDir)}
candidates=(${diskCandidates(s).map(shq).join(" ")})

device=""
# The disk may be attached after first boot: wait up to 10 minutes.
for _ in $(seq 1 120); do
    for candidate in "\${candidates[@]}"; do
        if [ -b "$candidate" ]; then
            device=$(readlink -f "$candidate")
            break 2
        fi
    done
    sleep 5
done
if [ -z "$device" ]; then
    echo "iguana-ha: data disk not found (looked for \${candidates[*]})" >&2
    exit 1
fi

if blkid -p "$device" > /dev/null 2>&1; then
    echo "iguana-ha: $device already holds data; keeping it"
else
    echo "iguana-ha: $device is blank; creating an ext4 filesystem"
    mkfs.ext4 -q -L iguana-data "$device"
fi
mkdir -p "$mount_point"
# Mounted by this script at every boot (the iguana-data unit), not by fstab: Iguana requires it.
mountpoint -q "$mount_point" || mount -o defaults "$device" "$mount_point"
mkdir -p "$working_dir"
chown ${IGUANA_USER}:${IGUANA_USER} "$working_dir"
chmod 750 "$working_dir"
`;
}

function sharedMountCommands(locator: SharedStorageLocator, downloadProxy: string | undefined): string {
    if (locator.kind === "aws-efs") {
        // git and the build (cargo fetches efs-proxy's crates) through network.egress.proxy; mount.efs itself never.
        const proxyEnv = downloadProxy ? `export http_proxy=${shq(downloadProxy)} https_proxy=${shq(downloadProxy)}\n        ` : "";
        return `file_system=${shq(locator.fileSystemId)}
# amazon-efs-utils (mount.efs): TLS to the mount target, IAM authorisation with the instance
# role. Ubuntu has no package, so it is built from AWS's source, as its README says.
if ! command -v mount.efs > /dev/null; then
    build=$(mktemp -d)
    (
        ${proxyEnv}git clone --quiet --depth 1 --branch ${shq(EFS_UTILS_GIT.ref)} ${shq(EFS_UTILS_GIT.url)} "$build/efs-utils"
        cd "$build/efs-utils" && ./build-deb.sh
    )
    apt-get -y install "$build"/efs-utils/build/amazon-efs-utils*deb
    rm -rf "$build"
fi
entry="$file_system:/ $mount_point efs _netdev,noresvport,tls,iam,nofail 0 0"`;
    }
    return `source_path=${shq(`${locator.host}:${locator.exportPath}`)}
# NFS 4.1 to the share's private endpoint (Azure Files NFS has no TLS: the share is reachable
# only through the private endpoint in the VNet, from the two workers).
entry="$source_path $mount_point nfs vers=4,minorversion=1,sec=sys,nconnect=4,_netdev,nofail 0 0"`;
}

/**
 * Shared mode: mounts the shared file system where the data disk would be, so the working
 * directory keeps its fixed path (the Iguana ID, and so the license, depends on it).
 */
export function renderMountSharedScript(s: BootstrapSettings): string {
    if (!isSharedLocator(s.dataDisk)) throw new Error("renderMountSharedScript: the worker has no shared storage");
    return `${HEADER("Mounts the shared file system holding Iguana's working directory (storage.queueRecovery: shared).")}
mount_point=${shq(s.paths.dataMount)}
working_dir=${shq(s.paths.workingDir)}
${sharedMountCommands(s.dataDisk, s.downloadProxy)}
mkdir -p "$mount_point"
grep -qxF "$entry" /etc/fstab || echo "$entry" >> /etc/fstab
# Mount targets and private endpoint DNS records may appear minutes after the file system.
for _ in $(seq 1 60); do
    mountpoint -q "$mount_point" && break
    mount "$mount_point" || sleep 10
done
if ! mountpoint -q "$mount_point"; then
    echo "iguana-ha: the shared file system did not mount on $mount_point" >&2
    exit 1
fi
mkdir -p "$working_dir"
chown ${IGUANA_USER}:${IGUANA_USER} "$working_dir"
chmod 750 "$working_dir"
`;
}

/** Shell commands that print a secret's value, read from the cloud's secret store with the machine's identity. */
export function fetchSecretCommands(source: SecretSource): string {
    if (source.kind === "aws-secrets-manager") {
        return `region=${shq(source.region)}
secret_arn=${shq(source.secretArn)}
imds=http://169.254.169.254/latest
token=$(curl -fsS -X PUT "$imds/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
role=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/iam/security-credentials/")
credentials=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/iam/security-credentials/$role")
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
access_key=$(field AccessKeyId <<< "$credentials")
secret_key=$(field SecretAccessKey <<< "$credentials")
session_token=$(field Token <<< "$credentials")
# Credentials go to curl on stdin, never on a command line other users could read.
printf 'user = "%s:%s"\\nheader = "x-amz-security-token: %s"\\n' "$access_key" "$secret_key" "$session_token" |
    curl -fsS -K - --aws-sigv4 "aws:amz:$region:secretsmanager" \\
        -H "X-Amz-Target: secretsmanager.GetSecretValue" -H "Content-Type: application/x-amz-json-1.1" \\
        -d "{\\"SecretId\\":\\"$secret_arn\\"}" "https://secretsmanager.$region.amazonaws.com/" |
    field SecretString`;
    }
    return `vault=${shq(source.vaultName)}
secret_name=${shq(source.secretName)}
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
token=$(curl -fsS -H "Metadata: true" \\
    "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net" |
    field access_token)
printf 'header = "Authorization: Bearer %s"\\n' "$token" |
    curl -fsS -K - "https://$vault.vault.azure.net/secrets/$secret_name?api-version=7.4" |
    field value`;
}

/** Prints the admin password from the cloud's secret store, read with the machine's identity. */
export function renderFetchAdminPasswordScript(s: BootstrapSettings): string {
    const commands = s.adminPassword ? fetchSecretCommands(s.adminPassword) : `echo "iguana-ha: no admin password source configured" >&2\nexit 1`;
    return `${HEADER("Prints Iguana's admin password from the cloud secret store (machine identity). Never log its output.")}
${commands}
`;
}

/** Downloads and installs Iguana as a service running as a dedicated non-root user. */
export function renderInstallIguanaScript(s: BootstrapSettings): string {
    const app = shq(s.paths.appDir);
    const lib = s.paths.libDir;
    const unit = IGUANA_UNIT[s.edition];
    // Shared mode: installed and left stopped; the notify script starts it on the lease holder only.
    const enable = isShared(s)
        ? `systemctl disable ${unit} 2> /dev/null || true
echo "iguana-ha: Iguana is installed but not enabled: the lease guard starts it on the active worker only (shared working directory)"`
        : `systemctl enable --now ${unit}`;
    // With a shared working directory the other worker's Iguana may be running on it: only a
    // worker that finds it empty (the first boot of the cluster) sets the admin password.
    const passwordGuard = isShared(s)
        ? `if [ -n "$(ls -A "$working_dir" 2> /dev/null)" ]; then
    echo "iguana-ha: the shared working directory is already initialised; the admin password is set there"
else
`
        : "";
    const passwordGuardEnd = isShared(s) ? "\nfi" : "";
    const edition =
        s.edition === "iguanax"
            ? `printf '[server]\\nworking_dir=%s\\n' "$working_dir" > "$app_dir/iguana.ini"
chown -R ${IGUANA_USER}:${IGUANA_USER} "$app_dir"
${passwordGuard}password=""
# The machine's identity may take minutes to be granted read access (IAM and RBAC propagate slowly).
for _ in $(seq 1 60); do
    if password=$(${shq(`${lib}/fetch-admin-password.sh`)}); then break; fi
    password=""
    sleep 10
done
if [ -n "$password" ]; then
    (cd "$app_dir" && runuser -u ${IGUANA_USER} -- ./iguana --set_admin_password "$password" > /dev/null)
    echo "iguana-ha: admin password set from the cloud secret store"
else
    echo "iguana-ha: could not read the admin password from the secret store; Iguana keeps its default until you set it" >&2
fi
unset password${passwordGuardEnd}
(cd "$app_dir" && ./iguana --service install --username ${IGUANA_USER})
systemctl daemon-reload
${enable}`
            : `cat > "$app_dir/iguana_service.hdf" <<HDF
application{
   service_name=iguana6
   service_display_name=iNTERFACEWARE Iguana
   command_line_unix=./iguana --working_dir $working_dir
   service_kill_timeout=500000
}
HDF
chown -R ${IGUANA_USER}:${IGUANA_USER} "$app_dir"
echo "iguana-ha: Iguana 6 has no command to set the admin password: sign in to the dashboard and set it to the value in the cloud secret store"
systemctl daemon-reload
${enable}`;
    return `${HEADER(`Installs Iguana (${s.edition === "iguanax" ? "IguanaX" : "Iguana 6"}) from iguana.installerUrl.`)}
installer_url=${shq(s.installerUrl ?? "")}
installer_sha256=${shq(s.installerSha256 ?? "")}
download_proxy=${shq(s.downloadProxy ?? "")}
app_dir=${app}
working_dir=${shq(s.paths.workingDir)}

# To the boot log and the journal (stderr may be a socket, where /dev/stderr cannot be opened).
warn() {
    echo "iguana-ha: $*" >&2
    logger -t ${SCRIPTS_LOG_TAG} -- "$*" || true
}

if [ -z "$installer_url" ]; then
    warn "iguana.installerUrl is not set, so Iguana is NOT installed on ${s.self.name}." \\
        "This worker stays unhealthy in the load balancer until you set it and rebuild the worker."
    exit 0
fi
if [ -x "$app_dir/iguana" ]; then
    echo "iguana-ha: Iguana already installed in $app_dir"
    exit 0
fi

download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
curl -fsSL --retry 5 --retry-delay 5 \${download_proxy:+--proxy "$download_proxy"} -o "$download/installer" "$installer_url"
if [ -n "$installer_sha256" ]; then
    if ! echo "$installer_sha256  $download/installer" | sha256sum --check --status; then
        warn "the installer from $installer_url does not match iguana.installerSha256 ($installer_sha256): NOT installing it"
        exit 1
    fi
    echo "iguana-ha: installer verified (SHA-256 $installer_sha256)"
else
    warn "iguana.installerSha256 is not set: the installer is NOT verified"
fi
mkdir -p "$app_dir"
case "$installer_url" in
    *.zip) python3 -m zipfile -e "$download/installer" "$download/unpacked" && cp -a "$download"/unpacked/*/. "$app_dir"/ ;;
    *) tar -xzf "$download/installer" --strip-components=1 -C "$app_dir" ;;
esac
${edition}
`;
}
