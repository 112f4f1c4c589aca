import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, RawClusterConfig, ensureValidClusterConfig } from "./config";
import { HaIguanaClusterArgs } from "./args";
import { COMPONENT_TYPE, Cloud } from "./constants";
import { ChannelEndpoint, ClusterOutputs, ClusterPlan, WorkerOutput, planCluster } from "./model";
import { AwsClusterResources, createAwsCluster } from "./aws";
import { AzureClusterResources, createAzureCluster } from "./azure";
import { deploymentWarnings, warningText } from "./warnings";

export type CloudImplementation = (plan: ClusterPlan, cfg: ClusterConfig, parent: pulumi.Resource) => ClusterOutputs & { aws?: AwsClusterResources; azure?: AzureClusterResources };

/** Each cloud's builder, chosen by `cloud`. */
export const IMPLEMENTATIONS: Partial<Record<Cloud, CloudImplementation>> = {
    aws: createAwsCluster,
    azure: createAzureCluster,
};

/**
 * A highly available pair of Iguana workers behind a load balancer VIP, on AWS or Azure.
 * Thin on purpose: it validates, plans (planCluster) and hands the plan to a cloud (aws/, azure/).
 */
export class HaIguanaCluster extends pulumi.ComponentResource {
    public readonly cloud: pulumi.Output<Cloud>;
    public readonly vip: pulumi.Output<string>;
    public readonly vipAddresses: pulumi.Output<string[]>;
    public readonly dashboardUrl: pulumi.Output<string>;
    public readonly channelEndpoints: pulumi.Output<ChannelEndpoint[]>;
    public readonly workers: pulumi.Output<WorkerOutput[]>;
    /** The main AWS resources (VPC, security group, instances, volumes, key, lease table, NLBs or the Elastic IP); on AWS only. */
    public readonly aws?: AwsClusterResources;
    /** The main Azure resources (resource groups, VNet, NSG, VMs, disks, vault, lease account, LB or public IP); on Azure only. */
    public readonly azure?: AzureClusterResources;

    constructor(name: string, args: HaIguanaClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        // Throws ConfigValidationError naming every bad key, before any child is registered.
        const config = ensureValidClusterConfig(args as RawClusterConfig, pulumi.getStack());
        const implementation = IMPLEMENTATIONS[config.cloud];
        if (!implementation) {
            throw new Error(`cloud "${config.cloud}" has no implementation yet`);
        }
        // No args to super: component inputs holding Outputs leak promises under a real `pulumi up`.
        super(COMPONENT_TYPE, name, {}, opts);
        // Shown by `pulumi preview` and `pulumi up` (and printed by the offline plan).
        for (const warning of deploymentWarnings(config)) pulumi.log.warn(warningText(warning), this);
        // Computed once; each cloud renders it (docs/architecture.md).
        const outputs = implementation(planCluster(config, name), config, this);
        this.cloud = pulumi.output(outputs.cloud);
        this.vip = outputs.vip;
        this.vipAddresses = outputs.vipAddresses;
        this.dashboardUrl = outputs.dashboardUrl;
        this.channelEndpoints = outputs.channelEndpoints;
        this.workers = outputs.workers;
        this.aws = outputs.aws;
        this.azure = outputs.azure;
        this.registerOutputs({
            cloud: this.cloud,
            vip: this.vip,
            vipAddresses: this.vipAddresses,
            dashboardUrl: this.dashboardUrl,
            channelEndpoints: this.channelEndpoints,
            workers: this.workers,
        });
    }
}
