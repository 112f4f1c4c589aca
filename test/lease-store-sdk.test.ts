/**
 * The lease store stand-in speaks DynamoDB's real protocol: the AWS SDK for JavaScript v3
 * (its own SigV4 signer, serializer and error parser) drives it over HTTP with an endpoint
 * override and static credentials, and reads its answers, successes and errors, as it reads
 * DynamoDB's. The Azure half is not checked this way in the suite: @azure/storage-blob and its
 * tree weigh 39-50 MB (12.28-12.34) and want Node 22. It was run against the stand-in once by
 * hand (12.34.0, over HTTPS: the pipeline sends bearer tokens over TLS only) and read every
 * answer test/lease-store.test.ts checks, errors included, as Azure's.
 */
import * as assert from "assert";
import {
    ConditionalCheckFailedException,
    DynamoDBClient,
    DynamoDBServiceException,
    GetItemCommand,
    InternalServerError,
    ResourceNotFoundException,
    UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { AwsCredentials } from "../drill/cloud-api";
import { FakeLeaseStore } from "../drill/lease-store";

// The SDK's notice that releases after January 2027 need Node 22; this one is pinned in package.json.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const CREDENTIALS: AwsCredentials = { AccessKeyId: "ASIASDKEXAMPLEKEY", SecretAccessKey: "sdk/secret+key", Token: "sdk-session-token" };
const REGION = "eu-central-1";
const TABLE = "c-lease";
const KEY = { pk: { S: "c-lease" } };

function client(endpoint: string, credentials = CREDENTIALS, maxAttempts = 1): DynamoDBClient {
    return new DynamoDBClient({
        endpoint,
        region: REGION,
        credentials: { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey, sessionToken: credentials.Token },
        maxAttempts,
    });
}

function acquire(owner: string, token: string, rvn: string, seen?: string) {
    return new UpdateItemCommand({
        TableName: TABLE,
        Key: KEY,
        UpdateExpression: "SET #owner = :owner, #ownerId = :ownerId, #token = :token, #rvn = :rvn, #epoch = if_not_exists(#epoch, :zero) + :one",
        ConditionExpression: seen === undefined ? "attribute_not_exists(#pk)" : "#rvn = :seen",
        ExpressionAttributeNames: { "#owner": "owner", "#ownerId": "ownerId", "#token": "token", "#rvn": "rvn", "#epoch": "epoch", ...(seen === undefined ? { "#pk": "pk" } : {}) },
        ExpressionAttributeValues: {
            ":owner": { S: owner },
            ":ownerId": { S: `i-0${owner}` },
            ":token": { S: token },
            ":rvn": { S: rvn },
            ":zero": { N: "0" },
            ":one": { N: "1" },
            ...(seen === undefined ? {} : { ":seen": { S: seen } }),
        },
        ReturnValues: "ALL_NEW",
    });
}

describe("lease store stand-in, driven by the AWS SDK (@aws-sdk/client-dynamodb)", () => {
    let store: FakeLeaseStore;
    let url: string;
    const clients: DynamoDBClient[] = [];
    const sdk = (...args: Parameters<typeof client>) => {
        const c = client(...args);
        clients.push(c);
        return c;
    };

    beforeEach(async () => {
        store = new FakeLeaseStore({ cloud: "aws", aws: { region: REGION, tableName: TABLE, credentials: CREDENTIALS }, identify: () => "sdk" });
        url = await store.listen("127.0.0.1");
    });
    afterEach(async () => {
        for (const c of clients.splice(0)) c.destroy();
        await store.close();
    });

    it("signs as the stand-in checks; GetItem and UpdateItem (conditions, ALL_NEW) parse as DynamoDB's answers", async () => {
        const dynamo = sdk(url);
        const missing = await dynamo.send(new GetItemCommand({ TableName: TABLE, Key: KEY, ConsistentRead: true }));
        assert.strictEqual(missing.Item, undefined);
        assert.strictEqual(missing.$metadata.httpStatusCode, 200);
        assert.match(String(missing.$metadata.requestId), /^[A-Z0-9]{52}$/);
        const acquired = await dynamo.send(acquire("wk1", "t1", "r1"));
        assert.deepStrictEqual(acquired.Attributes, { pk: KEY.pk, owner: { S: "wk1" }, ownerId: { S: "i-0wk1" }, token: { S: "t1" }, rvn: { S: "r1" }, epoch: { N: "1" } });
        const renewed = await dynamo.send(
            new UpdateItemCommand({
                TableName: TABLE,
                Key: KEY,
                UpdateExpression: "SET #rvn = :rvn",
                ConditionExpression: "#token = :token AND #rvn = :mine",
                ExpressionAttributeNames: { "#rvn": "rvn", "#token": "token" },
                ExpressionAttributeValues: { ":rvn": { S: "r2" }, ":token": { S: "t1" }, ":mine": { S: "r1" } },
            }),
        );
        assert.strictEqual(renewed.Attributes, undefined, "ReturnValues NONE");
        const read = await dynamo.send(new GetItemCommand({ TableName: TABLE, Key: KEY, ConsistentRead: true }));
        assert.deepStrictEqual(read.Item?.rvn, { S: "r2" });
        const takeover = await dynamo.send(acquire("wk2", "t2", "r3", "r2"));
        assert.deepStrictEqual(takeover.Attributes?.epoch, { N: "2" });
        assert.deepStrictEqual(
            store.writes.map((w) => [w.record.owner, w.record.epoch, w.record.version]),
            [
                ["wk1", 1, "r1"],
                ["wk1", 1, "r2"],
                ["wk2", 2, "r3"],
            ],
        );
    });

    it("a failed condition is the SDK's ConditionalCheckFailedException; another table its ResourceNotFoundException; a refused expression a ValidationException", async () => {
        const dynamo = sdk(url);
        await dynamo.send(acquire("wk1", "t1", "r1"));
        await assert.rejects(dynamo.send(acquire("wk2", "t2", "r2")), (e: unknown) => {
            assert.ok(e instanceof ConditionalCheckFailedException, String(e));
            assert.strictEqual(e.name, "ConditionalCheckFailedException");
            assert.strictEqual(e.message, "The conditional request failed");
            assert.strictEqual(e.$metadata.httpStatusCode, 400);
            assert.strictEqual(e.$fault, "client");
            return true;
        });
        await assert.rejects(dynamo.send(new GetItemCommand({ TableName: "other", Key: KEY })), (e: unknown) => e instanceof ResourceNotFoundException);
        await assert.rejects(
            dynamo.send(
                new UpdateItemCommand({
                    TableName: TABLE,
                    Key: KEY,
                    UpdateExpression: "REMOVE #owner",
                    ExpressionAttributeNames: { "#owner": "owner" },
                }),
            ),
            (e: unknown) => e instanceof DynamoDBServiceException && e.name === "ValidationException" && /REMOVE/.test(e.message),
        );
    });

    it("a wrong secret is the SDK's InvalidSignatureException", async () => {
        await assert.rejects(sdk(url, { ...CREDENTIALS, SecretAccessKey: "another" }).send(new GetItemCommand({ TableName: TABLE, Key: KEY })), (e: unknown) => {
            assert.ok(e instanceof DynamoDBServiceException, String(e));
            assert.strictEqual(e.name, "InvalidSignatureException");
            assert.strictEqual(e.$metadata.httpStatusCode, 400);
            return true;
        });
    });

    it("failWith 500 is the SDK's InternalServerError, 503 a ServiceUnavailable server fault, and the SDK retries both", async () => {
        store.failWith = 500;
        await assert.rejects(sdk(url).send(acquire("wk1", "t1", "r1")), (e: unknown) => e instanceof InternalServerError && e.$fault === "server");
        store.failWith = 503;
        await assert.rejects(sdk(url).send(new GetItemCommand({ TableName: TABLE, Key: KEY })), (e: unknown) => {
            assert.ok(e instanceof DynamoDBServiceException, String(e));
            assert.deepStrictEqual([e.name, e.$fault, e.$metadata.httpStatusCode], ["ServiceUnavailable", "server", 503]);
            return true;
        });
        const before = store.calls.length;
        await assert.rejects(sdk(url, CREDENTIALS, 2).send(new GetItemCommand({ TableName: TABLE, Key: KEY })));
        assert.strictEqual(store.calls.length - before, 2, "the SDK took the 503 as transient and tried again");
        assert.strictEqual(store.writes.length, 0);
    });
});
