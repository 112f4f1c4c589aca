/** What every cluster's lease must look like, per cloud: shared by the test files of each mode. */
import * as assert from "assert";
import type { BootstrapSettings } from "../components/bootstrap";
import { StackRun } from "./helpers";

const T = {
    instance: "aws:ec2/instance:Instance",
    key: "aws:kms/key:Key",
    table: "aws:dynamodb/table:Table",
    endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    association: "aws:ec2/routeTableAssociation:RouteTableAssociation",
};

/** The route tables of the subnets the workers run in. */
export function workerRouteTableIds(run: StackRun): string[] {
    return run.ofType(T.instance).map((i) => run.ofType(T.association).find((a) => a.inputs.subnetId === i.inputs.subnetId)!.inputs.routeTableId);
}

/** Every IAM statement of the worker role's inline policies, with the policy's name. */
export function workerStatements(run: StackRun): { policy: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: any }[] {
    const role = run.one("aws:iam/role:Role", "iguana-worker-role");
    return run
        .ofType(T.rolePolicy)
        .filter((p) => p.inputs.role === role.id)
        .flatMap((p) => [JSON.parse(p.inputs.policy).Statement].flat().map((statement: any) => ({ policy: p.name, ...statement })));
}

/**
 * The lease as every AWS cluster has it: one on-demand table keyed by `pk`, encrypted with the
 * project key, protected against deletion; reached through a gateway endpoint on the workers'
 * own route tables whose policy admits the lease calls on that table only; the worker role may
 * read and update the cluster's one item only; each worker is told where it is.
 */
export function assertAwsLease(run: StackRun, settings: Record<string, BootstrapSettings>, region: string) {
    const tables = run.ofType(T.table);
    assert.deepStrictEqual(tables.map((t) => t.name), ["iguana-lease"], "one lease table");
    const [table] = tables;
    const key = run.one(T.key, "iguana-key");
    assert.deepStrictEqual(
        [table.inputs.billingMode, table.inputs.hashKey, table.inputs.attributes, table.inputs.rangeKey],
        ["PAY_PER_REQUEST", "pk", [{ name: "pk", type: "S" }], undefined],
        "on demand, one string key, nothing else",
    );
    assert.deepStrictEqual(table.inputs.serverSideEncryption, { enabled: true, kmsKeyArn: key.state.arn }, "encrypted with the project's customer-managed key");
    assert.strictEqual(table.inputs.deletionProtectionEnabled, true);
    assert.strictEqual(table.inputs.pointInTimeRecovery, undefined, "no backups of a record that is rewritten every half second");
    assert.deepStrictEqual([table.retainOnDelete, table.protect], [true, false], "kept by destroy (deletion protection would fail it), never `protect`ed: it holds no data");
    assert.strictEqual(table.parent, "iguana");

    const endpoints = run.ofType(T.endpoint).filter((e) => e.inputs.serviceName === `com.amazonaws.${region}.dynamodb`);
    assert.deepStrictEqual(endpoints.map((e) => e.name), ["iguana-lease"], "one DynamoDB endpoint");
    const [endpoint] = endpoints;
    assert.strictEqual(endpoint.inputs.vpcEndpointType, "Gateway");
    assert.strictEqual(endpoint.inputs.vpcId, run.one("aws:ec2/vpc:Vpc", "iguana-vpc").id);
    assert.deepStrictEqual([...endpoint.inputs.routeTableIds].sort(), [...new Set(workerRouteTableIds(run))].sort(), "on the workers' route tables, and only theirs");
    const role = run.one("aws:iam/role:Role", "iguana-worker-role");
    assert.deepStrictEqual(JSON.parse(endpoint.inputs.policy).Statement, [
        { Sid: "WorkersReachTheLeaseTableOnly", Effect: "Allow", Principal: { AWS: role.state.arn }, Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"], Resource: table.state.arn },
    ]);

    const statements = workerStatements(run);
    const dynamo = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")));
    assert.deepStrictEqual(
        dynamo.map(({ policy, Effect, Action, Resource, Condition }) => ({ policy, Effect, Action, Resource, Condition })),
        [
            {
                policy: "iguana-worker-lease",
                Effect: "Allow",
                Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                Resource: table.state.arn,
                Condition: { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": ["iguana"] } },
            },
        ],
        "GetItem and UpdateItem on the table, the cluster's item only; no PutItem, DeleteItem, Scan or Query",
    );
    const decrypt = statements.filter((s) => s.policy === "iguana-worker-lease" && s.Action === "kms:Decrypt");
    assert.deepStrictEqual(
        decrypt.map((s) => [s.Resource, s.Condition]),
        [[key.state.arn, { StringEquals: { "kms:ViaService": `dynamodb.${region}.amazonaws.com`, "kms:EncryptionContext:aws:dynamodb:tableName": table.state.name } }]],
        "the project key, only through DynamoDB, only for the lease table",
    );

    for (const worker of ["wk1", "wk2"]) {
        assert.deepStrictEqual(settings[worker].lease, { kind: "aws-dynamodb", tableName: table.state.name, region, itemKey: "iguana" }, `${worker} is told where the lease is`);
        assert.strictEqual(settings[worker].leaseSeconds, 3, `${worker}: the default lease`);
    }
}
