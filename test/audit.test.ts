/**
 * `audit`: the network audit trail (HIPAA 164.312(b)). AWS: a VPC flow log of all traffic to a
 * CloudWatch Logs group encrypted with the project key (whose policy lets CloudWatch Logs use
 * it), kept `retentionDays`, written by a role only the flow log service of this account can
 * take. Azure: a VNet flow log (version 2) into a storage account of the cluster that only
 * trusted Azure services can write to, whose lifecycle rule deletes it after `retentionDays`.
 * Both outlive `pulumi destroy`. The policy pack holds every stack to it.
 */
import * as assert from "assert";
import { DEFAULTS } from "../components/constants";
import { azureStorageNotPublic, flowLogsOn } from "../policy/policies";
import { PROJECT } from "../components/constants";
import { program } from "../components/program";
import { evaluate } from "../offline/evaluate";
import { RecordingMocks } from "../offline/mocks";
import { toPulumiConfig } from "../offline/stack-config";
import { awsConfig, azureConfig, runConfig, runStack } from "./helpers";
import { packViolations, violationsOf } from "./policy-harness";

const T = {
    key: "aws:kms/key:Key",
    logGroup: "aws:cloudwatch/logGroup:LogGroup",
    flowLog: "aws:ec2/flowLog:FlowLog",
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    vpc: "aws:ec2/vpc:Vpc",
    azureFlowLog: "azure-native:network:FlowLog",
    account: "azure-native:storage:StorageAccount",
    lifecycle: "azure-native:storage:ManagementPolicy",
    vnet: "azure-native:network:VirtualNetwork",
};

