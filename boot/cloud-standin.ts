/**
 * The cloud as the booted workers see it, run inside the lab namespace: instance metadata on
 * 169.254.169.254 (AWS IMDSv2 and its role credentials; Azure's managed-identity token), the
 * secret store the admin password and the TLS bundle are read from (Secrets Manager `GetSecretValue`, SigV4 checked;
 * Key Vault `GET /secrets/<name>`, bearer checked), EC2 / ARM for the floating VIP and the peer
 * fence (the drill's stand-in, drill/cloud-api.ts), the lease store (DynamoDB, Blob:
 * drill/lease-store.ts) at an address of its own, all over HTTPS with a certificate of the lab's
 * test CA for the real host names, and the Iguana installer over plain HTTP, as
 * `iguana.installerUrl` names it.
 *
 * usage: cloud-standin.ts CONFIG.json   (a CloudStandinConfig)
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as path from "path";
import { AZURE_STORAGE_API_VERSION } from "../components/bootstrap/share-snapshots";
import { AZURE_COMPUTE_SNAPSHOT_API_VERSION } from "../components/bootstrap/disk-snapshot-copies";
import { AZURE_SHARE_SNAPSHOT_LIMIT } from "../components/constants";
import { FakeCloudApi, StandInSnapshot, armTime, sigv4Valid } from "../drill/cloud-api";
import { DRILL_AWS_CREDENTIALS, DRILL_AWS_ROLE, DRILL_AZURE_STORAGE_TOKEN, DRILL_AZURE_TOKEN } from "../drill/floating";
import { FakeLeaseStore, steerFromFiles } from "../drill/lease-store";

export interface CloudStandinConfig {
    cloud: "aws" | "azure";
    region: string;
    /** Where the HTTPS endpoints and the installer listen (a gateway address on the bridge). */
    servicesAddress: string;
    imdsAddress: string;
    /** The lease store's own address, and the table or blob the rendered lease.json names. */
    lease: { address: string; tableName?: string; accountName?: string; container?: string };
    installerPort: number;
    installerDir: string;
    tls: { cert: string; key: string };
    workers: { name: string; address: string; instanceId: string; nicId: string; vmId: string }[];
    /** The admin password the secret store holds (made per run). */
    adminPassword: string;
    /**
     * tls.enabled: the secret the rendered fetch-tls.sh names (the ARN, or the Key Vault secret's
     * name) and the file holding its value, read at every request so a test can renew it.
     */
    tlsBundle?: { secretId: string; file: string };
    /** Floating IP: the VIP's ids, as the rendered vip.json names them. */
    vip?: { allocationId?: string; publicIpId?: string; ipConfigName?: string };
    files: { ready: string; calls: string; holder: string; moves: string; leaseFaults: string; leaseWrites: string; leaseCalls: string; events: string };
    /**
     * Floating IP in the failover drill: where the cloud delivers the VIP once a move is applied
     * (the holder machine gets VIP/32, the lab routes VIP to it), as the Internet gateway or the
     * Azure SDN would. Without it the move is only recorded.
     */
    placement?: { vip: string; lab: string; workers: { name: string; ns: string; address: string }[]; iface: string };
    /** How long the stand-in cloud takes to apply a VIP change (drill/timing.ts). */
    moveDelayMs?: number;
}

/** The `ip` commands that put the VIP on `holder` (or nowhere): its address on the holder, the lab's route to it. */
export function placementCommands(p: NonNullable<CloudStandinConfig["placement"]>, holder: string | undefined): { args: string[]; allowFail: boolean }[] {
    const commands = p.workers.filter((w) => w.name !== holder).map((w) => ({ args: ["-n", w.ns, "addr", "del", `${p.vip}/32`, "dev", p.iface], allowFail: true }));
    const to = p.workers.find((w) => w.name === holder);
    if (to) {
        commands.push({ args: ["-n", to.ns, "addr", "replace", `${p.vip}/32`, "dev", p.iface], allowFail: false });
        commands.push({ args: ["-n", p.lab, "route", "replace", `${p.vip}/32`, "via", to.address], allowFail: false });
    } else {
        commands.push({ args: ["-n", p.lab, "route", "del", `${p.vip}/32`], allowFail: true });
    }
    return commands;
}

/** The Azure token the stand-in hands out for Azure Monitor's metric ingestion (resource https://monitoring.azure.com/). */
export const LAB_MONITOR_TOKEN = "boot-test-monitor-token";

