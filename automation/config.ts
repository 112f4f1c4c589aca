/**
 * Configuration given in code: the same keys as a stack file, checked by the same config model,
 * mapped to the flat `project:key` config a stack stores. Secret values travel separately so
 * they are set with `secret: true` and can be kept out of every message.
 */
import type { ConfigMap } from "@pulumi/pulumi/automation";
import type * as pulumi from "@pulumi/pulumi";
import type { HaIguanaClusterArgs } from "../components/args";
import { CONFIG_KEYS, ClusterConfig, ConfigProblem, ConfigValidationError, REGION_KEY, RawClusterConfig, validateClusterConfig } from "../components/config";
import { CLOUDS, Cloud, PROJECT } from "../components/constants";
import { secretLeaves } from "../components/contract";
import { toPulumiConfig } from "../offline/stack-config";

/** `T` with every `pulumi.Input` leaf resolved to its value, deeply. */
export type Plain<T> =
    T extends pulumi.OutputInstance<infer U>
        ? Plain<U>
        : T extends Promise<infer U>
          ? Plain<U>
          : T extends (infer E)[]
            ? Plain<E>[]
            : T extends object
              ? { [K in keyof T]: Plain<T[K]> }
              : T;

/**
 * A stack's configuration as an object: HaIguanaCluster's args (components/args.ts), with plain
 * values where the component takes Outputs, because they are written into the stack's config.
 * `region` is the provider's `aws:region` or `azure-native:location`. Optional keys take the
 * documented defaults.
 */
export type ClusterConfigInput = Plain<HaIguanaClusterArgs>;

/**
 * Secret config values by key, set with `secret: true` (encrypted by the stack's secrets
 * provider, shown as `[secret]` by Pulumi). A key without a namespace is in `iguana-ha`.
 * Meant for provider credentials (`aws:secretKey`, `azure-native:clientSecret`) and for secret
 * project keys such as a license; contract keys are refused (see `secretConfigProblems`).
 */
export type SecretConfig = Record<string, string>;

export const INPUT_KEYS: readonly string[] = [...CONFIG_KEYS, "region"];

export interface PreparedConfig {
    /** The validated configuration the inline program builds from. */
    cluster: ClusterConfig;
    /** What is set on the stack: every given contract key, the region key, the secrets. */
    configMap: ConfigMap;
    /** The secret values, to redact from anything shown. */
    secretValues: string[];
}

function qualify(key: string): string {
    return key.includes(":") ? key : `${PROJECT}:${key}`;
}

function unknownKeyProblems(input: object): ConfigProblem[] {
    return Object.keys(input)
        .filter((key) => !INPUT_KEYS.includes(key))
        .map((key) => ({ key: qualify(key), message: `is not a known key; allowed: ${INPUT_KEYS.join(", ")}` }));
}

/**
 * Problems with the secret values; never quotes a value. Contract keys (and paths under them,
 * such as `iguana.installerUrl`) are refused: the program copies them into each worker's
 * bootstrap, which is stored in clear text, so marking them secret would promise what it
 * cannot keep.
 */
export function secretConfigProblems(secretConfig: SecretConfig, cloud: unknown): ConfigProblem[] {
    const regionKeys = CLOUDS.includes(cloud as Cloud) ? [REGION_KEY[cloud as Cloud]] : Object.values(REGION_KEY);
    const problems: ConfigProblem[] = [];
    for (const [key, value] of Object.entries(secretConfig)) {
        const fullKey = qualify(key);
        const [namespace, name = ""] = fullKey.split(":", 2);
        const topKey = name.split(/[.[]/)[0];
        if (!/^[A-Za-z0-9_-]+:[A-Za-z0-9_.[\]-]+$/.test(fullKey)) {
            problems.push({ key: fullKey, message: "(in secretConfig) is not a config key; use namespace:name, such as aws:secretKey" });
        } else if ((namespace === PROJECT && (CONFIG_KEYS as readonly string[]).includes(topKey)) || regionKeys.includes(fullKey)) {
            problems.push({
                key: fullKey,
                message:
                    "(in secretConfig) is part of the configuration contract: give it in config. Its value is written into the " +
                    "workers' bootstrap in clear text, so it cannot be kept secret",
            });
        }
        if (typeof value !== "string" || value.length === 0) {
            problems.push({ key: fullKey, message: "(in secretConfig) must be a non-empty string" });
        }
    }
    return problems;
}

/** The secret leaves a configuration given in code sets (the contract's `secret`), with their top-level key. */
function givenSecretLeaves(input: ClusterConfigInput): [string, unknown][] {
    return secretLeaves()
        .map(({ key, leaf }): [string, unknown] => [key, (input[key as keyof ClusterConfigInput] as Record<string, unknown> | undefined)?.[leaf]])
        .filter(([, value]) => value !== undefined);
}

/** The flat stack config for a configuration given in code: what a stack file would hold. */
export function toStackConfigMap(input: ClusterConfigInput, secretConfig: SecretConfig = {}): ConfigMap {
    const values: Record<string, unknown> = { [REGION_KEY[input.cloud]]: input.region };
    for (const key of CONFIG_KEYS) values[key] = input[key];
    const configMap: ConfigMap = {};
    // A secret leaf makes its whole key secret, as `pulumi config set --path --secret` does.
    const secretKeys = givenSecretLeaves(input).map(([key]) => `${PROJECT}:${key}`);
    for (const [key, value] of Object.entries(toPulumiConfig(PROJECT, values))) configMap[key] = { value, secret: secretKeys.includes(key) };
    for (const [key, value] of Object.entries(toPulumiConfig(PROJECT, secretConfig))) configMap[key] = { value, secret: true };
    return configMap;
}

/**
 * Validates a configuration given in code with the config model, plus the checks only code
 * needs (unknown top-level keys, the secrets), and throws one `ConfigValidationError` with every
 * problem. Nothing touches a workspace before this returns.
 */
export function prepareConfig(stackName: string, input: ClusterConfigInput, secretConfig: SecretConfig = {}): PreparedConfig {
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
        throw new ConfigValidationError([{ key: PROJECT, message: `config must be an object with keys ${INPUT_KEYS.join(", ")}` }]);
    }
    const secrets = secretConfig ?? {};
    const problems = [...unknownKeyProblems(input), ...secretConfigProblems(secrets, input.cloud)];
    let cluster: ClusterConfig | undefined;
    try {
        // It becomes a stack's config, which names its region (the program's plan and quotas need it).
        cluster = validateClusterConfig({ ...(input as RawClusterConfig), stackKeys: [] }, stackName);
    } catch (error) {
        if (!(error instanceof ConfigValidationError)) throw error;
        problems.push(...error.problems);
    }
    if (problems.length > 0 || !cluster) throw new ConfigValidationError(problems);
    return {
        cluster,
        configMap: toStackConfigMap(input, secrets),
        secretValues: [...Object.values(secrets), ...givenSecretLeaves(input).flatMap(([, value]) => (typeof value === "string" ? [value] : []))],
    };
}
