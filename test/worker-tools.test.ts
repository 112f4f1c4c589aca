/**
 * Every file a worker runs, for every shipped stack and both editions, checked by the tool that
 * will run it: cloud-init, bash (shellcheck), python3 (each Python tool compiled, then loaded as
 * laid out on a worker, its imports resolved), and nftables (the kernel gate the lease guard
 * installs from each lease.json).
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT } from "../components/constants";
import { program } from "../components/program";
import { WORKER_PATHS } from "../components/bootstrap";
import { evaluate } from "../offline/evaluate";
import { listStacks, readStackConfig } from "../offline/stack-config";
import { CloudInitFile, RenderedBootstrap, cloudInitFiles, workerBootstraps } from "../offline/worker-bootstrap";
import { ProcessResult, hasTool, isRoot, requireTools, runProcess, skipBecause } from "./tools";

const EDITIONS = ["iguanax", "iguana6"] as const;
/** Each shipped stack as shipped, and again with storage.queueRecovery: shared (its channels made active-passive). */
const STORAGE = ["none", "shared"] as const;

interface Case {
    label: string;
    cloud: string;
    bootstrap: RenderedBootstrap;
}

async function renderAll(): Promise<Case[]> {
    const cases: Case[] = [];
    for (const stack of listStacks()) {
        for (const edition of EDITIONS) {
            for (const storage of STORAGE) {
                const { config, secretKeys } = readStackConfig(stack);
                const iguana = JSON.parse(config[`${PROJECT}:iguana`] ?? "{}");
                config[`${PROJECT}:iguana`] = JSON.stringify({ ...iguana, edition, webPort: undefined, installerUrl: "https://downloads.example/iguana-installer.tar.gz" });
                if (storage === "shared") {
                    const channels = JSON.parse(config[`${PROJECT}:channels`]) as Record<string, unknown>[];
                    config[`${PROJECT}:channels`] = JSON.stringify(channels.map((c) => ({ ...c, mode: undefined })));
                    const workers = JSON.parse(config[`${PROJECT}:workers`] ?? "{}");
                    config[`${PROJECT}:workers`] = JSON.stringify({ ...workers, dataDiskGb: undefined });
                    config[`${PROJECT}:storage`] = JSON.stringify({ queueRecovery: "shared" });
                    // Azure copies only data disks' backups to another region (backup-copies.test.ts).
                    if (config[`${PROJECT}:cloud`] === "azure") delete config[`${PROJECT}:backup`];
                }
                const { mocks } = await evaluate({ stack, config, secretKeys, run: () => program() });
                for (const bootstrap of workerBootstraps(mocks.resources)) {
                    cases.push({ label: `${stack}/${edition}/${storage}/${bootstrap.resource}`, cloud: JSON.parse(JSON.stringify(config[`${PROJECT}:cloud`])), bootstrap });
                }
            }
        }
        // And once with failover.strategy: floating-ip (the VIP mover, its config and timer, a
        // notify that runs it): every channel active-passive, no load balancer settings.
        const { config, secretKeys } = readStackConfig(stack);
        const channels = JSON.parse(config[`${PROJECT}:channels`]) as Record<string, unknown>[];
        config[`${PROJECT}:channels`] = JSON.stringify(channels.map((c) => ({ ...c, mode: undefined })));
        const network = JSON.parse(config[`${PROJECT}:network`]);
        config[`${PROJECT}:network`] = JSON.stringify({ ...network, public: undefined, natGateways: undefined, deletionProtection: undefined });
        config[`${PROJECT}:failover`] = JSON.stringify({ strategy: "floating-ip" });
        const { mocks } = await evaluate({ stack, config, secretKeys, run: () => program() });
        for (const bootstrap of workerBootstraps(mocks.resources)) {
            cases.push({ label: `${stack}/floating-ip/${bootstrap.resource}`, cloud: JSON.parse(JSON.stringify(config[`${PROJECT}:cloud`])), bootstrap });
        }
    }
    return cases;
}

/**
 * What `cloud-init schema --config-file` does for one file (`handle_schema_args`: `get_schema`,
 * then `validate_cloudconfig_file`), for many files in one Python process: "valid" or the
 * validator's message, per file. Runs the interpreter cloud-init itself runs under.
 */
