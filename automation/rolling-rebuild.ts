/**
 * Rolling maintenance: rebuild both workers, one at a time, with one planned switchover between
 * them, as docs/operations.md ("Changing what the workers boot with") describes it by hand:
 *
 * 1. ask both workers who holds the lease: the holder must be active, its peer passive;
 * 2. rebuild the passive worker (`workers.rebuild`, `pulumi up`); it boots passive from the new
 *    boot configuration, on its own data disk;
 * 3. wait until it is a ready standby: booted, its lease guard running, its Iguana healthy, the
 *    lease store answering, its peer holding the lease;
 * 4. hand the lease over to it (`lease-guard.py … handover` on the active worker) and check that
 *    it is active;
 * 5. rebuild the other worker, and wait until it is a ready standby in turn;
 * 6. clear `workers.rebuild`.
 *
 * The feeds stop once, for the switchover. The workers are never both rebuilt at once, a worker
 * is never rebuilt while it holds the lease (each step asks again first), and any check that
 * fails stops the procedure where the cluster still serves, with what to do next.
 *
 * How a worker is reached and how it is replaced are given by the caller: the cloud's run command
 * (SSM, `az vm run-command`) and a Pulumi update in production (`npm run rolling-rebuild`), the
 * booted machines in the drill (scenario `rolling-rebuild`).
 */
import { LEASE_GUARD_UNIT, WORKER_PATHS, leaseConfigPath, leaseGuardPath } from "../components/bootstrap";

export type WorkerName = "wk1" | "wk2";
export const WORKER_NAMES: readonly WorkerName[] = ["wk1", "wk2"];

export interface CommandResult {
    exitCode: number;
    output: string;
}

/** Runs a shell script as root on a worker (what SSM's AWS-RunShellScript and Azure's RunShellScript do). */
export interface WorkerCommands {
    run(worker: WorkerName, script: string): Promise<CommandResult>;
}

/** Replaces a worker (`workers.rebuild` naming it, then an update), and clears `workers.rebuild` at the end. */
export interface WorkerReplacer {
    /** Resolves once the new machine is created (it may still be booting). */
    replace(worker: WorkerName): Promise<void>;
    /** Clears `workers.rebuild`: nothing is left to replace. */
    finish(): Promise<void>;
}

export interface RollingRebuildOptions {
    commands: WorkerCommands;
    replacer: WorkerReplacer;
    log?: (line: string) => void;
    /** How long a rebuilt worker may take to become a ready standby (default 20 minutes). */
    readyTimeoutMs?: number;
    /** How often a worker is asked while waiting (default 5 s). */
    pollMs?: number;
    /** Asked before the switchover (a person checks the rebuilt worker's dashboard and license); false stops there. */
    confirmSwitchover?: (to: WorkerName) => Promise<boolean>;
    /** Called right before the handover command is sent. */
    onSwitchover?: (from: WorkerName, to: WorkerName) => void;
}

export interface RollingRebuildResult {
    /** The workers rebuilt, in order. */
    rebuilt: WorkerName[];
    /** Who holds the lease at the end. */
    active: WorkerName;
    /** Milliseconds from the handover command until the rebuilt worker answered that it is active. */
    switchoverMs?: number;
    /** Why it stopped early, when it did (the cluster serves from `active`). */
    stoppedBecause?: string;
}

export class RollingRebuildError extends Error {
    constructor(
        message: string,
        /** The workers rebuilt before it stopped. */
        readonly rebuilt: WorkerName[],
    ) {
        super(message);
        this.name = "RollingRebuildError";
    }
}

/** A worker as it answers the status script. */
export interface WorkerStatus {
    /** The lease record's owner (`NONE`, `wk1`, `wk2`), or undefined when the store did not answer. */
    owner?: string;
    epoch?: number;
    /** The role file: MASTER, BACKUP, FAULT, STOP... */
    role?: string;
    guardActive: boolean;
    iguanaHealthy: boolean;
    leaseStoreReachable: boolean;
    booted: boolean;
}

