/**
 * The timings the drill runs with and the failover budget it holds the outage to. Pure.
 *
 * Load balancer: the stack's own failover settings (`failover.healthCheckIntervalSeconds`,
 * `failover.unhealthyThreshold`, the per-attempt timeout from `healthCheckTimeoutSeconds`),
 * the same values the AWS target groups and Azure probes are built from. `--fast` shortens
 * only the interval, for quick local runs; CI uses the real values.
 *
 * Lease: the timing rule of the stack's `failover.leaseSeconds` (leaseTiming, the numbers the
 * rendered lease.json holds) and the guard's health check (GUARD). Never scaled: the drill runs
 * the rendered files.
 */
import { GUARD, LeaseTiming } from "../components/bootstrap";
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

/**
 * How the peer learns it may take over:
 * - expiry: the holder is gone (crash, cut, frozen); the lease must run out.
 * - release: the holder lets go (clean stop, planned switchover).
 * - health: the holder's Iguana fails its health check and the holder releases.
 */
export type Detection = "expiry" | "release" | "health";

/**
 * How long until the peer holds the lease and is active, at worst, from the fault:
 * - expiry: the holder's last renewal can have been sent just before the fault, and the peer
 *   counts a whole lease from the first read that showed that version (one read interval late at
 *   worst); then one acquire call;
 * - release: one read interval and one call;
 * - health: `fall` failed checks one interval apart, the last of them taking its request's
 *   timeout, then the release.
 */
export function takeoverMs(detection: Detection, lease: LeaseTiming): number {
    const call = lease.callTimeoutSeconds * 1000;
    const read = lease.renewEverySeconds * 1000;
    if (detection === "expiry") return lease.leaseSeconds * 1000 + read + call;
    const release = read + call;
    if (detection === "release") return release;
    return GUARD.healthEverySeconds * 1000 * GUARD.healthFall + GUARD.checkTimeoutSeconds * 1000 + release;
}

export interface Budget {
    /** The peer holds the lease and is active (takeoverMs). */
    takeoverMs: number;
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
 * The longest outage a failover may cause: the backup is active within the takeover time; the
 * LB needs at most `threshold` checks, `interval` apart, after that to route to it, and at most
 * the same after the fault to stop routing to the old one (plus one check timeout when the old
 * one went silent: its checks fail only by timing out); a sender then loses at most one ACK
 * timeout (a request stuck on the old worker) and one reconnect delay.
 */
export function failoverBudget(
    detection: Detection,
    lease: LeaseTiming,
    lb: LbTiming,
    options: { silentPrimary?: boolean; sender?: SenderTiming; iguanaStartMs?: number } = {},
): Budget {
    const sender = options.sender ?? SENDER_TIMING;
    const takeover = Math.round(takeoverMs(detection, lease));
    const lbMs = lb.intervalSeconds * 1000 * lb.threshold + (options.silentPrimary ? lb.timeoutSeconds * 1000 : 0);
    const marginMs = sender.ackTimeoutMs + sender.reconnectDelayMs + SLACK_MS;
    const iguanaStartMs = options.iguanaStartMs ?? 0;
    return { takeoverMs: takeover, lbMs, marginMs, iguanaStartMs, totalMs: takeover + lbMs + marginMs + iguanaStartMs };
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
 * What the drill allows the new holder's mover before its first change request reaches the
 * cloud: python3 starting, IMDS (token, instance id or identity
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
 * The longest outage a failover may cause with a floating IP (no load balancer): the backup
 * holds the lease within the takeover time, its guard runs the mover, which moves the VIP within
 * `vipMoveMs`, and only then opens its ports; a sender then loses at most one ACK (or connect)
 * timeout on a flow stuck to the old worker and one reconnect delay.
 */
export function floatingBudget(detection: Detection, lease: LeaseTiming, move: VipMoveTiming, options: { sender?: SenderTiming; iguanaStartMs?: number } = {}): Budget {
    const sender = options.sender ?? SENDER_TIMING;
    const takeover = Math.round(takeoverMs(detection, lease));
    const moveMs = vipMoveMs(move);
    const marginMs = sender.ackTimeoutMs + sender.reconnectDelayMs + SLACK_MS;
    const iguanaStartMs = options.iguanaStartMs ?? 0;
    return { takeoverMs: takeover, lbMs: 0, vipMoveMs: moveMs, marginMs, iguanaStartMs, totalMs: takeover + moveMs + marginMs + iguanaStartMs };
}
