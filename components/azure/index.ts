/**
 * The Azure implementation of HaIguanaCluster: a VNet with one worker subnet per zone, two
 * Ubuntu VMs in zones 1 and 2 with encrypted Premium SSD data disks, a lease blob that decides
 * which one is active, and a Standard Load Balancer whose zone-redundant Standard public IP is
 * the VIP; or, with `failover.strategy: floating-ip`, no load balancer and a Public IP that the
 * active worker attaches to its NIC.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as privatedns from "@pulumi/azure-native/privatedns";
import * as storage from "@pulumi/azure-native/storage";
import * as resources from "@pulumi/azure-native/resources";
import type { network as networkInputs } from "@pulumi/azure-native/types/input";
import { AzureVmSize, azureArchitecture, dedicatedHostSku, parseAzureVmSize } from "./sizes";
import { ClusterConfig, ConfigValidationError, ExistingNetworkConfig, ExistingSubnetConfig, resolveInstaller } from "../config";
import {
    AZURE_ADMIN_USERNAME,
    AZURE_DATA_DISK_LUN,
    AZURE_DISK_SKU,
    AZURE_NSG_PRIORITY,
    PROJECT,
    AZURE_SSH_KEY_BITS,
    AZURE_WORKER_ZONES,
    AZURE_ZONE_REDUNDANT,
    AZURE_FILE_PRIVATE_DNS_ZONE,
    AZURE_BLOB_PRIVATE_DNS_ZONE,
    AZURE_LEASE_CONTAINER,
    HOLDS_LEASE,
    HTTPS_PORT,
    NFS_PORT,
    RDP_PORT,
    ROLE_PROBE_PORT,
    SSH_PORT,
    UBUNTU_AZURE_IMAGE,
} from "../constants";
import { LeaseLocator, PeerFenceLocator, bootstrapSettings, renderCloudInit } from "../bootstrap";
import { createAdminPassword } from "../secrets";
import * as keyvault from "@pulumi/azure-native/keyvault";
import {
    ClusterOutputs,
    HealthCheck,
    ROLE_PROBE,
    WorkerPlan,
    baseTags,
    endpointsFor,
    healthCheckFor,
    iguanaHealth,
    leaseRecordKey,
    planNetwork,
    planWorkers,
    storageSubnet,
} from "../model";

/** Built-in role "Key Vault Secrets User": read secret contents, nothing else. */
export const KEY_VAULT_SECRETS_USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6";
/** Built-in role "Storage Blob Data Contributor": read, write and delete blobs (the lease guard reads and writes). */
export const STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
export const AZURE_ADMIN_SECRET_NAME = "iguana-admin-password";

/** Names of the load balancer's inline sub-resources; their ARM ids are built from them. */
export const AZURE_LB_PARTS = {
    frontend: "vip",
    pool: "workers",
    probe: { "role-probe": "role-probe", "iguana-health": "iguana-health" } as Record<HealthCheck["kind"], string>,
    dashboardRule: "dashboard",
} as const;

/** The fixed load balancer name: the ids of its frontend, pool and probes are built from it. */
export function azureLoadBalancerName(clusterName: string): string {
    return `${clusterName}-lb`;
}

/** Rule name of a channel: `llp-adt-in`, `http-results-api` (policies key on the `llp-` prefix). */
export function azureRuleName(channel: { protocol: string; name: string }): string {
    return `${channel.protocol}-${channel.name}`;
}

export function azureProbe(check: HealthCheck, cfg: ClusterConfig): networkInputs.ProbeArgs {
    return {
        name: AZURE_LB_PARTS.probe[check.kind],
        protocol: check.protocol === "http" ? "Http" : "Tcp",
        port: check.port,
        requestPath: check.protocol === "http" ? check.path : undefined,
        intervalInSeconds: cfg.failover.healthCheckIntervalSeconds,
        // probeThreshold, not numberOfProbes: Azure long ignored numberOfProbes and is retiring it.
        probeThreshold: cfg.failover.unhealthyThreshold,
        // The default, stated: when no worker answers, send nothing rather than to every worker
        // (the AWS NLB fails open; here an active-passive feed never reaches two workers).
        noHealthyBackendsBehavior: "AllProbedDown",
    };
}

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

/** Name of the NFS share holding the shared working directory. */
export const AZURE_SHARE_NAME = "iguana";

/**
 * Storage account names are global, 3-24 lowercase letters and digits. Derived from the
 * subscription and the (auto-named, so unique) resource group: stable across updates. The
 * prefix says what the account holds (7 + 16 characters).
 */
function storageAccountName(prefix: "iguanaq" | "iguanal", subscriptionId: string, resourceGroupName: string): string {
    return `${prefix}${crypto.createHash("sha256").update(`${subscriptionId}/${resourceGroupName}`).digest("hex").slice(0, 16)}`;
}

/** The shared queue's account (`storage.queueRecovery: shared`). */
export function sharedAccountName(subscriptionId: string, resourceGroupName: string): string {
    return storageAccountName("iguanaq", subscriptionId, resourceGroupName);
}

/** The lease's account: every cluster has one. */
export function leaseAccountName(subscriptionId: string, resourceGroupName: string): string {
    return storageAccountName("iguanal", subscriptionId, resourceGroupName);
}

/** Where a worker's lease guard finds the lease: the cluster's one blob in the lease container. */
export function azureLeaseLocator(accountName: string, clusterName: string): Extract<LeaseLocator, { kind: "azure-blob" }> {
    return { kind: "azure-blob", accountName, container: AZURE_LEASE_CONTAINER, blobName: leaseRecordKey(clusterName) };
}

