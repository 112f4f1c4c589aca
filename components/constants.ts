/**
 * Every fixed fact of the design lives here once: ports, paths, defaults and the cloud limits
 * that validation enforces. Other modules import these; nothing repeats a literal.
 */

export const PROJECT = "iguana-ha";
export const COMPONENT_TYPE = "iguana-ha:index:HaIguanaCluster";

export const Cloud = { Aws: "aws", Azure: "azure" } as const;
export type Cloud = (typeof Cloud)[keyof typeof Cloud];
export const CLOUDS: readonly Cloud[] = Object.values(Cloud);

export const Edition = { IguanaX: "iguanax", Iguana6: "iguana6" } as const;
export type Edition = (typeof Edition)[keyof typeof Edition];
export const EDITIONS: readonly Edition[] = Object.values(Edition);

/** Iguana's own dashboard/web port per edition (IguanaX 7654, Iguana 6 6543). */
export const EDITION_WEB_PORT: Record<Edition, number> = { iguanax: 7654, iguana6: 6543 };

/**
 * The role probe: answered 200 only by the worker that holds the lease (docs/lease.md), 503 otherwise.
 * Active-passive load-balancer health checks point here.
 */
export const ROLE_PROBE_PORT = 7700;
export const ROLE_PROBE_PATH = "/active";

/** IguanaX answers `GET /health` without authentication on its web port. */
export const IGUANAX_HEALTH_PATH = "/health";

/**
 * With TLS on (tls.enabled), stunnel listens for each channel and the dashboard on its own port,
 * from this one up in config order (channels, then the dashboard). Traffic from outside the worker
 * to the public port is redirected to it by the kernel; Iguana keeps its plain port for loopback.
 */
export const TLS_LISTEN_PORT_BASE = 17000;

/**
 * What the offline tools read for a value a stack file keeps encrypted (`secure:`): validation
 * takes it as given and unreadable, and checks nothing inside it.
 */
export const UNREADABLE_SECRET = "[secret: encrypted in the stack file]";

export const SSH_PORT = 22;
export const RDP_PORT = 3389;

export const WorkerName = { Wk1: "wk1", Wk2: "wk2" } as const;
export type WorkerName = (typeof WorkerName)[keyof typeof WorkerName];
export const WORKER_NAMES: readonly WorkerName[] = Object.values(WorkerName);

export const Protocol = { Llp: "llp", Http: "http" } as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];
export const PROTOCOLS: readonly Protocol[] = Object.values(Protocol);
export const ChannelMode = { ActivePassive: "active-passive", ActiveActive: "active-active" } as const;
export type ChannelMode = (typeof ChannelMode)[keyof typeof ChannelMode];
export const CHANNEL_MODES: readonly ChannelMode[] = Object.values(ChannelMode);

export const NatGateways = { OnePerZone: "one-per-zone", Single: "single" } as const;
export type NatGateways = (typeof NatGateways)[keyof typeof NatGateways];
export const NAT_GATEWAY_CHOICES: readonly NatGateways[] = Object.values(NatGateways);

/**
 * Where the Iguana working directory (queue, logs, config) lives:
 * - `none`: on each worker's own encrypted data disk; both Iguanas run (instant failover), and
 *   the queue of a failed worker stays on its disk until it comes back.
 * - `shared`: on one shared file system (AWS EFS, Azure Files NFS 4.1) that both workers mount;
 *   Iguana runs only on the lease holder, so the backup resumes the primary's queue in order.
 */
export const QueueRecovery = { None: "none", Shared: "shared" } as const;
export type QueueRecovery = (typeof QueueRecovery)[keyof typeof QueueRecovery];
export const QUEUE_RECOVERY_CHOICES: readonly QueueRecovery[] = Object.values(QueueRecovery);

/**
 * How the VIP follows the active worker:
 * - `load-balancer`: a managed load balancer (AWS NLB, Azure Standard LB) holds the VIP and
 *   sends traffic to whichever worker answers the role probe.
 * - `floating-ip`: no load balancer; one public address (an Elastic IP, an Azure Public IP)
 *   is moved to the new lease holder by its guard through the cloud API.
 */
