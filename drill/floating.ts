/**
 * The drill's floating-IP mode (`--failover-strategy floating-ip`, docs/failover.md): no load
 * balancer; the workers run the rendered notify.sh and vip-mover.py against the stand-in cloud
 * API (drill/cloud-api.ts), which runs in the lb namespace (drill/cloud-api-server.ts) and, when
 * a change takes effect, puts the VIP where the cloud would now deliver it.
 *
 * How the VIP "moves" here: the holder gets `VIP/32` on its interface (so it accepts the VIP's
 * packets and answers from it; the other worker loses it), and the sender namespace, which stands
 * for the Internet side, gets a host route `VIP/32 via <holder's address>`. On a cloud the
 * address never sits on an interface: the Internet gateway (AWS) or the SDN (Azure) translates it
 * to the holder's private address. The route does the same job without ARP: the sender's next
 * packet goes to the new holder at once (no gratuitous ARP needed, no stale neighbour entry can
 * keep it on the old one); a flow the old holder owned is answered by a reset from the new one,
 * as on a cloud. With no holder there is neither route nor address: the sender's ARP for the VIP
 * goes unanswered and its connections fail, as packets to an unassociated Elastic IP are dropped.
 *
 * Pure, but for reading the files the stand-in writes. Light on imports (types only): the
 * stand-in's own process loads it.
 */
import * as fs from "fs";
import type { Cloud } from "../components/constants";
import type { AwsCredentials, FakeCloudOptions } from "./cloud-api";
import type { DrillAddresses } from "./addresses";

export type WorkerName = "wk1" | "wk2";

/** The port the stand-in cloud API listens on (inside the lb namespace only). */
export const CLOUD_API_PORT = 8169;
/** The port the stand-in lease store listens on, at its own address (plan.ts). */
export const LEASE_STORE_PORT = 8170;

/** The table / blob the drill's lease lives in (the stand-in lease store knows them). */
export const DRILL_LEASE = {
    aws: { tableName: "iguana-drill-lease", itemKey: "iguana-drill" },
    azure: { accountName: "iguanadrilllease", container: "lease", blobName: "iguana-drill.json" },
} as const;

/** The token the stand-in's IMDS hands out for storage (resource https://storage.azure.com/) and its blob service checks. */
export const DRILL_AZURE_STORAGE_TOKEN = "drill-storage-token";

/** The resources the drill's floating VIP pretends to be (the stand-in cloud API knows them). */
export const DRILL_VIP = {
    aws: { allocationId: "eipalloc-0d7111f0a70000001", publicIp: "203.0.113.10", instanceIds: { wk1: "i-0d7111000000000a1", wk2: "i-0d7111000000000b2" } },
    azure: {
        publicIpId: "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-drill/providers/Microsoft.Network/publicIPAddresses/drill-vip",
        nicIds: {
            wk1: "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-drill/providers/Microsoft.Network/networkInterfaces/drill-wk1-nic",
            wk2: "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-drill/providers/Microsoft.Network/networkInterfaces/drill-wk2-nic",
        },
        vmIds: {
            wk1: "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-drill/providers/Microsoft.Compute/virtualMachines/drill-wk1",
            wk2: "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-drill/providers/Microsoft.Compute/virtualMachines/drill-wk2",
        },
        subnetId: "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-drill/providers/Microsoft.Network/virtualNetworks/drill/subnets/workers",
        /** AZURE_IP_CONFIG_NAME in components/azure/index.ts (not imported: it would load the Azure provider). */
        ipConfigName: "primary",
    },
} as const;

/** The credentials the stand-in's IMDS hands out and its EC2 checks signatures with (documentation examples). */
export const DRILL_AWS_CREDENTIALS: AwsCredentials = { AccessKeyId: "ASIADRILLEXAMPLE0001", SecretAccessKey: "drill/example+secret+key", Token: "drill-session-token" };
export const DRILL_AWS_ROLE = "iguana-drill-worker";
export const DRILL_AZURE_TOKEN = "drill-arm-token";

/** The drill's two workers and their cloud credentials, as the stand-in cloud API knows them (drill and lease guard tests). */
export function drillCloudIdentity(region: string): Pick<FakeCloudOptions, "workers" | "aws" | "azure"> {
    return {
        workers: (["wk1", "wk2"] as const).map((name) => ({
            name,
            instanceId: DRILL_VIP.aws.instanceIds[name],
            nicId: DRILL_VIP.azure.nicIds[name],
            vmId: DRILL_VIP.azure.vmIds[name],
        })),
        aws: { allocationId: DRILL_VIP.aws.allocationId, publicIp: DRILL_VIP.aws.publicIp, region, credentials: DRILL_AWS_CREDENTIALS, role: DRILL_AWS_ROLE },
        azure: {
            publicIpId: DRILL_VIP.azure.publicIpId,
            ipConfigName: DRILL_VIP.azure.ipConfigName,
            accessToken: DRILL_AZURE_TOKEN,
            subnetId: DRILL_VIP.azure.subnetId,
            storageAccessToken: DRILL_AZURE_STORAGE_TOKEN,
        },
    };
}

export interface IpCommand {
    args: string[];
    /** Deleting what is not there is not an error. */
    allowFail: boolean;
}

