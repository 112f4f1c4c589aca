/**
 * The iguana-ha guardrails: plain policy objects, so tests can call them directly. The pack
 * itself is built in `index.ts`. Each message says what is wrong and what to do.
 */
import { Policies, PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import * as yaml from "js-yaml";
import { SHARE_SNAPSHOT_TIMER } from "../components/bootstrap/share-snapshots";
import { DEFAULTS, EDITION_WEB_PORT, HOLDS_FLOW_LOGS, HOLDS_LEASE, HOLDS_VIP, RDP_PORT, ROLE_PROBE_PATH, ROLE_PROBE_PORT, SSH_PORT } from "../components/constants";

/** Per-stack settings of the pack (`--policy-pack-config`): what the stack asked for. */
export interface GuardrailConfig {
    /** `workers.dedicated`: dedicated tenancy (AWS) or dedicated hosts (Azure) are required. */
    dedicated?: boolean;
    /** `workers.encryptionAtHost` (Azure): encryption at host is required on the VMs (default true, as the key's). */
    encryptionAtHost?: boolean;
    /** `iguana.webPort`: never open to the Internet. Both editions' defaults are always checked. */
    webPort?: number;
    /** `network.deletionProtection`: the load balancers and VIP addresses cannot be deleted. */
    deletionProtection?: boolean;
    /** `audit.flowLogs`: every cluster's network is flow-logged (default true). */
    flowLogs?: boolean;
    /** `audit.workerLogs`: every worker's logs are shipped to the cloud (default true). */
    workerLogs?: boolean;
    /** `network.egress.restricted`: the workers' outbound traffic is restricted. */
    egressRestricted?: boolean;
    /** `network.egress.proxy`: besides, no TCP to any address (the web only through the proxy). */
    egressProxy?: boolean;
    /** `backup.enabled`: every queue disk (and AWS's shared file system) is backed up (default true). */
    backups?: boolean;
    /** `storage.customerManagedKey` (Azure): every disk is encrypted through a Disk Encryption Set. */
    customerManagedKey?: boolean;
}

const configSchema = {
    properties: {
        dedicated: { type: "boolean" as const, default: false },
        encryptionAtHost: { type: "boolean" as const, default: DEFAULTS.encryptionAtHost },
        webPort: { type: "number" as const },
        deletionProtection: { type: "boolean" as const, default: false },
        flowLogs: { type: "boolean" as const, default: true },
        backups: { type: "boolean" as const, default: true },
        workerLogs: { type: "boolean" as const, default: true },
        egressRestricted: { type: "boolean" as const, default: false },
        egressProxy: { type: "boolean" as const, default: false },
        customerManagedKey: { type: "boolean" as const, default: false },
    },
};

const config = (args: { getConfig<T extends object>(): T }): GuardrailConfig => args.getConfig<GuardrailConfig>() ?? {};

const AWS_INSTANCE = "aws:ec2/instance:Instance";
const AWS_VOLUME = "aws:ebs/volume:Volume";
const AWS_KMS_KEY = "aws:kms/key:Key";
const AWS_SG = "aws:ec2/securityGroup:SecurityGroup";
const AWS_SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule";
const AWS_TARGET_GROUP = "aws:lb/targetGroup:TargetGroup";
const AZURE_DISK = "azure-native:compute:Disk";
const AZURE_VM = "azure-native:compute:VirtualMachine";
const AZURE_NSG = "azure-native:network:NetworkSecurityGroup";
const AZURE_NSG_RULE = "azure-native:network:SecurityRule";
const AZURE_LB = "azure-native:network:LoadBalancer";
const RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword";
const AWS_EFS = "aws:efs/fileSystem:FileSystem";
const AZURE_STORAGE_ACCOUNT = "azure-native:storage:StorageAccount";
const AWS_DYNAMODB_TABLE = "aws:dynamodb/table:Table";
const AWS_NLB = "aws:lb/loadBalancer:LoadBalancer";
const AZURE_PUBLIC_IP = "azure-native:network:PublicIPAddress";
const AWS_EIP = "aws:ec2/eip:Eip";
const AZURE_LOCK = "azure-native:authorization:ManagementLockByScope";
const AZURE_KEY_VAULT = "azure-native:keyvault:Vault";
const AWS_FLOW_LOG = "aws:ec2/flowLog:FlowLog";
const AWS_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup";
const AZURE_FLOW_LOG = "azure-native:network:FlowLog";

const INTERNET = new Set(["0.0.0.0/0", "*", "Internet", "any", "::/0"]);

/** The ARNs of the stack's own KMS keys: what its encrypted resources must name. */
function stackKeyArns(args: StackValidationArgs): Set<string> {
    return new Set(args.resources.filter((r) => r.type === AWS_KMS_KEY).map((r) => r.props.arn));
}

function forbiddenPorts(cfg: GuardrailConfig): number[] {
    return [...new Set([SSH_PORT, RDP_PORT, ...Object.values(EDITION_WEB_PORT), ...(cfg.webPort ? [cfg.webPort] : [])])];
}

function rangeCovers(from: number | undefined, to: number | undefined, port: number): boolean {
    if (from === undefined && to === undefined) return true;
    return (from ?? 0) <= port && port <= (to ?? 65535);
}

/** Parses Azure port specs: "*", "22", "1000-2000". */
function azurePortCovers(spec: string, port: number): boolean {
    if (spec === "*") return true;
    const [from, to] = spec.split("-").map(Number);
    return from <= port && port <= (to ?? from);
}

export const ebsEncryptedWithProjectKey: StackValidationPolicy = {
    name: "ebs-encrypted-with-project-key",
    description: "Every EBS volume and instance root device is encrypted with the project's customer-managed KMS key.",
    enforcementLevel: "mandatory",
    severity: "critical",
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        const keyArns = stackKeyArns(args);
        const check = (what: string, encrypted: unknown, kmsKeyId: unknown, urn: string) => {
            if (encrypted !== true) {
                report(`${what} is not encrypted: set encrypted: true with the project's KMS key.`, urn);
            } else if (typeof kmsKeyId !== "string" || !keyArns.has(kmsKeyId)) {
                report(`${what} is encrypted with ${kmsKeyId ? `key ${kmsKeyId}` : "the AWS-managed key"}, not the project's customer-managed KMS key.`, urn);
            }
        };
        for (const r of args.resources) {
            if (r.type === AWS_VOLUME) check(`EBS volume ${r.name}`, r.props.encrypted, r.props.kmsKeyId, r.urn);
            if (r.type === AWS_INSTANCE) {
                const root = r.props.rootBlockDevice ?? {};
                check(`root device of ${r.name}`, root.encrypted, root.kmsKeyId, r.urn);
                for (const ebs of r.props.ebsBlockDevices ?? []) check(`EBS device ${ebs.deviceName} of ${r.name}`, ebs.encrypted, ebs.kmsKeyId, r.urn);
            }
        }
    },
};