export const FailoverStrategy = { LoadBalancer: "load-balancer", FloatingIp: "floating-ip" } as const;
export type FailoverStrategy = (typeof FailoverStrategy)[keyof typeof FailoverStrategy];
export const FAILOVER_STRATEGY_CHOICES: readonly FailoverStrategy[] = Object.values(FailoverStrategy);

/**
 * Floating IP: how the notify script retries the cloud API (throttling, a worker role not yet
 * attached at first boot) while this worker stays MASTER, and how often a timer re-checks
 * that the VIP is on the MASTER (it heals a failed move or a `pulumi up` that rewrote a NIC).
 */
export const VIP_MOVE = {
    retrySeconds: 5,
    giveUpAfterSeconds: 600,
    /** `vip-mover.py take`: how long one attempt watches for its claim to take effect. */
    takeSettleSeconds: 10,
    reconcileEverySeconds: 30,
    /** Azure: how long one NIC update may run before the script stops waiting for it. */
    azureOperationTimeoutSeconds: 300,
    /** Azure: how often the script re-reads a NIC while its update runs. */
    azurePollSeconds: 2,
    /** The Azure Network API version the script speaks. */
    azureNetworkApiVersion: "2024-05-01",
    /** The EC2 Query API version. */
    ec2ApiVersion: "2016-11-15",
} as const;

/** The VPC interface endpoint that keeps the EC2 API reachable from both workers (floating IP). */
export const HTTPS_PORT = 443;

/** `alerts.emails`: how many addresses (an Azure action group takes up to 1,000 email receivers; SNS has no small limit). */
export const ALERT_EMAILS_MAX = 50;

/** `audit.retentionDays`: one day to ten years. */
export const AUDIT_RETENTION_DAYS: Range = { min: 1, max: 3653 };
/**
 * A Log Analytics table keeps data from 4 days; its interactive (queryable) part at most 730, the
 * rest of its total retention in the low-cost long-term tier (Azure Monitor, "Manage data retention
 * in a Log Analytics workspace"). A workspace's own default is 30-730.
 */
export const LOG_ANALYTICS_RETENTION = { tableMinDays: 4, interactiveMaxDays: 730, workspaceMinDays: 30 } as const;
/** The retention periods CloudWatch Logs accepts (PutRetentionPolicy), within AUDIT_RETENTION_DAYS. */
export const CLOUDWATCH_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/**
 * `backup.everyHours`: the schedules both clouds take. Azure Disk Backup runs hourly schedules
 * (its default policy: every 4 hours) or a daily one; AWS Backup takes any cron of an hour or more.
 */
export const BACKUP_EVERY_HOURS = [4, 6, 8, 12, 24] as const;
/** `backup.retentionDays`: a day to a year of recovery points. */
export const BACKUP_RETENTION_DAYS: Range = { min: 1, max: 365 };

/**
 * Azure Files keeps at most 200 snapshots of a share (its scalability targets; one more is refused
 * with ShareSnapshotCountExceeded). The shared queue's scheduled snapshots stay two below it: one
 * for the snapshot being taken, one for a timer that fires late.
 */
export const AZURE_SHARE_SNAPSHOT_LIMIT = 200;

/** How many days of share snapshots every `everyHours` fit under AZURE_SHARE_SNAPSHOT_LIMIT, at most `retentionDays`. */
export function shareSnapshotKeepDays(everyHours: number, retentionDays: number): number {
    return Math.min(retentionDays, Math.floor(((AZURE_SHARE_SNAPSHOT_LIMIT - 2) * everyHours) / 24));
}

/**
 * `network.egress.restricted`: what a worker may still reach, besides `network.egress.destinations`;
 * with `network.egress.proxy`, the `web` rules give way to the proxy and the cloud APIs' endpoints.
 * DNS, DHCP, the instance metadata service and (AWS) the Time Sync Service are never filtered by
 * security groups or NSGs, so they need no rule (AWS, "Security group rules"; Azure, "Azure
 * platform considerations" of network security groups).
 */
