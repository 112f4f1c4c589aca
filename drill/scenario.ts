/**
 * One scenario, from a fresh start: topology, rendered worker files, keepalived, role probes,
 * Iguana stand-ins, the emulated LB and the sender; then the fault, the observation, the
 * evidence and the verdict. Everything started is ended and every namespace deleted, also
 * when something fails.
 */
import * as fs from "fs";
import * as path from "path";
import { VRRP, renderKeepalivedDropIn } from "../components/bootstrap";
import { ClusterConfig } from "../components/config";
import { Ack, Analysis, analyse, longestGap, orderViolations } from "./analysis";
import { CloudApiServerConfig, VipMove, cloudApiServerConfig, readHolder, readMoves, summariseCalls } from "./floating";
import { backendName, llpChannels, renderHaproxyConfig } from "./haproxy";
import { Monitor, routes } from "./monitor";
import { DRILL_ADDRESSES, LbProfile, WORKER_INTERFACE, drillSettings, drillSharedDir, drillWorkers, isFloating } from "./plan";
import { SenderEvent, monotonicMs } from "./sender";
import { journalPath, readJournal, readJournalEntries } from "./standin";
import { Processes, Started, netnsPidsNamed, pidAlive, sh, sleep, waitFor } from "./system";
import { Budget, Detection, LbTiming, SENDER_TIMING, STANDIN_START_BUDGET_MS, VipMoveTiming, failoverBudget, floatingBudget, keepalivedDetectionMs } from "./timing";
import { Topology, createTopology, cutNetwork, cutPeer, destroyTopology, healNetwork, healPeer } from "./topology";
import { DrillWorker, workerReconcileTimer } from "./worker";
import { BootedContext, BootedDrillWorker, BootedPair } from "./booted";
import { labNetnsName, machineNetnsName } from "../boot/lab";
import { FLOATING_IP_OVERRIDES } from "../boot/cases";

export type ScenarioId = 1 | 2 | 3 | 4 | 5 | 6 | 7;

export interface ScenarioDef {
    id: ScenarioId;
    key: string;
    title: string;
    detection: Detection;
    /** A documented limitation of the design: reported, fails the run only on a lost message. */
    limitation?: boolean;
    /** WK1 goes silent (no answer, no reset): the LB's checks of it fail only by timing out. */
    silentPrimary?: boolean;
    /** The title with a floating IP, where it differs (no LB). */
    floatingTitle?: string;
}

export const SCENARIOS: ScenarioDef[] = [
    { id: 1, key: "crash", title: "WK1 crashes (kill -9 keepalived and Iguana)", detection: "vrrp" },
    { id: 2, key: "network-cut", title: "WK1's network is cut", detection: "vrrp", silentPrimary: true },
    { id: 3, key: "keepalived-stop", title: "keepalived on WK1 stopped cleanly", detection: "vrrp" },
    { id: 4, key: "iguana-dies", title: "Iguana on WK1 dies, keepalived runs on", detection: "track-script" },
    { id: 5, key: "wk1-returns", title: "WK1 comes back after a failover", detection: "vrrp" },
    { id: 6, key: "split-brain", title: "WK1<->WK2 link cut, both reach the LB", detection: "vrrp", limitation: true, floatingTitle: "WK1<->WK2 link cut, both reach the cloud API and the senders" },
    // Not in the issue's list: scenario 5 with a partition instead of a crash (WK1 was never down).
    { id: 7, key: "network-heals", title: "WK1's network comes back after a failover", detection: "vrrp", limitation: true, silentPrimary: true },
];

export interface StackRun {
    stack: string;
    cfg: ClusterConfig;
    profile: LbProfile;
    timing: LbTiming;
    fast: boolean;
    /** Floating IP (`failover.strategy: floating-ip`): how the stand-in cloud moves the VIP. No LB then. */
    vipMove?: VipMoveTiming;
    /** The workers are booted machines (drill/booted.ts) rather than scripts in bare namespaces. */
    booted?: BootedContext;
}

/** The outage budget of one scenario of a stack: through the LB, or through a floating IP. */
export function scenarioBudget(def: ScenarioDef, stack: StackRun): Budget {
    const backupPriority = drillWorkers(stack.cfg)[1].vrrpPriority;
    const iguanaStartMs = stack.cfg.storage?.queueRecovery === "shared" ? STANDIN_START_BUDGET_MS : 0;
    if (stack.vipMove) return floatingBudget(def.detection, backupPriority, stack.vipMove, { iguanaStartMs });
    return failoverBudget(def.detection, backupPriority, stack.timing, { silentPrimary: def.silentPrimary, iguanaStartMs });
}

export interface RunContext {
    runId: string;
    workRoot: string;
    logRoot: string;
    repoRoot: string;
    keep: boolean;
    /** Cleanups to run on an interrupt (awaited before the drill exits). */
    onInterrupt: Set<() => void | Promise<void>>;
}

export type Verdict = "PASS" | "FAIL" | "LIMITATION";

export interface ScenarioResult {
    stack: string;
    profile: LbProfile;
    scenario: ScenarioId;
    key: string;
    title: string;
    verdict: Verdict;
    reasons: string[];
    budget: Budget;
    /** ms after the fault; null when it did not happen. */
    promotionMs: number | null;
    lbMarksWk1DownMs: number | null;
    lbMarksWk2UpMs: number | null;
    firstAckFromWk2Ms: number | null;
    outageMs: number;
    acked: number;
    lost: number;
    lostIds: string[];
    misattributedAcks: number;
    duplicates: number;
    orderViolations: number;
    retries: number;
    journalEntries: Record<string, number>;
    /** Time both workers were keepalived MASTER at once, after the fault. */
    bothMasterMs: number;
    /** Time the LB had both workers up (routable) at once, after the fault. */
    lbBothUpMs: number;
    /** storage.queueRecovery of the run. */
    queueRecovery?: string;
    /** Shared mode: time both Iguana stand-ins ran at once on the shared journal, after the fault. */
    bothIguanasMs?: number;
    /** failover.strategy of the run. */
    failoverStrategy?: string;
    /** Floating IP: when the VIP left WK1 and when it reached WK2 (the stand-in cloud applied the move), ms after the fault. */
    vipOffWk1Ms?: number | null;
    vipOnWk2Ms?: number | null;
    /** Floating IP: every change of the VIP's holder from 1 s before the fault on (ms after the fault). */
    vipMoves?: { t: number; holder: string }[];
    notes: string[];
    durationMs: number;
    timeline: { t: number; subject: string; value: string }[];
}

function readEvents(file: string): SenderEvent[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim().length > 0)
        .map((l) => JSON.parse(l) as SenderEvent);
}

