/**
 * What the boot test asserts on booted machines: what cloud-init and systemd say, what the load
 * balancer would see (the role probe and the LLP ports, asked from the bridge), who is active,
 * and that an HL7 message sent to the active worker is journaled and acknowledged by it.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { LEASE_GUARD_UNIT } from "../components/bootstrap/lease";
import { IGUANA_UNIT, WORKER_PATHS } from "../components/bootstrap/settings";
import { DATA_UNIT } from "../components/bootstrap/units";
import { TLS_REFRESH_UNIT, TLS_UNIT } from "../components/bootstrap/tls";
import { SIGNALS_TIMER, SIGNALS_UNIT } from "../components/bootstrap/events";
import { DEFAULTS, EVENTS_NAMESPACE, SIGNALS_EVERY_SECONDS, SIGNAL_METRICS, TAKEOVER_METRIC, shareSnapshotKeepDays } from "../components/constants";
import { DISK_COPY_LOG_PREFIX, LOG_EVENTS, LogEvent, SCRIPTS_LOG_TAG, SHARE_SNAPSHOT_LOG_PREFIX, syslogLinePattern } from "../components/log-events";
import {
    SHARE_SNAPSHOT_SOURCE,
    SHARE_SNAPSHOT_TIMER,
    SHARE_SNAPSHOT_UNIT,
    ShareSnapshotSettings,
    renderShareSnapshotConfig,
    renderShareSnapshotTimer,
    renderShareSnapshotUnit,
    shareSnapshotConfigPath,
    shareSnapshotPath,
} from "../components/bootstrap/share-snapshots";
import { DiskCopyLocator, ShareSnapshotLocator } from "../components/bootstrap/settings";
import {
    DISK_COPY_SOURCE,
    DISK_COPY_TIMER,
    DISK_COPY_UNIT,
    DiskCopySettings,
    diskCopyConfigPath,
    diskCopyPath,
    renderDiskCopyConfig,
    renderDiskCopyTimer,
    renderDiskCopyUnit,
} from "../components/bootstrap/disk-snapshot-copies";
import { LAB_BACKUP_COPIES, LAB_SHARE_ID } from "./cloud-standin";
import { SHIPPED_LOG_FILES } from "../components/aws/logs";
import { sleep, waitFor } from "../drill/system";
import { BootedCluster, RenderedWorker } from "./cluster";
import { Machine } from "./machine";
import { WorkerName } from "../components/model";

export interface CheckResult {
    case: string;
    check: string;
    ok: boolean;
    detail?: string;
}

/** How long a first boot may take to finish cloud-init (packages come from the archive). */
const FIRST_BOOT_TIMEOUT_MS = 8 * 60 * 1000;
const REBOOT_TIMEOUT_MS = 3 * 60 * 1000;
/** How long the pair has to agree on one MASTER after its machines are up. */
const ELECTION_TIMEOUT_MS = 90 * 1000;

/** cloud-init's verdict: status, errors and the recoverable errors (warnings) it collected. */
export function cloudInitVerdict(json: string): { status: string; errors: string[]; warnings: string[] } {
    const doc = JSON.parse(json) as { status?: string; errors?: string[]; recoverable_errors?: Record<string, string[]> };
    const warnings = Object.entries(doc.recoverable_errors ?? {}).flatMap(([level, list]) => list.map((m) => `${level}: ${m}`));
    return { status: doc.status ?? "unknown", errors: doc.errors ?? [], warnings };
}

function floating(cluster: BootedCluster): boolean {
    return cluster.cfg!.failover.strategy === "floating-ip";
}

function unitOf(cluster: BootedCluster): string {
    return `${IGUANA_UNIT[cluster.cfg!.iguana.edition]}.service`;
}

function check(results: CheckResult[], name: string, ok: boolean, detail?: string): boolean {
    results.push({ case: "", check: name, ok, ...(detail ? { detail } : {}) });
    return ok;
}

function monotonic(machine: Machine, unit: string, property: string): number {
    return Number(machine.exec(`systemctl show -P ${property} ${unit}`, { allowFail: true }).trim()) || 0;
}

