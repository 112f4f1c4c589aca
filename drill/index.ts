/**
 * The failover drill (issue 5): `npm run drill [-- --stack aws-dev] [--fast] [--scenario 1,4]`.
 * Linux, as root. The real lease guard between network namespaces with the files the bootstrap code
 * renders, an HAProxy emulating the cloud LB with the stack's health-check settings (or, with
 * `--failover-strategy floating-ip`, a stand-in cloud API the rendered VIP mover moves the VIP
 * through), Iguana stand-ins that journal before they ACK, and an HL7 sender that counts every ACK.
 * See docs/failover.md.
 */
import * as fs from "fs";
import * as path from "path";
import { loadStackClusterConfig, stackFile } from "../offline/stack-config";
import { ClusterConfig } from "../components/config";
import { DEFAULTS, FailoverStrategy, QueueRecovery } from "../components/constants";
import { LB_PROFILE_TEXT, LbProfile } from "./plan";
import { exitCode, failureLogTails, renderFailures, renderFindings, renderTable } from "./report";
import { RunContext, SCENARIOS, ScenarioDef, ScenarioResult, StackRun } from "./scenario";
import { runScenarioIsolated } from "./scenario-process";
import { monotonicMs } from "./sender";
import { NETNS_PREFIX, killNetnsPids, listNetns, pidAlive, pool, readPid, sh } from "./system";
import { AZURE_PUBLIC_IP_MOVE_SECONDS, lbTiming, vipMoveMs, vipMoveTiming } from "./timing";
import { BootedContext } from "./booted";
import { RUNS_DIR as BOOT_RUNS_DIR, cleanLeftovers as cleanBootLeftovers, resolveArchive } from "../boot/index";
import { ensureRootfs } from "../boot/rootfs";
import { SHARED_STORAGE_PACKAGES, STUNNEL_PACKAGE, WORKER_PACKAGES } from "../components/bootstrap";

/** Scenario indexes wrap here: a booted lab's uplink is 10.253.<index + 1>.0/30. */
const MAX_SCENARIO_INDEX = 250;

/**
 * A scenario's tag (its namespaces, logs, scratch dir) and its index, from its place in the run
 * (`ordinal`: 0, 1, ... over every stack). The index names the booted machines, their lab's
 * addresses and work dir: read off the tag's digits, azure-dev's scenario 1 ("1a1") and aws-dev's
 * 11 ("0a11") shared one, and the second met the first's leftovers and did not boot.
 */
export function scenarioSlot(stackIndex: number, profile: string, def: ScenarioDef, ordinal: number, phase = 0): { tag: string; index: number } {
    return { tag: `${stackIndex}${profile[0]}${def.id}${phase > 0 ? `p${phase}` : ""}`, index: (ordinal % MAX_SCENARIO_INDEX) + 1 };
}

const MAX_FAULT_PHASES = 10;

/**
 * `--fault-phases N`: each scenario runs N times, the fault 0, 1/N, 2/N ... of a health-check
 * interval later than in the first run. The drill's check cycle starts with the machines, so one
 * run always meets it at the same point; the phases show how the outage spreads over the cycle.
 */
export function faultDelaysMs(phases: number, intervalSeconds: number): number[] {
    return Array.from({ length: phases }, (_, k) => Math.round((k * intervalSeconds * 1000) / phases));
}

/** Stacks drilled by default, each when its stack file exists. */
export const DRILL_STACKS = ["aws-dev", "azure-dev"];

const USAGE = `usage: npm run drill -- [--stack aws-dev|azure-dev]... [--profile aws|azure] [--fast] [--queue-recovery none|shared]
                        [--failover-strategy load-balancer|floating-ip] [--vip-move-delay-ms N]
                        [--scenario N[,N...]] [--parallel N] [--out DIR] [--work-dir DIR] [--keep] [--booted] [--fault-phases N]
  --stack      stack to drill (repeatable); default: ${DRILL_STACKS.join(" and ")}, those whose stack file exists
  --profile    LB emulation; default: the stack's cloud (aws: NLB, azure: Azure Standard LB)
  --fast       health-check interval shortened to 2 s (local runs only; CI uses the stack's own)
  --queue-recovery  override storage.queueRecovery: "shared" runs Iguana only on the MASTER with one
               journal both workers' data mounts share (default: the stack's own)
  --failover-strategy  override failover.strategy: "floating-ip" has no LB; the lease holder moves
               the VIP through a stand-in cloud API (every channel active-passive; default: the stack's own)
  --vip-move-delay-ms  floating-ip: how long the stand-in cloud takes to apply each change
               (default: aws 3000 per Elastic IP association; azure 5000 per NIC update, emulated)
  --scenario   run only these scenarios (1-7)
  --parallel   scenarios run at once, each in its own namespaces (default 7)
  --out        where results go (default drill-results/)
  --work-dir   scratch root for rendered files and journals (default /var/lib/iguana-drill)
  --keep       keep the scratch files of the run
  --fault-phases N  run each scenario N times (1-${MAX_FAULT_PHASES}), the fault 1/N of a health-check interval
               later each time, to meet the LB's check cycle at N points (default 1)
  --booted     each scenario boots WK1 and WK2 for real (systemd-nspawn, the stack's rendered user data,
               as npm run boot-test does) and injects the faults into the booted machines; with
               storage.queueRecovery none`;