const CLOUD_INIT_BATCH_VALIDATOR = `
import json, sys
from cloudinit.config.schema import SchemaValidationError, get_schema, validate_cloudconfig_file
schema = get_schema()
verdicts = {}
for path in sys.argv[1:]:
    try:
        validate_cloudconfig_file(path, schema)
        verdicts[path] = "valid"
    except (SchemaValidationError, RuntimeError) as e:
        verdicts[path] = str(e)
print(json.dumps(verdicts))
`;

async function validateCloudConfigs(files: string[]): Promise<Map<string, string>> {
    const python = fs
        .readFileSync(execFileSync("sh", ["-c", "command -v cloud-init"], { encoding: "utf8" }).trim(), "utf8")
        .split("\n")[0]
        .replace(/^#!\s*/, "")
        .split(" ")[0];
    const result = await runProcess(python, ["-c", CLOUD_INIT_BATCH_VALIDATOR, ...files]);
    if (result.status !== 0) throw new Error(`the cloud-init validator failed: ${result.stderr}`);
    // the validator may print its own report first: the verdicts are the last line
    const last = result.stdout.trim().split("\n").pop() ?? "{}";
    return new Map(Object.entries(JSON.parse(last) as Record<string, string>));
}

/** Runs every job, as many at once as there are cores. */
async function onEveryCore<T, R>(items: T[], job: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const i = next++;
            results[i] = await job(items[i]);
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, os.cpus().length) }, worker));
    return results;
}

/** A cloud-config cloud-init's schema refuses: runcmd is not a list, a write_files entry has no path. */
const REFUSED_CLOUD_CONFIG = "#cloud-config\nruncmd: 5\nwrite_files:\n  - content: x\n";

/** The files each tool checks, written once to a scratch directory. */
function writeToolInputs(cases: Case[], scratch: string) {
    const userData = cases.map((c) => {
        const file = path.join(scratch, `${c.label.replace(/\//g, "_")}.yaml`);
        fs.writeFileSync(file, c.bootstrap.cloudInit);
        return file;
    });
    const refused = path.join(scratch, "refused.yaml");
    fs.writeFileSync(refused, REFUSED_CLOUD_CONFIG);

    const shellScripts = new Map<string, { file: string; label: string; content: string }>();
    const pythonFiles = new Map<string, string>();
    for (const c of cases) {
        for (const f of cloudInitFiles(c.bootstrap.cloudInit)) {
            if (f.path.endsWith(".sh")) {
                const digest = crypto.createHash("sha256").update(f.content).digest("hex");
                if (shellScripts.has(digest)) continue;
                const file = path.join(scratch, `${c.label.replace(/\//g, "_")}_${path.basename(f.path, ".sh")}_${digest.slice(0, 8)}.sh`);
                fs.writeFileSync(file, f.content);
                shellScripts.set(digest, { file, label: `${c.label} ${f.path}`, content: f.content });
            } else if (f.path.endsWith(".py") && !pythonFiles.has(f.content)) {
                pythonFiles.set(f.content, `${c.label} ${f.path}`);
            }
        }
    }
    const python = [...pythonFiles].map(([content, label], i) => {
        const file = path.join(scratch, `compile-${i}.py`);
        fs.writeFileSync(file, content);
        return { file, label };
    });
    return { userData, refused, shellScripts: [...shellScripts.values()], python };
}

/** One worker's files exactly as shipped, written under a scratch root with their absolute paths moved there too. */
function writeRebased(files: CloudInitFile[], root: string): void {
    const rebase = (text: string) => [WORKER_PATHS.libDir, WORKER_PATHS.etcDir, WORKER_PATHS.runDir].reduce((out, dir) => out.split(dir).join(`${root}${dir}`), text);
    for (const f of files) {
        const target = path.join(root, f.path);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, rebase(f.content), { mode: parseInt(f.permissions, 8) });
    }
}

interface PythonLayout {
    labels: string[];
    /** The shipped Python files, at their rebased paths. */
    files: string[];
}

/**
 * The Python tools as a worker lays them out, one scratch root per distinct layout (which files,
 * with which content): python3 loads each as a module, so an import its directory cannot
 * satisfy (the cloud library beside the guard, the VIP mover and the peer fence) fails here.
 */