/** The shared queue (storage.queueRecovery: shared) gets the same key as the disks it replaces. */
export const efsEncryptedWithProjectKey: StackValidationPolicy = {
    name: "efs-encrypted-with-project-key",
    description: "Every EFS file system is encrypted at rest with the project's customer-managed KMS key.",
    enforcementLevel: "mandatory",
    severity: "critical",
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        const keyArns = stackKeyArns(args);
        for (const r of args.resources.filter((x) => x.type === AWS_EFS)) {
            if (r.props.encrypted !== true) {
                report(`EFS file system ${r.name} is not encrypted: set encrypted: true with the project's KMS key.`, r.urn);
            } else if (typeof r.props.kmsKeyId !== "string" || !keyArns.has(r.props.kmsKeyId)) {
                report(
                    `EFS file system ${r.name} is encrypted with ${r.props.kmsKeyId ? `key ${r.props.kmsKeyId}` : "the AWS-managed key"}, not the project's customer-managed KMS key.`,
                    r.urn,
                );
            }
        }
    },
};

/** The cluster's storage accounts (the lease's, the shared queue's, the flow logs') are not reachable from the Internet. */
export const azureStorageNotPublic: ResourceValidationPolicy = {
    name: "azure-storage-not-public",
    description:
        "Storage accounts have public network access disabled (the flow logs' account: trusted Azure services only), a deny-by-default firewall and no public blob access.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: (args, report) => {
        if (args.type !== AZURE_STORAGE_ACCOUNT) return;
        // The flow logs' account: Network Watcher writes as a trusted service through the
        // firewall, which public network access "Disabled" would shut out; nobody else passes.
        const trustedServicesOnly =
            args.props.tags?.holds === HOLDS_FLOW_LOGS &&
            args.props.networkRuleSet?.bypass === "AzureServices" &&
            !(args.props.networkRuleSet?.ipRules ?? []).length &&
            !(args.props.networkRuleSet?.virtualNetworkRules ?? []).length;
        if (args.props.publicNetworkAccess !== "Disabled" && !trustedServicesOnly) {
            report(
                `storage account ${args.name} allows public network access (${args.props.publicNetworkAccess ?? "Enabled by default"}): set publicNetworkAccess: Disabled and use a private endpoint.`,
            );
        }
        if (args.props.networkRuleSet?.defaultAction !== "Deny") {
            report(`storage account ${args.name} accepts traffic by default: set networkRuleSet.defaultAction: Deny.`);
        }
        if (args.props.allowBlobPublicAccess !== false) {
            report(`storage account ${args.name} may expose blobs publicly: set allowBlobPublicAccess: false.`);
        }
    },
};

/** TLS versions a storage account may accept at the least (Azure's default for older accounts is TLS1_0). */
const MODERN_TLS = new Set(["TLS1_2", "TLS1_3"]);

/**
 * The lease decides which worker is active (docs/lease.md): a cluster without one has nothing
 * to keep two workers from being active at once, and a lease anyone can reach or delete is a
 * way to make both (or neither) active. Lease stores carry the tags `holds: iguana-lease` and
 * `cluster`; workers (EC2 instances, Azure VMs) carry `cluster`.
 */
