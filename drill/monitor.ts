/**
 * Watches a running scenario: each worker's role (the state file the rendered notify script
 * writes and the lease guard's deadline), its gate and Iguana, and each HAProxy server's check
 * status (its stats socket), recording every change with a monotonic timestamp.
 */
import * as net from "net";
import { monotonicMs } from "./sender";
import { sleep } from "./system";

export interface Change {
    t: number;
    /** `wk1`, `wk2` for roles, `wk1-gate`, `wk1-iguana`, `wk1-probe`...; `<backend>/<server>` for the LB. */
    subject: string;
    value: string;
}

/** `show stat` over HAProxy's stats socket: `backend/server` -> status (UP, DOWN, `UP 1/2`, ...). */
export async function haproxyStatus(socketPath: string, timeoutMs = 1000): Promise<Record<string, string>> {
    const text = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(socketPath);
        let data = "";
        const timer = setTimeout(() => (socket.destroy(), reject(new Error("stats socket timeout"))), timeoutMs);
        socket.on("connect", () => socket.write("show stat\n"));
        socket.on("data", (chunk) => (data += chunk.toString()));
        socket.on("end", () => (clearTimeout(timer), resolve(data)));
        socket.on("error", (e) => (clearTimeout(timer), reject(e)));
    });
    return parseShowStat(text);
}

export function parseShowStat(text: string): Record<string, string> {
    const lines = text.split("\n").filter((l) => l.length > 0);
    const header = lines.find((l) => l.startsWith("# "));
    if (!header) return {};
    const columns = header.slice(2).split(",");
    const px = columns.indexOf("pxname");
    const sv = columns.indexOf("svname");
    const status = columns.indexOf("status");
    const out: Record<string, string> = {};
    for (const line of lines) {
        if (line.startsWith("#")) continue;
        const fields = line.split(",");
        if (fields[sv] === "FRONTEND" || fields[sv] === "BACKEND") continue;
        out[`${fields[px]}/${fields[sv]}`] = fields[status];
    }
    return out;
}

/** UP and DOWN as the LB routes: `UP 1/2` (going down) still routes, `DOWN 1/2` (going up) does not. */
export function routes(status: string | undefined): boolean {
    return status !== undefined && (status.startsWith("UP") || status === "no check");
}

export class Monitor {
    readonly changes: Change[] = [];
    /** When each sample began: the gaps between them bound how late a change can be recorded. */
    readonly sampledAt: number[] = [];
    private readonly current = new Map<string, string>();
    private running = false;
    private loops: Promise<void>[] = [];

    constructor(
        private readonly roles: Record<string, () => string>,
        private haproxySocket?: string,
    ) {}

    setHaproxySocket(path: string): void {
        this.haproxySocket = path;
    }

    private note(subject: string, value: string, t: number): void {
        if (this.current.get(subject) === value) return;
        this.current.set(subject, value);
        this.changes.push({ t, subject, value });
    }

    /** Changes recorded elsewhere (the probe watcher's exact log), merged in time order. */
    addChanges(changes: Change[]): void {
        this.changes.push(...changes);
        this.changes.sort((a, b) => a.t - b.t);
    }

    /** Drops the sampled changes of `subject` for an exact record of them. */
    replaceChanges(subject: string, changes: Change[]): void {
        const kept = this.changes.filter((c) => c.subject !== subject);
        this.changes.length = 0;
        this.addChanges([...kept, ...changes]);
    }

    now(subject: string): string | undefined {
        return this.current.get(subject);
    }

    /** One sample of every worker subject: files and cgroups, read synchronously. */
    sampleWorkers(): void {
        const t = monotonicMs();
        this.sampledAt.push(t);
        for (const [name, read] of Object.entries(this.roles)) this.note(name, read(), t);
    }

    async sampleLb(): Promise<void> {
        if (this.haproxySocket) {
            try {
                const status = await haproxyStatus(this.haproxySocket);
                for (const [server, value] of Object.entries(status)) this.note(server, value, monotonicMs());
            } catch {
                /* HAProxy not up yet or gone */
            }
        }
    }

    /**
     * Samples the workers and the LB every `everyMs`, in two loops: a stats socket slow to answer
     * (HAProxy on a loaded host, up to its 1 s timeout) never holds back the workers' samples.
     */
    start(everyMs = 50): void {
        this.running = true;
        const every = (sample: () => void | Promise<void>) =>
            (async () => {
                while (this.running) {
                    const started = monotonicMs();
                    await sample();
                    await sleep(Math.max(0, started + everyMs - monotonicMs()));
                }
            })();
        this.loops = [every(() => this.sampleWorkers()), every(() => this.sampleLb())];
    }

    async stop(): Promise<void> {
        this.running = false;
        await Promise.all(this.loops);
    }

    /** First time at or after `since` that `subject` took a value matching `match`. */
    firstAfter(subject: string, since: number, match: (value: string) => boolean): number | null {
        const hit = this.changes.find((c) => c.subject === subject && c.t >= since && match(c.value));
        return hit ? hit.t : null;
    }

    /** The value of `subject` at time `t` (the last change at or before it). */
    valueAt(subject: string, t: number): string | undefined {
        let value: string | undefined;
        for (const c of this.changes) {
            if (c.subject !== subject) continue;
            if (c.t > t) break;
            value = c.value;
        }
        return value;
    }

    /** The longest time between two samples that began in [since, until]. */
    longestGapMs(since: number, until: number): number {
        let longest = 0;
        for (let i = 1; i < this.sampledAt.length; i++) {
            if (this.sampledAt[i - 1] < since || this.sampledAt[i] > until) continue;
            longest = Math.max(longest, this.sampledAt[i] - this.sampledAt[i - 1]);
        }
        return longest;
    }

    /** Total time after `since` during which every subject in `subjects` matched at once. */
    overlapMs(subjects: string[], match: (value: string) => boolean, since: number, until: number): number {
        const times = [...new Set([since, ...this.changes.filter((c) => c.t >= since && c.t <= until).map((c) => c.t), until])].sort((a, b) => a - b);
        let total = 0;
        for (let i = 0; i + 1 < times.length; i++) {
            if (subjects.every((s) => match(this.valueAt(s, times[i]) ?? ""))) total += times[i + 1] - times[i];
        }
        return total;
    }
}
