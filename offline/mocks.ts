/**
 * Pulumi mocks shared by the offline plan and the tests. They answer like the clouds would,
 * with placeholder values for what only a real deployment knows (ids, public addresses), and
 * record every registered resource with its parent so the plan can print a tree.
 */
import * as pulumi from "@pulumi/pulumi";

export interface RecordedResource {
    type: string;
    name: string;
    /** Name of the parent resource, if any. */
    parent?: string;
    custom: boolean;
    inputs: Record<string, any>;
    state: Record<string, any>;
    id?: string;
    /** Resource options the mock callback is not given, read off the registration request. */
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    ignoreChanges: string[];
    replaceOnChanges: string[];
    /** Names of the resources this one waits for (its inputs' and its `dependsOn`). */
    dependsOn: string[];
}

export interface RecordedCall {
    token: string;
    inputs: Record<string, any>;
}

/** Subscription id the Azure mocks answer with, so tests can assert exact ARM ids. */
export const MOCK_AZURE_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000000";
export const MOCK_AZURE_TENANT_ID = "11111111-1111-4111-8111-111111111111";
export const MOCK_AWS_ACCOUNT_ID = "123456789012";
/** What the mocked RandomPassword generates: tests assert it never leaks. */
export const MOCK_ADMIN_PASSWORD = "MockAdminPassw0rdNeverInUserData";
/** What the mocked tls PrivateKey generates (the self-signed certificate's key): tests assert it never leaks. */
export const MOCK_TLS_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMockSelfSignedKeyNeverInUserData\n-----END PRIVATE KEY-----\n";
export const MOCK_SELF_SIGNED_CERT = "-----BEGIN CERTIFICATE-----\nMockSelfSignedCertificate\n-----END CERTIFICATE-----\n";

/** A VPC that exists before the program runs, as the EC2 API describes it (`network.existing`). */
export interface MockAwsVpc {
    id: string;
    cidrBlock: string;
    subnets: { id: string; cidrBlock: string; availabilityZone: string; routeTableId: string }[];
}

/** A VNet that exists before the program runs, as ARM describes it (`network.existing` on Azure). */
export interface MockAzureVnet {
    resourceGroupName: string;
    name: string;
    addressPrefixes: string[];
    subnets: { name: string; addressPrefix: string }[];
}

/** Documentation address ranges (RFC 5737): never a real host. */
const PUBLIC_PLACEHOLDER_RANGES = ["203.0.113.", "198.51.100."];

export class RecordingMocks implements pulumi.runtime.Mocks {
    readonly resources: RecordedResource[] = [];
    readonly calls: RecordedCall[] = [];
    /** Every value invented here (ids, addresses, ARNs): shown as placeholders by the plan. */
    readonly placeholders = new Set<string>();
    readonly parents = new Map<string, string>();
    /** The URN of every resource registered, the stack's own first: what `pulumi up` tracks a resource by. */
    readonly urns: string[] = [];
    /** The resource options of each registration the mocks are not given, by `type::name`. */
    readonly options = new Map<
        string,
        { protect: boolean; retainOnDelete: boolean; deleteBeforeReplace: boolean; ignoreChanges: string[]; replaceOnChanges: string[]; dependsOn: string[] }
    >();
    /** What the program logged with `pulumi.log.warn` (evaluate records it here). */
    readonly warnings: string[] = [];
    /** Registrations the engine would refuse (a duplicate URN): evaluate fails with the first. */
    readonly registrationErrors: Error[] = [];
    private nextAddress = 10;
    /** VPCs that already exist in the account: what getVpc, getSubnet and getRouteTable find. */
    readonly existingVpcs: MockAwsVpc[] = [];
    /** VNets that already exist in the subscription: what getVirtualNetwork and getSubnet find. */
    readonly existingVnets: MockAzureVnet[] = [];
    /**
     * Regions whose Network Watcher is missing (Azure makes one per region when the first VNet
     * there is created, unless the subscription opted out): getNetworkWatcher finds every other.
     */
    readonly regionsWithoutNetworkWatcher = new Set<string>();
    /**
     * Subscription features (`Microsoft.Compute/EncryptionAtHost`) by state, where not
     * "Registered"; a feature never registered is not found, as Azure answers.
     */
    readonly featureStates = new Map<string, string>();
    /** The outputs of other stacks, by stack name: what a StackReference reads. */
    readonly stackOutputs: Record<string, Record<string, unknown>> = {};

    constructor(private readonly region: string = "us-east-1") {}

    private placeholder<T extends string>(value: T): T {
        this.placeholders.add(value);
        return value;
    }