export const leaseStoreRequiredAndPrivate: StackValidationPolicy = {
    name: "lease-store-required-and-private",
    description:
        "Every cluster with workers has a lease store; a DynamoDB lease table is encrypted with the project's KMS key and protected against deletion; a storage account holding a lease is not reachable from the Internet, takes no shared key, and requires HTTPS and TLS 1.2 or later.",
    enforcementLevel: "mandatory",
    severity: "critical",
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        const leaseStores = args.resources.filter((r) => [AWS_DYNAMODB_TABLE, AZURE_STORAGE_ACCOUNT].includes(r.type) && r.props.tags?.holds === HOLDS_LEASE);
        const reported = new Set<string>();
        for (const worker of args.resources.filter((r) => r.type === AWS_INSTANCE || r.type === AZURE_VM)) {
            const cluster = worker.props.tags?.cluster;
            const storeType = worker.type === AWS_INSTANCE ? AWS_DYNAMODB_TABLE : AZURE_STORAGE_ACCOUNT;
            if (reported.has(`${storeType}/${cluster}`) || leaseStores.some((s) => s.type === storeType && s.props.tags?.cluster === cluster)) continue;
            reported.add(`${storeType}/${cluster}`);
            const store = storeType === AWS_DYNAMODB_TABLE ? "a DynamoDB table" : "a storage account";
            report(
                `cluster ${cluster ?? "(untagged)"} has workers (${worker.name}) but no lease store: nothing keeps both workers from being active at once; ` +
                    `add ${store} tagged holds: ${HOLDS_LEASE} and cluster: ${cluster ?? "<cluster>"} (docs/lease.md).`,
                worker.urn,
            );
        }
        const keyArns = stackKeyArns(args);
        for (const store of leaseStores) {
            const p = store.props;
            if (store.type === AWS_DYNAMODB_TABLE) {
                const sse = p.serverSideEncryption ?? {};
                if (sse.enabled !== true || typeof sse.kmsKeyArn !== "string" || !keyArns.has(sse.kmsKeyArn)) {
                    report(
                        `lease table ${store.name} is encrypted with ${sse.enabled !== true ? "the AWS-owned key" : sse.kmsKeyArn ? `key ${sse.kmsKeyArn}` : "the AWS-managed key"}, not the project's customer-managed KMS key: set serverSideEncryption { enabled: true, kmsKeyArn: <the project key> }.`,
                        store.urn,
                    );
                }
                if (p.deletionProtectionEnabled !== true) {
                    report(`lease table ${store.name} can be deleted while the workers run: set deletionProtectionEnabled: true.`, store.urn);
                }
                continue;
            }
            if (p.publicNetworkAccess !== "Disabled" && p.networkRuleSet?.defaultAction !== "Deny") {
                report(
                    `lease account ${store.name} is reachable from the Internet (publicNetworkAccess ${p.publicNetworkAccess ?? "Enabled by default"}, network rules ${p.networkRuleSet?.defaultAction ?? "Allow by default"}): set publicNetworkAccess: Disabled and reach it through a private endpoint.`,
                    store.urn,
                );
            }
            if (p.allowSharedKeyAccess !== false) {
                report(
                    `lease account ${store.name} accepts its account keys (and SAS made from them): set allowSharedKeyAccess: false; the workers use their managed identities.`,
                    store.urn,
                );
            }
            if (!MODERN_TLS.has(p.minimumTlsVersion)) {
                report(`lease account ${store.name} accepts TLS below 1.2 (minimumTlsVersion ${p.minimumTlsVersion ?? "unset"}): set minimumTlsVersion: TLS1_2.`, store.urn);
            }
            if (p.enableHttpsTrafficOnly === false) {
                report(`lease account ${store.name} accepts plain HTTP: set enableHttpsTrafficOnly: true.`, store.urn);
            }
        }
    },
};

export const azureKeyVaultPrivate: ResourceValidationPolicy = {
    name: "azure-key-vault-private",
    description:
        "Every Key Vault is unreachable from the Internet (public network access off, deny by default), keeps deleted secrets recoverable (soft delete and purge protection) and authorizes with Azure RBAC.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: (args, report) => {
        if (args.type !== AZURE_KEY_VAULT) return;
        const p = args.props.properties ?? {};
        if (p.publicNetworkAccess !== "Disabled") {
            report(
                `Key Vault ${args.name} is reachable from the Internet (publicNetworkAccess ${p.publicNetworkAccess ?? "Enabled by default"}): set Disabled and reach it through a private endpoint.`,
            );
        }
        if (p.networkAcls?.defaultAction !== "Deny") {
            report(`Key Vault ${args.name} allows every network by default (networkAcls.defaultAction ${p.networkAcls?.defaultAction ?? "Allow by default"}): set Deny.`);
        }
        if (p.enableSoftDelete === false || p.enablePurgeProtection !== true) {
            report(`Key Vault ${args.name} can be purged at once: set enableSoftDelete and enablePurgeProtection to true.`);
        }
        if (p.enableRbacAuthorization !== true) {
            report(`Key Vault ${args.name} uses access policies: set enableRbacAuthorization: true (role assignments scoped to the vault).`);
        }
    },
};

export const azureDisksEncrypted: ResourceValidationPolicy = {
    name: "azure-disks-encrypted",
    description:
        "Every Azure managed disk states its encryption type; where the stack asks for customer-managed keys (storage.customerManagedKey), every disk and every VM's OS disk is encrypted through a Disk Encryption Set; VMs use encryption at host unless the stack turned it off.",
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema,
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        if (args.type === AZURE_DISK) {
            const type = args.props.encryption?.type;
            if (!["EncryptionAtRestWithPlatformKey", "EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys"].includes(type)) {
                report(`managed disk ${args.name} does not state an encryption type (encryption.type is ${type ?? "unset"}): set it explicitly.`);
            }
            if (config(args).customerManagedKey && (type !== "EncryptionAtRestWithCustomerKey" || !args.props.encryption?.diskEncryptionSetId)) {
                report(`managed disk ${args.name} uses platform-managed keys, but the stack asks for customer-managed keys: encrypt it through the cluster's Disk Encryption Set.`);
            }
        }
        if (args.type === AZURE_VM && config(args).customerManagedKey && !args.props.storageProfile?.osDisk?.managedDisk?.diskEncryptionSet?.id) {
            report(
                `VM ${args.name}: its OS disk uses platform-managed keys, but the stack asks for customer-managed keys: set storageProfile.osDisk.managedDisk.diskEncryptionSet.`,
            );
        }
        if (args.type === AZURE_VM && config(args).encryptionAtHost !== false && args.props.securityProfile?.encryptionAtHost !== true) {
            report(
                `VM ${args.name}: encryption at host is off (securityProfile.encryptionAtHost is not true): turn it on, or, for a stack that set workers.encryptionAtHost: false, tell the pack {"azure-disks-encrypted": {"encryptionAtHost": false}}.`,
            );
        }
    },
};