/** `IGUANA-WK2` (the stand-in's MSH-3) -> `wk2`. */
export function workerOfAck(sendingApp: string | undefined): string {
    return (sendingApp ?? "").replace(/^IGUANA-/, "").toLowerCase() || "unknown";
}

export function acksOf(events: SenderEvent[]): Ack[] {
    return events.filter((e) => e.type === "ack" && e.id).map((e) => ({ id: e.id!, worker: workerOfAck(e.worker), t: e.t }));
}

/** The command the rendered systemd drop-in runs after keepalived stops, for any reason. */
export function execStopPost(dropIn: string): string[] {
    const line = dropIn.split("\n").find((l) => l.startsWith("ExecStopPost="));
    if (!line) throw new Error("the keepalived drop-in has no ExecStopPost");
    return line.slice("ExecStopPost=".length).trim().split(/\s+/);
}

class ScenarioRun {
    readonly procs: Processes;
    readonly topo: Topology;
    /** Set in the constructor, or (booted machines) once they are up. */
    workers!: [DrillWorker, DrillWorker];
    /** The booted machines, when the drill runs on them. */
    readonly pair?: BootedPair;
    readonly monitor: Monitor;
    readonly root: string;
    readonly notes: string[] = [];
    haproxy?: Started;
    /** Floating IP: the stand-in cloud API, in the lb namespace. */
    cloudApi?: Started;
    cloudApiConfig?: CloudApiServerConfig;
    sender?: Started;
    probeSender?: Started;
    readonly eventsFile: string;
    readonly probeEventsFile: string;
    readonly stopFile: string;
    readonly backend: string;
    readonly port: number;
    private readonly interrupt: () => void | Promise<void>;

    constructor(
        readonly def: ScenarioDef,
        readonly stack: StackRun,
        readonly ctx: RunContext,
        tag: string,
    ) {
        this.root = path.join(ctx.workRoot, tag);
        fs.mkdirSync(this.root, { recursive: true, mode: 0o755 });
        this.procs = new Processes(path.join(ctx.logRoot, tag));
        if (stack.booted) {
            const index = Number(tag.replace(/\D/g, "")) % 200;
            const pair = new BootedPair(
                { label: stack.stack, stack: stack.stack, ...(stack.vipMove ? { overrides: FLOATING_IP_OVERRIDES[stack.cfg.cloud] } : {}) },
                stack.cfg,
                stack.booted,
                ctx.runId.slice(-3),
                index,
                ctx.repoRoot,
                stack.vipMove?.delayMs,
            );
            this.pair = pair;
            this.topo = { prefix: pair.cluster.id, ns: { sender: pair.senderNs, lb: labNetnsName(pair.cluster.id), wk1: machineNetnsName(pair.cluster.id, "wk1"), wk2: machineNetnsName(pair.cluster.id, "wk2") }, addresses: pair.addresses };
            this.interrupt = async () => {
                this.procs.killAll();
                await pair.destroy();
            };
        } else {
            this.topo = createTopology(`igd-${ctx.runId}-${tag.replace(/[^a-z0-9]/g, "")}`.slice(0, 40), DRILL_ADDRESSES, { floatingVip: isFloating(stack.cfg) });
        }
        this.interrupt ??= () => {
            this.procs.killAll();
            for (const w of this.workers ?? []) {
                w.stopReconcileTimer();
                w.killStandin();
                w.unmountShared();
            }
            destroyTopology(this.topo);
        };
        ctx.onInterrupt.add(this.interrupt);
        if (!stack.booted) {
            const [s1, s2] = drillSettings(stack.cfg, this.root);
            this.workers = [new DrillWorker(s1, this.topo.ns.wk1, this.procs, ctx.repoRoot), new DrillWorker(s2, this.topo.ns.wk2, this.procs, ctx.repoRoot)];
        }
        if (stack.vipMove && !stack.booted) {
            this.cloudApiConfig = cloudApiServerConfig(stack.cfg.cloud, stack.cfg.region, this.topo.ns, this.topo.addresses, WORKER_INTERFACE, stack.vipMove.delayMs, this.root);
        }
        this.monitor = new Monitor({
            wk1: () => this.workers[0].role(),
            wk2: () => this.workers[1].role(),
            ...(this.shared ? { "wk1-iguana": () => (this.workers[0].standinRunning() ? "RUN" : "STOP"), "wk2-iguana": () => (this.workers[1].standinRunning() ? "RUN" : "STOP") } : {}),
            ...(stack.vipMove ? { vip: () => readHolder(this.vipFiles().holder) } : {}),
        });
        this.eventsFile = path.join(this.root, "sender-events.jsonl");
        this.probeEventsFile = path.join(this.root, "probe-events.jsonl");
        this.stopFile = path.join(this.root, "sender.stop");
        const channel = llpChannels(stack.cfg)[0];
        if (!channel) throw new Error(`stack ${stack.stack} has no LLP channel to drill`);
        this.backend = backendName(channel);
        this.port = channel.port;
    }

    get shared(): boolean {
        return this.stack.cfg.storage?.queueRecovery === "shared";
    }

    get floating(): boolean {
        return this.stack.vipMove !== undefined;
    }

    /** Floating IP: the files the stand-in cloud keeps (who holds the VIP, its moves, the calls it served). */
    vipFiles(): { holder: string; moves: string; calls: string } {
        if (this.pair) return this.pair.cluster.vipFiles();
        return this.cloudApiConfig!.files;
    }

    /** Floating IP: who holds the VIP now (wk1, wk2 or none). */
    vipHolder(): string | undefined {
        return this.monitor.now("vip");
    }

    /** Floating IP: starts the stand-in cloud API in the lb namespace and waits until it listens. */
    async startCloudApi(): Promise<void> {
        const config = this.cloudApiConfig!;
        const file = path.join(this.root, "cloud-api.json");
        fs.writeFileSync(file, JSON.stringify(config, null, 2));
        this.cloudApi = this.procs.spawnIn(
            this.topo.ns.lb,
            "cloud-api",
            process.execPath,
            ["-r", "ts-node/register/transpile-only", path.join(__dirname, "cloud-api-server.ts"), file],
            { cwd: this.ctx.repoRoot },
        );
        if (!(await waitFor(() => fs.existsSync(config.files.ready), 30000))) throw new Error("the stand-in cloud API did not start");
    }

    /** Floating IP: the VIP's moves recorded by the stand-in. */
    vipMoves(): VipMove[] {
        return this.floating ? readMoves(this.vipFiles().moves) : [];
    }

    /** Floating IP: when the stand-in first put the VIP on a holder matching `match`, at or after `since` (exact, not sampled). */
    firstVipMove(since: number, match: (holder: string) => boolean): number | null {
        return this.vipMoves().find((mv) => mv.t >= since && match(mv.holder))?.t ?? null;
    }

