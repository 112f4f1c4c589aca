/**
 * The AWS implementation of HaIguanaCluster: VPC over two zones, two encrypted EC2 workers,
 * a DynamoDB lease that decides which one is active, and a Network Load Balancer whose Elastic
 * IPs are the VIP; or, with `failover.strategy: floating-ip`, one Elastic IP that the active
 * worker moves to itself.
 */
import * as pulumi from "@pulumi/pulumi";
import * as dynamodb from "@pulumi/aws/dynamodb";
import * as ebs from "@pulumi/aws/ebs";
import * as ec2 from "@pulumi/aws/ec2";
import * as efs from "@pulumi/aws/efs";
import * as iam from "@pulumi/aws/iam";
import * as kms from "@pulumi/aws/kms";
import * as lb from "@pulumi/aws/lb";
import * as secretsmanager from "@pulumi/aws/secretsmanager";
import * as vpc from "@pulumi/aws/vpc";
import { getAvailabilityZonesOutput } from "@pulumi/aws/getAvailabilityZones";
import { getPartitionOutput } from "@pulumi/aws/getPartition";
import { getRegionOutput } from "@pulumi/aws/getRegion";
import { LeaseLocator, PeerFenceLocator, bootstrapSettings, renderCloudInit } from "../bootstrap";
import { PORT_BLOCK_SIZE, channelRuleGroups, internalVipOffset, shardChannels } from "./scale";
import { hostAddress, parseCidr } from "../cidr";
import { ClusterConfig, ConfigProblem, ConfigValidationError, ExistingNetworkConfig, resolveInstaller } from "../config";
import {
    AWS_DATA_DEVICE_NAME,
    AWS_LEASE_HASH_KEY,
    CANONICAL_AWS_OWNER,
    INTERNAL_VIP_HOST_OFFSET,
    HOLDS_LEASE,
    HTTPS_PORT,
    NFS_PORT,
    PROJECT,
    Protocol,
    ROLE_PROBE_PORT,
    ROOT_VOLUME_GB,
    UBUNTU_AMI_NAME,
} from "../constants";
import { createAdminPassword } from "../secrets";
import {
    ClusterOutputs,
    HealthCheck,
    NetworkPlan,
    ROLE_PROBE,
    WorkerPlan,
    baseTags,
    endpointsFor,
    endpointsForHosts,
    healthCheckFor,
    healthCheckTimeoutSeconds,
    leaseRecordKey,
    planNetwork,
    planWorkers,
} from "../model";

const ZONE_SUFFIX = ["a", "b"] as const;

/** Graviton families carry a `g` after the generation digit: m7g, c7gn, t4g, r8g. */
export function awsArchitecture(instanceType: string): "x86_64" | "arm64" {
    return /^[a-z]+\d+[a-z]*g[a-z]*\./.test(instanceType) ? "arm64" : "x86_64";
}

export function awsHealthCheck(check: HealthCheck, cfg: ClusterConfig): lb.TargetGroupArgs["healthCheck"] {
    const { healthCheckIntervalSeconds: interval, unhealthyThreshold } = cfg.failover;
    const common = {
        enabled: true,
        port: String(check.port),
        interval,
        timeout: healthCheckTimeoutSeconds(interval),
        // Set both explicitly: the provider's default (3) differs from the API's (2).
        healthyThreshold: unhealthyThreshold,
        unhealthyThreshold,
    };
    return check.protocol === "http" ? { ...common, protocol: "HTTP", path: check.path, matcher: "200" } : { ...common, protocol: "TCP" };
}

