import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { LEASE_STORE_SILENT_SECONDS, ROLE_PROBE_PATH, ROLE_PROBE_PORT } from "../components/constants";
import { validateClusterConfig } from "../components/config";
import { planNetwork, planWorkers, tcpKeepaliveSeconds } from "../components/model";
import {
    guardWatchdogSeconds,
    BootstrapSettings,
    CLOUD_LIBRARY_SOURCE,
    DATA_UNIT,
    GUARD,
    IGUANA_UNIT,
    LEASE_GUARD_UNIT,
    LLP_CHAIN,
    LLP_GATE_UNIT,
    WORKER_PATHS,
    WorkerPaths,
    bootstrapSettings,
    renderCheckIguanaScript,
    renderCloudInit,
    renderInstallIguanaScript,
    renderLeaseConfig,
    renderLlpGateScript,
    renderNotifyScript,
    renderPrepareDiskScript,
    renderWorkerFiles,
    roleProbeArgs,
    stateFile,
    workerPackages,
} from "../components/bootstrap";
import { MOCK_ADMIN_PASSWORD } from "../offline/mocks";
import { CloudInitFile, cloudInitFiles, workerBootstraps } from "../offline/worker-bootstrap";
import { StackRun, awsConfig, azureConfig, runConfig, runPlan, runStack } from "./helpers";

const SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

const cfg = validateClusterConfig(
    {
        cloud: "aws",
        region: "us-east-1",
        channels: [
            { name: "adt", protocol: "llp", port: 2575 },
            { name: "api", protocol: "http", port: 8080, mode: "active-active" },
            { name: "orm", protocol: "llp", port: 2576 },
        ],
        network: { allowedCidrs: ["10.0.0.0/8"] },
        failover: { idleTimeoutSeconds: 600 },
    },
    "t",
);
const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
const AWS_LEASE = { kind: "aws-dynamodb" as const, tableName: "iguana-lease-0a1b2c3", region: "us-east-1", itemKey: "iguana" };
const AZURE_LEASE = { kind: "azure-blob" as const, accountName: "iguanalease0a1b2c3d", container: "lease", blobName: "iguana" };
const awsSources = (volumeId = "vol-0abc") => ({
    dataDisk: { kind: "aws-ebs" as const, volumeId },
    adminPassword: { kind: "aws-secrets-manager" as const, secretArn: "arn:aws:secretsmanager:us-east-1:1:secret:pw", region: "us-east-1" },
    tlsBundle: { kind: "aws-secrets-manager" as const, secretArn: "arn:aws:secretsmanager:us-east-1:1:secret:tls", region: "us-east-1" },
    lease: AWS_LEASE,
});
const AZURE_TLS = { kind: "azure-key-vault" as const, vaultName: "iguana-kv-1", secretName: "iguana-tls" };

/** The same cluster with every channel active-passive and the VIP moved by the guard (failover.strategy: floating-ip). */
const floatingCfg = validateClusterConfig({ ...cfgRaw(), channels: cfg.channels.map(({ mode, ...c }) => c), failover: { strategy: "floating-ip" } }, "t");
const floatingSources = () => ({ ...awsSources(), vip: { kind: "aws-eip" as const, allocationId: "eipalloc-0123456789abcdef0", region: "us-east-1" } });
/** storage.queueRecovery: shared: the working directory on EFS, and a peer fence for the new holder. */
const sharedCfg = validateClusterConfig({ ...cfgRaw(), storage: { queueRecovery: "shared" } }, "t");
const sharedSources = () => ({ ...awsSources(), dataDisk: { kind: "aws-efs" as const, fileSystemId: "fs-0abc" }, peerFence: { kind: "aws-ec2" as const, region: "us-east-1" } });

/** The lease guard's config as a worker gets it. */
function leaseJson(s: BootstrapSettings): any {
    return JSON.parse(renderLeaseConfig(s));
}

/** A systemd unit's `Key=value` lines, by key (a key may repeat). */
function unitKeys(unit: string): Record<string, string[]> {
    const keys: Record<string, string[]> = {};
    for (const line of unit.split("\n")) {
        const m = /^([A-Za-z]+)=(.*)$/.exec(line);
        if (m) (keys[m[1]] ??= []).push(m[2]);
    }
    return keys;
}

