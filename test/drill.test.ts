/**
 * The failover drill's pure parts: the stack config it reads, the scenarios and the budget each
 * is held to, the emulated LB's configuration, the worker files it renders (the lease guard's
 * among them), and the analysis of ACKs against journals. The drill itself (`npm run drill`,
 * root) is a separate command.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import {
    CLOUD_LIBRARY_SOURCE,
    LEASE_GUARD_SOURCE,
    PEER_FENCE_SOURCE,
    ROLE_PROBE_SOURCE,
    VIP_MOVER_SOURCE,
    WORKER_PATHS,
    bootstrapSettings,
    leaseTiming,
    renderCheckIguanaScript,
    renderLeaseConfig,
    renderLeaseGuardUnit,
    renderLlpGateScript,
    renderNotifyScript,
    renderPeerFenceConfig,
    renderVipConfig,
    vipMoverCommand,
} from "../components/bootstrap";
import { ClusterConfig, validateClusterConfig } from "../components/config";
import { CLOUD_LIMITS } from "../components/constants";
import { renderIguanaServiceScript } from "../components/bootstrap";
import { planNetwork, planWorkers } from "../components/model";
import { duplicateCount, longestGap, lostMessages, misattributedAcks, orderViolations, analyse, sequenceOf } from "../drill/analysis";
import { AwsCredentials, FakeCloudApi } from "../drill/cloud-api";
import { renderHaproxyConfig } from "../drill/haproxy";
import { DRILL_VIP, cloudApiServerConfig, reconcileTimer as parseReconcileTimer, summariseCalls, vipPlacementCommands, workerAt } from "../drill/floating";
import { faultDelaysMs, parseDrillArgs, scenarioSlot, vipMoveText, withFailoverStrategy, withQueueRecovery, withoutTls } from "../drill/index";
import { runScenarioIsolated } from "../drill/scenario-process";
import { Monitor, parseShowStat, routes } from "../drill/monitor";
import { DRILL_ADDRESSES } from "../drill/addresses";
import { WORKER_INTERFACE, drillLease, drillPeerFence, drillSettings, drillVip, drillWorkerPaths, drillWorkers } from "../drill/plan";
import { exitCode, failureLogTails, renderFailures, renderTable } from "../drill/report";
import {
    ScenarioResult,
    SLOW_STORE_DELAY_MS,
    acksOf,
    effectiveExpectation,
    failedResult,
    interleavedAcks,
    isActive,
    ridesOutSlowStore,
    scenarioBudget,
    SCENARIOS,
    StackRun,
    unsettledProblems,
    workerOfAck,
} from "../drill/scenario";
import { controlId, monotonicMs } from "../drill/sender";
import { AWS_EIP_MOVE_DELAY_MS, failoverBudget, floatingBudget, lbTiming, takeoverMs, vipMoveMs, vipMoveTiming } from "../drill/timing";
import { SYSTEMD_DEFAULT_PATH, activeByLease, leaseGuardArgs, renderDrillSystemctl, workerFiles, workerReconcileTimer } from "../drill/worker";
import { readJournalEntries } from "../drill/standin";
import { loadStackClusterConfig, rawClusterConfig, readStackConfig } from "../offline/stack-config";
import { signedAwsPost } from "./aws-signing";
import { requireTools } from "./tools";

const awsDev = withoutTls(loadStackClusterConfig("aws-dev"));

function withFailover(intervalSeconds: number, threshold: number, cloud: "aws" | "azure" = "aws") {
    return validateClusterConfig(
        {
            cloud,
            region: cloud === "aws" ? "us-east-1" : "eastus2",
            channels: [
                { name: "adt-in", protocol: "llp", port: 2575 },
                { name: "orm-in", protocol: "llp", port: 2576 },
                { name: "api", protocol: "http", port: 8080 },
            ],
            network: { allowedCidrs: ["198.51.100.0/24"] },
            failover: { healthCheckIntervalSeconds: intervalSeconds, unhealthyThreshold: threshold },
        },
        "test",
    );
}

describe("drill: the stack config it runs with", () => {
    it("reads aws-dev's keys like the program does (JSON values parsed, region as text)", () => {
        const raw = rawClusterConfig(readStackConfig("aws-dev"));
        assert.strictEqual(raw.cloud, "aws");
        assert.strictEqual(raw.region, "us-east-1");
        assert.deepStrictEqual(raw.failover, { healthCheckIntervalSeconds: 10, unhealthyThreshold: 2, idleTimeoutSeconds: 1800 });
        assert.ok(Array.isArray(raw.channels));
    });

    it("validates it with defaults filled in", () => {
        assert.strictEqual(awsDev.failover.healthCheckIntervalSeconds, 10);
        assert.strictEqual(awsDev.failover.unhealthyThreshold, 2);
        assert.strictEqual(awsDev.iguana.webPort, 7654);
    });

    it("uses the stack's interval, threshold and timeout; --fast shortens only the interval", () => {
        assert.deepStrictEqual(lbTiming(awsDev), { intervalSeconds: 10, threshold: 2, timeoutSeconds: 9, idleTimeoutSeconds: 1800 });
        assert.deepStrictEqual(lbTiming(awsDev, true), { intervalSeconds: 2, threshold: 2, timeoutSeconds: 2, idleTimeoutSeconds: 1800 });
        assert.strictEqual(lbTiming(withFailover(30, 5)).timeoutSeconds, 10);
    });

    it("drills every default stack whose file exists, azure-dev as soon as it is there", () => {
        assert.deepStrictEqual(parseDrillArgs([], (s) => s === "aws-dev").stacks, ["aws-dev"]);
        assert.deepStrictEqual(parseDrillArgs([], () => true).stacks, ["aws-dev", "azure-dev"]);
        assert.deepStrictEqual(
            parseDrillArgs(["--stack", "aws-prod", "--scenario", "1,4", "--fast"], () => false),
            {
                stacks: ["aws-prod"],
                fast: true,
                scenarios: [1, 4],
                parallel: 7,
                out: "drill-results",
                workDir: "/var/lib/iguana-drill",
                keep: false,
                booted: false,
                faultPhases: 1,
            },
        );
        assert.strictEqual(parseDrillArgs(["--booted"], () => true).booted, true);
        assert.throws(
            () => parseDrillArgs(["--booted", "--queue-recovery", "shared"], () => true),
            /--booted: booted machines run storage.queueRecovery none: this host's kernel has no NFS client/,
        );
        assert.strictEqual(parseDrillArgs(["--booted", "--failover-strategy", "floating-ip"], () => true).failoverStrategy, "floating-ip");
        assert.deepStrictEqual(parseDrillArgs([], () => true).scenarios, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], "every scenario by default");
        assert.deepStrictEqual(parseDrillArgs(["--scenario", "8,14"], () => true).scenarios, [8, 14]);
        assert.deepStrictEqual(parseDrillArgs(["--scenario", "10", "--scenario", "9,10"], () => true).scenarios, [10, 9], "a repeated --scenario adds, once each");
        assert.throws(() => parseDrillArgs(["--scenario", "16"], () => true), /no scenario 16 \(1-15\)/);
        assert.throws(() => parseDrillArgs(["--scenario", "0"], () => true), /no scenario 0/);
        assert.throws(() => parseDrillArgs(["--profile", "gcp"], () => true), /aws or azure/);
        assert.throws(() => parseDrillArgs([], () => false), /no stack file/);
    });

    it("--fault-phases N runs each scenario N times, the fault 1/N of an interval later each time", () => {
        assert.strictEqual(parseDrillArgs(["--fault-phases", "4"], () => true).faultPhases, 4);
        for (const bad of ["0", "11", "2.5", "x"]) assert.throws(() => parseDrillArgs(["--fault-phases", bad], () => true), /--fault-phases must be a whole number from 1 to 10/);
        assert.deepStrictEqual(faultDelaysMs(1, 5), [0]);
        assert.deepStrictEqual(faultDelaysMs(4, 5), [0, 1250, 2500, 3750]);
        assert.deepStrictEqual(faultDelaysMs(3, 10), [0, 3333, 6667]);
        const crash = SCENARIOS[0];
        const tags = [0, 1, 2, 3].map((phase, ordinal) => scenarioSlot(0, "aws", crash, ordinal, phase).tag);
        assert.deepStrictEqual(tags, ["0a1", "0a1p1", "0a1p2", "0a1p3"], "each phase has its own namespaces, logs and job file");
    });
});

describe("drill: the scenarios", () => {
    it("are numbered 1-15, each with its own key, a detection and what it must show", () => {
        assert.deepStrictEqual(
            SCENARIOS.map((s) => s.id),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        );
        assert.strictEqual(new Set(SCENARIOS.map((s) => s.key)).size, SCENARIOS.length, "keys are unique");
        for (const s of SCENARIOS) assert.match(s.key, /^[a-z0-9]+(-[a-z0-9]+)*$/, `scenario ${s.id}: a key for file names and the report`);
        assert.deepStrictEqual(
            SCENARIOS.map((s) => [s.key, s.detection, s.expect]),
            [
                ["crash", "expiry", "failover"],
                ["network-cut", "expiry", "failover"],
                ["guard-stop", "release", "failover"],
                ["iguana-dies", "health", "failover"],
                ["wk1-returns", "expiry", "failover"],
                ["split-brain", "expiry", "stay"],
                ["network-heals", "expiry", "failover"],
                ["lease-cut-wk1", "expiry", "failover"],
                ["lease-cut-both", "expiry", "none"],
                ["lease-slow", "expiry", "none"],
                ["wk1-frozen", "expiry", "failover"],
                ["guard-killed", "expiry", "either"],
                ["cold-start", "expiry", "cold-start"],
                ["switchover", "release", "failover"],
                ["rolling-rebuild", "release", "failover"],
            ],
        );
        // It replaces whole machines: booted ones only.
        assert.deepStrictEqual(
            SCENARIOS.filter((s) => s.bootedOnly).map((s) => s.key),
            ["rolling-rebuild"],
        );
        // WK1 returns (and must not take the lease back) only after a failover.
        for (const s of SCENARIOS.filter((s) => s.returns)) assert.strictEqual(s.expect, "failover", s.key);
        assert.deepStrictEqual(
            SCENARIOS.filter((s) => s.returns).map((s) => [s.key, s.returns]),
            [
                ["wk1-returns", "reboot"],
                ["network-heals", "heal"],
                ["lease-cut-wk1", "heal"],
                ["wk1-frozen", "thaw"],
            ],
        );
    });

    it("which lease rides out a slow store: its calls within L/3, and two delays within L/2", () => {
        assert.strictEqual(SLOW_STORE_DELAY_MS, 2500);
        // L = 3: a call gives up after 1 s, so 2.5 s-late answers are no answers.
        assert.strictEqual(ridesOutSlowStore(3, 2500), false);
        // L = 12: calls give up after 4 s; one at a time, the next success comes 5 s after a send, inside its 6 s.
        assert.strictEqual(ridesOutSlowStore(12, 2500), true);
        // L = 12, 3 s late: within the call timeout, but two delays (6 s) reach the deadline L/2 = 6 s.
        assert.strictEqual(ridesOutSlowStore(12, 3000), false);
        // L = 6: 1.6 s is within its 2 s call timeout, yet 3.2 s between successes passes its 3 s.
        assert.strictEqual(ridesOutSlowStore(6, 1600), false);
        assert.strictEqual(ridesOutSlowStore(6, 1000), true);
        assert.strictEqual(ridesOutSlowStore(3, 0), true, "a store on time");
    });

    it("lease-slow must show nobody active with the 3 s lease, WK1 staying with a 12 s one; the others as defined", () => {
        const slow = SCENARIOS.find((s) => s.key === "lease-slow")!;
        const twelve = { ...awsDev, failover: { ...awsDev.failover, leaseSeconds: 12 } };
        assert.strictEqual(effectiveExpectation(slow, awsDev), "none");
        assert.strictEqual(effectiveExpectation(slow, twelve), "stay");
        for (const s of SCENARIOS.filter((s) => s.key !== "lease-slow")) {
            assert.strictEqual(effectiveExpectation(s, awsDev), s.expect, s.key);
            assert.strictEqual(effectiveExpectation(s, twelve), s.expect, s.key);
        }
    });

    it("counts WK1's ACKs after WK2's first since the fault (and before the end): two acknowledging at once", () => {
        const acks = [
            { id: "ADT-000001", worker: "wk1", t: 0 },
            { id: "ADT-000002", worker: "wk1", t: 10 },
            { id: "ADT-000003", worker: "wk2", t: 20 },
            { id: "ADT-000004", worker: "wk1", t: 25 },
            { id: "ADT-000005", worker: "wk2", t: 30 },
            { id: "ADT-000006", worker: "wk1", t: 40 },
        ];
        assert.strictEqual(interleavedAcks(acks, 0), 2, "25 and 40 came after WK2's first at 20");
        assert.strictEqual(interleavedAcks(acks, 0, 30), 1, "only 25 before the end at 30");
        assert.strictEqual(interleavedAcks(acks, 21), 1, "WK2's first since 21 is at 30: only 40 follows");
        assert.strictEqual(interleavedAcks(acks, 31), 0, "no ACK from WK2 since 31");
        assert.strictEqual(
            interleavedAcks(
                acks.filter((a) => a.worker === "wk1"),
                0,
            ),
            0,
            "WK2 never acknowledged",
        );
        assert.strictEqual(
            interleavedAcks(
                [
                    { id: "ADT-000001", worker: "wk2", t: 5 },
                    { id: "ADT-000002", worker: "wk1", t: 5 },
                ],
                0,
            ),
            0,
            "at the same instant is not after",
        );
    });

    it("counts a worker active on any one sign: probe 200, the gate open with Iguana running, Iguana running on the shared queue, the VIP", () => {
        const cases: [Parameters<typeof isActive>[0], string, boolean, boolean][] = [
            [{}, "wk1", false, false],
            [{ probe: "200" }, "wk1", false, true],
            [{ probe: "503" }, "wk1", false, false],
            [{ probe: "503", gate: "open", iguana: "RUN" }, "wk1", false, true],
            [{ gate: "open" }, "wk1", false, false],
            [{ gate: "open", iguana: "STOPPED" }, "wk1", false, false],
            [{ gate: "closed", iguana: "RUN" }, "wk1", false, false],
            [{ gate: "closed", iguana: "RUN" }, "wk1", true, true],
            [{ vip: "wk1" }, "wk1", false, true],
            [{ vip: "wk2" }, "wk1", false, false],
            [{ vip: "none", probe: "503", gate: "closed", iguana: "STOPPED" }, "wk2", true, false],
        ];
        for (const [values, worker, shared, active] of cases)
            assert.strictEqual(isActive(values, worker, shared), active, `${worker} ${JSON.stringify(values)}${shared ? " shared" : ""}`);
    });
});

describe("drill: failover budget", () => {
    const L3 = leaseTiming(3);

    it("the takeover after each kind of fault, at the default 3 s lease", () => {
        // expiry: a whole lease from the last renewal, one read interval late at worst, one acquire call: 3000 + 500 + 1000.
        assert.strictEqual(takeoverMs("expiry", L3), 4500);
        // release: the peer's next read and one call: 500 + 1000.
        assert.strictEqual(takeoverMs("release", L3), 1500);
        // health: 2 failed checks 1 s apart, the last taking its 2 s timeout, then the release: 2 x 1000 + 2000 + 1500.
        assert.strictEqual(takeoverMs("health", L3), 5500);
        // A 12 s lease: 12000 + 2000 + 4000; a release 2000 + 4000.
        assert.strictEqual(takeoverMs("expiry", leaseTiming(12)), 18000);
        assert.strictEqual(takeoverMs("release", leaseTiming(12)), 6000);
    });

    it("adds interval x threshold and the sender's margin: aws-dev allows 29.7 s after a crash", () => {
        assert.strictEqual(awsDev.failover.leaseSeconds ?? 3, 3, "aws-dev runs the default lease");
        const budget = failoverBudget("expiry", L3, lbTiming(awsDev));
        // 4500 + 10 s x 2 + (3000 ACK timeout + 200 reconnect + 2000 slack)
        assert.deepStrictEqual(budget, { takeoverMs: 4500, lbMs: 20000, marginMs: 5200, iguanaStartMs: 0, totalMs: 29700 });
        assert.strictEqual(failoverBudget("release", L3, lbTiming(awsDev)).totalMs, 1500 + 20000 + 5200);
        assert.strictEqual(failoverBudget("health", L3, lbTiming(awsDev)).totalMs, 5500 + 20000 + 5200);
    });

    it("with shared storage, adds Iguana's start-up on the promoted worker", () => {
        const budget = failoverBudget("expiry", L3, lbTiming(awsDev), { iguanaStartMs: 6000 });
        assert.deepStrictEqual([budget.iguanaStartMs, budget.totalMs], [6000, 35700]);
    });

    it("adds one check timeout when WK1 goes silent (its checks fail only by timing out)", () => {
        const budget = failoverBudget("expiry", L3, lbTiming(awsDev), { silentPrimary: true });
        assert.strictEqual(budget.lbMs, 20000 + 9000);
        assert.strictEqual(budget.totalMs, 38700);
    });

    it("follows the stack's settings and its lease", () => {
        assert.strictEqual(failoverBudget("expiry", L3, lbTiming(withFailover(5, 3))).lbMs, 15000);
        assert.strictEqual(failoverBudget("expiry", leaseTiming(12), lbTiming(awsDev)).totalMs, 18000 + 20000 + 5200);
        const stack: StackRun = { stack: "aws-dev", cfg: { ...awsDev, failover: { ...awsDev.failover, leaseSeconds: 6 } }, profile: "aws", timing: lbTiming(awsDev), fast: false };
        // L = 6: 6000 + 1000 + 2000 after a crash.
        assert.strictEqual(scenarioBudget(SCENARIOS[0], stack).takeoverMs, 9000);
        assert.strictEqual(scenarioBudget(SCENARIOS[0], { ...stack, cfg: awsDev }).takeoverMs, 4500);
    });

    it("the prod stacks against the 12 s crash target: azure-prod's LB routes to the new holder within it at worst; aws-prod's cannot, at the NLB's floor", () => {
        // The budget's takeover and LB parts: the first check after the takeover (within one interval) and threshold - 1 more.
        const untilRouted = (cfg: ClusterConfig) => {
            const budget = failoverBudget("expiry", leaseTiming(cfg.failover.leaseSeconds), lbTiming(cfg));
            return budget.takeoverMs + budget.lbMs;
        };
        const azureProd = loadStackClusterConfig("azure-prod");
        const awsProd = loadStackClusterConfig("aws-prod");
        assert.ok(untilRouted(azureProd) <= 12000, `azure-prod: ${untilRouted(azureProd)} ms until the LB routes to WK2`);
        const awsFloor = CLOUD_LIMITS.aws;
        assert.deepStrictEqual(
            [awsProd.failover.healthCheckIntervalSeconds, awsProd.failover.unhealthyThreshold],
            [awsFloor.healthCheckIntervalSeconds.min, awsFloor.unhealthyThreshold.min],
        );
        assert.ok(untilRouted(awsProd) > 12000, `aws-prod: ${untilRouted(awsProd)} ms, as docs/failover.md says`);
    });
});

describe("drill: the emulated load balancer", () => {
    const workers = drillWorkers(withFailover(10, 3));
    const render = (profile: "aws" | "azure", cfg = withFailover(10, 3)) =>
        renderHaproxyConfig({ cfg, profile, timing: lbTiming(cfg), vip: DRILL_ADDRESSES.vip, workers, statsSocket: "/tmp/x.sock", connectTimeoutMs: 3000 });

    it("has one TCP frontend/backend per LLP channel, none for HTTP channels", () => {
        const text = render("aws");
        assert.match(text, /mode tcp/);
        assert.match(text, /bind 10\.251\.0\.1:2575/);
        assert.match(text, /bind 10\.251\.0\.1:2576/);
        assert.doesNotMatch(text, /8080/);
    });

    it("checks the role probe with the stack's interval and threshold", () => {
        const text = render("azure");
        assert.match(text, /option httpchk GET \/active/);
        assert.match(text, /http-check expect status 200/);
        assert.match(text, /server wk1 10\.251\.0\.11:2575 check port 7700 inter 10s fall 3 rise 3/);
        assert.match(text, /server wk2 10\.251\.0\.12:2575 check port 7700 inter 10s fall 3 rise 3/);
        assert.match(text, /timeout check 9s/);
        assert.match(text, /timeout client 3600s/);
    });

    it("aws: resets flows of an unhealthy target and fails open; azure: neither", () => {
        const aws = render("aws");
        assert.match(aws, /server wk1 .* on-marked-down shutdown-sessions/);
        assert.match(aws, /option allbackups/);
        assert.match(aws, /server wk2-failopen 10\.251\.0\.12:2576 backup\n/);
        const azure = render("azure");
        assert.doesNotMatch(azure, /shutdown-sessions/);
        assert.doesNotMatch(azure, /backup/);
    });

    it("is accepted by haproxy -c", function () {
        requireTools(this, "haproxy");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drill-haproxy-"));
        try {
            for (const profile of ["aws", "azure"] as const) {
                const file = path.join(dir, `${profile}.cfg`);
                fs.writeFileSync(file, render(profile).replace("/tmp/x.sock", path.join(dir, "s.sock")));
                execFileSync("haproxy", ["-c", "-q", "-f", file]);
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("drill: what the workers run is what the bootstrap renders", () => {
    const root = "/var/lib/iguana-drill/test";
    const [wk1, wk2] = drillSettings(awsDev, root);

    it("keeps the program's worker names and roles at the drill's addresses", () => {
        const planned = planWorkers(planNetwork(awsDev.network.cidr));
        const drilled = drillWorkers(awsDev);
        assert.deepStrictEqual(
            drilled.map(({ privateIp, ...rest }) => rest),
            planned.map(({ privateIp, ...rest }) => rest),
        );
        assert.deepStrictEqual(
            drilled.map((w) => w.privateIp),
            [DRILL_ADDRESSES.wk1, DRILL_ADDRESSES.wk2],
        );
    });

    /** The modes the drill runs: each dev stack as shipped, with shared storage, with a floating IP. */
    const modes = () =>
        ["aws-dev", "azure-dev"].flatMap((stack) => {
            const cfg = withoutTls(loadStackClusterConfig(stack));
            return [
                { label: stack, cfg },
                { label: `${stack}/shared`, cfg: withQueueRecovery(cfg, "shared") },
                { label: `${stack}/floating-ip`, cfg: withFailoverStrategy(cfg, "floating-ip") },
            ];
        });

    it("every mode's workers are given the drill's lease and the stand-in store's address", () => {
        for (const { label, cfg } of modes()) {
            for (const s of drillSettings(cfg, root)) {
                assert.deepStrictEqual(s.lease, drillLease(cfg), `${label} ${s.self.name}`);
                assert.deepStrictEqual(
                    s.cloudApi,
                    cfg.cloud === "aws"
                        ? { imdsUrl: "http://10.251.0.3:8169", apiUrl: "http://10.251.0.3:8169/", leaseUrl: "http://10.251.0.4:8170/" }
                        : { imdsUrl: "http://10.251.0.3:8169", apiUrl: "http://10.251.0.3:8169", leaseUrl: "http://10.251.0.4:8170" },
                    `${label} ${s.self.name}`,
                );
                const store = JSON.parse(renderLeaseConfig(s)).store;
                assert.strictEqual(store.url, cfg.cloud === "aws" ? "http://10.251.0.4:8170/" : "http://10.251.0.4:8170/lease/iguana-drill.json", `${label} ${s.self.name}`);
                assert.strictEqual(store.imdsUrl, "http://10.251.0.3:8169");
            }
        }
    });

    it("renders lease.json identical to production but for paths and the stand-in endpoints, in every mode", () => {
        for (const { label, cfg } of modes()) {
            const [p1, p2] = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
            const shared = cfg.storage?.queueRecovery === "shared";
            for (const [drill, self, peer] of [
                [drillSettings(cfg, root)[0], p1, p2],
                [drillSettings(cfg, root)[1], p2, p1],
            ] as const) {
                const production = bootstrapSettings(cfg, self, peer, {
                    dataDisk: shared ? { kind: "aws-efs", fileSystemId: "fs-1" } : { kind: "aws-ebs", volumeId: "vol-1" },
                    lease: drillLease(cfg),
                    ...(cfg.failover.strategy === "floating-ip" ? { vip: drillVip(cfg, self, peer) } : {}),
                    ...(shared ? { peerFence: drillPeerFence(cfg, peer) } : {}),
                });
                const paths = drillWorkerPaths(root, self.name);
                const mapped = JSON.parse(
                    renderLeaseConfig(drill)
                        .split(paths.libDir)
                        .join(WORKER_PATHS.libDir)
                        .split(paths.etcDir)
                        .join(WORKER_PATHS.etcDir)
                        .split(paths.runDir)
                        .join(WORKER_PATHS.runDir),
                );
                const expected = JSON.parse(renderLeaseConfig(production));
                assert.notDeepStrictEqual(mapped.store, expected.store, `${label}: the drill's guard writes the stand-in, not the cloud`);
                assert.deepStrictEqual({ ...mapped, store: { ...mapped.store, url: expected.store.url, imdsUrl: expected.store.imdsUrl } }, expected, `${label} ${self.name}`);
                // The rule is never scaled for the drill: the stack's own lease.
                assert.deepStrictEqual([mapped.leaseSeconds, mapped.renewEverySeconds, mapped.activeForSeconds], [3, 0.5, 1.5], label);
                assert.strictEqual(mapped.primary, self.name === "wk1");
                assert.strictEqual(mapped.vip !== undefined, cfg.failover.strategy === "floating-ip", `${label}: the VIP command`);
                assert.strictEqual(mapped.peerFence !== undefined, shared, `${label}: the peer fence`);
            }
        }
    });

    it("writes every file from its renderer, under the worker's scratch root, and no keepalived file", () => {
        const files = workerFiles(wk2);
        const byName = Object.fromEntries(files.map((f) => [path.basename(f.path), f]));
        assert.deepStrictEqual(Object.keys(byName).sort(), ["check-iguana.sh", "iguana_ha_cloud.py", "lease-guard.py", "lease.json", "llp-gate.sh", "notify.sh", "role-probe.py"]);
        assert.strictEqual(byName["notify.sh"].content, renderNotifyScript(wk2));
        assert.strictEqual(byName["llp-gate.sh"].content, renderLlpGateScript(wk2));
        assert.strictEqual(byName["check-iguana.sh"].content, renderCheckIguanaScript(wk2));
        assert.strictEqual(byName["lease.json"].content, renderLeaseConfig(wk2));
        assert.strictEqual(byName["lease-guard.py"].content, LEASE_GUARD_SOURCE);
        assert.strictEqual(byName["role-probe.py"].content, ROLE_PROBE_SOURCE);
        assert.strictEqual(byName["iguana_ha_cloud.py"].content, CLOUD_LIBRARY_SOURCE);
        // The guard imports the library from its own directory.
        assert.strictEqual(path.dirname(byName["iguana_ha_cloud.py"].path), path.dirname(byName["lease-guard.py"].path));
        assert.match(byName["lease.json"].content, /"self": "wk2"/);
        for (const f of files) assert.ok(f.path.startsWith(`${root}/wk2/`), f.path);
        for (const f of files) assert.strictEqual(f.mode, f.path.endsWith(".sh") || ["lease-guard.py", "role-probe.py"].includes(path.basename(f.path)) ? 0o755 : 0o644, f.path);
        // Shared storage adds the peer fence and its config; neither mode ships anything of keepalived.
        const [, shared2] = drillSettings(withQueueRecovery(awsDev, "shared"), root);
        const sharedFiles = workerFiles(shared2);
        assert.strictEqual(sharedFiles.find((f) => f.path.endsWith("/peer-fence.py"))?.content, PEER_FENCE_SOURCE);
        assert.strictEqual(sharedFiles.find((f) => f.path.endsWith("/peer-fence.json"))?.content, renderPeerFenceConfig(shared2));
        for (const f of [...files, ...sharedFiles]) assert.doesNotMatch(f.path, /keepalived|vrrp/i);
    });

    it("starts the guard as its unit does, and stands in for the unit's ExecStopPost (notify.sh STOP) and RestartSec=1", () => {
        const unit = renderLeaseGuardUnit(wk1, []);
        const line = (key: string) =>
            unit
                .split("\n")
                .find((l) => l.startsWith(`${key}=`))
                ?.slice(key.length + 1);
        assert.strictEqual(line("ExecStart"), ["/usr/bin/python3", ...leaseGuardArgs(wk1)].join(" "));
        assert.deepStrictEqual(leaseGuardArgs(wk1), [`${root}/wk1/lib/lease-guard.py`, `${root}/wk1/etc/lease.json`, "run"]);
        // DrillWorker.startGuard runs notify.sh STOP when the guard ends, and starts it again 1 s later.
        assert.strictEqual(line("ExecStopPost"), `${root}/wk1/lib/notify.sh STOP`);
        assert.deepStrictEqual([line("Restart"), line("RestartSec")], ["always", "1"]);
    });

    it("reads a worker active only while its role is MASTER and the guard's deadline is ahead", () => {
        const lease = (deadlineSeconds: number) => JSON.stringify({ deadline: deadlineSeconds, epoch: 3 });
        assert.strictEqual(activeByLease("MASTER", lease(10.5), 10000), true);
        assert.strictEqual(activeByLease("MASTER", lease(10.5), 10500), false, "at the deadline: no longer");
        assert.strictEqual(activeByLease("MASTER", lease(9), 10000), false, "past the deadline: the guard has not fenced yet, but it is not active");
        assert.strictEqual(activeByLease("BACKUP", lease(10.5), 10000), false);
        assert.strictEqual(activeByLease("MASTER", lease(0), 10000), false, "the guard writes 0 when not active");
        assert.strictEqual(activeByLease("MASTER", undefined, 10000), false, "no lease file");
        assert.strictEqual(activeByLease("MASTER", "{half", 10000), false, "a lease file being written");
    });
});

