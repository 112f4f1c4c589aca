/**
 * The configuration contract as one table: every key a stack file or HaIguanaCluster's args
 * take, its type, choices, range, default and description. The validator (config.ts) reads its
 * keys, choices, ranges and defaults from here; `npm run contract` writes the args types
 * (args.ts), Pulumi.yaml's config section and docs/configuration.md's table from it, and a test
 * fails when any of them differs from what this table renders.
 */
import {
    ALERT_EMAILS_MAX,
    DISK_FILL_PERCENT_RANGE,
    SIGNAL_ALARM_WINDOWS,
    AUDIT_RETENTION_DAYS,
    BACKUP_EVERY_HOURS,
    BACKUP_RETENTION_DAYS,
    AZURE_PUBLIC_IP_IDLE_TIMEOUT_SECONDS,
    AZURE_SHARE_GB,
    CHANNEL_MODES,
    CHANNEL_NAME_MAX,
    CLOUDS,
    CLOUD_LIMITS,
    Cloud,
    DASHBOARD_LISTENER,
    DEFAULTS,
    EDITIONS,
    EDITION_WEB_PORT,
    Edition,
    FAILOVER_STRATEGY_CHOICES,
    FailoverStrategy,
    LEASE_SECONDS,
    NAT_GATEWAY_CHOICES,
    NETWORK_PREFIX_RANGE,
    PROTOCOLS,
    QUEUE_RECOVERY_CHOICES,
    RDP_PORT,
    ROLE_PROBE_PORT,
    Range,
    SSH_PORT,
    WORKER_NAMES,
} from "./constants";

/** What a default or a range may depend on: the cloud, and the keys read before it. */
export interface LeafContext {
    cloud: Cloud | undefined;
    edition: Edition;
    strategy: FailoverStrategy;
}

interface KeySpec {
    /** One sentence or two for users: the args' doc comment, and Pulumi.yaml's description. */
    summary: string;
    required?: boolean;
    /** A `pulumi.Input` in the args: a user may pass another resource's or stack's output. */
    input?: boolean;
    /** Read on this cloud only. */
    only?: Cloud;
    /** The default as docs/configuration.md writes it, when it is not the value itself. */
    defaultText?: string;
}
export interface StringSpec extends KeySpec {
    kind: "string";
    /** A secret leaf: set with `--secret`, and refused when its key is stored in clear. */
    secret?: {
        /** What follows the key in `pulumi config set --path --secret '<key>' ...`. */
        setWith: string;
        /** What else to do once it was in clear. */
        afterwards: string;
    };
}
export interface BooleanSpec extends KeySpec {
    kind: "boolean";
    default: boolean;
}
export interface IntegerSpec extends KeySpec {
    kind: "integer";
    /** The allowed range; undefined while the cloud is unknown. */
    range: (context: LeafContext) => Range | undefined;
    /** Appended to the number in messages (" s", " GiB"), when the range has a unit. */
    unit?: (context: LeafContext) => string;
    default?: (context: LeafContext) => number;
}
export interface EnumSpec extends KeySpec {
    kind: "enum";
    /** The TypeScript type (and schema enum) name of the choices, from constants.ts. */
    typeName: string;
    choices: readonly string[];
    default?: string;
}
/** A list of IPv4 CIDRs. */
export interface CidrsSpec extends KeySpec {
    kind: "cidrs";
}
/** A list of email addresses. */
export interface EmailsSpec extends KeySpec {
    kind: "emails";
}
/** A map of tag keys to values (values may be Inputs). */
export interface TagsSpec extends KeySpec {
    kind: "tags";
}
export interface ObjectSpec extends KeySpec {
    kind: "object";
    /** The args interface's name, and its doc comment. */
    typeName: string;
    typeSummary?: string;
    fields: Record<string, Spec>;
}
export interface ListSpec extends KeySpec {
    kind: "list";
    of: ObjectSpec;
}
export type LeafSpec = StringSpec | BooleanSpec | IntegerSpec | EnumSpec;
export type Spec = LeafSpec | CidrsSpec | EmailsSpec | TagsSpec | ObjectSpec | ListSpec;

/** A top-level key: its spec, and the notes of its row in docs/configuration.md. */
export type TopLevelSpec = Spec & { notes: string; shapeText?: string };

