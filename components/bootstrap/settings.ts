/**
 * What a worker's bootstrap is rendered from. Every value comes from the validated config and
 * the cloud-agnostic model, the same ones the load balancer resources use.
 */
import { ClusterConfig, IguanaConfig } from "../config";
import { Edition } from "../constants";
import { WorkerBootstrapPlan, WorkerPlan, workerBootstrapPlan } from "../model";

/** Where things live on a worker. The failover drill passes its own scratch paths. */
export interface WorkerPaths {
    /** Our scripts. */
    libDir: string;
    /** Our settings: the lease guard's, the VIP mover's. */
    etcDir: string;
    /** Runtime state: the role file, the lease deadline. */
    runDir: string;
    /** Mount point of the data disk. */
    dataMount: string;
    /**
     * Iguana's working directory: queue, logs and config. Fixed, because the Iguana ID (and so
     * the license) is derived from the machine id and this path.
     */
    workingDir: string;
    /** Where Iguana's binaries are unpacked. */
    appDir: string;
}

export const WORKER_PATHS: WorkerPaths = {
    libDir: "/usr/local/lib/iguana-ha",
    etcDir: "/etc/iguana-ha",
    runDir: "/run/iguana-ha",
    dataMount: "/srv/iguana",
    workingDir: "/srv/iguana/working",
    appDir: "/opt/iguana",
};

export const IGUANA_USER = "iguana";
/** systemd unit names: IguanaX installs its own `IguanaX` unit; Iguana 6 runs under ours. */
export const IGUANA_UNIT: Record<Edition, string> = { iguanax: "IguanaX", iguana6: "iguana6" };

export type DataDiskLocator = { kind: "aws-ebs"; volumeId: string } | { kind: "azure-lun"; lun: number };

/**
 * The shared file system of `storage.queueRecovery: shared`: an EFS file system (mounted with
 * amazon-efs-utils over TLS, IAM-authorised) or an Azure Files NFS 4.1 share reached through
 * its private endpoint (`host:exportPath`, e.g. `acct.file.core.windows.net:/acct/iguana`).
 */
export type SharedStorageLocator = { kind: "aws-efs"; fileSystemId: string } | { kind: "azure-nfs"; host: string; exportPath: string };

/** Where the working directory lives: a worker's own data disk, or the shared file system. */
export type StorageLocator = DataDiskLocator | SharedStorageLocator;

export function isSharedLocator(locator: StorageLocator): locator is SharedStorageLocator {
    return locator.kind === "aws-efs" || locator.kind === "azure-nfs";
}

/**
 * The floating VIP (`failover.strategy: floating-ip`) and who may move it: an Elastic IP (the
 * worker finds its own instance id in IMDS), or an Azure Public IP and the two workers' NICs.
 */
export type VipLocator =
    { kind: "aws-eip"; allocationId: string; region: string } | { kind: "azure-public-ip"; publicIpId: string; selfNicId: string; peerNicId: string; ipConfigName: string };

/** Where the VIP mover reaches the cloud: the real endpoints, or the failover drill's stand-in. */
export interface CloudApiEndpoints {
    imdsUrl: string;
    apiUrl: string;
    /** The lease store's endpoint (DynamoDB's URL; the blob service's, without the container). */
    leaseUrl?: string;
}

/**
 * The lease that alone makes a worker active (docs/lease.md): one DynamoDB item, written with
 * conditional updates through the VPC's gateway endpoint; or one blob in a storage account,
 * written with ETag conditions through the storage subnet's private endpoint.
 */
export type LeaseLocator =
    { kind: "aws-dynamodb"; tableName: string; region: string; itemKey: string } | { kind: "azure-blob"; accountName: string; container: string; blobName: string };

/**
 * `storage.queueRecovery: shared` only: how a new lease holder stops the previous holder's
 * machine before it starts Iguana on the shared queue. AWS: StopInstances (force, skip OS
 * shutdown) on the instance id the previous holder wrote into the lease. Azure: powerOff
 * (skipShutdown) of the peer VM.
 */
export type PeerFenceLocator = { kind: "aws-ec2"; region: string } | { kind: "azure-vm"; peerVmId: string };

/** A secret the worker reads with its own identity: a Secrets Manager secret, or a Key Vault secret. */
export type SecretSource = { kind: "aws-secrets-manager"; secretArn: string; region: string } | { kind: "azure-key-vault"; vaultName: string; secretName: string };
export type AdminPasswordSource = SecretSource;

/**
 * Azure, `storage.queueRecovery: shared` with `backup.enabled`: the share the active worker
 * snapshots every `everyHours` (its ARM id), and how many days of snapshots it keeps.
 */
export type ShareSnapshotLocator = { kind: "azure-share"; shareId: string; everyHours: number; keepDays: number };

/**
 * Azure, `backup.copyToRegion`: the active worker copies the newest Azure Disk Backup snapshot of
 * each data disk, from the group the backups are kept in, to a group in that region
 * (disk-snapshot-copy.py), and deletes copies older than `keepDays` there, never the newest.
 */
export type DiskCopyLocator = {
    kind: "azure-disk-snapshots";
    disks: { worker: string; diskId: string }[];
    sourceGroupId: string;
    copyGroupId: string;
    copyRegion: string;
    keepDays: number;
};

