/** Step 7, the VIP: a zone-redundant public IP and a Standard Load Balancer whose probes follow the role probe. */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as network from "@pulumi/azure-native/network";
import type { network as networkInputs } from "@pulumi/azure-native/types/input";
import { ClusterConfig } from "../config";
import { AZURE_ZONE_REDUNDANT, HOLDS_VIP } from "../constants";
import { HealthCheck } from "../model";
import { AzureGroupContext } from "./context";

/** Names of the load balancer's inline sub-resources; their ARM ids are built from them. */
export const AZURE_LB_PARTS = {
    frontend: "vip",
    pool: "workers",
    probe: { "role-probe": "role-probe", "iguana-health": "iguana-health" } as Record<HealthCheck["kind"], string>,
    dashboardRule: "dashboard",
} as const;

/** The fixed load balancer name: the ids of its frontend, pool and probes are built from it. */
export function azureLoadBalancerName(clusterName: string): string {
    return `${clusterName}-lb`;
}

/** Rule name of a channel: `llp-adt-in`, `http-results-api` (policies key on the `llp-` prefix). */
export function azureRuleName(channel: { protocol: string; name: string }): string {
    return `${channel.protocol}-${channel.name}`;
}

export function azureProbe(check: HealthCheck, cfg: ClusterConfig): networkInputs.ProbeArgs {
    return {
        name: AZURE_LB_PARTS.probe[check.kind],
        protocol: ({ http: "Http", https: "Https", tcp: "Tcp" } as const)[check.protocol],
        port: check.port,
        requestPath: check.protocol === "tcp" ? undefined : check.path,
        intervalInSeconds: cfg.failover.healthCheckIntervalSeconds,
        // probeThreshold, not numberOfProbes: Azure long ignored numberOfProbes and is retiring it.
        probeThreshold: cfg.failover.unhealthyThreshold,
        // The default, stated: when no worker answers, send nothing rather than to every worker
        // (the AWS NLB fails open; here an active-passive feed never reaches two workers).
        noHealthyBackendsBehavior: "AllProbedDown",
    };
}

export interface AzureLoadBalancerResult {
    loadBalancer?: network.LoadBalancer;
    poolId: pulumi.Output<string>;
}

// --- load balancer (the VIP) ---------------------------------------------------------
export function createPublicVip(ctx: AzureGroupContext): network.PublicIPAddress | undefined {
    const { name, cfg, opts, tags, location, resourceGroupName, floating } = ctx;
    return cfg.network.public
        ? new network.PublicIPAddress(
              `${name}-vip`,
              {
                  resourceGroupName,
                  location,
                  sku: { name: "Standard", tier: "Regional" },
                  publicIPAllocationMethod: "Static",
                  publicIPAddressVersion: "IPv4",
                  // Zone-redundant: the VIP survives the loss of any one zone.
                  zones: [...AZURE_ZONE_REDUNDANT],
                  // On a NIC (floating IP) the Public IP itself drops idle flows: 4-30 minutes.
                  idleTimeoutInMinutes: floating ? cfg.failover.idleTimeoutSeconds / 60 : undefined,
                  tags: { ...tags, holds: HOLDS_VIP },
              },
              { ...opts, protect: cfg.network.deletionProtection },
          )
        : undefined;
}

