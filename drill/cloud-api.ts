/**
 * A stand-in for the cloud APIs the floating-VIP mover (components/bootstrap/vip-mover.py)
 * calls: instance metadata (AWS IMDSv2, the Azure managed-identity token endpoint), EC2's
 * DescribeAddresses / AssociateAddress / DisassociateAddress (Signature Version 4 checked with
 * its own implementation) and ARM's NIC and Public IP reads and NIC updates. It keeps who holds
 * the VIP and calls `onMove` after each change, after a configurable delay (the cloud's own
 * propagation time), so the failover drill can move the address between namespaces and the
 * unit tests can watch the calls.
 *
 * It also serves the peer fence of the lease guard (docs/lease.md): EC2 StopInstances and
 * DescribeInstances, ARM's VM powerOff (an asynchronous operation, with its status URLs) and
 * instanceView. A stop of a running machine calls `onStop` at once (the drill kills the machine
 * there); the machine reads back as stopping, then as stopped after `stopDelayMs`.
 *
 * And the share snapshots' Microsoft.Storage calls: FileShares List with $expand=snapshots (in
 * pages, with nextLink), Create with $expand=snapshots (a new snapshot, refused past the share's
 * limit with ShareSnapshotCountExceeded) and Delete with x-ms-snapshot. A Delete without that
 * header would delete the share itself: the stand-in records it in `shareDeleted` and refuses it.
 *
 * And the disk snapshot copies' Microsoft.Compute calls (disk-snapshot-copy.py): Snapshots List
 * of a resource group (in pages, with nextLink), Create Or Update with CopyStart of an incremental
 * snapshot into the copy group (refused unless it is one, and while another copy of the same
 * disk is running, as Azure does) and Delete. Each list of the copy group moves the running
 * copies on by `copyPercentPerRead`, or fails those of the sources in `failCopyOf`.
 */
import * as crypto from "crypto";
import * as http from "http";
import { AddressInfo } from "net";
import { TLSSocket } from "tls";

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
    /** Azure: the worker's VM resource id (the target of a peer fence). */
    vmId?: string;
}

/** A machine's power state, in EC2's words; `deallocated` is Azure's alone (EC2 reads it as stopped). */
export type PowerState = "pending" | "running" | "stopping" | "stopped" | "deallocated";

/** A stop the stand-in was asked for. */
export interface StopRequest {
    /** Milliseconds on CLOCK_MONOTONIC, the clock of drill/sender.ts. */
    t: number;
    from: string | undefined;
    worker: string;
    api: "StopInstances" | "powerOff";
    /** EC2's Force; undefined on Azure. */
    force?: boolean;
    /** EC2's SkipOsShutdown, ARM's skipShutdown. */
    skipShutdown: boolean;
    /** The state the machine was in when asked. */
    previous: PowerState;
}

export interface FakeCloudOptions {
    cloud: "aws" | "azure";
    workers: FakeWorker[];
    /** Which worker a request comes from: by its source address, or by the port it was sent to. */
    identify(remoteAddress: string, localPort: number): string | undefined;
    /** `credentials` sign and are checked; IMDS hands out `handOut` instead when given (a test of the check). */
    aws?: { allocationId: string; publicIp: string; region: string; credentials: AwsCredentials; role: string; handOut?: AwsCredentials };
    azure?: {
        publicIpId: string;
        ipConfigName: string;
        accessToken: string;
        subnetId: string;
        /** The token IMDS hands out for https://storage.azure.com/ (the lease blob); without it IMDS refuses that resource. */
        storageAccessToken?: string;
        /** The Microsoft.Compute API version the fence must speak (default COMPUTE_API_VERSION). */
        computeApiVersion?: string;
        /** The region named in ARM's operation URLs (default westeurope). */
        location?: string;
        /** Microsoft.Storage's FileShares calls of the share snapshots (share-snapshot.py): the share's ARM id, its snapshots' times, the most it keeps. */
        share?: { shareId: string; apiVersion: string; snapshots: string[]; limit: number; pageSize?: number };
        /** Microsoft.Compute's Snapshots calls of the disk snapshot copies (disk-snapshot-copy.py). */
        diskSnapshots?: StandInDiskSnapshots;
    };
    /** Milliseconds a change takes before the cloud applies it (AWS: seconds; Azure: 1-2 minutes). */
    moveDelayMs?: number;
    /** Called with the new holder (a worker name, or undefined) once a change is applied. */
    onMove?(holder: string | undefined): void | Promise<void>;
    /** Called with a worker's name when a stop of its running machine is requested (StopInstances, powerOff). */
    onStop?(worker: string): void | Promise<void>;
    /** Milliseconds from a stop request until the machine reads back as stopped; it reads back as stopping meanwhile. */
    stopDelayMs?: number;
}