/** Per machine: cloud-init done with no error or warning, no failed unit, the disk under Iguana. */
function machineHealth(cluster: BootedCluster, machine: Machine, results: CheckResult[], when: string): void {
    const status = machine.exec("cloud-init status --format json || true", { allowFail: true });
    let verdict = { status: "unreadable", errors: [] as string[], warnings: [] as string[] };
    try {
        verdict = cloudInitVerdict(status);
    } catch {
        /* reported below */
    }
    check(
        results,
        `${machine.name} ${when}: cloud-init done, no error, no warning`,
        verdict.status === "done" && verdict.errors.length === 0 && verdict.warnings.length === 0,
        [verdict.status, ...verdict.errors, ...verdict.warnings].join("; "),
    );
    const failed = machine.exec("systemctl --failed --no-legend --plain", { allowFail: true }).trim();
    check(results, `${machine.name} ${when}: systemctl --failed is empty`, failed === "", failed || undefined);
    const source = machine.exec(`findmnt -n -o SOURCE --mountpoint ${WORKER_PATHS.dataMount}`, { allowFail: true }).trim();
    check(results, `${machine.name} ${when}: the data disk is mounted at ${WORKER_PATHS.dataMount}`, source !== "", source || "not mounted");
    const unit = unitOf(cluster);
    const iguanaStart = monotonic(machine, unit, "ExecMainStartTimestampMonotonic");
    // The data unit turns active when its script has mounted the disk and exited. Not the mount
    // unit's own timestamp: systemd records that when it next reads /proc/self/mountinfo, which
    // after a reboot came 50-230 ms after Iguana had already started on the mounted disk.
    const mounted = monotonic(machine, DATA_UNIT, "ActiveEnterTimestampMonotonic");
    check(
        results,
        `${machine.name} ${when}: Iguana (${unit}) started after its data disk was mounted`,
        iguanaStart > 0 && mounted > 0 && mounted <= iguanaStart,
        `${DATA_UNIT} (the disk mounted) active at ${mounted} us, Iguana started at ${iguanaStart} us (monotonic)`,
    );
    const standinDir = machine.exec(`df --output=target ${WORKER_PATHS.workingDir}/standin.ready 2>/dev/null | tail -1`, { allowFail: true }).trim();
    check(results, `${machine.name} ${when}: Iguana's working directory is on the data disk`, standinDir === WORKER_PATHS.dataMount, standinDir || "Iguana wrote no ready file");
}

/**
 * How long the role probe may take to give its answer after the roles settled: a load balancer
 * probes again (every 5 s at the least, and acts only after its threshold), so one unanswered
 * probe right after a reboot changes nothing it does. Every answer before the expected one is
 * reported.
 */
const PROBE_SETTLE_MS = 10000;

/** The load balancer's view: probe 200 only on the MASTER, LLP ports open only there. */
async function lbView(cluster: BootedCluster, roles: Record<string, string>, results: CheckResult[], when: string): Promise<void> {
    const llp = cluster.cfg!.channels.filter((c) => c.protocol === "llp").map((c) => c.port);
    for (const w of cluster.workers) {
        const master = roles[w.name] === "MASTER";
        const expected = master ? 200 : 503;
        const started = Date.now();
        const earlier = new Set<number>();
        let probe = cluster.probe(w);
        while (probe.status !== expected && Date.now() - started < PROBE_SETTLE_MS) {
            earlier.add(probe.status);
            await sleep(500);
            probe = cluster.probe(w);
        }
        const late = earlier.size > 0 ? ` (after ${((Date.now() - started) / 1000).toFixed(1)} s; first ${[...earlier].join(", ")})` : "";
        check(
            results,
            `${w.name} ${when}: role probe ${master ? "200 (MASTER)" : "503 (BACKUP)"} from the bridge`,
            probe.status === expected,
            `${probe.status} ${probe.body}${late}`,
        );
        const open = llp.filter((p) => cluster.connects(w, p));
        check(
            results,
            `${w.name} ${when}: LLP ports ${master ? "open" : "closed (the gate)"}`,
            master ? open.length === llp.length : open.length === 0,
            `open: ${open.join(",") || "none"} of ${llp.join(",")}`,
        );
    }
}

/** Runs the HL7 sender from the bridge to the worker's first LLP port for one message; returns its events. */
async function sendOne(
    cluster: BootedCluster,
    worker: RenderedWorker,
    tlsArgs: string[],
    { ackTimeoutMs = 3000, giveUpMs = 30000 } = {},
): Promise<{ type: string; worker?: string; reason?: string }[]> {
    const port = cluster.cfg!.channels.find((c) => c.protocol === "llp")!.port;
    const events = path.join(cluster.dir, `sender-${worker.name}-${Date.now()}.jsonl`);
    const sender = cluster.procs.spawnIn(
        cluster.lab!.ns,
        `sender-${worker.name}`,
        process.execPath,
        [
            "-r",
            "ts-node/register/transpile-only",
            path.join(__dirname, "..", "drill", "sender.ts"),
            "--host",
            worker.address,
            "--port",
            String(port),
            "--count",
            "1",
            "--prefix",
            "BOOT",
            "--ack-timeout-ms",
            String(ackTimeoutMs),
            "--events",
            events,
            "--stop-file",
            `${events}.stop`,
            ...tlsArgs,
        ],
        { cwd: path.resolve(__dirname, "..") },
    );
    await Promise.race([sender.exited, sleep(giveUpMs)]);
    fs.writeFileSync(`${events}.stop`, "");
    await Promise.race([sender.exited, sleep(5000)]);
    return fs.existsSync(events)
        ? fs
              .readFileSync(events, "utf8")
              .split("\n")
              .filter(Boolean)
              .map((l) => JSON.parse(l))
        : [];
}

/** What the sender's events say happened, each different reason once. */
function reasons(events: { type: string; reason?: string }[]): string {
    return [...new Set(events.map((e) => (e.reason ?? e.type).split("\n")[0].replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:/, "")))].join(", ") || "no event";
}

