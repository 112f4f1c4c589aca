import * as assert from "assert";
import { StackRun, awsConfig, azureConfig, runConfig } from "./helpers";

/** The same channels and settings, whatever the cloud. */
const SHARED = {
    environment: "parity",
    iguana: { edition: "iguanax" },
    channels: [
        { name: "adt-in", protocol: "llp", port: 2575 },
        { name: "orm-in", protocol: "llp", port: 2576 },
        { name: "fhir-api", protocol: "http", port: 8080 },
        { name: "results-api", protocol: "http", port: 8443, mode: "active-active" },
    ],
    network: { allowedCidrs: ["198.51.100.0/24"], adminCidrs: ["192.0.2.0/28"] },
    failover: { healthCheckIntervalSeconds: 10, unhealthyThreshold: 2, idleTimeoutSeconds: 1800 },
};

/** Keys of an object and of every object inside it, as sorted paths: the shape, not the values. */
function shape(value: unknown, prefix = ""): string[] {
    if (Array.isArray(value)) return [`${prefix}[]`, ...[...new Set(value.flatMap((v) => shape(v, `${prefix}[]`)))]].sort();
    if (value && typeof value === "object") {
        return Object.entries(value)
            .flatMap(([k, v]) => [`${prefix}.${k}:${Array.isArray(v) ? "array" : typeof v}`, ...shape(v, `${prefix}.${k}`)])
            .sort();
    }
    return [];
}

/** A channel endpoint with its address replaced by a marker, so only the cloud-specific host differs. */
function withoutAddress(run: StackRun) {
    return run.outputs.channelEndpoints.map((c) => ({ ...c, endpoint: run.outputs.vipAddresses.reduce((e, a) => e.split(a).join("<vip>"), c.endpoint) }));
}

describe("AWS and Azure parity", function () {
    this.timeout(30000);
    let aws: StackRun;
    let azure: StackRun;

    before(async () => {
        aws = await runConfig(awsConfig(SHARED));
        azure = await runConfig(azureConfig(SHARED));
    });

    it("the outputs have the same keys and shapes on both clouds", () => {
        assert.deepStrictEqual(Object.keys(aws.outputs).sort(), ["channelEndpoints", "cloud", "dashboardUrl", "vip", "vipAddresses", "workers"]);
        assert.deepStrictEqual(shape(azure.outputs), shape(aws.outputs));
        assert.deepStrictEqual([aws.outputs.cloud, azure.outputs.cloud], ["aws", "azure"]);
    });

    it("the channel list is identical: name, protocol, port, mode; only the address differs", () => {
        const strip = (run: StackRun) => run.outputs.channelEndpoints.map(({ name, protocol, port, mode }) => ({ name, protocol, port, mode }));
        assert.deepStrictEqual(strip(azure), strip(aws));
        assert.deepStrictEqual(
            strip(aws).map((c) => c.mode),
            ["active-passive", "active-passive", "active-passive", "active-active"],
        );
        assert.deepStrictEqual(withoutAddress(azure), withoutAddress(aws), "the endpoint format is the same, around each cloud's VIP");
        assert.notStrictEqual(azure.outputs.vip, aws.outputs.vip);
    });

    it("the VIP is the first VIP address and the dashboard sits on it, on both clouds", () => {
        for (const run of [aws, azure]) {
            assert.strictEqual(run.outputs.vip, run.outputs.vipAddresses[0]);
            assert.strictEqual(run.outputs.dashboardUrl, `http://${run.outputs.vip}:7654/`);
        }
        const nlbs = aws.ofType("aws:lb/loadBalancer:LoadBalancer").length;
        assert.deepStrictEqual([aws.outputs.vipAddresses.length, azure.outputs.vipAddresses.length], [2 * nlbs, 1], "an EIP per AZ and NLB; one zone-redundant IP");
    });

    it("the workers are the same pair: wk1 primary, wk2 backup, at the model's fixed addresses", () => {
        const pair = (run: StackRun) => run.outputs.workers.map(({ name, role, privateIp }) => ({ name, role, privateIp }));
        assert.deepStrictEqual(pair(azure), pair(aws));
        assert.deepStrictEqual(
            pair(aws).map((w) => `${w.name}/${w.role}`),
            ["wk1/primary", "wk2/backup"],
        );
        assert.deepStrictEqual(
            aws.outputs.workers.map((w) => w.zone),
            ["eu-west-1a", "eu-west-1b"],
        );
        assert.deepStrictEqual(
            azure.outputs.workers.map((w) => w.zone),
            ["1", "2"],
        );
    });
});
