/**
 * Azure, data disks with `backup.copyToRegion`: Azure Disk Backup has no copy step, so the active
 * worker copies each disk's newest backup snapshot to a kept resource group in that region
 * (disk-snapshot-copy.py; the tool itself against the stand-in ARM: disk-snapshot-copy-tool.test.ts).
 * Under mocks: where the copies go, what each worker's custom data writes and enables, the two
 * roles and their scopes, the alert on a failed copy, the plan's line; with the real tools,
 * systemd's reading of the timer.
 */
import * as assert from "assert";
import {
    AZURE_COMPUTE_SNAPSHOT_API_VERSION,
    DISK_COPY_CALENDAR,
    DISK_COPY_SOURCE,
    DISK_COPY_TIMER,
    DISK_COPY_UNIT,
    WORKER_PATHS,
    diskCopyConfigPath,
    diskCopyPath,
} from "../components/bootstrap";
import { BACKUP_COPY_ACTIONS, BACKUP_SNAPSHOT_READ_ACTIONS } from "../components/azure/access";
import { backupCopyFailedQuery } from "../components/azure/logs";
import { DISK_COPY_LOG_PREFIX, LOG_EVENTS, SCRIPTS_LOG_TAG } from "../components/log-events";
import * as path from "path";
import { evaluate } from "../offline/evaluate";
import { readStackConfig } from "../offline/stack-config";
import { program } from "../components/program";
import { packViolations } from "./policy-harness";
import { StackRun, azureConfig, runConfig, runPlan, runStack, timerToolBootstrap, wrapRun } from "./helpers";
import { requireTools, runProcess } from "./tools";

const T = {
    rg: "azure-native:resources:ResourceGroup",
    disk: "azure-native:compute:Disk",
    vm: "azure-native:compute:VirtualMachine",
    roleDefinition: "azure-native:authorization:RoleDefinition",
    assignment: "azure-native:authorization:RoleAssignment",
    logAlert: "azure-native:monitor:ScheduledQueryRule",
};

const copying = (extra: Record<string, unknown> = {}) => azureConfig({ backup: { copyToRegion: "northeurope", retentionDays: 21 }, ...extra });

/** What each worker's custom data writes and enables for the copies, by VM name. */
function copyBootstrap(run: StackRun) {
    return timerToolBootstrap(run, { script: diskCopyPath(WORKER_PATHS), config: diskCopyConfigPath(WORKER_PATHS), unit: DISK_COPY_UNIT, timer: DISK_COPY_TIMER });
}

