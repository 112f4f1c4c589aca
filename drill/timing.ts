/**
 * The timings the drill runs with and the failover budget it holds the outage to. Pure.
 *
 * Load balancer: the stack's own failover settings (`failover.healthCheckIntervalSeconds`,
 * `failover.unhealthyThreshold`, the per-attempt timeout from `healthCheckTimeoutSeconds`),
 * the same values the AWS target groups and Azure probes are built from. `--fast` shortens
 * only the interval, for quick local runs; CI uses the real values.
 *
 * keepalived: the `VRRP` constants the rendered keepalived.conf uses (never scaled: the drill
 * runs the rendered file).
 */
import { VRRP } from "../components/bootstrap";
import { Cloud, VIP_MOVE } from "../components/constants";
import { ClusterConfig } from "../components/config";
import { healthCheckTimeoutSeconds } from "../components/model";

export interface LbTiming {
    intervalSeconds: number;
    /** Unhealthy and healthy threshold: both clouds get the same number (config.ts). */
    threshold: number;
    /** Per-check timeout. */
    timeoutSeconds: number;
    /** Idle timeout of LLP flows. */
    idleTimeoutSeconds: number;
}

/** Interval used by `--fast`: HAProxy accepts it; no cloud does (both floor at 5 s). */
export const FAST_INTERVAL_SECONDS = 2;

export function lbTiming(cfg: ClusterConfig, fast = false): LbTiming {
    const intervalSeconds = fast ? Math.min(FAST_INTERVAL_SECONDS, cfg.failover.healthCheckIntervalSeconds) : cfg.failover.healthCheckIntervalSeconds;
    return {
        intervalSeconds,
        threshold: cfg.failover.unhealthyThreshold,
        // Never longer than the interval, as on the clouds.
        timeoutSeconds: Math.min(healthCheckTimeoutSeconds(intervalSeconds), intervalSeconds),
        idleTimeoutSeconds: cfg.failover.idleTimeoutSeconds,
    };
}

/** How the drill's HL7 sender behaves; part of the budget's margin. */
export interface SenderTiming {
    /** Send the next message this long after the previous ACK. */
    intervalMs: number;
    /** Give up waiting for an ACK after this long, drop the connection and resend. */
    ackTimeoutMs: number;
    /** Wait this long before reconnecting after a timeout, a reset or a refused connection. */
    reconnectDelayMs: number;
}

export const SENDER_TIMING: SenderTiming = { intervalMs: 50, ackTimeoutMs: 3000, reconnectDelayMs: 200 };

/** Fixed slack for process scheduling on a 2-core machine running several scenarios at once. */
export const SLACK_MS = 2000;

export type Detection = "vrrp" | "track-script";

/**
 * How long the backup's keepalived needs to notice the primary is gone.
 * - vrrp: the master-down interval, 3 x advert_int + skew, skew = (256 - priority) / 256 x advert_int
 *   (RFC 3768, what keepalived implements), for the backup's own priority.
 * - track-script: the primary's track script fails `fall` times, `interval` apart, each run
 *   taking up to its timeout; the primary then leaves MASTER with a priority-0 advert and the
 *   backup takes over after its skew time.
 */
export function keepalivedDetectionMs(detection: Detection, backupPriority: number): number {
    const advertMs = VRRP.advertIntervalSeconds * 1000;
    const skewMs = ((256 - backupPriority) / 256) * advertMs;
    if (detection === "vrrp") return 3 * advertMs + skewMs;
    return VRRP.checkIntervalSeconds * 1000 * VRRP.checkFall + VRRP.checkTimeoutSeconds * 1000 + skewMs;
}

export interface Budget {
    keepalivedMs: number;
    /**
     * Interval x threshold: the longest the LB takes to mark the new active worker up (and the
     * old one down); plus one check timeout when the old worker goes silent, because a check
     * of a silent target only fails when it times out.
     */
    lbMs: number;
    /**
     * Floating IP only (no LB, `lbMs` 0): the new MASTER's VIP mover starts and asks the cloud,
     * and the cloud applies the change (see `vipMoveMs`).
     */
    vipMoveMs?: number;
    /** The sender's ACK timeout and reconnect delay, plus fixed slack. */
    marginMs: number;
    /**
     * Shared storage only: Iguana starts on the backup after its promotion (here the stand-in,
     * a Node process; a real Iguana takes its own start-up time, longer with a large queue).
     */
    iguanaStartMs: number;
    totalMs: number;
}

/**
 * What the drill allows the Iguana stand-in to start after a promotion (shared mode): Node with
 * ts-node and the HL7 library, on a 2-core machine running several scenarios at once.
 */
export const STANDIN_START_BUDGET_MS = 6000;

/**
 * The longest outage a failover may cause: the backup is MASTER within the keepalived
 * detection time; the LB needs at most `threshold` checks, `interval` apart, after that to
 * route to it, and at most the same after the fault to stop routing to the old one (plus one
 * check timeout when the old one went silent: its checks fail only by timing out); a sender then
 * loses at most one ACK timeout (a request stuck on the old worker) and one reconnect delay.
 */
