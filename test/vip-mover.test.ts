/**
 * The floating-VIP mover (components/bootstrap/vip-mover.py) run by real python3 against the
 * stand-in cloud API (drill/cloud-api.ts): the calls it makes on each cloud, that it signs
 * them correctly, and what it does when it is not MASTER, when the move is slow and when the
 * peer holds the VIP. Python takes a third of a second to start here, so one Python process
 * imports the mover once and forks a process per step that runs its `main` as the command line
 * does; the scenarios run side by side in `before`, each with its own stand-in and scratch
 * directory, and each `it` checks one.
 */
import * as assert from "assert";
import { ChildProcessWithoutNullStreams, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { validateClusterConfig } from "../components/config";
import { planNetwork, planWorkers } from "../components/model";
import { BootstrapSettings, WORKER_PATHS, WorkerPaths, bootstrapSettings, renderVipConfig } from "../components/bootstrap";
import { ApiCall, AwsCredentials, FakeCloudApi, FakeCloudOptions } from "../drill/cloud-api";
import { ProcessResult, hasTool, requireTools } from "./tools";

const MOVER = path.join(__dirname, "..", "components", "bootstrap", "vip-mover.py");
const CREDENTIALS: AwsCredentials = { AccessKeyId: "ASIAEXAMPLEKEYID", SecretAccessKey: "example/secret+key", Token: "session-token-example" };
const ALLOCATION = "eipalloc-0123456789abcdef0";
const RG = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Network";
const PUBLIC_IP_ID = `${RG}/publicIPAddresses/c-vip`;
const NIC_ID = { wk1: `${RG}/networkInterfaces/c-wk1-nic`, wk2: `${RG}/networkInterfaces/c-wk2-nic` };
type Cloud = "aws" | "azure";
type Worker = "wk1" | "wk2";

/**
 * Reads one JSON step per line ({id, config, action} or {id, code}) and forks a child for each:
 * the child points its stdout and stderr at files and runs the mover's `main` as its command
 * line would (or the code, with `mover` in scope), in its own process; the parent answers one
 * JSON line per step as its child exits. Steps of different scenarios run side by side.
 */
const STEP_RUNNER = `
import importlib.util, json, os, select, sys, tempfile, time, traceback
spec = importlib.util.spec_from_file_location("mover", sys.argv[1])
mover = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mover)
scratch = tempfile.mkdtemp(prefix="vip-mover-steps-")

def run_in_child(step):
    for fd, suffix in ((1, "out"), (2, "err")):
        os.dup2(os.open(os.path.join(scratch, f"{step['id']}.{suffix}"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    status = 70
    try:
        if "code" in step:
            exec(step["code"], {"mover": mover})
            status = 0
        else:
            status = mover.main([sys.argv[1], step["config"], step["action"]])
    except SystemExit as e:
        status = e.code
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status if isinstance(status, int) else (0 if status is None else 1))

def answer(step_id, status):
    output = {}
    for suffix in ("out", "err"):
        name = os.path.join(scratch, f"{step_id}.{suffix}")
        with open(name, encoding="utf-8") as handle:
            output[suffix] = handle.read()
        os.remove(name)
    print(json.dumps({"id": step_id, "status": status, "stdout": output["out"], "stderr": output["err"]}), flush=True)

running, pending, reading = {}, b"", True
while reading or running:
    if reading and select.select([0], [], [], 0.01)[0]:
        chunk = os.read(0, 65536)
        reading = bool(chunk)
        pending += chunk
        while b"\\n" in pending:
            line, pending = pending.split(b"\\n", 1)
            step = json.loads(line)
            pid = os.fork()
            if pid == 0:
                run_in_child(step)
            running[pid] = step["id"]
    elif not reading:
        time.sleep(0.01)
    while running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        answer(running.pop(pid), os.waitstatus_to_exitcode(status))
os.rmdir(scratch)
`;

/** One Python interpreter (it takes a third of a second to start here) that forks a process per mover step. */
class MoverRunner {
    private child: ChildProcessWithoutNullStreams;
    private buffered = "";
    private nextId = 0;
    private waiting = new Map<number, (result: ProcessResult) => void>();
    private crashed = "";

    constructor() {
        this.child = spawn("python3", ["-c", STEP_RUNNER, MOVER]);
        this.child.stdout.setEncoding("utf8");
        this.child.stdout.on("data", (chunk: string) => {
            this.buffered += chunk;
            let newline: number;
            while ((newline = this.buffered.indexOf("\n")) >= 0) {
                const { id, ...result } = JSON.parse(this.buffered.slice(0, newline));
                this.buffered = this.buffered.slice(newline + 1);
                this.waiting.get(id)?.(result);
                this.waiting.delete(id);
            }
        });
        this.child.stderr.on("data", (chunk: Buffer) => (this.crashed += chunk.toString()));
    }

    /** `mover.py CONFIG ACTION`, in its own process. */
    run(config: string, action: string): Promise<ProcessResult> {
        return this.step({ config, action });
    }

    /** Python code with the mover module in scope as `mover`, in its own process. */
    exec(code: string): Promise<ProcessResult> {
        return this.step({ code });
    }

    private step(step: Record<string, string>): Promise<ProcessResult> {
        const id = this.nextId++;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`mover step ${JSON.stringify(step)} did not answer: ${this.crashed}`)), 50000);
            this.waiting.set(id, (result) => {
                clearTimeout(timer);
                resolve(result);
            });
            this.child.stdin.write(`${JSON.stringify({ id, ...step })}\n`);
        });
    }

    close(): Promise<void> {
        return new Promise((resolve) => {
            if (this.child.exitCode !== null) return resolve();
            this.child.once("exit", () => resolve());
            this.child.stdin.end();
        });
    }
}

