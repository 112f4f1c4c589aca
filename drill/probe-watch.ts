/**
 * Asks every worker's role probe, as the load balancer would, every 50 ms, and records each
 * change of its answer with a monotonic timestamp: the drill's direct view of "probe 200". Run
 * inside the namespace that reaches the workers (the lb namespace, the booted lab).
 *
 * usage: probe-watch.ts --target NAME=URL [--target ...] --every-ms 50 --timeout-ms 300 --out FILE.jsonl --now FILE.json
 */
import * as fs from "fs";
import * as http from "http";

/** The same clock as sender.ts's monotonicMs (CLOCK_MONOTONIC), without loading the HL7 library. */
const monotonicMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

export interface ProbeChange {
    t: number;
    worker: string;
    /** The HTTP status, or `none` (no answer in time, refused, reset). */
    answer: string;
}

function ask(url: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve) => {
        const request = http.get(url, { timeout: timeoutMs, agent: false }, (response) => {
            response.resume();
            resolve(String(response.statusCode));
        });
        request.on("timeout", () => request.destroy());
        request.on("error", () => resolve("none"));
    });
}

export function readProbeChanges(file: string): ProbeChange[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as ProbeChange);
}

function arg(argv: string[], name: string, fallback?: string): string {
    const i = argv.indexOf(name);
    if (i >= 0 && argv[i + 1] !== undefined) return argv[i + 1];
    if (fallback !== undefined) return fallback;
    throw new Error(`missing ${name}`);
}

async function main(argv: string[]): Promise<void> {
    const targets = argv.flatMap((a, i) => (a === "--target" ? [argv[i + 1]] : [])).map((t) => ({ name: t.split("=")[0], url: t.slice(t.indexOf("=") + 1) }));
    const everyMs = Number(arg(argv, "--every-ms", "50"));
    const timeoutMs = Number(arg(argv, "--timeout-ms", "300"));
    const out = arg(argv, "--out");
    const nowFile = arg(argv, "--now");
    const last = new Map<string, string>();
    let running = true;
    process.on("SIGTERM", () => (running = false));
    process.on("SIGINT", () => (running = false));
    const publish = () => {
        fs.writeFileSync(`${nowFile}.tmp`, JSON.stringify(Object.fromEntries(last)));
        fs.renameSync(`${nowFile}.tmp`, nowFile);
    };
    // One loop per worker: a probe that hangs (a frozen machine) never slows the other's samples.
    await Promise.all(
        targets.map(async (target) => {
            while (running) {
                const started = monotonicMs();
                const answer = await ask(target.url, timeoutMs);
                if (last.get(target.name) !== answer) {
                    last.set(target.name, answer);
                    fs.appendFileSync(out, `${JSON.stringify({ t: monotonicMs(), worker: target.name, answer })}\n`);
                    publish();
                }
                await new Promise((r) => setTimeout(r, Math.max(0, started + everyMs - monotonicMs())));
            }
        }),
    );
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((e) => {
        console.error(e);
        process.exit(1);
    });
}
