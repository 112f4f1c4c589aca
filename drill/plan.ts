/**
 * The drill's own small network and the worker settings it renders files from. Pure: nothing
 * here touches the machine. The workers are the program's own WorkerPlans (name, role,
 * priority from `planWorkers`), only moved to the drill's namespace addresses, and their
 * bootstrap settings come from `bootstrapSettings` with the drill's scratch paths.
 */
import * as path from "path";
import { BootstrapSettings, CloudApiEndpoints, LeaseLocator, PeerFenceLocator, VipLocator, WorkerPaths, bootstrapSettings } from "../components/bootstrap";
import { ClusterConfig, namedRegion } from "../components/config";
import { Cloud } from "../components/constants";
import { WorkerPlan, planCluster } from "../components/model";
import { CLUSTER_NAME } from "../components/constants";
import { DRILL_ADDRESSES, DrillAddresses } from "./addresses";
import { CLOUD_API_PORT, DRILL_LEASE, DRILL_VIP, LEASE_STORE_PORT } from "./floating";

export function cloudApiUrl(addresses: DrillAddresses = DRILL_ADDRESSES): string {
    return `http://${addresses.cloudApi}:${CLOUD_API_PORT}`;
}

export function leaseStoreUrl(addresses: DrillAddresses = DRILL_ADDRESSES): string {
    return `http://${addresses.leaseStore}:${LEASE_STORE_PORT}`;
}

/** The lease store as the cloud implementation hands it to a worker, naming the drill's table or blob. */
export function drillLease(cfg: ClusterConfig): LeaseLocator {
    if (cfg.cloud === "aws") return { kind: "aws-dynamodb", tableName: DRILL_LEASE.aws.tableName, region: namedRegion(cfg), itemKey: DRILL_LEASE.aws.itemKey };
    return { kind: "azure-blob", accountName: DRILL_LEASE.azure.accountName, container: DRILL_LEASE.azure.container, blobName: DRILL_LEASE.azure.blobName };
}

/** Shared mode: how a new holder stops the previous one, naming the drill's machines. */
export function drillPeerFence(cfg: ClusterConfig, peer: WorkerPlan): PeerFenceLocator {
    if (cfg.cloud === "aws") return { kind: "aws-ec2", region: namedRegion(cfg) };
    return { kind: "azure-vm", peerVmId: DRILL_VIP.azure.vmIds[peer.name as "wk1" | "wk2"] };
}

/** The floating VIP as the cloud implementation hands it to a worker, naming the drill's resources. */
export function drillVip(cfg: ClusterConfig, self: WorkerPlan, peer: WorkerPlan): VipLocator {
    if (cfg.cloud === "aws") return { kind: "aws-eip", allocationId: DRILL_VIP.aws.allocationId, region: namedRegion(cfg) };
    const nic = (w: WorkerPlan) => DRILL_VIP.azure.nicIds[w.name as "wk1" | "wk2"];
    return { kind: "azure-public-ip", publicIpId: DRILL_VIP.azure.publicIpId, selfNicId: nic(self), peerNicId: nic(peer), ipConfigName: DRILL_VIP.azure.ipConfigName };
}

export function isFloating(cfg: ClusterConfig): boolean {
    return cfg.failover.strategy === "floating-ip";
}

/** The interface name every worker namespace gives its link to the bridge. */
export const WORKER_INTERFACE = "eth0";

/**
 * The program's worker plans (same names and roles as its ClusterPlan gives for the stack's
 * network), at the drill's addresses.
 */
export function drillWorkers(cfg: ClusterConfig, addresses: DrillAddresses = DRILL_ADDRESSES): [WorkerPlan, WorkerPlan] {
    const [wk1, wk2] = planCluster(cfg, CLUSTER_NAME).workers;
    return [
        { ...wk1, privateIp: addresses.wk1 },
        { ...wk2, privateIp: addresses.wk2 },
    ];
}

/** Scratch paths for one worker: everything under `<root>/<worker>/`. */
export function drillWorkerPaths(root: string, worker: string): WorkerPaths {
    const base = path.join(root, worker);
    return {
        libDir: path.join(base, "lib"),
        etcDir: path.join(base, "etc"),
        runDir: path.join(base, "run"),
        dataMount: path.join(base, "data"),
        workingDir: path.join(base, "data", "working"),
        appDir: path.join(base, "app"),
    };
}

/**
 * The drill's emulation of systemctl for the Iguana unit, next to the worker's scripts: the
 * rendered iguana-service.sh calls it (shared mode) as it calls systemctl on a worker.
 */
export function drillServiceCommand(paths: WorkerPaths): string {
    return path.join(paths.libDir, "drill-systemctl.sh");
}

/** Shared mode: the one directory both workers' data mounts are bind mounts of (the "file system"). */
export function drillSharedDir(root: string): string {
    return path.join(root, "shared");
}

/** Bootstrap settings of both workers, as the cloud implementation builds them, with drill paths. */
export function drillSettings(cfg: ClusterConfig, root: string, addresses: DrillAddresses = DRILL_ADDRESSES): [BootstrapSettings, BootstrapSettings] {
    const [wk1, wk2] = drillWorkers(cfg, addresses);
    const shared = cfg.storage?.queueRecovery === "shared";
    // The storage locator only feeds the disk and mount scripts, which the drill does not run:
    // in shared mode each worker's data mount is a bind mount of one directory instead.
    const dataDisk = shared ? ({ kind: "aws-efs", fileSystemId: "fs-0drill" } as const) : ({ kind: "aws-ebs", volumeId: "vol-0drill" } as const);
    // The guard's, the VIP mover's and the peer fence's configs are rendered from these, pointed
    // at the stand-in cloud API and lease store instead of the real IMDS and endpoints.
    const floating = isFloating(cfg);
    const cloudApi: CloudApiEndpoints = {
        imdsUrl: cloudApiUrl(addresses),
        apiUrl: cfg.cloud === "aws" ? `${cloudApiUrl(addresses)}/` : cloudApiUrl(addresses),
        leaseUrl: cfg.cloud === "aws" ? `${leaseStoreUrl(addresses)}/` : leaseStoreUrl(addresses),
    };
    const settings = (self: WorkerPlan, peer: WorkerPlan) => {
        const paths = drillWorkerPaths(root, self.name);
        const s = bootstrapSettings(
            cfg,
            self,
            peer,
            { dataDisk, lease: drillLease(cfg), ...(floating ? { vip: drillVip(cfg, self, peer) } : {}), ...(shared ? { peerFence: drillPeerFence(cfg, peer) } : {}) },
            paths,
        );
        return { ...s, ...(shared ? { serviceCommand: drillServiceCommand(paths) } : {}), cloudApi };
    };
    return [settings(wk1, wk2), settings(wk2, wk1)];
}

/** How the emulated load balancer treats flows and an all-unhealthy target set. */
export type LbProfile = Cloud;

export const LB_PROFILE_TEXT: Record<LbProfile, string> = {
    aws: "AWS NLB: resets flows to an unhealthy target, fails open when every target is unhealthy",
    azure: "Azure Standard LB: keeps established flows, sends nothing new when every target is unhealthy",
};
