/**
 * `failover.strategy: floating-ip` under mocks, on both clouds: no load balancer, one public
 * address that no Pulumi resource attaches, workers that can move it and nothing else, and
 * worker bootstrap that does the moving.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { VIP_MOVER_ACTIONS } from "../components/azure/access";
import { bootstrapSettings, renderWorkerFiles } from "../components/bootstrap";
import { validateClusterConfig } from "../components/config";
import { planNetwork, planWorkers } from "../components/model";
import { describeModes } from "../components/modes";
import { VIP_MOVE } from "../components/constants";
import { StackRun, awsConfig, azureConfig, runConfig, runPlan, workerGuardFiles, GuardFiles, assertNoPeerFence } from "./helpers";
import { assertAwsLease, assertAzureLease, workerStatements } from "./lease-assertions";

const floating = { failover: { strategy: "floating-ip" } };
const channels = [
    { name: "adt-in", protocol: "llp", port: 2575 },
    { name: "results-api", protocol: "http", port: 8080 },
];

function cloudInitOf(base64: string): any {
    const text = Buffer.from(base64, "base64").toString("utf8");
    return { text, doc: yaml.load(text) as any };
}

function file(doc: any, suffix: string): string {
    const found = doc.write_files.find((f: any) => f.path.endsWith(suffix));
    assert.ok(found, `no ${suffix} in the user data`);
    return found.content;
}

/** What both clouds' workers must carry: the mover, its config, the timer, and a notify that runs it. */
function assertWorkerMovesVip(base64: string, expectConfig: (config: any) => void) {
    const { text, doc } = cloudInitOf(base64);
    const notify = file(doc, "/notify.sh");
    assert.match(
        notify,
        /MASTER\)\n\s+'[^']*llp-gate\.sh' open\n\s+if \[ "\$detail" = takeover \]; then [^\n]*publish-event\.py[^\n]*; fi\n\s+;;/,
        "MASTER only opens the ports (and tells the cloud of a takeover): the guard took the VIP before it called MASTER",
    );
    assert.match(notify, /\*\)[\s\S]*llp-gate\.sh' close[\s\S]*setsid -f .*vip-mover\.py' '.*vip\.json' release/, "any other role closes the ports and lets go, detached");
    // The guard takes the VIP itself (one attempt at a time, while it holds the lease), then opens the ports.
    const lease = JSON.parse(file(doc, "/lease.json"));
    assert.deepStrictEqual(lease.vip.command.slice(-3), ["/usr/local/lib/iguana-ha/vip-mover.py", "/etc/iguana-ha/vip.json", "take"]);
    const gate = file(doc, "/llp-gate.sh");
    assert.match(gate, /--dports 2575,8080,17000,17001 -j REJECT/, "the passive worker refuses every channel port, HTTP too, and stunnel's port in front of each");
    const config = JSON.parse(file(doc, "/vip.json"));
    assert.strictEqual(config.retrySeconds, VIP_MOVE.retrySeconds);
    assert.match(config.stateFile, /\/run\/iguana-ha\/state$/);
    expectConfig(config);
    assert.match(file(doc, "/vip-mover.py"), /^#!\/usr\/bin\/env python3/);
    assert.match(file(doc, "iguana-vip-reconcile.timer"), new RegExp(`OnUnitActiveSec=${VIP_MOVE.reconcileEverySeconds}`));
    assert.ok(doc.runcmd.some((c: string | string[]) => Array.isArray(c) && c.join(" ") === "systemctl enable --now iguana-vip-reconcile.timer"));
    // The config names resources only; the worker's own identity signs every call.
    const cloudKeys: Record<string, string[]> = {
        aws: ["allocationId", "apiVersion", "ec2Url", "imdsUrl", "region"],
        azure: ["apiVersion", "armResource", "armUrl", "imdsUrl", "ipConfigName", "operationTimeoutSeconds", "peerNicId", "pollSeconds", "publicIpId", "selfNicId"],
    };
    assert.deepStrictEqual(Object.keys(config).sort(), ["cloud", "giveUpAfterSeconds", "retrySeconds", "stateFile", "takeSettleSeconds", config.cloud].sort());
    assert.deepStrictEqual(Object.keys(config[config.cloud]).sort(), cloudKeys[config.cloud]);
    assert.doesNotMatch(text, /"(SecretAccessKey|Token|access_token)"\s*:\s*"/, "no credential value in the user data");
}

describe("failover.strategy: floating-ip", () => {
    describe("AWS", () => {
        let run: StackRun;
        let guards: Record<string, GuardFiles>;
        before(async () => {
            run = await runConfig(awsConfig({ ...floating, channels, network: { allowedCidrs: ["198.51.100.0/24"], adminCidrs: ["192.0.2.0/28"] } }));
            guards = workerGuardFiles(run);
        });

        it("decides who holds the VIP with the DynamoDB lease, reached through a gateway endpoint on the workers' (public) route table", () => {
            assertAwsLease(run, guards, "eu-west-1");
            const publicTable = run.one("aws:ec2/routeTable:RouteTable", "iguana-public-rt");
            assert.deepStrictEqual(run.one("aws:ec2/vpcEndpoint:VpcEndpoint", "iguana-lease").inputs.routeTableIds, [publicTable.id]);
            assert.deepStrictEqual(
                workerStatements(run).filter((s) => s.Action === "ec2:StopInstances"),
                [],
                "no fence without shared storage",
            );
        });

        it("has no load balancer and no NAT gateway; the one Elastic IP is the VIP and no resource associates it", () => {
            for (const type of ["aws:lb/loadBalancer:LoadBalancer", "aws:lb/listener:Listener", "aws:lb/targetGroup:TargetGroup", "aws:ec2/natGateway:NatGateway"]) {
                assert.deepStrictEqual(
                    run.ofType(type).map((r) => r.name),
                    [],
                    type,
                );
            }
            const eips = run.ofType("aws:ec2/eip:Eip");
            assert.deepStrictEqual(
                eips.map((e) => e.name),
                ["iguana-vip"],
            );
            assert.strictEqual(eips[0].inputs.domain, "vpc");
            assert.strictEqual(eips[0].inputs.instance, undefined, "the notify script associates it, so `pulumi up` never moves it back");
            assert.strictEqual(eips[0].inputs.networkInterface, undefined);
            assert.deepStrictEqual(run.ofType("aws:ec2/eipAssociation:EipAssociation"), []);
            assert.strictEqual(run.outputs.vip, eips[0].state.publicIp);
            assert.deepStrictEqual(run.outputs.vipAddresses, [run.outputs.vip]);
            assert.deepStrictEqual(
                run.outputs.channelEndpoints.map((c) => c.endpoint),
                [`${run.outputs.vip}:2575`, `http://${run.outputs.vip}:8080/`],
            );
            assert.strictEqual(run.outputs.dashboardUrl, `http://${run.outputs.vip}:7654/`);
        });

        it("puts the workers in two zones' public subnets (routed to the Internet gateway), each with its own public address", () => {
            const igw = run.ofType("aws:ec2/internetGateway:InternetGateway")[0];
            const instances = run.ofType("aws:ec2/instance:Instance");
            const zones = new Set<string>();
            for (const instance of instances) {
                assert.strictEqual(instance.inputs.associatePublicIpAddress, true, `${instance.name}: egress and the EC2 API before it holds the VIP`);
                const subnet = run.ofType("aws:ec2/subnet:Subnet").find((s) => s.id === instance.inputs.subnetId)!;
                zones.add(subnet.inputs.availabilityZone);
                const association = run.ofType("aws:ec2/routeTableAssociation:RouteTableAssociation").find((a) => a.inputs.subnetId === subnet.id)!;
                const table = run.ofType("aws:ec2/routeTable:RouteTable").find((t) => t.id === association.inputs.routeTableId)!;
                assert.deepStrictEqual(table.inputs.routes, [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], `${subnet.name} routes to the Internet gateway`);
                assert.strictEqual(instance.inputs.metadataOptions.httpTokens, "required", "the mover reads its credentials with IMDSv2");
            }
            assert.strictEqual(zones.size, 2);
        });

        it("lets a worker move only that Elastic IP, onto either worker, and look it up; nothing else", () => {
            const policy = JSON.parse(run.one("aws:iam/rolePolicy:RolePolicy", "iguana-worker-move-vip").inputs.policy);
            const eipArn = run.one("aws:ec2/eip:Eip", "iguana-vip").state.arn;
            const instanceArns = run.ofType("aws:ec2/instance:Instance").map((i) => i.state.arn);
            assert.match(eipArn, /^arn:aws:ec2:eu-west-1:\d{12}:elastic-ip\/eipalloc-/);
            const byAction = Object.fromEntries(policy.Statement.map((s: any) => [s.Action, s]));
            assert.deepStrictEqual(Object.keys(byAction).sort(), ["ec2:AssociateAddress", "ec2:DescribeAddresses", "ec2:DisassociateAddress"]);
            assert.deepStrictEqual(byAction["ec2:AssociateAddress"].Resource, [eipArn, ...instanceArns]);
            assert.strictEqual(byAction["ec2:DisassociateAddress"].Resource, eipArn);
            assert.strictEqual(byAction["ec2:DescribeAddresses"].Resource, "*", "DescribeAddresses has no resource-level permissions");
            for (const s of policy.Statement) assert.strictEqual(s.Effect, "Allow");
        });

        it("reaches the EC2 API through an interface endpoint that admits HTTPS from the workers only", () => {
            const endpoint = run.one("aws:ec2/vpcEndpoint:VpcEndpoint", "iguana-ec2-api");
            assert.strictEqual(endpoint.inputs.serviceName, "com.amazonaws.eu-west-1.ec2");
            assert.strictEqual(endpoint.inputs.vpcEndpointType, "Interface");
            assert.strictEqual(endpoint.inputs.privateDnsEnabled, true);
            const workerSubnets = run
                .ofType("aws:ec2/instance:Instance")
                .map((i) => i.inputs.subnetId)
                .sort();
            assert.deepStrictEqual([...endpoint.inputs.subnetIds].sort(), workerSubnets);
            const rules = run
                .ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                .filter((r) => endpoint.inputs.securityGroupIds.includes(r.inputs.securityGroupId));
            const workerSg = run.one("aws:ec2/securityGroup:SecurityGroup", "iguana-workers-sg");
            assert.deepStrictEqual(
                rules.map((r) => [r.inputs.fromPort, r.inputs.toPort, r.inputs.referencedSecurityGroupId, r.inputs.cidrIpv4]),
                [[443, 443, workerSg.id, undefined]],
            );
        });

        it("opens the channels to the allowed senders and the dashboard to the admins only; no role-probe rule without a load balancer", () => {
            const rules = run.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
            const fromInternet = rules.filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0");
            assert.deepStrictEqual(fromInternet, []);
            assert.ok(rules.some((r) => r.inputs.fromPort === 2575 && r.inputs.cidrIpv4 === "198.51.100.0/24"));
            assert.ok(rules.some((r) => r.inputs.fromPort === 7654 && r.inputs.cidrIpv4 === "192.0.2.0/28"));
            assert.ok(!rules.some((r) => r.inputs.fromPort === 7700), "the role probe stays closed");
        });

        it("gives each worker the mover, pointed at that Elastic IP in the stack's region", () => {
            const allocationId = run.one("aws:ec2/eip:Eip", "iguana-vip").state.allocationId;
            for (const instance of run.ofType("aws:ec2/instance:Instance")) {
                assertWorkerMovesVip(instance.inputs.userDataBase64, (config) => {
                    assert.strictEqual(config.cloud, "aws");
                    assert.deepStrictEqual(
                        { allocationId: config.aws.allocationId, region: config.aws.region, ec2Url: config.aws.ec2Url, imdsUrl: config.aws.imdsUrl },
                        { allocationId, region: "eu-west-1", ec2Url: "https://ec2.eu-west-1.amazonaws.com/", imdsUrl: "http://169.254.169.254" },
                    );
                });
            }
        });
    });

    describe("Azure", () => {
        let run: StackRun;
        let guards: Record<string, GuardFiles>;
        before(async () => {
            run = await runConfig(azureConfig({ ...floating, channels }));
            guards = workerGuardFiles(run);
        });

        it("decides who holds the VIP with the lease blob, reached through its private endpoint", () => {
            assertAzureLease(
                run,
                guards,
                planWorkers(planNetwork("10.40.0.0/16")).map((w) => `${w.privateIp}/32`),
            );
            assertNoPeerFence(guards);
        });

        it("has no load balancer; the VIP is a zone-redundant Standard Public IP no NIC names, idle timeout 30 minutes", () => {
            assert.deepStrictEqual(run.ofType("azure-native:network:LoadBalancer"), []);
            const vip = run.one("azure-native:network:PublicIPAddress", "iguana-vip");
            assert.deepStrictEqual(vip.inputs.sku, { name: "Standard", tier: "Regional" });
            assert.deepStrictEqual(vip.inputs.zones, ["1", "2", "3"]);
            assert.strictEqual(vip.inputs.idleTimeoutInMinutes, 30);
            for (const nic of run.ofType("azure-native:network:NetworkInterface")) {
                for (const ipConfiguration of nic.inputs.ipConfigurations) {
                    assert.strictEqual(ipConfiguration.publicIPAddress, undefined, `${nic.name}: the notify script attaches the VIP, not Pulumi`);
                    assert.strictEqual(ipConfiguration.loadBalancerBackendAddressPools, undefined);
                }
            }
            assert.strictEqual(run.outputs.vip, vip.state.ipAddress);
            assert.deepStrictEqual(run.outputs.vipAddresses, [run.outputs.vip]);
        });

        it("defines a custom role that can only read and update NICs and join that Public IP and the subnets, assigned on exactly those five resources", () => {
            const role = run.one("azure-native:authorization:RoleDefinition", "iguana-vip-mover");
            const rg = run.one("azure-native:resources:ResourceGroup", "iguana-rg");
            assert.deepStrictEqual(role.inputs.permissions, [{ actions: [...VIP_MOVER_ACTIONS], notActions: [] }]);
            assert.ok(VIP_MOVER_ACTIONS.every((a) => !a.includes("*")));
            assert.deepStrictEqual(role.inputs.assignableScopes, [rg.state.id ?? rg.id]);
            const expectedScopes = [
                run.one("azure-native:network:PublicIPAddress", "iguana-vip").id,
                ...run.ofType("azure-native:network:NetworkInterface").map((n) => n.id),
                ...["iguana-workers-1", "iguana-workers-2"].map((n) => run.one("azure-native:network:Subnet", n).id),
            ].sort();
            const vms = run.ofType("azure-native:compute:VirtualMachine");
            const assignments = run.ofType("azure-native:authorization:RoleAssignment").filter((a) => a.inputs.roleDefinitionId === role.id);
            assert.strictEqual(assignments.length, vms.length * 5);
            for (const vm of vms) {
                const mine = assignments.filter((a) => a.inputs.principalId === vm.state.identity.principalId);
                assert.deepStrictEqual(mine.map((a) => a.inputs.scope).sort(), expectedScopes, `${vm.name}: the two NICs, the Public IP, the two subnets`);
            }
        });

        it("closes the role probe (nothing probes it) and keeps the channels to the allowed senders", () => {
            const nsg = run.one("azure-native:network:NetworkSecurityGroup", "iguana-workers-nsg");
            const names = nsg.inputs.securityRules.map((r: any) => r.name);
            assert.ok(!names.includes("allow-role-probe"));
            assert.ok(names.includes("allow-llp-adt-in") && names.includes("allow-http-results-api"));
        });

        it("gives each worker the mover with its own NIC, its peer's and the Public IP", () => {
            const vip = run.one("azure-native:network:PublicIPAddress", "iguana-vip");
            const nic = (worker: string) => run.one("azure-native:network:NetworkInterface", `iguana-${worker}-nic`).id;
            for (const [self, peer] of [
                ["wk1", "wk2"],
                ["wk2", "wk1"],
            ]) {
                const vm = run.one("azure-native:compute:VirtualMachine", `iguana-${self}`);
                assert.strictEqual(vm.inputs.identity.type, "SystemAssigned");
                assertWorkerMovesVip(vm.inputs.osProfile.customData, (config) => {
                    assert.strictEqual(config.cloud, "azure");
                    assert.deepStrictEqual(
                        { publicIpId: config.azure.publicIpId, selfNicId: config.azure.selfNicId, peerNicId: config.azure.peerNicId, armUrl: config.azure.armUrl },
                        { publicIpId: vip.id, selfNicId: nic(self), peerNicId: nic(peer), armUrl: "https://management.azure.com" },
                    );
                });
            }
        });
    });
});

describe("bootstrap with and without a floating VIP", () => {
    const cfg = (strategy: string) =>
        validateClusterConfig(
            { cloud: "aws", region: "eu-west-1", channels, network: { allowedCidrs: ["198.51.100.0/24"] }, failover: { strategy }, tls: { enabled: false } },
            "t",
        );
    const [wk1, wk2] = planWorkers(planNetwork("10.40.0.0/16"));
    const disk = { kind: "aws-ebs", volumeId: "vol-1" } as const;

    it("the load-balancer strategy renders no mover, no timer, and gates only the LLP ports", () => {
        const lease = { kind: "aws-dynamodb", tableName: "t-lease", region: "eu-west-1", itemKey: "iguana" } as const;
        const files = renderWorkerFiles(bootstrapSettings(cfg("load-balancer"), wk1, wk2, { dataDisk: disk, lease }));
        assert.deepStrictEqual(
            files.filter((f) => /vip/.test(f.path)).map((f) => f.path),
            [],
        );
        assert.doesNotMatch(files.find((f) => f.path.endsWith("/notify.sh"))!.content, /vip-mover/);
        assert.strictEqual(JSON.parse(files.find((f) => f.path.endsWith("/lease.json"))!.content).vip, undefined);
        assert.match(files.find((f) => f.path.endsWith("/llp-gate.sh"))!.content, /--dports 2575 -j REJECT/);
    });

    it("refuses a worker whose strategy and VIP disagree (a wiring mistake, caught before any user data)", () => {
        assert.throws(() => bootstrapSettings(cfg("floating-ip"), wk1, wk2, { dataDisk: disk }), /floating-ip.*not given a floating VIP/);
        assert.throws(
            () => bootstrapSettings(cfg("load-balancer"), wk1, wk2, { dataDisk: disk, vip: { kind: "aws-eip", allocationId: "eipalloc-1", region: "eu-west-1" } }),
            /load-balancer.*given a floating VIP/,
        );
    });
});

describe("the plan explains the strategies side by side", () => {
    const cfgFor = (cloud: "aws" | "azure", strategy: string) =>
        validateClusterConfig(
            { cloud, region: cloud === "aws" ? "eu-west-1" : "westeurope", channels, network: { allowedCidrs: ["198.51.100.0/24"] }, failover: { strategy } },
            "t",
        );

    it("gives each strategy its guarantee, its downtime and its cost, per cloud", () => {
        const [awsLb] = describeModes(cfgFor("aws", "load-balancer"));
        const [awsFloating] = describeModes(cfgFor("aws", "floating-ip"));
        const [azureFloating] = describeModes(cfgFor("azure", "floating-ip"));
        assert.match(
            awsLb.downtime,
            /the lease expiring \(3-3\.5 s after a crash; under 1 s after a clean stop or a planned switchover\) \+ load balancer health checks \(up to 10 s: 5 s x 2\)/,
        );
        assert.match(awsLb.cost, /^2 Network Load Balancers \(one per block of 50 channel ports/, "ports 2575 and 8080 fall in two blocks; the dashboard joins the first");
        assert.match(awsFloating.downtime, /the lease expiring .* \+ the Elastic IP moving .*seconds/);
        assert.match(awsFloating.cost, /no load balancer and no NAT gateway/);
        assert.match(azureFloating.downtime, /1-2 minutes/);
        assert.match(azureFloating.guarantees, /recommended on Azure: load-balancer/);
        // The queue-recovery line's downtime follows the strategy too.
        assert.match(describeModes(cfgFor("azure", "floating-ip"))[1].downtime, /Public IP moving .*1-2 minutes.*; Iguana is already running/);
    });

    it("`npm run plan` prints them for a draft stack file with floating-ip", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-floating-"));
        const file = path.join(dir, "Pulumi.azure-floating.yaml");
        fs.writeFileSync(
            file,
            yaml.dump({
                config: {
                    "azure-native:location": "westeurope",
                    "iguana-ha:cloud": "azure",
                    "iguana-ha:channels": channels,
                    "iguana-ha:network": { allowedCidrs: ["198.51.100.0/24"] },
                    "iguana-ha:failover": { strategy: "floating-ip" },
                },
            }),
        );
        try {
            const result = await runPlan("--stack", "azure-floating", "--stack-file", file);
            assert.strictEqual(result.code, 0, result.stderr);
            assert.match(result.stdout, /failover\.strategy: floating-ip: no load balancer: the lease holder moves one Public IP/);
            assert.match(result.stdout, /storage\.queueRecovery: none/);
            assert.doesNotMatch(result.stdout, /azure-native:network:LoadBalancer/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
