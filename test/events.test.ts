/**
 * A worker tells the cloud when it takes over: the notify script runs publish-event.py only when
 * the worker was the standby (or fencing), and publish-event.py, under the real python3, writes
 * the datapoint the alarm watches: CloudWatch PutMetricData signed with the instance role's
 * credentials (checked against AWS's Signature Version 4), or an Azure Monitor custom metric of
 * its own VM with a managed-identity token for Azure Monitor. The alarms and the grants exist on
 * both clouds, scoped to those metrics.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AddressInfo } from "net";
import { PUBLISH_EVENT_SOURCE, CLOUD_LIBRARY_SOURCE, renderEventsConfig, renderNotifyScript, bootstrapSettings } from "../components/bootstrap";
import { EVENTS_NAMESPACE, SIGNAL_METRICS, TAKEOVER_METRIC } from "../components/constants";
import { validateClusterConfig } from "../components/config";
import { planNetwork, planWorkers } from "../components/model";
import { MONITORING_METRICS_PUBLISHER_ROLE } from "../components/azure/access";
import { sigv4Valid } from "../drill/cloud-api";
import { DRILL_AWS_CREDENTIALS, DRILL_AWS_ROLE } from "../drill/floating";
import { awsConfig, azureConfig, runConfig } from "./helpers";
import { requireTools, runProcess } from "./tools";

const VM_ID = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/wk2";
const MONITOR_TOKEN = "monitor-token";

interface Received {
    host: string;
    path: string;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
    signed?: boolean;
}

/** IMDS (AWS IMDSv2 credentials, Azure managed identity) and the two clouds' metric endpoints, on one local port. */
function standIn(): Promise<{ url: string; received: Received[]; close: () => void }> {
    const received: Received[] = [];
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const url = new URL(req.url ?? "/", "http://x");
            const body = Buffer.concat(chunks);
            const send = (status: number, text: string) => (res.writeHead(status), res.end(text));
            if (url.pathname === "/latest/api/token") return send(200, "imds-token");
            if (url.pathname === "/latest/meta-data/iam/security-credentials/") return send(200, DRILL_AWS_ROLE);
            if (url.pathname === `/latest/meta-data/iam/security-credentials/${DRILL_AWS_ROLE}`) return send(200, JSON.stringify(DRILL_AWS_CREDENTIALS));
            if (url.pathname === "/metadata/identity/oauth2/token") {
                return url.searchParams.get("resource") === "https://monitoring.azure.com/"
                    ? send(200, JSON.stringify({ access_token: MONITOR_TOKEN, expires_in: "3600" }))
                    : send(400, "");
            }
            if (url.pathname === "/metadata/instance/compute/resourceId") return send(200, VM_ID);
            const r: Received = { host: String(req.headers.host), path: url.pathname, headers: req.headers, body };
            if (url.pathname === "/aws/") r.signed = sigv4Valid(req, body, "us-east-1", "monitoring", DRILL_AWS_CREDENTIALS);
            received.push(r);
            return send(200, "{}");
        });
    });
    return new Promise((resolve) =>
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as AddressInfo;
            resolve({ url: `http://127.0.0.1:${port}`, received, close: () => server.close() });
        }),
    );
}