export interface DrillArgs {
    stacks: string[];
    profile?: LbProfile;
    fast: boolean;
    queueRecovery?: QueueRecovery;
    failoverStrategy?: FailoverStrategy;
    vipMoveDelayMs?: number;
    scenarios: number[];
    parallel: number;
    out: string;
    workDir: string;
    keep: boolean;
    booted: boolean;
    /** Runs of each scenario, the fault 1/N of a health-check interval later in each (1: one run). */
    faultPhases: number;
}

export class UsageError extends Error {}

export function parseDrillArgs(argv: string[], exists: (stack: string) => boolean = (s) => fs.existsSync(stackFile(s))): DrillArgs {
    const args: DrillArgs = {
        stacks: [],
        fast: false,
        scenarios: SCENARIOS.map((s) => s.id),
        parallel: 7,
        out: "drill-results",
        workDir: "/var/lib/iguana-drill",
        keep: false,
        booted: false,
        faultPhases: 1,
    };
    const scenariosAsked: number[] = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined) throw new UsageError(`${arg} needs a value`);
            return v;
        };
        if (arg === "--stack") args.stacks.push(value());
        else if (arg === "--profile") {
            const p = value();
            if (p !== "aws" && p !== "azure") throw new UsageError(`--profile must be aws or azure, not "${p}"`);
            args.profile = p;
        } else if (arg === "--fast") args.fast = true;
        else if (arg === "--queue-recovery") {
            const q = value();
            if (q !== "none" && q !== "shared") throw new UsageError(`--queue-recovery must be none or shared, not "${q}"`);
            args.queueRecovery = q;
        } else if (arg === "--failover-strategy") {
            const f = value();
            if (f !== "load-balancer" && f !== "floating-ip") throw new UsageError(`--failover-strategy must be load-balancer or floating-ip, not "${f}"`);
            args.failoverStrategy = f;
        } else if (arg === "--vip-move-delay-ms") {
            args.vipMoveDelayMs = Number(value());
            if (!Number.isInteger(args.vipMoveDelayMs) || args.vipMoveDelayMs < 0) throw new UsageError("--vip-move-delay-ms must be a whole number >= 0");
        } else if (arg === "--scenario") {
            const asked = value()
                .split(",")
                .map((s) => Number(s.trim()));
            for (const n of asked) {
                if (!SCENARIOS.some((s) => s.id === n)) throw new UsageError(`--scenario: no scenario ${n} (1-${SCENARIOS.length})`);
            }
            scenariosAsked.push(...asked.filter((n) => !scenariosAsked.includes(n)));
        } else if (arg === "--parallel") {
            args.parallel = Number(value());
            if (!Number.isInteger(args.parallel) || args.parallel < 1) throw new UsageError("--parallel must be a whole number >= 1");
        } else if (arg === "--out") args.out = value();
        else if (arg === "--work-dir") args.workDir = value();
        else if (arg === "--keep") args.keep = true;
        else if (arg === "--booted") args.booted = true;
        else if (arg === "--fault-phases") {
            args.faultPhases = Number(value());
            if (!Number.isInteger(args.faultPhases) || args.faultPhases < 1 || args.faultPhases > MAX_FAULT_PHASES) {
                throw new UsageError(`--fault-phases must be a whole number from 1 to ${MAX_FAULT_PHASES}`);
            }
        } else if (arg === "--help" || arg === "-h") throw new UsageError("");
        else throw new UsageError(`unknown argument "${arg}"`);
    }
    if (scenariosAsked.length > 0) args.scenarios = scenariosAsked;
    if (args.stacks.length === 0) args.stacks = DRILL_STACKS.filter(exists);
    if (args.stacks.length === 0) throw new UsageError(`no stack file for ${DRILL_STACKS.join(" or ")}`);
    if (args.booted && args.queueRecovery === "shared") {
        throw new UsageError(
            "--booted: booted machines run storage.queueRecovery none: this host's kernel has no NFS client, so the shared file system cannot be mounted in them (docs/failover.md)",
        );
    }
    return args;
}