export const EGRESS_ALWAYS = [
    {
        name: "https",
        protocol: "tcp",
        port: 443,
        reason: "the package archive's mirrors, the installer's host, the cloud APIs (secrets, lease, SSM, EC2 / ARM) and their endpoints",
        web: true,
    },
    { name: "http", protocol: "tcp", port: 80, reason: "the Ubuntu package archive (apt uses http, signed) and an http installer URL", web: true },
    { name: "ntp", protocol: "udp", port: 123, reason: "NTP time servers (ntp.ubuntu.com) where the cloud's own time service is not used", web: false },
] as const;
/** `network.egress.proxy`: why the workers' rule to the proxy exists (both clouds). */
export const EGRESS_PROXY_REASON = "The HTTP proxy (network.egress.proxy): packages, the installer";
/**
 * `network.egress.proxy` on Azure: the Azure APIs a worker calls over HTTPS with no private
 * endpoint here, by service tag (one tag per NSG rule). Key Vault, the lease's blob and the
 * shared share are reached at their private endpoints; managed identity tokens come from IMDS,
 * which no NSG rule filters.
 */
export const AZURE_PROXIED_SERVICE_TAGS = [
    { name: "azure-resource-manager", tag: "AzureResourceManager", reason: "ARM: the floating VIP, the peer fence, the share snapshots, the backup copies" },
    { name: "azure-monitor", tag: "AzureMonitor", reason: "Azure Monitor: the workers' metrics and the Azure Monitor Agent" },
] as const;
/** `network.egress.proxy` on Azure: the outbound rules before the service tags' (the proxy, the private endpoints' subnet). */
export const AZURE_PROXY_FIXED_RULES = 2;
/** `network.egress.destinations`: at most 50, so every AWS egress rule fits a security group's 60 (Amazon VPC quotas). */
export const EGRESS_DESTINATIONS_MAX = 50;
/** The Azure VM agent's WireServer: its ports 80 and 32526, which a restricted NSG would otherwise block. */
export const AZURE_WIRESERVER = { address: "168.63.129.16", ports: [80, 32526] } as const;
/** Defaults for every optional key, in one place. */
export const DEFAULTS = {
    edition: "iguanax" as Edition,
    networkCidr: "10.40.0.0/16",
    public: true,
    natGateways: "one-per-zone" as NatGateways,
    workerSize: { aws: "m6i.large", azure: "Standard_D2s_v5" } as Record<Cloud, string>,
    dataDiskGb: 100,
    dedicated: false,
    /** Azure: on; a running VM takes it only when rebuilt (workers.rebuild), since Azure changes it only on a deallocated VM. */
    encryptionAtHost: true,
    healthCheckIntervalSeconds: 5,
    unhealthyThreshold: 2,
    /** One hour: quiet overnight MLLP links stay open; below both clouds' 6000 s ceiling. */
    idleTimeoutSeconds: 3600,
    queueRecovery: "none" as QueueRecovery,
    failoverStrategy: "load-balancer" as FailoverStrategy,
    /** Azure Files premium NFS shares are provisioned: 100 GiB is the smallest share. */
    shareGb: 100,
    /**
     * `storage.customerManagedKey` (Azure): off, because switching a running worker's disks to a
     * Disk Encryption Set needs the VM stopped; azure-prod turns it on.
     */
    customerManagedKey: false,
    /** `storage.protect`: off, so a dev stack can be destroyed; the shipped prod stacks turn it on. */
    protect: false,
    /** `failover.leaseSeconds`: the lease's duration (docs/lease.md). */
    leaseSeconds: 3,
    /** `network.deletionProtection`: off, so a dev stack can be destroyed; the shipped prod stacks turn it on. */
    deletionProtection: false,
    /**
     * `network.egress.restricted`: off, so an existing cluster's outbound feeds (Iguana's To LLP
     * and HTTP destinations, which the cluster cannot know) keep working; the prod stacks turn it on.
     */
    egressRestricted: false,
    /** `audit.flowLogs`: a network audit trail from the first deployment. */
    flowLogs: true,
    /** `audit.workerLogs`: the workers' own logs in the cloud from the first deployment (HIPAA 164.312(b)). */
    workerLogs: true,
    /**
     * `audit.retentionDays`: six years (2192 days, a CloudWatch Logs value), the retention HIPAA
     * sets for its required documentation (45 CFR 164.316(b)(2)(i)), which many covered entities
     * apply to audit logs too.
     */
    auditRetentionDays: 2192,
    /** `alerts.unhealthyMinutes`: long enough for Iguana's own restart, short enough that a lost standby is known within minutes. */
    unhealthyMinutes: 5,
    /** `alerts.diskFillPercent`: room for a day of queue on most feeds before Iguana cannot write. */
    diskFillPercent: 80,
    /** `backup.enabled`: the queue disks are backed up from the first deployment (HIPAA 164.308(a)(7)(ii)(A), data backup plan). */
    backup: true,
    /** `backup.everyHours`: Azure Disk Backup's own default; a lost disk loses at most 4 hours of queue and logs. */
    backupEveryHours: 4,
    /** `backup.retentionDays`: five weeks, AWS Backup's default for its daily plans. */
    backupRetentionDays: 35,
} as const;