/** One metric datapoint a worker published (publish-event.py), as the stand-in CloudWatch or Azure Monitor received it. */
export interface PublishedEvent {
    t: number;
    worker: string | undefined;
    namespace: string;
    metric: string;
    /** The datapoint's value (Azure: the series' maximum). */
    value: number;
    dimensions: Record<string, string>;
}

/**
 * The share the boot test has a booted worker snapshot through the stand-in ARM: the shared mode's
 * share-snapshot unit, added to a booted Azure worker (boot/checks.ts, shareSnapshots).
 */
export const LAB_SHARE_ID =
    "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-data-rg/providers/Microsoft.Storage/storageAccounts/iguanaqboottest/fileServices/default/shares/iguana";

/**
 * The backups the boot test has a booted worker copy through the stand-in ARM: the copy unit of
 * `backup.copyToRegion` (disk-snapshot-copy.py) of a booted Azure worker (boot/checks.ts,
 * diskCopies). One incremental backup snapshot of each worker's disk waits in the source group.
 * The ids are those the mocks give (offline/mocks.ts) and the region is azure-prod's, so that
 * stack's own custom data copies here too, whenever its timer fires during the test.
 */
const LAB_GROUPS = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups";
export const LAB_BACKUP_COPIES = {
    sourceGroupId: `${LAB_GROUPS}/iguana-snapshots-rg`,
    copyGroupId: `${LAB_GROUPS}/iguana-backup-copy-rg`,
    copyRegion: "centralus",
    disks: ["wk1", "wk2"].map((worker) => ({ worker, diskId: `${LAB_GROUPS}/iguana-data-rg/providers/Microsoft.Compute/disks/iguana-${worker}-data` })),
};

function labBackupSnapshots(): StandInSnapshot[] {
    const taken = new Date(Date.now() - 3600_000);
    return LAB_BACKUP_COPIES.disks.map(({ worker, diskId }) => ({
        id: `${LAB_BACKUP_COPIES.sourceGroupId}/providers/Microsoft.Compute/snapshots/AzureBackup_${worker}`,
        name: `AzureBackup_${worker}`,
        location: "westeurope",
        type: "Microsoft.Compute/snapshots",
        properties: { creationData: { createOption: "Copy", sourceResourceId: diskId }, incremental: true, provisioningState: "Succeeded", timeCreated: armTime(taken) },
    }));
}

/** The Azure token the stand-in hands out for Key Vault (resource https://vault.azure.net). */
export const LAB_VAULT_TOKEN = "boot-test-vault-token";

export interface StandinCall {
    from: string | undefined;
    host: string;
    action: string;
    status: number;
}

