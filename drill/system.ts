/**
 * The machine side of the drill: network namespaces, links and the processes it starts.
 * Every process is tracked by pid and ended by pid; every namespace carries the run's prefix
 * and is deleted at the end, also on failure or interrupt.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";

/** Every namespace of every drill run starts with this. */
export const NETNS_PREFIX = "igd-";

export function sh(cmd: string, args: string[], options: { allowFail?: boolean } = {}): string {
    try {
        return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
        if (options.allowFail) return "";
        const err = e as { stderr?: string; message: string };
        throw new Error(`${cmd} ${args.join(" ")} failed: ${err.stderr?.trim() || err.message}`, { cause: e });
    }
}

export function inNetns(ns: string, cmd: string, args: string[], options: { allowFail?: boolean } = {}): string {
    return sh("ip", ["netns", "exec", ns, cmd, ...args], options);
}

export function listNetns(): string[] {
    return sh("ip", ["netns", "list"], { allowFail: true })
        .split("\n")
        .map((line) => line.split(" ")[0].trim())
        .filter((name) => name.length > 0);
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function pidAlive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
        return state !== "Z" && state !== "X";
    } catch {
        return false;
    }
}

/** Pids of processes named `comm` running inside a namespace. */
export function netnsPidsNamed(ns: string, comm: string): number[] {
    return sh("ip", ["netns", "pids", ns], { allowFail: true })
        .split("\n")
        .map((l) => Number(l.trim()))
        .filter((pid) => Number.isInteger(pid) && pid > 0 && pidAlive(pid))
        .filter((pid) => {
            try {
                return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === comm;
            } catch {
                return false;
            }
        });
}

export function readPid(file: string): number | undefined {
    try {
        const pid = Number(fs.readFileSync(file, "utf8").trim());
        return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
        return undefined;
    }
}

export function killQuietly(pid: number, signal: NodeJS.Signals): void {
    try {
        process.kill(pid, signal);
    } catch {
        /* already gone */
    }
}

/** Kills the processes still running inside a namespace (only ever a drill namespace). */
export function killNetnsPids(ns: string): void {
    for (const line of sh("ip", ["netns", "pids", ns], { allowFail: true }).split("\n")) {
        const pid = Number(line.trim());
        if (Number.isInteger(pid) && pid > 0) killQuietly(pid, "SIGKILL");
    }
}

export interface Started {
    name: string;
    child: ChildProcess;
    pid: number;
    exited: Promise<number | null>;
}

/**
 * Tracks what one scenario started. `spawnIn` runs a command inside a namespace with
 * `ip netns exec`, which execs it: the pid is the command's own. Each process leads its own
 * process group, so ending it also ends its children (keepalived's VRRP child).
 */
export class Processes {
    private readonly started: Started[] = [];

    constructor(readonly logDir: string) {
        fs.mkdirSync(logDir, { recursive: true });
    }

    spawnIn(ns: string, name: string, cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Started {
        const log = fs.openSync(`${this.logDir}/${name}.log`, "a");
        const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
            cwd: options.cwd,
            env: options.env,
            detached: true,
            stdio: ["ignore", log, log],
        });
        fs.closeSync(log);
        if (child.pid === undefined) throw new Error(`could not start ${name}`);
        const exited = new Promise<number | null>((resolve) => {
            child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null)));
            child.once("error", () => resolve(null));
        });
        const started = { name, child, pid: child.pid, exited };
        this.started.push(started);
        return started;
    }

    /** Sends a signal to one process group. */
    signal(started: Started, signal: NodeJS.Signals): void {
        killQuietly(-started.pid, signal);
        killQuietly(started.pid, signal);
    }

    /** Graceful stop: SIGTERM, then SIGKILL after `graceMs`. */
    async stop(started: Started, graceMs = 2000): Promise<void> {
        if (!pidAlive(started.pid)) return;
        this.signal(started, "SIGTERM");
        const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs));
        if ((await Promise.race([started.exited, timer])) === "timeout") this.signal(started, "SIGKILL");
        await started.exited;
    }

    /** Kills everything this scenario started, at once (used at the end and on interrupt). */
    killAll(): void {
        for (const s of this.started) {
            killQuietly(-s.pid, "SIGKILL");
            killQuietly(s.pid, "SIGKILL");
        }
    }

    async stopAll(): Promise<void> {
        await Promise.all(this.started.map((s) => this.stop(s, 1500)));
    }
}

export async function sleep(ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
        if (await check()) return true;
        await sleep(everyMs);
    }
    return await check();
}

/** Runs `work` on every item, at most `limit` at once; the results in the items' order. */
export async function pool<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const i = next++;
            results[i] = await work(items[i], i);
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return results;
}