/**
 * `failover.leaseSeconds`. 3 s is the floor: the rule leaves the holder L/3 (1 s) of margin
 * between its own fence and the earliest takeover. 60 s is the ceiling: a crash failover
 * waits a whole lease.
 */
export const LEASE_SECONDS: Range = { min: 3, max: 60 };

/** The partition (hash) key attribute of the AWS lease table: the item is `pk = <itemKey>` (docs/lease.md). */
export const AWS_LEASE_HASH_KEY = "pk";

/** Tag `holds` of the lease store (the AWS table, the Azure storage account): the policy pack finds it by it. */
export const HOLDS_LEASE = "iguana-lease";
/** The `holds` tag of the Azure storage account that keeps the VNet flow logs (the policy pack finds it by this). */
export const HOLDS_FLOW_LOGS = "iguana-flow-logs";
/**
 * Where Azure keeps a region's Network Watcher when it enables it by itself (Microsoft Learn,
 * Network Watcher FAQ): one per region and subscription, so the cluster uses it, never creates one.
 */
export const AZURE_NETWORK_WATCHER = { resourceGroup: "NetworkWatcherRG", namePrefix: "NetworkWatcher_" } as const;
/** The `holds` tag of the Azure public IP that is the VIP (the policy pack finds it by this). */
export const HOLDS_VIP = "iguana-vip";
/** The namespace of the metrics the workers publish themselves (events.ts): CloudWatch's and Azure Monitor's custom metrics. */
export const EVENTS_NAMESPACE = "IguanaHA";
/** The metric a worker publishes when it takes the lease over from its peer. */
export const TAKEOVER_METRIC = "Takeovers";
/**
 * What a worker reports about itself every minute and on each change of role (events.ts), each a
 * gauge by Worker: 1 or 0, the disk a percentage.
 */