describe("drill: analysis of ACKs against journals", () => {
    const ack = (seq: number, worker: string, t: number) => ({ id: controlId("ADT", seq), worker, t });

    it("numbers control ids in send order", () => {
        assert.strictEqual(controlId("ADT", 42), "ADT-000042");
        assert.strictEqual(sequenceOf("ADT-000042"), 42);
        assert.throws(() => sequenceOf("ADT-x"), /no sequence/);
    });

    it("finds an acknowledged message that is in no journal", () => {
        const acks = [ack(1, "wk1", 0), ack(2, "wk1", 10), ack(3, "wk2", 20)];
        assert.deepStrictEqual(lostMessages(acks, { wk1: ["ADT-000001", "ADT-000002"], wk2: [] }), ["ADT-000003"]);
        assert.deepStrictEqual(lostMessages(acks, { wk1: ["ADT-000001", "ADT-000002"], wk2: ["ADT-000003"] }), []);
    });

    it("flags an ACK whose worker did not journal the message", () => {
        const acks = [ack(1, "wk1", 0), ack(2, "wk2", 10)];
        assert.strictEqual(misattributedAcks(acks, { wk1: ["ADT-000001", "ADT-000002"], wk2: [] }).length, 1);
    });

    it("counts duplicates over both journals", () => {
        assert.strictEqual(duplicateCount({ wk1: ["ADT-000001", "ADT-000002"], wk2: ["ADT-000002", "ADT-000003", "ADT-000003"] }), 2);
        assert.strictEqual(duplicateCount({ wk1: ["ADT-000001"], wk2: ["ADT-000002"] }), 0);
    });

    it("counts order violations, not repeats", () => {
        assert.strictEqual(orderViolations(["ADT-000001", "ADT-000002", "ADT-000002", "ADT-000003"]), 0);
        assert.strictEqual(orderViolations(["ADT-000001", "ADT-000003", "ADT-000002", "ADT-000004"]), 1);
    });

    it("measures the longest silence from the last ACK before the fault", () => {
        // ACKs every 50 ms, fault at 1000, nothing until 4300, then steady again.
        const times = [900, 950, 4300, 4350, 4400];
        assert.deepStrictEqual(longestGap(times, 1000, 5000), { ms: 3350, from: 950, to: 4300 });
        // Gaps before the fault do not count.
        assert.strictEqual(longestGap([0, 800, 990, 1040], 1000, 1100).ms, 60);
        // Nothing after the fault: the silence runs to the end.
        assert.deepStrictEqual(longestGap([500], 1000, 9000), { ms: 8500, from: 500, to: 9000 });
    });

    it("puts it together", () => {
        const acks = [ack(1, "wk1", 0), ack(2, "wk1", 50), ack(3, "wk2", 3000), ack(4, "wk2", 3050)];
        const result = analyse({
            acks,
            journals: { wk1: ["ADT-000001", "ADT-000002", "ADT-000003"], wk2: ["ADT-000003", "ADT-000004"] },
            faultAt: 60,
            endAt: 3100,
            activeWorker: "wk2",
        });
        assert.strictEqual(result.acked, 4);
        assert.deepStrictEqual(result.lost, []);
        assert.strictEqual(result.duplicates, 1);
        assert.strictEqual(result.orderViolations, 0);
        assert.strictEqual(result.outage.ms, 2950);
        assert.deepStrictEqual(result.firstAckAfterFaultMs, { wk1: null, wk2: 2940 });
    });

    it("reads the worker from the stand-in's ACK", () => {
        assert.strictEqual(workerOfAck("IGUANA-WK2"), "wk2");
        assert.deepStrictEqual(
            acksOf([
                { type: "retry", t: 1, id: "ADT-000001" },
                { type: "ack", t: 2, id: "ADT-000001", worker: "IGUANA-WK1" },
            ]),
            [{ id: "ADT-000001", worker: "wk1", t: 2 }],
        );
    });
});

