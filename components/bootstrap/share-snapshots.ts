/**
 * Azure, `storage.queueRecovery: shared` with `backup.enabled`: Azure Backup does not protect NFS
 * shares, so the active worker snapshots the share holding the queue (share-snapshot.py) on a
 * timer of `backup.everyHours`, and deletes the snapshots older than what the share may keep
 * (shareSnapshotKeepDays). The passive worker's timer fires too and does nothing, so the
 * schedule survives a failover without anyone moving it.
 */
import * as fs from "fs";
import * as path from "path";
import { WorkerPlan } from "../model";
import { stateFile, BootstrapSettings, WorkerPaths } from "./settings";
import { AZURE_ARM_URL, INSTANCE_METADATA_URL } from "./vip";
import { renderTimerToolTimer, renderTimerToolUnit } from "./timer-tools";

export const SHARE_SNAPSHOT_UNIT = "iguana-share-snapshot.service";
export const SHARE_SNAPSHOT_TIMER = "iguana-share-snapshot.timer";
/** The Microsoft.Storage API version share-snapshot.py speaks (FileShares List, Create and Delete with snapshots). */
export const AZURE_STORAGE_API_VERSION = "2023-05-01";

export const SHARE_SNAPSHOT_SOURCE = fs.readFileSync(path.join(__dirname, "share-snapshot.py"), "utf8");

/** What the snapshot files are rendered from: a worker's bootstrap, or (the boot test) just these parts of one. */
export type ShareSnapshotSettings = Pick<BootstrapSettings, "paths" | "shareSnapshots" | "cloudApi"> & { self: Pick<WorkerPlan, "name"> };

export function shareSnapshotPath(paths: WorkerPaths): string {
    return `${paths.libDir}/share-snapshot.py`;
}

export function shareSnapshotConfigPath(paths: WorkerPaths): string {
    return `${paths.etcDir}/share-snapshot.json`;
}

export function renderShareSnapshotConfig(s: ShareSnapshotSettings): string {
    const snapshots = s.shareSnapshots;
    if (!snapshots) throw new Error(`share-snapshot.json: ${s.self.name} was given no share to snapshot`);
    const config = {
        shareId: snapshots.shareId,
        keepDays: snapshots.keepDays,
        stateFile: stateFile(s),
        imdsUrl: s.cloudApi?.imdsUrl ?? INSTANCE_METADATA_URL,
        armUrl: s.cloudApi?.apiUrl ?? AZURE_ARM_URL,
        armResource: `${AZURE_ARM_URL}/`,
        apiVersion: AZURE_STORAGE_API_VERSION,
    };
    return `${JSON.stringify(config, null, 2)}\n`;
}

/** systemd's calendar for every `everyHours` from 00:00 UTC: the times backup.everyHours names on both clouds. */
export function shareSnapshotCalendar(everyHours: number): string {
    return everyHours >= 24 ? "*-*-* 00:00:00 UTC" : `*-*-* 00/${everyHours}:00:00 UTC`;
}

export function renderShareSnapshotUnit(s: Pick<BootstrapSettings, "paths">): string {
    return renderTimerToolUnit("snapshot the shared queue's Azure Files share (on the active worker only)", shareSnapshotPath(s.paths), shareSnapshotConfigPath(s.paths));
}

export function renderShareSnapshotTimer(s: ShareSnapshotSettings): string {
    const snapshots = s.shareSnapshots;
    if (!snapshots) throw new Error(`${SHARE_SNAPSHOT_TIMER}: ${s.self.name} was given no share to snapshot`);
    return renderTimerToolTimer(`snapshot the shared queue every ${snapshots.everyHours} h, kept ${snapshots.keepDays} days`, shareSnapshotCalendar(snapshots.everyHours));
}
