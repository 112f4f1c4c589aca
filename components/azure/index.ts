/**
 * The Azure implementation of HaIguanaCluster: a VNet with one worker subnet per zone, two
 * Ubuntu VMs in zones 1 and 2 with encrypted Premium SSD data disks, a lease blob that decides
 * which one is active, and a Standard Load Balancer whose zone-redundant Standard public IP is
 * the VIP; or, with `failover.strategy: floating-ip`, no load balancer and a Public IP that the
 * active worker attaches to its NIC.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as alertsmanagement from "@pulumi/azure-native/alertsmanagement";
import * as dataprotection from "@pulumi/azure-native/dataprotection";
import * as monitor from "@pulumi/azure-native/monitor";
import * as operationalinsights from "@pulumi/azure-native/operationalinsights";
import * as network from "@pulumi/azure-native/network";
import * as storage from "@pulumi/azure-native/storage";
import * as resources from "@pulumi/azure-native/resources";
import { ClusterConfig } from "../config";
import * as keyvault from "@pulumi/azure-native/keyvault";
import { ClusterOutputs, ClusterPlan, WorkerPlan, endpointsFor } from "../model";
import { clusterContext, createResourceGroups } from "./context";
import { AzureNetwork, createVirtualNetwork, createWorkerSubnets, joinExistingNetwork } from "./network";
import { createWorkerSecurityGroup } from "./security";
import { createSecrets, createVaultEndpoint } from "./identity";
import { createDataDisk, createSharedShare, createStorageEndpoints } from "./storage";
import { createLease } from "./lease";
import { createDedicatedHosts, createWorkerNics, createWorkerVm } from "./workers";
import { grantDiskCopies, grantPeerFencing, grantShareSnapshots, grantVipMoving, grantWorkerAccess } from "./access";
import { createLoadBalancer, createPublicVip, lockVip } from "./load-balancer";
import { createAudit } from "./audit";
import { createAlerts } from "./alerts";
import { createWorkerLogs } from "./logs";
import { createBackup, createBackupGroups, routeBackupAlerts } from "./backup";
import { createDiskEncryption } from "./disk-key";

/** An Azure cluster's main resources, for a program that builds on it (`HaIguanaCluster.azure`). */
export interface AzureClusterResources {
    resourceGroup: resources.ResourceGroup;
    /** Holds the queue disks (or the shared share's account), kept on destroy. */
    dataResourceGroup: resources.ResourceGroup;
    /** `storage.customerManagedKey`: what encrypts the workers' disks with the cluster's own key. */
    diskEncryptionSet?: compute.DiskEncryptionSet;
    /** The VNet the cluster created; none with `network.existing`. */
    virtualNetwork?: network.VirtualNetwork;
    /** The VNet the workers are in: the created one's id, or `network.existing.virtualNetworkId`. */
    virtualNetworkId: pulumi.Output<string>;
    /** The two worker subnets the cluster created, WK1's zone first; none with `network.existing`. */
    subnets: network.Subnet[];
    /** The two worker subnets' ids, created or existing, WK1's zone first. */
    workerSubnetIds: pulumi.Output<string>[];
    workerSecurityGroup: network.NetworkSecurityGroup;
    /** WK1, WK2. */
    virtualMachines: compute.VirtualMachine[];
    /** Each worker's queue disk, WK1's first; none with `storage.queueRecovery: shared`. */
    dataDisks: compute.Disk[];
    /** The shared queue (`storage.queueRecovery: shared`). */
    sharedFileShare?: storage.FileShare;
    /** Holds the admin password. */
    vault: keyvault.Vault;
    leaseAccount: storage.StorageAccount;
    /** None with `failover.strategy: floating-ip`. */
    loadBalancer?: network.LoadBalancer;
    /** The public address senders reach (`network.public`): the LB's frontend, or the floating VIP. */
    publicVip?: network.PublicIPAddress;
    /** The account that keeps the flow logs (`audit.flowLogs`). */
    flowLogAccount?: storage.StorageAccount;
    /** The VNet's flow log, or the existing network's worker subnets' (`audit.flowLogs`). */
    flowLogs: network.FlowLog[];
    /** The alerts action group: add receivers to it (a pager, a chat webhook). */
    alertsActionGroup: monitor.ActionGroup;
    /** The metric alerts that tell it. */
    alerts: monitor.MetricAlert[];
    /** The workers' logs' Log Analytics workspace (`audit.workerLogs`). */
    workerLogWorkspace?: operationalinsights.Workspace;
    /** The Backup vault holding the data disks' recovery points (`backup.enabled`; none with shared storage). */
    backupVault?: dataprotection.BackupVault;
    /** The disk backup policy: its schedule and retention. */
    backupPolicy?: dataprotection.BackupPolicy;
    /** With backups: the rule that sends the vault's own alerts (a failed backup job) to the action group. */
    backupAlertRule?: alertsmanagement.AlertProcessingRuleByName;
    /** The resource group in `backup.copyToRegion` the active worker copies the data disks' backups to. */
    backupCopyGroup?: resources.ResourceGroup;
}

