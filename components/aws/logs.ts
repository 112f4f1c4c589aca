/**
 * Step 9b, the workers' logs in the cloud (`audit.workerLogs`, HIPAA 164.312(b)): Systems Manager
 * installs the CloudWatch agent on both workers and configures it from a parameter, and the agent
 * ships each worker's syslog (its journal, through rsyslog) and cloud-init's output to a log group
 * encrypted with the cluster's KMS key and kept `audit.retentionDays`. A saved Logs Insights query
 * per failover event (log-events.ts) finds them. Nothing of it is in the user data: a worker with
 * the SSM agent (Ubuntu's AMIs carry it) gets the agent when the association reaches it, and a
 * rebuilt worker when the association's targets change.
 */
import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as iam from "@pulumi/aws/iam";
import * as ssm from "@pulumi/aws/ssm";
import { insightsQuery, logEventsOf } from "../log-events";
import { createAuditLogGroup } from "./audit";
import { AwsContext } from "./context";
import { AwsIdentity } from "./identity";
import type { AwsWorker } from "./workers";

/** The files the agent ships, each to a stream `<instance id>/<stream>`. */
export const SHIPPED_LOG_FILES = [
    { path: "/var/log/syslog", stream: "syslog" },
    { path: "/var/log/cloud-init-output.log", stream: "cloud-init-output" },
] as const;

/** Re-applied daily: an agent stopped or removed by hand is put back within a day. */
export const AGENT_ASSOCIATION_SCHEDULE = "rate(1 day)";

export interface AwsWorkerLogs {
    logGroup: cloudwatch.LogGroup;
    agentConfig: ssm.Parameter;
    association: ssm.Association;
    queries: cloudwatch.QueryDefinition[];
}

/** The CloudWatch agent's configuration (AWS, "Manually create or edit the CloudWatch agent configuration file"): logs only, no metrics. */
export function cloudWatchAgentConfig(logGroupName: string): object {
    return {
        agent: { run_as_user: "root" },
        logs: {
            logs_collected: {
                files: {
                    collect_list: SHIPPED_LOG_FILES.map(({ path, stream }) => ({
                        file_path: path,
                        log_group_name: logGroupName,
                        log_stream_name: `{instance_id}/${stream}`,
                        timezone: "UTC",
                    })),
                },
            },
        },
    };
}

/** What the agent may do as the worker: write to the one log group, and read its one configuration. */
export function workerLogsPolicy(logGroupArn: pulumi.Input<string>, parameterArn: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ShipTheWorkersLogs",
                Effect: "Allow",
                Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                Resource: [logGroupArn, pulumi.interpolate`${logGroupArn}:*`],
            },
            { Sid: "ReadTheAgentsConfiguration", Effect: "Allow", Action: "ssm:GetParameter", Resource: parameterArn },
        ],
    });
}

/** A Command document of two steps, AWS's own: install the agent package, then configure it from the parameter and restart it. */
export function agentDocument(parameterName: string): string {
    return JSON.stringify({
        schemaVersion: "2.2",
        description: "Installs the CloudWatch agent and configures it to ship the Iguana worker's logs",
        mainSteps: [
            {
                action: "aws:runDocument",
                name: "installCloudWatchAgent",
                inputs: { documentType: "SSMDocument", documentPath: "AWS-ConfigureAWSPackage", documentParameters: { action: "Install", name: "AmazonCloudWatchAgent" } },
            },
            {
                action: "aws:runDocument",
                name: "configureCloudWatchAgent",
                inputs: {
                    documentType: "SSMDocument",
                    documentPath: "AmazonCloudWatch-ManageAgent",
                    documentParameters: {
                        action: "configure",
                        mode: "ec2",
                        optionalConfigurationSource: "ssm",
                        optionalConfigurationLocation: parameterName,
                        optionalRestart: "yes",
                    },
                },
            },
        ],
    });
}

export function createWorkerLogs(ctx: AwsContext, identity: AwsIdentity, workers: AwsWorker[]): AwsWorkerLogs | undefined {
    const { name, cfg, opts, tags } = ctx;
    if (!cfg.audit.workerLogs) return undefined;
    const logGroup = createAuditLogGroup(ctx, identity, "worker-logs");
    const agentConfig = new ssm.Parameter(
        `${name}-cloudwatch-agent`,
        {
            type: "String",
            description: `${name}: the CloudWatch agent's configuration on the Iguana workers`,
            value: logGroup.name.apply((group) => JSON.stringify(cloudWatchAgentConfig(group))),
            tags,
        },
        opts,
    );
    new iam.RolePolicy(`${name}-worker-logs`, { role: identity.role.id, policy: workerLogsPolicy(logGroup.arn, agentConfig.arn) }, opts);
    const document = new ssm.Document(`${name}-cloudwatch-agent`, { documentType: "Command", documentFormat: "JSON", content: agentConfig.name.apply(agentDocument), tags }, opts);
    const association = new ssm.Association(
        `${name}-cloudwatch-agent`,
        {
            name: document.name,
            targets: [{ key: "InstanceIds", values: workers.map((w) => w.instance.id) }],
            scheduleExpression: AGENT_ASSOCIATION_SCHEDULE,
            // One worker at a time: a failed install on one does not reach the other.
            maxConcurrency: "1",
            maxErrors: "1",
            complianceSeverity: "HIGH",
            tags,
        },
        opts,
    );
    const queries = logEventsOf("aws").map(
        (event) =>
            new cloudwatch.QueryDefinition(`${name}-${event.name}`, { name: `${name}/${event.name}`, logGroupNames: [logGroup.name], queryString: insightsQuery(event) }, opts),
    );
    return { logGroup, agentConfig, association, queries };
}
