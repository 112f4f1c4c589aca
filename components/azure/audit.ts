/**
 * Step 10, the audit trail (`audit`, HIPAA 164.312(b)): VNet flow logs of every connection to and
 * from the workers and the load balancer, written by the region's Network Watcher into a storage
 * account of the cluster, whose lifecycle rule deletes them after `audit.retentionDays`. With
 * `network.existing` the VNet is the owner's (it may have a flow log of its own), so the flow
 * logs cover the two worker subnets instead. The account sits in the data resource group and,
 * like the queue, outlives `pulumi destroy`: an audit trail must outlast what it audits.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as network from "@pulumi/azure-native/network";
import * as storage from "@pulumi/azure-native/storage";
import { AZURE_NETWORK_WATCHER, HOLDS_FLOW_LOGS } from "../constants";
import { AzureGroupContext } from "./context";
import { AzureNetwork } from "./network";
import { BLOB_ACCOUNT_BASICS, storageAccountName } from "./storage";

export interface AzureAudit {
    flowLogAccount: storage.StorageAccount;
    flowLogs: network.FlowLog[];
}

export function createAudit(ctx: AzureGroupContext, clientConfig: pulumi.Output<authorization.GetClientConfigResult>, net: AzureNetwork): AzureAudit | undefined {
    const { name, cfg, opts, tags, location, dataGroup, keep } = ctx;
    if (!cfg.audit.flowLogs) return undefined;
    const flowLogAccount = new storage.StorageAccount(
        `${name}-flow-logs`,
        {
            resourceGroupName: dataGroup.name,
            location,
            accountName: pulumi.all([clientConfig.subscriptionId, dataGroup.name]).apply(([sub, rg]) => storageAccountName("iguanaf", sub, rg)),
            // Flow logs need a Standard general-purpose v2 account in the VNet's region.
            ...BLOB_ACCOUNT_BASICS,
            // Network Watcher writes as a trusted Azure service: the firewall denies everyone
            // else, with no IP or VNet rule (Microsoft Learn, Network Watcher FAQ, "storage
            // account behind a firewall"). Disabling public network access would shut it out too.
            publicNetworkAccess: "Enabled",
            networkRuleSet: { defaultAction: "Deny", bypass: "AzureServices" },
            tags: { ...tags, holds: HOLDS_FLOW_LOGS },
        },
        keep,
    );
    new storage.ManagementPolicy(
        `${name}-flow-logs`,
        {
            resourceGroupName: dataGroup.name,
            accountName: flowLogAccount.name,
            managementPolicyName: "default",
            policy: {
                rules: [
                    {
                        name: "delete-after-retention",
                        enabled: true,
                        type: "Lifecycle",
                        definition: {
                            filters: { blobTypes: ["blockBlob"] },
                            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: cfg.audit.retentionDays } } },
                        },
                    },
                ],
            },
        },
        keep,
    );
    const watcher = regionNetworkWatcher(ctx);
    const targets: pulumi.Input<string>[] = cfg.network.existing ? net.workerSubnetIds : [net.virtualNetworkId];
    const flowLogs = targets.map(
        (targetResourceId, i) =>
            new network.FlowLog(
                targets.length === 1 ? `${name}-flow-logs` : `${name}-flow-logs-${i + 1}`,
                {
                    resourceGroupName: AZURE_NETWORK_WATCHER.resourceGroup,
                    networkWatcherName: watcher,
                    location,
                    targetResourceId,
                    storageId: flowLogAccount.id,
                    enabled: true,
                    // Stated: the SDK fills in version 0 and an unset retention otherwise.
                    format: { type: "JSON", version: 2 },
                    // Kept by the account's lifecycle rule: it takes any number of days (the flow log's own retention was documented up to 365).
                    retentionPolicy: { enabled: false, days: 0 },
                    tags,
                },
                opts,
            ),
    );
    return { flowLogAccount, flowLogs };
}

/** What `pulumi preview` says when the region has no Network Watcher where Azure keeps it. */
export function missingNetworkWatcherMessage(location: string): string {
    const watcher = `${AZURE_NETWORK_WATCHER.namePrefix}${location}`;
    return (
        `audit.flowLogs: the region's Network Watcher (${watcher} in ${AZURE_NETWORK_WATCHER.resourceGroup}), which writes the flow logs, does not exist ` +
        `(the subscription may have opted out of enabling it): run \`az network watcher configure --locations ${location} --enabled true -g ${AZURE_NETWORK_WATCHER.resourceGroup}\`, ` +
        `or set audit.flowLogs: false`
    );
}

/** The region's own Network Watcher, found at preview: a missing one fails there, with what to do, not halfway through `pulumi up`. */
function regionNetworkWatcher(ctx: AzureGroupContext): pulumi.Output<string> {
    const { location, parent } = ctx;
    const networkWatcherName = `${AZURE_NETWORK_WATCHER.namePrefix}${location}`;
    const found = network.getNetworkWatcher({ resourceGroupName: AZURE_NETWORK_WATCHER.resourceGroup, networkWatcherName }, { parent }).then(
        () => networkWatcherName,
        (error: unknown) => {
            const said = String((error as Error)?.message ?? error ?? "").split("\n")[0];
            throw new pulumi.ResourceError(`${missingNetworkWatcherMessage(location)}${said ? ` (Azure: ${said})` : ""}`, parent, true);
        },
    );
    return pulumi.output(found);
}
