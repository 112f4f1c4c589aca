/** Step 5, storage: the private endpoint subnet, the shared NFS share (`storage.queueRecovery: shared`) or each worker's queue disk. */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as privatedns from "@pulumi/azure-native/privatedns";
import * as storage from "@pulumi/azure-native/storage";
import { AZURE_DISK_SKU, AZURE_WORKER_ZONES, AZURE_FILE_PRIVATE_DNS_ZONE, HTTPS_PORT, NFS_PORT } from "../constants";
import { WorkerPlan, storageSubnet } from "../model";
import { AzureGroupContext, denyOtherVnetInbound, inboundRule } from "./context";

/** How long a deleted share of the shared queue's account can be restored (share soft delete, 1-365 days). */
export const SHARE_SOFT_DELETE_DAYS = 14;

/** Name of the NFS share holding the shared working directory. */
export const AZURE_SHARE_NAME = "iguana";

/**
 * Storage account names are global, 3-24 lowercase letters and digits. Derived from the
 * subscription and the (auto-named, so unique) resource group: stable across updates. The
 * prefix says what the account holds (7 + 16 characters).
 */
export function storageAccountName(prefix: "iguanaq" | "iguanal" | "iguanaf", subscriptionId: string, resourceGroupName: string): string {
    return `${prefix}${crypto.createHash("sha256").update(`${subscriptionId}/${resourceGroupName}`).digest("hex").slice(0, 16)}`;
}

/**
 * What the cluster's blob accounts (the lease's, the flow logs') share: StorageV2, zone-redundant,
 * HTTPS and TLS 1.2 only, no public blobs, Microsoft-managed encryption. Who may reach each, and
 * how, is the account's own.
 */
export const BLOB_ACCOUNT_BASICS = {
    kind: "StorageV2",
    sku: { name: "Standard_ZRS" },
    accessTier: "Hot",
    enableHttpsTrafficOnly: true,
    minimumTlsVersion: "TLS1_2",
    allowBlobPublicAccess: false,
    encryption: { keySource: "Microsoft.Storage", services: { blob: { enabled: true, keyType: "Account" } } },
} satisfies Partial<storage.StorageAccountArgs>;

/** The shared queue's account (`storage.queueRecovery: shared`). */
export function sharedAccountName(subscriptionId: string, resourceGroupName: string): string {
    return storageAccountName("iguanaq", subscriptionId, resourceGroupName);
}

export interface AzureSharedShare {
    account: storage.StorageAccount;
    share: storage.FileShare;
    zone: privatedns.PrivateZone;
    endpoint: network.PrivateEndpoint;
    accountName: pulumi.Output<string>;
}

/** A private endpoint (a storage account's, the Key Vault's): its private DNS zone linked to the VNet, the endpoint in the endpoint subnet, the zone group. */
export interface PrivateEndpointArgs {
    /** The zone's and the VNet link's resource name. */
    dnsName: string;
    /** The endpoint's and its zone group's resource name. */
    endpointName: string;
    privateZoneName: string;
    /** The sub-resource: `blob` (the lease), `file` (the shared share) or `vault` (the Key Vault). */
    groupId: "blob" | "file" | "vault";
    /** The resource the endpoint reaches: the storage account or the vault. */
    targetId: pulumi.Input<string>;
    virtualNetworkId: pulumi.Input<string>;
    subnetId: pulumi.Input<string>;
}

export function privateEndpoint(
    ctx: AzureGroupContext,
    args: PrivateEndpointArgs,
): { zone: privatedns.PrivateZone; endpoint: network.PrivateEndpoint; dnsGroup: network.PrivateDnsZoneGroup } {
    const { opts, tags, location, resourceGroupName } = ctx;
    const { groupId } = args;
    const zone = new privatedns.PrivateZone(args.dnsName, { resourceGroupName, location: "global", privateZoneName: args.privateZoneName, tags }, opts);
    new privatedns.VirtualNetworkLink(
        args.dnsName,
        { resourceGroupName, location: "global", privateZoneName: zone.name, virtualNetwork: { id: args.virtualNetworkId }, registrationEnabled: false, tags },
        opts,
    );
    const endpoint = new network.PrivateEndpoint(
        args.endpointName,
        {
            resourceGroupName,
            location,
            subnet: { id: args.subnetId },
            privateLinkServiceConnections: [{ name: groupId, privateLinkServiceId: args.targetId, groupIds: [groupId] }],
            tags,
        },
        opts,
    );
    const dnsGroup = new network.PrivateDnsZoneGroup(
        args.endpointName,
        { resourceGroupName, privateEndpointName: endpoint.name, privateDnsZoneGroupName: groupId, privateDnsZoneConfigs: [{ name: groupId, privateDnsZoneId: zone.id }] },
        opts,
    );
    return { zone, endpoint, dnsGroup };
}

