/**
 * The arguments of `HaIguanaCluster`: the shape a stack file writes (DESIGN.md), typed. Optional
 * keys take the defaults named here; validation (config.ts) checks every key and throws once.
 * Leaves a user would take from another resource or stack (the installer, an existing network's
 * ids) are `pulumi.Input`; choices that decide which resources exist are plain.
 *
 * Pulumi's component schema analyzer reads this file for other languages (PulumiPlugin.yaml):
 * the doc comments become the schema's descriptions, so they are written for users.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { ChannelMode, Cloud, Edition, FailoverStrategy, NatGateways, Protocol, QueueRecovery } from "./constants";

/** Which Iguana runs on the workers and where its installer comes from. */
export interface IguanaArgs {
    /** "iguanax" (default) or "iguana6". */
    edition?: Edition;
    /**
     * http(s) URL of the Linux installer or tarball. It is written into the workers' boot
     * configuration in clear text, so it must not embed a credential.
     */
    installerUrl?: pulumi.Input<string>;
    /** Hex SHA-256 of the installer (64 characters): a worker refuses a download that does not match. */
    installerSha256?: pulumi.Input<string>;
    /** Dashboard port (default 7654 for IguanaX, 6543 for Iguana 6). */
    webPort?: number;
}

/** One channel the load balancer (or the floating VIP) forwards to the active worker. */
export interface ChannelArgs {
    /** DNS-safe name: lowercase letters, digits and hyphens. */
    name: string;
    /** "llp" (MLLP over TCP) or "http". */
    protocol: Protocol;
    /** TCP port, 1-65535, unique in the cluster. */
    port: number;
    /** "active-passive" (default) or "active-active" (HTTP only, and only with a load balancer). */
    mode?: ChannelMode;
}

/** A subnet of an existing network: its id, and its CIDR, from which the workers' fixed addresses are computed. */
export interface ExistingSubnetArgs {
    /** The subnet's id (AWS `subnet-...`; Azure the subnet's resource id). */
    id: pulumi.Input<string>;
    /** The subnet's IPv4 CIDR, as the cloud holds it: checked against the subnet at preview. */
    cidr: string;
}

/**
 * A network the cluster joins instead of creating one (a hospital network reached over a VPN,
 * Direct Connect or ExpressRoute). The cluster creates no VPC / VNet, subnets, routes or NAT
 * gateways in it; the worker subnets must already reach the Internet (or the installer's host)
 * and the cloud's APIs.
 */
export interface ExistingNetworkArgs {
    /** AWS: the VPC's id (`vpc-...`); `network.cidr` must be its CIDR. */
    vpcId?: pulumi.Input<string>;
    /** Azure: the VNet's resource id; `network.cidr` must be one of its address spaces. */
    virtualNetworkId?: pulumi.Input<string>;
    /** The two worker subnets, WK1's first (on AWS in two different availability zones). */
    workerSubnets: ExistingSubnetArgs[];
    /**
     * AWS: the two subnets of the internet-facing load balancer (public subnets routing to an
     * Internet gateway), zone by zone as `workerSubnets`. Required with `public: true`; an
     * internal load balancer sits in the worker subnets.
     */
    loadBalancerSubnets?: ExistingSubnetArgs[];
    /** Azure: the subnet for the private endpoints of the lease (and shared queue) storage accounts. */
    privateEndpointSubnet?: ExistingSubnetArgs;
}

export interface NetworkArgs {
    /** The VPC / VNet CIDR, /16 to /24 (default 10.40.0.0/16); with `existing`, the existing network's CIDR. */
    cidr?: string;
    /**
     * CIDRs that may send to the channels. Required, at least one. Plain strings, not Inputs: on
     * AWS each CIDR names its own ingress rule (`in-2575-10-20-0-0-16`), so adding or removing one
     * touches that rule only, and a value known only at deployment cannot name a resource.
     */
    allowedCidrs: string[];
    /** CIDRs that may open the dashboard (default none). Plain strings, as `allowedCidrs`. */
    adminCidrs?: string[];
    /** An internet-facing load balancer or VIP (default true); false: reached only from inside the network. */
    public?: boolean;
    /** "one-per-zone" (default) or "single" NAT gateway for the workers' egress. */
    natGateways?: NatGateways;
    /** Join an existing network instead of creating one. */
    existing?: ExistingNetworkArgs;
}

export interface WorkersArgs {
    /** EC2 instance type or Azure VM size (default m6i.large / Standard_D2s_v5). */
    size?: string;
    /** Each worker's encrypted data disk in GiB (default 100). */
    dataDiskGb?: number;
    /** Dedicated tenancy (AWS) or dedicated hosts (Azure); default false. */
    dedicated?: boolean;
    /** Azure only: encryption at host on the VMs (default false). */
    encryptionAtHost?: boolean;
}

export interface FailoverArgs {
    /** "load-balancer" (default: a managed load balancer holds the VIP) or "floating-ip" (the active worker moves one public address to itself). */
    strategy?: FailoverStrategy;
    /** Seconds between load balancer health checks (default 5). */
    healthCheckIntervalSeconds?: number;
    /** Failed checks before a worker is taken out (default 2; also the healthy threshold). */
    unhealthyThreshold?: number;
    /** Idle timeout of channel connections in seconds (default 3600). */
    idleTimeoutSeconds?: number;
    /** How long the lease that makes a worker active lasts, 3-60 seconds (default 3). */
    leaseSeconds?: number;
}

export interface StorageArgs {
    /** "none" (default: a data disk per worker) or "shared" (one shared file system; Iguana runs on the active worker only). */
    queueRecovery?: QueueRecovery;
    /** Azure only: size of the premium NFS share in GiB, 100-102400 (default 100). */
    shareGb?: number;
    /** Pulumi `protect` on what holds the queue, so destroy and replacement stop until unprotected (default false). */
    protect?: boolean;
}

/** The arguments of HaIguanaCluster. */
export interface HaIguanaClusterArgs {
    /** "aws" or "azure". */
    cloud: Cloud;
    /**
     * The Azure location (required on Azure). On AWS the provider's region (default: read from the
     * provider); when given, it must be the provider's.
     */
    region?: string;
    /** Value of the `environment` tag on every resource (default: the stack name). */
    environment?: string;
    /**
     * Your own tags (cost centre, owner, data classification), on every resource the cluster
     * tags, beside its own (project, environment, cluster, role, worker, Name, tier, holds,
     * channel, protocol), which they may not replace. At most 40; keys up to 128 characters,
     * values up to 256. A value may be an Output.
     */
    tags?: Record<string, pulumi.Input<string>>;
    /** Which Iguana edition the workers run, and its installer. */
    iguana?: IguanaArgs;
    /** At least one channel. */
    channels: ChannelArgs[];
    /** Who may reach the channels and the dashboard, and the network the workers live in. */
    network: NetworkArgs;
    /** The two workers' size and disks. */
    workers?: WorkersArgs;
    /** How the VIP follows the active worker, and how fast. */
    failover?: FailoverArgs;
    /** Where Iguana's working directory (the queue) lives, and how it is kept. */
    storage?: StorageArgs;
}
