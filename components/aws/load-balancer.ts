/** Step 7, the VIP: one Network Load Balancer per block of 50 channel ports, health-checked by the role probe. */
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as lb from "@pulumi/aws/lb";
import { PORT_BLOCK_SIZE, internalVipOffset, shardChannels } from "./scale";
import { hostAddress, parseCidr } from "../cidr";
import { ClusterConfig } from "../config";
import { DASHBOARD_LISTENER, INTERNAL_VIP_HOST_OFFSET, Protocol } from "../constants";
import { HealthCheck, healthCheckTimeoutSeconds, listenerOf } from "../model";
import { AwsContext, ZONE_SUFFIX } from "./context";
import { AwsNetwork } from "./network";
import { AwsWorker } from "./workers";

export function awsHealthCheck(check: HealthCheck, cfg: ClusterConfig): lb.TargetGroupArgs["healthCheck"] {
    const { healthCheckIntervalSeconds: interval, unhealthyThreshold } = cfg.failover;
    const common = {
        enabled: true,
        port: String(check.port),
        interval,
        timeout: healthCheckTimeoutSeconds(interval),
        // Set both explicitly: the provider's default (3) differs from the API's (2).
        healthyThreshold: unhealthyThreshold,
        unhealthyThreshold,
    };
    return check.protocol === "tcp" ? { ...common, protocol: "TCP" } : { ...common, protocol: check.protocol.toUpperCase(), path: check.path, matcher: "200" };
}

/** One listener's target group and the NLB it is on (what an alarm on its health names). */
export interface AwsForwarding {
    listenerName: string;
    nlb: lb.LoadBalancer;
    targetGroup: lb.TargetGroup;
}

export interface AwsLoadBalancing {
    loadBalancers: lb.LoadBalancer[];
    forwarding: AwsForwarding[];
    vip: pulumi.Output<string>;
    vipAddresses: pulumi.Output<string[]>;
    dashboardHost: pulumi.Output<string>;
    channelHosts: pulumi.Output<Record<string, string>>;
}

// --- network load balancers (the VIP) ------------------------------------------------
export function createLoadBalancers(ctx: AwsContext, net: AwsNetwork, workers: AwsWorker[]): AwsLoadBalancing {
    const { name, cfg, parent, opts, tags, network } = ctx;
    const { vpcId, internetGateway, publicSubnetIds, workerSubnetIds } = net;
    // One NLB per block of 50 ports, lowest first; the dashboard joins the first with room, and
    // the web port's block keeps the plain names (see scale.ts).
    // network.deletionProtection: the NLBs' own attribute stops a delete from the console or the
    // API; Pulumi's protect stops `pulumi destroy` (and a replacement) before anything is deleted,
    // and keeps the Elastic IPs, the addresses senders use.
    const protect = cfg.network.deletionProtection;
    const nlbs = shardChannels(cfg.channels, cfg.iguana.webPort).map((shard) => {
        const suffix = shard.plainNames ? "" : `-p${shard.block * PORT_BLOCK_SIZE}`;
        const eips = cfg.network.public
            ? publicSubnetIds.map((_, i) => {
                  const eipName = `${name}-vip${suffix}-${ZONE_SUFFIX[i]}`;
                  return new ec2.Eip(eipName, { domain: "vpc", tags: { ...tags, Name: eipName } }, { ...opts, protect });
              })
            : [];
        const privateIps = workerSubnetIds.map((_, i) => hostAddress(parseCidr(network.privateSubnets[i]), internalVipOffset(shard, INTERNAL_VIP_HOST_OFFSET)));
        const nlb = new lb.LoadBalancer(
            `${name}-nlb${suffix}`,
            {
                loadBalancerType: "network",
                internal: !cfg.network.public,
                // Off by default on an NLB: without it the zone of the passive worker has no healthy target.
                enableCrossZoneLoadBalancing: true,
                enableDeletionProtection: cfg.network.deletionProtection,
                subnetMappings: cfg.network.public
                    ? publicSubnetIds.map((subnetId, i) => ({ subnetId, allocationId: eips[i].allocationId }))
                    : workerSubnetIds.map((subnetId, i) => ({ subnetId, privateIpv4Address: privateIps[i] })),
                tags,
            },
            { parent, dependsOn: internetGateway, protect },
        );
        const addresses = cfg.network.public ? pulumi.all(eips.map((e) => e.publicIp)) : pulumi.output(privateIps);
        return { shard, nlb, addresses };
    });

    const forward = (nlb: lb.LoadBalancer, listenerName: string, port: number, protocol: Protocol, check: HealthCheck, idleTimeoutSeconds?: number) => {
        const targetGroup = new lb.TargetGroup(
            `${name}-${listenerName}`,
            {
                port,
                protocol: "TCP",
                targetType: "instance",
                vpcId,
                preserveClientIp: "true",
                healthCheck: awsHealthCheck(check, cfg),
                // Reset flows of a worker that turns unhealthy, so senders reconnect to the active one.
                targetHealthStates: [{ enableUnhealthyConnectionTermination: true }],
                tags: { ...tags, channel: listenerName, protocol },
            },
            opts,
        );
        for (const { plan, instance } of workers) {
            new lb.TargetGroupAttachment(`${name}-${listenerName}-${plan.name}`, { targetGroupArn: targetGroup.arn, targetId: instance.id, port }, opts);
        }
        const listener = new lb.Listener(
            `${name}-${listenerName}`,
            {
                loadBalancerArn: nlb.arn,
                port,
                protocol: "TCP",
                tcpIdleTimeoutSeconds: idleTimeoutSeconds,
                defaultActions: [{ type: "forward", targetGroupArn: targetGroup.arn }],
                tags,
            },
            opts,
        );
        return { targetGroup, listener };
    };

    const forwarding: AwsForwarding[] = [];
    for (const { shard, nlb } of nlbs) {
        for (const channel of shard.channels) {
            const listener = listenerOf(ctx.plan, channel.name);
            const { targetGroup } = forward(nlb, listener.name, listener.port, listener.protocol, listener.healthCheck, listener.idleTimeoutSeconds);
            forwarding.push({ listenerName: listener.name, nlb, targetGroup });
        }
        // The dashboard follows the active worker, like active-passive channels.
        if (shard.dashboard) {
            const dashboard = listenerOf(ctx.plan, DASHBOARD_LISTENER);
            forward(nlb, dashboard.name, dashboard.port, dashboard.protocol, dashboard.healthCheck);
        }
    }

    const vipAddresses = pulumi.all(nlbs.map((n) => n.addresses)).apply((lists) => lists.flat());
    // The first address of the NLB with the lowest channel ports: every channel of that block listens on it.
    const vip = nlbs[0].addresses.apply((addresses) => addresses[0]);
    const dashboardHost = nlbs.find((n) => n.shard.dashboard)!.addresses.apply((addresses) => addresses[0]);
    const channelHosts = pulumi.all(nlbs.map((n) => n.addresses)).apply((lists) => Object.fromEntries(nlbs.flatMap((n, i) => n.shard.channels.map((c) => [c.name, lists[i][0]]))));
    return { loadBalancers: nlbs.map((n) => n.nlb), forwarding, vip, vipAddresses, dashboardHost, channelHosts };
}
