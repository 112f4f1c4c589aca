/**
 * tls.enabled: stunnel (Ubuntu's stunnel4 package) ends TLS on the worker in front of every
 * channel and the dashboard (docs/tls.md). The certificate, key and client CAs come from the
 * cloud's secret store through the machine's identity, never from user data; a timer reads them
 * again and reloads stunnel when they changed, so a renewal needs no rebuild.
 */
import { BootstrapSettings } from "./settings";
import { fetchSecretCommands, shq } from "./scripts";
import { SCRIPTS_LOG_TAG } from "../log-events";

export const TLS_UNIT = "iguana-tls.service";
export const TLS_REFRESH_UNIT = "iguana-tls-refresh.service";
export const TLS_REFRESH_TIMER = "iguana-tls-refresh.timer";
/** The package, its binary and the system user it creates (Debian and Ubuntu: sysusers.d/stunnel4.conf). */
export const STUNNEL_PACKAGE = "stunnel4";
const STUNNEL_BINARY = "/usr/bin/stunnel4";
const STUNNEL_USER = "stunnel4";
/** How often a worker reads the bundle again: a renewed certificate is served within this. */
export const TLS_REFRESH_MINUTES = 15;

/**
 * TLS 1.2's suites: ECDHE key exchange and AEAD ciphers only (Mozilla's "intermediate" profile,
 * which TLS 1.3's own default suites already meet).
 */
export const TLS12_CIPHERS = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/** The bundle's keys in the secret (a JSON object of PEM text), and the file each is written to. */
export const TLS_BUNDLE_FILES = { certificate: "certificate.pem", privateKey: "private-key.pem", clientCa: "client-ca.pem" } as const;
export type TlsBundle = { certificate: string; privateKey: string; clientCa?: string };

export function tlsDir(s: Pick<BootstrapSettings, "paths">): string {
    return `${s.paths.etcDir}/tls`;
}

export function stunnelConfigPath(s: Pick<BootstrapSettings, "paths">): string {
    return `${s.paths.etcDir}/stunnel.conf`;
}

function requireTls(s: BootstrapSettings): NonNullable<BootstrapSettings["tls"]> {
    if (!s.tls || !s.tlsBundle) throw new Error("the worker's TLS files are rendered only with tls.enabled and a TLS bundle secret");
    return s.tls;
}

/**
 * Writes the bundle's PEM files into the TLS directory, each only when its text changed
 * (written aside, then renamed), readable by stunnel's group only. Prints "changed" or
 * "unchanged". Reads the bundle on stdin: it never appears on a command line.
 */
export const INSTALL_BUNDLE_PY = `import json, os, sys
directory, group, mutual = sys.argv[1], sys.argv[2], sys.argv[3] == "mutual"
files = ${JSON.stringify(TLS_BUNDLE_FILES)}
bundle = json.load(sys.stdin)
wanted = ["certificate", "privateKey"] + (["clientCa"] if mutual else [])
for key in wanted:
    if "-----BEGIN " not in str(bundle.get(key, "")):
        sys.exit("the TLS bundle has no PEM " + key)
gid = __import__("grp").getgrnam(group).gr_gid
os.makedirs(directory, mode=0o750, exist_ok=True)
os.chown(directory, 0, gid)
os.chmod(directory, 0o750)
changed = False
for key in wanted:
    path = os.path.join(directory, files[key])
    text = bundle[key].strip() + "\\n"
    try:
        with open(path) as current:
            if current.read() == text:
                continue
    except FileNotFoundError:
        pass
    aside = path + ".new"
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chown(aside, 0, gid)
    os.chmod(aside, 0o640)
    os.replace(aside, path)
    changed = True
print("changed" if changed else "unchanged")
`;

