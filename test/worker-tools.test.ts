/**
 * Every file a worker runs, for every shipped stack and both editions, checked by the tool that
 * will run it: cloud-init, keepalived, bash (shellcheck) and python3.
 */
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
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
import { isRoot, requireTools, runProcess } from "./tools";

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

function run(command: string, args: string[], input?: string) {
    return spawnSync(command, args, { encoding: "utf8", input, timeout: 60000 });
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

function validateCloudConfigs(files: string[]): Map<string, string> {
    const python = fs.readFileSync(execFileSync("sh", ["-c", "command -v cloud-init"], { encoding: "utf8" }).trim(), "utf8").split("\n")[0].replace(/^#!\s*/, "").split(" ")[0];
    const result = run(python, ["-c", CLOUD_INIT_BATCH_VALIDATOR, ...files]);
    assert.strictEqual(result.status, 0, `the cloud-init validator failed: ${result.stderr}`);
    // the validator may print its own report first: the verdicts are the last line
    const last = result.stdout.trim().split("\n").pop() ?? "{}";
    return new Map(Object.entries(JSON.parse(last) as Record<string, string>));
}

/** Runs every job, as many at once as there are cores: cloud-init and keepalived start slowly. */
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

describe("worker files checked by the real tools", function () {
    this.timeout(180000);
    let cases: Case[];
    let scratch: string;

    before(async () => {
        cases = await renderAll();
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-worker-files-"));
    });
    after(() => fs.rmSync(scratch, { recursive: true, force: true }));

    it("renders a bootstrap for both workers of every shipped stack and edition", () => {
        assert.strictEqual(cases.length, listStacks().length * (EDITIONS.length * STORAGE.length + 1) * 2);
        assert.strictEqual(cases.filter((c) => cloudInitFiles(c.bootstrap.cloudInit).some((f) => f.path.endsWith("/vip-mover.py"))).length, listStacks().length * 2);
    });

    it("cloud-init accepts every user data (cloud-init schema)", async function () {
        requireTools(this, "cloud-init");
        const files = cases.map((c) => {
            const file = path.join(scratch, `${c.label.replace(/\//g, "_")}.yaml`);
            fs.writeFileSync(file, c.bootstrap.cloudInit);
            return file;
        });
        // One file through the command itself; all of them through the same validator in one
        // process (the command spends half a second importing cloud-init for each file).
        const cli = run("cloud-init", ["schema", "--config-file", files[0]]);
        assert.strictEqual(cli.status, 0, `${cases[0].label}: ${cli.stdout}${cli.stderr}`);
        assert.match(cli.stdout, /Valid cloud-config/);
        const verdicts = validateCloudConfigs(files);
        cases.forEach((c, i) => assert.strictEqual(verdicts.get(files[i]), "valid", `${c.label}: ${verdicts.get(files[i])}`));
    });

    it("the batch validator is cloud-init's: it refuses what cloud-init schema refuses", function () {
        requireTools(this, "cloud-init");
        const bad = path.join(scratch, "bad.yaml");
        fs.writeFileSync(bad, "#cloud-config\nruncmd: 5\nwrite_files:\n  - content: x\n");
        const cli = run("cloud-init", ["schema", "--config-file", bad]);
        assert.notStrictEqual(cli.status, 0, "the command refuses it");
        const verdict = validateCloudConfigs([bad]).get(bad) ?? "";
        assert.match(verdict, /runcmd/);
        assert.match(verdict, /write_files/);
    });

    it("shellcheck passes every shell script", function () {
        requireTools(this, "shellcheck");
        const distinct = new Map<string, string>();
        for (const c of cases) {
            for (const f of cloudInitFiles(c.bootstrap.cloudInit).filter((f) => f.path.endsWith(".sh"))) {
                const digest = crypto.createHash("sha256").update(f.content).digest("hex");
                if (distinct.has(digest)) continue;
                assert.ok(f.content.startsWith("#!/bin/bash\n"), `${c.label} ${f.path} has a bash shebang`);
                const file = path.join(scratch, `${c.label.replace(/\//g, "_")}_${path.basename(f.path, ".sh")}_${digest.slice(0, 8)}.sh`);
                fs.writeFileSync(file, f.content);
                distinct.set(digest, file);
            }
        }
        assert.ok(distinct.size >= 7, `checked ${distinct.size} distinct scripts`);
        // one shellcheck over every file: it names each file in its findings
        const result = run("shellcheck", ["--shell=bash", "--severity=style", ...distinct.values()]);
        assert.strictEqual(result.status, 0, `${result.stdout}${result.stderr}`);
    });

    it("python3 compiles every Python file (the role probe, the VIP mover)", function () {
        requireTools(this, "python3");
        const distinct = new Map<string, string>();
        for (const c of cases) {
            for (const f of cloudInitFiles(c.bootstrap.cloudInit).filter((f) => f.path.endsWith(".py"))) distinct.set(f.content, `${c.label} ${f.path}`);
        }
        assert.strictEqual(distinct.size, 2, [...distinct.values()].join(", "));
        const files = [...distinct].map(([content], i) => {
            const file = path.join(scratch, `compile-${i}.py`);
            fs.writeFileSync(file, content);
            return file;
        });
        const result = run("python3", ["-c", "import py_compile, sys\nfor f in sys.argv[1:]: py_compile.compile(f, doraise=True)", ...files]);
        assert.strictEqual(result.status, 0, `${[...distinct.values()].join(", ")}: ${result.stderr}`);
    });

    it("keepalived accepts every keepalived.conf (keepalived -t), on an interface like the cloud's", async function () {
        requireTools(this, "keepalived", "unshare", "ip");
        if (!isRoot()) {
            if (process.env.CI === "true") throw new Error("keepalived -t needs root for a private network namespace");
            console.log("      SKIPPED (needs root for a private network namespace)");
            this.skip();
        }
        // keepalived -t parses the configuration (and what it includes) and checks that each
        // script it names exists with safe ownership and modes; it does not read the scripts. So
        // cases whose configuration, interface and file paths and modes agree are one check.
        const checks = new Map<string, { labels: string[]; root: string; conf: string; iface: string; selfIp: string }>();
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
            // The file exactly as shipped, with its absolute paths moved under a scratch root.
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
        assert.strictEqual([...checks.values()].reduce((n, check) => n + check.labels.length, 0), cases.length);
        // One private network namespace per core, each holding the interfaces and addresses its
        // share of the checks names, and one `keepalived -t` per check.
        const distinct = [...checks.values()];
        const shares = Array.from({ length: Math.min(distinct.length, Math.max(1, os.cpus().length)) }, (_, core) => distinct.filter((_, i) => i % os.cpus().length === core));
        const runs = await onEveryCore(shares, (share) => {
            const lines = ["set -eu"];
            const interfaces = [...new Set(share.map((check) => check.iface))];
            interfaces.forEach((iface, i) => lines.push(`ip link add ${iface} type veth peer name peer${i}`, `ip link set ${iface} up`));
            for (const address of new Set(share.map((check) => `${check.selfIp}/24 dev ${check.iface}`))) lines.push(`ip addr add ${address}`);
            for (const check of share) lines.push(`keepalived -t -f ${check.conf} > ${check.root}/keepalived-t.out 2>&1 && echo 0 > ${check.root}/keepalived-t.status || echo $? > ${check.root}/keepalived-t.status`);
            return runProcess("unshare", ["--net", "bash", "-c", lines.join("\n")]);
        });
        runs.forEach((r) => assert.strictEqual(r.status, 0, `setting up the namespace failed: ${r.stdout}${r.stderr}`));
        assert.ok(distinct.length >= listStacks().length * 2, `${distinct.length} distinct keepalived.conf checks`);
        for (const check of distinct) {
            const status = fs.readFileSync(path.join(check.root, "keepalived-t.status"), "utf8").trim();
            const output = fs.readFileSync(path.join(check.root, "keepalived-t.out"), "utf8");
            assert.strictEqual(status, "0", `${check.labels.join(", ")}: keepalived -t exited ${status}:\n${output}`);
        }
    });
});
