/**
 * The lease store stand-in (drill/lease-store.ts) over real HTTP: the requests of docs/lease.md
 * (acquire, renew, release on DynamoDB; GET and conditional PUT on Azure Blob) with the cloud's
 * semantics, status codes and error shapes, what it refuses, and the faults the drill injects.
 */
import * as assert from "assert";
import * as http from "http";
import * as zlib from "zlib";
import { AwsCredentials } from "../drill/cloud-api";
import { FakeLeaseStore, LeaseStoreOptions } from "../drill/lease-store";
import { signedAwsPost } from "./aws-signing";

const CREDENTIALS: AwsCredentials = { AccessKeyId: "ASIAEXAMPLELEASEKEY", SecretAccessKey: "lease/secret+key", Token: "lease-session-token" };
const REGION = "eu-west-1";
const TABLE = "c-lease";
const ITEM_KEY = "c-lease";
const ACCOUNT = "cleasestore";
const CONTAINER = "lease";
const BLOB = "c-lease.json";
const AZURE_TOKEN = "storage-token-example";
type Worker = "wk1" | "wk2";

/** A store listening on one port per worker: the port a request reaches tells who sent it. */
async function startStore(cloud: "aws" | "azure", extra: Partial<LeaseStoreOptions> = {}) {
    const ports = new Map<number, Worker>();
    const store = new FakeLeaseStore({
        cloud,
        aws: { region: REGION, tableName: TABLE, credentials: CREDENTIALS },
        azure: { accountName: ACCOUNT, container: CONTAINER, accessToken: AZURE_TOKEN },
        identify: (_address, localPort) => ports.get(localPort),
        ...extra,
    });
    const url = { wk1: "", wk2: "" };
    for (const worker of ["wk1", "wk2"] as const) {
        url[worker] = await store.listen("127.0.0.1");
        ports.set(Number(new URL(url[worker]).port), worker);
    }
    return { store, url };
}

async function withStore(cloud: "aws" | "azure", extra: Partial<LeaseStoreOptions>, body: (s: Awaited<ReturnType<typeof startStore>>) => Promise<void>) {
    const s = await startStore(cloud, extra);
    try {
        await body(s);
    } finally {
        await s.store.close();
    }
}

interface DynamoReply {
    status: number;
    headers: http.IncomingHttpHeaders;
    json: any;
    text: string;
}

async function dynamo(url: string, operation: string, request: unknown, credentials = CREDENTIALS): Promise<DynamoReply> {
    const body = JSON.stringify(request);
    const reply = await signedAwsPost(url, {
        service: "dynamodb",
        region: REGION,
        credentials,
        headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": `DynamoDB_20120810.${operation}` },
        body,
    });
    return { status: reply.status, headers: reply.headers, json: JSON.parse(reply.body), text: reply.body };
}

const S = (value: string) => ({ S: value });
const N = (value: string) => ({ N: value });
const KEY = { pk: S(ITEM_KEY) };
const NAMES = { "#owner": "owner", "#ownerId": "ownerId", "#token": "token", "#rvn": "rvn", "#epoch": "epoch" };

/** docs/lease.md's acquire: on a missing item (`seen` undefined) or over an rvn seen unchanged for a lease. */
function acquire(worker: Worker, token: string, rvn: string, seen?: string) {
    return {
        TableName: TABLE,
        Key: KEY,
        UpdateExpression: "SET #owner = :owner, #ownerId = :ownerId, #token = :token, #rvn = :rvn, #epoch = if_not_exists(#epoch, :zero) + :one",
        ConditionExpression: seen === undefined ? "attribute_not_exists(#pk)" : "#rvn = :seen",
        ExpressionAttributeNames: { ...NAMES, ...(seen === undefined ? { "#pk": "pk" } : {}) },
        ExpressionAttributeValues: {
            ":owner": S(worker),
            ":ownerId": S(`i-0${worker}`),
            ":token": S(token),
            ":rvn": S(rvn),
            ":zero": N("0"),
            ":one": N("1"),
            ...(seen === undefined ? {} : { ":seen": S(seen) }),
        },
        ReturnValues: "ALL_NEW",
    };
}

