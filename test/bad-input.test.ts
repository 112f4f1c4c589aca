/**
 * A catalogue of bad configurations across both clouds. Each must fail with a message naming
 * the key, register nothing, and make the plan command exit non-zero with the same message.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { PROJECT, ROLE_PROBE_PORT } from "../components/constants";
import * as pulumi from "@pulumi/pulumi";
import { program, readRawConfig } from "../components/program";
import { evaluate } from "../offline/evaluate";
import { RecordingMocks, installMocks } from "../offline/mocks";
import { runPlanCommand } from "../tools/plan";
import { toPulumiConfig } from "../offline/stack-config";
import { awsConfig, azureConfig } from "./helpers";

const aws = awsConfig;
const azure = azureConfig;
const channels = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `feed-${i}`, protocol: "llp", port: 10000 + i }));

/** [description, config, key the message must name, fragment(s) of its line]. The one table of bad config. */
const EXISTING = {
    vpcId: "vpc-0123456789abcdef0",
    workerSubnets: [
        { id: "subnet-0123456789abcdef0", cidr: "10.8.1.0/24" },
        { id: "subnet-0fedcba9876543210", cidr: "10.8.2.0/24" },
    ],
};

const AZURE_VNET = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/hospital";

const CATALOGUE: [string, Record<string, unknown>, string, string | string[]][] = [
    ["no cloud", aws({ cloud: undefined }), "iguana-ha:cloud", ["is required", '"aws"', '"azure"']],
    ["unknown cloud", aws({ cloud: "gcp" }), "iguana-ha:cloud", '"aws", "azure"'],
    ["cloud given as a number", aws({ cloud: 1 }), "iguana-ha:cloud", "number 1"],
    ["no AWS region", aws({ "aws:region": undefined }), "aws:region", "is required"],
    ["no Azure location", azure({ "azure-native:location": undefined }), "azure-native:location", ["is required", "eastus2"]],
    ["no channels", aws({ channels: undefined }), "iguana-ha:channels", "is required"],
    ["empty channel list", azure({ channels: [] }), "iguana-ha:channels", ["is empty", "at least one"]],
    ["channels as an object", aws({ channels: { name: "adt" } }), "iguana-ha:channels", "must be a list"],
    ["channel without a name", aws({ channels: [{ protocol: "llp", port: 2575 }] }), "iguana-ha:channels[0].name", "is required"],
    ["channel name with capitals", azure({ channels: [{ name: "ADT", protocol: "llp", port: 2575 }] }), "iguana-ha:channels[0].name", ["not DNS-safe", "lowercase"]],
    ["channel name of 25 characters", aws({ channels: [{ name: "a".repeat(25), protocol: "llp", port: 2575 }] }), "iguana-ha:channels[0].name", "at most 24"],
    ["port 0", azure({ channels: [{ name: "a", protocol: "llp", port: 0 }] }), "iguana-ha:channels[0].port", "1-65535"],
    ["port on RDP", aws({ channels: [{ name: "a", protocol: "llp", port: 3389 }] }), "iguana-ha:channels[0].port", "RDP"],
    [
        "a channel named as the dashboard's listener",
        aws({ channels: [{ name: "dashboard", protocol: "http", port: 8080 }] }),
        "iguana-ha:channels[0].name",
        ["dashboard's own listener", "pick another name"],
    ],
    ["unknown channel key", aws({ channels: [{ name: "a", protocol: "llp", port: 2575, ports: 1 }] }), "iguana-ha:channels[0].ports", "not a known key"],
    ["tags as a list", aws({ tags: ["costCenter"] }), "iguana-ha:tags", ["must be a map", "a list"]],
    ["a tag the cluster sets itself", aws({ tags: { Project: "x" } }), "iguana-ha:tags.Project", ["the cluster sets itself", "project"]],
    ["a tag key with the aws: prefix", aws({ tags: { "aws:owner": "lab" } }), "iguana-ha:tags.aws:owner", "AWS reserves"],
    ["a tag value given as a YAML number", aws({ tags: { costCenter: 4410 } }), "iguana-ha:tags.costCenter", ["must be a string", "quote a number"]],
    ["a tag value of 257 characters", azure({ tags: { note: "x".repeat(257) } }), "iguana-ha:tags.note", "at most 256"],
    ["a tag key Azure refuses", azure({ tags: { "cost/centre": "lab" } }), "iguana-ha:tags.cost/centre", "Azure refuses"],
    ["two Azure tag keys differing only in case", azure({ tags: { owner: "a", Owner: "b" } }), "iguana-ha:tags.Owner", "without case"],
    ["41 tags", aws({ tags: Object.fromEntries(Array.from({ length: 41 }, (_, i) => [`t${i}`, "v"])) }), "iguana-ha:tags", ["41 tags", "at most 40"]],
    ["encryption at host on AWS", aws({ workers: { encryptionAtHost: true } }), "iguana-ha:workers.encryptionAtHost", ["Azure setting", "KMS-encrypted"]],
    [
        "duplicate channel names",
        aws({
            channels: [
                { name: "a", protocol: "llp", port: 1 },
                { name: "a", protocol: "llp", port: 2 },
            ],
        }),
        "iguana-ha:channels[1].name",
        ["must be unique", "already used by channels[0]"],
    ],
    ["port as a string", aws({ channels: [{ name: "a", protocol: "llp", port: "2575" }] }), "iguana-ha:channels[0].port", ["whole number", '"2575"']],
    ["fractional port", azure({ channels: [{ name: "a", protocol: "llp", port: 2575.5 }] }), "iguana-ha:channels[0].port", "whole number"],
    ["port 65536", aws({ channels: [{ name: "a", protocol: "llp", port: 65536 }] }), "iguana-ha:channels[0].port", "1-65535"],
    ["port on SSH", azure({ channels: [{ name: "a", protocol: "llp", port: 22 }] }), "iguana-ha:channels[0].port", "SSH"],
    ["port on the role probe", aws({ channels: [{ name: "a", protocol: "http", port: 7700 }] }), "iguana-ha:channels[0].port", "role probe"],
    ["port on the web port", azure({ channels: [{ name: "a", protocol: "http", port: 7654 }] }), "iguana-ha:channels[0].port", "web port"],
    [
        "colliding ports",
        azure({
            channels: [
                { name: "a", protocol: "llp", port: 9 },
                { name: "b", protocol: "http", port: 9 },
            ],
        }),
        "iguana-ha:channels[1].port",
        "must be unique",
    ],
    [
        "active-active LLP",
        azure({ channels: [{ name: "a", protocol: "llp", port: 2575, mode: "active-active" }] }),
        "iguana-ha:channels[0].mode",
        ["cannot be active-active", '"active-passive"'],
    ],
    ["unknown mode", aws({ channels: [{ name: "a", protocol: "http", port: 80, mode: "primary" }] }), "iguana-ha:channels[0].mode", '"active-passive", "active-active"'],
    ["unknown protocol", aws({ channels: [{ name: "a", protocol: "mllp", port: 2575 }] }), "iguana-ha:channels[0].protocol", '"llp", "http"'],
    ["too many channels for an AWS cluster", aws({ channels: channels(1001) }), "iguana-ha:channels", "at most 1000"],
    [
        "channel ports over too many NLBs",
        aws({ channels: Array.from({ length: 25 }, (_, i) => ({ name: `c${i}`, protocol: "llp", port: 1000 + 100 * i })) }),
        "iguana-ha:channels",
        "at most 20",
    ],
    ["too many channels for one Azure LB", azure({ channels: channels(600) }), "iguana-ha:channels", "at most"],
    [
        "too many channel sources for one Azure NSG",
        azure({ channels: channels(299), network: { allowedCidrs: Array.from({ length: 14 }, (_, i) => `10.${i}.0.0/16`) } }),
        "iguana-ha:network.allowedCidrs",
        "list at most 13 CIDRs",
    ],
    ["no network", aws({ network: undefined }), "iguana-ha:network", "allowedCidrs"],
    ["no allowedCidrs", aws({ network: {} }), "iguana-ha:network.allowedCidrs", "required"],
    ["CIDR with an octet of 300", aws({ network: { allowedCidrs: ["10.0.0.300/24"] } }), "iguana-ha:network.allowedCidrs[0]", ["invalid IPv4", "203.0.113.0/24"]],
    ["CIDR with host bits", azure({ network: { allowedCidrs: ["10.0.0.5/24"] } }), "iguana-ha:network.allowedCidrs[0]", ["host bits", "10.0.0.0/24"]],
    ["admin CIDR that is a word", aws({ network: { allowedCidrs: ["10.0.0.0/8"], adminCidrs: ["office"] } }), "iguana-ha:network.adminCidrs[0]", "a.b.c.d/n"],
    [
        "existing network on Azure: an AWS VPC id",
        azure({ network: { cidr: "10.8.0.0/16", allowedCidrs: ["10.0.0.0/8"], existing: { vpcId: "vpc-0123456789abcdef0", workerSubnets: [] } } }),
        "iguana-ha:network.existing.vpcId",
        ["is an AWS setting", "virtualNetworkId"],
    ],
    [
        "existing network on Azure: no private endpoint subnet",
        azure({ network: { cidr: "10.8.0.0/16", allowedCidrs: ["10.0.0.0/8"], existing: { virtualNetworkId: AZURE_VNET, workerSubnets: [] } } }),
        "iguana-ha:network.existing.privateEndpointSubnet",
        "is required on Azure",
    ],
    [
        "existing network on Azure: a subnet id of AWS",
        azure({
            network: {
                cidr: "10.8.0.0/16",
                allowedCidrs: ["10.0.0.0/8"],
                existing: { virtualNetworkId: AZURE_VNET, workerSubnets: EXISTING.workerSubnets, privateEndpointSubnet: { id: `${AZURE_VNET}/subnets/pe`, cidr: "10.8.3.0/27" } },
            },
        }),
        "iguana-ha:network.existing.workerSubnets[0].id",
        "is not a subnet's resource id",
    ],
    [
        "existing network without network.cidr",
        aws({ network: { allowedCidrs: ["10.0.0.0/8"], public: false, existing: EXISTING } }),
        "iguana-ha:network.cidr",
        "is required with network.existing",
    ],
    [
        "existing network with natGateways",
        aws({ network: { cidr: "10.8.0.0/16", allowedCidrs: ["10.0.0.0/8"], public: false, natGateways: "single", existing: EXISTING } }),
        "iguana-ha:network.natGateways",
        "creates no NAT gateway",
    ],
    [
        "existing public network without load balancer subnets",
        aws({ network: { cidr: "10.8.0.0/16", allowedCidrs: ["10.0.0.0/8"], existing: EXISTING } }),
        "iguana-ha:network.existing.loadBalancerSubnets",
        "is required with network.public: true",
    ],
    [
        "existing network: a subnet id that is not one",
        aws({
            network: {
                cidr: "10.8.0.0/16",
                allowedCidrs: ["10.0.0.0/8"],
                public: false,
                existing: { ...EXISTING, workerSubnets: [{ id: "sn-1", cidr: "10.8.1.0/24" }, EXISTING.workerSubnets[1]] },
            },
        }),
        "iguana-ha:network.existing.workerSubnets[0].id",
        ["is not a subnet id", "subnet-0123456789abcdef0"],
    ],
    [
        "existing network: one worker subnet",
        aws({ network: { cidr: "10.8.0.0/16", allowedCidrs: ["10.0.0.0/8"], public: false, existing: { ...EXISTING, workerSubnets: [EXISTING.workerSubnets[0]] } } }),
        "iguana-ha:network.existing.workerSubnets",
        "exactly two subnets",
    ],
    ["unknown NAT gateway choice", aws({ network: { allowedCidrs: ["10.0.0.0/8"], natGateways: "none" } }), "iguana-ha:network.natGateways", '"one-per-zone", "single"'],
    [
        "more channel rules than four security groups hold",
        aws({
            channels: Array.from({ length: 25 }, (_, i) => ({ name: `c${i}`, protocol: "llp", port: 3000 + 2 * i })),
            network: { allowedCidrs: Array.from({ length: 10 }, (_, i) => `10.0.${i}.0/24`) },
        }),
        "iguana-ha:network.allowedCidrs",
        ["10 CIDRs x 25 port ranges need 250 inbound rules", "240"],
    ],
    [
        "internal cluster needing several NLBs in a small network",
        aws({ network: { allowedCidrs: ["10.0.0.0/8"], public: false, cidr: "10.1.0.0/20" } }),
        "iguana-ha:network.cidr",
        "/18 or larger",
    ],
    ["empty allowedCidrs", azure({ network: { allowedCidrs: [] } }), "iguana-ha:network.allowedCidrs", "is empty"],
    ["allowedCidrs as a string", aws({ network: { allowedCidrs: "10.0.0.0/8" } }), "iguana-ha:network.allowedCidrs", "must be a list"],
    ["CIDR without prefix", aws({ network: { allowedCidrs: ["10.0.0.0"] } }), "iguana-ha:network.allowedCidrs[0]", "a.b.c.d/n"],
    ["CIDR prefix /33", azure({ network: { allowedCidrs: ["10.0.0.0/33"] } }), "iguana-ha:network.allowedCidrs[0]", "prefix /33"],
    ["dashboard open to the Internet", azure({ network: { allowedCidrs: ["10.0.0.0/8"], adminCidrs: ["0.0.0.0/0"] } }), "iguana-ha:network.adminCidrs[0]", "whole Internet"],
    ["VPC CIDR /8", aws({ network: { allowedCidrs: ["10.0.0.0/8"], cidr: "10.0.0.0/8" } }), "iguana-ha:network.cidr", "/16 to /24"],
    ["misspelt network key", aws({ network: { allowedCidr: ["10.0.0.0/8"] } }), "iguana-ha:network.allowedCidr", "not a known key"],
    ["public as a string", azure({ network: { allowedCidrs: ["10.0.0.0/8"], public: "false" } }), "iguana-ha:network.public", "true or false"],
    ["unknown edition", aws({ iguana: { edition: "iguana7" } }), "iguana-ha:iguana.edition", '"iguanax", "iguana6"'],
    ["installer URL without scheme", azure({ iguana: { installerUrl: "downloads/iguana.tar.gz" } }), "iguana-ha:iguana.installerUrl", "http(s) URL"],
    ["web port as a string", aws({ iguana: { webPort: "7654" } }), "iguana-ha:iguana.webPort", "whole number"],
    ["web port on the role probe", azure({ iguana: { webPort: ROLE_PROBE_PORT } }), "iguana-ha:iguana.webPort", "role probe"],
    ["installer URL over FTP", aws({ iguana: { installerUrl: "ftp://x/iguana.tar.gz" } }), "iguana-ha:iguana.installerUrl", "http(s) URL"],
    ["AWS data disk of 5 GiB", aws({ workers: { dataDiskGb: 5 } }), "iguana-ha:workers.dataDiskGb", "10-16384"],
    ["AWS data disk above the gp3 maximum", aws({ workers: { dataDiskGb: 20000 } }), "iguana-ha:workers.dataDiskGb", "10-16384"],
    ["worker size that is no instance type", aws({ workers: { size: "large" } }), "iguana-ha:workers.size", "m6i.large"],
    ["Azure data disk of 40000 GiB", azure({ workers: { dataDiskGb: 40000 } }), "iguana-ha:workers.dataDiskGb", "10-32767"],
    ["Azure VM size on AWS", aws({ workers: { size: "Standard_D2s_v5" } }), "iguana-ha:workers.size", "EC2 instance type"],
    ["EC2 type on Azure", azure({ workers: { size: "m6i.large" } }), "iguana-ha:workers.size", ["VM size", "Standard_D2s_v5"]],
    ["dedicated as a string", aws({ workers: { dedicated: "yes" } }), "iguana-ha:workers.dedicated", "true or false"],
    ["NLB interval 4 s", aws({ failover: { healthCheckIntervalSeconds: 4 } }), "iguana-ha:failover.healthCheckIntervalSeconds", "5-300"],
    ["NLB interval 301 s", aws({ failover: { healthCheckIntervalSeconds: 301 } }), "iguana-ha:failover.healthCheckIntervalSeconds", "5-300"],
    ["NLB threshold 11", aws({ failover: { unhealthyThreshold: 11 } }), "iguana-ha:failover.unhealthyThreshold", "2-10"],
    ["NLB idle timeout 6001 s", aws({ failover: { idleTimeoutSeconds: 6001 } }), "iguana-ha:failover.idleTimeoutSeconds", "60-6000"],
    ["Azure interval 3 s", azure({ failover: { healthCheckIntervalSeconds: 3 } }), "iguana-ha:failover.healthCheckIntervalSeconds", "5-300"],
    ["NLB threshold 1", aws({ failover: { unhealthyThreshold: 1 } }), "iguana-ha:failover.unhealthyThreshold", "2-10"],
    ["Azure threshold 0", azure({ failover: { unhealthyThreshold: 0 } }), "iguana-ha:failover.unhealthyThreshold", "1-10"],
    ["NLB idle timeout 30 s", aws({ failover: { idleTimeoutSeconds: 30 } }), "iguana-ha:failover.idleTimeoutSeconds", "60-6000"],
    ["Azure idle timeout 3 min", azure({ failover: { idleTimeoutSeconds: 180 } }), "iguana-ha:failover.idleTimeoutSeconds", "240-6000"],
    [
        "Azure idle timeout not whole minutes",
        azure({ failover: { idleTimeoutSeconds: 250 } }),
        "iguana-ha:failover.idleTimeoutSeconds",
        ["whole number of minutes", "multiple of 60"],
    ],
    ["Azure idle timeout above 100 minutes", azure({ failover: { idleTimeoutSeconds: 6060 } }), "iguana-ha:failover.idleTimeoutSeconds", "240-6000"],
    ["Azure threshold 11", azure({ failover: { unhealthyThreshold: 11 } }), "iguana-ha:failover.unhealthyThreshold", "1-10"],
    ["a VM size name Azure does not use", azure({ workers: { size: "Standard_large" } }), "iguana-ha:workers.size", "not an Azure VM size"],
    ["a VM size without premium storage", azure({ workers: { size: "Standard_D2_v5" } }), "iguana-ha:workers.size", ["Premium SSD", "Standard_D2s_v5"]],
    [
        "a dedicated host for a series that has none",
        azure({ workers: { size: "Standard_B2ms", dedicated: true } }),
        "iguana-ha:workers.size",
        ["no dedicated host SKU", "Dsv5 (DSv5-Type1)"],
    ],
    ["a dedicated host for a series we do not map", azure({ workers: { size: "Standard_D2s_v6", dedicated: true } }), "iguana-ha:workers.size", "no dedicated host SKU"],
    ["encryptionAtHost that is not a boolean", azure({ workers: { encryptionAtHost: "yes" } }), "iguana-ha:workers.encryptionAtHost", "true or false"],
    ["more Azure channels than the per-NIC rule limit allows", azure({ channels: channels(300) }), "iguana-ha:channels", "at most 299"],
    ["interval as a string", azure({ failover: { healthCheckIntervalSeconds: "5" } }), "iguana-ha:failover.healthCheckIntervalSeconds", "whole number"],
    ["failover as a list", aws({ failover: [] }), "iguana-ha:failover", "must be an object"],
    ["lease of 2 s", aws({ failover: { leaseSeconds: 2 } }), "iguana-ha:failover.leaseSeconds", "2 s is outside the allowed range 3-60 s"],
    [
        "lease of 61 s with a floating IP",
        azure({ failover: { strategy: "floating-ip", leaseSeconds: 61 } }),
        "iguana-ha:failover.leaseSeconds",
        "61 s is outside the allowed range 3-60 s",
    ],
    ["lease as a string", azure({ failover: { leaseSeconds: "10" } }), "iguana-ha:failover.leaseSeconds", 'must be a whole number in 3-60 s; got the string "10"'],
    ["fractional lease", aws({ failover: { leaseSeconds: 4.5 } }), "iguana-ha:failover.leaseSeconds", "must be a whole number in 3-60 s; got number 4.5"],
    ["unknown queue recovery", aws({ storage: { queueRecovery: "replicated" } }), "iguana-ha:storage.queueRecovery", '"none", "shared"'],
    ["storage as a string", azure({ storage: "shared" }), "iguana-ha:storage", "must be an object"],
    ["misspelt storage key", aws({ storage: { queueRecover: "shared" } }), "iguana-ha:storage.queueRecover", "not a known key"],
    [
        "shared storage with an active-active channel",
        aws({ storage: { queueRecovery: "shared" }, channels: [{ name: "api", protocol: "http", port: 8080, mode: "active-active" }] }),
        "iguana-ha:channels[0].mode",
        "runs it only on the active one",
    ],
    ["shared storage with a data disk size", azure({ storage: { queueRecovery: "shared" }, workers: { dataDiskGb: 200 } }), "iguana-ha:workers.dataDiskGb", "does not create"],
    ["share size on AWS", aws({ storage: { queueRecovery: "shared", shareGb: 200 } }), "iguana-ha:storage.shareGb", "EFS grows"],
    ["Azure share of 50 GiB", azure({ storage: { queueRecovery: "shared", shareGb: 50 } }), "iguana-ha:storage.shareGb", "100-102400"],
    [
        "installer checksum too short",
        aws({ iguana: { installerUrl: "https://downloads.example/i.tar.gz", installerSha256: "abc123" } }),
        "iguana-ha:iguana.installerSha256",
        "64 hexadecimal",
    ],
    ["installer checksum without an installer", azure({ iguana: { installerSha256: "a".repeat(64) } }), "iguana-ha:iguana.installerSha256", "not set"],
    ["unknown failover strategy", aws({ failover: { strategy: "dns" } }), "iguana-ha:failover.strategy", '"load-balancer", "floating-ip"'],
    [
        "floating IP with a private VIP",
        azure({ failover: { strategy: "floating-ip" }, network: { allowedCidrs: ["10.0.0.0/8"], public: false } }),
        "iguana-ha:network.public",
        "cannot move between",
    ],
    [
        "floating IP with an active-active channel",
        aws({ failover: { strategy: "floating-ip" }, channels: [{ name: "api", protocol: "http", port: 8080, mode: "active-active" }] }),
        "iguana-ha:channels[0].mode",
        "needs a load balancer",
    ],
    [
        "floating IP with health-check tuning",
        aws({ failover: { strategy: "floating-ip", healthCheckIntervalSeconds: 10 } }),
        "iguana-ha:failover.healthCheckIntervalSeconds",
        "no load balancer",
    ],
    [
        "flow log retention CloudWatch does not offer",
        aws({ audit: { retentionDays: 2000 } }),
        "iguana-ha:audit.retentionDays",
        ["2000 is not a retention period", "nearest: 1827 or 2192"],
    ],
    ["an alert address without a domain", aws({ alerts: { emails: ["oncall@hospital"] } }), "iguana-ha:alerts.emails[0]", ['"oncall@hospital" is not an email address']],
    ["alert addresses as one string", azure({ alerts: { emails: "a@hospital.example" } }), "iguana-ha:alerts.emails", ["must be a list of email addresses"]],
    ["an alert address twice", aws({ alerts: { emails: ["a@hospital.example", "A@hospital.example"] } }), "iguana-ha:alerts.emails[1]", ["listed twice"]],
    ["flow log retention of 0 days", azure({ audit: { retentionDays: 0 } }), "iguana-ha:audit.retentionDays", ["1-3653"]],
    [
        "log retention with no logs to keep",
        azure({ audit: { flowLogs: false, workerLogs: false, retentionDays: 365 } }),
        "iguana-ha:audit.retentionDays",
        ["audit.flowLogs and audit.workerLogs are both false"],
    ],
    ["worker logs kept fewer days than a Log Analytics table can", azure({ audit: { retentionDays: 3 } }), "iguana-ha:audit.retentionDays", ["Log Analytics", "4-3653"]],
    ["a webhook key in the wrong case", aws({ alerts: { webhookURL: "https://events.pagerduty.com/x" } }), "iguana-ha:alerts.webhookURL", ["webhookUrl"]],
    ["an alerts webhook over plain http", aws({ alerts: { webhookUrl: "http://hooks.hospital.example/alerts" } }), "iguana-ha:alerts.webhookUrl", ["not an https URL"]],
    ["a misspelt worker logs key", aws({ audit: { workerlogs: false } }), "iguana-ha:audit.workerlogs", ["workerLogs"]],
    ["a misspelt audit key", aws({ audit: { flowlogs: false } }), "iguana-ha:audit.flowlogs", ["flowLogs"]],
    ["backups every 5 hours", aws({ backup: { everyHours: 5 } }), "iguana-ha:backup.everyHours", ["5 h is not a schedule both clouds take", "allowed: 4, 6, 8, 12, 24"]],
    ["backups kept two years", azure({ backup: { retentionDays: 730 } }), "iguana-ha:backup.retentionDays", ["1-365"]],
    ["a backup schedule with backups off", azure({ backup: { enabled: false, everyHours: 12 } }), "iguana-ha:backup.everyHours", ["backup.enabled is false"]],
    ["a misspelt backup key", aws({ backup: { retention: 30 } }), "iguana-ha:backup.retention", ["retentionDays"]],
    [
        "backup copies to a misspelt region",
        aws({ backup: { copyToRegion: "us-west2" } }),
        "iguana-ha:backup.copyToRegion",
        ['"us-west2" is not an AWS region', "did you mean us-west-2?"],
    ],
    ["backup copies to the cluster's own region", aws({ backup: { copyToRegion: "eu-west-1" } }), "iguana-ha:backup.copyToRegion", ["is the cluster's own region eu-west-1"]],
    [
        "backup copies to the cluster's own Azure region, written another way",
        azure({ backup: { copyToRegion: "West Europe" } }),
        "iguana-ha:backup.copyToRegion",
        ["is the cluster's own region westeurope"],
    ],
    [
        "backup copies of a shared queue on Azure",
        azure({ storage: { queueRecovery: "shared" }, backup: { copyToRegion: "northeurope" } }),
        "iguana-ha:backup.copyToRegion",
        ["storage.queueRecovery: shared", "cannot copy to another region"],
    ],
    [
        "egress destinations with egress open",
        aws({ network: { allowedCidrs: ["198.51.100.0/24"], egress: { destinations: [{ cidr: "10.50.1.17/32", port: 6661 }] } } }),
        "iguana-ha:network.egress.destinations",
        ["network.egress.restricted is false"],
    ],
    [
        "an egress destination without a port",
        azure({ network: { allowedCidrs: ["198.51.100.0/24"], egress: { restricted: true, destinations: [{ cidr: "10.50.1.17/32" }] } } }),
        "iguana-ha:network.egress.destinations[0].port",
        ["is required"],
    ],
    [
        "an egress destination twice",
        aws({
            network: {
                allowedCidrs: ["198.51.100.0/24"],
                egress: {
                    restricted: true,
                    destinations: [
                        { cidr: "10.50.1.17/32", port: 6661 },
                        { cidr: "10.50.1.17/32", port: 6661 },
                    ],
                },
            },
        }),
        "iguana-ha:network.egress.destinations[1]",
        ["listed twice"],
    ],
    [
        "an egress destination that is not a CIDR",
        aws({ network: { allowedCidrs: ["198.51.100.0/24"], egress: { restricted: true, destinations: [{ cidr: "lab.hospital.example", port: 6661 }] } } }),
        "iguana-ha:network.egress.destinations[0].cidr",
        ["an IPv4 CIDR such as 10.20.5.17/32"],
    ],
    [
        "an egress proxy with egress open",
        aws({ network: { allowedCidrs: ["198.51.100.0/24"], egress: { proxy: "http://10.60.0.10:3128" } } }),
        "iguana-ha:network.egress.proxy",
        ["network.egress.restricted is false"],
    ],
    [
        "an egress proxy by host name",
        azure({ network: { allowedCidrs: ["198.51.100.0/24"], egress: { restricted: true, proxy: "http://proxy.hospital.example:3128" } } }),
        "iguana-ha:network.egress.proxy",
        ["names the proxy by a host name", "needs its address", "http://<IPv4 address>:<port>"],
    ],
    [
        "an egress proxy with a password",
        aws({ network: { allowedCidrs: ["198.51.100.0/24"], egress: { restricted: true, proxy: "http://iguana:Secret1@10.60.0.10:3128" } } }),
        "iguana-ha:network.egress.proxy",
        ["holds a user name or password", "user data"],
    ],
    [
        "an egress proxy over https",
        aws({ network: { allowedCidrs: ["198.51.100.0/24"], egress: { restricted: true, proxy: "https://10.60.0.10:3128" } } }),
        "iguana-ha:network.egress.proxy",
        ["is an https URL", "CONNECT"],
    ],
    [
        "an egress proxy without its port",
        aws({ network: { allowedCidrs: ["198.51.100.0/24"], egress: { restricted: true, proxy: "http://10.60.0.10" } } }),
        "iguana-ha:network.egress.proxy",
        ['"http://10.60.0.10" is not a proxy URL', "http://<IPv4 address>:<port>"],
    ],
    [
        "egress as a string, not an object",
        aws({ network: { allowedCidrs: ["198.51.100.0/24"], egress: "restricted" } }),
        "iguana-ha:network.egress",
        ["must be an object with keys restricted, destinations, proxy"],
    ],
    [
        "a restore from a short snapshot id",
        aws({ storage: { restoreFrom: { wk1: "snap-123" } } }),
        "iguana-ha:storage.restoreFrom.wk1",
        ['"snap-123" is not an EBS snapshot id', "snap-0123456789abcdef0"],
    ],
    [
        "an AWS snapshot restored on Azure",
        azure({ storage: { restoreFrom: { wk2: "snap-0123456789abcdef0" } } }),
        "iguana-ha:storage.restoreFrom.wk2",
        ["is not a snapshot's resource id"],
    ],
    ["a restore for a third worker", aws({ storage: { restoreFrom: { wk3: "snap-0123456789abcdef0" } } }), "iguana-ha:storage.restoreFrom.wk3", ["wk1, wk2"]],
    [
        "a disk restore with shared storage",
        aws({ storage: { queueRecovery: "shared", restoreFrom: { wk1: "snap-0123456789abcdef0" } } }),
        "iguana-ha:storage.restoreFrom",
        ["does not create", "restore job"],
    ],
    [
        "deletion protection with a floating IP on AWS (an Elastic IP has none)",
        aws({ failover: { strategy: "floating-ip" }, network: { allowedCidrs: ["198.51.100.0/24"], deletionProtection: true } }),
        "iguana-ha:network.deletionProtection",
        ["Elastic IP has no deletion protection", "allowed here: false"],
    ],
    [
        "floating IP with NAT gateways on AWS",
        aws({ failover: { strategy: "floating-ip" }, network: { allowedCidrs: ["198.51.100.0/24"], natGateways: "single" } }),
        "iguana-ha:network.natGateways",
        "own public addresses",
    ],
    ["floating IP on Azure idle for an hour", azure({ failover: { strategy: "floating-ip", idleTimeoutSeconds: 3600 } }), "iguana-ha:failover.idleTimeoutSeconds", "240-1800"],
    ["share size without shared storage", azure({ storage: { shareGb: 200 } }), "iguana-ha:storage.shareGb", 'queueRecovery: "shared"'],
    ["protect as a string", aws({ storage: { protect: "yes" } }), "iguana-ha:storage.protect", "true or false"],
    ["misspelt project key", aws({ enviroment: "dev" }), "iguana-ha:enviroment", "did you mean environment?"],
    ["unknown project key", azure({ colour: "blue" }), "iguana-ha:colour", "allowed: cloud, environment"],
    ["nested key set without --path", aws({ "workers.dataDiskGb": 500 }), "iguana-ha:workers.dataDiskGb", "pulumi config set --path iguana-ha:workers.dataDiskGb 500"],
    ["list item set without --path", azure({ "channels[0].port": 2576 }), "iguana-ha:channels[0].port", "pulumi config set --path 'iguana-ha:channels[0].port' 2576"],
    ["wrong namespace", aws({ "iguana:environment": "dev" }), "iguana:environment", "pulumi config set iguana-ha:environment dev"],
    ["wrong namespace on a nested key", aws({ "iguanaha:workers.size": "m6i.large" }), "iguanaha:workers.size", "pulumi config set --path iguana-ha:workers.size m6i.large"],
    ["misspelt nested key", aws({ workers: { dataDiskGB: 50 } }), "iguana-ha:workers.dataDiskGB", "did you mean dataDiskGb?"],
    ["AWS region without its dash", aws({ "aws:region": "us-east1" }), "aws:region", "did you mean us-east-1?"],
    ["AWS region that does not exist", aws({ "aws:region": "moon-base-1" }), "aws:region", "is not an AWS region"],
    ["Azure location misspelt", azure({ "azure-native:location": "eastus-2" }), "azure-native:location", "did you mean eastus2?"],
    ["Azure location without availability zones", azure({ "azure-native:location": "westus" }), "azure-native:location", "no availability zones"],
];

