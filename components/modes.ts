/**
 * What the chosen mode guarantees, what a failover costs in downtime, and what it costs in
 * money: one description, printed by the offline plan and mirrored in the README. Pure.
 */
import { ClusterConfig } from "./config";
import { FailoverStrategy, IGUANA_START_GRACE_SECONDS, QueueRecovery, VIP_MOVE } from "./constants";
import { PORT_BLOCK_SIZE, shardChannels } from "./aws/scale";
import { leaseTiming } from "./bootstrap/lease";

export interface ModeDescription {
    key: string;
    value: string;
    summary: string;
    guarantees: string;
    downtime: string;
    cost: string;
}

/**
 * How long a crashed holder keeps the lease from its peer: the peer acquires once it has seen the
 * same version for a whole lease, read every L/6 (docs/lease.md): L to L + L/6 after the crash.
 */
export function leaseTakeoverText(cfg: ClusterConfig): string {
    const timing = leaseTiming(cfg.failover.leaseSeconds);
    return `the lease expiring (${timing.leaseSeconds}-${round(timing.leaseSeconds + timing.renewEverySeconds)} s after a crash; under 1 s after a clean stop or a planned switchover)`;
}

function round(n: number): number {
    return Math.round(n * 10) / 10;
}

/**
 * How long the VIP takes to follow a new MASTER, by strategy and cloud. AWS publishes no figure
 * for an Elastic IP reassociation (the ClusterLabs awseip agent waits 3 s after it; F5 measured
 * about 5 s); Microsoft's NVA HA guide gives "1-2 minutes" for moving a Public IP between NICs.
 */
export function vipFollowsText(cfg: ClusterConfig): string {
    if (cfg.failover.strategy === "floating-ip") {
        return cfg.cloud === "aws"
            ? "the Elastic IP moving to the new MASTER (seconds: AWS publishes no figure; plan for up to 30 s)"
            : "the Public IP moving to the new MASTER's NIC (1-2 minutes, Microsoft's figure: two NIC updates)";
    }
    const lbSeconds = cfg.failover.healthCheckIntervalSeconds * cfg.failover.unhealthyThreshold;
    return `load balancer health checks (up to ${lbSeconds} s: ${cfg.failover.healthCheckIntervalSeconds} s x ${cfg.failover.unhealthyThreshold})`;
}

export function describeFailoverStrategy(cfg: ClusterConfig): ModeDescription {
    const strategy: FailoverStrategy = cfg.failover.strategy;
    const detection = `${leaseTakeoverText(cfg)} + ${vipFollowsText(cfg)}`;
    if (strategy === "floating-ip") {
        const aws = cfg.cloud === "aws";
        return {
            key: "failover.strategy",
            value: "floating-ip",
            summary: aws
                ? "no load balancer: the lease holder moves one Elastic IP to itself through the EC2 API (a role that may move only that address) before it opens its ports"
                : "no load balancer: the lease holder moves one Public IP to its own NIC through Azure Resource Manager (a custom role on the two NICs, that Public IP and the subnets) before it opens its ports",
            guarantees:
                "one public address for senders, held only by the lease holder; the passive worker refuses every channel port; established MLLP connections end with the move and senders reconnect; " +
                `a failed move is retried every ${VIP_MOVE.retrySeconds} s and re-checked every ${VIP_MOVE.reconcileEverySeconds} s; no active-active channels and no private VIP` +
                (aws ? "" : "; recommended on Azure: load-balancer (the move is slow)"),
            downtime: detection,
            cost: aws
                ? "one Elastic IP and a public IPv4 address per worker, an EC2 API interface endpoint in each zone; no load balancer and no NAT gateway"
                : "one Standard Public IP and the NAT gateways for egress; no load balancer",
        };
    }
    return {
        key: "failover.strategy",
        value: "load-balancer",
        summary:
            cfg.cloud === "aws"
                ? "a Network Load Balancer holds the VIP (an Elastic IP per zone) and sends each channel to the worker that answers the role probe"
                : "a Standard Load Balancer holds the VIP (one zone-redundant Public IP) and sends each channel to the worker that answers the role probe",
        guarantees: "the VIP never moves; active-active HTTP channels and a private VIP (network.public: false) are possible",
        downtime: detection,
        cost:
            cfg.cloud === "aws"
                ? `${plural(shardChannels(cfg.channels, cfg.iguana.webPort).length, "Network Load Balancer")} (one per block of ${PORT_BLOCK_SIZE} channel ports, the dashboard on the first with room; hourly and per LCU) with an Elastic IP per zone each, and NAT gateways for the workers' egress`
                : "a Standard Load Balancer (hourly and per rule), its Public IP, and NAT gateways for the workers' egress",
    };
}

export function describeQueueRecovery(cfg: ClusterConfig): ModeDescription {
    const mode: QueueRecovery = cfg.storage.queueRecovery;
    const detection = `${leaseTakeoverText(cfg)} + ${vipFollowsText(cfg)}`;
    const storage =
        cfg.cloud === "aws" ? "one EFS file system (KMS-encrypted, mount target per zone, TLS)" : "one premium Azure Files NFS 4.1 share (zone-redundant, private endpoint)";
    if (mode === "shared") {
        return {
            key: "storage.queueRecovery",
            value: "shared",
            summary: `queue recovery and message order: the working directory is on ${storage}; Iguana runs only on the lease holder`,
            guarantees:
                "the backup resumes the primary's queue where it stopped, in order; nothing acknowledged is lost with the worker; two Iguanas never run on the queue: a holder that loses the lease kills its Iguana before the lease can expire, and the new holder stops the old holder's machine through the cloud API before it starts Iguana",
            downtime: `${detection} + Iguana start-up on the backup (seconds; minutes if it rebuilds its indexes: the health check allows ${IGUANA_START_GRACE_SECONDS} s)`,
            cost:
                cfg.cloud === "aws"
                    ? "EFS storage and elastic throughput instead of two EBS data volumes; amazon-efs-utils is built on each worker at first boot"
                    : `a premium file share provisioned at ${cfg.storage.shareGb} GiB (billed whether used or not) and a private endpoint, instead of two data disks`,
        };
    }
    return {
        key: "storage.queueRecovery",
        value: "none",
        summary: "instant failover: each worker has its own encrypted data disk and both Iguanas run; traffic goes to the active one",
        guarantees:
            "new messages flow to the backup as soon as it is active; messages still queued on the failed worker stay on its disk until it returns (no automatic queue recovery, so no order guarantee across the failover)",
        downtime: `${detection}; Iguana is already running on the backup`,
        cost: "two data disks (one per worker)",
    };
}

export function describeModes(cfg: ClusterConfig): ModeDescription[] {
    return [describeFailoverStrategy(cfg), describeQueueRecovery(cfg)];
}

/** The plan's "Mode" section. */
export function renderModes(cfg: ClusterConfig): string {
    return describeModes(cfg)
        .map((m) => `${m.key}: ${m.value}: ${m.summary}\n  guarantees: ${m.guarantees}\n  downtime on failover: ${m.downtime}\n  cost: ${m.cost}`)
        .join("\n");
}

function plural(n: number, what: string): string {
    return `${n} ${what}${n === 1 ? "" : "s"}`;
}
