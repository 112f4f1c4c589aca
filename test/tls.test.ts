/**
 * TLS on the worker, under the real stunnel4 with the stunnel.conf a worker is given and the
 * bundle installed by the worker's own installer (fetch-tls.sh's Python): an HL7 sender over
 * TLS gets its ACK; TLS 1.1, RSA key exchange and plain MLLP are refused; under mutual TLS a
 * sender without a certificate from the client CA is refused; a renewed certificate is served
 * after a reload, to new connections, while an open feed carries on.
 */
import * as assert from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { Hl7Connection, Hl7Server } from "@medplum/hl7";
import { Hl7Message } from "@medplum/core";
import { validateClusterConfig } from "../components/config";
import { INSTALL_BUNDLE_PY, TLS_BUNDLE_FILES, WORKER_PATHS, WorkerPaths, bootstrapSettings, renderStunnelConfig, stunnelConfigPath, tlsDir } from "../components/bootstrap";
import { planNetwork, planWorkers } from "../components/model";
import { TLS_LISTEN_PORT_BASE } from "../components/constants";
import { issueLeaf, makeTestCa } from "../boot/tls";
import { adtMessage } from "../drill/sender";
import { isRoot, requireTools, skipBecause } from "./tools";

/** Iguana's stand-in: an MLLP listener on loopback that acknowledges every message. */
const CHANNEL_PORT = 42575;
const STUNNEL_PORT = TLS_LISTEN_PORT_BASE;

function settingsFor(paths: WorkerPaths, clientCa?: string) {
    const cfg = validateClusterConfig(
        {
            cloud: "aws",
            region: "us-east-1",
            channels: [{ name: "adt-in", protocol: "llp", port: CHANNEL_PORT }],
            network: { allowedCidrs: ["198.51.100.0/24"] },
            tls: clientCa ? { clientCa } : {},
        },
        "t",
    );
    const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr));
    return bootstrapSettings(
        cfg,
        wk1,
        wk2,
        {
            dataDisk: { kind: "aws-ebs", volumeId: "vol-1" },
            tlsBundle: { kind: "aws-secrets-manager", secretArn: "arn:aws:secretsmanager:us-east-1:1:secret:tls", region: "us-east-1" },
        },
        paths,
    );
}

/** Installs a bundle as fetch-tls.sh does; returns what the installer printed. */
function installBundle(dir: string, group: string, mutual: boolean, bundle: object): string {
    const run = spawnSync("python3", ["-c", INSTALL_BUNDLE_PY, dir, group, mutual ? "mutual" : "server"], { input: JSON.stringify(bundle), encoding: "utf8" });
    assert.strictEqual(run.status, 0, run.stderr);
    return run.stdout.trim();
}

function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
        const attempt = () => {
            const socket = net.connect({ host: "127.0.0.1", port }, () => (socket.destroy(), resolve()));
            socket.once("error", () => (Date.now() > deadline ? reject(new Error(`port ${port} never opened`)) : setTimeout(attempt, 50)));
        };
        attempt();
    });
}

interface Outcome {
    ack?: string;
    protocol?: string;
    serial?: string;
    error?: string;
}

/** One HL7 message over TLS (or in clear), waiting at most 3 s for its ACK. */
async function send(options: tls.ConnectionOptions & { plain?: boolean }): Promise<Outcome> {
    const socket: net.Socket = options.plain
        ? net.connect({ host: "127.0.0.1", port: STUNNEL_PORT })
        : tls.connect({ host: "127.0.0.1", port: STUNNEL_PORT, servername: "iguana.test", ...options });
    const outcome: Outcome = {};
    try {
        await new Promise<void>((resolve, reject) => {
            socket.once(options.plain ? "connect" : "secureConnect", () => resolve());
            socket.once("error", reject);
            socket.once("close", () => reject(new Error("closed during the handshake")));
        });
        if (socket instanceof tls.TLSSocket) {
            outcome.protocol = socket.getProtocol() ?? undefined;
            outcome.serial = socket.getPeerCertificate().serialNumber;
        }
        const connection = new Hl7Connection(socket);
        const closed = new Promise<never>((_, reject) => socket.once("close", () => reject(new Error("closed before the ACK"))));
        const ack = await Promise.race([connection.sendAndWait(adtMessage("TLS-000001", 1), { timeoutMs: 3000 }), closed]);
        outcome.ack = ack.getSegment("MSA")?.getField(1)?.toString();
    } catch (e) {
        outcome.error = (e as Error).message;
    } finally {
        socket.destroy();
    }
    return outcome;
}

