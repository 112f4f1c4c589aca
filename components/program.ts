/** The program: read the stack's config, validate it, build the cluster, return the outputs. */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_KEYS, ClusterConfig, ConfigValidationError, RawClusterConfig, StackKey, validateClusterConfig } from "./config";
import { CLUSTER_NAME, PROJECT } from "./constants";
import { HaIguanaCluster } from "./cluster";

function readJsonOrText(config: pulumi.Config, key: string): unknown {
    const text = config.get(key);
    if (text === undefined) return undefined;
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

/** Reads every contract key of the current stack, untyped, for validation. */
export function readRawConfig(): RawClusterConfig {
    const project = new pulumi.Config(PROJECT);
    const raw: RawClusterConfig = {};
    for (const key of CONFIG_KEYS) {
        raw[key] = readJsonOrText(project, key);
    }
    if (raw.cloud === "aws") raw.region = new pulumi.Config("aws").get("region");
    if (raw.cloud === "azure") raw.region = new pulumi.Config("azure-native").get("location");
    raw.stackKeys = stackKeys();
    return raw;
}

/**
 * Every key of the stack's config. A value is kept (to appear in a hint) only when the engine
 * said which keys are secret and this one is not: secrets never reach a message.
 */
function stackKeys(): StackKey[] {
    const sdkConfig: { isConfigSecret?: (key: string) => boolean; configSecretKeysEnvKey?: string } = require("@pulumi/pulumi/runtime/config");
    const sdkState: { getStore?: () => { config?: Record<string, string> } } = require("@pulumi/pulumi/runtime/state");
    const secretKeysKnown =
        typeof sdkConfig.isConfigSecret === "function" &&
        sdkConfig.configSecretKeysEnvKey !== undefined &&
        Boolean(sdkState.getStore?.().config?.[sdkConfig.configSecretKeysEnvKey]);
    return Object.entries(pulumi.runtime.allConfig()).map(([key, value]) => ({ key, value: secretKeysKnown && !sdkConfig.isConfigSecret!(key) ? value : undefined }));
}

export function loadClusterConfig(): ClusterConfig {
    return validateClusterConfig(readRawConfig(), pulumi.getStack());
}

/** The stack outputs of the contract. */
export function program(config: ClusterConfig = loadClusterConfig()) {
    const cluster = new HaIguanaCluster(CLUSTER_NAME, config);
    return {
        cloud: cluster.cloud,
        vip: cluster.vip,
        vipAddresses: cluster.vipAddresses,
        dashboardUrl: cluster.dashboardUrl,
        channelEndpoints: cluster.channelEndpoints,
        workers: cluster.workers,
    };
}

export { ConfigValidationError };
