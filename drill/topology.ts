/**
 * One scenario's network: four namespaces (sender, lb, wk1, wk2) and a bridge inside the lb
 * namespace joining a veth from each. The lb namespace holds the VIP on the bridge; with a
 * floating IP it holds the stand-in cloud API's address instead, and the VIP moves between the
 * workers (drill/floating.ts). Nothing is routed anywhere else: the namespaces have no default
 * route and only 10.251.0.0/24.
 */
import { DRILL_SUBNET, DrillAddresses } from "./addresses";
import { WORKER_INTERFACE } from "./plan";
import { inNetns, killNetnsPids, listNetns, sh } from "./system";

export type Node = "sender" | "lb" | "wk1" | "wk2";

export interface Topology {
    prefix: string;
    ns: Record<Node, string>;
    addresses: DrillAddresses;
}

const BRIDGE = "br0";

export function topologyNames(prefix: string): Record<Node, string> {
    return { sender: `${prefix}-snd`, lb: `${prefix}-lb`, wk1: `${prefix}-wk1`, wk2: `${prefix}-wk2` };
}

export function createTopology(prefix: string, addresses: DrillAddresses, options: { floatingVip?: boolean } = {}): Topology {
    const ns = topologyNames(prefix);
    const topo = { prefix, ns, addresses };
    try {
        for (const name of Object.values(ns)) {
            sh("ip", ["netns", "add", name]);
            sh("ip", ["-n", name, "link", "set", "lo", "up"]);
        }
        sh("ip", ["-n", ns.lb, "link", "add", BRIDGE, "type", "bridge"]);
        // The stand-in cloud API and lease store live on the bridge; so does the LB's VIP (a floating VIP moves between the workers).
        const bridgeAddresses = [addresses.cloudApi, addresses.leaseStore, ...(options.floatingVip ? [] : [addresses.vip])];
        for (const address of bridgeAddresses) sh("ip", ["-n", ns.lb, "addr", "add", `${address}/${DRILL_SUBNET.length}`, "dev", BRIDGE]);
        sh("ip", ["-n", ns.lb, "link", "set", BRIDGE, "up"]);
        const leaves: [Node, string][] = [
            ["sender", addresses.sender],
            ["wk1", addresses.wk1],
            ["wk2", addresses.wk2],
        ];
        for (const [node, address] of leaves) {
            const port = `v-${node}`;
            // Both ends are created straight inside their namespaces: no name in the host's.
            sh("ip", ["link", "add", WORKER_INTERFACE, "netns", ns[node], "type", "veth", "peer", "name", port, "netns", ns.lb]);
            sh("ip", ["-n", ns.lb, "link", "set", port, "master", BRIDGE]);
            sh("ip", ["-n", ns.lb, "link", "set", port, "up"]);
            sh("ip", ["-n", ns[node], "addr", "add", `${address}/${DRILL_SUBNET.length}`, "dev", WORKER_INTERFACE]);
            sh("ip", ["-n", ns[node], "link", "set", WORKER_INTERFACE, "up"]);
        }
    } catch (e) {
        destroyTopology(topo);
        throw e;
    }
    return topo;
}

/** Kills anything left inside the namespaces, then deletes them. */
export function destroyTopology(topo: { ns: Record<Node, string> }): void {
    for (const name of Object.values(topo.ns)) {
        if (!listNetns().includes(name)) continue;
        killNetnsPids(name);
        sh("ip", ["netns", "del", name], { allowFail: true });
    }
}

/**
 * Cuts a worker off the network while its interface stays up, as a cloud network partition
 * does: every packet in or out, except loopback, is dropped in the raw table (before the LLP
 * gate's filter rules, which therefore cannot answer with resets either).
 */
export function cutNetwork(ns: string): void {
    inNetns(ns, "iptables", ["-w", "-t", "raw", "-I", "PREROUTING", "!", "-i", "lo", "-j", "DROP"]);
    inNetns(ns, "iptables", ["-w", "-t", "raw", "-I", "OUTPUT", "!", "-o", "lo", "-j", "DROP"]);
}

export function healNetwork(ns: string): void {
    inNetns(ns, "iptables", ["-w", "-t", "raw", "-D", "PREROUTING", "!", "-i", "lo", "-j", "DROP"], { allowFail: true });
    inNetns(ns, "iptables", ["-w", "-t", "raw", "-D", "OUTPUT", "!", "-o", "lo", "-j", "DROP"], { allowFail: true });
}

/** Drops everything between this namespace and one peer address only (both directions). */
export function cutPeer(ns: string, peer: string): void {
    inNetns(ns, "iptables", ["-w", "-t", "raw", "-I", "PREROUTING", "-s", peer, "-j", "DROP"]);
    inNetns(ns, "iptables", ["-w", "-t", "raw", "-I", "OUTPUT", "-d", peer, "-j", "DROP"]);
}

export function healPeer(ns: string, peer: string): void {
    inNetns(ns, "iptables", ["-w", "-t", "raw", "-D", "PREROUTING", "-s", peer, "-j", "DROP"], { allowFail: true });
    inNetns(ns, "iptables", ["-w", "-t", "raw", "-D", "OUTPUT", "-d", peer, "-j", "DROP"], { allowFail: true });
}

/** Cuts a worker off the lease store only (both ways); everything else still flows. */
export function cutLeaseStore(ns: string, store: string): void {
    cutPeer(ns, store);
}

export function healLeaseStore(ns: string, store: string): void {
    healPeer(ns, store);
}
