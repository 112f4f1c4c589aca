/** Step 2, the workers' NSG: channel ports from the allowed senders, the dashboard from admins, probes from the load balancer, nothing else from the VNet. */
import * as network from "@pulumi/azure-native/network";
import type { network as networkInputs } from "@pulumi/azure-native/types/input";
import {
    AZURE_NSG_PRIORITY,
    AZURE_PROXIED_SERVICE_TAGS,
    AZURE_PROXY_FIXED_RULES,
    AZURE_WIRESERVER,
    EGRESS_ALWAYS,
    EGRESS_PROXY_REASON,
    HTTPS_PORT,
    NFS_PORT,
    RDP_PORT,
    ROLE_PROBE_PORT,
    SSH_PORT,
} from "../constants";
import { AzureGroupContext, denyOtherVnetInbound, inboundRule } from "./context";
import { azureRuleName } from "./load-balancer";
import { proxyAddress } from "../cidr";
import { storageSubnet } from "../model";

function outboundRule(args: Omit<networkInputs.SecurityRuleArgs, "direction" | "sourcePortRange" | "sourceAddressPrefix">): networkInputs.SecurityRuleArgs {
    return { ...args, direction: "Outbound", sourcePortRange: "*", sourceAddressPrefix: "*" };
}

/** With `network.egress.restricted`: only what EGRESS_ALWAYS names, the VM agent, NFS inside the VNet and the destinations; then nothing. */
function outboundRules(ctx: AzureGroupContext): networkInputs.SecurityRuleArgs[] {
    const { cfg } = ctx;
    if (!cfg.network.egress.restricted) return [];
    const { proxy } = cfg.network.egress;
    const rules = EGRESS_ALWAYS.flatMap((rule, i) =>
        proxy && rule.web
            ? []
            : outboundRule({
                  name: `allow-${rule.name}-out`,
                  description: `${rule.port}/${rule.protocol}: ${rule.reason}`,
                  priority: AZURE_NSG_PRIORITY.egressAlwaysFrom + i,
                  access: "Allow",
                  protocol: rule.protocol === "tcp" ? "Tcp" : "Udp",
                  destinationAddressPrefix: "*",
                  destinationPortRange: String(rule.port),
              }),
    );
    rules.push(
        outboundRule({
            name: "allow-vm-agent-out",
            description: `The Azure VM agent's WireServer (${AZURE_WIRESERVER.address}, ports ${AZURE_WIRESERVER.ports.join(" and ")})`,
            priority: AZURE_NSG_PRIORITY.egressAlwaysFrom + EGRESS_ALWAYS.length,
            access: "Allow",
            protocol: "Tcp",
            destinationAddressPrefix: AZURE_WIRESERVER.address,
            destinationPortRanges: AZURE_WIRESERVER.ports.map(String),
        }),
    );
    const through = proxy ? proxyAddress(proxy) : undefined;
    // Not the VirtualNetwork tag, which also holds peered networks and on-premises ranges.
    const privateEndpointsCidr = cfg.network.existing?.privateEndpointSubnet?.cidr ?? storageSubnet(ctx.networkPlan);
    if (through) {
        rules.push(
            outboundRule({
                name: "allow-proxy-out",
                description: EGRESS_PROXY_REASON,
                priority: AZURE_NSG_PRIORITY.egressProxyFrom,
                access: "Allow",
                protocol: "Tcp",
                destinationAddressPrefix: through.address,
                destinationPortRange: String(through.port),
            }),
            outboundRule({
                name: "allow-private-endpoints-out",
                description: "443/tcp: Key Vault, the lease's blob and the shared file share, through their private endpoints",
                priority: AZURE_NSG_PRIORITY.egressProxyFrom + 1,
                access: "Allow",
                protocol: "Tcp",
                destinationAddressPrefix: privateEndpointsCidr,
                destinationPortRange: String(HTTPS_PORT),
            }),
            ...AZURE_PROXIED_SERVICE_TAGS.map((api, i) =>
                outboundRule({
                    name: `allow-${api.name}-out`,
                    description: `443/tcp: ${api.reason}`,
                    priority: AZURE_NSG_PRIORITY.egressProxyFrom + AZURE_PROXY_FIXED_RULES + i,
                    access: "Allow",
                    protocol: "Tcp",
                    destinationAddressPrefix: api.tag,
                    destinationPortRange: String(HTTPS_PORT),
                }),
            ),
        );
    }
    if (ctx.cfg.storage.queueRecovery === "shared") {
        rules.push(
            outboundRule({
                name: "allow-nfs-out",
                description: "NFS to the shared file share's private endpoint",
                priority: AZURE_NSG_PRIORITY.egressAlwaysFrom + EGRESS_ALWAYS.length + 1,
                access: "Allow",
                protocol: "Tcp",
                destinationAddressPrefix: "VirtualNetwork",
                destinationPortRange: String(NFS_PORT),
            }),
        );
    }
    cfg.network.egress.destinations.forEach(({ cidr, port }, i) =>
        rules.push(
            outboundRule({
                name: `allow-destination-${i + 1}-out`,
                description: `Destination ${cidr} port ${port}`,
                priority: AZURE_NSG_PRIORITY.egressDestinationsFrom + i,
                access: "Allow",
                protocol: "Tcp",
                destinationAddressPrefix: cidr,
                destinationPortRange: String(port),
            }),
        ),
    );
    rules.push(
        outboundRule({
            name: "deny-other-outbound",
            description:
                "Nothing else out (Azure's default AllowInternetOutBound and AllowVnetOutBound would allow it); DNS, DHCP and IMDS are platform traffic no NSG rule filters",
            priority: AZURE_NSG_PRIORITY.denyOtherOutbound,
            access: "Deny",
            protocol: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: "*",
        }),
    );
    return rules;
}