class Capture {
    out: string[] = [];
    err: string[] = [];
    log = (t: string) => void this.out.push(t);
    error = (t: string) => void this.err.push(t);
}

describe("bad input catalogue", function () {
    this.timeout(60000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-bad-input-"));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("has at least 30 entries over both clouds", () => {
        assert.ok(CATALOGUE.length >= 30);
        assert.ok(CATALOGUE.some(([, c]) => c.cloud === "aws") && CATALOGUE.some(([, c]) => c.cloud === "azure"));
    });

    CATALOGUE.forEach(([description, values, key, fragment], index) => {
        it(`${description}: names ${key}, registers nothing, and fails the plan the same way`, async () => {
            const mocks = new RecordingMocks();
            let message = "";
            await assert.rejects(evaluate({ stack: "bad", config: toPulumiConfig(PROJECT, values), mocks, run: () => program() }), (e: Error) => ((message = e.message), true));
            const line = message.split("\n").find((l) => l.startsWith(`  - ${key}: `));
            assert.ok(line, `no line for ${key} in:\n${message}`);
            for (const part of [fragment].flat()) assert.ok(line.includes(part), `"${line}" lacks "${part}"`);
            assert.deepStrictEqual(
                mocks.resources.map((r) => r.name),
                [],
                "no resource registered",
            );

            const file = path.join(dir, `Pulumi.bad-${index}.yaml`);
            fs.writeFileSync(file, yaml.dump({ config: Object.fromEntries(Object.entries(toPulumiConfig(PROJECT, values)).map(([k, v]) => [k, parse(v)])) }));
            const io = new Capture();
            const status = await runPlanCommand(["--stack", `bad-${index}`, "--stack-file", file], io);
            assert.strictEqual(status, 1);
            assert.deepStrictEqual(io.out, [], "the plan prints nothing to stdout");
            assert.strictEqual(io.err.join("\n"), message, "the plan prints the same message");
        });
    });
});

