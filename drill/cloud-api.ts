/**
 * A stand-in for the cloud APIs the floating-VIP mover (components/bootstrap/vip-mover.py)
 * calls: instance metadata (AWS IMDSv2, the Azure managed-identity token endpoint), EC2's
 * DescribeAddresses / AssociateAddress / DisassociateAddress (Signature Version 4 checked with
 * its own implementation) and ARM's NIC and Public IP reads and NIC updates. It keeps who holds
 * the VIP and calls `onMove` after each change, after a configurable delay (the cloud's own
 * propagation time), so the failover drill can move the address between namespaces and the
 * unit tests can watch the calls.
 */
import * as crypto from "crypto";
import * as http from "http";
import { AddressInfo } from "net";

export interface AwsCredentials {
    AccessKeyId: string;
    SecretAccessKey: string;
    Token: string;
}

export interface FakeWorker {
    name: string;
    /** AWS: the instance id IMDS reports to this worker. */
    instanceId: string;
    /** Azure: the worker's NIC id. */
    nicId: string;
}

export interface FakeCloudOptions {
    cloud: "aws" | "azure";
    workers: FakeWorker[];
    /** Which worker a request comes from: by its source address, or by the port it was sent to. */
    identify(remoteAddress: string, localPort: number): string | undefined;
    /** `credentials` sign and are checked; IMDS hands out `handOut` instead when given (a test of the check). */
    aws?: { allocationId: string; publicIp: string; region: string; credentials: AwsCredentials; role: string; handOut?: AwsCredentials };
    azure?: { publicIpId: string; ipConfigName: string; accessToken: string; subnetId: string };
    /** Milliseconds a change takes before the cloud applies it (AWS: seconds; Azure: 1-2 minutes). */
    moveDelayMs?: number;
    /** Called with the new holder (a worker name, or undefined) once a change is applied. */
    onMove?(holder: string | undefined): void | Promise<void>;
}

export interface ApiCall {
    from: string | undefined;
    action: string;
    status: number;
}

export class FakeCloudApi {
    readonly calls: ApiCall[] = [];
    /** Worker name holding the VIP, or undefined. */
    holder: string | undefined;
    private associationSerial = 0;
    private associationId: string | undefined;
    /** Azure: NICs whose update is still running (provisioningState Updating). */
    private updating = new Set<string>();
    private servers: http.Server[] = [];
    private pending = new Set<NodeJS.Timeout>();
    private readonly handler: http.RequestListener;

    /** The API as a request listener, for a server of the caller's (the boot test serves it over HTTPS). */
    get requestListener(): http.RequestListener {
        return this.handler;
    }