    private publicAddress(family: 0 | 1): string {
        return this.placeholder(`${PUBLIC_PLACEHOLDER_RANGES[family]}${this.nextAddress++}`);
    }

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
        // The engine refuses a second resource with one URN (type, name, parent): so do the mocks.
        const parent = this.parents.get(`${args.type}::${args.name}`);
        if (this.resources.some((r) => r.type === args.type && r.name === args.name && r.parent === parent)) {
            const error = new Error(`Duplicate resource URN: a second ${args.type} named ${args.name}${parent ? ` under ${parent}` : ""}`);
            this.registrationErrors.push(error);
            throw error;
        }
        const computed = this.computedState(args);
        const id = args.custom === false ? undefined : this.placeholder(computed.id ?? `${args.name}-id`);
        delete computed.id;
        const state = { ...args.inputs, ...computed };
        this.resources.push({
            type: args.type,
            name: args.name,
            parent,
            custom: args.custom !== false,
            inputs: args.inputs,
            state,
            id,
            protect: false,
            retainOnDelete: false,
            deleteBeforeReplace: false,
            ignoreChanges: [],
            replaceOnChanges: [],
            dependsOn: [],
            ...this.options.get(`${args.type}::${args.name}`),
        });
        return { id, state };
    }

    private computedState(args: pulumi.runtime.MockResourceArgs): Record<string, any> {
        const { type, name, inputs } = args;
        // An AWS resource lives in its own `region` argument's region, or its provider's, as its ARN and addresses say.
        const region = typeof inputs.region === "string" ? inputs.region : this.awsRegion(args.provider);
        const arn = (service: string, resource: string) => this.placeholder(`arn:aws:${service}:${region}:${MOCK_AWS_ACCOUNT_ID}:${resource}`);
        switch (type) {
            case "pulumi:pulumi:StackReference": {
                const outputs = this.stackOutputs[inputs.name];
                if (!outputs) throw new Error(`no mock for stack ${inputs.name}: the stack does not exist`);
                return { id: inputs.name, outputs, secretOutputNames: [] };
            }
            case "aws:ec2/eip:Eip":
                return {
                    id: `eipalloc-${name}`,
                    allocationId: this.placeholder(`eipalloc-${name}`),
                    arn: arn("ec2", `elastic-ip/eipalloc-${name}`),
                    publicIp: this.publicAddress(0),
                };
            case "aws:ec2/instance:Instance":
                return {
                    id: `i-${name}`,
                    arn: arn("ec2", `instance/i-${name}`),
                    privateIp: inputs.privateIp ?? this.placeholder("10.255.255.254"),
                    availabilityZone: inputs.availabilityZone ?? `${region}a`,
                };
            // arnSuffix: what CloudWatch names them by (the ARN after its resource-type part).
            case "aws:lb/loadBalancer:LoadBalancer":
                return {
                    arn: arn("elasticloadbalancing", `loadbalancer/net/${name}/0`),
                    arnSuffix: this.placeholder(`net/${name}/0`),
                    dnsName: this.placeholder(`${name}.elb.${region}.amazonaws.com`),
                };
            case "aws:lb/targetGroup:TargetGroup":
                return { arn: arn("elasticloadbalancing", `targetgroup/${name}/0`), arnSuffix: this.placeholder(`targetgroup/${name}/0`) };
            case "aws:cloudwatch/logGroup:LogGroup": {
                const groupName = inputs.name ?? this.placeholder(`${name}-a1b2c3d`);
                return { arn: arn("logs", `log-group:${groupName}`), name: groupName };
            }
            case "aws:sns/topic:Topic":
                return { arn: arn("sns", inputs.name ?? `${name}-a1b2c3d`) };
            case "aws:dynamodb/table:Table": {
                // Pulumi auto-names the table: the logical name and a random suffix.
                const tableName = inputs.name ?? this.placeholder(`${name}-a1b2c3d`);
                return { arn: arn("dynamodb", `table/${tableName}`), name: tableName };
            }
            case "aws:kms/key:Key":
                return { arn: arn("kms", `key/${name}`), keyId: this.placeholder(`key-${name}`) };
            // Auto-named, with the ARNs AWS Backup's and EventBridge's events carry.
            case "aws:backup/vault:Vault": {
                const vaultName = inputs.name ?? this.placeholder(`${name}-a1b2c3d`);
                return { arn: arn("backup", `backup-vault:${vaultName}`), name: vaultName };
            }
            case "aws:cloudwatch/eventRule:EventRule": {
                const ruleName = inputs.name ?? this.placeholder(`${name}-a1b2c3d`);
                return { arn: arn("events", `rule/${ruleName}`), name: ruleName };
            }
            // A gateway endpoint's prefix list, which security group rules name.
            case "aws:ec2/vpcEndpoint:VpcEndpoint":
                return inputs.vpcEndpointType === "Gateway" ? { prefixListId: this.placeholder(`pl-${name}`) } : {};
            case "aws:iam/role:Role":
            case "aws:iam/instanceProfile:InstanceProfile":
                return { arn: arn("iam", `${type.endsWith("Role") ? "role" : "instance-profile"}/${name}`), name: inputs.name ?? name };
            case "azure-native:dataprotection:BackupVault":
                return {
                    id: azureId(inputs, "Microsoft.DataProtection/backupVaults", azureResourceName(inputs, name)),
                    name: azureResourceName(inputs, name),
                    identity: { ...inputs.identity, principalId: this.placeholder(`principal-of-${name}`), tenantId: MOCK_AZURE_TENANT_ID },
                };
            case "azure-native:compute:DiskEncryptionSet":
                return {
                    id: azureId(inputs, "Microsoft.Compute/diskEncryptionSets", azureResourceName(inputs, name)),
                    name: azureResourceName(inputs, name),
                    identity: { ...inputs.identity, principalId: this.placeholder(`principal-of-${name}`), tenantId: MOCK_AZURE_TENANT_ID },
                };
            case "azure-native:keyvault:Key": {
                const keyUri = `https://${inputs.vaultName}.vault.azure.net/keys/${inputs.keyName}`;
                return { keyUri, keyUriWithVersion: this.placeholder(`${keyUri}/0123456789abcdef0123456789abcdef`), name: inputs.keyName };
            }
            case "azure-native:compute:VirtualMachine":
                return {
                    id: azureId(inputs, "Microsoft.Compute/virtualMachines", azureResourceName(inputs, name)),
                    name: azureResourceName(inputs, name),
                    identity: { ...inputs.identity, principalId: this.placeholder(`principal-of-${name}`), tenantId: MOCK_AZURE_TENANT_ID },
                };
            case "random:index/randomPassword:RandomPassword":
                return { result: MOCK_ADMIN_PASSWORD, bcryptHash: "$2a$10$mock" };
            case "tls:index/privateKey:PrivateKey":
                return { privateKeyPem: MOCK_TLS_PRIVATE_KEY, publicKeyPem: "-----BEGIN PUBLIC KEY-----\nMock\n-----END PUBLIC KEY-----\n" };
            case "tls:index/selfSignedCert:SelfSignedCert":
                return { certPem: MOCK_SELF_SIGNED_CERT, validityEndTime: "2027-12-06T00:00:00Z" };
            case "azure-native:network:PublicIPAddress":
                return { ipAddress: this.publicAddress(1), id: azureId(inputs, "Microsoft.Network/publicIPAddresses", inputs.publicIpAddressName ?? name) };
            // Child resources: their ARM ids nest under the parent's.
            case "azure-native:network:Subnet": {
                const subnetName = inputs.subnetName ?? name;
                return { id: `${azureId(inputs, "Microsoft.Network/virtualNetworks", inputs.virtualNetworkName)}/subnets/${subnetName}`, name: subnetName };
            }
            case "azure-native:storage:BlobContainer": {
                const containerName = inputs.containerName ?? name;
                return { id: `${azureId(inputs, "Microsoft.Storage/storageAccounts", inputs.accountName)}/blobServices/default/containers/${containerName}`, name: containerName };
            }
            case "azure-native:compute:DedicatedHost": {
                const hostName = inputs.hostName ?? name;
                return { id: `${azureId(inputs, "Microsoft.Compute/hostGroups", inputs.hostGroupName)}/hosts/${hostName}`, name: hostName };
            }
            default:
                if (type.startsWith("aws:")) return { arn: arn(type.split(":")[1].split("/")[0], `${name}`) };
                if (type.startsWith("azure-native:"))
                    return { id: azureId(inputs, azureProviderType(type), azureResourceName(inputs, name)), name: azureResourceName(inputs, name) };
                return {};
        }
    }

    /**
     * The region an AWS invoke answers for: its explicit provider's `region` (a reference is
     * `<urn>::<id>`, the URN ending in the provider's name), else the stack's `aws:region`.
     */
    private awsRegion(providerRef: string | undefined): string {
        if (!providerRef) return this.region;
        const name = providerRef.split("::").slice(-2)[0];
        const provider = this.resources.find((r) => r.type === "pulumi:providers:aws" && r.name === name);
        return typeof provider?.inputs.region === "string" ? provider.inputs.region : this.region;
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
        this.calls.push({ token: args.token, inputs: args.inputs });
        switch (args.token) {
            case "aws:index/getAvailabilityZones:getAvailabilityZones": {
                const region = this.awsRegion(args.provider);
                const names = ["a", "b", "c"].map((z) => `${region}${z}`);
                return { id: region, names, zoneIds: names.map((_, i) => `use1-az${i + 1}`), groupNames: names, region };
            }
            case "aws:index/getRegion:getRegion": {
                const region = this.awsRegion(args.provider);
                return { id: region, region, name: region, endpoint: `ec2.${region}.amazonaws.com`, description: region };
            }
            case "aws:index/getPartition:getPartition":
                return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
            case "aws:ec2/getAmi:getAmi": {
                const architecture = args.inputs.filters?.find((f: any) => f.name === "architecture")?.values?.[0] ?? "x86_64";
                return { id: this.placeholder(`ami-ubuntu-2404-${architecture}`), architecture, imageId: `ami-ubuntu-2404-${architecture}`, ownerId: args.inputs.owners?.[0] };
            }
            case "aws:ec2/getVpc:getVpc": {
                const found = this.existingVpcs.find((v) => v.id === args.inputs.id);
                if (!found) throw new Error(`no matching EC2 VPC found (InvalidVpcID.NotFound: ${args.inputs.id})`);
                return {
                    id: found.id,
                    cidrBlock: found.cidrBlock,
                    cidrBlockAssociations: [{ associationId: `${found.id}-cidr`, cidrBlock: found.cidrBlock, state: "associated" }],
                };
            }
            case "aws:ec2/getSubnet:getSubnet": {
                const vpc = this.existingVpcs.find((v) => v.subnets.some((sub) => sub.id === args.inputs.id));
                const found = vpc?.subnets.find((sub) => sub.id === args.inputs.id);
                if (!vpc || !found) throw new Error(`no matching EC2 Subnet found (InvalidSubnetID.NotFound: ${args.inputs.id})`);
                return { id: found.id, vpcId: vpc.id, cidrBlock: found.cidrBlock, availabilityZone: found.availabilityZone };
            }
            case "aws:ec2/getRouteTable:getRouteTable": {
                const found = this.existingVpcs.flatMap((v) => v.subnets).find((sub) => sub.id === args.inputs.subnetId);
                if (!found) throw new Error(`query returned no results for subnet ${args.inputs.subnetId}`);
                return { id: found.routeTableId, routeTableId: found.routeTableId };
            }
            case "azure-native:network:getVirtualNetwork":
            case "azure-native:network:getSubnet": {
                const { resourceGroupName, virtualNetworkName, subnetName } = args.inputs;
                const vnet = this.existingVnets.find((v) => v.resourceGroupName.toLowerCase() === String(resourceGroupName).toLowerCase() && v.name === virtualNetworkName);
                const vnetId = `/subscriptions/${MOCK_AZURE_SUBSCRIPTION_ID}/resourceGroups/${resourceGroupName}/providers/Microsoft.Network/virtualNetworks/${virtualNetworkName}`;
                if (!vnet)
                    throw new Error(
                        `ResourceNotFound: the Resource 'Microsoft.Network/virtualNetworks/${virtualNetworkName}' under resource group '${resourceGroupName}' was not found`,
                    );
                if (args.token.endsWith("getVirtualNetwork"))
                    return { id: vnetId, name: vnet.name, location: this.region, addressSpace: { addressPrefixes: vnet.addressPrefixes } };
                const subnet = vnet.subnets.find((sub) => sub.name === subnetName);
                if (!subnet) throw new Error(`NotFound: Resource ${vnetId}/subnets/${subnetName} not found`);
                return { id: `${vnetId}/subnets/${subnet.name}`, name: subnet.name, addressPrefix: subnet.addressPrefix };
            }
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return {
                    accountId: this.placeholder(MOCK_AWS_ACCOUNT_ID),
                    arn: this.placeholder(`arn:aws:iam::${MOCK_AWS_ACCOUNT_ID}:user/plan`),
                    userId: "AIDAPLAN",
                    id: MOCK_AWS_ACCOUNT_ID,
                };
            case "azure-native:network:getNetworkWatcher": {
                const { resourceGroupName, networkWatcherName } = args.inputs;
                const location = String(networkWatcherName).replace(/^NetworkWatcher_/, "");
                if (resourceGroupName !== "NetworkWatcherRG" || this.regionsWithoutNetworkWatcher.has(location)) {
                    throw new Error(
                        `ResourceNotFound: the Resource 'Microsoft.Network/networkWatchers/${networkWatcherName}' under resource group '${resourceGroupName}' was not found`,
                    );
                }
                const id = `/subscriptions/${MOCK_AZURE_SUBSCRIPTION_ID}/resourceGroups/${resourceGroupName}/providers/Microsoft.Network/networkWatchers/${networkWatcherName}`;
                return { id, name: networkWatcherName, location, provisioningState: "Succeeded" };
            }
            case "azure-native:features:getSubscriptionFeatureRegistration": {
                const { providerNamespace, featureName } = args.inputs;
                const feature = `${providerNamespace}/${featureName}`;
                const state = this.featureStates.get(feature) ?? "Registered";
                if (state === "NotFound")
                    throw new Error(`SubscriptionFeatureRegistrationNotFound: the feature ${feature} is not registered in subscription ${MOCK_AZURE_SUBSCRIPTION_ID}`);
                const id = `/subscriptions/${MOCK_AZURE_SUBSCRIPTION_ID}/providers/Microsoft.Features/featureProviders/${providerNamespace}/subscriptionFeatureRegistrations/${featureName}`;
                return { id, name: featureName, properties: { featureName, providerNamespace, state } };
            }
            case "azure-native:authorization:getClientConfig":
                return { subscriptionId: this.placeholder(MOCK_AZURE_SUBSCRIPTION_ID), tenantId: MOCK_AZURE_TENANT_ID, clientId: "mock-client", objectId: "mock-object" };
            default:
                // A new invoke must be mocked on purpose, never answered silently.
                throw new Error(`no mock for invoke ${args.token}`);
        }
    }
}