/** One HL7 message to the MASTER's first LLP port (over TLS when it is on), acknowledged (AA) by that worker. */
async function oneMessage(cluster: BootedCluster, worker: RenderedWorker, results: CheckResult[], when: string): Promise<void> {
    const port = cluster.cfg!.channels.find((c) => c.protocol === "llp")!.port;
    const lines = await sendOne(cluster, worker, cluster.senderTlsArgs());
    const ack = lines.find((e) => e.type === "ack");
    check(
        results,
        `${worker.name} ${when}: an HL7 message to ${worker.address}:${port}${cluster.tls ? " over TLS" : ""} is acknowledged by ${worker.name}`,
        ack !== undefined && String(ack.worker).toLowerCase() === `iguana-${worker.name}`,
        ack ? `ACK from ${ack.worker}` : `no ACK (${reasons(lines)})`,
    );
}

/**
 * tls.enabled, seen from the bridge: the MASTER's channel port serves the bundle from the secret
 * store (through the kernel's redirect to stunnel); the BACKUP completes no handshake (the gate);
 * MLLP in clear, and under mutual TLS a sender without a client certificate, get no ACK; a
 * renewed bundle is served after the refresh unit runs, by the same stunnel process.
 */
async function tlsView(cluster: BootedCluster, roles: Record<string, string>, results: CheckResult[], when: string): Promise<void> {
    if (!cluster.tls) return;
    const port = cluster.cfg!.channels.find((c) => c.protocol === "llp")!.port;
    const master = cluster.workers.find((w) => roles[w.name] === "MASTER");
    const backup = cluster.workers.find((w) => roles[w.name] === "BACKUP");
    if (!master || !backup) return;
    let served = "";
    await waitFor(() => (served = cluster.servedSerial(master, port)) === cluster.tls!.serial, 60000, 1000);
    check(
        results,
        `${master.name} ${when}: port ${port} serves the certificate from the secret store (stunnel behind the kernel redirect)`,
        served === cluster.tls.serial,
        `served ${served || "nothing"}, stored ${cluster.tls.serial}`,
    );
    const backupServed = cluster.servedSerial(backup, port);
    check(results, `${backup.name} ${when}: port ${port} completes no TLS handshake (the gate is closed)`, backupServed === "", backupServed || "no handshake");
    const plain = await sendOne(cluster, master, [], { ackTimeoutMs: 2000, giveUpMs: 8000 });
    check(results, `${master.name} ${when}: MLLP in clear gets no ACK`, !plain.some((e) => e.type === "ack"), reasons(plain));
    if (cluster.tls.client) {
        const anonymous = await sendOne(cluster, master, cluster.senderTlsArgs(false), { ackTimeoutMs: 2000, giveUpMs: 8000 });
        check(results, `${master.name} ${when}: mutual TLS: a sender without a client certificate gets no ACK`, !anonymous.some((e) => e.type === "ack"), reasons(anonymous));
    }
    const machine = cluster.machine(master.name);
    const pid = machine.exec(`systemctl show -P MainPID ${TLS_UNIT}`, { allowFail: true }).trim();
    const renewed = cluster.issueTlsBundle();
    machine.exec(`systemctl start ${TLS_REFRESH_UNIT}`, { allowFail: true });
    await waitFor(() => (served = cluster.servedSerial(master, port)) === renewed, 20000, 500);
    const pidAfter = machine.exec(`systemctl show -P MainPID ${TLS_UNIT}`, { allowFail: true }).trim();
    check(
        results,
        `${master.name} ${when}: a renewed certificate in the secret store is served after ${TLS_REFRESH_UNIT}, by the same stunnel (reloaded, not restarted)`,
        served === renewed && pid === pidAfter && pid !== "0",
        `served ${served || "nothing"}, stored ${renewed}; stunnel pid ${pid} -> ${pidAfter}`,
    );
}

async function waitAll(cluster: BootedCluster, timeoutMs: number, results: CheckResult[], when: string): Promise<boolean> {
    const done = await Promise.all(cluster.machines.map((m) => m.waitCloudInit(timeoutMs)));
    return check(
        results,
        `both machines ${when}: cloud-init finished`,
        done.every(Boolean),
        cluster.machines.map((m, i) => `${m.name} ${done[i] ? "finished" : "did not finish"}`).join(", "),
    );
}