describe("events: a worker tells the cloud it took over", function () {
    this.timeout(60000);
    let dir: string;

    before(function () {
        requireTools(this, "python3");
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-events-"));
        fs.writeFileSync(path.join(dir, "publish-event.py"), PUBLISH_EVENT_SOURCE);
        fs.writeFileSync(path.join(dir, "iguana_ha_cloud.py"), CLOUD_LIBRARY_SOURCE);
    });
    after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

    async function publish(config: object): Promise<void> {
        const file = path.join(dir, "events.json");
        fs.writeFileSync(file, JSON.stringify(config));
        const run = await runProcess("python3", [path.join(dir, "publish-event.py"), file, "takeover"]);
        assert.strictEqual(run.status, 0, run.stderr);
    }

    it("AWS: one signed PutMetricData, in the cluster's namespace, by Cluster (the alarm's) and by Cluster and Worker", async () => {
        const cloud = await standIn();
        try {
            const common = { cloud: "aws", namespace: EVENTS_NAMESPACE, metrics: { takeover: TAKEOVER_METRIC }, cluster: "iguana", worker: "wk2", imdsUrl: cloud.url };
            await publish({ ...common, aws: { region: "us-east-1", endpoint: `${cloud.url}/aws/` } });
            assert.strictEqual(cloud.received.length, 1);
            const [call] = cloud.received;
            assert.strictEqual(call.signed, true, "signed with the instance role's credentials for the monitoring service");
            const form = new URLSearchParams(call.body.toString());
            assert.deepStrictEqual(
                [form.get("Action"), form.get("Namespace"), form.get("MetricData.member.1.MetricName"), form.get("MetricData.member.1.Value")],
                ["PutMetricData", EVENTS_NAMESPACE, TAKEOVER_METRIC, "1"],
            );
            assert.deepStrictEqual(
                [
                    form.get("MetricData.member.1.Dimensions.member.1.Name"),
                    form.get("MetricData.member.1.Dimensions.member.1.Value"),
                    form.get("MetricData.member.1.Dimensions.member.2.Name"),
                ],
                ["Cluster", "iguana", null],
            );
            assert.deepStrictEqual([form.get("MetricData.member.2.Dimensions.member.2.Name"), form.get("MetricData.member.2.Dimensions.member.2.Value")], ["Worker", "wk2"]);
        } finally {
            cloud.close();
        }
    });

    it("Azure: a custom metric of its own VM, with a token for Azure Monitor", async () => {
        const cloud = await standIn();
        try {
            await publish({
                cloud: "azure",
                namespace: EVENTS_NAMESPACE,
                metrics: { takeover: TAKEOVER_METRIC },
                cluster: "iguana",
                worker: "wk2",
                imdsUrl: cloud.url,
                azure: { endpoint: `${cloud.url}` },
            });
            const [call] = cloud.received;
            assert.strictEqual(call.path, `${VM_ID}/metrics`);
            assert.strictEqual(call.headers.authorization, `Bearer ${MONITOR_TOKEN}`);
            const base = JSON.parse(call.body.toString()).data.baseData;
            assert.deepStrictEqual(
                [base.metric, base.namespace, base.dimNames, base.series[0].dimValues, base.series[0].sum],
                [TAKEOVER_METRIC, EVENTS_NAMESPACE, ["Worker"], ["wk2"], 1],
            );
        } finally {
            cloud.close();
        }
    });

    it("the notify script publishes only when the guard says it took over (MASTER takeover), never on a plain MASTER", async function () {
        requireTools(this, "bash");
        const paths = { libDir: dir, etcDir: dir, runDir: path.join(dir, "run"), dataMount: dir, workingDir: dir, appDir: dir };
        const cfg = validateClusterConfig(
            {
                cloud: "aws",
                region: "us-east-1",
                channels: [{ name: "http-only", protocol: "http", port: 8080 }],
                network: { allowedCidrs: ["10.0.0.0/8"] },
                tls: { enabled: false },
            },
            "t",
        );
        const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr));
        const s = bootstrapSettings(
            cfg,
            wk2,
            wk1,
            { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" }, events: { kind: "aws-cloudwatch", region: "us-east-1", cluster: "iguana" } },
            paths,
        );
        // The publisher stands in as a script that records its arguments; the gate as a no-op.
        fs.writeFileSync(path.join(dir, "llp-gate.sh"), "#!/bin/bash\nexit 0\n", { mode: 0o755 });
        const notify = renderNotifyScript(s).replaceAll(`/usr/bin/env python3 '${dir}/publish-event.py'`, `bash -c 'echo "$@" >> ${dir}/published' publish`);
        fs.writeFileSync(path.join(dir, "notify.sh"), notify, { mode: 0o755 });
        const published = () => (fs.existsSync(path.join(dir, "published")) ? fs.readFileSync(path.join(dir, "published"), "utf8").trim().split("\n").filter(Boolean) : []);
        const notifyAs = async (...args: string[]) => {
            const r = await runProcess("bash", [path.join(dir, "notify.sh"), ...args]);
            assert.strictEqual(r.status, 0, r.stderr);
            await new Promise((resolve) => setTimeout(resolve, 300));
        };
        const takeovers = () => published().filter((line) => line.endsWith(" takeover"));
        await notifyAs("MASTER"); // a first start, or a guard taking its own lease back
        await notifyAs("BACKUP");
        await notifyAs("MASTER");
        assert.deepStrictEqual(takeovers(), []);
        await notifyAs("MASTER", "takeover");
        assert.deepStrictEqual(takeovers(), [`${dir}/events.json takeover`]);
        // The signals at every change of role, after the role is recorded (the timer's minute is too late for an operator).
        assert.deepStrictEqual(
            published().filter((line) => !line.endsWith(" takeover")),
            Array(4).fill(`${dir}/events.json signals`),
        );
    });

    it("AWS: the role may put metrics in the cluster's namespace only, and one alarm watches the Cluster dimension", async () => {
        const run = await runConfig(awsConfig({}));
        const policy = JSON.parse(run.one("aws:iam/rolePolicy:RolePolicy", "iguana-worker-publish-events").inputs.policy);
        assert.deepStrictEqual(policy.Statement, [
            { Sid: "PublishEvents", Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*", Condition: { StringEquals: { "cloudwatch:namespace": EVENTS_NAMESPACE } } },
        ]);
        const alarm = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "iguana-took-over");
        assert.deepStrictEqual(
            [alarm.inputs.namespace, alarm.inputs.metricName, alarm.inputs.dimensions, alarm.inputs.statistic, alarm.inputs.threshold, alarm.inputs.treatMissingData],
            [EVENTS_NAMESPACE, TAKEOVER_METRIC, { Cluster: "iguana" }, "Sum", 1, "notBreaching"],
        );
        assert.deepStrictEqual(alarm.inputs.alarmActions, [run.ofType("aws:sns/topic:Topic")[0].state.arn]);
    });

    it("Azure: each VM may publish its own metrics only, and an alert per VM watches its takeovers", async () => {
        const run = await runConfig(azureConfig({}));
        for (const vm of run.ofType("azure-native:compute:VirtualMachine")) {
            const worker = vm.name.replace(/^iguana-/, "");
            const grant = run.one("azure-native:authorization:RoleAssignment", `iguana-${worker}-publishes-events`);
            assert.ok(grant.inputs.roleDefinitionId.endsWith(`/roleDefinitions/${MONITORING_METRICS_PUBLISHER_ROLE}`));
            assert.deepStrictEqual([grant.inputs.scope, grant.inputs.principalId], [vm.id, vm.state.identity.principalId]);
            const alert = run.one("azure-native:monitor:MetricAlert", `iguana-${worker}-took-over`);
            const [criterion] = alert.inputs.criteria.allOf;
            assert.deepStrictEqual(
                [alert.inputs.scopes, criterion.metricNamespace, criterion.metricName, criterion.timeAggregation, criterion.threshold, criterion.skipMetricValidation],
                [[vm.id], EVENTS_NAMESPACE, TAKEOVER_METRIC, "Total", 1, true],
            );
        }
    });
});

