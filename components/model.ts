/**
 * The cloud-agnostic model: what both implementations build from a validated config. Pure
 * functions, so the load balancer resources and (later) the worker bootstrap read the same
 * values: one source of truth for addresses, ports and health checks.
 */
import * as pulumi from "@pulumi/pulumi";
import { ChannelConfig, ClusterConfig, ExistingNetworkConfig, IguanaConfig, checkedTagValues } from "./config";
import { formatCidr, hostAddress, parseCidr, subnet } from "./cidr";
import {
    ChannelMode,
    Cloud,
    DASHBOARD_LISTENER,
    DEFAULTS,
    Edition,
    FailoverStrategy,
    IGUANAX_HEALTH_PATH,
    INTERNAL_VIP_HOST_OFFSET,
    PROJECT,
    Protocol,
    QueueRecovery,
    ROLE_PROBE_PATH,
    ROLE_PROBE_PORT,
    TLS_LISTEN_PORT_BASE,
    WORKER_HOST_OFFSET,
    WorkerName,
} from "./constants";

export { WorkerName } from "./constants";
/** WK1 is the primary (active after a cold start), WK2 the backup. */
export const WorkerRole = { Primary: "primary", Backup: "backup" } as const;
export type WorkerRole = (typeof WorkerRole)[keyof typeof WorkerRole];

export interface WorkerPlan {
    name: WorkerName;
    role: WorkerRole;
    /** 0 for WK1, 1 for WK2: the zone and the subnet follow it. */
    index: 0 | 1;
    privateIp: string;
}

export interface NetworkPlan {
    vpcCidr: string;
    /** Load balancer / NAT subnets, one per zone. */
    publicSubnets: [string, string];
    /** Worker subnets, one per zone. */
    privateSubnets: [string, string];
    /** Fixed addresses of an internal load balancer, one per zone (used when not public). */
    internalVipIps: [string, string];
}

/**
 * Four equal subnets: public A, public B, private A, private B. In an existing network (AWS), the
 * worker subnets are the given ones and the load balancer's the given ones (or, for an internal
 * load balancer or none, the worker subnets again: nothing is carved).
 */
export function planNetwork(vpcCidr: string, existing?: ExistingNetworkConfig): NetworkPlan {
    if (existing) {
        const workers: [string, string] = [existing.workerSubnets[0].cidr, existing.workerSubnets[1].cidr];
        const balancer = existing.loadBalancerSubnets;
        return {
            vpcCidr,
            publicSubnets: balancer ? [balancer[0].cidr, balancer[1].cidr] : workers,
            privateSubnets: workers,
            internalVipIps: [hostAddress(parseCidr(workers[0]), INTERNAL_VIP_HOST_OFFSET), hostAddress(parseCidr(workers[1]), INTERNAL_VIP_HOST_OFFSET)],
        };
    }
    const vpc = parseCidr(vpcCidr);
    const quarter = (i: number) => subnet(vpc, 2, i);
    return {
        vpcCidr,
        publicSubnets: [formatCidr(quarter(0)), formatCidr(quarter(1))],
        privateSubnets: [formatCidr(quarter(2)), formatCidr(quarter(3))],
        internalVipIps: [hostAddress(quarter(2), INTERNAL_VIP_HOST_OFFSET), hostAddress(quarter(3), INTERNAL_VIP_HOST_OFFSET)],
    };
}

/**
 * The small subnet of the Azure storage private endpoints (the lease's blob endpoint, and with
 * `queueRecovery: shared` the share's file endpoint): the first /27 of the free public quarter
 * A (Azure load balancer frontends need no subnet).
 */
export function storageSubnet(network: NetworkPlan): string {
    const quarter = parseCidr(network.publicSubnets[0]);
    return formatCidr(subnet(quarter, Math.max(0, 27 - quarter.prefix), 0));
}

/**
 * WK1 (primary) and WK2 (backup), each at a fixed address in its zone's worker subnet. Fixed
 * addresses let each worker's keepalived name its peer before either machine exists.
 */
export function planWorkers(network: NetworkPlan): [WorkerPlan, WorkerPlan] {
    const at = (i: 0 | 1) => hostAddress(parseCidr(network.privateSubnets[i]), WORKER_HOST_OFFSET);
    return [
        { name: "wk1", role: "primary", index: 0, privateIp: at(0) },
        { name: "wk2", role: "backup", index: 1, privateIp: at(1) },
    ];
}

export type HealthCheck =
    | { kind: "role-probe"; protocol: "http"; port: number; path: string }
    | { kind: "iguana-health"; protocol: "http"; port: number; path: string }
    /** The load balancer's view of the IguanaX check with TLS on: the web port answers TLS only. */
    | { kind: "iguana-health"; protocol: "https"; port: number; path: string }
    | { kind: "iguana-health"; protocol: "tcp"; port: number };