export const imdsV2Required: ResourceValidationPolicy = {
    name: "imdsv2-required",
    description: "Every EC2 instance requires IMDSv2 session tokens.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: (args, report) => {
        if (args.type === AWS_INSTANCE && args.props.metadataOptions?.httpTokens !== "required") {
            report(`instance ${args.name} allows IMDSv1: set metadataOptions.httpTokens to "required".`);
        }
    },
};

export const noAdminPortsFromInternet: ResourceValidationPolicy = {
    name: "no-admin-ports-from-internet",
    description: "No security group or NSG rule opens 22, 3389 or the Iguana web port to 0.0.0.0/0 or Internet.",
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema,
    validateResource: (args, report) => {
        const ports = forbiddenPorts(config(args));
        const flag = (rule: string, from: number | undefined, to: number | undefined, protocol: string | undefined) => {
            if (protocol !== undefined && !["tcp", "-1", "6", "all"].includes(String(protocol).toLowerCase())) return;
            for (const port of ports) {
                if (rangeCovers(from, to, port)) report(`${rule} opens port ${port} to the Internet: restrict it to known CIDRs (use SSM or Bastion for shell access).`);
            }
        };
        if (args.type === AWS_SG_INGRESS && INTERNET.has(args.props.cidrIpv4 ?? args.props.cidrIpv6)) {
            flag(`ingress rule ${args.name}`, args.props.fromPort, args.props.toPort, args.props.ipProtocol);
        }
        if (args.type === AWS_SG_RULE && args.props.type === "ingress" && (args.props.cidrBlocks ?? []).some((c: string) => INTERNET.has(c))) {
            flag(`rule ${args.name}`, args.props.fromPort, args.props.toPort, args.props.protocol);
        }
        if (args.type === AWS_SG) {
            for (const ingress of args.props.ingress ?? []) {
                if ((ingress.cidrBlocks ?? []).some((c: string) => INTERNET.has(c))) flag(`security group ${args.name}`, ingress.fromPort, ingress.toPort, ingress.protocol);
            }
        }
        const azureRules = args.type === AZURE_NSG ? (args.props.securityRules ?? []) : args.type === AZURE_NSG_RULE ? [args.props] : [];
        for (const rule of azureRules) {
            if (rule.access !== "Allow" || rule.direction !== "Inbound") continue;
            if (rule.protocol && !["Tcp", "*"].includes(rule.protocol)) continue;
            const sources = [rule.sourceAddressPrefix, ...(rule.sourceAddressPrefixes ?? [])].filter(Boolean);
            if (!sources.some((s: string) => INTERNET.has(s))) continue;
            const specs = [rule.destinationPortRange, ...(rule.destinationPortRanges ?? [])].filter(Boolean);
            for (const port of ports) {
                if (specs.some((spec: string) => azurePortCovers(spec, port))) {
                    report(`NSG rule ${rule.name ?? args.name} opens port ${port} to the Internet: restrict its source.`);
                }
            }
        }
    },
};

export const llpHealthCheckIsRoleProbe: ResourceValidationPolicy = {
    name: "llp-health-check-is-role-probe",
    description: "The health check of every LLP target group or Azure LB rule is the role probe, so only the active worker receives MLLP.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: (args, report) => {
        if (args.type === AWS_TARGET_GROUP && args.props.tags?.protocol === "llp") {
            const hc = args.props.healthCheck ?? {};
            if (hc.protocol !== "HTTP" || String(hc.port) !== String(ROLE_PROBE_PORT) || hc.path !== ROLE_PROBE_PATH) {
                report(
                    `LLP target group ${args.name} checks ${hc.protocol ?? "TCP"} ${hc.port ?? "traffic-port"}${hc.path ?? ""}, not the role probe HTTP ${ROLE_PROBE_PORT}${ROLE_PROBE_PATH}: both workers could receive the feed.`,
                );
            }
        }
        if (args.type === AZURE_LB) {
            const probes: { name?: string; port?: number; requestPath?: string; protocol?: string }[] = args.props.probes ?? [];
            for (const rule of args.props.loadBalancingRules ?? []) {
                if (!String(rule.name ?? "").startsWith("llp-")) continue;
                const probeName = String(rule.probe?.id ?? "")
                    .split("/")
                    .pop();
                const probe = probes.find((p) => p.name === probeName);
                if (!probe || probe.protocol !== "Http" || probe.port !== ROLE_PROBE_PORT || probe.requestPath !== ROLE_PROBE_PATH) {
                    report(`LLP rule ${rule.name} uses probe ${probeName ?? "(none)"}, not the role probe HTTP ${ROLE_PROBE_PORT}${ROLE_PROBE_PATH}.`);
                }
            }
        }
    },
};

