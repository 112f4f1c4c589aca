/**
 * Azure, data disks with `backup.copyToRegion`: Azure Disk Backup keeps its snapshots in the
 * disk's region and has no copy step, so the active worker copies the newest backup snapshot of
 * each data disk to a resource group in that region (disk-snapshot-copy.py, ARM's CopyStart of an
 * incremental snapshot) every hour, and deletes copies older than the backups are kept, never the
 * newest of a disk. The passive worker's timer fires too and does nothing, so the copies survive
 * a failover with nothing to move.
 */
import * as fs from "fs";
import * as path from "path";
import { WorkerPlan } from "../model";
import { stateFile, BootstrapSettings, WorkerPaths } from "./settings";
import { AZURE_ARM_URL, INSTANCE_METADATA_URL } from "./vip";
import { renderTimerToolTimer, renderTimerToolUnit } from "./timer-tools";

export const DISK_COPY_UNIT = "iguana-disk-copy.service";
export const DISK_COPY_TIMER = "iguana-disk-copy.timer";
/** The Microsoft.Compute API version disk-snapshot-copy.py speaks (Snapshots List, Create Or Update with CopyStart, Delete); CopyStart needs 2020-12-01 or newer. */
export const AZURE_COMPUTE_SNAPSHOT_API_VERSION = "2024-03-02";
/** systemd's calendar of the copy runs: hourly, half past, so a backup taken on the hour is copied within the hour. */
export const DISK_COPY_CALENDAR = "*-*-* *:30:00 UTC";

export const DISK_COPY_SOURCE = fs.readFileSync(path.join(__dirname, "disk-snapshot-copy.py"), "utf8");

/** What the copy files are rendered from: a worker's bootstrap, or (the boot test) just these parts of one. */
export type DiskCopySettings = Pick<BootstrapSettings, "paths" | "diskCopies" | "cloudApi"> & { self: Pick<WorkerPlan, "name"> };

export function diskCopyPath(paths: WorkerPaths): string {
    return `${paths.libDir}/disk-snapshot-copy.py`;
}

export function diskCopyConfigPath(paths: WorkerPaths): string {
    return `${paths.etcDir}/disk-snapshot-copy.json`;
}

export function renderDiskCopyConfig(s: DiskCopySettings): string {
    const copies = s.diskCopies;
    if (!copies) throw new Error(`disk-snapshot-copy.json: ${s.self.name} was given no backups to copy`);
    const config = {
        disks: copies.disks,
        sourceGroupId: copies.sourceGroupId,
        copyGroupId: copies.copyGroupId,
        copyRegion: copies.copyRegion,
        keepDays: copies.keepDays,
        stateFile: stateFile(s),
        imdsUrl: s.cloudApi?.imdsUrl ?? INSTANCE_METADATA_URL,
        armUrl: s.cloudApi?.apiUrl ?? AZURE_ARM_URL,
        armResource: `${AZURE_ARM_URL}/`,
        apiVersion: AZURE_COMPUTE_SNAPSHOT_API_VERSION,
    };
    return `${JSON.stringify(config, null, 2)}\n`;
}

export function renderDiskCopyUnit(s: Pick<BootstrapSettings, "paths">): string {
    return renderTimerToolUnit(
        "copy the data disks' newest backup snapshots to the disaster-recovery region (on the active worker only)",
        diskCopyPath(s.paths),
        diskCopyConfigPath(s.paths),
    );
}

export function renderDiskCopyTimer(s: DiskCopySettings): string {
    const copies = s.diskCopies;
    if (!copies) throw new Error(`${DISK_COPY_TIMER}: ${s.self.name} was given no backups to copy`);
    return renderTimerToolTimer(`copy the data disks' newest backups to ${copies.copyRegion} hourly, kept ${copies.keepDays} days`, DISK_COPY_CALENDAR, true);
}