export const SIGNAL_METRICS = {
    /** Its role probe answers 200: the load balancer sends it traffic. */
    active: "Active",
    /** It holds the lease (the store's record is its own and the deadline has not passed). */
    holdsLease: "HoldsLease",
    /** The lease guard's own health check of Iguana passes (0 too when the guard is not running). */
    iguanaHealthy: "IguanaHealthy",
    /** The lease guard had an answer from the lease store in the last LEASE_STORE_SILENT_SECONDS. */
    leaseStoreReachable: "LeaseStoreReachable",
    /** How full the file system of Iguana's working directory is (the data disk, or the shared queue). */
    dataDiskUsedPercent: "DataDiskUsedPercent",
} as const;
/** How often a worker reports its signals between changes of role. */
export const SIGNALS_EVERY_SECONDS = 60;
/** No answer from the lease store for this long counts as unreachable (many lease durations, so one slow call does not). */
export const LEASE_STORE_SILENT_SECONDS = 30;
/** Minutes an alarm's condition must hold: two one-minute periods, so one late datapoint does not page anyone. */
export const ALARM_MINUTES = 2;
/**
 * The windows a worker's signal alarms may use, in minutes: those an Azure metric alert takes
 * (its windowSize is one of PT1M, PT5M, PT15M, PT30M, PT1H, ...), from 5 so that a restart or a
 * failover does not page anyone. A CloudWatch alarm takes any of them as one-minute periods.
 */
export const SIGNAL_ALARM_WINDOWS = [5, 15, 30, 60] as const;
/** `alerts.diskFillPercent`: the fill levels a disk-fill alarm may watch for. */
export const DISK_FILL_PERCENT_RANGE: Range = { min: 50, max: 95 };

/** The `holds` tag of the Azure disks' key, its vault and its Disk Encryption Set (`storage.customerManagedKey`). */
export const HOLDS_DISK_KEY = "iguana-disk-key";
/** The `holds` tag of what keeps the queue's recovery points: the backup vaults, Azure's snapshots' group. */
export const HOLDS_BACKUPS = "iguana-queue-backups";

/** The dashboard's listener (AWS target group and listener `<cluster>-dashboard`, the Azure LB rule): no channel may take the name. */
export const DASHBOARD_LISTENER = "dashboard";

/** Name of the cluster component in the program (index.ts); its children are named `iguana-*`. */
export const CLUSTER_NAME = "iguana";

/** The tag keys the cluster sets itself (baseTags, and per resource); a user tag may not take one. */
export const OWN_TAG_KEYS = ["project", "environment", "cluster", "role", "worker", "Name", "tier", "holds", "channel", "protocol"] as const;

/**
 * Tags per resource, both clouds: at most 50, keys up to 128 characters (Azure allows 512 but 128
 * on storage accounts, which the cluster tags), values up to 256. AWS ("Tag restrictions", AWS
 * General Reference): letters, digits, spaces and `_ . : / = + - @`, no `aws:` prefix. Azure
 * ("Use tags to organize your Azure resources"): no `< > % & \ ? /` in a key, which Azure
 * compares without case. The user's share is what the cluster's own keys leave.
 */
export const TAG_LIMITS = { maxPerResource: 50, maxUserTags: 50 - OWN_TAG_KEYS.length, maxKeyLength: 128, maxValueLength: 256 } as const;

/** NFS (EFS mount targets, Azure Files private endpoint) listens on TCP 2049. */
export const NFS_PORT = 2049;

/**
 * Provisioned size of the Azure Files premium NFS share: 100 GiB to 102,400 GiB
 * (MicrosoftDocs/azure-docs articles/storage/files/storage-files-quick-create-use-linux.md:
 * "enter 100 for the minimum Provisioned capacity, or provision more capacity (up to
 * 102,400 GiB)"). EFS grows elastically and takes no size.
 */
export const AZURE_SHARE_GB: Range = { min: 100, max: 102400 };

/**
 * Fixed uid of the iguana user when the working directory is shared: NFS (sec=sys) checks
 * numeric ids, so both workers must give the user the same one. Below 1000 (a system user on
 * Ubuntu), and not one Ubuntu 24.04's own system users take.
 */
export const IGUANA_SHARED_UID = 970;

/**
 * With shared storage, Iguana starts on promotion. Until it first answers its health check (at
 * most this long: a large queue makes Iguana rebuild its indexes at start-up), the lease guard's
 * health check does not count it as failed, so a slow start does not hand the lease back and forth.
 */
export const IGUANA_START_GRACE_SECONDS = 300;