export const ROLE_PROBE: HealthCheck = { kind: "role-probe", protocol: "http", port: ROLE_PROBE_PORT, path: ROLE_PROBE_PATH };

/** Iguana's own health: IguanaX `GET /health` on the web port; Iguana 6 has none, so TCP. */
export function iguanaHealth(iguana: IguanaConfig): HealthCheck {
    return iguana.edition === "iguanax"
        ? { kind: "iguana-health", protocol: "http", port: iguana.webPort, path: IGUANAX_HEALTH_PATH }
        : { kind: "iguana-health", protocol: "tcp", port: iguana.webPort };
}

/**
 * Iguana's own health as the load balancer checks it: from outside the worker, so with TLS on
 * the web port speaks TLS (IguanaX's check becomes HTTPS; Iguana 6's TCP check reaches stunnel).
 */
export function lbIguanaHealth(cfg: Pick<ClusterConfig, "iguana" | "tls">): HealthCheck {
    const check = iguanaHealth(cfg.iguana);
    return cfg.tls.enabled && check.protocol === "http" ? { kind: "iguana-health", protocol: "https", port: check.port, path: check.path } : check;
}

/** Active-passive traffic follows the role probe; active-active HTTP goes to every healthy Iguana. */
export function healthCheckFor(channel: ChannelConfig, cfg: Pick<ClusterConfig, "iguana" | "tls">): HealthCheck {
    return channel.mode === "active-active" ? lbIguanaHealth(cfg) : ROLE_PROBE;
}

/** One port the load balancer (or the floating VIP) forwards: a channel, or the dashboard. */
export interface ListenerPlan {
    kind: "channel" | "dashboard";
    /** The channel's name, or DASHBOARD_LISTENER (which no channel may take). */
    name: string;
    port: number;
    protocol: Protocol;
    healthCheck: HealthCheck;
    /** Channels: `failover.idleTimeoutSeconds`; the dashboard keeps the cloud's default. */
    idleTimeoutSeconds?: number;
}

/**
 * What every consumer builds from, computed once from the validated config (planCluster): both
 * clouds' steps, the drill, the boot test. The cloud-specific parts (ids, zones, the bootstrap's
 * locators) come from the cloud; the rest is here.
 */
export interface ClusterPlan {
    /** The component's name: every child's name starts with it. */
    name: string;
    network: NetworkPlan;
    /** WK1 (primary), WK2 (backup), each at its fixed address. */
    workers: [WorkerPlan, WorkerPlan];
    /** Each channel with its health check, in config order, then the dashboard. */
    listeners: ListenerPlan[];
    /** The checks the load balancer runs: the role probe, and Iguana's own if a channel is active-active. */
    healthChecks: HealthCheck[];
    /** A channel is active-active: its traffic follows Iguana's own health, not the role probe. */
    activeActive: boolean;
    /** `failover.strategy: floating-ip`: no load balancer; the active worker takes the VIP. */
    floating: boolean;
    /** `storage.queueRecovery: shared`: one file system; Iguana runs on the active worker only. */
    shared: boolean;
    /** The tags every taggable resource carries (baseTags). */
    tags: Record<string, pulumi.Input<string>>;
    /** The lease record's key (leaseRecordKey). */
    leaseKey: string;
    /** Each worker's bootstrap as far as no cloud decides it (completeBootstrap adds the rest). */
    bootstrap: [WorkerBootstrapPlan, WorkerBootstrapPlan];
}

/** What a worker's bootstrap holds that no cloud decides: the same for both clouds, the drill and the boot test. */
export interface WorkerBootstrapPlan {
    cloud: Cloud;
    edition: Edition;
    webPort: number;
    self: WorkerPlan;
    peer: WorkerPlan;
    /** Ports the passive worker refuses (gatedPorts). */
    gatedPorts: number[];
    roleProbe: { port: number; path: string };
    iguanaHealth: HealthCheck;
    /** Seconds of idleness before the kernel probes a connection: below the LB idle timeout. */
    tcpKeepaliveSeconds: number;
    /** `shared`: Iguana runs only on the lease holder, started and stopped by the notify script. */
    queueRecovery: QueueRecovery;
    /** `floating-ip`: the lease guard takes the VIP (`vip`) through the cloud API before it becomes active. */
    failoverStrategy: FailoverStrategy;
    /** `failover.leaseSeconds`: the lease's duration L (leaseTiming in bootstrap/lease.ts). */
    leaseSeconds: number;
    /** `tls.enabled`: where stunnel listens for each public port, and whether it asks for client certificates. */
    tls?: TlsPlan;
    /** `network.egress.proxy`: what apt, the installer's download and the EFS client's build go through. */
    downloadProxy?: string;
}

