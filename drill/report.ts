/** The drill's table, findings and JSON, and the logs' tails of a failed scenario. */
import * as fs from "fs";
import * as path from "path";
import { ScenarioResult } from "./scenario";

const seconds = (ms: number | null) => (ms === null ? "-" : (ms / 1000).toFixed(1));

export const TABLE_COLUMNS = [
    "stack",
    "LB",
    "#",
    "scenario",
    "promotion s",
    "LB: WK1 out s",
    "LB: WK2 in s",
    "1st ACK WK2 s",
    "outage s",
    "budget s",
    "acked",
    "lost",
    "dup",
    "order",
    "verdict",
] as const;

/** Floating IP: no LB; its columns tell when the stand-in cloud moved the VIP off WK1 and onto WK2. */
export const FLOATING_TABLE_COLUMNS = TABLE_COLUMNS.map((c) => ({ LB: "VIP", "LB: WK1 out s": "VIP off WK1 s", "LB: WK2 in s": "VIP on WK2 s" })[c as string] ?? c);

const isFloatingResult = (r: ScenarioResult) => r.failoverStrategy === "floating-ip";

export function tableColumns(results: ScenarioResult[]): string[] {
    return results.length > 0 && results.every(isFloatingResult) ? FLOATING_TABLE_COLUMNS : TABLE_COLUMNS.slice();
}

export function tableRows(results: ScenarioResult[]): string[][] {
    return results.map((r) => [
        r.stack,
        isFloatingResult(r) ? (r.profile === "aws" ? "EIP" : "Public IP") : r.profile,
        String(r.scenario),
        r.faultDelayMs ? `${r.key} +${seconds(r.faultDelayMs)}` : r.key,
        seconds(r.promotionMs),
        seconds(isFloatingResult(r) ? (r.vipOffWk1Ms ?? null) : r.lbMarksWk1DownMs),
        seconds(isFloatingResult(r) ? (r.vipOnWk2Ms ?? null) : r.lbMarksWk2UpMs),
        seconds(r.firstAckFromWk2Ms),
        seconds(r.outageMs),
        seconds(r.budget.totalMs),
        String(r.acked),
        String(r.lost),
        String(r.duplicates),
        String(r.orderViolations),
        r.verdict,
    ]);
}

/** A Markdown table (also readable in a terminal). */
export function renderTable(results: ScenarioResult[]): string {
    const rows = [tableColumns(results), ...tableRows(results)];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
    return [line(rows[0]), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.slice(1).map(line)].join("\n");
}

export function renderFindings(results: ScenarioResult[]): string {
    const lines: string[] = [];
    for (const r of results) {
        const head = `${r.stack} (${isFloatingResult(r) ? `${r.profile} floating IP` : `${r.profile} LB`}) scenario ${r.scenario} ${r.title}: ${r.verdict}`;
        lines.push(head);
        for (const reason of r.reasons) lines.push(`  - ${reason}`);
        for (const note of r.notes) lines.push(`  . ${note}`);
    }
    return lines.join("\n");
}

/** The FAIL rows alone, each with its reasons. */
export function renderFailures(results: ScenarioResult[]): string {
    return renderFindings(results.filter((r) => r.verdict === "FAIL"))
        .split("\n")
        .filter((line) => !line.startsWith("  . "))
        .map((line) => `drill: ${line}`)
        .join("\n");
}

/** The guards' and the stand-in cloud's logs of a failed scenario, their last lines each: what a CI log's tail needs to tell why. */
export const FAILURE_LOGS = ["wk1-lease-guard.log", "wk2-lease-guard.log", "cloud-api.log"];

export function failureLogTails(logDir: string, lines = 15): string {
    const out: string[] = [];
    for (const name of FAILURE_LOGS) {
        const file = path.join(logDir, name);
        if (!fs.existsSync(file)) continue;
        const text = fs.readFileSync(file, "utf8").trimEnd();
        if (text === "") continue;
        const tail = text.split("\n").slice(-lines);
        out.push(`drill:   ${path.relative(process.cwd(), file)}, last ${tail.length} line(s):`, ...tail.map((line) => `drill:     ${line}`));
    }
    return out.join("\n");
}

/** The run fails on any FAIL; a LIMITATION row is reported, not failed (see docs/failover.md). */
export function exitCode(results: ScenarioResult[]): number {
    return results.some((r) => r.verdict === "FAIL") ? 1 : 0;
}
