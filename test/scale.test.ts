/** Hundreds of LLP channels: sharding over NLBs, stable endpoints, quotas respected. */
import * as assert from "assert";
import { MAX_CHANNEL_SECURITY_GROUPS, portRanges, shardChannels } from "../components/aws/scale";
import { AWS_SECURITY_GROUP_INBOUND_RULES, AZURE_NSG_PRIORITY, CLOUD_LIMITS, NLB_LISTENER_QUOTA, PROJECT } from "../components/constants";
import { program } from "../components/program";
import { evaluate } from "../offline/evaluate";
import { RecordingMocks } from "../offline/mocks";
import { toPulumiConfig } from "../offline/stack-config";
import { StackRun, awsConfig, azureConfig, runConfig } from "./helpers";

const feeds = (n: number, start = 10000) => Array.from({ length: n }, (_, i) => ({ name: `feed-${i}`, protocol: "llp", port: start + i }));
/**
 * Each channel's endpoint, with the address replaced by the Elastic IP resource that holds it:
 * a real address belongs to that resource for its life, while the mocks number addresses in
 * registration order.
 */
const endpoints = (run: StackRun) => {
    const eipName = new Map(run.ofType("aws:ec2/eip:Eip").map((e) => [e.state.publicIp, e.name]));
    return Object.fromEntries(run.outputs.channelEndpoints.map((c) => [c.name, c.endpoint.replace(/^[\d.]+/, (ip) => eipName.get(ip) ?? ip)]));
};

function assertAwsQuotas(run: StackRun) {
    const nlbs = run.ofType("aws:lb/loadBalancer:LoadBalancer");
    const listeners = run.ofType("aws:lb/listener:Listener");
    for (const nlb of nlbs) {
        const count = listeners.filter((l) => l.inputs.loadBalancerArn === nlb.state.arn).length;
        assert.ok(count >= 1 && count <= NLB_LISTENER_QUOTA, `${nlb.name} has ${count} listeners`);
    }
    const rules = run.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
    for (const sg of run.ofType("aws:ec2/securityGroup:SecurityGroup")) {
        const count = rules.filter((r) => r.inputs.securityGroupId === sg.id).length;
        assert.ok(count <= AWS_SECURITY_GROUP_INBOUND_RULES, `${sg.name} has ${count} inbound rules`);
    }
    for (const instance of run.ofType("aws:ec2/instance:Instance")) {
        assert.ok(instance.inputs.vpcSecurityGroupIds.length <= 1 + MAX_CHANNEL_SECURITY_GROUPS, "at most 5 security groups per instance");
    }
    // every channel has a listener on the NLB whose address its endpoint names
    const nlbAddress = new Map(
        nlbs.map((n) => [n.state.arn, run.ofType("aws:ec2/eip:Eip").find((e) => e.state.allocationId === n.inputs.subnetMappings[0].allocationId)!.state.publicIp]),
    );
    for (const c of run.outputs.channelEndpoints) {
        const listener = listeners.find((l) => l.inputs.port === c.port)!;
        assert.strictEqual(c.endpoint, `${nlbAddress.get(listener.inputs.loadBalancerArn)}:${c.port}`);
    }
    assert.deepStrictEqual(
        new Set(run.outputs.vipAddresses),
        new Set(
            run
                .ofType("aws:ec2/eip:Eip")
                .filter((e) => e.name.includes("-vip"))
                .map((e) => e.state.publicIp),
        ),
    );
}

