/**
 * `backup`: scheduled, encrypted backups of the queue disks, kept by `pulumi destroy`. AWS: a
 * Backup vault under the project key, a plan on the configured schedule and retention, and a
 * selection of exactly the queue's volumes (or EFS) under a role only AWS Backup of this account
 * may take. Azure: a Backup vault whose identity may read the two data disks and write snapshots
 * to a group of their own, nothing more; a disk policy; an instance per disk. The policy pack
 * holds every stack to it.
 */
import * as assert from "assert";
import { DEFAULTS } from "../components/constants";
import { awsBackupSchedule } from "../components/aws/backup";
import { BACKUP_JOB_FAILED_STATES } from "../components/aws/alerts";
import { DISK_BACKUP_READER_ROLE, DISK_SNAPSHOT_CONTRIBUTOR_ROLE, azureBackupSchedule } from "../components/azure/backup";
import { backupsOn } from "../policy/policies";
import { HaIguanaCluster, HaIguanaClusterArgs } from "../components";
import { evaluate } from "../offline/evaluate";
import * as path from "path";
import { StackRun, awsConfig, azureConfig, runConfig, runPlan, runStack, wrapRun } from "./helpers";
import { readStackConfig } from "../offline/stack-config";
import { program } from "../components/program";
import { packViolations, stackViolations } from "./policy-harness";

const T = {
    key: "aws:kms/key:Key",
    volume: "aws:ebs/volume:Volume",
    efs: "aws:efs/fileSystem:FileSystem",
    vault: "aws:backup/vault:Vault",
    plan: "aws:backup/plan:Plan",
    selection: "aws:backup/selection:Selection",
    role: "aws:iam/role:Role",
    attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    rg: "azure-native:resources:ResourceGroup",
    disk: "azure-native:compute:Disk",
    azureVault: "azure-native:dataprotection:BackupVault",
    policy: "azure-native:dataprotection:BackupPolicy",
    instance: "azure-native:dataprotection:BackupInstance",
    assignment: "azure-native:authorization:RoleAssignment",
    eventRule: "aws:cloudwatch/eventRule:EventRule",
    eventTarget: "aws:cloudwatch/eventTarget:EventTarget",
    topic: "aws:sns/topic:Topic",
    topicPolicy: "aws:sns/topicPolicy:TopicPolicy",
    actionGroup: "azure-native:monitor:ActionGroup",
    alertRouting: "azure-native:alertsmanagement:AlertProcessingRuleByName",
};

/**
 * EventBridge's matching for the subset the backup rules use: each key of the pattern must hold
 * one of the listed strings, and a nested object matches the event's nested field. Anything else
 * in a pattern fails the test rather than being read wrongly.
 */
function matchesPattern(pattern: Record<string, unknown>, event: Record<string, unknown> | undefined): boolean {
    return Object.entries(pattern).every(([key, expected]) => {
        if (Array.isArray(expected)) {
            assert.ok(expected.length > 0 && expected.every((v) => typeof v === "string"), `pattern key ${key}: only exact string values are read here`);
            return expected.includes(event?.[key] as string);
        }
        assert.ok(expected !== null && typeof expected === "object", `pattern key ${key}: a list or an object`);
        return matchesPattern(expected as Record<string, unknown>, event?.[key] as Record<string, unknown> | undefined);
    });
}

/** AWS Backup's events as its developer guide shows them ("Monitoring AWS Backup events using Amazon EventBridge"), for one vault. */
function backupJobEvent(vaultName: string, vaultArn: string, state: string): Record<string, unknown> {
    return {
        version: "0",
        source: "aws.backup",
        "detail-type": "Backup Job State Change",
        account: "123456789012",
        region: "eu-west-1",
        detail: {
            backupJobId: "710B0398-D48E-F3C3-AFCA-CFEB2FDAA656",
            backupVaultArn: vaultArn,
            backupVaultName: vaultName,
            resourceArn: "arn:aws:ec2:eu-west-1:123456789012:volume/vol-0123456789abcdef0",
            resourceType: "EBS",
            state,
            statusMessage: state === "COMPLETED" ? "" : "Backup job failed",
        },
    };
}
function copyJobEvent(sourceVaultArn: string, state: string): Record<string, unknown> {
    return {
        version: "0",
        source: "aws.backup",
        "detail-type": "Copy Job State Change",
        account: "123456789012",
        region: "eu-west-1",
        detail: {
            copyJobId: "47C8EF56-74D8-059D-1301-C5BE1D5C926E",
            resourceArn: "arn:aws:ec2:eu-west-1:123456789012:volume/vol-0123456789abcdef0",
            resourceType: "EBS",
            sourceBackupVaultArn: sourceVaultArn,
            destinationBackupVaultArn: "arn:aws:backup:us-west-2:123456789012:backup-vault:copy",
            state,
        },
    };
}