export function createCloudStandin(config: CloudStandinConfig, record: (call: StandinCall) => void) {
    const secretValue = (id: string) => (config.tlsBundle && id === config.tlsBundle.secretId ? fs.readFileSync(config.tlsBundle.file, "utf8") : config.adminPassword);
    const versionOf = (value: string) => crypto.createHash("sha256").update(value).digest("hex").slice(0, 32);
    const identify = (remote: string) => config.workers.find((w) => remote.endsWith(w.address))?.name;
    const api = new FakeCloudApi({
        cloud: config.cloud,
        workers: config.workers.map(({ name, instanceId, nicId, vmId }) => ({ name, instanceId, nicId, vmId })),
        identify,
        aws: {
            allocationId: config.vip?.allocationId ?? "eipalloc-none",
            publicIp: "203.0.113.10",
            region: config.region,
            credentials: DRILL_AWS_CREDENTIALS,
            role: DRILL_AWS_ROLE,
        },
        azure: {
            publicIpId: config.vip?.publicIpId ?? "/none",
            ipConfigName: config.vip?.ipConfigName ?? "primary",
            accessToken: DRILL_AZURE_TOKEN,
            subnetId: "/subnets/workers",
            storageAccessToken: DRILL_AZURE_STORAGE_TOKEN,
            share: { shareId: LAB_SHARE_ID, apiVersion: AZURE_STORAGE_API_VERSION, snapshots: [], limit: AZURE_SHARE_SNAPSHOT_LIMIT },
            diskSnapshots: {
                apiVersion: AZURE_COMPUTE_SNAPSHOT_API_VERSION,
                sourceGroupId: LAB_BACKUP_COPIES.sourceGroupId,
                copyGroupId: LAB_BACKUP_COPIES.copyGroupId,
                copyRegion: LAB_BACKUP_COPIES.copyRegion,
                snapshots: labBackupSnapshots(),
            },
        },
        moveDelayMs: config.moveDelayMs ?? 1000,
        onMove: (holder) => {
            // Recorded when the cloud applies the change, before the addresses are moved here.
            fs.writeFileSync(`${config.files.holder}.tmp`, `${holder ?? "none"}\n`);
            fs.renameSync(`${config.files.holder}.tmp`, config.files.holder);
            fs.appendFileSync(config.files.moves, `${JSON.stringify({ t: Number(process.hrtime.bigint() / 1000n) / 1000, holder: holder ?? "none" })}\n`);
            if (config.placement) {
                for (const c of placementCommands(config.placement, holder)) {
                    try {
                        execFileSync("ip", c.args, { stdio: ["ignore", "ignore", "pipe"] });
                    } catch (e) {
                        if (!c.allowFail) console.error(`cloud-standin: ip ${c.args.join(" ")} failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim()}`);
                    }
                }
            }
        },
    });
    const lease = new FakeLeaseStore({
        cloud: config.cloud,
        aws: { region: config.region, tableName: config.lease.tableName ?? "none", credentials: DRILL_AWS_CREDENTIALS },
        azure: { accountName: config.lease.accountName ?? "none", container: config.lease.container ?? "none", accessToken: DRILL_AZURE_STORAGE_TOKEN },
        identify,
    });
    const delegate = api.requestListener;
    const handler: http.RequestListener = (req, res) => {
        const host = String(req.headers.host ?? "").split(":")[0];
        const url = new URL(req.url ?? "/", "https://stand-in");
        const from = identify(req.socket.remoteAddress ?? "");
        const reply = (status: number, body: unknown, type = "application/json") => {
            record({ from, host, action: `${req.method} ${url.pathname}`, status });
            res.writeHead(status, { "content-type": type });
            res.end(typeof body === "string" ? body : JSON.stringify(body));
        };
        if (config.cloud === "azure" && url.pathname === "/metadata/identity/oauth2/token" && url.searchParams.get("resource") === "https://vault.azure.net") {
            if (req.headers["metadata"] !== "true") return reply(400, { error: "Metadata header" });
            return reply(200, { access_token: LAB_VAULT_TOKEN, token_type: "Bearer" });
        }
        const published = (e: Omit<PublishedEvent, "t" | "worker">) =>
            fs.appendFileSync(config.files.events, `${JSON.stringify({ t: Number(process.hrtime.bigint() / 1000n) / 1000, worker: from, ...e })}\n`);
        if (config.cloud === "azure" && url.pathname === "/metadata/identity/oauth2/token" && url.searchParams.get("resource") === "https://monitoring.azure.com/") {
            if (req.headers["metadata"] !== "true") return reply(400, { error: "Metadata header" });
            return reply(200, { access_token: LAB_MONITOR_TOKEN, token_type: "Bearer", expires_in: "3600" });
        }
        if (config.cloud === "aws" && host === `monitoring.${config.region}.amazonaws.com`) {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                const body = Buffer.concat(chunks);
                if (!sigv4Valid(req, body, config.region, "monitoring", DRILL_AWS_CREDENTIALS))
                    return reply(403, "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>", "text/xml");
                const form = new URLSearchParams(body.toString("utf8"));
                if (form.get("Action") !== "PutMetricData") return reply(400, "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>", "text/xml");
                for (let m = 1; form.has(`MetricData.member.${m}.MetricName`); m++) {
                    const dimensions: Record<string, string> = {};
                    for (let d = 1; form.has(`MetricData.member.${m}.Dimensions.member.${d}.Name`); d++) {
                        dimensions[form.get(`MetricData.member.${m}.Dimensions.member.${d}.Name`)!] = form.get(`MetricData.member.${m}.Dimensions.member.${d}.Value`) ?? "";
                    }
                    published({
                        namespace: form.get("Namespace") ?? "",
                        metric: form.get(`MetricData.member.${m}.MetricName`)!,
                        value: Number(form.get(`MetricData.member.${m}.Value`)),
                        dimensions,
                    });
                }
                return reply(200, "<PutMetricDataResponse><ResponseMetadata><RequestId>boot</RequestId></ResponseMetadata></PutMetricDataResponse>", "text/xml");
            });
            return;
        }
        if (config.cloud === "azure" && host === `${config.region}.monitoring.azure.com`) {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                if (req.headers["authorization"] !== `Bearer ${LAB_MONITOR_TOKEN}`) return reply(401, { error: { code: "InvalidToken" } });
                const vm = config.workers.find((w) => w.name === from)?.vmId;
                if (req.method !== "POST" || !vm || url.pathname !== `${vm}/metrics`) return reply(403, { error: { code: "WrongResource" } });
                const base = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}")?.data?.baseData ?? {};
                const names: string[] = base.dimNames ?? [];
                const values: string[] = base.series?.[0]?.dimValues ?? [];
                published({
                    namespace: base.namespace ?? "",
                    metric: base.metric ?? "",
                    value: Number(base.series?.[0]?.max),
                    dimensions: Object.fromEntries(names.map((n, i) => [n, values[i]])),
                });
                return reply(200, {});
            });
            return;
        }
        if (config.cloud === "aws" && host === `secretsmanager.${config.region}.amazonaws.com`) {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                const body = Buffer.concat(chunks);
                if (req.headers["x-amz-target"] !== "secretsmanager.GetSecretValue") return reply(400, { __type: "InvalidAction" }, "application/x-amz-json-1.1");
                if (!sigv4Valid(req, body, config.region, "secretsmanager", DRILL_AWS_CREDENTIALS))
                    return reply(403, { __type: "InvalidSignatureException" }, "application/x-amz-json-1.1");
                const { SecretId } = JSON.parse(body.toString("utf8") || "{}");
                const value = secretValue(String(SecretId));
                return reply(200, { ARN: SecretId, Name: String(SecretId).split(":").pop(), SecretString: value, VersionId: versionOf(value) }, "application/x-amz-json-1.1");
            });
            return;
        }
        if (config.cloud === "azure" && host.endsWith(".vault.azure.net")) {
            if (req.headers["authorization"] !== `Bearer ${LAB_VAULT_TOKEN}`) return reply(401, { error: { code: "Unauthorized" } });
            if (!/^\/secrets\/[^/]+$/.test(url.pathname) || !url.searchParams.get("api-version")) return reply(400, { error: { code: "BadParameter" } });
            const value = secretValue(url.pathname.split("/")[2]);
            return reply(200, { value, id: `https://${host}${url.pathname}/${versionOf(value)}` });
        }
        record({ from, host, action: `${req.method} ${url.pathname} (cloud API)`, status: 0 });
        delegate(req, res);
    };
    const installer: http.RequestListener = (req, res) => {
        const name = path.basename(new URL(req.url ?? "/", "http://x").pathname);
        const file = path.join(config.installerDir, name);
        const from = identify(req.socket.remoteAddress ?? "");
        if (!name || !fs.existsSync(file)) {
            record({ from, host: "installer", action: `GET ${name}`, status: 404 });
            res.writeHead(404);
            res.end();
            return;
        }
        record({ from, host: "installer", action: `GET ${name}`, status: 200 });
        res.writeHead(200, { "content-type": "application/gzip", "content-length": fs.statSync(file).size });
        fs.createReadStream(file).pipe(res);
    };
    return { api, lease, handler, installer };
}

