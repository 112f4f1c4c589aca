/** Step 6, the workers: dedicated hosts (optional), NICs at fixed addresses, and the VMs with their custom data. */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as features from "@pulumi/azure-native/features";
import * as network from "@pulumi/azure-native/network";
import * as storage from "@pulumi/azure-native/storage";
import { azureArchitecture, dedicatedHostSku } from "./sizes";
import { BackupConfig, resolveInstaller } from "../config";
import { AZURE_ADMIN_USERNAME, AZURE_DATA_DISK_LUN, AZURE_DISK_SKU, AZURE_SSH_KEY_BITS, AZURE_WORKER_ZONES, UBUNTU_AZURE_IMAGE, shareSnapshotKeepDays } from "../constants";
import { DiskCopyLocator, PeerFenceLocator, ShareSnapshotLocator, completeBootstrap, renderCloudInit } from "../bootstrap";
import * as keyvault from "@pulumi/azure-native/keyvault";
import { WorkerPlan, rebuildable } from "../model";
import { AzureGroupContext } from "./context";
import { AzureNetwork } from "./network";
import { AZURE_ADMIN_SECRET_NAME, AZURE_TLS_SECRET_NAME } from "./identity";
import { AZURE_SHARE_NAME, AzureSharedShare, DiskEncryptionUse } from "./storage";
import { azureLeaseLocator } from "./lease";

/** OpenSSH `ssh-rsa` public key text from an RSA public key in JWK form (RFC 4253 §6.6). */
export function sshRsaPublicKey(jwk: { n?: string; e?: string }, comment: string): string {
    if (!jwk.n || !jwk.e) throw new Error("not an RSA public key");
    const length = (b: Buffer) => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(b.length);
        return out;
    };
    const string = (b: Buffer) => Buffer.concat([length(b), b]);
    const mpint = (b: Buffer) => string(b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
    const blob = Buffer.concat([string(Buffer.from("ssh-rsa")), mpint(Buffer.from(jwk.e, "base64url")), mpint(Buffer.from(jwk.n, "base64url"))]);
    return `ssh-rsa ${blob.toString("base64")} ${comment}`;
}

let placeholderKey: string | undefined;

/**
 * Azure refuses a Linux VM with password login off unless it carries an SSH public key. The
 * workers are not meant to be reached over SSH at all (22 is closed; as on AWS, where SSM is the
 * way in, the way in here is Azure's control plane: `az vm run-command`, RBAC-gated and logged).
 * So the key is generated here, in memory, and only its public half leaves this function: the
 * private half is never exported, written or stored, so nobody (including whoever deploys)
 * can log in with it. It changes with every program run; the VMs ignore that change.
 */
export function placeholderSshPublicKey(): string {
    if (!placeholderKey) {
        const { publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: AZURE_SSH_KEY_BITS });
        placeholderKey = sshRsaPublicKey(publicKey.export({ format: "jwk" }), "iguana-ha-no-private-key-exists");
    }
    return placeholderKey;
}

/** Shared mode: the new holder powers off its peer's VM. */
export function azurePeerFence(peerVmId: string): Extract<PeerFenceLocator, { kind: "azure-vm" }> {
    return { kind: "azure-vm", peerVmId };
}

/** Shared mode with backups: the share the active worker snapshots, every backup.everyHours, kept as long as the share's limit allows. */
export function azureShareSnapshots(accountId: string, backup: Pick<BackupConfig, "everyHours" | "retentionDays">): ShareSnapshotLocator {
    return {
        kind: "azure-share",
        shareId: `${accountId}/fileServices/default/shares/${AZURE_SHARE_NAME}`,
        everyHours: backup.everyHours,
        keepDays: shareSnapshotKeepDays(backup.everyHours, backup.retentionDays),
    };
}

/** Data disks with `backup.copyToRegion`: the backups the active worker copies there, kept as long as the backups. */
export function azureDiskCopies(
    disks: { worker: string; diskId: string }[],
    groups: { sourceGroupId: string; copyGroupId: string },
    backup: Pick<BackupConfig, "retentionDays" | "copyToRegion">,
): DiskCopyLocator {
    if (!backup.copyToRegion) throw new Error("azureDiskCopies: backup.copyToRegion is not set");
    return { kind: "azure-disk-snapshots", disks, ...groups, copyRegion: backup.copyToRegion, keepDays: backup.retentionDays };
}

