import * as assert from "assert";
import { ROLE_PROBE_PATH, ROLE_PROBE_PORT, SSH_PORT } from "../components/constants";
import { awsLeaseLocator, leaseTablePolicy } from "../components/aws/lease";
import { awsArchitecture } from "../components/aws/workers";
import { StackRun, awsConfig, runConfig, runStack, workerGuardFiles, GuardFiles, assertNoPeerFence } from "./helpers";
import { assertAwsLease, workerStatements } from "./lease-assertions";

const T = {
    instance: "aws:ec2/instance:Instance",
    volume: "aws:ebs/volume:Volume",
    attachment: "aws:ec2/volumeAttachment:VolumeAttachment",
    key: "aws:kms/key:Key",
    nlb: "aws:lb/loadBalancer:LoadBalancer",
    targetGroup: "aws:lb/targetGroup:TargetGroup",
    listener: "aws:lb/listener:Listener",
    tgAttachment: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
    eip: "aws:ec2/eip:Eip",
    subnet: "aws:ec2/subnet:Subnet",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    nat: "aws:ec2/natGateway:NatGateway",
    routeTable: "aws:ec2/routeTable:RouteTable",
    component: "iguana-ha:index:HaIguanaCluster",
    table: "aws:dynamodb/table:Table",
    endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
};

