/**
 * Two lease guards (components/bootstrap/lease-guard.py) run by real python3 as WK1 and WK2
 * against the stand-in lease store (DynamoDB, Blob; drill/lease-store.ts) and the stand-in
 * instance metadata, with the config the program renders (renderLeaseConfig), and a sampler of
 * who is active. Shared by lease-guard.test.ts and lease-guard-slow-store.test.ts, which mocha
 * runs side by side (--parallel): both wait on the guards' clocks, not the CPU.
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { bootstrapSettings, renderLeaseConfig } from "../components/bootstrap";
import { planNetwork, planWorkers } from "../components/model";
import { FakeCloudApi } from "../drill/cloud-api";
import { DRILL_AWS_CREDENTIALS, DRILL_AZURE_STORAGE_TOKEN, DRILL_LEASE, drillCloudIdentity } from "../drill/floating";
import { FakeLeaseStore } from "../drill/lease-store";
import { activeByLease } from "../drill/worker";
import { loadStackClusterConfig } from "../offline/stack-config";

export const GUARD = path.join(__dirname, "..", "components", "bootstrap", "lease-guard.py");
export const monotonicMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The guard's leaseStoreSilentSeconds in these tests. */
export const STORE_SILENT_SECONDS = 2;
/**
 * WK2's head start here (20 s on a worker). WK1 must start, find Iguana healthy and acquire within
 * it: 2 s was once too little in a CI rehearsal while other processes shared the two cores (WK2
 * took the lease first), so 5.
 */
export const PAIR_HEAD_START_SECONDS = 5;

type Cloud = "aws" | "azure";
type Name = "wk1" | "wk2";

interface Interval {
    from: number;
    to: number;
}

/** One worker: its files, its guard process, and its own door to the store (which the test can shut). */
export class Worker {
    proc?: ChildProcess;
    cut = false;
    readonly dir: string;
    readonly config: string;
    log = "";

    constructor(
        readonly name: Name,
        root: string,
        config: Record<string, unknown>,
    ) {
        this.dir = path.join(root, name);
        fs.mkdirSync(path.join(this.dir, "run"), { recursive: true });
        const notify = path.join(this.dir, "notify.sh");
        // The role, and every call with its detail (`MASTER takeover`) in order.
        fs.writeFileSync(
            notify,
            `#!/bin/sh\nprintf '%s\\n' "$*" >> '${this.dir}/run/notified'\nprintf '%s\\n' "$1" > '${this.dir}/run/state.tmp' && mv '${this.dir}/run/state.tmp' '${this.dir}/run/state'\n`,
            { mode: 0o755 },
        );
        const check = path.join(this.dir, "check.sh");
        fs.writeFileSync(check, `#!/bin/sh\n[ ! -e '${this.dir}/unhealthy' ]\n`, { mode: 0o755 });
        this.config = path.join(this.dir, "lease.json");
        const health = config.health as Record<string, unknown>;
        // No kernel gate: nftables needs root and a namespace of its own (worker-behaviour.test.ts and the drill run it).
        delete config.kernelGate;
        fs.writeFileSync(
            this.config,
            JSON.stringify({ ...config, runDir: path.join(this.dir, "run"), stateFile: path.join(this.dir, "run", "state"), notify, health: { ...health, script: check } }),
        );
    }

    start(): void {
        this.proc = spawn("python3", [GUARD, this.config, "run"], { stdio: ["ignore", "ignore", "pipe"] });
        this.proc.stderr!.on("data", (d) => (this.log += d.toString()));
    }

    signal(signal: NodeJS.Signals): void {
        this.proc?.kill(signal);
    }

    async stop(): Promise<void> {
        if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
        const exited = new Promise((r) => this.proc!.once("exit", r));
        this.proc.kill("SIGCONT");
        this.proc.kill("SIGKILL");
        await exited;
    }

    read(file: string): string | undefined {
        try {
            return fs.readFileSync(path.join(this.dir, "run", file), "utf8");
        } catch {
            return undefined;
        }
    }

    state(): string {
        return this.read("state")?.trim() ?? "NONE";
    }

    /** Every notify call, with its detail: "MASTER takeover" when the guard took the lease over from its peer. */
    notified(): string[] {
        return (this.read("notified") ?? "").split("\n").filter(Boolean);
    }

    active(now = monotonicMs()): boolean {
        return activeByLease(this.state(), this.read("lease"), now);
    }

    /** What the guard last reported for publish-event.py (its guard file); {} before the first report. */
    reported(): { iguanaHealthy?: boolean; leaseStoreReachable?: boolean; at?: number } {
        try {
            return JSON.parse(this.read("guard") ?? "{}");
        } catch {
            return {};
        }
    }