/** Shared mode: the new holder powers off its peer's VM. */
export function azurePeerFence(peerVmId: string): Extract<PeerFenceLocator, { kind: "azure-vm" }> {
    return { kind: "azure-vm", peerVmId };
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

/**
 * What a worker's identity may do to its peer (shared mode: stop it before starting Iguana on
 * the shared queue): read the VM (its power state) and power it off. Assigned on the peer VM only.
 */
export const PEER_FENCE_ACTIONS = ["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/powerOff/action"] as const;

/** The worker NICs' one IP configuration; the floating VIP attaches to it. */
export const AZURE_IP_CONFIG_NAME = "primary";

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

/** An Azure cluster's main resources, for a program that builds on it (`HaIguanaCluster.azure`). */
export interface AzureClusterResources {
    resourceGroup: resources.ResourceGroup;
    /** Holds the queue disks (or the shared share's account), kept on destroy. */
    dataResourceGroup: resources.ResourceGroup;
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
}

/** What every step needs: the cluster's name, config, parent and the plans derived from them. */
interface AzureClusterContext {
    name: string;
    cfg: ClusterConfig;
    parent: pulumi.Resource;
    opts: { parent: pulumi.Resource };
    tags: Record<string, string>;
    location: string;
    floating: boolean;
    networkPlan: ReturnType<typeof planNetwork>;
    workerPlans: WorkerPlan[];
    workerHosts: string[];
    size: AzureVmSize;
    activeActive: boolean;
}

/** The context once the resource groups exist. */
interface AzureGroupContext extends AzureClusterContext {
    group: resources.ResourceGroup;
    resourceGroupName: pulumi.Output<string>;
    dataGroup: resources.ResourceGroup;
    /** Options of what holds the queue: kept on destroy, protected with storage.protect. */
    keep: { parent: pulumi.Resource; retainOnDelete: boolean; protect: boolean };
}

interface AzureNetwork {
    virtualNetworkId: pulumi.Output<string>;
    /** WK1's first; in an existing network each resolves only after its subnet was checked. */
    workerSubnetIds: pulumi.Output<string>[];
    /** Where the storage private endpoints go: given in an existing network, else created (createStorageEndpoints). */
    privateEndpointSubnetId?: pulumi.Output<string>;
}

interface AzureWorkerSubnets {
    natGateways: network.NatGateway[];
    subnets: network.Subnet[];
}

interface AzureLoadBalancerResult {
    loadBalancer?: network.LoadBalancer;
    poolId: pulumi.Output<string>;
}

interface AzureSecrets {
    vault: keyvault.Vault;
}

interface AzureLease {
    leaseAccount: storage.StorageAccount;
    leaseContainer: storage.BlobContainer;
    leaseDns: network.PrivateDnsZoneGroup;
}

interface AzureSharedShare {
    account: storage.StorageAccount;
    share: storage.FileShare;
    zone: privatedns.PrivateZone;
    endpoint: network.PrivateEndpoint;
    accountName: pulumi.Output<string>;
}

interface AzureWorker {
    plan: WorkerPlan;
    nic: network.NetworkInterface;
    disk?: compute.Disk;
    vm: compute.VirtualMachine;
}

// Inbound rules only: outbound keeps Azure's defaults (egress through the NAT gateways).
function inboundRule(args: Omit<networkInputs.SecurityRuleArgs, "direction" | "sourcePortRange">): networkInputs.SecurityRuleArgs {
    return {
        ...args,
        direction: "Inbound",
        sourcePortRange: "*",
    };
}

export function createAzureCluster(name: string, cfg: ClusterConfig, parent: pulumi.Resource): ClusterOutputs & { azure: AzureClusterResources } {
    // The steps keep the order the resources have always been registered in. The VIP and the
    // load balancer come before the workers: the NICs join the pool and the custom data names the VIP.
    const ctx = createResourceGroups(clusterContext(name, cfg, parent));
    const existing = cfg.network.existing;
    const vnet = existing ? undefined : createVirtualNetwork(ctx);
    const nsg = createWorkerSecurityGroup(ctx);
    const subnets = vnet ? createWorkerSubnets(ctx, vnet, nsg).subnets : [];
    const net: AzureNetwork = existing ? joinExistingNetwork(ctx, existing) : { virtualNetworkId: vnet!.id, workerSubnetIds: subnets.map((subnet) => subnet.id) };
    const vipIp = createPublicVip(ctx);
    const clientConfig = authorization.getClientConfigOutput({ parent });
    const subscriptionId = clientConfig.subscriptionId;
    const { loadBalancer, poolId } = createLoadBalancer(ctx, subscriptionId, net.workerSubnetIds, vipIp);
    const hosts = createDedicatedHosts(ctx);
    const { vault } = createSecrets(ctx, clientConfig);
    const storageEndpoints = net.privateEndpointSubnetId ?? createStorageEndpoints(ctx, vnet!, subnets).id;
    const { leaseAccount, leaseContainer, leaseDns } = createLease(ctx, clientConfig, net.virtualNetworkId, storageEndpoints);
    const shared = cfg.storage.queueRecovery === "shared" ? createSharedShare(ctx, clientConfig, net.virtualNetworkId, storageEndpoints) : undefined;
    const nics = createWorkerNics(ctx, net, nsg, loadBalancer, poolId);
    const workers = ctx.workerPlans.map((plan: WorkerPlan) => {
        const nic = nics[plan.index];
        const disk = shared ? undefined : createDataDisk(ctx, plan);
        const vm = createWorkerVm(ctx, { plan, nic, disk, nics, hosts, shared, vipIp, vault, leaseAccount, leaseDns, subscriptionId });
        grantWorkerAccess(ctx, plan, vm, clientConfig, vault, leaseContainer);
        return { plan, nic, disk, vm };
    });
    if (shared) grantPeerFencing(ctx, workers);
    if (ctx.floating && vipIp) grantVipMoving(ctx, workers, vipIp, nics, net.workerSubnetIds);

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
        },
        workers: pulumi.all(workers.map((w) => pulumi.all([w.vm.id, w.vm.zones, w.nic.ipConfigurations]))).apply((values) =>
            workers.map(({ plan }, i) => {
                const [id, zones, ipConfigurations] = values[i];
                return { name: plan.name, role: plan.role, zone: zones![0], privateIp: ipConfigurations![0].privateIPAddress!, id };
            }),
        ),
    };
}

