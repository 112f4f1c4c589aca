/** Turns a mocked evaluation into the plan a reviewer reads: a resource tree and the outputs. */
import { RecordedResource } from "../offline/mocks";

/** The properties a reviewer checks, per resource type. */
const KEY_PROPERTIES: Record<string, string[]> = {
    "aws:ec2/vpc:Vpc": ["cidrBlock"],
    "aws:ec2/subnet:Subnet": ["cidrBlock", "availabilityZone", "mapPublicIpOnLaunch"],
    "aws:ec2/routeTable:RouteTable": ["routes"],
    "aws:ec2/natGateway:NatGateway": ["subnetId"],
    "aws:ec2/eip:Eip": ["domain", "publicIp"],
    "aws:ec2/securityGroup:SecurityGroup": ["description"],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["ipProtocol", "fromPort", "toPort", "cidrIpv4", "referencedSecurityGroupId"],
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ["ipProtocol", "fromPort", "toPort", "cidrIpv4", "prefixListId"],
    "aws:kms/key:Key": ["region", "enableKeyRotation", "deletionWindowInDays"],
    "aws:dynamodb/table:Table": ["billingMode", "hashKey", "serverSideEncryption", "deletionProtectionEnabled"],
    "aws:ec2/vpcEndpoint:VpcEndpoint": ["serviceName", "vpcEndpointType", "routeTableIds", "subnetIds"],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["policyArn"],
    "aws:ec2/instance:Instance": ["instanceType", "tenancy", "privateIp", "metadataOptions.httpTokens", "rootBlockDevice.encrypted", "rootBlockDevice.kmsKeyId", "ami"],
    "aws:ebs/volume:Volume": ["availabilityZone", "size", "snapshotId", "type", "encrypted", "kmsKeyId"],
    "aws:ec2/volumeAttachment:VolumeAttachment": ["deviceName", "instanceId", "volumeId"],
    "aws:lb/loadBalancer:LoadBalancer": ["loadBalancerType", "internal", "enableCrossZoneLoadBalancing", "enableDeletionProtection", "subnetMappings"],
    "aws:lb/targetGroup:TargetGroup": ["port", "protocol", "healthCheck", "preserveClientIp"],
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": ["targetId", "port"],
    "aws:lb/listener:Listener": ["port", "protocol", "tcpIdleTimeoutSeconds"],
    "aws:cloudwatch/logGroup:LogGroup": ["retentionInDays", "kmsKeyId"],
    "aws:cloudwatch/metricAlarm:MetricAlarm": ["namespace", "metricName", "statistic", "comparisonOperator", "threshold", "period", "evaluationPeriods"],
    "aws:sns/topic:Topic": ["kmsMasterKeyId"],
    "aws:sns/topicSubscription:TopicSubscription": ["protocol"],
    "aws:ec2/flowLog:FlowLog": ["vpcId", "subnetId", "trafficType", "logDestinationType", "maxAggregationInterval"],
    "aws:efs/fileSystem:FileSystem": ["encrypted", "kmsKeyId", "performanceMode", "throughputMode"],
    "aws:efs/mountTarget:MountTarget": ["subnetId", "securityGroups"],
    "aws:backup/vault:Vault": ["region", "kmsKeyArn"],
    "aws:backup/plan:Plan": ["rules"],
    "aws:backup/selection:Selection": ["resources"],
    "azure-native:resources:ResourceGroup": ["location"],
    "azure-native:storage:StorageAccount": [
        "kind",
        "sku.name",
        "publicNetworkAccess",
        "networkRuleSet.defaultAction",
        "enableHttpsTrafficOnly",
        "minimumTlsVersion",
        "allowSharedKeyAccess",
    ],
    "azure-native:storage:ManagementPolicy": ["policy.rules"],
    "azure-native:monitor:ActionGroup": ["groupShortName", "enabled"],
    "azure-native:monitor:MetricAlert": ["severity", "windowSize", "criteria.allOf"],
    "azure-native:keyvault:Vault": [
        "properties.publicNetworkAccess",
        "properties.networkAcls.defaultAction",
        "properties.enablePurgeProtection",
        "properties.enableRbacAuthorization",
    ],
    "azure-native:dataprotection:BackupVault": ["identity.type", "properties.storageSettings", "properties.securitySettings"],
    "azure-native:dataprotection:BackupPolicy": ["properties.policyRules"],
    "azure-native:dataprotection:BackupInstance": ["properties.dataSourceInfo.resourceID", "properties.policyInfo"],
    "azure-native:network:FlowLog": ["networkWatcherName", "targetResourceId", "enabled", "format", "retentionPolicy"],
    "azure-native:storage:BlobContainer": ["containerName", "publicAccess"],
    "azure-native:storage:FileShare": ["shareName", "enabledProtocols", "shareQuota", "rootSquash"],
    "azure-native:storage:FileServiceProperties": ["shareDeleteRetentionPolicy"],
    "azure-native:network:PrivateEndpoint": ["subnet.id", "privateLinkServiceConnections"],
    "azure-native:privatedns:PrivateZone": ["privateZoneName"],
    "azure-native:network:VirtualNetwork": ["addressSpace.addressPrefixes"],
    "azure-native:network:Subnet": ["subnetName", "addressPrefix", "defaultOutboundAccess", "natGateway.id", "networkSecurityGroup.id"],
    "azure-native:network:NetworkSecurityGroup": ["securityRules"],
    "azure-native:network:PublicIPAddress": ["sku.name", "publicIPAllocationMethod", "zones", "ipAddress"],
    "azure-native:network:NatGateway": ["sku.name", "zones", "publicIpAddresses"],
    "azure-native:authorization:ManagementLockByScope": ["level", "scope"],
    "azure-native:network:LoadBalancer": ["loadBalancerName", "sku.name", "frontendIPConfigurations", "backendAddressPools", "probes", "loadBalancingRules"],
    "azure-native:network:NetworkInterface": ["ipConfigurations"],
    "azure-native:compute:DedicatedHostGroup": ["zones", "platformFaultDomainCount"],
    "azure-native:compute:DedicatedHost": ["sku.name", "platformFaultDomain", "hostGroupName"],
    "azure-native:compute:Disk": ["zones", "sku.name", "diskSizeGB", "creationData", "encryption.type", "networkAccessPolicy"],
    "azure-native:compute:VirtualMachine": [
        "hardwareProfile.vmSize",
        "zones",
        "host.id",
        "identity.type",
        "securityProfile.encryptionAtHost",
        "osProfile.linuxConfiguration.disablePasswordAuthentication",
        "storageProfile.imageReference",
        "storageProfile.osDisk.managedDisk.storageAccountType",
        "storageProfile.dataDisks",
    ],
};