export function createAzureCluster(plan: ClusterPlan, cfg: ClusterConfig, parent: pulumi.Resource): ClusterOutputs & { azure: AzureClusterResources } {
    // The steps keep the order the resources have always been registered in. The VIP and the
    // load balancer come before the workers: the NICs join the pool and the custom data names the VIP.
    const ctx = createResourceGroups(clusterContext(plan, cfg, parent));
    const existing = cfg.network.existing;
    const vnet = existing ? undefined : createVirtualNetwork(ctx);
    const nsg = createWorkerSecurityGroup(ctx);
    const subnets = vnet ? createWorkerSubnets(ctx, vnet, nsg).subnets : [];
    const net: AzureNetwork = existing ? joinExistingNetwork(ctx, existing) : { virtualNetworkId: vnet!.id, workerSubnetIds: subnets.map((subnet) => subnet.id) };
    const vipIp = createPublicVip(ctx);
    const clientConfig = authorization.getClientConfigOutput({ parent });
    const subscriptionId = clientConfig.subscriptionId;
    const { loadBalancer, poolId } = createLoadBalancer(ctx, subscriptionId, net.workerSubnetIds, vipIp);
    lockVip(ctx, loadBalancer, vipIp);
    const hosts = createDedicatedHosts(ctx);
    const { vault } = createSecrets(ctx, clientConfig);
    const storageEndpoints = net.privateEndpointSubnetId ?? createStorageEndpoints(ctx, vnet!, subnets).id;
    const vaultDns = createVaultEndpoint(ctx, vault, net.virtualNetworkId, storageEndpoints);
    const { leaseAccount, leaseContainer, leaseDns } = createLease(ctx, clientConfig, net.virtualNetworkId, storageEndpoints);
    const shared = cfg.storage.queueRecovery === "shared" ? createSharedShare(ctx, clientConfig, net.virtualNetworkId, storageEndpoints) : undefined;
    const nics = createWorkerNics(ctx, net, nsg, loadBalancer, poolId);
    const diskEncryption = createDiskEncryption(ctx, clientConfig, subscriptionId);
    // Both disks before either VM: with backup.copyToRegion each worker's custom data names both.
    const disks = ctx.workerPlans.map((plan: WorkerPlan) => (shared ? undefined : createDataDisk(ctx, plan, diskEncryption)));
    const backupGroups = createBackupGroups(ctx);
    const copyGroup = backupGroups?.copyGroup;
    const diskCopies = copyGroup ? { disks: disks.map((disk) => disk!), sourceGroupId: backupGroups.snapshotGroup.id, copyGroupId: copyGroup.id } : undefined;
    const workers = ctx.workerPlans.map((plan: WorkerPlan) => {
        const nic = nics[plan.index];
        const disk = disks[plan.index];
        const vm = createWorkerVm(ctx, {
            plan,
            nic,
            disk,
            nics,
            hosts,
            shared,
            vipIp,
            vault,
            leaseAccount,
            privateDns: [leaseDns, vaultDns],
            subscriptionId,
            diskEncryption,
            diskCopies,
        });
        grantWorkerAccess(ctx, plan, vm, clientConfig, vault, leaseContainer);
        return { plan, nic, disk, vm };
    });
    if (shared) grantPeerFencing(ctx, workers);
    if (shared && cfg.backup.enabled) grantShareSnapshots(ctx, workers, shared.account);
    if (backupGroups && copyGroup) grantDiskCopies(ctx, workers, backupGroups.snapshotGroup, copyGroup);
    if (ctx.floating && vipIp) grantVipMoving(ctx, workers, vipIp, nics, net.workerSubnetIds);
    const audit = createAudit(ctx, clientConfig, net);
    const backups = createBackup(ctx, subscriptionId, workers, backupGroups);
    const alerts = createAlerts(
        ctx,
        loadBalancer,
        workers.map(({ plan, vm }) => ({ name: plan.name, role: plan.role, vm })),
    );
    const workerLogs = createWorkerLogs(ctx, workers, alerts.actionGroup.id);
    const backupAlerts = backups ? routeBackupAlerts(ctx, backups, alerts.actionGroup.id) : undefined;

    const vipAddresses = vipIp ? vipIp.ipAddress.apply((address) => [address!]) : pulumi.output([ctx.networkPlan.internalVipIps[0]]);
    const vip = vipAddresses.apply((addresses) => addresses[0]);
    return {
        cloud: "azure",
        vip,
        vipAddresses,
        ...endpointsFor(cfg, vip),
        azure: {
            resourceGroup: ctx.group,
            dataResourceGroup: ctx.dataGroup,
            virtualNetwork: vnet,
            virtualNetworkId: net.virtualNetworkId,
            subnets,
            workerSubnetIds: net.workerSubnetIds,
            workerSecurityGroup: nsg,
            virtualMachines: workers.map((w) => w.vm),
            dataDisks: workers.flatMap((w) => (w.disk ? [w.disk] : [])),
            sharedFileShare: shared?.share,
            vault,
            leaseAccount,
            loadBalancer,
            publicVip: vipIp,
            flowLogAccount: audit?.flowLogAccount,
            flowLogs: audit?.flowLogs ?? [],
            alertsActionGroup: alerts.actionGroup,
            alerts: alerts.alerts,
            workerLogWorkspace: workerLogs?.workspace,
            diskEncryptionSet: diskEncryption?.diskEncryptionSet,
            backupVault: backups?.vault,
            backupPolicy: backups?.policy,
            backupAlertRule: backupAlerts,
            backupCopyGroup: copyGroup,
        },
        workers: pulumi.all(workers.map((w) => pulumi.all([w.vm.id, w.vm.zones, w.nic.ipConfigurations]))).apply((values) =>
            workers.map(({ plan }, i) => {
                const [id, zones, ipConfigurations] = values[i];
                return { name: plan.name, role: plan.role, zone: zones![0], privateIp: ipConfigurations![0].privateIPAddress!, id };
            }),
        ),
    };
}
