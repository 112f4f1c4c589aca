/**
 * Azure, data disks with `backup.copyToRegion`: disk-snapshot-copy.py, run by python3 against the
 * stand-in ARM (drill/cloud-api.ts), copies each data disk's newest incremental backup snapshot
 * to the copy region on the active worker only, one copy per disk at a time, retries a failed
 * copy, deletes only expired copies it made (never a disk's newest completed one, never one
 * running, never anything else) and fails loudly when ARM refuses.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AZURE_COMPUTE_SNAPSHOT_API_VERSION, CLOUD_LIBRARY_SOURCE, DISK_COPY_SOURCE } from "../components/bootstrap";
import { FakeCloudApi, StandInDiskSnapshots, StandInSnapshot, armTime } from "../drill/cloud-api";
import { requireTools, runProcess } from "./tools";

const SOURCE = DISK_COPY_SOURCE;

const SUBSCRIPTION = "/subscriptions/00000000-0000-4000-8000-000000000000";
const SOURCE_GROUP = `${SUBSCRIPTION}/resourceGroups/iguana-snapshots-rg`;
const COPY_GROUP = `${SUBSCRIPTION}/resourceGroups/iguana-backup-copy-rg`;
const API_VERSION = AZURE_COMPUTE_SNAPSHOT_API_VERSION;
const COPY_REGION = "westus2";
const TOKEN = "arm-token-of-the-vm";
const WORKERS = ["wk1", "wk2"];
const diskId = (worker: string) => `${SUBSCRIPTION}/resourceGroups/iguana-data-rg/providers/Microsoft.Compute/disks/iguana-${worker}-data`;
const snapshotId = (group: string, name: string) => `${group}/providers/Microsoft.Compute/snapshots/${name}`;

const daysAgo = (days: number) => new Date(Date.now() - days * 86400000);
/** The copy's name the tool gives a source snapshot taken at `taken`: <worker>-YYYYMMDDTHHMMSSZ. */
const copyName = (worker: string, taken: Date) =>
    `${worker}-${taken
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d{3}Z$/, "Z")}`;

let serial = 0;

/** A backup snapshot of a worker's data disk in the source group (Azure Disk Backup's: incremental). */
function backup(worker: string, taken: Date, options: { incremental?: boolean; state?: string; zulu?: boolean; disk?: string } = {}): StandInSnapshot & { taken: Date } {
    const name = `AzureBackup_iguana-${worker}-data_${++serial}`;
    const snapshot: StandInSnapshot = {
        id: snapshotId(SOURCE_GROUP, name),
        name,
        location: "westeurope",
        type: "Microsoft.Compute/snapshots",
        tags: { "created-by": "Azure Backup" },
        properties: {
            creationData: { createOption: "Copy", sourceResourceId: options.disk ?? diskId(worker) },
            incremental: options.incremental ?? true,
            provisioningState: options.state ?? "Succeeded",
            // ARM writes "+00:00"; the tool reads "Z" as well, with up to seven fractional digits
            timeCreated: options.zulu ? taken.toISOString().replace(/Z$/, "1234Z") : armTime(taken),
            diskSizeGB: 128,
        },
    };
    // The time as a Date for the test, not part of what ARM answers (not enumerable: not sent).
    return Object.defineProperty(snapshot, "taken", { value: taken, enumerable: false }) as StandInSnapshot & { taken: Date };
}

/** A copy in the copy group of a source snapshot, as the tool makes them (tagged), made at `made`. */
function copyOf(worker: string, source: StandInSnapshot & { taken: Date }, made: Date, options: { percent?: number; untagged?: boolean } = {}): StandInSnapshot {
    const name = copyName(worker, source.taken);
    return {
        id: snapshotId(COPY_GROUP, name),
        name,
        location: COPY_REGION,
        type: "Microsoft.Compute/snapshots",
        ...(options.untagged ? {} : { tags: { "iguana-ha-disk": diskId(worker), "iguana-ha-copy-of": source.id } }),
        properties: {
            creationData: { createOption: "CopyStart", sourceResourceId: source.id },
            incremental: true,
            provisioningState: "Succeeded",
            timeCreated: armTime(made),
            completionPercent: options.percent ?? 100,
        },
    };
}

