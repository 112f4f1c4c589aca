/**
 * One scenario, from a fresh start: topology, rendered worker files, the lease guards, role
 * probes, Iguana stand-ins, the stand-in lease store, the emulated LB and the sender; then the
 * fault, the observation, the evidence and the verdict. Everything started is ended and every
 * namespace deleted, also when something fails.
 */
import * as fs from "fs";
import * as path from "path";
import { leaseTiming } from "../components/bootstrap";
import { ClusterConfig, namedRegion } from "../components/config";
import { Ack, Analysis, analyse, orderViolations } from "./analysis";
import { CloudApiServerConfig, LeaseFaults, VipMove, cloudApiServerConfig, readHolder, readMoves, summariseCalls } from "./floating";
import { backendName, llpChannels, renderHaproxyConfig } from "./haproxy";
import { Monitor, routes } from "./monitor";
import { DRILL_ADDRESSES } from "./addresses";
import { LbProfile, WORKER_INTERFACE, drillSettings, drillSharedDir, isFloating } from "./plan";
import { readProbeChanges } from "./probe-watch";
import { SenderEvent, monotonicMs } from "./sender";
import { journalPath, readJournal, readJournalEntries } from "./standin";
import { Processes, Started, pidAlive, sh, sleep, waitFor } from "./system";
import { Budget, Detection, LbTiming, SENDER_TIMING, STANDIN_START_BUDGET_MS, VipMoveTiming, failoverBudget, floatingBudget, takeoverMs } from "./timing";
import { Topology, createTopology, cutLeaseStore, cutNetwork, cutPeer, destroyTopology, healLeaseStore, healNetwork, healPeer } from "./topology";
import { DrillWorker, workerReconcileTimer } from "./worker";
import { BootedContext, BootedDrillWorker, BootedPair } from "./booted";
import { labNetnsName, machineNetnsName } from "../boot/lab";
import { EVENTS_NAMESPACE, SIGNAL_METRICS, TAKEOVER_METRIC } from "../components/constants";
import { FLOATING_IP_OVERRIDES } from "../boot/cases";
import { RollingRebuildResult, rollingRebuild } from "../automation/rolling-rebuild";

export type ScenarioId = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15;

/**
 * What a scenario must show:
 * - failover: WK2 takes over within the budget;
 * - stay: WK1 stays the active worker (WK2 never active);
 * - either: WK1 stays, or WK2 takes over within the budget (a guard restarted in place);
 * - none: no worker active while the fault lasts (the lease store out of reach), one again after it;
 * - cold-start: both start together and WK1 becomes the active worker.
 */
export type Expectation = "failover" | "stay" | "either" | "none" | "cold-start";

/** What follows the fault, after the failover: WK1 returns and must stay passive while WK2 stays active. */
export type Return = "reboot" | "heal" | "thaw";

export interface ScenarioDef {
    id: ScenarioId;
    key: string;
    title: string;
    detection: Detection;
    expect: Expectation;
    returns?: Return;
    /** WK1 goes silent (no answer, no reset): the LB's checks of it fail only by timing out. */
    silentPrimary?: boolean;
    /** The title with a floating IP, where it differs (no LB). */
    floatingTitle?: string;
    /** Only on booted machines (`--booted`): it replaces whole machines. */
    bootedOnly?: boolean;
}

export const SCENARIOS: ScenarioDef[] = [
    { id: 1, key: "crash", title: "WK1 crashes (every process killed at once)", detection: "expiry", expect: "failover" },
    { id: 2, key: "network-cut", title: "WK1's network is cut", detection: "expiry", expect: "failover", silentPrimary: true },
    { id: 3, key: "guard-stop", title: "the lease guard on WK1 stopped cleanly", detection: "release", expect: "failover" },
    { id: 4, key: "iguana-dies", title: "Iguana on WK1 dies, its guard runs on", detection: "health", expect: "failover" },
    { id: 5, key: "wk1-returns", title: "WK1 comes back after a failover", detection: "expiry", expect: "failover", returns: "reboot" },
    {
        id: 6,
        key: "split-brain",
        title: "WK1<->WK2 link cut, both reach the LB and the lease store",
        detection: "expiry",
        expect: "stay",
        floatingTitle: "WK1<->WK2 link cut, both reach the cloud API, the lease store and the senders",
    },
    { id: 7, key: "network-heals", title: "WK1's network comes back after a failover", detection: "expiry", expect: "failover", silentPrimary: true, returns: "heal" },
    { id: 8, key: "lease-cut-wk1", title: "the lease store unreachable from WK1 only", detection: "expiry", expect: "failover", returns: "heal" },
    { id: 9, key: "lease-cut-both", title: "the lease store unreachable from both workers", detection: "expiry", expect: "none" },
    { id: 10, key: "lease-slow", title: "every lease store call 2.5 s late", detection: "expiry", expect: "none" },
    { id: 11, key: "wk1-frozen", title: "WK1 frozen for 20 s (every process stopped), then thawed", detection: "expiry", expect: "failover", silentPrimary: true, returns: "thaw" },
    { id: 12, key: "guard-killed", title: "the lease guard on WK1 killed -9", detection: "expiry", expect: "either" },
    { id: 13, key: "cold-start", title: "both workers cold-started together", detection: "expiry", expect: "cold-start" },
    { id: 14, key: "switchover", title: "planned switchover (handover command on WK1)", detection: "release", expect: "failover" },
    {
        id: 15,
        key: "rolling-rebuild",
        title: "rolling rebuild (automation/rolling-rebuild.ts: WK2 replaced, switchover, WK1 replaced)",
        detection: "release",
        expect: "failover",
        bootedOnly: true,
    },
];

/** How late the stand-in lease store answers in scenario 10. */
export const SLOW_STORE_DELAY_MS = 2500;
/** How long WK1 stays frozen in scenario 11. */
export const FREEZE_MS = 20000;
/** After WK1 returns (reboot, heal, thaw), the active WK2 must stay active at least this long. */
export const STAYS_ACTIVE_AFTER_RETURN_MS = 45000;
/** How long scenarios 9 and 10 keep the store out of reach, and 6 the link cut. */
export const FAULT_HOLD_MS = 15000;
/** A planned switchover hands the lease over within this (the issue's bound), measured command to WK2 active. */
export const SWITCHOVER_BOUND_MS = 2000;

/**
 * Whether the holder rides out a store that answers `delayMs` late: its calls must not time out
 * (L/3), and with one call at a time, the next success (two delays after a send) must come
 * before that send's deadline (L/2).
 */
export function ridesOutSlowStore(leaseSeconds: number, delayMs: number): boolean {
    const t = leaseTiming(leaseSeconds);
    return delayMs < t.callTimeoutSeconds * 1000 && Math.max(2 * delayMs, delayMs + t.renewEverySeconds * 1000) < t.activeForSeconds * 1000;
}

export function leaseSecondsOf(cfg: ClusterConfig): number {
    return cfg.failover.leaseSeconds;
}

/** What scenario 10 must show with the stack's lease: the holder rides the slow store out, or nobody is active while it lasts. */
export function effectiveExpectation(def: ScenarioDef, cfg: ClusterConfig): Expectation {
    if (def.key === "lease-slow") return ridesOutSlowStore(leaseSecondsOf(cfg), SLOW_STORE_DELAY_MS) ? "stay" : "none";
    return def.expect;
}

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
    /**
     * Wait this long more before the fault (`--fault-phases`): the fault then lands at another
     * point of the LB's check cycle, which decides how soon the LB takes the new holder in.
     */
    faultDelayMs?: number;
}