/** An incremental snapshot as ARM's Microsoft.Compute/snapshots answers it (the fields the copies read). */
export interface StandInSnapshot {
    id: string;
    name: string;
    location: string;
    type?: string;
    tags?: Record<string, string>;
    properties: {
        creationData: { createOption: string; sourceResourceId?: string };
        incremental: boolean;
        provisioningState: string;
        /** ISO time, as ARM writes it: "2026-12-07T04:00:01.1234567+00:00". */
        timeCreated: string;
        diskSizeGB?: number;
        /** A copy's progress (CopyStart), 0-100. */
        completionPercent?: number;
        /** Set when a copy's background copy failed. */
        copyCompletionError?: { errorCode: string; errorMessage: string };
    };
}

/** The snapshots of the source and copy groups, and how the stand-in copies. */
export interface StandInDiskSnapshots {
    apiVersion: string;
    sourceGroupId: string;
    copyGroupId: string;
    copyRegion: string;
    /** Both groups' snapshots (the group is in the id): changed in place as the calls create and delete. */
    snapshots: StandInSnapshot[];
    /** Snapshots per page of a list (default 1000). */
    pageSize?: number;
    /** How far each list of the copy group moves a running copy on (default 100: done at the next list). */
    copyPercentPerRead?: number;
    /** Source snapshot ids whose copies fail (copyCompletionError CopyFailed) at the next list of the copy group. */
    failCopyOf?: string[];
    /** Answer every Snapshots call (of `method` only, when given) with this ARM error instead. */
    refuse?: { status: number; code: string; method?: string };
}

/** The Microsoft.Compute API version the stand-in serves unless told otherwise. */
export const COMPUTE_API_VERSION = "2024-07-01";

export interface ApiCall {
    from: string | undefined;
    action: string;
    status: number;
}

type Reply = { status: number; type?: string; body?: string; headers?: Record<string, string> };

/** The same clock as drill/sender.ts's monotonicMs (CLOCK_MONOTONIC). */
const monotonicMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

export class FakeCloudApi {
    readonly calls: ApiCall[] = [];
    /** Every stop requested, in order. */
    readonly stops: StopRequest[] = [];
    /** Worker name holding the VIP, or undefined. */
    holder: string | undefined;
    private associationSerial = 0;
    private associationId: string | undefined;
    /** Azure: NICs whose update is still running (provisioningState Updating). */
    private updating = new Set<string>();
    private servers: http.Server[] = [];
    private pending = new Set<NodeJS.Timeout>();
    private power = new Map<string, { state: PowerState; since: Date }>();
    /** ARM: powerOff operations by id, with the machine they stop. */
    private operations = new Map<string, { worker: string; started: Date }>();
    /** Microsoft.Compute: the source disk of each copy the stand-in started, by the copy's lower-case id. */
    private copyDisks = new Map<string, string | undefined>();
    private readonly handler: http.RequestListener;
    /** A Delete of the share itself (no x-ms-snapshot) was asked for. */
    shareDeleted = false;
    /** The ids of the disk snapshots deleted (either group), in order. */
    readonly snapshotsDeleted: string[] = [];
    /** The copies started (CopyStart): the new snapshot's id and its source's. */
    readonly copiesStarted: { id: string; source: string; location: string }[] = [];

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
                let reply: Reply;
                let action = `${req.method} ${req.url?.split("?")[0]}`;
                try {
                    const handled = this.handle(req, body, from);
                    reply = handled.reply;
                    action = handled.action ?? action;
                } catch (e) {
                    reply = { status: 500, body: String(e) };
                }
                this.calls.push({ from, action, status: reply.status });
                res.writeHead(reply.status, { ...reply.headers, "content-type": reply.type ?? "text/plain" });
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

    /** The power state of a worker's machine (running until a stop, or setPowerState, changes it). */
    powerState(worker: string): PowerState {
        return this.power.get(worker)?.state ?? "running";
    }

    /** Sets a machine's power state, as when the drill starts a stopped machine again. */
    setPowerState(worker: string, state: PowerState): void {
        this.power.set(worker, { state, since: new Date() });
    }