describe("worker bootstrap: rendered text", () => {
    const s1 = bootstrapSettings(cfg, wk1, wk2, awsSources());
    const s2 = bootstrapSettings(cfg, wk2, wk1, awsSources());

    it("the LLP gate rejects exactly the LLP channel ports, with a TCP reset", () => {
        const gate = renderLlpGateScript(s1);
        const rejected = [...gate.matchAll(/--dports ([\d,]+) -j REJECT --reject-with tcp-reset/g)].flatMap((m) => m[1].split(",").map(Number));
        // 17000 and 17002: stunnel's ports in front of them (TLS on), where the kernel sends senders.
        assert.deepStrictEqual(rejected.sort(), [17000, 17002, 2575, 2576]);
        assert.match(gate, new RegExp(`chain=${LLP_CHAIN}`));
        assert.match(gate, /ss -K/, "established connections are killed when the gate closes");
    });

    it("splits many LLP ports into multiport rules of at most 15", () => {
        const many = { ...s1, gatedPorts: Array.from({ length: 40 }, (_, i) => 3000 + i) };
        const rules = [...renderLlpGateScript(many).matchAll(/--dports ([\d,]+)/g)].map((m) => m[1].split(",").length);
        assert.deepStrictEqual(rules, [15, 15, 10]);
    });

    it("the guard's health check checks IguanaX /health, or TCP for Iguana 6", () => {
        assert.match(renderCheckIguanaScript(s1), /curl -fsS -o \/dev\/null -m 2 'http:\/\/127\.0\.0\.1:7654\/health'/);
        const six = bootstrapSettings(validateClusterConfig({ ...cfgRaw(), iguana: { edition: "iguana6" } }, "t"), wk1, wk2, awsSources());
        assert.match(renderCheckIguanaScript(six), /\/dev\/tcp\/127\.0\.0\.1\/6543/);
    });

    it("the role probe serves the same port and path the load balancer checks", () => {
        const args = roleProbeArgs(s1);
        assert.deepStrictEqual([args[args.indexOf("--port") + 1], args[args.indexOf("--path") + 1]], [String(ROLE_PROBE_PORT), ROLE_PROBE_PATH]);
    });

    it("each worker's lease.json: itself, the timing rule of the 3 s default lease, WK1 primary, WK2's head start", () => {
        for (const [s, self, primary] of [
            [s1, "wk1", true],
            [s2, "wk2", false],
        ] as const) {
            const config = leaseJson(s);
            assert.deepStrictEqual([config.self, config.primary], [self, primary]);
            // L = 3 s: renew and read every L/6, a call gives up after L/3, active until L/2 after
            // the last renewal's send, fenced by 2L/3, a margin of L/3 before a takeover at L.
            assert.deepStrictEqual(
                [config.leaseSeconds, config.renewEverySeconds, config.callTimeoutSeconds, config.activeForSeconds, config.fencedBySeconds, config.marginSeconds],
                [3, 0.5, 1, 1.5, 2, 1],
            );
            assert.strictEqual(config.headStartSeconds, GUARD.backupBootHeadStartSeconds);
            assert.strictEqual(config.headStartSeconds, 20);
            assert.strictEqual(config.leaseStoreSilentSeconds, LEASE_STORE_SILENT_SECONDS);
            assert.deepStrictEqual([config.runDir, config.stateFile, config.notify], [WORKER_PATHS.runDir, stateFile(s), `${WORKER_PATHS.libDir}/notify.sh`]);
            assert.deepStrictEqual(config.health, {
                script: `${WORKER_PATHS.libDir}/check-iguana.sh`,
                everySeconds: 1,
                fall: 2,
                rise: 2,
                timeoutSeconds: GUARD.scriptTimeoutSeconds,
            });
            // Names and numbers only: no credential (the guard signs with the machine's identity).
            assert.deepStrictEqual(Object.keys(config).sort(), [
                "activeForSeconds",
                "callTimeoutSeconds",
                "fencedBySeconds",
                "headStartSeconds",
                "health",
                "kernelGate",
                "leaseSeconds",
                "leaseStoreSilentSeconds",
                "marginSeconds",
                "notify",
                "primary",
                "renewEverySeconds",
                "runDir",
                "self",
                "stateFile",
                "store",
            ]);
        }
        // failover.leaseSeconds scales every step with it.
        const twelve = leaseJson(bootstrapSettings({ ...cfg, failover: { ...cfg.failover, leaseSeconds: 12 } }, wk1, wk2, awsSources()));
        assert.deepStrictEqual(
            [twelve.leaseSeconds, twelve.renewEverySeconds, twelve.callTimeoutSeconds, twelve.activeForSeconds, twelve.fencedBySeconds, twelve.marginSeconds],
            [12, 2, 4, 6, 8, 4],
        );
    });

    it("gives only the backup a head start after boot: the guard's primary flag, not the health check", () => {
        assert.deepStrictEqual([leaseJson(s1).primary, leaseJson(s2).primary], [true, false]);
        for (const s of [s1, s2]) assert.doesNotMatch(renderCheckIguanaScript(s), /head-start/);
    });

    it("lease.json names the store: DynamoDB's regional endpoint, or the lease blob's URL", () => {
        assert.deepStrictEqual(leaseJson(s1).store, {
            kind: "aws-dynamodb",
            url: "https://dynamodb.us-east-1.amazonaws.com/",
            region: "us-east-1",
            table: "iguana-lease-0a1b2c3",
            itemKey: "iguana",
            imdsUrl: "http://169.254.169.254",
        });
        const china = bootstrapSettings({ ...cfg, region: "cn-north-1" }, wk1, wk2, { ...awsSources(), lease: { ...AWS_LEASE, region: "cn-north-1" } });
        assert.strictEqual(leaseJson(china).store.url, "https://dynamodb.cn-north-1.amazonaws.com.cn/");
        const azure = bootstrapSettings({ ...cfg, cloud: "azure" }, wk1, wk2, { dataDisk: { kind: "azure-lun", lun: 0 }, lease: AZURE_LEASE, tlsBundle: AZURE_TLS });
        assert.deepStrictEqual(leaseJson(azure).store, {
            kind: "azure-blob",
            url: "https://iguanalease0a1b2c3d.blob.core.windows.net/lease/iguana",
            imdsUrl: "http://169.254.169.254",
        });
    });

    it("renders no lease.json for a worker given no lease store", () => {
        const { lease, ...withoutLease } = awsSources();
        assert.throws(() => renderLeaseConfig(bootstrapSettings(cfg, wk1, wk2, withoutLease)), /lease\.json: wk1 was given no lease store/);
        assert.throws(() => renderWorkerFiles(bootstrapSettings(cfg, wk2, wk1, withoutLease)), /wk2 was given no lease store/);
        void lease;
    });

    it("the kernel gate holds exactly the ports the LLP gate closes: the LLP channels, or every channel with a floating IP", () => {
        const gated = (s: BootstrapSettings) => [...renderLlpGateScript(s).matchAll(/--dports ([\d,]+)/g)].flatMap((m) => m[1].split(",").map(Number)).sort();
        // With TLS on, a sender's connection arrives on stunnel's port (17000 + the channel's index): closed too.
        assert.deepStrictEqual(leaseJson(s1).kernelGate, { table: "iguana_ha_lease", ports: [2575, 2576, 17000, 17002] });
        assert.deepStrictEqual([...leaseJson(s1).kernelGate.ports].sort(), gated(s1));
        const floating = bootstrapSettings(floatingCfg, wk1, wk2, floatingSources());
        assert.deepStrictEqual([...leaseJson(floating).kernelGate.ports].sort(), [17000, 17001, 17002, 2575, 2576, 8080]);
        assert.deepStrictEqual([...leaseJson(floating).kernelGate.ports].sort(), gated(floating));
        // No LLP channel: nothing to gate, no nftables table.
        const httpOnly = bootstrapSettings(
            validateClusterConfig({ ...cfgRaw(), channels: [{ name: "api", protocol: "http", port: 8080, mode: "active-active" }] }, "t"),
            wk1,
            wk2,
            awsSources(),
        );
        assert.strictEqual(leaseJson(httpOnly).kernelGate, undefined);
    });

    it("the guard takes the VIP only with a floating IP, and stops the peer only in shared mode", () => {
        const lb = leaseJson(s1);
        assert.deepStrictEqual([lb.vip, lb.peerFence], [undefined, undefined]);
        const floating = leaseJson(bootstrapSettings(floatingCfg, wk2, wk1, floatingSources()));
        assert.deepStrictEqual(floating.vip, {
            command: ["/usr/bin/python3", `${WORKER_PATHS.libDir}/vip-mover.py`, `${WORKER_PATHS.etcDir}/vip.json`, "take"],
            timeoutSeconds: 600,
        });
        assert.strictEqual(floating.peerFence, undefined);
        const shared = leaseJson(bootstrapSettings(sharedCfg, wk2, wk1, sharedSources()));
        assert.deepStrictEqual(shared.peerFence, {
            command: ["/usr/bin/python3", `${WORKER_PATHS.libDir}/peer-fence.py`, `${WORKER_PATHS.etcDir}/peer-fence.json`, "stop"],
            timeoutSeconds: GUARD.peerFenceTimeoutSeconds,
        });
        assert.strictEqual(shared.vip, undefined);
    });

    it("the guard's unit: notify.sh STOP however it ends, restarted always, watched, after the LLP gate and the data disk", () => {
        const files = renderWorkerFiles(s1);
        const unit = files.find((f) => f.path === `/etc/systemd/system/${LEASE_GUARD_UNIT}`);
        assert.ok(unit, `${LEASE_GUARD_UNIT} is shipped`);
        const keys = unitKeys(unit.content);
        assert.deepStrictEqual(keys.ExecStart, [`/usr/bin/python3 ${WORKER_PATHS.libDir}/lease-guard.py ${WORKER_PATHS.etcDir}/lease.json run`]);
        assert.deepStrictEqual(keys.ExecStopPost, [`${WORKER_PATHS.libDir}/notify.sh STOP`]);
        assert.deepStrictEqual([keys.Restart, keys.RestartSec], [["always"], ["1"]]);
        // The watchdog needs the guard to report: Type=notify, from its main process.
        // Longer than one pass of the guard's loop (a read interval, two calls, a notify bounded by L): 2L, at least 5 s.
        assert.deepStrictEqual([keys.Type, keys.NotifyAccess, keys.WatchdogSec], [["notify"], ["main"], ["6"]]);
        assert.deepStrictEqual([3, 12, 60].map(guardWatchdogSeconds), [6, 24, 120]);
        assert.strictEqual(guardWatchdogSeconds(1), GUARD.watchdogSeconds);
        const after = keys.After.join(" ").split(/\s+/);
        for (const dependency of [LLP_GATE_UNIT, DATA_UNIT]) {
            assert.ok(after.includes(dependency), `After= names ${dependency}`);
            const other = files.find((f) => f.path === `/etc/systemd/system/${dependency}`);
            assert.ok(other, `${dependency} is shipped`);
            assert.ok(unitKeys(other.content).Before.join(" ").split(/\s+/).includes(LEASE_GUARD_UNIT), `${dependency} orders itself before the guard too`);
        }
        assert.deepStrictEqual(keys.WantedBy, ["multi-user.target"]);
    });

    it("finds the AWS data disk by volume id and never reformats a disk that holds data", () => {
        const disk = renderPrepareDiskScript(s1);
        assert.match(disk, /nvme-Amazon_Elastic_Block_Store_vol0abc/);
        assert.match(disk, /if blkid -p "\$device"[^\n]*\n\s+echo "iguana-ha: \$device already holds data; keeping it"\nelse\n[^\n]*\n\s+mkfs\.ext4/);
        // Mounted by the script at every boot (the iguana-data unit), never left to fstab.
        assert.match(disk, /mountpoint -q "\$mount_point" \|\| mount -o defaults "\$device" "\$mount_point"/);
        assert.doesNotMatch(disk, /\/etc\/fstab/);
        assert.match(disk, new RegExp(`working_dir='${WORKER_PATHS.workingDir}'`));
    });

    it("Iguana of either edition requires the data unit and refuses to start without its mount", () => {
        for (const edition of ["iguanax", "iguana6"] as const) {
            const files = renderWorkerFiles({ ...s1, edition });
            const data = files.find((f) => f.path === "/etc/systemd/system/iguana-data.service")!;
            assert.match(data.content, /^ExecStart=\/usr\/local\/lib\/iguana-ha\/prepare-disk\.sh$/m);
            assert.match(data.content, new RegExp(`^Before=${IGUANA_UNIT[edition]}\\.service`, "m"));
            const iguana = files.find((f) => f.path === (edition === "iguanax" ? "/etc/systemd/system/IguanaX.service.d/iguana-ha.conf" : "/etc/systemd/system/iguana6.service"))!;
            for (const line of [
                "Requires=iguana-data.service",
                "After=iguana-data.service",
                `RequiresMountsFor=${WORKER_PATHS.workingDir}`,
                `ExecStartPre=/usr/bin/mountpoint -q ${WORKER_PATHS.dataMount}`,
            ]) {
                assert.ok(iguana.content.split("\n").includes(line), `${edition}: ${line} missing from ${iguana.path}`);
            }
        }
    });

    it("runs the first-boot steps in one shell that stops at the first failure", () => {
        const doc = yaml.load(renderCloudInit(s1)) as { runcmd: (string | string[])[] };
        assert.strictEqual(doc.runcmd[0], "set -e");
        const steps = doc.runcmd.map((c) => (Array.isArray(c) ? c.join(" ") : c));
        const disk = steps.findIndex((c) => c.startsWith("systemctl enable --now iguana-data.service || {"));
        assert.ok(disk > 0 && disk < steps.indexOf("/usr/local/lib/iguana-ha/install-iguana.sh"), "the disk step runs before Iguana is installed");
        assert.ok(steps.includes("install -d -o iguana -g iguana -m 0750 /var/lib/iguana"), "the iguana user's home is made");
    });

    it("first boot starts the lease guard last (only the VIP timer after it), installs nftables for its kernel gate, and never keepalived", () => {
        const cases: [string, BootstrapSettings, string[]][] = [
            ["load-balancer", s1, []],
            ["floating-ip", bootstrapSettings(floatingCfg, wk1, wk2, floatingSources()), ["systemctl enable --now iguana-vip-reconcile.timer"]],
            ["shared", bootstrapSettings(sharedCfg, wk1, wk2, sharedSources()), []],
        ];
        for (const [label, s, afterGuard] of cases) {
            const doc = yaml.load(renderCloudInit(s)) as { runcmd: (string | string[])[]; packages: string[] };
            const steps = doc.runcmd.map((c) => (Array.isArray(c) ? c.join(" ") : c));
            const guard = steps.indexOf(`systemctl enable --now ${LEASE_GUARD_UNIT}`);
            assert.ok(guard > 0, `${label}: the guard is started`);
            const before = [
                `systemctl enable --now ${LLP_GATE_UNIT}`,
                steps.find((c) => c.startsWith(`systemctl enable --now ${DATA_UNIT} ||`)),
                `${WORKER_PATHS.libDir}/install-iguana.sh`,
                "systemctl enable --now iguana-role-probe.service",
            ];
            for (const step of before) {
                const at = steps.indexOf(step ?? "(missing)");
                assert.ok(at >= 0 && at < guard, `${label}: "${step}" runs before the guard starts`);
            }
            assert.deepStrictEqual(steps.slice(guard + 1), afterGuard, `${label}: what follows the guard`);
            assert.ok(
                steps.every((c) => !/keepalived/i.test(c)),
                `${label}: no step names keepalived`,
            );
            assert.deepStrictEqual(doc.packages, workerPackages(s));
            assert.ok(!doc.packages.some((p) => /keepalived/.test(p)), `${label}: keepalived is not installed`);
            for (const tool of ["nftables", "python3", "iptables", "curl"]) assert.ok(doc.packages.includes(tool), `${label}: ${tool} is installed`);
        }
    });

    it("finds the Azure data disk at LUN 0", () => {
        const azure = bootstrapSettings({ ...cfg, cloud: "azure" }, wk1, wk2, { dataDisk: { kind: "azure-lun", lun: 0 }, lease: AZURE_LEASE, tlsBundle: AZURE_TLS });
        assert.match(renderPrepareDiskScript(azure), /candidates=\('\/dev\/disk\/azure\/scsi1\/lun0'\)/);
    });

    it("without an installer URL the boot log says so plainly and Iguana stays off", () => {
        const script = renderInstallIguanaScript(s1);
        assert.match(script, /installer_url=''/);
        assert.match(script, /iguana\.installerUrl is not set, so Iguana is NOT installed/);
    });

    it("installs IguanaX with iguana.ini on the fixed working dir, as a non-root user", () => {
        const withUrl = bootstrapSettings({ ...cfg, iguana: { ...cfg.iguana, installerUrl: "https://downloads.example/iguanax.tar.gz" } }, wk1, wk2, awsSources());
        const script = renderInstallIguanaScript(withUrl);
        assert.match(script, /installer_url='https:\/\/downloads\.example\/iguanax\.tar\.gz'/);
        assert.match(script, /\[server\]\\nworking_dir=%s/);
        assert.match(script, /--service install --username iguana/);
        assert.match(script, /systemctl enable --now IguanaX/);
    });

    it("keeps TCP keepalive below the load balancer idle timeout", () => {
        for (const idle of [60, 240, 600, 3600, 6000]) {
            const k = tcpKeepaliveSeconds(idle);
            assert.ok(k < idle, `keepalive ${k} s < idle ${idle} s`);
        }
        assert.match(renderCloudInit(s1), /net\.ipv4\.tcp_keepalive_time = 300/);
    });

    it("every script the guard runs is shipped, executable and owned by root; its cloud library sits beside the Python tools", () => {
        const cases: [string, BootstrapSettings][] = [
            ["load-balancer", s2],
            ["floating-ip", bootstrapSettings(floatingCfg, wk2, wk1, floatingSources())],
            ["shared", bootstrapSettings(sharedCfg, wk2, wk1, sharedSources())],
        ];
        for (const [label, s] of cases) {
            const files = cloudInitFiles(renderCloudInit(s));
            const file = (p: string) => files.find((f) => f.path === p);
            const executable = (p: string, why: string) => {
                const f = file(p);
                assert.ok(f, `${label}: ${p} (${why}) is written by cloud-init`);
                assert.deepStrictEqual([f.permissions, f.owner], ["0755", "root:root"], `${label}: ${p}`);
            };
            const present = (p: string, why: string): CloudInitFile => {
                const f = file(p);
                assert.ok(f, `${label}: ${p} (${why}) is written by cloud-init`);
                assert.deepStrictEqual([f.permissions, f.owner], ["0644", "root:root"], `${label}: ${p} is root's and nobody else writes it`);
                return f;
            };
            const unit = unitKeys(present(`/etc/systemd/system/${LEASE_GUARD_UNIT}`, "the guard's unit").content);
            const [python, guard, configPath, command] = unit.ExecStart[0].split(" ");
            assert.deepStrictEqual([python, command], ["/usr/bin/python3", "run"]);
            executable(guard, "the guard");
            const config = JSON.parse(present(configPath, "the guard's config").content);
            executable(unit.ExecStopPost[0].split(" ")[0], "the unit's ExecStopPost");
            executable(config.notify, "lease.json notify");
            executable(config.health.script, "lease.json health");
            const helpers = [config.vip, config.peerFence].filter(Boolean);
            assert.strictEqual(helpers.length, label === "load-balancer" ? 0 : 1, `${label}: helpers in lease.json`);
            for (const helper of helpers) {
                assert.strictEqual(helper.command[0], "/usr/bin/python3");
                executable(helper.command[1], "a helper the guard runs");
                present(helper.command[2], "its config");
            }
            // What the notify script runs: the LLP gate, and (shared) iguana-service.sh, (floating) the VIP mover.
            const notify = file(config.notify)!.content;
            const called = [...new Set([...notify.matchAll(new RegExp(`'(${WORKER_PATHS.libDir}/[^']+)'`, "g"))].map((m) => m[1]))];
            assert.ok(called.includes(`${WORKER_PATHS.libDir}/llp-gate.sh`), `${label}: the notify script drives the LLP gate`);
            assert.strictEqual(called.includes(`${WORKER_PATHS.libDir}/iguana-service.sh`), label === "shared");
            assert.strictEqual(called.includes(`${WORKER_PATHS.libDir}/vip-mover.py`), label === "floating-ip");
            for (const script of called) executable(script, "run by notify.sh");
            // Every shipped Python tool that imports the cloud library finds it in its own directory.
            const importers = files.filter((f) => f.path.endsWith(".py") && /^from iguana_ha_cloud import/m.test(f.content)).map((f) => f.path);
            assert.ok(importers.includes(guard), `${label}: the guard imports iguana_ha_cloud`);
            for (const importer of importers) {
                const library = present(path.posix.join(path.posix.dirname(importer), "iguana_ha_cloud.py"), `imported by ${importer}`);
                assert.strictEqual(library.content, CLOUD_LIBRARY_SOURCE);
            }
        }
    });
});

