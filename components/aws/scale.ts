/**
 * How an AWS cluster scales past one NLB: channels are sharded over NLBs by port block, and
 * channel ports are grouped into contiguous ranges for security group rules. Pure functions,
 * used by validation and by the AWS implementation alike.
 *
 * Why port blocks: an NLB holds at most 50 listeners (not adjustable). A channel's NLB is a
 * function of its own port only (`floor(port / 50)`), so adding or removing a channel never
 * moves another channel to a different address, and no block can hold more than 50 ports.
 *
 * The dashboard listener joins the lowest block that has room (fewer than 50 channels), so it
 * costs no NLB (and no Elastic IPs) of its own; only when every channel block is full does it
 * get an NLB of its own, on the web port's block. `vip` is the address of the lowest block
 * holding a channel (components/aws/index.ts).
 *
 * Names: the web port's block has carried the plain names (`iguana-nlb`, `iguana-vip-a`) since
 * the first release; every other block is named by its first port (`iguana-nlb-p2550`). A
 * block's resources keep their names whatever else is added, so nothing is ever renamed.
 */
import type { ChannelConfig, NetworkConfig } from "../config-types";
import { AWS_SECURITY_GROUP_INBOUND_RULES, NLB_LISTENER_QUOTA } from "../constants";

export interface NlbShard {
    /** `floor(port / 50)` of every port on this NLB. */
    block: number;
    /** The web port's block: its resources carry the plain names. */
    plainNames: boolean;
    /** True for the one NLB that carries the dashboard listener. */
    dashboard: boolean;
    channels: ChannelConfig[];
}

export const PORT_BLOCK_SIZE = NLB_LISTENER_QUOTA;
/** NLBs per region default to 50, shared with everything else in the account: keep well below. */
export const MAX_NLB_SHARDS = 20;
/** Instances take 5 security groups by default: one for the workers, four for channel ports. */
export const MAX_CHANNEL_SECURITY_GROUPS = 4;

export function portBlock(port: number): number {
    return Math.floor(port / PORT_BLOCK_SIZE);
}

/** The NLBs of a cluster by port block, lowest first: the first one's address is `vip`. */
export function shardChannels(channels: ChannelConfig[], webPort: number): NlbShard[] {
    const webBlock = portBlock(webPort);
    const blocks = new Map<number, ChannelConfig[]>();
    for (const channel of channels) {
        const block = portBlock(channel.port);
        blocks.set(block, [...(blocks.get(block) ?? []), channel]);
    }
    const shards: NlbShard[] = [...blocks.entries()]
        .map(([block, members]) => ({ block, plainNames: block === webBlock, dashboard: false, channels: members.sort((a, b) => a.port - b.port) }))
        .sort((a, b) => a.block - b.block);
    const withRoom = shards.find((s) => s.channels.length < NLB_LISTENER_QUOTA);
    if (withRoom) withRoom.dashboard = true;
    else shards.push({ block: webBlock, plainNames: true, dashboard: true, channels: [] });
    return shards;
}

/** Contiguous runs of ports: [2575, 2576, 2577, 3000] → [[2575, 2577], [3000, 3000]]. */
export function portRanges(ports: number[]): [number, number][] {
    const sorted = [...new Set(ports)].sort((a, b) => a - b);
    const ranges: [number, number][] = [];
    for (const port of sorted) {
        const last = ranges[ranges.length - 1];
        if (last && port === last[1] + 1) last[1] = port;
        else ranges.push([port, port]);
    }
    return ranges;
}

export interface ChannelRule {
    from: number;
    to: number;
    cidr: string;
}

/** Inbound rules for the channel ports, split into security groups of at most 60 rules. */
export function channelRuleGroups(channels: ChannelConfig[], allowedCidrs: string[]): ChannelRule[][] {
    const rules: ChannelRule[] = [];
    for (const [from, to] of portRanges(channels.map((c) => c.port))) {
        for (const cidr of allowedCidrs) rules.push({ from, to, cidr });
    }
    const groups: ChannelRule[][] = [];
    for (let i = 0; i < rules.length; i += AWS_SECURITY_GROUP_INBOUND_RULES) groups.push(rules.slice(i, i + AWS_SECURITY_GROUP_INBOUND_RULES));
    return groups;
}

/**
 * Fixed private address offset of an internal NLB per subnet: `.5` for the web port's block,
 * `100 + block` for the others (stable, like the public addresses). Needs subnets of at least /20.
 */
export function internalVipOffset(shard: NlbShard, webBlockOffset: number): number {
    return shard.plainNames ? webBlockOffset : 100 + shard.block;
}
export const INTERNAL_SHARDED_MAX_PREFIX = 18;

/** Problems that would only show at deploy time: [key, message]. */
export function awsScaleProblems(
    channels: ChannelConfig[],
    network: Pick<NetworkConfig, "allowedCidrs" | "cidr" | "public">,
    webPort: number,
    { loadBalancer }: { loadBalancer: boolean } = { loadBalancer: true },
): [string, string][] {
    const problems: [string, string][] = [];
    const allowedCidrs = network.allowedCidrs;
    // Without a load balancer (failover.strategy: floating-ip) there are no NLB shards to count.
    const shards = loadBalancer ? shardChannels(channels, webPort) : [];
    const prefix = Number(network.cidr.split("/")[1]);
    const numbered = shards.filter((s) => !s.plainNames);
    if (!network.public && numbered.length > 0 && prefix > INTERNAL_SHARDED_MAX_PREFIX) {
        problems.push([
            "network.cidr",
            `an internal cluster gives the NLB of each port block its own fixed private address (host 100 + floor(port / ${PORT_BLOCK_SIZE}), up to ${100 + Math.max(...numbered.map((s) => s.block))} here); ` +
                `that needs network.cidr /${INTERNAL_SHARDED_MAX_PREFIX} or larger, not /${prefix}`,
        ]);
    }
    if (shards.length > MAX_NLB_SHARDS) {
        problems.push([
            "channels",
            `the channel ports fall in ${shards.length} blocks of ${PORT_BLOCK_SIZE} ports (one NLB each); at most ${MAX_NLB_SHARDS}: use contiguous port ranges`,
        ]);
    }
    const groups = channelRuleGroups(channels, allowedCidrs);
    if (groups.length > MAX_CHANNEL_SECURITY_GROUPS) {
        const rules = groups.reduce((n, g) => n + g.length, 0);
        problems.push([
            "network.allowedCidrs",
            `${allowedCidrs.length} CIDRs x ${portRanges(channels.map((c) => c.port)).length} port ranges need ${rules} inbound rules; ` +
                `${MAX_CHANNEL_SECURITY_GROUPS} security groups of ${AWS_SECURITY_GROUP_INBOUND_RULES} hold ${MAX_CHANNEL_SECURITY_GROUPS * AWS_SECURITY_GROUP_INBOUND_RULES}: use fewer, wider CIDRs or contiguous ports`,
        ]);
    }
    return problems;
}
