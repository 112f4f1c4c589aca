/**
 * network.existing (AWS) through the example program that uses it: a cluster joins a VPC another
 * stack owns, with ids and the installer URL as Outputs, and reads the component's children.
 */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigValidationError, HaIguanaCluster, HaIguanaClusterArgs } from "../components";
import { MOCK_AZURE_SUBSCRIPTION_ID, MockAzureVnet } from "../offline/mocks";
import { hostAddress, parseCidr } from "../components/cidr";
import { WORKER_HOST_OFFSET, INTERNAL_VIP_HOST_OFFSET } from "../components/constants";
import { internalVipOffset, shardChannels } from "../components/aws/scale";
import { evaluate } from "../offline/evaluate";
import { MockAwsVpc, RecordingMocks } from "../offline/mocks";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const existingNetworkProgram: () => Promise<Record<string, unknown>> = require("../examples/existing-network");

const NETWORK_STACK = "acme/hospital-network/prod";
const HOSPITAL_VPC: MockAwsVpc = {
    id: "vpc-0a1b2c3d4e5f60718",
    cidrBlock: "10.8.0.0/16",
    subnets: [
        { id: "subnet-0aaaaaaaaaaaaaaa1", cidrBlock: "10.8.20.0/24", availabilityZone: "us-east-1a", routeTableId: "rtb-0aaaaaaaaaaaaaaa1" },
        { id: "subnet-0bbbbbbbbbbbbbbb2", cidrBlock: "10.8.21.0/24", availabilityZone: "us-east-1b", routeTableId: "rtb-0bbbbbbbbbbbbbbb2" },
    ],
};
const INSTALLER_URL = "https://hospital-installers.s3.us-east-1.amazonaws.com/iguanax-linux.tar.gz";

function hospitalMocks(vpc: MockAwsVpc = HOSPITAL_VPC, installerUrl = INSTALLER_URL): RecordingMocks {
    const mocks = new RecordingMocks("us-east-1");
    mocks.existingVpcs.push(vpc);
    mocks.stackOutputs[NETWORK_STACK] = { vpcId: HOSPITAL_VPC.id, workerSubnetIds: HOSPITAL_VPC.subnets.map((s) => s.id), installerUrl, owner: "hospital-network-team" };
    return mocks;
}

function run(mocks: RecordingMocks, extraConfig: Record<string, string> = {}) {
    return evaluate({
        stack: "prod",
        config: { "aws:region": "us-east-1", "hospital-iguana:networkStack": NETWORK_STACK, "hospital-iguana:senderCidrs": '["10.200.0.0/16"]', ...extraConfig },
        mocks,
        run: () => existingNetworkProgram(),
    });
}

