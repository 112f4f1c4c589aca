/** Step 4, the lease (docs/lease.md): a DynamoDB table reached through a gateway endpoint, one item per cluster. */
import * as pulumi from "@pulumi/pulumi";
import * as dynamodb from "@pulumi/aws/dynamodb";
import * as ec2 from "@pulumi/aws/ec2";
import * as iam from "@pulumi/aws/iam";
import { LeaseLocator } from "../bootstrap";
import { AWS_LEASE_HASH_KEY, HOLDS_LEASE } from "../constants";
import { leaseRecordKey } from "../model";
import { AwsContext } from "./context";
import { AwsNetwork } from "./network";
import { AwsIdentity } from "./identity";

/** Where a worker's lease guard finds the lease: the cluster's one item in its table. */
export function awsLeaseLocator(tableName: string, region: string, clusterName: string): Extract<LeaseLocator, { kind: "aws-dynamodb" }> {
    return { kind: "aws-dynamodb", tableName, region, itemKey: leaseRecordKey(clusterName) };
}

/**
 * What a worker may do to the lease, and nothing more: read and conditionally update the
 * cluster's one item (the guard never creates it with PutItem, never deletes it), and let
 * DynamoDB decrypt the table key with the project key on its behalf, for this table only.
 */
export function leaseTablePolicy(
    table: { arn: pulumi.Input<string>; name: pulumi.Input<string> },
    itemKey: string,
    keyArn: pulumi.Input<string>,
    region: pulumi.Input<string>,
): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ReadAndRenewTheClusterLeaseItemOnly",
                Effect: "Allow",
                Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                Resource: table.arn,
                Condition: { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": [itemKey] } },
            },
            {
                // DynamoDB decrypts the table key as the caller: a customer-managed key needs the
                // caller's kms:Decrypt ("How Amazon DynamoDB uses AWS KMS", AWS KMS guide).
                Sid: "DecryptTheLeaseTableKeyThroughDynamoDB",
                Effect: "Allow",
                Action: "kms:Decrypt",
                Resource: keyArn,
                Condition: {
                    StringEquals: { "kms:ViaService": pulumi.interpolate`dynamodb.${region}.amazonaws.com`, "kms:EncryptionContext:aws:dynamodb:tableName": table.name },
                },
            },
        ],
    });
}

/**
 * The workers' gateway endpoint carries every DynamoDB request of their route tables; its
 * policy admits the worker role's two lease calls on the lease table, and nothing else.
 */
export function leaseEndpointPolicy(tableArn: pulumi.Input<string>, workerRoleArn: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "WorkersReachTheLeaseTableOnly",
                Effect: "Allow",
                Principal: { AWS: workerRoleArn },
                Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                Resource: tableArn,
            },
        ],
    });
}

// --- the lease (docs/lease.md) ----------------------------------------------------------
export function createLease(ctx: AwsContext, net: AwsNetwork, identity: AwsIdentity): { leaseTable: dynamodb.Table; leaseEndpoint: ec2.VpcEndpoint } {
    const { name, parent, opts, tags } = ctx;
    const { vpcId, workerRouteTableIds } = net;
    const { key, role } = identity;
    // One item decides which worker is active. The table holds nothing else: no backups (no
    // point-in-time recovery) and no storage.protect; DynamoDB's own deletion protection guards
    // it against a console or CLI delete while the workers run, and so `pulumi destroy` leaves
    // the (empty, free at rest) table behind instead of failing on it (docs/data.md).
    const leaseTable = new dynamodb.Table(
        `${name}-lease`,
        {
            billingMode: "PAY_PER_REQUEST",
            hashKey: AWS_LEASE_HASH_KEY,
            attributes: [{ name: AWS_LEASE_HASH_KEY, type: "S" }],
            serverSideEncryption: { enabled: true, kmsKeyArn: key.arn },
            deletionProtectionEnabled: true,
            tags: { ...tags, holds: HOLDS_LEASE },
        },
        { parent, retainOnDelete: true },
    );
    // A gateway endpoint on the workers' own route tables: the lease is reached without the NAT
    // gateways, the Internet or the other worker, and costs nothing.
    const leaseEndpoint = new ec2.VpcEndpoint(
        `${name}-lease`,
        {
            vpcId,
            serviceName: pulumi.interpolate`com.amazonaws.${ctx.region}.dynamodb`,
            vpcEndpointType: "Gateway",
            routeTableIds: workerRouteTableIds,
            policy: leaseEndpointPolicy(leaseTable.arn, role.arn),
            tags: { ...tags, Name: `${name}-lease` },
        },
        opts,
    );
    new iam.RolePolicy(`${name}-worker-lease`, { role: role.id, policy: leaseTablePolicy(leaseTable, ctx.plan.leaseKey, key.arn, ctx.region) }, opts);
    return { leaseTable, leaseEndpoint };
}
