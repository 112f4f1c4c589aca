/**
 * The drill's own small network and the worker settings it renders files from. Pure: nothing
 * here touches the machine. The workers are the program's own WorkerPlans (name, role,
 * priority from `planWorkers`), only moved to the drill's namespace addresses, and their
 * bootstrap settings come from `bootstrapSettings` with the drill's scratch paths.
 */
import * as path from "path";
import { BootstrapSettings, WorkerPaths, bootstrapSettings } from "../components/bootstrap";
import { ClusterConfig } from "../components/config";
import { Cloud } from "../components/constants";
import { WorkerPlan, planNetwork, planWorkers } from "../components/model";

/** Every address the drill uses lives in this /24, inside namespaces the drill creates. */
export const DRILL_SUBNET = { prefix: "10.251.0", length: 24 } as const;

export interface DrillAddresses {
    /** The load balancer's frontend: the VIP senders connect to. */
    vip: string;
    sender: string;
    wk1: string;
    wk2: string;
}

export const DRILL_ADDRESSES: DrillAddresses = {
    vip: `${DRILL_SUBNET.prefix}.1`,
    sender: `${DRILL_SUBNET.prefix}.2`,
    wk1: `${DRILL_SUBNET.prefix}.11`,
    wk2: `${DRILL_SUBNET.prefix}.12`,
};

/** The interface name every worker namespace gives its link to the bridge. */
export const WORKER_INTERFACE = "eth0";

/**
 * The program's worker plans (same names, roles and keepalived priorities as `planWorkers`
 * gives for the stack's network), at the drill's addresses.
 */
export function drillWorkers(cfg: ClusterConfig, addresses: DrillAddresses = DRILL_ADDRESSES): [WorkerPlan, WorkerPlan] {
    const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr));
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
        keepalivedConf: path.join(base, "etc", "keepalived.conf"),
        dataMount: path.join(base, "data"),
        workingDir: path.join(base, "data", "working"),
        appDir: path.join(base, "app"),
    };
}

/** Bootstrap settings of both workers, as the cloud implementation builds them, with drill paths. */
export function drillSettings(cfg: ClusterConfig, root: string, addresses: DrillAddresses = DRILL_ADDRESSES): [BootstrapSettings, BootstrapSettings] {
    const [wk1, wk2] = drillWorkers(cfg, addresses);
    // The data disk locator only feeds the disk script, which the drill does not run.
    const cloudSpecific = { dataDisk: { kind: "aws-ebs", volumeId: "vol-0drill" } as const };
    return [
        bootstrapSettings(cfg, wk1, wk2, cloudSpecific, drillWorkerPaths(root, wk1.name)),
        bootstrapSettings(cfg, wk2, wk1, cloudSpecific, drillWorkerPaths(root, wk2.name)),
    ];
}

/** How the emulated load balancer treats flows and an all-unhealthy target set. */
export type LbProfile = Cloud;

export const LB_PROFILE_TEXT: Record<LbProfile, string> = {
    aws: "AWS NLB: resets flows to an unhealthy target, fails open when every target is unhealthy",
    azure: "Azure Standard LB: keeps established flows, sends nothing new when every target is unhealthy",
};