    /** Floating IP: the longest a move may take after a promotion (the budget's share). */
    get vipMoveMs(): number {
        return scenarioBudget(this.def, this.stack).vipMoveMs ?? 0;
    }

    get wk1(): DrillWorker {
        return this.workers[0];
    }
    get wk2(): DrillWorker {
        return this.workers[1];
    }

    lbStatus(worker: DrillWorker): string | undefined {
        return this.monitor.now(`${this.backend}/${worker.name}`);
    }

    /**
     * The worker's boot order: LLP gate closed, role probe, Iguana; keepalived comes after.
     * Shared mode: Iguana is not started at boot; keepalived's notify starts it on the MASTER.
     */
    async bootWorker(w: DrillWorker): Promise<void> {
        w.closeGate();
        w.startRoleProbe();
        if (this.shared) return;
        w.startStandin();
        if (!(await waitFor(() => w.standinReady(), 30000))) throw new Error(`${w.name}: the Iguana stand-in did not start`);
    }

    /** Booted machines: the boot does what setUp does by hand (the units, in their order); then the LB. */
    async setUpBooted(pair: BootedPair): Promise<void> {
        await pair.start();
        this.workers = pair.workers as unknown as [DrillWorker, DrillWorker];
        this.monitor.start();
        if (!this.floating) return this.startLoadBalancer();
        // No LB: WK1's notify ran the mover against the stand-in cloud, which places the VIP.
        if (!(await waitFor(() => this.vipHolder() === "wk1", this.vipMoveMs + 30000))) {
            throw new Error(`the floating VIP did not reach WK1 on the booted machines: holder ${this.vipHolder()}; WK1's mover log: ${this.wk1.vipLog().trim().split("\n").slice(-3).join(" / ")}`);
        }
    }

    async setUp(): Promise<void> {
        if (this.pair) return this.setUpBooted(this.pair);
        if (this.shared) fs.mkdirSync(path.join(drillSharedDir(this.root), "working"), { recursive: true, mode: 0o755 });
        for (const w of this.workers) {
            w.render(this.procs.logDir);
            if (this.shared) w.mountShared(drillSharedDir(this.root));
            w.prepareVrrpLink();
            w.configTest();
        }
        await Promise.all(this.workers.map((w) => this.bootWorker(w)));
        // Floating IP: the cloud API is there before keepalived, whose notify runs the mover.
        if (this.floating) await this.startCloudApi();
        // WK1's keepalived starts first. Both start as BACKUP with nopreempt, so whichever times
        // out first becomes MASTER and keeps it: a WK2 booted more than the skew difference
        // (about 0.2 s) before WK1 would be the active one. The drill wants WK1 active.
        this.wk1.startKeepalived();
        await waitFor(() => this.wk1.role() === "BACKUP", 5000, 20);
        this.wk2.startKeepalived();
        this.monitor.start();
        // WK2 leaves FAULT only after its boot head start (VRRP.backupBootHeadStartSeconds).
        if (!(await waitFor(() => this.wk1.role() === "MASTER" && this.wk2.role() === "BACKUP", 15000 + VRRP.backupBootHeadStartSeconds * 1000))) {
            throw new Error(`keepalived did not elect WK1: wk1=${this.wk1.role()} wk2=${this.wk2.role()}`);
        }
        if (this.shared && !(await waitFor(() => this.wk1.standinReady(), 30000))) {
            throw new Error("shared storage: keepalived's notify did not start WK1's Iguana stand-in");
        }
        if (this.floating) {
            // No LB: WK1's notify ran the mover, which asked the stand-in cloud for the VIP.
            if (!(await waitFor(() => this.vipHolder() === "wk1", this.vipMoveMs + 15000))) {
                throw new Error(`the floating VIP did not reach WK1: holder ${this.vipHolder()}; WK1's mover log: ${this.wk1.vipLog().trim().split("\n").slice(-3).join(" / ")}`);
            }
            // The machines of a running cluster booted long ago: their reconcile timers fire every
            // OnUnitActiveSec from now (OnBootSec applies only to the WK1 that reboots in scenario 5).
            for (const w of this.workers) w.startReconcileTimer(workerReconcileTimer(w.settings).everyMs);
            return;
        }
        await this.startLoadBalancer();
    }

    /** The LB starts once WK1 is active, as in a deployed cluster whose LB has seen both workers. */
    async startLoadBalancer(): Promise<void> {
        const cfgFile = path.join(this.root, "haproxy.cfg");
        const socket = path.join(this.root, "haproxy.sock");
        fs.writeFileSync(
            cfgFile,
            renderHaproxyConfig({
                cfg: this.stack.cfg,
                profile: this.stack.profile,
                timing: this.stack.timing,
                vip: this.topo.addresses.vip,
                workers: [this.wk1.settings.self, this.wk2.settings.self],
                statsSocket: socket,
                connectTimeoutMs: SENDER_TIMING.ackTimeoutMs,
            }),
        );
        sh("haproxy", ["-c", "-q", "-f", cfgFile]);
        this.haproxy = this.procs.spawnIn(this.topo.ns.lb, "haproxy", "haproxy", ["-db", "-f", cfgFile]);
        this.monitor.setHaproxySocket(socket);
        const intervalMs = this.stack.timing.intervalSeconds * 1000;
        const settled = await waitFor(
            () => this.lbStatus(this.wk1) === "UP" && this.lbStatus(this.wk2) === "DOWN",
            intervalMs * (this.stack.timing.threshold + 1) + 5000,
        );
        if (!settled) throw new Error(`the LB did not settle on WK1: wk1=${this.lbStatus(this.wk1)} wk2=${this.lbStatus(this.wk2)}`);
    }

    startSender(file: string, options: { prefix: string; count: number; fresh?: boolean; intervalMs?: number }): Started {
        return this.procs.spawnIn(
            this.topo.ns.sender,
            options.fresh ? "probe-sender" : "sender",
            process.execPath,
            [
                "-r",
                "ts-node/register/transpile-only",
                path.join(__dirname, "sender.ts"),
                "--host",
                this.topo.addresses.vip,
                "--port",
                String(this.port),
                "--count",
                String(options.count),
                "--prefix",
                options.prefix,
                "--interval-ms",
                String(options.intervalMs ?? SENDER_TIMING.intervalMs),
                "--ack-timeout-ms",
                String(SENDER_TIMING.ackTimeoutMs),
                "--reconnect-ms",
                String(SENDER_TIMING.reconnectDelayMs),
                "--events",
                file,
                "--stop-file",
                options.fresh ? `${this.stopFile}.probe` : this.stopFile,
                ...(options.fresh ? ["--fresh"] : []),
            ],
            { cwd: this.ctx.repoRoot },
        );
    }

    acks(): Ack[] {
        return acksOf(readEvents(this.eventsFile));
    }