describe("network.existing (AWS): examples/existing-network.ts", function () {
    this.timeout(60000);

    it("puts the workers and the internal NLB in the given subnets at their fixed addresses, and creates no network", async () => {
        const mocks = hospitalMocks();
        const outputs = (await run(mocks)).outputs as Record<string, unknown>;
        const created = (type: string) => mocks.resources.filter((r) => r.type === type);
        for (const type of [
            "aws:ec2/vpc:Vpc",
            "aws:ec2/subnet:Subnet",
            "aws:ec2/internetGateway:InternetGateway",
            "aws:ec2/natGateway:NatGateway",
            "aws:ec2/routeTable:RouteTable",
        ]) {
            assert.deepStrictEqual(created(type), [], `no ${type} in an existing network`);
        }
        // The VPC is the owner's: the audit trail covers the cluster's subnets (an internal NLB: the workers').
        assert.deepStrictEqual(
            created("aws:ec2/flowLog:FlowLog").map((f) => [f.inputs.subnetId, f.inputs.vpcId]),
            HOSPITAL_VPC.subnets.map((s) => [s.id, undefined]),
        );
        const instances = created("aws:ec2/instance:Instance");
        assert.deepStrictEqual(
            instances.map((i) => [i.inputs.subnetId, i.inputs.privateIp]),
            HOSPITAL_VPC.subnets.map((s) => [s.id, hostAddress(parseCidr(s.cidrBlock), WORKER_HOST_OFFSET)]),
        );
        const volumes = created("aws:ebs/volume:Volume");
        assert.deepStrictEqual(
            volumes.map((v) => v.inputs.availabilityZone),
            HOSPITAL_VPC.subnets.map((s) => s.availabilityZone),
            "each data disk in its worker's zone, taken from the subnet",
        );
        const [nlb] = created("aws:lb/loadBalancer:LoadBalancer");
        const [shard] = shardChannels([{ name: "adt-in", protocol: "llp", port: 2575, mode: "active-passive" }], 7654);
        assert.strictEqual(nlb.inputs.internal, true);
        assert.deepStrictEqual(
            nlb.inputs.subnetMappings,
            HOSPITAL_VPC.subnets.map((s) => ({ subnetId: s.id, privateIpv4Address: hostAddress(parseCidr(s.cidrBlock), internalVipOffset(shard, INTERNAL_VIP_HOST_OFFSET)) })),
        );
        for (const sg of created("aws:ec2/securityGroup:SecurityGroup")) assert.strictEqual(sg.inputs.vpcId, HOSPITAL_VPC.id, sg.name);
        const leaseEndpoint = created("aws:ec2/vpcEndpoint:VpcEndpoint").find((e) => e.name === "iguana-lease")!;
        assert.deepStrictEqual(
            leaseEndpoint.inputs.routeTableIds,
            HOSPITAL_VPC.subnets.map((s) => s.routeTableId),
        );
        // The Output installer URL reaches both workers' boot configuration.
        for (const instance of instances) assert.ok(Buffer.from(instance.inputs.userDataBase64, "base64").toString("utf8").includes(INSTALLER_URL), instance.name);
        // The hospital's tags, one of them an Output, on every tagged resource beside the cluster's own.
        const tagged = mocks.resources.filter((r) => r.inputs.tags !== undefined);
        assert.ok(tagged.length > 15);
        for (const r of tagged)
            assert.deepStrictEqual([r.inputs.tags.dataClassification, r.inputs.tags.networkOwner, r.inputs.tags.cluster], ["phi", "hospital-network-team", "iguana"], r.name);
        // The children the program exposes resolve to the registered resources.
        const sg = created("aws:ec2/securityGroup:SecurityGroup").find((r) => r.name === "iguana-workers-sg")!;
        assert.strictEqual(outputs.workerSecurityGroupId, sg.id);
        assert.strictEqual(outputs.leaseTableName, created("aws:dynamodb/table:Table")[0].state.name);
        assert.strictEqual((outputs.loadBalancerArns as string[]).length, 1);
        assert.deepStrictEqual(
            (outputs.workers as { privateIp: string; zone: string }[]).map((w) => [w.privateIp, w.zone]),
            instances.map((i, n) => [i.inputs.privateIp, HOSPITAL_VPC.subnets[n].availabilityZone]),
        );
    });

    it("names every bad argument in one error, before any resource is registered", async () => {
        const mocks = hospitalMocks();
        await assert.rejects(
            run(mocks, {
                "hospital-iguana:cidrs": '["10.8.0.0/16", "10.9.20.0/24", "10.8.21.0/30"]',
                "hospital-iguana:channels": '[{"name":"adt-in","protocol":"llp","port":2575},{"name":"orm-in","protocol":"llp","port":2575}]',
                "hospital-iguana:senderCidrs": '["10.200.0.0/33"]',
            }),
            (e: unknown) => {
                assert.ok(e instanceof ConfigValidationError, String(e));
                const keys = e.problems.map((p) => p.key);
                assert.deepStrictEqual(keys.sort(), [
                    "iguana-ha:channels[1].port",
                    "iguana-ha:network.allowedCidrs[0]",
                    "iguana-ha:network.existing.workerSubnets[0].cidr",
                    "iguana-ha:network.existing.workerSubnets[1].cidr",
                ]);
                assert.match(e.message, /"10\.9\.20\.0\/24" is not inside network\.cidr/);
                assert.match(e.message, /"10\.8\.21\.0\/30" has prefix \/30; allowed: \/16 to \/28/);
                assert.match(e.message, /channels\[1\]\.port: 2575 is already used by channels\[0\]/);
                return true;
            },
        );
        assert.deepStrictEqual(
            mocks.resources.filter((r) => r.custom && r.type !== "pulumi:pulumi:StackReference"),
            [],
            "nothing of the cluster registered",
        );
    });

    it("refuses, by key, a CIDR that is not the subnet's, two subnets in one zone, and a bad Output installer URL", async () => {
        const sameZone: MockAwsVpc = {
            ...HOSPITAL_VPC,
            subnets: HOSPITAL_VPC.subnets.map((s, i) => ({ ...s, availabilityZone: "us-east-1a", cidrBlock: i === 1 ? "10.8.22.0/24" : s.cidrBlock })),
        };
        await assert.rejects(run(hospitalMocks(sameZone)), (e: unknown) => {
            const message = String((e as Error).message);
            assert.match(message, /network\.existing\.workerSubnets\[1\]\.cidr: "10\.8\.21\.0\/24" is not subnet subnet-0bbbbbbbbbbbbbbb2's CIDR \(10\.8\.22\.0\/24\)/);
            assert.match(message, /network\.existing\.workerSubnets: both subnets are in us-east-1a/);
            return true;
        });
        await assert.rejects(run(hospitalMocks(HOSPITAL_VPC, "ftp://hospital/iguana.tar.gz")), /iguana\.installerUrl: "ftp:\/\/hospital\/iguana\.tar\.gz" is not an http\(s\) URL/);
    });
});

const HOSPITAL_VNET: MockAzureVnet = {
    resourceGroupName: "hospital-network-rg",
    name: "hospital-vnet",
    addressPrefixes: ["10.9.0.0/16"],
    subnets: [
        { name: "iguana-a", addressPrefix: "10.9.20.0/24" },
        { name: "iguana-b", addressPrefix: "10.9.21.0/24" },
        { name: "endpoints", addressPrefix: "10.9.30.0/27" },
    ],
};
const VNET_ID = `/subscriptions/${MOCK_AZURE_SUBSCRIPTION_ID}/resourceGroups/${HOSPITAL_VNET.resourceGroupName}/providers/Microsoft.Network/virtualNetworks/${HOSPITAL_VNET.name}`;
const subnetId = (name: string) => `${VNET_ID}/subnets/${name}`;

function azureArgs(cidrs: string[] = HOSPITAL_VNET.subnets.map((s) => s.addressPrefix)): HaIguanaClusterArgs {
    return {
        cloud: "azure",
        region: "eastus2",
        channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
        network: {
            cidr: "10.9.0.0/16",
            allowedCidrs: ["10.200.0.0/16"],
            public: false,
            existing: {
                // Outputs, as another stack's would be.
                virtualNetworkId: pulumi.output(VNET_ID),
                workerSubnets: [0, 1].map((i) => ({ id: pulumi.output(subnetId(HOSPITAL_VNET.subnets[i].name)), cidr: cidrs[i] })),
                privateEndpointSubnet: { id: pulumi.output(subnetId("endpoints")), cidr: cidrs[2] },
            },
        },
    };
}

function runAzure(args: HaIguanaClusterArgs) {
    const mocks = new RecordingMocks("eastus2");
    mocks.existingVnets.push(HOSPITAL_VNET);
    return { mocks, run: evaluate({ stack: "prod", config: { "azure-native:location": "eastus2" }, mocks, run: () => ({ vip: new HaIguanaCluster("iguana", args).vip }) }) };
}

describe("network.existing (Azure)", function () {
    this.timeout(60000);

    it("with network.egress.proxy, HTTPS to the private endpoints goes to the given endpoint subnet only", async () => {
        const args = azureArgs();
        const { mocks, run } = runAzure({ ...args, network: { ...args.network, egress: { restricted: true, proxy: "http://10.200.0.10:3128" } } });
        await run;
        const nsg = mocks.resources.find((r) => r.type === "azure-native:network:NetworkSecurityGroup" && r.name === "iguana-workers-nsg")!;
        const rule = nsg.inputs.securityRules.find((r: { name: string }) => r.name === "allow-private-endpoints-out");
        assert.strictEqual(rule.destinationAddressPrefix, "10.9.30.0/27");
    });

    it("puts the NICs, the internal frontend and the storage endpoints in the given subnets, the NSG on the NICs, and creates no network", async () => {
        const { mocks, run } = runAzure(azureArgs());
        const { outputs } = await run;
        const created = (type: string) => mocks.resources.filter((r) => r.type === type);
        for (const type of ["azure-native:network:VirtualNetwork", "azure-native:network:Subnet", "azure-native:network:NatGateway"])
            assert.deepStrictEqual(created(type), [], type);
        const nsgs = created("azure-native:network:NetworkSecurityGroup");
        assert.deepStrictEqual(
            nsgs.map((n) => n.name),
            ["iguana-workers-nsg"],
            "the workers' NSG only (the endpoint subnet is the owner's)",
        );
        const nics = created("azure-native:network:NetworkInterface");
        assert.deepStrictEqual(
            nics.map((n) => [n.inputs.ipConfigurations[0].subnet.id, n.inputs.ipConfigurations[0].privateIPAddress, n.inputs.networkSecurityGroup?.id]),
            [0, 1].map((i) => [subnetId(HOSPITAL_VNET.subnets[i].name), hostAddress(parseCidr(HOSPITAL_VNET.subnets[i].addressPrefix), WORKER_HOST_OFFSET), nsgs[0].id]),
        );
        const [lb] = created("azure-native:network:LoadBalancer");
        assert.strictEqual(lb.inputs.frontendIPConfigurations[0].subnet.id, subnetId("iguana-a"));
        assert.strictEqual(outputs.vip, hostAddress(parseCidr("10.9.20.0/24"), INTERNAL_VIP_HOST_OFFSET));
        for (const endpoint of created("azure-native:network:PrivateEndpoint")) assert.strictEqual(endpoint.inputs.subnet.id, subnetId("endpoints"), endpoint.name);
        for (const link of created("azure-native:privatedns:VirtualNetworkLink")) assert.strictEqual(link.inputs.virtualNetwork.id, VNET_ID, link.name);
        // The VNet is the owner's (it may have a flow log of its own): the cluster's flow logs cover the worker subnets.
        assert.deepStrictEqual(
            created("azure-native:network:FlowLog").map((f) => f.inputs.targetResourceId),
            [subnetId("iguana-a"), subnetId("iguana-b")],
        );
    });

    it("refuses, by key, a CIDR that is not the subnet's and a network.cidr the VNet does not have", async () => {
        await assert.rejects(
            runAzure(azureArgs(["10.9.20.0/24", "10.9.22.0/24", "10.9.30.0/27"])).run,
            /network\.existing\.workerSubnets\[1\]\.cidr: "10\.9\.22\.0\/24" is not subnet iguana-b's CIDR \(10\.9\.21\.0\/24\)/,
        );
        const args = azureArgs();
        await assert.rejects(
            runAzure({ ...args, network: { ...args.network, cidr: "10.9.0.0/17" } }).run,
            /network\.cidr: "10\.9\.0\.0\/17" is not an address space of VNet hospital-vnet/,
        );
    });

    it("refuses the other cloud's keys, a missing endpoint subnet and floating-ip, before anything is registered", async () => {
        const args = azureArgs();
        const { mocks, run } = runAzure({
            ...args,
            failover: { strategy: "floating-ip" },
            network: {
                ...args.network,
                public: true,
                existing: { vpcId: "vpc-0123456789abcdef0", virtualNetworkId: VNET_ID, workerSubnets: args.network.existing!.workerSubnets },
            },
        });
        await assert.rejects(run, (e: unknown) => {
            assert.ok(e instanceof ConfigValidationError, String(e));
            assert.deepStrictEqual(e.problems.map((p) => p.key).sort(), [
                "iguana-ha:network.existing",
                "iguana-ha:network.existing.privateEndpointSubnet",
                "iguana-ha:network.existing.vpcId",
            ]);
            return true;
        });
        assert.deepStrictEqual(
            mocks.resources.filter((r) => r.custom),
            [],
        );
    });
});