function pythonLayouts(cases: Case[], scratch: string): PythonLayout[] {
    const layouts = new Map<string, PythonLayout>();
    for (const c of cases) {
        const files = cloudInitFiles(c.bootstrap.cloudInit);
        const python = files.filter((f) => f.path.endsWith(".py"));
        const key = crypto
            .createHash("sha256")
            .update(JSON.stringify(python.map((f) => [f.path, f.content])))
            .digest("hex");
        const known = layouts.get(key);
        if (known) {
            known.labels.push(c.label);
            continue;
        }
        const root = fs.mkdtempSync(path.join(scratch, "python-"));
        writeRebased(python, root);
        layouts.set(key, { labels: [c.label], files: python.map((f) => path.join(root, f.path)) });
    }
    return [...layouts.values()];
}

/** Loads each file as a module (its top level runs, its main does not) and says what happened, per file. */
const PYTHON_LOADER = `
import importlib.util, json, sys, traceback
verdicts = {}
for i, path in enumerate(sys.argv[1:]):
    try:
        spec = importlib.util.spec_from_file_location(f"shipped_{i}", path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        verdicts[path] = "loaded"
    except BaseException:
        verdicts[path] = traceback.format_exc()
print(json.dumps(verdicts))
`;

interface KernelGateCheck {
    labels: string[];
    gate: { table: string; ports: number[] };
}

/** Each distinct kernel gate the program's lease.json files ask the guard for. */
function kernelGateChecks(cases: Case[]): KernelGateCheck[] {
    const checks = new Map<string, KernelGateCheck>();
    for (const c of cases) {
        const lease = JSON.parse(cloudInitFiles(c.bootstrap.cloudInit).find((f) => f.path === `${WORKER_PATHS.etcDir}/lease.json`)!.content);
        if (!lease.kernelGate) throw new Error(`${c.label}: lease.json has no kernel gate although every shipped stack has channels`);
        const key = JSON.stringify(lease.kernelGate);
        const known = checks.get(key);
        if (known) known.labels.push(c.label);
        else checks.set(key, { labels: [c.label], gate: lease.kernelGate });
    }
    return [...checks.values()];
}

/**
 * In a private network namespace, the shipped guard's own KernelGate (lease-guard.py) against
 * the real nftables, for each gate: installed, armed as after a renewal, read back, closed, read
 * back. Prints, per gate, the ports open after arming and after closing.
 */
const KERNEL_GATE_RUNNER = `
import importlib.util, json, subprocess, sys, time
spec = importlib.util.spec_from_file_location("guard", sys.argv[1])
guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guard)
def open_ports(table):
    listed = json.loads(subprocess.run(["nft", "-j", "list", "set", "inet", table, "open"], check=True, capture_output=True, text=True).stdout)
    return sorted(e["elem"]["val"] for item in listed["nftables"] if "set" in item for e in item["set"].get("elem", []))
results = []
for gate in json.loads(sys.argv[2]):
    g = guard.KernelGate(gate)
    g.install()
    g.open_until(time.monotonic() + 30)
    armed = open_ports(gate["table"])
    g.close()
    results.append({"armed": armed, "closed": open_ports(gate["table"])})
print(json.dumps(results))
`;

/** Settles to the job's result or its error, so a job nobody awaits yet never rejects unhandled. */
function started<T>(job: () => Promise<T>): Promise<{ value?: T; error?: unknown }> {
    return job().then(
        (value) => ({ value }),
        (error) => ({ error }),
    );
}

async function result<T>(job: Promise<{ value?: T; error?: unknown }> | undefined): Promise<T> {
    if (!job) throw new Error("the job was not started: its tool is missing");
    const { value, error } = await job;
    if (error !== undefined) throw error;
    return value as T;
}