    /** Waits until WK2 is MASTER, the LB routes to it and not to WK1, and WK2 acknowledged. */
    async awaitFailover(faultAt: number, budget: Budget): Promise<boolean> {
        const moved = () => (this.floating ? this.vipHolder() === "wk2" : this.lbStatus(this.wk2) === "UP" && !routes(this.lbStatus(this.wk1)));
        const done = () => this.wk2.role() === "MASTER" && moved() && this.acks().some((a) => a.worker === "wk2" && a.t >= faultAt);
        const ok = await waitFor(done, budget.totalMs + 5000, 100);
        await sleep(1500);
        return ok;
    }


    /** Booted machines: the faults as they happen to a VM. */
    async injectBooted(wk1: BootedDrillWorker): Promise<boolean> {
        switch (this.def.key) {
            case "crash":
            case "wk1-returns":
                await wk1.powerCut();
                this.notes.push("power cut: kill -9 of the machine's PID 1 (every process at once: no unit stops, no ExecStopPost) and its link down (nothing answers)");
                return true;
            case "keepalived-stop":
                wk1.machine.exec("systemctl stop keepalived.service");
                this.notes.push("systemctl stop keepalived.service on WK1 (systemd runs the drop-in's ExecStopPost); Iguana keeps running");
                return true;
            case "iguana-dies":
                wk1.killStandin();
                this.notes.push(`kill -9 of ${wk1.iguanaUnit}'s process on WK1; systemd restarts it (Restart=always), keepalived's track script decides whether to hand over`);
                return true;
            default:
                return false;
        }
    }

    async inject(faultAt: number, budget: Budget): Promise<void> {
        const { wk1, wk2 } = this;
        if (this.pair && (await this.injectBooted(wk1 as unknown as BootedDrillWorker))) return;
        switch (this.def.key) {
            case "crash":
            case "wk1-returns":
                // Both at once, no supervisor: nothing on WK1 gets to clean up.
                wk1.killKeepalived();
                wk1.killStandin();
                this.notes.push("kill -9 of keepalived (parent and VRRP child) and the Iguana stand-in; no systemd: no ExecStopPost, no restart");
                break;
            case "network-cut":
            case "network-heals":
                cutNetwork(wk1.ns);
                this.notes.push("every packet in or out of WK1's interface dropped; the interface stays up (a cloud network partition)");
                if (this.shared) {
                    // On a cloud the cut takes the NFS server away too; here the shared directory is local.
                    wk1.unmountShared();
                    this.notes.push("WK1's shared file system went with its network (its bind mount lazily unmounted)");
                }
                break;
            case "keepalived-stop": {
                // `systemctl stop keepalived`: SIGTERM, then the rendered drop-in's ExecStopPost.
                const main = wk1.keepalived!;
                this.procs.signal(main, "SIGTERM");
                await Promise.race([main.exited, sleep(5000)]);
                const [cmd, ...args] = execStopPost(renderKeepalivedDropIn(wk1.settings));
                sh("ip", ["netns", "exec", wk1.ns, cmd, ...args]);
                this.notes.push(`SIGTERM to keepalived, then the drop-in's ExecStopPost (${path.basename(cmd)} ... STOP) as systemd runs it`);
                break;
            }
            case "iguana-dies":
                wk1.killStandin();
                this.notes.push("kill -9 of the Iguana stand-in only; keepalived's track script must hand over");
                break;
            case "split-brain":
                cutPeer(wk1.ns, wk2.settings.self.privateIp);
                cutPeer(wk2.ns, wk1.settings.self.privateIp);
                this.notes.push(
                    this.floating
                        ? "all traffic between WK1 and WK2 dropped; both still reach the cloud API, and the sender reaches whichever holds the VIP"
                        : "all traffic between WK1 and WK2 dropped; both still reach the LB and the LB reaches both",
                );
                break;
        }
        void faultAt;
        void budget;
    }

    /** WK1 comes back like a rebooted machine: /run is empty, then the boot order of the units. */
    async rebootWk1(): Promise<void> {
        if (this.pair) {
            const booted = this.wk1 as unknown as BootedDrillWorker;
            if (!(await booted.powerOn())) this.notes.push("WK1 did not finish booting again");
            return;
        }
        const w = this.wk1;
        if (w.roleProbe) await this.procs.stop(w.roleProbe, 1000);
        w.killKeepalived();
        w.killStandin();
        if (this.floating) {
            // Its timers and any VIP mover go down with the machine.
            w.stopReconcileTimer();
            for (const pid of netnsPidsNamed(w.ns, "python3")) {
                try {
                    process.kill(pid, "SIGKILL");
                } catch {
                    /* gone */
                }
            }
        }
        fs.rmSync(w.settings.paths.runDir, { recursive: true, force: true });
        fs.mkdirSync(w.settings.paths.runDir, { recursive: true, mode: 0o755 });
        await this.bootWorker(w);
        w.startKeepalived();
        // A booted machine: the reconcile timer first fires OnBootSec after the boot.
        if (this.floating) w.startReconcileTimer(workerReconcileTimer(w.settings).bootMs);
    }

    /**
     * Floating IP, after the link or the network heals: WK2 (lower priority) steps down, sending
     * a last advert as it yields; WK1, MASTER all along, hears it and its
     * notify_master_rx_lower_pri claims the VIP (failing that, its reconcile timer does).
     * Waits until the VIP is on WK1 and WK1 acknowledged, or for two timer periods and a move.
     */
    async awaitVipBackOnWk1(since: number): Promise<void> {
        const everyMs = workerReconcileTimer(this.wk1.settings).everyMs;
        const back = () => this.vipHolder() === "wk1" && this.acks().some((a) => a.worker === "wk1" && a.t >= since);
        await waitFor(back, 2 * everyMs + this.vipMoveMs + 5000, 100);
        await sleep(2000);
    }

