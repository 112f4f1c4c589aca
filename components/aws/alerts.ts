/**
 * Step 10, alerts (`alerts`): an SNS topic encrypted with the project key, each address of
 * `alerts.emails` subscribed to it, and CloudWatch alarms that publish to it when they fire and
 * when they recover: a channel's target group with no healthy target (an outage now); an
 * active-passive channel's target group with two (both workers answer the role probe: two
 * active, which the lease exists to prevent); an active-active channel's with one (no
 * redundancy); a worker failing its EC2 status checks (the cluster runs without a standby,
 * or is down); and, from what the workers report themselves (events.ts), a takeover, an Iguana
 * unhealthy or a worker silent, the lease store unreachable, and a disk filling up. With backups,
 * EventBridge rules publish AWS Backup's own events for a backup or copy job of the cluster's vault
 * that failed, was aborted or expired unstarted.
 */
import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as sns from "@pulumi/aws/sns";
import { ALARM_MINUTES, EVENTS_NAMESPACE, TAKEOVER_METRIC } from "../constants";
import { signalAlarms } from "../signal-alarms";
import { AwsBackup } from "./backup";
import { AwsContext } from "./context";
import { AwsIdentity } from "./identity";
import { AwsForwarding } from "./load-balancer";
import { AwsWorker } from "./workers";

export interface AwsAlerts {
    topic: sns.Topic;
    alarms: cloudwatch.MetricAlarm[];
    /** With backups: the EventBridge rules that publish a failed backup or copy job to the topic. */
    backupFailureRules: cloudwatch.EventRule[];
}

/**
 * AWS Backup's job states that mean no recovery point was made (AWS Backup, "Monitoring AWS Backup
 * events using Amazon EventBridge"; BackupJob State): EXPIRED is a job that never started in its
 * window. A copy job ends COMPLETED or FAILED.
 */
export const BACKUP_JOB_FAILED_STATES = ["FAILED", "ABORTED", "EXPIRED"] as const;
export const COPY_JOB_FAILED_STATES = ["FAILED"] as const;