/** Stack files the offline plan must refuse or flag: [description, file text or undefined for no file, fragments of stderr]. */
const STACK_FILES: [string, string | undefined, string[]][] = [
    ["an unknown stack file", undefined, ['no stack file for "missing"', "known stacks: aws-dev"]],
    ["a stack file that is not YAML", "config:\n  iguana-ha:cloud: [aws\n", ["is not valid YAML"]],
    [
        "an ESC environment that would have set the network",
        yaml.dump({
            environment: ["hospital/iguana-prod"],
            config: { "aws:region": "us-east-1", "iguana-ha:cloud": "aws", "iguana-ha:channels": [{ name: "adt-in", protocol: "llp", port: 2575 }] },
        }),
        ["iguana-ha:network: is required", "note: environment: the stack file imports the Pulumi ESC environment hospital/iguana-prod, which the offline plan does not resolve"],
    ],
];

describe("a secret set without --path", function () {
    this.timeout(60000);
    it("gets the command with --secret and never the value", async () => {
        const presigned = "https://downloads.example/iguana.tar.gz?X-Amz-Signature=0123456789abcdef";
        const config = toPulumiConfig(PROJECT, { ...aws(), "iguana.installerUrl": presigned });
        let message = "";
        await assert.rejects(evaluate({ stack: "bad", config, secretKeys: ["iguana-ha:iguana.installerUrl"], run: () => program() }), (e: Error) => ((message = e.message), true));
        assert.ok(message.includes("pulumi config set --path --secret iguana-ha:iguana.installerUrl <value>"), message);
        assert.ok(!message.includes("X-Amz-Signature"), "the secret is not repeated");
    });
});

