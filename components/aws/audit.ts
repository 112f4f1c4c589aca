/**
 * Step 9, the audit trail (`audit`, HIPAA 164.312(b)): VPC flow logs of every connection to and
 * from the workers and the load balancer, in a CloudWatch Logs group encrypted with the cluster's
 * KMS key and kept `audit.retentionDays`. With `network.existing` the VPC is the owner's, so the
 * flow logs cover the cluster's subnets (the workers', and the load balancer's) instead. The log
 * group and its key outlive `pulumi destroy`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as ec2 from "@pulumi/aws/ec2";
import * as iam from "@pulumi/aws/iam";
import { AwsContext } from "./context";
import { AwsIdentity } from "./identity";
import { AwsNetwork } from "./network";

export interface AwsAudit {
    logGroup: cloudwatch.LogGroup;
    flowLogs: ec2.FlowLog[];
}

/** What the flow log service may do as the delivery role: write to the one log group (AWS, "IAM role for publishing flow logs to CloudWatch Logs"). */
export function flowLogDeliveryPolicy(logGroupArn: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "WriteFlowLogs",
                Effect: "Allow",
                Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
                Resource: [logGroupArn, pulumi.interpolate`${logGroupArn}:*`],
            },
        ],
    });
}

/**
 * A log group of the audit trail (`audit.retentionDays`), encrypted with the project key. Kept by
 * `pulumi destroy`, with the key that decrypts it, as the queue is: an audit trail must outlast
 * what it audits. Created after the key policy that lets CloudWatch Logs use the key.
 */
export function createAuditLogGroup(ctx: AwsContext, identity: AwsIdentity, role: string): cloudwatch.LogGroup {
    const { name, cfg, tags } = ctx;
    return new cloudwatch.LogGroup(
        `${name}-${role}`,
        { retentionInDays: cfg.audit.retentionDays, kmsKeyId: identity.key.arn, tags },
        { ...identity.keep, dependsOn: [identity.key] },
    );
}

export function createAudit(ctx: AwsContext, net: AwsNetwork, identity: AwsIdentity): AwsAudit | undefined {
    const { name, cfg, opts, tags, partition, region } = ctx;
    if (!cfg.audit.flowLogs) return undefined;
    const logGroup = createAuditLogGroup(ctx, identity, "flow-logs");
    // Only the VPC flow log service, for this account's flow logs, may take the role (confused deputy).
    const role = new iam.Role(
        `${name}-flow-logs`,
        {
            description: "VPC flow logs of the Iguana cluster: writes to its log group",
            assumeRolePolicy: pulumi.jsonStringify({
                Version: "2012-10-17",
                Statement: [
                    {
                        Effect: "Allow",
                        Principal: { Service: "vpc-flow-logs.amazonaws.com" },
                        Action: "sts:AssumeRole",
                        Condition: {
                            StringEquals: { "aws:SourceAccount": identity.accountId },
                            ArnLike: { "aws:SourceArn": pulumi.interpolate`arn:${partition}:ec2:${region}:${identity.accountId}:vpc-flow-log/*` },
                        },
                    },
                ],
            }),
            tags,
        },
        opts,
    );
    new iam.RolePolicy(`${name}-flow-logs`, { role: role.id, policy: flowLogDeliveryPolicy(logGroup.arn) }, opts);
    const common = {
        trafficType: "ALL",
        logDestinationType: "cloud-watch-logs",
        logDestination: logGroup.arn,
        iamRoleArn: role.arn,
        // One-minute records: an investigation reads connections to the minute, not to ten.
        maxAggregationInterval: 60,
        tags,
    };
    const flowLogs = net.vpc
        ? [new ec2.FlowLog(`${name}-flow-logs`, { ...common, vpcId: net.vpcId }, opts)]
        : [...net.workerSubnetIds, ...net.publicSubnetIds].map((subnetId, i) => new ec2.FlowLog(`${name}-flow-logs-${i + 1}`, { ...common, subnetId }, opts));
    return { logGroup, flowLogs };
}
