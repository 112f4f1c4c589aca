/**
 * The real-boot test: `sudo npm run boot-test [-- --case NAME]... [--cold-starts N] [--keep]`.
 * Linux, root, systemd-nspawn and mmdebstrap (Debian: systemd-container, mmdebstrap). Boots
 * WK1 and WK2 of each case from the stack's rendered user data, unchanged, under real
 * cloud-init and systemd, and checks what a load balancer and an operator would see. See
 * docs/boot-test.md.
 */
import * as os from "os";
import * as fs from "fs";
import * as path from "path";
import { pool, sh, sleep } from "../drill/system";
import { BootCase, BootedCluster } from "./cluster";
import { BOOT_CASES } from "./cases";

export { BOOT_CASES, FLOATING_IP_OVERRIDES } from "./cases";
import { BOOT_PREFIX, leftoverHostRules } from "./lab";
import { NSPAWN_RUNTIME, removeCgroupTree } from "./machine";
import { BOOT_CACHE_DIR, archiveHosts, ensureRootfs, readHostApt } from "./rootfs";
import { CheckResult, checkBoot, checkColdStarts, checkFailedDiskStep, checkReboot } from "./checks";

export interface BootArgs {
    cases: BootCase[];
    coldStarts: number;
    keep: boolean;
    rootfsOnly: boolean;
    parallel: number;
}

export class UsageError extends Error {}

const USAGE = `usage: npm run boot-test -- [--case NAME]... [--cold-starts N] [--parallel N] [--keep] [--rootfs-only]
  --case         run only this case (repeatable): ${BOOT_CASES.map((c) => `"${c.label}"`).join(", ")}
  --cold-starts  times both workers of the first case are powered off and booted together again (default 10)
  --parallel     clusters booted at once (default 2)
  --keep         keep the machines' files (overlays, consoles) under ${BOOT_CACHE_DIR}/runs
  --rootfs-only  build (or find) the cached root file system and stop`;

export function parseBootArgs(argv: string[]): BootArgs {
    const args: BootArgs = { cases: [], coldStarts: 10, keep: false, rootfsOnly: false, parallel: 2 };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined) throw new UsageError(`${arg} needs a value`);
            return v;
        };
        if (arg === "--case") {
            const name = value();
            const c = BOOT_CASES.find((x) => x.label === name);
            if (!c) throw new UsageError(`--case: no case "${name}"; the cases are ${BOOT_CASES.map((x) => `"${x.label}"`).join(", ")}`);
            args.cases.push(c);
        } else if (arg === "--cold-starts" || arg === "--parallel") {
            const n = Number(value());
            if (!Number.isInteger(n) || n < (arg === "--parallel" ? 1 : 0)) throw new UsageError(`${arg} must be a whole number${arg === "--parallel" ? " >= 1" : " >= 0"}`);
            if (arg === "--cold-starts") args.coldStarts = n;
            else args.parallel = n;
        } else if (arg === "--keep") args.keep = true;
        else if (arg === "--rootfs-only") args.rootfsOnly = true;
        else if (arg === "--help" || arg === "-h") throw new UsageError("");
        else throw new UsageError(`unknown argument "${arg}"`);
    }
    if (args.cases.length === 0) args.cases = BOOT_CASES;
    return args;
}

function preflight(): void {
    if (process.platform !== "linux") throw new Error("the boot test needs Linux");
    if (process.getuid?.() !== 0) throw new Error("the boot test needs root (systemd-nspawn, mounts, loop devices, namespaces)");
    for (const tool of ["systemd-nspawn", "mmdebstrap", "nsenter", "losetup", "iptables", "ip", "openssl", "curl", "tar", "tinyproxy"]) {
        if (!sh("sh", ["-c", `command -v ${tool} || true`]).trim())
            throw new Error(`${tool} is not installed (Debian packages: systemd-container mmdebstrap util-linux iptables iproute2 openssl curl tar tinyproxy)`);
    }
}

export const RUNS_DIR = path.join(BOOT_CACHE_DIR, "runs");

/** What earlier runs left: machines' mounts and loop devices, namespaces, host rules, cgroups. */
export function cleanLeftovers(): void {
    for (const line of sh("losetup", ["-l", "-n", "-O", "NAME,BACK-FILE"], { allowFail: true }).split("\n")) {
        const [dev, file] = line.trim().split(/\s+/);
        if (file?.startsWith(RUNS_DIR)) sh("losetup", ["-d", dev], { allowFail: true });
    }
    for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").reverse()) {
        const mountPoint = line.split(" ")[4];
        if (mountPoint?.startsWith(RUNS_DIR)) sh("umount", ["-l", mountPoint], { allowFail: true });
    }
    for (const ns of sh("ip", ["netns", "list"], { allowFail: true })
        .split("\n")
        .map((l) => l.split(" ")[0])) {
        if (ns.startsWith(`${BOOT_PREFIX}-`)) sh("ip", ["netns", "del", ns], { allowFail: true });
    }
    if (fs.existsSync("/etc/netns")) {
        for (const dir of fs.readdirSync("/etc/netns").filter((d) => d.startsWith(`${BOOT_PREFIX}-`))) fs.rmSync(path.join("/etc/netns", dir), { recursive: true, force: true });
    }
    for (const link of sh("ip", ["-o", "link", "show"], { allowFail: true }).split("\n")) {
        const name = /^\d+: ([^:@]+)/.exec(link)?.[1];
        if (name?.startsWith(BOOT_PREFIX)) sh("ip", ["link", "del", name], { allowFail: true });
    }
    for (const table of ["filter", "nat"]) {
        for (const rule of leftoverHostRules(sh("iptables-save", ["-t", table], { allowFail: true }), table, () => false)) sh("iptables", ["-w", ...rule], { allowFail: true });
    }
    for (const root of ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"]) {
        if (!fs.existsSync(root)) continue;
        for (const dir of fs.readdirSync(root).filter((d) => d.startsWith(BOOT_PREFIX))) removeCgroupTree(path.join(root, dir));
    }
    fs.rmSync(RUNS_DIR, { recursive: true, force: true });
    // The tmpfs a machine's boot put on nspawn's runtime directory (machine.ts).
    sh("umount", [NSPAWN_RUNTIME], { allowFail: true });
}

