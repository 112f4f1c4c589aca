/** Step 5, shared storage (`storage.queueRecovery: shared`): one EFS file system for Iguana's working directory. */
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as efs from "@pulumi/aws/efs";
import * as vpc from "@pulumi/aws/vpc";
import { NFS_PORT } from "../constants";
import { AwsContext, ingressRule, ZONE_SUFFIX } from "./context";
import { AwsNetwork } from "./network";
import { AwsSecurityGroups } from "./security";
import { AwsIdentity } from "./identity";

/**
 * The shared file system's own policy: only the worker role may mount it (IAM authorisation,
 * `mount -t efs -o tls,iam`), write, and act as root (the mount script gives the working
 * directory to the iguana user), only through a mount target; and nobody without TLS.
 * A file system policy replaces EFS's default allow-all, so the allows are explicit.
 */
export function sharedFileSystemPolicy(fileSystemArn: pulumi.Input<string>, workerRoleArn: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "WorkersMountWriteAsRootThroughMountTargets",
                Effect: "Allow",
                Principal: { AWS: workerRoleArn },
                Action: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"],
                Resource: fileSystemArn,
                Condition: { Bool: { "elasticfilesystem:AccessedViaMountTarget": "true" } },
            },
            {
                Sid: "DenyWithoutTls",
                Effect: "Deny",
                Principal: { AWS: "*" },
                Action: "*",
                Resource: fileSystemArn,
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ],
    });
}

export interface AwsSharedStorage {
    efsSg: ec2.SecurityGroup;
    fileSystem: efs.FileSystem;
    mountTargets: efs.MountTarget[];
}

// --- shared storage (storage.queueRecovery: shared) ------------------------------------
export function createSharedStorage(ctx: AwsContext, net: AwsNetwork, sgs: AwsSecurityGroups, identity: AwsIdentity): AwsSharedStorage | undefined {
    const { name, opts, tags, shared } = ctx;
    const { vpcId, workerSubnetIds } = net;
    const { workerSg } = sgs;
    const { key, role, keep } = identity;
    const ingress = (ruleName: string, args: vpc.SecurityGroupIngressRuleArgs) => ingressRule(ctx, ruleName, args);
    // One EFS file system for Iguana's working directory, encrypted with the project key, a
    // mount target in each worker's zone behind a group that admits NFS from the workers only.
    if (!shared) return undefined;
    const efsSg = new ec2.SecurityGroup(`${name}-efs-sg`, { vpcId, description: "Shared Iguana working directory (EFS): NFS from the Iguana workers only", tags }, opts);
    ingress("efs-in-nfs", {
        securityGroupId: efsSg.id,
        description: "NFS (TCP 2049, TLS inside) from the Iguana workers only",
        ipProtocol: "tcp",
        fromPort: NFS_PORT,
        toPort: NFS_PORT,
        referencedSecurityGroupId: workerSg.id,
    });
    const fileSystem = new efs.FileSystem(
        `${name}-shared`,
        {
            encrypted: true,
            kmsKeyId: key.arn,
            performanceMode: "generalPurpose",
            throughputMode: "elastic",
            tags: { ...tags, Name: `${name}-shared` },
        },
        // The queue lives here: deleting the cluster must not silently delete it.
        keep,
    );
    const mountTargets = workerSubnetIds.map(
        (subnetId, i) => new efs.MountTarget(`${name}-shared-${ZONE_SUFFIX[i]}`, { fileSystemId: fileSystem.id, subnetId, securityGroups: [efsSg.id] }, opts),
    );
    new efs.FileSystemPolicy(`${name}-shared`, { fileSystemId: fileSystem.id, policy: sharedFileSystemPolicy(fileSystem.arn, role.arn) }, opts);
    return { efsSg, fileSystem, mountTargets };
}