export async function checkBoot(cluster: BootedCluster, log: (l: string) => void): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    const t0 = Date.now();
    cluster.bootTogether();
    if (!(await waitAll(cluster, FIRST_BOOT_TIMEOUT_MS, results, "first boot"))) return results;
    log(`first boot: cloud-init finished on both in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const roles = await cluster.settle(ELECTION_TIMEOUT_MS);
    log(`first boot: roles ${JSON.stringify(roles)} ${((Date.now() - t0) / 1000).toFixed(0)} s after power-on`);
    for (const m of cluster.machines) machineHealth(cluster, m, results, "first boot");
    check(results, "first boot: one MASTER and one BACKUP, WK1 the MASTER (workers[].role)", roles.wk1 === "MASTER" && roles.wk2 === "BACKUP", JSON.stringify(roles));
    await lbView(cluster, roles, results, "first boot");
    if (floating(cluster)) {
        const held = await waitFor(() => cluster.vipHolder() === "wk1", 30000, 500);
        check(results, "first boot: the floating VIP is on WK1 (its notify claimed it through the stand-in EC2 / ARM)", held, `holder ${cluster.vipHolder()}`);
    }
    const master = cluster.workers.find((w) => roles[w.name] === "MASTER");
    if (master) await oneMessage(cluster, master, results, "first boot");
    await tlsView(cluster, roles, results, "first boot");
    if (cluster.proxyUrl) await downloadsThroughProxy(cluster, results);
    if (cluster.cfg!.cloud === "azure" && roles.wk1 === "MASTER") await shareSnapshots(cluster, results);
    if (cluster.cfg!.cloud === "azure" && roles.wk1 === "MASTER") await diskCopies(cluster, results);
    if (cluster.cfg!.iguana.edition === "iguanax") {
        const want = crypto.createHash("sha256").update(cluster.adminPassword).digest("hex");
        for (const m of cluster.machines) {
            const got = m.exec(`cat ${WORKER_PATHS.appDir}/admin-password.sha256 2>/dev/null`, { allowFail: true }).trim();
            check(
                results,
                `${m.name}: Iguana's admin password is the secret store's (read with the machine's identity)`,
                got === want,
                got ? (got === want ? "digest matches" : "digest differs") : "never set",
            );
        }
    }
    return results;
}

/**
 * network.egress.proxy: the lab's NAT is closed to the machines, so the packages cloud-init
 * installed and Iguana's installer came through the lab's tinyproxy: its log shows each worker's
 * requests for the archive and the installer, the stand-in served the installer to the proxy
 * only, and a worker asking the archive directly gets nowhere.
 */
async function downloadsThroughProxy(cluster: BootedCluster, results: CheckResult[]): Promise<void> {
    const log = fs.existsSync(cluster.proxyLog()) ? fs.readFileSync(cluster.proxyLog(), "utf8") : "";
    const requests = [...log.matchAll(/Request \(file descriptor (\d+)\): (\S+) (\S+)/g)].map((m) => ({ fd: m[1], method: m[2], target: m[3] }));
    const installerUrl = String(cluster.cfg!.iguana.installerUrl);
    const archiveHosts = cluster.options.archive.hosts;
    const toArchive = requests.filter((r) => archiveHosts.some((h) => r.target.startsWith(`http://${h}/`) || r.target === `${h}:443`));
    const toInstaller = requests.filter((r) => r.method === "GET" && r.target === installerUrl);
    const clients = new Set([...log.matchAll(/Connect \(file descriptor \d+\): (\S+)/g)].map((m) => m[1]));
    for (const w of cluster.workers) {
        check(
            results,
            `${w.name}: its downloads went through network.egress.proxy (tinyproxy saw it connect)`,
            clients.has(w.address),
            `clients ${[...clients].join(", ") || "none"}`,
        );
    }
    check(
        results,
        "the packages came through the proxy (apt's requests for the archive in its log)",
        toArchive.length > 0,
        `${toArchive.length} requests for ${archiveHosts.join(", ")}`,
    );
    check(results, "Iguana's installer came through the proxy, once per worker", toInstaller.length === cluster.workers.length, `${toInstaller.length} GET ${installerUrl}`);
    const calls = fs.existsSync(cluster.vipFiles().calls) ? (JSON.parse(fs.readFileSync(cluster.vipFiles().calls, "utf8")) as { from?: string; host: string }[]) : [];
    // The stand-in names a caller by its worker address; the proxy is no worker.
    const installerFrom = calls.filter((c) => c.host === "installer").map((c) => c.from ?? "the proxy");
    check(
        results,
        "the installer's host served the proxy, never a worker",
        installerFrom.length > 0 && installerFrom.every((from) => from === "the proxy"),
        `served ${installerFrom.join(", ") || "nobody"}`,
    );
    const direct = await cluster.machines[0].run(`curl -sS -m 5 -o /dev/null http://${archiveHosts[0]}/`);
    check(results, "wk1: the archive asked directly, without the proxy, does not answer (the NAT is closed to the workers)", direct.code !== 0, `curl exit ${direct.code}`);
}

/**
 * Azure's shared queue is snapshotted by the active worker (share-snapshot.py, its unit and
 * timer). Shared mode is not booted here (this host's kernel has no NFS client for the machines),
 * so the four files are added to both booted workers as the shared mode's custom data writes them,
 * and systemd runs them: the timer is scheduled, the unit runs on both, and only WK1 (active)
 * takes a snapshot, through the stand-in ARM with its managed identity's token.
 */
