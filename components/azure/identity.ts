/** Step 3, secrets: the admin password in a private Key Vault with RBAC, read by the workers' managed identities. */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as keyvault from "@pulumi/azure-native/keyvault";
import * as network from "@pulumi/azure-native/network";
import { AZURE_VAULT_PRIVATE_DNS_ZONE } from "../constants";
import { createAdminPassword } from "../secrets";
import { tlsBundleSecret } from "../tls";
import { AzureGroupContext } from "./context";
import { privateEndpoint } from "./storage";

/** Built-in role "Key Vault Secrets User": read secret contents, nothing else. */
export const KEY_VAULT_SECRETS_USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6";

/** A built-in role's definition id in the subscription, as a role assignment names it. */
export function builtInRoleId(subscriptionId: pulumi.Input<string>, role: string): pulumi.Output<string> {
    return pulumi.interpolate`/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role}`;
}
/** Built-in role "Storage Blob Data Contributor": read, write and delete blobs (the lease guard reads and writes). */
export const STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
export const AZURE_ADMIN_SECRET_NAME = "iguana-admin-password";
/** tls.enabled: the bundle each worker's stunnel serves (a JSON object of PEM text). */
export const AZURE_TLS_SECRET_NAME = "iguana-tls";

/**
 * A Key Vault nobody reaches from the Internet: RBAC, soft delete with purge protection, no public
 * network access, deny by default. `bypass`: whether trusted Microsoft services pass the firewall
 * (the disks' key needs them: disk-key.ts; the secrets' vault does not).
 */
export function privateVaultProperties(tenantId: pulumi.Input<string>, bypass: "None" | "AzureServices") {
    return {
        tenantId,
        sku: { family: "A" as const, name: "standard" as const },
        enableRbacAuthorization: true,
        enableSoftDelete: true,
        softDeleteRetentionInDays: 90,
        enablePurgeProtection: true,
        publicNetworkAccess: "Disabled",
        networkAcls: { defaultAction: "Deny", bypass },
    };
}

export interface AzureSecrets {
    vault: keyvault.Vault;
}

// --- the admin password ----------------------------------------------------------------
// In a Key Vault with RBAC: each VM's identity gets "Key Vault Secrets User" on this vault
// only, and the workers read the password at boot. It never enters custom data. The vault has
// no public endpoint: the workers reach it through a private endpoint (createVaultEndpoint).
// Pulumi still writes the secret: ARM deployments of secrets are control-plane operations, which
// the vault's network rules do not apply to (Microsoft Learn, "Virtual network service endpoints
// for Azure Key Vault"). Purge protection is on and cannot be turned off again: a deleted vault
// and its secret stay recoverable for the retention period.
export function createSecrets(ctx: AzureGroupContext, clientConfig: pulumi.Output<authorization.GetClientConfigResult>): AzureSecrets {
    const { name, parent, opts, tags, location, resourceGroupName } = ctx;
    const vault = new keyvault.Vault(
        `${name}-kv`,
        {
            resourceGroupName,
            location,
            properties: privateVaultProperties(clientConfig.tenantId, "None"),
            tags,
        },
        opts,
    );
    new keyvault.Secret(
        `${name}-admin-password`,
        { resourceGroupName, vaultName: vault.name, secretName: AZURE_ADMIN_SECRET_NAME, properties: { value: createAdminPassword(name, parent) }, tags },
        opts,
    );
    // A new value is a new version of the secret, which the workers read within 15 minutes.
    const bundle = tlsBundleSecret(name, ctx.cfg, parent);
    if (bundle) {
        new keyvault.Secret(
            `${name}-tls`,
            { resourceGroupName, vaultName: vault.name, secretName: AZURE_TLS_SECRET_NAME, properties: { value: bundle, contentType: "application/json" }, tags },
            opts,
        );
    }
    return { vault };
}

/** The vault's private endpoint in the endpoint subnet, and its private DNS zone: what the workers resolve the vault to. */
export function createVaultEndpoint(
    ctx: AzureGroupContext,
    vault: keyvault.Vault,
    virtualNetworkId: pulumi.Input<string>,
    endpointSubnetId: pulumi.Input<string>,
): network.PrivateDnsZoneGroup {
    const { name } = ctx;
    return privateEndpoint(ctx, {
        dnsName: `${name}-vault-dns`,
        endpointName: `${name}-vault-pe`,
        privateZoneName: AZURE_VAULT_PRIVATE_DNS_ZONE,
        groupId: "vault",
        targetId: vault.id,
        virtualNetworkId,
        subnetId: endpointSubnetId,
    }).dnsGroup;
}