    /** The monotonic instant (ms) the guard's current deadline falls on. */
    deadlineMs(): number {
        try {
            return Number(JSON.parse(this.read("lease") ?? "{}").deadline) * 1000;
        } catch {
            return 0;
        }
    }

    setHealthy(healthy: boolean): void {
        const marker = path.join(this.dir, "unhealthy");
        if (healthy) fs.rmSync(marker, { force: true });
        else fs.writeFileSync(marker, "");
    }
}

/** Two guards, the store and IMDS, and a sampler of who is active. */
export class Pair {
    readonly root = fs.mkdtempSync(path.join(os.tmpdir(), "lease-guard-"));
    readonly store: FakeLeaseStore;
    readonly imds: FakeCloudApi;
    readonly workers: Record<Name, Worker> = {} as Record<Name, Worker>;
    private servers: http.Server[] = [];
    private ports = new Map<number, Name>();
    private sampler?: NodeJS.Timeout;
    readonly intervals: Record<Name, Interval[]> = { wk1: [], wk2: [] };

    constructor(
        readonly cloud: Cloud,
        readonly leaseSeconds: number,
    ) {
        const identify = (_remote: string, localPort: number) => this.ports.get(localPort);
        this.store = new FakeLeaseStore({
            cloud,
            aws: { region: "us-east-1", tableName: DRILL_LEASE.aws.tableName, credentials: DRILL_AWS_CREDENTIALS },
            azure: { accountName: DRILL_LEASE.azure.accountName, container: DRILL_LEASE.azure.container, accessToken: DRILL_AZURE_STORAGE_TOKEN },
            identify,
        });
        this.imds = new FakeCloudApi({ cloud, ...drillCloudIdentity("us-east-1"), identify });
    }

    private async listen(handler: http.RequestListener, worker: Name): Promise<number> {
        const server = http.createServer(handler);
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        this.servers.push(server);
        const port = (server.address() as AddressInfo).port;
        this.ports.set(port, worker);
        return port;
    }

    async start(options: { headStartSeconds?: number; wk2First?: boolean } = {}): Promise<void> {
        for (const name of ["wk1", "wk2"] as Name[]) {
            // A cut worker's requests reach nothing: no answer, ever, as through a dropped link.
            const storePort = await this.listen((req, res) => {
                if (this.workers[name].cut) return void req.socket.pause();
                this.store.requestListener(req, res);
            }, name);
            const imdsPort = await this.listen(this.imds.requestListener, name);
            const stackCfg = loadStackClusterConfig(`${this.cloud}-dev`);
            const cfg = { ...stackCfg, failover: { ...stackCfg.failover, leaseSeconds: this.leaseSeconds }, tls: { enabled: false } };
            const [p1, p2] = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
            const [self, peer] = name === "wk1" ? [p1, p2] : [p2, p1];
            const lease =
                this.cloud === "aws"
                    ? ({ kind: "aws-dynamodb", tableName: DRILL_LEASE.aws.tableName, region: "us-east-1", itemKey: DRILL_LEASE.aws.itemKey } as const)
                    : ({ kind: "azure-blob", accountName: DRILL_LEASE.azure.accountName, container: DRILL_LEASE.azure.container, blobName: DRILL_LEASE.azure.blobName } as const);
            const settings = {
                ...bootstrapSettings(cfg, self, peer, { dataDisk: { kind: "aws-ebs", volumeId: "vol-0test" }, lease }),
                cloudApi: {
                    imdsUrl: `http://127.0.0.1:${imdsPort}`,
                    apiUrl: `http://127.0.0.1:${imdsPort}/`,
                    leaseUrl: `http://127.0.0.1:${storePort}${this.cloud === "aws" ? "/" : ""}`,
                },
            };
            const config = JSON.parse(renderLeaseConfig(settings));
            // The store counts as unreachable after 2 s of silence here (30 s on a worker), so a cut shows within a test.
            this.workers[name] = new Worker(name, this.root, {
                ...config,
                headStartSeconds: options.headStartSeconds ?? PAIR_HEAD_START_SECONDS,
                leaseStoreSilentSeconds: STORE_SILENT_SECONDS,
            });
        }
        let last: Record<Name, boolean> = { wk1: false, wk2: false };
        this.sampler = setInterval(() => {
            const now = monotonicMs();
            for (const name of ["wk1", "wk2"] as Name[]) {
                const active = this.workers[name].active(now);
                if (active && !last[name]) this.intervals[name].push({ from: now, to: Infinity });
                if (!active && last[name]) this.intervals[name][this.intervals[name].length - 1].to = now;
                last = { ...last, [name]: active };
            }
        }, 10);
        const order: Name[] = options.wk2First ? ["wk2", "wk1"] : ["wk1", "wk2"];
        this.workers[order[0]].start();
        if (options.wk2First) await sleep(1000);
        this.workers[order[1]].start();
    }

