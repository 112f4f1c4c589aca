/**
 * The rolling rebuild's decisions (automation/rolling-rebuild.ts), against a model of the pair
 * that answers its scripts as a worker does: which worker goes first, what it waits for, and
 * where it stops. The procedure itself runs on booted machines in the drill (scenario 15,
 * rolling-rebuild), where the switchover, the replaced machines and the kept data disks are real.
 */
import * as assert from "assert";
import * as path from "path";
import { RollingRebuildError, WorkerName, handoverScript, parseStatus, rollingRebuild, statusScript } from "../automation/rolling-rebuild";
import { parseRollingArgs } from "../tools/rolling-rebuild";
import { runProcess } from "./tools";

interface ModelWorker {
    role: string;
    /** Status polls left before a replaced worker has booted and its guard reports. */
    bootingPolls: number;
    iguanaHealthy: boolean;
    answers: boolean;
}

/** The pair as its workers answer the procedure's two scripts; `steps` records what was done to it. */
class ModelPair {
    owner: string = "wk1";
    epoch = 7;
    readonly steps: string[] = [];
    readonly workers: Record<WorkerName, ModelWorker> = {
        wk1: { role: "MASTER", bootingPolls: 0, iguanaHealthy: true, answers: true },
        wk2: { role: "BACKUP", bootingPolls: 0, iguanaHealthy: true, answers: true },
    };
    /** Polls a replaced worker takes to boot. */
    bootPolls = 2;
    handoverWorks = true;
    /** Status polls after a handover before the new holder's role file says MASTER (it opens its ports first). */
    activationPolls = 0;
    private activating?: WorkerName;
    /** Called at each status answer (a test makes a failover happen in the middle). */
    onStatus: (worker: WorkerName) => void = () => undefined;

    commands = {
        run: async (worker: WorkerName, script: string) => {
            const w = this.workers[worker];
            if (!w.answers) throw new Error(`${worker}: the command timed out`);
            if (script === statusScript()) {
                this.onStatus(worker);
                if (this.activating === worker && this.activationPolls-- <= 0) {
                    this.workers[worker].role = "MASTER";
                    this.activating = undefined;
                }
                if (w.bootingPolls > 0) {
                    w.bootingPolls--;
                    return { exitCode: 0, output: "lease: Traceback (most recent call last)\nrole: \nguard: inactive\nsignals: \nbooted: no\n" };
                }
                const signals = JSON.stringify({ iguanaHealthy: w.iguanaHealthy, leaseStoreReachable: true, at: 12.5 });
                return {
                    exitCode: 0,
                    output: `lease: owner=${this.owner} epoch=${this.epoch} version=3\nrole: ${w.role}\nguard: active\nsignals: ${signals}\nbooted: yes\n`,
                };
            }
            if (script === handoverScript()) {
                this.steps.push(`handover on ${worker}`);
                const peer = worker === "wk1" ? "wk2" : "wk1";
                if (!this.handoverWorks || this.owner !== worker)
                    return { exitCode: 1, output: "the peer has not taken the lease; this worker takes it back once its hold-off ends" };
                this.owner = peer;
                this.epoch++;
                this.workers[worker].role = "BACKUP";
                if (this.activationPolls > 0) this.activating = peer;
                else this.workers[peer].role = "MASTER";
                return { exitCode: 0, output: `${peer} holds the lease (epoch ${this.epoch})\n` };
            }
            throw new Error(`unexpected script: ${script}`);
        },
    };

    replacer = {
        replace: async (worker: WorkerName) => {
            this.steps.push(`replace ${worker}`);
            assert.notStrictEqual(this.owner, worker, `${worker} replaced while it holds the lease`);
            this.workers[worker] = { ...this.workers[worker], role: "BACKUP", bootingPolls: this.bootPolls };
        },
        finish: async () => {
            this.steps.push("finish");
        },
    };
}

const fast = { pollMs: 1, readyTimeoutMs: 200 };