export const dedicatedWhenAsked: ResourceValidationPolicy = {
    name: "dedicated-hardware-when-asked",
    description: "Workers run on dedicated tenancy (AWS) or dedicated hosts (Azure) when the stack asks for it.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema,
    validateResource: (args, report) => {
        if (!config(args).dedicated) return;
        if (args.type === AWS_INSTANCE && !["dedicated", "host"].includes(args.props.tenancy)) {
            report(`instance ${args.name} has tenancy ${args.props.tenancy ?? "default"}; the stack asks for dedicated hardware.`);
        }
        if (args.type === AZURE_VM && !args.props.host?.id && !args.props.hostGroup?.id) {
            report(`VM ${args.name} is not placed on a dedicated host; the stack asks for dedicated hardware.`);
        }
    },
};

export const vipDeletionProtectionWhenAsked: StackValidationPolicy = {
    name: "vip-deletion-protection-when-asked",
    description:
        "When the stack asks for deletion protection, no load balancer or VIP address can be deleted: AWS NLBs have deletion protection on; every Azure load balancer and VIP public IP has a CanNotDelete lock.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema,
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        if (!config(args).deletionProtection) return;
        for (const nlb of args.resources.filter((r) => r.type === AWS_NLB && r.props.enableDeletionProtection !== true)) {
            report(`load balancer ${nlb.name} can be deleted (enableDeletionProtection is not true); the stack asks for deletion protection.`, nlb.urn);
        }
        // A lock covers a resource by scope once ids are known; at preview, before they are, by
        // its name (`<resource>-lock`, as the component names it).
        const locks = args.resources.filter((r) => r.type === AZURE_LOCK && r.props.level === "CanNotDelete");
        const isLocked = (resource: PolicyResource) =>
            locks.some((lock) => (typeof lock.props.scope === "string" && lock.props.scope === resource.props.id) || lock.name === `${resource.name}-lock`);
        const vips = args.resources.filter((r) => r.type === AZURE_LB || (r.type === AZURE_PUBLIC_IP && r.props.tags?.holds === HOLDS_VIP));
        for (const resource of vips.filter((r) => !isLocked(r))) {
            const what = resource.type === AZURE_LB ? "load balancer" : "public IP";
            report(`${what} ${resource.name} has no CanNotDelete lock; the stack asks for deletion protection (Azure ${what}s have no setting of their own).`, resource.urn);
        }
    },
};

export const flowLogsOn: StackValidationPolicy = {
    name: "flow-logs-on",
    description:
        "A stack with workers keeps a network audit trail (HIPAA 164.312(b)): AWS flow logs of all traffic to a CloudWatch Logs group encrypted with a KMS key of the stack and with a retention; Azure VNet flow logs, enabled, version 2, to the flow logs' storage account.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema,
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        if (config(args).flowLogs === false) return;
        const has = (type: string) => args.resources.some((r) => r.type === type);
        if (has(AWS_INSTANCE)) {
            const flowLogs = args.resources.filter((r) => r.type === AWS_FLOW_LOG);
            if (flowLogs.length === 0) report("the stack has EC2 workers but no VPC flow log: add one (audit.flowLogs).");
            const keyArns = stackKeyArns(args);
            for (const flowLog of flowLogs) {
                if (flowLog.props.trafficType !== "ALL") report(`flow log ${flowLog.name} records ${flowLog.props.trafficType} traffic only: set trafficType: ALL.`, flowLog.urn);
            }
            for (const group of args.resources.filter((r) => r.type === AWS_LOG_GROUP)) {
                if (typeof group.props.kmsKeyId !== "string" || !keyArns.has(group.props.kmsKeyId)) {
                    report(`log group ${group.name} is not encrypted with a KMS key of the stack: set kmsKeyId to the project key.`, group.urn);
                }
                if (!group.props.retentionInDays)
                    report(`log group ${group.name} keeps its logs forever, and costs grow with them: set retentionInDays (audit.retentionDays).`, group.urn);
            }
        }
        if (has(AZURE_VM)) {
            const flowLogs = args.resources.filter((r) => r.type === AZURE_FLOW_LOG);
            if (flowLogs.length === 0) report("the stack has Azure VMs but no VNet flow log: add one (audit.flowLogs).");
            for (const flowLog of flowLogs) {
                if (flowLog.props.enabled !== true || flowLog.props.format?.version !== 2) {
                    report(
                        `flow log ${flowLog.name} is ${flowLog.props.enabled !== true ? "disabled" : `format version ${flowLog.props.format?.version ?? "unset"}`}: set enabled: true and format { type: JSON, version: 2 }.`,
                        flowLog.urn,
                    );
                }
            }
        }
    },
};

const AWS_SSM_DOCUMENT = "aws:ssm/document:Document";
const AWS_SSM_ASSOCIATION = "aws:ssm/association:Association";
const AZURE_VM_EXTENSION = "azure-native:compute:VirtualMachineExtension";
const AZURE_DCR_ASSOCIATION = "azure-native:monitor:DataCollectionRuleAssociation";