/** The outage budget of one scenario of a stack: through the LB, or through a floating IP. */
export function scenarioBudget(def: ScenarioDef, stack: StackRun): Budget {
    const lease = leaseTiming(leaseSecondsOf(stack.cfg));
    const iguanaStartMs = stack.cfg.storage?.queueRecovery === "shared" ? STANDIN_START_BUDGET_MS : 0;
    if (stack.vipMove) return floatingBudget(def.detection, lease, stack.vipMove, { iguanaStartMs });
    return failoverBudget(def.detection, lease, stack.timing, { silentPrimary: def.silentPrimary, iguanaStartMs });
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
    /** Time both workers were active at once (probe 200, gate open with Iguana running, Iguana running in shared mode, VIP held: any counts), from the set-up on. */
    bothActiveMs: number;
    /** ACKs from WK1 later than WK2's first after the fault: the two acknowledging in the same window. */
    interleavedAcks: number;
    /** Time the LB had both workers up (routable) at once, after the fault. */
    lbBothUpMs: number;
    /** storage.queueRecovery of the run. */
    queueRecovery?: string;
    /** Shared mode: time both Iguana stand-ins ran at once on the shared journal, after the fault. */
    bothIguanasMs?: number;
    /** failover.strategy of the run. */
    failoverStrategy?: string;
    /** `--fault-phases`: the fault came this much later than the first 20 ACKs. */
    faultDelayMs?: number;
    /** Floating IP: when the VIP left WK1 and when it reached WK2 (the stand-in cloud applied the move), ms after the fault. */
    vipOffWk1Ms?: number | null;
    vipOnWk2Ms?: number | null;
    /** Floating IP: every change of the VIP's holder from 1 s before the fault on (ms after the fault). */
    vipMoves?: { t: number; holder: string }[];
    notes: string[];
    durationMs: number;
    timeline: { t: number; subject: string; value: string }[];
}

/**
 * The drill sees a role change by sampling the state files; the worker may report it (reading its
 * own role probe) that much before the sample that shows it.
 */
const SIGNAL_SAMPLING_SLACK_MS = 500;
/** The scenarios in which WK1 lives on with its network while it loses its role: it reports that itself. */
const WK1_REPORTS_ITS_FALL = new Set(["guard-stop", "iguana-dies", "lease-cut-wk1", "switchover", "rolling-rebuild"]);

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

/** ACKs from WK1 after WK2's first ACK at or after `since` (and before `until`): both acknowledging in one window. */
export function interleavedAcks(acks: Ack[], since: number, until = Infinity): number {
    const firstWk2 = acks.find((a) => a.worker === "wk2" && a.t >= since)?.t;
    if (firstWk2 === undefined) return 0;
    return acks.filter((a) => a.worker === "wk1" && a.t > firstWk2 && a.t < until).length;
}

/** Samples further apart than this are noted in a scenario's result (they bound how late a change is seen). */
const SAMPLING_GAP_NOTE_MS = 250;

/** What counts as active for "never two at once": any one of these. */
export function isActive(values: { probe?: string; gate?: string; iguana?: string; vip?: string }, worker: string, shared: boolean): boolean {
    return values.probe === "200" || (values.gate === "open" && values.iguana === "RUN") || (shared && values.iguana === "RUN") || values.vip === worker;
}

/** A worker as a scenario sees it, booted or in bare namespaces (drill/worker.ts, drill/booted.ts). */
type ScenarioWorker = DrillWorker | BootedDrillWorker;

/** How long the refused senders (checkTlsRefusals) keep trying before the fault. */
const TLS_REFUSAL_WATCH_MS = 5000;

class ScenarioRun {
    readonly procs: Processes;
    readonly topo: Topology;
    /** Set in the constructor, or (booted machines) once they are up. */
    workers!: [ScenarioWorker, ScenarioWorker];
    /** The booted machines, when the drill runs on them. */
    readonly pair?: BootedPair;
    readonly monitor: Monitor;
    readonly root: string;
    readonly notes: string[] = [];
    readonly expect: Expectation;
    haproxy?: Started;
    /** The stand-in cloud API and lease store (bare namespaces), in the lb namespace. */
    cloudApi?: Started;
    cloudApiConfig?: CloudApiServerConfig;
    probeWatch?: Started;
    sender?: Started;
    probeSender?: Started;
    readonly eventsFile: string;
    readonly probeEventsFile: string;
    readonly probeChangesFile: string;
    readonly stopFile: string;
    readonly backend: string;
    readonly port: number;
    /** When WK1 came back (reboot, heal, thaw), or the fault ended (9, 10, 6). */
    returnedAt?: number;
    /** When the monitor started: "never two active" holds from here on. */
    watchedFrom = 0;
    /** When the fault was fully in place (its commands returned). */
    injectedAt = 0;
    /** Scenario rolling-rebuild: what the procedure reported (undefined when it stopped), and when it sent the handover. */
    rolling?: RollingRebuildResult;
    rollingHandoverAt?: number;
    private readonly interrupt: () => void | Promise<void>;