const range = (r: Range) => `${r.min}-${r.max}`;
const port: Range = { min: 1, max: 65535 };
const { aws, azure } = CLOUD_LIMITS;
const limit = (context: LeafContext, pick: (limits: (typeof CLOUD_LIMITS)[Cloud]) => Range) => (context.cloud ? pick(CLOUD_LIMITS[context.cloud]) : undefined);
const azureFloatingIp = (context: LeafContext) => context.cloud === "azure" && context.strategy === "floating-ip";

const existingSubnet: ObjectSpec = {
    kind: "object",
    typeName: "ExistingSubnetArgs",
    typeSummary: "A subnet of an existing network: its id, and its CIDR, from which the workers' fixed addresses are computed.",
    summary: "A subnet, { id, cidr }.",
    fields: {
        id: { kind: "string", required: true, input: true, summary: "The subnet's id (AWS `subnet-...`; Azure the subnet's resource id)." },
        cidr: { kind: "string", required: true, summary: "The subnet's IPv4 CIDR, as the cloud holds it: checked against the subnet at preview." },
    },
};

const existingNetwork: ObjectSpec = {
    kind: "object",
    typeName: "ExistingNetworkArgs",
    typeSummary:
        "A network the cluster joins instead of creating one (a hospital network reached over a VPN, Direct Connect or ExpressRoute). The cluster creates no VPC / VNet, subnets, routes or NAT gateways in it; the worker subnets must already reach the Internet (or the installer's host) and the cloud's APIs.",
    summary: "Join an existing network instead of creating one, with `cidr` set to its CIDR (docs/outputs.md).",
    fields: {
        vpcId: { kind: "string", only: "aws", input: true, summary: "AWS: the VPC's id (`vpc-...`); `network.cidr` must be its CIDR." },
        virtualNetworkId: { kind: "string", only: "azure", input: true, summary: "Azure: the VNet's resource id; `network.cidr` must be one of its address spaces." },
        workerSubnets: { kind: "list", of: existingSubnet, required: true, summary: "The two worker subnets, WK1's first (on AWS in two different availability zones)." },
        loadBalancerSubnets: {
            kind: "list",
            of: existingSubnet,
            only: "aws",
            summary:
                "AWS: the two subnets of the internet-facing load balancer (public subnets routing to an Internet gateway), zone by zone as `workerSubnets`. Required with `public: true`; an internal load balancer sits in the worker subnets.",
        },
        privateEndpointSubnet: {
            ...existingSubnet,
            only: "azure",
            summary: "Azure: the subnet for the private endpoints of the lease (and shared queue) storage accounts and of the Key Vault.",
        },
    },
};

const restoreFrom: ObjectSpec = {
    kind: "object",
    typeName: "RestoreFromArgs",
    typeSummary:
        "Recovery points to build the workers' data disks from: an AWS EBS snapshot id (`snap-...`, what AWS Backup keeps for a volume) or an Azure snapshot's resource id (what Azure Disk Backup keeps). Used only when the disk is created or replaced: see docs/operations.md#restoring-a-data-disk.",
    summary: "A recovery point per worker to build its data disk from, { wk1?, wk2? } (docs/operations.md#restoring-a-data-disk).",
    fields: {
        wk1: { kind: "string", summary: "WK1's data disk: an AWS snapshot id or an Azure snapshot's resource id." },
        wk2: { kind: "string", summary: "WK2's data disk: an AWS snapshot id or an Azure snapshot's resource id." },
    },
};

const egressDestination: ObjectSpec = {
    kind: "object",
    typeName: "EgressDestinationArgs",
    typeSummary: "A system the workers send to (an Iguana To LLP or HTTP destination): its CIDR and TCP port.",
    summary: "A destination, { cidr, port }.",
    fields: {
        cidr: { kind: "string", required: true, summary: "The destination's IPv4 CIDR (a host is /32)." },
        port: { kind: "integer", required: true, range: () => ({ min: 1, max: 65535 }), summary: "The destination's TCP port, 1-65535." },
    },
};

