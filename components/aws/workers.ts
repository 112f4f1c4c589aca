/** Step 6, the workers: two EC2 instances with their queue volumes and user data, and what each may do to its peer or the VIP. */
import * as pulumi from "@pulumi/pulumi";
import * as dynamodb from "@pulumi/aws/dynamodb";
import * as ebs from "@pulumi/aws/ebs";
import * as ec2 from "@pulumi/aws/ec2";
import * as iam from "@pulumi/aws/iam";
import { PeerFenceLocator, completeBootstrap, renderCloudInit } from "../bootstrap";
import { resolveInstaller } from "../config";
import { AWS_DATA_DEVICE_NAME, CANONICAL_AWS_OWNER, ROOT_VOLUME_GB, UBUNTU_AMI_NAME } from "../constants";
import { WorkerPlan, rebuildable } from "../model";
import { AwsContext } from "./context";
import { AwsNetwork } from "./network";
import { AwsSecurityGroups } from "./security";
import { moveVipPolicy } from "./vip";
import { AwsIdentity } from "./identity";
import { awsLeaseLocator } from "./lease";
import { AwsSharedStorage } from "./storage";

/** Graviton families carry a `g` after the generation digit: m7g, c7gn, t4g, r8g. */
export function awsArchitecture(instanceType: string): "x86_64" | "arm64" {
    return /^[a-z]+\d+[a-z]*g[a-z]*\./.test(instanceType) ? "arm64" : "x86_64";
}

/** Shared mode: the new holder stops the previous one by the instance id written in the lease. */
export function awsPeerFence(region: string): Extract<PeerFenceLocator, { kind: "aws-ec2" }> {
    return { kind: "aws-ec2", region };
}

/**
 * Shared mode: a new lease holder stops the previous one before it starts Iguana on the shared
 * queue. StopInstances on the cluster's two workers only: named by ARN, because the `cluster`
 * tag (the component name) is the same in every stack of this program in an account, and
 * conditioned on that tag too. DescribeInstances (to see the peer stopped) has no
 * resource-level permissions.
 */
export function peerFencePolicy(instanceArns: pulumi.Input<string>[], clusterName: string): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "StopAWorkerOfThisCluster",
                Effect: "Allow",
                Action: "ec2:StopInstances",
                Resource: instanceArns,
                Condition: { StringEquals: { "aws:ResourceTag/cluster": clusterName } },
            },
            { Sid: "SeeWhetherThePeerStopped", Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*" },
        ],
    });
}

export interface AwsWorker {
    plan: WorkerPlan;
    instance: ec2.Instance;
    volume: ebs.Volume | undefined;
    userData: pulumi.Output<string>;
}