/** Properties never printed, whatever the resource: they may hold secret values. */
export const REDACTED_PROPERTIES = new Set(["value", "secretString", "password", "adminPassword", "customData", "userData", "userDataBase64"]);

function pick(obj: Record<string, unknown>, path: string): unknown {
    return path.split(".").reduce<unknown>((o, k) => (o === undefined || o === null ? undefined : (o as Record<string, unknown>)[k]), obj);
}

function compact(value: unknown): string {
    return typeof value === "string" ? value : JSON.stringify(value);
}

export function keyProperties(resource: RecordedResource): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    for (const path of KEY_PROPERTIES[resource.type] ?? []) {
        if (REDACTED_PROPERTIES.has(path.split(".")[0])) continue;
        const value = pick(resource.state, path);
        if (value !== undefined) result[path] = value;
    }
    return result;
}

export interface PlannedResource {
    type: string;
    name: string;
    parent: string | null;
    properties: Record<string, unknown>;
}

export function plannedResources(resources: RecordedResource[]): PlannedResource[] {
    return resources.map((r) => ({ type: r.type, name: r.name, parent: r.parent ?? null, properties: keyProperties(r) }));
}

/**
 * Whether `value` holds `placeholder` as a whole token: the invented address 198.51.100.12
 * is in "http://198.51.100.12:7654/" but not in the configured CIDR "198.51.100.128/26".
 */
export function containsPlaceholder(value: string, placeholder: string): boolean {
    for (let at = value.indexOf(placeholder); at >= 0; at = value.indexOf(placeholder, at + 1)) {
        if (!/[0-9A-Za-z]/.test(value.charAt(at + placeholder.length))) return true;
    }
    return false;
}

/** Marks every string that holds a value the mocks invented. */
export function markPlaceholders(value: unknown, placeholders: Set<string>): unknown {
    if (typeof value === "string") {
        for (const p of placeholders) {
            if (containsPlaceholder(value, p)) return `${value} <placeholder>`;
        }
        return value;
    }
    if (Array.isArray(value)) return value.map((v) => markPlaceholders(v, placeholders));
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, markPlaceholders(v, placeholders)]));
    }
    return value;
}

export function renderTree(resources: PlannedResource[], placeholders: Set<string>): string {
    const children = new Map<string | null, PlannedResource[]>();
    for (const r of resources) {
        const list = children.get(r.parent) ?? [];
        list.push(r);
        children.set(r.parent, list);
    }
    const lines: string[] = [];
    const walk = (parent: string | null, depth: number) => {
        for (const r of children.get(parent) ?? []) {
            const props = Object.entries(markPlaceholders(r.properties, placeholders) as Record<string, unknown>)
                .map(([k, v]) => `${k}=${compact(v)}`)
                .join("  ");
            lines.push(`${"  ".repeat(depth)}${r.type}  ${r.name}${props ? `\n${"  ".repeat(depth + 2)}${props}` : ""}`);
            if (r.name !== parent) walk(r.name, depth + 1);
        }
    };
    walk(null, 0);
    return lines.join("\n");
}