    async observe(faultAt: number, budget: Budget): Promise<void> {
        const timing = this.stack.timing;
        const lbCycleMs = timing.intervalSeconds * 1000 * timing.threshold;
        if (this.def.key === "split-brain") {
            // Long enough for WK2 to promote and for the LB to mark it up (or to take the VIP).
            const wk2Serving = () => (this.floating ? this.vipHolder() === "wk2" : this.lbStatus(this.wk2) === "UP");
            await waitFor(() => this.wk2.role() === "MASTER" && wk2Serving(), budget.totalMs + 5000, 100);
            const reconcileRunsBefore = this.wk1.reconcileRuns;
            await sleep(1000);
            this.probeSender = this.startSender(this.probeEventsFile, { prefix: "PROBE", count: 12, fresh: true, intervalMs: 100 });
            await Promise.race([this.probeSender.exited, sleep(20000)]);
            const probes = acksOf(readEvents(this.probeEventsFile));
            const byWorker = probes.reduce<Record<string, number>>((m, a) => ((m[a.worker] = (m[a.worker] ?? 0) + 1), m), {});
            this.notes.push(`during the split, 12 new connections ${this.floating ? "to the floating VIP" : "through the LB"} were acknowledged by: ${JSON.stringify(byWorker)}`);
            if (this.floating) {
                // The split lasts until WK1's reconcile timer has run since WK2 took the VIP: WK1 is
                // MASTER without it, the case where the mover must not take it back from the peer.
                const everyMs = workerReconcileTimer(this.wk1.settings).everyMs;
                await waitFor(() => this.wk1.reconcileRuns > reconcileRunsBefore && !this.wk1.reconcileRunning(), everyMs + 15000, 200);
            }
            const healAt = monotonicMs();
            if (this.floating) this.returnedAt = healAt;
            healPeer(this.wk1.ns, this.wk2.settings.self.privateIp);
            healPeer(this.wk2.ns, this.wk1.settings.self.privateIp);
            if (this.floating) {
                await this.awaitVipBackOnWk1(healAt);
                this.notes.push(`link healed at +${Math.round(healAt - faultAt)} ms: keepalived roles now wk1=${this.wk1.role()} wk2=${this.wk2.role()}, the VIP on ${this.vipHolder()}`);
                return;
            }
            await sleep(5000);
            const single = [this.wk1.role(), this.wk2.role()];
            this.notes.push(
                `link healed at +${Math.round(healAt - faultAt)} ms: keepalived roles after 5 s wk1=${single[0]} wk2=${single[1]} ` +
                    `(the higher priority keeps MASTER: traffic that had gone to WK2 is moved back to WK1)`,
            );
            return;
        }
        const failedOver = await this.awaitFailover(faultAt, budget);
        if (!failedOver) this.notes.push("failover did not complete within budget + 5 s");
        if (this.def.key === "network-heals") {
            this.returnedAt = monotonicMs();
            healNetwork(this.wk1.ns);
            if (this.shared) this.wk1.mountShared(drillSharedDir(this.root));
            if (this.floating) await this.awaitVipBackOnWk1(this.returnedAt);
            // Long enough for the LB to mark WK1 up again if it is active, and for traffic to follow.
            else await sleep(lbCycleMs + timing.intervalSeconds * 1000 + 3000);
        }
        if (this.def.key === "wk1-returns") {
            const backAt = monotonicMs();
            await this.rebootWk1();
            // Long enough for the LB to mark a wrongly active WK1 up (threshold checks) and more;
            // floating IP: for a wrongly active WK1 to become MASTER, take the VIP and get traffic.
            const watchMs = this.floating
                ? keepalivedDetectionMs("vrrp", this.wk1.settings.self.vrrpPriority) + this.vipMoveMs + 3000
                : lbCycleMs + timing.intervalSeconds * 1000 + 3000;
            await sleep(watchMs);
            this.returnedAt = backAt;
        }
    }

    returnedAt?: number;

    cloudApiCalls(): { from: string | undefined; action: string; status: number }[] {
        try {
            return JSON.parse(fs.readFileSync(this.vipFiles().calls, "utf8"));
        } catch {
            return [];
        }
    }

    /** What a limitation scenario showed, when it showed the design's known gap. */
    limitationFinding(bothMasterMs: number, lbBothUpMs: number, faultAt: number, endAt: number): string | undefined {
        const m = this.monitor;
        if (this.floating) return this.floatingLimitationFinding(bothMasterMs, faultAt, endAt);
        if (this.def.key === "split-brain") {
            return bothMasterMs > 0 ? `split brain: both MASTER for ${bothMasterMs} ms, LB routed to both for ${lbBothUpMs} ms` : undefined;
        }
        if (this.def.key === "network-heals" && this.returnedAt !== undefined) {
            const back = this.returnedAt;
            const wk2Demoted = m.firstAfter("wk2", back, (v) => v !== "MASTER");
            const wk1Routed = m.firstAfter(`${this.backend}/wk1`, back, (v) => v === "UP");
            const wk1Acks = this.acks().filter((a) => a.worker === "wk1" && a.t >= back);
            const gap = longestGap(
                this.acks().map((a) => a.t).filter((t) => t >= back - 5000),
                back,
                endAt,
            );
            this.notes.push(
                `network healed at +${Math.round(back - faultAt)} ms: WK2 left MASTER after ${wk2Demoted === null ? "-" : Math.round(wk2Demoted - back)} ms, ` +
                    `LB marked WK1 up after ${wk1Routed === null ? "-" : Math.round(wk1Routed - back)} ms, ${wk1Acks.length} ACK(s) from WK1 since, ` +
                    `longest gap after the heal ${Math.round(gap.ms)} ms; roles now wk1=${this.wk1.role()} wk2=${this.wk2.role()}`,
            );
            if (wk2Demoted !== null || wk1Acks.length > 0) {
                return `failback: the isolated WK1 stayed MASTER and took the feed back when its network returned (${Math.round(gap.ms)} ms without ACKs)`;
            }
        }
        return undefined;
    }

    /** Lines of a process log of this scenario (the reconcile runs log there). */
    processLog(name: string): string[] {
        try {
            return fs.readFileSync(path.join(this.procs.logDir, `${name}.log`), "utf8").split("\n");
        } catch {
            return [];
        }
    }

    /**
     * Floating IP, after the heal (of the link in 6, of WK1's network in 7): WK2, the lower
     * priority, steps down and lets go of the VIP; WK1 was MASTER all along, so it takes the VIP
     * back on hearing WK2's last advert (notify_master_rx_lower_pri), or at its reconcile timer.
     */
    healTimeline(back: number, faultAt: number, endAt: number): { text: string; gapMs: number; failback: boolean; takenBy: string } {
        const m = this.monitor;
        const at = (t: number | null) => (t === null ? "-" : `+${Math.round(t - back)} ms`);
        const wk2Demoted = m.firstAfter("wk2", back, (v) => v !== "MASTER");
        const vipNone = this.firstVipMove(back, (v) => v === "none");
        const vipWk1 = this.firstVipMove(back, (v) => v === "wk1");
        const wk1Acks = this.acks().filter((a) => a.worker === "wk1" && a.t >= back);
        const gap = longestGap(
            this.acks().map((a) => a.t).filter((t) => t >= back - 5000),
            back,
            endAt,
        );
        // Which mover run took it: the reconcile timer's runs log to their own file, the notify's to
        // vip.log. A claim logs "took the VIP", or (AWS, where the move lands after the mover's first
        // re-check) "not on this worker yet" and then "the VIP is on this worker".
        const byTimer = this.processLog("wk1-vip-reconcile").some((l) => /took the VIP|the VIP is on this worker/.test(l));
        const takenBy = vipWk1 === null ? "nobody yet" : byTimer ? "WK1's reconcile timer" : "WK1's notify, on hearing WK2 yield (notify_master_rx_lower_pri)";
        const text =
            `healed at +${Math.round(back - faultAt)} ms; after it: WK2 left MASTER ${at(wk2Demoted)}, the VIP held by nobody ${at(vipNone)}, ` +
            `on WK1 ${at(vipWk1)} (taken by ${takenBy}), ` +
            `${wk1Acks.length} ACK(s) from WK1, longest gap ${Math.round(gap.ms)} ms; ` +
            `roles now wk1=${this.wk1.role()} wk2=${this.wk2.role()}, VIP on ${this.vipHolder()}`;
        return { text, gapMs: Math.round(gap.ms), failback: wk2Demoted !== null || wk1Acks.length > 0, takenBy };
    }

