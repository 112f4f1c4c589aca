/**
 * Azure, `storage.queueRecovery: shared` with `backup.enabled`: the active worker snapshots the
 * shared queue's NFS share on the backup schedule and deletes what the share may no longer keep.
 * Under mocks: the role, its scope, what the custom data writes, the warning when the share's
 * limit shortens the retention. With the real tools: systemd reads the timer's calendar as the
 * backup times; share-snapshot.py, run by python3 against the stand-in ARM (drill/cloud-api.ts),
 * snapshots only on the active worker, deletes only expired snapshots and never the share.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    AZURE_STORAGE_API_VERSION,
    CLOUD_LIBRARY_SOURCE,
    ShareSnapshotSettings,
    SHARE_SNAPSHOT_SOURCE,
    SHARE_SNAPSHOT_TIMER,
    SHARE_SNAPSHOT_UNIT,
    WORKER_PATHS,
    renderShareSnapshotConfig,
    renderShareSnapshotUnit,
    shareSnapshotCalendar,
    shareSnapshotConfigPath,
    shareSnapshotPath,
} from "../components/bootstrap";
import { AZURE_SHARE_SNAPSHOT_LIMIT, BACKUP_EVERY_HOURS, shareSnapshotKeepDays } from "../components/constants";
import { SHARE_SNAPSHOT_ACTIONS } from "../components/azure/access";
import { SHARE_SOFT_DELETE_DAYS } from "../components/azure/storage";
import { FakeCloudApi } from "../drill/cloud-api";
import { LOG_EVENTS, SHARE_SNAPSHOT_LOG_PREFIX } from "../components/log-events";
import { shareSnapshotStaleQuery } from "../components/azure/logs";
import { StackRun, awsConfig, azureConfig, runConfig, timerToolBootstrap } from "./helpers";
import { requireTools, runProcess } from "./tools";
import { packViolations } from "./policy-harness";

const T = {
    logAlert: "azure-native:monitor:ScheduledQueryRule",
    workspace: "azure-native:operationalinsights:Workspace",
    actionGroup: "azure-native:monitor:ActionGroup",
    roleDefinition: "azure-native:authorization:RoleDefinition",
    assignment: "azure-native:authorization:RoleAssignment",
    account: "azure-native:storage:StorageAccount",
    fileService: "azure-native:storage:FileServiceProperties",
    rg: "azure-native:resources:ResourceGroup",
    vm: "azure-native:compute:VirtualMachine",
};

const shared = (backup: Record<string, unknown> = {}) => azureConfig({ storage: { queueRecovery: "shared" }, backup });

/** What each worker's custom data writes and enables for the snapshots, by VM name. */
function snapshotBootstrap(run: StackRun) {
    return timerToolBootstrap(run, {
        script: shareSnapshotPath(WORKER_PATHS),
        config: shareSnapshotConfigPath(WORKER_PATHS),
        unit: SHARE_SNAPSHOT_UNIT,
        timer: SHARE_SNAPSHOT_TIMER,
    });
}

