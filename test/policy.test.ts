import * as assert from "assert";
import {
    azureDisksEncrypted,
    azureKeyVaultPrivate,
    azureStorageNotPublic,
    dedicatedWhenAsked,
    efsEncryptedWithProjectKey,
    ebsEncryptedWithProjectKey,
    imdsV2Required,
    leaseStoreRequiredAndPrivate,
    llpHealthCheckIsRoleProbe,
    noAdminPortsFromInternet,
    noSecretInBootstrap,
    requiredTags,
    vipDeletionProtectionWhenAsked,
    vipMoverLeastPrivilege,
} from "../policy/policies";
import { listStacks, readStackConfig } from "../offline/stack-config";
import { awsConfig, azureConfig, runConfig, runStack } from "./helpers";
import { packViolations, stackViolations, violationsOf } from "./policy-harness";

const KEY = { type: "aws:kms/key:Key", name: "key", props: { arn: "arn:aws:kms:r:1:key/k" } };

describe("policy pack: each guardrail", () => {
    it("EBS volumes and root devices must use the project's KMS key", async () => {
        const good = [
            KEY,
            { type: "aws:ebs/volume:Volume", name: "v", props: { encrypted: true, kmsKeyId: KEY.props.arn } },
            { type: "aws:ec2/instance:Instance", name: "i", props: { rootBlockDevice: { encrypted: true, kmsKeyId: KEY.props.arn } } },
        ];
        assert.deepStrictEqual(await stackViolations(ebsEncryptedWithProjectKey, good), []);
        const bad = await stackViolations(ebsEncryptedWithProjectKey, [
            KEY,
            { type: "aws:ebs/volume:Volume", name: "plain", props: { encrypted: false } },
            { type: "aws:ebs/volume:Volume", name: "awskey", props: { encrypted: true } },
            { type: "aws:ec2/instance:Instance", name: "i", props: { rootBlockDevice: {} } },
        ]);
        assert.deepStrictEqual(bad, [
            "EBS volume plain is not encrypted: set encrypted: true with the project's KMS key.",
            "EBS volume awskey is encrypted with the AWS-managed key, not the project's customer-managed KMS key.",
            "root device of i is not encrypted: set encrypted: true with the project's KMS key.",
        ]);
    });

    it("Azure disks must state their encryption; VMs need encryption at host unless the stack turned it off", async () => {
        assert.deepStrictEqual(await violationsOf(azureDisksEncrypted, "azure-native:compute:Disk", { encryption: { type: "EncryptionAtRestWithPlatformKey" } }), []);
        assert.strictEqual((await violationsOf(azureDisksEncrypted, "azure-native:compute:Disk", {})).length, 1);
        assert.deepStrictEqual(await violationsOf(azureDisksEncrypted, "azure-native:compute:VirtualMachine", {}, { encryptionAtHost: false }), []);
        assert.match((await violationsOf(azureDisksEncrypted, "azure-native:compute:VirtualMachine", {}, { encryptionAtHost: true }))[0], /encryptionAtHost/);
        assert.match((await violationsOf(azureDisksEncrypted, "azure-native:compute:VirtualMachine", {}))[0], /encryption at host is off/, "on by default, as the key is");
        assert.deepStrictEqual(
            await violationsOf(azureDisksEncrypted, "azure-native:compute:VirtualMachine", { securityProfile: { encryptionAtHost: true } }, { encryptionAtHost: true }),
            [],
        );
    });

    it("instances must require IMDSv2", async () => {
        assert.deepStrictEqual(await violationsOf(imdsV2Required, "aws:ec2/instance:Instance", { metadataOptions: { httpTokens: "required" } }), []);
        assert.match((await violationsOf(imdsV2Required, "aws:ec2/instance:Instance", { metadataOptions: { httpTokens: "optional" } }))[0], /IMDSv1/);
    });

    it("no rule opens 22, 3389 or the web port to the Internet", async () => {
        const ingress = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
        assert.deepStrictEqual(await violationsOf(noAdminPortsFromInternet, ingress, { cidrIpv4: "0.0.0.0/0", ipProtocol: "tcp", fromPort: 2575, toPort: 2575 }), []);
        assert.deepStrictEqual(await violationsOf(noAdminPortsFromInternet, ingress, { cidrIpv4: "10.0.0.0/8", ipProtocol: "tcp", fromPort: 22, toPort: 22 }), []);
        assert.match((await violationsOf(noAdminPortsFromInternet, ingress, { cidrIpv4: "0.0.0.0/0", ipProtocol: "tcp", fromPort: 22, toPort: 22 }))[0], /port 22/);
        assert.match((await violationsOf(noAdminPortsFromInternet, ingress, { cidrIpv4: "0.0.0.0/0", ipProtocol: "-1" })).join(), /port 3389/);
        assert.match((await violationsOf(noAdminPortsFromInternet, ingress, { cidrIpv4: "0.0.0.0/0", ipProtocol: "tcp", fromPort: 7000, toPort: 8000 })).join(), /port 7654/);
        assert.match(
            (await violationsOf(noAdminPortsFromInternet, ingress, { cidrIpv4: "0.0.0.0/0", ipProtocol: "tcp", fromPort: 9000, toPort: 9000 }, { webPort: 9000 })).join(),
            /port 9000/,
        );
        const nsg = "azure-native:network:NetworkSecurityGroup";
        const rule = (source: string, port: string, access = "Allow") => ({
            securityRules: [{ name: "r", access, direction: "Inbound", protocol: "Tcp", sourceAddressPrefix: source, destinationPortRange: port }],
        });
        assert.deepStrictEqual(await violationsOf(noAdminPortsFromInternet, nsg, rule("Internet", "2575")), []);
        assert.deepStrictEqual(await violationsOf(noAdminPortsFromInternet, nsg, rule("Internet", "22", "Deny")), [], "an explicit deny is fine");
        assert.match((await violationsOf(noAdminPortsFromInternet, nsg, rule("Internet", "3389")))[0], /3389/);
        assert.match((await violationsOf(noAdminPortsFromInternet, nsg, rule("*", "20-30")))[0], /port 22/);
    });

    it("LLP target groups and Azure LLP rules must check the role probe", async () => {
        const tg = "aws:lb/targetGroup:TargetGroup";
        const probe = { protocol: "HTTP", port: "7700", path: "/active" };
        assert.deepStrictEqual(await violationsOf(llpHealthCheckIsRoleProbe, tg, { tags: { protocol: "llp" }, healthCheck: probe }), []);
        assert.deepStrictEqual(await violationsOf(llpHealthCheckIsRoleProbe, tg, { tags: { protocol: "http" }, healthCheck: { protocol: "TCP" } }), []);
        assert.match(
            (await violationsOf(llpHealthCheckIsRoleProbe, tg, { tags: { protocol: "llp" }, healthCheck: { protocol: "TCP", port: "traffic-port" } }))[0],
            /not the role probe/,
        );
        const lb = "azure-native:network:LoadBalancer";
        const props = (probeName: string) => ({
            probes: [
                { name: "role-probe", protocol: "Http", port: 7700, requestPath: "/active" },
                { name: "iguana-health", protocol: "Http", port: 7654, requestPath: "/health" },
            ],
            loadBalancingRules: [{ name: "llp-adt", probe: { id: `/subscriptions/x/probes/${probeName}` } }],
        });
        assert.deepStrictEqual(await violationsOf(llpHealthCheckIsRoleProbe, lb, props("role-probe")), []);
        assert.match((await violationsOf(llpHealthCheckIsRoleProbe, lb, props("iguana-health")))[0], /llp-adt uses probe iguana-health/);
    });

    it("dedicated hardware when the stack asks for it", async () => {
        const i = "aws:ec2/instance:Instance";
        assert.deepStrictEqual(await violationsOf(dedicatedWhenAsked, i, { tenancy: "default" }, { dedicated: false }), []);
        assert.match((await violationsOf(dedicatedWhenAsked, i, { tenancy: "default" }, { dedicated: true }))[0], /tenancy default/);
        assert.deepStrictEqual(await violationsOf(dedicatedWhenAsked, i, { tenancy: "dedicated" }, { dedicated: true }), []);
        const vm = "azure-native:compute:VirtualMachine";
        assert.match((await violationsOf(dedicatedWhenAsked, vm, {}, { dedicated: true }))[0], /dedicated host/);
        assert.deepStrictEqual(await violationsOf(dedicatedWhenAsked, vm, { host: { id: "/hosts/h1" } }, { dedicated: true }), []);
    });

    it("Key Vaults are private, purge-protected and use RBAC", async () => {
        const kv = "azure-native:keyvault:Vault";
        const compliant = {
            publicNetworkAccess: "Disabled",
            networkAcls: { defaultAction: "Deny", bypass: "None" },
            enableSoftDelete: true,
            enablePurgeProtection: true,
            enableRbacAuthorization: true,
        };
        assert.deepStrictEqual(await violationsOf(azureKeyVaultPrivate, kv, { properties: compliant }), []);
        const cases: [Record<string, unknown>, RegExp][] = [
            [{ publicNetworkAccess: "Enabled" }, /reachable from the Internet/],
            [{ networkAcls: { defaultAction: "Allow" } }, /allows every network/],
            [{ enablePurgeProtection: undefined }, /can be purged/],
            [{ enableRbacAuthorization: false }, /access policies/],
        ];
        for (const [change, message] of cases) {
            const found = await violationsOf(azureKeyVaultPrivate, kv, { properties: { ...compliant, ...change } });
            assert.strictEqual(found.length, 1, JSON.stringify(change));
            assert.match(found[0], message);
        }
        assert.strictEqual((await violationsOf(azureKeyVaultPrivate, kv, {})).length, 4, "a vault with every default fails all four");
    });

    it("load balancers and VIP addresses cannot be deleted when the stack asks for deletion protection", async () => {
        const nlb = (enableDeletionProtection: boolean) => ({ type: "aws:lb/loadBalancer:LoadBalancer", name: "iguana-nlb", props: { enableDeletionProtection } });
        assert.deepStrictEqual(await stackViolations(vipDeletionProtectionWhenAsked, [nlb(false)], { deletionProtection: false }), []);
        assert.match((await stackViolations(vipDeletionProtectionWhenAsked, [nlb(false)], { deletionProtection: true }))[0], /iguana-nlb can be deleted/);
        assert.deepStrictEqual(await stackViolations(vipDeletionProtectionWhenAsked, [nlb(true)], { deletionProtection: true }), []);

        const lb = { type: "azure-native:network:LoadBalancer", name: "iguana-lb", props: { id: "/subscriptions/s/lb" } };
        const vip = { type: "azure-native:network:PublicIPAddress", name: "iguana-vip", props: { tags: { holds: "iguana-vip" } } };
        const nat = { type: "azure-native:network:PublicIPAddress", name: "iguana-nat-1", props: { tags: {} } };
        const lock = (name: string, props: Record<string, unknown>) => ({
            type: "azure-native:authorization:ManagementLockByScope",
            name,
            props: { level: "CanNotDelete", ...props },
        });
        const unlocked = await stackViolations(vipDeletionProtectionWhenAsked, [lb, vip, nat], { deletionProtection: true });
        assert.deepStrictEqual(
            unlocked.map((v) => v.split(" has")[0]),
            ["load balancer iguana-lb", "public IP iguana-vip"],
            "the NAT gateway's address needs no lock",
        );
        // By scope once the ids are known; by name at preview, before they are.
        const locked = [lb, vip, nat, lock("any-name", { scope: "/subscriptions/s/lb" }), lock("iguana-vip-lock", {})];
        assert.deepStrictEqual(await stackViolations(vipDeletionProtectionWhenAsked, locked, { deletionProtection: true }), []);
        const readOnlyElsewhere = [lb, vip, lock("iguana-lb-lock", { level: "ReadOnly" }), lock("iguana-vip-lock", { scope: "/subscriptions/s/other" })];
        const wrong = await stackViolations(vipDeletionProtectionWhenAsked, readOnlyElsewhere, { deletionProtection: true });
        assert.deepStrictEqual(wrong.length, 1, "a ReadOnly lock is not the CanNotDelete lock asked for");
        assert.match(wrong[0], /load balancer iguana-lb has no CanNotDelete lock/);
    });

    it("no bootstrap holds a generated password or credential", async () => {
        const password = { type: "random:index/randomPassword:RandomPassword", name: "pw", props: { result: "Sup3rSecretGeneratedValue" } };
        const b64 = (t: string) => Buffer.from(t).toString("base64");
        const clean = { type: "aws:ec2/instance:Instance", name: "i", props: { userDataBase64: b64("#cloud-config\nruncmd: [fetch-admin-password.sh]\n") } };
        assert.deepStrictEqual(await stackViolations(noSecretInBootstrap, [password, clean]), []);
        const leaky = { type: "aws:ec2/instance:Instance", name: "i", props: { userDataBase64: b64("password: Sup3rSecretGeneratedValue\n") } };
        assert.match((await stackViolations(noSecretInBootstrap, [password, leaky]))[0], /generated password/);
        const key = { type: "azure-native:compute:VirtualMachine", name: "vm", props: { osProfile: { customData: b64("-----BEGIN RSA PRIVATE KEY-----\n") } } };
        assert.match((await stackViolations(noSecretInBootstrap, [key]))[0], /private key/);
    });

    it("EFS file systems must use the project's KMS key", async () => {
        const efs = (props: Record<string, any>) => ({ type: "aws:efs/fileSystem:FileSystem", name: "shared", props });
        assert.deepStrictEqual(await stackViolations(efsEncryptedWithProjectKey, [KEY, efs({ encrypted: true, kmsKeyId: KEY.props.arn })]), []);
        assert.match((await stackViolations(efsEncryptedWithProjectKey, [KEY, efs({ encrypted: false })]))[0], /not encrypted/);
        assert.match((await stackViolations(efsEncryptedWithProjectKey, [KEY, efs({ encrypted: true })]))[0], /AWS-managed key/);
    });

    it("storage accounts must be private: no public network access, deny by default, no public blobs", async () => {
        const type = "azure-native:storage:StorageAccount";
        const good = { publicNetworkAccess: "Disabled", networkRuleSet: { defaultAction: "Deny" }, allowBlobPublicAccess: false };
        assert.deepStrictEqual(await violationsOf(azureStorageNotPublic, type, good), []);
        const bad = await violationsOf(azureStorageNotPublic, type, {});
        assert.strictEqual(bad.length, 3);
        assert.match(bad[0], /public network access/);
    });

    describe("every cluster has a lease store nobody outside can reach or delete", () => {
        const instance = (cluster = "east") => ({ type: "aws:ec2/instance:Instance", name: `${cluster}-wk1`, props: { tags: { cluster, role: "primary" } } });
        const table = (props: Record<string, any> = {}, cluster = "east") => ({
            type: "aws:dynamodb/table:Table",
            name: `${cluster}-lease`,
            props: { tags: { holds: "iguana-lease", cluster }, serverSideEncryption: { enabled: true, kmsKeyArn: KEY.props.arn }, deletionProtectionEnabled: true, ...props },
        });
        const vm = (cluster = "east") => ({ type: "azure-native:compute:VirtualMachine", name: `${cluster}-wk1`, props: { tags: { cluster, role: "primary" } } });
        const account = (props: Record<string, any> = {}, cluster = "east") => ({
            type: "azure-native:storage:StorageAccount",
            name: `${cluster}-lease`,
            props: {
                tags: { holds: "iguana-lease", cluster },
                publicNetworkAccess: "Disabled",
                networkRuleSet: { defaultAction: "Deny" },
                allowSharedKeyAccess: false,
                minimumTlsVersion: "TLS1_2",
                enableHttpsTrafficOnly: true,
                ...props,
            },
        });
        const check = (resources: { type: string; name: string; props: Record<string, any> }[]) => stackViolations(leaseStoreRequiredAndPrivate, resources);

        it("accepts a cluster with its own private, encrypted, deletion-protected store, on either cloud", async () => {
            assert.deepStrictEqual(await check([KEY, instance(), { ...instance(), name: "east-wk2" }, table()]), []);
            assert.deepStrictEqual(await check([vm(), { ...vm(), name: "east-wk2" }, account()]), []);
        });

        it("refuses a cluster without a lease store, and one whose store is another cluster's", async () => {
            const [missing] = await check([KEY, instance(), { ...instance(), name: "east-wk2" }]);
            assert.match(
                missing,
                /^cluster east has workers \(east-wk1\) but no lease store: nothing keeps both workers from being active at once; add a DynamoDB table tagged holds: iguana-lease and cluster: east/,
            );
            assert.strictEqual((await check([KEY, instance(), { ...instance(), name: "east-wk2" }])).length, 1, "one violation per cluster, not per worker");
            assert.match((await check([KEY, instance("west"), table({}, "east")]))[0], /^cluster west has workers/);
            assert.match((await check([vm(), table()]))[0], /add a storage account tagged holds: iguana-lease/, "an AWS table is no lease for Azure workers");
            const untagged = { ...table(), props: { ...table().props, tags: { cluster: "east" } } };
            assert.match((await check([KEY, instance(), untagged]))[0], /no lease store/, "a table not tagged as the lease does not count");
        });

        it("refuses a lease table without the project's KMS key or without deletion protection", async () => {
            assert.match(
                (await check([KEY, instance(), table({ serverSideEncryption: { enabled: false } })]))[0],
                /encrypted with the AWS-owned key, not the project's customer-managed KMS key/,
            );
            assert.match((await check([KEY, instance(), table({ serverSideEncryption: { enabled: true } })]))[0], /encrypted with the AWS-managed key/);
            assert.match(
                (await check([KEY, instance(), table({ serverSideEncryption: { enabled: true, kmsKeyArn: "arn:aws:kms:r:1:key/other" } })]))[0],
                /key arn:aws:kms:r:1:key\/other, not the project's/,
            );
            assert.deepStrictEqual(await check([KEY, instance(), table({ deletionProtectionEnabled: false })]), [
                "lease table east-lease can be deleted while the workers run: set deletionProtectionEnabled: true.",
            ]);
            assert.strictEqual((await check([KEY, instance(), table({ deletionProtectionEnabled: undefined })])).length, 1, "unset is off");
        });

        it("refuses a lease account reachable from the Internet, with shared keys, plain HTTP or TLS below 1.2", async () => {
            const violations = (props: Record<string, any>) => check([vm(), account(props)]);
            assert.match(
                (await violations({ publicNetworkAccess: "Enabled", networkRuleSet: { defaultAction: "Allow" } }))[0],
                /is reachable from the Internet \(publicNetworkAccess Enabled, network rules Allow\)/,
            );
            assert.match(
                (await violations({ publicNetworkAccess: undefined, networkRuleSet: undefined }))[0],
                /publicNetworkAccess Enabled by default, network rules Allow by default/,
            );
            assert.deepStrictEqual(
                await violations({ publicNetworkAccess: "Enabled", networkRuleSet: { defaultAction: "Deny" } }),
                [],
                "a deny-all firewall is not the Internet (azure-storage-not-public still asks for Disabled)",
            );
            assert.match((await violations({ allowSharedKeyAccess: true }))[0], /accepts its account keys/);
            assert.match((await violations({ allowSharedKeyAccess: undefined }))[0], /accepts its account keys/, "Azure's default is on");
            assert.match((await violations({ minimumTlsVersion: "TLS1_1" }))[0], /accepts TLS below 1.2 \(minimumTlsVersion TLS1_1\)/);
            assert.match((await violations({ minimumTlsVersion: undefined }))[0], /minimumTlsVersion unset/);
            assert.deepStrictEqual(await violations({ minimumTlsVersion: "TLS1_3" }), []);
            assert.match((await violations({ enableHttpsTrafficOnly: false }))[0], /accepts plain HTTP/);
        });
    });

    it("who may move the VIP may move named addresses only", async () => {
        const policy = (statement: Record<string, unknown>) => ({ policy: JSON.stringify({ Version: "2012-10-17", Statement: [statement] }) });
        const eip = "arn:aws:ec2:eu-west-1:123456789012:elastic-ip/eipalloc-1";
        assert.deepStrictEqual(
            await violationsOf(vipMoverLeastPrivilege, "aws:iam/rolePolicy:RolePolicy", policy({ Effect: "Allow", Action: "ec2:AssociateAddress", Resource: [eip] })),
            [],
        );
        assert.deepStrictEqual(
            await violationsOf(vipMoverLeastPrivilege, "aws:iam/rolePolicy:RolePolicy", policy({ Effect: "Allow", Action: "ec2:DescribeAddresses", Resource: "*" })),
            [],
        );
        assert.strictEqual(
            (await violationsOf(vipMoverLeastPrivilege, "aws:iam/rolePolicy:RolePolicy", policy({ Effect: "Allow", Action: "ec2:AssociateAddress", Resource: "*" }))).length,
            1,
        );
        assert.strictEqual(
            (
                await violationsOf(
                    vipMoverLeastPrivilege,
                    "aws:iam/rolePolicy:RolePolicy",
                    policy({ Effect: "Allow", Action: ["ec2:*"], Resource: ["arn:aws:ec2:*:*:elastic-ip/*"] }),
                )
            ).length,
            1,
        );
        const role = (actions: string[], scope: string) => ({ permissions: [{ actions }], assignableScopes: [scope] });
        const rg = "/subscriptions/0000/resourceGroups/rg";
        assert.deepStrictEqual(
            await violationsOf(vipMoverLeastPrivilege, "azure-native:authorization:RoleDefinition", role(["Microsoft.Network/networkInterfaces/write"], rg)),
            [],
        );
        assert.match((await violationsOf(vipMoverLeastPrivilege, "azure-native:authorization:RoleDefinition", role(["Microsoft.Network/*"], rg)))[0], /wildcard/);
        assert.match(
            (
                await violationsOf(vipMoverLeastPrivilege, "azure-native:authorization:RoleDefinition", role(["Microsoft.Network/networkInterfaces/write"], "/subscriptions/0000"))
            )[0],
            /resource group/,
        );
    });

    it("taggable resources carry environment, worker resources their role", async () => {
        assert.deepStrictEqual(await violationsOf(requiredTags, "aws:ec2/vpc:Vpc", { tags: { environment: "dev" } }), []);
        assert.match((await violationsOf(requiredTags, "aws:ec2/vpc:Vpc", {}))[0], /no environment tag/);
        assert.deepStrictEqual(await violationsOf(requiredTags, "aws:ec2/volumeAttachment:VolumeAttachment", {}), [], "untaggable types are exempt");
        assert.match((await violationsOf(requiredTags, "aws:ec2/instance:Instance", { tags: { environment: "dev" } }))[0], /role tag is missing/);
        assert.deepStrictEqual(await violationsOf(requiredTags, "aws:ec2/instance:Instance", { tags: { environment: "dev", role: "backup" } }), []);
        assert.match((await violationsOf(requiredTags, "azure-native:network:VirtualNetwork", { location: "eastus2", tags: {} }))[0], /environment/);
    });
});

