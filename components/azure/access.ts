/** What each worker's identity may do, granted once the VMs exist: read the password, write the lease, fence its peer, move the VIP. */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import { AZURE_WORKER_ZONES } from "../constants";
import * as keyvault from "@pulumi/azure-native/keyvault";
import { WorkerPlan } from "../model";
import { AzureGroupContext } from "./context";
import { KEY_VAULT_SECRETS_USER_ROLE, STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE, builtInRoleId } from "./identity";
import { AzureWorker } from "./workers";

/**
 * What a worker's identity may do to its peer (shared mode: stop it before starting Iguana on
 * the shared queue): read the VM (its power state) and power it off. Assigned on the peer VM only.
 */
export const PEER_FENCE_ACTIONS = ["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/powerOff/action"] as const;

/**
 * What a worker's identity may do to move the floating VIP: read and update a NIC (attach or
 * detach the Public IP), and the linked-access checks such an update runs: join that Public IP
 * and the NIC's subnet. The role is assigned only on the two NICs, the Public IP and the two
 * worker subnets, never on the resource group.
 */
export const VIP_MOVER_ACTIONS = [
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/networkInterfaces/write",
    "Microsoft.Network/publicIPAddresses/read",
    "Microsoft.Network/publicIPAddresses/join/action",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
] as const;

/** A worker's own access: read the admin password and the TLS bundle, write the lease, publish its own events. */
export function grantWorkerAccess(
    ctx: AzureGroupContext,
    plan: WorkerPlan,
    vm: compute.VirtualMachine,
    clientConfig: pulumi.Output<authorization.GetClientConfigResult>,
    vault: keyvault.Vault,
    leaseContainer: storage.BlobContainer,
): void {
    const { name, opts } = ctx;
    const grant = (what: string, role: string, scope: pulumi.Input<string>) =>
        new authorization.RoleAssignment(
            `${name}-${plan.name}-${what}`,
            {
                principalId: vm.identity.apply((identity) => identity!.principalId),
                principalType: "ServicePrincipal",
                roleDefinitionId: builtInRoleId(clientConfig.subscriptionId, role),
                scope,
            },
            opts,
        );
    grant("reads-secrets", KEY_VAULT_SECRETS_USER_ROLE, vault.id);
    // The lease container only: not the account, whose other containers (none) stay closed.
    grant("writes-lease", STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE, leaseContainer.id);
    // Its own events (a takeover) as custom metrics of its own VM, nothing else.
    grant("publishes-events", MONITORING_METRICS_PUBLISHER_ROLE, vm.id);
}

/** Built-in role "Monitoring Metrics Publisher": send metrics to Azure Monitor for the scope's resources. */
export const MONITORING_METRICS_PUBLISHER_ROLE = "3913510d-42f4-4e42-8a64-420c390055eb";

// --- the cluster's custom roles ------------------------------------------------------------
/** A custom role of the cluster: exactly `actions`, assignable only within `home` (a resource group of the cluster). */
function customRole(ctx: AzureGroupContext, resourceName: string, title: string, description: string, actions: readonly string[], home: resources.ResourceGroup) {
    return new authorization.RoleDefinition(
        resourceName,
        {
            scope: home.id,
            roleName: pulumi.interpolate`iguana-ha ${title} (${ctx.resourceGroupName})`,
            description,
            roleType: "CustomRole",
            permissions: [{ actions: [...actions], notActions: [] }],
            assignableScopes: [home.id],
        },
        ctx.opts,
    );
}

/** A worker VM's own identity given `role` on `scope`. */
function assignToWorker(ctx: AzureGroupContext, resourceName: string, vm: compute.VirtualMachine, role: authorization.RoleDefinition, scope: pulumi.Input<string>) {
    return new authorization.RoleAssignment(
        resourceName,
        { principalId: vm.identity.apply((identity) => identity!.principalId), principalType: "ServicePrincipal", roleDefinitionId: role.id, scope },
        ctx.opts,
    );
}

// --- who may stop whom (storage.queueRecovery: shared) -----------------------------------
// A new lease holder powers off the previous one before it starts Iguana on the shared
// queue: each worker may read and power off its peer's VM, and no other.
export function grantPeerFencing(ctx: AzureGroupContext, workers: AzureWorker[]): void {
    const fencer = customRole(
        ctx,
        `${ctx.name}-peer-fencer`,
        "peer fencer",
        "Reads and powers off the other worker VM of one cluster, nothing else",
        PEER_FENCE_ACTIONS,
        ctx.group,
    );
    for (const { plan, vm } of workers) assignToWorker(ctx, `${ctx.name}-${plan.name}-fences-peer`, vm, fencer, workers[1 - plan.index].vm.id);
}

