/** Real tools for what runs on a worker: skipped with a visible message on a laptop, required under CI. */
import { execFile, spawnSync } from "child_process";

const toolsFound = new Map<string, boolean>();

/** Whether a command is on PATH (asked once per process: tools do not come and go during a run). */
export function hasTool(tool: string): boolean {
    let found = toolsFound.get(tool);
    if (found === undefined) {
        found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).status === 0;
        toolsFound.set(tool, found);
    }
    return found;
}

/**
 * Returns normally when every tool is present. Otherwise: under CI=true it throws (a missing
 * tool is a failure there), elsewhere it prints why and skips the test.
 */
export function requireTools(ctx: Mocha.Context, ...tools: string[]): void {
    const missing = tools.filter((t) => !hasTool(t));
    if (missing.length === 0) return;
    const message = `missing tool(s): ${missing.join(", ")} (Debian: apt-get install ${missing.join(" ")})`;
    if (process.env.CI === "true") {
        throw new Error(`${message}: CI must install them in .ci/run`);
    }
    console.log(`      SKIPPED (${message})`);
    ctx.skip();
}

/**
 * Skips the test and prints why. `ciProvides`: what is missing is something .ci/run installs,
 * so under CI=true this is a failure, not a skip.
 */
export function skipBecause(ctx: Mocha.Context, reason: string, options: { ciProvides?: boolean } = {}): never {
    if (options.ciProvides && process.env.CI === "true") throw new Error(`${reason}: CI must provide it in .ci/run`);
    console.log(`      SKIPPED (${reason})`);
    return ctx.skip();
}

export function isRoot(): boolean {
    return typeof process.getuid === "function" && process.getuid() === 0;
}

export interface ProcessResult {
    /** The exit status; -1 when the process could not start or was killed. */
    status: number;
    stdout: string;
    stderr: string;
}

/** Runs a command without blocking, so several can run at once. */
export function runProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ProcessResult> {
    return new Promise((resolve) => {
        execFile(command, args, { cwd: options.cwd, env: options.env, encoding: "utf8", timeout: 60000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
            resolve({ status: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
        );
    });
}