/**
 * With shared storage each worker's custom data names its peer's VM, which does not exist yet:
 * the VMs get fixed names, so their ARM ids are known before either is created.
 */
export function azureWorkerVmName(clusterName: string, worker: WorkerPlan): string {
    return `${clusterName}-${worker.name}`;
}

export function azureVmId(subscriptionId: string, resourceGroupName: string, vmName: string): string {
    return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${vmName}`;
}

/** The worker NICs' one IP configuration; the floating VIP attaches to it. */
export const AZURE_IP_CONFIG_NAME = "primary";

export interface AzureWorker {
    plan: WorkerPlan;
    nic: network.NetworkInterface;
    disk?: compute.Disk;
    vm: compute.VirtualMachine;
}

// --- dedicated hosts -----------------------------------------------------------------
// A host group lives in one zone, so one group (one fault domain) and one host per zone.
export function createDedicatedHosts(ctx: AzureGroupContext): compute.DedicatedHost[] | undefined {
    const { name, cfg, parent, opts, tags, location, resourceGroupName, size } = ctx;
    return cfg.workers.dedicated
        ? AZURE_WORKER_ZONES.map((zone) => {
              const hostSku = dedicatedHostSku(size);
              if (!hostSku) throw new pulumi.ResourceError(`no dedicated host SKU for ${cfg.workers.size}`, parent, true);
              const hostGroup = new compute.DedicatedHostGroup(
                  `${name}-hosts-${zone}`,
                  { resourceGroupName, location, zones: [zone], platformFaultDomainCount: 1, supportAutomaticPlacement: false, tags },
                  opts,
              );
              return new compute.DedicatedHost(
                  `${name}-host-${zone}`,
                  {
                      resourceGroupName,
                      location,
                      hostGroupName: hostGroup.name,
                      sku: { name: hostSku },
                      platformFaultDomain: 0,
                      autoReplaceOnFailure: true,
                      tags,
                  },
                  opts,
              );
          })
        : undefined;
}

// --- workers -------------------------------------------------------------------------
export function createWorkerNics(
    ctx: AzureGroupContext,
    net: AzureNetwork,
    nsg: network.NetworkSecurityGroup,
    loadBalancer: network.LoadBalancer | undefined,
    poolId: pulumi.Output<string>,
): network.NetworkInterface[] {
    const { name, parent, tags, location, resourceGroupName, workerPlans } = ctx;
    return workerPlans.map((plan: WorkerPlan) => {
        const workerTags = { ...tags, role: plan.role, worker: plan.name };
        return new network.NetworkInterface(
            `${name}-${plan.name}-nic`,
            {
                resourceGroupName,
                location,
                ipConfigurations: [
                    {
                        name: AZURE_IP_CONFIG_NAME,
                        primary: true,
                        subnet: { id: net.workerSubnetIds[plan.index] },
                        // Fixed addresses: keepalived on each worker names its peer before either exists.
                        privateIPAllocationMethod: "Static",
                        privateIPAddress: plan.privateIp,
                        // Floating IP: the MASTER's notify script attaches the VIP here, not Pulumi.
                        loadBalancerBackendAddressPools: loadBalancer ? [{ id: poolId }] : undefined,
                    },
                ],
                // An existing network's subnets are not the cluster's to change: its NSG goes on the NICs.
                ...(ctx.cfg.network.existing ? { networkSecurityGroup: { id: nsg.id } } : {}),
                tags: workerTags,
            },
            // The pool id is built by hand: the pool exists only once the LB does.
            { parent, dependsOn: loadBalancer ? [loadBalancer] : [] },
        );
    });
}

/** What a worker's VM is built from: its NIC and disk, and what its custom data names. */
/** `workers.encryptionAtHost` needs a feature the subscription registers once; found missing at preview, with what to do, not when the first VM is refused. */
export function encryptionAtHostRegistered(ctx: AzureGroupContext): pulumi.Output<boolean> {
    const { parent } = ctx;
    const fix =
        "register it once (az feature register --namespace Microsoft.Compute --name EncryptionAtHost, wait until az feature show says Registered, then az provider register -n Microsoft.Compute), or set workers.encryptionAtHost: false";
    const fail = (state: string) => {
        throw new pulumi.ResourceError(`workers.encryptionAtHost: the subscription's Microsoft.Compute/EncryptionAtHost feature is ${state}: ${fix}`, parent, true);
    };
    const found = features.getSubscriptionFeatureRegistration({ providerNamespace: "Microsoft.Compute", featureName: "EncryptionAtHost" }, { parent }).then(
        (registration) => registration.properties.state === "Registered" || fail(registration.properties.state ?? "in an unknown state"),
        () => fail("not registered"),
    );
    return pulumi.output(found);
}