/** A public port (a channel's or the dashboard's) that stunnel ends TLS for, and the port it listens on. */
export interface TlsListener {
    name: string;
    /** The channel's (or dashboard's) port: what senders and the load balancer use, and what Iguana listens on. */
    port: number;
    /** stunnel's own port; the kernel redirects traffic from outside the worker to `port` here. */
    listenPort: number;
}

export interface TlsPlan {
    listeners: TlsListener[];
    /** `tls.clientCa` is set: a sender must present a certificate that chains to it. */
    mutual: boolean;
}

/** The channels, then the dashboard, each with its stunnel port (TLS_LISTEN_PORT_BASE up). */
export function tlsListeners(cfg: Pick<ClusterConfig, "channels" | "iguana">): TlsListener[] {
    const ports = [...cfg.channels.map((c) => ({ name: c.name, port: c.port })), { name: DASHBOARD_LISTENER, port: cfg.iguana.webPort }];
    return ports.map((p, i) => ({ ...p, listenPort: TLS_LISTEN_PORT_BASE + i }));
}

export function tlsPlan(cfg: ClusterConfig): TlsPlan | undefined {
    return cfg.tls.enabled ? { listeners: tlsListeners(cfg), mutual: cfg.tls.clientCa !== undefined } : undefined;
}

export function workerBootstrapPlan(cfg: ClusterConfig, self: WorkerPlan, peer: WorkerPlan): WorkerBootstrapPlan {
    return {
        cloud: cfg.cloud,
        edition: cfg.iguana.edition,
        webPort: cfg.iguana.webPort,
        self,
        peer,
        gatedPorts: gatedPorts(cfg),
        roleProbe: { port: ROLE_PROBE_PORT, path: ROLE_PROBE_PATH },
        iguanaHealth: iguanaHealth(cfg.iguana),
        tcpKeepaliveSeconds: tcpKeepaliveSeconds(cfg.failover.idleTimeoutSeconds),
        queueRecovery: cfg.storage?.queueRecovery ?? DEFAULTS.queueRecovery,
        failoverStrategy: cfg.failover.strategy ?? DEFAULTS.failoverStrategy,
        leaseSeconds: cfg.failover.leaseSeconds,
        ...(cfg.tls.enabled ? { tls: tlsPlan(cfg) } : {}),
        ...(cfg.network.egress.proxy ? { downloadProxy: cfg.network.egress.proxy } : {}),
    };
}

/** Keepalive below the load balancer's idle timeout, so quiet MLLP links are not dropped. */
export function tcpKeepaliveSeconds(idleTimeoutSeconds: number): number {
    return Math.max(30, Math.min(300, Math.floor(idleTimeoutSeconds / 2)));
}

export function planCluster(cfg: ClusterConfig, name: string): ClusterPlan {
    const network = planNetwork(cfg.network.cidr, cfg.network.existing);
    const listeners: ListenerPlan[] = [
        ...cfg.channels.map((c) => ({
            kind: "channel" as const,
            name: c.name,
            port: c.port,
            protocol: c.protocol,
            healthCheck: healthCheckFor(c, cfg),
            idleTimeoutSeconds: cfg.failover.idleTimeoutSeconds,
        })),
        // The dashboard follows the active worker, like active-passive channels.
        { kind: "dashboard", name: DASHBOARD_LISTENER, port: cfg.iguana.webPort, protocol: "http", healthCheck: ROLE_PROBE },
    ];
    const activeActive = hasActiveActiveChannel(cfg);
    const workers = planWorkers(network);
    return {
        name,
        network,
        workers,
        listeners,
        healthChecks: [ROLE_PROBE, ...(activeActive ? [lbIguanaHealth(cfg)] : [])],
        activeActive,
        floating: cfg.failover.strategy === "floating-ip",
        shared: cfg.storage.queueRecovery === "shared",
        tags: baseTags(cfg, name),
        leaseKey: leaseRecordKey(name),
        bootstrap: [workerBootstrapPlan(cfg, workers[0], workers[1]), workerBootstrapPlan(cfg, workers[1], workers[0])],
    };
}

/** A channel's traffic follows Iguana's own health (healthCheckFor), so the load balancer also checks that. */
export function hasActiveActiveChannel(cfg: ClusterConfig): boolean {
    return cfg.channels.some((c) => healthCheckFor(c, cfg).kind === "iguana-health");
}

/**
 * What every step of either cloud's build takes: the plan, the validated config, and where the
 * children go. `name`, `tags` and `floating` are the plan's, spread for the steps' destructuring.
 */
