/**
 * What a cluster needs of each cloud quota that a first `pulumi up` can hit, computed from the
 * validated config alone (the same rules the implementations follow; test/quotas.test.ts
 * checks each count against the resources they register). Pure.
 */
import { channelRuleGroups, shardChannels } from "./aws/scale";
import { ClusterConfig } from "./config";
import { AWS_SECURITY_GROUP_INBOUND_RULES, AZURE_PROXIED_SERVICE_TAGS, AZURE_PROXY_FIXED_RULES, DEFAULT_QUOTAS, EGRESS_ALWAYS, NLB_LISTENER_QUOTA } from "./constants";
import { hasActiveActiveChannel } from "./model";

export interface QuotaUse {
    /** The quota's name as the cloud's quota pages spell it. */
    quota: string;
    /** What the count is of, for the plan's line ("per region", "on the fullest NLB"). */
    scope: string;
    needed: number;
    /** The default limit. */
    limit: number;
    /** Whether the cloud raises it on request (a non-adjustable one is a validation error). */
    adjustable: boolean;
}

function natGatewayCount(cfg: ClusterConfig): number {
    if (cfg.cloud === "aws" && cfg.failover.strategy === "floating-ip") return 0;
    return cfg.network.natGateways === "one-per-zone" ? 2 : 1;
}

/** Every quota this cluster uses, in the order the plan prints them. */
export function quotaUsage(cfg: ClusterConfig): QuotaUse[] {
    const floating = cfg.failover.strategy === "floating-ip";
    const activeActive = hasActiveActiveChannel(cfg);
    if (cfg.cloud === "aws") {
        const shards = floating ? [] : shardChannels(cfg.channels, cfg.iguana.webPort);
        const vipEips = floating ? 1 : cfg.network.public ? 2 * shards.length : 0;
        const channelGroups = channelRuleGroups(cfg.channels, cfg.network.allowedCidrs);
        const workerGroupRules = cfg.network.adminCidrs.length + (floating ? 0 : 1) + (activeActive ? 1 : 0);
        return [
            { quota: "Elastic IP addresses", scope: "per region", needed: natGatewayCount(cfg) + vipEips, limit: DEFAULT_QUOTAS.awsElasticIpsPerRegion, adjustable: true },
            { quota: "Network Load Balancers", scope: "per region", needed: shards.length, limit: DEFAULT_QUOTAS.awsNlbsPerRegion, adjustable: true },
            {
                quota: "listeners per Network Load Balancer",
                scope: "on the fullest NLB",
                needed: Math.max(0, ...shards.map((s) => s.channels.length + (s.dashboard ? 1 : 0))),
                limit: NLB_LISTENER_QUOTA,
                adjustable: false,
            },
            {
                quota: "inbound rules per security group",
                scope: "in the fullest group",
                needed: Math.max(workerGroupRules, ...channelGroups.map((g) => g.length)),
                limit: AWS_SECURITY_GROUP_INBOUND_RULES,
                adjustable: true,
            },
            {
                quota: "security groups per network interface",
                scope: "per worker",
                needed: 1 + channelGroups.length,
                limit: DEFAULT_QUOTAS.awsSecurityGroupsPerInterface,
                adjustable: true,
            },
        ];
    }
    const inboundRules = 1 + (floating ? 0 : 1) + (activeActive ? 1 : 0) + (cfg.network.adminCidrs.length > 0 ? 1 : 0) + cfg.channels.length + 1;
    // Restricted egress: the always-allowed ports (with a proxy: not the web, but the proxy, the
    // private endpoints and the Azure APIs), the VM agent, NFS with shared storage, each destination, the final deny.
    const { egress } = cfg.network;
    const alwaysRules = egress.proxy ? EGRESS_ALWAYS.filter((rule) => !rule.web).length + AZURE_PROXY_FIXED_RULES + AZURE_PROXIED_SERVICE_TAGS.length : EGRESS_ALWAYS.length;
    const outboundRules = egress.restricted ? alwaysRules + 1 + (cfg.storage.queueRecovery === "shared" ? 1 : 0) + egress.destinations.length + 1 : 0;
    const nsgRules = inboundRules + outboundRules;
    return [
        {
            quota: "Standard Public IP addresses",
            scope: "per region",
            needed: natGatewayCount(cfg) + (cfg.network.public ? 1 : 0),
            limit: DEFAULT_QUOTAS.azureStandardPublicIpsPerRegion,
            adjustable: true,
        },
        {
            quota: "load balancing rules per NIC",
            scope: "per worker NIC",
            needed: floating ? 0 : cfg.channels.length + 1,
            limit: DEFAULT_QUOTAS.azureLoadBalancerRulesPerNic,
            adjustable: false,
        },
        { quota: "NSG rules per NSG", scope: "in the workers' NSG", needed: nsgRules, limit: DEFAULT_QUOTAS.azureNsgRulesPerNsg, adjustable: false },
    ];
}

/** The plan's quota line: `Elastic IP addresses 4 of 5 per region; …`. */
export function quotaLine(uses: QuotaUse[]): string {
    return uses.map((u) => `${u.quota} ${u.needed} of ${u.limit} ${u.scope}${u.needed > u.limit ? " (OVER the default)" : ""}`).join("; ");
}