describe("worker files checked by the real tools", function () {
    this.timeout(180000);
    let cases: Case[];
    let scratch: string;
    let inputs: ReturnType<typeof writeToolInputs>;
    let layouts: PythonLayout[];
    let gates: KernelGateCheck[];
    // Every tool runs at once in `before` (they take seconds each, mostly starting up); each `it` checks one's result.
    const jobs: {
        cloudInitCommand?: Promise<{ value?: ProcessResult[]; error?: unknown }>;
        cloudInitBatch?: Promise<{ value?: Map<string, string>; error?: unknown }>;
        shellcheck?: Promise<{ value?: ProcessResult; error?: unknown }>;
        pyCompile?: Promise<{ value?: ProcessResult; error?: unknown }>;
        pyLoad?: Promise<{ value?: ProcessResult[]; error?: unknown }>;
        kernelGate?: Promise<{ value?: ProcessResult; error?: unknown }>;
    } = {};

    before(async () => {
        cases = await renderAll();
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-worker-files-"));
        inputs = writeToolInputs(cases, scratch);
        layouts = pythonLayouts(cases, scratch);
        gates = kernelGateChecks(cases);
        if (hasTool("cloud-init")) {
            // One accepted and one refused file through the command itself; every file through
            // the same validator in one process (the command spends half a second importing
            // cloud-init for each file).
            jobs.cloudInitCommand = started(() => Promise.all([inputs.userData[0], inputs.refused].map((file) => runProcess("cloud-init", ["schema", "--config-file", file]))));
            jobs.cloudInitBatch = started(() => validateCloudConfigs([...inputs.userData, inputs.refused]));
        }
        if (hasTool("shellcheck")) {
            // one shellcheck over every file: it names each file in its findings
            jobs.shellcheck = started(() => runProcess("shellcheck", ["--shell=bash", "--severity=style", ...inputs.shellScripts.map((s) => s.file)]));
        }
        if (hasTool("python3")) {
            jobs.pyCompile = started(() =>
                runProcess("python3", ["-c", "import py_compile, sys\nfor f in sys.argv[1:]: py_compile.compile(f, doraise=True)", ...inputs.python.map((p) => p.file)]),
            );
            // The interpreter a worker runs them with: /usr/bin/python3 (the units' and lease.json's commands).
            const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
            jobs.pyLoad = started(() => onEveryCore(layouts, (layout) => runProcess(python, ["-c", PYTHON_LOADER, ...layout.files])));
            if (["nft", "unshare"].every(hasTool) && isRoot()) {
                const guard = layouts[0].files.find((f) => f.endsWith("/lease-guard.py"))!;
                jobs.kernelGate = started(() => runProcess("unshare", ["--net", python, "-c", KERNEL_GATE_RUNNER, guard, JSON.stringify(gates.map((g) => g.gate))]));
            }
        }
        await Promise.all(Object.values(jobs));
    });
    after(() => scratch && fs.rmSync(scratch, { recursive: true, force: true }));

    it("renders a bootstrap for both workers of every shipped stack and edition", () => {
        assert.strictEqual(cases.length, listStacks().length * (EDITIONS.length * STORAGE.length + 1) * 2);
        const shipping = (name: string) => cases.filter((c) => cloudInitFiles(c.bootstrap.cloudInit).some((f) => f.path.endsWith(`/${name}`))).length;
        assert.strictEqual(shipping("vip-mover.py"), listStacks().length * 2, "the VIP mover on floating-ip workers only");
        assert.strictEqual(shipping("peer-fence.py"), listStacks().length * EDITIONS.length * 2, "the peer fence on shared-storage workers only");
        const azureStacks = listStacks().filter((stack) => stack.startsWith("azure-")).length;
        assert.strictEqual(shipping("share-snapshot.py"), azureStacks * EDITIONS.length * 2, "the share snapshots on Azure shared-storage workers only");
        const copyingStacks = listStacks().filter((stack) => stack.startsWith("azure-") && readStackConfig(stack).config[`${PROJECT}:backup`]?.includes("copyToRegion")).length;
        assert.ok(copyingStacks > 0, "a shipped Azure stack copies its backups");
        assert.strictEqual(
            shipping("disk-snapshot-copy.py"),
            copyingStacks * (EDITIONS.length + 1) * 2,
            "the backup copies on Azure data-disk workers with backup.copyToRegion only",
        );
        for (const name of ["lease-guard.py", "iguana_ha_cloud.py", "lease.json", "role-probe.py"]) assert.strictEqual(shipping(name), cases.length, `every worker ships ${name}`);
    });

    it("cloud-init accepts every user data (cloud-init schema)", async function () {
        requireTools(this, "cloud-init");
        const [cli] = await result(jobs.cloudInitCommand);
        assert.strictEqual(cli.status, 0, `${cases[0].label}: ${cli.stdout}${cli.stderr}`);
        assert.match(cli.stdout, /Valid cloud-config/);
        const verdicts = await result(jobs.cloudInitBatch);
        cases.forEach((c, i) => assert.strictEqual(verdicts.get(inputs.userData[i]), "valid", `${c.label}: ${verdicts.get(inputs.userData[i])}`));
    });

    it("the batch validator is cloud-init's: it refuses what cloud-init schema refuses", async function () {
        requireTools(this, "cloud-init");
        const [, cli] = await result(jobs.cloudInitCommand);
        assert.notStrictEqual(cli.status, 0, "the command refuses it");
        const verdict = (await result(jobs.cloudInitBatch)).get(inputs.refused) ?? "";
        assert.match(verdict, /runcmd/);
        assert.match(verdict, /write_files/);
    });

    it("shellcheck passes every shell script", async function () {
        requireTools(this, "shellcheck");
        for (const script of inputs.shellScripts) assert.ok(script.content.startsWith("#!/bin/bash\n"), `${script.label} has a bash shebang`);
        assert.ok(inputs.shellScripts.length >= 7, `checked ${inputs.shellScripts.length} distinct scripts`);
        const r = await result(jobs.shellcheck);
        assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`);
    });

    it("python3 compiles every Python file (the role probe, the lease guard, its cloud library, the VIP mover, the peer fence, the event publisher, the share snapshots, the backup copies)", async function () {
        requireTools(this, "python3");
        assert.deepStrictEqual(
            inputs.python.map((p) => path.basename(p.label.split(" ").pop()!)).sort(),
            ["disk-snapshot-copy.py", "iguana_ha_cloud.py", "lease-guard.py", "peer-fence.py", "publish-event.py", "role-probe.py", "share-snapshot.py", "vip-mover.py"],
            inputs.python.map((p) => p.label).join(", "),
        );
        const r = await result(jobs.pyCompile);
        assert.strictEqual(r.status, 0, `${inputs.python.map((p) => p.label).join(", ")}: ${r.stderr}`);
    });

    it("python3 loads every Python tool as a worker lays it out: each import resolves (the cloud library beside its users)", async function () {
        requireTools(this, "python3");
        assert.strictEqual(
            layouts.reduce((n, layout) => n + layout.labels.length, 0),
            cases.length,
            "every case is checked",
        );
        const runs = await result(jobs.pyLoad);
        layouts.forEach((layout, i) => {
            const run = runs[i];
            assert.strictEqual(run.status, 0, `${layout.labels[0]}: ${run.stderr}`);
            const verdicts = JSON.parse(run.stdout.trim().split("\n").pop()!) as Record<string, string>;
            assert.deepStrictEqual(Object.keys(verdicts).sort(), [...layout.files].sort());
            for (const [file, verdict] of Object.entries(verdicts)) assert.strictEqual(verdict, "loaded", `${layout.labels.join(", ")}: ${file}`);
        });
    });

    it("nftables accepts the kernel gate of every lease.json, as the guard installs, arms and closes it", async function () {
        requireTools(this, "nft", "unshare", "python3");
        if (!isRoot()) skipBecause(this, "needs root for a private network namespace", { ciProvides: true });
        assert.strictEqual(
            gates.reduce((n, check) => n + check.labels.length, 0),
            cases.length,
            "every case is checked",
        );
        assert.ok(gates.length >= listStacks().length, `${gates.length} distinct kernel gates`);
        const r = await result(jobs.kernelGate);
        assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`);
        const results = JSON.parse(r.stdout.trim().split("\n").pop()!) as { armed: number[]; closed: number[] }[];
        assert.strictEqual(results.length, gates.length);
        gates.forEach((check, i) => {
            assert.deepStrictEqual(
                results[i].armed,
                [...check.gate.ports].sort((a, b) => a - b),
                `${check.labels.join(", ")}: armed, every LLP port is open`,
            );
            assert.deepStrictEqual(results[i].closed, [], `${check.labels.join(", ")}: closed, none is`);
        });
    });
});
