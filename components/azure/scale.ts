/**
 * How far an Azure cluster's workers' network security group stretches. Pure functions, used by
 * validation; test/azure.test.ts checks the count against the NSG the Azure implementation builds.
 *
 * Azure allows 4,000 IP addresses and ranges as sources in one NSG (and 4,000 as destinations,
 * counted apart), summed over its rules ("Networking limits", Azure subscription and service
 * limits). Every channel has its own rule listing every `network.allowedCidrs` entry, so the
 * channels times the allowed CIDRs is what grows.
 */
import type { NetworkConfig } from "../config-types";
import { AZURE_NSG_ADDRESSES_PER_DIRECTION } from "../constants";

/**
 * The rules besides the channels' name at most these sources: the service tags Internet
 * (SSH/RDP deny), AzureLoadBalancer (at most two probe rules) and VirtualNetwork (the VNet
 * deny), each tag counted as one to be safe.
 */
export const AZURE_NSG_FIXED_SOURCES = 4;

/** The most source addresses and ranges the workers' NSG lists: channels x allowed CIDRs, the admin CIDRs, the fixed rules. */
export function azureNsgSourceCount(channelCount: number, network: Pick<NetworkConfig, "allowedCidrs" | "adminCidrs">): number {
    return channelCount * network.allowedCidrs.length + network.adminCidrs.length + AZURE_NSG_FIXED_SOURCES;
}

export function azureScaleProblems(channelCount: number, network: Pick<NetworkConfig, "allowedCidrs" | "adminCidrs">): [string, string][] {
    const sources = azureNsgSourceCount(channelCount, network);
    if (channelCount === 0 || sources <= AZURE_NSG_ADDRESSES_PER_DIRECTION) return [];
    const room = AZURE_NSG_ADDRESSES_PER_DIRECTION - network.adminCidrs.length - AZURE_NSG_FIXED_SOURCES;
    return [
        [
            "network.allowedCidrs",
            `${network.allowedCidrs.length} CIDRs x ${channelCount} channels (one NSG rule each) put ${sources} source addresses in the workers' network security group; ` +
                `Azure allows ${AZURE_NSG_ADDRESSES_PER_DIRECTION}: with ${channelCount} channels list at most ${Math.floor(room / channelCount)} CIDRs (fewer, wider ones), or carry fewer channels`,
        ],
    ];
}