describe("scale: AWS channels sharded over NLBs", function () {
    this.timeout(120000);

    // contiguous ports from 10000: blocks of 50 from 10000; the dashboard (7654) joins the first
    // block with room, and has an NLB of its own only when every block is full (50, 200, 500)
    for (const [count, nlbs] of [
        [1, 1],
        [49, 1],
        [50, 2],
        [51, 2],
        [200, 5],
        [500, 11],
    ] as const) {
        it(`${count} channels: ${nlbs} NLBs, quotas respected, adding one in the middle moves nobody`, async () => {
            const channels = feeds(count);
            const network = { allowedCidrs: ["198.51.100.0/24", "203.0.113.0/25"] };
            const before = await runConfig(awsConfig({ channels, network }));
            assert.strictEqual(before.ofType("aws:lb/loadBalancer:LoadBalancer").length, nlbs);
            assert.strictEqual(before.ofType("aws:lb/listener:Listener").length, count + 1, "one listener per channel plus the dashboard");
            assertAwsQuotas(before);

            const middle = Math.floor(count / 2);
            const added = { name: "added-feed", protocol: "llp", port: 9999 - (count % 7) };
            const grown = [...channels.slice(0, middle), added, ...channels.slice(middle)];
            if (count <= 200) {
                const after = await runConfig(awsConfig({ channels: grown, network }));
                assertAwsQuotas(after);
                const was = endpoints(before);
                const now = endpoints(after);
                for (const [name, endpoint] of Object.entries(was)) assert.strictEqual(now[name], endpoint, `${name} kept its endpoint`);
                assert.ok(now["added-feed"]);
            } else {
                // At 500 a second full evaluation costs ~5 s: check the assignment that decides the
                // endpoint (the NLB, whose addresses are named by its port block) instead.
                const nlbOf = (list: typeof channels) => new Map(shardChannels(list as any, 7654).flatMap((s) => s.channels.map((c) => [c.name, s.block] as const)));
                const was = nlbOf(channels);
                const now = nlbOf(grown);
                for (const [name, block] of was) assert.strictEqual(now.get(name), block, `${name} stays on its NLB`);
            }
        });
    }

    it("a channel's NLB depends on its own port only", () => {
        const a = shardChannels(feeds(120) as any, 7654);
        const b = shardChannels([...feeds(120).reverse(), { name: "x", protocol: "llp", port: 6021 }] as any, 7654);
        const blockOf = (shards: typeof a, port: number) => shards.find((s) => s.channels.some((c) => c.port === port))!.block;
        for (const port of [10000, 10049, 10050, 10119]) assert.strictEqual(blockOf(a, port), blockOf(b, port));
        assert.deepStrictEqual(
            a.map((s) => s.block),
            [...new Set(feeds(120).map((c) => Math.floor(c.port / 50)))].sort((x, y) => x - y),
            "the NLBs of the channels' blocks, lowest first",
        );
        assert.strictEqual(
            a.find((s) => s.dashboard),
            a.find((s) => s.channels.length < 50),
            "the dashboard joins the first block with room",
        );
    });

    it("groups contiguous ports into ranges", () => {
        assert.deepStrictEqual(portRanges([2577, 2575, 2576, 3000, 3002, 3001, 4000]), [
            [2575, 2577],
            [3000, 3002],
            [4000, 4000],
        ]);
    });

    it("splits channel rules over security groups of at most 60", async () => {
        const channels = Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, protocol: "llp", port: 3000 + 2 * i }));
        const cidrs = ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"];
        const run = await runConfig(awsConfig({ channels, network: { allowedCidrs: cidrs } }));
        const sgs = run.ofType("aws:ec2/securityGroup:SecurityGroup").filter((s) => s.name.startsWith("iguana-channels-sg"));
        assert.deepStrictEqual(
            sgs.map((s) => s.name),
            ["iguana-channels-sg", "iguana-channels-sg-2"],
        );
        assertAwsQuotas(run);
        const rules = run.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => sgs.some((s) => s.id === r.inputs.securityGroupId));
        assert.strictEqual(rules.length, 120);
        for (const sg of sgs) assert.ok(run.ofType("aws:ec2/instance:Instance").every((i) => i.inputs.vpcSecurityGroupIds.includes(sg.id)));
    });
});

/** Azure: one Standard LB carries every channel; quotas are per NIC (300 rules) and per NSG (1,000 rules). */
const AZURE_NSG_RULES = 1000;
const AZURE_RULES_PER_NIC = 300;

