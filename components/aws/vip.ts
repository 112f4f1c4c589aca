/** The floating VIP (`failover.strategy: floating-ip`): one Elastic IP the active worker moves to itself, through an EC2 API endpoint. */
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import { AwsContext } from "./context";
import { createInterfaceEndpoints } from "./endpoints";
import { AwsNetwork } from "./network";
import { AwsSecurityGroups } from "./security";

/**
 * What a worker may do to the floating VIP, and nothing more: move that one Elastic IP onto
 * either worker, take it off, and look it up (DescribeAddresses has no resource-level
 * permissions, so it cannot be narrowed further).
 */
export function moveVipPolicy(eipArn: pulumi.Input<string>, instanceArns: pulumi.Input<string>[]): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            { Sid: "MoveTheVipOntoAWorker", Effect: "Allow", Action: "ec2:AssociateAddress", Resource: [eipArn, ...instanceArns] },
            { Sid: "TakeTheVipOffAWorker", Effect: "Allow", Action: "ec2:DisassociateAddress", Resource: eipArn },
            { Sid: "FindWhoHoldsTheVip", Effect: "Allow", Action: "ec2:DescribeAddresses", Resource: "*" },
        ],
    });
}

// --- the floating VIP (failover.strategy: floating-ip) -------------------------------------
export function createFloatingVip(ctx: AwsContext, net: AwsNetwork, sgs: AwsSecurityGroups): ec2.Eip | undefined {
    const { name, opts, tags, floating, shared } = ctx;
    const { natCount } = net;
    const { workerSg } = sgs;
    // One Elastic IP that no Pulumi resource associates: the MASTER's notify script does, so a
    // later `pulumi up` never moves it back. The EC2 API is reached through an interface endpoint
    // inside the VPC, so a worker can take the VIP whatever its own Internet path is doing.
    // Shared storage needs the EC2 API too (a new lease holder stops the old one): through the
    // same endpoint when one NAT gateway is the workers' only other way out, because losing its
    // zone would leave the surviving worker unable to fence, and so passive.
    const floatingVip = floating ? new ec2.Eip(`${name}-vip`, { domain: "vpc", tags: { ...tags, Name: `${name}-vip` } }, opts) : undefined;
    // With a proxy the NAT gateways carry no HTTPS at all: the fence's EC2 calls go through the endpoint.
    if (floating || (shared && (natCount < 2 || ctx.cfg.network.egress.proxy !== undefined))) {
        createInterfaceEndpoints(
            ctx,
            net,
            workerSg,
            {
                name: "ec2-api-sg",
                description: floating
                    ? "EC2 API endpoint: HTTPS from the Iguana workers only (they move the VIP)"
                    : "EC2 API endpoint: HTTPS from the Iguana workers only (a new lease holder stops the old one)",
                ingressName: "ec2-api-in-https",
                ingressDescription: "HTTPS to the EC2 API endpoint from the Iguana workers only",
            },
            [{ name: "ec2-api", service: "ec2" }],
        );
    }
    return floatingVip;
}
