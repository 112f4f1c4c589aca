/**
 * `storage.customerManagedKey` (Azure): the workers' OS and data disks encrypted with the
 * cluster's own key through a Disk Encryption Set, everything that key needs kept by destroy,
 * the set allowed to use that key only, and the policy pack holding a stack that asks for it.
 */
import * as assert from "assert";
import { ConfigValidationError, validateClusterConfig } from "../components/config";
import { KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER_ROLE } from "../components/azure/disk-key";
import { azureDisksEncrypted } from "../policy/policies";
import { azureConfig, runConfig, runStack } from "./helpers";
import { packViolations, violationsOf } from "./policy-harness";

const VAULT = "azure-native:keyvault:Vault";
const KEY = "azure-native:keyvault:Key";
const DES = "azure-native:compute:DiskEncryptionSet";
const DISK = "azure-native:compute:Disk";
const VM = "azure-native:compute:VirtualMachine";
const ROLE = "azure-native:authorization:RoleAssignment";

describe("storage.customerManagedKey (Azure)", function () {
    this.timeout(60000);

    it("azure-prod: a kept vault and key of the cluster's own, a Disk Encryption Set that follows the key's rotation, both disks and both OS disks through it", async () => {
        const run = await runStack("azure-prod");
        const vault = run.one(VAULT, "iguana-disk-keys");
        const p = vault.inputs.properties;
        assert.deepStrictEqual(
            [p.enablePurgeProtection, p.enableSoftDelete, p.enableRbacAuthorization, p.publicNetworkAccess, p.networkAcls],
            [true, true, true, "Disabled", { defaultAction: "Deny", bypass: "AzureServices" }],
            "purge protection and soft delete (required for disk keys); only trusted services (Azure Disk Storage with a DES) pass the firewall",
        );
        assert.strictEqual(vault.inputs.resourceGroupName, run.one("azure-native:resources:ResourceGroup", "iguana-data-rg").state.name, "in the kept data group");

        const key = run.one(KEY, "iguana-disk-key");
        assert.deepStrictEqual([key.inputs.properties.kty, key.inputs.properties.keySize], ["RSA", 3072]);
        assert.ok(
            key.inputs.properties.rotationPolicy.lifetimeActions.some((a: { action: { type: string } }) => a.action.type === "rotate"),
            "Key Vault rotates the key by itself",
        );

        const des = run.one(DES, "iguana-disks");
        assert.strictEqual(des.inputs.encryptionType, "EncryptionAtRestWithCustomerKey");
        assert.strictEqual(des.inputs.rotationToLatestKeyVersionEnabled, true);
        assert.deepStrictEqual(des.inputs.activeKey, { keyUrl: key.state.keyUriWithVersion, sourceVault: { id: vault.id } });
        assert.ok(des.ignoreChanges.includes("activeKey.keyUrl"), "a rotated key is never moved back by the next pulumi up");

        for (const r of [vault, key, des]) assert.ok(r.retainOnDelete && r.protect, `${r.name}: kept by destroy and protected, as the disks it unlocks`);

        const grant = run.ofType(ROLE).find((r) => r.name === "iguana-disks-use-key")!;
        assert.strictEqual(grant.inputs.roleDefinitionId.endsWith(`/roleDefinitions/${KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER_ROLE}`), true);
        assert.strictEqual(grant.inputs.principalId, des.state.identity.principalId);
        assert.strictEqual(grant.inputs.scope, `${vault.id}/keys/iguana-disks`, "the set may use this one key, nothing else in the vault");
        assert.ok(grant.retainOnDelete, "a kept disk stays readable after destroy");

        for (const disk of run.ofType(DISK)) {
            assert.deepStrictEqual(disk.inputs.encryption, { type: "EncryptionAtRestWithCustomerKey", diskEncryptionSetId: des.id });
            assert.ok(disk.dependsOn.includes("iguana-disks-use-key"), `${disk.name} is made after the set may use its key`);
        }
        for (const vm of run.ofType(VM)) {
            assert.strictEqual(vm.inputs.storageProfile.osDisk.managedDisk.diskEncryptionSet.id, des.id);
            assert.ok(vm.dependsOn.includes("iguana-disks-use-key"), `${vm.name}'s OS disk is made after the set may use its key`);
        }
        assert.deepStrictEqual(
            await packViolations(run.mocks.resources, { customerManagedKey: true, dedicated: true, encryptionAtHost: true, deletionProtection: true, egressRestricted: true }),
            [],
        );
    });

    it("off (the default): no vault, key or set; platform-managed keys, which the preview names", async () => {
        const run = await runConfig(azureConfig());
        assert.deepStrictEqual([run.ofType(KEY).length, run.ofType(DES).length, run.ofType(VAULT).length], [0, 0, 1]);
        for (const disk of run.ofType(DISK)) assert.deepStrictEqual(disk.inputs.encryption, { type: "EncryptionAtRestWithPlatformKey" });
        assert.ok(run.mocks.warnings.some((w) => w.startsWith("iguana-ha:storage.customerManagedKey: is false")));
    });

    it("is refused on AWS, where the project KMS key already encrypts every volume", () => {
        let error: unknown;
        try {
            validateClusterConfig(
                {
                    cloud: "aws",
                    region: "us-east-1",
                    channels: [{ name: "a", protocol: "llp", port: 2575 }],
                    network: { allowedCidrs: ["10.0.0.0/8"] },
                    storage: { customerManagedKey: true },
                },
                "t",
            );
        } catch (e) {
            error = e;
        }
        assert.ok(error instanceof ConfigValidationError);
        assert.match(error.message, /storage\.customerManagedKey: is an Azure setting/);
    });

    it("policy: a stack that asks for customer-managed keys refuses a platform-key disk and a VM whose OS disk has no set", async () => {
        const asked = { customerManagedKey: true };
        const platform = await violationsOf(azureDisksEncrypted, DISK, { encryption: { type: "EncryptionAtRestWithPlatformKey" } }, asked);
        assert.match(platform[0], /uses platform-managed keys/);
        assert.deepStrictEqual(await violationsOf(azureDisksEncrypted, DISK, { encryption: { type: "EncryptionAtRestWithCustomerKey", diskEncryptionSetId: "/des" } }, asked), []);
        const vm = await violationsOf(azureDisksEncrypted, VM, { storageProfile: { osDisk: { managedDisk: {} } } }, asked);
        assert.match(vm[0], /OS disk uses platform-managed keys/);
        assert.deepStrictEqual(await violationsOf(azureDisksEncrypted, DISK, { encryption: { type: "EncryptionAtRestWithPlatformKey" } }, {}), [], "not asked: platform keys pass");
    });
});
