/**
 * `npm run bench`: how fast and how big the project's own work is, on this machine. Prints the
 * machine, then wall time and peak memory of the type-check, the unit suite, and one program
 * evaluation under mocks per cloud and channel count. Figures, never pass/fail.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { IMPLEMENTATIONS } from "../components/cluster";

const ROOT = path.join(__dirname, "..");
const CHANNEL_COUNTS = [2, 50, 200];

interface Measurement {
    what: string;
    seconds: number;
    peakMb: number;
    note?: string;
}

const GNU_TIME = "/usr/bin/time";

/** Wall time and peak RSS of a command (GNU time reports the largest process's max RSS). */
function measureCommand(what: string, command: string[]): Measurement {
    const withTime = fs.existsSync(GNU_TIME);
    const [file, ...args] = withTime ? [GNU_TIME, "-f", "PEAK_KB=%M", ...command] : command;
    const start = process.hrtime.bigint();
    const result = spawnSync(file, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const peak = /PEAK_KB=(\d+)/.exec(result.stderr ?? "");
    const notes = [result.status === 0 ? "" : `exit ${result.status}`, withTime ? "" : `no peak memory: ${GNU_TIME} is missing (Debian package "time")`];
    return { what, seconds, peakMb: peak ? Number(peak[1]) / 1024 : NaN, note: notes.filter(Boolean).join("; ") || undefined };
}

/** One evaluation in a fresh process: module loading included, as a user's first run sees it. */
function measureEvaluation(cloud: string, channels: number): Measurement {
    const script = `
const start = process.hrtime.bigint();
const { runConfig } = require("./test/helpers");
const loaded = process.hrtime.bigint();
const values = ${JSON.stringify(evaluationConfig(cloud, channels))};
runConfig(values).then((run) => {
    const done = process.hrtime.bigint();
    console.log(JSON.stringify({ total: Number(done - start) / 1e9, load: Number(loaded - start) / 1e9, resources: run.mocks.resources.length, peakMb: process.resourceUsage().maxRSS / 1024 }));
});`;
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], { cwd: ROOT, encoding: "utf8" });
    const wall = Number(process.hrtime.bigint() - start) / 1e9;
    if (result.status !== 0)
        return { what: `evaluate ${cloud} ${channels} channels`, seconds: wall, peakMb: NaN, note: `failed: ${result.stderr.split("\n").slice(0, 3).join(" ")}` };
    const figures = JSON.parse(result.stdout.trim().split("\n").pop()!);
    return {
        what: `evaluate ${cloud}, ${channels} channels`,
        seconds: figures.total,
        peakMb: figures.peakMb,
        note: `${figures.resources} resources; module loading ${figures.load.toFixed(2)} s, evaluation ${(figures.total - figures.load).toFixed(2)} s`,
    };
}

function evaluationConfig(cloud: string, channels: number): Record<string, unknown> {
    const list = Array.from({ length: channels }, (_, i) => ({ name: `feed-${i}`, protocol: "llp", port: 10000 + i }));
    return cloud === "aws"
        ? { "aws:region": "us-east-1", cloud, channels: list, network: { allowedCidrs: ["198.51.100.0/24"] } }
        : { "azure-native:location": "eastus2", cloud, channels: list, network: { allowedCidrs: ["198.51.100.0/24"] } };
}

function clouds(): string[] {
    return Object.keys(IMPLEMENTATIONS);
}

function main() {
    const cpus = os.cpus();
    console.log(
        `machine: ${cpus.length} x ${cpus[0]?.model ?? "unknown CPU"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
    );
    console.log(`date: ${new Date().toISOString()}\n`);
    const rows: Measurement[] = [];
    const record = (m: Measurement) => {
        rows.push(m);
        console.log(`${m.what.padEnd(34)} ${m.seconds.toFixed(2).padStart(7)} s ${m.peakMb.toFixed(0).padStart(6)} MB${m.note ? `  (${m.note})` : ""}`);
    };
    record(measureCommand("typecheck (tsc --noEmit)", [path.join(ROOT, "node_modules", ".bin", "tsc"), "--noEmit"]));
    record(measureCommand("unit suite (mocha)", [path.join(ROOT, "node_modules", ".bin", "mocha")]));
    for (const cloud of clouds()) {
        for (const channels of CHANNEL_COUNTS) record(measureEvaluation(cloud, channels));
    }
    if (process.argv.includes("--json")) console.log(JSON.stringify(rows, null, 2));
}

main();