// --- storage endpoints ------------------------------------------------------------------
// The storage accounts have no public endpoint: the workers reach them through private
// endpoints in a small subnet of their own, whose NSG (applied to the endpoints:
// privateEndpointNetworkPolicies Enabled) admits the two workers only: HTTPS to the lease
// blob, and with shared storage NFS to the share.
export function createStorageEndpoints(ctx: AzureGroupContext, vnet: network.VirtualNetwork, subnets: network.Subnet[]): network.Subnet {
    const { name, cfg, parent, opts, tags, location, resourceGroupName, networkPlan, workerHosts } = ctx;
    const sharedStorage = cfg.storage.queueRecovery === "shared";
    const storageNsg = new network.NetworkSecurityGroup(
        `${name}-storage-nsg`,
        {
            resourceGroupName,
            location,
            securityRules: [
                ...(sharedStorage
                    ? [
                          inboundRule({
                              name: "allow-nfs-from-workers",
                              description: "NFS 4.1 to the share's private endpoint from the two workers only",
                              priority: 100,
                              access: "Allow",
                              protocol: "Tcp",
                              sourceAddressPrefixes: workerHosts,
                              destinationAddressPrefix: "*",
                              destinationPortRange: String(NFS_PORT),
                          }),
                      ]
                    : []),
                inboundRule({
                    name: "allow-https-from-workers",
                    description: "HTTPS to the private endpoints of the lease blob and the Key Vault from the two workers only",
                    priority: 110,
                    access: "Allow",
                    protocol: "Tcp",
                    sourceAddressPrefixes: workerHosts,
                    destinationAddressPrefix: "*",
                    destinationPortRange: String(HTTPS_PORT),
                }),
                denyOtherVnetInbound("Nothing else from the VNet, peered networks or on-premises"),
            ],
            tags,
        },
        opts,
    );
    return new network.Subnet(
        `${name}-storage`,
        {
            resourceGroupName,
            virtualNetworkName: vnet.name,
            subnetName: "storage",
            addressPrefix: storageSubnet(networkPlan),
            networkSecurityGroup: { id: storageNsg.id },
            // NSG rules apply to private endpoints only with this on (off by default).
            privateEndpointNetworkPolicies: "Enabled",
            defaultOutboundAccess: false,
        },
        { parent, dependsOn: subnets },
    );
}