const GUARD = `/usr/bin/python3 ${leaseGuardPath(WORKER_PATHS)} ${leaseConfigPath(WORKER_PATHS)}`;

/** One script, each answer on a line of its own: what the procedure asks a worker. */
export function statusScript(): string {
    return [
        `echo "lease: $(${GUARD} show 2>&1 | tail -n 1)"`,
        `echo "role: $(cat ${WORKER_PATHS.runDir}/state 2>/dev/null)"`,
        `echo "guard: $(systemctl is-active ${LEASE_GUARD_UNIT} 2>/dev/null)"`,
        `echo "signals: $(cat ${WORKER_PATHS.runDir}/guard 2>/dev/null)"`,
        `echo "booted: $(test -f /var/lib/cloud/instance/boot-finished && echo yes || echo no)"`,
    ].join("\n");
}

export function handoverScript(): string {
    return `${GUARD} handover 2>&1`;
}

export function parseStatus(output: string): WorkerStatus {
    const field = (name: string) =>
        output
            .split("\n")
            .find((line) => line.startsWith(`${name}: `))
            ?.slice(name.length + 2)
            .trim() ?? "";
    const lease = /owner=(\S+) epoch=(\d+)/.exec(field("lease"));
    const signals = parseSignals(field("signals"));
    return {
        ...(lease ? { owner: lease[1], epoch: Number(lease[2]) } : {}),
        ...(field("role") ? { role: field("role") } : {}),
        guardActive: field("guard") === "active",
        iguanaHealthy: signals.iguanaHealthy === true,
        leaseStoreReachable: signals.leaseStoreReachable === true,
        booted: field("booted") === "yes",
    };
}

/** The guard's report (`{"iguanaHealthy": …, "leaseStoreReachable": …}`); nothing when it is missing or half-written. */
function parseSignals(text: string): { iguanaHealthy?: unknown; leaseStoreReachable?: unknown } {
    try {
        return JSON.parse(text || "{}");
    } catch {
        return {};
    }
}

function describe(worker: WorkerName, s: WorkerStatus | undefined): string {
    if (!s) return `${worker} did not answer`;
    return `${worker}: role ${s.role ?? "none"}, lease owner ${s.owner ?? "unknown"}, guard ${s.guardActive ? "running" : "not running"}, Iguana ${s.iguanaHealthy ? "healthy" : "not healthy"}, lease store ${s.leaseStoreReachable ? "answering" : "not answering"}, ${s.booted ? "booted" : "still booting"}`;
}

/** How long the worker that took the lease over may take to be active. */
const ACTIVE_AFTER_HANDOVER_MS = 60000;

