/**
 * How an AWS cluster scales past one NLB: channels are sharded over NLBs by port block, and
 * channel ports are grouped into contiguous ranges for security group rules. Pure functions,
 * used by validation and by the AWS implementation alike.
 *
 * Why port blocks: an NLB holds at most 50 listeners (not adjustable). A channel's NLB is a
 * function of its own port only (`floor(port / 50)`), so adding or removing a channel never
 * moves another channel to a different address, and no block can hold more than 50 ports.
 * The web port's block also carries the dashboard listener; the web port is never a channel
 * port, so that block still fits.
 */
import type { ChannelConfig, NetworkConfig } from "./config";
import { AWS_SECURITY_GROUP_INBOUND_RULES, NLB_LISTENER_QUOTA } from "./constants";

export interface NlbShard {
    /** `floor(port / 50)` of every port on this NLB. */
    block: number;
    /** True for the NLB that carries the dashboard: its addresses are `vip`. */
    primary: boolean;
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

/** The NLBs of a cluster, primary (dashboard) first, then by port block. */
export function shardChannels(channels: ChannelConfig[], webPort: number): NlbShard[] {
    const primaryBlock = portBlock(webPort);
    const blocks = new Map<number, ChannelConfig[]>([[primaryBlock, []]]);
    for (const channel of channels) {
        const block = portBlock(channel.port);
        blocks.set(block, [...(blocks.get(block) ?? []), channel]);
    }
    return [...blocks.entries()]
        .map(([block, members]) => ({ block, primary: block === primaryBlock, channels: members.sort((a, b) => a.port - b.port) }))
        .sort((a, b) => (a.primary === b.primary ? a.block - b.block : a.primary ? -1 : 1));
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
 * Fixed private address offset of an internal NLB per subnet: `.5` for the primary, `100 +
 * block` for the others (stable, like the public addresses). Needs subnets of at least /20.
 */
export function internalVipOffset(shard: NlbShard, primaryOffset: number): number {
    return shard.primary ? primaryOffset : 100 + shard.block;
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
    if (!network.public && shards.length > 1 && prefix > INTERNAL_SHARDED_MAX_PREFIX) {
        problems.push([
            "network.cidr",
            `an internal cluster whose channels need ${shards.length} NLBs gives each a fixed private address; that needs network.cidr /${INTERNAL_SHARDED_MAX_PREFIX} or larger, not /${prefix}`,
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