function assertAzureQuotas(run: StackRun, channelCount: number) {
    const [lb] = run.ofType("azure-native:network:LoadBalancer");
    const rules: any[] = lb.state.loadBalancingRules;
    assert.strictEqual(rules.length, channelCount + 1, "one rule per channel plus the dashboard");
    // every rule targets the one backend pool holding both NICs: each NIC carries every rule
    assert.strictEqual(new Set(rules.map((r) => r.backendAddressPool.id)).size, 1);
    assert.ok(rules.length <= AZURE_RULES_PER_NIC, `${rules.length} rules on each NIC`);
    assert.ok(lb.state.probes.length <= 2, "at most two probes, whatever the channel count");
    const [nsg] = run.ofType("azure-native:network:NetworkSecurityGroup");
    const nsgRules: any[] = nsg.inputs.securityRules;
    assert.ok(nsgRules.length <= AZURE_NSG_RULES);
    const priorities = nsgRules.filter((r) => r.direction === "Inbound").map((r) => r.priority);
    assert.strictEqual(new Set(priorities).size, priorities.length, "inbound priorities are unique");
    assert.ok(priorities.every((p) => p >= 100 && p <= 4096));
    const channelPriorities = nsgRules.filter((r) => r.name.startsWith("allow-") && r.priority >= AZURE_NSG_PRIORITY.channelsFrom).map((r) => r.priority);
    assert.ok(Math.max(...channelPriorities) < AZURE_NSG_PRIORITY.denyOtherVnetInbound, "every channel rule comes before the VNet deny");
    // one address for everything: each endpoint is the VIP and its own port
    assert.deepStrictEqual(run.outputs.vipAddresses, [run.outputs.vip]);
    for (const c of run.outputs.channelEndpoints) assert.strictEqual(c.endpoint, `${run.outputs.vip}:${c.port}`);
}

describe("scale: Azure channels on one Standard Load Balancer", function () {
    this.timeout(120000);

    for (const count of [1, 49, 50, 51, 200]) {
        it(`${count} channels: one LB, ${count + 1} rules, quotas respected, adding one in the middle moves nobody`, async () => {
            const channels = feeds(count);
            const before = await runConfig(azureConfig({ channels }));
            assert.strictEqual(before.ofType("azure-native:network:LoadBalancer").length, 1);
            assert.strictEqual(before.ofType("azure-native:network:PublicIPAddress").filter((p) => p.name.endsWith("-vip")).length, 1);
            assertAzureQuotas(before, count);

            const middle = Math.floor(count / 2);
            const grown = [...channels.slice(0, middle), { name: "added-feed", protocol: "llp", port: 9999 }, ...channels.slice(middle)];
            const after = await runConfig(azureConfig({ channels: grown }));
            assertAzureQuotas(after, count + 1);
            const was = Object.fromEntries(before.outputs.channelEndpoints.map((c) => [c.name, c.endpoint]));
            const now = Object.fromEntries(after.outputs.channelEndpoints.map((c) => [c.name, c.endpoint]));
            for (const [name, endpoint] of Object.entries(was)) assert.strictEqual(now[name], endpoint, `${name} kept its endpoint`);
        });
    }

    it(`500 channels: refused before any resource, naming the key and the ${CLOUD_LIMITS.azure.maxChannels}-channel limit`, async () => {
        const mocks = new RecordingMocks();
        await assert.rejects(evaluate({ stack: "big", config: toPulumiConfig(PROJECT, azureConfig({ channels: feeds(500) })), mocks, run: () => program() }), (e: Error) => {
            assert.match(e.message, new RegExp(`iguana-ha:channels: .*500.*at most ${CLOUD_LIMITS.azure.maxChannels}`));
            return true;
        });
        assert.deepStrictEqual(mocks.resources, [], "no resource registered");
    });
});
