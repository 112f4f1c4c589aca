/**
 * `network.deletionProtection`: what holds the VIP cannot be deleted while it is on. AWS: every
 * NLB's own deletion protection. Azure: a CanNotDelete management lock on the load balancer and
 * on its public IP, or on the floating public IP (an Azure load balancer has no such setting).
 * The shipped prod stacks turn it on; the dev stacks and the default leave it off.
 */
import * as assert from "assert";
import { StackRun, awsConfig, azureConfig, runConfig, runStack } from "./helpers";

const NLB = "aws:lb/loadBalancer:LoadBalancer";
const EIP = "aws:ec2/eip:Eip";
const AZURE_LB = "azure-native:network:LoadBalancer";
const PUBLIC_IP = "azure-native:network:PublicIPAddress";
const LOCK = "azure-native:authorization:ManagementLockByScope";

/** The resources a CanNotDelete lock covers, by their registered names. */
function lockedNames(run: StackRun): string[] {
    const byId = new Map(run.mocks.resources.map((r) => [r.id, r.name]));
    return run
        .ofType(LOCK)
        .map((lock) => {
            assert.strictEqual(lock.inputs.level, "CanNotDelete", `${lock.name}: CanNotDelete, so updates still go through`);
            return byId.get(lock.inputs.scope) ?? `<unknown scope ${lock.inputs.scope}>`;
        })
        .sort();
}

describe("network.deletionProtection", function () {
    this.timeout(60000);

    it("aws-prod: every NLB has deletion protection; aws-dev: none has", async () => {
        const prod = (await runStack("aws-prod")).ofType(NLB);
        assert.ok(prod.length > 0);
        for (const nlb of prod) assert.deepStrictEqual([nlb.inputs.enableDeletionProtection, nlb.protect], [true, true], `${nlb.name}: deletion protection, Pulumi-protected`);
        for (const eip of (await runStack("aws-prod")).ofType(EIP).filter((e) => e.name.includes("-vip"))) assert.strictEqual(eip.protect, true, `${eip.name}: a VIP address`);
        for (const nlb of (await runStack("aws-dev")).ofType(NLB))
            assert.deepStrictEqual([nlb.inputs.enableDeletionProtection, nlb.protect], [false, false], `${nlb.name}: off by default`);
    });

    it("AWS: every NLB of a cluster split over several NLBs is protected", async () => {
        const channels = Array.from({ length: 60 }, (_, i) => ({ name: `feed-${i}`, protocol: "llp", port: 10000 + i }));
        const nlbs = (await runConfig(awsConfig({ channels, network: { allowedCidrs: ["198.51.100.0/24"], deletionProtection: true } }))).ofType(NLB);
        assert.ok(nlbs.length >= 2, `${nlbs.length} NLBs`);
        for (const nlb of nlbs) assert.strictEqual(nlb.inputs.enableDeletionProtection, true, nlb.name);
    });

    it("azure-prod: the load balancer and its public IP are locked against deletion; azure-dev: nothing is", async () => {
        const prod = await runStack("azure-prod");
        const lb = prod.ofType(AZURE_LB)[0];
        const vip = prod.ofType(PUBLIC_IP).find((ip) => ip.name === "iguana-vip")!;
        assert.deepStrictEqual(lockedNames(prod), [lb.name, vip.name].sort());
        // Pulumi deletes its own lock before what it locks: protect stops `pulumi destroy` itself.
        assert.deepStrictEqual([lb.protect, vip.protect], [true, true], "the LB and the VIP are Pulumi-protected");
        assert.deepStrictEqual(lockedNames(await runStack("azure-dev")), []);
    });

    it("Azure with a floating IP: the floating public IP is locked; an internal load balancer alone is locked", async () => {
        const floating = await runConfig(azureConfig({ failover: { strategy: "floating-ip" }, network: { allowedCidrs: ["198.51.100.0/24"], deletionProtection: true } }));
        assert.deepStrictEqual(lockedNames(floating), ["iguana-vip"]);
        const internal = await runConfig(azureConfig({ network: { allowedCidrs: ["10.0.0.0/8"], public: false, deletionProtection: true } }));
        assert.deepStrictEqual(lockedNames(internal), ["iguana-lb"]);
    });
});