describe("the notify script the guard runs: the gate opens on MASTER only", function () {
    this.timeout(30000);
    const ROLES = ["BACKUP", "FENCING", "STARTING", "STOP", "", "MASTER"];
    let root: string;
    beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-notify-"))));
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    /** The rendered notify.sh under a scratch root, beside stubs of what it runs that log their arguments. */
    function install(s: BootstrapSettings): { s: BootstrapSettings; log: string } {
        const paths: WorkerPaths = {
            libDir: path.join(root, "lib"),
            etcDir: path.join(root, "etc"),
            runDir: path.join(root, "run"),
            dataMount: path.join(root, "data"),
            workingDir: path.join(root, "data", "working"),
            appDir: path.join(root, "app"),
        };
        const scratch = { ...s, paths };
        const log = path.join(root, "calls.log");
        fs.mkdirSync(paths.libDir, { recursive: true });
        fs.writeFileSync(log, "");
        const stub = (name: string, content: string) => fs.writeFileSync(path.join(paths.libDir, name), content, { mode: 0o755 });
        stub("notify.sh", renderNotifyScript(scratch));
        stub("llp-gate.sh", `#!/bin/bash\necho "gate $*" >> '${log}'\n`);
        stub("iguana-service.sh", `#!/bin/bash\necho "iguana $*" >> '${log}'\n`);
        stub("vip-mover.py", `import sys\nwith open(${JSON.stringify(log)}, "a") as f:\n    f.write("vip " + sys.argv[2] + "\\n")\n`);
        return { s: scratch, log };
    }

    async function notifyEach(s: BootstrapSettings, log: string, waitForVip: boolean) {
        const seen: { role: string; state: string; calls: string[]; vip: string[] }[] = [];
        let known = 0;
        let vipKnown = 0;
        for (const role of ROLES) {
            execFileSync(path.join(s.paths.libDir, "notify.sh"), role ? [role] : [], { stdio: "pipe" });
            // The VIP is let go in the background: wait for it (or, on MASTER, give it time to show up wrongly).
            const until = Date.now() + (role === "MASTER" ? 1000 : waitForVip ? 5000 : 0);
            let lines = fs.readFileSync(log, "utf8").split("\n").filter(Boolean);
            while (Date.now() < until && lines.filter((l) => l.startsWith("vip ")).length === vipKnown) {
                await new Promise((r) => setTimeout(r, 50));
                lines = fs.readFileSync(log, "utf8").split("\n").filter(Boolean);
            }
            const calls = lines.filter((l) => !l.startsWith("vip "));
            const vip = lines.filter((l) => l.startsWith("vip "));
            seen.push({ role, state: fs.readFileSync(stateFile(s), "utf8").trim(), calls: calls.slice(known), vip: vip.slice(vipKnown) });
            known = calls.length;
            vipKnown = vip.length;
        }
        return seen;
    }

    it("load balancer: opens the LLP gate on MASTER, closes it on every other role, and records the role", async () => {
        const { s, log } = install(bootstrapSettings(cfg, wk1, wk2, awsSources()));
        for (const { role, state, calls, vip } of await notifyEach(s, log, false)) {
            assert.strictEqual(state, role || "UNKNOWN", `the state file after notify.sh ${role}`);
            assert.deepStrictEqual(calls, [role === "MASTER" ? "gate open" : "gate close"], `notify.sh ${role || "(no argument)"}`);
            assert.deepStrictEqual(vip, []);
        }
    });

    it("shared storage with a floating IP: MASTER starts Iguana; any other role kills it and lets go of the VIP", async () => {
        const both = validateClusterConfig({ ...cfgRaw(), storage: { queueRecovery: "shared" }, failover: { strategy: "floating-ip" } }, "t");
        const { s, log } = install(bootstrapSettings(both, wk2, wk1, { ...sharedSources(), vip: floatingSources().vip }));
        for (const { role, calls, vip } of await notifyEach(s, log, true)) {
            const master = role === "MASTER";
            // (In either order: which comes first is the fence's business, not this test's.)
            assert.deepStrictEqual([...calls].sort(), master ? ["gate open", "iguana start"] : ["gate close", "iguana kill"], `notify.sh ${role || "(no argument)"}`);
            // The guard takes the VIP itself (vip-mover.py take) before it calls MASTER.
            assert.deepStrictEqual(vip, master ? [] : ["vip release"], `notify.sh ${role || "(no argument)"}: the VIP`);
        }
    });
});