/** One stand-in cloud and scratch directory; `as` runs the mover as one worker with a given keepalived state. */
class Scenario {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "vip-mover-"));
    readonly api: FakeCloudApi;
    /** Each worker calls the stand-in on its own port: that is how the stand-in tells them apart here. */
    private url: Record<Worker, string> = { wk1: "", wk2: "" };
    private ports = new Map<number, Worker>();

    /** `giveUpSeconds`: how long a claim keeps trying; short only where giving up is the point. */
    constructor(
        private readonly runner: MoverRunner,
        private readonly cloud: Cloud,
        extra: Partial<FakeCloudOptions> = {},
        private readonly giveUpSeconds = 30,
    ) {
        this.api = new FakeCloudApi({
            cloud,
            workers: [
                { name: "wk1", instanceId: "i-0aaaaaaaaaaaaaaa1", nicId: NIC_ID.wk1 },
                { name: "wk2", instanceId: "i-0bbbbbbbbbbbbbbb2", nicId: NIC_ID.wk2 },
            ],
            identify: (_address, localPort) => this.ports.get(localPort),
            aws: { allocationId: ALLOCATION, publicIp: "203.0.113.7", region: "eu-west-1", credentials: CREDENTIALS, role: "c-worker-role" },
            azure: { publicIpId: PUBLIC_IP_ID, ipConfigName: "primary", accessToken: "token-example", subnetId: `${RG}/virtualNetworks/v/subnets/s` },
            ...extra,
        });
    }

    async start(holder: Worker | undefined): Promise<this> {
        for (const worker of ["wk1", "wk2"] as const) {
            this.url[worker] = await this.api.listen("127.0.0.1");
            this.ports.set(Number(new URL(this.url[worker]).port), worker);
        }
        this.api.place(holder);
        return this;
    }

    /** Writes `self`'s state file and mover config (rendered as on a worker, pointed at the stand-in). */
    configFor(self: Worker, state: string): string {
        const cfg = validateClusterConfig(
            {
                cloud: this.cloud,
                region: this.cloud === "aws" ? "eu-west-1" : "westeurope",
                channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
                network: { allowedCidrs: ["198.51.100.0/24"] },
                tls: { enabled: false },
                failover: { strategy: "floating-ip" },
            },
            "test",
        );
        const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
        const [me, peer] = self === "wk1" ? [wk1, wk2] : [wk2, wk1];
        const paths: WorkerPaths = { ...WORKER_PATHS, runDir: path.join(this.dir, self, "run"), etcDir: path.join(this.dir, self, "etc") };
        const settings: BootstrapSettings = {
            ...bootstrapSettings(
                cfg,
                me,
                peer,
                {
                    dataDisk: this.cloud === "aws" ? { kind: "aws-ebs", volumeId: "vol-1" } : { kind: "azure-lun", lun: 0 },
                    vip:
                        this.cloud === "aws"
                            ? { kind: "aws-eip", allocationId: ALLOCATION, region: "eu-west-1" }
                            : { kind: "azure-public-ip", publicIpId: PUBLIC_IP_ID, selfNicId: NIC_ID[self], peerNicId: NIC_ID[peer.name], ipConfigName: "primary" },
                },
                paths,
            ),
            cloudApi: { imdsUrl: this.url[self], apiUrl: this.cloud === "aws" ? `${this.url[self]}/` : this.url[self] },
        };
        // Short waits so the scenarios stay quick; everything else as rendered for a worker.
        const config = { ...JSON.parse(renderVipConfig(settings)), retrySeconds: 0.2, giveUpAfterSeconds: this.giveUpSeconds };
        if (this.cloud === "azure") config.azure.pollSeconds = 0.1;
        fs.mkdirSync(paths.runDir, { recursive: true });
        fs.writeFileSync(path.join(paths.runDir, "state"), `${state}\n`);
        const file = path.join(this.dir, `${self}.json`);
        fs.writeFileSync(file, JSON.stringify(config));
        return file;
    }

    as(self: Worker, state: string, action: string): Promise<ProcessResult> {
        return this.runner.run(this.configFor(self, state), action);
    }

    marker(self: Worker): string {
        return path.join(this.dir, self, "run", "vip-claimed");
    }

    /** Cloud API calls, without the metadata ones. */
    calls(): ApiCall[] {
        return this.api.calls.filter((c) => !/^(PUT|GET) \/(latest|metadata)\//.test(c.action));
    }

    async done(): Promise<void> {
        await this.api.close();
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

describe("floating VIP mover (python3, against the stand-in cloud API)", function () {
    this.timeout(60000);
    const results: Record<string, any> = {};
    let runner: MoverRunner | undefined;

    before(async function () {
        if (!hasTool("python3")) return;
        const steps = (runner = new MoverRunner());
        const scenario = async (
            name: string,
            cloud: Cloud,
            extra: Partial<FakeCloudOptions>,
            holder: Worker | undefined,
            steps: (s: Scenario) => Promise<unknown>,
            giveUpSeconds?: number,
        ) => {
            const s = await new Scenario(runner!, cloud, extra, giveUpSeconds).start(holder);
            try {
                results[name] = await steps(s);
            } finally {
                await s.done();
            }
        };
        await Promise.all([
            steps
                .exec(
                    `
import datetime
from iguana_ha_cloud import sigv4_headers  # the tools' shared library, beside the mover
headers = sigv4_headers("GET", "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", "us-east-1", "iam",
    {"AccessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, b"",
    "application/x-www-form-urlencoded; charset=utf-8", datetime.datetime(2015, 8, 30, 12, 36, 0, tzinfo=datetime.timezone.utc))
print(headers["authorization"])
`,
                )
                .then((r) => (results.example = r)),
            scenario("awsClaim", "aws", {}, "wk1", async (s) => {
                const run = await s.as("wk2", "MASTER", "claim");
                return { run, holder: s.api.holder, calls: s.calls(), marker: fs.existsSync(s.marker("wk2")) };
            }),
            scenario(
                "awsWrongSecret",
                "aws",
                {
                    aws: {
                        allocationId: ALLOCATION,
                        publicIp: "203.0.113.7",
                        region: "eu-west-1",
                        credentials: CREDENTIALS,
                        role: "r",
                        handOut: { ...CREDENTIALS, SecretAccessKey: "not-the-key" },
                    },
                },
                undefined,
                async (s) => {
                    const run = await s.as("wk2", "MASTER", "claim");
                    return { run, holder: s.api.holder, calls: s.calls() };
                },
                1,
            ),
            scenario("awsNotMaster", "aws", {}, "wk1", async (s) => {
                const backupClaim = await s.as("wk2", "BACKUP", "claim");
                const afterBackupClaim = { holder: s.api.holder, calls: s.calls().length };
                const nonHolderRelease = await s.as("wk2", "BACKUP", "release");
                const afterNonHolderRelease = { holder: s.api.holder, calls: s.calls().map((c) => c.action) };
                const holderRelease = await s.as("wk1", "FAULT", "release");
                return { backupClaim, afterBackupClaim, nonHolderRelease, afterNonHolderRelease, holderRelease, holder: s.api.holder, calls: s.calls() };
            }),
            scenario("awsSlowMove", "aws", { moveDelayMs: 600 }, "wk1", async (s) => {
                const run = await s.as("wk2", "MASTER", "claim");
                return { run, holder: s.api.holder, calls: s.calls() };
            }),
            scenario("azureClaim", "azure", { moveDelayMs: 300 }, "wk1", async (s) => {
                const run = await s.as("wk2", "MASTER", "claim");
                return { run, holder: s.api.holder, calls: s.calls() };
            }),
            scenario("azureRelease", "azure", {}, "wk2", async (s) => {
                await s.as("wk1", "BACKUP", "release");
                const afterNonHolder = s.api.holder;
                const run = await s.as("wk2", "BACKUP", "release");
                const holderNow = await s.as("wk1", "BACKUP", "holder");
                return { afterNonHolder, run, holder: s.api.holder, holderNow: holderNow.stdout.trim() };
            }),
            scenario("reconcile", "aws", {}, undefined, async (s) => {
                const vacant = await s.as("wk2", "MASTER", "reconcile");
                const afterVacant = { holder: s.api.holder, marker: fs.existsSync(s.marker("wk2")) };
                s.api.place("wk1"); // the peer, also MASTER (the link between them is cut), took it since
                const splitBrain = await s.as("wk2", "MASTER", "reconcile");
                const afterSplitBrain = s.api.holder;
                fs.rmSync(s.marker("wk2")); // this worker's claim never succeeded
                const failedClaim = await s.as("wk2", "MASTER", "reconcile");
                return { vacant, afterVacant, splitBrain, afterSplitBrain, failedClaim, holder: s.api.holder };
            }),
        ]);
    });
    after(async () => {
        await runner?.close();
    });
    beforeEach(function () {
        requireTools(this, "python3");
    });

    it("signs with Signature Version 4 exactly as AWS's published example (IAM ListUsers, 2015-08-30)", () => {
        // AWS General Reference, "Examples of the complete Signature Version 4 signing process".
        assert.strictEqual(results.example.status, 0, results.example.stderr);
        assert.strictEqual(
            results.example.stdout.trim(),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, " +
                "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        );
    });

    it("AWS: a new MASTER takes the Elastic IP from the old one with a signed AssociateAddress that allows reassociation", () => {
        const r = results.awsClaim;
        assert.strictEqual(r.run.status, 0, r.run.stderr);
        assert.strictEqual(r.holder, "wk2");
        assert.deepStrictEqual(
            r.calls.map((c: ApiCall) => [c.action, c.status]),
            [
                ["DescribeAddresses", 200],
                ["AssociateAddress", 200],
                ["DescribeAddresses", 200],
            ],
        );
        assert.match(r.run.stderr, /took the VIP/);
        assert.ok(r.marker, "the claim is recorded for the reconcile timer");
    });

    it("AWS: calls signed with another key are refused (the stand-in's signature check can fail); the mover retries, then gives up", () => {
        const r = results.awsWrongSecret;
        assert.strictEqual(r.run.status, 1);
        assert.strictEqual(r.holder, undefined);
        assert.ok(r.calls.length >= 2 && r.calls.every((c: ApiCall) => c.status === 403), JSON.stringify(r.calls));
        assert.match(r.run.stderr, /AuthFailure/);
        assert.match(r.run.stderr, /gave up after 1 s/);
    });

    it("AWS: a worker that is not MASTER takes nothing; a demoted holder lets go by association id; a non-holder changes nothing", () => {
        const r = results.awsNotMaster;
        assert.strictEqual(r.backupClaim.status, 0);
        assert.deepStrictEqual(r.afterBackupClaim, { holder: "wk1", calls: 0 });
        assert.strictEqual(r.nonHolderRelease.status, 0, r.nonHolderRelease.stderr);
        assert.deepStrictEqual(r.afterNonHolderRelease, { holder: "wk1", calls: ["DescribeAddresses"] });
        assert.strictEqual(r.holderRelease.status, 0, r.holderRelease.stderr);
        assert.strictEqual(r.holder, undefined);
        assert.deepStrictEqual(
            r.calls.slice(1).map((c: ApiCall) => [c.action, c.status]),
            [
                ["DescribeAddresses", 200],
                ["DisassociateAddress", 200],
            ],
        );
    });

    it("AWS: while the move propagates, the mover re-checks and asks again until the address is on this worker", () => {
        const r = results.awsSlowMove;
        assert.strictEqual(r.run.status, 0, r.run.stderr);
        assert.strictEqual(r.holder, "wk2");
        assert.match(r.run.stderr, /attempt 1: the VIP is not on this worker yet/);
        assert.ok(r.calls.filter((c: ApiCall) => c.action === "AssociateAddress").length >= 2);
    });

    it("Azure: a new MASTER detaches the Public IP from the peer's NIC, waits for that update, then attaches it to its own", () => {
        const r = results.azureClaim;
        assert.strictEqual(r.run.status, 0, r.run.stderr);
        assert.strictEqual(r.holder, "wk2");
        const actions: string[] = r.calls.map((c: ApiCall) => c.action);
        assert.deepStrictEqual(
            r.calls.filter((c: ApiCall) => c.action.startsWith("PUT")).map((c: ApiCall) => [c.action, c.status]),
            [
                ["PUT networkInterface (detach)", 200],
                ["PUT networkInterface (attach)", 200],
            ],
        );
        // The attach is sent only once the detach has finished (the NIC read back as Succeeded).
        const between = actions.slice(actions.indexOf("PUT networkInterface (detach)") + 1, actions.indexOf("PUT networkInterface (attach)"));
        assert.ok(between.filter((a) => a === "GET networkInterface").length >= 2, actions.join(", "));
    });

    it("Azure: release detaches the Public IP only from this worker's own NIC; `holder` tells an operator who has it", () => {
        const r = results.azureRelease;
        assert.strictEqual(r.afterNonHolder, "wk2");
        assert.strictEqual(r.run.status, 0, r.run.stderr);
        assert.strictEqual(r.holder, undefined);
        assert.strictEqual(r.holderNow, "none");
    });

    it("reconcile: takes a VIP nobody holds, takes it back after a failed claim, but never fights a peer it already lost it to", () => {
        const r = results.reconcile;
        assert.strictEqual(r.vacant.status, 0, r.vacant.stderr);
        assert.deepStrictEqual(r.afterVacant, { holder: "wk2", marker: true });
        assert.strictEqual(r.splitBrain.status, 1);
        assert.strictEqual(r.afterSplitBrain, "wk1");
        assert.match(r.splitBrain.stderr, /split brain/);
        assert.strictEqual(r.failedClaim.status, 0, r.failedClaim.stderr);
        assert.strictEqual(r.holder, "wk2");
    });
});