export interface StepContext {
    plan: ClusterPlan;
    name: string;
    cfg: ClusterConfig;
    parent: pulumi.Resource;
    opts: { parent: pulumi.Resource };
    tags: Record<string, pulumi.Input<string>>;
    /** `failover.strategy: floating-ip`. */
    floating: boolean;
}

/** The listener of a channel (or the dashboard) by name. */
export function listenerOf(plan: ClusterPlan, name: string): ListenerPlan {
    const listener = plan.listeners.find((l) => l.name === name);
    if (!listener) throw new Error(`no listener ${name} in the plan of ${plan.name}`);
    return listener;
}

/** Per-attempt timeout of a health check: shorter than the interval, within 2-10 s. */
export function healthCheckTimeoutSeconds(intervalSeconds: number): number {
    return Math.max(2, Math.min(10, intervalSeconds - 1));
}

export function channelEndpoint(channel: ChannelConfig, host: string): string {
    return channel.protocol === "llp" ? `${host}:${channel.port}` : `http://${host}:${channel.port}/`;
}

export function dashboardUrl(host: string, webPort: number): string {
    return `http://${host}:${webPort}/`;
}

export function llpPorts(cfg: ClusterConfig): number[] {
    return cfg.channels.filter((c) => c.protocol === "llp").map((c) => c.port);
}

/**
 * Ports the passive worker refuses: the LLP channels (an MLLP feed must never reach two
 * workers). With a floating IP every channel is active-passive and each worker also has its
 * own public address, so the passive worker refuses every channel port.
 */
export function gatedPorts(cfg: ClusterConfig): number[] {
    const ports = cfg.failover.strategy === "floating-ip" ? cfg.channels.map((c) => c.port) : llpPorts(cfg);
    // With TLS on, a sender's connection reaches the worker on stunnel's port (the kernel redirects it there).
    const tls = tlsPlan(cfg)?.listeners ?? [];
    return [...ports, ...tls.filter((l) => ports.includes(l.port)).map((l) => l.listenPort)];
}

/**
 * The one lease record of a cluster (docs/lease.md): the DynamoDB item key on AWS, the blob
 * name on Azure. The cluster's name: stable for the cluster's life, and the store is the
 * cluster's own, so nothing else writes a record beside it.
 */
export function leaseRecordKey(clusterName: string): string {
    return clusterName;
}

/** Tags every taggable resource carries: the user's, then the cluster's own; workers add their `role`. */
export function baseTags(cfg: ClusterConfig, clusterName: string): Record<string, pulumi.Input<string>> {
    return { ...checkedTagValues(cfg.cloud, cfg.tags), project: PROJECT, environment: cfg.environment, cluster: clusterName };
}

export interface ChannelEndpoint {
    name: string;
    protocol: Protocol;
    port: number;
    mode: ChannelMode;
    endpoint: string;
}

export interface WorkerOutput {
    name: WorkerName;
    role: WorkerRole;
    zone: string;
    privateIp: string;
    id: string;
}

/** The stack outputs contract (DESIGN.md), as each implementation returns it. */
export interface ClusterOutputs {
    cloud: Cloud;
    vip: pulumi.Output<string>;
    vipAddresses: pulumi.Output<string[]>;
    dashboardUrl: pulumi.Output<string>;
    channelEndpoints: pulumi.Output<ChannelEndpoint[]>;
    workers: pulumi.Output<WorkerOutput[]>;
}

/** Endpoint list and dashboard URL when every channel is reached on one address. */
export function endpointsFor(cfg: ClusterConfig, vip: pulumi.Output<string>) {
    return endpointsForHosts(
        cfg,
        vip,
        vip.apply((host) => Object.fromEntries(cfg.channels.map((c) => [c.name, host]))),
    );
}

/** Endpoint list and dashboard URL when channels are spread over several load balancers. */
export function endpointsForHosts(cfg: ClusterConfig, dashboardHost: pulumi.Output<string>, channelHosts: pulumi.Output<Record<string, string>>) {
    return {
        dashboardUrl: dashboardHost.apply((host) => dashboardUrl(host, cfg.iguana.webPort)),
        channelEndpoints: channelHosts.apply((hosts) =>
            cfg.channels.map((c) => ({ name: c.name, protocol: c.protocol, port: c.port, mode: c.mode, endpoint: channelEndpoint(c, hosts[c.name]) })),
        ),
    };
}

/** Whether `pulumi up` may replace this worker to give it a new boot configuration or image: only the one workers.rebuild names. */
export function rebuildable(cfg: Pick<ClusterConfig, "workers">, worker: Pick<WorkerPlan, "name">): boolean {
    return cfg.workers.rebuild === worker.name;
}
