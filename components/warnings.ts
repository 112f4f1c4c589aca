/**
 * What a valid configuration still gets wrong on day one: a cluster that deploys but never
 * turns healthy, sample values that reach production, a quota the first `pulumi up` runs into.
 * HaIguanaCluster emits each with `pulumi.log.warn` (so `pulumi preview` shows them) and the
 * offline plan prints them. Pure.
 */
import { cidrContains, parseCidr } from "./cidr";
import { ClusterConfig, REGION_KEY } from "./config";
import { AZURE_SHARE_SNAPSHOT_LIMIT, DOCUMENTATION_CIDRS, PROJECT, shareSnapshotKeepDays } from "./constants";
import { quotaUsage } from "./quotas";

export interface DeploymentWarning {
    /** The key to change, qualified like validation problems (`iguana-ha:iguana.installerUrl`). */
    key: string;
    message: string;
}

function overlapsDocumentationRange(cidr: string): string | undefined {
    const given = parseCidr(cidr);
    return DOCUMENTATION_CIDRS.find((range) => {
        const doc = parseCidr(range);
        return cidrContains(doc, given) || cidrContains(given, doc);
    });
}

export function deploymentWarnings(cfg: ClusterConfig): DeploymentWarning[] {
    const warnings: DeploymentWarning[] = [];
    const warn = (key: string, message: string) => warnings.push({ key: key.includes(":") ? key : `${PROJECT}:${key}`, message });

    if (cfg.iguana.installerUrl === undefined) {
        warn(
            "iguana.installerUrl",
            "is not set: the workers boot without Iguana, so no health check ever passes and the load balancer sends nothing to them; " +
                "set it to the URL of your licensed Iguana installer (pulumi config set --path iguana-ha:iguana.installerUrl <url>); " +
                "it is written into the workers' boot configuration in clear text, so never a URL that embeds a credential",
        );
    } else if (cfg.iguana.installerSha256 === undefined) {
        warn("iguana.installerSha256", "is not set: the workers install whatever the installer URL serves, unchecked; set it to the output of `sha256sum <installer>`");
    }
    const url = cfg.iguana.installerUrl;
    if (typeof url === "string" && url.startsWith("http://")) {
        warn("iguana.installerUrl", "is plain http: the installer crosses the network unencrypted; use an https URL");
    }

    for (const list of ["allowedCidrs", "adminCidrs"] as const) {
        cfg.network[list].forEach((cidr, i) => {
            const range = overlapsDocumentationRange(cidr);
            if (range) {
                warn(
                    `network.${list}[${i}]`,
                    `"${cidr}" is in the documentation range ${range} (RFC 5737), a sample value no real ${list === "allowedCidrs" ? "sender" : "admin network"} has: ` +
                        `list your own networks before this stack carries real traffic`,
                );
            }
        });
    }
    if (cfg.alerts.emails.length === 0 && cfg.alerts.webhookUrl === undefined) {
        warn(
            "alerts.emails",
            "is empty and alerts.webhookUrl is not set: every alert the cluster raises (a channel with no healthy worker, a failover, a lost standby, backups stopping) tells nobody; " +
                "add the on-call address: pulumi config set --path 'iguana-ha:alerts.emails[0]' <address> (docs/operations.md#alerts)",
        );
    }
    const { everyHours, retentionDays } = cfg.backup;
    const shareKeepDays = shareSnapshotKeepDays(everyHours, retentionDays);
    if (cfg.backup.enabled && cfg.cloud === "azure" && cfg.storage.queueRecovery === "shared" && shareKeepDays < retentionDays) {
        warn(
            "backup.retentionDays",
            `${retentionDays} days of share snapshots every ${everyHours} h would be ${Math.ceil((retentionDays * 24) / everyHours)}, and an Azure Files share keeps at most ${AZURE_SHARE_SNAPSHOT_LIMIT}: ` +
                `the shared queue's snapshots are kept ${shareKeepDays} days; set backup.retentionDays to ${shareKeepDays} or less, or backup.everyHours higher (docs/operations.md#backups)`,
        );
    }
    cfg.network.egress.destinations.forEach(({ cidr }, i) => {
        const range = overlapsDocumentationRange(cidr);
        if (range) {
            warn(
                `network.egress.destinations[${i}].cidr`,
                `"${cidr}" is in the documentation range ${range} (RFC 5737), a sample value no real destination has: list the systems Iguana sends to`,
            );
        }
    });
    if (cfg.network.public && !cfg.tls.enabled) {
        warn(
            "tls.enabled",
            "is false on an internet-facing cluster: every channel and the dashboard (with its admin login) cross the Internet in clear, protected only by the source allow-lists " +
                "(HIPAA 164.312(e)(1)); remove the key to turn TLS on, or set network.public to false for a cluster reached only over a VPN (docs/tls.md)",
        );
    } else if (cfg.tls.enabled && cfg.tls.certificate === undefined) {
        warn(
            "tls.certificate",
            "is not set: the channels and the dashboard serve a self-signed certificate the cluster made, which senders must be given (pinned) to trust; " +
                "set your own certificate and key before go-live: pulumi config set --path 'iguana-ha:tls.certificate' < chain.pem, and --secret for tls.privateKey (docs/tls.md#certificates)",
        );
    }
    if (cfg.cloud === "azure" && !cfg.storage.customerManagedKey) {
        warn(
            "storage.customerManagedKey",
            "is false: the workers' OS and data disks are encrypted with platform-managed keys, which the cluster cannot rotate, disable or audit; " +
                "set it to true for a new cluster (for running workers it needs them stopped: docs/security.md#customer-managed-keys-on-azure)",
        );
    }
    if (!cfg.network.egress.restricted) {
        warn(
            "network.egress.restricted",
            "is false: the workers may open connections to any address on any port; list the systems Iguana sends to in network.egress.destinations and set it to true (docs/security.md#outbound-traffic)",
        );
    }
    if (cfg.workers.rebuild !== undefined) {
        warn(
            "workers.rebuild",
            `is "${cfg.workers.rebuild}": pulumi up replaces that worker if its boot configuration${cfg.cloud === "aws" ? " or the newest Ubuntu AMI" : ""} differs from what it runs; ` +
                "it must be the passive one (lease-guard.py ... show names the holder); remove the key once both are rebuilt (docs/operations.md#changing-what-the-workers-boot-with)",
        );
    }
    if (cfg.network.adminCidrs.length === 0) {
        warn("network.adminCidrs", "is empty: nobody can open the Iguana dashboard through the VIP (only through SSM or az vm run-command)");
    }

    for (const use of quotaUsage(cfg)) {
        if (use.needed > use.limit) {
            warn(
                REGION_KEY[cfg.cloud],
                `${cfg.region ?? "the provider's region"}: this stack needs ${use.needed} ${use.quota} ${use.scope}, above the default quota of ${use.limit}; ` +
                    (use.adjustable ? "request an increase (and count what the account already uses there) before pulumi up" : "this limit is not adjustable"),
            );
        }
    }
    return warnings;
}

export function warningText(warning: DeploymentWarning): string {
    return `${warning.key}: ${warning.message}`;
}
