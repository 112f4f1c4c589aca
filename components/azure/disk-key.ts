/**
 * `storage.customerManagedKey` (Azure): the workers' OS and data disks encrypted with a key of the
 * cluster's own, through a Disk Encryption Set, as AWS encrypts its volumes with the project KMS
 * key. Everything here is kept by `pulumi destroy` with the data resource group: a kept disk
 * whose key is gone cannot be read again.
 *
 * - A Key Vault for the key alone, with purge protection and soft delete (Azure requires both for
 *   disk keys), RBAC, no public network access and a deny-by-default firewall that lets trusted
 *   Microsoft services through: Azure Disk Storage reaches the key as a trusted service "when
 *   configured with a Disk Encryption Set", and "Setting Public Network Access to Disable still
 *   allows trusted services" (Microsoft Learn, Key Vault network security).
 * - An RSA 3072 key that Key Vault rotates every year (a rotation policy), and a Disk Encryption
 *   Set that follows the newest version by itself (rotationToLatestKeyVersionEnabled).
 * - The set's identity may wrap and unwrap with that key only (Key Vault Crypto Service
 *   Encryption User, scoped to the key).
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as keyvault from "@pulumi/azure-native/keyvault";
import { HOLDS_DISK_KEY } from "../constants";
import { AzureGroupContext } from "./context";
import { builtInRoleId, privateVaultProperties } from "./identity";

/** Built-in role "Key Vault Crypto Service Encryption User": read a key's metadata, wrap and unwrap with it. */
export const KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER_ROLE = "e147488a-f6f5-4113-8e2d-b22465e65bf6";
export const AZURE_DISK_KEY_NAME = "iguana-disks";
/** RSA 2048, 3072 and 4096 are what managed disks take ("Server-side encryption of Azure Disk Storage"). */
export const AZURE_DISK_KEY_SIZE = 3072;

export interface AzureDiskEncryption {
    vault: keyvault.Vault;
    key: keyvault.Key;
    diskEncryptionSet: compute.DiskEncryptionSet;
    /** The set's access to the key: disks and VMs that use the set are created after it. */
    access: authorization.RoleAssignment;
}

export function createDiskEncryption(
    ctx: AzureGroupContext,
    clientConfig: pulumi.Output<authorization.GetClientConfigResult>,
    subscriptionId: pulumi.Input<string>,
): AzureDiskEncryption | undefined {
    const { name, cfg, tags, location, dataGroup, keep } = ctx;
    if (!cfg.storage.customerManagedKey) return undefined;
    const keyTags = { ...tags, holds: HOLDS_DISK_KEY };
    const vault = new keyvault.Vault(
        `${name}-disk-keys`,
        {
            resourceGroupName: dataGroup.name,
            location,
            properties: privateVaultProperties(clientConfig.tenantId, "AzureServices"),
            tags: keyTags,
        },
        keep,
    );
    const key = new keyvault.Key(
        `${name}-disk-key`,
        {
            resourceGroupName: dataGroup.name,
            vaultName: vault.name,
            keyName: AZURE_DISK_KEY_NAME,
            properties: {
                kty: "RSA",
                keySize: AZURE_DISK_KEY_SIZE,
                keyOps: ["wrapKey", "unwrapKey"],
                rotationPolicy: {
                    attributes: { expiryTime: "P2Y" },
                    lifetimeActions: [
                        { trigger: { timeAfterCreate: "P1Y" }, action: { type: "rotate" } },
                        { trigger: { timeBeforeExpiry: "P30D" }, action: { type: "notify" } },
                    ],
                },
            },
            tags: keyTags,
        },
        keep,
    );
    const diskEncryptionSet = new compute.DiskEncryptionSet(
        `${name}-disks`,
        {
            resourceGroupName: dataGroup.name,
            location,
            identity: { type: "SystemAssigned" },
            encryptionType: "EncryptionAtRestWithCustomerKey",
            // Azure needs the versioned URL, and moves the set to each new version itself.
            activeKey: { keyUrl: key.keyUriWithVersion, sourceVault: { id: vault.id } },
            rotationToLatestKeyVersionEnabled: true,
            tags: keyTags,
        },
        // After a rotation Azure has moved the set to the new version: never move it back.
        { ...keep, ignoreChanges: ["activeKey.keyUrl"] },
    );
    const access = new authorization.RoleAssignment(
        `${name}-disks-use-key`,
        {
            principalId: diskEncryptionSet.identity.apply((identity) => identity!.principalId!),
            principalType: "ServicePrincipal",
            roleDefinitionId: builtInRoleId(subscriptionId, KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER_ROLE),
            scope: pulumi.interpolate`${vault.id}/keys/${AZURE_DISK_KEY_NAME}`,
        },
        keep,
    );
    return { vault, key, diskEncryptionSet, access };
}
