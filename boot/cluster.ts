/**
 * A booted cluster: the stack's program evaluated under mocks (with the test's installer URL and
 * checksum in its config, as a user would set them), both workers' rendered user data taken from
 * the registered instances / VMs, and two machines booted from it in the lab.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ClusterConfig, namedRegion } from "../components/config";
import { PROJECT, ROLE_PROBE_PATH, ROLE_PROBE_PORT } from "../components/constants";
import { planCluster } from "../components/model";
import { CLUSTER_NAME } from "../components/constants";
import { program } from "../components/program";
import { Processes, Started, sleep, waitFor } from "../drill/system";
import { evaluate } from "../offline/evaluate";
import { loadStackClusterConfig, rawClusterConfig, readStackConfig } from "../offline/stack-config";
import { validateClusterConfig } from "../components/config";
import { cloudInitFiles, workerBootstraps } from "../offline/worker-bootstrap";
import { CloudStandinConfig, PublishedEvent } from "./cloud-standin";
import { buildStandinInstaller, STANDIN_RUNTIME } from "./installer";
import { IMDS_ADDRESS, LEASE_STORE_ADDRESS, Lab, MACHINE_INTERFACE, labAddressing } from "./lab";
import { Machine } from "./machine";
import { Leaf, issueLeaf, makeTestCa } from "./tls";
import { SENDER_TLS_SERVERNAME } from "../drill/sender";
import type { TlsBundle } from "../components/bootstrap/tls";

export interface BootCase {
    /** Shown in the results: the stack and what the case changes. */
    label: string;
    stack: string;
    /** Config of the `iguana-ha` namespace merged over the stack file's (as `pulumi config set --path` would). */
    overrides?: Record<string, Record<string, unknown>>;
    /** The data disk is attached read-only: the disk step must fail and stop the boot. */
    failDiskStep?: boolean;
    /** tls.clientCa set to a client CA the case makes: the sender presents a certificate it issued. */
    mutualTls?: boolean;
    /**
     * network.egress restricted with a proxy: tinyproxy (Debian's) in the lab, and the lab's NAT
     * closed to the machines, so the proxy is their only way to the archive and the installer.
     */
    egressProxy?: boolean;
}

/** Where the lab's proxy listens (on the stand-in services' address) in an egressProxy case. */
export const BOOT_PROXY_PORT = 3128;

export interface RenderedWorker {
    name: "wk1" | "wk2";
    role: string;
    address: string;
    prefixBits: number;
    userData: string;
    /** The device path the rendered disk script looks for first (the cloud's stable name). */
    dataDiskPath?: string;
}

/** The first device path of the rendered prepare-disk.sh (AWS: the EBS volume's NVMe id; Azure: the LUN). */
export function dataDiskPath(userData: string): string | undefined {
    const script = cloudInitFiles(userData).find((f) => f.path.endsWith("/prepare-disk.sh"));
    const m = script && /^candidates=\('([^']+)'/m.exec(script.content);
    return m ? m[1] : undefined;
}

/** tls.enabled: the secret the rendered fetch-tls.sh reads, the ARN (AWS) or the Key Vault secret's name (Azure). */
export function tlsSecretId(userData: string): string | undefined {
    const script = cloudInitFiles(userData).find((f) => f.path.endsWith("/fetch-tls.sh"));
    const m = script && /^(?:secret_arn|secret_name)='([^']+)'/m.exec(script.content);
    return m ? m[1] : undefined;
}

/** Merges `overrides` into the stack's own `iguana-ha:<key>` objects. */
export function withOverrides(config: Record<string, string>, overrides: BootCase["overrides"] = {}): Record<string, string> {
    const out = { ...config };
    for (const [key, value] of Object.entries(overrides)) {
        const full = `${PROJECT}:${key}`;
        const current = out[full] ? (JSON.parse(out[full]) as Record<string, unknown>) : {};
        // null removes a key (as `pulumi config rm --path` would).
        const merged: Record<string, unknown> = { ...current, ...value };
        for (const [k, v] of Object.entries(value)) if (v === null) delete merged[k];
        out[full] = JSON.stringify(merged);
    }
    return out;
}