async function main(): Promise<void> {
    const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8")) as CloudStandinConfig;
    const calls: StandinCall[] = [];
    const { handler, installer, lease } = createCloudStandin(config, (c) => calls.push(c));
    const listen = (server: http.Server | https.Server, port: number, host: string) => new Promise<void>((resolve) => server.listen(port, host, resolve));
    const tls = { cert: fs.readFileSync(config.tls.cert), key: fs.readFileSync(config.tls.key) };
    await listen(http.createServer(handler), 80, config.imdsAddress);
    await listen(https.createServer(tls, handler), 443, config.servicesAddress);
    await listen(http.createServer(installer), config.installerPort, config.servicesAddress);
    await listen(https.createServer(tls, lease.requestListener), 443, config.lease.address);
    // The failover drill changes the store's faults at run time through a file; its writes go to another.
    const dumpLease = steerFromFiles(lease, { faults: config.files.leaseFaults, writes: config.files.leaseWrites, calls: config.files.leaseCalls });
    const dump = () => {
        fs.writeFileSync(config.files.calls, JSON.stringify(calls, null, 1));
        dumpLease();
    };
    setInterval(dump, 500).unref();
    const stop = () => {
        dump();
        process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    fs.writeFileSync(config.files.ready, `${process.pid}\n`);
}

if (require.main === module) {
    main().catch((e) => {
        console.error(e);
        process.exit(1);
    });
}