const egress: ObjectSpec = {
    kind: "object",
    typeName: "EgressArgs",
    typeSummary:
        "Outbound traffic from the workers. Restricted, they reach only TCP 443 and 80 and UDP 123 anywhere (the package archive, the installer's host, the cloud APIs, time; with `proxy`, the web only through the proxy and the cloud APIs through endpoints inside the network), NFS to the shared file system inside the network, and `destinations`; everything else is denied.",
    summary: "What the workers may connect to (docs/security.md#outbound-traffic).",
    fields: {
        restricted: {
            kind: "boolean",
            default: DEFAULTS.egressRestricted,
            summary:
                "Deny outbound traffic but the web, time, the shared file system and `destinations` (default false: open, so existing outbound feeds keep working; the prod stacks set it).",
        },
        destinations: {
            kind: "list",
            of: egressDestination,
            defaultText: "`[]`",
            summary: "The systems Iguana sends to (To LLP, HTTP), each `{ cidr, port }`: with `restricted`, nothing else is reached.",
        },
        proxy: {
            kind: "string",
            summary:
                "With `restricted`: the HTTP proxy the workers download through (packages, the installer), `http://<IPv4 address>:<port>`; the web is then reached only through it, and the cloud APIs through endpoints inside the network.",
        },
    },
};

