/** What every step of the AWS cluster shares: name, config, tags, the network plan, the zones (checked against the provider's region). */
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as vpc from "@pulumi/aws/vpc";
import { getAvailabilityZonesOutput } from "@pulumi/aws/getAvailabilityZones";
import { getPartitionOutput } from "@pulumi/aws/getPartition";
import { getRegionOutput } from "@pulumi/aws/getRegion";
import { ClusterConfig, ConfigProblem, ConfigValidationError, ExistingNetworkConfig } from "../config";
import { PROJECT } from "../constants";
import { ClusterPlan, NetworkPlan, StepContext } from "../model";

export const ZONE_SUFFIX = ["a", "b"] as const;

/** Internal. Exported for testing. */
export function providerRegionMismatch(configured: string, actual: string): string {
    return `region: the cluster is configured for ${configured} (aws:region, or region in HaIguanaCluster's config) but its AWS provider deploys to ${actual}: set the one region in both`;
}

/** What every step of `createAwsCluster` shares: the cluster's name, config and placement. */
export interface AwsContext extends StepContext {
    network: NetworkPlan;
    /** `storage.queueRecovery: shared`. */
    shared: boolean;
    zones: pulumi.Output<[string, string]>;
    partition: pulumi.Output<string>;
    /** The provider's region (the config's, when it names one, must equal it). */
    region: pulumi.Output<string>;
}

export function awsContext(plan: ClusterPlan, cfg: ClusterConfig, parent: pulumi.Resource): AwsContext {
    // No load balancer: the workers sit in public subnets, each with its own public address for
    // egress, and the MASTER takes the one Elastic IP senders use (see moveVipPolicy).
    const { name, floating, shared, tags, network } = plan;
    const opts = { parent };

    // The region the checks ran for (zones, quotas) and that the policies and endpoints name must
    // be the one the resources land in: the provider's, which a library user may set apart.
    const providerRegion = getRegionOutput({}, opts).region;
    // A region the config names is known now: the resources register in the same order every run.
    const region = cfg.region !== undefined ? pulumi.output(cfg.region) : providerRegion;
    const available = getAvailabilityZonesOutput({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] }, opts);
    const existing = cfg.network.existing;
    const zones = pulumi.all([providerRegion, available, existing ? existingSubnetZones(cfg, existing, opts) : undefined]).apply(([actual, result, existingZones]) => {
        if (cfg.region !== undefined && actual !== cfg.region) throw new pulumi.ResourceError(providerRegionMismatch(cfg.region, actual), parent, true);
        if (existingZones) return existingZones;
        if (result.names.length < 2) {
            throw new pulumi.ResourceError(`region ${actual} offers ${result.names.length} availability zone(s); the cluster needs two: pick another region`, parent, true);
        }
        return [result.names[0], result.names[1]] as [string, string];
    });
    const partition = getPartitionOutput({}, opts).partition;
    return { plan, name, cfg, parent, opts, tags, network, floating, shared, zones, partition, region };
}

export function ingressRule(ctx: AwsContext, ruleName: string, args: vpc.SecurityGroupIngressRuleArgs): vpc.SecurityGroupIngressRule {
    return new vpc.SecurityGroupIngressRule(`${ctx.name}-${ruleName}`, { ...args, tags: ctx.tags }, ctx.opts);
}

/**
 * The existing subnets' zones, once each is checked against what the config says of it (in the
 * VPC, with that CIDR) and the VPC against network.cidr: a wrong id fails the preview by name.
 */
export function existingSubnetZones(cfg: ClusterConfig, existing: ExistingNetworkConfig, opts: { parent: pulumi.Resource }): pulumi.Output<[string, string]> {
    const vpcFound = ec2.getVpcOutput({ id: existing.vpcId! }, opts);
    const listed = [
        ...existing.workerSubnets.map((s, i) => [`workerSubnets[${i}]`, s] as const),
        ...(existing.loadBalancerSubnets ?? []).map((s, i) => [`loadBalancerSubnets[${i}]`, s] as const),
    ];
    const found = listed.map(([, s]) => ec2.getSubnetOutput({ id: s.id }, opts));
    return pulumi.all([vpcFound, pulumi.all(found)]).apply(([vpcResult, subnets]) => {
        const problems: ConfigProblem[] = [];
        const vpcCidrs = [vpcResult.cidrBlock, ...(vpcResult.cidrBlockAssociations ?? []).map((a) => a.cidrBlock)];
        if (!vpcCidrs.includes(cfg.network.cidr)) {
            problems.push({
                key: `${PROJECT}:network.cidr`,
                message: `"${cfg.network.cidr}" is not a CIDR of VPC ${vpcResult.id} (it has ${vpcCidrs.join(", ")}): set the VPC's own CIDR`,
            });
        }
        subnets.forEach((subnet, i) => {
            const [key, given] = listed[i];
            if (subnet.vpcId !== vpcResult.id)
                problems.push({
                    key: `${PROJECT}:network.existing.${key}.id`,
                    message: `subnet ${subnet.id} is in VPC ${subnet.vpcId}, not in network.existing.vpcId (${vpcResult.id})`,
                });
            if (subnet.cidrBlock !== given.cidr)
                problems.push({
                    key: `${PROJECT}:network.existing.${key}.cidr`,
                    message: `"${given.cidr}" is not subnet ${subnet.id}'s CIDR (${subnet.cidrBlock}): set the subnet's own CIDR`,
                });
        });
        const zoneOf = (i: number) => subnets[i].availabilityZone;
        if (zoneOf(0) === zoneOf(1)) {
            problems.push({
                key: `${PROJECT}:network.existing.workerSubnets`,
                message: `both subnets are in ${zoneOf(0)}; the workers need two availability zones, so one zone's failure leaves the other worker`,
            });
        }
        const lbCount = existing.loadBalancerSubnets?.length ?? 0;
        for (let i = 0; i < lbCount; i++) {
            if (zoneOf(2 + i) !== zoneOf(i)) {
                problems.push({
                    key: `${PROJECT}:network.existing.loadBalancerSubnets[${i}].id`,
                    message: `is in ${zoneOf(2 + i)}, but workerSubnets[${i}] is in ${zoneOf(i)}: list them zone by zone`,
                });
            }
        }
        if (problems.length > 0) throw new ConfigValidationError(problems);
        return [zoneOf(0), zoneOf(1)] as [string, string];
    });
}