/**
 * The drill in bare network namespaces runs the rendered scripts without systemd, so no stunnel:
 * it runs each stack with TLS off. Booted machines run the stack's TLS, mutual (docs/tls.md).
 */
export function withoutTls(cfg: ClusterConfig): ClusterConfig {
    return { ...cfg, tls: { enabled: false } };
}

/** The stack's config with storage.queueRecovery overridden (shared: every channel active-passive). */
export function withQueueRecovery(cfg: ClusterConfig, queueRecovery: QueueRecovery | undefined): ClusterConfig {
    if (!queueRecovery) return cfg;
    return {
        ...cfg,
        storage: { ...cfg.storage, queueRecovery },
        channels: queueRecovery === "shared" ? cfg.channels.map((c) => ({ ...c, mode: "active-passive" })) : cfg.channels,
    };
}

/**
 * The stack's config with failover.strategy overridden. floating-ip: every channel active-passive
 * (a floating IP has no LB to spread active-active requests) and no health-check settings (what
 * validation gives a floating-ip stack); refused, as validation refuses it, with network.public false.
 */
export function withFailoverStrategy(cfg: ClusterConfig, strategy: FailoverStrategy | undefined): ClusterConfig {
    if (!strategy || strategy === cfg.failover.strategy) return cfg;
    if (strategy === "load-balancer") return { ...cfg, failover: { ...cfg.failover, strategy } };
    if (!cfg.network.public) throw new UsageError(`--failover-strategy floating-ip: the stack has network.public false, and a floating IP is a public address`);
    return {
        ...cfg,
        failover: { ...cfg.failover, strategy, healthCheckIntervalSeconds: DEFAULTS.healthCheckIntervalSeconds, unhealthyThreshold: DEFAULTS.unhealthyThreshold },
        channels: cfg.channels.map((c) => ({ ...c, mode: "active-passive" })),
    };
}

/** What the drill prints about a floating-IP stack's VIP moves: emulated how, against what the cloud takes. */
export function vipMoveText(cloud: "aws" | "azure", delayMs: number): string {
    const t = vipMoveTiming(cloud, delayMs);
    if (cloud === "aws") {
        return `the stand-in EC2 applies each Elastic IP change ${delayMs / 1000} s after the call (budget for a move ${vipMoveMs(t) / 1000} s, the mover's start included)`;
    }
    const azure = `Azure takes ${AZURE_PUBLIC_IP_MOVE_SECONDS.min / 60}-${AZURE_PUBLIC_IP_MOVE_SECONDS.max / 60} minutes (Microsoft, "Deploy highly available NVAs")`;
    const shorter = t.changes * delayMs < AZURE_PUBLIC_IP_MOVE_SECONDS.min * 1000;
    return (
        `the stand-in ARM applies each NIC update ${delayMs / 1000} s after the call, a move being two (detach, attach): ` +
        (shorter ? `EMULATED SHORTER, ${azure}: on Azure add the difference to every outage below` : `as long as Azure's: ${azure}`) +
        ` (budget here ${vipMoveMs(t) / 1000} s per move)`
    );
}

function preflight(): void {
    if (process.platform !== "linux") throw new Error("the drill needs Linux (network namespaces)");
    if (process.getuid?.() !== 0) throw new Error("the drill needs root (ip netns, iptables, nft)");
    for (const tool of ["ip", "iptables", "nft", "ss", "haproxy", "python3", "curl", "logger"]) {
        if (!sh("sh", ["-c", `command -v ${tool} || true`]).trim()) throw new Error(`${tool} is not installed (see docs/failover.md for the Debian packages)`);
    }
}

/** Namespaces and scratch dirs left by drill runs whose process is gone. */
function cleanLeftovers(workDir: string, self: string): void {
    for (const ns of listNetns().filter((n) => n.startsWith(NETNS_PREFIX))) {
        const runId = ns.slice(NETNS_PREFIX.length).split("-")[0];
        if (runId === self) continue;
        const owner = readPid(path.join(workDir, runId, "owner.pid"));
        if (owner !== undefined && owner !== process.pid && pidAlive(owner)) continue;
        console.log(`drill: removing namespace ${ns} left by an earlier run`);
        killNetnsPids(ns);
        sh("ip", ["netns", "del", ns], { allowFail: true });
    }
    if (!fs.existsSync(workDir)) return;
    for (const runId of fs.readdirSync(workDir)) {
        const owner = readPid(path.join(workDir, runId, "owner.pid"));
        if (owner !== undefined && pidAlive(owner)) continue;
        fs.rmSync(path.join(workDir, runId), { recursive: true, force: true });
    }
}