/** The Pulumi runtime is one per process: cases booted side by side evaluate one at a time. */
let evaluating: Promise<unknown> = Promise.resolve();

/** Evaluates the program for the case and returns each worker's rendered user data and plan. */
export function renderCase(c: BootCase, installer: { url: string; sha256: string }): Promise<{ cfg: ClusterConfig; workers: RenderedWorker[] }> {
    const turn = evaluating.then(() => renderCaseNow(c, installer));
    evaluating = turn.catch(() => undefined);
    return turn;
}

async function renderCaseNow(c: BootCase, installer: { url: string; sha256: string }): Promise<{ cfg: ClusterConfig; workers: RenderedWorker[] }> {
    const overrides = { ...c.overrides, iguana: { ...(c.overrides?.iguana ?? {}), installerUrl: installer.url, installerSha256: installer.sha256 } };
    const stack = readStackConfig(c.stack);
    const config = withOverrides(stack.config, overrides);
    const { mocks } = await evaluate({ stack: c.stack, config, secretKeys: stack.secretKeys, run: () => program() });
    const boots = workerBootstraps(mocks.resources);
    // The config the program saw, overrides included (the edition decides the Iguana unit).
    const cfg = validateClusterConfig(rawClusterConfig({ ...stack, config }), c.stack);
    const { network, workers: plans } = planCluster(cfg, CLUSTER_NAME);
    const workers = plans.map((plan) => {
        const boot = boots.find((b) => b.resource.endsWith(`-${plan.name}`));
        if (!boot) throw new Error(`${c.stack}: no rendered user data for ${plan.name} (have ${boots.map((b) => b.resource).join(", ")})`);
        const subnet = network.privateSubnets[plan.index];
        return {
            name: plan.name,
            role: plan.role,
            address: plan.privateIp,
            prefixBits: Number(subnet.split("/")[1]),
            userData: boot.cloudInit,
            dataDiskPath: dataDiskPath(boot.cloudInit),
            subnet,
        };
    });
    return { cfg, workers };
}

/** The rendered vip.json of a floating-IP worker: the ids the stand-in cloud must know (its `aws` or `azure` part). */
export function vipConfig(userData: string): Record<string, string> | undefined {
    const file = cloudInitFiles(userData).find((f) => f.path.endsWith("/vip.json"));
    if (!file) return undefined;
    const doc = JSON.parse(file.content) as { aws?: Record<string, string>; azure?: Record<string, string> };
    return doc.aws ?? doc.azure;
}

/** The lease store the rendered lease.json names: where the guard reaches it, and its table or blob. */
export function leaseStoreConfig(userData: string): { url: string; table?: string; region?: string } | undefined {
    const file = cloudInitFiles(userData).find((f) => f.path.endsWith("/lease.json"));
    if (!file) return undefined;
    return (JSON.parse(file.content) as { store: { url: string; table?: string; region?: string } }).store;
}

export interface ClusterOptions {
    runId: string;
    index: number;
    rootfs: string;
    workDir: string;
    archive: { hosts: string[]; addresses: string[] };
    repoRoot: string;
    log: (line: string) => void;
    /** Floating IP in the failover drill: the VIP the stand-in cloud places on the holder, and how long a change takes. */
    vipPlacement?: { vip: string; moveDelayMs: number };
}

export class BootedCluster {
    lab?: Lab;
    machines: Machine[] = [];
    readonly procs: Processes;
    standin?: Started;
    standinConfig?: CloudStandinConfig;
    cfg?: ClusterConfig;
    workers: RenderedWorker[] = [];
    adminPassword = crypto.randomBytes(18).toString("base64url");
    /** tls.enabled: the test CA, the bundle file the stand-in secret store serves, the served certificate's serial, the sender's client certificate. */
    tls?: { dir: string; caCert: string; bundleFile: string; serial: string; client?: Leaf; clientCa?: string; issued: number };
    readonly dir: string;
    /** network.egress.proxy as the case set it (egressProxy). */
    proxyUrl?: string;