describe("disk-snapshot-copy.py against the stand-in ARM (Azure, backup copies to another region)", function () {
    this.timeout(60000);
    let scratch: string;
    const apis: FakeCloudApi[] = [];

    before(function () {
        requireTools(this, "python3");
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "disk-snapshot-copy-"));
        fs.writeFileSync(path.join(scratch, "disk-snapshot-copy.py"), SOURCE);
        fs.writeFileSync(path.join(scratch, "iguana_ha_cloud.py"), CLOUD_LIBRARY_SOURCE);
    });
    afterEach(async () => {
        await Promise.all(apis.splice(0).map((api) => api.close()));
    });
    after(() => scratch && fs.rmSync(scratch, { recursive: true, force: true }));

    /** A stand-in ARM serving these snapshots (changed in place by the tool's calls). */
    async function standIn(options: Partial<StandInDiskSnapshots> & { snapshots: StandInSnapshot[] }) {
        const disks: StandInDiskSnapshots = { apiVersion: API_VERSION, sourceGroupId: SOURCE_GROUP, copyGroupId: COPY_GROUP, copyRegion: COPY_REGION, ...options };
        const api = new FakeCloudApi({
            cloud: "azure",
            workers: [],
            identify: () => "wk1",
            azure: { publicIpId: "/unused", ipConfigName: "primary", subnetId: "/unused", accessToken: TOKEN, diskSnapshots: disks },
        });
        apis.push(api);
        const url = await api.listen("127.0.0.1");
        /** The ARM calls since the last look (the managed-identity token reads left out), as "action status". */
        let seen = 0;
        const newCalls = () => {
            const calls = api.calls.slice(seen).filter((c) => !c.action.includes("/metadata/"));
            seen = api.calls.length;
            return calls.map((c) => `${c.action} ${c.status}`);
        };
        return { api, url, disks, newCalls };
    }

    /** Runs the tool once, as the worker whose lease state is `state` (none: no state file yet). */
    async function runTool(url: string, options: { state?: string; keepDays?: number; armUrl?: string } = {}) {
        const runDir = fs.mkdtempSync(path.join(scratch, "run-"));
        if (options.state) fs.writeFileSync(path.join(runDir, "state"), `${options.state}\n`);
        const config = {
            disks: WORKERS.map((worker) => ({ worker, diskId: diskId(worker) })),
            sourceGroupId: SOURCE_GROUP,
            copyGroupId: COPY_GROUP,
            copyRegion: COPY_REGION,
            keepDays: options.keepDays ?? 30,
            stateFile: path.join(runDir, "state"),
            imdsUrl: url,
            armUrl: options.armUrl ?? url,
            armResource: "https://management.azure.com/",
            apiVersion: API_VERSION,
        };
        const configFile = path.join(runDir, "disk-snapshot-copy.json");
        fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
        const result = await runProcess("python3", [path.join(scratch, "disk-snapshot-copy.py"), configFile, "run"]);
        const lines = result.stderr.split("\n").filter(Boolean);
        assert.deepStrictEqual(
            lines.filter((l) => !l.startsWith("disk copy: ")),
            [],
            "every line carries the tool's prefix",
        );
        return result;
    }

    const started = (calls: string[]) => calls.filter((c) => c.startsWith("PUT "));
    const copiesIn = (disks: StandInDiskSnapshots) => disks.snapshots.filter((s) => s.id.startsWith(COPY_GROUP));

    it("compiles (python3 -m py_compile)", async () => {
        const compiled = path.join(scratch, "compiled.pyc");
        const r = await runProcess("python3", [
            "-c",
            "import py_compile, sys\npy_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
            path.join(scratch, "disk-snapshot-copy.py"),
            compiled,
        ]);
        assert.strictEqual(r.status, 0, r.stderr);
    });

    it("on the active worker: one CopyStart per disk, of that disk's newest incremental snapshot, into the copy group and region, tagged", async () => {
        const wk1 = [backup("wk1", daysAgo(5), { zulu: true }), backup("wk1", daysAgo(1)), backup("wk1", daysAgo(2), { zulu: true })];
        const wk2 = [backup("wk2", daysAgo(3)), backup("wk2", daysAgo(0.7), { disk: diskId("wk2").toUpperCase() })];
        const decoys = [
            backup("wk1", daysAgo(0.5), { incremental: false }), // a full snapshot: CopyStart copies incremental ones only
            backup("wk1", daysAgo(0.2), { state: "Creating" }), // not yet taken
            backup("wk3", daysAgo(0.1)), // another disk's
        ];
        const snapshots = [wk1[0], decoys[0], wk2[1], wk1[1], decoys[1], wk1[2], decoys[2], wk2[0]];
        const sourceGroup = (all: StandInSnapshot[]) => JSON.stringify(all.filter((s) => s.id.startsWith(SOURCE_GROUP)));
        const sourceBefore = sourceGroup(snapshots);
        const { url, api, disks, newCalls } = await standIn({ snapshots: [...snapshots] });
        const r = await runTool(url, { state: "MASTER" });
        assert.strictEqual(r.status, 0, r.stderr);
        const newest = { wk1: wk1[1], wk2: wk2[1] };
        assert.deepStrictEqual(newCalls(), [
            "GET snapshots (source group) 200",
            "GET snapshots (copy group) 200",
            `PUT snapshot ${copyName("wk1", newest.wk1.taken)} (copy group) CopyStart 201`,
            `PUT snapshot ${copyName("wk2", newest.wk2.taken)} (copy group) CopyStart 201`,
        ]);
        assert.deepStrictEqual(
            api.copiesStarted.map((c) => c.source),
            [newest.wk1.id, newest.wk2.id],
            "each disk's newest incremental, finished snapshot",
        );
        for (const worker of WORKERS as ("wk1" | "wk2")[]) {
            const copy = copiesIn(disks).find((s) => s.properties.creationData.sourceResourceId === newest[worker].id)!;
            assert.ok(copy, worker);
            assert.strictEqual(copy.id, snapshotId(COPY_GROUP, copyName(worker, newest[worker].taken)));
            assert.strictEqual(copy.location, COPY_REGION);
            assert.deepStrictEqual(copy.tags, { "iguana-ha-disk": diskId(worker), "iguana-ha-copy-of": newest[worker].id });
            assert.match(
                r.stderr,
                new RegExp(
                    `^disk copy: started copy of ${worker}'s snapshot ${newest[worker].name} \\(taken .*\\) to ${COPY_REGION} as ${copyName(worker, newest[worker].taken)}$`,
                    "m",
                ),
            );
        }
        assert.strictEqual(copiesIn(disks).length, 2);
        assert.strictEqual(sourceGroup(disks.snapshots), sourceBefore, "the source group is untouched");
        assert.deepStrictEqual(api.snapshotsDeleted, []);
    });

    it("on a passive, fencing or not yet decided worker: no call at all", async () => {
        for (const state of ["BACKUP", "FENCING", "STOP", undefined]) {
            const { url, api, disks } = await standIn({ snapshots: [backup("wk1", daysAgo(1)), backup("wk2", daysAgo(1))] });
            const r = await runTool(url, { state });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(api.calls, [], `${state}: ${api.calls.map((c) => c.action).join(", ")}`);
            assert.strictEqual(copiesIn(disks).length, 0);
            assert.match(r.stderr, /^disk copy: this worker is not active .*: the active worker copies/m);
        }
    });

    it("one copy of a disk at a time: nothing new while copies run, nothing once the newest is copied, then the newer snapshot", async () => {
        const wk1 = backup("wk1", daysAgo(1));
        const wk2 = backup("wk2", daysAgo(1));
        const older = backup("wk1", daysAgo(2));
        const { url, api, disks, newCalls } = await standIn({ snapshots: [older, wk1, wk2], copyPercentPerRead: 40 });
        const first = await runTool(url, { state: "MASTER" });
        assert.strictEqual(first.status, 0, first.stderr);
        assert.strictEqual(started(newCalls()).length, 2);

        // Azure refuses a second copy of a disk while one runs: so does the stand-in
        const refused = await fetch(`${url}${snapshotId(COPY_GROUP, "by-hand")}?api-version=${API_VERSION}`, {
            method: "PUT",
            headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
            body: JSON.stringify({ location: COPY_REGION, properties: { creationData: { createOption: "CopyStart", sourceResourceId: older.id }, incremental: true } }),
        });
        assert.strictEqual(refused.status, 409);
        assert.strictEqual(((await refused.json()) as { error: { code: string } }).error.code, "OperationNotAllowed");
        newCalls();

        for (const percent of [40, 80]) {
            const r = await runTool(url, { state: "MASTER" });
            assert.strictEqual(r.status, 0, r.stderr);
            const calls = newCalls();
            assert.deepStrictEqual(started(calls), [], `${percent}%: nothing started`);
            assert.deepStrictEqual(
                calls.filter((c) => !c.endsWith(" 200")),
                [],
                "no call refused (no 409)",
            );
            for (const [worker, source] of [
                ["wk1", wk1],
                ["wk2", wk2],
            ] as const) {
                assert.match(r.stderr, new RegExp(`^disk copy: copy of ${worker}'s snapshot ${source.name} still in progress \\(${percent}%\\)$`, "m"));
            }
        }
        const done = await runTool(url, { state: "MASTER" });
        assert.strictEqual(done.status, 0, done.stderr);
        assert.deepStrictEqual(started(newCalls()), [], "the copies are complete and no snapshot is newer");
        assert.match(done.stderr, new RegExp(`^disk copy: wk1: newest snapshot ${wk1.name} already copied$`, "m"));
        assert.match(done.stderr, new RegExp(`^disk copy: wk2: newest snapshot ${wk2.name} already copied$`, "m"));
        assert.deepStrictEqual(
            copiesIn(disks).map((c) => c.properties.completionPercent),
            [100, 100],
        );

        const newer = backup("wk1", daysAgo(0.01));
        disks.snapshots.push(newer);
        const next = await runTool(url, { state: "MASTER" });
        assert.strictEqual(next.status, 0, next.stderr);
        assert.deepStrictEqual(started(newCalls()), [`PUT snapshot ${copyName("wk1", newer.taken)} (copy group) CopyStart 201`]);
        assert.deepStrictEqual(api.copiesStarted[api.copiesStarted.length - 1], {
            id: snapshotId(COPY_GROUP, copyName("wk1", newer.taken)),
            source: newer.id,
            location: COPY_REGION,
        });
        assert.deepStrictEqual(api.snapshotsDeleted, [], "the previous copy is within keepDays");
    });

    it("retention: deletes only expired copies it made, keeps each disk's newest completed copy and any running one, never anything else", async () => {
        const a = backup("wk1", daysAgo(50));
        const b = backup("wk1", daysAgo(35));
        const c = backup("wk1", daysAgo(10));
        const d = backup("wk2", daysAgo(60));
        const e = backup("wk2", daysAgo(45));
        const f = backup("wk2", daysAgo(31));
        const other = backup("wk3", daysAgo(100));
        const copies = {
            a: copyOf("wk1", a, daysAgo(49)),
            b: copyOf("wk1", b, daysAgo(34)),
            c: copyOf("wk1", c, daysAgo(9)),
            d: copyOf("wk2", d, daysAgo(59)),
            e: copyOf("wk2", e, daysAgo(44)), // expired, but wk2's newest completed copy
            f: copyOf("wk2", f, daysAgo(30.9), { percent: 10 }), // expired, still running
            untagged: { ...copyOf("wk1", backup("wk1", daysAgo(90)), daysAgo(90), { untagged: true }), name: "by-hand", id: snapshotId(COPY_GROUP, "by-hand") },
            otherDisk: copyOf("wk3", other, daysAgo(99)),
        };
        const { url, api, disks, newCalls } = await standIn({ snapshots: [a, b, c, d, e, f, other, ...Object.values(copies)], copyPercentPerRead: 10 });
        const r = await runTool(url, { state: "MASTER", keepDays: 30 });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual([...api.snapshotsDeleted].sort(), [copies.a.id, copies.b.id, copies.d.id].sort());
        assert.deepStrictEqual(started(newCalls()), [], "wk1's newest is copied, wk2's copy still runs");
        assert.deepStrictEqual(
            copiesIn(disks)
                .map((s) => s.name)
                .sort(),
            [copies.c, copies.e, copies.f, copies.untagged, copies.otherDisk].map((s) => s.name).sort(),
        );
        assert.strictEqual(disks.snapshots.filter((s) => s.id.startsWith(SOURCE_GROUP)).length, 7, "nothing deleted in the source group");
        assert.strictEqual((r.stderr.match(/^disk copy: deleted copy .* \(older than 30 days\)$/gm) ?? []).length, 3, r.stderr);
        assert.match(r.stderr, new RegExp(`^disk copy: copy of wk2's snapshot ${f.name} still in progress \\(20%\\)$`, "m"));
    });

    it("a failed background copy: exit 1, logged with its error code, the failed copy deleted; the next run copies again", async () => {
        const wk1 = backup("wk1", daysAgo(1));
        const wk2 = backup("wk2", daysAgo(1));
        const failCopyOf = [wk1.id];
        const { url, api, disks, newCalls } = await standIn({ snapshots: [wk1, wk2], failCopyOf });
        const first = await runTool(url, { state: "MASTER" });
        assert.strictEqual(first.status, 0, first.stderr);
        assert.strictEqual(started(newCalls()).length, 2);

        const failed = await runTool(url, { state: "MASTER" });
        assert.strictEqual(failed.status, 1, failed.stderr);
        assert.match(failed.stderr, new RegExp(`^disk copy: copy of wk1's snapshot ${wk1.name} failed: CopyFailed: `, "m"));
        assert.deepStrictEqual(api.snapshotsDeleted, [snapshotId(COPY_GROUP, copyName("wk1", wk1.taken))]);
        assert.match(failed.stderr, new RegExp(`^disk copy: wk2: newest snapshot ${wk2.name} already copied$`, "m"), "the other disk is still looked after");
        assert.deepStrictEqual(started(newCalls()), []);

        failCopyOf.splice(0);
        const retried = await runTool(url, { state: "MASTER" });
        assert.strictEqual(retried.status, 0, retried.stderr);
        assert.deepStrictEqual(started(newCalls()), [`PUT snapshot ${copyName("wk1", wk1.taken)} (copy group) CopyStart 201`]);
        const settled = await runTool(url, { state: "MASTER" });
        assert.strictEqual(settled.status, 0, settled.stderr);
        assert.deepStrictEqual(
            copiesIn(disks).map((c) => [c.properties.creationData.sourceResourceId, c.properties.completionPercent]),
            [
                [wk2.id, 100],
                [wk1.id, 100],
            ],
        );
    });

    it("fails (exit 1, a `disk copy: failed` line) when ARM refuses or does not answer; one disk's failure does not stop the other's", async () => {
        const snapshots = () => [backup("wk1", daysAgo(1)), backup("wk2", daysAgo(1))];
        const down = await standIn({ snapshots: snapshots(), refuse: { status: 500, code: "InternalServerError" } });
        const r500 = await runTool(down.url, { state: "MASTER" });
        assert.strictEqual(r500.status, 1);
        assert.match(r500.stderr, /^disk copy: failed: GET \/subscriptions\/.*\/snapshots: HTTP 500: .*InternalServerError/m);
        assert.strictEqual(copiesIn(down.disks).length, 0);

        const forbidden = await standIn({ snapshots: snapshots(), refuse: { status: 403, code: "AuthorizationFailed", method: "PUT" } });
        const r403 = await runTool(forbidden.url, { state: "MASTER" });
        assert.strictEqual(r403.status, 1);
        assert.deepStrictEqual(started(forbidden.newCalls()).length, 2, "both disks tried");
        for (const worker of WORKERS) assert.match(r403.stderr, new RegExp(`^disk copy: failed: ${worker}: PUT .*: HTTP 403: .*AuthorizationFailed`, "m"));

        // wk1's expired copy cannot be deleted: wk1 fails, wk2's copy still starts
        const [older, old] = [backup("wk1", daysAgo(45)), backup("wk1", daysAgo(40))];
        const noDelete = await standIn({
            snapshots: [older, old, copyOf("wk1", older, daysAgo(44)), copyOf("wk1", old, daysAgo(39)), backup("wk1", daysAgo(1)), backup("wk2", daysAgo(1))],
            refuse: { status: 403, code: "AuthorizationFailed", method: "DELETE" },
        });
        const partial = await runTool(noDelete.url, { state: "MASTER", keepDays: 30 });
        assert.strictEqual(partial.status, 1);
        assert.match(partial.stderr, /^disk copy: failed: wk1: DELETE .*: HTTP 403/m);
        assert.deepStrictEqual(
            noDelete.api.copiesStarted.map((c) => c.id.split("/").pop()!.split("-")[0]),
            ["wk2"],
        );

        // nothing listens on port 9 of this host (discard): ARM does not answer
        const silent = await standIn({ snapshots: snapshots() });
        const rSilent = await runTool(silent.url, { state: "MASTER", armUrl: "http://127.0.0.1:9" });
        assert.strictEqual(rSilent.status, 1);
        assert.match(rSilent.stderr, /^disk copy: failed: GET http:\/\/127\.0\.0\.1:9\/subscriptions\/.*: /m);
    });

    it("reads every page: with one snapshot a page, the newest snapshots and the expired copies on the last pages are still found", async () => {
        const old = [backup("wk1", daysAgo(40)), backup("wk2", daysAgo(40))];
        const expired = old.map((s, i) => copyOf(WORKERS[i], s, daysAgo(39)));
        const mid = [backup("wk1", daysAgo(20)), backup("wk2", daysAgo(20))];
        const kept = mid.map((s, i) => copyOf(WORKERS[i], s, daysAgo(19)));
        const newest = [backup("wk1", daysAgo(0.5)), backup("wk2", daysAgo(0.5))];
        const { url, api, newCalls } = await standIn({ snapshots: [...kept, ...old, ...mid, ...expired, ...newest], pageSize: 1 });
        const r = await runTool(url, { state: "MASTER" });
        assert.strictEqual(r.status, 0, r.stderr);
        const calls = newCalls();
        assert.strictEqual(calls.filter((c) => c === "GET snapshots (source group) 200").length, 6, "six pages of the source group");
        assert.strictEqual(calls.filter((c) => c === "GET snapshots (copy group) 200").length, 4, "four pages of the copy group");
        assert.deepStrictEqual(
            api.copiesStarted.map((c) => c.source),
            newest.map((s) => s.id),
        );
        assert.deepStrictEqual([...api.snapshotsDeleted].sort(), expired.map((s) => s.id).sort());
    });

    it("never sends a delete outside the copy group", async () => {
        const { url, api } = await standIn({ snapshots: [] });
        const targets = [
            snapshotId(SOURCE_GROUP, "AzureBackup_iguana-wk1-data_1"),
            snapshotId(`${COPY_GROUP}-other`, "wk1-20260101T000000Z"),
            `${snapshotId(COPY_GROUP, "wk1-20260101T000000Z")}/..`,
            `${COPY_GROUP}/providers/Microsoft.Compute/snapshots/../../../../iguana-data-rg/providers/Microsoft.Compute/disks/iguana-wk1-data`,
            `${COPY_GROUP}/providers/Microsoft.Compute/disks/iguana-wk1-data`,
            COPY_GROUP,
            "",
        ];
        const program = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("disk_copy", sys.argv[1])
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
config = json.loads(sys.argv[2])
for target in json.loads(sys.argv[3]):
    try:
        tool.Snapshots(config).delete(target)
        print("sent", target)
    except tool.ApiError as error:
        print("refused", error)
`;
        const config = { copyGroupId: COPY_GROUP, armUrl: url, imdsUrl: url, armResource: "https://management.azure.com/", apiVersion: API_VERSION };
        const r = await runProcess("python3", ["-c", program, path.join(scratch, "disk-snapshot-copy.py"), JSON.stringify(config), JSON.stringify(targets)]);
        assert.strictEqual(r.status, 0, r.stderr);
        const lines = r.stdout.split("\n").filter(Boolean);
        assert.strictEqual(lines.length, targets.length, r.stdout);
        assert.deepStrictEqual(
            lines.filter((l) => !l.startsWith("refused refusing to delete")),
            [],
        );
        assert.deepStrictEqual(api.calls, []);
    });
});
