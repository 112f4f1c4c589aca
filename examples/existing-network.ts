/**
 * A second Pulumi program that builds on HaIguanaCluster: the pair joins the hospital's own VPC,
 * which another team's stack owns (reached from the hospital over a VPN or Direct Connect), and
 * its ids come from that stack as Outputs. The installer URL is an Output too (from the same
 * stack's installer bucket). The CIDRs are plain: the workers' fixed addresses are computed from
 * them before any machine exists, and the component checks them against the subnets at preview.
 *
 * Run it as a program (it deploys; the tests run it under mocks only):
 *   Pulumi.yaml: { name: hospital-iguana, runtime: { name: nodejs, options: { typescript: true } }, main: examples/existing-network.ts }
 *   pulumi config set --path 'hospital-iguana:senderCidrs[0]' 10.8.0.0/16
 *   pulumi config set hospital-iguana:networkStack acme/hospital-network/prod
 *
 * The network stack's outputs it reads: vpcId, workerSubnetIds (two, one per zone, in the order of
 * `workerSubnetCidrs`), installerUrl and owner (a tag on every resource). Bad values (a CIDR outside the VPC, a port taken twice)
 * stop the program with one ConfigValidationError naming every bad key, before anything is created.
 */
import * as pulumi from "@pulumi/pulumi";
import { HaIguanaCluster } from "../components";

export = async () => {
    const config = new pulumi.Config("hospital-iguana");
    const network = new pulumi.StackReference(config.require("networkStack"));
    const workerSubnetIds = network.requireOutput("workerSubnetIds") as pulumi.Output<string[]>;
    const [vpcCidr, ...workerSubnetCidrs] = config.getObject<string[]>("cidrs") ?? ["10.8.0.0/16", "10.8.20.0/24", "10.8.21.0/24"];

    const cluster = new HaIguanaCluster("iguana", {
        // No region: the AWS provider's (here the stack's aws:region).
        cloud: "aws",
        environment: "prod",
        // The hospital's own tags on every resource; the owner comes from the network stack.
        tags: { dataClassification: "phi", networkOwner: network.requireOutput("owner") as pulumi.Output<string> },
        iguana: { edition: "iguanax", installerUrl: network.requireOutput("installerUrl") as pulumi.Output<string> },
        channels: config.getObject("channels") ?? [
            { name: "adt-in", protocol: "llp", port: 2575 },
            { name: "oru-out", protocol: "llp", port: 2577 },
        ],
        network: {
            cidr: vpcCidr,
            allowedCidrs: config.requireObject<string[]>("senderCidrs"),
            // Reached only over the hospital's private link: an internal NLB in the worker subnets.
            public: false,
            existing: {
                vpcId: network.requireOutput("vpcId") as pulumi.Output<string>,
                workerSubnets: workerSubnetCidrs.map((cidr, i) => ({ id: workerSubnetIds.apply((ids) => ids[i]), cidr })),
            },
        },
        workers: { size: "m6i.large", dataDiskGb: 200 },
        storage: { protect: true },
    });

    const aws = cluster.aws!;
    return {
        vip: cluster.vip,
        channelEndpoints: cluster.channelEndpoints,
        workers: cluster.workers,
        // The children another team wires to: the hospital firewall team opens the VPN to the
        // workers' group, the monitoring stack alarms on the lease table.
        workerSecurityGroupId: aws.workerSecurityGroup.id,
        leaseTableName: aws.leaseTable.name,
        loadBalancerArns: pulumi.all(aws.loadBalancers.map((nlb) => nlb.arn)),
        keyArn: aws.key.arn,
    };
};
