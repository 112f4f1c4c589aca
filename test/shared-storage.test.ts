/**
 * storage.queueRecovery: shared, under mocks for both clouds: the shared file system and who may
 * reach it, what disappears (the per-worker data disks), and what the workers are told to run.
 */
import * as assert from "assert";
import * as yaml from "js-yaml";
import { validateClusterConfig } from "../components/config";
import { bootstrapSettings, renderCheckIguanaScript, renderNotifyScript, renderWorkerFiles, renderCloudInit, renderIguanaServiceScript } from "../components/bootstrap";
import { IGUANA_SHARED_UID, NFS_PORT } from "../components/constants";
import { planNetwork, planWorkers } from "../components/model";
import { describeQueueRecovery } from "../components/modes";
import { PEER_FENCE_ACTIONS } from "../components/azure/access";
import { sharedAccountName } from "../components/azure/storage";
import { StackRun, awsConfig, azureConfig, runConfig, runStack, workerGuardFiles, GuardFiles } from "./helpers";
import { assertAwsLease, assertAzureLease, workerStatements } from "./lease-assertions";

const SHARED = { storage: { queueRecovery: "shared" } };

function userDataOf(run: StackRun, worker: string): string {
    const instance = run.one("aws:ec2/instance:Instance", `iguana-${worker}`);
    return Buffer.from(instance.state.userDataBase64, "base64").toString("utf8");
}

function customDataOf(run: StackRun, worker: string): string {
    const vm = run.one("azure-native:compute:VirtualMachine", `iguana-${worker}`);
    return Buffer.from(vm.state.osProfile.customData, "base64").toString("utf8");
}