function clusterContext(name: string, cfg: ClusterConfig, parent: pulumi.Resource): AzureClusterContext {
    const floating = cfg.failover.strategy === "floating-ip";
    const opts = { parent };
    const tags = baseTags(cfg, name);
    const location = cfg.region;
    const networkPlan = planNetwork(cfg.network.cidr, cfg.network.existing);
    const workerPlans = planWorkers(networkPlan);
    const workerHosts = workerPlans.map((w) => `${w.privateIp}/32`);
    const size = parseAzureVmSize(cfg.workers.size);
    if (!size) {
        // validateClusterConfig rejects such names first; this guards direct callers.
        throw new pulumi.ResourceError(`workers.size "${cfg.workers.size}" is not an Azure VM size`, parent, true);
    }
    const activeActive = cfg.channels.some((c) => healthCheckFor(c, cfg.iguana).kind === "iguana-health");
    return { name, cfg, parent, opts, tags, location, floating, networkPlan, workerPlans, workerHosts, size, activeActive };
}

function createResourceGroups(base: AzureClusterContext): AzureGroupContext {
    const { name, cfg, parent, opts, tags, location } = base;
    const group = new resources.ResourceGroup(`${name}-rg`, { location, tags }, opts);
    const resourceGroupName = group.name;
    // What holds the queue (the data disks, or the shared storage account) sits in a resource
    // group of its own: deleting a resource group deletes everything in it, so `pulumi destroy`
    // keeps this group and its contents (retainOnDelete), and with storage.protect Pulumi refuses
    // to delete or replace them at all.
    const keep = { parent, retainOnDelete: true, protect: cfg.storage.protect };
    const dataGroup = new resources.ResourceGroup(`${name}-data-rg`, { location, tags: { ...tags, holds: "iguana-queue" } }, keep);
    return { ...base, group, resourceGroupName, dataGroup, keep };
}

// --- network -------------------------------------------------------------------------
// The VNet takes all of network.cidr; the workers use the model's two private quarters,
// one subnet per zone (a VNet subnet spans zones, but NAT gateways are zonal: one subnet
// per zone gives each zone its own egress). The public quarters stay free: an Azure load
// balancer frontend lives in no subnet.
function createVirtualNetwork(ctx: AzureGroupContext): network.VirtualNetwork {
    const { name, opts, tags, location, resourceGroupName, networkPlan } = ctx;
    return new network.VirtualNetwork(`${name}-vnet`, { resourceGroupName, location, addressSpace: { addressPrefixes: [networkPlan.vpcCidr] }, tags }, opts);
}