describe("drill: LB status and the verdict", () => {
    it("reads HAProxy's show stat", () => {
        const text = "# pxname,svname,qcur,status,weight\nllp-adt-in,FRONTEND,0,OPEN,\nllp-adt-in,wk1,0,UP 1/2,1\nllp-adt-in,wk2,0,DOWN,1\nllp-adt-in,BACKEND,0,UP,1\n";
        assert.deepStrictEqual(parseShowStat(text), { "llp-adt-in/wk1": "UP 1/2", "llp-adt-in/wk2": "DOWN" });
        assert.ok(routes("UP 1/2"));
        assert.ok(!routes("DOWN 1/2"));
        assert.ok(!routes(undefined));
    });

    it("measures how long two subjects were both in a state", () => {
        const m = new Monitor({});
        m.changes.push({ t: 0, subject: "wk1", value: "MASTER" }, { t: 100, subject: "wk2", value: "MASTER" }, { t: 400, subject: "wk1", value: "BACKUP" });
        assert.strictEqual(
            m.overlapMs(["wk1", "wk2"], (v) => v === "MASTER", 0, 1000),
            300,
        );
        assert.strictEqual(
            m.firstAfter("wk2", 50, (v) => v === "MASTER"),
            100,
        );
    });

    it("knows how far apart its samples were: the bound on how late it saw a change", () => {
        const m = new Monitor({});
        m.sampledAt.push(0, 50, 100, 2640, 2690);
        assert.strictEqual(m.longestGapMs(0, 3000), 2540);
        assert.strictEqual(m.longestGapMs(2000, 3000), 50);
    });

    it("samples the workers on their own loop: a stats socket slow to answer does not hold them back", async function () {
        this.timeout(10000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drill-monitor-"));
        const socketPath = path.join(dir, "stats.sock");
        const header = "# pxname,svname,status\nadt,wk1,UP\n";
        // HAProxy on a loaded host: every answer 700 ms late (its timeout is 1 s).
        const server = net.createServer((c) => c.on("data", () => setTimeout(() => c.end(header), 700)));
        await new Promise<void>((resolve) => server.listen(socketPath, resolve));
        const m = new Monitor({ wk1: () => "MASTER" }, socketPath);
        const from = monotonicMs();
        m.start(50);
        await new Promise((r) => setTimeout(r, 2000));
        await m.stop();
        server.close();
        fs.rmSync(dir, { recursive: true, force: true });
        assert.strictEqual(m.now("adt/wk1"), "UP", "the LB was sampled too");
        assert.ok(m.sampledAt.length >= 15, `${m.sampledAt.length} worker samples in 2 s`);
        assert.ok(m.longestGapMs(from, monotonicMs()) < 500, `worker samples up to ${m.longestGapMs(from, monotonicMs())} ms apart`);
    });

    it("gives every scenario of a run, over every stack, an index of its own (the booted machines' names, lab and work dir)", () => {
        const slots = ["aws", "azure"].flatMap((profile, stackIndex) => SCENARIOS.map((def) => ({ stackIndex, profile, def })));
        const indexes = slots.map((s, ordinal) => scenarioSlot(s.stackIndex, s.profile, s.def, ordinal).index);
        assert.strictEqual(new Set(indexes).size, slots.length, `indexes shared: ${indexes.join(",")}`);
        const tags = slots.map((s, ordinal) => scenarioSlot(s.stackIndex, s.profile, s.def, ordinal).tag);
        assert.strictEqual(new Set(tags).size, slots.length);
    });

    it("runs a scenario in a process of its own; one that ends without a result is a FAIL naming its log", async function () {
        this.timeout(60000);
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "drill-isolated-"));
        const ctx = { runId: "t", workRoot: root, logRoot: path.join(root, "logs"), repoRoot: path.resolve(__dirname, ".."), keep: false, onInterrupt: new Set<() => void>() };
        const stack: StackRun = { stack: "aws-dev", cfg: awsDev, profile: "aws", timing: lbTiming(awsDev, false), fast: false };
        // A scenario the child does not know: it throws before it could write a result.
        const unknown = { ...SCENARIOS[0], id: 99 as (typeof SCENARIOS)[number]["id"] };
        const result = await runScenarioIsolated(unknown, stack, ctx, "0a99", 1);
        assert.strictEqual(result.verdict, "FAIL");
        const log = path.join(root, "logs", "0a99.scenario.log");
        assert.match(result.reasons.join(" "), new RegExp(`without a result; its log: ${log}`));
        assert.match(fs.readFileSync(log, "utf8"), /no scenario 99/);
        assert.strictEqual(ctx.onInterrupt.size, 0, "its interrupt hook is removed once it ended");
        fs.rmSync(root, { recursive: true, force: true });
    });

    it("does not inject the fault unless WK1 stayed the only active worker since the set-up", () => {
        const settled = () => {
            const m = new Monitor({});
            m.changes.push({ t: 0, subject: "wk1", value: "MASTER" }, { t: 0, subject: "wk2", value: "BACKUP" });
            return m;
        };
        const acks = [{ id: "ADT-000001", worker: "wk1", t: 20 }];
        const base = { since: 10, roles: { wk1: "MASTER", wk2: "BACKUP" }, acks };
        assert.deepStrictEqual(unsettledProblems({ ...base, monitor: settled(), lb: { wk1: "UP", wk2: "DOWN" } }), []);
        assert.deepStrictEqual(unsettledProblems({ ...base, monitor: settled(), vip: { holder: "wk1", moves: [{ t: 5, holder: "wk1" }] } }), []);
        // WK1 let go of the lease (a health check timed out on a starved machine), WK2 took it and
        // handed it back: the roles are as at the set-up again, but they changed since.
        const flapped = settled();
        flapped.changes.push(
            { t: 12, subject: "wk1", value: "BACKUP" },
            { t: 13, subject: "wk2", value: "MASTER" },
            { t: 15, subject: "wk2", value: "BACKUP" },
            { t: 16, subject: "wk1", value: "MASTER" },
        );
        assert.deepStrictEqual(unsettledProblems({ ...base, monitor: flapped, lb: { wk1: "UP", wk2: "DOWN" } }), ["roles changed: now wk1=MASTER wk2=BACKUP"]);
        // Its deadline passed before the fault (EXPIRED), or WK2 is not yet eligible (STARTING): not settled.
        assert.deepStrictEqual(unsettledProblems({ ...base, roles: { wk1: "EXPIRED", wk2: "BACKUP" }, monitor: settled() }), ["roles changed: now wk1=EXPIRED wk2=BACKUP"]);
        assert.deepStrictEqual(unsettledProblems({ ...base, roles: { wk1: "MASTER", wk2: "STARTING" }, monitor: settled() }), ["roles changed: now wk1=MASTER wk2=STARTING"]);
        const wk2Rose = settled();
        wk2Rose.changes.push({ t: 11, subject: "wk2", value: "MASTER" }, { t: 12, subject: "wk2", value: "BACKUP" });
        assert.match(unsettledProblems({ ...base, monitor: wk2Rose }).join(), /^roles changed/);
        // Floating IP: the VIP moved to WK2 and back; or WK2 acknowledged.
        assert.match(
            unsettledProblems({
                ...base,
                monitor: settled(),
                vip: {
                    holder: "wk1",
                    moves: [
                        { t: 12, holder: "wk2" },
                        { t: 14, holder: "wk1" },
                    ],
                },
            }).join(),
            /VIP left WK1/,
        );
        assert.match(
            unsettledProblems({ ...base, acks: [...acks, { id: "ADT-000002", worker: "wk2", t: 30 }], monitor: settled(), vip: { holder: "wk2", moves: [] } }).join(),
            /VIP left WK1 \(now on wk2\),1 ACK\(s\) from another worker than WK1/,
        );
        assert.match(unsettledProblems({ ...base, monitor: settled(), lb: { wk1: "UP", wk2: "UP" } }).join(), /LB status wk1=UP wk2=UP/);
    });

    it("fails the run on a FAIL, not on a reported limitation", () => {
        const stack = { stack: "aws-dev", cfg: awsDev, profile: "aws" as const, timing: lbTiming(awsDev), fast: false };
        const failed = failedResult(SCENARIOS[0], stack, new Error("boom"), 1);
        const limitation: ScenarioResult = { ...failed, verdict: "LIMITATION", reasons: [] };
        const pass: ScenarioResult = { ...failed, verdict: "PASS", reasons: [] };
        assert.strictEqual(exitCode([pass, limitation]), 0);
        assert.strictEqual(exitCode([pass, failed]), 1);
        assert.match(failed.reasons[0], /could not run: boom/);
        assert.match(renderTable([pass]), /\| aws-dev \| aws \| 1 \| crash /);
        const failedWithNote: ScenarioResult = { ...failed, notes: ["a note"] };
        assert.strictEqual(
            renderFailures([pass, limitation, failedWithNote]),
            "drill: aws-dev (aws LB) scenario 1 WK1 crashes (every process killed at once): FAIL\ndrill:   - the scenario could not run: boom",
            "the run's last lines name each failed row and its reasons, not the passed ones",
        );
        const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "drill-logs-"));
        try {
            fs.writeFileSync(path.join(logDir, "wk1-lease-guard.log"), Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n") + "\n");
            fs.writeFileSync(path.join(logDir, "cloud-api.log"), "");
            const tails = failureLogTails(logDir).split("\n");
            assert.match(tails[0], /wk1-lease-guard\.log, last 15 line\(s\):$/);
            assert.deepStrictEqual(
                tails.slice(1),
                Array.from({ length: 15 }, (_, i) => `drill:     line ${i + 6}`),
                "the guard log's last 15 lines; an empty log is left out",
            );
        } finally {
            fs.rmSync(logDir, { recursive: true, force: true });
        }
        const later = failedResult(SCENARIOS[0], { ...stack, faultDelayMs: 1250 }, new Error("boom"), 1);
        assert.strictEqual(later.faultDelayMs, 1250);
        assert.match(renderTable([pass, { ...later, verdict: "PASS", reasons: [] }]), /\| 1 \| crash \+1\.3 \|/, "a later fault is told apart in the table");
    });
});

