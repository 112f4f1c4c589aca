/** Real tools for what runs on a worker: skipped with a visible message on a laptop, required under CI. */
import { spawnSync } from "child_process";

export function hasTool(tool: string): boolean {
    return spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).status === 0;
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

export function isRoot(): boolean {
    return typeof process.getuid === "function" && process.getuid() === 0;
}