function renew(token: string, mine: string, rvn: string) {
    return {
        TableName: TABLE,
        Key: KEY,
        UpdateExpression: "SET #rvn = :rvn",
        ConditionExpression: "#token = :token AND #rvn = :mine",
        ExpressionAttributeNames: { "#rvn": "rvn", "#token": "token" },
        ExpressionAttributeValues: { ":rvn": S(rvn), ":token": S(token), ":mine": S(mine) },
        ReturnValues: "ALL_NEW",
    };
}

function release(token: string, rvn: string) {
    return {
        TableName: TABLE,
        Key: KEY,
        UpdateExpression: "SET #owner = :none, #rvn = :rvn",
        ConditionExpression: "#token = :token",
        ExpressionAttributeNames: { "#owner": "owner", "#rvn": "rvn", "#token": "token" },
        ExpressionAttributeValues: { ":none": S("none"), ":rvn": S(rvn), ":token": S(token) },
        ReturnValues: "ALL_NEW",
    };
}

const CONDITION_FAILED = { __type: "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", message: "The conditional request failed" };

function assertConditionFailed(reply: DynamoReply): void {
    assert.strictEqual(reply.status, 400, reply.text);
    assert.deepStrictEqual(reply.json, CONDITION_FAILED);
}

function assertValidationError(reply: DynamoReply, message: RegExp): void {
    assert.strictEqual(reply.status, 400, reply.text);
    assert.strictEqual(reply.json.__type, "com.amazon.coral.validate#ValidationException", reply.text);
    assert.match(reply.json.message, message);
}