    constructor(
        readonly def: ScenarioDef,
        readonly stack: StackRun,
        readonly ctx: RunContext,
        tag: string,
        index: number,
    ) {
        this.root = path.join(ctx.workRoot, tag);
        fs.mkdirSync(this.root, { recursive: true, mode: 0o755 });
        this.procs = new Processes(path.join(ctx.logRoot, tag));
        this.expect = effectiveExpectation(def, stack.cfg);
        if (stack.booted) {
            const pair = new BootedPair(
                { label: stack.stack, stack: stack.stack, mutualTls: true, ...(stack.vipMove ? { overrides: FLOATING_IP_OVERRIDES[stack.cfg.cloud] } : {}) },
                stack.cfg,
                stack.booted,
                ctx.runId.slice(-3),
                index,
                ctx.repoRoot,
                stack.vipMove?.delayMs,
            );
            this.pair = pair;
            this.topo = {
                prefix: pair.cluster.id,
                ns: { sender: pair.senderNs, lb: labNetnsName(pair.cluster.id), wk1: machineNetnsName(pair.cluster.id, "wk1"), wk2: machineNetnsName(pair.cluster.id, "wk2") },
                addresses: pair.addresses,
            };
            this.interrupt = async () => {
                this.procs.killAll();
                await pair.destroy();
            };
        } else {
            this.topo = createTopology(`igd-${ctx.runId}-${tag.replace(/[^a-z0-9]/g, "")}`.slice(0, 40), DRILL_ADDRESSES, { floatingVip: isFloating(stack.cfg) });
        }
        this.interrupt ??= () => {
            this.procs.killAll();
            for (const w of this.nsWorkers()) {
                w.superviseGuard = false;
                w.stopReconcileTimer();
                w.thaw();
                w.killStandin();
                w.unmountShared();
            }
            destroyTopology(this.topo);
        };
        ctx.onInterrupt.add(this.interrupt);
        if (!stack.booted) {
            const [s1, s2] = drillSettings(stack.cfg, this.root);
            this.workers = [new DrillWorker(s1, this.topo.ns.wk1, this.procs, ctx.repoRoot), new DrillWorker(s2, this.topo.ns.wk2, this.procs, ctx.repoRoot)];
            this.cloudApiConfig = cloudApiServerConfig(
                stack.cfg.cloud,
                namedRegion(stack.cfg),
                this.topo.ns,
                this.topo.addresses,
                WORKER_INTERFACE,
                stack.vipMove?.delayMs ?? 0,
                this.root,
            );
        }
        this.probeChangesFile = path.join(this.root, "probe-changes.jsonl");
        this.monitor = new Monitor({
            wk1: () => this.workers[0].role(),
            wk2: () => this.workers[1].role(),
            "wk1-gate": () => (this.workers[0].gateOpen() ? "open" : "closed"),
            "wk2-gate": () => (this.workers[1].gateOpen() ? "open" : "closed"),
            "wk1-iguana": () => this.iguanaState(this.workers[0]),
            "wk2-iguana": () => this.iguanaState(this.workers[1]),
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

    /** The workers in bare namespaces (none when booted). */
    nsWorkers(): DrillWorker[] {
        return this.pair ? [] : ((this.workers ?? []) as DrillWorker[]);
    }

    /** RUN, STOP, or FROZEN (a frozen Iguana acknowledges nothing: it does not count as running). */
    iguanaState(w: ScenarioWorker): string {
        if (w.frozen) return "FROZEN";
        return w.standinRunning() ? "RUN" : "STOP";
    }

    get shared(): boolean {
        return this.stack.cfg.storage?.queueRecovery === "shared";
    }

    get floating(): boolean {
        return this.stack.vipMove !== undefined;
    }

    get lease() {
        return leaseTiming(leaseSecondsOf(this.stack.cfg));
    }

    /** The stand-in cloud's files: the VIP (holder, moves, calls) and the lease store (faults, writes). */
    vipFiles(): { holder: string; moves: string; calls: string } {
        if (this.pair) return this.pair.cluster.vipFiles();
        return this.cloudApiConfig!.files;
    }

    leaseFaultsFile(): string {
        return this.pair ? this.pair.cluster.leaseFiles().faults : this.cloudApiConfig!.files.leaseFaults;
    }

    leaseStoreAddress(): string {
        return this.pair ? this.pair.cluster.leaseAddress() : this.topo.addresses.leaseStore;
    }

    setLeaseFaults(faults: LeaseFaults): void {
        fs.writeFileSync(this.leaseFaultsFile(), JSON.stringify(faults));
    }

    /** Floating IP: who holds the VIP now (wk1, wk2 or none). */
    vipHolder(): string | undefined {
        return this.monitor.now("vip");
    }

    /** Starts the stand-in cloud API and lease store in the lb namespace and waits until they listen. */
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

    /** Asks both role probes every 50 ms from where the LB stands, recording every change. */
    startProbeWatch(): void {
        const target = (w: ScenarioWorker) => `${w.name}=http://${w.settings.self.privateIp}:${w.settings.roleProbe.port}${w.settings.roleProbe.path}`;
        this.probeWatch = this.procs.spawnIn(
            this.topo.ns.lb,
            "probe-watch",
            process.execPath,
            [
                "-r",
                "ts-node/register/transpile-only",
                path.join(__dirname, "probe-watch.ts"),
                "--target",
                target(this.wk1),
                "--target",
                target(this.wk2),
                "--every-ms",
                "50",
                "--timeout-ms",
                "300",
                "--out",
                this.probeChangesFile,
                "--now",
                `${this.probeChangesFile}.now`,
            ],
            { cwd: this.ctx.repoRoot },
        );
    }

    /** Floating IP: the VIP's moves recorded by the stand-in. */
    vipMoves(): VipMove[] {
        return this.floating ? readMoves(this.vipFiles().moves) : [];
    }

    /** Floating IP: when the stand-in first put the VIP on a holder matching `match`, at or after `since` (exact, not sampled). */
    firstVipMove(since: number, match: (holder: string) => boolean): number | null {
        return this.vipMoves().find((mv) => mv.t >= since && match(mv.holder))?.t ?? null;
    }

    /** Floating IP: the longest a move may take after a takeover (the budget's share). */
    get vipMoveMs(): number {
        return scenarioBudget(this.def, this.stack).vipMoveMs ?? 0;
    }

    get wk1(): ScenarioWorker {
        return this.workers[0];
    }
    get wk2(): ScenarioWorker {
        return this.workers[1];
    }

    lbStatus(worker: ScenarioWorker): string | undefined {
        return this.monitor.now(`${this.backend}/${worker.name}`);
    }

    /**
     * A worker's boot order: LLP gate closed, role probe, Iguana; the lease guard comes after.
     * Shared mode: Iguana is not started at boot; the notify script starts it on the holder.
     */
    async bootWorker(w: DrillWorker): Promise<void> {
        w.closeGate();
        w.startRoleProbe();
        if (this.shared) return;
        w.startStandin();
        if (!(await waitFor(() => w.standinReady(), 30000))) throw new Error(`${w.name}: the Iguana stand-in did not start`);
    }

    /** Both workers hold their roles: WK1 active (and its Iguana up), WK2 passive (BACKUP). */
    settled(): boolean {
        return this.wk1.role() === "MASTER" && this.wk2.role() === "BACKUP" && (!this.shared || this.wk1.standinReady());
    }

    /** Booted machines: the boot does what setUp does by hand (the units, in their order); then the LB. */
    async setUpBooted(pair: BootedPair): Promise<void> {
        await pair.start(() => {
            this.workers = pair.workers as [ScenarioWorker, ScenarioWorker];
            this.startProbeWatch();
            this.monitor.start();
            this.watchedFrom = monotonicMs();
        });
        if (!this.floating) {
            await this.startLoadBalancer();
            return this.checkTlsRefusals(pair);
        }
        // No LB: WK1's guard ran the mover against the stand-in cloud, which placed the VIP.
        if (!(await waitFor(() => this.vipHolder() === "wk1", this.vipMoveMs + 30000))) {
            throw new Error(
                `the floating VIP did not reach WK1 on the booted machines: holder ${this.vipHolder()}; WK1's mover log: ${this.wk1.vipLog().trim().split("\n").slice(-3).join(" / ")}`,
            );
        }
        await this.checkTlsRefusals(pair);
    }

    /**
     * Booted machines tell the stand-in cloud when they take over (publish-event.py): WK2 once it
     * became active after the fault, and WK1 never after it. Each datapoint's time is on the same
     * monotonic clock as the role changes.
     */
    private checkTakeoverEvents(promotion: number | null, faultAt: number, fail: (why: string) => void): void {
        const events = this.pair!.cluster.publishedEvents().filter((e) => e.metric === TAKEOVER_METRIC && e.namespace === EVENTS_NAMESPACE && e.t > faultAt);
        const fromWk1 = events.filter((e) => e.worker === "wk1");
        if (fromWk1.length > 0) fail(`WK1 told the cloud it took over ${fromWk1.length} time(s) after the fault`);
        if (promotion === null) {
            if (events.length > 0) fail(`a takeover was published although WK2 never became active: ${JSON.stringify(events.map((e) => e.worker))}`);
            return;
        }
        const told = events.find((e) => e.worker === "wk2" && e.t >= promotion);
        if (!told) fail("WK2 became active but never told the cloud it took over (no Takeovers datapoint)");
        else this.notes.push(`WK2 told the cloud it took over (${TAKEOVER_METRIC}) ${Math.round(told.t - promotion)} ms after it became active`);
    }

    /**
     * The rolling rebuild replaced WK2, then WK1 (each a second machine on its data disk), with
     * one switchover as fast as the planned one; the messages WK1 acknowledged before its
     * replacement are read from its data disk after it (the analysis finds none lost).
     */
    private checkRollingRebuild(promotion: number | null, fail: (why: string) => void): void {
        const result = this.rolling;
        if (!result) return fail("the rolling rebuild stopped before it finished (its reason is in the notes)");
        if (result.rebuilt.join(",") !== "wk2,wk1" || result.active !== "wk2") fail(`the rolling rebuild replaced ${result.rebuilt.join(", ")} and left ${result.active} active`);
        const boots = (this.workers as BootedDrillWorker[]).map((w) => w.machine.boots);
        if (boots.some((b) => b !== 2)) fail(`each worker should have booted twice (its first machine, its replacement): ${boots.join(", ")}`);
        if (promotion !== null && this.rollingHandoverAt !== undefined) {
            const bound = SWITCHOVER_BOUND_MS + (this.floating ? this.vipMoveMs : 0);
            const handover = promotion - this.rollingHandoverAt;
            this.notes.push(`WK2 active ${Math.round(handover)} ms after the handover command; bound ${bound} ms`);
            if (handover > bound) fail(`the switchover took ${Math.round(handover)} ms > ${bound} ms to make WK2 active`);
        }
    }

    /**
     * Booted machines report their signals (publish-event.py) at every change of role: WK2 that it
     * is active and holds the lease once it became MASTER, never before; WK1, where it lives on
     * and keeps its network, that it no longer is, before WK2's promotion; and, when its Iguana
     * died, that Iguana is unhealthy.
     */
    private checkSignals(promotion: number | null, faultAt: number, fail: (why: string) => void): void {
        const points = this.pair!.cluster.publishedEvents().filter((e) => e.namespace === EVENTS_NAMESPACE && e.t > faultAt && e.dimensions.Worker === e.worker);
        const first = (worker: string, metric: string, value: number) => points.find((e) => e.worker === worker && e.metric === metric && e.value === value);
        const wk2Active = first("wk2", SIGNAL_METRICS.active, 1);
        const wk2Holds = first("wk2", SIGNAL_METRICS.holdsLease, 1);
        if (promotion === null) {
            if (wk2Active || wk2Holds) fail(`WK2 reported itself ${wk2Active ? "active" : "the lease holder"} although it never became active`);
        } else if (!wk2Active || !wk2Holds) {
            fail(`WK2 became active but never reported ${!wk2Active ? SIGNAL_METRICS.active : SIGNAL_METRICS.holdsLease} = 1`);
        } else if (Math.min(wk2Active.t, wk2Holds.t) < promotion - SIGNAL_SAMPLING_SLACK_MS) {
            fail(`WK2 reported itself active ${Math.round(promotion - wk2Active.t)} ms before it became active`);
        } else {
            this.notes.push(`WK2 reported ${SIGNAL_METRICS.active} = 1 and ${SIGNAL_METRICS.holdsLease} = 1 ${Math.round(wk2Active.t - promotion)} ms after it became active`);
        }
        // Where WK1 kept its role (booted, Iguana restarted in place by systemd), there is no fall to report.
        if (!WK1_REPORTS_ITS_FALL.has(this.def.key) || promotion === null) return;
        const wk1Down = first("wk1", SIGNAL_METRICS.active, 0);
        const wk1Let = first("wk1", SIGNAL_METRICS.holdsLease, 0);
        if (!wk1Down || !wk1Let) fail(`WK1 lost its role but never reported ${!wk1Down ? SIGNAL_METRICS.active : SIGNAL_METRICS.holdsLease} = 0`);
        else if (promotion !== null && wk1Down.t > promotion + SIGNAL_SAMPLING_SLACK_MS)
            fail(`WK1 reported it was no longer active ${Math.round(wk1Down.t - promotion)} ms after WK2 became active`);
        else this.notes.push(`WK1 reported ${SIGNAL_METRICS.active} = 0 and ${SIGNAL_METRICS.holdsLease} = 0 ${Math.round(wk1Down.t - faultAt)} ms after the fault`);
        if (this.def.key === "iguana-dies") {
            const unhealthy = first("wk1", SIGNAL_METRICS.iguanaHealthy, 0);
            if (!unhealthy) fail(`WK1's Iguana died but WK1 never reported ${SIGNAL_METRICS.iguanaHealthy} = 0`);
            else this.notes.push(`WK1 reported ${SIGNAL_METRICS.iguanaHealthy} = 0 ${Math.round(unhealthy.t - faultAt)} ms after the fault`);
        }
        const wk1Again = points.find((e) => e.worker === "wk1" && e.metric === SIGNAL_METRICS.active && e.value === 1 && e.t > promotion);
        if (wk1Again) fail(`WK1 reported itself active again ${Math.round(wk1Again.t - promotion)} ms after WK2 became active`);
    }

    /**
     * TLS on (the booted machines run it, mutual): before the fault, through the VIP, a sender in
     * clear and a sender without a client certificate each try one message for a few seconds;
     * an ACK to either fails the scenario.
     */
    private async checkTlsRefusals(pair: BootedPair): Promise<void> {
        if (!pair.cluster.tls) return;
        const kinds: ("plain" | "no-client-certificate")[] = ["plain", ...(pair.cluster.tls.client ? (["no-client-certificate"] as const) : [])];
        const tries = kinds.map((kind) => {
            const file = path.join(this.root, `refused-${kind}.jsonl`);
            const stopFile = `${file}.stop`;
            return { kind, file, stopFile, sender: this.startSender(file, { prefix: `REFUSED-${kind.toUpperCase()}`, count: 1, tls: kind, stopFile }) };
        });
        await sleep(TLS_REFUSAL_WATCH_MS);
        for (const t of tries) fs.writeFileSync(t.stopFile, "");
        await Promise.all(tries.map((t) => Promise.race([t.sender.exited, sleep(5000)])));
        for (const t of tries) {
            const events = readEvents(t.file);
            const acked = acksOf(events).length;
            const attempts = events.filter((e) => e.type === "retry").length;
            if (acked > 0 || attempts === 0)
                throw new Error(
                    `TLS: a sender ${t.kind === "plain" ? "in clear" : "without a client certificate"} got ${acked} ACK(s) in ${attempts} attempt(s); expected every attempt refused`,
                );
            this.notes.push(
                `TLS: a sender ${t.kind === "plain" ? "in clear" : "without a client certificate"} was refused ${attempts} time(s) in ${TLS_REFUSAL_WATCH_MS / 1000} s through the VIP; the drill's sender speaks MLLP over TLS with a client certificate`,
            );
        }
    }

    async setUp(): Promise<void> {
        if (this.pair) return this.setUpBooted(this.pair);
        if (this.shared) fs.mkdirSync(path.join(drillSharedDir(this.root), "working"), { recursive: true, mode: 0o755 });
        const workers = this.nsWorkers();
        for (const w of workers) {
            w.render(this.procs.logDir);
            if (this.shared) w.mountShared(drillSharedDir(this.root));
        }
        await this.startCloudApi();
        await Promise.all(workers.map((w) => this.bootWorker(w)));
        this.startProbeWatch();
        this.monitor.start();
        this.watchedFrom = monotonicMs();
        // Both guards start together, as after a cold start of the cluster: WK2's head start
        // (GUARD.backupBootHeadStartSeconds) lets WK1 take the free lease first.
        for (const w of workers) {
            w.superviseGuard = true;
            w.startGuard();
        }
        if (this.shared) for (const w of workers) this.remountForGuard(w);
        if (!(await waitFor(() => this.settled(), 30000))) {
            throw new Error(`the lease did not make WK1 active: wk1=${this.wk1.role()} wk2=${this.wk2.role()}`);
        }
        if (this.floating) {
            if (!(await waitFor(() => this.vipHolder() === "wk1", this.vipMoveMs + 15000))) {
                throw new Error(`the floating VIP did not reach WK1: holder ${this.vipHolder()}; WK1's mover log: ${this.wk1.vipLog().trim().split("\n").slice(-3).join(" / ")}`);
            }
            // The machines of a running cluster booted long ago: their reconcile timers fire every
            // OnUnitActiveSec from now (OnBootSec applies only to a WK1 that reboots).
            for (const w of workers) w.startReconcileTimer(workerReconcileTimer(w.settings).everyMs);
            return;
        }
        await this.startLoadBalancer();
    }

    /** Shared mode: the guard's own mount namespace gets the shared directory too (ip netns exec made it private). */
    remountForGuard(w: DrillWorker): void {
        if (waitForSync(() => w.guardPid() !== undefined, 5000)) w.mountSharedInGuard(drillSharedDir(this.root));
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
        const settled = await waitFor(() => this.lbStatus(this.wk1) === "UP" && this.lbStatus(this.wk2) === "DOWN", intervalMs * (this.stack.timing.threshold + 1) + 5000);
        if (!settled) throw new Error(`the LB did not settle on WK1: wk1=${this.lbStatus(this.wk1)} wk2=${this.lbStatus(this.wk2)}`);
    }

    startSender(
        file: string,
        options: { prefix: string; count: number; fresh?: boolean; intervalMs?: number; tls?: "as-configured" | "no-client-certificate" | "plain"; stopFile?: string },
    ): Started {
        const tls = options.tls ?? "as-configured";
        const tlsArgs = tls === "plain" ? [] : (this.pair?.cluster.senderTlsArgs(tls === "as-configured") ?? []);
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
                options.stopFile ?? (options.fresh ? `${this.stopFile}.probe` : this.stopFile),
                ...(options.fresh ? ["--fresh"] : []),
                // Booted machines run the stack's TLS (mutual): the sender speaks MLLP over TLS with its client certificate.
                ...tlsArgs,
            ],
            { cwd: this.ctx.repoRoot },
        );
    }

    acks(): Ack[] {
        return acksOf(readEvents(this.eventsFile));
    }

    /** WK2 is active, the LB routes to it and not to WK1 (or it holds the VIP), and it acknowledged. */
    served(since: number): boolean {
        const moved = this.floating ? this.vipHolder() === "wk2" : this.lbStatus(this.wk2) === "UP" && !routes(this.lbStatus(this.wk1));
        return this.wk2.role() === "MASTER" && moved && this.acks().some((a) => a.worker === "wk2" && a.t >= since);
    }

    async awaitFailover(faultAt: number, budget: Budget): Promise<boolean> {
        const ok = await waitFor(() => this.served(faultAt), budget.totalMs + 5000, 100);
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
            case "guard-stop":
                await wk1.stopGuard();
                this.notes.push(`systemctl stop ${wk1.guardUnit} on WK1 (the guard fences, releases the lease; systemd runs ExecStopPost); Iguana keeps running`);
                return true;
            case "iguana-dies":
                wk1.killStandin();
                this.notes.push(`kill -9 of ${wk1.iguanaUnit}'s process on WK1; systemd restarts it (Restart=always), the guard's health check decides whether to hand over`);
                return true;
            case "guard-killed":
                await wk1.killGuard();
                this.notes.push(`kill -9 of ${wk1.guardUnit}'s process on WK1; systemd runs ExecStopPost (the gate closes) and restarts it (Restart=always, 1 s)`);
                return true;
            case "wk1-frozen":
                wk1.freeze();
                this.notes.push(`the whole machine frozen (cgroup.freeze of its cgroup: every process stopped, the kernel runs on) for ${FREEZE_MS / 1000} s`);
                return true;
            case "rolling-rebuild":
                await this.rollingRebuild();
                return true;
            default:
                return false;
        }
    }