    private requestStop(worker: FakeWorker, request: Omit<StopRequest, "t" | "worker" | "previous">): void {
        const previous = this.powerState(worker.name);
        this.stops.push({ t: monotonicMs(), worker: worker.name, previous, ...request });
        if (previous !== "running" && previous !== "pending") return;
        this.setPowerState(worker.name, "stopping");
        const thisStop = this.power.get(worker.name);
        Promise.resolve()
            .then(() => this.options.onStop?.(worker.name))
            .catch((e) => console.error(`cloud-api: onStop(${worker.name}) failed: ${e}`));
        // Only this stop settles: not one the drill overrode with setPowerState meanwhile.
        const settle = () => {
            if (this.power.get(worker.name) === thisStop) this.setPowerState(worker.name, "stopped");
        };
        const delay = this.options.stopDelayMs ?? 0;
        if (delay <= 0) return settle();
        const t = setTimeout(() => {
            this.pending.delete(t);
            settle();
        }, delay);
        this.pending.add(t);
    }

    private setHolder(holder: string | undefined, nicToSettle?: string, stillValid: () => boolean = () => true): void {
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

    private handle(req: http.IncomingMessage, body: Buffer, from: string | undefined): { reply: Reply; action?: string } {
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
                this.setHolder(target.name);
                return { action, reply: ec2Ok("AssociateAddressResponse", `<return>true</return><associationId>eipassoc-next</associationId>`) };
            }
            if (action === "DisassociateAddress") {
                if (!this.associationId || params.get("AssociationId") !== this.associationId) {
                    return { action, reply: ec2Error(400, "InvalidAssociationID.NotFound", "no such association") };
                }
                // As in EC2, it ends that one association: if an AssociateAddress replaced it while
                // this was propagating, the address stays where that put it.
                const named = this.associationId;
                this.setHolder(undefined, undefined, () => this.associationId === named);
                return { action, reply: ec2Ok("DisassociateAddressResponse", "<return>true</return>") };
            }
            if (action === "StopInstances" || action === "DescribeInstances") return { action, reply: this.instanceAction(action, params, from) };
            return { action, reply: ec2Error(400, "InvalidAction", action) };
        }
        return { reply: { status: 404 } };
    }

    /** EC2 StopInstances / DescribeInstances, by InstanceId.N (the peer fence's subset). */
    private instanceAction(action: "StopInstances" | "DescribeInstances", params: URLSearchParams, from: string | undefined): Reply {
        const flags = action === "StopInstances" ? ["Force", "SkipOsShutdown", "Hibernate", "DryRun"] : ["DryRun"];
        for (const name of params.keys()) {
            if (name === "Action" || name === "Version" || /^InstanceId\.[1-9]\d*$/.test(name) || flags.includes(name)) continue;
            return ec2Error(400, "UnknownParameter", `The parameter ${name} is not recognized (the stand-in serves ${action} by InstanceId.N only)`);
        }
        const flag = (name: string) => {
            const value = params.get(name);
            if (value !== null && value !== "true" && value !== "false")
                throw new Ec2Refusal("InvalidParameterValue", `Value (${value}) for parameter ${name} is invalid. Expected: 'true' or 'false'.`);
            return value === "true";
        };
        let force: boolean, skipShutdown: boolean, dryRun: boolean;
        try {
            [force, skipShutdown, dryRun] = [flag("Force"), flag("SkipOsShutdown"), flag("DryRun")];
            if (flag("Hibernate")) return ec2Error(400, "UnsupportedOperation", "The stand-in does not hibernate instances.");
        } catch (e) {
            if (e instanceof Ec2Refusal) return ec2Error(400, e.code, e.message);
            throw e;
        }
        const ids = [...params.keys()].filter((k) => k.startsWith("InstanceId.")).map((k) => params.get(k)!);
        if (action === "StopInstances" && ids.length === 0) return ec2Error(400, "MissingParameter", "The request must contain the parameter InstanceId");
        const targets: FakeWorker[] = [];
        for (const id of ids) {
            const worker = this.options.workers.find((w) => w.instanceId === id);
            if (!worker) return ec2Error(400, "InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`);
            targets.push(worker);
        }
        if (dryRun) return ec2Error(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
        if (action === "DescribeInstances") {
            const described = ids.length ? targets : this.options.workers;
            const reservations = described
                .map(
                    (w) =>
                        `<item><reservationId>r-${w.instanceId.slice(2)}</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${this.instanceXml(w)}</instancesSet></item>`,
                )
                .join("");
            return ec2Ok("DescribeInstancesResponse", `<reservationSet>${reservations}</reservationSet>`);
        }
        const items = targets.map((w) => {
            const previous = this.powerState(w.name);
            this.requestStop(w, { from, api: "StopInstances", force, skipShutdown });
            const item = `<instanceId>${w.instanceId}</instanceId><currentState>${ec2StateXml(this.powerState(w.name))}</currentState><previousState>${ec2StateXml(previous)}</previousState>`;
            return `<item>${item}</item>`;
        });
        return ec2Ok("StopInstancesResponse", `<instancesSet>${items.join("")}</instancesSet>`);
    }

    private instanceXml(worker: FakeWorker): string {
        const state = this.powerState(worker.name);
        const stopped = state === "stopping" || state === "stopped" || state === "deallocated";
        const since = this.power.get(worker.name)?.since ?? new Date();
        const reason = stopped
            ? `<reason>User initiated (${since
                  .toISOString()
                  .replace(/\.\d+Z$/, " GMT")
                  .replace("T", " ")})</reason>` +
              `<stateReason><code>Client.UserInitiatedShutdown</code><message>Client.UserInitiatedShutdown: User initiated shutdown</message></stateReason>`
            : "<reason/>";
        return `<item><instanceId>${worker.instanceId}</instanceId><imageId>ami-0123456789abcdef0</imageId><instanceState>${ec2StateXml(state)}</instanceState>${reason}<instanceType>m6i.large</instanceType></item>`;
    }

    // --- Azure --------------------------------------------------------------------------------

    private handleAzure(req: http.IncomingMessage, url: URL, body: Buffer, from: string | undefined) {
        const azure = this.options.azure!;
        if (url.pathname === "/metadata/identity/oauth2/token") {
            const resource = url.searchParams.get("resource") ?? "";
            const storage = resource.replace(/\/$/, "") === "https://storage.azure.com" ? azure.storageAccessToken : undefined;
            const token = resource === "https://management.azure.com/" ? azure.accessToken : storage;
            if (req.headers["metadata"] !== "true" || !token) return { reply: { status: 400 } };
            return { reply: json(200, imdsToken(token, resource)) };
        }
        if (url.pathname === "/metadata/instance/compute/resourceId") {
            // The lease guard's own identity (the ownerId it writes into the record): its VM's id, as text.
            const vm = this.options.workers.find((w) => w.name === from)?.vmId;
            if (req.headers["metadata"] !== "true" || url.searchParams.get("format") !== "text" || !vm) return { reply: { status: 400 } };
            return { reply: { status: 200, type: "text/plain", body: vm } };
        }
        if (req.headers["authorization"] !== `Bearer ${azure.accessToken}`) return { reply: { status: 401 } };
        const compute = this.handleCompute(req, url, from);
        if (compute) return compute;
        const snapshots = this.handleDiskSnapshots(req, url, body);
        if (snapshots) return snapshots;
        const shares = this.handleShares(req, url);
        if (shares) return shares;
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
            const wants = document.properties.ipConfigurations.some(
                (c: { properties?: { publicIPAddress?: { id?: string } } }) => c.properties?.publicIPAddress?.id?.toLowerCase() === azure.publicIpId.toLowerCase(),
            );
            if (wants && this.holder && this.holder !== worker.name) {
                return { action: "PUT networkInterface", reply: json(400, { error: { code: "PublicIPAddressInUse", message: "in use by another NIC" } }) };
            }
            if (wants && this.holder !== worker.name) this.setHolder(worker.name, worker.name);
            else if (!wants && this.holder === worker.name) this.setHolder(undefined, worker.name);
            return { action: `PUT networkInterface (${wants ? "attach" : "detach"})`, reply: json(200, nicDocument()) };
        }
        return { reply: { status: 405 } };
    }

    /** ARM's Microsoft.Compute calls of the peer fence: VM powerOff, its operation, instanceView; undefined for other paths. */
    private handleCompute(req: http.IncomingMessage, url: URL, from: string | undefined): { reply: Reply; action: string } | undefined {
        const azure = this.options.azure!;
        const path = url.pathname.toLowerCase();
        const operation = /^\/subscriptions\/[^/]+\/providers\/microsoft\.compute\/locations\/[^/]+\/operations\/([^/]+)$/.exec(path);
        const worker = this.options.workers.find((w) => w.vmId && (path === w.vmId.toLowerCase() || path.startsWith(`${w.vmId.toLowerCase()}/`)));
        if (!operation && !worker) return undefined;
        const version = azure.computeApiVersion ?? COMPUTE_API_VERSION;
        const given = url.searchParams.get("api-version");
        const sub = worker ? path.slice(worker.vmId!.length) : "";
        const action = operation
            ? "GET computeOperation"
            : sub === "/poweroff"
              ? "POST powerOff"
              : sub === "/instanceview"
                ? "GET instanceView"
                : `${req.method} ${sub || "virtualMachine"}`;
        if (given !== version) {
            return {
                action,
                reply: armError(400, "InvalidApiVersionParameter", `The api-version '${given ?? ""}' is invalid. The stand-in serves Microsoft.Compute at '${version}'.`),
            };
        }
        if (operation) {
            const started = this.operations.get(operation[1]);
            if (!started) return { action, reply: armError(404, "NotFound", `The operation ${operation[1]} was not found.`) };
            const done = !["running", "pending", "stopping"].includes(this.powerState(started.worker));
            if (url.searchParams.get("monitor") === "true") {
                // The Location URL: 202 while the operation runs, 200 once it is done (powerOff has no result).
                return { action, reply: done ? { status: 200 } : { status: 202, headers: { location: `${this.armBase(req)}${url.pathname}${url.search}` } } };
            }
            const status = { name: operation[1], startTime: started.started.toISOString(), status: done ? "Succeeded" : "InProgress" };
            return { action, reply: json(200, done ? { ...status, endTime: this.power.get(started.worker)!.since.toISOString() } : status) };
        }
        const vm = worker!;
        if (sub === "/poweroff" && req.method === "POST") {
            const skip = url.searchParams.get("skipShutdown");
            if (skip !== null && skip !== "true" && skip !== "false")
                return { action, reply: armError(400, "InvalidParameter", `skipShutdown must be true or false, not '${skip}'.`) };
            this.requestStop(vm, { from, api: "powerOff", skipShutdown: skip === "true" });
            const id = crypto.randomUUID();
            this.operations.set(id, { worker: vm.name, started: new Date() });
            const subscription = vm.vmId!.split("/")[2];
            const status = `${this.armBase(req)}/subscriptions/${subscription}/providers/Microsoft.Compute/locations/${azure.location ?? "westeurope"}/operations/${id}?p=${crypto.randomUUID()}&api-version=${version}`;
            return { action, reply: { status: 202, headers: { "azure-asyncoperation": status, location: `${status}&monitor=true` } } };
        }
        if (sub === "/instanceview" && req.method === "GET") return { action, reply: json(200, this.instanceView(vm)) };
        return { action, reply: armError(404, "ResourceNotFound", `The stand-in serves only powerOff and instanceView of ${vm.vmId}.`) };
    }

    /** Microsoft.Storage FileShares List, Create and Delete of the share snapshots; undefined for other paths. */
    private handleShares(req: http.IncomingMessage, url: URL): { reply: Reply; action: string } | undefined {
        const share = this.options.azure!.share;
        if (!share) return undefined;
        const path = url.pathname.toLowerCase();
        const shareId = share.shareId.toLowerCase();
        const listPath = shareId.slice(0, shareId.lastIndexOf("/"));
        if (path !== shareId && path !== listPath) return undefined;
        const given = url.searchParams.get("api-version");
        const expand = url.searchParams.get("$expand");
        const action = `${req.method} ${path === listPath ? "shares" : "share"}${expand ? ` $expand=${expand}` : ""}`;
        if (given !== share.apiVersion) {
            return {
                action,
                reply: armError(400, "InvalidApiVersionParameter", `The api-version '${given ?? ""}' is invalid. The stand-in serves Microsoft.Storage at '${share.apiVersion}'.`),
            };
        }
        const name = share.shareId.split("/").pop()!;
        const item = (snapshotTime?: string) => ({
            id: share.shareId,
            name,
            type: "Microsoft.Storage/storageAccounts/fileServices/shares",
            etag: `"0x8DC${crypto
                .createHash("sha256")
                .update(snapshotTime ?? "")
                .digest("hex")
                .slice(0, 12)
                .toUpperCase()}"`,
            properties: { enabledProtocols: "NFS", shareQuota: 100, ...(snapshotTime ? { snapshotTime } : {}) },
        });
        if (path === listPath && req.method === "GET") {
            const all = [item(), ...(expand?.split(",").includes("snapshots") ? share.snapshots.map((t) => item(t)) : [])];
            const size = share.pageSize ?? 1000;
            const start = Number(url.searchParams.get("$skipToken") ?? "0");
            const next = start + size < all.length ? `${this.armBase(req)}${url.pathname}?api-version=${given}&$expand=${expand ?? ""}&$skipToken=${start + size}` : undefined;
            return { action, reply: json(200, { value: all.slice(start, start + size), ...(next ? { nextLink: next } : {}) }) };
        }
        if (path === shareId && req.method === "PUT" && expand === "snapshots") {
            if (share.snapshots.length >= share.limit) {
                return { action, reply: armError(409, "ShareSnapshotCountExceeded", "The total number of snapshots for the share is over the limit.") };
            }
            let snapshotTime = new Date().toISOString().replace(/\.(\d{3})Z$/, (_, ms: string) => `.${ms}0000Z`);
            while (share.snapshots.includes(snapshotTime)) snapshotTime = snapshotTime.replace(/(\d)Z$/, (_, d: string) => `${(Number(d) + 1) % 10}Z`);
            share.snapshots.push(snapshotTime);
            return { action, reply: json(201, item(snapshotTime)) };
        }
        if (path === shareId && req.method === "DELETE") {
            const snapshot = req.headers["x-ms-snapshot"];
            if (typeof snapshot !== "string" || snapshot === "") {
                this.shareDeleted = true;
                return { action: `${action} (the share itself)`, reply: armError(409, "StandInRefused", "The stand-in never deletes the share itself.") };
            }
            const index = share.snapshots.indexOf(snapshot);
            if (index < 0) return { action, reply: { status: 204 } };
            share.snapshots.splice(index, 1);
            return { action: `${action} x-ms-snapshot`, reply: { status: 200 } };
        }
        return { action, reply: armError(405, "MethodNotAllowed", `The stand-in serves only List, Create with snapshots and Delete of ${share.shareId}.`) };
    }

    /** Microsoft.Compute Snapshots List, Create Or Update (CopyStart into the copy group) and Delete; undefined for other paths. */
    private handleDiskSnapshots(req: http.IncomingMessage, url: URL, body: Buffer): { reply: Reply; action: string } | undefined {
        const disks = this.options.azure!.diskSnapshots;
        if (!disks) return undefined;
        const path = url.pathname.toLowerCase();
        const groups = { source: disks.sourceGroupId, copy: disks.copyGroupId };
        const match = (Object.keys(groups) as (keyof typeof groups)[])
            .map((group) => ({ group, rest: pathUnder(path, `${groups[group]}/providers/Microsoft.Compute/snapshots`) }))
            .find((m) => m.rest !== undefined);
        if (!match) return undefined;
        const { group, rest } = match;
        // The name as the caller wrote it (ARM keeps a new resource's case).
        const name = rest ? decodeURIComponent(url.pathname.split("/").pop()!) : "";
        const action = `${req.method} ${name ? `snapshot ${name}` : "snapshots"} (${group} group)`;
        const given = url.searchParams.get("api-version");
        if (given !== disks.apiVersion) {
            return {
                action,
                reply: armError(
                    400,
                    "InvalidApiVersionParameter",
                    `The api-version '${given ?? ""}' is invalid. The stand-in serves Microsoft.Compute snapshots at '${disks.apiVersion}'.`,
                ),
            };
        }
        if (disks.refuse && (!disks.refuse.method || disks.refuse.method === req.method)) {
            return { action, reply: armError(disks.refuse.status, disks.refuse.code, `The stand-in refuses ${req.method} ${url.pathname}.`) };
        }
        const inGroup = (s: StandInSnapshot, groupId: string) => pathUnder(s.id.toLowerCase(), `${groupId}/providers/Microsoft.Compute/snapshots`) !== undefined;
        const sameId = (a: string | undefined, b: string | undefined) => !!a && !!b && a.toLowerCase() === b.toLowerCase();
        if (!name && req.method === "GET") {
            const start = Number(url.searchParams.get("$skipToken") ?? "0");
            if (group === "copy" && start === 0) this.advanceCopies(disks);
            const all = disks.snapshots.filter((s) => inGroup(s, groups[group]));
            const size = disks.pageSize ?? 1000;
            const next = start + size < all.length ? `${this.armBase(req)}${url.pathname}?api-version=${given}&$skipToken=${start + size}` : undefined;
            return { action, reply: json(200, { value: all.slice(start, start + size), ...(next ? { nextLink: next } : {}) }) };
        }
        if (!name) return { action, reply: armError(405, "MethodNotAllowed", `The stand-in serves only List of ${url.pathname}.`) };
        if (!/^[A-Za-z0-9_.-]{1,80}$/.test(name)) return { action, reply: armError(400, "InvalidResourceName", `The resource name '${name}' is invalid.`) };
        const existing = disks.snapshots.find((s) => inGroup(s, groups[group]) && s.name.toLowerCase() === name.toLowerCase());
        if (req.method === "GET") {
            return { action, reply: existing ? json(200, existing) : armError(404, "ResourceNotFound", `The snapshot '${name}' was not found.`) };
        }
        if (req.method === "DELETE") {
            if (!existing) return { action, reply: { status: 204 } };
            disks.snapshots.splice(disks.snapshots.indexOf(existing), 1);
            this.snapshotsDeleted.push(existing.id);
            return { action, reply: { status: 200 } };
        }
        if (req.method !== "PUT") return { action, reply: armError(405, "MethodNotAllowed", `The stand-in serves only List, Get, Create Or Update and Delete of snapshots.`) };
        if (group !== "copy") return { action, reply: armError(403, "AuthorizationFailed", `The stand-in creates snapshots in ${disks.copyGroupId} only.`) };
        let document: {
            location?: unknown;
            tags?: Record<string, string>;
            properties?: { creationData?: { createOption?: unknown; sourceResourceId?: string }; incremental?: unknown };
        };
        try {
            document = JSON.parse(body.toString("utf8"));
        } catch {
            return { action, reply: armError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.") };
        }
        const creation = document.properties?.creationData;
        const source = disks.snapshots.find((s) => inGroup(s, disks.sourceGroupId) && sameId(s.id, creation?.sourceResourceId));
        const refusal =
            creation?.createOption !== "CopyStart"
                ? `The stand-in creates snapshots with createOption CopyStart only, not '${String(creation?.createOption)}'.`
                : document.properties?.incremental !== true
                  ? "CopyStart is supported for incremental snapshots only: properties.incremental must be true."
                  : document.location !== disks.copyRegion
                    ? `The copy goes to ${disks.copyRegion}, not '${String(document.location)}'.`
                    : !source
                      ? `The source snapshot '${creation?.sourceResourceId ?? ""}' was not found in ${disks.sourceGroupId}.`
                      : !source.properties.incremental
                        ? `The source snapshot '${source.id}' is not incremental.`
                        : undefined;
        if (refusal) return { action, reply: armError(400, "InvalidParameter", refusal) };
        if (existing) return { action, reply: armError(409, "PropertyChangeNotAllowed", `Changing property 'creationData' of snapshot '${existing.name}' is not allowed.`) };
        const disk = source!.properties.creationData.sourceResourceId;
        const running = disks.snapshots.find((s) => copyRunning(s) && sameId(this.diskOfCopy(disks, s), disk));
        if (running) {
            return {
                action,
                reply: armError(
                    409,
                    "OperationNotAllowed",
                    `Another incremental snapshot copy of disk '${disk}' is in progress (${running.name}); copy one snapshot of a disk at a time.`,
                ),
            };
        }
        const id = `${disks.copyGroupId}/providers/Microsoft.Compute/snapshots/${name}`;
        const copy: StandInSnapshot = {
            id,
            name,
            type: "Microsoft.Compute/snapshots",
            location: disks.copyRegion,
            ...(document.tags ? { tags: { ...document.tags } } : {}),
            properties: {
                creationData: { createOption: "CopyStart", sourceResourceId: source!.id },
                incremental: true,
                provisioningState: "Succeeded",
                timeCreated: armTime(new Date()),
                ...(source!.properties.diskSizeGB !== undefined ? { diskSizeGB: source!.properties.diskSizeGB } : {}),
                completionPercent: 0,
            },
        };
        this.copyDisks.set(id.toLowerCase(), disk);
        disks.snapshots.push(copy);
        this.copiesStarted.push({ id, source: source!.id, location: copy.location });
        return { action: `${action} CopyStart`, reply: json(201, copy) };
    }

    /** The source disk of a copy: remembered when the stand-in started it, else its source snapshot's. */
    private diskOfCopy(disks: StandInDiskSnapshots, copy: StandInSnapshot): string | undefined {
        const remembered = this.copyDisks.get(copy.id.toLowerCase());
        if (remembered) return remembered;
        const source = copy.properties.creationData.sourceResourceId?.toLowerCase();
        return disks.snapshots.find((s) => s.id.toLowerCase() === source)?.properties.creationData.sourceResourceId;
    }

    /** One list read of the copy group: the running copies move on, or fail when their source is in failCopyOf. */
    private advanceCopies(disks: StandInDiskSnapshots): void {
        const failing = new Set((disks.failCopyOf ?? []).map((id) => id.toLowerCase()));
        for (const s of disks.snapshots) {
            if (!copyRunning(s)) continue;
            if (failing.has(s.properties.creationData.sourceResourceId?.toLowerCase() ?? "")) {
                s.properties.copyCompletionError = { errorCode: "CopyFailed", errorMessage: "The stand-in failed the background copy of this snapshot." };
            } else {
                s.properties.completionPercent = Math.min(100, (s.properties.completionPercent ?? 0) + (disks.copyPercentPerRead ?? 100));
            }
        }
    }

    /** Where ARM's status URLs point: the host the request named, so the caller reaches this stand-in again. */
    private armBase(req: http.IncomingMessage): string {
        return `${(req.socket as TLSSocket).encrypted ? "https" : "http"}://${req.headers.host}`;
    }

    private instanceView(worker: FakeWorker) {
        const state = this.powerState(worker.name);
        const since = (this.power.get(worker.name)?.since ?? new Date()).toISOString();
        const power: Record<PowerState, [string, string]> = {
            pending: ["starting", "VM starting"],
            running: ["running", "VM running"],
            stopping: ["stopping", "VM stopping"],
            stopped: ["stopped", "VM stopped"],
            deallocated: ["deallocated", "VM deallocated"],
        };
        const updating = state === "stopping" || state === "pending";
        return {
            computerName: worker.vmId!.split("/").pop(),
            osName: "debian",
            osVersion: "12",
            hyperVGeneration: "V2",
            statuses: [
                updating
                    ? { code: "ProvisioningState/updating", level: "Info", displayStatus: "Updating" }
                    : { code: "ProvisioningState/succeeded", level: "Info", displayStatus: "Provisioning succeeded", time: since },
                { code: `PowerState/${power[state][0]}`, level: "Info", displayStatus: power[state][1] },
            ],
        };
    }
}

function imdsToken(token: string, resource: string) {
    const now = Math.floor(Date.now() / 1000);
    return {
        access_token: token,
        client_id: "00000000-0000-4000-8000-0000000000c1",
        expires_in: "86399",
        expires_on: String(now + 86399),
        ext_expires_in: "86399",
        not_before: String(now),
        resource,
        token_type: "Bearer",
    };
}

/** The part of a lower-case path after `prefix` (compared case-insensitively): "" for the prefix itself, "/x" for one segment below it, else undefined. */
function pathUnder(path: string, prefix: string): string | undefined {
    const base = prefix.toLowerCase().replace(/\/+$/, "");
    if (path === base) return "";
    if (!path.startsWith(`${base}/`)) return undefined;
    const rest = path.slice(base.length);
    return /^\/[^/]+$/.test(rest) ? rest : undefined;
}

/** A copy whose background copy is still running. */
function copyRunning(s: StandInSnapshot): boolean {
    return s.properties.creationData.createOption === "CopyStart" && !s.properties.copyCompletionError && (s.properties.completionPercent ?? 100) < 100;
}

/** A time as Microsoft.Compute writes it: seven fractional digits and an offset ("2026-12-07T04:00:01.1230000+00:00"). */
export function armTime(date: Date): string {
    return date.toISOString().replace(/\.(\d{3})Z$/, (_, ms: string) => `.${ms}0000+00:00`);
}

function armError(status: number, code: string, message: string): Reply {
    return json(status, { error: { code, message } });
}

function json(status: number, value: unknown) {
    return { status, type: "application/json", body: JSON.stringify(value) };
}

function ec2Ok(root: string, inner: string) {
    return {
        status: 200,
        type: "text/xml",
        body: `<?xml version="1.0" encoding="UTF-8"?><${root} xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId>${inner}</${root}>`,
    };
}

/** EC2's state codes (the low byte of instanceState/code). */
const EC2_STATE_CODE: Record<PowerState, number> = { pending: 0, running: 16, stopping: 64, stopped: 80, deallocated: 80 };

function ec2StateXml(state: PowerState): string {
    return `<code>${EC2_STATE_CODE[state]}</code><name>${state === "deallocated" ? "stopped" : state}</name>`;
}

class Ec2Refusal extends Error {
    constructor(
        readonly code: string,
        message: string,
    ) {
        super(message);
    }
}

function ec2Error(status: number, code: string, message: string) {
    return { status, type: "text/xml", body: `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>r-1</RequestID></Response>` };
}

const hmac = (key: Buffer | string, data: string) => crypto.createHmac("sha256", key).update(data, "utf8").digest();
const sha256 = (data: Buffer | string) => crypto.createHash("sha256").update(data).digest("hex");

/** Checks a request's Signature Version 4 (an implementation separate from the mover's). */
export function sigv4Valid(req: http.IncomingMessage, body: Buffer, region: string, service: string, credentials: AwsCredentials): boolean {
    const auth = req.headers["authorization"];
    const match =
        typeof auth === "string" && /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
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
        [...url.searchParams]
            .sort()
            .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
            .join("&"),
        // Header values are trimmed and their runs of spaces collapsed (the AWS SDKs sign them so).
        names
            .map(
                (n) =>
                    `${n}:${String(req.headers[n] ?? "")
                        .trim()
                        .replace(/[ \t]+/g, " ")}\n`,
            )
            .join(""),
        signedHeaders,
        sha256(body),
    ].join("\n");
    const scope = `${date}/${region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
    const key = hmac(hmac(hmac(hmac(`AWS4${credentials.SecretAccessKey}`, date), region), service), "aws4_request");
    return crypto.createHmac("sha256", key).update(toSign).digest("hex") === signature && amzDate.startsWith(date);
}
