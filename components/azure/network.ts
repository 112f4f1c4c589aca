/** Step 1, the network: a VNet with one worker subnet and NAT gateway per zone, or an existing VNet's subnets, checked against ARM. */
import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import { ConfigValidationError, ExistingNetworkConfig, ExistingSubnetConfig } from "../config";
import { PROJECT, AZURE_WORKER_ZONES } from "../constants";
import { AzureGroupContext } from "./context";

export interface AzureNetwork {
    virtualNetworkId: pulumi.Output<string>;
    /** WK1's first; in an existing network each resolves only after its subnet was checked. */
    workerSubnetIds: pulumi.Output<string>[];
    /** Where the storage private endpoints go: given in an existing network, else created (createStorageEndpoints). */
    privateEndpointSubnetId?: pulumi.Output<string>;
}

export interface AzureWorkerSubnets {
    natGateways: network.NatGateway[];
    subnets: network.Subnet[];
}

// --- network -------------------------------------------------------------------------
// The VNet takes all of network.cidr; the workers use the model's two private quarters,
// one subnet per zone (a VNet subnet spans zones, but NAT gateways are zonal: one subnet
// per zone gives each zone its own egress). The public quarters stay free: an Azure load
// balancer frontend lives in no subnet.
export function createVirtualNetwork(ctx: AzureGroupContext): network.VirtualNetwork {
    const { name, opts, tags, location, resourceGroupName, networkPlan } = ctx;
    return new network.VirtualNetwork(`${name}-vnet`, { resourceGroupName, location, addressSpace: { addressPrefixes: [networkPlan.vpcCidr] }, tags }, opts);
}

export function createWorkerSubnets(ctx: AzureGroupContext, vnet: network.VirtualNetwork, nsg: network.NetworkSecurityGroup): AzureWorkerSubnets {
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
export function joinExistingNetwork(ctx: AzureGroupContext, existing: ExistingNetworkConfig): AzureNetwork {
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
