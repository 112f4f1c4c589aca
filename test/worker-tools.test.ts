/**
 * Every file a worker runs, for every shipped stack and both editions, checked by the tool that
 * will run it: cloud-init, keepalived, bash (shellcheck) and python3.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT } from "../components/constants";
import { program } from "../components/program";
import { VRRP_TUNNEL, WORKER_PATHS, renderInterfaceInclude } from "../components/bootstrap";
import { evaluate } from "../tools/evaluate";
import { listStacks, readStackConfig } from "../tools/stack-config";
import { RenderedBootstrap, cloudInitFiles, workerBootstraps } from "../tools/worker-bootstrap";
import { ProcessResult, hasTool, isRoot, requireTools, runProcess } from "./tools";

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
        config[`${PROJECT}:network`] = JSON.stringify({ ...network, public: undefined, natGateways: undefined });
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
    const python = fs.readFileSync(execFileSync("sh", ["-c", "command -v cloud-init"], { encoding: "utf8" }).trim(), "utf8").split("\n")[0].replace(/^#!\s*/, "").split(" ")[0];
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

interface KeepalivedCheck {
    labels: string[];
    root: string;
    conf: string;
    iface: string;
    selfIp: string;
}

/**
 * keepalived -t parses the configuration (and what it includes) and checks that each script it
 * names exists with safe ownership and modes; it does not read the scripts. So cases whose
 * configuration, interface and file paths and modes agree are one check. Each check's files are
 * written exactly as shipped, with their absolute paths moved under a scratch root.
 */
function keepalivedChecks(cases: Case[], scratch: string): KeepalivedCheck[] {
    const checks = new Map<string, KeepalivedCheck>();
    for (const c of cases) {
        const files = cloudInitFiles(c.bootstrap.cloudInit);
        const confText = files.find((f) => f.path === WORKER_PATHS.keepalivedConf)!.content;
        const iface = /unicast_src_ip 169\.254\.112\./.test(confText) ? VRRP_TUNNEL.interface : c.label.startsWith("azure") ? "eth0" : "ens5";
        const key = crypto
            .createHash("sha256")
            .update(JSON.stringify([confText, iface, files.map((f) => [f.path, f.permissions])]))
            .digest("hex");
        const known = checks.get(key);
        if (known) {
            known.labels.push(c.label);
            continue;
        }
        const root = fs.mkdtempSync(path.join(scratch, "root-"));
        const rebase = (text: string) => text.split(WORKER_PATHS.libDir).join(`${root}${WORKER_PATHS.libDir}`).split(WORKER_PATHS.etcDir).join(`${root}${WORKER_PATHS.etcDir}`);
        for (const f of files) {
            const target = path.join(root, f.path);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(target, rebase(f.content), { mode: parseInt(f.permissions, 8) });
        }
        fs.mkdirSync(path.join(root, WORKER_PATHS.etcDir), { recursive: true });
        fs.writeFileSync(path.join(root, WORKER_PATHS.etcDir, "keepalived-interface.conf"), renderInterfaceInclude(iface));
        const conf = path.join(root, WORKER_PATHS.keepalivedConf);
        const selfIp = /unicast_src_ip (\S+)/.exec(fs.readFileSync(conf, "utf8"))![1];
        checks.set(key, { labels: [c.label], root, conf, iface, selfIp });
    }
    return [...checks.values()];
}

/**
 * One private network namespace per core, each holding the interfaces and addresses its share of
 * the checks names (as on the cloud), and one `keepalived -t` per check: its status and output.
 */
