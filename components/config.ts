/**
 * The configuration model: parses and validates every key of the contract (DESIGN.md), fills
 * in defaults from `constants.ts`, and throws once with every problem found. Pure: no Pulumi
 * resources are touched, so validation always runs before anything is registered.
 */
import {
    ALERT_EMAILS_MAX,
    AUDIT_RETENTION_DAYS,
    SIGNAL_ALARM_WINDOWS,
    LOG_ANALYTICS_RETENTION,
    BACKUP_EVERY_HOURS,
    EGRESS_DESTINATIONS_MAX,
    CLOUDWATCH_RETENTION_DAYS,
    CHANNEL_NAME_MAX,
    CHANNEL_NAME_PATTERN,
    CLOUDS,
    CLOUD_LIMITS,
    Cloud,
    DASHBOARD_LISTENER,
    DEFAULTS,
    FailoverStrategy,
    NETWORK_PREFIX_RANGE,
    PROJECT,
    PROTOCOLS,
    Protocol,
    RDP_PORT,
    ROLE_PROBE_PORT,
    Range,
    SSH_PORT,
    EXISTING_SUBNET_PREFIX_RANGE,
    INTERNAL_VIP_HOST_OFFSET,
    TLS_LISTEN_PORT_BASE,
    UNREADABLE_SECRET,
    WORKER_HOST_OFFSET,
    WorkerName,
} from "./constants";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { cidrContains, cidrProblem, parseCidr, proxyAddress } from "./cidr";
import { AWS_REGIONS, AZURE_NON_ZONAL_LOCATIONS, AZURE_ZONAL_LOCATIONS, normalizeAzureLocation } from "./regions";
import { closest } from "./suggest";
import { tagProblems, tagValueProblem } from "./tags";
import { awsScaleProblems, internalVipOffset, shardChannels } from "./aws/scale";
import { azureScaleProblems } from "./azure/scale";
import { dedicatedHostSeriesText, dedicatedHostSku, parseAzureVmSize, supportsPremiumStorage } from "./azure/sizes";
import { CONTRACT, ConfigKey, LeafContext, LeafSpec, keysOf, secretLeaves, specAt } from "./contract";
import type { ChannelMode, Edition, NatGateways, QueueRecovery } from "./constants";

export type * from "./config-types";
import type {
    ChannelConfig,
    IguanaConfig,
    NetworkConfig,
    WorkersConfig,
    FailoverConfig,
    StorageConfig,
    AuditConfig,
    AlertsConfig,
    BackupConfig,
    TlsConfig,
    ClusterConfig,
    ExistingNetworkConfig,
    ExistingSubnetConfig,
    EgressConfig,
} from "./config-types";

/** Configuration as read from a stack or given in code: nothing is trusted yet. */
export interface RawClusterConfig {
    cloud?: unknown;
    environment?: unknown;
    tags?: unknown;
    iguana?: unknown;
    channels?: unknown;
    network?: unknown;
    workers?: unknown;
    failover?: unknown;
    storage?: unknown;
    audit?: unknown;
    alerts?: unknown;
    backup?: unknown;
    tls?: unknown;
    /** The value of `aws:region` or `azure-native:location`, whichever the cloud uses. */
    region?: unknown;
    /**
     * Every key of the stack's configuration, when it comes from a stack (program, offline plan):
     * keys of this project that the program never reads are refused. `value` is the stored text,
     * undefined for a secret (never repeated in a message).
     */
    stackKeys?: StackKey[];
}

export interface StackKey {
    key: string;
    value: string | undefined;
}

/** The project config keys of the contract (contract.ts), in the order the docs list them. */
export const CONFIG_KEYS = Object.keys(CONTRACT) as ConfigKey[];

export const REGION_KEY: Record<Cloud, string> = { aws: "aws:region", azure: "azure-native:location" };

export interface ConfigProblem {
    /** The fully qualified key, e.g. `iguana-ha:channels[1].port`. */
    key: string;
    message: string;
}

/**
 * A RunError: the Pulumi CLI prints its message alone, without the program's stack trace
 * (@pulumi/pulumi cmd/run: "Always hide the stack for RunErrors").
 */
export class ConfigValidationError extends pulumi.RunError {
    constructor(public readonly problems: ConfigProblem[]) {
        super(`Invalid ${PROJECT} configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` + problems.map((p) => `  - ${p.key}: ${p.message}`).join("\n"));
        this.name = "ConfigValidationError";
    }
}

/** The keys each structured contract key takes (`channel`: each item of `channels`), from contract.ts. */
export const NESTED_KEYS = {
    iguana: keysOf("iguana"),
    channel: keysOf("channels"),
    network: keysOf("network"),
    existing: keysOf("network.existing"),
    subnet: keysOf("network.existing.workerSubnets"),
    egress: keysOf("network.egress"),
    egressDestination: keysOf("network.egress.destinations"),
    workers: keysOf("workers"),
    failover: keysOf("failover"),
    storage: keysOf("storage"),
    restoreFrom: keysOf("storage.restoreFrom"),
    audit: keysOf("audit"),
    alerts: keysOf("alerts"),
    backup: keysOf("backup"),
    tls: keysOf("tls"),
};

function describe(value: unknown): string {
    if (value === null) return "null";
    if (Array.isArray(value)) return "a list";
    if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
    if (typeof value === "object") return "an object";
    return `${typeof value} ${JSON.stringify(value)}`;
}

function rangeText(range: Range): string {
    return `${range.min}-${range.max}`;
}

/** Collects problems while reading one untrusted configuration. */
class Reader {
    readonly problems: ConfigProblem[] = [];

    report(key: string, message: string): void {
        this.problems.push({ key: qualify(key), message });
    }

    object(key: string, value: unknown, allowed: readonly string[]): Record<string, unknown> | undefined {
        if (value === undefined) return undefined;
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
            this.report(key, `must be an object with keys ${allowed.join(", ")}; got ${describe(value)}`);
            return undefined;
        }
        for (const k of Object.keys(value)) {
            if (!allowed.includes(k)) {
                const guess = closest(k, allowed);
                this.report(`${key}.${k}`, `is not a known key${guess ? ` (did you mean ${guess}?)` : ""}; allowed: ${allowed.join(", ")}`);
            }
        }
        return value as Record<string, unknown>;
    }

    string(key: string, value: unknown): string | undefined {
        if (value === undefined) return undefined;
        if (typeof value !== "string" || value.trim() === "") {
            this.report(key, `must be a non-empty string; got ${describe(value)}`);
            return undefined;
        }
        return value;
    }

    oneOf<T extends string>(key: string, value: unknown, allowed: readonly T[]): T | undefined {
        if (value === undefined) return undefined;
        if (typeof value !== "string" || !allowed.includes(value as T)) {
            this.report(key, `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}; got ${describe(value)}`);
            return undefined;
        }
        return value as T;
    }

    boolean(key: string, value: unknown): boolean | undefined {
        if (value === undefined) return undefined;
        if (typeof value !== "boolean") {
            this.report(key, `must be true or false; got ${describe(value)}`);
            return undefined;
        }
        return value;
    }

    integer(key: string, value: unknown, range?: Range, unit = ""): number | undefined {
        if (value === undefined) return undefined;
        if (typeof value !== "number" || !Number.isInteger(value)) {
            const allowed = range ? `a whole number in ${rangeText(range)}${unit}` : "a whole number";
            this.report(key, `must be ${allowed}; got ${describe(value)}`);
            return undefined;
        }
        if (range && (value < range.min || value > range.max)) {
            this.report(key, `${value}${unit} is outside the allowed range ${rangeText(range)}${unit}`);
            return undefined;
        }
        return value;
    }

    cidrList(key: string, value: unknown, { required }: { required: boolean }): string[] | undefined {
        if (value === undefined) {
            if (required) this.report(key, 'is required: a non-empty list of IPv4 CIDRs such as ["203.0.113.0/24"]');
            return undefined;
        }
        if (!Array.isArray(value)) {
            this.report(key, `must be a list of IPv4 CIDRs such as ["203.0.113.0/24"]; got ${describe(value)}`);
            return undefined;
        }
        if (required && value.length === 0) {
            this.report(key, 'is empty: list at least one IPv4 CIDR allowed to send, such as "203.0.113.0/24"');
            return undefined;
        }
        let ok = true;
        value.forEach((item, i) => {
            if (typeof item !== "string") {
                this.report(`${key}[${i}]`, `must be an IPv4 CIDR string; got ${describe(item)}`);
                ok = false;
                return;
            }
            const problem = cidrProblem(item);
            if (problem) {
                this.report(`${key}[${i}]`, `"${item}" ${problem}; allowed: an IPv4 CIDR such as 203.0.113.0/24`);
                ok = false;
            }
        });
        return ok ? (value as string[]) : undefined;
    }
}

