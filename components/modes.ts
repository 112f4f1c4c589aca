/**
 * What the chosen mode guarantees, what a failover costs in downtime, and what it costs in
 * money: one description, printed by the offline plan and mirrored in the README. Pure.
 */
import { ClusterConfig } from "./config";
import { IGUANA_START_GRACE_SECONDS, QueueRecovery } from "./constants";
import { VRRP } from "./bootstrap/settings";

export interface ModeDescription {
    key: string;
    value: string;
    summary: string;
    guarantees: string;
    downtime: string;
    cost: string;
}

/** keepalived's master-down interval for WK2 (priority 100): 3 x advert + skew, about 3.6 s. */
export function keepalivedDetectionSeconds(): number {
    const advert = VRRP.advertIntervalSeconds;
    return Math.round((3 * advert + ((256 - 100) / 256) * advert) * 10) / 10;
}

export function describeQueueRecovery(cfg: ClusterConfig): ModeDescription {
    const mode: QueueRecovery = cfg.storage.queueRecovery;
    const lbSeconds = cfg.failover.healthCheckIntervalSeconds * cfg.failover.unhealthyThreshold;
    const detection = `keepalived detection (about ${keepalivedDetectionSeconds()} s) + load balancer health checks (up to ${lbSeconds} s: ${cfg.failover.healthCheckIntervalSeconds} s x ${cfg.failover.unhealthyThreshold})`;
    const storage = cfg.cloud === "aws" ? "one EFS file system (KMS-encrypted, mount target per zone, TLS)" : "one premium Azure Files NFS 4.1 share (zone-redundant, private endpoint)";
    if (mode === "shared") {
        return {
            key: "storage.queueRecovery",
            value: "shared",
            summary: `queue recovery and message order: the working directory is on ${storage}; Iguana runs only on the keepalived MASTER`,
            guarantees:
                "the backup resumes the primary's queue where it stopped, in order; nothing acknowledged is lost with the worker; two Iguanas never run on the queue while the workers see each other",
            downtime: `${detection} + Iguana start-up on the backup (seconds; minutes if it rebuilds its indexes: the track script allows ${IGUANA_START_GRACE_SECONDS} s)`,
            cost:
                cfg.cloud === "aws"
                    ? "EFS storage and elastic throughput instead of two EBS data volumes; amazon-efs-utils is built on each worker at first boot"
                    : `a premium file share provisioned at ${cfg.storage.shareGb} GiB (billed whether used or not) and a private endpoint, instead of two data disks`,
        };
    }
    return {
        key: "storage.queueRecovery",
        value: "none",
        summary: "instant failover: each worker has its own encrypted data disk and both Iguanas run; the load balancer sends traffic to the active one",
        guarantees:
            "new messages flow to the backup as soon as it is active; messages still queued on the failed worker stay on its disk until it returns (no automatic queue recovery, so no order guarantee across the failover)",
        downtime: `${detection}; Iguana is already running on the backup`,
        cost: "two data disks (one per worker)",
    };
}

/** The plan's "Mode" section. */
export function renderModes(cfg: ClusterConfig): string {
    return [describeQueueRecovery(cfg)]
        .map((m) => `${m.key}: ${m.value}: ${m.summary}\n  guarantees: ${m.guarantees}\n  downtime on failover: ${m.downtime}\n  cost: ${m.cost}`)
        .join("\n");
}
