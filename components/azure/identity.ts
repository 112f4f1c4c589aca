/** Step 3, secrets: the admin password in a Key Vault with RBAC, read by the workers' managed identities. */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import { createAdminPassword } from "../secrets";
import * as keyvault from "@pulumi/azure-native/keyvault";
import { AzureGroupContext } from "./context";

/** Built-in role "Key Vault Secrets User": read secret contents, nothing else. */
export const KEY_VAULT_SECRETS_USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6";
/** Built-in role "Storage Blob Data Contributor": read, write and delete blobs (the lease guard reads and writes). */
export const STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
export const AZURE_ADMIN_SECRET_NAME = "iguana-admin-password";

export interface AzureSecrets {
    vault: keyvault.Vault;
}

// --- the admin password ----------------------------------------------------------------
// In a Key Vault with RBAC: each VM's identity gets "Key Vault Secrets User" on this vault
// only, and the workers read the password at boot. It never enters custom data.
export function createSecrets(ctx: AzureGroupContext, clientConfig: pulumi.Output<authorization.GetClientConfigResult>): AzureSecrets {
    const { name, parent, opts, tags, location, resourceGroupName } = ctx;
    const vault = new keyvault.Vault(
        `${name}-kv`,
        {
            resourceGroupName,
            location,
            properties: {
                tenantId: clientConfig.tenantId,
                sku: { family: "A", name: "standard" },
                enableRbacAuthorization: true,
                enableSoftDelete: true,
                softDeleteRetentionInDays: 90,
            },
            tags,
        },
        opts,
    );
    new keyvault.Secret(
        `${name}-admin-password`,
        { resourceGroupName, vaultName: vault.name, secretName: AZURE_ADMIN_SECRET_NAME, properties: { value: createAdminPassword(name, parent) }, tags },
        opts,
    );
    return { vault };
}
