/**
 * The emulated cloud load balancer: an HAProxy (Debian) configuration in TCP mode, rendered
 * from the stack's config with the same model the cloud resources use: one frontend and backend
 * per LLP channel port, both workers as targets, the channel's health check from
 * listener's health check in the ClusterPlan (the role probe for every LLP channel), the stack's interval and threshold.
 *
 * Profiles (research/cloud-ha.md §1, §3, §4):
 * - aws: the NLB resets flows to a target that turns unhealthy (`on-marked-down
 *   shutdown-sessions`, as `enableUnhealthyConnectionTermination: true` in components/aws/index.ts)
 *   and fails open when every target is unhealthy: emulated with an unchecked `backup` copy of
 *   each worker and `option allbackups`, used only while no checked server is up.
 * - azure: the Standard LB keeps established flows to an unhealthy target (no
 *   shutdown-sessions: the worker's own LLP gate must end them) and, with the default
 *   `noHealthyBackendsBehavior`, sends new flows nowhere when every target is down.
 */
import { ChannelConfig, ClusterConfig } from "../components/config";
import { HealthCheck, listenerOf, planCluster } from "../components/model";
import { CLUSTER_NAME } from "../components/constants";
import { WorkerPlan } from "../components/model";
import { LB_PROFILE_TEXT, LbProfile } from "./plan";
import { LbTiming } from "./timing";

export interface HaproxyInputs {
    cfg: ClusterConfig;
    profile: LbProfile;
    timing: LbTiming;
    vip: string;
    workers: [WorkerPlan, WorkerPlan];
    statsSocket: string;
    /** How long the LB waits for a target to accept a connection (the cloud LBs pass SYNs through). */
    connectTimeoutMs: number;
}

/** The LLP channels the drill sends to: all of them are active-passive. */
export function llpChannels(cfg: ClusterConfig): ChannelConfig[] {
    return cfg.channels.filter((c) => c.protocol === "llp");
}

export function backendName(channel: ChannelConfig): string {
    return `llp-${channel.name}`;
}

/** Name of the unchecked copy of a worker that carries traffic while the NLB fails open. */
export function failOpenServerName(worker: WorkerPlan): string {
    return `${worker.name}-failopen`;
}

function checkLines(check: HealthCheck): string[] {
    if (check.protocol === "http") {
        return [`    option httpchk GET ${check.path}`, "    http-check expect status 200"];
    }
    return [];
}

export function renderHaproxyConfig(inputs: HaproxyInputs): string {
    const { cfg, profile, timing, vip, workers } = inputs;
    const serverOptions = (check: HealthCheck) =>
        [
            "check",
            `port ${check.port}`,
            `inter ${timing.intervalSeconds}s`,
            `fall ${timing.threshold}`,
            `rise ${timing.threshold}`,
            ...(profile === "aws" ? ["on-marked-down shutdown-sessions"] : []),
        ].join(" ");
    const plan = planCluster(cfg, CLUSTER_NAME);
    const blocks = llpChannels(cfg).map((channel) => {
        const check = listenerOf(plan, channel.name).healthCheck;
        const name = backendName(channel);
        const lines = [
            `frontend ${name}`,
            `    bind ${vip}:${channel.port}`,
            `    default_backend ${name}`,
            "",
            `backend ${name}`,
            "    balance roundrobin",
            ...checkLines(check),
            ...workers.map((w) => `    server ${w.name} ${w.privateIp}:${channel.port} ${serverOptions(check)}`),
        ];
        if (profile === "aws") {
            lines.push(
                "    # Fail-open: with every checked server down, the NLB sends to all targets.",
                "    option allbackups",
                ...workers.map((w) => `    server ${failOpenServerName(w)} ${w.privateIp}:${channel.port} backup`),
            );
        }
        return lines.join("\n");
    });
    return `# Emulated load balancer for the failover drill. Rendered from the stack's config; do not edit.
# Profile ${profile}: ${LB_PROFILE_TEXT[profile]}.
# Health check every ${timing.intervalSeconds} s, ${timing.threshold} in a row to change state, ${timing.timeoutSeconds} s per check.
global
    stats socket ${inputs.statsSocket} mode 600 level admin
    maxconn 1000

defaults
    mode tcp
    # A refused or unanswered connection to a target reaches the sender as a closed connection
    # once, as through a cloud LB; the sender reconnects.
    retries 0
    timeout connect ${inputs.connectTimeoutMs}ms
    timeout client ${timing.idleTimeoutSeconds}s
    timeout server ${timing.idleTimeoutSeconds}s
    timeout check ${timing.timeoutSeconds}s

${blocks.join("\n\n")}
`;
}