const BACKUP_TYPES = [T.vault, T.plan, T.selection, T.azureVault, T.policy, T.instance];
const backupResources = (run: StackRun) => run.mocks.resources.filter((r) => BACKUP_TYPES.includes(r.type));

describe("backup: the queue disks on a schedule", function () {
    this.timeout(60000);

    describe("AWS", () => {
        it("aws-dev: every 4 hours into a vault under the project key, kept 35 days, the vault kept by destroy", async () => {
            const run = await runStack("aws-dev");
            const key = run.one(T.key, "iguana-key");
            const vault = run.one(T.vault, "iguana-backup");
            assert.deepStrictEqual([vault.inputs.kmsKeyArn, vault.retainOnDelete], [key.state.arn, true]);
            const [rule] = run.one(T.plan, "iguana-backup").inputs.rules;
            assert.deepStrictEqual(
                [rule.schedule, rule.scheduleExpressionTimezone, rule.lifecycle],
                ["cron(0 0/4 * * ? *)", "Etc/UTC", { deleteAfter: DEFAULTS.backupRetentionDays }],
            );
            assert.strictEqual(rule.targetVaultName, vault.state.name, "into the cluster's vault");
        });

        it("selects exactly the two queue volumes, as a role only AWS Backup of this account may take, holding AWS's backup and restore policies", async () => {
            const run = await runStack("aws-dev");
            const selection = run.one(T.selection, "iguana-backup");
            assert.deepStrictEqual(
                [...selection.inputs.resources].sort(),
                run
                    .ofType(T.volume)
                    .map((v) => v.state.arn)
                    .sort(),
            );
            const role = run.one(T.role, "iguana-backup");
            assert.strictEqual(selection.inputs.iamRoleArn, role.state.arn);
            const trust = JSON.parse(role.inputs.assumeRolePolicy);
            assert.deepStrictEqual(trust.Statement, [
                { Effect: "Allow", Principal: { Service: "backup.amazonaws.com" }, Action: "sts:AssumeRole", Condition: { StringEquals: { "aws:SourceAccount": "123456789012" } } },
            ]);
            assert.deepStrictEqual(
                run
                    .ofType(T.attachment)
                    .filter((a) => a.inputs.role === role.state.name)
                    .map((a) => a.inputs.policyArn)
                    .sort(),
                ["arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup", "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"],
            );
        });

        it("with shared storage the EFS file system is selected (there are no volumes)", async () => {
            const run = await runConfig(awsConfig({ storage: { queueRecovery: "shared" } }));
            assert.deepStrictEqual(run.one(T.selection, "iguana-backup").inputs.resources, [run.one(T.efs, "iguana-shared").state.arn]);
        });

        it("the schedule and retention follow the config: daily at 00:00 UTC, kept a week", async () => {
            const run = await runConfig(awsConfig({ backup: { everyHours: 24, retentionDays: 7 } }));
            const [rule] = run.one(T.plan, "iguana-backup").inputs.rules;
            assert.deepStrictEqual([rule.ruleName, rule.schedule, rule.lifecycle.deleteAfter], ["every-24h", "cron(0 0 * * ? *)", 7]);
            assert.deepStrictEqual([4, 6, 8, 12].map(awsBackupSchedule), ["cron(0 0/4 * * ? *)", "cron(0 0/6 * * ? *)", "cron(0 0/8 * * ? *)", "cron(0 0/12 * * ? *)"]);
        });

        it("copyToRegion: every recovery point is copied to a kept vault in that region, under a key of that region, kept as long", async () => {
            const run = await runConfig(awsConfig({ backup: { copyToRegion: "eu-central-1" } }));
            const key = run.one(T.key, "iguana-backup-copy-key");
            const copy = run.one(T.vault, "iguana-backup-copy");
            assert.deepStrictEqual([key.inputs.region, key.inputs.enableKeyRotation, key.retainOnDelete], ["eu-central-1", true, true]);
            assert.deepStrictEqual([copy.inputs.region, copy.inputs.kmsKeyArn, copy.retainOnDelete], ["eu-central-1", key.state.arn, true]);
            const [rule] = run.one(T.plan, "iguana-backup").inputs.rules;
            assert.deepStrictEqual(rule.copyActions, [{ destinationVaultArn: copy.state.arn, lifecycle: { deleteAfter: DEFAULTS.backupRetentionDays } }]);
            assert.strictEqual(run.one(T.vault, "iguana-backup").inputs.region, undefined, "the first vault stays in the cluster's region");
            assert.deepStrictEqual(await packViolations(run.mocks.resources, {}), [], "the copy vault's key is the stack's");
        });

        it("copyToRegion: a library user's provider region equal to it fails the preview", async () => {
            const raw = {
                cloud: "aws",
                channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
                network: { allowedCidrs: ["198.51.100.0/24"] },
                backup: { copyToRegion: "eu-west-1" },
            };
            await assert.rejects(
                evaluate({ stack: "lib", config: { "aws:region": "eu-west-1" }, run: () => new HaIguanaCluster("lib", raw as unknown as HaIguanaClusterArgs) }),
                (error: Error) => /backup\.copyToRegion: eu-west-1 is the cluster's own region/.test(error.message),
            );
        });
    });

    describe("Azure", () => {
        it("azure-dev: a vault in the kept data group; snapshots every 4 hours, kept 35 days, in a kept group of their own", async () => {
            const run = await runStack("azure-dev");
            const dataGroup = run.one(T.rg, "iguana-data-rg");
            const snapshots = run.one(T.rg, "iguana-snapshots-rg");
            const vault = run.one(T.azureVault, "iguana-backup");
            assert.deepStrictEqual(
                [vault.inputs.resourceGroupName, vault.inputs.identity.type, vault.retainOnDelete, snapshots.retainOnDelete],
                [dataGroup.state.name, "SystemAssigned", true, true],
            );
            const policy = run.one(T.policy, "iguana-disks");
            const [backupRule, retentionRule] = policy.inputs.properties.policyRules;
            assert.deepStrictEqual(policy.inputs.properties.datasourceTypes, ["Microsoft.Compute/disks"]);
            assert.deepStrictEqual(backupRule.trigger.schedule.repeatingTimeIntervals, ["R/2026-01-01T00:00:00+00:00/PT4H"]);
            assert.deepStrictEqual([backupRule.backupParameters.backupType, backupRule.dataStore.dataStoreType], ["Incremental", "OperationalStore"]);
            assert.deepStrictEqual(
                retentionRule.lifecycles.map((l: any) => [l.deleteAfter.duration, l.sourceDataStore.dataStoreType]),
                [[`P${DEFAULTS.backupRetentionDays}D`, "OperationalStore"]],
            );
            assert.deepStrictEqual([24, 12].map(azureBackupSchedule), ["R/2026-01-01T00:00:00+00:00/P1D", "R/2026-01-01T00:00:00+00:00/PT12H"]);
        });

        it("each data disk has a backup instance with that policy, its snapshots in the snapshots' group", async () => {
            const run = await runStack("azure-dev");
            const policy = run.one(T.policy, "iguana-disks");
            const snapshots = run.one(T.rg, "iguana-snapshots-rg");
            const instances = run.ofType(T.instance);
            assert.deepStrictEqual(
                instances.map((i) => [
                    i.name,
                    i.inputs.properties.dataSourceInfo.resourceID,
                    i.inputs.properties.policyInfo.policyId,
                    i.inputs.properties.policyInfo.policyParameters.dataStoreParametersList[0].resourceGroupId,
                ]),
                run.ofType(T.disk).map((d) => [`${d.name.replace(/-data$/, "")}-backup`, d.id, policy.id, snapshots.id]),
            );
        });

        it("the vault may read the two data disks and write snapshots in their group, and nothing else", async () => {
            const run = await runStack("azure-dev");
            const principal = run.one(T.azureVault, "iguana-backup").state.identity.principalId;
            const granted = run
                .ofType(T.assignment)
                .filter((a) => a.inputs.principalId === principal)
                .map((a) => [a.inputs.roleDefinitionId.split("/").pop(), a.inputs.scope])
                .sort();
            assert.deepStrictEqual(
                granted,
                [...run.ofType(T.disk).map((d) => [DISK_BACKUP_READER_ROLE, d.id]), [DISK_SNAPSHOT_CONTRIBUTOR_ROLE, run.one(T.rg, "iguana-snapshots-rg").id]].sort(),
            );
        });

        it("with shared storage there is no disk to back up: no vault; the share is snapshotted instead (share-snapshots.test.ts)", async () => {
            const run = await runConfig(azureConfig({ storage: { queueRecovery: "shared" }, backup: { everyHours: 6 } }));
            assert.deepStrictEqual(backupResources(run), []);
            assert.ok(!run.mocks.warnings.some((w) => w.includes("backup.")), run.mocks.warnings.join("\n"));
            const disks = await runConfig(azureConfig());
            assert.ok(!disks.mocks.warnings.some((w) => w.includes("backup.")), "data disks are backed up: nothing to warn of");
        });
    });

    describe("told when a backup fails", () => {
        it("AWS: a backup job into the cluster's vault that made no recovery point goes to the alerts topic; a completed one, or another vault's, does not", async () => {
            const run = await runStack("aws-dev");
            const vault = run.one(T.vault, "iguana-backup");
            const rule = run.one(T.eventRule, "iguana-backup-failed");
            const pattern = JSON.parse(rule.inputs.eventPattern);
            const published = (event: Record<string, unknown>) => matchesPattern(pattern, event);
            const own = (state: string) => backupJobEvent(vault.state.name, vault.state.arn, state);
            for (const state of BACKUP_JOB_FAILED_STATES) assert.ok(published(own(state)), `${state} is told`);
            for (const state of ["CREATED", "PENDING", "RUNNING", "COMPLETED"]) assert.ok(!published(own(state)), `${state} is not`);
            assert.ok(!published(backupJobEvent("another-vault", "arn:aws:backup:eu-west-1:123456789012:backup-vault:another-vault", "FAILED")), "another vault's job");
            assert.ok(!published(copyJobEvent(vault.state.arn, "FAILED")), "a copy job is the copy rule's");
            const target = run.one(T.eventTarget, "iguana-backup-failed");
            assert.deepStrictEqual([target.inputs.rule, target.inputs.arn], [rule.state.name, run.one(T.topic, "iguana-alerts").state.arn]);
            assert.deepStrictEqual(
                run.ofType(T.eventRule).map((r) => r.name),
                ["iguana-backup-failed"],
                "no copy rule without backup.copyToRegion",
            );
        });

        it("AWS: the topic admits EventBridge for those rules only and keeps the account's own publishers; the key lets EventBridge encrypt to it", async () => {
            const run = await runConfig(awsConfig({ backup: { copyToRegion: "us-west-2" } }));
            const topic = run.one(T.topic, "iguana-alerts");
            const rules = run.ofType(T.eventRule);
            const policy = run.one(T.topicPolicy, "iguana-alerts");
            assert.strictEqual(policy.inputs.arn, topic.state.arn);
            const statements = JSON.parse(policy.inputs.policy).Statement;
            const events = statements.filter((s: any) => s.Principal.Service === "events.amazonaws.com");
            const sourceArns = (statement: any) => [...statement.Condition.ArnEquals["aws:SourceArn"]].sort();
            assert.deepStrictEqual(sourceArns(events[0]), rules.map((r) => r.state.arn).sort(), "both rules, and only they");
            assert.strictEqual(rules.length, 2);
            assert.deepStrictEqual(events, [
                {
                    Sid: "EventBridgePublishesBackupFailures",
                    Effect: "Allow",
                    Principal: { Service: "events.amazonaws.com" },
                    Action: "sns:Publish",
                    Resource: topic.state.arn,
                    Condition: { ArnEquals: { "aws:SourceArn": events[0].Condition.ArnEquals["aws:SourceArn"] } },
                },
            ]);
            const own = statements.find((s: any) => s.Sid === "TheAccountsOwnPrincipals");
            assert.deepStrictEqual(
                [own.Condition, own.Action.includes("SNS:Publish"), own.Resource],
                [{ StringEquals: { "AWS:SourceOwner": "123456789012" } }, true, topic.state.arn],
            );
            const keyStatements = JSON.parse(run.one(T.key, "iguana-key").inputs.policy).Statement;
            assert.deepStrictEqual(
                keyStatements.filter((s: any) => s.Principal.Service === "events.amazonaws.com").map((s: any) => s.Action),
                [["kms:Decrypt", "kms:GenerateDataKey*"]],
            );
        });

        it("AWS, copyToRegion: a copy out of the cluster's vault that failed is told too", async () => {
            const run = await runConfig(awsConfig({ backup: { copyToRegion: "us-west-2" } }));
            const vault = run.one(T.vault, "iguana-backup");
            const rule = run.one(T.eventRule, "iguana-backup-copy-failed");
            const pattern = JSON.parse(rule.inputs.eventPattern);
            assert.ok(matchesPattern(pattern, copyJobEvent(vault.state.arn, "FAILED")));
            assert.ok(!matchesPattern(pattern, copyJobEvent(vault.state.arn, "COMPLETED")));
            assert.ok(!matchesPattern(pattern, copyJobEvent("arn:aws:backup:eu-west-1:123456789012:backup-vault:another-vault", "FAILED")));
            assert.ok(!matchesPattern(pattern, backupJobEvent(vault.state.name, vault.state.arn, "FAILED")));
            const target = run.one(T.eventTarget, "iguana-backup-copy-failed");
            assert.deepStrictEqual([target.inputs.rule, target.inputs.arn], [rule.state.name, run.one(T.topic, "iguana-alerts").state.arn]);
        });

        it("Azure: the vault's job-failure alerts are on and an alert processing rule sends the vault's alerts to the action group", async () => {
            const run = await runStack("azure-dev");
            const vault = run.one(T.azureVault, "iguana-backup");
            assert.deepStrictEqual(vault.inputs.properties.monitoringSettings, { azureMonitorAlertSettings: { alertsForAllJobFailures: "Enabled" } });
            const routing = run.one(T.alertRouting, "iguana-backup-alerts");
            assert.deepStrictEqual(
                [routing.inputs.location, routing.inputs.properties.enabled, routing.inputs.properties.scopes, routing.inputs.properties.actions],
                ["global", true, [vault.id], [{ actionType: "AddActionGroups", actionGroupIds: [run.one(T.actionGroup, "iguana-alerts").id] }]],
            );
            assert.strictEqual(routing.inputs.properties.conditions, undefined, "every alert of the vault, security alerts included");
        });

        it("no backup, nothing to tell: no rule, no topic policy, no routing, and the key admits no EventBridge", async () => {
            for (const config of [awsConfig({ backup: { enabled: false } }), azureConfig({ backup: { enabled: false } }), azureConfig({ storage: { queueRecovery: "shared" } })]) {
                const run = await runConfig(config);
                assert.deepStrictEqual(
                    run.mocks.resources.filter((r) => [T.eventRule, T.eventTarget, T.topicPolicy, T.alertRouting].includes(r.type)),
                    [],
                );
                const key = run.ofType(T.key).find((k) => k.name === "iguana-key");
                if (key) assert.ok(!key.inputs.policy.includes("events.amazonaws.com"));
            }
        });
    });

    it("backup.enabled: false registers no backup resource on either cloud", async () => {
        for (const config of [awsConfig({ backup: { enabled: false } }), azureConfig({ backup: { enabled: false } })]) {
            const run = await runConfig(config);
            assert.deepStrictEqual(backupResources(run), []);
            assert.ok(run.mocks.resources.length > 20, "the cluster itself is still built");
        }
    });

    describe("disaster recovery (examples/dr/Pulumi.aws-dr.yaml)", () => {
        const DR_STACK_FILE = path.join(__dirname, "..", "examples", "dr", "Pulumi.aws-dr.yaml");

        it("aws-prod copies every backup to us-west-2, where the DR example builds the pair from the copies and copies its own back", async () => {
            const [copy] = (await runStack("aws-prod")).ofType(T.vault).filter((v) => v.name === "iguana-backup-copy");
            assert.strictEqual(copy.inputs.region, "us-west-2");
            const { config, secretKeys } = readStackConfig("aws-dr", DR_STACK_FILE);
            const run = wrapRun(await evaluate({ stack: "aws-dr", config, secretKeys, run: () => program() }));
            assert.deepStrictEqual(
                run.ofType(T.volume).map((v) => [v.name, v.inputs.availabilityZone, v.inputs.snapshotId]),
                [
                    ["iguana-wk1-data", "us-west-2a", "snap-0123456789abcdef0"],
                    ["iguana-wk2-data", "us-west-2b", "snap-0fedcba9876543210"],
                ],
            );
            assert.strictEqual(run.one(T.vault, "iguana-backup-copy").inputs.region, "us-east-2", "the way home");
            assert.deepStrictEqual(await packViolations(run.mocks.resources, { dedicated: true, deletionProtection: true, egressRestricted: true }), []);
        });

        it("plans offline as the runbook says (npm run plan -- --stack-file ...)", async () => {
            const { code, stdout, stderr } = await runPlan("--stack-file", DR_STACK_FILE);
            assert.strictEqual(code, 0, stderr);
            assert.match(stdout, /snapshotId=snap-0123456789abcdef0/);
        });
    });

    describe("policy backups-on", () => {
        it("every shipped stack's queue is backed up; a stack whose volumes, EFS or disks are not, fails", async () => {
            for (const stack of ["aws-dev", "azure-dev"]) {
                const run = await runStack(stack);
                assert.deepStrictEqual(await packViolations(run.mocks.resources, {}), [], stack);
                const without = run.mocks.resources.filter((r) => ![T.selection, T.instance].includes(r.type));
                const found = (await packViolations(without, {})).filter((m) => m.startsWith("backups-on:"));
                assert.strictEqual(found.length, 2, `${stack}: ${found.join("; ")}`);
                assert.match(
                    found[0],
                    stack.startsWith("aws") ? /aws:ebs\/volume:Volume iguana-wk1-data is in no AWS Backup selection/ : /managed disk iguana-wk1-data has no backup instance/,
                );
                assert.deepStrictEqual(await packViolations(without, { backups: false }), [], `${stack}: off on purpose`);
            }
        });

        it("a vault not under a key of the stack, or a plan that keeps recovery points forever, fails", async () => {
            const key = { type: T.key, name: "iguana-key", props: { arn: "arn:aws:kms:eu-west-1:1:key/k" } };
            const vault = (kmsKeyArn?: string) => ({ type: T.vault, name: "iguana-backup", props: { kmsKeyArn } });
            const plan = (deleteAfter?: number) => ({
                type: T.plan,
                name: "iguana-backup",
                props: { rules: [{ ruleName: "every-4h", lifecycle: deleteAfter ? { deleteAfter } : undefined }] },
            });
            assert.deepStrictEqual(await stackViolations(backupsOn, [key, vault(key.props.arn), plan(35)]), []);
            assert.match((await stackViolations(backupsOn, [key, vault(), plan(35)]))[0], /iguana-backup is not encrypted with a KMS key of the stack/);
            assert.match((await stackViolations(backupsOn, [key, vault(key.props.arn), plan()]))[0], /keeps recovery points forever/);
        });
    });
});
