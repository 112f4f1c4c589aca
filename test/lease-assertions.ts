/** What every cluster's lease must look like, per cloud: shared by the test files of each mode. */
import * as assert from "assert";
import { leaseAccountName } from "../components/azure/lease";
import { sharedAccountName } from "../components/azure/storage";
import { MOCK_AZURE_SUBSCRIPTION_ID } from "../offline/mocks";
import { GuardFiles, StackRun } from "./helpers";

const T = {
    instance: "aws:ec2/instance:Instance",
    key: "aws:kms/key:Key",
    table: "aws:dynamodb/table:Table",
    endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    association: "aws:ec2/routeTableAssociation:RouteTableAssociation",
};

/** The route tables of the subnets the workers run in. */
export function workerRouteTableIds(run: StackRun): string[] {
    return run.ofType(T.instance).map((i) => run.ofType(T.association).find((a) => a.inputs.subnetId === i.inputs.subnetId)!.inputs.routeTableId);
}

/** Every IAM statement of the worker role's inline policies, with the policy's name. */
export function workerStatements(run: StackRun): { policy: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: any }[] {
    const role = run.one("aws:iam/role:Role", "iguana-worker-role");
    return run
        .ofType(T.rolePolicy)
        .filter((p) => p.inputs.role === role.id)
        .flatMap((p) => [JSON.parse(p.inputs.policy).Statement].flat().map((statement: any) => ({ policy: p.name, ...statement })));
}

/**
 * The lease as every AWS cluster has it: one on-demand table keyed by `pk`, encrypted with the
 * project key, protected against deletion; reached through a gateway endpoint on the workers'
 * own route tables whose policy admits the lease calls on that table only; the worker role may
 * read and update the cluster's one item only; each worker is told where it is.
 */