/**
 * amazon-efs-utils is not packaged for Ubuntu: AWS says to build the .deb from the source
 * (github.com/aws/efs-utils README, "On other Linux distributions": ./build-deb.sh). We build
 * this tag, so every worker runs the same mount helper.
 */
export const EFS_UTILS_GIT = { url: "https://github.com/aws/efs-utils", ref: "v2.3.0" } as const;

/** Azure's private DNS zone for the `file` endpoint of storage accounts (Private Link). */
export const AZURE_FILE_PRIVATE_DNS_ZONE = "privatelink.file.core.windows.net";
/** Azure's private DNS zone for the `blob` endpoint of storage accounts (Private Link): the lease. */
export const AZURE_BLOB_PRIVATE_DNS_ZONE = "privatelink.blob.core.windows.net";
/** Key Vault's private DNS zone (Microsoft Learn, "Azure Private Endpoint DNS configuration"). */
export const AZURE_VAULT_PRIVATE_DNS_ZONE = "privatelink.vaultcore.azure.net";
/** The blob container holding an Azure cluster's lease record. */
export const AZURE_LEASE_CONTAINER = "lease";

/**
 * Idle timeout of an Azure Public IP on a NIC (failover.strategy: floating-ip): 4-30 minutes,
 * default 4 ("idleTimeoutInMinutes", Microsoft.Network publicIPAddresses). Unlike a load
 * balancer rule it sends no TCP reset, so the workers' keepalive must stay below it.
 */
export const AZURE_PUBLIC_IP_IDLE_TIMEOUT_SECONDS: Range = { min: 240, max: 1800 };

/** The smallest and largest VPC/VNet prefix we carve four subnets from. */
export const NETWORK_PREFIX_RANGE = { min: 16, max: 24 } as const;

/** Channel names become parts of cloud resource names (AWS target groups allow 32 characters). */
export const CHANNEL_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$/;
export const CHANNEL_NAME_MAX = 24;

export interface Range {
    min: number;
    max: number;
}

export interface CloudLimits {
    healthCheckIntervalSeconds: Range;
    unhealthyThreshold: Range;
    idleTimeoutSeconds: Range;
    /** Azure counts idle timeouts in whole minutes. */
    idleTimeoutStepSeconds: number;
    dataDiskGb: Range;
    /** Channels one cluster can carry (AWS shards them over several NLBs). */
    maxChannels: number;
    /** Why `maxChannels`, for the validation message. */
    maxChannelsReason: string;
    workerSizePattern: RegExp;
    workerSizeExample: string;
}

/**
 * What each cloud accepts (see research/cloud-ha.md):
 * - NLB target group health check: interval 5-300 s, thresholds 2-10; TCP listener idle
 *   timeout 60-6000 s; 50 listeners per NLB (not adjustable): see aws/scale.ts for sharding.
 * - Azure LB probe: interval at least 5 s (no documented ceiling: we cap at 300 s like AWS),
 *   probeThreshold at least 1 (we cap at 10 like AWS); rule idle timeout 4-100 minutes.
 * - Disks: gp3 1-16384 GiB, Azure managed disk 4-32767 GiB; below 10 GiB an Iguana queue
 *   fills in hours, so 10 is our floor on both.
 * - Azure channels: a Standard Load Balancer allows 1,500 rules per load balancer, but only
 *   300 rules per NIC across all its IP configurations (load-balancing, inbound NAT and
 *   outbound rules combined). Every channel rule and the dashboard rule target both workers'
 *   NICs, so 300 - 1 = 299 channels. Source: "Load balancer limits", Azure subscription and
 *   service limits (learn.microsoft.com/azure/azure-resource-manager/management/
 *   azure-subscription-service-limits#load-balancer; MicrosoftDocs/azure-docs
 *   includes/load-balancer-limits.md, ms.date 06/30/2026). No per-LB probe limit is
 *   published; we use at most two probes. The NSG (1,000 rules) is far from its limit; its
 *   4,000 source addresses are not, with many allowed CIDRs: see azure/scale.ts.
 */
