/** Step 2, the workers' NSG: channel ports from the allowed senders, the dashboard from admins, probes from the load balancer, nothing else from the VNet. */
import * as network from "@pulumi/azure-native/network";
import type { network as networkInputs } from "@pulumi/azure-native/types/input";
import { AZURE_NSG_PRIORITY, RDP_PORT, ROLE_PROBE_PORT, SSH_PORT } from "../constants";
import { AzureGroupContext, denyOtherVnetInbound, inboundRule } from "./context";
import { azureRuleName } from "./load-balancer";

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
    ];
    return new network.NetworkSecurityGroup(`${name}-workers-nsg`, { resourceGroupName, location, securityRules, tags }, opts);
}