describe("rolling rebuild: the procedure's decisions", () => {
    it("from WK1 active: WK2 replaced and waited for, the lease handed over, WK1 replaced, workers.rebuild cleared", async () => {
        const pair = new ModelPair();
        const log: string[] = [];
        const result = await rollingRebuild({ commands: pair.commands, replacer: pair.replacer, ...fast, log: (l) => log.push(l) });
        assert.deepStrictEqual(pair.steps, ["replace wk2", "handover on wk1", "replace wk1", "finish"]);
        assert.deepStrictEqual([result.rebuilt, result.active, result.stoppedBecause], [["wk2", "wk1"], "wk2", undefined]);
        assert.ok(result.switchoverMs !== undefined);
        assert.ok(
            log.some((l) => l === "wk2 is a ready standby"),
            log.join("\n"),
        );
    });

    it("the new holder turns active a moment after the handover command returned: it is waited for", async () => {
        const pair = new ModelPair();
        pair.activationPolls = 3;
        const result = await rollingRebuild({ commands: pair.commands, replacer: pair.replacer, ...fast });
        assert.deepStrictEqual(pair.steps, ["replace wk2", "handover on wk1", "replace wk1", "finish"]);
        assert.strictEqual(result.active, "wk2");
    });

    it("after a failover (WK2 active): WK1, the passive one, goes first", async () => {
        const pair = new ModelPair();
        pair.owner = "wk2";
        pair.workers.wk1.role = "BACKUP";
        pair.workers.wk2.role = "MASTER";
        const result = await rollingRebuild({ commands: pair.commands, replacer: pair.replacer, ...fast });
        assert.deepStrictEqual(pair.steps, ["replace wk1", "handover on wk2", "replace wk2", "finish"]);
        assert.strictEqual(result.active, "wk1");
    });

    it("nobody holds the lease, or its holder is not active: nothing is replaced", async () => {
        for (const broken of [
            (p: ModelPair) => (p.owner = "NONE"),
            (p: ModelPair) => (p.workers.wk1.role = "FAULT"),
            (p: ModelPair) => {
                p.workers.wk1.answers = false;
                p.workers.wk2.answers = false;
            },
        ]) {
            const pair = new ModelPair();
            broken(pair);
            await assert.rejects(rollingRebuild({ commands: pair.commands, replacer: pair.replacer, ...fast }), (error: RollingRebuildError) => {
                assert.match(error.message, /fix the cluster before rebuilding/);
                assert.deepStrictEqual(error.rebuilt, []);
                return true;
            });
            assert.deepStrictEqual(pair.steps, []);
        }
    });

    it("a rebuilt worker whose Iguana never turns healthy: it stops there, with the active worker untouched and serving", async () => {
        const pair = new ModelPair();
        const replace = pair.replacer.replace;
        pair.replacer.replace = async (worker) => {
            await replace(worker);
            pair.workers[worker].iguanaHealthy = false;
        };
        await assert.rejects(rollingRebuild({ commands: pair.commands, replacer: pair.replacer, ...fast }), (error: RollingRebuildError) => {
            assert.match(error.message, /^wk2 is not a ready standby .* Iguana not healthy.*wk1 serves on/);
            assert.deepStrictEqual(error.rebuilt, ["wk2"]);
            return true;
        });
        assert.deepStrictEqual(pair.steps, ["replace wk2"]);
        assert.strictEqual(pair.owner, "wk1");
    });

    it("waits for the rebuilt worker's boot: no switchover while it is still booting", async () => {
        const pair = new ModelPair();
        pair.bootPolls = 5;
        const seenBooting: boolean[] = [];
        pair.onStatus = (worker) => {
            if (worker === "wk2") seenBooting.push(pair.workers.wk2.bootingPolls > 0);
            if (pair.steps.includes("handover on wk1") && pair.steps.length === 2) assert.strictEqual(pair.workers.wk2.bootingPolls, 0);
        };
        await rollingRebuild({ commands: pair.commands, replacer: pair.replacer, ...fast });
        assert.ok(seenBooting.filter(Boolean).length >= 5, "it asked while WK2 was booting");
    });

    it("a failover while it waited: the worker now holding the lease is not replaced", async () => {
        const pair = new ModelPair();
        pair.onStatus = () => {
            // WK1 dies once WK2 is back; WK2 takes over.
            if (pair.steps.length === 1 && pair.workers.wk2.bootingPolls === 0 && pair.owner === "wk1") {
                pair.owner = "wk2";
                pair.workers.wk2.role = "MASTER";
                pair.workers.wk1.role = "FAULT";
            }
        };
        await assert.rejects(rollingRebuild({ commands: pair.commands, replacer: pair.replacer, ...fast }), (error: RollingRebuildError) => {
            assert.match(error.message, /^wk1 lost the lease while wk2 came back, and wk2 \(rebuilt\) serves now/);
            assert.deepStrictEqual(error.rebuilt, ["wk2"]);
            return true;
        });
        assert.deepStrictEqual(pair.steps, ["replace wk2"], "neither a handover from the failed worker nor a second replacement");
    });

    it("a handover the peer does not take: it stops before replacing the worker that still holds the lease", async () => {
        const pair = new ModelPair();
        pair.handoverWorks = false;
        await assert.rejects(rollingRebuild({ commands: pair.commands, replacer: pair.replacer, ...fast }), /the switchover did not complete \(the peer has not taken the lease/);
        assert.deepStrictEqual(pair.steps, ["replace wk2", "handover on wk1"]);
    });

    it("a switchover not confirmed: it stops with WK1 serving and WK2 rebuilt", async () => {
        const pair = new ModelPair();
        const asked: WorkerName[] = [];
        const result = await rollingRebuild({ commands: pair.commands, replacer: pair.replacer, ...fast, confirmSwitchover: async (to) => (asked.push(to), false) });
        assert.deepStrictEqual([asked, pair.steps, result.rebuilt, result.active], [["wk2"], ["replace wk2"], ["wk2"], "wk1"]);
        assert.match(result.stoppedBecause!, /not confirmed/);
    });

    it("reads a worker's answer: the lease guard's show line, the role file, the guard's unit and report", () => {
        assert.deepStrictEqual(
            parseStatus(
                `lease: owner=wk2 epoch=12 version=5\nrole: BACKUP\nguard: active\nsignals: {"iguanaHealthy": true, "leaseStoreReachable": false, "at": 1.5}\nbooted: yes\n`,
            ),
            { owner: "wk2", epoch: 12, role: "BACKUP", guardActive: true, iguanaHealthy: true, leaseStoreReachable: false, booted: true },
        );
        assert.deepStrictEqual(parseStatus("lease: botocore.exceptions.EndpointConnectionError\nrole: \nguard: activating\nsignals: {\nbooted: no\n"), {
            guardActive: false,
            iguanaHealthy: false,
            leaseStoreReachable: false,
            booted: false,
        });
    });
});

describe("npm run rolling-rebuild", function () {
    this.timeout(60000);

    it("takes --stack and --yes, and says what it needs when either is wrong", () => {
        assert.deepStrictEqual(parseRollingArgs(["--stack", "aws-prod"]), { stack: "aws-prod", yes: false });
        assert.deepStrictEqual(parseRollingArgs(["--yes", "--stack", "azure-prod"]), { stack: "azure-prod", yes: true });
        assert.throws(() => parseRollingArgs([]), /--stack is required\nusage: npm run rolling-rebuild -- --stack <stack> \[--yes\]/);
        assert.throws(() => parseRollingArgs(["--stack"]), /--stack needs a stack name/);
        assert.throws(() => parseRollingArgs(["--stack", "aws-prod", "--force"]), /unknown argument --force/);
    });

    it("without the Pulumi CLI it stops before touching anything, saying how to install it", async () => {
        const root = path.resolve(__dirname, "..");
        const { status, stderr } = await runProcess(
            process.execPath,
            [require.resolve("ts-node/dist/bin.js"), "--transpile-only", "tools/rolling-rebuild.ts", "--stack", "aws-prod", "--yes"],
            {
                cwd: root,
                env: { ...process.env, PATH: path.dirname(process.execPath) },
            },
        );
        assert.strictEqual(status, 1, stderr);
        assert.match(stderr, /^rolling rebuild: .*Pulumi CLI/m);
    });

    it("without --yes and without a terminal to ask in, it stops before touching anything", async () => {
        const root = path.resolve(__dirname, "..");
        const { status, stderr } = await runProcess(
            process.execPath,
            [require.resolve("ts-node/dist/bin.js"), "--transpile-only", "tools/rolling-rebuild.ts", "--stack", "aws-prod"],
            { cwd: root },
        );
        assert.strictEqual(status, 1, stderr);
        assert.match(stderr, /no terminal to ask before the switchover: run it in a terminal, or pass --yes/);
    });
});