export function createAlerts(ctx: AwsContext, identity: AwsIdentity, workers: AwsWorker[], forwarding: AwsForwarding[], backups: AwsBackup | undefined): AwsAlerts {
    const { name, cfg, opts, tags } = ctx;
    const topic = new sns.Topic(`${name}-alerts`, { kmsMasterKeyId: identity.key.id, tags }, { ...opts, dependsOn: [identity.key] });
    for (const email of cfg.alerts.emails) {
        // Named by address: adding or removing one leaves the others' confirmed subscriptions alone.
        new sns.TopicSubscription(`${name}-alerts-${email.toLowerCase()}`, { topic: topic.arn, protocol: "email", endpoint: email }, opts);
    }
    if (cfg.alerts.webhookUrl !== undefined) {
        // The endpoint confirms the subscription itself (SNS posts a SubscriptionConfirmation first).
        new sns.TopicSubscription(`${name}-alerts-webhook`, { topic: topic.arn, protocol: "https", endpoint: pulumi.secret(cfg.alerts.webhookUrl) }, opts);
    }
    const actions = { alarmActions: [topic.arn], okActions: [topic.arn] };
    const everyMinute = { period: 60, evaluationPeriods: ALARM_MINUTES, datapointsToAlarm: ALARM_MINUTES };
    const channelAlarms = forwarding.map(
        ({ listenerName, nlb, targetGroup }) =>
            new cloudwatch.MetricAlarm(
                `${name}-${listenerName}-no-target`,
                {
                    alarmDescription: `Channel ${listenerName}: no healthy worker behind the load balancer, so its senders cannot deliver (both workers down, or neither holds the lease).`,
                    namespace: "AWS/NetworkELB",
                    metricName: "HealthyHostCount",
                    dimensions: { TargetGroup: targetGroup.arnSuffix, LoadBalancer: nlb.arnSuffix },
                    // Each NLB node reports its own count: the maximum is what any node still sees
                    // (AWS recommends it for HealthyHostCount); under 1, none sees a healthy target.
                    statistic: "Maximum",
                    comparisonOperator: "LessThanThreshold",
                    threshold: 1,
                    ...everyMinute,
                    // No datapoint from a load balancer that should report every minute is no good news.
                    treatMissingData: "breaching",
                    ...actions,
                    tags: { ...tags, channel: listenerName },
                },
                opts,
            ),
    );
    // With the role probe in mind: behind an active-passive channel exactly one target is healthy
    // (the passive worker answers 503 by design); behind an active-active one, both are.
    const redundancyAlarms = forwarding.flatMap(({ listenerName, nlb, targetGroup }) => {
        const listener = ctx.plan.listeners.find((l) => l.name === listenerName);
        if (!listener || listener.kind !== "channel") return [];
        const activeActive = listener.healthCheck.kind === "iguana-health";
        return [
            new cloudwatch.MetricAlarm(
                `${name}-${listenerName}-${activeActive ? "one-target" : "two-active"}`,
                {
                    alarmDescription: activeActive
                        ? `Channel ${listenerName} (active-active): only one worker's Iguana is healthy, so the channel runs without redundancy.`
                        : `Channel ${listenerName}: both workers answer the role probe, so both consider themselves active; the lease should make that impossible (docs/lease.md): check both workers' lease guards now.`,
                    namespace: "AWS/NetworkELB",
                    metricName: "HealthyHostCount",
                    dimensions: { TargetGroup: targetGroup.arnSuffix, LoadBalancer: nlb.arnSuffix },
                    statistic: activeActive ? "Minimum" : "Maximum",
                    comparisonOperator: activeActive ? "LessThanThreshold" : "GreaterThanThreshold",
                    threshold: activeActive ? 2 : 1,
                    ...everyMinute,
                    // Missing data is the no-target alarm's to report.
                    treatMissingData: "notBreaching",
                    ...actions,
                    tags: { ...tags, channel: listenerName },
                },
                opts,
            ),
        ];
    });
    const workerAlarms = workers.map(
        ({ plan, instance }) =>
            new cloudwatch.MetricAlarm(
                `${name}-${plan.name}-status-check`,
                {
                    alarmDescription: `Worker ${plan.name} (${plan.role}) fails its EC2 status checks: if it is the standby the cluster has none; if it is active, its peer takes over.`,
                    namespace: "AWS/EC2",
                    metricName: "StatusCheckFailed",
                    dimensions: { InstanceId: instance.id },
                    statistic: "Maximum",
                    comparisonOperator: "GreaterThanOrEqualToThreshold",
                    threshold: 1,
                    ...everyMinute,
                    // A stopped instance reports nothing: that is a lost worker too.
                    treatMissingData: "breaching",
                    ...actions,
                    tags: { ...tags, role: plan.role, worker: plan.name },
                },
                opts,
            ),
    );
    // The workers' own event (events.ts): one datapoint when a worker takes the lease over.
    const takeoverAlarm = new cloudwatch.MetricAlarm(
        `${name}-took-over`,
        {
            alarmDescription: `A worker took the lease over from its peer (a failover, or a planned switchover): metric ${TAKEOVER_METRIC} by Worker says which. If nobody switched over, find out why the peer lost the lease; until it is back the cluster runs without a standby.`,
            namespace: EVENTS_NAMESPACE,
            metricName: TAKEOVER_METRIC,
            dimensions: { Cluster: name },
            statistic: "Sum",
            comparisonOperator: "GreaterThanOrEqualToThreshold",
            threshold: 1,
            period: 60,
            evaluationPeriods: 1,
            // An event: no datapoint is the normal case.
            treatMissingData: "notBreaching",
            alarmActions: [topic.arn],
            tags,
        },
        opts,
    );
    const reportedAlarms = workers.flatMap(({ plan }) =>
        signalAlarms(plan.name, "DynamoDB, through the VPC endpoint", cfg.alerts).map(
            (a) =>
                new cloudwatch.MetricAlarm(
                    `${name}-${plan.name}-${a.suffix}`,
                    {
                        alarmDescription: a.description,
                        namespace: EVENTS_NAMESPACE,
                        metricName: a.metric,
                        dimensions: { Cluster: name, Worker: plan.name },
                        statistic: "Maximum",
                        comparisonOperator: a.when === "below" ? "LessThanThreshold" : "GreaterThanThreshold",
                        threshold: a.threshold,
                        period: 60,
                        evaluationPeriods: a.minutes,
                        datapointsToAlarm: a.minutes,
                        treatMissingData: a.silenceFails ? "breaching" : "notBreaching",
                        ...actions,
                        tags: { ...tags, role: plan.role, worker: plan.name },
                    },
                    opts,
                ),
        ),
    );
    const backupFailureRules = backups ? createBackupFailureRules(ctx, identity, topic, backups) : [];
    return { topic, alarms: [...channelAlarms, ...redundancyAlarms, ...workerAlarms, takeoverAlarm, ...reportedAlarms], backupFailureRules };
}