function createWorkerSecurityGroup(ctx: AzureGroupContext): network.NetworkSecurityGroup {
    const { name, cfg, opts, tags, location, resourceGroupName, floating, activeActive, workerHosts } = ctx;
    const probeSources = "AzureLoadBalancer";
    const securityRules: networkInputs.SecurityRuleArgs[] = [
        inboundRule({
            name: "deny-ssh-rdp-from-internet",
            description: "No SSH or RDP from the Internet, whatever is added later: reach workers with az vm run-command",
            priority: AZURE_NSG_PRIORITY.denySshRdpFromInternet,
            access: "Deny",
            protocol: "*",
            sourceAddressPrefix: "Internet",
            destinationAddressPrefix: "*",
            destinationPortRanges: [String(SSH_PORT), String(RDP_PORT)],
        }),
        // No load balancer, no probes: with a floating IP the role probe stays closed.
        ...(floating
            ? []
            : [
                  inboundRule({
                      name: "allow-role-probe",
                      description: "Role probe: load balancer health probes only (168.63.129.16)",
                      priority: AZURE_NSG_PRIORITY.roleProbe,
                      access: "Allow",
                      protocol: "Tcp",
                      sourceAddressPrefix: probeSources,
                      destinationAddressPrefixes: workerHosts,
                      destinationPortRange: String(ROLE_PROBE_PORT),
                  }),
              ]),
        ...(activeActive
            ? [
                  inboundRule({
                      name: "allow-iguana-health",
                      description: "Iguana health of active-active channels: load balancer health probes only",
                      priority: AZURE_NSG_PRIORITY.iguanaHealth,
                      access: "Allow",
                      protocol: "Tcp",
                      sourceAddressPrefix: probeSources,
                      destinationAddressPrefixes: workerHosts,
                      destinationPortRange: String(iguanaHealth(cfg.iguana).port),
                  }),
              ]
            : []),
        ...(cfg.network.adminCidrs.length > 0
            ? [
                  inboundRule({
                      name: "allow-dashboard",
                      description: "Iguana dashboard from the admin networks",
                      priority: AZURE_NSG_PRIORITY.dashboard,
                      access: "Allow",
                      protocol: "Tcp",
                      sourceAddressPrefixes: cfg.network.adminCidrs,
                      destinationAddressPrefixes: workerHosts,
                      destinationPortRange: String(cfg.iguana.webPort),
                  }),
              ]
            : []),
        // The load balancer keeps the senders' addresses, so the workers filter on them.
        ...cfg.channels.map((channel, i) =>
            inboundRule({
                name: `allow-${azureRuleName(channel)}`,
                description: `${channel.protocol.toUpperCase()} channel ${channel.name} from the allowed sender networks`,
                priority: AZURE_NSG_PRIORITY.channelsFrom + i,
                access: "Allow",
                protocol: "Tcp",
                sourceAddressPrefixes: cfg.network.allowedCidrs,
                destinationAddressPrefixes: workerHosts,
                destinationPortRange: String(channel.port),
            }),
        ),
        // Azure's default AllowVnetInBound (65000) would let any VNet, peered or on-premises
        // (VPN/ExpressRoute) address reach every worker port. Everything that
        // must reach the workers is allowed above; the rest of the VNet is refused here.
        inboundRule({
            name: "deny-other-vnet-inbound",
            description: "Nothing else from the VNet, peered networks or on-premises: only the rules above",
            priority: AZURE_NSG_PRIORITY.denyOtherVnetInbound,
            access: "Deny",
            protocol: "*",
            sourceAddressPrefix: "VirtualNetwork",
            destinationAddressPrefix: "*",
            destinationPortRange: "*",
        }),
    ];
    return new network.NetworkSecurityGroup(`${name}-workers-nsg`, { resourceGroupName, location, securityRules, tags }, opts);
}

function createWorkerSubnets(ctx: AzureGroupContext, vnet: network.VirtualNetwork, nsg: network.NetworkSecurityGroup): AzureWorkerSubnets {
    const { name, cfg, opts, tags, location, resourceGroupName, networkPlan } = ctx;
    // Egress: a NAT gateway, not a load balancer outbound rule. An internal load balancer
    // (network.public: false) cannot give outbound access at all, so a NAT gateway is the one
    // design that works for both; it also has far more SNAT ports and leaves the VIP inbound
    // only. A NAT gateway is zonal: "one-per-zone" gives each worker zone its own, so losing
    // zone 1 does not cut WK2's egress; "single" puts one in zone 1 for both subnets.
    const natCount = cfg.network.natGateways === "one-per-zone" ? 2 : 1;
    const natGateways = AZURE_WORKER_ZONES.slice(0, natCount).map((zone) => {
        const ip = new network.PublicIPAddress(
            `${name}-nat-${zone}`,
            {
                resourceGroupName,
                location,
                sku: { name: "Standard", tier: "Regional" },
                publicIPAllocationMethod: "Static",
                publicIPAddressVersion: "IPv4",
                zones: [zone],
                tags,
            },
            opts,
        );
        return new network.NatGateway(
            `${name}-nat-${zone}`,
            { resourceGroupName, location, sku: { name: "Standard" }, zones: [zone], publicIpAddresses: [{ id: ip.id }], tags },
            opts,
        );
    });

    // Standalone subnets, the VNet's own `subnets` left unset: a VNet update without `subnets`
    // keeps them (Azure API 2023-11-01 and later; pulumi-azure-native#611). Never list them inline too.
    const subnets = networkPlan.privateSubnets.map(
        (cidr, i) =>
            new network.Subnet(
                `${name}-workers-${AZURE_WORKER_ZONES[i]}`,
                {
                    resourceGroupName,
                    virtualNetworkName: vnet.name,
                    subnetName: `workers-zone${AZURE_WORKER_ZONES[i]}`,
                    addressPrefix: cidr,
                    networkSecurityGroup: { id: nsg.id },
                    natGateway: { id: natGateways[Math.min(i, natCount - 1)].id },
                    // Private subnet: egress only through the NAT gateway, never Azure's implicit default.
                    defaultOutboundAccess: false,
                },
                opts,
            ),
    );
    return { natGateways, subnets };
}

/** The parts of a VNet's ARM id: `/subscriptions/<s>/resourceGroups/<g>/providers/Microsoft.Network/virtualNetworks/<v>`. */
export function parseAzureVirtualNetworkId(id: string): { resourceGroupName: string; virtualNetworkName: string } | undefined {
    const match = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/virtualNetworks\/([^/]+)$/i.exec(id);
    return match ? { resourceGroupName: match[1], virtualNetworkName: match[2] } : undefined;
}

/** The parts of a subnet's ARM id: its VNet's id, then `/subnets/<n>`. */
export function parseAzureSubnetId(id: string): { resourceGroupName: string; virtualNetworkName: string; subnetName: string } | undefined {
    const match = /^(.+)\/subnets\/([^/]+)$/i.exec(id);
    const vnet = match ? parseAzureVirtualNetworkId(match[1]) : undefined;
    return vnet ? { ...vnet, subnetName: match![2] } : undefined;
}

