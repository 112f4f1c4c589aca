/**
 * `network.egress.proxy` on AWS: the web only through the proxy, so every AWS API a worker calls
 * is reached inside the VPC: interface endpoints (with private DNS, so the usual host names
 * resolve to them) and the gateway endpoints' prefix lists.
 */
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as vpc from "@pulumi/aws/vpc";
import { HTTPS_PORT } from "../constants";
import { AwsContext, ingressRule } from "./context";
import { AwsNetwork } from "./network";
import { AwsSecurityGroups } from "./security";

/**
 * The AWS APIs a worker calls over HTTPS, besides the lease (DynamoDB's gateway endpoint) and the
 * EC2 API (vip.ts's endpoint, where the VIP or the fence uses it), with who calls them.
 */
export const AWS_PROXIED_CLUSTER_ENDPOINTS = [
    { service: "secretsmanager", caller: "the boot script reading the admin password (and the TLS bundle)" },
    { service: "monitoring", caller: "the workers' metrics (role, lease holder, Iguana health) and the CloudWatch agent" },
    { service: "logs", caller: "the CloudWatch agent shipping the journal" },
    { service: "ssm", caller: "the SSM agent: Session Manager, Run Command, the CloudWatch agent's association" },
    { service: "ssmmessages", caller: "the SSM agent's Session Manager and Run Command channels" },
    { service: "ec2messages", caller: "the SSM agent's Run Command messages" },
] as const;

/** Interface endpoints with private DNS in the worker subnets, behind a group of their own that admits HTTPS from the workers only. */
export function createInterfaceEndpoints(
    ctx: AwsContext,
    net: AwsNetwork,
    workerSg: ec2.SecurityGroup,
    group: { name: string; description: string; ingressName: string; ingressDescription: string },
    endpoints: { name: string; service: string }[],
): void {
    const { name, opts, tags, region } = ctx;
    const { vpcId, workerSubnetIds } = net;
    const endpointSg = new ec2.SecurityGroup(`${name}-${group.name}`, { vpcId, description: group.description, tags }, opts);
    ingressRule(ctx, group.ingressName, {
        securityGroupId: endpointSg.id,
        description: group.ingressDescription,
        ipProtocol: "tcp",
        fromPort: HTTPS_PORT,
        toPort: HTTPS_PORT,
        referencedSecurityGroupId: workerSg.id,
    });
    for (const endpoint of endpoints) {
        new ec2.VpcEndpoint(
            `${name}-${endpoint.name}`,
            {
                vpcId,
                serviceName: pulumi.interpolate`com.amazonaws.${region}.${endpoint.service}`,
                vpcEndpointType: "Interface",
                privateDnsEnabled: true,
                subnetIds: workerSubnetIds,
                securityGroupIds: [endpointSg.id],
                tags: { ...tags, Name: `${name}-${endpoint.name}` },
            },
            opts,
        );
    }
}

/** With a proxy: the endpoints, and the workers' HTTPS to them, to S3's and DynamoDB's prefix lists; nothing else on 443. */
export function createApiEndpoints(ctx: AwsContext, net: AwsNetwork, sgs: AwsSecurityGroups, leaseEndpoint: ec2.VpcEndpoint): void {
    const { name, cfg, opts, tags, network, region } = ctx;
    if (!cfg.network.egress.proxy) return;
    const { vpcId, workerRouteTableIds } = net;
    const { workerSg } = sgs;
    createInterfaceEndpoints(
        ctx,
        net,
        workerSg,
        {
            name: "api-endpoints-sg",
            description: "AWS API endpoints: HTTPS from the Iguana workers only",
            ingressName: "api-endpoints-in-https",
            ingressDescription: "HTTPS to the AWS API endpoints from the Iguana workers only",
        },
        AWS_PROXIED_CLUSTER_ENDPOINTS.map(({ service }) => ({ name: `${service}-api`, service })),
    );
    // The SSM agent installs the CloudWatch agent from S3 (AWS-ConfigureAWSPackage).
    const s3 = new ec2.VpcEndpoint(
        `${name}-s3`,
        {
            vpcId,
            serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
            vpcEndpointType: "Gateway",
            routeTableIds: workerRouteTableIds,
            tags: { ...tags, Name: `${name}-s3` },
        },
        opts,
    );
    const egress = (ruleName: string, args: Omit<vpc.SecurityGroupEgressRuleArgs, "securityGroupId" | "tags" | "ipProtocol" | "fromPort" | "toPort">) =>
        new vpc.SecurityGroupEgressRule(`${name}-${ruleName}`, { securityGroupId: workerSg.id, tags, ipProtocol: "tcp", fromPort: HTTPS_PORT, toPort: HTTPS_PORT, ...args }, opts);
    egress("out-https-endpoints", { description: "HTTPS to the AWS API endpoints inside the VPC (EC2 too, where the VIP or the fence uses it)", cidrIpv4: network.vpcCidr });
    egress("out-https-s3", { description: "HTTPS to S3 through its gateway endpoint (the CloudWatch agent's package)", prefixListId: s3.prefixListId });
    egress("out-https-lease", { description: "HTTPS to DynamoDB through its gateway endpoint (the lease)", prefixListId: leaseEndpoint.prefixListId });
}