describe("audit: flow logs", function () {
    this.timeout(60000);

    for (const stack of ["aws-dev", "aws-prod"]) {
        it(`${stack}: all VPC traffic to a log group encrypted with the project key, kept six years and by destroy`, async () => {
            const run = await runStack(stack);
            const key = run.one(T.key, "iguana-key");
            const group = run.one(T.logGroup, "iguana-flow-logs");
            assert.deepStrictEqual([group.inputs.kmsKeyId, group.inputs.retentionInDays, group.retainOnDelete], [key.state.arn, DEFAULTS.auditRetentionDays, true]);
            const flowLog = run.one(T.flowLog, "iguana-flow-logs");
            assert.deepStrictEqual(
                [flowLog.inputs.vpcId, flowLog.inputs.trafficType, flowLog.inputs.logDestinationType, flowLog.inputs.logDestination, flowLog.inputs.maxAggregationInterval],
                [run.ofType(T.vpc)[0].id, "ALL", "cloud-watch-logs", group.state.arn, 60],
            );

            // The delivery role: only this account's VPC flow logs may take it, and it writes to the one group.
            const role = run.one(T.role, "iguana-flow-logs");
            assert.strictEqual(flowLog.inputs.iamRoleArn, role.state.arn);
            const [trust] = JSON.parse(role.inputs.assumeRolePolicy).Statement;
            assert.deepStrictEqual(trust.Principal, { Service: "vpc-flow-logs.amazonaws.com" });
            assert.deepStrictEqual(Object.keys(trust.Condition).sort(), ["ArnLike", "StringEquals"]);
            assert.match(trust.Condition.ArnLike["aws:SourceArn"], /^arn:aws:ec2:us-east-\d:\d{12}:vpc-flow-log\/\*$/);
            const [write] = JSON.parse(run.one(T.rolePolicy, "iguana-flow-logs").inputs.policy).Statement;
            assert.deepStrictEqual(write.Resource, [group.state.arn, `${group.state.arn}:*`]);
            assert.ok(!write.Action.some((a: string) => a.includes("*") || a.startsWith("logs:Delete")), write.Action.join());

            // The key: the account's IAM policies as before, and CloudWatch Logs for this account's log groups only.
            const statements = JSON.parse(key.inputs.policy).Statement;
            assert.deepStrictEqual(
                statements.map((s: { Sid: string }) => s.Sid),
                ["EnableIamPolicies", "CloudWatchAlarmsPublishToTheAlertsTopic", "EventBridgePublishesToTheAlertsTopic", "CloudWatchLogsEncryptsThisAccountsLogGroups"],
            );
            const logs = statements.find((s: { Sid: string }) => s.Sid === "CloudWatchLogsEncryptsThisAccountsLogGroups");
            assert.match(logs.Principal.Service, /^logs\.us-east-\d\.amazonaws\.com$/);
            assert.match(logs.Condition.ArnLike["kms:EncryptionContext:aws:logs:arn"], /^arn:aws:logs:us-east-\d:\d{12}:log-group:\*$/);
        });
    }

    it("AWS: the retention is the config's; with flow logs and worker logs off there is no log group, flow log or role, and the key's policy has no CloudWatch Logs statement", async () => {
        const kept = await runConfig(awsConfig({ audit: { retentionDays: 365 } }));
        assert.strictEqual(kept.one(T.logGroup, "iguana-flow-logs").inputs.retentionInDays, 365);
        const off = await runConfig(awsConfig({ audit: { flowLogs: false, workerLogs: false } }));
        for (const type of [T.logGroup, T.flowLog]) assert.deepStrictEqual(off.ofType(type), [], type);
        assert.ok(!off.ofType(T.role).some((r) => r.name === "iguana-flow-logs"));
        const statements = JSON.parse(off.one(T.key, "iguana-key").inputs.policy).Statement;
        assert.deepStrictEqual(
            statements.map((s: { Sid: string }) => s.Sid),
            ["EnableIamPolicies", "CloudWatchAlarmsPublishToTheAlertsTopic", "EventBridgePublishesToTheAlertsTopic"],
        );
        assert.deepStrictEqual(statements[0].Principal, { AWS: `arn:aws:iam::${statements[0].Principal.AWS.split(":")[4]}:root` });
    });

    for (const stack of ["azure-dev", "azure-prod"]) {
        it(`${stack}: a VNet flow log, version 2, into the cluster's own account that only trusted Azure services write to, deleted after six years, kept by destroy`, async () => {
            const run = await runStack(stack);
            const account = run.one(T.account, "iguana-flow-logs");
            const p = account.inputs;
            assert.deepStrictEqual(
                [p.kind, p.networkRuleSet, p.allowBlobPublicAccess, p.minimumTlsVersion, p.enableHttpsTrafficOnly, p.tags.holds, account.retainOnDelete],
                ["StorageV2", { defaultAction: "Deny", bypass: "AzureServices" }, false, "TLS1_2", true, "iguana-flow-logs", true],
            );
            const location = run.ofType("azure-native:resources:ResourceGroup")[0].inputs.location;
            assert.strictEqual(p.location, location, "in the VNet's region, as flow logs require");
            const flowLog = run.one(T.azureFlowLog, "iguana-flow-logs");
            assert.deepStrictEqual(
                [flowLog.inputs.targetResourceId, flowLog.inputs.storageId, flowLog.inputs.enabled, flowLog.inputs.format, flowLog.inputs.retentionPolicy],
                [run.ofType(T.vnet)[0].id, account.id, true, { type: "JSON", version: 2 }, { enabled: false, days: 0 }],
            );
            // Azure's own Network Watcher of the region: one per region and subscription, never created here.
            assert.deepStrictEqual([flowLog.inputs.resourceGroupName, flowLog.inputs.networkWatcherName], ["NetworkWatcherRG", `NetworkWatcher_${location}`]);
            const lifecycle = run.one(T.lifecycle, "iguana-flow-logs");
            assert.strictEqual(lifecycle.inputs.accountName, account.state.name ?? account.inputs.accountName);
            const [rule] = lifecycle.inputs.policy.rules;
            assert.deepStrictEqual([rule.enabled, rule.definition.actions.baseBlob.delete], [true, { daysAfterModificationGreaterThan: DEFAULTS.auditRetentionDays }]);
            assert.strictEqual(lifecycle.retainOnDelete, true, "the rule stays with the kept logs, and goes on deleting the old ones");
        });
    }

    it("Azure: a region without its Network Watcher fails the preview with what to do, or deploys without flow logs when they are off", async () => {
        const withoutWatcher = () => {
            const mocks = new RecordingMocks("westeurope");
            mocks.regionsWithoutNetworkWatcher.add("westeurope");
            return mocks;
        };
        await assert.rejects(
            evaluate({ stack: "test", config: toPulumiConfig(PROJECT, azureConfig()), mocks: withoutWatcher(), run: () => program() }),
            (error: Error) =>
                error.message.includes("audit.flowLogs: the region's Network Watcher (NetworkWatcher_westeurope in NetworkWatcherRG)") &&
                error.message.includes("az network watcher configure --locations westeurope --enabled true"),
        );
        const off = await evaluate({ stack: "test", config: toPulumiConfig(PROJECT, azureConfig({ audit: { flowLogs: false } })), mocks: withoutWatcher(), run: () => program() });
        assert.ok(off.mocks.resources.length > 20);
    });

    it("Azure: with flow logs off there is no flow log and no account for it", async () => {
        const off = await runConfig(azureConfig({ audit: { flowLogs: false } }));
        assert.deepStrictEqual(off.ofType(T.azureFlowLog), []);
        assert.ok(!off.ofType(T.account).some((a) => a.name === "iguana-flow-logs"));
    });

    it("policy: a stack without flow logs, or with a plain or unlimited log group, fails; one that turned them off on purpose passes", async () => {
        for (const [values, cloud] of [
            [awsConfig({ audit: { flowLogs: false } }), "aws"],
            [azureConfig({ audit: { flowLogs: false } }), "azure"],
        ] as const) {
            const resources = (await runConfig(values)).mocks.resources;
            const violations = await packViolations(resources, {});
            assert.ok(
                violations.some((v) => v.startsWith(`flow-logs-on: the stack has ${cloud === "aws" ? "EC2 workers" : "Azure VMs"} but no`)),
                violations.join("\n"),
            );
            assert.deepStrictEqual(await packViolations(resources, { flowLogs: false }), []);
        }
        const aws = (await runStack("aws-dev")).mocks.resources.map((r) =>
            r.type === T.logGroup && r.name === "iguana-flow-logs"
                ? { ...r, state: { ...r.state, kmsKeyId: undefined, retentionInDays: 0 } }
                : r.type === T.flowLog
                  ? { ...r, state: { ...r.state, trafficType: "REJECT" } }
                  : r,
        );
        const found = (await packViolations(aws, {})).filter((v) => v.startsWith(flowLogsOn.name));
        assert.deepStrictEqual(found.length, 3, found.join("\n"));
        const azure = (await runStack("azure-dev")).mocks.resources.map((r) =>
            r.type === T.azureFlowLog ? { ...r, state: { ...r.state, format: { type: "JSON", version: 1 } } } : r,
        );
        assert.ok((await packViolations(azure, {})).some((v) => v.includes("flow log iguana-flow-logs is format version 1")));
    });

    it("policy: the flow logs' account may let trusted Azure services through its firewall; no other account, and not with an IP rule", async () => {
        const violations = (props: Record<string, unknown>) => violationsOf(azureStorageNotPublic, T.account, props);
        const flowLogs = {
            publicNetworkAccess: "Enabled",
            networkRuleSet: { defaultAction: "Deny", bypass: "AzureServices" },
            allowBlobPublicAccess: false,
            tags: { holds: "iguana-flow-logs" },
        };
        assert.deepStrictEqual(await violations(flowLogs), []);
        assert.match((await violations({ ...flowLogs, tags: {} }))[0], /allows public network access/);
        assert.match(
            (await violations({ ...flowLogs, networkRuleSet: { ...flowLogs.networkRuleSet, ipRules: [{ iPAddressOrRange: "203.0.113.0/24" }] } }))[0],
            /allows public network access/,
        );
    });
});
