/**
 * A stand-in for the store that holds the lease (docs/lease.md): DynamoDB's JSON 1.0 API
 * (GetItem, UpdateItem; Signature Version 4 checked by drill/cloud-api.ts's `sigv4Valid`) or
 * Azure Blob's REST API (GET / PUT of a block blob with ETag conditions; bearer token checked).
 * It serves only the subset the lease guard speaks, with the cloud's semantics, status codes
 * and error shapes, and refuses everything else the way the cloud refuses a malformed request,
 * so a guard that drifts from the subset fails in the tests.
 *
 * Faults the drill injects, settable at run time: `delayMs` and `failWith` (checked when a
 * request is processed, so it also hits requests already waiting out a delay). A delayed request
 * is read at once but processed only when its delay has passed: its conditions are evaluated,
 * its write applied and its reply sent at that moment, against the state the store has then
 * (as when the request spends the delay in the network on its way in). A request whose client
 * gave up during the delay is still applied, as the cloud applies a write whose caller timed
 * out; the call log marks it `unanswered`.
 *
 * What the drill reads: `calls` (every request, as FakeCloudApi's), `writes` (every successful
 * write: when, from whom, the record after it) and `current()`.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as zlib from "zlib";
import { AwsCredentials, sigv4Valid } from "./cloud-api";
import type { LeaseFaults } from "./floating";
import {
    AttributeValue,
    ExpressionError,
    Item,
    Placeholders,
    applySetActions,
    checkAttributeValue,
    evaluateCondition,
    parseConditionExpression,
    parseUpdateExpression,
} from "./dynamodb-expression";

/** The table's partition key (docs/lease.md: item `pk = <itemKey>`). */
export const LEASE_KEY_ATTRIBUTE = "pk";

export interface LeaseStoreOptions {
    cloud: "aws" | "azure";
    aws?: { region: string; tableName: string; credentials: AwsCredentials };
    azure?: { accountName: string; container: string; accessToken: string };
    /** Which worker a request comes from: by its source address, or by the port it was sent to. */
    identify(remoteAddress: string, localPort: number): string | undefined;
    /** Each request is processed, and answered, this many milliseconds after it arrived. */
    delayMs?: number;
    /** Every request is answered with this HTTP status (500, 503) in the cloud's error shape, and changes nothing. */
    failWith?: number;
    /** Called after each successful write (a server process appends it to a file). */
    onWrite?(write: LeaseWrite): void;
}

/** The lease as the store holds it. */
export interface LeaseRecord {
    /** The DynamoDB item's `pk`, or the blob's name. */
    key: string;
    owner: string | undefined;
    ownerId: string | undefined;
    token: string | undefined;
    epoch: number | undefined;
    /** AWS: the item's `rvn`; Azure: the blob's ETag. */
    version: string | undefined;
}

export interface LeaseWrite {
    /** Milliseconds on CLOCK_MONOTONIC (process.hrtime), the clock of drill/sender.ts and the VIP moves. */
    t: number;
    from: string | undefined;
    operation: string;
    /** The condition it was written under: the ConditionExpression, or `If-Match: <etag>` / `If-None-Match: *`. */
    condition: string | undefined;
    record: LeaseRecord;
    /** The record before the write; undefined when it created the item or blob. */
    previous: LeaseRecord | undefined;
}

export interface LeaseStoreCall {
    /** When it was processed (after any delay), on the same clock as LeaseWrite.t. */
    t: number;
    from: string | undefined;
    /** `GetItem`, `GetItem (eventually consistent)`, `UpdateItem`; `GET blob`, `PUT blob`, `HEAD blob`. */
    operation: string;
    status: number;
    /** The error code the store answered with (`ConditionalCheckFailedException`, `ConditionNotMet`, ...). */
    error?: string;
    condition?: string;
    /** The client had gone before the (delayed) answer; the request was applied all the same. */
    unanswered?: true;
}

interface Reply {
    status: number;
    headers: Record<string, string>;
    body: string | Buffer;
    operation: string;
    error?: string;
    condition?: string;
    write?: LeaseWrite;
}