export const CLOUD_LIMITS: Record<Cloud, CloudLimits> = {
    aws: {
        healthCheckIntervalSeconds: { min: 5, max: 300 },
        unhealthyThreshold: { min: 2, max: 10 },
        idleTimeoutSeconds: { min: 60, max: 6000 },
        idleTimeoutStepSeconds: 1,
        dataDiskGb: { min: 10, max: 16384 },
        // One target group per channel; 3000 target groups per region are shared with the account.
        maxChannels: 1000,
        maxChannelsReason: "one target group per channel, from the region's 3,000 shared with the account",
        workerSizePattern: /^[a-z][a-z0-9-]*\.[a-z0-9]+$/,
        workerSizeExample: "m6i.large",
    },
    azure: {
        healthCheckIntervalSeconds: { min: 5, max: 300 },
        unhealthyThreshold: { min: 1, max: 10 },
        idleTimeoutSeconds: { min: 240, max: 6000 },
        idleTimeoutStepSeconds: 60,
        dataDiskGb: { min: 10, max: 32767 },
        maxChannels: 299,
        maxChannelsReason: "a Standard Load Balancer allows 300 rules per NIC and the dashboard takes one",
        workerSizePattern: /^Standard_[A-Za-z0-9_-]+$/,
        workerSizeExample: "Standard_D2s_v5",
    },
};

/** IP addresses and ranges one Azure NSG may name as sources (and, counted apart, as destinations). */
export const AZURE_NSG_ADDRESSES_PER_DIRECTION = 4000;

/** Listeners per NLB: 50, not adjustable (the dashboard listener counts). */
export const NLB_LISTENER_QUOTA = 50;

/** AWS security groups hold 60 inbound rules by default; one rule per port range and source CIDR. */
export const AWS_SECURITY_GROUP_INBOUND_RULES = 60;

/** An AWS subnet's size limits (/16 to /28): an existing network's subnets must be one. */
export const EXISTING_SUBNET_PREFIX_RANGE: Range = { min: 16, max: 28 };

/** Fixed host offset of each worker's private address inside its subnet (clouds reserve .0-.3). */
export const WORKER_HOST_OFFSET = 10;
/** Host offset of the internal NLB's private address per subnet (when `network.public` is false). */
export const INTERNAL_VIP_HOST_OFFSET = 5;

/** The AWS device name the data volume is attached at; bootstrap finds it by volume id instead. */
export const AWS_DATA_DEVICE_NAME = "/dev/sdf";
export const ROOT_VOLUME_GB = 20;

/** Canonical's AWS account, owner of the official Ubuntu AMIs. */
export const CANONICAL_AWS_OWNER = "099720109477";
export const UBUNTU_AMI_NAME = {
    x86_64: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
    arm64: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-*",
} as const;

/** The two Azure availability zones the workers use: WK1 in "1", WK2 in "2". */
export const AZURE_WORKER_ZONES = ["1", "2"] as const;
/** A zone-redundant Standard public IP or LB frontend spans every zone of the region. */
export const AZURE_ZONE_REDUNDANT = ["1", "2", "3"] as const;

/** Canonical's Ubuntu 24.04 LTS marketplace image; `server` is x64 Gen2, `server-arm64` Arm64. */
export const UBUNTU_AZURE_IMAGE = {
    publisher: "Canonical",
    offer: "ubuntu-24_04-lts",
    sku: { x86_64: "server", arm64: "server-arm64" },
    version: "latest",
} as const;

/** Local admin account of the Azure workers (Azure rejects names such as admin or root). */
export const AZURE_ADMIN_USERNAME = "iguanaadmin";
/** Azure accepts ssh-rsa keys of at least 2048 bits; the generated placeholder key uses more. */
export const AZURE_SSH_KEY_BITS = 3072;

/** LUN of the Iguana data disk on each Azure VM (on SCSI sizes: /dev/disk/azure/scsi1/lun0). */
export const AZURE_DATA_DISK_LUN = 0;