    /**
     * The procedure of automation/rolling-rebuild.ts on the booted pair: its commands run as root
     * inside the machines (as SSM or `az vm run-command` run them), and a replacement is a new
     * machine from the same image and user data with the same data disk (as `pulumi up` with
     * `workers.rebuild` makes it). The sender keeps sending through it all.
     */
    async rollingRebuild(): Promise<void> {
        const [w1, w2] = this.workers as [BootedDrillWorker, BootedDrillWorker];
        const byName = { wk1: w1, wk2: w2 };
        const started = monotonicMs();
        try {
            this.rolling = await rollingRebuild({
                commands: { run: (worker, script) => byName[worker].runCommand(script) },
                replacer: { replace: (worker) => byName[worker].rebuild(), finish: async () => undefined },
                pollMs: 1000,
                readyTimeoutMs: 6 * 60 * 1000,
                onSwitchover: () => (this.rollingHandoverAt = monotonicMs()),
                log: (line) => this.notes.push(`rolling rebuild +${Math.round((monotonicMs() - started) / 1000)} s: ${line}`),
            });
        } catch (error) {
            this.notes.push(`rolling rebuild stopped: ${(error as Error).message}`);
        }
    }

    async inject(): Promise<void> {
        const { wk1, wk2 } = this;
        if (this.pair && (await this.injectBooted(wk1 as BootedDrillWorker))) return;
        if (this.def.bootedOnly) throw new Error(`scenario ${this.def.id} (${this.def.key}) runs on booted machines only (--booted)`);
        const ns1 = wk1 as DrillWorker;
        switch (this.def.key) {
            case "crash":
            case "wk1-returns":
                // Everything at once, no supervisor: nothing on WK1 gets to clean up.
                ns1.crash();
                this.notes.push("kill -9 of every process of WK1 (guard, probe, Iguana); no systemd: no ExecStopPost, no restart");
                break;
            case "network-cut":
            case "network-heals":
                cutNetwork(wk1.ns);
                this.notes.push("every packet in or out of WK1's interface dropped; the interface stays up (a cloud network partition)");
                if (this.shared) {
                    // On a cloud the cut takes the NFS server away too; here the shared directory is local.
                    ns1.unmountShared();
                    this.notes.push("WK1's shared file system went with its network (its bind mount lazily unmounted)");
                }
                break;
            case "guard-stop":
                await ns1.stopGuard();
                this.notes.push("`systemctl stop` of the guard as systemd does it: SIGTERM (the guard fences and releases the lease), then ExecStopPost (notify.sh STOP)");
                break;
            case "iguana-dies":
                ns1.killStandin();
                this.notes.push("kill -9 of the Iguana stand-in only; the guard's health check must hand over");
                break;
            case "guard-killed":
                ns1.killGuard();
                this.notes.push("kill -9 of the guard only; the drill does what its unit does: ExecStopPost (notify.sh STOP), then Restart= after 1 s");
                break;
            case "wk1-frozen":
                ns1.superviseGuard = false;
                ns1.freeze();
                this.notes.push(`every process of WK1 stopped (SIGSTOP) for ${FREEZE_MS / 1000} s; its kernel and gate rules stay`);
                break;
            default:
                break;
        }
        switch (this.def.key) {
            case "split-brain":
                cutPeer(wk1.ns, wk2.settings.self.privateIp);
                cutPeer(wk2.ns, wk1.settings.self.privateIp);
                this.notes.push("all traffic between WK1 and WK2 dropped; both still reach the lease store and the LB (or the cloud API and the senders)");
                break;
            case "lease-cut-wk1":
                cutLeaseStore(wk1.ns, this.leaseStoreAddress());
                this.notes.push("every packet between WK1 and the lease store dropped; WK1 reaches everything else");
                break;
            case "lease-cut-both":
                cutLeaseStore(wk1.ns, this.leaseStoreAddress());
                cutLeaseStore(wk2.ns, this.leaseStoreAddress());
                this.notes.push("every packet between the workers and the lease store dropped");
                break;
            case "lease-slow":
                this.setLeaseFaults({ delayMs: SLOW_STORE_DELAY_MS });
                this.notes.push(
                    `every lease store call answered ${SLOW_STORE_DELAY_MS} ms late (leaseSeconds ${this.lease.leaseSeconds}: calls time out after ${this.lease.callTimeoutSeconds.toFixed(1)} s)`,
                );
                break;
            case "switchover": {
                const started = monotonicMs();
                const answer = await wk1.handover();
                this.notes.push(`handover command on WK1 answered after ${Math.round(monotonicMs() - started)} ms: ${answer.trim().split("\n").slice(-1)[0]}`);
                break;
            }
            default:
                break;
        }
    }

