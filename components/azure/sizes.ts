/**
 * What the name of an Azure VM size tells us, offline: Azure names sizes
 * `Standard_<family><vCPUs>[-<constrained vCPUs>]<features>[_<accelerator>][_v<version>]`,
 * where lowercase feature letters are additive (a AMD, p Arm, d local disk, s premium storage,
 * l low memory, m more memory, ...). Pure functions; nothing here asks Azure. Whether a size is
 * offered in a region and zone is only known to Azure (`az vm list-skus`).
 */
import { AZURE_DEDICATED_HOST_SKUS } from "../constants";

export interface AzureVmSize {
    name: string;
    /** Uppercase family letters: D, E, F, DS, NC, ... */
    family: string;
    vcpus: number;
    /** Additive feature letters, e.g. "s", "ds", "ads", "pls". */
    features: string;
    /** Generation, e.g. 5 for `_v5`; undefined for first-generation names such as Standard_B2s. */
    version?: number;
}

const SIZE_NAME = /^Standard_([A-Z]+)(\d+)(?:-\d+)?([a-z]*)((?:_[A-Za-z0-9]+)*)$/;

export function parseAzureVmSize(name: string): AzureVmSize | undefined {
    const match = SIZE_NAME.exec(name);
    if (!match) return undefined;
    const suffixes = match[4].split("_").filter(Boolean);
    const last = suffixes[suffixes.length - 1];
    const version = last && /^v\d+$/.test(last) ? Number(last.slice(1)) : undefined;
    return { name, family: match[1], vcpus: Number(match[2]), features: match[3], version };
}

/** Premium SSD needs an `s` feature (Standard_D2s_v5) or the older DS/GS family names (Standard_DS2_v2). */
export function supportsPremiumStorage(size: AzureVmSize): boolean {
    return size.features.includes("s") || /S$/.test(size.family);
}

/** `p` marks the Arm64 (Ampere / Cobalt) sizes, which need the Arm64 Ubuntu image. */
export function azureArchitecture(size: AzureVmSize): "x86_64" | "arm64" {
    return size.features.includes("p") ? "arm64" : "x86_64";
}

/** The series key used by `AZURE_DEDICATED_HOST_SKUS`, e.g. "Ds_v5" for Standard_D4s_v5. */
export function azureSeries(size: AzureVmSize): string {
    return `${size.family}${size.features}${size.version === undefined ? "" : `_v${size.version}`}`;
}

/** The dedicated host SKU that runs this size, or undefined when we map none. */
export function dedicatedHostSku(size: AzureVmSize): string | undefined {
    return AZURE_DEDICATED_HOST_SKUS[azureSeries(size)];
}

/** "Dsv5, Ddsv5, ..." for error messages: the series a dedicated host can run. */
export function dedicatedHostSeriesText(): string {
    return Object.entries(AZURE_DEDICATED_HOST_SKUS)
        .map(([series, sku]) => `${series.replace("_", "")} (${sku})`)
        .join(", ");
}
