/** What each stack needs of the clouds' default quotas: counted from config, checked against what is built. */
import * as assert from "assert";
import { ClusterConfig, validateClusterConfig } from "../components/config";
import { PROJECT } from "../components/constants";
import { quotaUsage } from "../components/quotas";
import { listStacks, loadStackClusterConfig, rawClusterConfig, toPulumiConfig } from "../offline/stack-config";
import { StackRun, awsConfig, azureConfig, runConfig, runPlan, runStack } from "./helpers";

const max = (values: number[]) => Math.max(0, ...values);

/** Each quota's count, read off the registered resources. */
function builtCounts(run: StackRun): Record<string, number> {
    const of = run.ofType;
    if (run.outputs.cloud === "aws") {
        const listeners = of("aws:lb/listener:Listener");
        const rules = of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
        return {
            "Elastic IP addresses": of("aws:ec2/eip:Eip").length,
            "Network Load Balancers": of("aws:lb/loadBalancer:LoadBalancer").length,
            "listeners per Network Load Balancer": max(of("aws:lb/loadBalancer:LoadBalancer").map((n) => listeners.filter((l) => l.inputs.loadBalancerArn === n.state.arn).length)),
            "inbound rules per security group": max(of("aws:ec2/securityGroup:SecurityGroup").map((sg) => rules.filter((r) => r.inputs.securityGroupId === sg.id).length)),
            "security groups per network interface": max(of("aws:ec2/instance:Instance").map((i) => i.inputs.vpcSecurityGroupIds.length)),
        };
    }
    const lb = of("azure-native:network:LoadBalancer")[0];
    return {
        "Standard Public IP addresses": of("azure-native:network:PublicIPAddress").length,
        "load balancing rules per NIC": lb ? lb.inputs.loadBalancingRules.length : 0,
        "NSG rules per NSG": run.one("azure-native:network:NetworkSecurityGroup", "iguana-workers-nsg").inputs.securityRules.length,
    };
}

function configOf(values: Record<string, unknown>): ClusterConfig {
    return validateClusterConfig(rawClusterConfig({ stack: "t", config: toPulumiConfig(PROJECT, values), secretKeys: [] }), "t");
}

const VARIANTS: [string, Record<string, unknown>][] = [
    [
        "AWS, channels in two port blocks",
        awsConfig({
            channels: [
                { name: "a", protocol: "llp", port: 2575 },
                { name: "b", protocol: "http", port: 8080, mode: "active-active" },
            ],
        }),
    ],
    ["AWS, internal", awsConfig({ network: { allowedCidrs: ["10.0.0.0/8"], public: false, adminCidrs: ["10.1.0.0/16"] } })],
    ["AWS, floating IP", awsConfig({ failover: { strategy: "floating-ip" } })],
    ["AWS, a full port block", awsConfig({ channels: Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, protocol: "llp", port: 3000 + i })) })],
    ["Azure, floating IP, one NAT gateway", azureConfig({ failover: { strategy: "floating-ip" }, network: { allowedCidrs: ["10.0.0.0/8"], natGateways: "single" } })],
    ["Azure, internal with admins", azureConfig({ network: { allowedCidrs: ["10.0.0.0/8"], public: false, adminCidrs: ["10.1.0.0/16"] } })],
];

describe("quotas", function () {
    this.timeout(60000);

    for (const stack of listStacks()) {
        it(`${stack}: the counts match what is built, and every default quota is met`, async () => {
            const run = await runStack(stack);
            const uses = quotaUsage(loadStackClusterConfig(stack));
            assert.deepStrictEqual(Object.fromEntries(uses.map((u) => [u.quota, u.needed])), builtCounts(run));
            for (const use of uses) assert.ok(use.needed <= use.limit, `${stack} needs ${use.needed} ${use.quota}; the default is ${use.limit}`);
        });
    }

    for (const [description, values] of VARIANTS) {
        it(`${description}: the counts match what is built`, async () => {
            const run = await runConfig(values);
            assert.deepStrictEqual(Object.fromEntries(quotaUsage(configOf(values)).map((u) => [u.quota, u.needed])), builtCounts(run));
        });
    }

    it("a stack over a default quota is warned about at preview, naming the quota and the number", async () => {
        // Two port blocks: two NLBs of two Elastic IPs each, plus a NAT gateway per zone: 6 > 5.
        const values = awsConfig({
            channels: [
                { name: "a", protocol: "llp", port: 2575 },
                { name: "b", protocol: "llp", port: 8080 },
            ],
        });
        const run = await runConfig(values);
        assert.strictEqual(run.ofType("aws:ec2/eip:Eip").length, 6);
        const warning = run.mocks.warnings.find((w) => w.includes("Elastic IP addresses"));
        assert.ok(warning, run.mocks.warnings.join("\n"));
        assert.match(warning, /needs 6 Elastic IP addresses per region, above the default quota of 5/);
        const fits = await runConfig(
            awsConfig({
                channels: [
                    { name: "a", protocol: "llp", port: 2575 },
                    { name: "b", protocol: "llp", port: 2590 },
                ],
            }),
        );
        assert.ok(!fits.mocks.warnings.some((w) => w.includes("quota")), "no quota warning when the stack fits");
    });

    it("the plan prints the quota line, with the counts of the planned resources", async () => {
        for (const stack of ["aws-prod", "azure-prod"]) {
            const text = await runPlan("--stack", stack);
            assert.strictEqual(text.code, 0, text.stderr);
            const json = JSON.parse((await runPlan("--stack", stack, "--json")).stdout);
            const line = /^Quotas \(needed of the default limit\): (.*)$/m.exec(text.stdout)?.[1];
            assert.ok(line, text.stdout);
            const publicIps = json.resources.filter((r: any) => r.type === "aws:ec2/eip:Eip" || r.type === "azure-native:network:PublicIPAddress").length;
            assert.match(line, new RegExp(`(Elastic IP addresses|Standard Public IP addresses) ${publicIps} of `));
            assert.deepStrictEqual(
                json.quotas.map((q: any) => q.quota),
                quotaUsage(loadStackClusterConfig(stack)).map((q) => q.quota),
            );
        }
    });
});