export function failoverBudget(
    detection: Detection,
    backupPriority: number,
    lb: LbTiming,
    options: { silentPrimary?: boolean; sender?: SenderTiming; iguanaStartMs?: number } = {},
): Budget {
    const sender = options.sender ?? SENDER_TIMING;
    const keepalivedMs = Math.round(keepalivedDetectionMs(detection, backupPriority));
    const lbMs = lb.intervalSeconds * 1000 * lb.threshold + (options.silentPrimary ? lb.timeoutSeconds * 1000 : 0);
    const marginMs = sender.ackTimeoutMs + sender.reconnectDelayMs + SLACK_MS;
    const iguanaStartMs = options.iguanaStartMs ?? 0;
    return { keepalivedMs, lbMs, marginMs, iguanaStartMs, totalMs: keepalivedMs + lbMs + marginMs + iguanaStartMs };
}

/**
 * How long the stand-in cloud takes to apply an Elastic IP change (AssociateAddress,
 * DisassociateAddress). AWS publishes no figure; a reassociation is reported to take effect within
 * single-digit seconds, and ClusterLabs' awseip resource agent (resource-agents,
 * heartbeat/awseip) waits `api_delay`, default 3 s, after `aws ec2 associate-address`.
 */
export const AWS_EIP_MOVE_DELAY_MS = 3000;

/**
 * How long the stand-in cloud takes to apply one NIC update (detach or attach the Public IP):
 * EMULATED, shorter than Azure. Microsoft's "Deploy highly available NVAs" guide gives the
 * whole move of a Public IP between NICs a "High convergence time of 1-2 minutes"
 * (AZURE_PUBLIC_IP_MOVE_SECONDS); the drill uses 5 s per update (a move is two updates) so that
 * it runs in CI time, and says so in its output. `--vip-move-delay-ms` sets another value.
 */
export const AZURE_NIC_UPDATE_EMULATED_DELAY_MS = 5000;

/** Microsoft, "Deploy highly available NVAs": moving a Public IP takes 1-2 minutes. */
export const AZURE_PUBLIC_IP_MOVE_SECONDS = { min: 60, max: 120 } as const;

/**
 * What the drill allows the new MASTER's mover before its first change request reaches the
 * cloud: the notify script, `setsid`, python3 starting, IMDS (token, instance id or identity
 * token, credentials) and a read of who holds the VIP, on a 2-core machine running seven
 * scenarios at once.
 */
export const VIP_MOVER_START_BUDGET_MS = 2000;

export interface VipMoveTiming {
    cloud: Cloud;
    /** Time the stand-in takes to apply each change. */
    delayMs: number;
    /** Changes per move: AWS one (AssociateAddress allowing reassociation); Azure two (detach from the old NIC, attach to the new). */
    changes: number;
    /** Azure: the mover re-reads a NIC this often while its update runs before it sends the next one. */
    pollMs: number;
    moverStartMs: number;
}

export function vipMoveTiming(cloud: Cloud, delayMs?: number): VipMoveTiming {
    return cloud === "aws"
        ? { cloud, delayMs: delayMs ?? AWS_EIP_MOVE_DELAY_MS, changes: 1, pollMs: 0, moverStartMs: VIP_MOVER_START_BUDGET_MS }
        : { cloud, delayMs: delayMs ?? AZURE_NIC_UPDATE_EMULATED_DELAY_MS, changes: 2, pollMs: VIP_MOVE.azurePollSeconds * 1000, moverStartMs: VIP_MOVER_START_BUDGET_MS };
}

/** The longest a move should take from the promotion: the mover's start, each change, and the polls between them. */
export function vipMoveMs(t: VipMoveTiming): number {
    return t.moverStartMs + t.changes * t.delayMs + (t.changes - 1) * t.pollMs;
}

/**
 * The longest outage a failover may cause with a floating IP (no load balancer): the backup is
 * MASTER within the keepalived detection time, its notify starts the mover, which moves the VIP
 * within `vipMoveMs`; a sender then loses at most one ACK (or connect) timeout on a flow stuck
 * to the old worker and one reconnect delay.
 */
export function floatingBudget(
    detection: Detection,
    backupPriority: number,
    move: VipMoveTiming,
    options: { sender?: SenderTiming; iguanaStartMs?: number } = {},
): Budget {
    const sender = options.sender ?? SENDER_TIMING;
    const keepalivedMs = Math.round(keepalivedDetectionMs(detection, backupPriority));
    const moveMs = vipMoveMs(move);
    const marginMs = sender.ackTimeoutMs + sender.reconnectDelayMs + SLACK_MS;
    const iguanaStartMs = options.iguanaStartMs ?? 0;
    return { keepalivedMs, lbMs: 0, vipMoveMs: moveMs, marginMs, iguanaStartMs, totalMs: keepalivedMs + moveMs + marginMs + iguanaStartMs };
}