export const workerLogsOn: StackValidationPolicy = {
    name: "worker-logs-on",
    description:
        "A stack with workers ships their logs to the cloud (HIPAA 164.312(b)): on AWS a Systems Manager association whose document configures the CloudWatch agent targets every EC2 worker; on Azure every VM runs the Azure Monitor Agent and is associated with a data collection rule.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema,
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        if (config(args).workerLogs === false) return;
        const of = (type: string) => args.resources.filter((r) => r.type === type);
        // A stack policy sees outputs, not ids: an instance by its ARN's last part, a VM by its name.
        const agentDocuments = new Set(
            of(AWS_SSM_DOCUMENT)
                .filter((d) => String(d.props.content ?? "").includes("AmazonCloudWatch-ManageAgent"))
                .map((d) => d.props.name),
        );
        const targeted = new Set(
            of(AWS_SSM_ASSOCIATION)
                .filter((a) => agentDocuments.has(a.props.name))
                .flatMap((a) => (a.props.targets ?? []).filter((t: { key: string }) => t.key === "InstanceIds").flatMap((t: { values: string[] }) => t.values ?? [])),
        );
        for (const instance of of(AWS_INSTANCE)) {
            const id = String(instance.props.arn ?? "")
                .split("/")
                .pop();
            if (!id || !targeted.has(id)) report(`instance ${instance.name} has no CloudWatch agent association: ship its logs (audit.workerLogs).`, instance.urn);
        }
        const withAgent = new Set(
            of(AZURE_VM_EXTENSION)
                .filter((e) => e.props.type === "AzureMonitorLinuxAgent")
                .map((e) => String(e.props.vmName ?? "").toLowerCase()),
        );
        const associated = new Set(
            of(AZURE_DCR_ASSOCIATION).map((a) =>
                String(a.props.resourceUri ?? "")
                    .split("/")
                    .pop()
                    ?.toLowerCase(),
            ),
        );
        for (const vm of of(AZURE_VM)) {
            const name = String(vm.props.name ?? "").toLowerCase();
            if (!withAgent.has(name)) report(`VM ${vm.name} runs no Azure Monitor Agent: ship its logs (audit.workerLogs).`, vm.urn);
            if (!associated.has(name)) report(`VM ${vm.name} is in no data collection rule: ship its logs (audit.workerLogs).`, vm.urn);
        }
    },
};

const AWS_SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule";
interface NsgRule {
    name?: string;
    direction: string;
    access: string;
    priority: number;
    protocol: string;
    destinationAddressPrefix?: string;
    destinationPortRange?: string;
}

export const egressRestrictedWhenAsked: StackValidationPolicy = {
    name: "egress-restricted-when-asked",
    description:
        "A stack that restricts the workers' outbound traffic (network.egress.restricted) opens no egress rule to all protocols or to every port (AWS), and its NSG ends its outbound rules with a deny of everything (Azure). With egressProxy (network.egress.proxy), no TCP rule allows any address at all.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema,
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        const { egressRestricted, egressProxy } = config(args);
        if (!egressRestricted && !egressProxy) return;
        const throughProxy = "the web goes through network.egress.proxy, the cloud APIs through endpoints in the network";
        for (const rule of args.resources.filter((r) => r.type === AWS_SG_EGRESS)) {
            const everyPort = rule.props.ipProtocol === "-1" || rule.props.ipProtocol === "all" || (rule.props.fromPort ?? 0) <= 0 || (rule.props.toPort ?? 65535) >= 65535;
            if (everyPort) report(`egress rule ${rule.name} opens every protocol or port: name the port (network.egress.destinations).`, rule.urn);
            else if (egressProxy && rule.props.ipProtocol !== "udp" && rule.props.cidrIpv4 === "0.0.0.0/0") {
                report(`egress rule ${rule.name} allows TCP to any address: ${throughProxy}.`, rule.urn);
            }
        }
        // The workers' NSG (`<cluster>-workers-nsg`); the private endpoints' NSG admits only inbound HTTPS and NFS.
        for (const nsg of args.resources.filter((r) => r.type === AZURE_NSG && r.name.endsWith("-workers-nsg"))) {
            const rules: NsgRule[] = nsg.props.securityRules ?? [];
            const outbound = rules.filter((rule) => rule.direction === "Outbound");
            const denyAll = outbound.find((rule) => rule.access === "Deny" && rule.protocol === "*" && rule.destinationAddressPrefix === "*" && rule.destinationPortRange === "*");
            if (!denyAll || outbound.some((rule) => rule.access === "Allow" && rule.priority > denyAll.priority)) {
                report(`NSG ${nsg.name} does not deny outbound traffic after its allowed destinations: add a deny of everything after the allow rules.`, nsg.urn);
            }
            const anywhere = ["*", "0.0.0.0/0", "Internet"];
            for (const rule of egressProxy ? outbound.filter((r) => r.access === "Allow" && r.protocol !== "Udp" && anywhere.includes(r.destinationAddressPrefix ?? "")) : []) {
                report(`NSG ${nsg.name}'s outbound rule ${rule.name} allows TCP to any address: ${throughProxy}.`, nsg.urn);
            }
        }
    },
};

const AWS_BACKUP_VAULT = "aws:backup/vault:Vault";
const AWS_BACKUP_PLAN = "aws:backup/plan:Plan";
const AWS_BACKUP_SELECTION = "aws:backup/selection:Selection";
const AZURE_BACKUP_INSTANCE = "azure-native:dataprotection:BackupInstance";
const AZURE_FILE_SHARE = "azure-native:storage:FileShare";