/** fetch-tls.sh [--reload]: installs the bundle from the secret store; --reload: stunnel re-reads it if it changed. */
export function renderFetchTlsScript(s: BootstrapSettings): string {
    const tls = requireTls(s);
    return `#!/bin/bash
# Installs the TLS certificate, key and client CAs from the cloud secret store (machine identity),
# and with --reload makes stunnel serve them when they changed. Never logs the bundle.
# Rendered by iguana-ha. Do not edit by hand.
set -euo pipefail
umask 077
reload=\${1:-}
bundle=$(
${fetchSecretCommands(s.tlsBundle!)}
)
result=$(python3 -c ${shq(INSTALL_BUNDLE_PY)} ${shq(tlsDir(s))} ${STUNNEL_USER} ${tls.mutual ? "mutual" : "server"} <<< "$bundle")
unset bundle
if [ "$result" = changed ]; then
    logger -t ${SCRIPTS_LOG_TAG} "TLS certificate installed from the secret store" || true
    if [ "$reload" = --reload ] && systemctl is-active --quiet ${TLS_UNIT}; then
        systemctl reload ${TLS_UNIT}
        logger -t ${SCRIPTS_LOG_TAG} "stunnel reloaded: new connections get the renewed certificate" || true
    fi
fi
`;
}

/** stunnel's configuration: one service per channel and the dashboard, TLS 1.2 at the least. */
export function renderStunnelConfig(s: BootstrapSettings): string {
    const tls = requireTls(s);
    const dir = tlsDir(s);
    const services = tls.listeners.map((l) => `[${l.name}]\naccept = 0.0.0.0:${l.listenPort}\nconnect = 127.0.0.1:${l.port}`).join("\n\n");
    const mutual = tls.mutual
        ? `
; Mutual TLS (tls.clientCa): a sender without a certificate that chains to these CAs is refused.
verifyChain = yes
requireCert = yes
CAfile = ${dir}/${TLS_BUNDLE_FILES.clientCa}`
        : "";
    return `; iguana-ha: TLS in front of Iguana's channels and dashboard (docs/tls.md).
; Rendered by iguana-ha. Do not edit by hand.
foreground = yes
syslog = no
pid =
debug = info

; Service-level options given here hold for every service below.
cert = ${dir}/${TLS_BUNDLE_FILES.certificate}
key = ${dir}/${TLS_BUNDLE_FILES.privateKey}
sslVersionMin = TLSv1.2
ciphers = ${TLS12_CIPHERS.join(":")}
options = CIPHER_SERVER_PREFERENCE
renegotiation = no
; Quiet MLLP feeds: the same keepalive as Iguana's own sockets (the kernel's settings).
socket = a:SO_KEEPALIVE=1${mutual}

${services}
`;
}

/**
 * stunnel, as its own unprivileged user. Starts only once the bundle is installed (it retries
 * until the machine's identity may read the secret); until then the redirected ports refuse.
 */
export function renderTlsUnit(s: BootstrapSettings): string {
    requireTls(s);
    return `[Unit]
Description=iguana-ha: TLS for Iguana's channels and dashboard (stunnel)
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStartPre=+${s.paths.libDir}/fetch-tls.sh
ExecStart=${STUNNEL_BINARY} ${stunnelConfigPath(s)}
ExecReload=/bin/kill -HUP $MAINPID
User=${STUNNEL_USER}
Group=${STUNNEL_USER}
Restart=always
RestartSec=10
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
`;
}

export function renderTlsRefreshUnit(s: BootstrapSettings): string {
    requireTls(s);
    return `[Unit]
Description=iguana-ha: read the TLS bundle again; reload stunnel if it changed

[Service]
Type=oneshot
ExecStart=${s.paths.libDir}/fetch-tls.sh --reload
`;
}

export function renderTlsRefreshTimer(): string {
    return `[Unit]
Description=iguana-ha: read the TLS bundle every ${TLS_REFRESH_MINUTES} minutes

[Timer]
OnBootSec=${TLS_REFRESH_MINUTES}min
OnUnitActiveSec=${TLS_REFRESH_MINUTES}min
RandomizedDelaySec=60

[Install]
WantedBy=timers.target
`;
}