/**
 * A leaf the contract types whole (choices, range, default), read at `key` (`channels[1].port`
 * reads the spec of `channels.port`): the value, its default when unset, or undefined after a
 * problem is reported (or when unset with no default).
 */
function readLeaf<T extends string | number | boolean>(r: Reader, key: string, value: unknown, context: LeafContext): T | undefined {
    const spec = specAt(key.replace(/\[\d+\]/g, "")) as LeafSpec;
    switch (spec.kind) {
        case "enum":
            return (r.oneOf(key, value, spec.choices) ?? spec.default) as T | undefined;
        case "boolean":
            return (r.boolean(key, value) ?? spec.default) as T;
        case "integer":
            return (r.integer(key, value, spec.range(context), spec.unit?.(context)) ?? spec.default?.(context)) as T | undefined;
        default:
            return (r.string(key, value) as T | undefined) ?? undefined;
    }
}

function qualify(key: string): string {
    return key.includes(":") ? key : `${PROJECT}:${key}`;
}

/**
 * Validates raw configuration and returns it with defaults filled in.
 * Throws one `ConfigValidationError` listing every problem.
 */
export function validateClusterConfig(raw: RawClusterConfig, stackName: string): ClusterConfig {
    const r = new Reader();
    checkStackKeys(r, raw.stackKeys ?? []);

    let cloud: Cloud | undefined;
    if (raw.cloud === undefined) {
        r.report("cloud", `is required; allowed: ${CLOUDS.map((c) => `"${c}"`).join(", ")}`);
    } else {
        cloud = readLeaf<Cloud>(r, "cloud", raw.cloud, { cloud: undefined, edition: DEFAULTS.edition, strategy: DEFAULTS.failoverStrategy });
    }
    const limits = cloud ? CLOUD_LIMITS[cloud] : undefined;
    const context: LeafContext = { cloud, edition: DEFAULTS.edition, strategy: DEFAULTS.failoverStrategy };

    const environment = r.string("environment", raw.environment) ?? stackName;
    const tags = readTags(r, raw.tags, cloud);

    let region: string | undefined;
    if (cloud) {
        const key = REGION_KEY[cloud];
        if (raw.region === undefined) {
            // In code on AWS the provider's region is the one; a stack file names its own (the plan and its quotas need it).
            const example = cloud === "aws" ? "us-east-1" : "eastus2";
            if (raw.stackKeys !== undefined) r.report(key, `is required for cloud "${cloud}": set it in the stack file (e.g. ${example})`);
            else if (cloud === "azure") r.report("region", `is required for cloud "azure" (every Azure resource names its location): e.g. ${example}`);
        } else {
            region = r.string(key, raw.region);
            if (region && !regionIsKnown(r, cloud, region)) region = undefined;
        }
    }

    const iguana = readIguana(r, raw.iguana, context);
    const network = readNetwork(r, raw.network, context);
    const workers = readWorkers(r, raw.workers, context);
    const failover = readFailover(r, raw.failover, context);
    const channels = readChannels(r, raw.channels, iguana.webPort, context);
    const storage = readStorage(r, raw.storage, context, raw.workers, channels);
    const audit = readAudit(r, raw.audit, context);
    const alerts = readAlerts(r, raw.alerts, context, raw.stackKeys);
    const backup = readBackup(r, raw.backup, context, region, storage.queueRecovery);
    const tls = readTls(r, raw.tls, network, raw.stackKeys);
    if (tls.enabled) checkTlsListenPorts(r, channels, iguana);
    checkFloatingIp(r, failover.strategy, cloud, raw, network, channels);
    checkExistingNetwork(r, cloud, raw, network, failover.strategy);
    if (cloud && network.existing) checkExistingSubnetRoom(r, cloud, network, failover.strategy, channels, iguana.webPort);

    if (limits && channels.length > limits.maxChannels) {
        r.report(
            "channels",
            `has ${channels.length} channels; one ${cloud === "aws" ? "AWS" : "Azure"} cluster carries at most ${limits.maxChannels} (${limits.maxChannelsReason}), so remove ${channels.length - limits.maxChannels}`,
        );
    } else if (cloud === "aws") {
        for (const [key, message] of awsScaleProblems(channels, network, iguana.webPort, { loadBalancer: failover.strategy === "load-balancer" })) {
            r.report(key, message);
        }
    } else if (cloud === "azure") {
        for (const [key, message] of azureScaleProblems(channels.length, network)) r.report(key, message);
    }

    if (r.problems.length > 0) {
        throw new ConfigValidationError(r.problems);
    }
    const config: ClusterConfig = { cloud: cloud!, environment, tags, region, iguana, channels, network, workers, failover, storage, audit, alerts, backup, tls };
    VALIDATED.add(config);
    return config;
}

/** The configs validateClusterConfig returned (the objects themselves: a copy is not among them). */
const VALIDATED = new WeakSet<object>();

/**
 * `config` itself when validateClusterConfig returned it, else its validation. Validating twice
 * is not a no-op: a validated config holds every cloud's defaults, which the validator refuses
 * from a user on the other cloud (`workers.encryptionAtHost` on AWS).
 */
export function ensureValidClusterConfig(config: RawClusterConfig | ClusterConfig, stackName: string): ClusterConfig {
    return VALIDATED.has(config) ? (config as ClusterConfig) : validateClusterConfig(config as RawClusterConfig, stackName);
}