export function createLoadBalancer(
    ctx: AzureGroupContext,
    subscriptionId: pulumi.Output<string>,
    workerSubnetIds: pulumi.Output<string>[],
    vipIp: network.PublicIPAddress | undefined,
): AzureLoadBalancerResult {
    const { name, cfg, opts, tags, location, resourceGroupName, floating, networkPlan } = ctx;
    // Frontend, pool, probes and rules are declared inline; rules reference them by ARM id,
    // which must be built by hand from the fixed LB name and the subscription. Never mix with
    // the standalone pool/rule resources: they would overwrite each other.
    const lbName = azureLoadBalancerName(name);
    const lbId = pulumi.interpolate`/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/Microsoft.Network/loadBalancers/${lbName}`;
    const frontendId = pulumi.interpolate`${lbId}/frontendIPConfigurations/${AZURE_LB_PARTS.frontend}`;
    const poolId = pulumi.interpolate`${lbId}/backendAddressPools/${AZURE_LB_PARTS.pool}`;
    const probeId = (check: HealthCheck) => pulumi.interpolate`${lbId}/probes/${AZURE_LB_PARTS.probe[check.kind]}`;

    const lbRule = (ruleName: string, port: number, check: HealthCheck, idleTimeoutInMinutes?: number): networkInputs.LoadBalancingRuleArgs => ({
        name: ruleName,
        protocol: "Tcp",
        frontendPort: port,
        backendPort: port,
        frontendIPConfiguration: { id: frontendId },
        // Only backendAddressPool: Azure rejects rules that also set backendAddressPools.
        backendAddressPool: { id: poolId },
        probe: { id: probeId(check) },
        idleTimeoutInMinutes,
        // Idle flows get a RST both ways instead of a silent drop: MLLP senders reconnect at once.
        enableTcpReset: true,
        // Egress goes through the NAT gateways, never through the VIP.
        disableOutboundSnat: true,
        enableFloatingIP: false,
        loadDistribution: "Default",
    });
    const loadBalancer = floating
        ? undefined
        : new network.LoadBalancer(
              `${name}-lb`,
              {
                  resourceGroupName,
                  location,
                  loadBalancerName: lbName,
                  sku: { name: "Standard", tier: "Regional" },
                  frontendIPConfigurations: [
                      vipIp
                          ? { name: AZURE_LB_PARTS.frontend, publicIPAddress: { id: vipIp.id } }
                          : {
                                name: AZURE_LB_PARTS.frontend,
                                subnet: { id: workerSubnetIds[0] },
                                privateIPAllocationMethod: "Static",
                                privateIPAddress: networkPlan.internalVipIps[0],
                                zones: [...AZURE_ZONE_REDUNDANT],
                            },
                  ],
                  backendAddressPools: [{ name: AZURE_LB_PARTS.pool }],
                  probes: ctx.plan.healthChecks.map((check) => azureProbe(check, cfg)),
                  loadBalancingRules: [
                      ...ctx.plan.listeners.map((listener) =>
                          listener.kind === "dashboard"
                              ? lbRule(AZURE_LB_PARTS.dashboardRule, listener.port, listener.healthCheck)
                              : lbRule(azureRuleName(listener), listener.port, listener.healthCheck, listener.idleTimeoutSeconds! / 60),
                      ),
                  ],
                  tags,
              },
              { ...opts, protect: cfg.network.deletionProtection },
          );
    return { loadBalancer, poolId };
}

/**
 * `network.deletionProtection`: an Azure load balancer has no deletion protection of its own, so
 * a CanNotDelete management lock on it and on its public IP (or the floating public IP) stops a
 * delete from the portal, the CLI or another stack; updates still go through. Pulumi would
 * delete its own lock first, so the LB and the IP are also Pulumi-protected (`protect`), which
 * stops `pulumi destroy` before anything is deleted. Turning the key off and `pulumi up` lifts both.
 */
export function lockVip(ctx: AzureGroupContext, loadBalancer: network.LoadBalancer | undefined, vipIp: network.PublicIPAddress | undefined): authorization.ManagementLockByScope[] {
    const { name, cfg, opts } = ctx;
    if (!cfg.network.deletionProtection) return [];
    const locked: [string, pulumi.Resource & { id: pulumi.Output<string> }][] = [
        ...(loadBalancer ? [["lb", loadBalancer] as [string, network.LoadBalancer]] : []),
        ...(vipIp ? [["vip", vipIp] as [string, network.PublicIPAddress]] : []),
    ];
    return locked.map(
        ([role, resource]) =>
            new authorization.ManagementLockByScope(
                // The policy pack pairs a lock with what it locks by this name while ids are unknown (preview).
                `${name}-${role}-lock`,
                {
                    scope: resource.id,
                    level: "CanNotDelete",
                    notes: "iguana-ha network.deletionProtection: set it to false and run pulumi up before deleting the VIP",
                },
                opts,
            ),
    );
}