export interface AzureWorkerVmInputs {
    plan: WorkerPlan;
    nic: network.NetworkInterface;
    disk?: compute.Disk;
    /** Both workers' NICs: the floating VIP's custom data names the peer's. */
    nics: network.NetworkInterface[];
    hosts?: compute.DedicatedHost[];
    shared?: AzureSharedShare;
    vipIp?: network.PublicIPAddress;
    vault: keyvault.Vault;
    leaseAccount: storage.StorageAccount;
    /** The lease's and the vault's private DNS: a worker resolves both privately from its first boot. */
    privateDns: network.PrivateDnsZoneGroup[];
    subscriptionId: pulumi.Output<string>;
    /** `storage.customerManagedKey`: the OS disk is encrypted through this set. */
    diskEncryption?: DiskEncryptionUse;
    /** `backup.copyToRegion` with data disks: both workers' disks and the groups the active worker copies their backups between. */
    diskCopies?: { disks: compute.Disk[]; sourceGroupId: pulumi.Output<string>; copyGroupId: pulumi.Output<string> };
}

export function createWorkerVm(ctx: AzureGroupContext, inputs: AzureWorkerVmInputs): compute.VirtualMachine {
    const { name, cfg, parent, tags, location, resourceGroupName, floating, workerPlans, size } = ctx;
    const { plan, nic, disk, nics, hosts, shared, vipIp, vault, leaseAccount, privateDns, subscriptionId, diskEncryption, diskCopies } = inputs;
    const sshPublicKey = placeholderSshPublicKey();
    const zone = AZURE_WORKER_ZONES[plan.index];
    const workerTags = { ...tags, role: plan.role, worker: plan.name };
    const peer = workerPlans[1 - plan.index];
    const sharedAccount = shared ? shared.accountName : pulumi.output("");
    const sharedAccountId = shared ? shared.account.id : pulumi.output("");
    const vipIds = vipIp && floating ? pulumi.all([vipIp.id, nic.id, nics[peer.index].id]) : undefined;
    const copyIds = diskCopies ? pulumi.all([pulumi.all(diskCopies.disks.map((d) => d.id)), diskCopies.sourceGroupId, diskCopies.copyGroupId]) : undefined;
    const customData = pulumi
        .all([vault.name, sharedAccount, sharedAccountId, vipIds, leaseAccount.name, subscriptionId, resourceGroupName, pulumi.all([resolveInstaller(cfg.iguana), copyIds])])
        .apply(([vaultName, accountName, accountId, ids, leaseAccountName, subscription, groupName, [installer, copies]]) =>
            Buffer.from(
                renderCloudInit(
                    completeBootstrap(ctx.plan.bootstrap[plan.index], installer, {
                        dataDisk: shared
                            ? { kind: "azure-nfs", host: `${accountName}.file.core.windows.net`, exportPath: `/${accountName}/${AZURE_SHARE_NAME}` }
                            : { kind: "azure-lun", lun: AZURE_DATA_DISK_LUN },
                        adminPassword: { kind: "azure-key-vault", vaultName, secretName: AZURE_ADMIN_SECRET_NAME },
                        tlsBundle: cfg.tls.enabled ? { kind: "azure-key-vault", vaultName, secretName: AZURE_TLS_SECRET_NAME } : undefined,
                        vip: ids ? { kind: "azure-public-ip", publicIpId: ids[0], selfNicId: ids[1], peerNicId: ids[2], ipConfigName: AZURE_IP_CONFIG_NAME } : undefined,
                        lease: azureLeaseLocator(leaseAccountName, name),
                        peerFence: shared ? azurePeerFence(azureVmId(subscription, groupName, azureWorkerVmName(name, peer))) : undefined,
                        events: { kind: "azure-monitor", location, cluster: name },
                        shareSnapshots: shared && cfg.backup.enabled ? azureShareSnapshots(accountId, cfg.backup) : undefined,
                        diskCopies: copies
                            ? azureDiskCopies(
                                  copies[0].map((diskId, i) => ({ worker: workerPlans[i].name, diskId })),
                                  { sourceGroupId: copies[1], copyGroupId: copies[2] },
                                  cfg.backup,
                              )
                            : undefined,
                    }),
                ),
                "utf8",
            ).toString("base64"),
        );
    return new compute.VirtualMachine(
        `${name}-${plan.name}`,
        {
            resourceGroupName,
            location,
            // Without shared storage the VMs keep their generated names: a fixed one would replace them.
            vmName: shared ? azureWorkerVmName(name, plan) : undefined,
            zones: [zone],
            hardwareProfile: { vmSize: cfg.workers.size },
            identity: { type: "SystemAssigned" },
            host: hosts ? { id: hosts[plan.index].id } : undefined,
            securityProfile: cfg.workers.encryptionAtHost ? { encryptionAtHost: encryptionAtHostRegistered(ctx) } : undefined,
            networkProfile: { networkInterfaces: [{ id: nic.id, primary: true, deleteOption: "Detach" }] },
            osProfile: {
                computerName: `${name}-${plan.name}`,
                adminUsername: AZURE_ADMIN_USERNAME,
                customData,
                linuxConfiguration: {
                    disablePasswordAuthentication: true,
                    provisionVMAgent: true,
                    ssh: { publicKeys: [{ path: `/home/${AZURE_ADMIN_USERNAME}/.ssh/authorized_keys`, keyData: sshPublicKey }] },
                },
            },
            storageProfile: {
                imageReference: {
                    publisher: UBUNTU_AZURE_IMAGE.publisher,
                    offer: UBUNTU_AZURE_IMAGE.offer,
                    sku: UBUNTU_AZURE_IMAGE.sku[azureArchitecture(size)],
                    version: UBUNTU_AZURE_IMAGE.version,
                },
                osDisk: {
                    createOption: "FromImage",
                    caching: "ReadWrite",
                    deleteOption: "Delete",
                    managedDisk: { storageAccountType: AZURE_DISK_SKU, ...(diskEncryption ? { diskEncryptionSet: { id: diskEncryption.diskEncryptionSet.id } } : {}) },
                },
                // No attachment resource on Azure: the VM itself attaches the disk.
                dataDisks: disk ? [{ lun: AZURE_DATA_DISK_LUN, createOption: "Attach", managedDisk: { id: disk.id }, caching: "None", deleteOption: "Detach" }] : [],
            },
            diagnosticsProfile: { bootDiagnostics: { enabled: true } },
            tags: workerTags,
        },
        {
            parent,
            // A newer image or custom data must not touch both workers at once: only the worker
            // named by workers.rebuild takes new custom data, by a replacement (cloud-init runs it
            // on a first boot only). The SSH key is regenerated on every run (see placeholderSshPublicKey).
            // Encryption at host changes only on a deallocated VM (an update of a running one fails):
            // it too comes with the rebuild.
            ignoreChanges: [
                "storageProfile.imageReference",
                "osProfile.linuxConfiguration.ssh.publicKeys",
                ...(rebuildable(cfg, plan) ? [] : ["osProfile.customData", "securityProfile.encryptionAtHost"]),
            ],
            replaceOnChanges: ["osProfile.customData", "securityProfile.encryptionAtHost"],
            // A rebuilt worker takes the same NIC and data disk, which attach to one VM at a time: delete the old one first.
            deleteBeforeReplace: true,
            // The lease (and the share) must be reachable, endpoint and DNS, when the worker boots.
            // With a Disk Encryption Set, the set must be able to use its key before the OS disk is made.
            dependsOn: [...privateDns, ...(shared ? [shared.share, shared.endpoint] : []), ...(diskEncryption ? [diskEncryption.access] : [])],
        },
    );
}