/** Properties every AWS cluster must have, whatever the stack. */
function assertAwsInvariants(
    run: StackRun,
    stackChannels: { name: string; port: number; protocol: string; mode?: string }[],
    failover: { interval: number; threshold: number; idle: number },
) {
    const instances = run.ofType(T.instance);
    assert.strictEqual(instances.length, 2, "two workers");
    const [wk1, wk2] = ["iguana-wk1", "iguana-wk2"].map((n) => run.one(T.instance, n));
    assert.notStrictEqual(wk1.inputs.subnetId, wk2.inputs.subnetId, "workers in different subnets");
    const zoneOfSubnet = (id: string) => run.ofType(T.subnet).find((s) => s.id === id)!.inputs.availabilityZone;
    assert.notStrictEqual(zoneOfSubnet(wk1.inputs.subnetId), zoneOfSubnet(wk2.inputs.subnetId), "workers in different AZs");
    assert.deepStrictEqual(
        run.outputs.workers.map((w) => w.zone),
        [zoneOfSubnet(wk1.inputs.subnetId), zoneOfSubnet(wk2.inputs.subnetId)],
    );

    // The project key; with backup.copyToRegion, one more in that region for the copies.
    const keys = run.ofType(T.key);
    const copies = run.ofType("aws:backup/vault:Vault").some((v) => v.name === "iguana-backup-copy");
    assert.deepStrictEqual(keys.map((k) => k.name).sort(), ["iguana-key", ...(copies ? ["iguana-backup-copy-key"] : [])].sort());
    assert.ok(
        keys.every((k) => k.inputs.enableKeyRotation === true),
        "KMS key rotation on",
    );
    const keyArn = run.one(T.key, "iguana-key").state.arn;
    for (const instance of instances) {
        assert.strictEqual(instance.inputs.metadataOptions.httpTokens, "required", `${instance.name}: IMDSv2 required`);
        assert.strictEqual(instance.inputs.rootBlockDevice.encrypted, true, `${instance.name}: root encrypted`);
        assert.strictEqual(instance.inputs.rootBlockDevice.kmsKeyId, keyArn, `${instance.name}: root with the project key`);
        assert.strictEqual(instance.inputs.associatePublicIpAddress, undefined, "no public IP asked for");
        assert.strictEqual(instance.inputs.userData, undefined, "no clear-text user data");
    }
    const volumes = run.ofType(T.volume);
    assert.strictEqual(volumes.length, 2);
    for (const volume of volumes) {
        assert.strictEqual(volume.inputs.encrypted, true, `${volume.name} encrypted`);
        assert.strictEqual(volume.inputs.kmsKeyId, keyArn, `${volume.name} uses the project KMS key`);
        const attachment = run.ofType(T.attachment).find((a) => a.inputs.volumeId === volume.id)!;
        const instance = instances.find((i) => i.id === attachment.inputs.instanceId)!;
        assert.strictEqual(volume.inputs.availabilityZone, zoneOfSubnet(instance.inputs.subnetId), `${volume.name} in its worker's AZ`);
    }

    const nlbs = run.ofType(T.nlb);
    const webPort = 7654;
    const blockOf = (port: number) => Math.floor(port / 50);
    for (const nlb of nlbs) {
        const ports = run
            .ofType(T.listener)
            .filter((l) => l.inputs.loadBalancerArn === nlb.state.arn)
            .map((l) => l.inputs.port as number);
        const channelBlocks = new Set(ports.filter((p) => p !== webPort).map(blockOf));
        assert.ok(channelBlocks.size <= 1, `${nlb.name}: the channels of one port block only`);
        const block = channelBlocks.size ? [...channelBlocks][0] : blockOf(webPort);
        assert.strictEqual(nlb.name, block === blockOf(webPort) ? "iguana-nlb" : `iguana-nlb-p${block * 50}`, "an NLB is named by its port block, never renamed");
    }
    // `vip` is where every LLP channel of the first (lowest) port block listens.
    const firstBlock = Math.min(...stackChannels.map((c) => blockOf(c.port)));
    for (const channel of stackChannels.filter((c) => c.protocol === "llp" && blockOf(c.port) === firstBlock)) {
        const endpoint = run.outputs.channelEndpoints.find((c) => c.name === channel.name)!.endpoint;
        assert.strictEqual(endpoint, `${run.outputs.vip}:${channel.port}`, `${channel.name} listens on the vip`);
    }
    for (const nlb of nlbs) {
        assert.strictEqual(nlb.inputs.loadBalancerType, "network");
        assert.strictEqual(nlb.inputs.enableCrossZoneLoadBalancing, true, `${nlb.name}: cross-zone on`);
        assert.ok(run.ofType(T.listener).filter((l) => l.inputs.loadBalancerArn === nlb.state.arn).length <= 50, `${nlb.name}: at most 50 listeners`);
    }
    const endpointOf = (name: string) => run.outputs.channelEndpoints.find((c) => c.name === name)!.endpoint;

    for (const channel of stackChannels) {
        const tg = run.one(T.targetGroup, `iguana-${channel.name}`);
        const listener = run.one(T.listener, `iguana-${channel.name}`);
        assert.strictEqual(listener.inputs.port, channel.port);
        assert.strictEqual(listener.inputs.protocol, "TCP");
        assert.strictEqual(listener.inputs.defaultActions[0].targetGroupArn, tg.state.arn, `${channel.name}: listener forwards to its target group`);
        const nlb = nlbs.find((n) => n.state.arn === listener.inputs.loadBalancerArn)!;
        const block = Math.floor(channel.port / 50) * 50;
        assert.ok(nlb.name === "iguana-nlb" || nlb.name === `iguana-nlb-p${block}`, `${channel.name} is on the NLB of its port block (${nlb.name})`);
        const firstEip = run.ofType(T.eip).find((e) => e.state.allocationId === nlb.inputs.subnetMappings[0].allocationId)!;
        assert.ok(endpointOf(channel.name).includes(firstEip.state.publicIp), `${channel.name}: endpoint on its own NLB's address`);
        assert.strictEqual(tg.inputs.port, channel.port);
        const hc = tg.inputs.healthCheck;
        assert.strictEqual(hc.interval, failover.interval, `${channel.name}: configured interval`);
        assert.strictEqual(hc.healthyThreshold, failover.threshold, `${channel.name}: healthy threshold set explicitly`);
        assert.strictEqual(hc.unhealthyThreshold, failover.threshold, `${channel.name}: unhealthy threshold set explicitly`);
        assert.ok(hc.timeout < hc.interval, "timeout shorter than the interval");
        if ((channel.mode ?? "active-passive") === "active-passive") {
            assert.deepStrictEqual([hc.protocol, hc.port, hc.path, hc.matcher], ["HTTP", String(ROLE_PROBE_PORT), ROLE_PROBE_PATH, "200"], `${channel.name}: role probe`);
        } else {
            // From outside the worker the web port speaks TLS only (tls.enabled): the NLB checks it over HTTPS.
            assert.deepStrictEqual(
                [hc.protocol, hc.port, hc.path],
                [run.ofType("aws:secretsmanager/secret:Secret").some((s) => s.name === "iguana-tls") ? "HTTPS" : "HTTP", "7654", "/health"],
                `${channel.name}: Iguana health`,
            );
        }
        if (channel.protocol === "llp") {
            assert.strictEqual(listener.inputs.tcpIdleTimeoutSeconds, failover.idle, `${channel.name}: LLP idle timeout`);
        }
        const targets = run.ofType(T.tgAttachment).filter((a) => a.inputs.targetGroupArn === tg.state.arn);
        assert.deepStrictEqual(targets.map((t) => t.inputs.targetId).sort(), instances.map((i) => i.id).sort(), `${channel.name}: both workers are targets`);
    }
    const dashboardTg = run.one(T.targetGroup, "iguana-dashboard");
    assert.strictEqual(dashboardTg.inputs.healthCheck.path, ROLE_PROBE_PATH, "dashboard follows the active worker");

    for (const rule of run.ofType(T.ingress)) {
        const covers22 = rule.inputs.ipProtocol === "-1" || (rule.inputs.fromPort <= SSH_PORT && rule.inputs.toPort >= SSH_PORT);
        assert.ok(!covers22 || rule.inputs.referencedSecurityGroupId, `${rule.name} must not open port 22`);
    }
    // keepalived is gone: nothing admits VRRP (IP protocol 112), nor anything else from worker to worker.
    const workerToWorker = run.ofType(T.ingress).filter((r) => r.inputs.ipProtocol === "112" || r.inputs.referencedSecurityGroupId === r.inputs.securityGroupId);
    assert.deepStrictEqual(
        workerToWorker.map((r) => r.name),
        [],
    );

    // every resource is a child of the component, named after it
    for (const r of run.mocks.resources.filter((r) => r.type !== T.component)) {
        assert.strictEqual(r.parent, "iguana", `${r.type} ${r.name} is parented to the cluster`);
        assert.ok(r.name.startsWith("iguana-"), `${r.name} is prefixed with the cluster name`);
    }
}