// --- shared storage (storage.queueRecovery: shared) ------------------------------------
// A premium FileStorage account with one NFS 4.1 share for Iguana's working directory,
// reached through its private endpoint beside the lease's.
export function createSharedShare(
    ctx: AzureGroupContext,
    clientConfig: pulumi.Output<authorization.GetClientConfigResult>,
    virtualNetworkId: pulumi.Output<string>,
    storageEndpoints: pulumi.Output<string>,
): AzureSharedShare {
    const { name, cfg, tags, location, resourceGroupName, dataGroup, keep } = ctx;
    const accountName = pulumi.all([clientConfig.subscriptionId, resourceGroupName]).apply(([sub, rg]) => sharedAccountName(sub, rg));
    const account = new storage.StorageAccount(
        `${name}-shared`,
        {
            resourceGroupName: dataGroup.name,
            location,
            accountName,
            // NFS 4.1 shares exist only on premium file shares (FileStorage). Zone-redundant: the
            // queue survives the loss of either worker's zone.
            kind: "FileStorage",
            sku: { name: "Premium_ZRS" },
            // Required off for NFS: "Azure Files doesn't currently support encryption-in-transit
            // with the NFS protocol and relies instead on network-level security. Therefore,
            // you'll need to disable secure transfer." (MicrosoftDocs/azure-docs,
            // articles/storage/files/storage-files-quick-create-use-linux.md). The network-level
            // security is the private endpoint and its NSG below; no public endpoint exists.
            enableHttpsTrafficOnly: false,
            minimumTlsVersion: "TLS1_2",
            publicNetworkAccess: "Disabled",
            networkRuleSet: { defaultAction: "Deny", bypass: "None" },
            allowBlobPublicAccess: false,
            // NFS does not use the account keys; nothing else may either.
            allowSharedKeyAccess: false,
            encryption: { keySource: "Microsoft.Storage", services: { file: { enabled: true, keyType: "Account" } } },
            tags,
        },
        keep,
    );
    const share = new storage.FileShare(
        `${name}-queue`,
        {
            resourceGroupName: dataGroup.name,
            accountName: account.name,
            shareName: AZURE_SHARE_NAME,
            enabledProtocols: "NFS",
            // The mount script (root) gives the working directory to the iguana user.
            rootSquash: "NoRootSquash",
            shareQuota: cfg.storage.shareGb,
        },
        keep,
    );
    // The worker's role may delete shares (a snapshot's delete is a share delete): a deleted share
    // stays restorable this long. Soft delete covers NFS shares since 2024 (Microsoft Build 2024,
    // "Azure Files updates": soft delete for NFS file shares).
    new storage.FileServiceProperties(
        `${name}-shared-files`,
        { resourceGroupName: dataGroup.name, accountName: account.name, fileServicesName: "default", shareDeleteRetentionPolicy: { enabled: true, days: SHARE_SOFT_DELETE_DAYS } },
        keep,
    );
    const { zone, endpoint } = privateEndpoint(ctx, {
        dnsName: `${name}-file-dns`,
        endpointName: `${name}-shared-pe`,
        privateZoneName: AZURE_FILE_PRIVATE_DNS_ZONE,
        groupId: "file",
        targetId: account.id,
        virtualNetworkId,
        subnetId: storageEndpoints,
    });
    return { account, share, zone, endpoint, accountName };
}

/** A worker's queue disk (none with `storage.queueRecovery: shared`). */
/** `storage.customerManagedKey`: the set that encrypts the disks, and the grant it needs first (createDiskEncryption). */
export interface DiskEncryptionUse {
    diskEncryptionSet: compute.DiskEncryptionSet;
    access: pulumi.Resource;
}

export function createDataDisk(ctx: AzureGroupContext, plan: WorkerPlan, diskEncryption?: DiskEncryptionUse): compute.Disk {
    const { name, cfg, tags, location, dataGroup, keep } = ctx;
    const zone = AZURE_WORKER_ZONES[plan.index];
    const workerTags = { ...tags, role: plan.role, worker: plan.name };
    const restoreFrom = cfg.storage.restoreFrom[plan.name];
    return new compute.Disk(
        `${name}-${plan.name}-data`,
        {
            resourceGroupName: dataGroup.name,
            location,
            zones: [zone],
            sku: { name: AZURE_DISK_SKU },
            diskSizeGB: cfg.workers.dataDiskGb,
            creationData: restoreFrom ? { createOption: "Copy", sourceResourceId: restoreFrom } : { createOption: "Empty" },
            encryption: diskEncryption
                ? { type: "EncryptionAtRestWithCustomerKey", diskEncryptionSetId: diskEncryption.diskEncryptionSet.id }
                : { type: "EncryptionAtRestWithPlatformKey" },
            // No SAS export or import of the queue disk, from anywhere.
            networkAccessPolicy: "DenyAll",
            publicNetworkAccess: "Disabled",
            tags: workerTags,
        },
        // A recovery point set or cleared later never replaces a disk by itself: the restore is an
        // explicit `pulumi up --replace` (docs/operations.md).
        { ...keep, ignoreChanges: ["creationData"], ...(diskEncryption ? { dependsOn: [diskEncryption.access] } : {}) },
    );
}