/**
 * An existing VNet (`network.existing`): nothing of the network is created. Each subnet is looked
 * up (getSubnet) and must be in the VNet with the CIDR the config gives; the NICs and endpoints
 * take its id only once that holds, so a wrong one fails the preview by key.
 */
function joinExistingNetwork(ctx: AzureGroupContext, existing: ExistingNetworkConfig): AzureNetwork {
    const { cfg, opts } = ctx;
    const virtualNetworkId = pulumi.output(existing.virtualNetworkId!).apply((id) => {
        const parts = parseAzureVirtualNetworkId(id);
        if (!parts) throw new ConfigValidationError([{ key: `${PROJECT}:network.existing.virtualNetworkId`, message: `"${id}" is not a virtual network's resource id` }]);
        return network.getVirtualNetworkOutput(parts, opts).apply((found) => {
            const prefixes = found.addressSpace?.addressPrefixes ?? [];
            if (!prefixes.includes(cfg.network.cidr)) {
                throw new ConfigValidationError([
                    {
                        key: `${PROJECT}:network.cidr`,
                        message: `"${cfg.network.cidr}" is not an address space of VNet ${parts.virtualNetworkName} (it has ${prefixes.join(", ")}): set the VNet's own CIDR`,
                    },
                ]);
            }
            return id;
        });
    });
    const checked = (key: string, given: ExistingSubnetConfig) =>
        pulumi.all([pulumi.output(given.id), virtualNetworkId]).apply(([id, vnetId]) => {
            const parts = parseAzureSubnetId(id);
            if (!parts || !id.toLowerCase().startsWith(`${vnetId.toLowerCase()}/subnets/`)) {
                throw new ConfigValidationError([
                    { key: `${PROJECT}:network.existing.${key}.id`, message: `"${id}" is not a subnet of network.existing.virtualNetworkId (${vnetId})` },
                ]);
            }
            return network.getSubnetOutput(parts, opts).apply((found) => {
                if (found.addressPrefix !== given.cidr) {
                    throw new ConfigValidationError([
                        {
                            key: `${PROJECT}:network.existing.${key}.cidr`,
                            message: `"${given.cidr}" is not subnet ${parts.subnetName}'s CIDR (${found.addressPrefix}): set the subnet's own CIDR`,
                        },
                    ]);
                }
                return id;
            });
        });
    return {
        virtualNetworkId,
        workerSubnetIds: existing.workerSubnets.map((given, i) => checked(`workerSubnets[${i}]`, given)),
        privateEndpointSubnetId: checked("privateEndpointSubnet", existing.privateEndpointSubnet!),
    };
}

// --- load balancer (the VIP) ---------------------------------------------------------
function createPublicVip(ctx: AzureGroupContext): network.PublicIPAddress | undefined {
    const { name, cfg, opts, tags, location, resourceGroupName, floating } = ctx;
    return cfg.network.public
        ? new network.PublicIPAddress(
              `${name}-vip`,
              {
                  resourceGroupName,
                  location,
                  sku: { name: "Standard", tier: "Regional" },
                  publicIPAllocationMethod: "Static",
                  publicIPAddressVersion: "IPv4",
                  // Zone-redundant: the VIP survives the loss of any one zone.
                  zones: [...AZURE_ZONE_REDUNDANT],
                  // On a NIC (floating IP) the Public IP itself drops idle flows: 4-30 minutes.
                  idleTimeoutInMinutes: floating ? cfg.failover.idleTimeoutSeconds / 60 : undefined,
                  tags,
              },
              opts,
          )
        : undefined;
}

function createLoadBalancer(
    ctx: AzureGroupContext,
    subscriptionId: pulumi.Output<string>,
    workerSubnetIds: pulumi.Output<string>[],
    vipIp: network.PublicIPAddress | undefined,
): AzureLoadBalancerResult {
    const { name, cfg, opts, tags, location, resourceGroupName, floating, activeActive, networkPlan } = ctx;
    // Frontend, pool, probes and rules are declared inline; rules reference them by ARM id,
    // which must be built by hand from the fixed LB name and the subscription. Never mix with
    // the standalone pool/rule resources: they would overwrite each other.
    const lbName = azureLoadBalancerName(name);
    const lbId = pulumi.interpolate`/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/Microsoft.Network/loadBalancers/${lbName}`;
    const frontendId = pulumi.interpolate`${lbId}/frontendIPConfigurations/${AZURE_LB_PARTS.frontend}`;
    const poolId = pulumi.interpolate`${lbId}/backendAddressPools/${AZURE_LB_PARTS.pool}`;
    const probeId = (check: HealthCheck) => pulumi.interpolate`${lbId}/probes/${AZURE_LB_PARTS.probe[check.kind]}`;

    const checks: HealthCheck[] = [ROLE_PROBE, ...(activeActive ? [iguanaHealth(cfg.iguana)] : [])];
    const lbRule = (ruleName: string, port: number, check: HealthCheck, idleTimeoutInMinutes?: number): networkInputs.LoadBalancingRuleArgs => ({
        name: ruleName,
        protocol: "Tcp",
        frontendPort: port,
        backendPort: port,
        frontendIPConfiguration: { id: frontendId },
        // Only backendAddressPool: Azure rejects rules that also set backendAddressPools.
        backendAddressPool: { id: poolId },
        probe: { id: probeId(check) },
        idleTimeoutInMinutes,
        // Idle flows get a RST both ways instead of a silent drop: MLLP senders reconnect at once.
        enableTcpReset: true,
        // Egress goes through the NAT gateways, never through the VIP.
        disableOutboundSnat: true,
        enableFloatingIP: false,
        loadDistribution: "Default",
    });
    const loadBalancer = floating
        ? undefined
        : new network.LoadBalancer(
              `${name}-lb`,
              {
                  resourceGroupName,
                  location,
                  loadBalancerName: lbName,
                  sku: { name: "Standard", tier: "Regional" },
                  frontendIPConfigurations: [
                      vipIp
                          ? { name: AZURE_LB_PARTS.frontend, publicIPAddress: { id: vipIp.id } }
                          : {
                                name: AZURE_LB_PARTS.frontend,
                                subnet: { id: workerSubnetIds[0] },
                                privateIPAllocationMethod: "Static",
                                privateIPAddress: networkPlan.internalVipIps[0],
                                zones: [...AZURE_ZONE_REDUNDANT],
                            },
                  ],
                  backendAddressPools: [{ name: AZURE_LB_PARTS.pool }],
                  probes: checks.map((check) => azureProbe(check, cfg)),
                  loadBalancingRules: [
                      ...cfg.channels.map((channel) => lbRule(azureRuleName(channel), channel.port, healthCheckFor(channel, cfg.iguana), cfg.failover.idleTimeoutSeconds / 60)),
                      // The dashboard follows the active worker, like active-passive channels.
                      lbRule(AZURE_LB_PARTS.dashboardRule, cfg.iguana.webPort, ROLE_PROBE),
                  ],
                  tags,
              },
              opts,
          );
    return { loadBalancer, poolId };
}