function azureResourceName(inputs: Record<string, any>, fallback: string): string {
    const explicit = Object.keys(inputs).find((k) => k.endsWith("Name") && k !== "resourceGroupName" && typeof inputs[k] === "string");
    return explicit ? inputs[explicit] : fallback;
}

/** ARM resource types whose name does not follow the Pulumi type name. */
const AZURE_PROVIDER_TYPES: Record<string, string> = { "azure-native:compute:DedicatedHostGroup": "Microsoft.Compute/hostGroups" };

function azureProviderType(type: string): string {
    if (AZURE_PROVIDER_TYPES[type]) return AZURE_PROVIDER_TYPES[type];
    const [, module, resource] = type.split(":");
    const namespace = module === "resources" ? "Microsoft.Resources" : `Microsoft.${module[0].toUpperCase()}${module.slice(1)}`;
    return `${namespace}/${resource[0].toLowerCase()}${resource.slice(1)}s`;
}

function azureId(inputs: Record<string, any>, providerType: string, name: string): string {
    const group = inputs.resourceGroupName ?? name;
    if (providerType === "Microsoft.Resources/resourceGroups") return `/subscriptions/${MOCK_AZURE_SUBSCRIPTION_ID}/resourceGroups/${name}`;
    return `/subscriptions/${MOCK_AZURE_SUBSCRIPTION_ID}/resourceGroups/${group}/providers/${providerType}/${name}`;
}