/**
 * AWS Backup reports a job's end to EventBridge, not as an alarm: one rule for the backup jobs
 * into the cluster's vault, one for the copies out of it (`backup.copyToRegion`; the copy job's
 * event is raised in the source region). Each publishes the event itself to the alerts topic,
 * whose policy then admits EventBridge for these rules only.
 */
function createBackupFailureRules(ctx: AwsContext, identity: AwsIdentity, topic: sns.Topic, backups: AwsBackup): cloudwatch.EventRule[] {
    const { name, opts, tags } = ctx;
    const rule = (suffix: string, description: string, detailType: string, detail: Record<string, readonly pulumi.Input<string>[]>) => {
        const eventRule = new cloudwatch.EventRule(
            `${name}-${suffix}`,
            { description, eventPattern: pulumi.jsonStringify({ source: ["aws.backup"], "detail-type": [detailType], detail }), tags },
            opts,
        );
        new cloudwatch.EventTarget(`${name}-${suffix}`, { rule: eventRule.name, arn: topic.arn }, opts);
        return eventRule;
    };
    const rules = [
        rule(
            "backup-failed",
            "A backup of the Iguana queue made no recovery point (failed, aborted, or never started in its window): the queue is not backed up until the next one succeeds.",
            "Backup Job State Change",
            { state: BACKUP_JOB_FAILED_STATES, backupVaultName: [backups.vault.name] },
        ),
        ...(backups.copyVault
            ? [
                  rule(
                      "backup-copy-failed",
                      "A copy of the Iguana queue's backup to the disaster-recovery region failed: that region has no copy of this recovery point.",
                      "Copy Job State Change",
                      { state: COPY_JOB_FAILED_STATES, sourceBackupVaultArn: [backups.vault.arn] },
                  ),
              ]
            : []),
    ];
    // A topic policy replaces SNS's default one: keep its statement (the account's own principals,
    // which is how the CloudWatch alarms publish) and add EventBridge, for these rules only.
    new sns.TopicPolicy(
        `${name}-alerts`,
        {
            arn: topic.arn,
            policy: pulumi.jsonStringify({
                Version: "2012-10-17",
                Statement: [
                    {
                        Sid: "TheAccountsOwnPrincipals",
                        Effect: "Allow",
                        Principal: { AWS: "*" },
                        Action: SNS_DEFAULT_POLICY_ACTIONS,
                        Resource: topic.arn,
                        Condition: { StringEquals: { "AWS:SourceOwner": identity.accountId } },
                    },
                    {
                        Sid: "EventBridgePublishesBackupFailures",
                        Effect: "Allow",
                        Principal: { Service: "events.amazonaws.com" },
                        Action: "sns:Publish",
                        Resource: topic.arn,
                        Condition: { ArnEquals: { "aws:SourceArn": rules.map((r) => r.arn) } },
                    },
                ],
            }),
        },
        opts,
    );
    return rules;
}

/** The actions of SNS's default topic policy (as the provider's TopicPolicy example writes it). */
const SNS_DEFAULT_POLICY_ACTIONS = [
    "SNS:GetTopicAttributes",
    "SNS:SetTopicAttributes",
    "SNS:AddPermission",
    "SNS:RemovePermission",
    "SNS:DeleteTopic",
    "SNS:Subscribe",
    "SNS:ListSubscriptionsByTopic",
    "SNS:Publish",
    "SNS:Receive",
];
