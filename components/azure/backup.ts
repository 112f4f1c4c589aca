/**
 * Step 11, backups (`backup`, HIPAA 164.308(a)(7)(ii)(A)): Azure Disk Backup of each worker's data
 * disk. A Backup vault (in the kept data resource group) with a disk policy: incremental
 * snapshots every `backup.everyHours`, kept `backup.retentionDays`, in a resource group of their
 * own. The vault's identity may read the two data disks (Disk Backup Reader on each) and manage
 * snapshots in that group only (Disk Snapshot Contributor there): not in the data group, whose
 * lease and flow-log accounts that role could otherwise rewrite. The vault, the snapshots' group
 * and the recovery points are kept by `pulumi destroy`, as the queue is.
 *
 * A backup or restore job that fails raises Azure Backup's built-in Azure Monitor alert (on for
 * the vault); an alert processing rule sends the vault's alerts to the cluster's action group,
 * since built-in alerts reach nobody without one (Azure Backup, "Monitor Azure Monitor based
 * alerts for Azure Backup").
 *
 * The Azure Files share (`storage.queueRecovery: shared`) is NFS 4.1, which Azure Backup does not
 * protect (neither its snapshot nor its vaulted tier): the plan says so.
 *
 * `backup.copyToRegion`: Disk Backup has no copy step, so the active worker copies each disk's
 * newest snapshot into a resource group in that region (bootstrap/disk-snapshot-copies.ts); this
 * step creates that group, kept like the snapshots' own, before the workers that name it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alertsmanagement from "@pulumi/azure-native/alertsmanagement";
import * as authorization from "@pulumi/azure-native/authorization";
import * as dataprotection from "@pulumi/azure-native/dataprotection";
import * as resources from "@pulumi/azure-native/resources";
import { HOLDS_BACKUPS } from "../constants";
import { AzureGroupContext } from "./context";
import { builtInRoleId } from "./identity";
import { AzureWorker } from "./workers";

/** Built-in roles Azure Disk Backup's vault needs (Azure, "Back up Azure Managed Disks"; built-in roles). */
export const DISK_BACKUP_READER_ROLE = "3e5e47e6-65f7-47ef-90b5-e5dd4d455f24";
export const DISK_SNAPSHOT_CONTRIBUTOR_ROLE = "7efff54f-a5b4-42b5-a1c5-5411624893ce";

export const AZURE_DISK_DATASOURCE_TYPE = "Microsoft.Compute/disks";

export interface AzureBackup {
    vault: dataprotection.BackupVault;
    policy: dataprotection.BackupPolicy;
    snapshotGroup: resources.ResourceGroup;
    copyGroup?: resources.ResourceGroup;
    instances: dataprotection.BackupInstance[];
}

/** Where the data disks' backups are kept, and (`backup.copyToRegion`) where the active worker copies them: created before the workers, whose custom data names them. */
export interface AzureBackupGroups {
    snapshotGroup: resources.ResourceGroup;
    copyGroup?: resources.ResourceGroup;
}

/** The policy's schedule as Azure writes it: ISO 8601 repeating intervals from a fixed start (UTC). */
export function azureBackupSchedule(everyHours: number): string {
    return `R/2026-01-01T00:00:00+00:00/${everyHours >= 24 ? "P1D" : `PT${everyHours}H`}`;
}

const OPERATIONAL_STORE = { dataStoreType: "OperationalStore", objectType: "DataStoreInfoBase" };

/** Data disks with backups: the snapshots' group, and with `backup.copyToRegion` the copies' group in that region. Both kept by `pulumi destroy`. */
export function createBackupGroups(ctx: AzureGroupContext): AzureBackupGroups | undefined {
    const { name, cfg, tags, location, keep } = ctx;
    if (!cfg.backup.enabled || cfg.storage.queueRecovery !== "none") return undefined;
    const snapshotGroup = new resources.ResourceGroup(`${name}-snapshots-rg`, { location, tags: { ...tags, holds: HOLDS_BACKUPS } }, keep);
    const copyTo = cfg.backup.copyToRegion;
    // In the copy region, so the group answers when the cluster's own region does not.
    const copyGroup = copyTo ? new resources.ResourceGroup(`${name}-backup-copy-rg`, { location: copyTo, tags: { ...tags, holds: HOLDS_BACKUPS } }, keep) : undefined;
    return { snapshotGroup, copyGroup };
}

