/** Step 4, the lease (docs/lease.md): a blob in a zone-redundant storage account of its own, reached through a private endpoint. */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as network from "@pulumi/azure-native/network";
import * as storage from "@pulumi/azure-native/storage";
import { AZURE_BLOB_PRIVATE_DNS_ZONE, AZURE_LEASE_CONTAINER, HOLDS_LEASE } from "../constants";
import { LeaseLocator } from "../bootstrap";
import { leaseRecordKey } from "../model";
import { AzureGroupContext } from "./context";
import { BLOB_ACCOUNT_BASICS, privateEndpoint, storageAccountName } from "./storage";

/** The lease's account: every cluster has one. */
export function leaseAccountName(subscriptionId: string, resourceGroupName: string): string {
    return storageAccountName("iguanal", subscriptionId, resourceGroupName);
}

/** Where a worker's lease guard finds the lease: the cluster's one blob in the lease container. */
export function azureLeaseLocator(accountName: string, clusterName: string): Extract<LeaseLocator, { kind: "azure-blob" }> {
    return { kind: "azure-blob", accountName, container: AZURE_LEASE_CONTAINER, blobName: leaseRecordKey(clusterName) };
}

export interface AzureLease {
    leaseAccount: storage.StorageAccount;
    leaseContainer: storage.BlobContainer;
    leaseDns: network.PrivateDnsZoneGroup;
}

// --- the lease (docs/lease.md) ----------------------------------------------------------
// One blob decides which worker is active. A zone-redundant StorageV2 account of its own:
// Entra ID only (no account keys, no SAS), TLS 1.2 and HTTPS only, no public network
// access: a private endpoint (and the blob private DNS zone) is the only way in. It holds no
// data, so it lives and dies with the cluster's resource group.
export function createLease(
    ctx: AzureGroupContext,
    clientConfig: pulumi.Output<authorization.GetClientConfigResult>,
    virtualNetworkId: pulumi.Output<string>,
    storageEndpoints: pulumi.Output<string>,
): AzureLease {
    const { name, opts, tags, location, resourceGroupName } = ctx;
    const leaseAccount = new storage.StorageAccount(
        `${name}-lease`,
        {
            resourceGroupName,
            location,
            accountName: pulumi.all([clientConfig.subscriptionId, resourceGroupName]).apply(([sub, rg]) => leaseAccountName(sub, rg)),
            ...BLOB_ACCOUNT_BASICS,
            publicNetworkAccess: "Disabled",
            networkRuleSet: { defaultAction: "Deny", bypass: "None" },
            allowSharedKeyAccess: false,
            defaultToOAuthAuthentication: true,
            tags: { ...tags, holds: HOLDS_LEASE },
        },
        opts,
    );
    const leaseContainer = new storage.BlobContainer(
        `${name}-lease`,
        { resourceGroupName, accountName: leaseAccount.name, containerName: AZURE_LEASE_CONTAINER, publicAccess: "None" },
        opts,
    );
    const { dnsGroup: leaseDns } = privateEndpoint(ctx, {
        dnsName: `${name}-blob-dns`,
        endpointName: `${name}-lease-pe`,
        privateZoneName: AZURE_BLOB_PRIVATE_DNS_ZONE,
        groupId: "blob",
        targetId: leaseAccount.id,
        virtualNetworkId,
        subnetId: storageEndpoints,
    });
    return { leaseAccount, leaseContainer, leaseDns };
}
