/**
 * `alerts`: who is told, and of what. AWS: an SNS topic encrypted with the project key (whose
 * policy lets CloudWatch alarms use it), each address subscribed, and alarms that publish to it
 * on firing and on recovery: every channel's target group with no healthy target, each worker's
 * failed status checks, and each worker's own signals (events.ts). Azure: an action group with
 * each address, and metric alerts on the load balancer's health probes, each VM's availability
 * and its signals.
 */
import * as assert from "assert";
import { EVENTS_NAMESPACE, SIGNAL_ALARM_WINDOWS, SIGNAL_METRICS } from "../components/constants";
import { AZURE_METRIC_ALERT_WINDOWS } from "../components/azure/alerts";
import { signalAlarms } from "../components/signal-alarms";
import { ConfigValidationError, RawClusterConfig, validateClusterConfig } from "../components/config";
import { toStackConfigMap } from "../automation/config";
import { awsConfig, azureConfig, clearState, runConfig, runStack } from "./helpers";

const T = {
    topic: "aws:sns/topic:Topic",
    subscription: "aws:sns/topicSubscription:TopicSubscription",
    alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
    key: "aws:kms/key:Key",
    targetGroup: "aws:lb/targetGroup:TargetGroup",
    nlb: "aws:lb/loadBalancer:LoadBalancer",
    listener: "aws:lb/listener:Listener",
    instance: "aws:ec2/instance:Instance",
    actionGroup: "azure-native:monitor:ActionGroup",
    metricAlert: "azure-native:monitor:MetricAlert",
    lb: "azure-native:network:LoadBalancer",
    vm: "azure-native:compute:VirtualMachine",
};

const EMAILS = ["hl7-oncall@hospital.example", "integration-team@hospital.example"];