describe("shared storage on AWS (EFS)", function () {
    this.timeout(60000);
    let run: StackRun;
    let guards: Record<string, GuardFiles>;
    before(async () => {
        run = await runConfig(awsConfig(SHARED));
        guards = workerGuardFiles(run);
    });

    it("the same lease decides who runs Iguana on the shared queue", () => assertAwsLease(run, guards, "eu-west-1"));

    it("a new lease holder may stop the cluster's two workers (tagged with the cluster), and see whether one stopped; nothing else of EC2", () => {
        const instances = run.ofType("aws:ec2/instance:Instance");
        const ec2 = workerStatements(run).filter((s) => [s.Action].flat().some((a) => a.startsWith("ec2:")));
        assert.deepStrictEqual(
            ec2.map(({ policy, Effect, Action, Resource, Condition }) => ({ policy, Effect, Action, Resource, Condition })),
            [
                {
                    policy: "iguana-worker-fence-peer",
                    Effect: "Allow",
                    Action: "ec2:StopInstances",
                    Resource: instances.map((i) => i.state.arn),
                    Condition: { StringEquals: { "aws:ResourceTag/cluster": "iguana" } },
                },
                { policy: "iguana-worker-fence-peer", Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*", Condition: undefined },
            ],
        );
        assert.deepStrictEqual(
            instances.map((i) => i.inputs.tags.cluster),
            ["iguana", "iguana"],
            "the tag the condition names is on both workers",
        );
        for (const worker of ["wk1", "wk2"]) {
            assert.ok(guards[worker].lease.peerFence, `${worker}'s guard runs the peer fence`);
            assert.deepStrictEqual([guards[worker].peerFence?.cloud, guards[worker].peerFence?.aws?.region], ["aws", "eu-west-1"]);
        }
    });

    it("the EC2 API (to stop the peer) goes through the NAT gateway of each zone; no interface endpoint is needed", () => {
        assert.strictEqual(run.ofType("aws:ec2/natGateway:NatGateway").length, 2);
        assert.deepStrictEqual(
            run.ofType("aws:ec2/vpcEndpoint:VpcEndpoint").map((e) => e.name),
            ["iguana-lease"],
        );
    });

    it("with a single NAT gateway, the EC2 API goes through an interface endpoint in both zones, so losing the NAT's zone does not stop the fence", async () => {
        const single = await runConfig(awsConfig({ ...SHARED, network: { allowedCidrs: ["198.51.100.0/24"], natGateways: "single" } }));
        const endpoint = single.one("aws:ec2/vpcEndpoint:VpcEndpoint", "iguana-ec2-api");
        assert.deepStrictEqual(
            [endpoint.inputs.serviceName, endpoint.inputs.vpcEndpointType, endpoint.inputs.privateDnsEnabled],
            ["com.amazonaws.eu-west-1.ec2", "Interface", true],
        );
        assert.deepStrictEqual(
            [...endpoint.inputs.subnetIds].sort(),
            single
                .ofType("aws:ec2/instance:Instance")
                .map((i) => i.inputs.subnetId)
                .sort(),
        );
        const workerSg = single.one("aws:ec2/securityGroup:SecurityGroup", "iguana-workers-sg");
        const rules = single.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => endpoint.inputs.securityGroupIds.includes(r.inputs.securityGroupId));
        assert.deepStrictEqual(
            rules.map((r) => [r.inputs.fromPort, r.inputs.toPort, r.inputs.referencedSecurityGroupId, r.inputs.cidrIpv4]),
            [[443, 443, workerSg.id, undefined]],
        );
        const plain = await runConfig(awsConfig({ network: { allowedCidrs: ["198.51.100.0/24"], natGateways: "single" } }));
        assert.deepStrictEqual(
            plain.ofType("aws:ec2/vpcEndpoint:VpcEndpoint").map((e) => e.name),
            ["iguana-lease"],
            "without shared storage nothing needs the EC2 API",
        );
    });

    it("one EFS file system, encrypted with the project's customer-managed key, kept on delete", () => {
        const [fs] = run.ofType("aws:efs/fileSystem:FileSystem");
        assert.strictEqual(run.ofType("aws:efs/fileSystem:FileSystem").length, 1);
        const key = run.one("aws:kms/key:Key", "iguana-key");
        assert.strictEqual(fs.state.encrypted, true);
        assert.strictEqual(fs.state.kmsKeyId, key.state.arn, "the project's CMK, not the AWS-managed key");
        assert.strictEqual(fs.state.tags.environment, "test");
    });

    it("a mount target in each worker subnet (one per AZ), behind the EFS security group only", () => {
        const targets = run.ofType("aws:efs/mountTarget:MountTarget");
        const efsSg = run.one("aws:ec2/securityGroup:SecurityGroup", "iguana-efs-sg");
        const privateSubnets = ["iguana-private-a", "iguana-private-b"].map((n) => run.one("aws:ec2/subnet:Subnet", n));
        assert.deepStrictEqual(targets.map((t) => t.state.subnetId).sort(), privateSubnets.map((s) => s.id).sort());
        assert.deepStrictEqual(new Set(privateSubnets.map((s) => s.state.availabilityZone)).size, 2, "two AZs");
        for (const t of targets) assert.deepStrictEqual(t.state.securityGroups, [efsSg.id]);
    });

    it("the EFS group admits NFS (TCP 2049) from the workers' group and nothing else", () => {
        const efsSg = run.one("aws:ec2/securityGroup:SecurityGroup", "iguana-efs-sg");
        const workerSg = run.one("aws:ec2/securityGroup:SecurityGroup", "iguana-workers-sg");
        const rules = run.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => r.state.securityGroupId === efsSg.id);
        assert.strictEqual(rules.length, 1);
        const [rule] = rules;
        assert.deepStrictEqual([rule.state.ipProtocol, rule.state.fromPort, rule.state.toPort], ["tcp", NFS_PORT, NFS_PORT]);
        assert.strictEqual(rule.state.referencedSecurityGroupId, workerSg.id);
        assert.strictEqual(rule.state.cidrIpv4, undefined, "no CIDR source");
    });

    it("the file system policy lets only the worker role mount, write and act as root, through a mount target, and refuses non-TLS", () => {
        const policy = JSON.parse(run.one("aws:efs/fileSystemPolicy:FileSystemPolicy", "iguana-shared").state.policy);
        const role = run.one("aws:iam/role:Role", "iguana-worker-role");
        const fs = run.one("aws:efs/fileSystem:FileSystem", "iguana-shared");
        const [allow, deny] = policy.Statement;
        assert.deepStrictEqual(allow.Principal, { AWS: role.state.arn });
        assert.deepStrictEqual(allow.Action, ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"]);
        assert.strictEqual(allow.Resource, fs.state.arn);
        assert.deepStrictEqual(allow.Condition, { Bool: { "elasticfilesystem:AccessedViaMountTarget": "true" } });
        assert.deepStrictEqual([deny.Effect, deny.Condition], ["Deny", { Bool: { "aws:SecureTransport": "false" } }]);
    });

    it("no per-worker data volume or attachment; workers wait for the mount targets", () => {
        assert.deepStrictEqual(run.ofType("aws:ebs/volume:Volume"), []);
        assert.deepStrictEqual(run.ofType("aws:ec2/volumeAttachment:VolumeAttachment"), []);
    });

    it("each worker mounts the file system over TLS with IAM at the working directory's fixed place, as a fixed uid", () => {
        const fs = run.one("aws:efs/fileSystem:FileSystem", "iguana-shared");
        for (const worker of ["wk1", "wk2"]) {
            const userData = userDataOf(run, worker);
            assert.ok(userData.includes(`file_system='${fs.id}'`), "the file system id");
            assert.match(userData, /efs _netdev,noresvport,tls,iam,nofail 0 0/);
            assert.match(userData, /\/usr\/local\/lib\/iguana-ha\/mount-shared\.sh/);
            assert.ok(!userData.includes("prepare-disk.sh"), "no data disk script");
            assert.match(userData, new RegExp(`uid: ${IGUANA_SHARED_UID}`));
            assert.match(userData, /iguana-service\.sh/);
        }
    });

    it("installs what building amazon-efs-utils needs before the mount script runs", () => {
        const cloudConfig = yaml.load(userDataOf(run, "wk1")) as { packages: string[] };
        // efs-utils' README, Debian/Ubuntu build: git binutils rustc cargo pkg-config libssl-dev gettext (envsubst)
        for (const needed of ["git", "binutils", "rustc", "cargo", "pkg-config", "libssl-dev", "gettext-base", "nfs-common"]) {
            assert.ok(cloudConfig.packages.includes(needed), `${needed} in cloud-init packages`);
        }
    });

    it("the default (none) keeps the data volumes and creates no EFS", async () => {
        const plain = await runStack("aws-dev");
        assert.strictEqual(plain.ofType("aws:efs/fileSystem:FileSystem").length, 0);
        assert.strictEqual(plain.ofType("aws:ebs/volume:Volume").length, 2);
        assert.ok(!userDataOf(plain, "wk1").includes("iguana-service.sh"));
    });
});