    w(name: Name): Worker {
        return this.workers[name];
    }

    async until(check: () => boolean, timeoutMs: number): Promise<boolean> {
        const end = monotonicMs() + timeoutMs;
        while (monotonicMs() < end) {
            if (check()) return true;
            await sleep(20);
        }
        return check();
    }

    /** Time both were active at once, from the sampler. */
    overlapMs(): number {
        let total = 0;
        for (const a of this.intervals.wk1) for (const b of this.intervals.wk2) total += Math.max(0, Math.min(a.to, b.to, monotonicMs()) - Math.max(a.from, b.from));
        return total;
    }

    writesBy(name: Name): { t: number; operation: string; record: { owner?: string; epoch?: number } }[] {
        return this.store.writes.filter((w) => w.from === name);
    }

    async close(): Promise<void> {
        if (this.sampler) clearInterval(this.sampler);
        await Promise.all(Object.values(this.workers).map((w) => w.stop()));
        for (const s of this.servers) s.closeAllConnections?.();
        await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
        fs.rmSync(this.root, { recursive: true, force: true });
    }

    logs(): string {
        return Object.values(this.workers)
            .map((w) => `--- ${w.name}\n${w.log}`)
            .join("\n");
    }
}

const CLOUDS: Cloud[] = ["aws", "azure"];

/** Runs the same check for both clouds at once, each with its own pair; the pair's logs on failure. */
export async function onBothClouds(body: (pair: Pair) => Promise<void>, leaseSeconds = 3, start: Parameters<Pair["start"]>[0] = {}): Promise<void> {
    await Promise.all(
        CLOUDS.map(async (cloud) => {
            const pair = new Pair(cloud, leaseSeconds);
            try {
                await pair.start(start);
                await body(pair);
                assert.strictEqual(Math.round(pair.overlapMs()), 0, `${cloud}: both workers active at once`);
            } catch (e) {
                (e as Error).message = `${cloud}: ${(e as Error).message}\n${pair.logs()}`;
                throw e;
            } finally {
                await pair.close();
            }
        }),
    );
}

export async function wk1Active(pair: Pair): Promise<void> {
    assert.ok(
        await pair.until(() => pair.w("wk1").active() && pair.w("wk2").state() === "BACKUP", 15000),
        `WK1 active and WK2 BACKUP (wk1 ${pair.w("wk1").state()}, wk2 ${pair.w("wk2").state()})`,
    );
}

// Four, not six: with six a CI run failed twice when one other process (a type check) shared
// the two cores: an IMDS answer timed out and one switchover took 2022 ms against its 2 s.
const AT_ONCE = 4;
const START_APART_MS = 400;

/**
 * Registers tests whose bodies run AT_ONCE at a time, started before the first one is reported:
 * each waits on the guards' clocks (leases, deadlines), not the CPU, so run one after another
 * they took 113 s of the suite. Each still passes or fails on its own. All at once, this process
 * (the stand-in store and IMDS of every pair, and their 10 ms samplers) answered the guards too
 * late; spawned together, WK1's guard started later than WK2's head start.
 */
export function concurrentTests(): (title: string, body: () => Promise<void>) => void {
    const bodies: [string, () => Promise<void>][] = [];
    const runs = new Map<string, Promise<void>>();
    before(() => {
        let free = AT_ONCE;
        let nextStartAt = 0;
        const waiting: (() => void)[] = [];
        const acquire = async (): Promise<void> => {
            if (free > 0) free--;
            else await new Promise<void>((resolve) => waiting.push(resolve));
            const wait = Math.max(0, nextStartAt - Date.now());
            nextStartAt = Date.now() + wait + START_APART_MS;
            await sleep(wait);
        };
        const release = (): void => {
            const waiter = waiting.shift();
            if (waiter) waiter();
            else free++;
        };
        for (const [title, body] of bodies) {
            const run = acquire().then(() => body().finally(release));
            run.catch(() => undefined);
            runs.set(title, run);
        }
    });
    return (title, body) => {
        bodies.push([title, body]);
        it(title, () => runs.get(title)!);
    };
}
