/**
 * The lease guard (lease-guard.py): the one thing that makes a worker active (docs/lease.md).
 * Its config and unit are rendered here; the timing rule is computed here once, from
 * `failover.leaseSeconds`, and handed to the guard as numbers.
 */
import * as fs from "fs";
import * as path from "path";
import { BootstrapSettings, WorkerPaths, stateFile, LeaseLocator } from "./settings";
import { LEASE_STORE_SILENT_SECONDS, VIP_MOVE } from "../constants";
import { AZURE_ARM_URL, INSTANCE_METADATA_URL, ec2Endpoint, vipConfigPath, vipMoverPath } from "./vip";

export const LEASE_GUARD_SOURCE = fs.readFileSync(path.join(__dirname, "lease-guard.py"), "utf8");
/** What the worker's Python tools share to reach the cloud (imported by the guard, the VIP mover, the peer fence). */
export const CLOUD_LIBRARY_SOURCE = fs.readFileSync(path.join(__dirname, "iguana_ha_cloud.py"), "utf8");
export const PEER_FENCE_SOURCE = fs.readFileSync(path.join(__dirname, "peer-fence.py"), "utf8");

export const LEASE_GUARD_UNIT = "iguana-lease-guard.service";

/** How the guard judges Iguana's health, and the backup's head start after a boot. */
export const GUARD = {
    /** The health check (check-iguana.sh) runs every second; 2 failures in a row hand the lease over, 2 successes make a passive worker eligible. */
    healthEverySeconds: 1,
    healthFall: 2,
    healthRise: 2,
    /** How long the check's own request to Iguana waits (curl -m, timeout). */
    checkTimeoutSeconds: 2,
    /**
     * How long the guard lets the whole check run before it counts a failure: above the
     * check's own bounded steps (the shared file system's 1 s, the request's 2 s, start-up under load).
     */
    scriptTimeoutSeconds: 5,
    /**
     * After each boot, WK2 (the backup) waits this long before it may acquire the lease, so that
     * WK1 is the active worker when both boot together. Costs nothing on a failover; a cold start
     * with WK1 down takes this much longer.
     */
    backupBootHeadStartSeconds: 20,
    /** The nftables table of the kernel gate: the LLP ports open only until the lease deadline (lease-guard.py). */
    kernelGateTable: "iguana_ha_lease",
    /** systemd kills a guard that has not reported for this long (its stop closes the gate): at least this, and 2L (guardWatchdogSeconds). */
    watchdogSeconds: 5,
    /** Shared mode: how long a new holder keeps trying to stop the previous holder's machine. */
    peerFenceTimeoutSeconds: 300,
    /** How long one stop waits for the machine to report stopped, and how often it asks. */
    peerFenceWaitSeconds: 240,
    peerFencePollSeconds: 2,
    /** The Azure Compute API version the peer fence speaks. */
    azureComputeApiVersion: "2024-07-01",
} as const;

/** The timing rule (docs/lease.md), in seconds, from the lease duration L. */
export interface LeaseTiming {
    leaseSeconds: number;
    /** The holder renews, and a challenger reads, every L/6. */
    renewEverySeconds: number;
    /** Each call to the store gives up after L/3. */
    callTimeoutSeconds: number;
    /** The holder is active until L/2 after the send time of its last successful write. */
    activeForSeconds: number;
    /** Its fence (gate closed, connections reset, Iguana stopped in shared mode) is done by 2L/3. */
    fencedBySeconds: number;
    /** No challenger can acquire before L: the margin after the fence is L/3. */
    marginSeconds: number;
}

export function leaseTiming(leaseSeconds: number): LeaseTiming {
    return {
        leaseSeconds,
        renewEverySeconds: leaseSeconds / 6,
        callTimeoutSeconds: leaseSeconds / 3,
        activeForSeconds: leaseSeconds / 2,
        fencedBySeconds: (2 * leaseSeconds) / 3,
        marginSeconds: leaseSeconds / 3,
    };
}

/**
 * The guard's watchdog: longer than one pass of its loop can take, which is a read interval, two
 * calls and a notify (bounded by L): 2L, and never under GUARD.watchdogSeconds.
 */
export function guardWatchdogSeconds(leaseSeconds: number): number {
    return Math.max(GUARD.watchdogSeconds, Math.ceil(2 * leaseSeconds));
}

export function leaseGuardPath(paths: WorkerPaths): string {
    return `${paths.libDir}/lease-guard.py`;
}

export function leaseConfigPath(paths: WorkerPaths): string {
    return `${paths.etcDir}/lease.json`;
}

export function cloudLibraryPath(paths: WorkerPaths): string {
    return `${paths.libDir}/iguana_ha_cloud.py`;
}

export function peerFencePath(paths: WorkerPaths): string {
    return `${paths.libDir}/peer-fence.py`;
}

export function peerFenceConfigPath(paths: WorkerPaths): string {
    return `${paths.etcDir}/peer-fence.json`;
}

/** The lease file the guard writes and the role probe reads: the monotonic instant active ends. */
export function leaseFile(s: Pick<BootstrapSettings, "paths">): string {
    return `${s.paths.runDir}/lease`;
}