    constructor(private readonly options: FakeCloudOptions) {
        this.handler = (req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                const body = Buffer.concat(chunks);
                const from = options.identify(req.socket.remoteAddress ?? "", req.socket.localPort ?? 0);
                let reply: { status: number; type?: string; body?: string };
                let action = `${req.method} ${req.url?.split("?")[0]}`;
                try {
                    const handled = this.handle(req, body, from);
                    reply = handled.reply;
                    action = handled.action ?? action;
                } catch (e) {
                    reply = { status: 500, body: String(e) };
                }
                this.calls.push({ from, action, status: reply.status });
                res.writeHead(reply.status, { "content-type": reply.type ?? "text/plain" });
                res.end(reply.body ?? "");
            });
        };
    }

    /** Starts answering on host:port (0: any free port); call again for another address or port. */
    async listen(host: string, port = 0): Promise<string> {
        const server = http.createServer(this.handler);
        this.servers.push(server);
        await new Promise<void>((resolve) => server.listen(port, host, resolve));
        const address = server.address() as AddressInfo;
        return `http://${host}:${address.port}`;
    }

    async close(): Promise<void> {
        for (const t of this.pending) clearTimeout(t);
        await Promise.all(
            this.servers.map((server) => {
                server.closeAllConnections();
                return new Promise<void>((resolve) => server.close(() => resolve()));
            }),
        );
    }

    /** Puts the VIP on a worker (or nowhere) at once, as the initial state of a test. */
    place(holder: string | undefined): void {
        this.holder = holder;
        this.associationId = holder ? `eipassoc-${++this.associationSerial}` : undefined;
    }

    private apply(holder: string | undefined, nicToSettle?: string, stillValid: () => boolean = () => true): void {
        const done = () => {
            if (!stillValid()) return;
            this.place(holder);
            if (nicToSettle) this.updating.delete(nicToSettle);
            void this.options.onMove?.(holder);
        };
        if (nicToSettle) this.updating.add(nicToSettle);
        const delay = this.options.moveDelayMs ?? 0;
        if (delay <= 0) return done();
        const t = setTimeout(() => {
            this.pending.delete(t);
            done();
        }, delay);
        this.pending.add(t);
    }

    private handle(req: http.IncomingMessage, body: Buffer, from: string | undefined): { reply: { status: number; type?: string; body?: string }; action?: string } {
        const url = new URL(req.url ?? "/", "http://stand-in");
        return this.options.cloud === "aws" ? this.handleAws(req, url, body, from) : this.handleAzure(req, url, body, from);
    }

    // --- AWS ----------------------------------------------------------------------------------

    private handleAws(req: http.IncomingMessage, url: URL, body: Buffer, from: string | undefined) {
        const aws = this.options.aws!;
        const worker = this.options.workers.find((w) => w.name === from);
        if (url.pathname === "/latest/api/token" && req.method === "PUT") {
            return { reply: { status: req.headers["x-aws-ec2-metadata-token-ttl-seconds"] ? 200 : 400, body: "imds-token" } };
        }
        if (url.pathname.startsWith("/latest/meta-data/")) {
            if (req.headers["x-aws-ec2-metadata-token"] !== "imds-token") return { reply: { status: 401 } };
            const path = url.pathname.slice("/latest/meta-data/".length);
            if (path === "instance-id" && worker) return { reply: { status: 200, body: worker.instanceId } };
            if (path === "iam/security-credentials/") return { reply: { status: 200, body: aws.role } };
            if (path === `iam/security-credentials/${aws.role}`) {
                return { reply: { status: 200, type: "application/json", body: JSON.stringify({ Code: "Success", ...(aws.handOut ?? aws.credentials) }) } };
            }
            return { reply: { status: 404 } };
        }
        if (url.pathname === "/" && req.method === "POST") {
            const params = new URLSearchParams(body.toString("utf8"));
            const action = params.get("Action") ?? "?";
            if (!sigv4Valid(req, body, aws.region, "ec2", aws.credentials)) {
                return { action, reply: ec2Error(403, "AuthFailure", "signature does not match") };
            }
            if (params.get("Version") !== "2016-11-15") return { action, reply: ec2Error(400, "InvalidParameterValue", "Version") };
            if (action === "DescribeAddresses") {
                if (params.get("AllocationId.1") !== aws.allocationId) return { action, reply: ec2Error(400, "InvalidAllocationID.NotFound", "no such allocation") };
                const holder = this.options.workers.find((w) => w.name === this.holder);
                const association = holder ? `<instanceId>${holder.instanceId}</instanceId><associationId>${this.associationId}</associationId>` : "";
                return {
                    action,
                    reply: ec2Ok(
                        "DescribeAddressesResponse",
                        `<addressesSet><item><publicIp>${aws.publicIp}</publicIp><allocationId>${aws.allocationId}</allocationId><domain>vpc</domain>${association}</item></addressesSet>`,
                    ),
                };
            }
            if (action === "AssociateAddress") {
                const target = this.options.workers.find((w) => w.instanceId === params.get("InstanceId"));
                if (params.get("AllocationId") !== aws.allocationId || !target) return { action, reply: ec2Error(400, "InvalidParameterValue", "allocation or instance") };
                if (this.holder && this.holder !== target.name && params.get("AllowReassociation") !== "true") {
                    return { action, reply: ec2Error(400, "Resource.AlreadyAssociated", "already associated") };
                }
                this.apply(target.name);
                return { action, reply: ec2Ok("AssociateAddressResponse", `<return>true</return><associationId>eipassoc-next</associationId>`) };
            }
            if (action === "DisassociateAddress") {
                if (!this.associationId || params.get("AssociationId") !== this.associationId) {
                    return { action, reply: ec2Error(400, "InvalidAssociationID.NotFound", "no such association") };
                }
                // As in EC2, it ends that one association: if an AssociateAddress replaced it while
                // this was propagating, the address stays where that put it.
                const named = this.associationId;
                this.apply(undefined, undefined, () => this.associationId === named);
                return { action, reply: ec2Ok("DisassociateAddressResponse", "<return>true</return>") };
            }
            return { action, reply: ec2Error(400, "InvalidAction", action) };
        }
        return { reply: { status: 404 } };
    }

    // --- Azure --------------------------------------------------------------------------------

    private handleAzure(req: http.IncomingMessage, url: URL, body: Buffer, from: string | undefined) {
        const azure = this.options.azure!;
        if (url.pathname === "/metadata/identity/oauth2/token") {
            if (req.headers["metadata"] !== "true" || url.searchParams.get("resource") !== "https://management.azure.com/") return { reply: { status: 400 } };
            return { reply: { status: 200, type: "application/json", body: JSON.stringify({ access_token: azure.accessToken, token_type: "Bearer" }) } };
        }
        if (req.headers["authorization"] !== `Bearer ${azure.accessToken}`) return { reply: { status: 401 } };
        if (url.searchParams.get("api-version") !== "2024-05-01") return { reply: { status: 400, body: "api-version" } };
        const id = url.pathname.toLowerCase();
        const nicOf = (worker: string | undefined) => this.options.workers.find((w) => w.name === worker);
        if (id === azure.publicIpId.toLowerCase() && req.method === "GET") {
            const holder = nicOf(this.holder);
            const properties = holder ? { ipConfiguration: { id: `${holder.nicId}/ipConfigurations/${azure.ipConfigName}` } } : {};
            return { action: "GET publicIPAddress", reply: json(200, { id: azure.publicIpId, properties: { provisioningState: "Succeeded", ...properties } }) };
        }
        const worker = this.options.workers.find((w) => w.nicId.toLowerCase() === id);
        if (!worker) return { reply: { status: 404 } };
        const nicDocument = () => ({
            id: worker.nicId,
            name: worker.nicId.split("/").pop(),
            properties: {
                provisioningState: this.updating.has(worker.name) ? "Updating" : "Succeeded",
                ipConfigurations: [
                    {
                        name: azure.ipConfigName,
                        properties: {
                            subnet: { id: azure.subnetId },
                            ...(this.holder === worker.name ? { publicIPAddress: { id: azure.publicIpId } } : {}),
                        },
                    },
                ],
            },
        });
        if (req.method === "GET") return { action: "GET networkInterface", reply: json(200, nicDocument()) };
        if (req.method === "PUT") {
            if (this.updating.has(worker.name)) return { action: "PUT networkInterface", reply: json(409, { error: { code: "AnotherOperationInProgress" } }) };
            const document = JSON.parse(body.toString("utf8"));
            const wants = document.properties.ipConfigurations.some((c: any) => c.properties?.publicIPAddress?.id?.toLowerCase() === azure.publicIpId.toLowerCase());
            if (wants && this.holder && this.holder !== worker.name) {
                return { action: "PUT networkInterface", reply: json(400, { error: { code: "PublicIPAddressInUse", message: "in use by another NIC" } }) };
            }
            if (wants && this.holder !== worker.name) this.apply(worker.name, worker.name);
            else if (!wants && this.holder === worker.name) this.apply(undefined, worker.name);
            return { action: `PUT networkInterface (${wants ? "attach" : "detach"})`, reply: json(200, nicDocument()) };
        }
        return { reply: { status: 405 } };
    }
}

