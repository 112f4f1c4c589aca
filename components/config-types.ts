/** The shape of a validated configuration, every default filled in (validation: config.ts). */
import type { Input } from "@pulumi/pulumi";
import type { ChannelMode, Cloud, Edition, FailoverStrategy, NatGateways, Protocol, QueueRecovery, WorkerName } from "./constants";

export interface ChannelConfig {
    name: string;
    protocol: Protocol;
    port: number;
    mode: ChannelMode;
}

export interface IguanaConfig {
    edition: Edition;
    installerUrl?: Input<string>;
    /** Hex SHA-256 of the installer: the worker refuses a download that does not match. */
    installerSha256?: Input<string>;
    webPort: number;
}

export interface ExistingSubnetConfig {
    id: Input<string>;
    cidr: string;
}

/** An existing network the cluster joins: it creates no VPC / VNet, subnets, routes or NAT gateways. */
export interface ExistingNetworkConfig {
    /** AWS. */
    vpcId?: Input<string>;
    /** Azure. */
    virtualNetworkId?: Input<string>;
    /** WK1's subnet first. */
    workerSubnets: [ExistingSubnetConfig, ExistingSubnetConfig];
    /** The internet-facing load balancer's subnets (`public: true` with a load balancer only). */
    loadBalancerSubnets?: [ExistingSubnetConfig, ExistingSubnetConfig];
    /** Azure: where the storage private endpoints go. */
    privateEndpointSubnet?: ExistingSubnetConfig;
}

export interface NetworkConfig {
    cidr: string;
    allowedCidrs: string[];
    adminCidrs: string[];
    public: boolean;
    natGateways: NatGateways;
    /** Deletion protection on the NLBs (AWS) or a CanNotDelete lock on the LB and its public IP (Azure). */
    deletionProtection: boolean;
    existing?: ExistingNetworkConfig;
    egress: EgressConfig;
}

export interface EgressConfig {
    /** Outbound traffic denied but EGRESS_ALWAYS, NFS to the shared file system, and `destinations`. */
    restricted: boolean;
    destinations: { cidr: string; port: number }[];
    /** The HTTP proxy of the downloads, `http://<address>:<port>` (proxyAddress): with it, no TCP 443 / 80 to anywhere. */
    proxy?: string;
}

export interface WorkersConfig {
    size: string;
    dataDiskGb: number;
    dedicated: boolean;
    /** Azure only: encrypt the VMs' temp disk and disk caches on the host too. */
    encryptionAtHost: boolean;
    /** The one worker a change of boot configuration or image may replace now; none when unset. */
    rebuild?: WorkerName;
}

export interface FailoverConfig {
    /** `load-balancer` (default) or `floating-ip`: see FailoverStrategy in constants.ts. */
    strategy: FailoverStrategy;
    healthCheckIntervalSeconds: number;
    /** Used for the healthy threshold too: Azure has one threshold, AWS gets the same. */
    unhealthyThreshold: number;
    idleTimeoutSeconds: number;
    /** How long the lease that makes a worker active lasts (docs/lease.md), with either strategy. */
    leaseSeconds: number;
}

export interface StorageConfig {
    /** `none`: a data disk per worker; `shared`: one shared file system, Iguana only on the MASTER. */
    queueRecovery: QueueRecovery;
    /** Azure only: provisioned size of the premium NFS share (EFS is elastic). */
    shareGb: number;
    /**
     * Pulumi `protect` on what holds the queue (data disks or shared file system, the AWS KMS key,
     * the Azure data resource group): destroy and replacement stop until `pulumi state unprotect`.
     */
    protect: boolean;
    /** Azure: the workers' disks encrypted with the cluster's own key through a Disk Encryption Set. */
    customerManagedKey: boolean;
    /** A recovery point per worker (by worker name) its data disk is built from when created or replaced. */
    restoreFrom: { wk1?: string; wk2?: string };
}

export interface AuditConfig {
    /** Flow logs of the workers' network (VPC / VNet, or the existing network's worker subnets). */
    flowLogs: boolean;
    /** The workers' syslog (their journal) shipped by the cloud's own agent to a log group / workspace. */
    workerLogs: boolean;
    /** Days the flow logs and the workers' logs are kept; on AWS one of CLOUDWATCH_RETENTION_DAYS. */
    retentionDays: number;
}

export interface AlertsConfig {
    /** Told of every alarm and its recovery (each confirms a subscription email first). */
    emails: string[];
    /** Minutes of an unhealthy Iguana before its alarm fires; one of SIGNAL_ALARM_WINDOWS. */
    unhealthyMinutes: number;
    /** The data disk's fill level, in percent, that raises an alarm. */
    diskFillPercent: number;
    /** An https endpoint told of every alarm as JSON; a secret. */
    webhookUrl?: Input<string>;
}

export interface BackupConfig {
    /** The queue disks (or the shared file system on AWS) are backed up on a schedule. */
    enabled: boolean;
    /** Hours between backups, one of BACKUP_EVERY_HOURS. */
    everyHours: number;
    /** Days a recovery point is kept. */
    retentionDays: number;
    /** AWS: the region each recovery point is also copied to. */
    copyToRegion?: string;
}

export interface TlsConfig {
    /** Every channel and the dashboard are reached over TLS only, ended on the worker by stunnel. */
    enabled: boolean;
    /** PEM: the server certificate, then its chain. Unset with TLS on: a self-signed one is made. */
    certificate?: Input<string>;
    /** PEM: the certificate's private key (a secret). */
    privateKey?: Input<string>;
    /** PEM: the CAs a sender's client certificate must chain to (mutual TLS). */
    clientCa?: Input<string>;
}

/** A validated configuration with every default filled in. */
export interface ClusterConfig {
    cloud: Cloud;
    environment: string;
    /** The user's own tags, on every resource the cluster tags (values may be Outputs). */
    tags: Record<string, Input<string>>;
    /**
     * `aws:region` or `azure-native:location`. Always set on Azure and from a stack file; unset when
     * HaIguanaCluster is given no region on AWS, where the provider's region is the one.
     */
    region?: string;
    iguana: IguanaConfig;
    channels: ChannelConfig[];
    network: NetworkConfig;
    workers: WorkersConfig;
    failover: FailoverConfig;
    storage: StorageConfig;
    audit: AuditConfig;
    alerts: AlertsConfig;
    backup: BackupConfig;
    tls: TlsConfig;
}