describe("drill: shared storage (--queue-recovery shared)", () => {
    const shared = withQueueRecovery(awsDev, "shared");

    it("--queue-recovery overrides the stack's mode; shared makes every channel active-passive", () => {
        assert.strictEqual(parseDrillArgs(["--queue-recovery", "shared"], () => true).queueRecovery, "shared");
        assert.throws(() => parseDrillArgs(["--queue-recovery", "mirrored"], () => true), /none or shared/);
        assert.strictEqual(shared.storage.queueRecovery, "shared");
        assert.ok(shared.channels.every((c) => c.mode === "active-passive"));
        assert.strictEqual(withQueueRecovery(awsDev, undefined), awsDev);
    });

    it("both workers run the rendered notify and iguana-service.sh; only systemctl is emulated", () => {
        const [s1, s2] = drillSettings(shared, "/drill");
        for (const s of [s1, s2]) {
            assert.strictEqual(s.queueRecovery, "shared");
            assert.strictEqual(s.serviceCommand, `/drill/${s.self.name}/lib/drill-systemctl.sh`);
            const files = workerFiles(s);
            assert.strictEqual(files.find((f) => f.path.endsWith("/iguana-service.sh"))?.content, renderIguanaServiceScript(s));
            assert.match(files.find((f) => f.path.endsWith("/notify.sh"))!.content, /iguana-service\.sh' start/);
        }
        const systemctl = renderDrillSystemctl(s1, "/repo", "/logs/wk1-iguana.log");
        assert.match(systemctl, /setsid .*standin\.ts' '--worker' 'wk1'/);
        assert.match(systemctl, /'--journal-dir' '\/drill\/wk1\/data\/working'/);
    });

    it("the stand-in journals which worker wrote each entry, so one shared journal can be split", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-journal-"));
        const file = path.join(dir, "journal-2575.log");
        fs.writeFileSync(file, "ADT-000001\t1\twk1\nADT-000002\t2\twk2\nADT-000003\t3\n");
        assert.deepStrictEqual(readJournalEntries(file), [
            { id: "ADT-000001", worker: "wk1" },
            { id: "ADT-000002", worker: "wk2" },
            { id: "ADT-000003", worker: "" },
        ]);
        fs.rmSync(dir, { recursive: true, force: true });
    });
});

describe("drill: floating IP (--failover-strategy floating-ip)", () => {
    const floating = withFailoverStrategy(awsDev, "floating-ip");
    const azureFloating = withFailoverStrategy(withoutTls(loadStackClusterConfig("azure-dev")), "floating-ip");
    const stackRun = (cfg: typeof awsDev, delayMs?: number): StackRun => ({
        stack: `${cfg.cloud}-dev`,
        cfg,
        profile: cfg.cloud,
        timing: lbTiming(cfg),
        fast: false,
        vipMove: vipMoveTiming(cfg.cloud, delayMs),
    });

    it("--failover-strategy overrides the stack's strategy; --vip-move-delay-ms sets the stand-in's delay", () => {
        assert.strictEqual(parseDrillArgs(["--failover-strategy", "floating-ip"], () => true).failoverStrategy, "floating-ip");
        assert.strictEqual(parseDrillArgs([], () => true).failoverStrategy, undefined);
        assert.throws(() => parseDrillArgs(["--failover-strategy", "dns"], () => true), /load-balancer or floating-ip/);
        assert.strictEqual(parseDrillArgs(["--vip-move-delay-ms", "60000"], () => true).vipMoveDelayMs, 60000);
        assert.throws(() => parseDrillArgs(["--vip-move-delay-ms", "-1"], () => true), /whole number/);
    });

    it("floating-ip makes every channel active-passive and drops the LB's health-check settings, as validation does", () => {
        assert.strictEqual(awsDev.failover.strategy, "load-balancer");
        assert.strictEqual(floating.failover.strategy, "floating-ip");
        assert.ok(floating.channels.every((c) => c.mode === "active-passive"));
        assert.deepStrictEqual(
            floating.channels.map((c) => c.port),
            awsDev.channels.map((c) => c.port),
        );
        assert.deepStrictEqual([floating.failover.healthCheckIntervalSeconds, floating.failover.unhealthyThreshold], [5, 2]);
        assert.strictEqual(floating.failover.idleTimeoutSeconds, awsDev.failover.idleTimeoutSeconds);
        assert.strictEqual(withFailoverStrategy(awsDev, undefined), awsDev);
        assert.strictEqual(withFailoverStrategy(awsDev, "load-balancer"), awsDev);
        assert.strictEqual(withFailoverStrategy(floating, "load-balancer").failover.strategy, "load-balancer");
        assert.throws(() => withFailoverStrategy({ ...awsDev, network: { ...awsDev.network, public: false } }, "floating-ip"), /network\.public false/);
        // Combined with shared storage, both overrides hold.
        const both = withFailoverStrategy(withQueueRecovery(awsDev, "shared"), "floating-ip");
        assert.deepStrictEqual([both.storage.queueRecovery, both.failover.strategy], ["shared", "floating-ip"]);
    });

    it("gives what validation gives each dev stack switched to floating-ip (the LB-only keys removed)", () => {
        for (const stack of ["aws-dev", "azure-dev"]) {
            const raw = rawClusterConfig(readStackConfig(stack)) as Record<string, any>;
            const { healthCheckIntervalSeconds, unhealthyThreshold, ...failover } = raw.failover;
            const { natGateways, ...network } = raw.network;
            const validated = validateClusterConfig(
                {
                    ...raw,
                    network: raw.cloud === "aws" ? network : raw.network,
                    failover: { ...failover, strategy: "floating-ip" },
                    channels: raw.channels.map((c: object) => ({ ...c, mode: "active-passive" })),
                },
                stack,
            );
            const overridden = withFailoverStrategy(loadStackClusterConfig(stack), "floating-ip");
            // AWS: floating-ip refuses network.natGateways (no NAT gateway is built); the drill has none either.
            assert.deepStrictEqual({ ...overridden, network: { ...overridden.network, natGateways: validated.network.natGateways } }, validated, stack);
            void [healthCheckIntervalSeconds, unhealthyThreshold, natGateways];
        }
    });

    it("budget: the takeover + the VIP move (mover start, each cloud change, the polls between) + the sender's margin", () => {
        assert.strictEqual(AWS_EIP_MOVE_DELAY_MS, 3000);
        const L3 = leaseTiming(3);
        const aws = vipMoveTiming("aws");
        assert.deepStrictEqual(aws, { cloud: "aws", delayMs: 3000, changes: 1, pollMs: 0, moverStartMs: 2000 });
        assert.strictEqual(vipMoveMs(aws), 5000);
        // 4500 (expiry) + 5000 (the move) + 5200 (the sender's margin), no LB.
        assert.deepStrictEqual(floatingBudget("expiry", L3, aws), { takeoverMs: 4500, lbMs: 0, vipMoveMs: 5000, marginMs: 5200, iguanaStartMs: 0, totalMs: 14700 });
        assert.strictEqual(floatingBudget("release", L3, aws).totalMs, 1500 + 5000 + 5200);
        // Azure: detach from the old NIC, wait for it (polled every 2 s), attach to the new one: 2000 + 2 x 5000 + 2000.
        const azure = vipMoveTiming("azure");
        assert.deepStrictEqual([azure.delayMs, azure.changes, azure.pollMs], [5000, 2, 2000]);
        assert.strictEqual(vipMoveMs(azure), 14000);
        assert.strictEqual(floatingBudget("expiry", L3, azure).totalMs, 4500 + 14000 + 5200);
        assert.strictEqual(vipMoveMs(vipMoveTiming("azure", 45000)), 2000 + 90000 + 2000);
        // No LB: a silent WK1 adds nothing; Iguana dies: the health check's detection, then the release.
        const stack = stackRun(floating);
        assert.strictEqual(scenarioBudget(SCENARIOS[1], stack).totalMs, 14700);
        assert.strictEqual(scenarioBudget(SCENARIOS[3], stack).totalMs, 5500 + 5000 + 5200);
        assert.strictEqual(scenarioBudget(SCENARIOS[13], stack).totalMs, 1500 + 5000 + 5200, "a switchover releases");
        assert.strictEqual(scenarioBudget(SCENARIOS[0], stackRun(withQueueRecovery(floating, "shared"))).iguanaStartMs, 6000);
        // Without a floating IP: the LB budget, a silent WK1's check timeout included.
        assert.deepStrictEqual(scenarioBudget(SCENARIOS[1], { ...stack, cfg: awsDev, timing: lbTiming(awsDev), vipMove: undefined }), {
            takeoverMs: 4500,
            lbMs: 29000,
            marginMs: 5200,
            iguanaStartMs: 0,
            totalMs: 38700,
        });
    });

    it("says what the Azure delay is: emulated, against the 1-2 minutes Azure takes", () => {
        assert.match(vipMoveText("azure", 5000), /EMULATED SHORTER, Azure takes 1-2 minutes .*: on Azure add the difference/);
        assert.match(vipMoveText("azure", 45000), /as long as Azure's: Azure takes 1-2 minutes .* \(budget here 94 s per move\)/);
        assert.match(vipMoveText("aws", 3000), /3 s after the call \(budget for a move 5 s/);
    });

    it("both workers get the rendered mover and a vip.json pointed at the stand-in cloud API", () => {
        for (const cfg of [floating, azureFloating]) {
            const [s1, s2] = drillSettings(cfg, "/drill");
            for (const s of [s1, s2]) {
                assert.strictEqual(s.failoverStrategy, "floating-ip");
                const files = workerFiles(s);
                const file = (name: string) => files.find((f) => f.path.endsWith(`/${name}`));
                assert.strictEqual(file("vip-mover.py")?.content, VIP_MOVER_SOURCE);
                assert.strictEqual(file("vip-mover.py")?.mode, 0o755);
                assert.strictEqual(file("vip.json")?.content, renderVipConfig(s));
                const notify = file("notify.sh")!.content;
                assert.strictEqual(notify, renderNotifyScript(s));
                // The guard takes the VIP itself before it is active; the notify script only lets go of it.
                assert.ok(notify.includes(vipMoverCommand(s, "release")) && !notify.includes(vipMoverCommand(s, "claim")));
                assert.deepStrictEqual(JSON.parse(file("lease.json")!.content).vip.command, [
                    "/usr/bin/python3",
                    `/drill/${s.self.name}/lib/vip-mover.py`,
                    `/drill/${s.self.name}/etc/vip.json`,
                    "take",
                ]);
                const config = JSON.parse(file("vip.json")!.content);
                assert.strictEqual(config.stateFile, `/drill/${s.self.name}/run/state`);
                if (cfg.cloud === "aws") {
                    assert.deepStrictEqual(
                        [config.aws.imdsUrl, config.aws.ec2Url, config.aws.region, config.aws.allocationId],
                        ["http://10.251.0.3:8169", "http://10.251.0.3:8169/", "us-east-1", DRILL_VIP.aws.allocationId],
                    );
                } else {
                    assert.deepStrictEqual([config.azure.imdsUrl, config.azure.armUrl], ["http://10.251.0.3:8169", "http://10.251.0.3:8169"]);
                    assert.strictEqual(config.azure.selfNicId, DRILL_VIP.azure.nicIds[s.self.name as "wk1" | "wk2"]);
                    assert.strictEqual(config.azure.peerNicId, DRILL_VIP.azure.nicIds[s.peer.name as "wk1" | "wk2"]);
                }
            }
            // Every channel port is gated on the passive worker (the sender reaches a worker directly).
            assert.deepStrictEqual(
                s1.gatedPorts,
                cfg.channels.map((c) => c.port),
            );
        }
        // The load-balancer drill renders none of it.
        const [lb] = drillSettings(awsDev, "/drill");
        assert.strictEqual(lb.vip, undefined);
        assert.ok(!workerFiles(lb).some((f) => f.path.endsWith("/vip-mover.py")));
    });

    it("runs the rendered reconcile unit on the rendered timer's schedule", () => {
        const [s1] = drillSettings(floating, "/drill");
        assert.deepStrictEqual(workerReconcileTimer(s1), {
            command: ["/usr/bin/python3", "/drill/wk1/lib/vip-mover.py", "/drill/wk1/etc/vip.json", "reconcile"],
            bootMs: 60000,
            everyMs: 30000,
        });
        assert.throws(() => parseReconcileTimer("[Service]\n", "OnBootSec=60\nOnUnitActiveSec=30\n"), /no ExecStart/);
        assert.throws(() => parseReconcileTimer("ExecStart=/bin/true\n", "OnBootSec=60\n"), /no OnUnitActiveSec/);
        // The lease guard (and so notify.sh and the mover they start) gets a worker's PATH, not the drill's.
        assert.strictEqual(SYSTEMD_DEFAULT_PATH, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    });

    it("moves the VIP: on the holder's interface, routed to it from the sender; with no holder, nowhere", () => {
        const ns = { sender: "x-snd", wk1: "x-wk1", wk2: "x-wk2" };
        assert.strictEqual(WORKER_INTERFACE, "eth0");
        assert.deepStrictEqual(
            vipPlacementCommands(ns, DRILL_ADDRESSES, "eth0", "wk2").map((c) => [c.args.join(" "), c.allowFail]),
            [
                ["-n x-wk1 addr del 10.251.0.1/32 dev eth0", true],
                ["-n x-wk2 addr replace 10.251.0.1/32 dev eth0", false],
                ["-n x-snd route replace 10.251.0.1/32 via 10.251.0.12 dev eth0", false],
                ["-n x-snd neigh flush to 10.251.0.1", true],
            ],
        );
        assert.deepStrictEqual(
            vipPlacementCommands(ns, DRILL_ADDRESSES, "eth0", undefined).map((c) => c.args.join(" ")),
            ["-n x-wk1 addr del 10.251.0.1/32 dev eth0", "-n x-wk2 addr del 10.251.0.1/32 dev eth0", "-n x-snd route del 10.251.0.1/32", "-n x-snd neigh flush to 10.251.0.1"],
        );
    });

    it("the stand-in runs on its own address in the lb namespace and tells the workers apart by source address", () => {
        const config = cloudApiServerConfig("aws", "us-east-1", { sender: "s", wk1: "a", wk2: "b" }, DRILL_ADDRESSES, "eth0", 3000, "/r");
        assert.deepStrictEqual([config.host, config.port, config.region, config.moveDelayMs], ["10.251.0.3", 8169, "us-east-1", 3000]);
        assert.notStrictEqual(DRILL_ADDRESSES.cloudApi, DRILL_ADDRESSES.vip);
        assert.strictEqual(workerAt(config.workers, "10.251.0.11"), "wk1");
        assert.strictEqual(workerAt(config.workers, "::ffff:10.251.0.12"), "wk2");
        assert.strictEqual(workerAt(config.workers, "10.251.0.2"), undefined);
        assert.deepStrictEqual(
            summariseCalls([
                { from: "wk2", action: "PUT /latest/api/token", status: 200 },
                { from: "wk2", action: "AssociateAddress", status: 200 },
                { from: "wk2", action: "DescribeAddresses", status: 200 },
                { from: "wk2", action: "DescribeAddresses", status: 200 },
                { from: undefined, action: "DescribeAddresses", status: 403 },
            ]),
            { wk2: { "AssociateAddress 200": 1, "DescribeAddresses 200": 2 }, unknown: { "DescribeAddresses 403": 1 } },
        );
    });

    it("reports the VIP's moves in the LB's columns, and names the floating IP", () => {
        const failed = failedResult(SCENARIOS[5], stackRun(floating), new Error("x"), 1);
        assert.strictEqual(failed.title, "WK1<->WK2 link cut, both reach the cloud API, the lease store and the senders");
        assert.strictEqual(
            failedResult(SCENARIOS[5], { ...stackRun(awsDev), vipMove: undefined }, new Error("x"), 1).title,
            "WK1<->WK2 link cut, both reach the LB and the lease store",
        );
        assert.strictEqual(failed.budget.vipMoveMs, 5000);
        const row: ScenarioResult = { ...failed, verdict: "PASS", failoverStrategy: "floating-ip", vipOffWk1Ms: 6200, vipOnWk2Ms: 6300 };
        const table = renderTable([row]);
        assert.match(table, /\| stack +\| VIP +\| # \| scenario +\| promotion s \| VIP off WK1 s \| VIP on WK2 s \|/);
        assert.match(table, /\| aws-dev \| EIP +\| 6 \| split-brain \| - +\| 6\.2 +\| 6\.3 +\|/);
        assert.match(renderTable([{ ...failed, verdict: "PASS" }]), /\| LB +\| # \|/, "rows without a floating IP keep the LB columns");
    });
});

/** One EC2 Query API call to the stand-in, signed with Signature Version 4 (as the mover signs it). */
async function ec2Call(url: string, credentials: AwsCredentials, region: string, params: Record<string, string>): Promise<{ status: number; body: string }> {
    const body = new URLSearchParams({ Version: "2016-11-15", ...params }).toString();
    return signedAwsPost(url, { service: "ec2", region, credentials, headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" }, body });
}

describe("drill: the stand-in cloud API", () => {
    const credentials: AwsCredentials = { AccessKeyId: "ASIAEXAMPLEKEYID", SecretAccessKey: "example/secret+key", Token: "session-token-example" };
    const allocationId = "eipalloc-0123456789abcdef0";

    it("EC2: a DisassociateAddress whose association a later AssociateAddress replaced does not undo that move", async () => {
        let caller = "wk2";
        const moves: (string | undefined)[] = [];
        const api = new FakeCloudApi({
            cloud: "aws",
            workers: [
                { name: "wk1", instanceId: "i-0aaaaaaaaaaaaaaa1", nicId: "nic-1" },
                { name: "wk2", instanceId: "i-0bbbbbbbbbbbbbbb2", nicId: "nic-2" },
            ],
            identify: () => caller,
            aws: { allocationId, publicIp: "203.0.113.7", region: "us-east-1", credentials, role: "r" },
            moveDelayMs: 150,
            onMove: (holder) => void moves.push(holder),
        });
        const url = await api.listen("127.0.0.1");
        try {
            api.place("wk1");
            // WK2, promoted, takes the address; while that propagates, WK1, demoted, still reads
            // itself as the holder and lets go by the association id it read.
            const associate = await ec2Call(url, credentials, "us-east-1", {
                Action: "AssociateAddress",
                AllocationId: allocationId,
                InstanceId: "i-0bbbbbbbbbbbbbbb2",
                AllowReassociation: "true",
            });
            assert.strictEqual(associate.status, 200, associate.body);
            caller = "wk1";
            const described = await ec2Call(url, credentials, "us-east-1", { Action: "DescribeAddresses", "AllocationId.1": allocationId });
            const association = /<associationId>([^<]+)</.exec(described.body)?.[1];
            assert.match(described.body, /<instanceId>i-0aaaaaaaaaaaaaaa1</);
            const disassociate = await ec2Call(url, credentials, "us-east-1", { Action: "DisassociateAddress", AssociationId: association! });
            assert.strictEqual(disassociate.status, 200, disassociate.body);
            await new Promise((resolve) => setTimeout(resolve, 400));
            assert.deepStrictEqual(moves, ["wk2"]);
            assert.strictEqual(api.holder, "wk2");
        } finally {
            await api.close();
        }
    });

    const workers = [
        {
            name: "wk1",
            instanceId: "i-0aaaaaaaaaaaaaaa1",
            nicId: "nic-1",
            vmId: "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/c-wk1",
        },
        {
            name: "wk2",
            instanceId: "i-0bbbbbbbbbbbbbbb2",
            nicId: "nic-2",
            vmId: "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/c-wk2",
        },
    ];
    const instanceState = (body: string, id: string) =>
        new RegExp(`<item><instanceId>${id}</instanceId>.*?<instanceState><code>(\\d+)</code><name>([a-z]+)</name></instanceState>`).exec(body)?.slice(1);

    it("EC2: StopInstances (Force, SkipOsShutdown) calls onStop once; DescribeInstances reads the instance as stopping, then stopped after stopDelayMs", async () => {
        const stopped: string[] = [];
        const api = new FakeCloudApi({
            cloud: "aws",
            workers,
            identify: () => "wk1",
            aws: { allocationId, publicIp: "203.0.113.7", region: "us-east-1", credentials, role: "r" },
            stopDelayMs: 250,
            onStop: (worker) => void stopped.push(worker),
        });
        const url = await api.listen("127.0.0.1");
        const call = (params: Record<string, string>, as = credentials) => ec2Call(url, as, "us-east-1", params);
        try {
            const before = await call({ Action: "DescribeInstances", "InstanceId.1": "i-0bbbbbbbbbbbbbbb2" });
            assert.strictEqual(before.status, 200, before.body);
            assert.match(
                before.body,
                /^<\?xml version="1.0" encoding="UTF-8"\?><DescribeInstancesResponse xmlns="http:\/\/ec2.amazonaws.com\/doc\/2016-11-15\/"><requestId>[^<]+<\/requestId><reservationSet><item><reservationId>r-/,
            );
            assert.deepStrictEqual(instanceState(before.body, "i-0bbbbbbbbbbbbbbb2"), ["16", "running"]);
            assert.doesNotMatch(before.body, /i-0aaaaaaaaaaaaaaa1/);
            const stop = await call({ Action: "StopInstances", "InstanceId.1": "i-0bbbbbbbbbbbbbbb2", Force: "true", SkipOsShutdown: "true" });
            assert.strictEqual(stop.status, 200, stop.body);
            assert.match(
                stop.body,
                /<StopInstancesResponse [^>]+><requestId>[^<]+<\/requestId><instancesSet><item><instanceId>i-0bbbbbbbbbbbbbbb2<\/instanceId><currentState><code>64<\/code><name>stopping<\/name><\/currentState><previousState><code>16<\/code><name>running<\/name><\/previousState><\/item><\/instancesSet><\/StopInstancesResponse>$/,
            );
            assert.deepStrictEqual(stopped, ["wk2"]);
            const stopping = await call({ Action: "DescribeInstances", "InstanceId.1": "i-0bbbbbbbbbbbbbbb2" });
            assert.deepStrictEqual(instanceState(stopping.body, "i-0bbbbbbbbbbbbbbb2"), ["64", "stopping"]);
            assert.match(stopping.body, /<stateReason><code>Client.UserInitiatedShutdown<\/code>/);
            const again = await call({ Action: "StopInstances", "InstanceId.1": "i-0bbbbbbbbbbbbbbb2", Force: "true" });
            assert.match(again.body, /<previousState><code>64<\/code><name>stopping<\/name>/);
            assert.deepStrictEqual(stopped, ["wk2"], "a machine already stopping is not stopped again");
            await new Promise((resolve) => setTimeout(resolve, 400));
            const all = await call({ Action: "DescribeInstances" });
            assert.deepStrictEqual(instanceState(all.body, "i-0bbbbbbbbbbbbbbb2"), ["80", "stopped"]);
            assert.deepStrictEqual(instanceState(all.body, "i-0aaaaaaaaaaaaaaa1"), ["16", "running"]);
            assert.strictEqual(api.powerState("wk2"), "stopped");
            assert.deepStrictEqual(
                api.stops.map(({ from, worker, api, force, skipShutdown, previous }) => ({ from, worker, api, force, skipShutdown, previous })),
                [
                    { from: "wk1", worker: "wk2", api: "StopInstances", force: true, skipShutdown: true, previous: "running" },
                    { from: "wk1", worker: "wk2", api: "StopInstances", force: true, skipShutdown: false, previous: "stopping" },
                ],
            );
            api.setPowerState("wk2", "running");
            assert.deepStrictEqual(instanceState((await call({ Action: "DescribeInstances", "InstanceId.1": "i-0bbbbbbbbbbbbbbb2" })).body, "i-0bbbbbbbbbbbbbbb2"), [
                "16",
                "running",
            ]);
        } finally {
            await api.close();
        }
    });

    it("EC2: StopInstances and DescribeInstances refuse what EC2 refuses (unknown instance, parameter or flag value, DryRun, a bad signature) and stop nothing", async () => {
        const stopped: string[] = [];
        const api = new FakeCloudApi({
            cloud: "aws",
            workers,
            identify: () => "wk1",
            aws: { allocationId, publicIp: "203.0.113.7", region: "us-east-1", credentials, role: "r" },
            onStop: (worker) => void stopped.push(worker),
        });
        const url = await api.listen("127.0.0.1");
        const refused = async (params: Record<string, string>, status: number, code: string, as = credentials) => {
            const reply = await ec2Call(url, as, "us-east-1", params);
            assert.strictEqual(reply.status, status, reply.body);
            assert.match(reply.body, new RegExp(`<Code>${code.replace(".", "\\.")}</Code>`));
        };
        try {
            await refused({ Action: "StopInstances", "InstanceId.1": "i-0ccccccccccccccc3", Force: "true" }, 400, "InvalidInstanceID.NotFound");
            await refused({ Action: "StopInstances" }, 400, "MissingParameter");
            await refused({ Action: "StopInstances", "InstanceId.1": "i-0bbbbbbbbbbbbbbb2", Force: "yes" }, 400, "InvalidParameterValue");
            await refused({ Action: "StopInstances", "InstanceId.1": "i-0bbbbbbbbbbbbbbb2", DryRun: "true" }, 412, "DryRunOperation");
            await refused({ Action: "DescribeInstances", "Filter.1.Name": "instance-state-name", "Filter.1.Value.1": "running" }, 400, "UnknownParameter");
            await refused({ Action: "StopInstances", "InstanceId.1": "i-0bbbbbbbbbbbbbbb2" }, 403, "AuthFailure", { ...credentials, SecretAccessKey: "another" });
            assert.deepStrictEqual(stopped, []);
            assert.strictEqual(api.powerState("wk2"), "running");
        } finally {
            await api.close();
        }
    });

    it("ARM: powerOff (skipShutdown) answers 202 with Azure-AsyncOperation and Location on the host called; they and instanceView report the stop until it is done", async () => {
        const stopped: string[] = [];
        const api = new FakeCloudApi({
            cloud: "azure",
            workers,
            identify: () => "wk1",
            azure: { publicIpId: "/pip", ipConfigName: "primary", accessToken: "arm-token", subnetId: "/subnet", storageAccessToken: "storage-token" },
            stopDelayMs: 250,
            onStop: (worker) => void stopped.push(worker),
        });
        const url = await api.listen("127.0.0.1");
        const arm = (method: string, target: string, token = "arm-token") =>
            new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
                const req = http.request(
                    target.startsWith("http") ? target : `${url}${target}`,
                    { method, headers: { authorization: `Bearer ${token}`, "content-length": "0" } },
                    (res) => {
                        let text = "";
                        res.on("data", (c) => (text += c));
                        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
                    },
                );
                req.on("error", reject);
                req.end();
            });
        const vm = workers[1].vmId;
        const powerOf = async () => {
            const view = JSON.parse((await arm("GET", `${vm}/instanceView?api-version=2024-07-01`)).body);
            return view.statuses.map((s: { code: string }) => s.code);
        };
        try {
            const token = await arm("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F");
            assert.strictEqual(token.status, 400, "IMDS wants the Metadata header");
            const imds = await new Promise<string>((resolve, reject) =>
                http
                    .get(`${url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F`, { headers: { metadata: "true" } }, (res) => {
                        let text = "";
                        res.on("data", (c) => (text += c));
                        res.on("end", () => resolve(text));
                    })
                    .on("error", reject),
            );
            assert.deepStrictEqual(
                [JSON.parse(imds).access_token, JSON.parse(imds).resource, JSON.parse(imds).token_type],
                ["storage-token", "https://storage.azure.com/", "Bearer"],
            );
            const view = JSON.parse((await arm("GET", `${vm}/instanceView?api-version=2024-07-01`)).body);
            assert.deepStrictEqual(view.statuses[1], { code: "PowerState/running", level: "Info", displayStatus: "VM running" });
            assert.strictEqual(view.computerName, "c-wk2");
            const off = await arm("POST", `${vm}/powerOff?api-version=2024-07-01&skipShutdown=true`);
            assert.strictEqual(off.status, 202, off.body);
            assert.strictEqual(off.body, "");
            const asyncOperation = String(off.headers["azure-asyncoperation"]);
            const location = String(off.headers.location);
            assert.match(
                asyncOperation,
                new RegExp(
                    `^${url}/subscriptions/00000000-0000-4000-8000-000000000000/providers/Microsoft.Compute/locations/westeurope/operations/[0-9a-f-]{36}\\?p=[0-9a-f-]{36}&api-version=2024-07-01$`,
                ),
            );
            assert.strictEqual(location, `${asyncOperation}&monitor=true`);
            assert.deepStrictEqual(stopped, ["wk2"]);
            assert.strictEqual(JSON.parse((await arm("GET", asyncOperation)).body).status, "InProgress");
            assert.strictEqual((await arm("GET", location)).status, 202);
            assert.deepStrictEqual(await powerOf(), ["ProvisioningState/updating", "PowerState/stopping"]);
            await new Promise((resolve) => setTimeout(resolve, 400));
            const finished = JSON.parse((await arm("GET", asyncOperation)).body);
            assert.strictEqual(finished.status, "Succeeded");
            assert.ok(Date.parse(finished.endTime) >= Date.parse(finished.startTime));
            assert.strictEqual((await arm("GET", location)).status, 200);
            assert.deepStrictEqual(await powerOf(), ["ProvisioningState/succeeded", "PowerState/stopped"]);
            api.setPowerState("wk2", "deallocated");
            assert.deepStrictEqual((await powerOf())[1], "PowerState/deallocated");
            assert.deepStrictEqual(
                api.stops.map(({ worker, api, skipShutdown, previous }) => ({ worker, api, skipShutdown, previous })),
                [{ worker: "wk2", api: "powerOff", skipShutdown: true, previous: "running" }],
            );
            const wrongVersion = await arm("POST", `${vm}/powerOff?api-version=2024-05-01`);
            assert.deepStrictEqual([wrongVersion.status, JSON.parse(wrongVersion.body).error.code], [400, "InvalidApiVersionParameter"]);
            assert.strictEqual((await arm("POST", `${workers[0].vmId}/powerOff?api-version=2024-07-01`, "another")).status, 401);
            assert.deepStrictEqual(stopped, ["wk2"]);
            assert.deepStrictEqual(
                api.calls.filter((c) => !c.action.includes("metadata")).map((c) => c.action),
                [
                    "GET instanceView",
                    "POST powerOff",
                    "GET computeOperation",
                    "GET computeOperation",
                    "GET instanceView",
                    "GET computeOperation",
                    "GET computeOperation",
                    "GET instanceView",
                    "GET instanceView",
                    "POST powerOff",
                    "POST /subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/c-wk1/powerOff",
                ],
            );
        } finally {
            await api.close();
        }
    });
});