/** Read of the admin secret only; decrypt with the project key only through Secrets Manager. */
export function workerSecretPolicy(secretArn: pulumi.Input<string>, keyArn: pulumi.Input<string>, region: string): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            { Sid: "ReadAdminPassword", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: secretArn },
            {
                Sid: "DecryptThroughSecretsManager",
                Effect: "Allow",
                Action: "kms:Decrypt",
                Resource: keyArn,
                Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${region}.amazonaws.com` } },
            },
        ],
    });
}

/**
 * The shared file system's own policy: only the worker role may mount it (IAM authorisation,
 * `mount -t efs -o tls,iam`), write, and act as root (the mount script gives the working
 * directory to the iguana user), only through a mount target; and nobody without TLS.
 * A file system policy replaces EFS's default allow-all, so the allows are explicit.
 */
export function sharedFileSystemPolicy(fileSystemArn: pulumi.Input<string>, workerRoleArn: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "WorkersMountWriteAsRootThroughMountTargets",
                Effect: "Allow",
                Principal: { AWS: workerRoleArn },
                Action: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"],
                Resource: fileSystemArn,
                Condition: { Bool: { "elasticfilesystem:AccessedViaMountTarget": "true" } },
            },
            {
                Sid: "DenyWithoutTls",
                Effect: "Deny",
                Principal: { AWS: "*" },
                Action: "*",
                Resource: fileSystemArn,
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ],
    });
}

/**
 * What a worker may do to the floating VIP, and nothing more: move that one Elastic IP onto
 * either worker, take it off, and look it up (DescribeAddresses has no resource-level
 * permissions, so it cannot be narrowed further).
 */
export function moveVipPolicy(eipArn: pulumi.Input<string>, instanceArns: pulumi.Input<string>[]): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            { Sid: "MoveTheVipOntoAWorker", Effect: "Allow", Action: "ec2:AssociateAddress", Resource: [eipArn, ...instanceArns] },
            { Sid: "TakeTheVipOffAWorker", Effect: "Allow", Action: "ec2:DisassociateAddress", Resource: eipArn },
            { Sid: "FindWhoHoldsTheVip", Effect: "Allow", Action: "ec2:DescribeAddresses", Resource: "*" },
        ],
    });
}

/** Where a worker's lease guard finds the lease: the cluster's one item in its table. */
export function awsLeaseLocator(tableName: string, region: string, clusterName: string): Extract<LeaseLocator, { kind: "aws-dynamodb" }> {
    return { kind: "aws-dynamodb", tableName, region, itemKey: leaseRecordKey(clusterName) };
}

/** Shared mode: the new holder stops the previous one by the instance id written in the lease. */
export function awsPeerFence(region: string): Extract<PeerFenceLocator, { kind: "aws-ec2" }> {
    return { kind: "aws-ec2", region };
}

/**
 * What a worker may do to the lease, and nothing more: read and conditionally update the
 * cluster's one item (the guard never creates it with PutItem, never deletes it), and let
 * DynamoDB decrypt the table key with the project key on its behalf, for this table only.
 */
export function leaseTablePolicy(
    table: { arn: pulumi.Input<string>; name: pulumi.Input<string> },
    itemKey: string,
    keyArn: pulumi.Input<string>,
    region: string,
): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ReadAndRenewTheClusterLeaseItemOnly",
                Effect: "Allow",
                Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                Resource: table.arn,
                Condition: { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": [itemKey] } },
            },
            {
                // DynamoDB decrypts the table key as the caller: a customer-managed key needs the
                // caller's kms:Decrypt ("How Amazon DynamoDB uses AWS KMS", AWS KMS guide).
                Sid: "DecryptTheLeaseTableKeyThroughDynamoDB",
                Effect: "Allow",
                Action: "kms:Decrypt",
                Resource: keyArn,
                Condition: {
                    StringEquals: { "kms:ViaService": `dynamodb.${region}.amazonaws.com`, "kms:EncryptionContext:aws:dynamodb:tableName": table.name },
                },
            },
        ],
    });
}

/**
 * The workers' gateway endpoint carries every DynamoDB request of their route tables; its
 * policy admits the worker role's two lease calls on the lease table, and nothing else.
 */
export function leaseEndpointPolicy(tableArn: pulumi.Input<string>, workerRoleArn: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "WorkersReachTheLeaseTableOnly",
                Effect: "Allow",
                Principal: { AWS: workerRoleArn },
                Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                Resource: tableArn,
            },
        ],
    });
}

/**
 * Shared mode: a new lease holder stops the previous one before it starts Iguana on the shared
 * queue. StopInstances on the cluster's two workers only: named by ARN, because the `cluster`
 * tag (the component name) is the same in every stack of this program in an account, and
 * conditioned on that tag too. DescribeInstances (to see the peer stopped) has no
 * resource-level permissions.
 */
export function peerFencePolicy(instanceArns: pulumi.Input<string>[], clusterName: string): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "StopAWorkerOfThisCluster",
                Effect: "Allow",
                Action: "ec2:StopInstances",
                Resource: instanceArns,
                Condition: { StringEquals: { "aws:ResourceTag/cluster": clusterName } },
            },
            { Sid: "SeeWhetherThePeerStopped", Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*" },
        ],
    });
}

/** An AWS cluster's main resources, for a program that builds on it (`HaIguanaCluster.aws`). */
export interface AwsClusterResources {
    /** The VPC the cluster created; none with `network.existing`. */
    vpc?: ec2.Vpc;
    /** The VPC the workers are in: the created one's id, or `network.existing.vpcId`. */
    vpcId: pulumi.Output<string>;
    /** The two worker subnets the cluster created, WK1's zone first; none with `network.existing`. */
    privateSubnets: ec2.Subnet[];
    /** The two worker subnets' ids, created or existing, WK1's zone first. */
    workerSubnetIds: pulumi.Output<string>[];
    workerSecurityGroup: ec2.SecurityGroup;
    /** WK1, WK2. */
    instances: ec2.Instance[];
    /** Each worker's queue volume, WK1's first; none with `storage.queueRecovery: shared`. */
    dataVolumes: ebs.Volume[];
    /** The shared queue (`storage.queueRecovery: shared`). */
    sharedFileSystem?: efs.FileSystem;
    /** The project key: volumes, the shared file system, the secret, the lease table. */
    key: kms.Key;
    adminPassword: secretsmanager.Secret;
    leaseTable: dynamodb.Table;
    /** One NLB per block of 50 channel ports; none with `failover.strategy: floating-ip`. */
    loadBalancers: lb.LoadBalancer[];
    /** The Elastic IP the MASTER holds (`failover.strategy: floating-ip`). */
    floatingVip?: ec2.Eip;
}

/** Internal. Exported for testing. */
export function providerRegionMismatch(configured: string, actual: string): string {
    return `region: the cluster is configured for ${configured} (aws:region, or region in HaIguanaCluster's config) but its AWS provider deploys to ${actual}: set the one region in both`;
}

/** What every step of `createAwsCluster` shares: the cluster's name, config and placement. */
interface AwsContext {
    name: string;
    cfg: ClusterConfig;
    parent: pulumi.Resource;
    opts: { parent: pulumi.Resource };
    tags: Record<string, string>;
    network: NetworkPlan;
    /** `failover.strategy: floating-ip`. */
    floating: boolean;
    /** `storage.queueRecovery: shared`. */
    shared: boolean;
    zones: pulumi.Output<[string, string]>;
    partition: pulumi.Output<string>;
}

interface AwsNetwork {
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

interface AwsSecurityGroups {
    workerSg: ec2.SecurityGroup;
    channelSgs: ec2.SecurityGroup[];
}

interface AwsIdentity {
    /** The options of what holds the queue (and of the key that encrypts it). */
    keep: pulumi.CustomResourceOptions;
    key: kms.Key;
    role: iam.Role;
    profile: iam.InstanceProfile;
    secret: secretsmanager.Secret;
}

interface AwsSharedStorage {
    efsSg: ec2.SecurityGroup;
    fileSystem: efs.FileSystem;
    mountTargets: efs.MountTarget[];
}

interface AwsWorker {
    plan: WorkerPlan;
    instance: ec2.Instance;
    volume: ebs.Volume | undefined;
    userData: pulumi.Output<string>;
}

interface AwsLoadBalancing {
    loadBalancers: lb.LoadBalancer[];
    vip: pulumi.Output<string>;
    vipAddresses: pulumi.Output<string[]>;
    dashboardHost: pulumi.Output<string>;
    channelHosts: pulumi.Output<Record<string, string>>;
}

export function createAwsCluster(name: string, cfg: ClusterConfig, parent: pulumi.Resource): ClusterOutputs & { aws: AwsClusterResources } {
    const ctx = awsContext(name, cfg, parent);
    const net = createNetwork(ctx);
    const sgs = createSecurityGroups(ctx, net);
    const floatingVip = createFloatingVip(ctx, net, sgs);
    const identity = createIdentity(ctx);
    const leaseTable = createLease(ctx, net, identity);
    const sharedFs = createSharedStorage(ctx, net, sgs, identity);
    const workers = createWorkers(ctx, net, sgs, identity, leaseTable, sharedFs, floatingVip);
    const { zones } = ctx;

    const resourcesOf = (loadBalancers: lb.LoadBalancer[]): AwsClusterResources => ({
        vpc: net.vpc,
        vpcId: net.vpcId,
        privateSubnets: net.privateSubnets,
        workerSubnetIds: net.workerSubnetIds,
        workerSecurityGroup: sgs.workerSg,
        instances: workers.map((w) => w.instance),
        dataVolumes: workers.flatMap((w) => (w.volume ? [w.volume] : [])),
        sharedFileSystem: sharedFs?.fileSystem,
        key: identity.key,
        adminPassword: identity.secret,
        leaseTable,
        loadBalancers,
        floatingVip,
    });

    if (floatingVip) {
        const vip = floatingVip.publicIp;
        return { cloud: "aws", vip, vipAddresses: vip.apply((address) => [address]), ...endpointsFor(cfg, vip), workers: workerOutputs(workers, zones), aws: resourcesOf([]) };
    }

    const balancing = createLoadBalancers(ctx, net, workers);
    return {
        cloud: "aws",
        vip: balancing.vip,
        vipAddresses: balancing.vipAddresses,
        ...endpointsForHosts(cfg, balancing.dashboardHost, balancing.channelHosts),
        workers: workerOutputs(workers, zones),
        aws: resourcesOf(balancing.loadBalancers),
    };
}

function awsContext(name: string, cfg: ClusterConfig, parent: pulumi.Resource): AwsContext {
    // No load balancer: the workers sit in public subnets, each with its own public address for
    // egress, and the MASTER takes the one Elastic IP senders use (see moveVipPolicy).
    const floating = cfg.failover.strategy === "floating-ip";
    const opts = { parent };
    const tags = baseTags(cfg, name);
    const network = planNetwork(cfg.network.cidr, cfg.network.existing);

    // The region the checks ran for (zones, quotas) and that the policies and endpoints name must
    // be the one the resources land in: the provider's, which a library user may set apart.
    const providerRegion = getRegionOutput({}, opts).region;
    const available = getAvailabilityZonesOutput({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] }, opts);
    const existing = cfg.network.existing;
    const zones = pulumi.all([providerRegion, available, existing ? existingSubnetZones(cfg, existing, opts) : undefined]).apply(([actual, result, existingZones]) => {
        if (actual !== cfg.region) throw new pulumi.ResourceError(providerRegionMismatch(cfg.region, actual), parent, true);
        if (existingZones) return existingZones;
        if (result.names.length < 2) {
            throw new pulumi.ResourceError(`region ${cfg.region} offers ${result.names.length} availability zone(s); the cluster needs two: pick another region`, parent, true);
        }
        return [result.names[0], result.names[1]] as [string, string];
    });
    const partition = getPartitionOutput({}, opts).partition;
    const shared = cfg.storage.queueRecovery === "shared";
    return { name, cfg, parent, opts, tags, network, floating, shared, zones, partition };
}

function ingressRule(ctx: AwsContext, ruleName: string, args: vpc.SecurityGroupIngressRuleArgs): vpc.SecurityGroupIngressRule {
    return new vpc.SecurityGroupIngressRule(`${ctx.name}-${ruleName}`, { ...args, tags: ctx.tags }, ctx.opts);
}

// --- network -------------------------------------------------------------------------
function createNetwork(ctx: AwsContext): AwsNetwork {
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
function joinExistingNetwork(ctx: AwsContext, existing: ExistingNetworkConfig): AwsNetwork {
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

/**
 * The existing subnets' zones, once each is checked against what the config says of it (in the
 * VPC, with that CIDR) and the VPC against network.cidr: a wrong id fails the preview by name.
 */
function existingSubnetZones(cfg: ClusterConfig, existing: ExistingNetworkConfig, opts: { parent: pulumi.Resource }): pulumi.Output<[string, string]> {
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

// --- security groups -----------------------------------------------------------------
function createSecurityGroups(ctx: AwsContext, net: AwsNetwork): AwsSecurityGroups {
    const { name, cfg, opts, tags, network, floating } = ctx;
    const { vpcId } = net;
    // The NLB preserves client addresses, so workers see the senders' own IPs.
    const ingress = (ruleName: string, args: vpc.SecurityGroupIngressRuleArgs) => ingressRule(ctx, ruleName, args);
    const cidrSlug = (cidr: string) => cidr.replace(/[./]/g, "-");
    // The description still names VRRP, whose rule is gone (the lease decides who is active):
    // a security group's description cannot change without replacing the group.
    const workerSg = new ec2.SecurityGroup(
        `${name}-workers-sg`,
        { vpcId, description: "Iguana workers: dashboard, role probe, VRRP between workers; no SSH (use SSM)", tags },
        opts,
    );
    // Channel ports, grouped into contiguous ranges and split over groups of at most 60 rules.
    const channelSgs = channelRuleGroups(cfg.channels, cfg.network.allowedCidrs).map((rules, g) => {
        const sg = new ec2.SecurityGroup(
            g === 0 ? `${name}-channels-sg` : `${name}-channels-sg-${g + 1}`,
            { vpcId, description: "Iguana channel ports from the allowed sender networks", tags },
            opts,
        );
        for (const rule of rules) {
            const ports = rule.from === rule.to ? `${rule.from}` : `${rule.from}-${rule.to}`;
            ingress(`in-${ports}-${cidrSlug(rule.cidr)}`, {
                securityGroupId: sg.id,
                description: `Channel port(s) ${ports} from ${rule.cidr}`,
                ipProtocol: "tcp",
                fromPort: rule.from,
                toPort: rule.to,
                cidrIpv4: rule.cidr,
            });
        }
        return sg;
    });
    for (const cidr of cfg.network.adminCidrs) {
        ingress(`in-dashboard-${cidrSlug(cidr)}`, {
            securityGroupId: workerSg.id,
            description: `Iguana dashboard from admin network ${cidr}`,
            ipProtocol: "tcp",
            fromPort: cfg.iguana.webPort,
            toPort: cfg.iguana.webPort,
            cidrIpv4: cidr,
        });
    }
    if (!floating) {
        ingress("in-role-probe", {
            securityGroupId: workerSg.id,
            description: "Role probe: load balancer health checks from inside the VPC",
            ipProtocol: "tcp",
            fromPort: ROLE_PROBE_PORT,
            toPort: ROLE_PROBE_PORT,
            cidrIpv4: network.vpcCidr,
        });
    }
    if (cfg.channels.some((c) => healthCheckFor(c, cfg.iguana).kind === "iguana-health")) {
        ingress("in-iguana-health", {
            securityGroupId: workerSg.id,
            description: "Iguana health checks of active-active channels from inside the VPC",
            ipProtocol: "tcp",
            fromPort: cfg.iguana.webPort,
            toPort: cfg.iguana.webPort,
            cidrIpv4: network.vpcCidr,
        });
    }
    new vpc.SecurityGroupEgressRule(
        `${name}-out-all`,
        {
            securityGroupId: workerSg.id,
            description: floating ? "Egress through each worker's own public address" : "Egress through the NAT gateways",
            ipProtocol: "-1",
            cidrIpv4: "0.0.0.0/0",
            tags,
        },
        opts,
    );
    return { workerSg, channelSgs };
}

// --- the floating VIP (failover.strategy: floating-ip) -------------------------------------
function createFloatingVip(ctx: AwsContext, net: AwsNetwork, sgs: AwsSecurityGroups): ec2.Eip | undefined {
    const { name, cfg, opts, tags, floating, shared } = ctx;
    const { vpcId, workerSubnetIds, natCount } = net;
    const { workerSg } = sgs;
    const ingress = (ruleName: string, args: vpc.SecurityGroupIngressRuleArgs) => ingressRule(ctx, ruleName, args);
    // One Elastic IP that no Pulumi resource associates: the MASTER's notify script does, so a
    // later `pulumi up` never moves it back. The EC2 API is reached through an interface endpoint
    // inside the VPC, so a worker can take the VIP whatever its own Internet path is doing.
    // Shared storage needs the EC2 API too (a new lease holder stops the old one): through the
    // same endpoint when one NAT gateway is the workers' only other way out, because losing its
    // zone would leave the surviving worker unable to fence, and so passive.
    const floatingVip = floating ? new ec2.Eip(`${name}-vip`, { domain: "vpc", tags: { ...tags, Name: `${name}-vip` } }, opts) : undefined;
    if (floating || (shared && natCount < 2)) {
        const endpointSg = new ec2.SecurityGroup(
            `${name}-ec2-api-sg`,
            {
                vpcId,
                description: floating
                    ? "EC2 API endpoint: HTTPS from the Iguana workers only (they move the VIP)"
                    : "EC2 API endpoint: HTTPS from the Iguana workers only (a new lease holder stops the old one)",
                tags,
            },
            opts,
        );
        ingress("ec2-api-in-https", {
            securityGroupId: endpointSg.id,
            description: "HTTPS to the EC2 API endpoint from the Iguana workers only",
            ipProtocol: "tcp",
            fromPort: HTTPS_PORT,
            toPort: HTTPS_PORT,
            referencedSecurityGroupId: workerSg.id,
        });
        new ec2.VpcEndpoint(
            `${name}-ec2-api`,
            {
                vpcId,
                serviceName: `com.amazonaws.${cfg.region}.ec2`,
                vpcEndpointType: "Interface",
                privateDnsEnabled: true,
                subnetIds: workerSubnetIds,
                securityGroupIds: [endpointSg.id],
                tags: { ...tags, Name: `${name}-ec2-api` },
            },
            opts,
        );
    }
    return floatingVip;
}

// --- identity and encryption ---------------------------------------------------------
function createIdentity(ctx: AwsContext): AwsIdentity {
    const { name, cfg, parent, opts, tags, partition } = ctx;
    // What holds the queue is kept by `pulumi destroy` (retainOnDelete), and with storage.protect
    // Pulumi refuses to delete or replace it at all. The key goes with the data it encrypts:
    // kept volumes whose key was scheduled for deletion become unreadable 30 days later.
    const keep = { parent, retainOnDelete: true, protect: cfg.storage.protect };
    const key = new kms.Key(`${name}-key`, { description: `${name}: encrypts the Iguana workers' disks`, enableKeyRotation: true, deletionWindowInDays: 30, tags }, keep);
    const role = new iam.Role(
        `${name}-worker-role`,
        {
            description: "Iguana workers: SSM Session Manager access",
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags,
        },
        opts,
    );
    new iam.RolePolicyAttachment(`${name}-worker-ssm`, { role: role.name, policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore` }, opts);
    const profile = new iam.InstanceProfile(`${name}-worker-profile`, { role: role.name, tags }, opts);

    // The admin password lives in Secrets Manager, encrypted with the project key; only the
    // worker role may read it, and the workers fetch it at boot. It never enters user data.
    const adminPassword = createAdminPassword(name, parent);
    const secret = new secretsmanager.Secret(`${name}-admin-password`, { description: `${name}: Iguana admin password`, kmsKeyId: key.arn, recoveryWindowInDays: 7, tags }, opts);
    new secretsmanager.SecretVersion(`${name}-admin-password`, { secretId: secret.id, secretString: adminPassword }, opts);
    new iam.RolePolicy(`${name}-worker-read-secret`, { role: role.id, policy: workerSecretPolicy(secret.arn, key.arn, cfg.region) }, opts);
    return { keep, key, role, profile, secret };
}

// --- the lease (docs/lease.md) ----------------------------------------------------------
function createLease(ctx: AwsContext, net: AwsNetwork, identity: AwsIdentity): dynamodb.Table {
    const { name, cfg, parent, opts, tags } = ctx;
    const { vpcId, workerRouteTableIds } = net;
    const { key, role } = identity;
    // One item decides which worker is active. The table holds nothing else: no backups (no
    // point-in-time recovery) and no storage.protect; DynamoDB's own deletion protection guards
    // it against a console or CLI delete while the workers run, and so `pulumi destroy` leaves
    // the (empty, free at rest) table behind instead of failing on it (docs/data.md).
    const leaseTable = new dynamodb.Table(
        `${name}-lease`,
        {
            billingMode: "PAY_PER_REQUEST",
            hashKey: AWS_LEASE_HASH_KEY,
            attributes: [{ name: AWS_LEASE_HASH_KEY, type: "S" }],
            serverSideEncryption: { enabled: true, kmsKeyArn: key.arn },
            deletionProtectionEnabled: true,
            tags: { ...tags, holds: HOLDS_LEASE },
        },
        { parent, retainOnDelete: true },
    );
    // A gateway endpoint on the workers' own route tables: the lease is reached without the NAT
    // gateways, the Internet or the other worker, and costs nothing.
    new ec2.VpcEndpoint(
        `${name}-lease`,
        {
            vpcId,
            serviceName: `com.amazonaws.${cfg.region}.dynamodb`,
            vpcEndpointType: "Gateway",
            routeTableIds: workerRouteTableIds,
            policy: leaseEndpointPolicy(leaseTable.arn, role.arn),
            tags: { ...tags, Name: `${name}-lease` },
        },
        opts,
    );
    new iam.RolePolicy(`${name}-worker-lease`, { role: role.id, policy: leaseTablePolicy(leaseTable, leaseRecordKey(name), key.arn, cfg.region) }, opts);
    return leaseTable;
}

// --- shared storage (storage.queueRecovery: shared) ------------------------------------
function createSharedStorage(ctx: AwsContext, net: AwsNetwork, sgs: AwsSecurityGroups, identity: AwsIdentity): AwsSharedStorage | undefined {
    const { name, opts, tags, shared } = ctx;
    const { vpcId, workerSubnetIds } = net;
    const { workerSg } = sgs;
    const { key, role, keep } = identity;
    const ingress = (ruleName: string, args: vpc.SecurityGroupIngressRuleArgs) => ingressRule(ctx, ruleName, args);
    // One EFS file system for Iguana's working directory, encrypted with the project key, a
    // mount target in each worker's zone behind a group that admits NFS from the workers only.
    if (!shared) return undefined;
    const efsSg = new ec2.SecurityGroup(`${name}-efs-sg`, { vpcId, description: "Shared Iguana working directory (EFS): NFS from the Iguana workers only", tags }, opts);
    ingress("efs-in-nfs", {
        securityGroupId: efsSg.id,
        description: "NFS (TCP 2049, TLS inside) from the Iguana workers only",
        ipProtocol: "tcp",
        fromPort: NFS_PORT,
        toPort: NFS_PORT,
        referencedSecurityGroupId: workerSg.id,
    });
    const fileSystem = new efs.FileSystem(
        `${name}-shared`,
        {
            encrypted: true,
            kmsKeyId: key.arn,
            performanceMode: "generalPurpose",
            throughputMode: "elastic",
            tags: { ...tags, Name: `${name}-shared` },
        },
        // The queue lives here: deleting the cluster must not silently delete it.
        keep,
    );
    const mountTargets = workerSubnetIds.map(
        (subnetId, i) => new efs.MountTarget(`${name}-shared-${ZONE_SUFFIX[i]}`, { fileSystemId: fileSystem.id, subnetId, securityGroups: [efsSg.id] }, opts),
    );
    new efs.FileSystemPolicy(`${name}-shared`, { fileSystemId: fileSystem.id, policy: sharedFileSystemPolicy(fileSystem.arn, role.arn) }, opts);
    return { efsSg, fileSystem, mountTargets };
}

// --- workers -------------------------------------------------------------------------
function createWorkers(
    ctx: AwsContext,
    net: AwsNetwork,
    sgs: AwsSecurityGroups,
    identity: AwsIdentity,
    leaseTable: dynamodb.Table,
    sharedFs: AwsSharedStorage | undefined,
    floatingVip: ec2.Eip | undefined,
): AwsWorker[] {
    const { name, cfg, parent, opts, tags, network, floating, shared, zones } = ctx;
    const { workerSubnetIds } = net;
    const { workerSg, channelSgs } = sgs;
    const { key, role, profile, secret, keep } = identity;
    const workerPlans = planWorkers(network);
    const architecture = awsArchitecture(cfg.workers.size);
    const ami = ec2.getAmiOutput(
        {
            owners: [CANONICAL_AWS_OWNER],
            mostRecent: true,
            filters: [
                { name: "name", values: [UBUNTU_AMI_NAME[architecture]] },
                { name: "architecture", values: [architecture] },
                { name: "virtualization-type", values: ["hvm"] },
            ],
        },
        opts,
    );
    const workers = workerPlans.map((plan: WorkerPlan) => {
        const workerTags = { ...tags, role: plan.role, Name: `${name}-${plan.name}` };
        const peer = workerPlans[1 - plan.index];
        const volume = sharedFs
            ? undefined
            : new ebs.Volume(
                  `${name}-${plan.name}-data`,
                  {
                      availabilityZone: zones[plan.index],
                      size: cfg.workers.dataDiskGb,
                      type: "gp3",
                      encrypted: true,
                      kmsKeyId: key.arn,
                      tags: { ...workerTags, Name: `${name}-${plan.name}-data` },
                  },
                  // The queue lives here: deleting the cluster must not silently delete it.
                  keep,
              );
        const storageId = sharedFs ? sharedFs.fileSystem.id : volume!.id;
        const userData = pulumi
            .all([storageId, secret.arn, floatingVip ? floatingVip.allocationId : undefined, leaseTable.name, resolveInstaller(cfg.iguana)])
            .apply(([storage, secretArn, allocationId, tableName, installer]) =>
                renderCloudInit(
                    bootstrapSettings({ ...cfg, iguana: { ...cfg.iguana, ...installer } }, plan, peer, {
                        dataDisk: sharedFs ? { kind: "aws-efs", fileSystemId: storage } : { kind: "aws-ebs", volumeId: storage },
                        adminPassword: { kind: "aws-secrets-manager", secretArn, region: cfg.region },
                        vip: allocationId ? { kind: "aws-eip", allocationId, region: cfg.region } : undefined,
                        lease: awsLeaseLocator(tableName, cfg.region, name),
                        peerFence: shared ? awsPeerFence(cfg.region) : undefined,
                    }),
                ),
            );
        const instance = new ec2.Instance(
            `${name}-${plan.name}`,
            {
                ami: ami.id,
                instanceType: cfg.workers.size,
                subnetId: workerSubnetIds[plan.index],
                privateIp: plan.privateIp,
                vpcSecurityGroupIds: [workerSg.id, ...channelSgs.map((sg) => sg.id)],
                iamInstanceProfile: profile.name,
                // Floating IP: the worker's own public address, for egress; the MASTER's is replaced by the VIP.
                // Unset otherwise: the attribute forces a replacement, and existing workers never set it.
                associatePublicIpAddress: floating ? true : undefined,
                tenancy: cfg.workers.dedicated ? "dedicated" : "default",
                metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                rootBlockDevice: { encrypted: true, kmsKeyId: key.arn, volumeType: "gp3", volumeSize: ROOT_VOLUME_GB, deleteOnTermination: true },
                monitoring: true,
                userDataBase64: userData.apply((text) => Buffer.from(text, "utf8").toString("base64")),
                tags: workerTags,
                volumeTags: workerTags,
            },
            // A newer Ubuntu AMI must not replace both workers at once: rebuild one at a time, on purpose.
            { parent, ignoreChanges: ["ami"], ...(sharedFs ? { dependsOn: [...sharedFs.mountTargets] } : {}) },
        );
        if (volume) {
            new ec2.VolumeAttachment(
                `${name}-${plan.name}-data`,
                { instanceId: instance.id, volumeId: volume.id, deviceName: AWS_DATA_DEVICE_NAME, stopInstanceBeforeDetaching: true },
                opts,
            );
        }
        return { plan, instance, volume, userData };
    });

    if (shared) {
        new iam.RolePolicy(
            `${name}-worker-fence-peer`,
            {
                role: role.id,
                policy: peerFencePolicy(
                    workers.map((w) => w.instance.arn),
                    name,
                ),
            },
            opts,
        );
    }

    if (floatingVip) {
        new iam.RolePolicy(
            `${name}-worker-move-vip`,
            {
                role: role.id,
                policy: moveVipPolicy(
                    floatingVip.arn,
                    workers.map((w) => w.instance.arn),
                ),
            },
            opts,
        );
    }
    return workers;
}

// --- network load balancers (the VIP) ------------------------------------------------
function createLoadBalancers(ctx: AwsContext, net: AwsNetwork, workers: AwsWorker[]): AwsLoadBalancing {
    const { name, cfg, parent, opts, tags, network } = ctx;
    const { vpcId, internetGateway, publicSubnetIds, workerSubnetIds } = net;
    // One NLB per block of 50 ports, lowest first; the dashboard joins the first with room, and
    // the web port's block keeps the plain names (see scale.ts).
    const nlbs = shardChannels(cfg.channels, cfg.iguana.webPort).map((shard) => {
        const suffix = shard.plainNames ? "" : `-p${shard.block * PORT_BLOCK_SIZE}`;
        const eips = cfg.network.public
            ? publicSubnetIds.map((_, i) => {
                  const eipName = `${name}-vip${suffix}-${ZONE_SUFFIX[i]}`;
                  return new ec2.Eip(eipName, { domain: "vpc", tags: { ...tags, Name: eipName } }, opts);
              })
            : [];
        const privateIps = workerSubnetIds.map((_, i) => hostAddress(parseCidr(network.privateSubnets[i]), internalVipOffset(shard, INTERNAL_VIP_HOST_OFFSET)));
        const nlb = new lb.LoadBalancer(
            `${name}-nlb${suffix}`,
            {
                loadBalancerType: "network",
                internal: !cfg.network.public,
                // Off by default on an NLB: without it the zone of the passive worker has no healthy target.
                enableCrossZoneLoadBalancing: true,
                subnetMappings: cfg.network.public
                    ? publicSubnetIds.map((subnetId, i) => ({ subnetId, allocationId: eips[i].allocationId }))
                    : workerSubnetIds.map((subnetId, i) => ({ subnetId, privateIpv4Address: privateIps[i] })),
                tags,
            },
            { parent, dependsOn: internetGateway },
        );
        const addresses = cfg.network.public ? pulumi.all(eips.map((e) => e.publicIp)) : pulumi.output(privateIps);
        return { shard, nlb, addresses };
    });

    const forward = (nlb: lb.LoadBalancer, listenerName: string, port: number, protocol: Protocol, check: HealthCheck, idleTimeoutSeconds?: number) => {
        const targetGroup = new lb.TargetGroup(
            `${name}-${listenerName}`,
            {
                port,
                protocol: "TCP",
                targetType: "instance",
                vpcId,
                preserveClientIp: "true",
                healthCheck: awsHealthCheck(check, cfg),
                // Reset flows of a worker that turns unhealthy, so senders reconnect to the active one.
                targetHealthStates: [{ enableUnhealthyConnectionTermination: true }],
                tags: { ...tags, channel: listenerName, protocol },
            },
            opts,
        );
        for (const { plan, instance } of workers) {
            new lb.TargetGroupAttachment(`${name}-${listenerName}-${plan.name}`, { targetGroupArn: targetGroup.arn, targetId: instance.id, port }, opts);
        }
        const listener = new lb.Listener(
            `${name}-${listenerName}`,
            {
                loadBalancerArn: nlb.arn,
                port,
                protocol: "TCP",
                tcpIdleTimeoutSeconds: idleTimeoutSeconds,
                defaultActions: [{ type: "forward", targetGroupArn: targetGroup.arn }],
                tags,
            },
            opts,
        );
        return { targetGroup, listener };
    };

    for (const { shard, nlb } of nlbs) {
        for (const channel of shard.channels) {
            forward(nlb, channel.name, channel.port, channel.protocol, healthCheckFor(channel, cfg.iguana), cfg.failover.idleTimeoutSeconds);
        }
        // The dashboard follows the active worker, like active-passive channels.
        if (shard.dashboard) forward(nlb, "dashboard", cfg.iguana.webPort, "http", ROLE_PROBE);
    }

    const vipAddresses = pulumi.all(nlbs.map((n) => n.addresses)).apply((lists) => lists.flat());
    // The first address of the NLB with the lowest channel ports: every channel of that block listens on it.
    const vip = nlbs[0].addresses.apply((addresses) => addresses[0]);
    const dashboardHost = nlbs.find((n) => n.shard.dashboard)!.addresses.apply((addresses) => addresses[0]);
    const channelHosts = pulumi.all(nlbs.map((n) => n.addresses)).apply((lists) => Object.fromEntries(nlbs.flatMap((n, i) => n.shard.channels.map((c) => [c.name, lists[i][0]]))));
    return { loadBalancers: nlbs.map((n) => n.nlb), vip, vipAddresses, dashboardHost, channelHosts };
}

function workerOutputs(workers: { plan: WorkerPlan; instance: ec2.Instance }[], zones: pulumi.Output<[string, string]>) {
    return pulumi.all([zones, ...workers.map((w) => pulumi.all([w.instance.id, w.instance.privateIp]))]).apply(([zoneNames, ...ids]) =>
        workers.map(({ plan }, i) => ({
            name: plan.name,
            role: plan.role,
            zone: (zoneNames as [string, string])[plan.index],
            privateIp: (ids[i] as [string, string])[1],
            id: (ids[i] as [string, string])[0],
        })),
    );
}