    /** WK1 comes back like a rebooted machine: /run is empty, then the boot order of the units. */
    async rebootWk1(): Promise<void> {
        if (this.pair) {
            const booted = this.wk1 as BootedDrillWorker;
            if (!(await booted.powerOn())) this.notes.push("WK1 did not finish booting again");
            return;
        }
        const w = this.wk1 as DrillWorker;
        w.crash();
        if (this.floating) w.stopReconcileTimer();
        fs.rmSync(w.settings.paths.runDir, { recursive: true, force: true });
        fs.mkdirSync(w.settings.paths.runDir, { recursive: true, mode: 0o755 });
        await this.bootWorker(w);
        w.superviseGuard = true;
        w.startGuard();
        if (this.shared) this.remountForGuard(w);
        // A booted machine: the reconcile timer first fires OnBootSec after the boot.
        if (this.floating) w.startReconcileTimer(workerReconcileTimer(w.settings).bootMs);
    }

    /** The fault ends: WK1 back (rebooted, healed, thawed), the store reachable and prompt again. */
    async endFault(): Promise<void> {
        const { wk1, wk2 } = this;
        switch (this.def.key) {
            case "wk1-returns":
                await this.rebootWk1();
                break;
            case "network-heals":
                healNetwork(wk1.ns);
                if (this.shared) (wk1 as DrillWorker).mountShared(drillSharedDir(this.root));
                break;
            case "lease-cut-wk1":
                healLeaseStore(wk1.ns, this.leaseStoreAddress());
                break;
            case "lease-cut-both":
                healLeaseStore(wk1.ns, this.leaseStoreAddress());
                healLeaseStore(wk2.ns, this.leaseStoreAddress());
                break;
            case "lease-slow":
                this.setLeaseFaults({});
                break;
            case "wk1-frozen":
                wk1.thaw();
                if (!this.pair) (wk1 as DrillWorker).superviseGuard = true;
                break;
            case "split-brain":
                healPeer(wk1.ns, wk2.settings.self.privateIp);
                healPeer(wk2.ns, wk1.settings.self.privateIp);
                break;
        }
    }