describe("policy pack: every shipped stack passes", function () {
    this.timeout(60000);
    for (const stack of listStacks()) {
        it(stack, async () => {
            const raw = readStackConfig(stack).config;
            const workers = JSON.parse(raw["iguana-ha:workers"] ?? "{}");
            const network = JSON.parse(raw["iguana-ha:network"] ?? "{}");
            const iguana = JSON.parse(raw["iguana-ha:iguana"] ?? "{}");
            const storage = JSON.parse(raw["iguana-ha:storage"] ?? "{}");
            const run = await runStack(stack);
            const violations = await packViolations(run.mocks.resources, {
                dedicated: workers.dedicated ?? false,
                encryptionAtHost: workers.encryptionAtHost ?? false,
                webPort: iguana.webPort,
                deletionProtection: network.deletionProtection ?? false,
                egressRestricted: network.egress?.restricted ?? false,
                egressProxy: network.egress?.proxy !== undefined,
                customerManagedKey: storage.customerManagedKey ?? false,
            });
            assert.deepStrictEqual(violations, []);
            assert.ok(run.mocks.resources.length > 15);
        });
    }

    for (const [label, values] of [
        ["aws with shared storage", awsConfig({ storage: { queueRecovery: "shared" } })],
        ["azure with shared storage", azureConfig({ storage: { queueRecovery: "shared" } })],
        ["aws with a floating IP", awsConfig({ failover: { strategy: "floating-ip" } })],
        ["azure with a floating IP", azureConfig({ failover: { strategy: "floating-ip" } })],
        // The README's deploy path: the subscriptions take no tags, and must not fail required-tags.
        ["aws telling an address and a webhook", awsConfig({ alerts: { emails: ["oncall@example.org"], webhookUrl: "https://alerts.example.org/hook" } })],
        ["azure telling an address and a webhook", azureConfig({ alerts: { emails: ["oncall@example.org"], webhookUrl: "https://alerts.example.org/hook" } })],
        ["aws copying its backups to another region", awsConfig({ backup: { copyToRegion: "us-west-2" } })],
        ["azure copying its backups to another region", azureConfig({ backup: { copyToRegion: "northeurope" } })],
    ] as const) {
        it(label, async () => {
            const run = await runConfig(values);
            assert.deepStrictEqual(await packViolations(run.mocks.resources, {}), []);
        });
    }

    it("the pack catches a missing or public lease store in a real stack", async () => {
        const aws = await runStack("aws-dev");
        const withoutTable = aws.mocks.resources.filter((r) => r.type !== "aws:dynamodb/table:Table");
        assert.ok((await packViolations(withoutTable, {})).some((v) => v.startsWith("lease-store-required-and-private: cluster iguana has workers")));
        const azure = await runStack("azure-dev");
        const opened = azure.mocks.resources.map((r) =>
            r.name === "iguana-lease" && r.type === "azure-native:storage:StorageAccount"
                ? { ...r, state: { ...r.state, publicNetworkAccess: "Enabled", networkRuleSet: { defaultAction: "Allow" } } }
                : r,
        );
        const violations = await packViolations(opened, {});
        assert.ok(
            violations.some((v) => v.startsWith("lease-store-required-and-private: lease account iguana-lease is reachable from the Internet")),
            violations.join("\n"),
        );
        assert.ok(violations.some((v) => v.startsWith("azure-storage-not-public: storage account iguana-lease allows public network access")));
    });

    it("the pack catches a non-compliant worker in a real stack", async () => {
        const run = await runStack("aws-dev");
        const tampered = run.mocks.resources.map((r) =>
            r.name === "iguana-wk1" && r.type === "aws:ec2/instance:Instance"
                ? { ...r, state: { ...r.state, metadataOptions: { httpTokens: "optional" }, tenancy: "default" } }
                : r,
        );
        const violations = await packViolations(tampered, { dedicated: true });
        assert.ok(
            violations.some((v) => v.startsWith("imdsv2-required: instance iguana-wk1")),
            violations.join("\n"),
        );
        assert.ok(violations.some((v) => v.startsWith("dedicated-hardware-when-asked: instance iguana-wk1")));
    });
});