const peerOf = (worker: WorkerName): WorkerName => (worker === "wk1" ? "wk2" : "wk1");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function rollingRebuild(options: RollingRebuildOptions): Promise<RollingRebuildResult> {
    const { commands, replacer } = options;
    const log = options.log ?? (() => undefined);
    const readyTimeoutMs = options.readyTimeoutMs ?? 20 * 60 * 1000;
    const pollMs = options.pollMs ?? 5000;
    const rebuilt: WorkerName[] = [];
    const stop = (why: string): never => {
        throw new RollingRebuildError(why, [...rebuilt]);
    };

    const status = async (worker: WorkerName): Promise<WorkerStatus | undefined> => {
        try {
            const answer = await commands.run(worker, statusScript());
            return answer.exitCode === 0 ? parseStatus(answer.output) : undefined;
        } catch {
            return undefined;
        }
    };
    /** The holder, asked of both workers: they must agree, and the holder must be active. */
    const activeWorker = async (): Promise<WorkerName> => {
        const [s1, s2] = await Promise.all(WORKER_NAMES.map(status));
        const owner = s1?.owner ?? s2?.owner;
        if (owner !== "wk1" && owner !== "wk2") return stop(`no worker holds the lease (${describe("wk1", s1)}; ${describe("wk2", s2)}): fix the cluster before rebuilding`);
        const holder = owner === "wk1" ? s1 : s2;
        if (holder?.role !== "MASTER") return stop(`${owner} holds the lease but is not active (${describe(owner, holder)}): fix the cluster before rebuilding`);
        return owner;
    };
    const readyStandby = (s: WorkerStatus | undefined, peer: WorkerName) =>
        s !== undefined && s.booted && s.guardActive && s.iguanaHealthy && s.leaseStoreReachable && s.role === "BACKUP" && s.owner === peer;
    const awaitStandby = async (worker: WorkerName): Promise<void> => {
        const deadline = Date.now() + readyTimeoutMs;
        let last: WorkerStatus | undefined;
        while (Date.now() < deadline) {
            last = await status(worker);
            if (readyStandby(last, peerOf(worker))) return;
            if (last?.owner === worker && last.role === "MASTER") {
                stop(`${peerOf(worker)} lost the lease while ${worker} came back, and ${worker} (rebuilt) serves now: find out why ${peerOf(worker)} failed, then run this again`);
            }
            await sleep(pollMs);
        }
        stop(
            `${worker} is not a ready standby ${Math.round(readyTimeoutMs / 60000)} minutes after its rebuild (${describe(worker, last)}); ${peerOf(worker)} serves on. ` +
                `Look at ${worker}'s cloud-init output and \`journalctl -u ${LEASE_GUARD_UNIT}\`, rebuild it again, then run this again`,
        );
    };
    const rebuild = async (worker: WorkerName): Promise<void> => {
        // Asked again right before: a failover since the last step must not make this the holder's rebuild.
        const active = await activeWorker();
        if (active === worker) stop(`${worker} holds the lease now (a failover since the last step?): it is not rebuilt while active; run this again`);
        log(`rebuilding ${worker} (passive; ${active} serves)`);
        await replacer.replace(worker);
        rebuilt.push(worker);
        log(`${worker} replaced; waiting until it is a ready standby`);
        await awaitStandby(worker);
        log(`${worker} is a ready standby`);
    };

    const first = peerOf(await activeWorker());
    await rebuild(first);
    const second = peerOf(first);
    if (options.confirmSwitchover && !(await options.confirmSwitchover(first))) {
        return { rebuilt, active: second, stoppedBecause: `the switchover to ${first} was not confirmed: ${second} serves on; ${second} is not rebuilt` };
    }
    log(`handing the lease over from ${second} to ${first}`);
    options.onSwitchover?.(second, first);
    const handoverStarted = Date.now();
    const answer = await commands.run(second, handoverScript()).catch((error: Error) => ({ exitCode: 1, output: error.message }));
    if (answer.exitCode !== 0)
        stop(`the switchover did not complete (${answer.output.trim() || `exit ${answer.exitCode}`}); ${second} takes the lease back once its hold-off ends`);
    // The command returns once the peer holds the lease; the peer turns active (its role file
    // MASTER) once it has opened its ports.
    let now: WorkerStatus | undefined;
    const activeBy = Date.now() + ACTIVE_AFTER_HANDOVER_MS;
    do {
        now = await status(first);
        if (now?.owner === first && now.role === "MASTER") break;
        await sleep(Math.min(pollMs, 1000));
    } while (Date.now() < activeBy);
    if (now?.owner !== first || now.role !== "MASTER") stop(`${ACTIVE_AFTER_HANDOVER_MS / 1000} s after the handover ${first} is not active (${describe(first, now)})`);
    const switchoverMs = Date.now() - handoverStarted;
    log(`${first} is active (${answer.output.trim().split("\n").pop()})`);
    await rebuild(second);
    await replacer.finish();
    log("both workers rebuilt; workers.rebuild cleared");
    return { rebuilt, active: first, switchoverMs };
}