describe("share snapshots of the shared queue (Azure, storage.queueRecovery: shared)", function () {
    this.timeout(60000);

    describe("under mocks", () => {
        it("each worker may list, take and delete the share's snapshots on the shared account only", async () => {
            const run = await runConfig(shared());
            const [role] = run.ofType(T.roleDefinition).filter((r) => r.name === "iguana-share-snapshotter");
            assert.ok(role, "the snapshotter role exists");
            const dataGroup = run.one(T.rg, "iguana-data-rg");
            assert.deepStrictEqual(role.inputs.permissions, [{ actions: [...SHARE_SNAPSHOT_ACTIONS], notActions: [] }]);
            assert.deepStrictEqual(role.inputs.assignableScopes, [dataGroup.id]);
            const account = run.one(T.account, "iguana-shared");
            const principals = run.ofType(T.vm).map((vm) => vm.state.identity.principalId);
            const granted = run
                .ofType(T.assignment)
                .filter((a) => a.inputs.roleDefinitionId === role.id)
                .map((a) => [a.inputs.principalId, a.inputs.scope]);
            assert.deepStrictEqual(granted.sort(), principals.map((p) => [p, account.id]).sort());
        });

        it("each worker's custom data writes the tool, its settings and a timer on the backup schedule, and enables the timer", async () => {
            const run = await runConfig(shared({ everyHours: 6, retentionDays: 35 }));
            const account = run.one(T.account, "iguana-shared");
            const workers = snapshotBootstrap(run);
            assert.strictEqual(workers.length, 2);
            for (const w of workers) {
                assert.strictEqual(w.script, SHARE_SNAPSHOT_SOURCE, w.vm);
                const config = JSON.parse(w.config!);
                assert.strictEqual(config.shareId, `${account.id}/fileServices/default/shares/iguana`);
                assert.strictEqual(config.keepDays, 35, "35 days of 6-hourly snapshots (140) fit under the share's limit");
                assert.strictEqual(config.apiVersion, AZURE_STORAGE_API_VERSION);
                assert.strictEqual(config.armUrl, "https://management.azure.com");
                assert.strictEqual(config.stateFile, `${WORKER_PATHS.runDir}/state`);
                assert.match(w.timer!, /^OnCalendar=\*-\*-\* 00\/6:00:00 UTC$/m);
                assert.match(w.unit!, new RegExp(`^ExecStart=/usr/bin/python3 ${shareSnapshotPath(WORKER_PATHS)} ${shareSnapshotConfigPath(WORKER_PATHS)} run$`, "m"));
                assert.ok(w.enabled, `${w.vm} enables ${SHARE_SNAPSHOT_TIMER}`);
            }
            assert.ok(!run.mocks.warnings.some((w) => w.includes("backup.")), run.mocks.warnings.join("\n"));
        });

        it("keeps what the share's 200 snapshots allow, and warns when that is shorter than backup.retentionDays", async () => {
            const run = await runConfig(shared());
            for (const w of snapshotBootstrap(run)) assert.strictEqual(JSON.parse(w.config!).keepDays, 33, "4-hourly: 33 days (198 snapshots), not the default 35 (210)");
            const warning = run.mocks.warnings.find((w) => w.startsWith("iguana-ha:backup.retentionDays:"));
            assert.ok(warning, run.mocks.warnings.join("\n"));
            assert.match(warning!, /35 days of share snapshots every 4 h would be 210, and an Azure Files share keeps at most 200: the shared queue's snapshots are kept 33 days/);
            for (const everyHours of BACKUP_EVERY_HOURS) {
                for (const retentionDays of [1, 33, 35, 200, 365]) {
                    const keep = shareSnapshotKeepDays(everyHours, retentionDays);
                    assert.ok(keep <= retentionDays && keep >= 1, `${everyHours} h, ${retentionDays} d`);
                    // the snapshots a full retention holds, one being taken, one for a late timer
                    assert.ok((keep * 24) / everyHours + 2 <= AZURE_SHARE_SNAPSHOT_LIMIT, `${everyHours} h, ${retentionDays} d: ${keep} days`);
                }
            }
        });

        it("a deleted share stays restorable: share soft delete on the shared account", async () => {
            const run = await runConfig(shared());
            const [service] = run.ofType(T.fileService);
            assert.ok(service, "the shared account's file service is set");
            assert.deepStrictEqual(service.inputs.shareDeleteRetentionPolicy, { enabled: true, days: SHARE_SOFT_DELETE_DAYS });
            assert.strictEqual(service.inputs.accountName, run.one(T.account, "iguana-shared").state.name);
        });

        it("policy backups-on: an Azure NFS share passes when both workers enable the snapshot timer, and fails for the worker that does not", async () => {
            const run = await runConfig(shared());
            assert.deepStrictEqual(await packViolations(run.mocks.resources, {}), []);
            const [wk1] = run.ofType(T.vm);
            const withoutTimer = run.mocks.resources.map((r) => {
                if (r !== wk1) return r;
                const cloudConfig = Buffer.from(r.inputs.osProfile.customData, "base64").toString("utf8");
                const stripped = cloudConfig.replace(/\n {2}- - systemctl\n {4}- enable\n {4}- '--now'\n {4}- iguana-share-snapshot\.timer/, "");
                assert.notStrictEqual(stripped, cloudConfig, "the timer's enable line was found and removed");
                const customData = Buffer.from(stripped, "utf8").toString("base64");
                return { ...r, inputs: { ...r.inputs, osProfile: { ...r.inputs.osProfile, customData } }, state: { ...r.state, osProfile: { ...r.state.osProfile, customData } } };
            });
            const found = (await packViolations(withoutTimer, {})).filter((m) => m.startsWith("backups-on:"));
            assert.deepStrictEqual(found.length, 1, found.join("; "));
            assert.match(found[0], new RegExp(`NFS share iguana-queue is not snapshotted: worker ${wk1.name} does not enable ${SHARE_SNAPSHOT_TIMER.replace(/\./g, "\\.")}`));
        });

        it("an alert when the timer ran but no snapshot was taken in a schedule period and an hour, to the action group", async () => {
            for (const everyHours of [4, 24]) {
                const run = await runConfig(shared({ everyHours, retentionDays: 7 }));
                const alert = run.one(T.logAlert, "iguana-share-snapshots-stopped");
                assert.strictEqual(alert.inputs.windowSize, `PT${everyHours + 1}H`);
                assert.strictEqual(alert.inputs.evaluationFrequency, "PT1H");
                assert.deepStrictEqual(alert.inputs.scopes, [run.one(T.workspace, "iguana-worker-logs").id]);
                assert.deepStrictEqual(alert.inputs.actions.actionGroups, [run.one(T.actionGroup, "iguana-alerts").id]);
                assert.strictEqual(alert.inputs.criteria.allOf[0].query, shareSnapshotStaleQuery());
                assert.deepStrictEqual([alert.inputs.criteria.allOf[0].operator, alert.inputs.criteria.allOf[0].threshold], ["GreaterThan", 0]);
            }
            for (const config of [shared({ enabled: false }), azureConfig(), azureConfig({ storage: { queueRecovery: "shared" }, audit: { workerLogs: false } })]) {
                const run = await runConfig(config);
                assert.deepStrictEqual(
                    run.ofType(T.logAlert).filter((a) => a.name.includes("snapshot")),
                    [],
                    JSON.stringify(config),
                );
            }
        });

        it("nothing is snapshotted or granted without backups, without shared storage, or on AWS", async () => {
            for (const config of [shared({ enabled: false }), azureConfig(), awsConfig({ storage: { queueRecovery: "shared" } })]) {
                const run = await runConfig(config);
                assert.deepStrictEqual(
                    snapshotBootstrap(run).filter((w) => w.script || w.config || w.timer || w.enabled),
                    [],
                    JSON.stringify(config),
                );
                assert.deepStrictEqual(
                    run.ofType(T.roleDefinition).filter((r) => r.name.includes("snapshot")),
                    [],
                );
            }
        });
    });

    it("systemd reads the timer's calendar as the backup times: every everyHours from 00:00 UTC", async function () {
        requireTools(this, "systemd-analyze");
        for (const everyHours of BACKUP_EVERY_HOURS) {
            const calendar = shareSnapshotCalendar(everyHours);
            const r = await runProcess("systemd-analyze", ["calendar", "--iterations", String(24 / everyHours + 1), calendar]);
            assert.strictEqual(r.status, 0, r.stderr);
            const hours = [...r.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} \d{4}-\d{2}-\d{2} (\d{2}):(\d{2}):(\d{2}) UTC/g)].map((m) => `${m[1]}:${m[2]}:${m[3]}`);
            assert.strictEqual(hours.length, 24 / everyHours + 1, r.stdout);
            const expected = Array.from({ length: 24 / everyHours }, (_, i) => `${String(i * everyHours).padStart(2, "0")}:00:00`);
            assert.deepStrictEqual([...new Set(hours)].sort(), expected, `${calendar}: ${r.stdout}`);
        }
    });

    describe("share-snapshot.py against the stand-in ARM", () => {
        const ACCOUNT = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-data-rg/providers/Microsoft.Storage/storageAccounts/iguanaq0123456789abcdef";
        const SHARE = `${ACCOUNT}/fileServices/default/shares/iguana`;
        const TOKEN = "arm-token-of-the-vm";
        let scratch: string;

        before(function () {
            requireTools(this, "python3");
            scratch = fs.mkdtempSync(path.join(os.tmpdir(), "share-snapshot-"));
            fs.writeFileSync(path.join(scratch, "share-snapshot.py"), SHARE_SNAPSHOT_SOURCE);
            fs.writeFileSync(path.join(scratch, "iguana_ha_cloud.py"), CLOUD_LIBRARY_SOURCE);
        });
        after(() => scratch && fs.rmSync(scratch, { recursive: true, force: true }));

        const daysAgo = (days: number) => new Date(Date.now() - days * 86400000).toISOString().replace(/\.(\d{3})Z$/, (_, ms: string) => `.${ms}1234Z`);

        async function runTool(options: { state?: string; snapshots: string[]; keepDays?: number; limit?: number; armUrl?: string; pageSize?: number }) {
            const share = {
                shareId: SHARE,
                apiVersion: AZURE_STORAGE_API_VERSION,
                snapshots: [...options.snapshots],
                limit: options.limit ?? AZURE_SHARE_SNAPSHOT_LIMIT,
                pageSize: options.pageSize,
            };
            const api = new FakeCloudApi({
                cloud: "azure",
                workers: [],
                identify: () => "wk1",
                azure: { publicIpId: "/unused", ipConfigName: "primary", subnetId: "/unused", accessToken: TOKEN, share },
            });
            const url = await api.listen("127.0.0.1");
            const runDir = fs.mkdtempSync(path.join(scratch, "run-"));
            if (options.state) fs.writeFileSync(path.join(runDir, "state"), `${options.state}\n`);
            const settings: ShareSnapshotSettings = {
                self: { name: "wk1" },
                paths: { ...WORKER_PATHS, runDir },
                cloudApi: { imdsUrl: url, apiUrl: options.armUrl ?? url },
                shareSnapshots: { kind: "azure-share", shareId: SHARE, everyHours: 4, keepDays: options.keepDays ?? 33 },
            };
            const configFile = path.join(runDir, "share-snapshot.json");
            fs.writeFileSync(configFile, renderShareSnapshotConfig(settings));
            try {
                const result = await runProcess("python3", [path.join(scratch, "share-snapshot.py"), configFile, "run"]);
                return { result, api, snapshots: share.snapshots };
            } finally {
                await api.close();
            }
        }

        it("on the active worker: deletes the snapshots older than keepDays, then takes one; never the share itself", async () => {
            const kept = [daysAgo(32.9), daysAgo(20), daysAgo(0.2)];
            const expired = [daysAgo(40), daysAgo(33.1)];
            // pages of two: the expired ones sit on the last pages
            const { result, api, snapshots } = await runTool({ state: "MASTER", snapshots: [...kept, ...expired], pageSize: 2 });
            assert.strictEqual(result.status, 0, result.stderr);
            assert.ok(!api.shareDeleted, "the share itself was never asked to be deleted");
            assert.deepStrictEqual(snapshots.slice(0, 3), kept, "the snapshots within keepDays are kept");
            assert.strictEqual(snapshots.length, 4, `the expired ones are gone and one is new: ${snapshots.join(", ")}`);
            assert.ok(Date.now() - Date.parse(snapshots[3].replace(/\d{4}Z$/, "Z")) < 60000, "the new snapshot is from now");
            const calls = api.calls.map((c) => `${c.action} ${c.status}`).filter((c) => !c.includes("/metadata/"));
            assert.deepStrictEqual(calls, [
                "GET shares $expand=snapshots 200",
                "GET shares $expand=snapshots 200",
                "GET shares $expand=snapshots 200",
                "DELETE share x-ms-snapshot 200",
                "DELETE share x-ms-snapshot 200",
                "PUT share $expand=snapshots 201",
            ]);
            assert.match(result.stderr, /deleted snapshot .* of iguana \(older than 33 days\)/);
            // what the saved search of the event (KQL on SyslogMessage, the unit's tag as ProcessName) finds
            const event = LOG_EVENTS.find((e) => e.name === "share-snapshots")!;
            const found = result.stderr.split("\n").filter((line) => new RegExp(`^${event.message}`).test(line));
            assert.strictEqual(found.length, 3, `two deletions and one snapshot: ${result.stderr}`);
            assert.match(renderShareSnapshotUnit({ paths: WORKER_PATHS }), new RegExp(`^SyslogIdentifier=${event.process}$`, "m"));
            assert.match(result.stderr, new RegExp(`took snapshot ${snapshots[3].replace(/\./g, "\\.")} of iguana`));
        });

        it("the stale-snapshot alert's query reads the tool's own lines: a good run on the active worker silences it, a failed one fires it", async () => {
            const source = SHARE_SNAPSHOT_SOURCE;
            assert.ok(source.includes(`print(f"${SHARE_SNAPSHOT_LOG_PREFIX}{message}"`), "share-snapshot.py writes the prefix the queries name");
            // The query's two tests, as KQL's startswith reads them (case-insensitive), over one window's lines.
            const [run, took] = [...shareSnapshotStaleQuery().matchAll(/startswith "([^"]+)"/g)].map((m) => m[1].toLowerCase());
            const fires = (lines: string[]) => {
                const runs = lines.filter((l) => l.toLowerCase().startsWith(run));
                return runs.length > 0 && !runs.some((l) => l.toLowerCase().startsWith(took));
            };
            const lines = (stderr: string) => stderr.split("\n").filter(Boolean);
            const passive = await runTool({ state: "BACKUP", snapshots: [] });
            const good = await runTool({ state: "MASTER", snapshots: [daysAgo(40)] });
            const failed = await runTool({ state: "MASTER", snapshots: [daysAgo(1)], limit: 1 });
            assert.strictEqual(failed.result.status, 1);
            assert.strictEqual(fires([]), false, "before the first run: no line, no alert");
            assert.strictEqual(fires([...lines(passive.result.stderr), ...lines(good.result.stderr)]), false, "a snapshot taken");
            assert.strictEqual(fires([...lines(passive.result.stderr), ...lines(failed.result.stderr)]), true, "the active worker's run failed");
            assert.strictEqual(fires(lines(passive.result.stderr)), true, "only the passive worker ran");
        });

        it("on a passive, fencing or not yet decided worker: no call at all, the snapshots untouched", async () => {
            for (const state of ["BACKUP", "FENCING", "STOP", undefined]) {
                const before = [daysAgo(40), daysAgo(1)];
                const { result, api, snapshots } = await runTool({ state, snapshots: before });
                assert.strictEqual(result.status, 0, result.stderr);
                assert.deepStrictEqual(api.calls, [], `${state}: ${api.calls.map((c) => c.action).join(", ")}`);
                assert.deepStrictEqual(snapshots, before);
                assert.match(result.stderr, /not active .*the active worker takes the snapshot/);
            }
        });

        it("fails (exit 1, the error in its log) when ARM refuses or does not answer, and deletes nothing it should keep", async () => {
            const full = Array.from({ length: 3 }, (_, i) => daysAgo(i + 1));
            const limited = await runTool({ state: "MASTER", snapshots: full, limit: 3 });
            assert.strictEqual(limited.result.status, 1);
            assert.match(limited.result.stderr, /failed: PUT .*: HTTP 409: .*ShareSnapshotCountExceeded/);
            const event = LOG_EVENTS.find((e) => e.name === "share-snapshots")!;
            assert.ok(
                limited.result.stderr.split("\n").some((line) => new RegExp(`^${event.message}`).test(line) && line.includes("failed")),
                "the failure is found by the saved search",
            );
            assert.deepStrictEqual(limited.snapshots, full, "nothing within keepDays was deleted to make room");
            // nothing listens on port 9 of this host (discard): ARM does not answer
            const silent = await runTool({ state: "MASTER", snapshots: [daysAgo(40)], armUrl: "http://127.0.0.1:9" });
            assert.strictEqual(silent.result.status, 1);
            assert.match(silent.result.stderr, /failed: GET http:\/\/127\.0\.0\.1:9\/subscriptions\/.*: /);
            assert.strictEqual(silent.snapshots.length, 1, "nothing deleted");
        });
    });
});