/** Managed-disk SKU of the OS and data disks: Premium SSD needs a premium-capable VM size. */
export const AZURE_DISK_SKU = "Premium_LRS";

/**
 * Dedicated host SKU per VM series (a host runs VMs of exactly one series). We map the current
 * general purpose, memory and compute optimized series, each to its newest hardware type
 * (sources: learn.microsoft.com/azure/virtual-machines/dedicated-host-general-purpose-skus,
 * -memory-optimized-skus, -compute-optimized-skus). Host availability varies by region.
 * Key: the series as parsed from the size name (family + features + "_v" + version).
 */
export const AZURE_DEDICATED_HOST_SKUS: Readonly<Record<string, string>> = {
    Ds_v5: "DSv5-Type1",
    Dds_v5: "DDSv5-Type1",
    Das_v5: "DASv5-Type1",
    Dads_v5: "DADSv5-Type1",
    Ds_v4: "DSv4-Type2",
    Dds_v4: "DDSv4-Type2",
    Das_v4: "DASv4-Type2",
    Es_v5: "ESv5-Type1",
    Eds_v5: "EDSv5-Type1",
    Eas_v5: "EASv5-Type1",
    Eads_v5: "EADSv5-Type1",
    Es_v4: "ESv4-Type2",
    Eds_v4: "EDSv4-Type2",
    Eas_v4: "EASv4-Type2",
    Fs_v2: "FSv2-Type4",
};

/**
 * NSG rule priorities of the worker subnets (lower wins, 100-4096). Denies for SSH/RDP come
 * first so no later rule can open them; the catch-all VNet deny comes last.
 */
export const AZURE_NSG_PRIORITY = {
    denySshRdpFromInternet: 100,
    roleProbe: 110,
    iguanaHealth: 120,
    dashboard: 140,
    /** Channel i gets channelsFrom + i (at most 299 channels, so up to 498). */
    channelsFrom: 200,
    denyOtherVnetInbound: 4000,
    /** Outbound rules (their own priority space): the always-allowed ports, the destinations from destinationsFrom + i, then deny the rest. */
    egressAlwaysFrom: 100,
    /** `network.egress.proxy`: the proxy, the private endpoints, then the cloud APIs (AZURE_PROXIED_SERVICE_TAGS) from egressProxyFrom + 2. */
    egressProxyFrom: 110,
    egressDestinationsFrom: 200,
    denyOtherOutbound: 4000,
} as const;

/**
 * Default quotas a first deployment runs into, per account (AWS) or subscription (Azure) and
 * region. The plan prints what a stack needs of each; `pulumi preview` warns above a default.
 * - AWS "Elastic IP addresses per Region": 5, adjustable (Amazon VPC quotas,
 *   docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html; Service Quotas L-0263D0A3).
 * - AWS "Network Load Balancers per Region": 50, adjustable ("Quotas for your Network Load
 *   Balancers", docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-limits.html).
 * - AWS security groups per network interface: 5 (Amazon VPC quotas).
 * - Azure "Standard Public IP addresses": 10 by default, varying by offer (Enterprise Agreement:
 *   1,000); "NSG rules per NSG": 1,000 ("Networking limits", Azure subscription and service
 *   limits; MicrosoftDocs/azure-docs includes/azure-virtual-network-limits.md).
 * The NLB listener (50) and security group rule (60) limits are NLB_LISTENER_QUOTA and
 * AWS_SECURITY_GROUP_INBOUND_RULES above; Azure's 300 rules per NIC is CLOUD_LIMITS.azure.
 */
export const DEFAULT_QUOTAS = {
    awsElasticIpsPerRegion: 5,
    awsNlbsPerRegion: 50,
    awsSecurityGroupsPerInterface: 5,
    azureStandardPublicIpsPerRegion: 10,
    azureNsgRulesPerNsg: 1000,
    azureLoadBalancerRulesPerNic: 300,
} as const;

/** RFC 5737 documentation ranges: no real sender or admin network has these addresses. */
export const DOCUMENTATION_CIDRS = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"] as const;