export const backupsOn: StackValidationPolicy = {
    name: "backups-on",
    description:
        "Every queue disk is backed up (HIPAA 164.308(a)(7)(ii)(A)): on AWS each EBS volume and EFS file system is in an AWS Backup selection, into a vault encrypted with a KMS key of the stack, by a plan whose rules delete old recovery points; on Azure each managed disk has a backup instance, and each worker of an NFS share enables its snapshot timer.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema,
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        if (config(args).backups === false) return;
        const of = (type: string) => args.resources.filter((r) => r.type === type);
        const selected = new Set(of(AWS_BACKUP_SELECTION).flatMap((s) => s.props.resources ?? []));
        for (const data of [...of(AWS_VOLUME), ...of(AWS_EFS)]) {
            if (!selected.has(data.props.arn)) report(`${data.type} ${data.name} is in no AWS Backup selection: back it up (backup.enabled).`, data.urn);
        }
        const keyArns = stackKeyArns(args);
        for (const vault of of(AWS_BACKUP_VAULT)) {
            if (!keyArns.has(vault.props.kmsKeyArn))
                report(`backup vault ${vault.name} is not encrypted with a KMS key of the stack: set kmsKeyArn to the project key.`, vault.urn);
        }
        for (const plan of of(AWS_BACKUP_PLAN)) {
            for (const rule of plan.props.rules ?? []) {
                if (!rule.lifecycle?.deleteAfter)
                    report(`backup plan ${plan.name}, rule ${rule.ruleName}: keeps recovery points forever: set lifecycle.deleteAfter (backup.retentionDays).`, plan.urn);
            }
        }
        // By the disk's ARM name: a stack policy sees outputs, and a resource's id is not among them.
        const backedUp = new Set(of(AZURE_BACKUP_INSTANCE).map((i) => i.props.properties?.dataSourceInfo?.resourceName));
        for (const disk of of(AZURE_DISK)) {
            if (!backedUp.has(disk.props.name)) report(`managed disk ${disk.name} has no backup instance: back it up (backup.enabled).`, disk.urn);
        }
        // Azure Backup does not protect NFS shares: the workers snapshot it, each from a timer its custom data enables.
        for (const share of of(AZURE_FILE_SHARE).filter((s) => s.props.enabledProtocols === "NFS")) {
            for (const vm of of(AZURE_VM)) {
                if (!bootstrapTexts(vm.type, vm.props).some((text) => enablesUnit(text, SHARE_SNAPSHOT_TIMER)))
                    report(`NFS share ${share.name} is not snapshotted: worker ${vm.name} does not enable ${SHARE_SNAPSHOT_TIMER} (backup.enabled).`, vm.urn);
            }
        }
    },
};