    floatingLimitationFinding(bothMasterMs: number, faultAt: number, endAt: number): string | undefined {
        const back = this.returnedAt;
        if (back === undefined) return undefined;
        const heal = this.healTimeline(back, faultAt, endAt);
        this.notes.push(heal.text);
        if (this.def.key === "split-brain") {
            const vipToWk2 = this.firstVipMove(faultAt, (v) => v === "wk2");
            const split = longestGap(
                this.acks().map((a) => a.t).filter((t) => t < back),
                faultAt,
                back,
            );
            const leftAlone = this.processLog("wk1-vip-reconcile").filter((l) => l.includes("split brain?")).length;
            this.notes.push(
                `during the split WK2's claim took the VIP from the live WK1 ${vipToWk2 === null ? "never" : `at +${Math.round(vipToWk2 - faultAt)} ms`} ` +
                    `and the feed followed it (${Math.round(split.ms)} ms without ACKs); WK1's reconcile found the peer holding it ${leftAlone} time(s) and left it there`,
            );
            if (bothMasterMs === 0) return undefined;
            return (
                `split brain: both MASTER for ${bothMasterMs} ms, but the VIP is on one worker at a time: the feed moved to WK2 (${Math.round(split.ms)} ms without ACKs) ` +
                `and back to WK1 after the heal (${heal.gapMs} ms without ACKs; taken by ${heal.takenBy})`
            );
        }
        if (this.def.key === "network-heals" && heal.failback) {
            return `failback: the isolated WK1 stayed MASTER; when its network returned WK2 stepped down and WK1 took the VIP back (${heal.gapMs} ms without ACKs; taken by ${heal.takenBy})`;
        }
        return undefined;
    }

    async stopSender(): Promise<void> {
        fs.writeFileSync(this.stopFile, "stop\n");
        if (this.sender) {
            await Promise.race([this.sender.exited, sleep(SENDER_TIMING.ackTimeoutMs + 2000)]);
            if (pidAlive(this.sender.pid)) await this.procs.stop(this.sender, 1000);
        }
    }

    /** The shared journal, every entry with the worker that wrote it (shared mode). */
    sharedJournal(): { id: string; worker: string }[] {
        return readJournalEntries(journalPath(path.join(drillSharedDir(this.root), "working"), this.port));
    }

    journals(): Record<string, string[]> {
        if (this.shared) {
            const entries = this.sharedJournal();
            return Object.fromEntries(this.workers.map((w) => [w.name, entries.filter((e) => e.worker === w.name).map((e) => e.id)]));
        }
        if (this.pair) return Object.fromEntries(this.workers.map((w) => [w.name, (w as unknown as BootedDrillWorker).journal(this.port)]));
        return Object.fromEntries(this.workers.map((w) => [w.name, readJournal(journalPath(w.settings.paths.workingDir, this.port))]));
    }

    async run(): Promise<ScenarioResult> {
        const started = monotonicMs();
        const budget = scenarioBudget(this.def, this.stack);
        await this.setUp();
        const settledAt = monotonicMs();
        this.sender = this.startSender(this.eventsFile, { prefix: "ADT", count: 1_000_000 });
        if (!(await waitFor(() => this.acks().length >= 20, 30000, 100))) throw new Error("the sender got no ACKs before the fault");
        const unsettled = this.unsettled(settledAt);
        if (unsettled.length > 0) throw new Error(`the cluster did not stay as set up until the fault (${unsettled.join("; ")}): nothing to fail over from`);
        const faultAt = monotonicMs();
        await this.inject(faultAt, budget);
        await this.observe(faultAt, budget);
        await this.stopSender();
        const endAt = monotonicMs();
        await this.monitor.stop();
        if (this.floating) {
            for (const w of this.workers) w.stopReconcileTimer();
            // Its SIGTERM handler writes the last of the calls it served.
            if (this.cloudApi) await this.procs.stop(this.cloudApi, 2000);
        }
        if (this.pair && this.floating) {
            // The reconcile runs log to the machine's journal: where the analysis reads them.
            for (const w of this.workers) fs.writeFileSync(path.join(this.procs.logDir, `${w.name}-vip-reconcile.log`), (w as unknown as BootedDrillWorker).reconcileLog());
        }
        const events = readEvents(this.eventsFile);
        const probeAcks = acksOf(readEvents(this.probeEventsFile));
        const journals = this.journals();
        const analysis = analyse({ acks: [...acksOf(events), ...probeAcks], journals, faultAt, endAt, activeWorker: "wk2" });
        // The outage is what the feed saw: the probe connections are not part of it.
        const feed = analyse({ acks: acksOf(events), journals: this.mainJournals(journals), faultAt, endAt, activeWorker: "wk2" });
        return this.result(budget, faultAt, endAt, started, events, analysis, feed);
    }

    unsettled(since: number): string[] {
        return unsettledProblems({
            monitor: this.monitor,
            since,
            roles: { wk1: this.wk1.role(), wk2: this.wk2.role() },
            acks: this.acks(),
            ...(this.floating ? { vip: { holder: this.vipHolder(), moves: this.vipMoves() } } : { lb: { wk1: this.lbStatus(this.wk1), wk2: this.lbStatus(this.wk2) } }),
        });
    }

    mainJournals(journals: Record<string, string[]>): Record<string, string[]> {
        return Object.fromEntries(Object.entries(journals).map(([w, ids]) => [w, ids.filter((id) => id.startsWith("ADT-"))]));
    }