function json(status: number, value: unknown) {
    return { status, type: "application/json", body: JSON.stringify(value) };
}

function ec2Ok(root: string, inner: string) {
    return { status: 200, type: "text/xml", body: `<?xml version="1.0" encoding="UTF-8"?><${root} xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId>${inner}</${root}>` };
}

function ec2Error(status: number, code: string, message: string) {
    return { status, type: "text/xml", body: `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>r-1</RequestID></Response>` };
}

const hmac = (key: Buffer | string, data: string) => crypto.createHmac("sha256", key).update(data, "utf8").digest();
const sha256 = (data: Buffer | string) => crypto.createHash("sha256").update(data).digest("hex");

/** Checks a request's Signature Version 4 (an implementation separate from the mover's). */
export function sigv4Valid(req: http.IncomingMessage, body: Buffer, region: string, service: string, credentials: AwsCredentials): boolean {
    const auth = req.headers["authorization"];
    const match = typeof auth === "string" && /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
    if (!match) return false;
    const [, keyId, date, signedRegion, signedService, signedHeaders, signature] = match;
    if (keyId !== credentials.AccessKeyId || signedRegion !== region || signedService !== service) return false;
    if (credentials.Token && req.headers["x-amz-security-token"] !== credentials.Token) return false;
    const names = signedHeaders.split(";");
    for (const required of ["host", "x-amz-date", ...(credentials.Token ? ["x-amz-security-token"] : [])]) {
        if (!names.includes(required)) return false;
    }
    const url = new URL(req.url ?? "/", "http://stand-in");
    const amzDate = String(req.headers["x-amz-date"]);
    const canonical = [
        req.method,
        url.pathname,
        [...url.searchParams].sort().map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&"),
        // Header values are trimmed and their runs of spaces collapsed (the AWS SDKs sign them so).
        names.map((n) => `${n}:${String(req.headers[n] ?? "").trim().replace(/[ \t]+/g, " ")}\n`).join(""),
        signedHeaders,
        sha256(body),
    ].join("\n");
    const scope = `${date}/${region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
    const key = hmac(hmac(hmac(hmac(`AWS4${credentials.SecretAccessKey}`, date), region), service), "aws4_request");
    return crypto.createHmac("sha256", key).update(toSign).digest("hex") === signature && amzDate.startsWith(date);
}