    constructor(
        readonly bootCase: BootCase,
        readonly options: ClusterOptions,
    ) {
        this.dir = path.join(options.workDir, `${options.index}`);
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
        this.procs = new Processes(path.join(this.dir, "logs"));
    }

    get id(): string {
        return `${this.options.runId}${this.options.index}`;
    }

    async start(): Promise<void> {
        const cfg = loadStackClusterConfig(this.bootCase.stack);
        const { network } = planCluster(cfg, CLUSTER_NAME);
        const addressing = labAddressing([...network.privateSubnets], this.options.index + 1);
        const installerDir = path.join(this.dir, "installer");
        fs.mkdirSync(installerDir, { recursive: true });
        const edition = (this.bootCase.overrides?.iguana?.edition as ClusterConfig["iguana"]["edition"]) ?? cfg.iguana.edition;
        const webPort = edition === cfg.iguana.edition ? cfg.iguana.webPort : edition === "iguanax" ? 7654 : 6543;
        const llpPorts = cfg.channels.filter((ch) => ch.protocol === "llp").map((ch) => ch.port);
        const tarball = buildStandinInstaller(installerDir, { edition, llpPorts, webPort });
        const installerUrl = `http://${addressing.services}:8080/${path.basename(tarball.file)}`;
        const tlsDir = path.join(this.dir, "tls");
        let bootCase = this.bootCase;
        let client: Leaf | undefined;
        let clientCa: string | undefined;
        if (bootCase.mutualTls) {
            // The senders' CA, separate from the servers': tls.clientCa names it.
            const senders = makeTestCa(path.join(this.dir, "tls-senders"), ["senders.test"]);
            client = issueLeaf(path.join(this.dir, "tls-senders"), "sender", { usage: "clientAuth" });
            clientCa = fs.readFileSync(senders.caCert, "utf8");
            bootCase = { ...bootCase, overrides: { ...bootCase.overrides, tls: { ...(bootCase.overrides?.tls ?? {}), clientCa } } };
        }
        if (bootCase.egressProxy) {
            this.proxyUrl = `http://${addressing.services}:${BOOT_PROXY_PORT}`;
            const network = bootCase.overrides?.network ?? {};
            // The stack's own destinations kept: the override replaces network.egress as a whole.
            const egress = { destinations: cfg.network.egress.destinations, ...((network.egress as Record<string, unknown>) ?? {}), restricted: true, proxy: this.proxyUrl };
            bootCase = { ...bootCase, overrides: { ...bootCase.overrides, network: { ...network, egress } } };
        }
        const rendered = await renderCase(bootCase, { url: installerUrl, sha256: tarball.sha256 });
        this.cfg = rendered.cfg;
        this.workers = rendered.workers;

        this.lab = new Lab(this.id, addressing, this.options.archive.addresses, !bootCase.egressProxy);
        this.lab.create();
        const archiveHosts = this.options.archive.hosts.map((h, i) => `${this.options.archive.addresses[Math.min(i, this.options.archive.addresses.length - 1)]} ${h}`);
        if (this.proxyUrl) await this.startProxy(archiveHosts, addressing.services);
        const region = namedRegion(cfg);
        const endpoints =
            cfg.cloud === "aws"
                ? [`secretsmanager.${region}.amazonaws.com`, `ec2.${region}.amazonaws.com`, `monitoring.${region}.amazonaws.com`]
                : ["management.azure.com", `${region}.monitoring.azure.com`, ...this.vaultHosts()];
        const lease = leaseStoreConfig(this.workers[0].userData);
        if (!lease) throw new Error(`${this.bootCase.label}: the rendered user data has no lease.json`);
        const leaseUrl = new URL(lease.url);
        const [, container] = leaseUrl.pathname.split("/");
        const ca = makeTestCa(tlsDir, [...endpoints, leaseUrl.hostname]);
        const tlsSecret = tlsSecretId(this.workers[0].userData);
        if (tlsSecret) {
            this.tls = { dir: tlsDir, caCert: ca.caCert, bundleFile: path.join(this.dir, "tls-bundle.json"), serial: "", issued: 0, ...(client ? { client, clientCa } : {}) };
            this.issueTlsBundle();
        }
        const vip = vipConfig(this.workers[0].userData);
        this.standinConfig = {
            cloud: cfg.cloud,
            region,
            servicesAddress: addressing.services,
            imdsAddress: IMDS_ADDRESS,
            lease: { address: LEASE_STORE_ADDRESS, tableName: lease.table, accountName: leaseUrl.hostname.split(".")[0], container },
            installerPort: 8080,
            installerDir,
            tls: { cert: ca.leafCert, key: ca.leafKey },
            workers: this.workers.map((w, i) => ({
                name: w.name,
                address: w.address,
                instanceId: `i-0b00700000000000${i + 1}`,
                nicId: (vip?.[i === 0 ? "selfNicId" : "peerNicId"] as string) ?? `/nic/${w.name}`,
                vmId: `/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-boot/providers/Microsoft.Compute/virtualMachines/${w.name}`,
            })),
            adminPassword: this.adminPassword,
            ...(tlsSecret ? { tlsBundle: { secretId: tlsSecret, file: this.tls!.bundleFile } } : {}),
            ...(vip ? { vip: { allocationId: vip.allocationId, publicIpId: vip.publicIpId, ipConfigName: vip.ipConfigName } } : {}),
            files: {
                ready: path.join(this.dir, "standin.ready"),
                ...this.vipFiles(),
                leaseFaults: this.leaseFiles().faults,
                leaseWrites: this.leaseFiles().writes,
                leaseCalls: this.leaseFiles().calls,
                events: this.eventsFile(),
            },
            ...(this.options.vipPlacement && vip
                ? {
                      placement: {
                          vip: this.options.vipPlacement.vip,
                          lab: this.lab.ns,
                          iface: MACHINE_INTERFACE,
                          workers: this.workers.map((w) => ({ name: w.name, ns: this.lab!.machineNetns(w.name), address: w.address })),
                      },
                      moveDelayMs: this.options.vipPlacement.moveDelayMs,
                  }
                : {}),
        };
        const configFile = path.join(this.dir, "cloud-standin.json");
        fs.writeFileSync(configFile, JSON.stringify(this.standinConfig, null, 2));
        this.standin = this.procs.spawnIn(
            this.lab.ns,
            "cloud-standin",
            process.execPath,
            ["-r", "ts-node/register/transpile-only", path.join(__dirname, "cloud-standin.ts"), configFile],
            { cwd: this.options.repoRoot },
        );
        if (!(await waitFor(() => fs.existsSync(this.standinConfig!.files.ready), 30000, 100))) throw new Error("the stand-in cloud did not start");

        const hosts = [...archiveHosts, `${addressing.services} ${endpoints.join(" ")}`, `${LEASE_STORE_ADDRESS} ${leaseUrl.hostname}`];
        for (const w of this.workers) {
            const gateway = addressing.gateways.find((g) => sameSubnet(g.cidr, w.address))!.address;
            const lab = this.lab;
            const machine = new Machine({
                name: w.name,
                dir: path.join(this.dir, w.name),
                rootfs: this.options.rootfs,
                netns: lab.machineNetns(w.name),
                userData: w.userData,
                instanceId: `iguana-ha-boot-${this.id}-${w.name}`,
                address: w.address,
                prefixBits: w.prefixBits,
                gateway,
                hosts,
                caCertificate: fs.readFileSync(ca.caCert, "utf8"),
                binds: [
                    [this.options.repoRoot, STANDIN_RUNTIME.repo],
                    [process.execPath, STANDIN_RUNTIME.node],
                ],
                ...(w.dataDiskPath ? { dataDisk: { devicePath: w.dataDiskPath, sizeMb: 1024, readOnly: this.bootCase.failDiskStep === true } } : {}),
            });
            this.machines.push(machine);
            machine.prepare();
        }
    }