async function shareSnapshots(cluster: BootedCluster, results: CheckResult[]): Promise<void> {
    const everyHours = DEFAULTS.backupEveryHours;
    const shareSnapshots: ShareSnapshotLocator = {
        kind: "azure-share",
        shareId: LAB_SHARE_ID,
        everyHours,
        keepDays: shareSnapshotKeepDays(everyHours, DEFAULTS.backupRetentionDays),
    };
    const tool = { label: "share snapshots", unit: SHARE_SNAPSHOT_UNIT, timer: SHARE_SNAPSHOT_TIMER, logPrefix: SHARE_SNAPSHOT_LOG_PREFIX };
    runTimerToolOnBoth(cluster, tool, (name) => {
        const s: ShareSnapshotSettings = { self: { name }, paths: WORKER_PATHS, shareSnapshots };
        return [
            [shareSnapshotPath(WORKER_PATHS), SHARE_SNAPSHOT_SOURCE, 0o755],
            [shareSnapshotConfigPath(WORKER_PATHS), renderShareSnapshotConfig(s), 0o644],
            [`/etc/systemd/system/${SHARE_SNAPSHOT_UNIT}`, renderShareSnapshotUnit(s), 0o644],
            [`/etc/systemd/system/${SHARE_SNAPSHOT_TIMER}`, renderShareSnapshotTimer(s), 0o644],
        ];
    });
    checkTimerToolRan(cluster, results, tool, { what: "a snapshot taken", logged: (lines) => new RegExp(`^${SHARE_SNAPSHOT_LOG_PREFIX}took snapshot `, "m").test(lines) });
    const taken = () => standinCalls(cluster, `PUT ${LAB_SHARE_ID} `).map((c) => c.from);
    const seen = await waitFor(() => taken().length > 0, 3000, 250);
    check(
        results,
        "share snapshots: the stand-in ARM took one snapshot of the share, from WK1 (the lease holder), none from WK2",
        seen && taken().join() === "wk1",
        JSON.stringify(taken()),
    );
}

/**
 * Azure's data disk backups are copied to `backup.copyToRegion` by the active worker
 * (disk-snapshot-copy.py, its unit and timer). The booted stack copies nowhere, so the four files
 * are added to both booted workers as that key's custom data writes them, and systemd runs them:
 * the timer is scheduled, the unit runs on both, and only WK1 (active) starts the copies, one per
 * disk, through the stand-in ARM with its managed identity's token.
 */
async function diskCopies(cluster: BootedCluster, results: CheckResult[]): Promise<void> {
    const diskCopies: DiskCopyLocator = { kind: "azure-disk-snapshots", ...LAB_BACKUP_COPIES, keepDays: DEFAULTS.backupRetentionDays };
    const tool = { label: "backup copies", unit: DISK_COPY_UNIT, timer: DISK_COPY_TIMER, logPrefix: DISK_COPY_LOG_PREFIX };
    if (cluster.cfg!.backup.copyToRegion) {
        // A stack that copies (azure-prod): its own custom data wrote and enabled the timer, and its unit runs as written.
        for (const m of cluster.machines) {
            const enabled = m.exec(`systemctl is-enabled ${DISK_COPY_TIMER}`, { allowFail: true }).trim();
            check(results, `backup copies: ${m.name}'s custom data enabled ${DISK_COPY_TIMER}`, enabled === "enabled", enabled || "not installed");
            m.exec(`systemctl start ${DISK_COPY_UNIT}`, { allowFail: true });
        }
    } else {
        runTimerToolOnBoth(cluster, tool, (name) => {
            const s: DiskCopySettings = { self: { name }, paths: WORKER_PATHS, diskCopies };
            return [
                [diskCopyPath(WORKER_PATHS), DISK_COPY_SOURCE, 0o755],
                [diskCopyConfigPath(WORKER_PATHS), renderDiskCopyConfig(s), 0o644],
                [`/etc/systemd/system/${DISK_COPY_UNIT}`, renderDiskCopyUnit(s), 0o644],
                [`/etc/systemd/system/${DISK_COPY_TIMER}`, renderDiskCopyTimer(s), 0o644],
            ];
        });
    }
    checkTimerToolRan(cluster, results, tool, {
        what: "a copy started per disk",
        logged: (lines) => diskCopies.disks.every((d) => new RegExp(`^${DISK_COPY_LOG_PREFIX}started copy of ${d.worker}'s snapshot `, "m").test(lines)),
    });
    const copies = `PUT ${LAB_BACKUP_COPIES.copyGroupId}/providers/Microsoft.Compute/snapshots/`;
    const started = () => standinCalls(cluster, copies).map((c) => `${c.from}:${c.action.slice(copies.length).replace(/ \(cloud API\)$/, "")}`);
    const seen = await waitFor(() => started().length >= 2, 3000, 250);
    const want = diskCopies.disks.map((d) => `wk1:${d.worker}-`);
    check(
        results,
        "backup copies: the stand-in ARM started one copy of each disk's backup, both from WK1 (the lease holder), none from WK2",
        seen && started().length === 2 && want.every((prefix, i) => started()[i]?.startsWith(prefix)),
        JSON.stringify(started()),
    );
}

type TimerTool = { label: string; unit: string; timer: string; logPrefix: string };