describe("shared storage on Azure (Files NFS 4.1)", function () {
    this.timeout(60000);
    let run: StackRun;
    let guards: Record<string, GuardFiles>;
    const workerHosts = planWorkers(planNetwork("10.40.0.0/16")).map((w) => `${w.privateIp}/32`);
    before(async () => {
        run = await runConfig(azureConfig({ storage: { queueRecovery: "shared", shareGb: 256 } }));
        guards = workerGuardFiles(run);
    });

    it("the same lease decides who runs Iguana on the shared queue; every private endpoint (lease, share, vault) shares the storage subnet", () => {
        assertAzureLease(run, guards, workerHosts);
        const subnet = run.one("azure-native:network:Subnet", "iguana-storage");
        assert.deepStrictEqual(
            run
                .ofType("azure-native:network:PrivateEndpoint")
                .map((e) => [e.name, e.inputs.subnet.id])
                .sort(),
            [
                ["iguana-lease-pe", subnet.id],
                ["iguana-shared-pe", subnet.id],
                ["iguana-vault-pe", subnet.id],
            ],
        );
    });

    it("a new lease holder may read and power off its peer's VM and nothing else; each worker is told its peer's VM id", () => {
        const role = run.one("azure-native:authorization:RoleDefinition", "iguana-peer-fencer");
        const rg = run.one("azure-native:resources:ResourceGroup", "iguana-rg");
        assert.deepStrictEqual(role.inputs.permissions, [
            { actions: ["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/powerOff/action"], notActions: [] },
        ]);
        assert.deepStrictEqual([...PEER_FENCE_ACTIONS], role.inputs.permissions[0].actions);
        assert.deepStrictEqual(role.inputs.assignableScopes, [rg.id]);
        const vms = Object.fromEntries(["wk1", "wk2"].map((w) => [w, run.one("azure-native:compute:VirtualMachine", `iguana-${w}`)]));
        const assignments = run.ofType("azure-native:authorization:RoleAssignment").filter((a) => a.inputs.roleDefinitionId === role.id);
        assert.deepStrictEqual(
            assignments.map((a) => [a.name, a.inputs.principalId, a.inputs.scope]),
            [
                ["iguana-wk1-fences-peer", vms.wk1.state.identity.principalId, vms.wk2.id],
                ["iguana-wk2-fences-peer", vms.wk2.state.identity.principalId, vms.wk1.id],
            ],
            "each worker on its peer's VM only",
        );
        // Fixed VM names make the peer's id known before the peer exists; it is the id Azure gives it.
        for (const [self, peer] of [
            ["wk1", "wk2"],
            ["wk2", "wk1"],
        ]) {
            assert.strictEqual(vms[self].inputs.vmName, `iguana-${self}`);
            assert.ok(guards[self].lease.peerFence, `${self}'s guard runs the peer fence`);
            assert.deepStrictEqual([guards[self].peerFence?.cloud, guards[self].peerFence?.azure?.peerVmId], ["azure", vms[peer].id]);
            assert.strictEqual(
                vms[peer].id,
                `/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/${rg.state.name}/providers/Microsoft.Compute/virtualMachines/iguana-${peer}`,
            );
        }
    });

    it("a premium, zone-redundant FileStorage account with no public network access and a deny-all firewall", () => {
        const accounts = run.ofType("azure-native:storage:StorageAccount").filter((a) => a.name === "iguana-shared");
        const [account] = accounts;
        assert.strictEqual(accounts.length, 1);
        assert.deepStrictEqual([account.state.kind, account.state.sku.name], ["FileStorage", "Premium_ZRS"]);
        assert.strictEqual(account.state.publicNetworkAccess, "Disabled");
        assert.deepStrictEqual(account.state.networkRuleSet, { defaultAction: "Deny", bypass: "None" });
        assert.strictEqual(account.state.allowSharedKeyAccess, false);
        assert.strictEqual(account.state.allowBlobPublicAccess, false);
        // NFS shares require secure transfer off; the network is the control (see azure.ts).
        assert.strictEqual(account.state.enableHttpsTrafficOnly, false);
        assert.match(account.state.accountName, /^[a-z0-9]{3,24}$/, "a valid global storage account name");
    });

    it("an NFS share of the configured size", () => {
        const share = run.one("azure-native:storage:FileShare", "iguana-queue");
        assert.deepStrictEqual([share.state.enabledProtocols, share.state.shareQuota, share.state.shareName], ["NFS", 256, "iguana"]);
    });

    it("reachable only through a private endpoint in its own subnet whose NSG admits NFS from the two workers only", () => {
        const endpoint = run.one("azure-native:network:PrivateEndpoint", "iguana-shared-pe");
        const account = run.one("azure-native:storage:StorageAccount", "iguana-shared");
        const subnet = run.one("azure-native:network:Subnet", "iguana-storage");
        assert.strictEqual(endpoint.state.subnet.id, subnet.id);
        assert.deepStrictEqual(endpoint.state.privateLinkServiceConnections, [{ name: "file", privateLinkServiceId: account.id, groupIds: ["file"] }]);
        assert.strictEqual(subnet.state.privateEndpointNetworkPolicies, "Enabled", "so the NSG applies to the endpoint");
        const nsg = run.one("azure-native:network:NetworkSecurityGroup", "iguana-storage-nsg");
        assert.strictEqual(subnet.state.networkSecurityGroup.id, nsg.id);
        const rules: any[] = nsg.state.securityRules;
        assert.deepStrictEqual(
            rules.map((r) => r.name),
            ["allow-nfs-from-workers", "allow-https-from-workers", "deny-other-vnet-inbound"],
        );
        const [allow, , deny] = rules;
        assert.deepStrictEqual([allow.access, allow.protocol, allow.destinationPortRange, allow.sourceAddressPrefixes], ["Allow", "Tcp", String(NFS_PORT), workerHosts]);
        assert.deepStrictEqual([deny.access, deny.sourceAddressPrefix, deny.priority > allow.priority], ["Deny", "VirtualNetwork", true]);
        const workerSubnets = ["iguana-workers-1", "iguana-workers-2"].map((n) => run.one("azure-native:network:Subnet", n).state.addressPrefix);
        assert.ok(!workerSubnets.includes(subnet.state.addressPrefix));
        assert.strictEqual(subnet.state.addressPrefix, "10.40.0.0/27");
    });

    it("the private DNS zone resolves the account's file endpoint inside the VNet", () => {
        const zone = run.one("azure-native:privatedns:PrivateZone", "iguana-file-dns");
        assert.strictEqual(zone.state.privateZoneName, "privatelink.file.core.windows.net");
        const link = run.one("azure-native:privatedns:VirtualNetworkLink", "iguana-file-dns");
        assert.strictEqual(link.state.virtualNetwork.id, run.one("azure-native:network:VirtualNetwork", "iguana-vnet").id);
        const group = run.one("azure-native:network:PrivateDnsZoneGroup", "iguana-shared-pe");
        assert.deepStrictEqual(group.state.privateDnsZoneConfigs, [{ name: "file", privateDnsZoneId: zone.id }]);
    });

    it("no data disks; each worker mounts the share over NFS 4.1 through its private name", () => {
        assert.deepStrictEqual(run.ofType("azure-native:compute:Disk"), []);
        const account = run.one("azure-native:storage:StorageAccount", "iguana-shared").state.accountName;
        for (const worker of ["wk1", "wk2"]) {
            const vm = run.one("azure-native:compute:VirtualMachine", `iguana-${worker}`);
            assert.deepStrictEqual(vm.state.storageProfile.dataDisks, []);
            const customData = customDataOf(run, worker);
            assert.ok(customData.includes(`source_path='${account}.file.core.windows.net:/${account}/iguana'`));
            assert.match(customData, /nfs vers=4,minorversion=1,sec=sys,nconnect=4,_netdev,nofail 0 0/);
            assert.match(customData, /- nfs-common/);
        }
    });

    it("the account name is stable and valid for any subscription and group", () => {
        const name = sharedAccountName("00000000-0000-4000-8000-000000000000", "iguana-rg1234");
        assert.strictEqual(name, sharedAccountName("00000000-0000-4000-8000-000000000000", "iguana-rg1234"));
        assert.match(name, /^[a-z0-9]{3,24}$/);
        assert.notStrictEqual(name, sharedAccountName("00000000-0000-4000-8000-000000000000", "iguana-rg9999"));
    });

    it("the default (none) keeps the data disks and creates no shared account, share or fence", async () => {
        const plain = await runStack("azure-dev");
        assert.deepStrictEqual(
            plain
                .ofType("azure-native:storage:StorageAccount")
                .map((a) => a.name)
                .sort(),
            ["iguana-flow-logs", "iguana-lease"],
            "the lease's and the flow logs' accounts only: no shared account",
        );
        assert.deepStrictEqual(plain.ofType("azure-native:storage:FileShare"), []);
        assert.strictEqual(plain.ofType("azure-native:compute:Disk").length, 2);
        assert.ok(!plain.ofType("azure-native:authorization:RoleDefinition").some((r) => r.name === "iguana-peer-fencer"));
    });
});