/** The project's config keys (`iguana-ha:<key>`), in the order the docs list them. */
export const CONTRACT = {
    cloud: {
        kind: "enum",
        typeName: "Cloud",
        choices: CLOUDS,
        required: true,
        summary: `Which cloud to deploy to: ${CLOUDS.map((c) => `"${c}"`).join(" or ")}.`,
        notes: "selects the implementation",
    },
    environment: {
        kind: "string",
        summary: "Value of the `environment` tag on every resource (default: the stack name).",
        defaultText: "the stack name",
        notes: "value of the `environment` tag",
    },
    tags: {
        kind: "tags",
        summary:
            "Your own tags (cost centre, owner, data classification), on every resource the cluster tags, beside its own (project, environment, cluster, role, worker, Name, tier, holds, channel, protocol), which they may not replace. At most 40; keys up to 128 characters, values up to 256. In code a value may be an Output.",
        shapeText: "map of key to string",
        notes: "a user tag may not take the cluster's own keys (compared without case). At most 40 (50 per resource, less the cluster's 10); keys up to 128 characters (Azure storage accounts' limit), values up to 256, strings (quote a number in YAML). AWS: letters, digits, spaces and `_ . : / = + - @`, no `aws:` prefix; Azure: no `< > % & \\ ? /` in a key, and no two keys differing only in case. In code a value may be an Output, checked when it resolves",
    },
    iguana: {
        kind: "object",
        typeName: "IguanaArgs",
        typeSummary: "Which Iguana runs on the workers and where its installer comes from.",
        summary: "Which Iguana edition the workers run, and its installer.",
        notes: `\`webPort\` is not ${SSH_PORT} (SSH) or ${ROLE_PROBE_PORT} (the role probe)`,
        fields: {
            edition: { kind: "enum", typeName: "Edition", choices: EDITIONS, default: DEFAULTS.edition, summary: `"iguanax" (default) or "iguana6".` },
            installerUrl: {
                kind: "string",
                input: true,
                summary: "http(s) URL of the Linux installer or tarball. It is written into the workers' boot configuration in clear text, so it must not embed a credential.",
            },
            installerSha256: {
                kind: "string",
                input: true,
                summary: "Hex SHA-256 of the installer (64 characters): a worker refuses a download that does not match.",
            },
            webPort: {
                kind: "integer",
                range: () => port,
                default: (context) => EDITION_WEB_PORT[context.edition],
                defaultText: "edition's port",
                summary: `Dashboard port (default ${EDITION_WEB_PORT.iguanax} for IguanaX, ${EDITION_WEB_PORT.iguana6} for Iguana 6).`,
            },
        },
    },
    channels: {
        kind: "list",
        required: true,
        summary: "At least one channel.",
        defaultText: "required, at least one",
        notes: `a \`name\` has at most ${CHANNEL_NAME_MAX} characters and is not \`${DASHBOARD_LISTENER}\` (the dashboard's own listener); a \`port\` is not ${SSH_PORT}, ${RDP_PORT}, ${ROLE_PROBE_PORT} or the web port; at most ${aws.maxChannels} on AWS (over NLBs by port block), ${azure.maxChannels} on Azure`,
        of: {
            kind: "object",
            typeName: "ChannelArgs",
            typeSummary: "One channel the load balancer (or the floating VIP) forwards to the active worker.",
            summary: "A channel.",
            fields: {
                name: { kind: "string", required: true, summary: "DNS-safe name: lowercase letters, digits and hyphens, starting with a letter." },
                protocol: { kind: "enum", typeName: "Protocol", choices: PROTOCOLS, required: true, summary: `"llp" (MLLP over TCP) or "http".` },
                port: { kind: "integer", range: () => port, required: true, summary: `TCP port, ${range(port)}, unique in the cluster.` },
                mode: {
                    kind: "enum",
                    typeName: "ChannelMode",
                    choices: CHANNEL_MODES,
                    default: "active-passive",
                    summary: `"active-passive" (default) or "active-active" (HTTP only, and only with a load balancer).`,
                },
            },
        },
    },
    network: {
        kind: "object",
        required: true,
        typeName: "NetworkArgs",
        summary: "Who may reach the channels and the dashboard, and the network the workers live in.",
        notes: "`adminCidrs` never `/0`; `deletionProtection`: the shipped prod stacks set it; not on AWS with `floating-ip` (an Elastic IP has no deletion protection); with `existing`, `cidr` is required and `natGateways` does not apply: AWS `{ vpcId, workerSubnets, loadBalancerSubnets? }`, Azure `{ virtualNetworkId, workerSubnets, privateEndpointSubnet }`, each subnet `{ id, cidr }` ([outputs.md](outputs.md))",
        fields: {
            cidr: {
                kind: "string",
                defaultText: `\`${DEFAULTS.networkCidr}\``,
                summary: `The VPC / VNet CIDR, /${NETWORK_PREFIX_RANGE.min} to /${NETWORK_PREFIX_RANGE.max} (default ${DEFAULTS.networkCidr}); with \`existing\`, the existing network's CIDR.`,
            },
            allowedCidrs: {
                kind: "cidrs",
                required: true,
                summary:
                    "CIDRs that may send to the channels. Required, at least one. Plain strings, not Inputs: on AWS each CIDR names its own ingress rule (`in-2575-10-20-0-0-16`), so adding or removing one touches that rule only, and a value known only at deployment cannot name a resource.",
            },
            adminCidrs: { kind: "cidrs", defaultText: "`[]`", summary: "CIDRs that may open the dashboard (default none). Plain strings, as `allowedCidrs`." },
            public: { kind: "boolean", default: DEFAULTS.public, summary: "An internet-facing load balancer or VIP (default true); false: reached only from inside the network." },
            natGateways: {
                kind: "enum",
                typeName: "NatGateways",
                choices: NAT_GATEWAY_CHOICES,
                default: DEFAULTS.natGateways,
                summary: `"one-per-zone" (default) or "single" NAT gateway for the workers' egress.`,
            },
            deletionProtection: {
                kind: "boolean",
                default: DEFAULTS.deletionProtection,
                summary:
                    "Deletion protection on what holds the VIP: the NLBs' own deletion protection on AWS; a CanNotDelete lock on the load balancer and its public IP (or the floating public IP) on Azure. Turn it off with `pulumi up` before `pulumi destroy` (default false).",
            },
            existing: existingNetwork,
            egress,
        },
    },
    workers: {
        kind: "object",
        typeName: "WorkersArgs",
        summary: "The two workers' size and disks.",
        notes: `on Azure \`size\` is a premium-storage size, and with \`dedicated\` a series that has a dedicated host SKU; \`dataDiskGb\` ${range(aws.dataDiskGb)} on AWS, ${range(azure.dataDiskGb)} on Azure`,
        fields: {
            size: {
                kind: "string",
                defaultText: `\`${DEFAULTS.workerSize.aws}\` / \`${DEFAULTS.workerSize.azure}\``,
                summary: `EC2 instance type or Azure VM size (default ${DEFAULTS.workerSize.aws} / ${DEFAULTS.workerSize.azure}).`,
            },
            dataDiskGb: {
                kind: "integer",
                range: (context) => limit(context, (l) => l.dataDiskGb),
                unit: () => " GiB",
                default: () => DEFAULTS.dataDiskGb,
                summary: `Each worker's encrypted data disk in GiB (default ${DEFAULTS.dataDiskGb}).`,
            },
            dedicated: { kind: "boolean", default: DEFAULTS.dedicated, summary: "Dedicated tenancy (AWS) or dedicated hosts (Azure); default false." },
            encryptionAtHost: {
                kind: "boolean",
                only: "azure",
                default: DEFAULTS.encryptionAtHost,
                summary:
                    "Azure only: encryption at host on the VMs: the temp disk and the disk caches encrypted on the host (default true; the subscription must have the EncryptionAtHost feature registered; a running worker takes a change when it is rebuilt).",
            },
            rebuild: {
                kind: "enum",
                typeName: "WorkerName",
                choices: WORKER_NAMES,
                defaultText: "unset",
                summary:
                    'The one worker `pulumi up` may rebuild now ("wk1" or "wk2"): it is replaced when its boot configuration differs from what it runs (on AWS also when a newer Ubuntu AMI is out), and its data disk moves to the new machine. Unset (default), a change of either touches no worker. Rebuild the passive worker first, hand over, then the other (docs/operations.md#changing-what-the-workers-boot-with).',
            },
        },
    },
    failover: {
        kind: "object",
        typeName: "FailoverArgs",
        summary: "How the VIP follows the active worker, and how fast.",
        notes: `see [strategies.md](strategies.md). AWS: interval ${range(aws.healthCheckIntervalSeconds)} s, threshold ${range(aws.unhealthyThreshold)} (also used as the healthy threshold), idle timeout ${range(aws.idleTimeoutSeconds)} s. Azure: interval ${range(azure.healthCheckIntervalSeconds)} s, threshold ${range(azure.unhealthyThreshold)}, idle timeout ${range(azure.idleTimeoutSeconds)} s in whole minutes. With \`floating-ip\`: no interval or threshold; Azure idle timeout ${range(AZURE_PUBLIC_IP_IDLE_TIMEOUT_SECONDS)} s (default ${AZURE_PUBLIC_IP_IDLE_TIMEOUT_SECONDS.max}). \`leaseSeconds\`, with either strategy ([lease.md](lease.md)): a crash failover waits about one lease; the store's request cost scales with 1/\`leaseSeconds\` ([lease.md](lease.md#resources-and-cost))`,
        fields: {
            strategy: {
                kind: "enum",
                typeName: "FailoverStrategy",
                choices: FAILOVER_STRATEGY_CHOICES,
                default: DEFAULTS.failoverStrategy,
                summary: `"load-balancer" (default: a managed load balancer holds the VIP) or "floating-ip" (no load balancer: the active worker moves one public address to itself).`,
            },
            healthCheckIntervalSeconds: {
                kind: "integer",
                range: (context) => limit(context, (l) => l.healthCheckIntervalSeconds),
                unit: () => " s",
                default: () => DEFAULTS.healthCheckIntervalSeconds,
                summary: `Seconds between load balancer health checks (default ${DEFAULTS.healthCheckIntervalSeconds}).`,
            },
            unhealthyThreshold: {
                kind: "integer",
                range: (context) => limit(context, (l) => l.unhealthyThreshold),
                default: () => DEFAULTS.unhealthyThreshold,
                summary: `Failed checks before a worker is taken out (default ${DEFAULTS.unhealthyThreshold}; also the healthy threshold).`,
            },
            idleTimeoutSeconds: {
                kind: "integer",
                range: (context) => (azureFloatingIp(context) ? AZURE_PUBLIC_IP_IDLE_TIMEOUT_SECONDS : limit(context, (l) => l.idleTimeoutSeconds)),
                unit: (context) => (azureFloatingIp(context) ? " s (an Azure Public IP's idle timeout)" : " s"),
                default: (context) => (azureFloatingIp(context) ? AZURE_PUBLIC_IP_IDLE_TIMEOUT_SECONDS.max : DEFAULTS.idleTimeoutSeconds),
                summary: `Idle timeout of channel connections in seconds (default ${DEFAULTS.idleTimeoutSeconds}; with floating-ip on Azure ${AZURE_PUBLIC_IP_IDLE_TIMEOUT_SECONDS.max}).`,
            },
            leaseSeconds: {
                kind: "integer",
                range: () => LEASE_SECONDS,
                unit: () => " s",
                default: () => DEFAULTS.leaseSeconds,
                summary: `How long the lease that makes a worker active lasts, ${range(LEASE_SECONDS)} seconds (default ${DEFAULTS.leaseSeconds}).`,
            },
        },
    },
    storage: {
        kind: "object",
        typeName: "StorageArgs",
        summary: "Where Iguana's working directory (the queue) lives, and how it is kept.",
        notes: "see [strategies.md](strategies.md); with `shared`, no channel may be `active-active` and `workers.dataDiskGb` does not apply. `protect`: see [data.md](data.md); `aws-prod` and `azure-prod` set it",
        fields: {
            queueRecovery: {
                kind: "enum",
                typeName: "QueueRecovery",
                choices: QUEUE_RECOVERY_CHOICES,
                default: DEFAULTS.queueRecovery,
                summary: `"none" (default: a data disk per worker, both Iguanas run) or "shared" (one shared file system, EFS or Azure Files NFS 4.1; Iguana runs on the active worker only and the backup resumes its queue in order).`,
            },
            shareGb: {
                kind: "integer",
                only: "azure",
                range: () => AZURE_SHARE_GB,
                unit: () => " GiB",
                default: () => DEFAULTS.shareGb,
                summary: `Azure only: size of the premium NFS share, ${range(AZURE_SHARE_GB)} GiB (default ${DEFAULTS.shareGb}).`,
            },
            protect: {
                kind: "boolean",
                default: DEFAULTS.protect,
                summary:
                    "Pulumi `protect` on what holds the queue (data disks or shared file system, the AWS KMS key, the Azure data resource group), so destroy and replacement stop until `pulumi state unprotect` (default false).",
            },
            customerManagedKey: {
                kind: "boolean",
                only: "azure",
                default: DEFAULTS.customerManagedKey,
                summary:
                    "Azure only: the workers' OS and data disks encrypted with a key of the cluster's own (a Disk Encryption Set, a Key Vault key rotated yearly, both kept by destroy) instead of platform-managed keys (default false; turning it on for running workers needs them stopped). AWS always uses the project KMS key.",
            },
            restoreFrom,
        },
    },
    audit: {
        kind: "object",
        typeName: "AuditArgs",
        summary: "The audit trail (HIPAA 164.312(b)): flow logs of the workers' network, the workers' own logs, and how long they are kept.",
        notes: "AWS: VPC flow logs (subnet flow logs of the worker and load balancer subnets with `network.existing`) to a CloudWatch Logs group encrypted with the cluster's KMS key; Azure: VNet flow logs (the worker subnets' with `network.existing`) to a storage account of the cluster, deleted by a lifecycle rule after `retentionDays`. The workers' logs: a CloudWatch Logs group encrypted with the cluster's KMS key (AWS); a Log Analytics workspace whose Syslog table keeps `retentionDays`, at least 4 (Azure). See [security.md](security.md#audit-trail) and [operations.md](operations.md#logs-in-the-cloud)",
        fields: {
            flowLogs: {
                kind: "boolean",
                default: DEFAULTS.flowLogs,
                summary: "Flow logs of every connection to and from the workers and the load balancer (default true).",
            },
            workerLogs: {
                kind: "boolean",
                default: DEFAULTS.workerLogs,
                summary:
                    "Each worker's syslog (the lease guard, the role scripts, the gate, Iguana's service, the boot steps' warnings; on AWS also cloud-init's output file) shipped by the cloud's own agent, with a saved query per failover event (default true). AWS: the CloudWatch agent, installed and configured by Systems Manager; Azure: the Azure Monitor Agent and a data collection rule.",
            },
            retentionDays: {
                kind: "integer",
                range: () => AUDIT_RETENTION_DAYS,
                unit: () => " days",
                default: () => DEFAULTS.auditRetentionDays,
                summary: `Days the flow logs and the workers' logs are kept, ${range(AUDIT_RETENTION_DAYS)} (default ${DEFAULTS.auditRetentionDays}: six years, HIPAA's retention for required documentation); on AWS one of CloudWatch Logs' retention periods.`,
            },
        },
    },
    alerts: {
        kind: "object",
        typeName: "AlertsArgs",
        summary: "Who is told when a channel has no healthy worker behind it (an outage) or a worker fails its cloud's health checks (the cluster runs without a standby).",
        notes: "AWS: an SNS topic encrypted with the cluster's KMS key, and CloudWatch alarms on every channel's target group (no healthy target) and on each worker's status checks; Azure: an action group, and metric alerts on the load balancer's health probes (no healthy backend) and each VM's availability. Each address gets the cloud's confirmation email first. See [operations.md](operations.md#alerts)",
        fields: {
            emails: {
                kind: "emails",
                defaultText: "`[]`",
                summary: `Email addresses told of every alarm and of its recovery, at most ${ALERT_EMAILS_MAX} (default none: the alarms and the topic or action group exist, for other subscribers).`,
            },
            unhealthyMinutes: {
                kind: "integer",
                range: () => ({ min: SIGNAL_ALARM_WINDOWS[0], max: SIGNAL_ALARM_WINDOWS[SIGNAL_ALARM_WINDOWS.length - 1] }),
                unit: () => " minutes",
                default: () => DEFAULTS.unhealthyMinutes,
                summary: `Minutes a worker's Iguana may fail the lease guard's health check (or the worker report nothing, on AWS) before \`iguana-wkN-iguana-unhealthy\` fires: one of ${SIGNAL_ALARM_WINDOWS.join(", ")}, the windows both clouds' alarms take (default ${DEFAULTS.unhealthyMinutes}).`,
            },
            diskFillPercent: {
                kind: "integer",
                range: () => DISK_FILL_PERCENT_RANGE,
                unit: () => " %",
                default: () => DEFAULTS.diskFillPercent,
                summary: `How full the file system of Iguana's working directory (its data disk, or the shared queue) may be before \`iguana-wkN-disk-fill\` fires, ${range(DISK_FILL_PERCENT_RANGE)} % (default ${DEFAULTS.diskFillPercent}).`,
            },
            webhookUrl: {
                kind: "string",
                input: true,
                secret: { setWith: "'https://...'", afterwards: "have the webhook's credential renewed: it is in the file's history" },
                summary:
                    "An https URL told of every alarm and of its recovery, as JSON: an SNS HTTPS subscription (AWS: the endpoint must confirm it, as PagerDuty's and Opsgenie's Amazon SNS integrations do) and a webhook receiver with the common alert schema (Azure). A secret (its path holds the credential): set it with `--secret` (a stack that stores it in clear is refused). Default none.",
            },
        },
    },
    backup: {
        kind: "object",
        typeName: "BackupArgs",
        summary: "Scheduled, encrypted backups of each worker's queue disk (HIPAA 164.308(a)(7)(ii)(A), data backup plan), kept by `pulumi destroy`.",
        notes: "AWS: an AWS Backup vault encrypted with the cluster's KMS key, a plan, and a selection of the data volumes (and the EFS file system with `storage.queueRecovery: shared`) under a role that holds only AWS's backup and restore policies; Azure: a Backup vault whose identity may read the data disks and write snapshots to a resource group of its own, a disk policy, and a backup instance per data disk; the NFS share of `storage.queueRecovery: shared`, which Azure Backup does not protect, is snapshotted by the active worker on the same schedule, kept as long as the share's 200 snapshots allow. See [operations.md](operations.md#backups)",
        fields: {
            enabled: {
                kind: "boolean",
                default: DEFAULTS.backup,
                summary: "Back the queue disks up on a schedule (default true).",
            },
            everyHours: {
                kind: "integer",
                range: () => ({ min: BACKUP_EVERY_HOURS[0], max: BACKUP_EVERY_HOURS[BACKUP_EVERY_HOURS.length - 1] }),
                unit: () => " h",
                default: () => DEFAULTS.backupEveryHours,
                summary: `Hours between backups, one of ${BACKUP_EVERY_HOURS.join(", ")} (default ${DEFAULTS.backupEveryHours}): the most queue and log a lost disk can lose.`,
            },
            retentionDays: {
                kind: "integer",
                range: () => BACKUP_RETENTION_DAYS,
                unit: () => " days",
                default: () => DEFAULTS.backupRetentionDays,
                summary: `Days each recovery point is kept, ${range(BACKUP_RETENTION_DAYS)} (default ${DEFAULTS.backupRetentionDays}).`,
            },
            copyToRegion: {
                kind: "string",
                summary:
                    "A second region the backups are copied to, kept as long (default none). AWS: every recovery point, into a vault under a key of that region. Azure (data disks only): the newest backup of each disk, copied hourly by the active worker into a resource group there. What a disaster-recovery stack restores from (docs/operations.md#disaster-recovery).",
            },
        },
    },
    tls: {
        kind: "object",
        typeName: "TlsArgs",
        summary: "Transmission security (HIPAA 164.312(e)(1)): every channel and the dashboard reached over TLS only, ended on each worker by stunnel.",
        notes: "The load balancer stays TCP; the certificate, key and client CAs are kept in the cluster's secret store (Secrets Manager, encrypted with the cluster's KMS key; the private Key Vault) and read by each worker's identity, again every 15 minutes, so a renewed certificate is served without a rebuild. TLS 1.2 at the least, ECDHE with AEAD ciphers. Set a PEM from a file with `pulumi config set --path --secret 'tls.privateKey' < key.pem`. See [tls.md](tls.md)",
        fields: {
            enabled: {
                kind: "boolean",
                default: DEFAULTS.public,
                defaultText: "`network.public`",
                summary:
                    "TLS only, on every channel and the dashboard (default: on for an internet-facing cluster). Off: plain TCP, for a cluster reached only over a VPN or private link; the preview warns on a public one.",
            },
            certificate: {
                kind: "string",
                input: true,
                defaultText: "self-signed",
                summary:
                    "PEM: the server certificate, then its intermediates. Default: a self-signed certificate the cluster makes (senders must pin it); set yours before go-live.",
            },
            privateKey: {
                kind: "string",
                input: true,
                secret: { setWith: "< key.pem", afterwards: "rotate the key, which is now in the file's history" },
                summary: "PEM: the certificate's private key. A secret: set it with `--secret` (a stack that stores it in clear is refused).",
            },
            clientCa: {
                kind: "string",
                input: true,
                summary: "PEM: the CAs a sender's client certificate must chain to. Set: mutual TLS, and a sender without such a certificate is refused (default none).",
            },
        },
    },
} satisfies Record<string, TopLevelSpec>;