function cfgRaw() {
    return {
        cloud: "aws",
        region: "us-east-1",
        channels: [{ name: "adt", protocol: "llp", port: 2575 }],
        network: { allowedCidrs: ["10.0.0.0/8"] },
    };
}

describe("worker bootstrap: one source of truth with the load balancer", () => {
    let run: StackRun;
    before(async () => (run = await runStack("aws-prod")));

    it("each worker's lease.json names itself and the one lease table the program built, at the region's DynamoDB endpoint", () => {
        const tables = run.ofType("aws:dynamodb/table:Table");
        assert.strictEqual(tables.length, 1, "one lease table");
        const configs = workerBootstraps(run.mocks.resources).map((b) => ({
            resource: b.resource,
            config: JSON.parse(cloudInitFiles(b.cloudInit).find((f) => f.path === `${WORKER_PATHS.etcDir}/lease.json`)!.content),
        }));
        assert.deepStrictEqual(
            configs.map(({ resource, config }) => [resource, config.self, config.primary]),
            [
                ["iguana-wk1", "wk1", true],
                ["iguana-wk2", "wk2", false],
            ],
        );
        for (const { resource, config } of configs) {
            const { itemKey, ...store } = config.store;
            assert.deepStrictEqual(
                store,
                { kind: "aws-dynamodb", url: "https://dynamodb.us-east-2.amazonaws.com/", region: "us-east-2", table: tables[0].state.name, imdsUrl: "http://169.254.169.254" },
                resource,
            );
            assert.ok(typeof itemKey === "string" && itemKey.length > 0, `${resource}: an item key`);
        }
        assert.strictEqual(configs[0].config.store.itemKey, configs[1].config.store.itemKey, "both workers contend for the same item");
    });

    it("the role probe listens where the target groups check", () => {
        const checks = run
            .ofType("aws:lb/targetGroup:TargetGroup")
            .map((t) => t.inputs.healthCheck)
            .filter((h) => h.path === ROLE_PROBE_PATH);
        assert.ok(checks.length >= 2);
        for (const b of workerBootstraps(run.mocks.resources)) {
            const unit = cloudInitFiles(b.cloudInit).find((f) => f.path.endsWith("iguana-role-probe.service"))!;
            for (const h of checks) {
                assert.ok(unit.content.includes(`--port ${h.port} --path ${h.path} `), `${b.resource}: probe on ${h.port}${h.path}`);
            }
        }
    });

    it("the LLP gate and the kernel gate close exactly the ports of the LLP listeners", () => {
        const llpPorts = run
            .ofType("aws:lb/listener:Listener")
            .filter((l) => l.name !== "iguana-dashboard" && !l.name.includes("results-api"))
            .map((l) => l.inputs.port)
            .sort();
        for (const b of workerBootstraps(run.mocks.resources)) {
            const files = cloudInitFiles(b.cloudInit);
            const gate = files.find((f) => f.path.endsWith("llp-gate.sh"))!;
            const closed = [...gate.content.matchAll(/--dports ([\d,]+)/g)].flatMap((m) => m[1].split(",").map(Number)).sort();
            // TLS on: stunnel's port in front of each LLP port is closed with it (the kernel redirects senders there).
            const stunnel = files.find((f) => f.path.endsWith("/stunnel.conf"))!.content;
            const stunnelPorts = [...stunnel.matchAll(/accept = 0\.0\.0\.0:(\d+)\nconnect = 127\.0\.0\.1:(\d+)/g)]
                .filter((m) => llpPorts.includes(Number(m[2])))
                .map((m) => Number(m[1]));
            assert.strictEqual(stunnelPorts.length, llpPorts.length, `${b.resource}: stunnel fronts every LLP port`);
            const expected = [...llpPorts, ...stunnelPorts].sort();
            assert.deepStrictEqual(closed, expected);
            const lease = JSON.parse(files.find((f) => f.path.endsWith("/lease.json"))!.content);
            assert.deepStrictEqual([...lease.kernelGate.ports].sort(), expected, `${b.resource}: the kernel gate holds the same ports`);
        }
    });

    it("the data-disk script looks for the volume attached to that worker", () => {
        for (const name of ["iguana-wk1", "iguana-wk2"]) {
            const volumeId = run.one("aws:ebs/volume:Volume", `${name}-data`).id!;
            const b = workerBootstraps(run.mocks.resources).find((x) => x.resource === name)!;
            assert.ok(b.cloudInit.includes(`nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`), `${name} looks for ${volumeId}`);
        }
    });

    it("the workers read only their own secret, decrypted only through Secrets Manager", () => {
        const policy = JSON.parse(run.one("aws:iam/rolePolicy:RolePolicy", "iguana-worker-read-secret").inputs.policy);
        const secretArn = run.one("aws:secretsmanager/secret:Secret", "iguana-admin-password").state.arn;
        const tlsArn = run.one("aws:secretsmanager/secret:Secret", "iguana-tls").state.arn;
        const keyArn = run.one("aws:kms/key:Key", "iguana-key").state.arn;
        assert.deepStrictEqual(
            policy.Statement.map((s: any) => [s.Effect, s.Action, s.Resource]),
            [
                ["Allow", "secretsmanager:GetSecretValue", secretArn],
                ["Allow", "secretsmanager:GetSecretValue", tlsArn],
                ["Allow", "kms:Decrypt", keyArn],
            ],
        );
        assert.deepStrictEqual(policy.Statement[2].Condition, { StringEquals: { "kms:ViaService": "secretsmanager.us-east-2.amazonaws.com" } });
        const b = workerBootstraps(run.mocks.resources)[0];
        assert.ok(b.cloudInit.includes(secretArn), "the worker is told where the secret is");
    });

    it("the secret version holds the generated password, marked secret, encrypted with the project key", () => {
        const version = run.one("aws:secretsmanager/secretVersion:SecretVersion", "iguana-admin-password");
        // A secret crosses the wire wrapped with Pulumi's secret signature.
        assert.deepStrictEqual(version.inputs.secretString, { [SPECIAL_SIG_KEY]: SECRET_SIG, value: MOCK_ADMIN_PASSWORD });
        assert.strictEqual(run.one("aws:secretsmanager/secret:Secret", "iguana-admin-password").inputs.kmsKeyId, run.one("aws:kms/key:Key", "iguana-key").state.arn);
    });
});