async function main(): Promise<number> {
    let args: DrillArgs;
    try {
        args = parseDrillArgs(process.argv.slice(2));
    } catch (e) {
        if (e instanceof UsageError) {
            if (e.message) console.error(`drill: ${e.message}`);
            console.error(USAGE);
            return e.message ? 2 : 0;
        }
        throw e;
    }
    preflight();
    const repoRoot = path.resolve(__dirname, "..");
    const runId = `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 5)}`;
    cleanLeftovers(args.workDir, runId);
    const runRoot = path.join(args.workDir, runId);
    fs.mkdirSync(runRoot, { recursive: true, mode: 0o755 });
    fs.chmodSync(args.workDir, 0o755);
    fs.writeFileSync(path.join(runRoot, "owner.pid"), `${process.pid}\n`);
    const out = path.resolve(args.out);
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const ctx: RunContext = {
        runId,
        workRoot: runRoot,
        logRoot: path.join(out, "logs", stamp),
        repoRoot,
        keep: args.keep,
        onInterrupt: new Set(),
    };
    const interrupted = async (signal: string) => {
        console.error(`\ndrill: ${signal}: stopping every process and deleting every namespace of this run`);
        await Promise.all([...ctx.onInterrupt].map((cleanup) => Promise.resolve(cleanup()).catch(() => undefined)));
        if (args.booted) cleanBootLeftovers();
        if (!args.keep) fs.rmSync(runRoot, { recursive: true, force: true });
        process.exit(130);
    };
    process.on("SIGINT", () => void interrupted("SIGINT"));
    process.on("SIGTERM", () => void interrupted("SIGTERM"));
    let booted: BootedContext | undefined;
    if (args.booted) {
        cleanBootLeftovers();
        const rootfs = ensureRootfs((l) => console.log(l), [...WORKER_PACKAGES, ...SHARED_STORAGE_PACKAGES["azure-nfs"], STUNNEL_PACKAGE]);
        console.log(`drill: booted machines on ${rootfs.dir} (${rootfs.built ? `built in ${rootfs.seconds.toFixed(0)} s` : "cached"}; the worker packages baked in)`);
        booted = { rootfs: rootfs.dir, archive: resolveArchive(), workDir: path.join(BOOT_RUNS_DIR, runId) };
    }

    const started = monotonicMs();
    const results: ScenarioResult[] = [];
    const failedLogDirs: string[] = [];
    const stacks: StackRun[] = [];
    let ordinal = 0;
    try {
        for (const [stackIndex, stack] of args.stacks.entries()) {
            const stackCfg = withFailoverStrategy(withQueueRecovery(loadStackClusterConfig(stack), args.queueRecovery), args.failoverStrategy);
            const cfg = booted ? stackCfg : withoutTls(stackCfg);
            const profile = args.profile ?? cfg.cloud;
            const timing = lbTiming(cfg, args.fast);
            const floating = cfg.failover.strategy === "floating-ip";
            const vipMove = floating ? vipMoveTiming(cfg.cloud, args.vipMoveDelayMs) : undefined;
            const run: StackRun = { stack, cfg, profile, timing, fast: args.fast, ...(vipMove ? { vipMove } : {}), ...(booted ? { booted } : {}) };
            stacks.push(run);
            const skipped = SCENARIOS.filter((s) => args.scenarios.includes(s.id) && s.bootedOnly && !booted);
            if (skipped.length > 0) console.log(`drill: ${skipped.map((s) => `scenario ${s.id} (${s.key})`).join(", ")} runs on booted machines only (--booted): skipped`);
            const defs: ScenarioDef[] = SCENARIOS.filter((s) => args.scenarios.includes(s.id) && !skipped.includes(s));
            const phasesText = args.faultPhases > 1 ? ` (each at ${args.faultPhases} points of a ${timing.intervalSeconds} s interval)` : "";
            console.log(
                cfg.tls.enabled
                    ? `drill: ${stack}: MLLP over TLS, mutual (stunnel on each booted worker; the sender presents a client certificate of the drill's CA)`
                    : `drill: ${stack}: MLLP in clear (${booted ? "the stack has tls.enabled false" : "bare namespaces run no stunnel: TLS is drilled with --booted"})`,
            );
            if (vipMove) {
                const ignored = [...(args.fast ? ["--fast"] : []), ...(args.profile ? ["--profile"] : [])];
                console.log(
                    `drill: ${stack} with a floating IP (failover.strategy floating-ip: no load balancer; the lease holder's guard runs the VIP mover against a stand-in ${cfg.cloud === "aws" ? "IMDS + EC2" : "IMDS + ARM"}), ` +
                        `storage.queueRecovery ${cfg.storage.queueRecovery}; scenarios ${defs.map((d) => d.id).join(",")}${phasesText}, ${args.parallel} at once` +
                        (ignored.length > 0 ? `; ${ignored.join(" and ")} ignored (no load balancer)` : ""),
                );
                console.log(`drill:   ${vipMoveText(cfg.cloud, vipMove.delayMs)}`);
            } else {
                if (args.vipMoveDelayMs !== undefined) console.log(`drill: --vip-move-delay-ms ignored for ${stack}: no floating IP`);
                console.log(
                    `drill: ${stack} with the ${profile} LB (${LB_PROFILE_TEXT[profile]}), storage.queueRecovery ${cfg.storage.queueRecovery}; health check every ${timing.intervalSeconds} s, ` +
                        `threshold ${timing.threshold}${args.fast ? " (--fast)" : ""}; scenarios ${defs.map((d) => d.id).join(",")}${phasesText}, ${args.parallel} at once`,
                );
            }
            const delays = faultDelaysMs(args.faultPhases, timing.intervalSeconds);
            const jobs = defs.flatMap((def) => delays.map((faultDelayMs, phase) => ({ def, faultDelayMs, phase })));
            const stackResults = await pool(jobs, args.parallel, async ({ def, faultDelayMs, phase }) => {
                const slot = scenarioSlot(stackIndex, profile, def, ordinal++, phase);
                const result = await runScenarioIsolated(def, faultDelayMs > 0 ? { ...run, faultDelayMs } : run, ctx, slot.tag, slot.index);
                const at = faultDelayMs > 0 ? ` (fault ${(faultDelayMs / 1000).toFixed(1)} s later)` : "";
                console.log(`drill:   ${stack} scenario ${def.id} (${def.key})${at}: ${result.verdict} in ${(result.durationMs / 1000).toFixed(1)} s`);
                if (result.verdict === "FAIL") failedLogDirs.push(path.join(ctx.logRoot, slot.tag));
                return result;
            });
            results.push(...stackResults);
        }
    } finally {
        await Promise.all([...ctx.onInterrupt].map((cleanup) => Promise.resolve(cleanup()).catch(() => undefined)));
        if (!args.keep) fs.rmSync(runRoot, { recursive: true, force: true });
        if (args.booted && !args.keep) cleanBootLeftovers();
    }
    const leftovers = listNetns().filter((n) => n.startsWith(`${NETNS_PREFIX}${runId}`));
    const elapsedMs = Math.round(monotonicMs() - started);

    console.log(`\n${renderTable(results)}\n`);
    console.log(renderFindings(results));
    fs.mkdirSync(out, { recursive: true });
    const report = {
        runId,
        startedAt: new Date().toISOString(),
        elapsedMs,
        fast: args.fast,
        stacks: stacks.map((s) => ({
            stack: s.stack,
            profile: s.profile,
            timing: s.timing,
            failover: s.cfg.failover,
            edition: s.cfg.iguana.edition,
            queueRecovery: s.cfg.storage.queueRecovery,
            ...(s.vipMove ? { vipMove: s.vipMove } : {}),
        })),
        results,
        leftoverNamespaces: leftovers,
    };
    const file = path.join(out, `failover-drill-${stamp}.json`);
    fs.writeFileSync(file, JSON.stringify(report, null, 2));
    fs.writeFileSync(path.join(out, "latest.json"), JSON.stringify(report, null, 2));
    console.log(`\ndrill: ${results.length} scenario(s) in ${(elapsedMs / 1000).toFixed(1)} s; results in ${path.relative(process.cwd(), file)}`);
    if (leftovers.length > 0) {
        console.error(`drill: namespaces left behind: ${leftovers.join(", ")}`);
        return 1;
    }
    const code = exitCode(results);
    const limitations = results.filter((r) => r.verdict === "LIMITATION").length;
    const known = limitations > 0 ? `; ${limitations} LIMITATION row(s): known design gaps, not failed (docs/failover.md)` : "";
    // The last lines are what a CI log's tail keeps: the failed rows and their reasons go there too.
    if (code !== 0) {
        console.log(renderFailures(results));
        for (const dir of failedLogDirs) console.log(failureLogTails(dir));
    }
    console.log(code === 0 ? `drill: PASS (no acknowledged message lost, every outage within its budget)${known}` : `drill: FAIL${known}`);
    return code;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (e) => {
            console.error(`drill failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
            process.exit(1);
        },
    );
}