/** Shapes of secret material a bootstrap must never carry. */
const SECRET_PATTERNS: [RegExp, string][] = [
    [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "a private key"],
    [/\bAKIA[0-9A-Z]{16}\b/, "an AWS access key id"],
    [/--set_admin_password\s+['"]?[A-Za-z0-9]{8,}/, "a literal admin password"],
];

/** Whether a cloud-config's runcmd runs `systemctl enable --now <unit>`. */
function enablesUnit(cloudConfig: string, unit: string): boolean {
    try {
        const runcmd = (yaml.load(cloudConfig) as { runcmd?: unknown[] } | undefined)?.runcmd ?? [];
        return runcmd.some((command) => Array.isArray(command) && command.join(" ") === `systemctl enable --now ${unit}`);
    } catch {
        return false;
    }
}

function bootstrapTexts(type: string, props: Record<string, unknown>): string[] {
    const decoded = (b64: unknown) => (typeof b64 === "string" && b64 ? Buffer.from(b64, "base64").toString("utf8") : undefined);
    if (type === AWS_INSTANCE) return [props.userData, decoded(props.userDataBase64)].filter((t): t is string => typeof t === "string");
    if (type === AZURE_VM)
        return [decoded((props.osProfile as { customData?: unknown } | undefined)?.customData), decoded(props.userData)].filter((t): t is string => typeof t === "string");
    return [];
}

export const noSecretInBootstrap: StackValidationPolicy = {
    name: "no-secret-in-bootstrap",
    description: "No user data or custom data holds a secret value: no generated password, key or credential.",
    enforcementLevel: "mandatory",
    severity: "critical",
    validateStack: (args, report) => {
        const generated = args.resources
            .filter((r) => r.type === RANDOM_PASSWORD)
            .map((r) => r.props.result)
            .filter((v): v is string => typeof v === "string" && v.length >= 8);
        for (const r of args.resources) {
            for (const text of bootstrapTexts(r.type, r.props)) {
                if (generated.some((secret) => text.includes(secret)))
                    report(`the bootstrap of ${r.name} contains a generated password: fetch it at boot from the secret store instead.`, r.urn);
                for (const [pattern, what] of SECRET_PATTERNS) {
                    if (pattern.test(text)) report(`the bootstrap of ${r.name} contains ${what}.`, r.urn);
                }
            }
        }
    },
};

/** AWS resource types that take no tags; every other AWS and tracked Azure resource must be tagged. */
const AWS_UNTAGGABLE = new Set([
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/volumeAttachment:VolumeAttachment",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:lb/targetGroupAttachment:TargetGroupAttachment",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:kms/alias:Alias",
    "aws:efs/mountTarget:MountTarget",
    "aws:efs/fileSystemPolicy:FileSystemPolicy",
    "aws:backup/selection:Selection",
    "aws:cloudwatch/queryDefinition:QueryDefinition",
    "aws:cloudwatch/eventTarget:EventTarget",
    "aws:sns/topicSubscription:TopicSubscription",
    "aws:sns/topicPolicy:TopicPolicy",
]);
/** Resources that belong to one worker carry its `role` too. */
const WORKER_TYPES = new Set([AWS_INSTANCE, AWS_VOLUME, AZURE_VM, AZURE_DISK, "azure-native:network:NetworkInterface"]);

export const requiredTags: ResourceValidationPolicy = {
    name: "required-tags",
    description: "Every taggable resource carries `environment`; worker resources also carry `role` (primary or backup).",
    enforcementLevel: "mandatory",
    severity: "medium",
    validateResource: (args, report) => {
        const aws = args.type.startsWith("aws:") && !AWS_UNTAGGABLE.has(args.type);
        const azure = args.type.startsWith("azure-native:") && args.props.location !== undefined;
        if (!aws && !azure) return;
        const tags: Record<string, string> = args.props.tags ?? {};
        if (!tags.environment) report(`${args.type} ${args.name} has no environment tag.`);
        if (WORKER_TYPES.has(args.type) && !["primary", "backup"].includes(tags.role)) {
            report(`${args.type} ${args.name} belongs to a worker but its role tag is ${tags.role ?? "missing"} (primary or backup).`);
        }
    },
};

const AWS_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy";
const AZURE_ROLE_DEFINITION = "azure-native:authorization:RoleDefinition";
const ADDRESS_ACTIONS = ["ec2:associateaddress", "ec2:disassociateaddress"];

function actionCovers(pattern: string, action: string): boolean {
    const regex = new RegExp(
        `^${pattern
            .toLowerCase()
            .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, ".*")}$`,
    );
    return regex.test(action);
}

export const vipMoverLeastPrivilege: ResourceValidationPolicy = {
    name: "vip-mover-least-privilege",
    description:
        "Whoever may move an address may move named addresses only: no EC2 (dis)associate on every resource, no wildcard actions or subscription-wide scope in a custom Azure role.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: (args, report) => {
        if (args.type === AWS_ROLE_POLICY && typeof args.props.policy === "string") {
            const document = JSON.parse(args.props.policy);
            for (const statement of [document.Statement ?? []].flat()) {
                if (statement.Effect !== "Allow") continue;
                const actions: string[] = [statement.Action ?? []].flat();
                if (!actions.some((a) => ADDRESS_ACTIONS.some((target) => actionCovers(a, target)))) continue;
                const resources: string[] = [statement.Resource ?? []].flat();
                if (resources.some((r) => r.includes("*"))) {
                    report(
                        `role policy ${args.name} lets its role move any Elastic IP (${actions.join(", ")} on ${resources.join(", ")}): name the allocation's and the instances' ARNs.`,
                    );
                }
            }
        }
        if (args.type === AZURE_ROLE_DEFINITION) {
            for (const permission of args.props.permissions ?? []) {
                const wild = [...(permission.actions ?? []), ...(permission.dataActions ?? [])].filter((a: string) => a.includes("*"));
                if (wild.length > 0) report(`custom role ${args.name} grants wildcard actions (${wild.join(", ")}): list the actions it needs.`);
            }
            for (const scope of args.props.assignableScopes ?? []) {
                if (/^\/subscriptions\/[^/]+\/?$/i.test(scope) || scope === "/")
                    report(`custom role ${args.name} is assignable across ${scope}: limit it to the cluster's resource group.`);
            }
        }
    },
};

/**
 * Whether the stack is reached from the Internet: an internet-facing NLB (AWS), or a public
 * address the cluster serves on (the Azure VIP, tagged `holds`; the AWS floating VIP's Elastic IP).
 */
function internetFacing(args: StackValidationArgs): boolean {
    return args.resources.some(
        (r) =>
            (r.type === AWS_NLB && r.props.internal === false) ||
            (r.type === AZURE_PUBLIC_IP && r.props.tags?.holds === HOLDS_VIP) ||
            (r.type === AWS_EIP && typeof r.props.tags?.Name === "string" && r.props.tags.Name.endsWith("-vip")),
    );
}

export const tlsOnPublicClusters: StackValidationPolicy = {
    name: "tls-on-public-clusters",
    description:
        "An internet-facing cluster ends TLS on every worker (HIPAA 164.312(e)(1)): each worker's bootstrap runs stunnel with TLS 1.2 at the least in front of its channels and dashboard, and redirects outside traffic to it.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        if (!internetFacing(args)) return;
        for (const worker of args.resources.filter((r) => r.type === AWS_INSTANCE || r.type === AZURE_VM)) {
            const text = bootstrapTexts(worker.type, worker.props).join("\n");
            const tls = /sslVersionMin = TLSv1\.[23]/.test(text) && text.includes("REDIRECT --to-ports");
            if (!tls) report(`worker ${worker.name} of an internet-facing cluster serves its channels in clear: turn TLS on (tls.enabled, docs/tls.md).`, worker.urn);
        }
    },
};

export const guardrails: Policies = [
    ebsEncryptedWithProjectKey,
    efsEncryptedWithProjectKey,
    leaseStoreRequiredAndPrivate,
    azureStorageNotPublic,
    azureDisksEncrypted,
    azureKeyVaultPrivate,
    imdsV2Required,
    noAdminPortsFromInternet,
    llpHealthCheckIsRoleProbe,
    dedicatedWhenAsked,
    vipDeletionProtectionWhenAsked,
    flowLogsOn,
    workerLogsOn,
    backupsOn,
    egressRestrictedWhenAsked,
    tlsOnPublicClusters,
    noSecretInBootstrap,
    requiredTags,
    vipMoverLeastPrivilege,
];