    result(budget: Budget, faultAt: number, endAt: number, started: number, events: SenderEvent[], all: Analysis, feed: Analysis): ScenarioResult {
        const m = this.monitor;
        const rel = (t: number | null) => (t === null ? null : Math.round(t - faultAt));
        const wk1Lb = `${this.backend}/wk1`;
        const wk2Lb = `${this.backend}/wk2`;
        const promotion = m.firstAfter("wk2", faultAt, (v) => v === "MASTER");
        const bothMasterMs = Math.round(m.overlapMs(["wk1", "wk2"], (v) => v === "MASTER", faultAt, endAt));
        const lbBothUpMs = Math.round(m.overlapMs([wk1Lb, wk2Lb], routes, faultAt, endAt));
        const reasons: string[] = [];
        let verdict: Verdict = "PASS";
        const fail = (why: string) => {
            reasons.push(why);
            verdict = "FAIL";
        };
        if (all.lost.length > 0) fail(`${all.lost.length} acknowledged message(s) in no journal`);
        if (all.misattributed > 0) fail(`${all.misattributed} ACK(s) from a worker whose journal lacks the message`);
        if (this.def.limitation) {
            const finding = this.limitationFinding(bothMasterMs, lbBothUpMs, faultAt, endAt);
            if (verdict === "PASS" && finding) {
                verdict = "LIMITATION";
                reasons.push(finding);
            }
        } else {
            if (feed.outage.ms > budget.totalMs) fail(`outage ${Math.round(feed.outage.ms)} ms > budget ${budget.totalMs} ms`);
            if (feed.orderViolations > 0) fail(`${feed.orderViolations} order violation(s) in WK2's journal`);
            // On a booted machine systemd restarts a dead Iguana (Restart=always): when it is back
            // before the track script's second failure, WK1 serves on and nothing fails over.
            const restartedInPlace =
                this.pair !== undefined && this.def.key === "iguana-dies" && feed.firstAckAfterFaultMs.wk2 === null && this.acks().some((a) => a.worker === "wk1" && a.t > faultAt);
            if (restartedInPlace) {
                this.notes.push(`systemd restarted Iguana on WK1 before keepalived's track script failed twice: no failover, WK1 served on after ${Math.round(feed.outage.ms)} ms`);
            } else if (feed.firstAckAfterFaultMs.wk2 === null) fail("WK2 never acknowledged a message after the fault");
            if (bothMasterMs > 0 && this.def.key !== "network-cut") fail(`both workers MASTER for ${bothMasterMs} ms`);
            if (this.def.key === "wk1-returns" && this.returnedAt !== undefined) {
                const back = this.returnedAt;
                const wk1Master = m.firstAfter("wk1", back, (v) => v === "MASTER");
                const wk1Routed = this.floating ? this.firstVipMove(back, (v) => v === "wk1") : m.firstAfter(wk1Lb, back, (v) => v === "UP");
                const wk1Acks = this.acks().filter((a) => a.worker === "wk1" && a.t >= back).length;
                this.notes.push(
                    `WK1 rebooted at +${Math.round(back - faultAt)} ms: keepalived role ${this.wk1.role()}, ` +
                        `${this.floating ? `the VIP on ${this.vipHolder()}` : `LB status ${this.lbStatus(this.wk1)}`}, ACKs from WK1 since: ${wk1Acks}`,
                );
                if (wk1Master !== null) fail(`failback: WK1 became MASTER again at +${rel(wk1Master)} ms`);
                if (wk1Routed !== null) fail(this.floating ? `the VIP moved back to WK1 at +${rel(wk1Routed)} ms` : `the LB marked WK1 up again at +${rel(wk1Routed)} ms`);
                if (wk1Acks > 0) fail(`${wk1Acks} message(s) went to WK1 after it came back`);
            }
        }
        if (this.def.key !== "split-brain") {
            const wk1After = this.acks().filter((a) => a.worker === "wk1" && a.t >= faultAt && (this.returnedAt === undefined || a.t < this.returnedAt));
            const last = wk1After.length > 0 ? ` (last at +${Math.round(wk1After[wk1After.length - 1].t - faultAt)} ms)` : "";
            this.notes.push(`messages WK1 acknowledged after the fault: ${wk1After.length}${last}`);
        }
        let bothIguanasMs: number | undefined;
        if (this.shared) {
            bothIguanasMs = Math.round(m.overlapMs(["wk1-iguana", "wk2-iguana"], (v) => v === "RUN", faultAt, endAt));
            const entries = this.sharedJournal().filter((e) => e.id.startsWith("ADT-"));
            const ids = entries.map((e) => e.id);
            const firstWk2 = entries.findIndex((e) => e.worker === "wk2");
            const lastWk1 = (firstWk2 >= 0 ? entries.slice(0, firstWk2) : entries).map((e) => e.worker).lastIndexOf("wk1");
            const interleaved = firstWk2 >= 0 && entries.slice(firstWk2).some((e) => e.worker === "wk1");
            this.notes.push(
                `shared journal: ${entries.length} entries; ` +
                    (firstWk2 >= 0
                        ? `WK2 resumed at entry ${firstWk2 + 1} (${entries[firstWk2].id}), right after WK1's last (${lastWk1 >= 0 ? entries[lastWk1].id : "-"}); `
                        : "WK2 wrote none; ") +
                    `order violations across the failover ${orderViolations(ids)}; both Iguanas running for ${bothIguanasMs} ms after the fault`,
            );
            const wk1Stopped = m.firstAfter("wk1-iguana", faultAt, (v) => v === "STOP");
            if (this.def.silentPrimary) {
                this.notes.push(
                    `WK1, cut off from the shared file system too, stopped its Iguana ${wk1Stopped === null ? "never" : `${Math.round(wk1Stopped - faultAt)} ms after the fault`} ` +
                        `(its track script fails once the file system does not answer: ${VRRP.checkFall} x ${VRRP.checkIntervalSeconds} s)`,
                );
            }
            if (!this.def.limitation) {
                if (orderViolations(ids) > 0) fail(`${orderViolations(ids)} order violation(s) in the shared journal across the failover`);
                if (interleaved) fail("WK1 wrote to the shared journal after WK2 had resumed it");
                if (this.def.silentPrimary) {
                    // WK1 cannot write (it lost the file system with its network); it must stop within its track-script time.
                    if (wk1Stopped === null) fail("the cut-off WK1 kept its Iguana running");
                } else if (bothIguanasMs > 0) {
                    fail(`both Iguanas ran on the shared queue for ${bothIguanasMs} ms`);
                }
            } else if (bothIguanasMs > 0) {
                this.notes.push(`LIMITATION in shared mode: both Iguanas ran on the shared queue for ${bothIguanasMs} ms`);
            }
        }
        if ((this.def.key === "network-cut" || this.def.key === "network-heals") && bothMasterMs > 0) {
            this.notes.push(`WK1, cut off, stays MASTER (nothing tells it otherwise): both MASTER for ${bothMasterMs} ms, but ${this.floating ? "the VIP is on WK2 only" : "the LB reaches only WK2"}`);
        }
        let vip: Pick<ScenarioResult, "vipOffWk1Ms" | "vipOnWk2Ms" | "vipMoves"> = {};
        if (this.floating) {
            const moves = this.vipMoves().filter((mv) => mv.t >= faultAt - 1000);
            vip = {
                vipOffWk1Ms: rel(this.firstVipMove(faultAt, (v) => v !== "wk1")),
                vipOnWk2Ms: rel(this.firstVipMove(faultAt, (v) => v === "wk2")),
                vipMoves: moves.map((mv) => ({ t: Math.round(mv.t - faultAt), holder: mv.holder })),
            };
            this.notes.push(`the VIP after the fault: ${moves.map((mv) => `${mv.holder} at +${Math.round(mv.t - faultAt)} ms`).join(", ") || "not moved"}`);
            this.notes.push(`cloud API calls (metadata left out): ${JSON.stringify(summariseCalls(this.cloudApiCalls()))}`);
        }
        return {
            stack: this.stack.stack,
            profile: this.stack.profile,
            scenario: this.def.id,
            key: this.def.key,
            title: (this.floating && this.def.floatingTitle) || this.def.title,
            verdict,
            reasons,
            budget,
            promotionMs: rel(promotion),
            lbMarksWk1DownMs: rel(m.firstAfter(wk1Lb, faultAt, (v) => !routes(v))),
            lbMarksWk2UpMs: rel(m.firstAfter(wk2Lb, faultAt, (v) => v === "UP")),
            firstAckFromWk2Ms: feed.firstAckAfterFaultMs.wk2 === null ? null : Math.round(feed.firstAckAfterFaultMs.wk2),
            outageMs: Math.round(feed.outage.ms),
            acked: all.acked,
            lost: all.lost.length,
            lostIds: all.lost.slice(0, 20),
            misattributedAcks: all.misattributed,
            duplicates: all.duplicates,
            orderViolations: feed.orderViolations,
            retries: events.filter((e) => e.type === "retry").length,
            journalEntries: all.journalEntries,
            bothMasterMs,
            lbBothUpMs,
            queueRecovery: this.stack.cfg.storage?.queueRecovery ?? "none",
            ...(bothIguanasMs !== undefined ? { bothIguanasMs } : {}),
            failoverStrategy: this.stack.cfg.failover.strategy,
            ...vip,
            notes: this.notes,
            durationMs: Math.round(monotonicMs() - started),
            timeline: m.changes
                .filter((c) => c.t >= faultAt - 1000 && c.t <= endAt && !c.subject.endsWith(`-failopen`))
                .map((c) => ({ t: Math.round(c.t - faultAt), subject: c.subject, value: c.value })),
        };
    }

