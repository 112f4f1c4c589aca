/**
 * The library: `HaIguanaCluster` and what a program needs around it. Importing this module
 * registers nothing (the shipped program is `index.ts`, which Pulumi.yaml names as `main`).
 */
export { HaIguanaCluster } from "./cluster";
export type { ChannelArgs, ExistingNetworkArgs, ExistingSubnetArgs, FailoverArgs, HaIguanaClusterArgs, IguanaArgs, NetworkArgs, StorageArgs, WorkersArgs } from "./args";
export { ConfigValidationError, validateClusterConfig } from "./config";
export type { ChannelConfig, ClusterConfig, ConfigProblem, FailoverConfig, IguanaConfig, NetworkConfig, RawClusterConfig, StorageConfig, WorkersConfig } from "./config";
export type { ChannelEndpoint, WorkerOutput } from "./model";
export type { AwsClusterResources } from "./aws";
export type { AzureClusterResources } from "./azure";