/** A timer tool's files (path, content, mode) written onto both booted workers as their custom data would, the timer enabled and the unit run once. */
function runTimerToolOnBoth(cluster: BootedCluster, tool: TimerTool, filesOf: (worker: WorkerName) => [string, string, number][]): void {
    for (const worker of cluster.workers) {
        const m = cluster.machine(worker.name);
        for (const [file, content, mode] of filesOf(worker.name)) fs.writeFileSync(path.join(m.merged, file), content, { mode });
        m.exec(`systemctl daemon-reload && systemctl enable --now ${tool.timer}`, { allowFail: true });
        m.exec(`systemctl start ${tool.unit}`, { allowFail: true });
    }
}

/** systemd ran the tool's unit to success on both and scheduled its timer; WK1 (active) logged what `active` says, WK2 that it is not active. */
function checkTimerToolRan(cluster: BootedCluster, results: CheckResult[], tool: TimerTool, active: { what: string; logged: (lines: string) => boolean }): void {
    for (const m of cluster.machines) {
        const result = m.exec(`systemctl show -p Result --value ${tool.unit}`, { allowFail: true }).trim();
        const next = m.exec(`systemctl show -p NextElapseUSecRealtime --value ${tool.timer}`, { allowFail: true }).trim();
        const lines = m.exec(`journalctl -t ${SCRIPTS_LOG_TAG} -o cat --no-pager | grep '^${tool.logPrefix}'`, { allowFail: true }).trim();
        const isActive = m.name === "wk1";
        const logged = isActive ? active.logged(lines) : new RegExp(`^${tool.logPrefix}this worker is not active`, "m").test(lines);
        check(
            results,
            `${tool.label}: on ${m.name} systemd runs the unit to success and schedules the timer; it logs ${isActive ? active.what : "that it is not active"}`,
            result === "success" && next !== "" && logged,
            `Result=${result}, next ${next || "none"}; ${lines.split("\n").slice(-2).join(" / ") || "no line"}`,
        );
    }
}

/** The stand-in cloud's recorded calls whose action starts with `prefix`. */
function standinCalls(cluster: BootedCluster, prefix: string): { from?: string; action: string }[] {
    try {
        const calls = JSON.parse(fs.readFileSync(cluster.vipFiles().calls, "utf8")) as { from?: string; action: string }[];
        return calls.filter((c) => c.action.startsWith(prefix));
    } catch {
        return [];
    }
}

/** Which of `events` the worker's logs hold, as each cloud's saved query reads them: its /var/log/syslog lines (what the CloudWatch agent ships), and its journal's tag and message (the Syslog table's ProcessName and SyslogMessage, through rsyslog). */
function loggedEvents(machine: Machine): { syslog: Set<string>; journal: Set<string> } {
    const lines = machine.exec("cat /var/log/syslog 2>/dev/null", { allowFail: true }).split("\n");
    const entries = machine
        .exec("journalctl -b -o json --output-fields=SYSLOG_IDENTIFIER,MESSAGE --no-pager 2>/dev/null", { allowFail: true })
        .split("\n")
        .flatMap((line) => {
            try {
                const entry = JSON.parse(line) as { SYSLOG_IDENTIFIER?: string; MESSAGE?: unknown };
                return typeof entry.MESSAGE === "string" ? [{ tag: entry.SYSLOG_IDENTIFIER, message: entry.MESSAGE }] : [];
            } catch {
                return [];
            }
        });
    const inJournal = (e: LogEvent) => entries.some(({ tag, message }) => (e.process === undefined || tag === e.process) && new RegExp(`^${e.message}`).test(message));
    return {
        syslog: new Set(LOG_EVENTS.filter((e) => lines.some((l) => new RegExp(syslogLinePattern(e)).test(l))).map((e) => e.name)),
        journal: new Set(LOG_EVENTS.filter(inJournal).map((e) => e.name)),
    };
}

/** audit.workerLogs: the files the CloudWatch agent ships exist, and the saved queries find the events that happened (`found`) and not those that did not (`absent`). */
async function workerLogs(cluster: BootedCluster, worker: string, found: string[], absent: string[], results: CheckResult[], when: string): Promise<void> {
    if (!cluster.cfg!.audit.workerLogs) return;
    const machine = cluster.machine(worker);
    const missing = SHIPPED_LOG_FILES.filter(({ path: file }) => machine.exec(`test -s ${file} && echo yes`, { allowFail: true }).trim() !== "yes").map((f) => f.path);
    check(
        results,
        `${when}: ${worker} has every file the CloudWatch agent ships, not empty`,
        missing.length === 0,
        missing.length ? `missing or empty: ${missing.join(", ")}` : SHIPPED_LOG_FILES.map((f) => f.path).join(", "),
    );
    let seen = loggedEvents(machine);
    const right = () => Object.values(seen).every((names) => found.every((n) => names.has(n)) && absent.every((n) => !names.has(n)));
    // rsyslog writes a moment after the journal.
    await waitFor(() => right() || ((seen = loggedEvents(machine)), right()), 10000, 500);
    check(
        results,
        `${when}: on ${worker}, the saved queries (Logs Insights on /var/log/syslog; KQL on the Syslog table) find ${found.join(", ")}${absent.length ? ` and not ${absent.join(", ")}` : ""}`,
        right(),
        `syslog: ${[...seen.syslog].join(", ") || "none"}; journal: ${[...seen.journal].join(", ") || "none"}`,
    );
}