/**
 * What a worker's identity may do to snapshot the shared queue's share (Azure Backup does not
 * protect NFS shares): list the account's shares with their snapshots, take one (a share write
 * with $expand=snapshots) and delete old ones (a share delete with x-ms-snapshot). Azure has no
 * narrower action for a snapshot; the role is assigned on the shared account only, which holds
 * that one share, and the worker already writes the share's files over NFS.
 */
export const SHARE_SNAPSHOT_ACTIONS = [
    "Microsoft.Storage/storageAccounts/fileServices/shares/read",
    "Microsoft.Storage/storageAccounts/fileServices/shares/write",
    "Microsoft.Storage/storageAccounts/fileServices/shares/delete",
] as const;

// --- who may snapshot the shared queue (storage.queueRecovery: shared, backup.enabled) -----
export function grantShareSnapshots(ctx: AzureGroupContext, workers: AzureWorker[], account: storage.StorageAccount): void {
    const snapshotter = customRole(
        ctx,
        `${ctx.name}-share-snapshotter`,
        "share snapshotter",
        "Lists, takes and deletes the snapshots of one cluster's shared queue share",
        SHARE_SNAPSHOT_ACTIONS,
        ctx.dataGroup,
    );
    for (const { plan, vm } of workers) assignToWorker(ctx, `${ctx.name}-${plan.name}-snapshots-share`, vm, snapshotter, account.id);
}

/**
 * What a worker's identity may do to copy the data disks' backups to `backup.copyToRegion`: read
 * the snapshots Azure Disk Backup keeps (in their own group, which holds nothing else), and
 * create (CopyStart), read and delete snapshots in the copies' group. Two roles, each assignable
 * only in its group: the backups themselves stay read-only to the workers.
 */
export const BACKUP_SNAPSHOT_READ_ACTIONS = ["Microsoft.Compute/snapshots/read"] as const;
export const BACKUP_COPY_ACTIONS = ["Microsoft.Compute/snapshots/read", "Microsoft.Compute/snapshots/write", "Microsoft.Compute/snapshots/delete"] as const;

// --- who may copy the backups to another region (backup.copyToRegion, data disks) ----------
export function grantDiskCopies(ctx: AzureGroupContext, workers: AzureWorker[], snapshotGroup: resources.ResourceGroup, copyGroup: resources.ResourceGroup): void {
    const reader = customRole(
        ctx,
        `${ctx.name}-backup-snapshot-reader`,
        "backup snapshot reader",
        "Reads the data disks' backup snapshots of one cluster, to copy them to another region",
        BACKUP_SNAPSHOT_READ_ACTIONS,
        snapshotGroup,
    );
    const copier = customRole(
        ctx,
        `${ctx.name}-backup-copier`,
        "backup copier",
        "Creates, reads and deletes the copies of one cluster's data disk backups in its disaster-recovery region",
        BACKUP_COPY_ACTIONS,
        copyGroup,
    );
    for (const { plan, vm } of workers) {
        assignToWorker(ctx, `${ctx.name}-${plan.name}-reads-backups`, vm, reader, snapshotGroup.id);
        assignToWorker(ctx, `${ctx.name}-${plan.name}-copies-backups`, vm, copier, copyGroup.id);
    }
}

// --- who may move the floating VIP (failover.strategy: floating-ip) ------------------------
export function grantVipMoving(
    ctx: AzureGroupContext,
    workers: AzureWorker[],
    vipIp: network.PublicIPAddress,
    nics: network.NetworkInterface[],
    subnetIds: pulumi.Output<string>[],
): void {
    const { name, workerPlans } = ctx;
    const mover = customRole(
        ctx,
        `${name}-vip-mover`,
        "VIP mover",
        "Moves one cluster's floating Public IP between its two worker NICs, nothing else",
        VIP_MOVER_ACTIONS,
        ctx.group,
    );
    const scopes: [string, pulumi.Output<string>][] = [
        ["vip", vipIp.id],
        ...nics.map((nic, i): [string, pulumi.Output<string>] => [`${workerPlans[i].name}-nic`, nic.id]),
        ...subnetIds.map((subnetId, i): [string, pulumi.Output<string>] => [`subnet-${AZURE_WORKER_ZONES[i]}`, subnetId]),
    ];
    for (const { plan, vm } of workers) {
        for (const [what, scope] of scopes) assignToWorker(ctx, `${name}-${plan.name}-moves-vip-on-${what}`, vm, mover, scope);
    }
}
