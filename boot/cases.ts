/** The boot test's cases: every shipped stack, each edition, each failover strategy, and a failing disk step. */
import { BootCase } from "./cluster";

/**
 * failover.strategy: floating-ip on a dev stack: the keys a floating IP has no use for removed
 * (validation refuses them), as a user switching a stack would.
 */
export const FLOATING_IP_OVERRIDES: Record<"aws" | "azure", NonNullable<BootCase["overrides"]>> = {
    aws: { failover: { strategy: "floating-ip", healthCheckIntervalSeconds: null, unhealthyThreshold: null }, network: { natGateways: null } },
    azure: { failover: { strategy: "floating-ip", healthCheckIntervalSeconds: null, unhealthyThreshold: null } },
};

/** Every case the test knows; CI runs them all. */
export const BOOT_CASES: BootCase[] = [
    { label: "aws-dev", stack: "aws-dev" },
    { label: "azure-dev", stack: "azure-dev" },
    { label: "aws-prod", stack: "aws-prod" },
    { label: "azure-prod", stack: "azure-prod" },
    { label: "aws-dev iguana6 mutual-tls", stack: "aws-dev", overrides: { iguana: { edition: "iguana6" } }, mutualTls: true },
    { label: "azure-dev iguana6 mutual-tls", stack: "azure-dev", overrides: { iguana: { edition: "iguana6" } }, mutualTls: true },
    { label: "aws-dev floating-ip", stack: "aws-dev", overrides: FLOATING_IP_OVERRIDES.aws },
    { label: "azure-dev floating-ip", stack: "azure-dev", overrides: FLOATING_IP_OVERRIDES.azure },
    { label: "aws-dev failed disk step", stack: "aws-dev", failDiskStep: true },
    { label: "aws-prod egress proxy", stack: "aws-prod", egressProxy: true },
    { label: "azure-prod egress proxy", stack: "azure-prod", egressProxy: true },
];