/**
 * What the guard reports for publish-event.py (events.ts): Iguana's health as the guard judges it,
 * whether the lease store answers, and the monotonic instant it wrote that (at least every 5 s).
 */
export function guardFile(s: Pick<BootstrapSettings, "paths">): string {
    return `${s.paths.runDir}/guard`;
}

export function dynamoDbEndpoint(region: string): string {
    return region.startsWith("cn-") ? `https://dynamodb.${region}.amazonaws.com.cn/` : `https://dynamodb.${region}.amazonaws.com/`;
}

export function blobUrl(lease: Extract<LeaseLocator, { kind: "azure-blob" }>, endpoint = `https://${lease.accountName}.blob.core.windows.net`): string {
    return `${endpoint.replace(/\/$/, "")}/${lease.container}/${lease.blobName}`;
}

function storeConfig(s: BootstrapSettings, lease: LeaseLocator) {
    const imdsUrl = s.cloudApi?.imdsUrl ?? INSTANCE_METADATA_URL;
    if (lease.kind === "aws-dynamodb") {
        return { kind: lease.kind, url: s.cloudApi?.leaseUrl ?? dynamoDbEndpoint(lease.region), region: lease.region, table: lease.tableName, itemKey: lease.itemKey, imdsUrl };
    }
    return { kind: lease.kind, url: blobUrl(lease, s.cloudApi?.leaseUrl), imdsUrl };
}

/** The guard's JSON config: names and numbers, never a credential. */
export function renderLeaseConfig(s: BootstrapSettings): string {
    if (!s.lease) throw new Error(`lease.json: ${s.self.name} was given no lease store`);
    const timing = leaseTiming(s.leaseSeconds);
    const python = "/usr/bin/python3";
    const config = {
        self: s.self.name,
        primary: s.self.role === "primary",
        ...timing,
        headStartSeconds: GUARD.backupBootHeadStartSeconds,
        runDir: s.paths.runDir,
        leaseStoreSilentSeconds: LEASE_STORE_SILENT_SECONDS,
        stateFile: stateFile(s),
        notify: `${s.paths.libDir}/notify.sh`,
        health: {
            script: `${s.paths.libDir}/check-iguana.sh`,
            everySeconds: GUARD.healthEverySeconds,
            fall: GUARD.healthFall,
            rise: GUARD.healthRise,
            timeoutSeconds: GUARD.scriptTimeoutSeconds,
        },
        store: storeConfig(s, s.lease),
        ...(s.gatedPorts.length > 0 ? { kernelGate: { table: GUARD.kernelGateTable, ports: s.gatedPorts } } : {}),
        ...(s.vip ? { vip: { command: [python, vipMoverPath(s.paths), vipConfigPath(s.paths), "take"], timeoutSeconds: 600 } } : {}),
        ...(s.peerFence ? { peerFence: { command: [python, peerFencePath(s.paths), peerFenceConfigPath(s.paths), "stop"], timeoutSeconds: GUARD.peerFenceTimeoutSeconds } } : {}),
    };
    return `${JSON.stringify(config, null, 2)}\n`;
}

/** Shared mode: the peer fence's config (which API, how long to wait), never a credential. */
export function renderPeerFenceConfig(s: BootstrapSettings): string {
    const fence = s.peerFence;
    if (!fence) throw new Error(`peer-fence.json: ${s.self.name} was given no peer fence (storage.queueRecovery is not shared)`);
    const imdsUrl = s.cloudApi?.imdsUrl ?? INSTANCE_METADATA_URL;
    const common = { cloud: s.cloud, waitSeconds: GUARD.peerFenceWaitSeconds, pollSeconds: GUARD.peerFencePollSeconds };
    const config =
        fence.kind === "aws-ec2"
            ? { ...common, aws: { region: fence.region, imdsUrl, ec2Url: s.cloudApi?.apiUrl ?? ec2Endpoint(fence.region), apiVersion: VIP_MOVE.ec2ApiVersion } }
            : {
                  ...common,
                  azure: {
                      imdsUrl,
                      armUrl: s.cloudApi?.apiUrl ?? AZURE_ARM_URL,
                      armResource: `${AZURE_ARM_URL}/`,
                      apiVersion: GUARD.azureComputeApiVersion,
                      peerVmId: fence.peerVmId,
                  },
              };
    return `${JSON.stringify(config, null, 2)}\n`;
}

export function renderLeaseGuardUnit(s: BootstrapSettings, after: string[]): string {
    return `[Unit]
Description=iguana-ha lease guard: ${s.self.name} is active only while it holds the lease
After=network-online.target ${after.join(" ")}
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/bin/python3 ${leaseGuardPath(s.paths)} ${leaseConfigPath(s.paths)} run
# However the guard ends (a clean stop has already released the lease), the gate closes.
ExecStopPost=${s.paths.libDir}/notify.sh STOP
WatchdogSec=${guardWatchdogSeconds(s.leaseSeconds)}
Restart=always
RestartSec=1
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
`;
}