/** HaIguanaCluster's args beyond the config keys: the region, which a stack file sets as the provider's key. */
export const ARGS_ONLY = {
    region: {
        kind: "string",
        summary: "The Azure location (required on Azure). On AWS the provider's region (default: read from the provider); when given, it must be the provider's.",
    },
} satisfies Record<string, Spec>;

export type ConfigKey = keyof typeof CONTRACT;

/** The spec at a dotted path such as `failover.leaseSeconds` or `channels.port` (a list's items by the list's name). */
export function specAt(path: string): Spec {
    let spec: Spec | undefined;
    let fields: Record<string, Spec> = CONTRACT;
    for (const part of path.split(".")) {
        spec = fields[part];
        if (!spec) throw new Error(`contract: no key ${path}`);
        const inner = spec.kind === "list" ? spec.of : spec;
        fields = inner.kind === "object" ? inner.fields : {};
    }
    return spec!;
}

/** The secret leaves of the top-level objects (`tls.privateKey`, `alerts.webhookUrl`): a secret leaf makes its whole key secret. */
export function secretLeaves(): { key: ConfigKey; leaf: string; secret: NonNullable<StringSpec["secret"]> }[] {
    return (Object.entries(CONTRACT) as [ConfigKey, Spec][]).flatMap(([key, spec]) =>
        spec.kind === "object"
            ? Object.entries(spec.fields).flatMap(([leaf, field]) => (field.kind === "string" && field.secret ? [{ key, leaf, secret: field.secret }] : []))
            : [],
    );
}

/** The keys an object (or a list's items) takes, in the table's order. */
export function keysOf(path: string): string[] {
    const spec = specAt(path);
    const inner = spec.kind === "list" ? spec.of : spec;
    if (inner.kind !== "object") throw new Error(`contract: ${path} takes no keys`);
    return Object.keys(inner.fields);
}
