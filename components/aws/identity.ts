/** Step 3, identity and secrets: the project KMS key, the worker role and profile, the admin password in Secrets Manager. */
import * as pulumi from "@pulumi/pulumi";
import * as iam from "@pulumi/aws/iam";
import * as kms from "@pulumi/aws/kms";
import * as secretsmanager from "@pulumi/aws/secretsmanager";
import { getCallerIdentityOutput } from "@pulumi/aws/getCallerIdentity";
import { createAdminPassword } from "../secrets";
import { tlsBundleSecret } from "../tls";
import { AwsContext } from "./context";
import { EVENTS_NAMESPACE } from "../constants";

/** Read of the admin secret (and the TLS bundle's) only; decrypt with the project key only through Secrets Manager. */
export function workerSecretPolicy(
    secretArn: pulumi.Input<string>,
    keyArn: pulumi.Input<string>,
    region: pulumi.Input<string>,
    tlsSecretArn?: pulumi.Input<string>,
): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            { Sid: "ReadAdminPassword", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: secretArn },
            ...(tlsSecretArn ? [{ Sid: "ReadTlsBundle", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: tlsSecretArn }] : []),
            {
                Sid: "DecryptThroughSecretsManager",
                Effect: "Allow",
                Action: "kms:Decrypt",
                Resource: keyArn,
                Condition: { StringEquals: { "kms:ViaService": pulumi.interpolate`secretsmanager.${region}.amazonaws.com` } },
            },
        ],
    });
}

/** PutMetricData takes no resource: the namespace condition keeps the workers to their own metrics. */
export function workerEventsPolicy() {
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "PublishEvents", Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*", Condition: { StringEquals: { "cloudwatch:namespace": EVENTS_NAMESPACE } } },
        ],
    };
}

/**
 * The project key's policy: the account's IAM policies decide who uses it, as with AWS's default
 * key policy (the volumes, EFS, Secrets Manager and DynamoDB go through those); CloudWatch alarms
 * may publish to the alerts topic it encrypts, and with backups EventBridge too (a failed backup job's
 * event); with flow logs or worker logs, CloudWatch Logs in this region may also encrypt this
 * account's log groups with it (AWS, "Encrypt log data in CloudWatch Logs using AWS KMS").
 */
export function projectKeyPolicy(
    accountId: pulumi.Input<string>,
    partition: pulumi.Input<string>,
    region: pulumi.Input<string>,
    uses: { logGroups: boolean; backupEvents: boolean },
): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            { Sid: "EnableIamPolicies", Effect: "Allow", Principal: { AWS: pulumi.interpolate`arn:${partition}:iam::${accountId}:root` }, Action: "kms:*", Resource: "*" },
            // The alerts topic is encrypted with this key: CloudWatch alarms publish to it (AWS, "Encryption at rest" for SNS).
            publishesToAlertsTopic("CloudWatchAlarmsPublishToTheAlertsTopic", "cloudwatch.amazonaws.com"),
            // EventBridge publishes the backup-failure events to the same topic (AWS Knowledge Center,
            // "Why isn't my Amazon SNS topic receiving EventBridge notifications?").
            ...(uses.backupEvents ? [publishesToAlertsTopic("EventBridgePublishesToTheAlertsTopic", "events.amazonaws.com")] : []),
            ...(uses.logGroups
                ? [
                      {
                          Sid: "CloudWatchLogsEncryptsThisAccountsLogGroups",
                          Effect: "Allow",
                          Principal: { Service: pulumi.interpolate`logs.${region}.amazonaws.com` },
                          Action: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                          Resource: "*",
                          Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": pulumi.interpolate`arn:${partition}:logs:${region}:${accountId}:log-group:*` } },
                      },
                  ]
                : []),
        ],
    });
}

/** A service that publishes to the alerts topic needs the key's data keys to encrypt what it publishes. */
function publishesToAlertsTopic(sid: string, service: string) {
    return { Sid: sid, Effect: "Allow", Principal: { Service: service }, Action: ["kms:Decrypt", "kms:GenerateDataKey*"], Resource: "*" };
}

export interface AwsIdentity {
    /** The account the cluster deploys into (the provider's credentials). */
    accountId: pulumi.Output<string>;
    /** The options of what holds the queue (and of the key that encrypts it). */
    keep: pulumi.CustomResourceOptions;
    key: kms.Key;
    role: iam.Role;
    profile: iam.InstanceProfile;
    secret: secretsmanager.Secret;
    /** tls.enabled: the certificate, key and client CAs each worker's stunnel serves. */
    tlsSecret?: secretsmanager.Secret;
}

// --- identity and encryption ---------------------------------------------------------
export function createIdentity(ctx: AwsContext): AwsIdentity {
    const { name, cfg, parent, opts, tags, partition, region } = ctx;
    const accountId = getCallerIdentityOutput({}, opts).accountId;
    // What holds the queue is kept by `pulumi destroy` (retainOnDelete), and with storage.protect
    // Pulumi refuses to delete or replace it at all. The key goes with the data it encrypts:
    // kept volumes whose key was scheduled for deletion become unreadable 30 days later.
    const keep = { parent, retainOnDelete: true, protect: cfg.storage.protect };
    const key = new kms.Key(
        `${name}-key`,
        {
            description: `${name}: encrypts the Iguana workers' disks`,
            enableKeyRotation: true,
            deletionWindowInDays: 30,
            policy: projectKeyPolicy(accountId, partition, region, { logGroups: cfg.audit.flowLogs || cfg.audit.workerLogs, backupEvents: cfg.backup.enabled }),
            tags,
        },
        keep,
    );
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

    // The TLS bundle likewise: a new version (a renewal) reaches the workers without a rebuild.
    const bundle = tlsBundleSecret(name, cfg, parent);
    const tlsSecret = bundle
        ? new secretsmanager.Secret(
              `${name}-tls`,
              { description: `${name}: TLS certificate, key and client CAs of the channels and dashboard`, kmsKeyId: key.arn, recoveryWindowInDays: 7, tags },
              opts,
          )
        : undefined;
    if (tlsSecret) new secretsmanager.SecretVersion(`${name}-tls`, { secretId: tlsSecret.id, secretString: bundle! }, opts);
    new iam.RolePolicy(`${name}-worker-read-secret`, { role: role.id, policy: workerSecretPolicy(secret.arn, key.arn, ctx.region, tlsSecret?.arn) }, opts);
    // The workers' events (a takeover) as CloudWatch metrics, in the cluster's namespace only.
    new iam.RolePolicy(`${name}-worker-publish-events`, { role: role.id, policy: JSON.stringify(workerEventsPolicy()) }, opts);
    return { accountId, keep, key, role, profile, secret, tlsSecret };
}