    async tearDown(): Promise<void> {
        for (const w of this.workers ?? []) if (!this.pair) w.stopReconcileTimer();
        await this.monitor.stop();
        if (this.floating) {
            // The movers' own logs live in the scratch run dirs: keep them with the process logs.
            for (const w of this.workers ?? []) fs.writeFileSync(path.join(this.procs.logDir, `${w.name}-vip.log`), w.vipLog());
        }
        await this.procs.stopAll();
        this.procs.killAll();
        if (this.pair) {
            await this.pair.destroy();
            this.ctx.onInterrupt.delete(this.interrupt);
            if (!this.ctx.keep) fs.rmSync(this.root, { recursive: true, force: true });
            return;
        }
        if (this.shared) for (const w of this.workers) w.killStandin();
        destroyTopology(this.topo);
        if (this.shared) for (const w of this.workers) w.unmountShared();
        this.ctx.onInterrupt.delete(this.interrupt);
        if (!this.ctx.keep) fs.rmSync(this.root, { recursive: true, force: true });
    }
}

/**
 * What is wrong, right before the fault, with the state a scenario starts from: WK1 MASTER and
 * the only one serving since the set-up ended (`since`). On a starved machine a track script can
 * time out and hand over before the fault: the scenario would then measure nothing (a "crash" of
 * a WK1 that no longer served passes with no outage), so it does not run.
 */
export function unsettledProblems(input: {
    monitor: Monitor;
    since: number;
    roles: { wk1: string; wk2: string };
    acks: Ack[];
    vip?: { holder: string | undefined; moves: VipMove[] };
    lb?: { wk1: string | undefined; wk2: string | undefined };
}): string[] {
    const { monitor: m, since, roles, vip, lb } = input;
    const problems: string[] = [];
    const wk1Left = m.firstAfter("wk1", since, (v) => v !== "MASTER");
    const wk2Rose = m.firstAfter("wk2", since, (v) => v === "MASTER");
    if (wk1Left !== null || wk2Rose !== null || roles.wk1 !== "MASTER" || roles.wk2 !== "BACKUP") {
        problems.push(`keepalived roles changed: now wk1=${roles.wk1} wk2=${roles.wk2}`);
    }
    if (vip && (vip.moves.some((mv) => mv.t >= since && mv.holder !== "wk1") || vip.holder !== "wk1")) {
        problems.push(`the VIP left WK1 (now on ${vip.holder ?? "none"})`);
    }
    if (lb && (lb.wk1 !== "UP" || routes(lb.wk2))) problems.push(`LB status wk1=${lb.wk1} wk2=${lb.wk2}`);
    const elsewhere = input.acks.filter((a) => a.worker !== "wk1").length;
    if (elsewhere > 0) problems.push(`${elsewhere} ACK(s) from another worker than WK1`);
    return problems;
}

export function failedResult(def: ScenarioDef, stack: StackRun, error: unknown, durationMs: number): ScenarioResult {
    const message = error instanceof Error ? error.message : String(error);
    return {
        stack: stack.stack,
        profile: stack.profile,
        scenario: def.id,
        key: def.key,
        title: (stack.vipMove && def.floatingTitle) || def.title,
        verdict: "FAIL",
        reasons: [`the scenario could not run: ${message}`],
        budget: scenarioBudget(def, stack),
        promotionMs: null,
        lbMarksWk1DownMs: null,
        lbMarksWk2UpMs: null,
        firstAckFromWk2Ms: null,
        outageMs: 0,
        acked: 0,
        lost: 0,
        lostIds: [],
        misattributedAcks: 0,
        duplicates: 0,
        orderViolations: 0,
        retries: 0,
        journalEntries: {},
        bothMasterMs: 0,
        lbBothUpMs: 0,
        notes: [],
        durationMs,
        timeline: [],
    };
}

export async function runScenario(def: ScenarioDef, stack: StackRun, ctx: RunContext, tag: string): Promise<ScenarioResult> {
    const started = monotonicMs();
    let run: ScenarioRun | undefined;
    try {
        run = new ScenarioRun(def, stack, ctx, tag);
        return await run.run();
    } catch (e) {
        return failedResult(def, stack, e, Math.round(monotonicMs() - started));
    } finally {
        await run?.tearDown();
    }
}