// --- workers -------------------------------------------------------------------------
export function createWorkers(
    ctx: AwsContext,
    net: AwsNetwork,
    sgs: AwsSecurityGroups,
    identity: AwsIdentity,
    leaseTable: dynamodb.Table,
    sharedFs: AwsSharedStorage | undefined,
    floatingVip: ec2.Eip | undefined,
): AwsWorker[] {
    const { name, cfg, parent, opts, tags, floating, shared, zones } = ctx;
    const { workerSubnetIds } = net;
    const { workerSg, channelSgs } = sgs;
    const { key, role, profile, secret, tlsSecret, keep } = identity;
    const workerPlans = ctx.plan.workers;
    const architecture = awsArchitecture(cfg.workers.size);
    const ami = ec2.getAmiOutput(
        {
            owners: [CANONICAL_AWS_OWNER],
            mostRecent: true,
            filters: [
                { name: "name", values: [UBUNTU_AMI_NAME[architecture]] },
                { name: "architecture", values: [architecture] },
                { name: "virtualization-type", values: ["hvm"] },
            ],
        },
        opts,
    );
    const workers = workerPlans.map((plan: WorkerPlan) => {
        const workerTags = { ...tags, role: plan.role, Name: `${name}-${plan.name}` };
        const volume = sharedFs
            ? undefined
            : new ebs.Volume(
                  `${name}-${plan.name}-data`,
                  {
                      availabilityZone: zones[plan.index],
                      size: cfg.workers.dataDiskGb,
                      snapshotId: cfg.storage.restoreFrom[plan.name],
                      type: "gp3",
                      encrypted: true,
                      kmsKeyId: key.arn,
                      tags: { ...workerTags, Name: `${name}-${plan.name}-data` },
                  },
                  // The queue lives here: deleting the cluster must not silently delete it. A
                  // recovery point set or cleared later never replaces a disk by itself: the
                  // restore is an explicit `pulumi up --replace` (docs/operations.md).
                  { ...keep, ignoreChanges: ["snapshotId"] },
              );
        const storageId = sharedFs ? sharedFs.fileSystem.id : volume!.id;
        const userData = pulumi
            .all([storageId, secret.arn, floatingVip ? floatingVip.allocationId : undefined, leaseTable.name, resolveInstaller(cfg.iguana), ctx.region, tlsSecret?.arn])
            .apply(([storage, secretArn, allocationId, tableName, installer, region, tlsSecretArn]) =>
                renderCloudInit(
                    completeBootstrap(ctx.plan.bootstrap[plan.index], installer, {
                        dataDisk: sharedFs ? { kind: "aws-efs", fileSystemId: storage } : { kind: "aws-ebs", volumeId: storage },
                        adminPassword: { kind: "aws-secrets-manager", secretArn, region },
                        tlsBundle: tlsSecretArn ? { kind: "aws-secrets-manager", secretArn: tlsSecretArn, region } : undefined,
                        vip: allocationId ? { kind: "aws-eip", allocationId, region } : undefined,
                        lease: awsLeaseLocator(tableName, region, name),
                        peerFence: shared ? awsPeerFence(region) : undefined,
                        events: { kind: "aws-cloudwatch", region, cluster: name },
                    }),
                ),
            );
        const instance = new ec2.Instance(
            `${name}-${plan.name}`,
            {
                ami: ami.id,
                instanceType: cfg.workers.size,
                subnetId: workerSubnetIds[plan.index],
                privateIp: plan.privateIp,
                vpcSecurityGroupIds: [workerSg.id, ...channelSgs.map((sg) => sg.id)],
                iamInstanceProfile: profile.name,
                // Floating IP: the worker's own public address, for egress; the MASTER's is replaced by the VIP.
                // Unset otherwise: the attribute forces a replacement, and existing workers never set it.
                associatePublicIpAddress: floating ? true : undefined,
                tenancy: cfg.workers.dedicated ? "dedicated" : "default",
                metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                rootBlockDevice: { encrypted: true, kmsKeyId: key.arn, volumeType: "gp3", volumeSize: ROOT_VOLUME_GB, deleteOnTermination: true },
                monitoring: true,
                userDataBase64: userData.apply((text) => Buffer.from(text, "utf8").toString("base64")),
                tags: workerTags,
                volumeTags: workerTags,
            },
            // A newer Ubuntu AMI or a new user data must not touch both workers at once (a user
            // data update stops and starts an instance, and cloud-init would not even run it):
            // only the worker named by workers.rebuild takes them, by a replacement. A rebuilt
            // worker keeps its fixed private address, which the old one holds until it is gone:
            // delete it first.
            {
                parent,
                ignoreChanges: rebuildable(cfg, plan) ? [] : ["ami", "userDataBase64"],
                replaceOnChanges: ["userDataBase64"],
                deleteBeforeReplace: true,
                ...(sharedFs ? { dependsOn: [...sharedFs.mountTargets] } : {}),
            },
        );
        if (volume) {
            new ec2.VolumeAttachment(
                `${name}-${plan.name}-data`,
                { instanceId: instance.id, volumeId: volume.id, deviceName: AWS_DATA_DEVICE_NAME, stopInstanceBeforeDetaching: true },
                opts,
            );
        }
        return { plan, instance, volume, userData };
    });

    if (shared) {
        new iam.RolePolicy(
            `${name}-worker-fence-peer`,
            {
                role: role.id,
                policy: peerFencePolicy(
                    workers.map((w) => w.instance.arn),
                    name,
                ),
            },
            opts,
        );
    }

    if (floatingVip) {
        new iam.RolePolicy(
            `${name}-worker-move-vip`,
            {
                role: role.id,
                policy: moveVipPolicy(
                    floatingVip.arn,
                    workers.map((w) => w.instance.arn),
                ),
            },
            opts,
        );
    }
    return workers;
}

export function workerOutputs(workers: { plan: WorkerPlan; instance: ec2.Instance }[], zones: pulumi.Output<[string, string]>) {
    return pulumi.all([zones, ...workers.map((w) => pulumi.all([w.instance.id, w.instance.privateIp]))]).apply(([zoneNames, ...ids]) =>
        workers.map(({ plan }, i) => ({
            name: plan.name,
            role: plan.role,
            zone: (zoneNames as [string, string])[plan.index],
            privateIp: (ids[i] as [string, string])[1],
            id: (ids[i] as [string, string])[0],
        })),
    );
}