export function createWorkerSecurityGroup(ctx: AzureGroupContext): network.NetworkSecurityGroup {
    const { name, cfg, opts, tags, location, resourceGroupName, floating, workerHosts, plan } = ctx;
    const probeSources = "AzureLoadBalancer";
    const securityRules: networkInputs.SecurityRuleArgs[] = [
        inboundRule({
            name: "deny-ssh-rdp-from-internet",
            description: "No SSH or RDP from the Internet, whatever is added later: reach workers with az vm run-command",
            priority: AZURE_NSG_PRIORITY.denySshRdpFromInternet,
            access: "Deny",
            protocol: "*",
            sourceAddressPrefix: "Internet",
            destinationAddressPrefix: "*",
            destinationPortRanges: [String(SSH_PORT), String(RDP_PORT)],
        }),
        // No load balancer, no probes: with a floating IP the role probe stays closed.
        ...(floating
            ? []
            : [
                  inboundRule({
                      name: "allow-role-probe",
                      description: "Role probe: load balancer health probes only (168.63.129.16)",
                      priority: AZURE_NSG_PRIORITY.roleProbe,
                      access: "Allow",
                      protocol: "Tcp",
                      sourceAddressPrefix: probeSources,
                      destinationAddressPrefixes: workerHosts,
                      destinationPortRange: String(ROLE_PROBE_PORT),
                  }),
              ]),
        ...plan.healthChecks
            .filter((check) => check.kind === "iguana-health")
            .map((check) =>
                inboundRule({
                    name: "allow-iguana-health",
                    description: "Iguana health of active-active channels: load balancer health probes only",
                    priority: AZURE_NSG_PRIORITY.iguanaHealth,
                    access: "Allow",
                    protocol: "Tcp",
                    sourceAddressPrefix: probeSources,
                    destinationAddressPrefixes: workerHosts,
                    destinationPortRange: String(check.port),
                }),
            ),
        ...(cfg.network.adminCidrs.length > 0
            ? [
                  inboundRule({
                      name: "allow-dashboard",
                      description: "Iguana dashboard from the admin networks",
                      priority: AZURE_NSG_PRIORITY.dashboard,
                      access: "Allow",
                      protocol: "Tcp",
                      sourceAddressPrefixes: cfg.network.adminCidrs,
                      destinationAddressPrefixes: workerHosts,
                      destinationPortRange: String(cfg.iguana.webPort),
                  }),
              ]
            : []),
        // The load balancer keeps the senders' addresses, so the workers filter on them.
        ...cfg.channels.map((channel, i) =>
            inboundRule({
                name: `allow-${azureRuleName(channel)}`,
                description: `${channel.protocol.toUpperCase()} channel ${channel.name} from the allowed sender networks`,
                priority: AZURE_NSG_PRIORITY.channelsFrom + i,
                access: "Allow",
                protocol: "Tcp",
                sourceAddressPrefixes: cfg.network.allowedCidrs,
                destinationAddressPrefixes: workerHosts,
                destinationPortRange: String(channel.port),
            }),
        ),
        // Azure's default AllowVnetInBound (65000) would let any VNet, peered or on-premises
        // (VPN/ExpressRoute) address reach every worker port. Everything that
        // must reach the workers is allowed above; the rest of the VNet is refused here.
        denyOtherVnetInbound("Nothing else from the VNet, peered networks or on-premises: only the rules above"),
        ...outboundRules(ctx),
    ];
    return new network.NetworkSecurityGroup(`${name}-workers-nsg`, { resourceGroupName, location, securityRules, tags }, opts);
}
