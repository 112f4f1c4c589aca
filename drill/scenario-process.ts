/**
 * One scenario in a Node process of its own. The drill's monitor samples each worker every 50 ms
 * from its event loop; scenarios sharing one process also share that loop, and a neighbour's
 * synchronous set-up or teardown (an `ip` burst, update-ca-certificates in a chroot, a cgroup
 * sweep) held a sample back by seconds: a gate seen open long after it closed, a false "both
 * active". Here nothing but the scenario's own work runs on its loop.
 *
 * usage (the drill runs it): node -r ts-node/register/transpile-only drill/scenario-process.ts JOB.json
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { RunContext, SCENARIOS, ScenarioDef, ScenarioResult, StackRun, failedResult, runScenario } from "./scenario";
import { monotonicMs } from "./sender";

export interface ScenarioJob {
    scenario: ScenarioDef["id"];
    stack: StackRun;
    ctx: Omit<RunContext, "onInterrupt">;
    tag: string;
    /** Unique within the run: the booted machines' lab addresses, work dir and names derive from it. */
    index: number;
    resultFile: string;
}

/** Runs `def` in a child process and returns its result; a child that ends without one is a FAIL naming its log. */
export async function runScenarioIsolated(def: ScenarioDef, stack: StackRun, ctx: RunContext, tag: string, index: number): Promise<ScenarioResult> {
    const started = monotonicMs();
    const jobFile = path.join(ctx.workRoot, `${tag}.job.json`);
    const resultFile = path.join(ctx.workRoot, `${tag}.result.json`);
    const { onInterrupt: _, ...plainCtx } = ctx;
    const job: ScenarioJob = { scenario: def.id, stack, ctx: plainCtx, tag, index, resultFile };
    fs.writeFileSync(jobFile, JSON.stringify(job));
    fs.mkdirSync(ctx.logRoot, { recursive: true });
    const logFile = path.join(ctx.logRoot, `${tag}.scenario.log`);
    const log = fs.openSync(logFile, "a");
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", __filename, jobFile], { cwd: ctx.repoRoot, stdio: ["ignore", log, log] });
    fs.closeSync(log);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null))));
    // On an interrupt the child runs its own teardown (machines, namespaces): wait for it.
    const interrupt = async () => {
        child.kill("SIGTERM");
        await exited;
    };
    ctx.onInterrupt.add(interrupt);
    const code = await exited;
    ctx.onInterrupt.delete(interrupt);
    if (fs.existsSync(resultFile)) return JSON.parse(fs.readFileSync(resultFile, "utf8")) as ScenarioResult;
    return failedResult(def, stack, new Error(`the scenario's process ended (exit ${code}) without a result; its log: ${logFile}`), Math.round(monotonicMs() - started));
}

async function main(jobFile: string): Promise<number> {
    const job = JSON.parse(fs.readFileSync(jobFile, "utf8")) as ScenarioJob;
    const def = SCENARIOS.find((s) => s.id === job.scenario);
    if (!def) throw new Error(`no scenario ${job.scenario}`);
    const ctx: RunContext = { ...job.ctx, onInterrupt: new Set() };
    let stopping = false;
    const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        console.error(`scenario ${job.tag}: ${signal}: tearing down`);
        await Promise.all([...ctx.onInterrupt].map((cleanup) => Promise.resolve(cleanup()).catch(() => undefined)));
        process.exit(130);
    };
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
    const result = await runScenario(def, job.stack, ctx, job.tag, job.index);
    fs.writeFileSync(`${job.resultFile}.tmp`, JSON.stringify(result));
    fs.renameSync(`${job.resultFile}.tmp`, job.resultFile);
    return 0;
}

if (require.main === module) {
    main(process.argv[2]).then(
        (code) => process.exit(code),
        (e) => {
            console.error(e);
            process.exit(1);
        },
    );
}
