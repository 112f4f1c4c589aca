import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { listStacks } from "../offline/stack-config";
import { runPlan } from "./helpers";
import { ProcessResult, runProcess } from "./tools";

const ROOT = path.join(__dirname, "..");

/** `npm run plan`'s command line as a child process; started at once, awaited by the test. */
function startPlanProcess(...args: string[]): Promise<ProcessResult> {
    return runProcess(process.execPath, [require.resolve("ts-node/dist/bin"), "--transpile-only", path.join(ROOT, "tools", "plan.ts"), ...args], { cwd: ROOT });
}

function writeBadStackFile(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-plan-"));
    const file = path.join(dir, "Pulumi.bad.yaml");
    fs.writeFileSync(
        file,
        [
            "config:",
            "  aws:region: us-east-1",
            "  iguana-ha:cloud: aws",
            "  iguana-ha:channels:",
            "    - { name: adt, protocol: llp, port: 99999 }",
            "  iguana-ha:network:",
            "    allowedCidrs: []",
        ].join("\n"),
    );
    return file;
}

// Each plan process spends about two seconds of one core loading modules, while the suite itself
// mostly keeps one core busy. This hook sits outside any describe, so mocha runs it once before
// the whole suite: both processes start at once and run beside the other files' tests; the tests
// below await them.
/** The README's block of plan commands (the one with the draft stack file), to run as written. */
function readmePlanBlock(): string {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes("--stack-file Pulumi.draft.yaml"));
    if (!block) throw new Error("README has no block with --stack-file Pulumi.draft.yaml");
    return block;
}

let readmeBlock: Promise<ProcessResult>;
let validPlan: Promise<ProcessResult>;
let invalidPlan: Promise<ProcessResult>;
let badStackFile: string;
before(() => {
    badStackFile = writeBadStackFile();
    validPlan = startPlanProcess("--stack", "aws-dev");
    invalidPlan = startPlanProcess("--stack", "bad", "--stack-file", badStackFile);
    // As an operator types it, from the project folder: npm's own banner included.
    readmeBlock = runProcess("sh", ["-e", "-c", readmePlanBlock()], { cwd: ROOT });
});
after(async () => {
    if (badStackFile) fs.rmSync(path.dirname(badStackFile), { recursive: true, force: true });
    await readmeBlock?.catch(() => undefined);
    for (const file of ["Pulumi.draft.yaml", "aws-prod.plan.json"]) fs.rmSync(path.join(ROOT, file), { force: true });
});