describe("shared storage: what the workers run", () => {
    const cfg = validateClusterConfig(
        {
            cloud: "aws",
            region: "us-east-1",
            channels: [{ name: "adt", protocol: "llp", port: 2575 }],
            network: { allowedCidrs: ["10.0.0.0/8"] },
            tls: { enabled: false },
            storage: { queueRecovery: "shared" },
        },
        "t",
    );
    const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
    const lease = { kind: "aws-dynamodb", tableName: "t-lease", region: "us-east-1", itemKey: "iguana" } as const;
    const s = bootstrapSettings(cfg, wk1, wk2, { dataDisk: { kind: "aws-efs", fileSystemId: "fs-1" }, lease, peerFence: { kind: "aws-ec2", region: "us-east-1" } });

    it("notify starts Iguana on promotion and, on any other role, kills it before it closes the ports", () => {
        const notify = renderNotifyScript(s);
        assert.match(notify, /MASTER\)\n\s+'[^']*llp-gate\.sh' open\n\s+'[^']*iguana-service\.sh' start\n/);
        assert.match(notify, /\*\)\n\s+'[^']*iguana-service\.sh' kill\n\s+'[^']*llp-gate\.sh' close\n/);
    });

    it("the new holder stops the previous holder's machine before Iguana starts: the guard's config names the peer fence", () => {
        const config = JSON.parse(renderWorkerFiles(s).find((f) => f.path.endsWith("/lease.json"))!.content);
        assert.deepStrictEqual(config.peerFence.command.slice(-2), ["/etc/iguana-ha/peer-fence.json", "stop"]);
        const fence = JSON.parse(renderWorkerFiles(s).find((f) => f.path.endsWith("/peer-fence.json"))!.content);
        assert.deepStrictEqual([fence.cloud, fence.aws.region, fence.aws.ec2Url], ["aws", "us-east-1", "https://ec2.us-east-1.amazonaws.com/"]);
    });

    it("Iguana is installed but not enabled at boot: the lease decides where it runs", () => {
        const cloudInit = renderCloudInit(s);
        assert.match(cloudInit, /systemctl disable IguanaX/);
        assert.ok(!/systemctl enable --now IguanaX/.test(cloudInit));
        const dropIn = renderWorkerFiles(s).find((f) => f.path === "/etc/systemd/system/IguanaX.service.d/iguana-ha.conf");
        assert.ok(dropIn && dropIn.content.includes("RequiresMountsFor=/srv/iguana/working"));
    });

    it("iguana-service.sh starts without blocking the guard, and kills (SIGKILL, then stop) for the fence", () => {
        const script = renderIguanaServiceScript(s);
        assert.match(script, /"\$service_command" start --no-block "\$unit"/);
        assert.match(script, /kill\)\n[\s\S]*"\$service_command" kill --signal=SIGKILL "\$unit" \|\| true\n\s+"\$service_command" stop "\$unit"/);
        assert.match(script, /unit='IguanaX\.service'/);
    });

    it("the health check checks the shared file system everywhere and Iguana only on the MASTER", () => {
        const check = renderCheckIguanaScript(s);
        assert.match(check, /mountpoint -q "\$mount_point" \|\| exit 1/);
        assert.match(check, /\[ "\$state" = MASTER \] \|\| exit 0/);
    });

    it("a data disk locator with shared storage (or the reverse) is a programming error", () => {
        assert.throws(() => bootstrapSettings(cfg, wk1, wk2, { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" } }), /queueRecovery is "shared"/);
    });

    it("the mode description states guarantee, downtime (detection + Iguana start-up) and cost", () => {
        const shared = describeQueueRecovery(cfg);
        assert.match(shared.downtime, /the lease expiring .* \+ Iguana start-up/);
        assert.match(shared.guarantees, /resumes the primary's queue .* in order/);
        const none = describeQueueRecovery({ ...cfg, storage: { ...cfg.storage, queueRecovery: "none" } });
        assert.match(none.guarantees, /stay on its disk/);
    });
});