    /** tinyproxy in the lab namespace, resolving the archive as the machines do; its log says what went through it. */
    private async startProxy(archiveHosts: string[], address: string): Promise<void> {
        this.lab!.writeHosts(archiveHosts);
        const conf = path.join(this.dir, "tinyproxy.conf");
        fs.writeFileSync(
            conf,
            [`Listen ${address}`, `Port ${BOOT_PROXY_PORT}`, "Timeout 600", `LogFile "${this.proxyLog()}"`, "LogLevel Info", "MaxClients 50", "ConnectPort 443", ""].join("\n"),
        );
        this.procs.spawnIn(this.lab!.ns, "tinyproxy", "tinyproxy", ["-d", "-c", conf]);
        const listening = await waitFor(() => this.lab!.exec("ss", ["-Htln", `sport = :${BOOT_PROXY_PORT}`], true).includes(address), 10000, 100);
        if (!listening) throw new Error(`tinyproxy did not listen on ${address}:${BOOT_PROXY_PORT}: ${fs.readFileSync(path.join(this.dir, "logs", "tinyproxy.log"), "utf8")}`);
    }

    /** The lab proxy's log (egressProxy cases). */
    proxyLog(): string {
        return path.join(this.dir, "tinyproxy-access.log");
    }

    private vaultHosts(): string[] {
        const hosts: string[] = [];
        for (const w of this.workers) {
            const script = cloudInitFiles(w.userData).find((f) => f.path.endsWith("/fetch-admin-password.sh"));
            const m = script && /^vault='([^']+)'/m.exec(script.content);
            if (m && !hosts.includes(`${m[1]}.vault.azure.net`)) hosts.push(`${m[1]}.vault.azure.net`);
        }
        return hosts;
    }

    machine(name: string): Machine {
        const m = this.machines.find((x) => x.name === name);
        if (!m) throw new Error(`no machine ${name}`);
        return m;
    }

    /** Boots the named machines at the same moment. */
    bootTogether(names: string[] = this.machines.map((m) => m.name)): void {
        for (const name of names) this.machine(name).boot();
    }

    /** The role probe as the load balancer asks it: from the bridge, over the network. */
    probe(worker: RenderedWorker): { status: number; body: string } {
        const out = this.lab!.exec("curl", ["-s", "-m", "3", "-w", "\\n%{http_code}", `http://${worker.address}:${ROLE_PROBE_PORT}${ROLE_PROBE_PATH}`], true)
            .trim()
            .split("\n");
        return { status: Number(out[out.length - 1]) || 0, body: out.slice(0, -1).join(" ") };
    }

    /**
     * A new server certificate from the test CA into the bundle the stand-in secret store serves
     * (the next read of the secret gets it), as a renewal would; its serial is remembered.
     */
    issueTlsBundle(): string {
        const t = this.tls!;
        const leaf = issueLeaf(t.dir, `channels-${++t.issued}`, { dns: [SENDER_TLS_SERVERNAME], usage: "serverAuth" });
        const certificate = fs.readFileSync(leaf.cert, "utf8");
        const bundle: TlsBundle = { certificate, privateKey: fs.readFileSync(leaf.key, "utf8"), ...(t.clientCa ? { clientCa: t.clientCa } : {}) };
        fs.writeFileSync(t.bundleFile, JSON.stringify(bundle));
        t.serial = new crypto.X509Certificate(certificate).serialNumber.toUpperCase().replace(/^0+/, "");
        return t.serial;
    }

    /** The serial of the certificate served on the worker's port, asked from the bridge ("" when no handshake completes). */
    servedSerial(worker: RenderedWorker, port: number): string {
        const out = this.lab!.exec(
            "bash",
            [
                "-c",
                `timeout 5 openssl s_client -connect ${worker.address}:${port} -servername ${SENDER_TLS_SERVERNAME} < /dev/null 2> /dev/null | openssl x509 -noout -serial 2> /dev/null`,
            ],
            true,
        );
        const m = /serial=([0-9A-F]+)/i.exec(out);
        return m ? m[1].toUpperCase().replace(/^0+/, "") : "";
    }

    /** The sender's TLS arguments (drill/sender.ts): the CA, and the client certificate under mutual TLS; none with TLS off. */
    senderTlsArgs(withClientCertificate = true): string[] {
        if (!this.tls) return [];
        const client = withClientCertificate && this.tls.client ? ["--tls-cert", this.tls.client.cert, "--tls-key", this.tls.client.key] : [];
        return ["--tls-ca", this.tls.caCert, "--tls-servername", SENDER_TLS_SERVERNAME, ...client];
    }

    /** Whether a TCP connection to the worker's port opens from the bridge. */
    connects(worker: RenderedWorker, port: number): boolean {
        return this.lab!.exec("bash", ["-c", `timeout 3 bash -c 'exec 3<>/dev/tcp/${worker.address}/${port}' && echo open`], true).includes("open");
    }

    /** What the workers published to the stand-in CloudWatch / Azure Monitor (publish-event.py), one JSON line each. */
    eventsFile(): string {
        return path.join(this.dir, "events.jsonl");
    }

    publishedEvents(): PublishedEvent[] {
        const file = this.eventsFile();
        return fs.existsSync(file)
            ? fs
                  .readFileSync(file, "utf8")
                  .split("\n")
                  .filter(Boolean)
                  .map((l) => JSON.parse(l) as PublishedEvent)
            : [];
    }

    /** Floating IP: the stand-in cloud's record of the VIP (holder, moves) and of the calls it served. */
    vipFiles(): { holder: string; moves: string; calls: string } {
        return { holder: path.join(this.dir, "vip-holder"), moves: path.join(this.dir, "vip-moves.jsonl"), calls: path.join(this.dir, "standin-calls.json") };
    }

    /** The stand-in lease store's files: the faults the drill sets, every write it applied, the calls it served. */
    leaseFiles(): { faults: string; writes: string; calls: string } {
        return { faults: path.join(this.dir, "lease-faults.json"), writes: path.join(this.dir, "lease-writes.jsonl"), calls: path.join(this.dir, "lease-calls.json") };
    }

    /** Where the machines reach the lease store: cut this address to cut them off it alone. */
    leaseAddress(): string {
        return LEASE_STORE_ADDRESS;
    }

    /** Floating IP: who holds the VIP, as the stand-in cloud last applied it. */
    vipHolder(): string {
        try {
            return fs.readFileSync(this.standinConfig!.files.holder, "utf8").trim() || "none";
        } catch {
            return "none";
        }
    }

    async destroy(): Promise<void> {
        for (const m of this.machines) await m.destroy();
        if (this.standin) await this.procs.stop(this.standin, 2000);
        this.procs.killAll();
        this.lab?.destroy();
    }

    /** Waits for the machines' state files to say one MASTER; returns the roles seen. */
    async settle(timeoutMs: number): Promise<Record<string, string>> {
        const roles = () =>
            Object.fromEntries(this.machines.map((m) => [m.name, m.exec("cat /run/iguana-ha/state 2>/dev/null || echo NONE", { allowFail: true }).trim() || "NONE"]));
        await waitFor(
            () => {
                const r = roles();
                return Object.values(r).filter((v) => v === "MASTER").length === 1 && Object.values(r).every((v) => v === "MASTER" || v === "BACKUP");
            },
            timeoutMs,
            500,
        );
        await sleep(500);
        return roles();
    }
}

function sameSubnet(gatewayCidr: string, address: string): boolean {
    const [gw, bits] = gatewayCidr.split("/");
    const toInt = (a: string) => a.split(".").reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
    const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
    return (toInt(gw) & mask) === (toInt(address) & mask);
}
