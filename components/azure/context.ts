/** What every step of the Azure cluster shares: name, config, tags, the plans, the VM size; then the two resource groups (the data one kept on destroy). */
import * as pulumi from "@pulumi/pulumi";
import * as resources from "@pulumi/azure-native/resources";
import type { network as networkInputs } from "@pulumi/azure-native/types/input";
import { AzureVmSize, parseAzureVmSize } from "./sizes";
import { ClusterConfig, namedRegion } from "../config";
import { AZURE_NSG_PRIORITY } from "../constants";
import { ClusterPlan, NetworkPlan, StepContext, WorkerPlan } from "../model";

/** What every step needs: the cluster's name, config, parent and the plans derived from them. */
export interface AzureClusterContext extends StepContext {
    location: string;
    networkPlan: NetworkPlan;
    workerPlans: WorkerPlan[];
    workerHosts: string[];
    size: AzureVmSize;
}

/** The context once the resource groups exist. */
export interface AzureGroupContext extends AzureClusterContext {
    group: resources.ResourceGroup;
    resourceGroupName: pulumi.Output<string>;
    dataGroup: resources.ResourceGroup;
    /** Options of what holds the queue: kept on destroy, protected with storage.protect. */
    keep: { parent: pulumi.Resource; retainOnDelete: boolean; protect: boolean };
}

// Inbound rules; outbound ones (network.egress.restricted) are in security.ts.
export function inboundRule(args: Omit<networkInputs.SecurityRuleArgs, "direction" | "sourcePortRange">): networkInputs.SecurityRuleArgs {
    return {
        ...args,
        direction: "Inbound",
        sourcePortRange: "*",
    };
}

/** An NSG's last rule: nothing else from the VNet, peered networks or on-premises (Azure's AllowVnetInBound would admit them). */
export function denyOtherVnetInbound(description: string): networkInputs.SecurityRuleArgs {
    return inboundRule({
        name: "deny-other-vnet-inbound",
        description,
        priority: AZURE_NSG_PRIORITY.denyOtherVnetInbound,
        access: "Deny",
        protocol: "*",
        sourceAddressPrefix: "VirtualNetwork",
        destinationAddressPrefix: "*",
        destinationPortRange: "*",
    });
}

export function clusterContext(plan: ClusterPlan, cfg: ClusterConfig, parent: pulumi.Resource): AzureClusterContext {
    const { name, floating, tags, network: networkPlan, workers: workerPlans } = plan;
    const opts = { parent };
    const location = namedRegion(cfg);
    const workerHosts = workerPlans.map((w) => `${w.privateIp}/32`);
    const size = parseAzureVmSize(cfg.workers.size);
    if (!size) {
        // validateClusterConfig rejects such names first; this guards direct callers.
        throw new pulumi.ResourceError(`workers.size "${cfg.workers.size}" is not an Azure VM size`, parent, true);
    }
    return { plan, name, cfg, parent, opts, tags, location, floating, networkPlan, workerPlans, workerHosts, size };
}

export function createResourceGroups(base: AzureClusterContext): AzureGroupContext {
    const { name, cfg, parent, opts, tags, location } = base;
    const group = new resources.ResourceGroup(`${name}-rg`, { location, tags }, opts);
    const resourceGroupName = group.name;
    // What holds the queue (the data disks, or the shared storage account) sits in a resource
    // group of its own: deleting a resource group deletes everything in it, so `pulumi destroy`
    // keeps this group and its contents (retainOnDelete), and with storage.protect Pulumi refuses
    // to delete or replace them at all.
    const keep = { parent, retainOnDelete: true, protect: cfg.storage.protect };
    const dataGroup = new resources.ResourceGroup(`${name}-data-rg`, { location, tags: { ...tags, holds: "iguana-queue" } }, keep);
    return { ...base, group, resourceGroupName, dataGroup, keep };
}