describe("offline plan (npm run plan)", function () {
    this.timeout(60000);

    it("ships the four contract stacks, and only them", () => {
        assert.deepStrictEqual(listStacks(), ["aws-dev", "aws-prod", "azure-dev", "azure-prod"]);
    });

    it("prints the resource tree with key properties and the outputs, placeholders marked (as a process)", async () => {
        const { status: code, stdout, stderr } = await validPlan;
        assert.strictEqual(code, 0, stderr);
        assert.match(stdout, /^iguana-ha:index:HaIguanaCluster {2}iguana$/m, "the component is the root");
        assert.match(stdout, /^ {2}aws:ec2\/instance:Instance {2}iguana-wk1\n.*metadataOptions\.httpTokens=required.*rootBlockDevice\.encrypted=true/m);
        assert.match(stdout, /aws:lb\/targetGroup:TargetGroup {2}iguana-adt-in\n.*"path":"\/active","port":"7700"/);
        assert.match(stdout, /"vip": "203\.0\.113\.\d+ <placeholder>"/);
        assert.match(stdout, /"privateIp": "10\.40\.128\.10",\n/, "a planned fixed address is not a placeholder");
    });

    it("--json prints the same plan as JSON", async () => {
        const { code, stdout, stderr } = await runPlan("--stack", "aws-prod", "--json");
        assert.strictEqual(code, 0, stderr);
        const plan = JSON.parse(stdout);
        assert.strictEqual(plan.stack, "aws-prod");
        assert.deepStrictEqual(Object.keys(plan.outputs).sort(), ["channelEndpoints", "cloud", "dashboardUrl", "vip", "vipAddresses", "workers"]);
        const wk2 = plan.resources.find((r: any) => r.name === "iguana-wk2");
        assert.deepStrictEqual([wk2.parent, wk2.properties.tenancy], ["iguana", "dedicated"]);
        assert.ok(plan.placeholders.includes(plan.outputs.vip), "the VIP is listed as a placeholder");
    });

    it("says what is backed up, how often and how long, and which alerts tell whom: every alarm the stack registers, by name", async () => {
        const alarmTypes = [
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "aws:cloudwatch/eventRule:EventRule",
            "azure-native:monitor:MetricAlert",
            "azure-native:monitor:ScheduledQueryRule",
            "azure-native:alertsmanagement:AlertProcessingRuleByName",
        ];
        for (const [stack, backups] of [
            ["aws-prod", "AWS Backup of the two data volumes every 4 h from 00:00 UTC, kept 35 days, copied to us-west-2"],
            ["azure-dev", "Azure Disk Backup of the two data disks every 4 h from 00:00 UTC, kept 35 days"],
        ]) {
            const json = JSON.parse((await runPlan("--stack", stack, "--json")).stdout);
            const alarms = json.resources.filter((r: any) => alarmTypes.includes(r.type)).map((r: any) => r.name);
            assert.ok(alarms.length >= 15, `${stack}: ${alarms.length} alarms`);
            assert.deepStrictEqual(json.operations, { backups: [backups], alerts: { to: "nobody yet: set alerts.emails or alerts.webhookUrl", names: alarms } });
            const { stdout } = await runPlan("--stack", stack);
            assert.ok(
                stdout.includes(`\nBackups: ${backups}\nAlerts (${alarms.length}, to nobody yet: set alerts.emails or alerts.webhookUrl): ${alarms.join(", ")}\n`),
                stdout.slice(0, 3000),
            );
        }
        const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "plan-ops-"));
        try {
            const file = path.join(scratch, "Pulumi.shared.yaml");
            const azureDev = fs.readFileSync(path.join(ROOT, "stacks", "Pulumi.azure-dev.yaml"), "utf8").replace(/^ {4}dataDiskGb: .*\n/m, "");
            fs.writeFileSync(file, `${azureDev}  iguana-ha:storage:\n    queueRecovery: shared\n  iguana-ha:alerts:\n    emails:\n      - oncall@hospital.example\n`);
            const json = JSON.parse((await runPlan("--stack-file", file, "--json")).stdout);
            assert.deepStrictEqual(json.operations.backups, ["share snapshots of the shared queue by the active worker every 4 h from 00:00 UTC, kept 33 days"]);
            assert.strictEqual(json.operations.alerts.to, "1 email address");
            assert.ok(json.operations.alerts.names.includes("iguana-share-snapshots-stopped"));
        } finally {
            fs.rmSync(scratch, { recursive: true, force: true });
        }
    });

    it("plans every shipped stack on its own cloud, the component at the root of every resource", async () => {
        for (const stack of listStacks()) {
            const { code, stdout, stderr } = await runPlan("--stack", stack, "--json");
            assert.strictEqual(code, 0, `${stack}: ${stderr}`);
            const plan = JSON.parse(stdout);
            assert.strictEqual(plan.stack, stack);
            assert.strictEqual(plan.outputs.cloud, stack.split("-")[0]);
            const cloudTypes = plan.resources.filter((r: any) => r.type !== "iguana-ha:index:HaIguanaCluster").map((r: any) => r.type.split(":")[0]);
            const other = stack.startsWith("aws") ? "azure-native" : "aws";
            assert.ok(
                cloudTypes.includes(stack.startsWith("aws") ? "aws" : "azure-native") && !cloudTypes.includes(other),
                `${stack}: resources of its own cloud only: ${[...new Set(cloudTypes)]}`,
            );
            assert.ok(
                plan.resources.every((r: any) => r.name === "iguana" || r.parent === "iguana"),
                `${stack}: every resource a child of the component`,
            );
        }
    });

    it("invalid config exits non-zero with the validation message and prints no plan (as a process)", async () => {
        const { status: code, stdout, stderr } = await invalidPlan;
        assert.strictEqual(code, 1);
        assert.strictEqual(stdout, "", "no plan printed");
        assert.match(stderr, /iguana-ha:channels\[0\]\.port: 99999 is outside the allowed range 1-65535/);
        assert.match(stderr, /iguana-ha:network\.allowedCidrs: is empty/);
    });

    it("the README's plan commands run as written: npm run -s … --json is clean JSON, the draft stack file plans", async () => {
        const { status, stdout, stderr } = await readmeBlock;
        assert.strictEqual(status, 0, stderr);
        const plan = JSON.parse(fs.readFileSync(path.join(ROOT, "aws-prod.plan.json"), "utf8"));
        assert.strictEqual(plan.stack, "aws-prod");
        assert.match(stdout, /^Offline plan for stack "draft"/m, "the draft's stack name comes from its file name");
    });

    it("an unknown stack is a clear error", async () => {
        const { code, stderr } = await runPlan("--stack", "nope");
        assert.strictEqual(code, 1);
        assert.match(stderr, /no stack file for "nope".*known stacks: .*aws-dev/);
    });
});