function assertOutputsContract(run: StackRun, channels: { name: string; port: number; protocol: string }[]) {
    const o = run.outputs;
    assert.deepStrictEqual(Object.keys(o).sort(), ["channelEndpoints", "cloud", "dashboardUrl", "vip", "vipAddresses", "workers"]);
    assert.strictEqual(o.vip, o.vipAddresses[0]);
    assert.strictEqual(new Set(o.vipAddresses).size, o.vipAddresses.length, "every VIP address listed once");
    assert.ok(
        o.vipAddresses.every((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)),
        "VIP addresses are IPv4 addresses",
    );
    assert.strictEqual(o.dashboardUrl, `http://${o.vip}:7654/`);
    assert.deepStrictEqual(
        o.channelEndpoints.map((c) => c.name),
        channels.map((c) => c.name),
    );
    for (const c of o.channelEndpoints) {
        assert.deepStrictEqual(Object.keys(c).sort(), ["endpoint", "mode", "name", "port", "protocol"]);
        const host = o.vipAddresses.find((a) => c.endpoint === (c.protocol === "llp" ? `${a}:${c.port}` : `http://${a}:${c.port}/`));
        assert.ok(host, `${c.name}: endpoint ${c.endpoint} is host:port (LLP) or a URL (HTTP) on a VIP address`);
    }
    assert.deepStrictEqual(
        o.workers.map((w) => [w.name, w.role]),
        [
            ["wk1", "primary"],
            ["wk2", "backup"],
        ],
    );
    for (const w of o.workers) assert.deepStrictEqual(Object.keys(w).sort(), ["id", "name", "privateIp", "role", "zone"]);
}