describe("config values in hints", () => {
    it("are left out when the engine did not say which keys are secret", async () => {
        await installMocks(new RecordingMocks(), PROJECT, "hints");
        pulumi.runtime.setAllConfig(toPulumiConfig(PROJECT, { ...aws(), "workers.dataDiskGb": 500 }), []);
        const known = readRawConfig().stackKeys!.find((k) => k.key === "iguana-ha:workers.dataDiskGb");
        assert.strictEqual(known?.value, "500", "shown when the engine listed the secret keys (none here)");
        const store = require("@pulumi/pulumi/runtime/state").getStore();
        store.config.PULUMI_CONFIG_SECRET_KEYS = "";
        const unknown = readRawConfig().stackKeys!.find((k) => k.key === "iguana-ha:workers.dataDiskGb");
        assert.strictEqual(unknown?.value, undefined, "an older engine gives no list: no value is shown");
    });
});

describe("bad stack files", function () {
    this.timeout(60000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-bad-stack-file-"));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    STACK_FILES.forEach(([description, text, fragments], index) => {
        it(`${description}: the plan exits 1 with a clear message and no stack trace`, async () => {
            const file = path.join(dir, `Pulumi.bad-file-${index}.yaml`);
            if (text !== undefined) fs.writeFileSync(file, text);
            const io = new Capture();
            const args = text === undefined ? ["--stack", "missing"] : ["--stack-file", file];
            const status = await runPlanCommand(args, io);
            assert.strictEqual(status, 1);
            assert.deepStrictEqual(io.out, [], "nothing on stdout");
            const stderr = io.err.join("\n");
            for (const fragment of fragments) assert.ok(stderr.includes(fragment), `stderr lacks "${fragment}":\n${stderr}`);
            assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
        });
    });

    it("an ESC environment on a stack file that validates is reported as a warning, not dropped", async () => {
        const file = path.join(dir, "Pulumi.esc-ok.yaml");
        const config = Object.fromEntries(Object.entries(toPulumiConfig(PROJECT, aws())).map(([k, v]) => [k, parse(v)]));
        fs.writeFileSync(file, yaml.dump({ environment: ["hospital/iguana-dev"], config }));
        const io = new Capture();
        assert.strictEqual(await runPlanCommand(["--stack-file", file, "--json"], io), 0, io.err.join("\n"));
        const plan = JSON.parse(io.out.join("\n"));
        assert.strictEqual(plan.stack, "esc-ok", "the stack name comes from the file name");
        assert.ok(
            plan.warnings.some((w: string) => w.includes("hospital/iguana-dev") && w.includes("does not resolve")),
            plan.warnings.join("\n"),
        );
    });
});

function parse(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

describe("errors only the cloud's answers reveal", function () {
    this.timeout(30000);
    it("a region with fewer than two zones fails the evaluation with a ResourceError whose stack the CLI hides", async () => {
        class OneZone extends RecordingMocks {
            call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
                if (args.token === "aws:index/getAvailabilityZones:getAvailabilityZones") return { id: "r", names: ["us-west-1a"], zoneIds: ["usw1-az1"] };
                return super.call(args);
            }
        }
        const config = toPulumiConfig(PROJECT, aws({ "aws:region": "us-west-1" }));
        await assert.rejects(evaluate({ stack: "one-zone", config, mocks: new OneZone("us-west-1"), run: () => program() }), (error: Error) => {
            assert.ok(pulumi.ResourceError.isInstance(error), String(error));
            assert.match(error.message, /offers 1 availability zone\(s\); the cluster needs two/);
            assert.strictEqual((error as pulumi.ResourceError).hideStack, true);
            return true;
        });
    });
});