/** `ip` commands that put the VIP where the cloud now delivers it: on `holder`'s `iface` (each namespace's link to the bridge), or nowhere. */
export function vipPlacementCommands(ns: { sender: string; wk1: string; wk2: string }, addresses: DrillAddresses, iface: string, holder: WorkerName | undefined): IpCommand[] {
    const vip = `${addresses.vip}/32`;
    const commands: IpCommand[] = (["wk1", "wk2"] as const).filter((w) => w !== holder).map((w) => ({ args: ["-n", ns[w], "addr", "del", vip, "dev", iface], allowFail: true }));
    if (holder) {
        commands.push(
            { args: ["-n", ns[holder], "addr", "replace", vip, "dev", iface], allowFail: false },
            { args: ["-n", ns.sender, "route", "replace", vip, "via", addresses[holder], "dev", iface], allowFail: false },
        );
    } else {
        commands.push({ args: ["-n", ns.sender, "route", "del", vip], allowFail: true });
    }
    // Whatever the sender learnt about the VIP itself (replies ARP for it as a source) goes too.
    commands.push({ args: ["-n", ns.sender, "neigh", "flush", "to", addresses.vip], allowFail: true });
    return commands;
}

export interface CloudApiWorker {
    name: WorkerName;
    /** Source address of the worker's requests: how the stand-in tells the workers apart. */
    address: string;
    ns: string;
    instanceId: string;
    nicId: string;
    vmId: string;
}

/** What drill/cloud-api-server.ts is started with (a JSON file). */
export interface CloudApiServerConfig {
    cloud: Cloud;
    /** AWS: the region the mover signs for (the stack's). */
    region: string;
    host: string;
    port: number;
    workers: CloudApiWorker[];
    senderNs: string;
    addresses: DrillAddresses;
    /** The interface every namespace has on the bridge (WORKER_INTERFACE). */
    iface: string;
    moveDelayMs: number;
    /** The lease store: its own address, the faults the drill sets (a JSON file it re-reads), its history of writes. */
    lease: { host: string; port: number };
    files: { ready: string; holder: string; moves: string; calls: string; leaseFaults: string; leaseWrites: string; leaseCalls: string; fences: string };
}

/** The faults of the stand-in lease store, as the drill sets them at run time. */
export interface LeaseFaults {
    /** Every call is answered this much later. */
    delayMs?: number;
}

export function cloudApiServerConfig(
    cloud: Cloud,
    region: string,
    ns: { sender: string; wk1: string; wk2: string },
    addresses: DrillAddresses,
    iface: string,
    moveDelayMs: number,
    dir: string,
): CloudApiServerConfig {
    const worker = (name: WorkerName): CloudApiWorker => ({
        name,
        address: addresses[name],
        ns: ns[name],
        instanceId: DRILL_VIP.aws.instanceIds[name],
        nicId: DRILL_VIP.azure.nicIds[name],
        vmId: DRILL_VIP.azure.vmIds[name],
    });
    return {
        cloud,
        region,
        host: addresses.cloudApi,
        port: CLOUD_API_PORT,
        workers: [worker("wk1"), worker("wk2")],
        senderNs: ns.sender,
        addresses,
        iface,
        moveDelayMs,
        lease: { host: addresses.leaseStore, port: LEASE_STORE_PORT },
        files: {
            ready: `${dir}/cloud-api.ready`,
            holder: `${dir}/vip-holder`,
            moves: `${dir}/vip-moves.jsonl`,
            calls: `${dir}/cloud-api-calls.json`,
            leaseFaults: `${dir}/lease-faults.json`,
            leaseWrites: `${dir}/lease-writes.jsonl`,
            leaseCalls: `${dir}/lease-calls.json`,
            fences: `${dir}/fences.jsonl`,
        },
    };
}

/** The worker a request came from, by its source address (IPv4, or IPv4-mapped IPv6). */
export function workerAt(workers: CloudApiWorker[], remoteAddress: string): WorkerName | undefined {
    const address = remoteAddress.replace(/^::ffff:/, "");
    return workers.find((w) => w.address === address)?.name;
}

/** Who holds the VIP now, as the stand-in last applied it: `wk1`, `wk2` or `none`. */
export function readHolder(file: string): string {
    try {
        return fs.readFileSync(file, "utf8").trim() || "none";
    } catch {
        return "none";
    }
}

export interface VipMove {
    /** Monotonic ms when the change took effect (the addresses were moved). */
    t: number;
    holder: string;
}

export function readMoves(file: string): VipMove[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as VipMove);
}

export interface ReconcileTimer {
    /** The reconcile unit's ExecStart. */
    command: string[];
    /** OnBootSec: the first run after a boot. */
    bootMs: number;
    /** OnUnitActiveSec: every run after that. */
    everyMs: number;
}

function seconds(text: string, key: string): number {
    const match = new RegExp(`^${key}=(\\d+)s?$`, "m").exec(text);
    if (!match) throw new Error(`the reconcile timer has no ${key}`);
    return Number(match[1]) * 1000;
}

/** The rendered reconcile unit and timer, as the drill runs them (it has no systemd). */
export function reconcileTimer(unit: string, timer: string): ReconcileTimer {
    const exec = /^ExecStart=(.+)$/m.exec(unit);
    if (!exec) throw new Error("the reconcile unit has no ExecStart");
    return { command: exec[1].trim().split(/\s+/), bootMs: seconds(timer, "OnBootSec"), everyMs: seconds(timer, "OnUnitActiveSec") };
}

/** `{"wk2":{"AssociateAddress 200":1,...}}`: the cloud API calls each worker made, metadata left out. */
export function summariseCalls(calls: { from: string | undefined; action: string; status: number }[]): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const c of calls) {
        if (/^(PUT|GET) \/(latest|metadata)\//.test(c.action)) continue;
        const who = c.from ?? "unknown";
        const key = `${c.action} ${c.status}`;
        out[who] = out[who] ?? {};
        out[who][key] = (out[who][key] ?? 0) + 1;
    }
    return out;
}
