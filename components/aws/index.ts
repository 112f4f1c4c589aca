/**
 * The AWS implementation of HaIguanaCluster: VPC over two zones, two encrypted EC2 workers,
 * a DynamoDB lease that decides which one is active, and a Network Load Balancer whose Elastic
 * IPs are the VIP; or, with `failover.strategy: floating-ip`, one Elastic IP that the active
 * worker moves to itself.
 */
import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as backup from "@pulumi/aws/backup";
import * as dynamodb from "@pulumi/aws/dynamodb";
import * as ebs from "@pulumi/aws/ebs";
import * as ec2 from "@pulumi/aws/ec2";
import * as efs from "@pulumi/aws/efs";
import * as kms from "@pulumi/aws/kms";
import * as lb from "@pulumi/aws/lb";
import * as secretsmanager from "@pulumi/aws/secretsmanager";
import * as sns from "@pulumi/aws/sns";
import { ClusterConfig } from "../config";
import { ClusterOutputs, ClusterPlan, endpointsFor, endpointsForHosts } from "../model";
import { awsContext } from "./context";
import { createNetwork } from "./network";
import { createSecurityGroups } from "./security";
import { createFloatingVip } from "./vip";
import { createIdentity } from "./identity";
import { createLease } from "./lease";
import { createApiEndpoints } from "./endpoints";
import { createSharedStorage } from "./storage";
import { createWorkers, workerOutputs } from "./workers";
import { createLoadBalancers } from "./load-balancer";
import { createAudit } from "./audit";
import { createWorkerLogs } from "./logs";
import { AwsAlerts, createAlerts } from "./alerts";
import { createBackup } from "./backup";

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
    /** The flow logs' log group (`audit.flowLogs`). */
    flowLogGroup?: cloudwatch.LogGroup;
    /** The VPC's flow log, or the existing network's subnets' (`audit.flowLogs`). */
    flowLogs: ec2.FlowLog[];
    /** The workers' logs' log group (`audit.workerLogs`). */
    workerLogGroup?: cloudwatch.LogGroup;
    /** The alerts topic: subscribe more to it (a pager, a chat webhook). */
    alertsTopic: sns.Topic;
    /** The alarms that publish to it. */
    alarms: cloudwatch.MetricAlarm[];
    /** With backups: the EventBridge rules that publish a failed backup or copy job to the alerts topic. */
    backupFailureRules: cloudwatch.EventRule[];
    /** The AWS Backup vault holding the queue's recovery points (`backup.enabled`). */
    backupVault?: backup.Vault;
    /** The backup plan: its schedule and retention. */
    backupPlan?: backup.Plan;
    /** The vault in `backup.copyToRegion` the recovery points are copied to. */
    backupCopyVault?: backup.Vault;
}

export function createAwsCluster(plan: ClusterPlan, cfg: ClusterConfig, parent: pulumi.Resource): ClusterOutputs & { aws: AwsClusterResources } {
    const ctx = awsContext(plan, cfg, parent);
    const net = createNetwork(ctx);
    const sgs = createSecurityGroups(ctx, net);
    const floatingVip = createFloatingVip(ctx, net, sgs);
    const identity = createIdentity(ctx);
    const { leaseTable, leaseEndpoint } = createLease(ctx, net, identity);
    createApiEndpoints(ctx, net, sgs, leaseEndpoint);
    const sharedFs = createSharedStorage(ctx, net, sgs, identity);
    const workers = createWorkers(ctx, net, sgs, identity, leaseTable, sharedFs, floatingVip);
    const audit = createAudit(ctx, net, identity);
    const workerLogs = createWorkerLogs(ctx, identity, workers);
    const backups = createBackup(ctx, identity, workers, sharedFs);
    const { zones } = ctx;

    const resourcesOf = (loadBalancers: lb.LoadBalancer[], alerts: AwsAlerts): AwsClusterResources => ({
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
        flowLogGroup: audit?.logGroup,
        flowLogs: audit?.flowLogs ?? [],
        workerLogGroup: workerLogs?.logGroup,
        alertsTopic: alerts.topic,
        alarms: alerts.alarms,
        backupFailureRules: alerts.backupFailureRules,
        backupVault: backups?.vault,
        backupPlan: backups?.plan,
        backupCopyVault: backups?.copyVault,
    });

    if (floatingVip) {
        const vip = floatingVip.publicIp;
        const alerts = createAlerts(ctx, identity, workers, [], backups);
        return {
            cloud: "aws",
            vip,
            vipAddresses: vip.apply((address) => [address]),
            ...endpointsFor(cfg, vip),
            workers: workerOutputs(workers, zones),
            aws: resourcesOf([], alerts),
        };
    }

    const balancing = createLoadBalancers(ctx, net, workers);
    const alerts = createAlerts(ctx, identity, workers, balancing.forwarding, backups);
    return {
        cloud: "aws",
        vip: balancing.vip,
        vipAddresses: balancing.vipAddresses,
        ...endpointsForHosts(cfg, balancing.dashboardHost, balancing.channelHosts),
        workers: workerOutputs(workers, zones),
        aws: resourcesOf(balancing.loadBalancers, alerts),
    };
}