describe("signals: a worker tells the cloud its role, lease, Iguana's health and its disk", function () {
    this.timeout(60000);
    let dir: string;
    let runDir: string;
    const nowSeconds = () => Number(process.hrtime.bigint() / 1000n) / 1e6; // CLOCK_MONOTONIC, as Python's time.monotonic()

    before(function () {
        requireTools(this, "python3");
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-signals-"));
        runDir = path.join(dir, "run");
        fs.mkdirSync(runDir);
        fs.writeFileSync(path.join(dir, "publish-event.py"), PUBLISH_EVENT_SOURCE);
        fs.writeFileSync(path.join(dir, "iguana_ha_cloud.py"), CLOUD_LIBRARY_SOURCE);
    });
    after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

    /** The worker's own events.json (renderEventsConfig), pointed at the stand-ins. */
    function workerConfig(cloud: "aws" | "azure", standInUrl: string, roleProbeUrl: string): object {
        const paths = { libDir: dir, etcDir: dir, runDir, dataMount: dir, workingDir: dir, appDir: dir };
        const validated = validateClusterConfig(
            {
                cloud,
                region: cloud === "aws" ? "us-east-1" : "westeurope",
                channels: [{ name: "adt", protocol: "llp", port: 6661 }],
                network: { allowedCidrs: ["10.0.0.0/8"] },
                tls: { enabled: false },
            },
            "iguana",
        );
        const [wk1, wk2] = planWorkers(planNetwork(validated.network.cidr));
        const events =
            cloud === "aws"
                ? ({ kind: "aws-cloudwatch", region: "us-east-1", cluster: "iguana" } as const)
                : ({ kind: "azure-monitor", location: "westeurope", cluster: "iguana" } as const);
        const s = bootstrapSettings(validated, wk1, wk2, { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" }, events }, paths);
        const config = JSON.parse(renderEventsConfig({ ...s, cloudApi: { imdsUrl: standInUrl, apiUrl: standInUrl } }));
        config.signals.roleProbeUrl = roleProbeUrl;
        if (cloud === "aws") config.aws.endpoint = `${standInUrl}/aws/`;
        else config.azure.endpoint = standInUrl;
        return config;
    }

    /** A role probe that answers `status`, and the files the lease guard writes. */
    async function worker(state: { probe: number; leaseSecondsLeft: number | null; guard: { iguanaHealthy: boolean; leaseStoreReachable: boolean; secondsAgo: number } | null }) {
        const probe = http.createServer((_, res) => (res.writeHead(state.probe), res.end()));
        await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
        const now = nowSeconds();
        fs.rmSync(path.join(runDir, "lease"), { force: true });
        fs.rmSync(path.join(runDir, "guard"), { force: true });
        if (state.leaseSecondsLeft !== null)
            fs.writeFileSync(path.join(runDir, "lease"), JSON.stringify({ deadline: state.leaseSecondsLeft > 0 ? now + state.leaseSecondsLeft : 0, epoch: 3 }));
        if (state.guard) {
            const { secondsAgo, ...reported } = state.guard;
            fs.writeFileSync(path.join(runDir, "guard"), JSON.stringify({ ...reported, at: now - secondsAgo }));
        }
        return { url: `http://127.0.0.1:${(probe.address() as AddressInfo).port}/role`, close: () => probe.close() };
    }

    async function publishSignals(config: object): Promise<void> {
        const file = path.join(dir, "events.json");
        fs.writeFileSync(file, JSON.stringify(config));
        const run = await runProcess("python3", [path.join(dir, "publish-event.py"), file, "signals"]);
        assert.strictEqual(run.status, 0, run.stderr);
    }

    /** metric -> [value, unit, dimensions] of one PutMetricData call. */
    function awsSignals(body: Buffer): Record<string, [number, string, string]> {
        const form = new URLSearchParams(body.toString());
        const out: Record<string, [number, string, string]> = {};
        for (let m = 1; form.has(`MetricData.member.${m}.MetricName`); m++) {
            const dims: string[] = [];
            for (let d = 1; form.has(`MetricData.member.${m}.Dimensions.member.${d}.Name`); d++) {
                dims.push(`${form.get(`MetricData.member.${m}.Dimensions.member.${d}.Name`)}=${form.get(`MetricData.member.${m}.Dimensions.member.${d}.Value`)}`);
            }
            out[form.get(`MetricData.member.${m}.MetricName`)!] = [Number(form.get(`MetricData.member.${m}.Value`)), form.get(`MetricData.member.${m}.Unit`)!, dims.join(",")];
        }
        return out;
    }

    function diskUsedPercent(): number {
        const fsStats = fs.statfsSync(dir);
        const used = fsStats.blocks - fsStats.bfree;
        return (100 * used) / (used + fsStats.bavail);
    }

    it("AWS: the active holder reports 1 for each, and its disk's fill, by Cluster and Worker in one signed call", async () => {
        const cloud = await standIn();
        const probe = await worker({ probe: 200, leaseSecondsLeft: 30, guard: { iguanaHealthy: true, leaseStoreReachable: true, secondsAgo: 1 } });
        try {
            await publishSignals(workerConfig("aws", cloud.url, probe.url));
            assert.strictEqual(cloud.received.length, 1);
            assert.strictEqual(cloud.received[0].signed, true);
            const got = awsSignals(cloud.received[0].body);
            const worker = "Cluster=iguana,Worker=wk1";
            assert.deepStrictEqual(Object.fromEntries(Object.entries(got).filter(([m]) => m !== SIGNAL_METRICS.dataDiskUsedPercent)), {
                [SIGNAL_METRICS.active]: [1, "Count", worker],
                [SIGNAL_METRICS.holdsLease]: [1, "Count", worker],
                [SIGNAL_METRICS.iguanaHealthy]: [1, "Count", worker],
                [SIGNAL_METRICS.leaseStoreReachable]: [1, "Count", worker],
            });
            const [used, unit, dims] = got[SIGNAL_METRICS.dataDiskUsedPercent];
            assert.deepStrictEqual([unit, dims], ["Percent", worker]);
            assert.ok(Math.abs(used - diskUsedPercent()) < 1, `${used} % reported, ${diskUsedPercent().toFixed(1)} % by statfs`);
        } finally {
            probe.close();
            cloud.close();
        }
    });

    const cases: [string, Parameters<typeof worker>[0], number[]][] = [
        [
            "a standby cut off from the lease store reports 0 for active, lease and store, 1 for a healthy Iguana",
            { probe: 503, leaseSecondsLeft: 0, guard: { iguanaHealthy: true, leaseStoreReachable: false, secondsAgo: 1 } },
            [0, 0, 1, 0],
        ],
        [
            "a lease guard gone quiet (its report 20 s old) counts as Iguana unhealthy and the store unreachable; a passed deadline as no lease",
            { probe: 503, leaseSecondsLeft: -1, guard: { iguanaHealthy: true, leaseStoreReachable: true, secondsAgo: 20 } },
            [0, 0, 0, 0],
        ],
    ];
    for (const [title, state, want] of cases) {
        it(`AWS: ${title}`, async () => {
            const cloud = await standIn();
            const probe = await worker(state);
            try {
                await publishSignals(workerConfig("aws", cloud.url, probe.url));
                const got = awsSignals(cloud.received[0].body);
                const flags = [SIGNAL_METRICS.active, SIGNAL_METRICS.holdsLease, SIGNAL_METRICS.iguanaHealthy, SIGNAL_METRICS.leaseStoreReachable];
                assert.deepStrictEqual(
                    flags.map((m) => got[m][0]),
                    want,
                );
            } finally {
                probe.close();
                cloud.close();
            }
        });
    }

    it("one send at a time, each reading the state once it may send: a later change of role is never overtaken by an earlier one", async function () {
        requireTools(this, "flock");
        const cloud = await standIn();
        const state = { probe: 503, leaseSecondsLeft: 0, guard: { iguanaHealthy: true, leaseStoreReachable: true, secondsAgo: 0 } };
        const probe = await worker(state);
        try {
            const config = workerConfig("aws", cloud.url, probe.url) as { signals: { lockFile: string } };
            // Another send (as the notify script starts one per change of role) holds the lock for 1.5 s.
            const holder = runProcess("flock", [config.signals.lockFile, "sleep", "1.5"]);
            await new Promise((r) => setTimeout(r, 300));
            const sending = publishSignals(config);
            // Meanwhile the worker becomes active: the waiting send must report that, not what it saw when it started.
            await new Promise((r) => setTimeout(r, 300));
            state.probe = 200;
            await holder;
            await sending;
            assert.strictEqual(awsSignals(cloud.received[0].body)[SIGNAL_METRICS.active][0], 1);
        } finally {
            probe.close();
            cloud.close();
        }
    });

    it("Azure: one custom metric of its own VM per signal, by Worker", async () => {
        const cloud = await standIn();
        const probe = await worker({ probe: 200, leaseSecondsLeft: 30, guard: { iguanaHealthy: true, leaseStoreReachable: false, secondsAgo: 0 } });
        try {
            await publishSignals(workerConfig("azure", cloud.url, probe.url));
            const documents = cloud.received.map((r) => {
                assert.deepStrictEqual([r.path, r.headers.authorization], [`${VM_ID}/metrics`, `Bearer ${MONITOR_TOKEN}`]);
                return JSON.parse(r.body.toString()).data.baseData;
            });
            assert.deepStrictEqual(
                documents.filter((d) => d.metric !== SIGNAL_METRICS.dataDiskUsedPercent).map((d) => [d.metric, d.namespace, d.dimNames, d.series[0].dimValues, d.series[0].max]),
                [
                    [SIGNAL_METRICS.active, EVENTS_NAMESPACE, ["Worker"], ["wk1"], 1],
                    [SIGNAL_METRICS.holdsLease, EVENTS_NAMESPACE, ["Worker"], ["wk1"], 1],
                    [SIGNAL_METRICS.iguanaHealthy, EVENTS_NAMESPACE, ["Worker"], ["wk1"], 1],
                    [SIGNAL_METRICS.leaseStoreReachable, EVENTS_NAMESPACE, ["Worker"], ["wk1"], 0],
                ],
            );
            const disk = documents.find((d) => d.metric === SIGNAL_METRICS.dataDiskUsedPercent);
            assert.ok(disk && Math.abs(disk.series[0].max - diskUsedPercent()) < 1, JSON.stringify(disk));
        } finally {
            probe.close();
            cloud.close();
        }
    });
});