describe("TLS on the worker: the rendered stunnel.conf under the real stunnel4", function () {
    this.timeout(60000);
    let root: string;
    let ca: ReturnType<typeof makeTestCa>;
    let server: Hl7Server;
    let stunnel: ChildProcess | undefined;
    let group: string;
    const pem = (file: string) => fs.readFileSync(file, "utf8");

    before(function () {
        requireTools(this, "stunnel4", "openssl", "python3");
        if (!isRoot()) skipBecause(this, "the bundle installer sets root ownership: run as root", { ciProvides: true });
        root = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-tls-"));
        ca = makeTestCa(path.join(root, "ca"), ["iguana.test"]);
        // The worker's group is stunnel4 (the package's sysusers.d); root's where stunnel4 is not installed as a package.
        group = spawnSync("getent", ["group", "stunnel4"]).status === 0 ? "stunnel4" : "root";
        server = new Hl7Server((connection) => {
            connection.addEventListener("message", ({ message }) => connection.send(message.buildAck({ ackCode: "AA" })));
        });
        server.start(CHANNEL_PORT);
    });

    after(async () => {
        stunnel?.kill("SIGKILL");
        await server?.stop({ forceDrainTimeoutMs: 100 }).catch(() => undefined);
        if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    async function startStunnel(clientCa?: string) {
        stunnel?.kill("SIGKILL");
        const paths = { ...WORKER_PATHS, etcDir: path.join(root, clientCa ? "etc-mutual" : "etc"), libDir: path.join(root, "lib"), runDir: path.join(root, "run") };
        fs.mkdirSync(paths.etcDir, { recursive: true });
        const s = settingsFor(paths, clientCa);
        fs.writeFileSync(stunnelConfigPath(s), renderStunnelConfig(s));
        const printed = installBundle(tlsDir(s), group, clientCa !== undefined, {
            certificate: pem(ca.leafCert),
            privateKey: pem(ca.leafKey),
            ...(clientCa ? { clientCa } : {}),
        });
        assert.strictEqual(printed, "changed");
        const log = fs.openSync(path.join(root, `stunnel${clientCa ? "-mutual" : ""}.log`), "a");
        stunnel = spawn("stunnel4", [stunnelConfigPath(s)], { stdio: ["ignore", log, log] });
        await waitForPort(STUNNEL_PORT);
        return s;
    }

    it("installs the bundle readable by stunnel's group only, and rewrites nothing that did not change", async () => {
        const s = await startStunnel();
        const key = fs.statSync(path.join(tlsDir(s), TLS_BUNDLE_FILES.privateKey));
        assert.strictEqual(key.mode & 0o777, 0o640, "the key: root and stunnel's group");
        assert.strictEqual(fs.statSync(tlsDir(s)).mode & 0o777, 0o750);
        assert.strictEqual(installBundle(tlsDir(s), group, false, { certificate: pem(ca.leafCert), privateKey: pem(ca.leafKey) }), "unchanged");
        const refused = spawnSync("python3", ["-c", INSTALL_BUNDLE_PY, tlsDir(s), group, "server"], { input: JSON.stringify({ certificate: pem(ca.leafCert) }), encoding: "utf8" });
        assert.notStrictEqual(refused.status, 0, "a bundle without its key is refused");
        assert.match(refused.stderr, /no PEM privateKey/);
    });

    it("an HL7 sender over TLS 1.2 or 1.3 gets its ACK, the chain checked against the CA", async () => {
        const caCert = pem(ca.caCert);
        const tls13 = await send({ ca: caCert });
        assert.deepStrictEqual([tls13.ack, tls13.protocol], ["AA", "TLSv1.3"], JSON.stringify(tls13));
        const tls12 = await send({ ca: caCert, maxVersion: "TLSv1.2" });
        assert.deepStrictEqual([tls12.ack, tls12.protocol], ["AA", "TLSv1.2"], JSON.stringify(tls12));
    });

    it("refuses TLS 1.1, a TLS 1.2 suite without AEAD, and MLLP in clear", async () => {
        const caCert = pem(ca.caCert);
        // sslVersionMin refuses it, and so does OpenSSL 3's default security level (which a
        // distribution may lower): the assertion holds for either reason.
        const old = await send({ ca: caCert, minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" });
        assert.ok(old.error && !old.ack, `TLS 1.1: ${JSON.stringify(old)}`);
        // In OpenSSL's default list, not in TLS12_CIPHERS: CBC with SHA-1 MACs.
        const cbc = await send({ ca: caCert, maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-SHA" });
        assert.ok(cbc.error && !cbc.ack, `CBC suite: ${JSON.stringify(cbc)}`);
        const plain = await send({ plain: true });
        assert.ok(plain.error && !plain.ack, `plain MLLP: ${JSON.stringify(plain)}`);
    });

    it("serves a renewed certificate to new connections after a reload, while an open feed carries on", async () => {
        const s = settingsFor({ ...WORKER_PATHS, etcDir: path.join(root, "etc") });
        const caCert = pem(ca.caCert);
        const open = tls.connect({ host: "127.0.0.1", port: STUNNEL_PORT, servername: "iguana.test", ca: caCert });
        await new Promise((resolve, reject) => (open.once("secureConnect", resolve), open.once("error", reject)));
        const before = open.getPeerCertificate().serialNumber;
        const feed = new Hl7Connection(open);

        const renewed = issueLeaf(path.join(root, "ca"), "renewed", { dns: ["iguana.test"], usage: "serverAuth" });
        assert.strictEqual(installBundle(tlsDir(s), group, false, { certificate: pem(renewed.cert), privateKey: pem(renewed.key) }), "changed");
        stunnel!.kill("SIGHUP");
        // stunnel re-reads its configuration and the files it names; give it a moment.
        let after = before;
        for (let i = 0; i < 40 && after === before; i++) {
            await new Promise((r) => setTimeout(r, 100));
            after = (await send({ ca: caCert })).serial ?? before;
        }
        assert.notStrictEqual(after, before, "a new connection gets the renewed certificate");
        const ack = await feed.sendAndWait(adtMessage("TLS-000002", 2) as Hl7Message, { timeoutMs: 3000 });
        assert.strictEqual(ack.getSegment("MSA")?.getField(1)?.toString(), "AA", "the feed opened before the reload still gets ACKs");
        open.destroy();
    });

    it("mutual TLS: only a sender with a certificate from the client CA gets an ACK", async () => {
        const clientCaDir = path.join(root, "client-ca");
        const clientCa = makeTestCa(clientCaDir, ["unused.test"]);
        const sender = issueLeaf(clientCaDir, "sender", { usage: "clientAuth" });
        const otherCa = makeTestCa(path.join(root, "other-ca"), ["unused.test"]);
        const stranger = issueLeaf(path.join(root, "other-ca"), "stranger", { usage: "clientAuth" });
        void otherCa;
        await startStunnel(pem(clientCa.caCert));
        const caCert = pem(ca.caCert);
        const trusted = await send({ ca: caCert, cert: pem(sender.cert), key: pem(sender.key) });
        assert.strictEqual(trusted.ack, "AA", JSON.stringify(trusted));
        const anonymous = await send({ ca: caCert });
        assert.ok(!anonymous.ack, `no client certificate: ${JSON.stringify(anonymous)}`);
        const foreign = await send({ ca: caCert, cert: pem(stranger.cert), key: pem(stranger.key) });
        assert.ok(!foreign.ack, `a certificate from another CA: ${JSON.stringify(foreign)}`);
    });
});