describe("lease store stand-in: DynamoDB", () => {
    it("reads a missing item as {} and answers in JSON 1.0 with a request id and the body's CRC32", () =>
        withStore("aws", {}, async ({ url, store }) => {
            const reply = await dynamo(url.wk1, "GetItem", { TableName: TABLE, Key: KEY, ConsistentRead: true });
            assert.strictEqual(reply.status, 200);
            assert.deepStrictEqual(reply.json, {});
            assert.strictEqual(reply.headers["content-type"], "application/x-amz-json-1.0");
            assert.match(String(reply.headers["x-amzn-requestid"]), /^[A-Z0-9]{52}$/);
            assert.strictEqual(reply.headers["x-amz-crc32"], String(zlib.crc32(reply.text)));
            assert.strictEqual(store.current(), undefined);
            assert.deepStrictEqual(
                store.calls.map((c) => [c.from, c.operation, c.status]),
                [["wk1", "GetItem", 200]],
            );
        }));

    it("acquire on a missing item creates it (epoch 1 from if_not_exists); a second acquire of a missing item fails its condition", () =>
        withStore("aws", {}, async ({ url, store }) => {
            const first = await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"));
            assert.strictEqual(first.status, 200, first.text);
            assert.deepStrictEqual(first.json, {
                Attributes: { pk: S(ITEM_KEY), owner: S("wk1"), ownerId: S("i-0wk1"), token: S("t1"), rvn: S("r1"), epoch: N("1") },
            });
            assertConditionFailed(await dynamo(url.wk2, "UpdateItem", acquire("wk2", "t2", "r2")));
            assert.deepStrictEqual(store.current(), { key: ITEM_KEY, owner: "wk1", ownerId: "i-0wk1", token: "t1", epoch: 1, version: "r1" });
            const read = await dynamo(url.wk2, "GetItem", { TableName: TABLE, Key: KEY, ConsistentRead: true });
            assert.deepStrictEqual(read.json.Item.owner, S("wk1"));
            assert.deepStrictEqual(
                store.calls.map((c) => [c.from, c.operation, c.status, c.error]),
                [
                    ["wk1", "UpdateItem", 200, undefined],
                    ["wk2", "UpdateItem", 400, "ConditionalCheckFailedException"],
                    ["wk2", "GetItem", 200, undefined],
                ],
            );
        }));

    it("takes over only with the rvn it saw: the first challenger wins and increments the epoch, a second one with the same :seen fails", () =>
        withStore("aws", {}, async ({ url, store }) => {
            await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"));
            const takeover = await dynamo(url.wk2, "UpdateItem", acquire("wk2", "t2", "r2", "r1"));
            assert.strictEqual(takeover.status, 200, takeover.text);
            assert.deepStrictEqual(takeover.json.Attributes.epoch, N("2"));
            assertConditionFailed(await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t3", "r3", "r1")));
            assert.deepStrictEqual(store.current(), { key: ITEM_KEY, owner: "wk2", ownerId: "i-0wk2", token: "t2", epoch: 2, version: "r2" });
        }));

    it("renews only with the holder's token and the rvn it last wrote", () =>
        withStore("aws", {}, async ({ url, store }) => {
            await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"));
            assertConditionFailed(await dynamo(url.wk2, "UpdateItem", renew("not-the-token", "r1", "r2")));
            assertConditionFailed(await dynamo(url.wk1, "UpdateItem", renew("t1", "stale-rvn", "r2")));
            const renewed = await dynamo(url.wk1, "UpdateItem", renew("t1", "r1", "r2"));
            assert.strictEqual(renewed.status, 200, renewed.text);
            assert.deepStrictEqual(store.current(), { key: ITEM_KEY, owner: "wk1", ownerId: "i-0wk1", token: "t1", epoch: 1, version: "r2" });
            assertConditionFailed(await dynamo(url.wk1, "UpdateItem", renew("t1", "r1", "r3")));
        }));

    it("release names the owner none and keeps the epoch; the next acquisition increments it; history records every write with its sender", () =>
        withStore("aws", {}, async ({ url, store }) => {
            await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"));
            assertConditionFailed(await dynamo(url.wk2, "UpdateItem", release("t2", "r2")));
            const released = await dynamo(url.wk1, "UpdateItem", release("t1", "r2"));
            assert.strictEqual(released.status, 200, released.text);
            assert.deepStrictEqual(store.current(), { key: ITEM_KEY, owner: "none", ownerId: "i-0wk1", token: "t1", epoch: 1, version: "r2" });
            const next = await dynamo(url.wk2, "UpdateItem", acquire("wk2", "t3", "r3", "r2"));
            assert.deepStrictEqual(next.json.Attributes.epoch, N("2"));
            assert.deepStrictEqual(
                store.writes.map((w) => [w.from, w.record.owner, w.record.epoch, w.record.version, w.previous?.owner, w.condition]),
                [
                    ["wk1", "wk1", 1, "r1", undefined, "attribute_not_exists(#pk)"],
                    ["wk1", "none", 1, "r2", "wk1", "#token = :token"],
                    ["wk2", "wk2", 2, "r3", "none", "#rvn = :seen"],
                ],
            );
            const times = store.writes.map((w) => w.t);
            assert.ok(
                times.every((t, i) => i === 0 || t >= times[i - 1]),
                `monotonic: ${times}`,
            );
        }));

    it("evaluates AND, OR and parentheses with DynamoDB's precedence (AND binds tighter)", () =>
        withStore("aws", {}, async ({ url }) => {
            await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"));
            const attempt = (condition: string) =>
                dynamo(url.wk1, "UpdateItem", {
                    TableName: TABLE,
                    Key: KEY,
                    UpdateExpression: "SET #rvn = :rvn",
                    ConditionExpression: condition,
                    ExpressionAttributeNames: { "#rvn": "rvn", "#token": "token", "#owner": "owner" },
                    ExpressionAttributeValues: { ":rvn": S("r-next"), ":token": S("t1"), ":other": S("wk2") },
                });
            // false AND true OR true = (false AND true) OR true = true
            assert.strictEqual((await attempt("#owner = :other AND #token = :token OR attribute_exists(#rvn)")).status, 200);
            // false AND (true OR true) = false
            assertConditionFailed(await attempt("#owner = :other AND (#token = :token OR attribute_exists(#rvn))"));
            assert.strictEqual((await attempt("((#token = :token)) AND (attribute_not_exists(#owner) OR #owner = :other OR #owner = #owner)")).status, 200);
        }));

    it("reads with ConsistentRead; a read without it is answered and logged as eventually consistent", () =>
        withStore("aws", {}, async ({ url, store }) => {
            await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"));
            const consistent = await dynamo(url.wk2, "GetItem", { TableName: TABLE, Key: KEY, ConsistentRead: true });
            assert.deepStrictEqual(consistent.json.Item.rvn, S("r1"));
            await dynamo(url.wk2, "GetItem", { TableName: TABLE, Key: KEY });
            assert.deepStrictEqual(
                store.calls.slice(1).map((c) => c.operation),
                ["GetItem", "GetItem (eventually consistent)"],
            );
        }));

    it("refuses unsigned and wrongly signed requests, other operations and other tables, as DynamoDB words them", () =>
        withStore("aws", {}, async ({ url, store }) => {
            const unsigned = await new Promise<DynamoReply>((resolve, reject) => {
                const req = http.request(
                    `${url.wk1}/`,
                    { method: "POST", headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.GetItem" } },
                    (res) => {
                        let text = "";
                        res.on("data", (c) => (text += c));
                        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text), text }));
                    },
                );
                req.on("error", reject);
                req.end(JSON.stringify({ TableName: TABLE, Key: KEY }));
            });
            assert.strictEqual(unsigned.status, 400);
            assert.deepStrictEqual(unsigned.json, { __type: "com.amazon.coral.service#MissingAuthenticationTokenException", message: "Request is missing Authentication Token" });
            const wrongSecret = await dynamo(url.wk1, "GetItem", { TableName: TABLE, Key: KEY }, { ...CREDENTIALS, SecretAccessKey: "another" });
            assert.strictEqual(wrongSecret.status, 400);
            assert.strictEqual(wrongSecret.json.__type, "com.amazon.coral.service#InvalidSignatureException");
            assert.match(wrongSecret.json.message, /^The request signature we calculated does not match/);
            const wrongToken = await dynamo(url.wk1, "GetItem", { TableName: TABLE, Key: KEY }, { ...CREDENTIALS, Token: "expired" });
            assert.strictEqual(wrongToken.json.__type, "com.amazon.coral.service#InvalidSignatureException");
            const putItem = await dynamo(url.wk1, "PutItem", { TableName: TABLE, Item: KEY });
            assert.deepStrictEqual([putItem.status, putItem.json], [400, { __type: "com.amazon.coral.service#UnknownOperationException" }]);
            const otherTable = await dynamo(url.wk1, "GetItem", { TableName: "other", Key: KEY });
            assert.deepStrictEqual(
                [otherTable.status, otherTable.json],
                [400, { __type: "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", message: "Requested resource not found" }],
            );
            assertValidationError(await dynamo(url.wk1, "GetItem", { TableName: TABLE, Key: { id: S("x") } }), /key element does not match the schema/);
            assert.strictEqual(store.writes.length, 0);
        }));

    it("refuses, with a ValidationException, every expression outside the guard's subset and every misuse DynamoDB refuses", () =>
        withStore("aws", {}, async ({ url, store }) => {
            await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"));
            const update = (expression: string, condition?: string, names: Record<string, string> = NAMES, values: Record<string, unknown> = { ":one": N("1") }) =>
                dynamo(url.wk1, "UpdateItem", {
                    TableName: TABLE,
                    Key: KEY,
                    UpdateExpression: expression,
                    ...(condition === undefined ? {} : { ConditionExpression: condition }),
                    ExpressionAttributeNames: names,
                    ExpressionAttributeValues: values,
                });
            const all = { ...NAMES, "#pk": "pk" };
            const cases: [Promise<DynamoReply>, RegExp][] = [
                [update("REMOVE #owner", undefined, { "#owner": "owner" }), /token "REMOVE" is outside the subset/],
                [update("SET #epoch = #epoch - :one", undefined, { "#epoch": "epoch" }), /token "-" is outside the subset/],
                [update("SET #epoch = :one", "#owner <> :one", { "#epoch": "epoch", "#owner": "owner" }), /token "<>" is outside the subset/],
                [update("SET #epoch = :one", "NOT attribute_exists(#owner)", { "#epoch": "epoch", "#owner": "owner" }), /token "NOT" is outside the subset/],
                [update("SET #epoch = :one", "begins_with(#owner, :one)", { "#epoch": "epoch", "#owner": "owner" }), /token "begins_with" is outside the subset/],
                [update("SET epoch = :one", undefined, { "#x": "x" }), /token "epoch" is outside the subset/],
                [update("SET #epoch = :one ADD #owner :one", undefined, { "#epoch": "epoch", "#owner": "owner" }), /token "ADD" is outside the subset/],
                [update("SET #epoch = :one", "attribute_exists(#pk) AND", all), /Syntax error; token: "<EOF>"/],
                [update("SET #nope = :one", undefined, { "#epoch": "epoch" }), /attribute name used in the document path is not defined; attribute name: #nope/],
                [update("SET #epoch = :two", undefined, { "#epoch": "epoch" }), /attribute value used in expression is not defined; attribute value: :two/],
                [update("SET #epoch = :one", undefined, { "#epoch": "epoch", "#owner": "owner" }), /ExpressionAttributeNames unused in expressions: keys: \{#owner\}/],
                [
                    update("SET #epoch = :one", undefined, { "#epoch": "epoch" }, { ":one": N("1"), ":spare": S("x") }),
                    /ExpressionAttributeValues unused in expressions: keys: \{:spare\}/,
                ],
                [update("SET #pk = :one", undefined, { "#pk": "pk" }), /Cannot update attribute pk. This attribute is part of the key/],
                [update("SET #epoch = :one, #epoch = :one", undefined, { "#epoch": "epoch" }), /Two document paths overlap/],
                [update("SET #epoch = #owner + :one", undefined, { "#epoch": "epoch", "#owner": "owner" }), /incorrect data type/],
                [update("SET #epoch = #missing + :one", undefined, { "#epoch": "epoch", "#missing": "missing" }), /refers to an attribute that does not exist/],
                [update("SET #epoch = :one", undefined, { "#epoch": "epoch" }, { ":one": { N: "1e3" } }), /cannot be converted to a numeric value/],
                [update("SET #epoch = :one", undefined, { "#epoch": "epoch" }, { ":one": { SS: ["a"] } }), /type SS is outside the subset/],
            ];
            for (const [reply, message] of cases) assertValidationError(await reply, message);
            const unserved = await dynamo(url.wk1, "UpdateItem", { ...acquire("wk1", "t", "r", "r1"), ReturnValues: "UPDATED_NEW" });
            assertValidationError(unserved, /ReturnValues UPDATED_NEW is outside the subset/);
            const extra = await dynamo(url.wk1, "GetItem", { TableName: TABLE, Key: KEY, ProjectionExpression: "#owner" });
            assertValidationError(extra, /ProjectionExpression outside the subset/);
            assert.strictEqual(store.writes.length, 1, "nothing refused was written");
        }));

    it("adds numbers exactly, including decimals, and compares numbers by value", () =>
        withStore("aws", {}, async ({ url, store }) => {
            const set = (expression: string, values: Record<string, unknown>, condition?: string) =>
                dynamo(url.wk1, "UpdateItem", {
                    TableName: TABLE,
                    Key: KEY,
                    UpdateExpression: expression,
                    ...(condition ? { ConditionExpression: condition } : {}),
                    ExpressionAttributeNames: { "#epoch": "epoch" },
                    ExpressionAttributeValues: values,
                    ReturnValues: "ALL_NEW",
                });
            assert.deepStrictEqual(
                (await set("SET #epoch = if_not_exists(#epoch, :zero) + :one", { ":zero": N("0"), ":one": N("99999999999999999999") })).json.Attributes.epoch,
                N("99999999999999999999"),
            );
            assert.deepStrictEqual((await set("SET #epoch = #epoch + :x", { ":x": N("0.50") })).json.Attributes.epoch, N("99999999999999999999.5"));
            assert.strictEqual((await set("SET #epoch = :v", { ":v": N("7"), ":same": N("99999999999999999999.50") }, "#epoch = :same")).status, 200);
            assert.deepStrictEqual((await set("SET #epoch = #epoch + :x", { ":x": N("-10") })).json.Attributes.epoch, N("-3"));
            assert.strictEqual(store.current()?.epoch, -3);
        }));

    it("failWith answers every call with the cloud's 500 / 503 and changes nothing; it can be set and cleared at run time", () =>
        withStore("aws", { failWith: 500 }, async ({ url, store }) => {
            const down = await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"));
            assert.deepStrictEqual([down.status, down.json], [500, { __type: "com.amazonaws.dynamodb.v20120810#InternalServerError", message: "Internal server error" }]);
            store.failWith = 503;
            const unavailable = await dynamo(url.wk1, "GetItem", { TableName: TABLE, Key: KEY, ConsistentRead: true });
            assert.deepStrictEqual([unavailable.status, unavailable.json.__type], [503, "com.amazon.coral.service#ServiceUnavailable"]);
            assert.strictEqual(store.current(), undefined);
            store.failWith = undefined;
            assert.strictEqual((await dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"))).status, 200);
            assert.deepStrictEqual(
                store.calls.map((c) => [c.status, c.error]),
                [
                    [500, "InternalServerError"],
                    [503, "ServiceUnavailable"],
                    [200, undefined],
                ],
            );
        }));

    it("delayMs: a request is answered that much later and applied only then, against the state at that moment", () =>
        withStore("aws", { delayMs: 400 }, async ({ url, store }) => {
            const started = performance.now();
            const slow = dynamo(url.wk1, "UpdateItem", acquire("wk1", "t1", "r1"));
            await new Promise((resolve) => setTimeout(resolve, 100));
            // Still in flight: nothing applied yet. WK2's request, sent later without a delay,
            // overtakes it and wins the missing item.
            assert.strictEqual(store.current(), undefined);
            store.delayMs = 0;
            const fast = await dynamo(url.wk2, "UpdateItem", acquire("wk2", "t2", "r2"));
            assert.strictEqual(fast.status, 200, fast.text);
            assertConditionFailed(await slow);
            const elapsed = performance.now() - started;
            assert.ok(elapsed >= 380 && elapsed < 5000, `answered after ${elapsed} ms`);
            assert.deepStrictEqual(
                store.writes.map((w) => w.from),
                ["wk2"],
            );
            assert.deepStrictEqual(
                store.calls.map((c) => [c.from, c.status]),
                [
                    ["wk2", 200],
                    ["wk1", 400],
                ],
            );
        }));

    it("a delayed write whose client gave up is applied all the same, and logged as unanswered", () =>
        withStore("aws", { delayMs: 300 }, async ({ url, store }) => {
            const body = JSON.stringify(acquire("wk1", "t1", "r1"));
            await assert.rejects(
                new Promise((resolve, reject) => {
                    // The test's signer sends the request; this client aborts it once it is on the wire.
                    const pending = signedAwsPost(url.wk1, {
                        service: "dynamodb",
                        region: REGION,
                        credentials: CREDENTIALS,
                        headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.UpdateItem" },
                        body,
                        abortAfterMs: 100,
                    });
                    pending.then(resolve, reject);
                }),
            );
            await new Promise((resolve) => setTimeout(resolve, 500));
            assert.strictEqual(store.current()?.owner, "wk1");
            assert.deepStrictEqual(
                store.calls.map((c) => [c.from, c.operation, c.status, c.unanswered]),
                [["wk1", "UpdateItem", 200, true]],
            );
        }));
});

interface BlobReply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

function blobCall(url: string, method: string, path: string, headers: Record<string, string | undefined> = {}, body?: string): Promise<BlobReply> {
    const sent: Record<string, string> = {};
    const defaults: Record<string, string | undefined> = { authorization: `Bearer ${AZURE_TOKEN}`, "x-ms-version": "2023-11-03" };
    for (const [k, v] of Object.entries({ ...defaults, ...headers })) if (v !== undefined) sent[k] = v;
    if (body !== undefined) sent["content-length"] = String(Buffer.byteLength(body));
    return new Promise((resolve, reject) => {
        const req = http.request(`${url}${path}`, { method, headers: sent }, (res) => {
            let text = "";
            res.on("data", (c) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        });
        req.on("error", reject);
        req.end(body);
    });
}

const BLOB_PATH = `/${CONTAINER}/${BLOB}`;
const leaseBody = (owner: string, epoch: number, token = "t") => JSON.stringify({ owner, ownerId: `/vm/${owner}`, token, epoch });
const put = (url: string, condition: Record<string, string>, body: string, path = BLOB_PATH) =>
    blobCall(url, "PUT", path, { "x-ms-blob-type": "BlockBlob", "content-type": "application/json", ...condition }, body);

function assertBlobError(reply: BlobReply, status: number, code: string): void {
    assert.strictEqual(reply.status, status, reply.body);
    assert.strictEqual(reply.headers["x-ms-error-code"], code);
    assert.strictEqual(reply.headers["content-type"], "application/xml");
    assert.match(
        reply.body,
        new RegExp(`^\uFEFF<\\?xml version="1.0" encoding="utf-8"\\?><Error><Code>${code}</Code><Message>[^<]+\nRequestId:[0-9a-f-]{36}\nTime:[^<]+</Message>`),
    );
    assert.match(String(reply.headers["x-ms-request-id"]), /^[0-9a-f-]{36}$/);
}

describe("lease store stand-in: Azure Blob", () => {
    it("a missing blob is 404 BlobNotFound with Azure's XML error; If-None-Match: * creates it (201, quoted ETag); GET returns body and ETag", () =>
        withStore("azure", {}, async ({ url, store }) => {
            const missing = await blobCall(url.wk1, "GET", BLOB_PATH);
            assertBlobError(missing, 404, "BlobNotFound");
            assert.strictEqual(missing.headers["x-ms-version"], "2023-11-03");
            const created = await put(url.wk1, { "if-none-match": "*" }, leaseBody("wk1", 1));
            assert.strictEqual(created.status, 201, created.body);
            assert.match(String(created.headers.etag), /^"0x[0-9A-F]{15}"$/);
            assert.ok(!Number.isNaN(Date.parse(String(created.headers["last-modified"]))));
            assert.match(String(created.headers["x-ms-request-id"]), /^[0-9a-f-]{36}$/);
            const read = await blobCall(url.wk2, "GET", BLOB_PATH);
            assert.strictEqual(read.status, 200);
            assert.strictEqual(read.body, leaseBody("wk1", 1));
            assert.strictEqual(read.headers.etag, created.headers.etag);
            assert.strictEqual(read.headers["content-type"], "application/json");
            assert.strictEqual(read.headers["x-ms-blob-type"], "BlockBlob");
            assert.deepStrictEqual(store.current(), { key: BLOB, owner: "wk1", ownerId: "/vm/wk1", token: "t", epoch: 1, version: created.headers.etag });
        }));

    it("the If-Match / If-None-Match matrix: 409 BlobAlreadyExists, 412 ConditionNotMet, 201 with a new ETag on every PUT", () =>
        withStore("azure", {}, async ({ url, store }) => {
            assertBlobError(await put(url.wk1, { "if-match": '"0x8DC0000000000000"' }, leaseBody("wk1", 1)), 412, "ConditionNotMet");
            assertBlobError(await put(url.wk1, { "if-match": "*" }, leaseBody("wk1", 1)), 412, "ConditionNotMet");
            const first = await put(url.wk1, { "if-none-match": "*" }, leaseBody("wk1", 1));
            assertBlobError(await put(url.wk2, { "if-none-match": "*" }, leaseBody("wk2", 1)), 409, "BlobAlreadyExists");
            const etag1 = String(first.headers.etag);
            const renewed = await put(url.wk1, { "if-match": etag1 }, leaseBody("wk1", 1));
            assert.strictEqual(renewed.status, 201);
            const etag2 = String(renewed.headers.etag);
            assert.notStrictEqual(etag2, etag1, "the same body gets a new ETag");
            assertBlobError(await put(url.wk2, { "if-match": etag1 }, leaseBody("wk2", 2)), 412, "ConditionNotMet");
            assertBlobError(await put(url.wk2, { "if-none-match": etag2 }, leaseBody("wk2", 2)), 412, "ConditionNotMet");
            const takeover = await put(url.wk2, { "if-match": etag2 }, leaseBody("wk2", 2));
            assert.strictEqual(takeover.status, 201);
            assert.strictEqual((await put(url.wk2, { "if-match": String(takeover.headers.etag).slice(1, -1) }, leaseBody("wk2", 2))).status, 201, "an unquoted ETag matches too");
            assert.strictEqual((await put(url.wk2, {}, leaseBody("wk2", 2))).status, 201, "an unconditional PUT overwrites");
            const etags = store.writes.map((w) => w.record.version);
            assert.strictEqual(new Set(etags).size, etags.length);
            assert.deepStrictEqual(
                store.writes.map((w) => [w.from, w.record.owner, w.record.epoch, w.condition]),
                [
                    ["wk1", "wk1", 1, "If-None-Match: *"],
                    ["wk1", "wk1", 1, `If-Match: ${etag1}`],
                    ["wk2", "wk2", 2, `If-Match: ${etag2}`],
                    ["wk2", "wk2", 2, `If-Match: ${String(takeover.headers.etag).slice(1, -1)}`],
                    ["wk2", "wk2", 2, undefined],
                ],
            );
            assert.deepStrictEqual(
                store.calls.filter((c) => c.status !== 201).map((c) => [c.from, c.status, c.error]),
                [
                    ["wk1", 412, "ConditionNotMet"],
                    ["wk1", 412, "ConditionNotMet"],
                    ["wk2", 409, "BlobAlreadyExists"],
                    ["wk2", 412, "ConditionNotMet"],
                    ["wk2", 412, "ConditionNotMet"],
                ],
            );
        }));

    it("refuses a missing or wrong bearer token (401 with the challenge), a missing x-ms-version or x-ms-blob-type, another container", () =>
        withStore("azure", {}, async ({ url, store }) => {
            const none = await blobCall(url.wk1, "GET", BLOB_PATH, { authorization: undefined });
            assertBlobError(none, 401, "NoAuthenticationInformation");
            assert.match(
                String(none.headers["www-authenticate"]),
                /^Bearer authorization_uri=https:\/\/login\.microsoftonline\.com\/[0-9a-f-]+\/oauth2\/authorize resource_id=https:\/\/storage\.azure\.com$/,
            );
            assertBlobError(await put(url.wk1, { authorization: "Bearer another", "if-none-match": "*" }, "{}"), 401, "InvalidAuthenticationInfo");
            const noVersion = await blobCall(url.wk1, "GET", BLOB_PATH, { "x-ms-version": undefined });
            assertBlobError(noVersion, 400, "MissingRequiredHeader");
            assert.match(noVersion.body, /<HeaderName>x-ms-version<\/HeaderName>/);
            const noType = await blobCall(url.wk1, "PUT", BLOB_PATH, { "if-none-match": "*" }, "{}");
            assertBlobError(noType, 400, "MissingRequiredHeader");
            assert.match(noType.body, /<HeaderName>x-ms-blob-type<\/HeaderName>/);
            assertBlobError(await put(url.wk1, { "x-ms-blob-type": "AppendBlob" }, "{}"), 400, "InvalidHeaderValue");
            assertBlobError(await blobCall(url.wk1, "GET", `/other/${BLOB}`), 404, "ContainerNotFound");
            assertBlobError(await blobCall(url.wk1, "GET", `${BLOB_PATH}?comp=lease`), 400, "UnsupportedQueryParameter");
            assertBlobError(await blobCall(url.wk1, "DELETE", BLOB_PATH), 405, "UnsupportedHttpVerb");
            assertBlobError(await put(url.wk1, { "x-ms-lease-id": "l" }, "{}"), 400, "UnsupportedHeader");
            assert.strictEqual(store.writes.length, 0);
        }));

    it("serves path-style URLs (/<account>/<container>/<blob>) as the Azure SDKs address an IP host", () =>
        withStore("azure", {}, async ({ url }) => {
            const created = await put(url.wk1, { "if-none-match": "*" }, leaseBody("wk1", 1), `/${ACCOUNT}${BLOB_PATH}`);
            assert.strictEqual(created.status, 201, created.body);
            const read = await blobCall(url.wk1, "GET", BLOB_PATH);
            assert.strictEqual(read.headers.etag, created.headers.etag);
            const head = await blobCall(url.wk1, "HEAD", `/${ACCOUNT}${BLOB_PATH}`);
            assert.deepStrictEqual([head.status, head.body, head.headers.etag], [200, "", created.headers.etag]);
        }));

    it("failWith answers with Azure's 503 ServerBusy / 500 InternalError; delayMs holds each answer back", () =>
        withStore("azure", { failWith: 503 }, async ({ url, store }) => {
            assertBlobError(await put(url.wk1, { "if-none-match": "*" }, leaseBody("wk1", 1)), 503, "ServerBusy");
            store.failWith = 500;
            assertBlobError(await blobCall(url.wk1, "GET", BLOB_PATH), 500, "InternalError");
            store.failWith = undefined;
            store.delayMs = 300;
            const started = performance.now();
            assert.strictEqual((await put(url.wk1, { "if-none-match": "*" }, leaseBody("wk1", 1))).status, 201);
            const elapsed = performance.now() - started;
            assert.ok(elapsed >= 280 && elapsed < 5000, `answered after ${elapsed} ms`);
            assert.strictEqual(store.writes.length, 1);
        }));
});