    /** Both workers stop at once and start again together: a cold start of the whole cluster. */
    async coldStart(): Promise<void> {
        if (this.pair) {
            const [w1, w2] = this.workers as [BootedDrillWorker, BootedDrillWorker];
            await Promise.all([w1.powerCut(), w2.powerCut()]);
            this.notes.push("both machines powered off, then on at the same moment");
            const up = await Promise.all([w1.powerOn(), w2.powerOn()]);
            if (!up.every(Boolean)) this.notes.push("a machine did not finish booting again");
            return;
        }
        const workers = this.nsWorkers();
        for (const w of workers) w.crash();
        for (const w of workers) {
            if (this.floating) w.stopReconcileTimer();
            fs.rmSync(w.settings.paths.runDir, { recursive: true, force: true });
            fs.mkdirSync(w.settings.paths.runDir, { recursive: true, mode: 0o755 });
        }
        await Promise.all(workers.map((w) => this.bootWorker(w)));
        for (const w of workers) {
            w.superviseGuard = true;
            w.startGuard();
        }
        if (this.shared) for (const w of workers) this.remountForGuard(w);
        this.notes.push("every process of both workers killed, then both started again at the same moment (empty /run, the lease record left by the first life)");
    }

    async observe(faultAt: number, budget: Budget): Promise<void> {
        const lease = this.lease;
        switch (this.expect) {
            case "cold-start": {
                const bound = lease.leaseSeconds * 1000 + budget.totalMs + (this.pair ? 120000 : 0);
                const ok = await waitFor(() => this.served(faultAt) || (this.wk1.role() === "MASTER" && this.acks().some((a) => a.worker === "wk1" && a.t > faultAt)), bound, 100);
                if (!ok) this.notes.push(`no worker served within ${Math.round(bound / 1000)} s of the cold start`);
                await sleep(5000);
                return;
            }
            case "stay": {
                // Long enough for a wrong takeover to happen and show: a whole lease and the LB's checks.
                await sleep(Math.max(FAULT_HOLD_MS, budget.totalMs + 2000));
                if (this.def.key === "split-brain") {
                    this.probeSender = this.startSender(this.probeEventsFile, { prefix: "PROBE", count: 12, fresh: true, intervalMs: 100 });
                    await Promise.race([this.probeSender.exited, sleep(20000)]);
                    const byWorker = acksOf(readEvents(this.probeEventsFile)).reduce<Record<string, number>>((m, a) => ((m[a.worker] = (m[a.worker] ?? 0) + 1), m), {});
                    this.notes.push(
                        `during the split, 12 new connections ${this.floating ? "to the floating VIP" : "through the LB"} were acknowledged by: ${JSON.stringify(byWorker)}`,
                    );
                }
                this.returnedAt = monotonicMs();
                await this.endFault();
                await sleep(5000);
                return;
            }
            case "none": {
                await sleep(FAULT_HOLD_MS);
                this.returnedAt = monotonicMs();
                await this.endFault();
                const bound = takeoverMs("expiry", lease) + budget.totalMs;
                const back = await waitFor(() => this.wk1.role() === "MASTER" || this.wk2.role() === "MASTER", bound, 100);
                if (!back) this.notes.push(`no worker active within ${Math.round(bound / 1000)} s after the fault ended`);
                await sleep(this.stack.timing.intervalSeconds * 1000 * (this.stack.timing.threshold + 1) + 3000);
                return;
            }
            case "either":
            case "failover": {
                if (this.def.key === "wk1-frozen") {
                    await sleep(FAULT_HOLD_MS > FREEZE_MS ? FAULT_HOLD_MS : FREEZE_MS);
                } else {
                    const failedOver = await (this.expect === "either"
                        ? waitFor(() => this.wk1.role() === "MASTER" || this.served(faultAt), budget.totalMs + 5000, 100).then(async (ok) => (await sleep(3000), ok))
                        : this.awaitFailover(faultAt, budget));
                    if (!failedOver) this.notes.push("failover did not complete within budget + 5 s");
                }
                if (this.def.returns) {
                    this.returnedAt = monotonicMs();
                    await this.endFault();
                    // The isolated, rebooted or thawed WK1 must stay passive, the active WK2 active.
                    await sleep(STAYS_ACTIVE_AFTER_RETURN_MS);
                }
                return;
            }
        }
    }

    cloudApiCalls(): { from: string | undefined; action: string; status: number }[] {
        try {
            return JSON.parse(fs.readFileSync(this.vipFiles().calls, "utf8"));
        } catch {
            return [];
        }
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
        if (this.pair) return Object.fromEntries(this.workers.map((w) => [w.name, (w as BootedDrillWorker).journal(this.port)]));
        return Object.fromEntries(this.workers.map((w) => [w.name, readJournal(journalPath(w.settings.paths.workingDir, this.port))]));
    }