// --- dedicated hosts -----------------------------------------------------------------
// A host group lives in one zone, so one group (one fault domain) and one host per zone.
function createDedicatedHosts(ctx: AzureGroupContext): compute.DedicatedHost[] | undefined {
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

// --- the admin password ----------------------------------------------------------------
// In a Key Vault with RBAC: each VM's identity gets "Key Vault Secrets User" on this vault
// only, and the workers read the password at boot. It never enters custom data.
function createSecrets(ctx: AzureGroupContext, clientConfig: pulumi.Output<authorization.GetClientConfigResult>): AzureSecrets {
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

// --- storage endpoints ------------------------------------------------------------------
// The storage accounts have no public endpoint: the workers reach them through private
// endpoints in a small subnet of their own, whose NSG (applied to the endpoints:
// privateEndpointNetworkPolicies Enabled) admits the two workers only: HTTPS to the lease
// blob, and with shared storage NFS to the share.
function createStorageEndpoints(ctx: AzureGroupContext, vnet: network.VirtualNetwork, subnets: network.Subnet[]): network.Subnet {
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
                    description: "HTTPS to the lease blob's private endpoint from the two workers only",
                    priority: 110,
                    access: "Allow",
                    protocol: "Tcp",
                    sourceAddressPrefixes: workerHosts,
                    destinationAddressPrefix: "*",
                    destinationPortRange: String(HTTPS_PORT),
                }),
                inboundRule({
                    name: "deny-other-vnet-inbound",
                    description: "Nothing else from the VNet, peered networks or on-premises",
                    priority: AZURE_NSG_PRIORITY.denyOtherVnetInbound,
                    access: "Deny",
                    protocol: "*",
                    sourceAddressPrefix: "VirtualNetwork",
                    destinationAddressPrefix: "*",
                    destinationPortRange: "*",
                }),
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

// --- the lease (docs/lease.md) ----------------------------------------------------------
// One blob decides which worker is active. A zone-redundant StorageV2 account of its own:
// Entra ID only (no account keys, no SAS), TLS 1.2 and HTTPS only, no public network
// access: a private endpoint (and the blob private DNS zone) is the only way in. It holds no
// data, so it lives and dies with the cluster's resource group.
function createLease(
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
            kind: "StorageV2",
            sku: { name: "Standard_ZRS" },
            accessTier: "Hot",
            enableHttpsTrafficOnly: true,
            minimumTlsVersion: "TLS1_2",
            publicNetworkAccess: "Disabled",
            networkRuleSet: { defaultAction: "Deny", bypass: "None" },
            allowBlobPublicAccess: false,
            allowSharedKeyAccess: false,
            defaultToOAuthAuthentication: true,
            encryption: { keySource: "Microsoft.Storage", services: { blob: { enabled: true, keyType: "Account" } } },
            tags: { ...tags, holds: HOLDS_LEASE },
        },
        opts,
    );
    const leaseContainer = new storage.BlobContainer(
        `${name}-lease`,
        { resourceGroupName, accountName: leaseAccount.name, containerName: AZURE_LEASE_CONTAINER, publicAccess: "None" },
        opts,
    );
    const blobZone = new privatedns.PrivateZone(`${name}-blob-dns`, { resourceGroupName, location: "global", privateZoneName: AZURE_BLOB_PRIVATE_DNS_ZONE, tags }, opts);
    new privatedns.VirtualNetworkLink(
        `${name}-blob-dns`,
        { resourceGroupName, location: "global", privateZoneName: blobZone.name, virtualNetwork: { id: virtualNetworkId }, registrationEnabled: false, tags },
        opts,
    );
    const leaseEndpoint = new network.PrivateEndpoint(
        `${name}-lease-pe`,
        {
            resourceGroupName,
            location,
            subnet: { id: storageEndpoints },
            privateLinkServiceConnections: [{ name: "blob", privateLinkServiceId: leaseAccount.id, groupIds: ["blob"] }],
            tags,
        },
        opts,
    );
    const leaseDns = new network.PrivateDnsZoneGroup(
        `${name}-lease-pe`,
        {
            resourceGroupName,
            privateEndpointName: leaseEndpoint.name,
            privateDnsZoneGroupName: "blob",
            privateDnsZoneConfigs: [{ name: "blob", privateDnsZoneId: blobZone.id }],
        },
        opts,
    );
    return { leaseAccount, leaseContainer, leaseDns };
}