/** Where a worker publishes its events (events.ts): CloudWatch in a region, or Azure Monitor in a location; `cluster` names the cluster. */
export type EventsLocator = { kind: "aws-cloudwatch"; region: string; cluster: string } | { kind: "azure-monitor"; location: string; cluster: string };

/** What each cloud adds to a worker's bootstrap: where its disk, password, VIP, lease and peer are. */
export interface CloudLocators {
    /** The data disk (`queueRecovery: none`) or the shared file system (`shared`). */
    dataDisk: StorageLocator;
    adminPassword?: AdminPasswordSource;
    /**
     * `tls.enabled`: the secret holding the TLS bundle, a JSON object { certificate, privateKey,
     * clientCa? } of PEM text (TlsBundle).
     */
    tlsBundle?: SecretSource;
    vip?: VipLocator;
    /** The lease store this worker's lease guard writes (docs/lease.md). */
    lease?: LeaseLocator;
    /** Shared mode: how a new holder stops the previous holder's machine. */
    peerFence?: PeerFenceLocator;
    /** Where the worker tells the cloud it took over; without it, it tells nobody. */
    events?: EventsLocator;
    /** Azure shared mode with backups: the share to snapshot. */
    shareSnapshots?: ShareSnapshotLocator;
    /** Azure data disks with `backup.copyToRegion`: the backups to copy, and where. */
    diskCopies?: DiskCopyLocator;
}

/** A worker's bootstrap: the plan's part (WorkerBootstrapPlan), the installer and its cloud's locators. */
export interface BootstrapSettings extends WorkerBootstrapPlan, CloudLocators {
    installerUrl?: string;
    installerSha256?: string;
    /** The failover drill points the VIP mover at its own stand-in API; unset on a worker. */
    cloudApi?: CloudApiEndpoints;
    paths: WorkerPaths;
    /**
     * The command iguana-service.sh uses to start and stop Iguana's unit: `systemctl` on a
     * worker; the failover drill, which has no systemd in its namespaces, passes its own.
     */
    serviceCommand?: string;
}

/**
 * Where the notify script records this worker's role, as the lease guard sets it: MASTER (holds
 * the lease and is active), BACKUP, FENCING (shared mode: stopping the previous holder), STOP.
 */
export function stateFile(s: Pick<BootstrapSettings, "paths">): string {
    return `${s.paths.runDir}/state`;
}

/** A setting given as a pulumi.Input must be resolved (resolveInstaller) before a worker's files are rendered. */
function resolvedText(value: unknown, key: string): string | undefined {
    if (value === undefined || typeof value === "string") return value;
    throw new Error(`${key} is not resolved yet: render the worker's files from resolveInstaller's values`);
}

/** The worker's bootstrap settings: its part of the plan, completed with the installer and the cloud's locators. */
export function completeBootstrap(
    plan: WorkerBootstrapPlan,
    /** Resolved (resolveInstaller): a value still an Input is refused. */
    installer: Pick<IguanaConfig, "installerUrl" | "installerSha256">,
    cloud: CloudLocators,
    paths: WorkerPaths = WORKER_PATHS,
): BootstrapSettings {
    if ((plan.queueRecovery === "shared") !== isSharedLocator(cloud.dataDisk)) {
        throw new Error(`storage.queueRecovery is "${plan.queueRecovery}" but the worker's storage is a ${cloud.dataDisk.kind}`);
    }
    if ((plan.failoverStrategy === "floating-ip") !== (cloud.vip !== undefined)) {
        throw new Error(`failover.strategy is "${plan.failoverStrategy}" but the worker was ${cloud.vip ? "given" : "not given"} a floating VIP to move`);
    }
    if (cloud.shareSnapshots && plan.queueRecovery !== "shared") {
        throw new Error(`the worker was given a share to snapshot, but storage.queueRecovery is "${plan.queueRecovery}"`);
    }
    if (cloud.diskCopies && plan.queueRecovery !== "none") {
        throw new Error(`the worker was given data disk backups to copy, but storage.queueRecovery is "${plan.queueRecovery}"`);
    }
    if ((plan.tls !== undefined) !== (cloud.tlsBundle !== undefined)) {
        throw new Error(`tls.enabled is ${plan.tls !== undefined} but the worker was ${cloud.tlsBundle ? "given" : "not given"} a TLS bundle secret`);
    }
    return {
        ...plan,
        installerUrl: resolvedText(installer.installerUrl, "iguana.installerUrl"),
        installerSha256: resolvedText(installer.installerSha256, "iguana.installerSha256"),
        dataDisk: cloud.dataDisk,
        adminPassword: cloud.adminPassword,
        tlsBundle: cloud.tlsBundle,
        vip: cloud.vip,
        lease: cloud.lease,
        peerFence: cloud.peerFence,
        events: cloud.events,
        shareSnapshots: cloud.shareSnapshots,
        diskCopies: cloud.diskCopies,
        paths,
    };
}

/** completeBootstrap for one worker of a config (the drill, the tests): the plan's part computed here. */
export function bootstrapSettings(cfg: ClusterConfig, self: WorkerPlan, peer: WorkerPlan, cloud: CloudLocators, paths: WorkerPaths = WORKER_PATHS): BootstrapSettings {
    return completeBootstrap(workerBootstrapPlan(cfg, self, peer), cfg.iguana, cloud, paths);
}