async function runKeepalivedChecks(checks: KeepalivedCheck[]): Promise<{ check: KeepalivedCheck; status: string; output: string }[]> {
    const cores = Math.max(1, os.cpus().length);
    const shares = Array.from({ length: Math.min(checks.length, cores) }, (_, core) => checks.filter((_, i) => i % cores === core));
    const runs = await onEveryCore(shares, (share) => {
        const lines = ["set -eu"];
        [...new Set(share.map((check) => check.iface))].forEach((iface, i) => lines.push(`ip link add ${iface} type veth peer name peer${i}`, `ip link set ${iface} up`));
        for (const address of new Set(share.map((check) => `${check.selfIp}/24 dev ${check.iface}`))) lines.push(`ip addr add ${address}`);
        for (const check of share) {
            lines.push(`keepalived -t -f ${check.conf} > ${check.root}/keepalived-t.out 2>&1 && echo 0 > ${check.root}/keepalived-t.status || echo $? > ${check.root}/keepalived-t.status`);
        }
        return runProcess("unshare", ["--net", "bash", "-c", lines.join("\n")]);
    });
    for (const r of runs) if (r.status !== 0) throw new Error(`setting up the network namespace failed: ${r.stdout}${r.stderr}`);
    return checks.map((check) => ({
        check,
        status: fs.readFileSync(path.join(check.root, "keepalived-t.status"), "utf8").trim(),
        output: fs.readFileSync(path.join(check.root, "keepalived-t.out"), "utf8"),
    }));
}

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
    let keepalived: KeepalivedCheck[];
    // Every tool runs at once in `before` (they take seconds each, mostly starting up); each `it` checks one's result.
    const jobs: {
        cloudInitCommand?: Promise<{ value?: ProcessResult[]; error?: unknown }>;
        cloudInitBatch?: Promise<{ value?: Map<string, string>; error?: unknown }>;
        shellcheck?: Promise<{ value?: ProcessResult; error?: unknown }>;
        pyCompile?: Promise<{ value?: ProcessResult; error?: unknown }>;
        keepalived?: Promise<{ value?: Awaited<ReturnType<typeof runKeepalivedChecks>>; error?: unknown }>;
    } = {};

    before(async () => {
        cases = await renderAll();
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-worker-files-"));
        inputs = writeToolInputs(cases, scratch);
        keepalived = keepalivedChecks(cases, scratch);
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
            jobs.pyCompile = started(() => runProcess("python3", ["-c", "import py_compile, sys\nfor f in sys.argv[1:]: py_compile.compile(f, doraise=True)", ...inputs.python.map((p) => p.file)]));
        }
        if (["keepalived", "unshare", "ip"].every(hasTool) && isRoot()) jobs.keepalived = started(() => runKeepalivedChecks(keepalived));
        await Promise.all(Object.values(jobs));
    });
    after(() => fs.rmSync(scratch, { recursive: true, force: true }));

    it("renders a bootstrap for both workers of every shipped stack and edition", () => {
        assert.strictEqual(cases.length, listStacks().length * (EDITIONS.length * STORAGE.length + 1) * 2);
        assert.strictEqual(cases.filter((c) => cloudInitFiles(c.bootstrap.cloudInit).some((f) => f.path.endsWith("/vip-mover.py"))).length, listStacks().length * 2);
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

    it("python3 compiles every Python file (the role probe, the VIP mover)", async function () {
        requireTools(this, "python3");
        assert.strictEqual(inputs.python.length, 2, inputs.python.map((p) => p.label).join(", "));
        const r = await result(jobs.pyCompile);
        assert.strictEqual(r.status, 0, `${inputs.python.map((p) => p.label).join(", ")}: ${r.stderr}`);
    });

    it("keepalived accepts every keepalived.conf (keepalived -t), on an interface like the cloud's", async function () {
        requireTools(this, "keepalived", "unshare", "ip");
        if (!isRoot()) {
            if (process.env.CI === "true") throw new Error("keepalived -t needs root for a private network namespace");
            console.log("      SKIPPED (needs root for a private network namespace)");
            this.skip();
        }
        assert.strictEqual(keepalived.reduce((n, check) => n + check.labels.length, 0), cases.length, "every case is checked");
        assert.ok(keepalived.length >= listStacks().length * 2, `${keepalived.length} distinct keepalived.conf checks`);
        for (const { check, status, output } of await result(jobs.keepalived)) {
            assert.strictEqual(status, "0", `${check.labels.join(", ")}: keepalived -t exited ${status}:\n${output}`);
        }
    });
});
