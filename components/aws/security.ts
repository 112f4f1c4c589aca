/** Step 2, security groups: channel ports from the allowed senders, the dashboard from admins, health checks from the VPC. */
import * as ec2 from "@pulumi/aws/ec2";
import * as vpc from "@pulumi/aws/vpc";
import { channelRuleGroups } from "./scale";
import { EGRESS_ALWAYS, EGRESS_PROXY_REASON, NFS_PORT, ROLE_PROBE_PORT } from "../constants";
import { AwsContext, ingressRule } from "./context";
import { AwsNetwork } from "./network";
import { proxyAddress } from "../cidr";

export interface AwsSecurityGroups {
    workerSg: ec2.SecurityGroup;
    channelSgs: ec2.SecurityGroup[];
}

// --- security groups -----------------------------------------------------------------
export function createSecurityGroups(ctx: AwsContext, net: AwsNetwork): AwsSecurityGroups {
    const { name, cfg, opts, tags, network, floating } = ctx;
    const { vpcId } = net;
    // The NLB preserves client addresses, so workers see the senders' own IPs.
    const ingress = (ruleName: string, args: vpc.SecurityGroupIngressRuleArgs) => ingressRule(ctx, ruleName, args);
    const cidrSlug = (cidr: string) => cidr.replace(/[./]/g, "-");
    // The description still names VRRP, whose rule is gone (the lease decides who is active):
    // a security group's description cannot change without replacing the group.
    const workerSg = new ec2.SecurityGroup(
        `${name}-workers-sg`,
        { vpcId, description: "Iguana workers: dashboard, role probe, VRRP between workers; no SSH (use SSM)", tags },
        opts,
    );
    // Channel ports, grouped into contiguous ranges and split over groups of at most 60 rules.
    const channelSgs = channelRuleGroups(cfg.channels, cfg.network.allowedCidrs).map((rules, g) => {
        const sg = new ec2.SecurityGroup(
            g === 0 ? `${name}-channels-sg` : `${name}-channels-sg-${g + 1}`,
            { vpcId, description: "Iguana channel ports from the allowed sender networks", tags },
            opts,
        );
        for (const rule of rules) {
            const ports = rule.from === rule.to ? `${rule.from}` : `${rule.from}-${rule.to}`;
            ingress(`in-${ports}-${cidrSlug(rule.cidr)}`, {
                securityGroupId: sg.id,
                description: `Channel port(s) ${ports} from ${rule.cidr}`,
                ipProtocol: "tcp",
                fromPort: rule.from,
                toPort: rule.to,
                cidrIpv4: rule.cidr,
            });
        }
        return sg;
    });
    for (const cidr of cfg.network.adminCidrs) {
        ingress(`in-dashboard-${cidrSlug(cidr)}`, {
            securityGroupId: workerSg.id,
            description: `Iguana dashboard from admin network ${cidr}`,
            ipProtocol: "tcp",
            fromPort: cfg.iguana.webPort,
            toPort: cfg.iguana.webPort,
            cidrIpv4: cidr,
        });
    }
    if (!floating) {
        ingress("in-role-probe", {
            securityGroupId: workerSg.id,
            description: "Role probe: load balancer health checks from inside the VPC",
            ipProtocol: "tcp",
            fromPort: ROLE_PROBE_PORT,
            toPort: ROLE_PROBE_PORT,
            cidrIpv4: network.vpcCidr,
        });
    }
    if (ctx.plan.activeActive) {
        ingress("in-iguana-health", {
            securityGroupId: workerSg.id,
            description: "Iguana health checks of active-active channels from inside the VPC",
            ipProtocol: "tcp",
            fromPort: cfg.iguana.webPort,
            toPort: cfg.iguana.webPort,
            cidrIpv4: network.vpcCidr,
        });
    }
    createEgressRules(ctx, workerSg);
    return { workerSg, channelSgs };
}

/** Outbound: everything (`network.egress.restricted` false), or only what EGRESS_ALWAYS names, NFS inside the VPC and the destinations. */
function createEgressRules(ctx: AwsContext, workerSg: ec2.SecurityGroup): void {
    const { name, cfg, opts, tags, network, floating, shared } = ctx;
    const egress = (ruleName: string, args: Omit<vpc.SecurityGroupEgressRuleArgs, "securityGroupId" | "tags">) =>
        new vpc.SecurityGroupEgressRule(`${name}-${ruleName}`, { securityGroupId: workerSg.id, tags, ...args }, opts);
    const via = floating ? "through each worker's own public address" : "through the NAT gateways";
    if (!cfg.network.egress.restricted) {
        egress("out-all", { description: `Egress ${via}`, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" });
        return;
    }
    const { proxy } = cfg.network.egress;
    for (const rule of EGRESS_ALWAYS) {
        if (proxy && rule.web) continue;
        egress(`out-${rule.name}`, {
            description: `${rule.port}/${rule.protocol}: ${rule.reason}`,
            ipProtocol: rule.protocol,
            fromPort: rule.port,
            toPort: rule.port,
            cidrIpv4: "0.0.0.0/0",
        });
    }
    const through = proxy ? proxyAddress(proxy) : undefined;
    if (through) {
        // HTTPS to the AWS APIs: endpoints.ts, once the endpoints exist.
        egress("out-proxy", {
            description: EGRESS_PROXY_REASON,
            ipProtocol: "tcp",
            fromPort: through.port,
            toPort: through.port,
            cidrIpv4: `${through.address}/32`,
        });
    }
    if (shared) {
        egress("out-nfs", { description: "NFS to the shared file system's mount targets", ipProtocol: "tcp", fromPort: NFS_PORT, toPort: NFS_PORT, cidrIpv4: network.vpcCidr });
    }
    for (const { cidr, port } of cfg.network.egress.destinations) {
        egress(`out-${port}-${cidr.replace(/[./]/g, "-")}`, { description: `Destination ${cidr} port ${port}`, ipProtocol: "tcp", fromPort: port, toPort: port, cidrIpv4: cidr });
    }
}