// --- shared storage (storage.queueRecovery: shared) ------------------------------------
// A premium FileStorage account with one NFS 4.1 share for Iguana's working directory,
// reached through its private endpoint beside the lease's.
function createSharedShare(
    ctx: AzureGroupContext,
    clientConfig: pulumi.Output<authorization.GetClientConfigResult>,
    virtualNetworkId: pulumi.Output<string>,
    storageEndpoints: pulumi.Output<string>,
): AzureSharedShare {
    const { name, cfg, opts, tags, location, resourceGroupName, dataGroup, keep } = ctx;
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
    const zone = new privatedns.PrivateZone(`${name}-file-dns`, { resourceGroupName, location: "global", privateZoneName: AZURE_FILE_PRIVATE_DNS_ZONE, tags }, opts);
    new privatedns.VirtualNetworkLink(
        `${name}-file-dns`,
        { resourceGroupName, location: "global", privateZoneName: zone.name, virtualNetwork: { id: virtualNetworkId }, registrationEnabled: false, tags },
        opts,
    );
    const endpoint = new network.PrivateEndpoint(
        `${name}-shared-pe`,
        {
            resourceGroupName,
            location,
            subnet: { id: storageEndpoints },
            privateLinkServiceConnections: [{ name: "file", privateLinkServiceId: account.id, groupIds: ["file"] }],
            tags,
        },
        opts,
    );
    new network.PrivateDnsZoneGroup(
        `${name}-shared-pe`,
        {
            resourceGroupName,
            privateEndpointName: endpoint.name,
            privateDnsZoneGroupName: "file",
            privateDnsZoneConfigs: [{ name: "file", privateDnsZoneId: zone.id }],
        },
        opts,
    );
    return { account, share, zone, endpoint, accountName };
}

/** A worker's queue disk (none with `storage.queueRecovery: shared`). */
function createDataDisk(ctx: AzureGroupContext, plan: WorkerPlan): compute.Disk {
    const { name, cfg, tags, location, dataGroup, keep } = ctx;
    const zone = AZURE_WORKER_ZONES[plan.index];
    const workerTags = { ...tags, role: plan.role, worker: plan.name };
    return new compute.Disk(
        `${name}-${plan.name}-data`,
        {
            resourceGroupName: dataGroup.name,
            location,
            zones: [zone],
            sku: { name: AZURE_DISK_SKU },
            diskSizeGB: cfg.workers.dataDiskGb,
            creationData: { createOption: "Empty" },
            encryption: { type: "EncryptionAtRestWithPlatformKey" },
            // No SAS export or import of the queue disk, from anywhere.
            networkAccessPolicy: "DenyAll",
            publicNetworkAccess: "Disabled",
            tags: workerTags,
        },
        keep,
    );
}