/** Shell-quotes a value for a command the message suggests. */
function shellWord(text: string): string {
    return /^[A-Za-z0-9._/:@=,+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `pulumi config set` for `key`, with the stored value when it may be shown. */
function configSetCommand(key: string, value: string | undefined): string {
    const path = /[.[]/.test(key.slice(key.indexOf(":") + 1)) ? " --path" : "";
    return value === undefined ? `pulumi config set${path} --secret ${shellWord(key)} <value>` : `pulumi config set${path} ${shellWord(key)} ${shellWord(value)}`;
}

/**
 * Keys the program would never read: of this project but not of the contract (a typo, or a
 * nested key set without `--path`), or in a namespace that is a near miss of the project's.
 */
function checkStackKeys(r: Reader, keys: StackKey[]): void {
    const known: readonly string[] = CONFIG_KEYS;
    for (const { key, value } of keys) {
        const colon = key.indexOf(":");
        if (colon < 0) continue;
        const namespace = key.slice(0, colon);
        const name = key.slice(colon + 1);
        const head = name.split(/[.[]/)[0];
        if (namespace === PROJECT) {
            if (known.includes(name)) continue;
            if (known.includes(head)) {
                r.report(
                    key,
                    `is a nested key set without --path: Pulumi stored a top-level key literally named "${name}", which the program never reads, so ${name} keeps its default. ` +
                        `Remove it and set the nested value: pulumi config rm ${shellWord(key)} && ${configSetCommand(key, value)}`,
                );
            } else {
                const guess = closest(name, known);
                r.report(key, `is not a key of this project${guess ? ` (did you mean ${guess}?)` : ""}; allowed: ${known.join(", ")}`);
            }
        } else if (namespace.toLowerCase().includes("iguana") || closest(namespace, [PROJECT])) {
            const target = `${PROJECT}:${name}`;
            r.report(
                key,
                `is in namespace "${namespace}", which the program never reads: this project's keys are "${PROJECT}:<key>". ` +
                    `Move it: pulumi config rm ${shellWord(key)} && ${configSetCommand(target, value)}`,
            );
        }
    }
}

/** The region a stack file or an Azure config names (it always has one); for the drill, the boot test and Azure. */
export function namedRegion(cfg: ClusterConfig): string {
    if (cfg.region === undefined) throw new Error(`${REGION_KEY[cfg.cloud]}: this cluster's region is its provider's, and no config names it`);
    return cfg.region;
}

/** Reports an unknown region (with the closest known one) or an Azure region without zones, under `key` (the cluster's region key by default). */
function regionIsKnown(r: Reader, cloud: Cloud, region: string, key: string = REGION_KEY[cloud]): boolean {
    if (cloud === "aws") {
        if (AWS_REGIONS.includes(region)) return true;
        const guess = closest(region, AWS_REGIONS);
        r.report(
            key,
            `"${region}" is not an AWS region${guess ? ` (did you mean ${guess}?)` : ""}; allowed: a region code such as us-east-1, eu-west-1 (see components/regions.ts)`,
        );
        return false;
    }
    const name = normalizeAzureLocation(region);
    if (AZURE_ZONAL_LOCATIONS.includes(name)) return true;
    if (AZURE_NON_ZONAL_LOCATIONS.includes(name)) {
        r.report(
            key,
            `"${region}" has no availability zones, and the workers need zones 1 and 2; allowed: a region with zones such as eastus2, westeurope (see components/regions.ts)`,
        );
        return false;
    }
    const guess = closest(name, AZURE_ZONAL_LOCATIONS);
    r.report(key, `"${region}" is not an Azure region${guess ? ` (did you mean ${guess}?)` : ""}; allowed: a region name such as eastus2, westeurope (see components/regions.ts)`);
    return false;
}

/** A value given as a pulumi.Input that is not known yet: checked when it resolves (resolveInstaller). */
function isDeferred(value: unknown): boolean {
    return pulumi.Output.isInstance(value) || value instanceof Promise;
}

const INSTALLER_URL_PATTERN = /^https?:\/\/[^\s/]+\/\S*$/;
const SHA256_PATTERN = /^[0-9a-fA-F]{64}$/;

function installerUrlProblem(url: string): string | undefined {
    return INSTALLER_URL_PATTERN.test(url) ? undefined : `"${url}" is not an http(s) URL; allowed: https://host/path/to/installer`;
}

const SHA256_WITHOUT_URL = "checks the download of iguana.installerUrl, which is not set: set both, or remove the key";
const INSTALLER_SHA256_PROBLEM = "is not a SHA-256 digest; allowed: 64 hexadecimal characters, as `sha256sum <installer>` prints them";

function readIguana(r: Reader, value: unknown, context: LeafContext): IguanaConfig {
    const obj = r.object("iguana", value, NESTED_KEYS.iguana) ?? {};
    const edition = readLeaf<Edition>(r, "iguana.edition", obj.edition, context)!;
    const urlDeferred = isDeferred(obj.installerUrl);
    const installerUrl = urlDeferred ? (obj.installerUrl as pulumi.Input<string>) : r.string("iguana.installerUrl", obj.installerUrl);
    const urlProblem = typeof installerUrl === "string" ? installerUrlProblem(installerUrl) : undefined;
    if (urlProblem) r.report("iguana.installerUrl", urlProblem);
    const webPort = readLeaf<number>(r, "iguana.webPort", obj.webPort, { ...context, edition })!;
    if (webPort === SSH_PORT || webPort === ROLE_PROBE_PORT) {
        r.report("iguana.webPort", `${webPort} is reserved (${webPort === SSH_PORT ? "SSH" : "the role probe"}); pick another port`);
    }
    if (isDeferred(obj.installerSha256)) {
        if (installerUrl === undefined) r.report("iguana.installerSha256", SHA256_WITHOUT_URL);
        return { edition, installerUrl, installerSha256: obj.installerSha256 as pulumi.Input<string>, webPort };
    }
    let installerSha256 = r.string("iguana.installerSha256", obj.installerSha256);
    if (installerSha256 !== undefined && !SHA256_PATTERN.test(installerSha256)) {
        r.report("iguana.installerSha256", INSTALLER_SHA256_PROBLEM);
        installerSha256 = undefined;
    } else if (installerSha256 !== undefined && installerUrl === undefined) {
        r.report("iguana.installerSha256", SHA256_WITHOUT_URL);
    }
    return { edition, installerUrl, installerSha256: installerSha256?.toLowerCase(), webPort };
}

/**
 * The installer URL and checksum once known, checked like plain values: an Output given for
 * either (a bucket's URL, another stack's digest) fails the preview or update with the same
 * ConfigValidationError a plain value gets at construction.
 */
export function resolveInstaller(iguana: IguanaConfig): pulumi.Output<{ installerUrl?: string; installerSha256?: string }> {
    return pulumi.all([iguana.installerUrl, iguana.installerSha256]).apply(([url, sha]) => {
        const problems: ConfigProblem[] = [];
        const urlProblem = url === undefined ? undefined : typeof url !== "string" || url.trim() === "" ? "must resolve to a non-empty string" : installerUrlProblem(url);
        if (urlProblem) problems.push({ key: qualify("iguana.installerUrl"), message: urlProblem });
        if (sha !== undefined && (typeof sha !== "string" || !SHA256_PATTERN.test(sha)))
            problems.push({ key: qualify("iguana.installerSha256"), message: INSTALLER_SHA256_PROBLEM });
        if (problems.length > 0) throw new ConfigValidationError(problems);
        return { installerUrl: url, installerSha256: sha?.toLowerCase() };
    });
}

/** `tags`: a map of the user's own tags; each value a string, or an Input checked when it resolves (checkedTagValues). */
function readTags(r: Reader, value: unknown, cloud: Cloud | undefined): Record<string, pulumi.Input<string>> {
    if (value === undefined) return {};
    if (typeof value !== "object" || value === null || Array.isArray(value) || pulumi.Output.isInstance(value)) {
        r.report(
            "tags",
            `must be a map of tag keys to values, such as { costCenter: "lab-4410" }; got ${pulumi.Output.isInstance(value) ? "an Output (give each value as an Output instead)" : describe(value)}`,
        );
        return {};
    }
    const tags = value as Record<string, unknown>;
    // Qualified here: a tag key may hold a colon, which report() takes for a namespace.
    for (const [key, message] of tagProblems(cloud, tags)) r.report(`${PROJECT}:${key}`, message);
    return tags as Record<string, pulumi.Input<string>>;
}

/**
 * The user's tags as resources take them: plain values as they are, an Output value checked when
 * it resolves, so a bad one fails the preview naming its key, as a plain one fails at construction.
 */
export function checkedTagValues(cloud: Cloud, tags: Record<string, pulumi.Input<string>>): Record<string, pulumi.Input<string>> {
    return Object.fromEntries(
        Object.entries(tags).map(([key, value]) => [
            key,
            typeof value === "string"
                ? value
                : pulumi.output(value).apply((resolved) => {
                      const problem = tagValueProblem(cloud, resolved);
                      if (problem) throw new ConfigValidationError([{ key: `${PROJECT}:tags.${key}`, message: problem }]);
                      return resolved;
                  }),
        ]),
    );
}

function readNetwork(r: Reader, value: unknown, context: LeafContext): NetworkConfig {
    const { cloud } = context;
    if (value === undefined) {
        r.report("network", "is required: at least network.allowedCidrs, the CIDRs allowed to send to the channels");
    }
    const obj = r.object("network", value, NESTED_KEYS.network) ?? {};
    let cidr = DEFAULTS.networkCidr as string;
    if (obj.cidr !== undefined) {
        const text = r.string("network.cidr", obj.cidr);
        const problem = text === undefined ? undefined : cidrProblem(text);
        if (text !== undefined && problem) {
            r.report("network.cidr", `"${text}" ${problem}; allowed: a private IPv4 CIDR /16 to /24 such as 10.40.0.0/16`);
        } else if (text !== undefined) {
            const prefix = Number(text.split("/")[1]);
            if (prefix < NETWORK_PREFIX_RANGE.min || prefix > NETWORK_PREFIX_RANGE.max) {
                r.report(
                    "network.cidr",
                    `"${text}" has prefix /${prefix}; allowed: /${NETWORK_PREFIX_RANGE.min} to /${NETWORK_PREFIX_RANGE.max} (four subnets are carved from it)`,
                );
            } else {
                cidr = text;
            }
        }
    }
    const allowedCidrs = value === undefined ? [] : (r.cidrList("network.allowedCidrs", obj.allowedCidrs, { required: true }) ?? []);
    const adminCidrs = r.cidrList("network.adminCidrs", obj.adminCidrs, { required: false }) ?? [];
    adminCidrs.forEach((c, i) => {
        if (c.endsWith("/0")) {
            r.report(`network.adminCidrs[${i}]`, `"${c}" would open the Iguana dashboard to the whole Internet; list your admin networks instead`);
        }
    });
    const isPublic = readLeaf<boolean>(r, "network.public", obj.public, context)!;
    const natGateways = readLeaf<NatGateways>(r, "network.natGateways", obj.natGateways, context)!;
    const deletionProtection = readLeaf<boolean>(r, "network.deletionProtection", obj.deletionProtection, context)!;
    const existing = readExistingNetwork(r, obj.existing, cidr, cloud);
    const egress = readEgress(r, obj.egress, context);
    return { cidr, allowedCidrs, adminCidrs, public: isPublic, natGateways, deletionProtection, ...(existing ? { existing } : {}), egress };
}

function readEgress(r: Reader, value: unknown, context: LeafContext): EgressConfig {
    const obj = r.object("network.egress", value, NESTED_KEYS.egress) ?? {};
    const restricted = readLeaf<boolean>(r, "network.egress.restricted", obj.restricted, context)!;
    const destinations: EgressConfig["destinations"] = [];
    const example = '[{ cidr: "10.20.5.17/32", port: 6661 }]';
    if (obj.destinations !== undefined && !Array.isArray(obj.destinations)) {
        r.report("network.egress.destinations", `must be a list of destinations such as ${example}; got ${describe(obj.destinations)}`);
    } else if (Array.isArray(obj.destinations)) {
        if (!restricted && obj.destinations.length > 0) {
            r.report(
                "network.egress.destinations",
                "lists what a restricted egress admits, but network.egress.restricted is false (everything is open): set it to true, or remove the key",
            );
        }
        if (obj.destinations.length > EGRESS_DESTINATIONS_MAX) {
            r.report(
                "network.egress.destinations",
                `has ${obj.destinations.length} destinations; allowed: at most ${EGRESS_DESTINATIONS_MAX} (one security group's rules); list CIDRs that cover several`,
            );
        }
        const seen = new Set<string>();
        obj.destinations.forEach((item, i) => {
            const key = `network.egress.destinations[${i}]`;
            const destination = r.object(key, item, NESTED_KEYS.egressDestination);
            if (!destination) return;
            const cidr = destination.cidr === undefined ? undefined : r.string(`${key}.cidr`, destination.cidr);
            if (destination.cidr === undefined) r.report(`${key}.cidr`, `is required: the destination's IPv4 CIDR, such as ${example}`);
            const problem = cidr === undefined ? undefined : cidrProblem(cidr);
            if (cidr !== undefined && problem) r.report(`${key}.cidr`, `"${cidr}" ${problem}; allowed: an IPv4 CIDR such as 10.20.5.17/32`);
            if (destination.port === undefined) r.report(`${key}.port`, `is required: the destination's TCP port, such as ${example}`);
            const port = destination.port === undefined ? undefined : readLeaf<number>(r, `${key}.port`, destination.port, context);
            if (cidr === undefined || problem || port === undefined) return;
            if (seen.has(`${cidr}:${port}`)) r.report(key, `${cidr} port ${port} is listed twice: remove one`);
            else destinations.push({ cidr, port });
            seen.add(`${cidr}:${port}`);
        });
    }
    const proxy = readEgressProxy(r, restricted, obj.proxy);
    return { restricted, destinations, ...(proxy ? { proxy } : {}) };
}

function readEgressProxy(r: Reader, restricted: boolean, value: unknown): string | undefined {
    if (value === undefined) return undefined;
    const key = "network.egress.proxy";
    const url = r.string(key, value);
    if (url === undefined) return undefined;
    const allowed = 'allowed: http://<IPv4 address>:<port>, such as "http://10.20.0.10:3128"';
    if (!restricted) {
        r.report(key, "is the only way to the web of a restricted egress, but network.egress.restricted is false (everything is open): set it to true, or remove the key");
        return undefined;
    }
    if (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(url)) {
        r.report(key, `holds a user name or password, which would be written into the workers' user data; ${allowed}, a proxy that admits the workers by their addresses`);
        return undefined;
    }
    const parts = proxyAddress(url);
    if (!parts) {
        const why = /^https:/i.test(url)
            ? "is an https URL: the workers speak plain HTTP to the proxy (CONNECT carries the TLS of each download)"
            : /^http:\/\/[^/:]*[a-z]/i.test(url)
              ? "names the proxy by a host name: a security group or NSG rule needs its address"
              : `"${url}" is not a proxy URL`;
        r.report(key, `${why}; ${allowed}`);
        return undefined;
    }
    return `http://${parts.address}:${parts.port}`;
}

/** AWS resource ids: 8 or 17 hexadecimal digits after the prefix. */
const AWS_ID_PATTERN = (prefix: string) => new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`);

/** The keys of `network.existing` that only one cloud reads. */
const EXISTING_NETWORK_CLOUD_KEYS: Record<Cloud, readonly string[]> = { aws: ["vpcId", "loadBalancerSubnets"], azure: ["virtualNetworkId", "privateEndpointSubnet"] };

function readExistingNetwork(r: Reader, value: unknown, networkCidr: string, cloud: Cloud | undefined): ExistingNetworkConfig | undefined {
    const obj = r.object("network.existing", value, NESTED_KEYS.existing);
    if (!obj || !cloud) return undefined;
    const other: Cloud = cloud === "aws" ? "azure" : "aws";
    for (const key of EXISTING_NETWORK_CLOUD_KEYS[other]) {
        if (obj[key] !== undefined)
            r.report(
                `network.existing.${key}`,
                `is an ${other === "aws" ? "AWS" : "Azure"} setting; on ${cloud === "aws" ? "AWS" : "Azure"} set ${EXISTING_NETWORK_CLOUD_KEYS[cloud].join(" and ")}: remove the key`,
            );
    }
    const vpcId = cloud === "aws" ? readCloudId(r, "network.existing.vpcId", obj.vpcId, "aws-vpc") : undefined;
    const virtualNetworkId = cloud === "azure" ? readCloudId(r, "network.existing.virtualNetworkId", obj.virtualNetworkId, "azure-vnet") : undefined;
    const subnetKind = cloud === "aws" ? "aws-subnet" : "azure-subnet";
    const workerSubnets = readExistingSubnets(r, "network.existing.workerSubnets", obj.workerSubnets, networkCidr, true, subnetKind);
    const loadBalancerSubnets =
        cloud === "aws" ? readExistingSubnets(r, "network.existing.loadBalancerSubnets", obj.loadBalancerSubnets, networkCidr, false, subnetKind) : undefined;
    let privateEndpointSubnet: ExistingSubnetConfig | undefined;
    if (cloud === "azure") {
        if (obj.privateEndpointSubnet === undefined) {
            r.report(
                "network.existing.privateEndpointSubnet",
                "is required on Azure: the subnet for the private endpoints (the lease, the shared queue, the Key Vault), such as { id: <subnet resource id>, cidr: 10.8.30.0/27 }",
            );
        } else {
            privateEndpointSubnet = readExistingSubnet(r, "network.existing.privateEndpointSubnet", obj.privateEndpointSubnet, networkCidr, subnetKind);
        }
    }
    const all = [
        ...(workerSubnets ?? []).map((s, i) => [`workerSubnets[${i}]`, s] as const),
        ...(loadBalancerSubnets ?? []).map((s, i) => [`loadBalancerSubnets[${i}]`, s] as const),
        ...(privateEndpointSubnet ? [["privateEndpointSubnet", privateEndpointSubnet] as const] : []),
    ];
    all.forEach(([key, subnetConfig], i) => {
        for (const [otherKey, otherSubnet] of all.slice(0, i)) {
            const [a, b] = [parseCidr(subnetConfig.cidr), parseCidr(otherSubnet.cidr)];
            if (cidrContains(a, b) || cidrContains(b, a)) {
                r.report(
                    `network.existing.${key}.cidr`,
                    `"${subnetConfig.cidr}" overlaps network.existing.${otherKey} ("${otherSubnet.cidr}"); each subnet is listed once, and the pairs are in different subnets`,
                );
            }
        }
    });
    const networkId = cloud === "aws" ? vpcId : virtualNetworkId;
    if (networkId === undefined || !workerSubnets || (cloud === "azure" && !privateEndpointSubnet)) return undefined;
    return {
        ...(cloud === "aws" ? { vpcId } : { virtualNetworkId }),
        workerSubnets,
        ...(loadBalancerSubnets ? { loadBalancerSubnets } : {}),
        ...(privateEndpointSubnet ? { privateEndpointSubnet } : {}),
    };
}

type CloudIdKind = "aws-vpc" | "aws-subnet" | "aws-snapshot" | "azure-vnet" | "azure-subnet" | "azure-snapshot";

const AZURE_VNET_ID = "/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.Network/virtualNetworks/[^/]+";
const CLOUD_IDS: Record<CloudIdKind, { what: string; pattern: RegExp; example: string }> = {
    "aws-vpc": { what: "a VPC id", pattern: AWS_ID_PATTERN("vpc"), example: "vpc-0123456789abcdef0" },
    "aws-subnet": { what: "a subnet id", pattern: AWS_ID_PATTERN("subnet"), example: "subnet-0123456789abcdef0" },
    "aws-snapshot": { what: "an EBS snapshot id", pattern: AWS_ID_PATTERN("snap"), example: "snap-0123456789abcdef0" },
    "azure-vnet": {
        what: "a VNet's resource id",
        pattern: new RegExp(`^${AZURE_VNET_ID}$`, "i"),
        example: "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<name>",
    },
    "azure-subnet": {
        what: "a subnet's resource id",
        pattern: new RegExp(`^${AZURE_VNET_ID}/subnets/[^/]+$`, "i"),
        example: "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<name>/subnets/<subnet>",
    },
    "azure-snapshot": {
        what: "a snapshot's resource id",
        pattern: /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/snapshots\/[^/]+$/i,
        example: "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/snapshots/<name>",
    },
};

function readCloudId(r: Reader, key: string, value: unknown, kind: CloudIdKind): pulumi.Input<string> | undefined {
    if (isDeferred(value)) return value as pulumi.Input<string>;
    const { what, pattern, example } = CLOUD_IDS[kind];
    if (value === undefined) {
        r.report(key, `is required: ${what}, such as ${example}`);
        return undefined;
    }
    const text = r.string(key, value);
    if (text !== undefined && !pattern.test(text)) {
        r.report(key, `"${text}" is not ${what}; allowed: ${kind.startsWith("aws") ? `${kind.slice(4)}- and 8 or 17 hexadecimal digits, such as ` : ""}${example}`);
        return undefined;
    }
    return text;
}

function readExistingSubnets(
    r: Reader,
    key: string,
    value: unknown,
    networkCidr: string,
    required: boolean,
    kind: CloudIdKind,
): [ExistingSubnetConfig, ExistingSubnetConfig] | undefined {
    const example = `[{ id: ${CLOUD_IDS[kind].example}, cidr: 10.40.2.0/24 }, { id: ..., cidr: 10.40.3.0/24 }]`;
    if (value === undefined) {
        if (required) r.report(key, `is required: two subnets, WK1's first, such as ${example}`);
        return undefined;
    }
    if (!Array.isArray(value) || value.length !== 2) {
        r.report(key, `must be a list of exactly two subnets, WK1's first, such as ${example}; got ${Array.isArray(value) ? `${value.length} item(s)` : describe(value)}`);
        return undefined;
    }
    const subnets = value.map((item, i) => readExistingSubnet(r, `${key}[${i}]`, item, networkCidr, kind));
    return subnets[0] && subnets[1] ? [subnets[0], subnets[1]] : undefined;
}

function readExistingSubnet(r: Reader, key: string, value: unknown, networkCidr: string, kind: CloudIdKind): ExistingSubnetConfig | undefined {
    const obj = r.object(key, value, NESTED_KEYS.subnet);
    if (!obj) return undefined;
    const id = readCloudId(r, `${key}.id`, obj.id, kind);
    const cidr = readSubnetCidr(r, `${key}.cidr`, obj.cidr, networkCidr);
    return id !== undefined && cidr !== undefined ? { id, cidr } : undefined;
}

function readSubnetCidr(r: Reader, key: string, value: unknown, networkCidr: string): string | undefined {
    if (value === undefined) {
        r.report(key, "is required: the subnet's IPv4 CIDR as the cloud holds it, such as 10.40.2.0/24 (the workers' fixed addresses are computed from it)");
        return undefined;
    }
    const text = r.string(key, value);
    if (text === undefined) return undefined;
    const problem = cidrProblem(text);
    if (problem) {
        r.report(key, `"${text}" ${problem}; allowed: an IPv4 CIDR such as 10.40.2.0/24`);
        return undefined;
    }
    const prefix = parseCidr(text).prefix;
    if (prefix < EXISTING_SUBNET_PREFIX_RANGE.min || prefix > EXISTING_SUBNET_PREFIX_RANGE.max) {
        r.report(key, `"${text}" has prefix /${prefix}; allowed: /${EXISTING_SUBNET_PREFIX_RANGE.min} to /${EXISTING_SUBNET_PREFIX_RANGE.max}`);
        return undefined;
    }
    if (!cidrContains(parseCidr(networkCidr), parseCidr(text))) {
        r.report(key, `"${text}" is not inside network.cidr ("${networkCidr}"), which must be the existing network's CIDR`);
        return undefined;
    }
    return text;
}

/**
 * The fixed addresses the cluster takes in each existing worker subnet must fit in it: the
 * worker's, and with an internal load balancer one per AWS NLB (`.5`, or `100 + block`,
 * scale.ts) or Azure's one frontend (`.5`).
 */
function checkExistingSubnetRoom(r: Reader, cloud: Cloud, network: NetworkConfig, strategy: FailoverStrategy, channels: ChannelConfig[], webPort: number): void {
    const internal = strategy === "load-balancer" && !network.public;
    // Azure: one load balancer, its internal frontend at .5 of WK1's subnet.
    const vipOffsets = cloud === "aws" ? shardChannels(channels, webPort).map((shard) => internalVipOffset(shard, INTERNAL_VIP_HOST_OFFSET)) : [INTERNAL_VIP_HOST_OFFSET];
    const offsets = [WORKER_HOST_OFFSET, ...(internal ? vipOffsets : [])];
    const highest = Math.max(...offsets);
    network.existing!.workerSubnets.forEach((subnetConfig, i) => {
        const size = 2 ** (32 - parseCidr(subnetConfig.cidr).prefix);
        if (highest >= size - 1) {
            r.report(
                `network.existing.workerSubnets[${i}].cidr`,
                `"${subnetConfig.cidr}" has ${size} addresses, but the cluster takes host .${highest} in it (${offsets.map((o) => `.${o}`).join(", ")}: the worker${internal ? " and the internal NLB addresses" : ""}): use a larger subnet`,
            );
        }
    });
}

/** What `network.existing` cannot be combined with: the keys that shape a network the cluster would create. */
function checkExistingNetwork(r: Reader, cloud: Cloud | undefined, raw: RawClusterConfig, network: NetworkConfig, strategy: FailoverStrategy): void {
    const rawNetwork = raw.network as Record<string, unknown> | undefined;
    if (!rawNetwork || typeof rawNetwork !== "object" || rawNetwork.existing === undefined) return;
    if (rawNetwork.cidr === undefined) {
        r.report(
            "network.cidr",
            `is required with network.existing: the existing network's CIDR (the default ${DEFAULTS.networkCidr} belongs to a network the cluster would create)`,
        );
    }
    if (rawNetwork.natGateways !== undefined) {
        r.report(
            "network.natGateways",
            "is not used with network.existing: the cluster creates no NAT gateway there, and the worker subnets' own routes carry their egress; remove the key",
        );
    }
    if (cloud === "azure") {
        if (strategy === "floating-ip") {
            r.report(
                "network.existing",
                `cannot be combined with failover.strategy: "floating-ip" on Azure in this version: the workers' right to move the VIP is a custom role assignable in the cluster's resource group only, and an existing VNet's subnets are outside it; use failover.strategy: "load-balancer"`,
            );
        }
        return;
    }
    const existing = rawNetwork.existing as Record<string, unknown> | undefined;
    const lbSubnetsGiven = existing && typeof existing === "object" && existing.loadBalancerSubnets !== undefined;
    const needsLbSubnets = strategy === "load-balancer" && network.public;
    if (needsLbSubnets && !lbSubnetsGiven) {
        r.report(
            "network.existing.loadBalancerSubnets",
            "is required with network.public: true and a load balancer: two public subnets (routing to an Internet gateway) for the internet-facing NLB, zone by zone as workerSubnets",
        );
    } else if (!needsLbSubnets && lbSubnetsGiven) {
        r.report(
            "network.existing.loadBalancerSubnets",
            strategy === "floating-ip"
                ? `is not used with failover.strategy: "floating-ip" (no load balancer; the workers' own subnets must be public): remove the key`
                : "is not used with network.public: false: the internal NLB takes addresses in the worker subnets; remove the key",
        );
    }
}

function readWorkers(r: Reader, value: unknown, context: LeafContext): WorkersConfig {
    const { cloud } = context;
    const obj = r.object("workers", value, NESTED_KEYS.workers) ?? {};
    const limits = cloud ? CLOUD_LIMITS[cloud] : undefined;
    let size = cloud ? DEFAULTS.workerSize[cloud] : "";
    let sizeOk = obj.size === undefined;
    const givenSize = r.string("workers.size", obj.size);
    if (givenSize !== undefined && limits) {
        if (limits.workerSizePattern.test(givenSize)) {
            size = givenSize;
            sizeOk = true;
        } else {
            r.report("workers.size", `"${givenSize}" is not a ${cloud === "aws" ? "EC2 instance type" : "VM size"}; allowed: a name like "${limits.workerSizeExample}"`);
        }
    }
    const dataDiskGb = readLeaf<number>(r, "workers.dataDiskGb", obj.dataDiskGb, context)!;
    const dedicated = readLeaf<boolean>(r, "workers.dedicated", obj.dedicated, context)!;
    const encryptionAtHost = readLeaf<boolean>(r, "workers.encryptionAtHost", obj.encryptionAtHost, context)!;
    if (cloud === "aws" && obj.encryptionAtHost !== undefined) {
        r.report("workers.encryptionAtHost", "is an Azure setting; on AWS the EBS root and data volumes are already KMS-encrypted with the project key: remove the key");
    }
    if (cloud === "azure" && sizeOk) {
        const parsed = parseAzureVmSize(size);
        if (!parsed) {
            r.report("workers.size", `"${size}" is not an Azure VM size name; allowed: a name like "${limits!.workerSizeExample}"`);
        } else if (!supportsPremiumStorage(parsed)) {
            r.report(
                "workers.size",
                `"${size}" cannot attach Premium SSD disks (no "s" in the size name) and the workers' disks are Premium SSD; ` +
                    `pick a premium-capable size such as "${limits!.workerSizeExample}"`,
            );
        } else if (dedicated && !dedicatedHostSku(parsed)) {
            r.report(
                "workers.size",
                `"${size}" has no dedicated host SKU we know (workers.dedicated is true); a dedicated host runs one VM series: ` + `use a size of ${dedicatedHostSeriesText()}`,
            );
        }
    }
    const rebuild = readLeaf<WorkerName>(r, "workers.rebuild", obj.rebuild, context);
    return { size, dataDiskGb, dedicated, encryptionAtHost, ...(rebuild !== undefined ? { rebuild } : {}) };
}

function readFailover(r: Reader, value: unknown, leafContext: LeafContext): FailoverConfig {
    const { cloud } = leafContext;
    const obj = r.object("failover", value, NESTED_KEYS.failover) ?? {};
    const strategy = readLeaf<FailoverStrategy>(r, "failover.strategy", obj.strategy, leafContext)!;
    const context = { ...leafContext, strategy };
    const leaseSeconds = readLeaf<number>(r, "failover.leaseSeconds", obj.leaseSeconds, context)!;
    if (strategy === "floating-ip") return { ...readFloatingIpFailover(r, obj, context), leaseSeconds };
    const limits = cloud ? CLOUD_LIMITS[cloud] : undefined;
    const healthCheckIntervalSeconds = readLeaf<number>(r, "failover.healthCheckIntervalSeconds", obj.healthCheckIntervalSeconds, context)!;
    const unhealthyThreshold = readLeaf<number>(r, "failover.unhealthyThreshold", obj.unhealthyThreshold, context)!;
    const idleTimeoutSeconds = readLeaf<number>(r, "failover.idleTimeoutSeconds", obj.idleTimeoutSeconds, context)!;
    if (limits && obj.idleTimeoutSeconds !== undefined && idleTimeoutSeconds % limits.idleTimeoutStepSeconds !== 0) {
        r.report(
            "failover.idleTimeoutSeconds",
            `${idleTimeoutSeconds} s is not a whole number of minutes; ${cloud} sets idle timeouts in minutes, so use a multiple of ${limits.idleTimeoutStepSeconds}`,
        );
    }
    return { strategy, healthCheckIntervalSeconds, unhealthyThreshold, idleTimeoutSeconds, leaseSeconds };
}

/**
 * `failover.strategy: floating-ip` has no load balancer, so no health checks to tune. The idle
 * timeout still matters on Azure, where a Public IP on a NIC drops idle flows after 4-30 minutes
 * (default: the longest); on AWS nothing between sender and worker times out, and the value
 * only sets the workers' TCP keepalive.
 */
function readFloatingIpFailover(r: Reader, obj: Record<string, unknown>, context: LeafContext): Omit<FailoverConfig, "leaseSeconds"> {
    const { cloud } = context;
    for (const key of ["healthCheckIntervalSeconds", "unhealthyThreshold"] as const) {
        if (obj[key] !== undefined) {
            r.report(`failover.${key}`, `tunes load balancer health checks, and failover.strategy: "floating-ip" has no load balancer (the lease alone decides): remove the key`);
        }
    }
    const idleTimeoutSeconds = readLeaf<number>(r, "failover.idleTimeoutSeconds", obj.idleTimeoutSeconds, context)!;
    if (cloud === "azure" && obj.idleTimeoutSeconds !== undefined && idleTimeoutSeconds % CLOUD_LIMITS.azure.idleTimeoutStepSeconds !== 0) {
        r.report("failover.idleTimeoutSeconds", `${idleTimeoutSeconds} s is not a whole number of minutes; azure sets idle timeouts in minutes, so use a multiple of 60`);
    }
    return { strategy: "floating-ip", healthCheckIntervalSeconds: DEFAULTS.healthCheckIntervalSeconds, unhealthyThreshold: DEFAULTS.unhealthyThreshold, idleTimeoutSeconds };
}

/** What `failover.strategy: floating-ip` cannot be combined with. */
function checkFloatingIp(r: Reader, strategy: FailoverStrategy, cloud: Cloud | undefined, raw: RawClusterConfig, network: NetworkConfig, channels: ChannelConfig[]): void {
    if (strategy !== "floating-ip") return;
    const rawNetwork = (raw.network ?? {}) as Record<string, unknown>;
    if (!network.public) {
        r.report(
            "network.public",
            `is false, but failover.strategy: "floating-ip" moves a public address (an Elastic IP, an Azure Public IP); a private address cannot move between the workers' zones: use failover.strategy: "load-balancer" for a private VIP`,
        );
    }
    if (cloud === "aws" && typeof rawNetwork === "object" && rawNetwork.natGateways !== undefined) {
        r.report(
            "network.natGateways",
            `is not used with failover.strategy: "floating-ip" on AWS: the workers sit in public subnets and reach the Internet through their own public addresses; remove the key`,
        );
    }
    if (cloud === "aws" && network.deletionProtection) {
        r.report(
            "network.deletionProtection",
            `is true, but with failover.strategy: "floating-ip" on AWS there is no load balancer, and an Elastic IP has no deletion protection; allowed here: false (or use failover.strategy: "load-balancer")`,
        );
    }
    channels.forEach((c, i) => {
        if (c.mode === "active-active") {
            r.report(
                `channels[${i}].mode`,
                `"active-active" needs a load balancer to spread requests over both workers, and failover.strategy: "floating-ip" sends everything to the one address the MASTER holds; allowed with a floating IP: "active-passive"`,
            );
        }
    });
}

function readChannels(r: Reader, value: unknown, webPort: number, context: LeafContext): ChannelConfig[] {
    const example = `[{ name: "adt-in", protocol: "llp", port: 2575 }]`;
    if (value === undefined) {
        r.report("channels", `is required: at least one channel, e.g. ${example}`);
        return [];
    }
    if (!Array.isArray(value)) {
        r.report("channels", `must be a list of channels such as ${example}; got ${describe(value)}`);
        return [];
    }
    if (value.length === 0) {
        r.report("channels", `is empty: at least one channel is needed, e.g. ${example}`);
        return [];
    }
    const channels: ChannelConfig[] = [];
    const names = new Map<string, number>();
    const ports = new Map<number, number>();
    value.forEach((item, i) => {
        const key = `channels[${i}]`;
        const obj = r.object(key, item, NESTED_KEYS.channel);
        if (!obj) return;
        let name: string | undefined;
        if (obj.name === undefined) {
            r.report(`${key}.name`, 'is required: a DNS-safe name such as "adt-in"');
        } else {
            name = r.string(`${key}.name`, obj.name);
            if (name !== undefined && !CHANNEL_NAME_PATTERN.test(name)) {
                r.report(
                    `${key}.name`,
                    `"${name}" is not DNS-safe; allowed: lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen, at most ${CHANNEL_NAME_MAX} characters`,
                );
                name = undefined;
            } else if (name === DASHBOARD_LISTENER) {
                r.report(`${key}.name`, `"${name}" is the name of the dashboard's own listener (and its load balancer resources); pick another name`);
                name = undefined;
            } else if (name !== undefined && names.has(name)) {
                r.report(`${key}.name`, `"${name}" is already used by channels[${names.get(name)}]; names must be unique`);
            } else if (name !== undefined) {
                names.set(name, i);
            }
        }
        let protocol: Protocol | undefined;
        if (obj.protocol === undefined) {
            r.report(`${key}.protocol`, `is required; allowed: ${PROTOCOLS.map((p) => `"${p}"`).join(", ")}`);
        } else {
            protocol = readLeaf<Protocol>(r, `${key}.protocol`, obj.protocol, context);
        }
        let port: number | undefined;
        if (obj.port === undefined) {
            r.report(`${key}.port`, "is required: a TCP port in 1-65535");
        } else {
            port = readLeaf<number>(r, `${key}.port`, obj.port, context);
        }
        if (port !== undefined) {
            const reserved =
                port === SSH_PORT
                    ? "SSH"
                    : port === RDP_PORT
                      ? "RDP (closed to the Internet on every worker)"
                      : port === ROLE_PROBE_PORT
                        ? "the role probe"
                        : port === webPort
                          ? "the Iguana web port (iguana.webPort)"
                          : undefined;
            if (reserved) {
                r.report(`${key}.port`, `${port} collides with ${reserved}; pick another port`);
                port = undefined;
            } else if (ports.has(port)) {
                r.report(`${key}.port`, `${port} is already used by channels[${ports.get(port)}]; ports must be unique`);
                port = undefined;
            } else {
                ports.set(port, i);
            }
        }
        const mode = readLeaf<ChannelMode>(r, `${key}.mode`, obj.mode, context);
        if (protocol === "llp" && mode === "active-active") {
            r.report(`${key}.mode`, `an LLP channel cannot be active-active (persistent MLLP connections and queue order need one active worker); allowed: "active-passive"`);
        }
        if (name !== undefined && protocol !== undefined && port !== undefined) {
            channels.push({ name, protocol, port, mode: mode! });
        }
    });
    return channels;
}

function readStorage(r: Reader, value: unknown, context: LeafContext, rawWorkers: unknown, channels: ChannelConfig[]): StorageConfig {
    const { cloud } = context;
    const obj = r.object("storage", value, NESTED_KEYS.storage) ?? {};
    const queueRecovery = readLeaf<QueueRecovery>(r, "storage.queueRecovery", obj.queueRecovery, context)!;
    const shareGb = readLeaf<number>(r, "storage.shareGb", obj.shareGb, context)!;
    const protect = readLeaf<boolean>(r, "storage.protect", obj.protect, context)!;
    const restoreFrom = readRestoreFrom(r, obj.restoreFrom, cloud, queueRecovery);
    const customerManagedKey = readLeaf<boolean>(r, "storage.customerManagedKey", obj.customerManagedKey, context)!;
    if (obj.customerManagedKey !== undefined && cloud === "aws") {
        r.report("storage.customerManagedKey", "is an Azure setting: on AWS every volume and file system is already encrypted with the cluster's own KMS key; remove the key");
    }
    if (obj.shareGb !== undefined && cloud === "aws") {
        r.report("storage.shareGb", "is an Azure setting (the provisioned NFS share); EFS grows and shrinks with its content and takes no size: remove the key");
    } else if (obj.shareGb !== undefined && queueRecovery !== "shared") {
        r.report("storage.shareGb", `sizes the shared file system, which only storage.queueRecovery: "shared" creates: set that too, or remove the key`);
    }
    if (queueRecovery === "shared") {
        channels.forEach((c, i) => {
            if (c.mode === "active-active") {
                r.report(
                    `channels[${i}].mode`,
                    `"active-active" needs Iguana running on both workers, but storage.queueRecovery: "shared" runs it only on the active one ` +
                        `(two Iguanas must never write one queue); allowed with shared storage: "active-passive"`,
                );
            }
        });
        const workers = rawWorkers as Record<string, unknown> | undefined;
        if (workers && typeof workers === "object" && workers.dataDiskGb !== undefined) {
            r.report(
                "workers.dataDiskGb",
                `sizes each worker's own data disk, which storage.queueRecovery: "shared" does not create (the working directory is on the shared file system): remove the key`,
            );
        }
    }
    return { queueRecovery, shareGb, protect, customerManagedKey: cloud === "azure" && customerManagedKey, restoreFrom };
}

function readRestoreFrom(r: Reader, value: unknown, cloud: Cloud | undefined, queueRecovery: QueueRecovery): StorageConfig["restoreFrom"] {
    const obj = r.object("storage.restoreFrom", value, NESTED_KEYS.restoreFrom);
    if (!obj) return {};
    if (queueRecovery === "shared") {
        r.report(
            "storage.restoreFrom",
            `builds a worker's own data disk, which storage.queueRecovery: "shared" does not create: restore the shared file system with the cloud's restore job instead (docs/operations.md#backups), and remove the key`,
        );
        return {};
    }
    const restore: StorageConfig["restoreFrom"] = {};
    for (const worker of ["wk1", "wk2"] as const) {
        const key = `storage.restoreFrom.${worker}`;
        if (obj[worker] === undefined || !cloud) continue;
        // What each cloud's backups keep of a disk: an EBS snapshot; an Azure (incremental) snapshot.
        const id = readCloudId(r, key, obj[worker], cloud === "aws" ? "aws-snapshot" : "azure-snapshot");
        if (typeof id === "string") restore[worker] = id;
    }
    return restore;
}

function readAudit(r: Reader, value: unknown, context: LeafContext): AuditConfig {
    const obj = r.object("audit", value, NESTED_KEYS.audit) ?? {};
    const flowLogs = readLeaf<boolean>(r, "audit.flowLogs", obj.flowLogs, context)!;
    const workerLogs = readLeaf<boolean>(r, "audit.workerLogs", obj.workerLogs, context)!;
    const retentionDays = readLeaf<number>(r, "audit.retentionDays", obj.retentionDays, context)!;
    const cloudWatch: readonly number[] = CLOUDWATCH_RETENTION_DAYS;
    if (context.cloud === "aws" && obj.retentionDays !== undefined && Number.isInteger(retentionDays) && !cloudWatch.includes(retentionDays)) {
        const below = cloudWatch.filter((d) => d < retentionDays).pop();
        const above = cloudWatch.find((d) => d > retentionDays);
        r.report(
            "audit.retentionDays",
            `${retentionDays} is not a retention period CloudWatch Logs accepts${below || above ? ` (nearest: ${[below, above].filter(Boolean).join(" or ")})` : ""}; allowed on AWS: ${cloudWatch.join(", ")}`,
        );
    }
    if (context.cloud === "azure" && workerLogs && Number.isInteger(retentionDays) && retentionDays < LOG_ANALYTICS_RETENTION.tableMinDays) {
        r.report(
            "audit.retentionDays",
            `${retentionDays} days is shorter than a Log Analytics table keeps the workers' logs (audit.workerLogs); allowed on Azure with worker logs: ${LOG_ANALYTICS_RETENTION.tableMinDays}-${AUDIT_RETENTION_DAYS.max}`,
        );
    }
    if (!flowLogs && !workerLogs && obj.retentionDays !== undefined) {
        r.report("audit.retentionDays", "keeps flow logs and worker logs, but audit.flowLogs and audit.workerLogs are both false: remove the key, or turn one on");
    }
    return { flowLogs, workerLogs, retentionDays };
}

function readBackup(r: Reader, value: unknown, context: LeafContext, region: string | undefined, queueRecovery: QueueRecovery): BackupConfig {
    const obj = r.object("backup", value, NESTED_KEYS.backup) ?? {};
    const enabled = readLeaf<boolean>(r, "backup.enabled", obj.enabled, context)!;
    const everyHours = readLeaf<number>(r, "backup.everyHours", obj.everyHours, context)!;
    const retentionDays = readLeaf<number>(r, "backup.retentionDays", obj.retentionDays, context)!;
    const schedules: readonly number[] = BACKUP_EVERY_HOURS;
    if (obj.everyHours !== undefined && Number.isInteger(everyHours) && !schedules.includes(everyHours)) {
        r.report("backup.everyHours", `${everyHours} h is not a schedule both clouds take; allowed: ${schedules.join(", ")}`);
    }
    const copyToRegion = obj.copyToRegion === undefined ? undefined : r.string("backup.copyToRegion", obj.copyToRegion);
    // A copy is where a disaster-recovery stack builds the pair: a region the cluster could be built in.
    if (copyToRegion !== undefined && context.cloud !== undefined && regionIsKnown(r, context.cloud, copyToRegion, "backup.copyToRegion")) {
        const same = context.cloud === "azure" ? normalizeAzureLocation(copyToRegion) === normalizeAzureLocation(region ?? "") : copyToRegion === region;
        if (same) {
            r.report("backup.copyToRegion", `is the cluster's own region ${region}: a copy there survives nothing the original would not; name another region`);
        } else if (context.cloud === "azure" && queueRecovery === "shared") {
            r.report(
                "backup.copyToRegion",
                "copies the data disks' backups, but with storage.queueRecovery: shared the queue is on an NFS share, whose snapshots Azure cannot copy to another region (docs/operations.md#disaster-recovery); remove the key",
            );
        }
    }
    if (!enabled) {
        for (const key of ["everyHours", "retentionDays", "copyToRegion"] as const) {
            if (obj[key] !== undefined) r.report(`backup.${key}`, "sets backups, but backup.enabled is false: remove the key, or turn backups on");
        }
    }
    const copyTo = copyToRegion !== undefined && context.cloud === "azure" ? normalizeAzureLocation(copyToRegion) : copyToRegion;
    return { enabled, everyHours, retentionDays, ...(copyTo !== undefined && context.cloud !== undefined ? { copyToRegion: copyTo } : {}) };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM text, parsed; a problem names what is wrong. */
function readCertificates(r: Reader, key: string, text: string): crypto.X509Certificate[] | undefined {
    const blocks = text.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) {
        r.report(key, "is not a PEM certificate: expected text from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE----- (a file's content, not its path)");
        return undefined;
    }
    try {
        return blocks.map((b) => new crypto.X509Certificate(b));
    } catch (e) {
        r.report(key, `holds a certificate that cannot be read (${(e as Error).message}): give the PEM text as openssl writes it`);
        return undefined;
    }
}

function readTls(r: Reader, value: unknown, network: NetworkConfig, stackKeys: StackKey[] | undefined): TlsConfig {
    const obj = r.object("tls", value, NESTED_KEYS.tls) ?? {};
    const enabled = obj.enabled === undefined ? network.public : (r.boolean("tls.enabled", obj.enabled) ?? network.public);
    const text = (key: "certificate" | "privateKey" | "clientCa"): pulumi.Input<string> | undefined => {
        const v = obj[key];
        // Deferred, or encrypted in a stack file the offline tools read: given, and not checked here.
        if (v === undefined || isDeferred(v) || v === UNREADABLE_SECRET) return v as pulumi.Input<string> | undefined;
        const s = r.string(`tls.${key}`, v);
        return s === undefined || s.trim() === "" ? (s === undefined ? undefined : (r.report(`tls.${key}`, "is empty: give the PEM text, or remove the key"), undefined)) : s;
    };
    const certificate = text("certificate");
    const privateKey = text("privateKey");
    const clientCa = text("clientCa");
    if (!enabled) {
        for (const key of ["certificate", "privateKey", "clientCa"] as const) {
            if (obj[key] !== undefined) r.report(`tls.${key}`, "is a TLS setting, but tls.enabled is false: remove the key, or turn TLS on");
        }
        return { enabled };
    }
    if ((certificate === undefined) !== (privateKey === undefined)) {
        r.report(
            certificate === undefined ? "tls.certificate" : "tls.privateKey",
            "is required with tls." +
                (certificate === undefined ? "privateKey" : "certificate") +
                ": give the certificate and its key together, or neither (a self-signed certificate)",
        );
    }
    if (privateKey !== undefined) refuseSecretInClear(r, "tls.privateKey", stackKeys);
    const readable = (v: pulumi.Input<string> | undefined): v is string => typeof v === "string" && v !== UNREADABLE_SECRET;
    const chain = readable(certificate) ? readCertificates(r, "tls.certificate", certificate) : undefined;
    if (chain) {
        const leaf = chain[0];
        if (new Date(leaf.validTo).getTime() < Date.now()) r.report("tls.certificate", `expired on ${leaf.validTo}: give a current certificate`);
        if (leaf.ca) r.report("tls.certificate", "starts with a CA certificate: put the server's own certificate first, then its intermediates");
    }
    if (readable(privateKey)) {
        let key: crypto.KeyObject | undefined;
        try {
            key = crypto.createPrivateKey(privateKey);
        } catch {
            r.report(
                "tls.privateKey",
                "is not a PEM private key (expected -----BEGIN PRIVATE KEY----- or an RSA / EC key, unencrypted): stunnel reads it at every reload, without a passphrase",
            );
        }
        if (key && chain && !chain[0].checkPrivateKey(key))
            r.report("tls.privateKey", "is not the key of tls.certificate's first certificate: give the pair that belongs together");
    }
    if (readable(clientCa)) {
        const cas = readCertificates(r, "tls.clientCa", clientCa);
        if (cas?.some((c) => !c.ca)) r.report("tls.clientCa", "holds a certificate that is not a CA: give the CA certificates client certificates chain to");
    }
    return {
        enabled,
        ...(certificate !== undefined ? { certificate } : {}),
        ...(privateKey !== undefined ? { privateKey } : {}),
        ...(clientCa !== undefined ? { clientCa } : {}),
    };
}

/** With TLS on, stunnel takes a port per channel and the dashboard from TLS_LISTEN_PORT_BASE (tlsListeners): no channel may use one. */
function checkTlsListenPorts(r: Reader, channels: ChannelConfig[], iguana: IguanaConfig): void {
    const last = TLS_LISTEN_PORT_BASE + channels.length;
    const taken = (port: number) => port >= TLS_LISTEN_PORT_BASE && port <= last;
    channels.forEach((c, i) => {
        if (taken(c.port))
            r.report(`channels[${i}].port`, `${c.port} is one of the ports stunnel listens on with TLS on (${TLS_LISTEN_PORT_BASE}-${last}): pick a port outside them`);
    });
    if (taken(iguana.webPort))
        r.report("iguana.webPort", `${iguana.webPort} is one of the ports stunnel listens on with TLS on (${TLS_LISTEN_PORT_BASE}-${last}): pick a port outside them`);
}

/** An address SNS and Azure Monitor both deliver to: one @, a dot in the domain, no spaces or angle brackets. */
const EMAIL_PATTERN = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;".]{2,}$/;

function readAlerts(r: Reader, value: unknown, context: LeafContext, stackKeys: StackKey[] | undefined): AlertsConfig {
    const obj = r.object("alerts", value, NESTED_KEYS.alerts) ?? {};
    const webhookUrl = readWebhookUrl(r, obj.webhookUrl, stackKeys);
    const emails = readAlertEmails(r, obj.emails);
    const unhealthyMinutes = readLeaf<number>(r, "alerts.unhealthyMinutes", obj.unhealthyMinutes, context)!;
    const windows: readonly number[] = SIGNAL_ALARM_WINDOWS;
    if (obj.unhealthyMinutes !== undefined && Number.isInteger(unhealthyMinutes) && !windows.includes(unhealthyMinutes)) {
        r.report(
            "alerts.unhealthyMinutes",
            `${unhealthyMinutes} minutes is not a window both clouds' alarms take (an Azure metric alert's windowSize); allowed: ${windows.join(", ")}`,
        );
    }
    const diskFillPercent = readLeaf<number>(r, "alerts.diskFillPercent", obj.diskFillPercent, context)!;
    return { emails, unhealthyMinutes, diskFillPercent, ...(webhookUrl !== undefined ? { webhookUrl } : {}) };
}

/** `alerts.webhookUrl`: an https URL, kept secret (its path or query is the credential of most webhooks). */
function readWebhookUrl(r: Reader, value: unknown, stackKeys: StackKey[] | undefined): pulumi.Input<string> | undefined {
    if (value === undefined) return undefined;
    // Deferred, or encrypted in a stack file the offline tools read: given, and not checked here.
    const given = isDeferred(value) || value === UNREADABLE_SECRET;
    const text = given ? undefined : r.string("alerts.webhookUrl", value);
    if (!given && text === undefined) return undefined;
    if (text !== undefined && !isHttpsUrl(text)) {
        r.report(
            "alerts.webhookUrl",
            `is not an https URL; allowed: one address such as https://events.pagerduty.com/integration/<key>/enqueue (plain http is refused: the URL and the alerts would cross the network in clear)`,
        );
        return undefined;
    }
    refuseSecretInClear(r, "alerts.webhookUrl", stackKeys);
    return (text ?? value) as pulumi.Input<string>;
}

/** A secret leaf (the contract's `secret`) whose key the stack file holds in clear is refused, with the command that keeps it secret. */
function refuseSecretInClear(r: Reader, path: string, stackKeys: StackKey[] | undefined): void {
    const found = secretLeaves().find(({ key, leaf }) => `${key}.${leaf}` === path);
    if (!found) throw new Error(`contract: ${path} is not a secret leaf`);
    if (!stackKeys?.some((k) => k.key === `${PROJECT}:${found.key}` && k.value !== undefined)) return;
    r.report(
        path,
        `is stored in clear in the stack file: set it again with \`pulumi config set --path --secret '${path}' ${found.secret.setWith}\` (and ${found.secret.afterwards})`,
    );
}

function isHttpsUrl(text: string): boolean {
    try {
        const url = new URL(text);
        return url.protocol === "https:" && url.hostname !== "";
    } catch {
        return false;
    }
}

function readAlertEmails(r: Reader, emails: unknown): string[] {
    if (emails === undefined) return [];
    if (!Array.isArray(emails)) {
        r.report("alerts.emails", `must be a list of email addresses such as ["hl7-oncall@hospital.example"]; got ${describe(emails)}`);
        return [];
    }
    if (emails.length > ALERT_EMAILS_MAX) r.report("alerts.emails", `has ${emails.length} addresses; allowed: at most ${ALERT_EMAILS_MAX} (use a distribution list)`);
    const seen = new Set<string>();
    emails.forEach((email, i) => {
        if (typeof email !== "string" || !EMAIL_PATTERN.test(email)) {
            r.report(
                `alerts.emails[${i}]`,
                `${typeof email === "string" ? `"${email}"` : describe(email)} is not an email address; allowed: one address such as hl7-oncall@hospital.example`,
            );
        } else if (seen.has(email.toLowerCase())) {
            r.report(`alerts.emails[${i}]`, `"${email}" is listed twice: remove one`);
        }
        if (typeof email === "string") seen.add(email.toLowerCase());
    });
    return emails.filter((e): e is string => typeof e === "string");
}