/** What `worker` last reported of each signal (publish-event.py), in SIGNAL_METRICS order; NaN for one never reported. */
function lastSignals(cluster: BootedCluster, worker: string): number[] {
    const mine = cluster.publishedEvents().filter((e) => e.namespace === EVENTS_NAMESPACE && e.worker === worker && e.dimensions.Worker === worker);
    return Object.values(SIGNAL_METRICS).map((metric) => mine.filter((e) => e.metric === metric).pop()?.value ?? NaN);
}

/** [active, holds the lease, Iguana healthy, lease store reachable]: the disk's fill is checked on its own. */
const roleSignals = (cluster: BootedCluster, worker: string) => lastSignals(cluster, worker).slice(0, 4).join(",");
const diskFill = (cluster: BootedCluster, worker: string) => lastSignals(cluster, worker)[4];

/** The MASTER reboots: the other takes over; the rebooted one comes back BACKUP with its disk. */
export async function checkReboot(cluster: BootedCluster, log: (l: string) => void): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    const wk1 = cluster.machine("wk1");
    const takeovers = () => cluster.publishedEvents().filter((e) => e.metric === TAKEOVER_METRIC && e.namespace === EVENTS_NAMESPACE);
    check(results, "first boot: no worker told the cloud it took over (WK1 became active, it took nothing over)", takeovers().length === 0, JSON.stringify(takeovers()));
    const signalNames = Object.values(SIGNAL_METRICS).slice(0, 4).join(",");
    // Sent at each change of role and by the timer every minute: within a minute and a bit, what they say is the truth.
    const reported = await waitFor(() => roleSignals(cluster, "wk1") === "1,1,1,1" && roleSignals(cluster, "wk2") === "0,0,1,1", (SIGNALS_EVERY_SECONDS + 15) * 1000, 500);
    check(
        results,
        `first boot: the workers' signals (${signalNames}) say WK1 active and holding the lease, WK2 the healthy standby, both reaching the lease store`,
        reported,
        `wk1 ${roleSignals(cluster, "wk1")}, wk2 ${roleSignals(cluster, "wk2")}` +
            (reported ? "" : `; wk1's events.log: ${cluster.machine("wk1").exec(`tail -n 3 ${WORKER_PATHS.runDir}/events.log`, { allowFail: true }).trim()}`),
    );
    const fills = ["wk1", "wk2"].map((w) => diskFill(cluster, w));
    const dfFills = ["wk1", "wk2"].map((w) =>
        Number(cluster.machine(w).exec(`df --output=pcent ${WORKER_PATHS.workingDir} | tail -1`, { allowFail: true }).trim().replace("%", "")),
    );
    check(
        results,
        `first boot: each worker reports its working directory's fill (${SIGNAL_METRICS.dataDiskUsedPercent}) as df sees it (df rounds up)`,
        fills.every((f, i) => f <= dfFills[i] && dfFills[i] - f < 1.01),
        `reported ${fills.join(", ")} %, df ${dfFills.join(", ")} %`,
    );
    // With a shared queue the notify script starts Iguana on the active worker only.
    const shared = cluster.cfg!.storage.queueRecovery === "shared" ? ["iguana-service"] : [];
    await workerLogs(cluster, "wk1", ["role-changes", "became-active", "lease-acquired", "llp-gate", "iguana-health", ...shared], ["lease-taken-over"], results, "first boot");
    await workerLogs(cluster, "wk2", ["role-changes", "llp-gate"], ["became-active", "lease-taken-over"], results, "first boot");
    await wk1.stop("poweroff");
    const t0 = Date.now();
    const takeover = await waitFor(() => cluster.probe(cluster.workers[1]).status === 200, ELECTION_TIMEOUT_MS, 500);
    check(results, "wk1 powered off: wk2's role probe answers 200", takeover, takeover ? `after ${((Date.now() - t0) / 1000).toFixed(1)} s` : "never");
    const told = await waitFor(() => takeovers().some((e) => e.worker === "wk2" && e.dimensions.Worker === "wk2"), 30000, 500);
    check(
        results,
        `wk1 powered off: wk2 told the cloud it took over (${TAKEOVER_METRIC} in ${EVENTS_NAMESPACE}, what the alarm watches)`,
        told && takeovers().every((e) => e.worker === "wk2"),
        `${((Date.now() - t0) / 1000).toFixed(1)} s after the power-off: ${JSON.stringify(takeovers().map((e) => [e.worker, e.dimensions]))}`,
    );
    const switched = await waitFor(() => roleSignals(cluster, "wk2") === "1,1,1,1", 10000, 250);
    check(results, `wk1 powered off: wk2's signals say it is active and holds the lease (reported on its change of role)`, switched, `wk2 ${roleSignals(cluster, "wk2")}`);
    await workerLogs(cluster, "wk2", ["became-active", "lease-taken-over"], [], results, "wk1 powered off");
    if (floating(cluster)) {
        const moved = await waitFor(() => cluster.vipHolder() === "wk2", 60000, 500);
        check(results, "wk1 powered off: the floating VIP moves to WK2", moved, `holder ${cluster.vipHolder()} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    wk1.boot();
    if (!(await wk1.waitCloudInit(REBOOT_TIMEOUT_MS))) {
        check(results, "wk1 rebooted: cloud-init finished", false);
        return results;
    }
    const roles = await cluster.settle(ELECTION_TIMEOUT_MS);
    await sleep(5000);
    const after = await cluster.settle(5000);
    log(`reboot of wk1: roles ${JSON.stringify(after)}`);
    check(
        results,
        "wk1 rebooted: it comes back BACKUP and WK2 stays MASTER (no failback)",
        roles.wk1 === "BACKUP" && after.wk1 === "BACKUP" && after.wk2 === "MASTER",
        JSON.stringify(after),
    );
    machineHealth(cluster, wk1, results, "after reboot");
    await lbView(cluster, after, results, "after wk1's reboot");
    if (floating(cluster)) check(results, "wk1 rebooted: the floating VIP stays on WK2", cluster.vipHolder() === "wk2", `holder ${cluster.vipHolder()}`);
    // WK2 has run since the first boot, more than a minute: its timer has sent the signals too.
    const wk2 = cluster.machine("wk2");
    const timerRan = monotonic(wk2, SIGNALS_UNIT, "ExecMainStartTimestampMonotonic");
    const timerResult = wk2.exec(`systemctl show -P Result ${SIGNALS_UNIT}`, { allowFail: true }).trim();
    check(
        results,
        `wk2: ${SIGNALS_TIMER} has sent the signals, and the send succeeded`,
        timerRan > 0 && timerResult === "success",
        `last run at ${timerRan} us (monotonic), result ${timerResult}`,
    );
    check(
        results,
        "wk1 rebooted: it told the cloud nothing (it came back the standby)",
        takeovers().every((e) => e.worker === "wk2"),
        JSON.stringify(takeovers().map((e) => e.worker)),
    );
    return results;
}

/** Both powered off and booted at the same moment, `times` times: WK1 is the MASTER every time. */
export async function checkColdStarts(cluster: BootedCluster, times: number, log: (l: string) => void): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    const winners: string[] = [];
    for (let i = 0; i < times; i++) {
        await Promise.all(cluster.machines.map((m) => m.stop("poweroff")));
        cluster.bootTogether();
        const up = await Promise.all(cluster.machines.map((m) => m.waitCloudInit(REBOOT_TIMEOUT_MS)));
        if (!up.every(Boolean)) {
            winners.push("boot failed");
            continue;
        }
        const roles = await cluster.settle(ELECTION_TIMEOUT_MS);
        winners.push(Object.keys(roles).find((k) => roles[k] === "MASTER") ?? `none (${JSON.stringify(roles)})`);
        log(`cold start ${i + 1}/${times}: MASTER ${winners[winners.length - 1]}`);
    }
    const wk1Wins = winners.filter((w) => w === "wk1").length;
    check(results, `${times} cold starts of both workers together: WK1 the MASTER every time`, wk1Wins === times, `WK1 ${wk1Wins} of ${times} (${winners.join(", ")})`);
    return results;
}

/** The disk step fails: cloud-init reports an error, and nothing after it starts. */
export async function checkFailedDiskStep(cluster: BootedCluster, log: (l: string) => void): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    cluster.bootTogether();
    await waitAll(cluster, FIRST_BOOT_TIMEOUT_MS, results, "with a read-only data disk");
    for (const m of cluster.machines) {
        let verdict = { status: "unreadable", errors: [] as string[], warnings: [] as string[] };
        try {
            verdict = cloudInitVerdict(m.exec("cloud-init status --format json || true", { allowFail: true }));
        } catch {
            /* reported below */
        }
        check(results, `${m.name}: cloud-init status is error`, verdict.status === "error", [verdict.status, ...verdict.errors].join("; "));
        const output = m.exec("cat /var/log/cloud-init-output.log || true", { allowFail: true });
        const said = output.split("\n").filter((l) => l.includes("iguana-ha:") || /mkfs|read-only|Read-only/.test(l));
        check(results, `${m.name}: the boot log says why the disk step failed`, said.length > 0, said.slice(-2).join(" | ") || "nothing");
        const guard = m.exec(`systemctl is-active ${LEASE_GUARD_UNIT}`, { allowFail: true }).trim();
        const iguana = m.exec(`systemctl is-active ${unitOf(cluster)}`, { allowFail: true }).trim();
        check(
            results,
            `${m.name}: neither Iguana nor the lease guard started after the failed disk step`,
            guard !== "active" && iguana !== "active",
            `lease guard ${guard || "none"}, Iguana ${iguana || "none"}`,
        );
        const probe = cluster.probe(cluster.workers.find((w) => w.name === m.name)!);
        check(results, `${m.name}: the role probe does not answer 200`, probe.status !== 200, `${probe.status || "no answer"}`);
    }
    log("failed disk step checked");
    return results;
}