describe("the admin password never leaks", function () {
    this.timeout(60000);

    it("appears in no rendered file of any worker", async () => {
        for (const edition of ["iguanax", "iguana6"]) {
            const run = await runConfig(awsConfig({ iguana: { edition, installerUrl: "https://downloads.example/iguana.tar.gz" } }));
            const bootstraps = workerBootstraps(run.mocks.resources);
            assert.strictEqual(bootstraps.length, 2);
            for (const b of bootstraps) {
                assert.ok(!b.cloudInit.includes(MOCK_ADMIN_PASSWORD), `${edition} ${b.resource} user data holds the password`);
                for (const r of run.ofType("aws:ec2/instance:Instance")) {
                    assert.ok(!JSON.stringify(r.inputs).includes(MOCK_ADMIN_PASSWORD), `${r.name} inputs hold the password`);
                }
            }
            assert.ok(!JSON.stringify(run.outputs).includes(MOCK_ADMIN_PASSWORD), "plain outputs hold the password");
        }
    });

    it("appears in no plan output: text, JSON or bootstrap", async () => {
        for (const args of [[], ["--json"], ["--show-bootstrap"]]) {
            const result = await runPlan("--stack", "aws-prod", ...args);
            assert.strictEqual(result.code, 0, result.stderr);
            assert.ok(result.stdout.length > 1000);
            assert.ok(!result.stdout.includes(MOCK_ADMIN_PASSWORD) && !result.stderr.includes(MOCK_ADMIN_PASSWORD), `plan ${args.join(" ")} printed the password`);
            if (args[0] === "--show-bootstrap") assert.match(result.stdout, /Bootstrap of iguana-wk1/);
        }
    });
});

