/** Step 1, the network: a VPC over two zones with public and worker subnets and NAT gateways, or an existing VPC's subnets. */
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import { ExistingNetworkConfig } from "../config";
import { AwsContext, ZONE_SUFFIX } from "./context";

export interface AwsNetwork {
    /** Created, or none with `network.existing`. */
    vpc?: ec2.Vpc;
    vpcId: pulumi.Output<string>;
    /** What the NLBs wait for: the Internet gateway the cluster created (none in an existing network). */
    internetGateway: pulumi.Resource[];
    /** The load balancer's subnets; none with `failover.strategy: floating-ip`. */
    publicSubnetIds: pulumi.Output<string>[];
    /** The workers' subnets, WK1's zone first (public with `failover.strategy: floating-ip`). */
    workerSubnetIds: pulumi.Output<string>[];
    /** The created worker subnets (none with `network.existing`). */
    privateSubnets: ec2.Subnet[];
    /** NAT gateways the cluster created; an existing network counts as two (its routes are the owner's). */
    natCount: number;
    workerRouteTableIds: pulumi.Input<pulumi.Input<string>[]>;
}

// --- network -------------------------------------------------------------------------
export function createNetwork(ctx: AwsContext): AwsNetwork {
    if (ctx.cfg.network.existing) return joinExistingNetwork(ctx, ctx.cfg.network.existing);
    const { name, cfg, parent, opts, tags, network, floating, zones } = ctx;
    const vpcResource = new ec2.Vpc(`${name}-vpc`, { cidrBlock: network.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { ...tags, Name: `${name}-vpc` } }, opts);
    const igw = new ec2.InternetGateway(`${name}-igw`, { vpcId: vpcResource.id, tags }, opts);

    const publicRoutes = new ec2.RouteTable(`${name}-public-rt`, { vpcId: vpcResource.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags }, opts);
    const publicSubnets = (floating ? [] : network.publicSubnets).map((cidr, i) => {
        const subnet = new ec2.Subnet(
            `${name}-public-${ZONE_SUFFIX[i]}`,
            {
                vpcId: vpcResource.id,
                cidrBlock: cidr,
                availabilityZone: zones[i],
                mapPublicIpOnLaunch: false,
                tags: { ...tags, Name: `${name}-public-${ZONE_SUFFIX[i]}`, tier: "public" },
            },
            opts,
        );
        new ec2.RouteTableAssociation(`${name}-public-${ZONE_SUFFIX[i]}`, { subnetId: subnet.id, routeTableId: publicRoutes.id }, opts);
        return subnet;
    });

    // One NAT gateway per zone keeps each zone's egress alive when the other zone fails.
    const natCount = floating ? 0 : cfg.network.natGateways === "one-per-zone" ? 2 : 1;
    const natGateways = publicSubnets.slice(0, natCount).map((subnet, i) => {
        const eip = new ec2.Eip(`${name}-nat-${ZONE_SUFFIX[i]}`, { domain: "vpc", tags }, opts);
        return new ec2.NatGateway(`${name}-nat-${ZONE_SUFFIX[i]}`, { subnetId: subnet.id, allocationId: eip.allocationId, tags }, { parent, dependsOn: [igw] });
    });

    const privateRoutes = floating
        ? []
        : network.privateSubnets.map(
              (_, i) =>
                  new ec2.RouteTable(
                      `${name}-private-${ZONE_SUFFIX[i]}-rt`,
                      { vpcId: vpcResource.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: natGateways[Math.min(i, natCount - 1)].id }], tags },
                      opts,
                  ),
          );
    const workerRouteTables = floating ? [publicRoutes] : privateRoutes;

    // The workers' subnets: private behind the NAT gateways, or (floating IP) public, because an
    // Elastic IP only answers on an instance whose subnet routes to the Internet gateway.
    const workerTier = floating ? "workers" : "private";
    const privateSubnets = network.privateSubnets.map((cidr, i) => {
        const subnetName = `${name}-${workerTier}-${ZONE_SUFFIX[i]}`;
        const subnet = new ec2.Subnet(
            subnetName,
            {
                vpcId: vpcResource.id,
                cidrBlock: cidr,
                availabilityZone: zones[i],
                mapPublicIpOnLaunch: false,
                tags: { ...tags, Name: subnetName, tier: floating ? "public" : "private" },
            },
            opts,
        );
        if (floating) {
            new ec2.RouteTableAssociation(subnetName, { subnetId: subnet.id, routeTableId: publicRoutes.id }, opts);
            return subnet;
        }
        new ec2.RouteTableAssociation(`${name}-private-${ZONE_SUFFIX[i]}`, { subnetId: subnet.id, routeTableId: privateRoutes[i].id }, opts);
        return subnet;
    });
    return {
        vpc: vpcResource,
        vpcId: vpcResource.id,
        internetGateway: [igw],
        publicSubnetIds: publicSubnets.map((s) => s.id),
        workerSubnetIds: privateSubnets.map((s) => s.id),
        privateSubnets,
        natCount,
        workerRouteTableIds: workerRouteTables.map((table) => table.id),
    };
}

/**
 * An existing VPC (`network.existing`): nothing of the network is created. The lease's gateway
 * endpoint goes on the worker subnets' own route tables, looked up per subnet.
 */
export function joinExistingNetwork(ctx: AwsContext, existing: ExistingNetworkConfig): AwsNetwork {
    const { cfg, opts, floating } = ctx;
    const workerSubnetIds = existing.workerSubnets.map((subnet) => pulumi.output(subnet.id));
    const routeTables = workerSubnetIds.map((subnetId) => ec2.getRouteTableOutput({ subnetId }, opts).routeTableId);
    return {
        vpcId: pulumi.output(existing.vpcId!),
        internetGateway: [],
        publicSubnetIds: floating || !cfg.network.public ? [] : (existing.loadBalancerSubnets ?? []).map((subnet) => pulumi.output(subnet.id)),
        workerSubnetIds,
        privateSubnets: [],
        natCount: 2,
        workerRouteTableIds: pulumi.all(routeTables).apply((ids) => [...new Set(ids)]),
    };
}