/**
 * Installs `mocks` and records each resource's parent, `protect`, `retainOnDelete`,
 * `deleteBeforeReplace`, `ignoreChanges` and `replaceOnChanges`: the mock
 * callback does not receive them (pulumi/pulumi#14421), so the monitor's registration request
 * is read on the way in.
 */
export async function installMocks(mocks: RecordingMocks, project: string, stack: string): Promise<void> {
    await pulumi.runtime.setMocks(mocks, project, stack, false);
    const monitor = pulumi.runtime.getMonitor() as any;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: any) => {
        const key = `${req.getType()}::${req.getName()}`;
        const parentUrn: string = req.getParent();
        if (parentUrn) mocks.parents.set(key, parentUrn.split("::").pop()!);
        mocks.options.set(key, {
            protect: req.getProtect(),
            retainOnDelete: req.getRetainondelete(),
            deleteBeforeReplace: req.getDeletebeforereplace(),
            ignoreChanges: req.getIgnorechangesList(),
            replaceOnChanges: req.getReplaceonchangesList(),
            dependsOn: (req.getDependenciesList() as string[]).map((urn) => urn.split("::").pop()!),
        });
        return register(req, (error: unknown, response: any) => {
            if (!error && response) mocks.urns.push(response.getUrn());
            callback(error, response);
        });
    };
}