describe("worker bootstrap on Azure: Key Vault and identities", () => {
    let run: StackRun;
    before(async () => (run = await runStack("azure-prod")));

    it("each VM identity may only read secrets, and only in this cluster's vault (and write the lease, in its container, and publish its own metrics)", () => {
        const vault = run.ofType("azure-native:keyvault:Vault")[0];
        const leaseContainer = run.one("azure-native:storage:BlobContainer", "iguana-lease");
        assert.strictEqual(vault.inputs.properties.enableRbacAuthorization, true, "RBAC, not access policies");
        const vms = run.ofType("azure-native:compute:VirtualMachine");
        const snapshotGroup = run.one("azure-native:resources:ResourceGroup", "iguana-snapshots-rg");
        const copyGroup = run.one("azure-native:resources:ResourceGroup", "iguana-backup-copy-rg");
        const reader = run.one("azure-native:authorization:RoleDefinition", "iguana-backup-snapshot-reader");
        const copier = run.one("azure-native:authorization:RoleDefinition", "iguana-backup-copier");
        // The VMs' own: the backup vault's identity has its own (backup.test.ts).
        const assignments = run.ofType("azure-native:authorization:RoleAssignment").filter((a) => vms.some((vm) => vm.state.identity.principalId === a.inputs.principalId));
        assert.deepStrictEqual(
            assignments.map((a) => [a.inputs.principalId, a.inputs.scope, a.inputs.roleDefinitionId.split("/").pop(), a.inputs.principalType]).sort(),
            vms
                .flatMap((vm) => [
                    [vm.state.identity.principalId, vault.id, "4633458b-17de-408a-b874-0445c86b69e6", "ServicePrincipal"],
                    [vm.state.identity.principalId, leaseContainer.id, "ba92f5b4-2d11-453d-a403-e96b0029c9fe", "ServicePrincipal"],
                    [vm.state.identity.principalId, vm.id, "3913510d-42f4-4e42-8a64-420c390055eb", "ServicePrincipal"],
                    // backup.copyToRegion: read the backups, copy them (backup-copies.test.ts).
                    [vm.state.identity.principalId, snapshotGroup.id, reader.id!.split("/").pop(), "ServicePrincipal"],
                    [vm.state.identity.principalId, copyGroup.id, copier.id!.split("/").pop(), "ServicePrincipal"],
                ])
                .sort(),
            "one Key Vault Secrets User assignment per VM, scoped to the vault; one Storage Blob Data Contributor, scoped to the lease container; one Monitoring Metrics Publisher, scoped to the VM itself; the backup reader and copier on their groups",
        );
    });

    it("the vault holds the generated password as a secret; custom data only names it", () => {
        const secret = run.ofType("azure-native:keyvault:Secret")[0];
        // Nested inside `properties`, the mocks receive the value without its secret wrapper; the
        // value itself is a secret Output (see "the generated password is a secret Output").
        const value = secret.inputs.properties.value;
        assert.strictEqual(typeof value === "object" ? value.value : value, MOCK_ADMIN_PASSWORD);
        assert.strictEqual(secret.inputs.secretName, "iguana-admin-password");
        for (const b of workerBootstraps(run.mocks.resources)) {
            assert.ok(!b.cloudInit.includes(MOCK_ADMIN_PASSWORD));
            assert.ok(b.cloudInit.includes("https://$vault.vault.azure.net/secrets/$secret_name"));
        }
    });

    it("each worker's lease.json names the one lease blob: the program's account and container, on the blob endpoint", () => {
        const containers = run.ofType("azure-native:storage:BlobContainer");
        const configs = workerBootstraps(run.mocks.resources).map((b) =>
            JSON.parse(cloudInitFiles(b.cloudInit).find((f) => f.path === `${WORKER_PATHS.etcDir}/lease.json`)!.content),
        );
        assert.deepStrictEqual(
            configs.map((c) => [c.self, c.primary]),
            [
                ["wk1", true],
                ["wk2", false],
            ],
        );
        const [url] = new Set(configs.map((c) => c.store.url));
        assert.strictEqual(new Set(configs.map((c) => c.store.url)).size, 1, "both workers contend for the same blob");
        const m = /^https:\/\/([a-z0-9]{3,24})\.blob\.core\.windows\.net\/([^/]+)\/([^/]+)$/.exec(url);
        assert.ok(m, `a blob URL: ${url}`);
        const [, account, container] = m;
        assert.ok(
            containers.some((c) => c.inputs.accountName === account && c.state.name === container),
            `the container ${account}/${container} is one the program built (${containers.map((c) => `${c.inputs.accountName}/${c.state.name}`).join(", ")})`,
        );
        assert.ok(
            run.ofType("azure-native:storage:StorageAccount").some((a) => a.state.name === account),
            `the account ${account} is the program's`,
        );
        for (const c of configs) assert.deepStrictEqual(c.store, { kind: "azure-blob", url, imdsUrl: "http://169.254.169.254" });
    });
});

