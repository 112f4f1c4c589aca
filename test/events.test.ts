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
import { PUBLISH_EVENT_SOURCE, CLOUD_LIBRARY_SOURCE, renderNotifyScript, bootstrapSettings } from "../components/bootstrap";
import { EVENTS_NAMESPACE, TAKEOVER_METRIC } from "../components/constants";
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
        const notify = renderNotifyScript(s).replace(`/usr/bin/env python3 '${dir}/publish-event.py'`, `bash -c 'echo "$@" >> ${dir}/published' publish`);
        fs.writeFileSync(path.join(dir, "notify.sh"), notify, { mode: 0o755 });
        const published = () => (fs.existsSync(path.join(dir, "published")) ? fs.readFileSync(path.join(dir, "published"), "utf8").trim().split("\n").filter(Boolean) : []);
        const notifyAs = async (...args: string[]) => {
            const r = await runProcess("bash", [path.join(dir, "notify.sh"), ...args]);
            assert.strictEqual(r.status, 0, r.stderr);
            await new Promise((resolve) => setTimeout(resolve, 300));
        };
        await notifyAs("MASTER"); // a first start, or a guard taking its own lease back
        await notifyAs("BACKUP");
        await notifyAs("MASTER");
        assert.deepStrictEqual(published(), []);
        await notifyAs("MASTER", "takeover");
        assert.deepStrictEqual(published(), [`${dir}/events.json takeover`]);
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