export function assertAwsLease(run: StackRun, guards: Record<string, GuardFiles>, region: string) {
    const tables = run.ofType(T.table);
    assert.deepStrictEqual(
        tables.map((t) => t.name),
        ["iguana-lease"],
        "one lease table",
    );
    const [table] = tables;
    const key = run.one(T.key, "iguana-key");
    assert.deepStrictEqual(
        [table.inputs.billingMode, table.inputs.hashKey, table.inputs.attributes, table.inputs.rangeKey],
        ["PAY_PER_REQUEST", "pk", [{ name: "pk", type: "S" }], undefined],
        "on demand, one string key, nothing else",
    );
    assert.deepStrictEqual(table.inputs.serverSideEncryption, { enabled: true, kmsKeyArn: key.state.arn }, "encrypted with the project's customer-managed key");
    assert.strictEqual(table.inputs.deletionProtectionEnabled, true);
    assert.strictEqual(table.inputs.pointInTimeRecovery, undefined, "no backups of a record that is rewritten every half second");
    assert.deepStrictEqual([table.retainOnDelete, table.protect], [true, false], "kept by destroy (deletion protection would fail it), never `protect`ed: it holds no data");
    assert.strictEqual(table.parent, "iguana");
    assert.deepStrictEqual([table.inputs.tags.holds, table.inputs.tags.cluster], ["iguana-lease", "iguana"], "the policy pack finds the cluster's lease store by these tags");

    const endpoints = run.ofType(T.endpoint).filter((e) => e.inputs.serviceName === `com.amazonaws.${region}.dynamodb`);
    assert.deepStrictEqual(
        endpoints.map((e) => e.name),
        ["iguana-lease"],
        "one DynamoDB endpoint",
    );
    const [endpoint] = endpoints;
    assert.strictEqual(endpoint.inputs.vpcEndpointType, "Gateway");
    assert.strictEqual(endpoint.inputs.vpcId, run.one("aws:ec2/vpc:Vpc", "iguana-vpc").id);
    assert.deepStrictEqual([...endpoint.inputs.routeTableIds].sort(), [...new Set(workerRouteTableIds(run))].sort(), "on the workers' route tables, and only theirs");
    const role = run.one("aws:iam/role:Role", "iguana-worker-role");
    assert.deepStrictEqual(JSON.parse(endpoint.inputs.policy).Statement, [
        {
            Sid: "WorkersReachTheLeaseTableOnly",
            Effect: "Allow",
            Principal: { AWS: role.state.arn },
            Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            Resource: table.state.arn,
        },
    ]);

    const statements = workerStatements(run);
    const dynamo = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")));
    assert.deepStrictEqual(
        dynamo.map(({ policy, Effect, Action, Resource, Condition }) => ({ policy, Effect, Action, Resource, Condition })),
        [
            {
                policy: "iguana-worker-lease",
                Effect: "Allow",
                Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                Resource: table.state.arn,
                Condition: { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": ["iguana"] } },
            },
        ],
        "GetItem and UpdateItem on the table, the cluster's item only; no PutItem, DeleteItem, Scan or Query",
    );
    const decrypt = statements.filter((s) => s.policy === "iguana-worker-lease" && s.Action === "kms:Decrypt");
    assert.deepStrictEqual(
        decrypt.map((s) => [s.Resource, s.Condition]),
        [[key.state.arn, { StringEquals: { "kms:ViaService": `dynamodb.${region}.amazonaws.com`, "kms:EncryptionContext:aws:dynamodb:tableName": table.state.name } }]],
        "the project key, only through DynamoDB, only for the lease table",
    );

    for (const worker of ["wk1", "wk2"]) {
        const { kind, table: tableName, region: storeRegion, itemKey, url } = guards[worker].lease.store;
        assert.deepStrictEqual(
            { kind, tableName, region: storeRegion, itemKey, url },
            { kind: "aws-dynamodb", tableName: table.state.name, region, itemKey: "iguana", url: `https://dynamodb.${region}.amazonaws.com/` },
            `${worker} is told where the lease is`,
        );
        assert.strictEqual(guards[worker].lease.leaseSeconds, 3, `${worker}: the default lease`);
    }
}

const A = {
    rg: "azure-native:resources:ResourceGroup",
    account: "azure-native:storage:StorageAccount",
    container: "azure-native:storage:BlobContainer",
    endpoint: "azure-native:network:PrivateEndpoint",
    subnet: "azure-native:network:Subnet",
    nsg: "azure-native:network:NetworkSecurityGroup",
    vm: "azure-native:compute:VirtualMachine",
    assignment: "azure-native:authorization:RoleAssignment",
};

/**
 * The lease as every Azure cluster has it: a ZRS StorageV2 account of its own with no public
 * network access, no shared key and TLS 1.2; a private container; a private endpoint in the
 * storage subnet whose NSG admits HTTPS from the two workers only, and the blob private DNS zone;
 * each worker's identity may write blobs in that container only; each worker is told where it is.
 */
export function assertAzureLease(run: StackRun, guards: Record<string, GuardFiles>, workerHosts: string[]) {
    const accounts = run.ofType(A.account).filter((a) => a.inputs.tags?.holds === "iguana-lease");
    assert.deepStrictEqual(
        accounts.map((a) => a.name),
        ["iguana-lease"],
        "one lease account",
    );
    const [account] = accounts;
    const group = run.one(A.rg, "iguana-rg");
    const p = account.inputs;
    assert.deepStrictEqual(
        [p.kind, p.sku, p.accessTier, p.enableHttpsTrafficOnly, p.minimumTlsVersion],
        ["StorageV2", { name: "Standard_ZRS" }, "Hot", true, "TLS1_2"],
        "zone-redundant StorageV2, HTTPS only, TLS 1.2",
    );
    assert.deepStrictEqual(
        [p.publicNetworkAccess, p.networkRuleSet, p.allowBlobPublicAccess, p.allowSharedKeyAccess, p.defaultToOAuthAuthentication],
        ["Disabled", { defaultAction: "Deny", bypass: "None" }, false, false, true],
        "no public network access, deny-all firewall, no public blobs, Entra ID only",
    );
    assert.strictEqual(p.resourceGroupName, group.state.name, "in the cluster's resource group, not the kept data group");
    assert.strictEqual(p.tags.cluster, "iguana");
    assert.deepStrictEqual([account.retainOnDelete, account.protect], [false, false], "it holds no data: it goes with the cluster");
    assert.strictEqual(p.accountName, leaseAccountName(MOCK_AZURE_SUBSCRIPTION_ID, group.state.name));
    assert.match(p.accountName, /^[a-z0-9]{3,24}$/, "a valid global storage account name");
    assert.notStrictEqual(p.accountName, sharedAccountName(MOCK_AZURE_SUBSCRIPTION_ID, group.state.name), "never the shared queue's account name");

    const containers = run.ofType(A.container);
    assert.deepStrictEqual(
        containers.map((c) => [c.name, c.inputs.accountName, c.inputs.containerName, c.inputs.publicAccess]),
        [["iguana-lease", account.state.name, "lease", "None"]],
    );
    const [container] = containers;
    assert.strictEqual(container.id, `${account.id}/blobServices/default/containers/lease`);

    const endpoint = run.one(A.endpoint, "iguana-lease-pe");
    const subnet = run.one(A.subnet, "iguana-storage");
    assert.strictEqual(endpoint.inputs.subnet.id, subnet.id);
    assert.deepStrictEqual(endpoint.inputs.privateLinkServiceConnections, [{ name: "blob", privateLinkServiceId: account.id, groupIds: ["blob"] }]);
    assert.strictEqual(subnet.inputs.privateEndpointNetworkPolicies, "Enabled", "so the storage NSG applies to the endpoint");
    const zone = run.one("azure-native:privatedns:PrivateZone", "iguana-blob-dns");
    assert.strictEqual(zone.inputs.privateZoneName, "privatelink.blob.core.windows.net");
    assert.strictEqual(
        run.one("azure-native:privatedns:VirtualNetworkLink", "iguana-blob-dns").inputs.virtualNetwork.id,
        run.one("azure-native:network:VirtualNetwork", "iguana-vnet").id,
    );
    assert.deepStrictEqual(run.one("azure-native:network:PrivateDnsZoneGroup", "iguana-lease-pe").inputs.privateDnsZoneConfigs, [{ name: "blob", privateDnsZoneId: zone.id }]);
    const nsg = run.one(A.nsg, "iguana-storage-nsg");
    assert.strictEqual(subnet.inputs.networkSecurityGroup.id, nsg.id);
    const rules: any[] = nsg.inputs.securityRules;
    const https = rules.find((r) => r.name === "allow-https-from-workers");
    assert.deepStrictEqual(
        [https.direction, https.access, https.protocol, https.destinationPortRange, https.sourceAddressPrefixes, https.sourceAddressPrefix],
        ["Inbound", "Allow", "Tcp", "443", workerHosts, undefined],
        "HTTPS to the endpoint from the two workers only",
    );
    const deny = rules.find((r) => r.name === "deny-other-vnet-inbound");
    assert.deepStrictEqual([deny.access, deny.sourceAddressPrefix, deny.destinationPortRange], ["Deny", "VirtualNetwork", "*"]);
    assert.ok(
        rules.filter((r) => r.access === "Allow").every((r) => r.priority < deny.priority),
        "every allow before the deny",
    );

    const contributor = run.ofType(A.assignment).filter((a) => String(a.inputs.roleDefinitionId).endsWith("/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe"));
    const vms = run.ofType(A.vm);
    assert.deepStrictEqual(
        contributor.map((a) => [a.inputs.principalId, a.inputs.principalType, a.inputs.scope]).sort(),
        vms.map((vm) => [vm.state.identity.principalId, "ServicePrincipal", container.id]).sort(),
        "Storage Blob Data Contributor for each worker's identity, on the lease container only",
    );
    assert.strictEqual(
        contributor[0].inputs.roleDefinitionId,
        `/subscriptions/${MOCK_AZURE_SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe`,
    );

    for (const worker of ["wk1", "wk2"]) {
        const { kind, url } = guards[worker].lease.store;
        assert.deepStrictEqual(
            { kind, url },
            { kind: "azure-blob", url: `https://${account.state.name}.blob.core.windows.net/lease/iguana` },
            `${worker} is told where the lease is`,
        );
    }
}