describe("worker bootstrap: the peer fence only in shared mode", function () {
    this.timeout(120000);
    const leaseOf = (files: CloudInitFile[]) => JSON.parse(files.find((f) => f.path === `${WORKER_PATHS.etcDir}/lease.json`)!.content);

    it("without shared storage no worker gets a peer fence (aws-prod, azure-prod)", async () => {
        for (const stack of ["aws-prod", "azure-prod"]) {
            const run = await runStack(stack);
            for (const b of workerBootstraps(run.mocks.resources)) {
                const files = cloudInitFiles(b.cloudInit);
                assert.strictEqual(leaseOf(files).peerFence, undefined, `${stack} ${b.resource}`);
                assert.ok(!files.some((f) => /peer-fence/.test(f.path)), `${stack} ${b.resource}: no peer-fence files`);
            }
        }
    });

    it("shared storage: each worker's guard stops the previous holder, on AWS by the instance id in the lease, on Azure the peer VM", async () => {
        const shared = { storage: { queueRecovery: "shared" } };
        for (const run of [await runConfig(awsConfig(shared)), await runConfig(azureConfig(shared))]) {
            const bootstraps = workerBootstraps(run.mocks.resources);
            assert.strictEqual(bootstraps.length, 2);
            for (const b of bootstraps) {
                const files = cloudInitFiles(b.cloudInit);
                const lease = leaseOf(files);
                assert.deepStrictEqual(
                    lease.peerFence.command,
                    ["/usr/bin/python3", `${WORKER_PATHS.libDir}/peer-fence.py`, `${WORKER_PATHS.etcDir}/peer-fence.json`, "stop"],
                    b.resource,
                );
                const fence = JSON.parse(files.find((f) => f.path === `${WORKER_PATHS.etcDir}/peer-fence.json`)!.content);
                if (lease.store.kind === "aws-dynamodb") {
                    assert.deepStrictEqual([fence.cloud, fence.aws.region], ["aws", "eu-west-1"], b.resource);
                } else {
                    const peer = b.resource === "iguana-wk1" ? "iguana-wk2" : "iguana-wk1";
                    assert.strictEqual(fence.azure.peerVmId, run.one("azure-native:compute:VirtualMachine", peer).id, `${b.resource} stops ${peer}, never itself`);
                }
            }
        }
    });
});

describe("the generated admin password", () => {
    it("is a secret Output, so Pulumi encrypts it in state and masks it in logs", async () => {
        const pulumi = await import("@pulumi/pulumi");
        const { createAdminPassword } = await import("../components/secrets");
        const { evaluate } = await import("../offline/evaluate");
        let secret = false;
        await evaluate({
            stack: "test",
            config: {},
            run: () => {
                const parent = new pulumi.ComponentResource("test:index:Parent", "p", {});
                const password = createAdminPassword("p", parent);
                return { secret: pulumi.output(pulumi.isSecret(password)).apply((v) => (secret = v)) };
            },
        });
        assert.strictEqual(secret, true);
    });
});
