/**
 * Step 11, backups (`backup`, HIPAA 164.308(a)(7)(ii)(A)): an AWS Backup vault encrypted with the
 * project key, a plan that backs the queue up every `backup.everyHours` and keeps each recovery
 * point `backup.retentionDays`, and a selection of each worker's data volume (or, with
 * `storage.queueRecovery: shared`, the EFS file system). AWS Backup takes them as the cluster's
 * backup role, which holds only AWS's managed backup and restore policies. The vault is kept by
 * `pulumi destroy`, with the recovery points in it, as the queue is.
 */
import * as pulumi from "@pulumi/pulumi";
import * as backup from "@pulumi/aws/backup";
import * as iam from "@pulumi/aws/iam";
import * as kms from "@pulumi/aws/kms";
import { HOLDS_BACKUPS } from "../constants";
import { AwsContext } from "./context";
import { AwsIdentity } from "./identity";
import { AwsSharedStorage } from "./storage";
import { AwsWorker } from "./workers";

export interface AwsBackup {
    vault: backup.Vault;
    /** The vault in `backup.copyToRegion` every recovery point is copied to. */
    copyVault?: backup.Vault;
    plan: backup.Plan;
    selection: backup.Selection;
}

/** AWS Backup's managed policies for the role it assumes (AWS Backup, "Default service role for AWS Backup"). */
export const AWS_BACKUP_MANAGED_POLICIES = { backups: "AWSBackupServiceRolePolicyForBackup", restores: "AWSBackupServiceRolePolicyForRestores" } as const;

/** The plan's schedule: on the hour, every `everyHours` hours (UTC); once a day at 00:00 UTC for 24. */
export function awsBackupSchedule(everyHours: number): string {
    return everyHours >= 24 ? "cron(0 0 * * ? *)" : `cron(0 0/${everyHours} * * ? *)`;
}

export function createBackup(ctx: AwsContext, identity: AwsIdentity, workers: AwsWorker[], sharedFs: AwsSharedStorage | undefined): AwsBackup | undefined {
    const { name, cfg, opts, tags, partition } = ctx;
    if (!cfg.backup.enabled) return undefined;
    const vault = new backup.Vault(
        `${name}-backup`,
        { kmsKeyArn: identity.key.arn, tags: { ...tags, holds: HOLDS_BACKUPS } },
        // Recovery points outlive the cluster: destroy leaves the vault and what is in it.
        { ...identity.keep, dependsOn: [identity.key] },
    );
    const role = new iam.Role(
        `${name}-backup`,
        {
            description: "AWS Backup for the Iguana cluster: backs up and restores its queue volumes",
            assumeRolePolicy: pulumi.jsonStringify({
                Version: "2012-10-17",
                Statement: [
                    {
                        Effect: "Allow",
                        Principal: { Service: "backup.amazonaws.com" },
                        Action: "sts:AssumeRole",
                        // Only AWS Backup acting for this account (confused deputy).
                        Condition: { StringEquals: { "aws:SourceAccount": identity.accountId } },
                    },
                ],
            }),
            tags,
        },
        opts,
    );
    const attachments = Object.entries(AWS_BACKUP_MANAGED_POLICIES).map(
        ([purpose, policy]) =>
            new iam.RolePolicyAttachment(
                `${name}-backup-${purpose}`,
                { role: role.name, policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/service-role/${policy}` },
                opts,
            ),
    );
    const copyVault = createCopyVault(ctx, identity);
    const plan = new backup.Plan(
        `${name}-backup`,
        {
            rules: [
                {
                    ruleName: `every-${cfg.backup.everyHours}h`,
                    targetVaultName: vault.name,
                    schedule: awsBackupSchedule(cfg.backup.everyHours),
                    scheduleExpressionTimezone: "Etc/UTC",
                    startWindow: 60,
                    completionWindow: 180,
                    lifecycle: { deleteAfter: cfg.backup.retentionDays },
                    recoveryPointTags: { ...tags },
                    copyActions: copyVault ? [{ destinationVaultArn: copyVault.arn, lifecycle: { deleteAfter: cfg.backup.retentionDays } }] : undefined,
                },
            ],
            tags,
        },
        opts,
    );
    const queueArns = sharedFs ? [sharedFs.fileSystem.arn] : workers.map((w) => w.volume!.arn);
    // After the policies: a selection whose role cannot act yet fails its first backup.
    const selection = new backup.Selection(`${name}-backup`, { planId: plan.id, iamRoleArn: role.arn, resources: queueArns }, { ...opts, dependsOn: attachments });
    return { vault, plan, selection, copyVault };
}

/**
 * `backup.copyToRegion`: a vault in that region, under a key of that region (a KMS key serves one
 * region), both kept by destroy. The resources name their region themselves, through the same
 * provider and credentials.
 */
function createCopyVault(ctx: AwsContext, identity: AwsIdentity): backup.Vault | undefined {
    const { name, cfg, tags, parent } = ctx;
    const copyTo = cfg.backup.copyToRegion;
    if (!copyTo) return undefined;
    // A config that names no region (a library user's) is checked against the provider's here.
    const region = ctx.region.apply((own) => {
        if (own === copyTo) throw new pulumi.ResourceError(`backup.copyToRegion: ${copyTo} is the cluster's own region: name another region`, parent, true);
        return copyTo;
    });
    const key = new kms.Key(
        `${name}-backup-copy-key`,
        { region, description: `${name}: encrypts the copies of the Iguana queue's backups`, enableKeyRotation: true, deletionWindowInDays: 30, tags },
        identity.keep,
    );
    return new backup.Vault(`${name}-backup-copy`, { region, kmsKeyArn: key.arn, tags: { ...tags, holds: HOLDS_BACKUPS } }, { ...identity.keep, dependsOn: [key] });
}