export function resolveArchive(): { hosts: string[]; addresses: string[] } {
    const hosts = archiveHosts(readHostApt().sources);
    const addresses: string[] = [];
    for (const host of hosts) {
        const found = sh("getent", ["ahostsv4", host], { allowFail: true })
            .split("\n")
            .map((l) => l.split(/\s+/)[0])
            .filter((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a));
        if (found.length === 0) throw new Error(`cannot resolve the Debian archive host ${host}`);
        addresses.push(found[0]);
    }
    return { hosts, addresses };
}

async function runCase(
    c: BootCase,
    index: number,
    ctx: { runId: string; rootfs: string; archive: { hosts: string[]; addresses: string[] }; coldStarts: number; clusters: Set<BootedCluster>; keep: boolean },
): Promise<CheckResult[]> {
    const started = Date.now();
    const log = (line: string) => console.log(`boot-test: [${c.label}] ${line}`);
    const cluster = new BootedCluster(c, {
        runId: ctx.runId,
        index,
        rootfs: ctx.rootfs,
        workDir: path.join(RUNS_DIR, ctx.runId),
        archive: ctx.archive,
        repoRoot: path.resolve(__dirname, ".."),
        log,
    });
    ctx.clusters.add(cluster);
    const results: CheckResult[] = [];
    try {
        await cluster.start();
        if (c.failDiskStep) {
            results.push(...(await checkFailedDiskStep(cluster, log)));
        } else {
            const boot = await checkBoot(cluster, log);
            results.push(...boot);
            // A pair that never came up has nothing to reboot.
            if (cluster.machines.every((m) => m.running())) {
                results.push(...(await checkReboot(cluster, log)));
                if (ctx.coldStarts > 0 && index === 0) results.push(...(await checkColdStarts(cluster, ctx.coldStarts, log)));
            }
        }
    } catch (e) {
        results.push({ case: c.label, check: "the case ran", ok: false, detail: e instanceof Error ? e.message : String(e) });
    } finally {
        if (ctx.keep) log(`kept: ${cluster.dir}`);
        await cluster.destroy();
        ctx.clusters.delete(cluster);
    }
    for (const r of results) r.case = c.label;
    log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${results.filter((r) => !r.ok).length} failed of ${results.length}`);
    return results;
}

async function main(): Promise<number> {
    let args: BootArgs;
    try {
        args = parseBootArgs(process.argv.slice(2));
    } catch (e) {
        if (e instanceof UsageError) {
            if (e.message) console.error(`boot-test: ${e.message}`);
            console.error(USAGE);
            return e.message ? 2 : 0;
        }
        throw e;
    }
    preflight();
    const t0 = Date.now();
    cleanLeftovers();
    const rootfs = ensureRootfs((l) => console.log(l));
    console.log(`boot-test: root file system ${rootfs.dir} (${rootfs.built ? `built in ${rootfs.seconds.toFixed(0)} s` : "cached"})`);
    if (args.rootfsOnly) return 0;
    const runId = process.pid.toString(36).slice(-4);
    const archive = resolveArchive();
    const clusters = new Set<BootedCluster>();
    const interrupted = async (signal: string) => {
        console.error(`\nboot-test: ${signal}: powering off every machine and removing what the test made`);
        await Promise.all([...clusters].map((c) => c.destroy().catch(() => undefined)));
        cleanLeftovers();
        process.exit(130);
    };
    process.on("SIGINT", () => void interrupted("SIGINT"));
    process.on("SIGTERM", () => void interrupted("SIGTERM"));
    const results: CheckResult[] = [];
    try {
        const perCase = await pool(args.cases, args.parallel, (c, i) =>
            runCase(c, i, { runId, rootfs: rootfs.dir, archive, coldStarts: args.coldStarts, clusters, keep: args.keep }),
        );
        results.push(...perCase.flat());
    } finally {
        if (!args.keep) cleanLeftovers();
    }
    await sleep(0);
    const failed = results.filter((r) => !r.ok);
    console.log("");
    for (const r of results) console.log(`${r.ok ? "PASS" : "FAIL"}  ${r.case.padEnd(26)} ${r.check}${r.detail ? `: ${r.detail}` : ""}`);
    console.log(`\nboot-test: ${results.length - failed.length} passed, ${failed.length} failed (${((Date.now() - t0) / 1000).toFixed(0)} s on ${os.cpus().length} cores)`);
    return failed.length === 0 ? 0 : 1;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (e) => {
            console.error(`boot-test failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
            cleanLeftovers();
            process.exit(1);
        },
    );
}