describe("alerts", function () {
    this.timeout(60000);

    it("AWS: an encrypted topic, each address subscribed, an alarm per channel on its healthy targets and per worker on its status checks", async () => {
        const channels = Array.from({ length: 60 }, (_, i) => ({ name: `feed-${i}`, protocol: "llp", port: 10000 + i }));
        const run = await runConfig(awsConfig({ channels, alerts: { emails: EMAILS } }));
        const [topic] = run.ofType(T.topic);
        const key = run.one(T.key, "iguana-key");
        assert.strictEqual(topic.inputs.kmsMasterKeyId, key.id, "the topic is encrypted with the project key");
        const publish = JSON.parse(key.inputs.policy).Statement.find((s: { Principal: { Service?: string } }) => s.Principal.Service === "cloudwatch.amazonaws.com");
        assert.deepStrictEqual(publish?.Action, ["kms:Decrypt", "kms:GenerateDataKey*"], "CloudWatch alarms may publish to the encrypted topic");
        assert.deepStrictEqual(
            run.ofType(T.subscription).map((s) => [s.inputs.topic, s.inputs.protocol, s.inputs.endpoint]),
            EMAILS.map((e) => [topic.state.arn, "email", e]),
        );

        const alarms = run.ofType(T.alarm);
        // The takeover event and the signals' alarms: their own tests (events.test.ts, below).
        const ownTests = new Set([
            "iguana-took-over",
            ...["wk1", "wk2"].flatMap((w) => signalAlarms(w, "", { unhealthyMinutes: 5, diskFillPercent: 80 }).map((a) => `iguana-${w}-${a.suffix}`)),
        ]);
        for (const alarm of alarms.filter((a) => !ownTests.has(a.name))) {
            assert.deepStrictEqual(
                [alarm.inputs.alarmActions, alarm.inputs.okActions],
                [[topic.state.arn], [topic.state.arn]],
                `${alarm.name} tells the topic, firing and recovered`,
            );
            // Missing data is an outage or a lost worker, except for the two-active alarm (the no-target one reports it).
            const missing = alarm.name.endsWith("-two-active") ? "notBreaching" : "breaching";
            assert.deepStrictEqual([alarm.inputs.period, alarm.inputs.evaluationPeriods, alarm.inputs.datapointsToAlarm, alarm.inputs.treatMissingData], [60, 2, 2, missing]);
        }
        // Every channel, on whichever of the NLBs (60 channels: more than one) its listener is.
        const nlbs = run.ofType(T.nlb);
        assert.ok(nlbs.length >= 2, `${nlbs.length} NLBs`);
        for (const channel of channels) {
            const alarm = run.one(T.alarm, `iguana-${channel.name}-no-target`);
            const targetGroup = run.one(T.targetGroup, `iguana-${channel.name}`);
            const listener = run.one(T.listener, `iguana-${channel.name}`);
            const nlb = nlbs.find((n) => n.state.arn === listener.inputs.loadBalancerArn)!;
            assert.deepStrictEqual(
                [alarm.inputs.namespace, alarm.inputs.metricName, alarm.inputs.statistic, alarm.inputs.comparisonOperator, alarm.inputs.threshold],
                ["AWS/NetworkELB", "HealthyHostCount", "Maximum", "LessThanThreshold", 1],
            );
            assert.deepStrictEqual(
                alarm.inputs.dimensions,
                { TargetGroup: targetGroup.state.arnSuffix, LoadBalancer: nlb.state.arnSuffix },
                `${alarm.name}: its own target group on its own NLB`,
            );
            assert.match(alarm.inputs.dimensions.TargetGroup, /^targetgroup\//);
            assert.match(alarm.inputs.dimensions.LoadBalancer, /^net\//);
            // The role probe in mind: behind an active-passive channel one target is healthy; two is two active workers.
            const twoActive = run.one(T.alarm, `iguana-${channel.name}-two-active`);
            assert.deepStrictEqual(
                [twoActive.inputs.metricName, twoActive.inputs.statistic, twoActive.inputs.comparisonOperator, twoActive.inputs.threshold, twoActive.inputs.dimensions],
                ["HealthyHostCount", "Maximum", "GreaterThanThreshold", 1, alarm.inputs.dimensions],
            );
        }
        for (const instance of run.ofType(T.instance)) {
            const alarm = run.one(T.alarm, `${instance.name}-status-check`);
            assert.deepStrictEqual(
                [alarm.inputs.namespace, alarm.inputs.metricName, alarm.inputs.dimensions, alarm.inputs.statistic, alarm.inputs.comparisonOperator, alarm.inputs.threshold],
                ["AWS/EC2", "StatusCheckFailed", { InstanceId: instance.id }, "Maximum", "GreaterThanOrEqualToThreshold", 1],
            );
        }
        assert.strictEqual(
            alarms.length,
            2 * channels.length + 2 + 1 + 2 * 3,
            "two alarms per channel, a worker alarm each, the takeover event (events.test.ts), three on each worker's signals, nothing else",
        );
    });

    it("AWS: an active-active channel alarms when only one worker's Iguana is healthy (no redundancy), not on two", async () => {
        const run = await runStack("aws-prod");
        const oneTarget = run.one(T.alarm, "iguana-results-api-one-target");
        assert.deepStrictEqual(
            [oneTarget.inputs.metricName, oneTarget.inputs.statistic, oneTarget.inputs.comparisonOperator, oneTarget.inputs.threshold],
            ["HealthyHostCount", "Minimum", "LessThanThreshold", 2],
        );
        assert.strictEqual(run.ofType(T.alarm).filter((a) => a.name === "iguana-results-api-two-active").length, 0, "two healthy is what active-active means");
    });

    it("AWS: without addresses the topic and alarms still exist (for other subscribers); a floating IP has worker alarms only", async () => {
        const dev = await runStack("aws-dev");
        assert.strictEqual(dev.ofType(T.topic).length, 1);
        assert.deepStrictEqual(dev.ofType(T.subscription), []);
        assert.ok(dev.ofType(T.alarm).length > 2);
        const floating = await runConfig(awsConfig({ failover: { strategy: "floating-ip" } }));
        assert.deepStrictEqual(
            floating
                .ofType(T.alarm)
                .map((a) => a.name)
                .sort(),
            ["iguana-took-over", ...["wk1", "wk2"].flatMap((w) => ["disk-fill", "iguana-unhealthy", "lease-store", "status-check"].map((a) => `iguana-${w}-${a}`))].sort(),
        );
    });

    it("AWS: each worker's own signals alarm: Iguana unhealthy or the worker silent for alerts.unhealthyMinutes, the lease store unreachable, the disk over alerts.diskFillPercent", async () => {
        const run = await runConfig(awsConfig({ alerts: { emails: EMAILS, unhealthyMinutes: 15, diskFillPercent: 70 } }));
        const [topic] = run.ofType(T.topic);
        for (const worker of ["wk1", "wk2"]) {
            const got = ["iguana-unhealthy", "lease-store", "disk-fill"].map((suffix) => {
                const a = run.one(T.alarm, `iguana-${worker}-${suffix}`).inputs;
                assert.deepStrictEqual([a.alarmActions, a.okActions], [[topic.state.arn], [topic.state.arn]]);
                return [
                    a.namespace,
                    a.metricName,
                    a.dimensions,
                    a.statistic,
                    a.comparisonOperator,
                    a.threshold,
                    a.period,
                    a.evaluationPeriods,
                    a.datapointsToAlarm,
                    a.treatMissingData,
                ];
            });
            const dims = { Cluster: "iguana", Worker: worker };
            assert.deepStrictEqual(got, [
                [EVENTS_NAMESPACE, SIGNAL_METRICS.iguanaHealthy, dims, "Maximum", "LessThanThreshold", 1, 60, 15, 15, "breaching"],
                [EVENTS_NAMESPACE, SIGNAL_METRICS.leaseStoreReachable, dims, "Maximum", "LessThanThreshold", 1, 60, 5, 5, "notBreaching"],
                [EVENTS_NAMESPACE, SIGNAL_METRICS.dataDiskUsedPercent, dims, "Maximum", "GreaterThanThreshold", 70, 60, 5, 5, "notBreaching"],
            ]);
        }
    });

    it("Azure: each VM's own signals alert on its custom metrics, over the alarm's own window (the defaults: 5 minutes, 80 %)", async () => {
        const run = await runConfig(azureConfig({}));
        for (const vm of run.ofType(T.vm)) {
            const worker = vm.name.replace(/^iguana-/, "");
            const got = ["iguana-unhealthy", "lease-store", "disk-fill"].map((suffix) => {
                const a = run.one(T.metricAlert, `iguana-${worker}-${suffix}`).inputs;
                const [c] = a.criteria.allOf;
                return [a.scopes, a.windowSize, c.metricNamespace, c.metricName, c.timeAggregation, c.operator, c.threshold, c.skipMetricValidation];
            });
            assert.deepStrictEqual(got, [
                [[vm.id], "PT5M", EVENTS_NAMESPACE, SIGNAL_METRICS.iguanaHealthy, "Maximum", "LessThan", 1, true],
                [[vm.id], "PT5M", EVENTS_NAMESPACE, SIGNAL_METRICS.leaseStoreReachable, "Maximum", "LessThan", 1, true],
                [[vm.id], "PT5M", EVENTS_NAMESPACE, SIGNAL_METRICS.dataDiskUsedPercent, "Maximum", "GreaterThan", 80, true],
            ]);
        }
    });

    it("Azure: an action group with each address, an alert per channel port when no backend answers its probe, one per VM when it is unavailable", async () => {
        const run = await runStack("azure-prod");
        const channels = run.ofType(T.lb)[0].inputs.loadBalancingRules.filter((r: { name: string }) => r.name !== "dashboard");
        const withEmails = await runConfig(azureConfig({ alerts: { emails: EMAILS } }));
        const [group] = withEmails.ofType(T.actionGroup);
        assert.deepStrictEqual(
            group.inputs.emailReceivers.map((r: { emailAddress: string }) => r.emailAddress),
            EMAILS,
        );
        assert.ok(group.inputs.groupShortName.length <= 12 && group.inputs.enabled === true);

        const [actionGroup] = run.ofType(T.actionGroup);
        assert.deepStrictEqual(actionGroup.inputs.emailReceivers, [], "azure-prod names no address: the group exists for other receivers");
        const lb = run.ofType(T.lb)[0];
        const alerts = run.ofType(T.metricAlert);
        for (const alert of alerts) {
            assert.deepStrictEqual([alert.inputs.actions, alert.inputs.autoMitigate, alert.inputs.evaluationFrequency], [[{ actionGroupId: actionGroup.id }], true, "PT1M"]);
        }
        for (const rule of channels) {
            const channel = rule.name.replace(/^(llp|http)-/, "");
            const alert = run.one(T.metricAlert, `iguana-${channel}-no-backend`);
            assert.deepStrictEqual([alert.inputs.scopes, alert.inputs.severity], [[lb.id], 0]);
            const [criterion] = alert.inputs.criteria.allOf;
            assert.deepStrictEqual(
                [criterion.metricName, criterion.timeAggregation, criterion.operator, criterion.threshold, criterion.dimensions],
                ["DipAvailability", "Maximum", "LessThan", 1, [{ name: "FrontendPort", operator: "Include", values: [String(rule.frontendPort)] }]],
                `${alert.name}: the maximum over both backends of its own port's probe`,
            );
            // Averaged over both backends: 50 with one answering, 100 with both.
            const activeActive = String(rule.probe.id).endsWith("/probes/iguana-health");
            const redundancy = run.one(T.metricAlert, `iguana-${channel}-${activeActive ? "one-backend" : "two-active"}`);
            const [average] = redundancy.inputs.criteria.allOf;
            assert.deepStrictEqual(
                [average.metricName, average.timeAggregation, average.operator, average.threshold, average.dimensions],
                ["DipAvailability", "Average", activeActive ? "LessThan" : "GreaterThan", activeActive ? 90 : 75, criterion.dimensions],
                `${redundancy.name}`,
            );
        }
        for (const vm of run.ofType(T.vm)) {
            const worker = vm.name.replace(/^iguana-/, "");
            const alert = run.one(T.metricAlert, `iguana-${worker}-unavailable`);
            const [criterion] = alert.inputs.criteria.allOf;
            assert.deepStrictEqual([alert.inputs.scopes, criterion.metricName, criterion.operator, criterion.threshold], [[vm.id], "VmAvailabilityMetric", "LessThan", 1]);
        }
        assert.ok(
            channels.some((r: { probe: { id: string } }) => r.probe.id.endsWith("/probes/iguana-health")),
            "azure-prod has an active-active channel",
        );
        const dataPath = run.one(T.metricAlert, "iguana-data-path");
        const [path] = dataPath.inputs.criteria.allOf;
        assert.deepStrictEqual(
            [dataPath.inputs.scopes, path.metricNamespace, path.metricName, path.timeAggregation, path.operator, path.threshold],
            [[lb.id], "Microsoft.Network/loadBalancers", "VipAvailability", "Average", "LessThan", 90],
            "the load balancer's own health: its data path",
        );
        assert.strictEqual(
            alerts.length,
            2 * channels.length + 1 + 2 + 2 + 2 * 3,
            "two per channel, the data path, one per VM, each VM's takeover (events.test.ts) and three on each VM's signals",
        );
    });

    it("Azure: every metric alert's window is one Azure takes, and no shorter than its evaluation frequency, at every allowed alerts.unhealthyMinutes", async () => {
        const runs = [await runStack("azure-dev"), await runStack("azure-prod")];
        // One at a time: the mocks are the process's.
        for (const m of SIGNAL_ALARM_WINDOWS) runs.push(await runConfig(azureConfig({ alerts: { unhealthyMinutes: m } })));
        const minutes = (iso: string) => ({ PT1M: 1, PT5M: 5, PT15M: 15, PT30M: 30, PT1H: 60, PT6H: 360, PT12H: 720, P1D: 1440 })[iso] ?? NaN;
        for (const run of runs) {
            for (const alert of run.ofType(T.metricAlert)) {
                const { windowSize, evaluationFrequency } = alert.inputs;
                assert.ok(AZURE_METRIC_ALERT_WINDOWS.includes(windowSize), `${alert.name}: windowSize ${windowSize}`);
                assert.ok(minutes(windowSize) >= minutes(evaluationFrequency), `${alert.name}: ${windowSize} shorter than ${evaluationFrequency}`);
            }
        }
        const hour = await runConfig(azureConfig({ alerts: { unhealthyMinutes: 60 } }));
        assert.strictEqual(hour.one(T.metricAlert, "iguana-wk1-iguana-unhealthy").inputs.windowSize, "PT1H");
    });

    it("alerts.unhealthyMinutes and alerts.diskFillPercent are refused outside what both clouds take", () => {
        const problem = (alerts: Record<string, unknown>, key: string) => {
            try {
                validateClusterConfig(
                    { cloud: "azure", region: "westeurope", channels: [{ name: "adt-in", protocol: "llp", port: 2575 }], network: { allowedCidrs: ["10.20.0.0/16"] }, alerts },
                    "t",
                );
                return undefined;
            } catch (e) {
                if (!(e instanceof ConfigValidationError)) throw e;
                return e.problems.find((p) => p.key === `iguana-ha:alerts.${key}`)?.message;
            }
        };
        assert.match(problem({ unhealthyMinutes: 10 }, "unhealthyMinutes") ?? "", /not a window.*5, 15, 30, 60/);
        assert.match(problem({ unhealthyMinutes: 2 }, "unhealthyMinutes") ?? "", /5-60/);
        assert.match(problem({ diskFillPercent: 99 }, "diskFillPercent") ?? "", /50-95/);
        assert.strictEqual(problem({ unhealthyMinutes: 30, diskFillPercent: 90 }, "unhealthyMinutes"), undefined);
    });

    describe("alerts.webhookUrl", () => {
        const URL = "https://events.pagerduty.com/integration/0123456789abcdef0123456789abcdef/enqueue";
        const secretValue = (v: unknown) => (v && typeof v === "object" && "value" in (v as object) ? (v as { value: unknown }).value : undefined);

        it("AWS: an HTTPS subscription to the topic, its endpoint secret: in no state or plan in clear", async () => {
            const run = await runConfig(awsConfig({ alerts: { emails: EMAILS, webhookUrl: URL } }));
            const [topic] = run.ofType(T.topic);
            const hook = run.one(T.subscription, "iguana-alerts-webhook");
            assert.deepStrictEqual([hook.inputs.topic, hook.inputs.protocol, secretValue(hook.inputs.endpoint)], [topic.state.arn, "https", URL]);
            assert.ok(!clearState(run.mocks.resources).includes("0123456789abcdef"), "the URL's credential is in clear");
            const none = await runConfig(awsConfig({ alerts: { emails: EMAILS } }));
            assert.ok(!none.ofType(T.subscription).some((s) => s.name === "iguana-alerts-webhook"));
        });

        it("Azure: a webhook receiver with the common alert schema in the action group, its URL secret", async () => {
            const run = await runConfig(azureConfig({ alerts: { webhookUrl: URL } }));
            const group = run.one(T.actionGroup, "iguana-alerts");
            // A secret inside a property makes the whole property secret.
            const receivers = secretValue(group.inputs.webhookReceivers) as { name: string; serviceUri: string; useCommonAlertSchema: boolean }[];
            assert.ok(receivers, "the receivers are secret");
            assert.deepStrictEqual(receivers, [{ name: "webhook", serviceUri: URL, useCommonAlertSchema: true }]);
            assert.ok(!clearState(run.mocks.resources).includes("0123456789abcdef"), "the URL's credential is in clear");
            const none = await runConfig(azureConfig());
            assert.strictEqual(none.one(T.actionGroup, "iguana-alerts").inputs.webhookReceivers, undefined);
        });

        it("is refused when it is not https, not a URL, or stored in clear in the stack file", () => {
            const raw = (webhookUrl: unknown, stackKeys?: RawClusterConfig["stackKeys"]): RawClusterConfig => ({
                cloud: "aws",
                region: "eu-west-1",
                iguana: { edition: "iguanax", installerUrl: "https://downloads.hospital.example/iguana.tar.gz" },
                channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
                network: { allowedCidrs: ["10.20.0.0/16"] },
                alerts: { webhookUrl },
                ...(stackKeys ? { stackKeys } : {}),
            });
            const problem = (r: RawClusterConfig) => {
                try {
                    validateClusterConfig(r, "t");
                    return undefined;
                } catch (e) {
                    if (!(e instanceof ConfigValidationError)) throw e;
                    return e.problems.find((p) => p.key === "iguana-ha:alerts.webhookUrl")?.message;
                }
            };
            assert.match(problem(raw("http://hooks.hospital.example/alerts")) ?? "", /not an https URL/);
            assert.match(problem(raw("hooks.hospital.example/alerts")) ?? "", /not an https URL/);
            assert.match(problem(raw(URL, [{ key: "iguana-ha:alerts", value: JSON.stringify({ webhookUrl: URL }) }])) ?? "", /stored in clear.*--secret/);
            assert.strictEqual(problem(raw(URL, [{ key: "iguana-ha:alerts", value: undefined }])), undefined, "a secret key: the engine withholds its value");
        });

        it("the Automation API stores the alerts key secret when it holds a webhook URL", () => {
            const input = { cloud: "aws", region: "eu-west-1", alerts: { webhookUrl: URL } } as unknown as Parameters<typeof toStackConfigMap>[0];
            assert.strictEqual(toStackConfigMap(input)["iguana-ha:alerts"].secret, true);
            const plain = { cloud: "aws", region: "eu-west-1", alerts: { emails: EMAILS } } as unknown as Parameters<typeof toStackConfigMap>[0];
            assert.strictEqual(toStackConfigMap(plain)["iguana-ha:alerts"].secret, false);
        });
    });
});
