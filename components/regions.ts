/**
 * The region names each cloud accepts, in one place, so a typo such as `us-east1` fails before
 * anything is registered instead of half-way through `pulumi up`.
 *
 * - AWS: the `Region` enum of the AWS provider this program deploys with (@pulumi/aws
 *   types/enums, "any valid Amazon region that may be targeted with deployments"): upgrading
 *   the provider brings new regions.
 * - Azure: "Azure regions list" (learn.microsoft.com/azure/reliability/regions-list;
 *   MicrosoftDocs articles/reliability/regions-list.md, ms.date 09/23/2025), public cloud,
 *   with its "Availability zone support" column. The workers sit in zones 1 and 2 and the VIP
 *   is zone-redundant, so a region without zones is refused too.
 */
import { Region as AwsRegionEnum } from "@pulumi/aws/types/enums";

export const AWS_REGIONS: readonly string[] = Object.values(AwsRegionEnum);

/** Azure public regions with availability zones. */
export const AZURE_ZONAL_LOCATIONS: readonly string[] = [
    "australiaeast",
    "austriaeast",
    "belgiumcentral",
    "brazilsouth",
    "canadacentral",
    "centralindia",
    "centralus",
    "chilecentral",
    "eastasia",
    "eastus",
    "eastus2",
    "francecentral",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "koreacentral",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northeurope",
    "norwayeast",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southcentralus",
    "southeastasia",
    "spaincentral",
    "swedencentral",
    "switzerlandnorth",
    "uaenorth",
    "uksouth",
    "westeurope",
    "westus2",
    "westus3",
];

/** Azure public regions without availability zones: the cluster cannot be built there. */
export const AZURE_NON_ZONAL_LOCATIONS: readonly string[] = [
    "australiacentral",
    "australiacentral2",
    "australiasoutheast",
    "brazilsoutheast",
    "canadaeast",
    "francesouth",
    "germanynorth",
    "koreasouth",
    "northcentralus",
    "norwaywest",
    "southafricawest",
    "southindia",
    "switzerlandwest",
    "uaecentral",
    "ukwest",
    "westcentralus",
    "westindia",
    "westus",
];

/** ARM takes a display name too ("East US 2"): compare names without case or spaces. */
export function normalizeAzureLocation(location: string): string {
    return location.replace(/\s+/g, "").toLowerCase();
}