describe("backup copies to another region (Azure data disks, backup.copyToRegion)", function () {
    this.timeout(60000);

    it("the copies' resource group is in that region and kept by pulumi destroy, as the backups' group is", async () => {
        const run = await runConfig(copying({ storage: { protect: true } }));
        const copyGroup = run.one(T.rg, "iguana-backup-copy-rg");
        const snapshotGroup = run.one(T.rg, "iguana-snapshots-rg");
        assert.deepStrictEqual([copyGroup.inputs.location, copyGroup.retainOnDelete, copyGroup.protect], ["northeurope", true, true]);
        assert.strictEqual(snapshotGroup.inputs.location, "westeurope", "the backups stay in the cluster's region");
    });

    it("each worker's custom data names both disks, the backups' group, the copies' group and region, and enables an hourly timer", async () => {
        const run = await runConfig(copying());
        const disks = run.ofType(T.disk);
        assert.strictEqual(disks.length, 2);
        const workers = copyBootstrap(run);
        assert.strictEqual(workers.length, 2);
        for (const w of workers) {
            assert.strictEqual(w.script, DISK_COPY_SOURCE, w.vm);
            const config = JSON.parse(w.config!);
            assert.deepStrictEqual(
                config.disks,
                ["wk1", "wk2"].map((worker) => ({ worker, diskId: run.one(T.disk, `iguana-${worker}-data`).id })),
            );
            assert.strictEqual(config.sourceGroupId, run.one(T.rg, "iguana-snapshots-rg").id);
            assert.strictEqual(config.copyGroupId, run.one(T.rg, "iguana-backup-copy-rg").id);
            assert.deepStrictEqual([config.copyRegion, config.keepDays, config.apiVersion], ["northeurope", 21, AZURE_COMPUTE_SNAPSHOT_API_VERSION]);
            assert.strictEqual(config.stateFile, `${WORKER_PATHS.runDir}/state`);
            assert.match(w.timer!, new RegExp(`^OnCalendar=${DISK_COPY_CALENDAR.replace(/\*/g, "\\*")}$`, "m"));
            assert.match(w.unit!, new RegExp(`^ExecStart=/usr/bin/python3 ${diskCopyPath(WORKER_PATHS)} ${diskCopyConfigPath(WORKER_PATHS)} run$`, "m"));
            assert.match(w.unit!, new RegExp(`^SyslogIdentifier=${SCRIPTS_LOG_TAG}$`, "m"));
            assert.ok(w.enabled, `${w.vm} enables ${DISK_COPY_TIMER}`);
        }
    });

    it("a worker may read the backups in their group only, and create, read and delete snapshots in the copies' group only", async () => {
        const run = await runConfig(copying());
        const snapshotGroup = run.one(T.rg, "iguana-snapshots-rg");
        const copyGroup = run.one(T.rg, "iguana-backup-copy-rg");
        const reader = run.one(T.roleDefinition, "iguana-backup-snapshot-reader");
        const copier = run.one(T.roleDefinition, "iguana-backup-copier");
        assert.deepStrictEqual(reader.inputs.permissions, [{ actions: [...BACKUP_SNAPSHOT_READ_ACTIONS], notActions: [] }]);
        assert.deepStrictEqual(reader.inputs.assignableScopes, [snapshotGroup.id]);
        assert.deepStrictEqual(copier.inputs.permissions, [{ actions: [...BACKUP_COPY_ACTIONS], notActions: [] }]);
        assert.deepStrictEqual(copier.inputs.assignableScopes, [copyGroup.id]);
        assert.ok(!BACKUP_SNAPSHOT_READ_ACTIONS.some((a) => /write|delete/.test(a)), "the backups stay read-only to the workers");
        const principals = run.ofType(T.vm).map((vm) => vm.state.identity.principalId);
        assert.strictEqual(principals.length, 2);
        const granted = (roleId: string | undefined) =>
            run
                .ofType(T.assignment)
                .filter((a) => a.inputs.roleDefinitionId === roleId)
                .map((a) => [a.inputs.principalId, a.inputs.scope])
                .sort();
        assert.deepStrictEqual(granted(reader.id), principals.map((p) => [p, snapshotGroup.id]).sort());
        assert.deepStrictEqual(granted(copier.id), principals.map((p) => [p, copyGroup.id]).sort());
    });

    it("a failed copy is told: a log alert on the workers' workspace, hourly, on the tool's failure lines only", async () => {
        const run = await runConfig(copying({ audit: { workerLogs: true } }));
        const alert = run.one(T.logAlert, "iguana-backup-copy-failed");
        assert.deepStrictEqual([alert.inputs.evaluationFrequency, alert.inputs.windowSize], ["PT1H", "PT1H"]);
        const [criterion] = alert.inputs.criteria.allOf;
        assert.strictEqual(criterion.query, backupCopyFailedQuery());
        assert.deepStrictEqual([criterion.operator, criterion.threshold], ["GreaterThan", 0]);
        assert.ok(alert.inputs.actions.actionGroups.length === 1, "to the cluster's action group");
        // The query's conditions, read as KQL reads them, against the tool's own lines.
        const fires = (line: string) => line.startsWith(`${DISK_COPY_LOG_PREFIX}failed: `) || (line.startsWith(`${DISK_COPY_LOG_PREFIX}copy of `) && line.includes(" failed: "));
        assert.match(criterion.query, new RegExp(`startswith "${DISK_COPY_LOG_PREFIX}failed: "`));
        assert.match(criterion.query, new RegExp(`startswith "${DISK_COPY_LOG_PREFIX}copy of " and SyslogMessage contains " failed: "`));
        for (const line of [`${DISK_COPY_LOG_PREFIX}failed: wk1: HTTP 403`, `${DISK_COPY_LOG_PREFIX}copy of wk2's snapshot snap-1 failed: CopyFailed: quota`])
            assert.ok(fires(line), line);
        for (const line of [
            `${DISK_COPY_LOG_PREFIX}started copy of wk1's snapshot snap-1 (taken 2026-12-07T04:00:00Z) to northeurope as wk1-20261207T040000Z`,
            `${DISK_COPY_LOG_PREFIX}copy of wk1's snapshot snap-1 still in progress (40%)`,
            `${DISK_COPY_LOG_PREFIX}deleted the failed copy wk1-x of wk1's snapshot: a later run copies again`,
        ]) {
            assert.ok(!fires(line), line);
        }
        const event = LOG_EVENTS.find((e) => e.name === "backup-copies")!;
        assert.ok(new RegExp(`^${event.message}`).test(`${DISK_COPY_LOG_PREFIX}copy of wk2's snapshot snap-1 failed: CopyFailed: quota`));
    });

    it("without copyToRegion, or with backups off, nothing is copied and no one is granted anything for it", async () => {
        for (const values of [azureConfig({}), azureConfig({ backup: { enabled: false } })]) {
            const run = await runConfig(values);
            assert.deepStrictEqual(
                run
                    .ofType(T.rg)
                    .map((g) => g.name)
                    .filter((n) => n.includes("copy")),
                [],
            );
            assert.deepStrictEqual(
                run
                    .ofType(T.roleDefinition)
                    .map((r) => r.name)
                    .filter((n) => n.includes("backup")),
                [],
            );
            for (const w of copyBootstrap(run)) assert.deepStrictEqual([w.script, w.config, w.enabled], [undefined, undefined, false], w.vm);
            assert.deepStrictEqual(
                run.ofType(T.logAlert).filter((a) => a.name.includes("copy")),
                [],
            );
        }
    });

    describe("disaster recovery (examples/dr/Pulumi.azure-dr.yaml)", () => {
        const DR_STACK_FILE = path.join(__dirname, "..", "examples", "dr", "Pulumi.azure-dr.yaml");

        it("azure-prod copies its backups to centralus, where the DR example builds each disk from a copy there and copies its own back", async () => {
            assert.strictEqual((await runStack("azure-prod")).one(T.rg, "iguana-backup-copy-rg").inputs.location, "centralus");
            const { config, secretKeys } = readStackConfig("azure-dr", DR_STACK_FILE);
            const run = wrapRun(await evaluate({ stack: "azure-dr", config, secretKeys, run: () => program() }));
            const copies = run.ofType(T.disk).map((d) => [d.name, d.inputs.location, d.inputs.creationData.createOption, d.inputs.creationData.sourceResourceId]);
            assert.deepStrictEqual(
                copies.map(([name, location, option]) => [name, location, option]),
                [
                    ["iguana-wk1-data", "centralus", "Copy"],
                    ["iguana-wk2-data", "centralus", "Copy"],
                ],
            );
            for (const [name, , , source] of copies)
                assert.match(source, new RegExp(`/resourceGroups/iguana-backup-copy-rg[^/]*/providers/Microsoft.Compute/snapshots/${name.split("-")[1]}-`));
            assert.strictEqual(run.one(T.rg, "iguana-backup-copy-rg").inputs.location, "eastus2", "the way home");
            assert.deepStrictEqual(await packViolations(run.mocks.resources, { dedicated: true, deletionProtection: true, egressRestricted: true }), []);
        });

        it("plans offline as the runbook says, and the plan says where the backups are copied and by whom", async () => {
            const { code, stdout, stderr } = await runPlan("--stack-file", DR_STACK_FILE);
            assert.strictEqual(code, 0, stderr);
            assert.match(
                stdout,
                /\nBackups: Azure Disk Backup of the two data disks every 4 h from 00:00 UTC, kept 35 days, the newest of each copied hourly to eastus2 by the active worker\n/,
            );
            assert.match(stdout, /Alerts \(\d+, [^)]*\): [^\n]*iguana-backup-copy-failed/);
        });
    });

    it("systemd reads the timer's calendar as hourly, at half past", async function () {
        requireTools(this, "systemd-analyze");
        const r = await runProcess("systemd-analyze", ["calendar", "--iterations", "3", DISK_COPY_CALENDAR]);
        assert.strictEqual(r.status, 0, r.stderr);
        const times = [...r.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} \d{4}-\d{2}-\d{2} (\d{2}):(\d{2}):(\d{2}) UTC/g)].map((m) => [Number(m[1]), m[2], m[3]]);
        assert.strictEqual(times.length, 3, r.stdout);
        for (const [, minutes, seconds] of times) assert.deepStrictEqual([minutes, seconds], ["30", "00"]);
        assert.strictEqual((Number(times[1][0]) - Number(times[0][0]) + 24) % 24, 1, "an hour apart");
    });
});