// --- workers -------------------------------------------------------------------------
function createWorkerNics(
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
interface AzureWorkerVmInputs {
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
    leaseDns: network.PrivateDnsZoneGroup;
    subscriptionId: pulumi.Output<string>;
}

function createWorkerVm(ctx: AzureGroupContext, inputs: AzureWorkerVmInputs): compute.VirtualMachine {
    const { name, cfg, parent, tags, location, resourceGroupName, floating, workerPlans, size } = ctx;
    const { plan, nic, disk, nics, hosts, shared, vipIp, vault, leaseAccount, leaseDns, subscriptionId } = inputs;
    const sshPublicKey = placeholderSshPublicKey();
    const zone = AZURE_WORKER_ZONES[plan.index];
    const workerTags = { ...tags, role: plan.role, worker: plan.name };
    const peer = workerPlans[1 - plan.index];
    const sharedAccount = shared ? shared.accountName : pulumi.output("");
    const vipIds = vipIp && floating ? pulumi.all([vipIp.id, nic.id, nics[peer.index].id]) : undefined;
    const customData = pulumi
        .all([vault.name, sharedAccount, vipIds, leaseAccount.name, subscriptionId, resourceGroupName, resolveInstaller(cfg.iguana)])
        .apply(([vaultName, accountName, ids, leaseAccountName, subscription, groupName, installer]) =>
            Buffer.from(
                renderCloudInit(
                    bootstrapSettings({ ...cfg, iguana: { ...cfg.iguana, ...installer } }, plan, peer, {
                        dataDisk: shared
                            ? { kind: "azure-nfs", host: `${accountName}.file.core.windows.net`, exportPath: `/${accountName}/${AZURE_SHARE_NAME}` }
                            : { kind: "azure-lun", lun: AZURE_DATA_DISK_LUN },
                        adminPassword: { kind: "azure-key-vault", vaultName, secretName: AZURE_ADMIN_SECRET_NAME },
                        vip: ids ? { kind: "azure-public-ip", publicIpId: ids[0], selfNicId: ids[1], peerNicId: ids[2], ipConfigName: AZURE_IP_CONFIG_NAME } : undefined,
                        lease: azureLeaseLocator(leaseAccountName, name),
                        peerFence: shared ? azurePeerFence(azureVmId(subscription, groupName, azureWorkerVmName(name, peer))) : undefined,
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
            securityProfile: cfg.workers.encryptionAtHost ? { encryptionAtHost: true } : undefined,
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
                osDisk: { createOption: "FromImage", caching: "ReadWrite", deleteOption: "Delete", managedDisk: { storageAccountType: AZURE_DISK_SKU } },
                // No attachment resource on Azure: the VM itself attaches the disk.
                dataDisks: disk ? [{ lun: AZURE_DATA_DISK_LUN, createOption: "Attach", managedDisk: { id: disk.id }, caching: "None", deleteOption: "Detach" }] : [],
            },
            diagnosticsProfile: { bootDiagnostics: { enabled: true } },
            tags: workerTags,
        },
        {
            parent,
            // A newer image must not replace both workers at once: rebuild one at a time, on
            // purpose. The SSH key is regenerated on every run (see placeholderSshPublicKey).
            ignoreChanges: ["storageProfile.imageReference", "osProfile.linuxConfiguration.ssh.publicKeys"],
            // The lease (and the share) must be reachable, endpoint and DNS, when the worker boots.
            dependsOn: [leaseDns, ...(shared ? [shared.share, shared.endpoint] : [])],
        },
    );
}

/** A worker's own access: read the admin password, write the lease. */
function grantWorkerAccess(
    ctx: AzureGroupContext,
    plan: WorkerPlan,
    vm: compute.VirtualMachine,
    clientConfig: pulumi.Output<authorization.GetClientConfigResult>,
    vault: keyvault.Vault,
    leaseContainer: storage.BlobContainer,
): void {
    const { name, opts } = ctx;
    new authorization.RoleAssignment(
        `${name}-${plan.name}-reads-secrets`,
        {
            principalId: vm.identity.apply((identity) => identity!.principalId),
            principalType: "ServicePrincipal",
            roleDefinitionId: pulumi.interpolate`/subscriptions/${clientConfig.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER_ROLE}`,
            scope: vault.id,
        },
        opts,
    );
    // The lease container only: not the account, whose other containers (none) stay closed.
    new authorization.RoleAssignment(
        `${name}-${plan.name}-writes-lease`,
        {
            principalId: vm.identity.apply((identity) => identity!.principalId),
            principalType: "ServicePrincipal",
            roleDefinitionId: pulumi.interpolate`/subscriptions/${clientConfig.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${STORAGE_BLOB_DATA_CONTRIBUTOR_ROLE}`,
            scope: leaseContainer.id,
        },
        opts,
    );
}

// --- who may stop whom (storage.queueRecovery: shared) -----------------------------------
// A new lease holder powers off the previous one before it starts Iguana on the shared
// queue: each worker may read and power off its peer's VM, and no other.
function grantPeerFencing(ctx: AzureGroupContext, workers: AzureWorker[]): void {
    const { name, opts, group, resourceGroupName } = ctx;
    const fencer = new authorization.RoleDefinition(
        `${name}-peer-fencer`,
        {
            scope: group.id,
            roleName: pulumi.interpolate`iguana-ha peer fencer (${resourceGroupName})`,
            description: "Reads and powers off the other worker VM of one cluster, nothing else",
            roleType: "CustomRole",
            permissions: [{ actions: [...PEER_FENCE_ACTIONS], notActions: [] }],
            assignableScopes: [group.id],
        },
        opts,
    );
    for (const { plan, vm } of workers) {
        new authorization.RoleAssignment(
            `${name}-${plan.name}-fences-peer`,
            {
                principalId: vm.identity.apply((identity) => identity!.principalId),
                principalType: "ServicePrincipal",
                roleDefinitionId: fencer.id,
                scope: workers[1 - plan.index].vm.id,
            },
            opts,
        );
    }
}

// --- who may move the floating VIP (failover.strategy: floating-ip) ------------------------
function grantVipMoving(
    ctx: AzureGroupContext,
    workers: AzureWorker[],
    vipIp: network.PublicIPAddress,
    nics: network.NetworkInterface[],
    subnetIds: pulumi.Output<string>[],
): void {
    const { name, opts, group, resourceGroupName, workerPlans } = ctx;
    const mover = new authorization.RoleDefinition(
        `${name}-vip-mover`,
        {
            scope: group.id,
            roleName: pulumi.interpolate`iguana-ha VIP mover (${resourceGroupName})`,
            description: "Moves one cluster's floating Public IP between its two worker NICs, nothing else",
            roleType: "CustomRole",
            permissions: [{ actions: [...VIP_MOVER_ACTIONS], notActions: [] }],
            assignableScopes: [group.id],
        },
        opts,
    );
    const scopes: [string, pulumi.Output<string>][] = [
        ["vip", vipIp.id],
        ...nics.map((nic, i): [string, pulumi.Output<string>] => [`${workerPlans[i].name}-nic`, nic.id]),
        ...subnetIds.map((subnetId, i): [string, pulumi.Output<string>] => [`subnet-${AZURE_WORKER_ZONES[i]}`, subnetId]),
    ];
    for (const { plan, vm } of workers) {
        for (const [what, scope] of scopes) {
            new authorization.RoleAssignment(
                `${name}-${plan.name}-moves-vip-on-${what}`,
                {
                    principalId: vm.identity.apply((identity) => identity!.principalId),
                    principalType: "ServicePrincipal",
                    roleDefinitionId: mover.id,
                    scope,
                },
                opts,
            );
        }
    }
}