    async run(): Promise<ScenarioResult> {
        const started = monotonicMs();
        const budget = scenarioBudget(this.def, this.stack);
        await this.setUp();
        const settledAt = monotonicMs();
        this.sender = this.startSender(this.eventsFile, { prefix: "ADT", count: 1_000_000 });
        if (!(await waitFor(() => this.acks().length >= 20, 30000, 100))) throw new Error("the sender got no ACKs before the fault");
        if (this.stack.faultDelayMs) await sleep(this.stack.faultDelayMs);
        const unsettled = this.unsettled(settledAt);
        if (unsettled.length > 0) throw new Error(`the cluster did not stay as set up until the fault (${unsettled.join("; ")}): nothing to fail over from`);
        const faultAt = monotonicMs();
        if (this.expect === "cold-start") await this.coldStart();
        else await this.inject();
        // A fault made of several commands (iptables in both workers) is complete only now.
        this.injectedAt = monotonicMs();
        await this.observe(faultAt, budget);
        await this.stopSender();
        const endAt = monotonicMs();
        await this.monitor.stop();
        if (this.probeWatch) await this.procs.stop(this.probeWatch, 1000);
        this.monitor.addChanges(readProbeChanges(this.probeChangesFile).map((c) => ({ t: c.t, subject: `${c.worker}-probe`, value: c.answer })));
        if (this.floating) {
            // The stand-in's own record of each move, to the millisecond, in place of the 50 ms samples.
            this.monitor.replaceChanges(
                "vip",
                this.vipMoves().map((mv) => ({ t: mv.t, subject: "vip", value: mv.holder })),
            );
        }
        for (const w of this.nsWorkers()) w.stopReconcileTimer();
        // Its SIGTERM handler writes the last of the calls and lease writes it served.
        if (this.cloudApi) await this.procs.stop(this.cloudApi, 2000);
        if (this.pair && this.floating) {
            // The reconcile runs log to the machine's journal: where the analysis reads them.
            for (const w of this.workers) fs.writeFileSync(path.join(this.procs.logDir, `${w.name}-vip-reconcile.log`), (w as BootedDrillWorker).reconcileLog());
        }
        const events = readEvents(this.eventsFile);
        const probeAcks = acksOf(readEvents(this.probeEventsFile));
        const journals = this.journals();
        const activeWorker = this.expect === "failover" ? "wk2" : "wk1";
        const analysis = analyse({ acks: [...acksOf(events), ...probeAcks], journals, faultAt, endAt, activeWorker });
        // The outage is what the feed saw: the probe connections are not part of it.
        const feed = analyse({ acks: acksOf(events), journals: this.mainJournals(journals), faultAt, endAt, activeWorker });
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

    /** Total time from `since` to `until` during which both workers were active (isActive) at once. */
    bothActiveMs(since: number, until: number): number {
        const m = this.monitor;
        const subjects = ["wk1-probe", "wk2-probe", "wk1-gate", "wk2-gate", "wk1-iguana", "wk2-iguana", "vip"];
        const times = [...new Set([since, ...m.changes.filter((c) => c.t >= since && c.t <= until && subjects.includes(c.subject)).map((c) => c.t), until])].sort((a, b) => a - b);
        const active = (w: string, t: number) =>
            isActive({ probe: m.valueAt(`${w}-probe`, t), gate: m.valueAt(`${w}-gate`, t), iguana: m.valueAt(`${w}-iguana`, t), vip: m.valueAt("vip", t) }, w, this.shared);
        let total = 0;
        for (let i = 0; i + 1 < times.length; i++) if (active("wk1", times[i]) && active("wk2", times[i])) total += times[i + 1] - times[i];
        return total;
    }

    /** Time at or after `since` when no worker was active for a while (`none`): from the first instant neither was active. */
    firstTimeNoneActive(since: number): number | null {
        const m = this.monitor;
        const changes = m.changes.filter((c) => c.t >= since).map((c) => c.t);
        for (const t of [since, ...changes]) {
            const any = ["wk1", "wk2"].some((w) =>
                isActive({ probe: m.valueAt(`${w}-probe`, t), gate: m.valueAt(`${w}-gate`, t), iguana: m.valueAt(`${w}-iguana`, t), vip: m.valueAt("vip", t) }, w, this.shared),
            );
            if (!any) return t;
        }
        return null;
    }

    result(budget: Budget, faultAt: number, endAt: number, started: number, events: SenderEvent[], all: Analysis, feed: Analysis): ScenarioResult {
        const m = this.monitor;
        const rel = (t: number | null) => (t === null ? null : Math.round(t - faultAt));
        const wk1Lb = `${this.backend}/wk1`;
        const wk2Lb = `${this.backend}/wk2`;
        const lease = this.lease;
        const promotion = m.firstAfter("wk2", faultAt, (v) => v === "MASTER");
        const bothActiveMs = Math.round(this.bothActiveMs(this.watchedFrom, endAt));
        const acks = [...this.acks(), ...acksOf(readEvents(this.probeEventsFile))].sort((a, b) => a.t - b.t);
        const interleaved = interleavedAcks(acks, this.watchedFrom);
        const lbBothUpMs = Math.round(m.overlapMs([wk1Lb, wk2Lb], routes, faultAt, endAt));
        const reasons: string[] = [];
        let verdict: Verdict = "PASS";
        const fail = (why: string) => {
            reasons.push(why);
            verdict = "FAIL";
        };
        if (all.lost.length > 0) fail(`${all.lost.length} acknowledged message(s) in no journal`);
        if (all.misattributed > 0) fail(`${all.misattributed} ACK(s) from a worker whose journal lacks the message`);
        if (bothActiveMs > 0) fail(`both workers active at once for ${bothActiveMs} ms (probe 200, gate open with Iguana running, Iguana running in shared mode, or the VIP)`);
        if (interleaved > 0) fail(`${interleaved} ACK(s) from WK1 after WK2 had acknowledged: both acknowledging in one window`);
        const wk2Acked = feed.firstAckAfterFaultMs.wk2 !== null;
        const wk2Active = promotion !== null;
        if (this.pair) {
            this.checkTakeoverEvents(promotion, faultAt, fail);
            this.checkSignals(promotion, faultAt, fail);
        }
        switch (this.expect) {
            case "failover": {
                if (this.def.key === "wk1-frozen") {
                    if (!wk2Acked) fail("WK2 never acknowledged a message while WK1 was frozen");
                    else if (feed.outage.ms > budget.totalMs) fail(`outage ${Math.round(feed.outage.ms)} ms > budget ${budget.totalMs} ms`);
                    break;
                }
                if (feed.outage.ms > budget.totalMs) fail(`outage ${Math.round(feed.outage.ms)} ms > budget ${budget.totalMs} ms`);
                if (feed.orderViolations > 0) fail(`${feed.orderViolations} order violation(s) in WK2's journal`);
                // On a booted machine systemd restarts a dead Iguana (Restart=always): when it is back
                // before the health check's second failure, WK1 serves on and nothing fails over.
                const restartedInPlace = this.pair !== undefined && this.def.key === "iguana-dies" && !wk2Acked && this.acks().some((a) => a.worker === "wk1" && a.t > faultAt);
                if (restartedInPlace) {
                    this.notes.push(
                        `systemd restarted Iguana on WK1 before the guard's health check failed twice: no failover, WK1 served on after ${Math.round(feed.outage.ms)} ms`,
                    );
                } else if (!wk2Acked) fail("WK2 never acknowledged a message after the fault");
                if (this.def.key === "rolling-rebuild") this.checkRollingRebuild(promotion, fail);
                if (this.def.key === "switchover" && promotion !== null) {
                    // With a floating IP, WK2 is active once the VIP is on it: the move comes on top.
                    const bound = SWITCHOVER_BOUND_MS + (this.floating ? this.vipMoveMs : 0);
                    const handover = promotion - faultAt;
                    this.notes.push(`WK2 active ${Math.round(handover)} ms after the command; bound ${bound} ms`);
                    if (handover > bound) fail(`the switchover took ${Math.round(handover)} ms > ${bound} ms to make WK2 active`);
                }
                break;
            }
            case "stay": {
                if (wk2Active) fail(`WK2 became active at +${rel(promotion)} ms although WK1 held the lease`);
                if (feed.outage.ms > budget.totalMs) fail(`outage ${Math.round(feed.outage.ms)} ms > budget ${budget.totalMs} ms`);
                if (!this.acks().some((a) => a.worker === "wk1" && a.t > faultAt + FAULT_HOLD_MS / 2)) fail("WK1 stopped acknowledging during the fault");
                break;
            }
            case "either": {
                if (feed.outage.ms > budget.totalMs) fail(`outage ${Math.round(feed.outage.ms)} ms > budget ${budget.totalMs} ms`);
                this.notes.push(
                    wk2Active
                        ? `WK2 took over at +${rel(promotion)} ms`
                        : `WK1 kept the lease: its restarted guard took its own lease back (outage ${Math.round(feed.outage.ms)} ms)`,
                );
                break;
            }
            case "none": {
                // The holder's fence is due by 2L/3 after its last renewal, which was sent before the
                // fault; with a floating IP it lets go of the VIP in the background, which takes the move's time.
                const dueBy = Math.max(faultAt, this.injectedAt) + lease.fencedBySeconds * 1000 + (this.floating ? this.vipMoveMs : 0);
                const noneAt = this.firstTimeNoneActive(faultAt);
                const activeDuring = ["wk1", "wk2"].filter((w) =>
                    m.changes.some((c) => c.subject === w && c.value === "MASTER" && c.t > dueBy && c.t < (this.returnedAt ?? endAt)),
                );
                this.notes.push(
                    `no worker active from +${rel(noneAt)} ms (due by +${Math.round(dueBy - faultAt)} ms) until the fault ended at +${rel(this.returnedAt ?? null)} ms`,
                );
                if (noneAt === null || noneAt > dueBy + 500) fail(`a worker was still active at +${Math.round(dueBy - faultAt) + 500} ms although no worker could renew`);
                if (activeDuring.length > 0) fail(`${activeDuring.join(", ")} became active while the store was out of reach`);
                const back =
                    this.returnedAt === undefined
                        ? null
                        : (m.firstAfter("wk1", this.returnedAt, (v) => v === "MASTER") ?? m.firstAfter("wk2", this.returnedAt, (v) => v === "MASTER"));
                this.notes.push(
                    `after the fault ended, a worker active after ${back === null || this.returnedAt === undefined ? "-" : `${Math.round(back - this.returnedAt)} ms`}`,
                );
                if (back === null) fail("no worker became active after the fault ended");
                if (this.def.key === "lease-slow") {
                    verdict = verdict === "PASS" ? "LIMITATION" : verdict;
                    reasons.push(
                        `no worker is active while every lease call takes ${SLOW_STORE_DELAY_MS} ms: above the call timeout L/3 = ${(lease.callTimeoutSeconds * 1000).toFixed(0)} ms, ` +
                            `the store counts as unreachable (safe: nobody active, nothing acknowledged); a longer failover.leaseSeconds rides it out (ridesOutSlowStore)`,
                    );
                }
                break;
            }
            case "cold-start": {
                const wk1First = m.firstAfter("wk1", faultAt, (v) => v === "MASTER");
                if (wk2Active) fail(`WK2 became active at +${rel(promotion)} ms after the cold start`);
                if (wk1First === null) fail("WK1 did not become active after the cold start");
                else this.notes.push(`WK1 active ${Math.round(wk1First - faultAt)} ms after the cold start began`);
                break;
            }
        }
        if (this.def.returns && this.returnedAt !== undefined) {
            const back = this.returnedAt;
            const wk1Active = m.firstAfter("wk1", back, (v) => v === "MASTER");
            const wk2Left = m.firstAfter("wk2", back, (v) => v !== "MASTER");
            const wk1Routed = this.floating ? this.firstVipMove(back, (v) => v === "wk1") : m.firstAfter(wk1Lb, back, (v) => v === "UP");
            const wk1Acks = this.acks().filter((a) => a.worker === "wk1" && a.t >= back).length;
            this.notes.push(
                `WK1 back (${this.def.returns}) at +${Math.round(back - faultAt)} ms and watched ${STAYS_ACTIVE_AFTER_RETURN_MS / 1000} s: role ${this.wk1.role()}, ` +
                    `${this.floating ? `the VIP on ${this.vipHolder()}` : `LB status ${this.lbStatus(this.wk1)}`}, ACKs from WK1 since: ${wk1Acks}`,
            );
            if (wk1Active !== null) fail(`failback: WK1 became active again at +${rel(wk1Active)} ms`);
            if (wk2Left !== null) fail(`WK2 left active at +${rel(wk2Left)} ms, within ${STAYS_ACTIVE_AFTER_RETURN_MS / 1000} s of WK1's return`);
            if (wk1Routed !== null) fail(this.floating ? `the VIP moved back to WK1 at +${rel(wk1Routed)} ms` : `the LB marked WK1 up again at +${rel(wk1Routed)} ms`);
            if (wk1Acks > 0) fail(`${wk1Acks} message(s) went to WK1 after it came back`);
        }
        const gapMs = Math.round(m.longestGapMs(this.watchedFrom, endAt));
        if (gapMs > SAMPLING_GAP_NOTE_MS)
            this.notes.push(`the drill's samples of the workers were up to ${gapMs} ms apart (every 50 ms asked): a gate or Iguana change may be recorded that late`);
        const wk1After = this.acks().filter((a) => a.worker === "wk1" && a.t >= faultAt);
        const last = wk1After.length > 0 ? ` (last at +${Math.round(wk1After[wk1After.length - 1].t - faultAt)} ms)` : "";
        this.notes.push(`messages WK1 acknowledged after the fault: ${wk1After.length}${last}`);
        let bothIguanasMs: number | undefined;
        if (this.shared) {
            bothIguanasMs = Math.round(m.overlapMs(["wk1-iguana", "wk2-iguana"], (v) => v === "RUN", this.watchedFrom, endAt));
            const entries = this.sharedJournal().filter((e) => e.id.startsWith("ADT-"));
            const ids = entries.map((e) => e.id);
            const firstWk2 = entries.findIndex((e) => e.worker === "wk2");
            const interleavedJournal = firstWk2 >= 0 && entries.slice(firstWk2).some((e) => e.worker === "wk1");
            this.notes.push(
                `shared journal: ${entries.length} entries; WK2 ${firstWk2 >= 0 ? `resumed at entry ${firstWk2 + 1}` : "wrote none"}; order violations ${orderViolations(ids)}; both Iguanas running for ${bothIguanasMs} ms`,
            );
            const fences = this.fences();
            if (fences.length > 0) this.notes.push(`peer fence: ${fences.map((f) => `${f.worker} stopped at +${Math.round(f.t - faultAt)} ms`).join(", ")}`);
            if (orderViolations(ids) > 0) fail(`${orderViolations(ids)} order violation(s) in the shared journal`);
            if (interleavedJournal && this.expect === "failover") fail("WK1 wrote to the shared journal after WK2 had resumed it");
            if (bothIguanasMs > 0) fail(`both Iguanas ran on the shared queue for ${bothIguanasMs} ms`);
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
            bothActiveMs,
            interleavedAcks: interleaved,
            lbBothUpMs,
            queueRecovery: this.stack.cfg.storage?.queueRecovery ?? "none",
            ...(bothIguanasMs !== undefined ? { bothIguanasMs } : {}),
            failoverStrategy: this.stack.cfg.failover.strategy,
            ...(this.stack.faultDelayMs ? { faultDelayMs: this.stack.faultDelayMs } : {}),
            ...vip,
            notes: this.notes,
            durationMs: Math.round(monotonicMs() - started),
            timeline: m.changes
                .filter((c) => c.t >= faultAt - 1000 && c.t <= endAt && !c.subject.endsWith(`-failopen`))
                .map((c) => ({ t: Math.round(c.t - faultAt), subject: c.subject, value: c.value })),
        };
    }

    /** Shared mode: the machines the stand-in cloud stopped on a new holder's request. */
    fences(): { t: number; worker: string }[] {
        const file = this.pair ? undefined : this.cloudApiConfig?.files.fences;
        if (!file || !fs.existsSync(file)) return [];
        return fs
            .readFileSync(file, "utf8")
            .split("\n")
            .filter((l) => l.trim())
            .map((l) => JSON.parse(l));
    }

    async tearDown(): Promise<void> {
        for (const w of this.nsWorkers()) {
            w.superviseGuard = false;
            w.stopReconcileTimer();
            w.thaw();
        }
        await this.monitor.stop();
        if (this.floating) {
            // The movers' own logs live in the scratch run dirs: keep them with the process logs.
            for (const w of this.workers ?? []) fs.writeFileSync(path.join(this.procs.logDir, `${w.name}-vip.log`), w.vipLog());
        }
        await this.procs.stopAll();
        this.procs.killAll();
        if (this.pair) {
            // The guards log to the machines' journals: kept with the process logs, where a failed row's tail is read (report.ts).
            for (const w of this.workers ?? []) fs.writeFileSync(path.join(this.procs.logDir, `${w.name}-lease-guard.log`), (w as BootedDrillWorker).guardLog());
            await this.pair.destroy();
            this.ctx.onInterrupt.delete(this.interrupt);
            if (!this.ctx.keep) fs.rmSync(this.root, { recursive: true, force: true });
            return;
        }
        if (this.shared) for (const w of this.nsWorkers()) w.killStandin();
        destroyTopology(this.topo);
        if (this.shared) for (const w of this.nsWorkers()) w.unmountShared();
        this.ctx.onInterrupt.delete(this.interrupt);
        if (!this.ctx.keep) fs.rmSync(this.root, { recursive: true, force: true });
    }
}

/** Waits for `check`, blocking: for set-up steps that must happen before the next line. */
function waitForSync(check: () => boolean, timeoutMs: number): boolean {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
        if (check()) return true;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
    return check();
}

/**
 * What is wrong, right before the fault, with the state a scenario starts from: WK1 MASTER and
 * the only one serving since the set-up ended (`since`). On a starved machine a health check can
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
        problems.push(`roles changed: now wk1=${roles.wk1} wk2=${roles.wk2}`);
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
        ...(stack.faultDelayMs ? { faultDelayMs: stack.faultDelayMs } : {}),
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
        bothActiveMs: 0,
        interleavedAcks: 0,
        lbBothUpMs: 0,
        notes: [],
        durationMs,
        timeline: [],
    };
}

/** `index`: unique within the run (booted machines: their lab's addresses, work dir and names derive from it). */
export async function runScenario(def: ScenarioDef, stack: StackRun, ctx: RunContext, tag: string, index: number): Promise<ScenarioResult> {
    const started = monotonicMs();
    let run: ScenarioRun | undefined;
    try {
        run = new ScenarioRun(def, stack, ctx, tag, index);
        return await run.run();
    } catch (e) {
        return failedResult(def, stack, e, Math.round(monotonicMs() - started));
    } finally {
        await run?.tearDown();
    }
}