interface StoredBlob {
    body: Buffer;
    etag: string;
    lastModified: Date;
    created: Date;
    contentType: string;
}

/** The same clock as drill/sender.ts's monotonicMs (CLOCK_MONOTONIC). */
const monotonicMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

export class FakeLeaseStore {
    readonly calls: LeaseStoreCall[] = [];
    readonly writes: LeaseWrite[] = [];
    /** Applies to requests arriving from now on. */
    delayMs: number;
    /** Applies to requests processed from now on. */
    failWith: number | undefined;
    private readonly items = new Map<string, Item>();
    private readonly blobs = new Map<string, StoredBlob>();
    private lastEtag = 0n;
    private servers: http.Server[] = [];
    private pending = new Set<NodeJS.Timeout>();
    private readonly handler: http.RequestListener;

    /** The store as a request listener, for a server of the caller's (the boot test serves it over HTTPS). */
    get requestListener(): http.RequestListener {
        return this.handler;
    }

    constructor(private readonly options: LeaseStoreOptions) {
        if (options.cloud === "aws" && !options.aws) throw new Error("FakeLeaseStore: cloud aws needs the aws options");
        if (options.cloud === "azure" && !options.azure) throw new Error("FakeLeaseStore: cloud azure needs the azure options");
        this.delayMs = options.delayMs ?? 0;
        this.failWith = options.failWith;
        this.handler = (req, res) => {
            const from = options.identify(req.socket.remoteAddress ?? "", req.socket.localPort ?? 0);
            const chunks: Buffer[] = [];
            let clientGone = false;
            res.on("close", () => {
                if (!res.writableEnded) clientGone = true;
            });
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                const body = Buffer.concat(chunks);
                const processRequest = () => {
                    let reply: Reply;
                    try {
                        reply = options.cloud === "aws" ? this.answerDynamo(req, body, from) : this.answerBlob(req, body, from);
                    } catch (e) {
                        reply = {
                            status: 500,
                            headers: { "content-type": "text/plain" },
                            body: `stand-in failure: ${e}`,
                            operation: `${req.method} ${req.url}`,
                            error: "stand-in failure",
                        };
                    }
                    const call: LeaseStoreCall = { t: monotonicMs(), from, operation: reply.operation, status: reply.status };
                    if (reply.error) call.error = reply.error;
                    if (reply.condition) call.condition = reply.condition;
                    if (clientGone) call.unanswered = true;
                    this.calls.push(call);
                    if (reply.write) {
                        this.writes.push(reply.write);
                        options.onWrite?.(reply.write);
                    }
                    if (clientGone) return;
                    res.writeHead(reply.status, { ...reply.headers, "content-length": String(Buffer.byteLength(reply.body)) });
                    res.end(req.method === "HEAD" ? undefined : reply.body);
                };
                const delay = this.delayMs;
                if (delay <= 0) return processRequest();
                const timer = setTimeout(() => {
                    this.pending.delete(timer);
                    processRequest();
                }, delay);
                this.pending.add(timer);
            });
        };
    }

    /** Starts answering on host:port (0: any free port); call again for another address or port. */
    async listen(host: string, port = 0): Promise<string> {
        const server = http.createServer(this.handler);
        this.servers.push(server);
        await new Promise<void>((resolve) => server.listen(port, host, resolve));
        return `http://${host}:${(server.address() as AddressInfo).port}`;
    }

    /** Stops the servers; requests still waiting out a delay are dropped unprocessed. */
    async close(): Promise<void> {
        for (const t of this.pending) clearTimeout(t);
        this.pending.clear();
        await Promise.all(
            this.servers.map((server) => {
                server.closeAllConnections();
                return new Promise<void>((resolve) => server.close(() => resolve()));
            }),
        );
    }

    /**
     * The record with this key (item `pk` or blob name), or, without a key, the only record the
     * store holds; undefined while there is none.
     */
    current(key?: string): LeaseRecord | undefined {
        const keys = this.options.cloud === "aws" ? [...this.items.keys()] : [...this.blobs.keys()];
        if (key === undefined) {
            if (keys.length > 1) throw new Error(`FakeLeaseStore.current: the store holds ${keys.join(", ")}; name one`);
            key = keys[0];
        }
        if (key === undefined) return undefined;
        return this.recordOf(key);
    }

    private recordOf(key: string): LeaseRecord | undefined {
        if (this.options.cloud === "aws") {
            const item = this.items.get(key);
            return item && itemRecord(key, item);
        }
        const blob = this.blobs.get(key);
        return blob && blobRecord(key, blob);
    }

    // --- DynamoDB -------------------------------------------------------------------------------

    private answerDynamo(req: http.IncomingMessage, body: Buffer, from: string | undefined): Reply {
        const aws = this.options.aws!;
        const target = String(req.headers["x-amz-target"] ?? "");
        const operation = target.startsWith(DYNAMODB_TARGET_PREFIX) ? target.slice(DYNAMODB_TARGET_PREFIX.length) : target || "(no X-Amz-Target)";
        const fail = (status: number, type: string, message?: string) => dynamoError(status, type, message, operation);
        if (this.failWith !== undefined) {
            return this.failWith === 503
                ? fail(503, "com.amazon.coral.service#ServiceUnavailable", "Service unavailable")
                : fail(this.failWith, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error");
        }
        if (req.method !== "POST" || new URL(req.url ?? "/", "http://stand-in").pathname !== "/") {
            return fail(400, "com.amazon.coral.service#UnknownOperationException");
        }
        if (req.headers["authorization"] === undefined) {
            return fail(400, "com.amazon.coral.service#MissingAuthenticationTokenException", "Request is missing Authentication Token");
        }
        // A wrong key id is UnrecognizedClientException in DynamoDB; the stand-in words every
        // failed check as a signature mismatch.
        if (!sigv4Valid(req, body, aws.region, "dynamodb", aws.credentials)) {
            return fail(
                400,
                "com.amazon.coral.service#InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            );
        }
        if (operation !== "GetItem" && operation !== "UpdateItem") return fail(400, "com.amazon.coral.service#UnknownOperationException");
        const contentType = String(req.headers["content-type"] ?? "")
            .split(";")[0]
            .trim();
        if (contentType !== "application/x-amz-json-1.0") {
            return fail(400, "com.amazon.coral.service#SerializationException", `the lease stand-in takes Content-Type application/x-amz-json-1.0, not ${contentType || "none"}`);
        }
        let request: Record<string, unknown>;
        try {
            request = JSON.parse(body.toString("utf8"));
            if (typeof request !== "object" || request === null || Array.isArray(request)) throw new Error("not an object");
        } catch {
            return fail(400, "com.amazon.coral.service#SerializationException", "the request body is not a JSON object");
        }
        try {
            const allowed = operation === "GetItem" ? GET_ITEM_PARAMETERS : UPDATE_ITEM_PARAMETERS;
            const unserved = Object.keys(request).filter((k) => !allowed.has(k));
            if (unserved.length) throw new ExpressionError(`parameter(s) ${unserved.join(", ")} outside the subset the lease stand-in serves (docs/lease.md)`);
            if (request.TableName !== aws.tableName) {
                return fail(400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "Requested resource not found");
            }
            const key = leaseKey(request.Key);
            return operation === "GetItem" ? this.getItem(request, key) : this.updateItem(request, key, from);
        } catch (e) {
            if (e instanceof ExpressionError) return fail(400, "com.amazon.coral.validate#ValidationException", e.message);
            throw e;
        }
    }

    private getItem(request: Record<string, unknown>, key: string): Reply {
        const consistent = request.ConsistentRead === true;
        const item = this.items.get(key);
        return dynamoOk(item ? { Item: item } : {}, consistent ? "GetItem" : "GetItem (eventually consistent)");
    }

    private updateItem(request: Record<string, unknown>, key: string, from: string | undefined): Reply {
        const returnValues = request.ReturnValues ?? "NONE";
        if (returnValues !== "NONE" && returnValues !== "ALL_NEW" && returnValues !== "ALL_OLD") {
            throw new ExpressionError(`ReturnValues ${String(returnValues)} is outside the subset the lease stand-in serves (NONE, ALL_NEW, ALL_OLD)`);
        }
        if (typeof request.UpdateExpression !== "string") throw new ExpressionError("the lease stand-in needs an UpdateExpression (AttributeUpdates is not served)");
        const condition = typeof request.ConditionExpression === "string" ? request.ConditionExpression : undefined;
        if (request.ConditionExpression !== undefined && condition === undefined) throw new ExpressionError("ConditionExpression must be a string");
        const placeholders = new Placeholders(attributeNames(request.ExpressionAttributeNames), attributeValues(request.ExpressionAttributeValues));
        const actions = parseUpdateExpression(request.UpdateExpression);
        const parsedCondition = condition === undefined ? undefined : parseConditionExpression(condition);
        placeholders.resolve(actions, parsedCondition);
        const old = this.items.get(key);
        if (parsedCondition && !evaluateCondition(parsedCondition, old ?? {}, placeholders)) {
            return { ...dynamoError(400, "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "The conditional request failed", "UpdateItem"), condition };
        }
        const updated = applySetActions(actions, old ?? { [LEASE_KEY_ATTRIBUTE]: { S: key } }, LEASE_KEY_ATTRIBUTE, placeholders);
        this.items.set(key, updated);
        const reply = dynamoOk(returnValues === "ALL_NEW" ? { Attributes: updated } : returnValues === "ALL_OLD" && old ? { Attributes: old } : {}, "UpdateItem");
        const write: LeaseWrite = { t: monotonicMs(), from, operation: "UpdateItem", condition, record: itemRecord(key, updated), previous: old && itemRecord(key, old) };
        return { ...reply, condition, write };
    }

    // --- Azure Blob -----------------------------------------------------------------------------

    private answerBlob(req: http.IncomingMessage, body: Buffer, from: string | undefined): Reply {
        const azure = this.options.azure!;
        const method = req.method ?? "GET";
        const operation = `${method} blob`;
        const version = headerValue(req, "x-ms-version");
        const fail = (status: number, code: string, message: string, extra: { headers?: Record<string, string>; details?: Record<string, string> } = {}) =>
            blobError(req, status, code, message, operation, extra);
        if (this.failWith !== undefined) {
            return this.failWith === 503
                ? fail(503, "ServerBusy", "The server is busy.")
                : fail(this.failWith, "InternalError", "The server encountered an internal error. Please retry the request.");
        }
        const authorization = headerValue(req, "authorization");
        const challenge = {
            "www-authenticate": `Bearer authorization_uri=https://login.microsoftonline.com/${STAND_IN_TENANT}/oauth2/authorize resource_id=https://storage.azure.com`,
        };
        if (authorization === undefined) {
            return fail(401, "NoAuthenticationInformation", "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.", {
                headers: challenge,
            });
        }
        if (authorization !== `Bearer ${azure.accessToken}`) {
            return fail(401, "InvalidAuthenticationInfo", "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.", {
                headers: challenge,
            });
        }
        if (version === undefined) {
            return fail(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.", { details: { HeaderName: "x-ms-version" } });
        }
        const url = new URL(req.url ?? "/", "http://stand-in");
        const unservedQuery = [...url.searchParams.keys()].filter((k) => k !== "timeout");
        if (unservedQuery.length) {
            return fail(400, "UnsupportedQueryParameter", "One of the query parameters specified in the request URI is not supported.", {
                details: { QueryParameterName: unservedQuery[0] },
            });
        }
        const segments = url.pathname.split("/").slice(1).map(decodeURIComponent);
        // Host style (<account>.blob.core.windows.net/<container>/<blob>), or path style
        // (<address>/<account>/<container>/<blob>) as the Azure SDKs address an IP host.
        const rest = segments[0] === azure.container ? segments.slice(1) : segments[0] === azure.accountName && segments[1] === azure.container ? segments.slice(2) : undefined;
        if (rest === undefined) return fail(404, "ContainerNotFound", "The specified container does not exist.");
        const name = rest.join("/");
        if (!name) return fail(400, "InvalidUri", "The requested URI does not represent any resource on the server.");
        for (const header of ["if-modified-since", "if-unmodified-since", "x-ms-lease-id", "x-ms-if-tags", "range", "x-ms-range"]) {
            if (req.headers[header] !== undefined) {
                return fail(400, "UnsupportedHeader", "One of the HTTP headers specified in the request is not supported.", { details: { HeaderName: header } });
            }
        }
        const existing = this.blobs.get(name);
        const ifMatch = headerValue(req, "if-match");
        const ifNoneMatch = headerValue(req, "if-none-match");
        const condition = ifMatch !== undefined ? `If-Match: ${ifMatch}` : ifNoneMatch !== undefined ? `If-None-Match: ${ifNoneMatch}` : undefined;
        const conditionNotMet = () => ({ ...fail(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met."), condition });
        if (method === "GET" || method === "HEAD") {
            if (!existing) return fail(404, "BlobNotFound", "The specified blob does not exist.");
            if (ifMatch !== undefined && !etagMatches(ifMatch, existing.etag)) return conditionNotMet();
            if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, existing.etag)) {
                return { status: 304, headers: blobHeaders(req, existing), body: "", operation, condition };
            }
            return {
                status: 200,
                headers: {
                    ...blobHeaders(req, existing),
                    "content-type": existing.contentType,
                    "content-md5": md5(existing.body),
                    "x-ms-blob-type": "BlockBlob",
                    "x-ms-creation-time": existing.created.toUTCString(),
                    "x-ms-lease-state": "available",
                    "x-ms-lease-status": "unlocked",
                    "x-ms-server-encrypted": "true",
                    "accept-ranges": "bytes",
                },
                body: existing.body,
                operation,
                condition,
            };
        }
        if (method !== "PUT") return fail(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.");
        const blobType = headerValue(req, "x-ms-blob-type");
        if (blobType === undefined) {
            return fail(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.", { details: { HeaderName: "x-ms-blob-type" } });
        }
        if (blobType !== "BlockBlob") {
            return fail(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.", {
                details: { HeaderName: "x-ms-blob-type", HeaderValue: blobType },
            });
        }
        if (req.headers["content-length"] === undefined) return fail(411, "MissingContentLengthHeader", "Content-Length HTTP header is missing");
        if (ifMatch !== undefined && (!existing || (ifMatch !== "*" && !etagMatches(ifMatch, existing.etag)))) return conditionNotMet();
        if (ifNoneMatch !== undefined && existing) {
            if (ifNoneMatch === "*") return { ...fail(409, "BlobAlreadyExists", "The specified blob already exists."), condition };
            if (etagMatches(ifNoneMatch, existing.etag)) return conditionNotMet();
        }
        const now = new Date();
        const stored: StoredBlob = {
            body,
            etag: this.nextEtag(now),
            lastModified: now,
            created: existing?.created ?? now,
            contentType: headerValue(req, "x-ms-blob-content-type") ?? headerValue(req, "content-type") ?? "application/octet-stream",
        };
        this.blobs.set(name, stored);
        const write: LeaseWrite = { t: monotonicMs(), from, operation, condition, record: blobRecord(name, stored), previous: existing && blobRecord(name, existing) };
        return {
            status: 201,
            headers: { ...blobHeaders(req, stored), "content-md5": md5(body), "x-ms-request-server-encrypted": "true" },
            body: "",
            operation,
            condition,
            write,
        };
    }

    /** ETags shaped like Azure's ("0x8DD" and 12 more hex digits), from the clock, and growing on every write even within one tick. */
    private nextEtag(now: Date): string {
        const fromClock = 0x8dd000000000000n + ((BigInt(now.getTime()) * 10000n) & 0xffffffffffffn);
        this.lastEtag = fromClock > this.lastEtag ? fromClock : this.lastEtag + 1n;
        return `"0x${this.lastEtag.toString(16).toUpperCase()}"`;
    }
}

const DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810.";
const GET_ITEM_PARAMETERS = new Set(["TableName", "Key", "ConsistentRead", "ReturnConsumedCapacity"]);
const UPDATE_ITEM_PARAMETERS = new Set([
    "TableName",
    "Key",
    "UpdateExpression",
    "ConditionExpression",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
    "ReturnValues",
    "ReturnConsumedCapacity",
    "ReturnItemCollectionMetrics",
]);
/** The tenant the stand-in names in its bearer challenge. */
const STAND_IN_TENANT = "00000000-0000-4000-8000-000000000000";

function leaseKey(key: unknown): string {
    const names = typeof key === "object" && key !== null ? Object.keys(key) : [];
    const value = names.length === 1 && names[0] === LEASE_KEY_ATTRIBUTE ? checkAttributeValue((key as Record<string, unknown>)[LEASE_KEY_ATTRIBUTE], "Key") : undefined;
    if (!value || !("S" in value) || value.S === "") throw new ExpressionError("The provided key element does not match the schema");
    return value.S;
}

function attributeNames(names: unknown): Record<string, string> {
    if (names === undefined) return {};
    if (typeof names !== "object" || names === null || Object.keys(names).length === 0) throw new ExpressionError("ExpressionAttributeNames must not be empty");
    for (const [placeholder, name] of Object.entries(names)) {
        if (!/^#[A-Za-z0-9_]+$/.test(placeholder)) throw new ExpressionError(`ExpressionAttributeNames contains invalid key: Syntax error; key: "${placeholder}"`);
        if (typeof name !== "string" || name === "") throw new ExpressionError(`ExpressionAttributeNames contains invalid value: Empty attribute name for key: "${placeholder}"`);
    }
    return names as Record<string, string>;
}

function attributeValues(values: unknown): Record<string, AttributeValue> {
    if (values === undefined) return {};
    if (typeof values !== "object" || values === null || Object.keys(values).length === 0) throw new ExpressionError("ExpressionAttributeValues must not be empty");
    const checked: Record<string, AttributeValue> = {};
    for (const [placeholder, value] of Object.entries(values)) {
        if (!/^:[A-Za-z0-9_]+$/.test(placeholder)) throw new ExpressionError(`ExpressionAttributeValues contains invalid key: Syntax error; key: "${placeholder}"`);
        checked[placeholder] = checkAttributeValue(value, `ExpressionAttributeValues ${placeholder}`);
    }
    return checked;
}

function stringAttribute(item: Item, name: string): string | undefined {
    const value = item[name];
    return value && "S" in value ? value.S : undefined;
}

function itemRecord(key: string, item: Item): LeaseRecord {
    const epoch = item.epoch;
    return {
        key,
        owner: stringAttribute(item, "owner"),
        ownerId: stringAttribute(item, "ownerId"),
        token: stringAttribute(item, "token"),
        epoch: epoch && "N" in epoch ? Number(epoch.N) : undefined,
        version: stringAttribute(item, "rvn"),
    };
}

function blobRecord(key: string, blob: StoredBlob): LeaseRecord {
    let parsed: Record<string, unknown> = {};
    try {
        const value = JSON.parse(blob.body.toString("utf8"));
        if (typeof value === "object" && value !== null) parsed = value;
    } catch {
        // Not JSON: a record without fields, which the drill reports as such.
    }
    const text = (v: unknown) => (typeof v === "string" ? v : undefined);
    return {
        key,
        owner: text(parsed.owner),
        ownerId: text(parsed.ownerId),
        token: text(parsed.token),
        epoch: typeof parsed.epoch === "number" ? parsed.epoch : undefined,
        version: blob.etag,
    };
}

/** A 52-character request id like DynamoDB's. */
function dynamoRequestId(): string {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    return Array.from(crypto.randomBytes(52), (b) => alphabet[b % alphabet.length]).join("");
}

function dynamoReply(status: number, value: unknown, operation: string): Reply {
    const body = JSON.stringify(value);
    return {
        status,
        headers: {
            "content-type": "application/x-amz-json-1.0",
            "x-amzn-requestid": dynamoRequestId(),
            "x-amz-crc32": String(zlib.crc32(body)),
        },
        body,
        operation,
    };
}

function dynamoOk(value: unknown, operation: string): Reply {
    return dynamoReply(200, value, operation);
}

function dynamoError(status: number, type: string, message: string | undefined, operation: string): Reply {
    return { ...dynamoReply(status, message === undefined ? { __type: type } : { __type: type, message }, operation), error: type.split("#").pop() };
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(", ") : value;
}

function etagMatches(condition: string, etag: string): boolean {
    return condition.split(",").some((c) => {
        const given = c.trim();
        return given === "*" || given === etag || `"${given}"` === etag;
    });
}

function md5(body: Buffer): string {
    return crypto.createHash("md5").update(body).digest("base64");
}

function azureCommonHeaders(req: http.IncomingMessage): Record<string, string> {
    const headers: Record<string, string> = {
        "x-ms-request-id": crypto.randomUUID(),
        "x-ms-version": headerValue(req, "x-ms-version") ?? "2023-11-03",
        date: new Date().toUTCString(),
        server: "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
    };
    const clientRequestId = headerValue(req, "x-ms-client-request-id");
    if (clientRequestId) headers["x-ms-client-request-id"] = clientRequestId;
    return headers;
}

function blobHeaders(req: http.IncomingMessage, blob: StoredBlob): Record<string, string> {
    return { ...azureCommonHeaders(req), etag: blob.etag, "last-modified": blob.lastModified.toUTCString() };
}

const xmlEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function blobError(
    req: http.IncomingMessage,
    status: number,
    code: string,
    message: string,
    operation: string,
    extra: { headers?: Record<string, string>; details?: Record<string, string> },
): Reply {
    const headers: Record<string, string> = { ...azureCommonHeaders(req), ...extra.headers, "content-type": "application/xml", "x-ms-error-code": code };
    const time = new Date().toISOString().replace(/Z$/, "0000Z");
    const details = Object.entries(extra.details ?? {})
        .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
        .join("");
    // Blob storage starts its error documents with a byte order mark.
    const body =
        `\uFEFF<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code>` +
        `<Message>${xmlEscape(message)}\nRequestId:${headers["x-ms-request-id"]}\nTime:${time}</Message>${details}</Error>`;
    return { status, headers, body, operation, error: code };
}

/**
 * For a server process that hosts the store (the drill's cloud API, the boot lab's stand-in):
 * re-reads the faults the drill sets in `files.faults` every 100 ms, and returns what appends the
 * new writes to `files.writes` and rewrites `files.calls` (call it on a timer and at exit).
 */
export function steerFromFiles(store: FakeLeaseStore, files: { faults: string; writes: string; calls: string }, log: (line: string) => void = () => undefined): () => void {
    let faultsText = "";
    setInterval(() => {
        let text = "";
        try {
            text = fs.readFileSync(files.faults, "utf8");
        } catch {
            /* no faults set */
        }
        if (text === faultsText) return;
        faultsText = text;
        store.delayMs = ((text ? JSON.parse(text) : {}) as LeaseFaults).delayMs ?? 0;
        log(`lease store faults now ${text.trim() || "none"}`);
    }, 100).unref();
    let written = 0;
    return () => {
        const writes = store.writes.slice(written);
        written = store.writes.length;
        if (writes.length > 0) fs.appendFileSync(files.writes, writes.map((w) => JSON.stringify(w)).join("\n") + "\n");
        fs.writeFileSync(`${files.calls}.tmp`, JSON.stringify(store.calls));
        fs.renameSync(`${files.calls}.tmp`, files.calls);
    };
}
