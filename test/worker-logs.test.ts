/**
 * `audit.workerLogs`: each worker's syslog in the cloud, kept `audit.retentionDays`, with a saved
 * query per failover event. AWS: Systems Manager installs and configures the CloudWatch agent on
 * both workers; the agent may write to the one log group and read its one configuration. Azure:
 * the Azure Monitor Agent on both VMs, a data collection rule to a kept workspace, and an alert on
 * a worker whose agent falls silent. That the queries find what booted workers write is the boot
 * test's (boot/checks.ts, workerLogs).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { LEASE_GUARD_LOG_PREFIX, LOG_EVENTS, SCRIPTS_LOG_TAG, insightsQuery, kqlQuery, logEventsOf, syslogLinePattern } from "../components/log-events";
import { SHIPPED_LOG_FILES } from "../components/aws/logs";
import { heartbeatQuery } from "../components/azure/logs";
import { workerLogsOn } from "../policy/policies";
import { awsConfig, azureConfig, runConfig, runStack } from "./helpers";
import { packViolations } from "./policy-harness";

const T = {
    logGroup: "aws:cloudwatch/logGroup:LogGroup",
    parameter: "aws:ssm/parameter:Parameter",
    document: "aws:ssm/document:Document",
    association: "aws:ssm/association:Association",
    query: "aws:cloudwatch/queryDefinition:QueryDefinition",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    role: "aws:iam/role:Role",
    key: "aws:kms/key:Key",
    instance: "aws:ec2/instance:Instance",
    workspace: "azure-native:operationalinsights:Workspace",
    table: "azure-native:operationalinsights:Table",
    search: "azure-native:operationalinsights:SavedSearch",
    rule: "azure-native:monitor:DataCollectionRule",
    ruleAssociation: "azure-native:monitor:DataCollectionRuleAssociation",
    extension: "azure-native:compute:VirtualMachineExtension",
    logAlert: "azure-native:monitor:ScheduledQueryRule",
    actionGroup: "azure-native:monitor:ActionGroup",
    vm: "azure-native:compute:VirtualMachine",
    group: "azure-native:resources:ResourceGroup",
};
const AWS_TYPES = [T.parameter, T.document, T.association, T.query];
const AZURE_TYPES = [T.workspace, T.table, T.search, T.rule, T.ruleAssociation, T.extension, T.logAlert];

describe("audit.workerLogs: the workers' logs in the cloud", function () {
    this.timeout(60000);

    it("AWS: a kept, encrypted log group with the config's retention, the agent's configuration shipping syslog and cloud-init's output into it", async () => {
        const run = await runConfig(awsConfig({ audit: { retentionDays: 365 } }));
        const group = run.one(T.logGroup, "iguana-worker-logs");
        assert.strictEqual(group.inputs.retentionInDays, 365);
        assert.strictEqual(group.inputs.kmsKeyId, run.one(T.key, "iguana-key").state.arn, "encrypted with the project key");
        assert.strictEqual(group.retainOnDelete, true, "kept by destroy, as the flow logs are");
        // The provider marks a parameter's value secret: the mocks record it wrapped.
        const value = run.one(T.parameter, "iguana-cloudwatch-agent").inputs.value;
        const config = JSON.parse(typeof value === "string" ? value : value.value);
        const files = config.logs.logs_collected.files.collect_list;
        assert.deepStrictEqual(
            files.map((f: { file_path: string }) => f.file_path),
            SHIPPED_LOG_FILES.map((f) => f.path),
        );
        assert.ok(
            files.every((f: { log_group_name: string; log_stream_name: string }) => f.log_group_name === group.state.name && f.log_stream_name.startsWith("{instance_id}/")),
            "every file to the cluster's group, one stream per worker and file",
        );
        assert.strictEqual(config.metrics, undefined, "logs only: the signals are the workers' own metrics");
    });

    it("AWS: Systems Manager installs the agent, then configures it from the parameter, on both workers; the worker may write to that group and read that parameter only", async () => {
        const run = await runConfig(awsConfig());
        const parameter = run.one(T.parameter, "iguana-cloudwatch-agent");
        const document = run.one(T.document, "iguana-cloudwatch-agent");
        const steps = JSON.parse(document.inputs.content).mainSteps;
        assert.deepStrictEqual(
            steps.map((s: { inputs: { documentPath: string } }) => s.inputs.documentPath),
            ["AWS-ConfigureAWSPackage", "AmazonCloudWatch-ManageAgent"],
        );
        assert.deepStrictEqual(steps[0].inputs.documentParameters, { action: "Install", name: "AmazonCloudWatchAgent" });
        assert.strictEqual(steps[1].inputs.documentParameters.optionalConfigurationSource, "ssm");
        assert.strictEqual(steps[1].inputs.documentParameters.optionalConfigurationLocation, parameter.state.name);
        const association = run.one(T.association, "iguana-cloudwatch-agent");
        assert.strictEqual(association.inputs.name, document.state.name);
        assert.deepStrictEqual(association.inputs.targets, [{ key: "InstanceIds", values: run.ofType(T.instance).map((i) => i.id) }]);
        assert.strictEqual(run.ofType(T.instance).length, 2);

        const policy = JSON.parse(run.one(T.rolePolicy, "iguana-worker-logs").inputs.policy);
        assert.strictEqual(run.one(T.rolePolicy, "iguana-worker-logs").inputs.role, run.one(T.role, "iguana-worker-role").id);
        const group = run.one(T.logGroup, "iguana-worker-logs").state.arn;
        assert.deepStrictEqual(
            policy.Statement.map((s: { Action: string | string[]; Resource: string | string[] }) => [s.Action, s.Resource]),
            [
                [
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    [group, `${group}:*`],
                ],
                ["ssm:GetParameter", parameter.state.arn],
            ],
        );
    });

    it("AWS: a saved Logs Insights query per failover event, on the workers' group", async () => {
        const run = await runConfig(awsConfig());
        const group = run.one(T.logGroup, "iguana-worker-logs").state.name;
        for (const event of logEventsOf("aws")) {
            const query = run.one(T.query, `iguana-${event.name}`);
            assert.deepStrictEqual(query.inputs.logGroupNames, [group], event.name);
            assert.strictEqual(query.inputs.queryString, insightsQuery(event));
        }
        assert.strictEqual(run.ofType(T.query).length, logEventsOf("aws").length);
        assert.ok(!run.ofType(T.query).some((q) => q.name === "iguana-share-snapshots"), "no query for what only Azure workers write");
    });

    it("Azure: a kept workspace whose Syslog table keeps audit.retentionDays (730 of them queryable), no shared keys", async () => {
        for (const [days, interactive, workspaceDays] of [
            [3653, 730, 730],
            [365, 365, 365],
            [7, 7, 30],
        ]) {
            const run = await runConfig(azureConfig({ audit: { retentionDays: days } }));
            const workspace = run.one(T.workspace, "iguana-worker-logs");
            const dataGroup = run.one(T.group, "iguana-data-rg").state.name;
            assert.strictEqual(workspace.inputs.resourceGroupName, dataGroup, "in the data resource group");
            assert.strictEqual(workspace.retainOnDelete, true);
            assert.strictEqual(workspace.inputs.retentionInDays, workspaceDays, `${days} days: the workspace's default`);
            assert.strictEqual(workspace.inputs.features.disableLocalAuth, true);
            const table = run.one(T.table, "iguana-syslog");
            assert.deepStrictEqual(
                [table.inputs.tableName, table.inputs.workspaceName, table.inputs.retentionInDays, table.inputs.totalRetentionInDays, table.retainOnDelete],
                ["Syslog", workspace.state.name, interactive, days, true],
                `${days} days`,
            );
        }
    });

    it("Azure: the agent on both VMs (by their own identity), the rule sending their syslog to the workspace, a saved search per event", async () => {
        const run = await runConfig(azureConfig());
        const workspace = run.one(T.workspace, "iguana-worker-logs");
        const rule = run.one(T.rule, "iguana-worker-logs");
        const syslog = rule.inputs.dataSources.syslog;
        assert.strictEqual(syslog.length, 1);
        assert.ok(
            ["daemon", "user"].every((f) => syslog[0].facilityNames.includes(f)),
            "services (daemon) and logger (user)",
        );
        assert.ok(syslog[0].logLevels.includes("Info") && !syslog[0].logLevels.includes("Debug"));
        const [destination] = rule.inputs.destinations.logAnalytics;
        assert.strictEqual(destination.workspaceResourceId, workspace.id);
        assert.deepStrictEqual(rule.inputs.dataFlows, [{ streams: syslog[0].streams, destinations: [destination.name] }]);
        const vms = run.ofType(T.vm);
        assert.strictEqual(vms.length, 2);
        for (const vm of vms) {
            assert.strictEqual(vm.inputs.identity.type, "SystemAssigned", "the agent signs in as the VM");
            const agent = run.ofType(T.extension).find((e) => e.inputs.vmName === vm.state.name);
            assert.ok(agent, `${vm.name}: the agent`);
            assert.deepStrictEqual([agent.inputs.publisher, agent.inputs.type, agent.inputs.enableAutomaticUpgrade], ["Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", true]);
            assert.ok(
                run.ofType(T.ruleAssociation).some((a) => a.inputs.resourceUri === vm.id && a.inputs.dataCollectionRuleId === rule.id),
                `${vm.name}: associated with the rule`,
            );
        }
        for (const event of logEventsOf("azure")) {
            const search = run.one(T.search, `iguana-${event.name}`);
            assert.deepStrictEqual([search.inputs.workspaceName, search.inputs.query], [workspace.state.name, kqlQuery(event)], event.name);
        }
    });

    it("Azure: an alert per worker whose agent sent no heartbeat in the window, to the action group", async () => {
        const run = await runConfig(azureConfig());
        const workspace = run.one(T.workspace, "iguana-worker-logs");
        const actionGroup = run.one(T.actionGroup, "iguana-alerts");
        for (const vm of run.ofType(T.vm)) {
            const worker = vm.name.replace(/^iguana-/, "");
            const alert = run.one(T.logAlert, `iguana-${worker}-silent`);
            assert.deepStrictEqual(alert.inputs.scopes, [workspace.id]);
            const [criterion] = alert.inputs.criteria.allOf;
            assert.deepStrictEqual([criterion.query, criterion.timeAggregation, criterion.operator, criterion.threshold], [heartbeatQuery(vm.id!), "Count", "LessThan", 1]);
            assert.deepStrictEqual(alert.inputs.actions.actionGroups, [actionGroup.id]);
            assert.strictEqual(alert.inputs.autoMitigate, true, "told of the recovery too");
            assert.match(alert.inputs.description, /no heartbeat in the last 5 minutes/);
            assert.deepStrictEqual([alert.inputs.windowSize, alert.inputs.evaluationFrequency], ["PT5M", "PT5M"]);
        }
    });

    it("audit.workerLogs: false builds none of it, on either cloud", async () => {
        const aws = await runConfig(awsConfig({ audit: { workerLogs: false } }));
        for (const type of AWS_TYPES) assert.deepStrictEqual(aws.ofType(type), [], type);
        assert.ok(!aws.ofType(T.logGroup).some((g) => g.name === "iguana-worker-logs"));
        assert.ok(!aws.ofType(T.rolePolicy).some((p) => p.name === "iguana-worker-logs"));
        const azure = await runConfig(azureConfig({ audit: { workerLogs: false } }));
        for (const type of AZURE_TYPES) assert.deepStrictEqual(azure.ofType(type), [], type);
    });
});

describe("policy worker-logs-on", function () {
    this.timeout(60000);
    const found = async (resources: Parameters<typeof packViolations>[0], config = {}) =>
        (await packViolations(resources, config)).filter((v) => v.startsWith(`${workerLogsOn.name}:`));

    it("AWS: an instance outside the agent's association fails; one whose association runs another document fails; audit.workerLogs: false passes", async () => {
        const run = await runStack("aws-dev");
        assert.deepStrictEqual(await found(run.mocks.resources), []);
        const [wk1] = run.ofType(T.instance);
        const wk1Id = wk1.state.arn.split("/").pop();
        const oneTarget = run.mocks.resources.map((r) =>
            r.type === T.association ? { ...r, state: { ...r.state, targets: [{ key: "InstanceIds", values: r.state.targets[0].values.filter((v: string) => v !== wk1Id) }] } } : r,
        );
        assert.deepStrictEqual(await found(oneTarget), [`${workerLogsOn.name}: instance ${wk1.name} has no CloudWatch agent association: ship its logs (audit.workerLogs).`]);
        const otherDocument = run.mocks.resources.map((r) => (r.type === T.document ? { ...r, state: { ...r.state, content: "{}" } } : r));
        assert.strictEqual((await found(otherDocument)).length, 2, "both instances");
        const off = await runConfig(awsConfig({ audit: { workerLogs: false } }));
        assert.strictEqual((await found(off.mocks.resources)).length, 2);
        assert.deepStrictEqual(await found(off.mocks.resources, { workerLogs: false }), []);
    });

    it("Azure: a VM without the agent, or outside the rule, fails", async () => {
        const run = await runStack("azure-dev");
        assert.deepStrictEqual(await found(run.mocks.resources), []);
        const noAgent = run.mocks.resources.filter((r) => !(r.type === T.extension && r.name === "iguana-wk2-monitor-agent"));
        assert.deepStrictEqual(await found(noAgent), [`${workerLogsOn.name}: VM iguana-wk2 runs no Azure Monitor Agent: ship its logs (audit.workerLogs).`]);
        const noRule = run.mocks.resources.filter((r) => r.type !== T.ruleAssociation);
        assert.strictEqual((await found(noRule)).length, 2);
    });
});

describe("the saved queries read the lines the workers write", () => {
    const lines: Record<string, string[]> = {
        // rsyslog's file format on Ubuntu 24.04 (RFC 3339 time) and before (traditional).
        "role-changes": ["2026-12-07T03:00:01.123456+00:00 iguana-wk1 iguana-ha[812]: role of wk1: BACKUP", "Dec  7 03:00:01 iguana-wk2 iguana-ha: role of wk2: MASTER"],
        "became-active": ["2026-12-07T03:00:01.123456+00:00 iguana-wk2 iguana-ha[812]: role of wk2: MASTER"],
        "lease-taken-over": ["Dec  7 03:00:01 iguana-wk2 python3[601]: iguana-ha lease: active (epoch 7); took over from wk1"],
        "iguana-service": ["Dec  7 03:00:01 iguana-wk1 iguana-ha[900]: Iguana on wk1: start"],
        "share-snapshots": ["2026-12-07T04:00:02.5+00:00 iguana-wk2 iguana-ha[1200]: share snapshot: took snapshot 2026-12-07T04:00:01.1234567Z of iguana"],
        "llp-gate": ["Dec  7 03:00:01 iguana-wk1 iguana-ha[900]: LLP ports 2575 2576: open", "Dec  7 03:00:01 iguana-wk2 iguana-ha: LLP ports (none): close"],
    };
    const elsewhere: Record<string, string[]> = {
        "became-active": ["Dec  7 03:00:01 iguana-wk2 iguana-ha[812]: role of wk2: BACKUP", "Dec  7 03:00:01 iguana-wk2 sshd[9]: role of wk2: MASTER"],
        "lease-taken-over": ["Dec  7 03:00:01 iguana-wk1 python3[601]: iguana-ha lease: active (epoch 1)"],
        "share-snapshots": ["Dec  7 04:00:01 iguana-wk1 iguana-ha[1200]: share snapshot: this worker is not active (BACKUP): the active worker takes the snapshot"],
    };
    for (const event of LOG_EVENTS.filter((e) => lines[e.name] || elsewhere[e.name])) {
        it(`${event.name}: finds its lines and no other`, () => {
            const pattern = new RegExp(syslogLinePattern(event));
            for (const line of lines[event.name] ?? []) assert.match(line, pattern);
            for (const line of elsewhere[event.name] ?? []) assert.doesNotMatch(line, pattern);
        });
    }

    it("the tag and prefix the events name are the ones the scripts and the lease guard write", () => {
        const guard = fs.readFileSync(path.join(__dirname, "../components/bootstrap/lease-guard.py"), "utf8");
        assert.ok(guard.includes(`print(f"${LEASE_GUARD_LOG_PREFIX}{message}"`), "lease-guard.py's log()");
        const scripts = fs.readFileSync(path.join(__dirname, "../components/bootstrap/scripts.ts"), "utf8");
        assert.ok(scripts.includes('logger -t ${SCRIPTS_LOG_TAG} "role of ${s.self.name}: $state"'), "the notify script");
        assert.strictEqual(SCRIPTS_LOG_TAG, "iguana-ha");
    });
});