export function createBackup(ctx: AzureGroupContext, subscriptionId: pulumi.Input<string>, workers: AzureWorker[], groups: AzureBackupGroups | undefined): AzureBackup | undefined {
    const { name, cfg, opts, tags, location, dataGroup, keep } = ctx;
    const disks = workers.flatMap((w) => (w.disk ? [{ plan: w.plan, disk: w.disk }] : []));
    if (!groups || disks.length === 0) return undefined;
    const { snapshotGroup, copyGroup } = groups;
    const vault = new dataprotection.BackupVault(
        `${name}-backup`,
        {
            resourceGroupName: dataGroup.name,
            location,
            identity: { type: "SystemAssigned" },
            properties: {
                // Disk Backup keeps its snapshots in the operational store; the vault store's
                // redundancy is what a later vault-tier copy would use.
                storageSettings: [{ datastoreType: "VaultStore", type: "ZoneRedundant" }],
                securitySettings: { softDeleteSettings: { state: "On", retentionDurationInDays: 14 } },
                // Azure's default, written out: the failure alerts routeBackupAlerts sends on.
                monitoringSettings: { azureMonitorAlertSettings: { alertsForAllJobFailures: "Enabled" } },
            },
            tags: { ...tags, holds: HOLDS_BACKUPS },
        },
        keep,
    );
    const policy = new dataprotection.BackupPolicy(
        `${name}-disks`,
        {
            resourceGroupName: dataGroup.name,
            vaultName: vault.name,
            properties: {
                objectType: "BackupPolicy",
                datasourceTypes: [AZURE_DISK_DATASOURCE_TYPE],
                policyRules: [
                    {
                        objectType: "AzureBackupRule",
                        name: `every-${cfg.backup.everyHours}h`,
                        backupParameters: { objectType: "AzureBackupParams", backupType: "Incremental" },
                        dataStore: OPERATIONAL_STORE,
                        trigger: {
                            objectType: "ScheduleBasedTriggerContext",
                            schedule: { repeatingTimeIntervals: [azureBackupSchedule(cfg.backup.everyHours)] },
                            taggingCriteria: [{ isDefault: true, taggingPriority: 99, tagInfo: { tagName: "Default" } }],
                        },
                    },
                    {
                        objectType: "AzureRetentionRule",
                        name: "Default",
                        isDefault: true,
                        lifecycles: [{ deleteAfter: { objectType: "AbsoluteDeleteOption", duration: `P${cfg.backup.retentionDays}D` }, sourceDataStore: OPERATIONAL_STORE }],
                    },
                ],
            },
        },
        opts,
    );
    const vaultPrincipal = vault.identity.apply((identity) => identity!.principalId!);
    const writesSnapshots = new authorization.RoleAssignment(
        `${name}-backup-writes-snapshots`,
        {
            principalId: vaultPrincipal,
            principalType: "ServicePrincipal",
            roleDefinitionId: builtInRoleId(subscriptionId, DISK_SNAPSHOT_CONTRIBUTOR_ROLE),
            scope: snapshotGroup.id,
        },
        opts,
    );
    const instances = disks.map(({ plan, disk }) => {
        const readsDisk = new authorization.RoleAssignment(
            `${name}-backup-reads-${plan.name}`,
            { principalId: vaultPrincipal, principalType: "ServicePrincipal", roleDefinitionId: builtInRoleId(subscriptionId, DISK_BACKUP_READER_ROLE), scope: disk.id },
            opts,
        );
        // Azure validates the vault's access when the instance is created: after both roles.
        return new dataprotection.BackupInstance(
            `${name}-${plan.name}-backup`,
            {
                resourceGroupName: dataGroup.name,
                vaultName: vault.name,
                properties: {
                    objectType: "BackupInstance",
                    friendlyName: disk.name,
                    dataSourceInfo: {
                        objectType: "Datasource",
                        datasourceType: AZURE_DISK_DATASOURCE_TYPE,
                        resourceType: AZURE_DISK_DATASOURCE_TYPE,
                        resourceID: disk.id,
                        resourceName: disk.name,
                        resourceLocation: location,
                        resourceUri: disk.id,
                    },
                    policyInfo: {
                        policyId: policy.id,
                        policyParameters: {
                            dataStoreParametersList: [{ objectType: "AzureOperationalStoreParameters", dataStoreType: "OperationalStore", resourceGroupId: snapshotGroup.id }],
                        },
                    },
                },
            },
            { ...opts, dependsOn: [readsDisk, writesSnapshots] },
        );
    });
    return { vault, policy, snapshotGroup, copyGroup, instances };
}

/** The vault's alerts (a failed backup or restore job; a security alert such as deleted backup data) to the action group. */
export function routeBackupAlerts(ctx: AzureGroupContext, backups: AzureBackup, actionGroupId: pulumi.Input<string>): alertsmanagement.AlertProcessingRuleByName {
    const { name, opts, tags, resourceGroupName } = ctx;
    return new alertsmanagement.AlertProcessingRuleByName(
        `${name}-backup-alerts`,
        {
            resourceGroupName,
            location: "global",
            properties: {
                description: "Azure Backup's own alerts on the Iguana queue's Backup vault (a failed backup or restore job, backup data deleted) to the cluster's action group.",
                scopes: [backups.vault.id],
                actions: [{ actionType: "AddActionGroups", actionGroupIds: [actionGroupId] }],
                enabled: true,
            },
            tags,
        },
        opts,
    );
}