describe("AWS implementation", () => {
    describe("stack aws-dev", () => {
        let run: StackRun;
        let guards: Record<string, GuardFiles>;
        before(async () => {
            run = await runStack("aws-dev");
            guards = workerGuardFiles(run);
        });

        it("decides the active worker with a DynamoDB lease reached only through the workers' gateway endpoint", () => {
            assertAwsLease(run, guards, "us-east-1");
            const privateTables = ["iguana-private-a-rt", "iguana-private-b-rt"].map((n) => run.one(T.routeTable, n).id);
            assert.deepStrictEqual([...run.one(T.endpoint, "iguana-lease").inputs.routeTableIds].sort(), privateTables.sort(), "both private route tables, not the public one");
        });
        it("gives the workers no way to stop an instance without shared storage, and no EC2 API endpoint", () => {
            assert.deepStrictEqual(
                workerStatements(run).filter((s) => [s.Action].flat().some((a) => a.startsWith("ec2:"))),
                [],
            );
            assertNoPeerFence(guards);
            assert.deepStrictEqual(
                run.ofType(T.endpoint).map((e) => e.name),
                ["iguana-lease"],
            );
        });

        it("builds two encrypted, IMDSv2-only workers in two AZs behind a cross-zone NLB", () =>
            assertAwsInvariants(
                run,
                [
                    { name: "adt-in", port: 2575, protocol: "llp" },
                    { name: "fhir-api", port: 2590, protocol: "http" },
                ],
                { interval: 10, threshold: 2, idle: 1800 },
            ));
        it("exports the outputs contract", () =>
            assertOutputsContract(run, [
                { name: "adt-in", port: 2575, protocol: "llp" },
                { name: "fhir-api", port: 2590, protocol: "http" },
            ]));
        it("one Elastic IP per NLB subnet mapping, and they are the VIP addresses", () => {
            // Ports 2575 and 2590 share the block 2550-2599; the dashboard (7654) joins their NLB,
            // which has room, instead of costing an NLB and two Elastic IPs of its own.
            const names = [["iguana-nlb-p2550", "iguana-vip-p2550-a", "iguana-vip-p2550-b"]];
            assert.deepStrictEqual(
                run
                    .ofType(T.nlb)
                    .map((n) => n.name)
                    .sort(),
                names.map((n) => n[0]).sort(),
            );
            const expected: string[] = [];
            for (const [nlbName, ...eipNames] of names) {
                const nlb = run.one(T.nlb, nlbName);
                const eips = eipNames.map((n) => run.one(T.eip, n));
                assert.deepStrictEqual(
                    nlb.inputs.subnetMappings.map((m: any) => m.allocationId),
                    eips.map((e) => e.state.allocationId),
                );
                const subnets = nlb.inputs.subnetMappings.map((m: any) => run.ofType(T.subnet).find((s) => s.id === m.subnetId)!);
                assert.deepStrictEqual(
                    subnets.map((s: any) => s.name),
                    ["iguana-public-a", "iguana-public-b"],
                );
                assert.strictEqual(nlb.inputs.internal, false);
                expected.push(...eips.map((e) => e.state.publicIp));
            }
            assert.deepStrictEqual(run.outputs.vipAddresses, expected);
            assert.strictEqual(run.outputs.dashboardUrl, `http://${expected[0]}:7654/`);
        });
        it("uses a single NAT gateway when the stack asks for it", () => {
            const nats = run.ofType(T.nat);
            assert.strictEqual(nats.length, 1);
            const privateRoutes = ["iguana-private-a-rt", "iguana-private-b-rt"].map((n) => run.one(T.routeTable, n).inputs.routes[0].natGatewayId);
            assert.deepStrictEqual(privateRoutes, [nats[0].id, nats[0].id]);
        });
        it("opens each channel port to each allowed CIDR, and the dashboard to admin CIDRs only", () => {
            const rules = run.ofType(T.ingress);
            const channelSg = run.one("aws:ec2/securityGroup:SecurityGroup", "iguana-channels-sg");
            const channelRules = rules.filter((r) => r.inputs.securityGroupId === channelSg.id);
            assert.deepStrictEqual(channelRules.map((r) => [r.inputs.fromPort, r.inputs.toPort, r.inputs.cidrIpv4]).sort(), [
                [2575, 2575, "198.51.100.0/24"],
                [2590, 2590, "198.51.100.0/24"],
            ]);
            const dashboard = rules.filter((r) => r.inputs.fromPort === 7654);
            assert.deepStrictEqual(
                dashboard.map((r) => r.inputs.cidrIpv4),
                ["192.0.2.0/28"],
                "web port only from adminCidrs (no active-active channel here)",
            );
            const probe = run.one(T.ingress, "iguana-in-role-probe");
            assert.deepStrictEqual([probe.inputs.fromPort, probe.inputs.cidrIpv4], [ROLE_PROBE_PORT, "10.40.0.0/16"], "role probe from the VPC only");
        });
    });

    describe("stack aws-prod", () => {
        let run: StackRun;
        before(async () => (run = await runStack("aws-prod")));
        const channels = [
            { name: "adt-in", port: 2575, protocol: "llp" },
            { name: "orm-in", port: 2576, protocol: "llp" },
            { name: "oru-out-ack", port: 2577, protocol: "llp" },
            { name: "siu-in", port: 2578, protocol: "llp" },
            { name: "mdm-in", port: 2579, protocol: "llp" },
            { name: "results-api", port: 2590, protocol: "http", mode: "active-active" },
        ];

        it("keeps every invariant, with the active-active channel on Iguana health", () => assertAwsInvariants(run, channels, { interval: 5, threshold: 2, idle: 3600 }));
        it("exports the outputs contract", () => assertOutputsContract(run, channels));
        it("places workers on dedicated tenancy with the larger size and data disks", () => {
            for (const i of run.ofType(T.instance)) {
                assert.strictEqual(i.inputs.tenancy, "dedicated");
                assert.strictEqual(i.inputs.instanceType, "m6i.xlarge");
            }
            assert.deepStrictEqual(
                run.ofType(T.volume).map((v) => v.inputs.size),
                [500, 500],
            );
        });
        it("runs a NAT gateway per AZ, each private subnet routed through its own", () => {
            const nats = run.ofType(T.nat);
            assert.strictEqual(nats.length, 2);
            const routes = ["iguana-private-a-rt", "iguana-private-b-rt"].map((n) => run.one(T.routeTable, n).inputs.routes[0].natGatewayId);
            assert.deepStrictEqual(routes, [run.one(T.nat, "iguana-nat-a").id, run.one(T.nat, "iguana-nat-b").id]);
        });
        it("lets the NLB health-check Iguana's web port from the VPC for the active-active channel", () => {
            const rule = run.one(T.ingress, "iguana-in-iguana-health");
            assert.deepStrictEqual([rule.inputs.fromPort, rule.inputs.cidrIpv4], [7654, "10.60.0.0/16"]);
        });
    });

    describe("edge configurations", () => {
        it("an internal cluster uses fixed private VIPs and no Elastic IP for the NLB", async () => {
            const run = await runConfig(
                awsConfig({ channels: [{ name: "adt", protocol: "llp", port: 7660 }], network: { allowedCidrs: ["10.0.0.0/8"], public: false, cidr: "10.50.0.0/20" } }),
            );
            const nlb = run.one(T.nlb, "iguana-nlb");
            assert.strictEqual(nlb.inputs.internal, true);
            assert.deepStrictEqual(
                nlb.inputs.subnetMappings.map((m: any) => m.privateIpv4Address),
                ["10.50.8.5", "10.50.12.5"],
            );
            assert.deepStrictEqual(run.outputs.vipAddresses, ["10.50.8.5", "10.50.12.5"]);
            assert.ok(!run.ofType(T.eip).some((e) => e.name.includes("vip")), "no VIP Elastic IPs");
            assert.deepStrictEqual(
                run.outputs.workers.map((w) => w.privateIp),
                ["10.50.8.10", "10.50.12.10"],
            );
        });

        it("an internal cluster with several NLBs gives each fixed private addresses by port block", async () => {
            const run = await runConfig(awsConfig({ network: { allowedCidrs: ["10.0.0.0/8"], public: false, cidr: "10.50.0.0/18" } }));
            const shard = run.one(T.nlb, "iguana-nlb-p2550");
            // block 51 (2550-2599): host offset 100 + 51 in each private /20
            assert.deepStrictEqual(
                shard.inputs.subnetMappings.map((m: any) => m.privateIpv4Address),
                ["10.50.32.151", "10.50.48.151"],
            );
            assert.strictEqual(run.outputs.channelEndpoints[0].endpoint, "10.50.32.151:2575");
        });

        it("an Iguana 6 active-active channel health-checks TCP on the web port", async () => {
            const run = await runConfig(awsConfig({ iguana: { edition: "iguana6" }, channels: [{ name: "api", protocol: "http", port: 8080, mode: "active-active" }] }));
            const hc = run.one(T.targetGroup, "iguana-api").inputs.healthCheck;
            assert.deepStrictEqual([hc.protocol, hc.port, hc.path], ["TCP", "6543", undefined]);
            assert.strictEqual(run.outputs.dashboardUrl, `http://${run.outputs.vip}:6543/`);
        });

        it("a longer lease reaches the workers' settings; the lease item is the cluster's name", async () => {
            const run = await runConfig(awsConfig({ failover: { leaseSeconds: 20 } }));
            const guards = workerGuardFiles(run);
            const table = run.one(T.table, "iguana-lease");
            for (const worker of ["wk1", "wk2"]) {
                assert.strictEqual(guards[worker].lease.leaseSeconds, 20);
                const { kind, region, table: tableName, itemKey } = guards[worker].lease.store;
                assert.deepStrictEqual({ kind, tableName, region, itemKey }, awsLeaseLocator(table.state.name, "eu-west-1", "iguana"));
            }
            assert.deepStrictEqual(awsLeaseLocator("t", "eu-west-1", "east"), { kind: "aws-dynamodb", tableName: "t", region: "eu-west-1", itemKey: "east" });
        });

        it("the lease policy's item condition is the locator's item key", async () => {
            const policy = JSON.parse(
                await new Promise<string>((resolve) => leaseTablePolicy({ arn: "arn:aws:dynamodb:r:1:table/t", name: "t" }, "west", "arn:aws:kms:r:1:key/k", "r").apply(resolve)),
            );
            assert.deepStrictEqual(policy.Statement[0].Condition["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"], [awsLeaseLocator("t", "r", "west").itemKey]);
        });

        it("Graviton instance types get the arm64 Ubuntu image", async () => {
            assert.strictEqual(awsArchitecture("m7g.large"), "arm64");
            assert.strictEqual(awsArchitecture("c7gn.xlarge"), "arm64");
            assert.strictEqual(awsArchitecture("t4g.medium"), "arm64");
            assert.strictEqual(awsArchitecture("m6i.large"), "x86_64");
            assert.strictEqual(awsArchitecture("g5.xlarge"), "x86_64");
            const run = await runConfig(awsConfig({ workers: { size: "m7g.large" } }));
            const ami = run.mocks.calls.find((c) => c.token === "aws:ec2/getAmi:getAmi")!;
            assert.deepStrictEqual(ami.inputs.owners, ["099720109477"], "Canonical-owned images only");
            assert.strictEqual(ami.inputs.mostRecent, true);
            assert.ok(ami.inputs.filters.some((f: any) => f.name === "name" && f.values[0].includes("ubuntu-noble-24.04-arm64")));
        });

        it("invalid configuration fails before any resource is registered", async () => {
            const { evaluate } = await import("../offline/evaluate");
            const { RecordingMocks } = await import("../offline/mocks");
            const { program } = await import("../components/program");
            const { toPulumiConfig } = await import("../offline/stack-config");
            const mocks = new RecordingMocks();
            const config = toPulumiConfig("iguana-ha", awsConfig({ channels: [{ name: "adt", protocol: "llp", port: 2575, mode: "active-active" }] }));
            await assert.rejects(evaluate({ stack: "test", config, mocks, run: () => program() }), /iguana-ha:channels\[0\]\.mode: an LLP channel cannot be active-active/);
            assert.deepStrictEqual(mocks.resources, [], "nothing registered, not even the component");
        });

        it("two clusters in one program do not collide", async () => {
            const { evaluate } = await import("../offline/evaluate");
            const { HaIguanaCluster } = await import("../components/cluster");
            const { validateClusterConfig } = await import("../components/config");
            const cfg = validateClusterConfig(
                { cloud: "aws", region: "us-east-1", channels: [{ name: "adt", protocol: "llp", port: 2575 }], network: { allowedCidrs: ["10.0.0.0/8"] } },
                "test",
            );
            const { mocks } = await evaluate({
                stack: "test",
                config: {},
                run: () => {
                    const a = new HaIguanaCluster("east", cfg);
                    const b = new HaIguanaCluster("west", cfg);
                    return { a: a.vip, b: b.vip };
                },
            });
            const keys = mocks.resources.map((r) => `${r.type}::${r.name}`);
            assert.strictEqual(new Set(keys).size, keys.length, `duplicate resource names: ${keys.filter((k, i) => keys.indexOf(k) !== i).join(", ")}`);
            assert.ok(mocks.resources.some((r) => r.name === "east-wk1") && mocks.resources.some((r) => r.name === "west-wk1"));
        });
    });
});
