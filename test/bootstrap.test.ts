import * as assert from "assert";
import * as yaml from "js-yaml";
import { ROLE_PROBE_PATH, ROLE_PROBE_PORT } from "../components/constants";
import { validateClusterConfig } from "../components/config";
import { planNetwork, planWorkers } from "../components/model";
import {
    IGUANA_UNIT,
    LLP_CHAIN,
    WORKER_PATHS,
    bootstrapSettings,
    renderCheckIguanaScript,
    renderCloudInit,
    renderInstallIguanaScript,
    renderKeepalivedConf,
    renderLlpGateScript,
    renderPrepareDiskScript,
    renderWorkerFiles,
    roleProbeArgs,
    tcpKeepaliveSeconds,
} from "../components/bootstrap";
import { MOCK_ADMIN_PASSWORD } from "../tools/mocks";
import { cloudInitFiles, workerBootstraps } from "../tools/worker-bootstrap";
import { StackRun, awsConfig, runConfig, runPlan, runStack } from "./helpers";

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
const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr));
const awsSources = (volumeId = "vol-0abc") => ({
    dataDisk: { kind: "aws-ebs" as const, volumeId },
    adminPassword: { kind: "aws-secrets-manager" as const, secretArn: "arn:aws:secretsmanager:us-east-1:1:secret:pw", region: "us-east-1" },
});

describe("worker bootstrap: rendered text", () => {
    const s1 = bootstrapSettings(cfg, wk1, wk2, awsSources());
    const s2 = bootstrapSettings(cfg, wk2, wk1, awsSources());

    it("each worker's keepalived names itself as source and the other as its only peer", () => {
        for (const [s, self, peer] of [
            [s1, wk1, wk2],
            [s2, wk2, wk1],
        ] as const) {
            const conf = renderKeepalivedConf(s);
            assert.match(conf, new RegExp(`unicast_src_ip ${self.privateIp.replace(/\./g, "\\.")}\\n`));
            const peers = /unicast_peer \{([^}]*)\}/.exec(conf)![1].trim().split(/\s+/);
            assert.deepStrictEqual(peers, [peer.privateIp]);
        }
    });

    it("WK1 has the higher priority, both start BACKUP with nopreempt and a 1 s advert", () => {
        const p1 = Number(/priority (\d+)/.exec(renderKeepalivedConf(s1))![1]);
        const p2 = Number(/priority (\d+)/.exec(renderKeepalivedConf(s2))![1]);
        assert.ok(p1 > p2, `${p1} > ${p2}`);
        for (const conf of [renderKeepalivedConf(s1), renderKeepalivedConf(s2)]) {
            assert.match(conf, /state BACKUP\n\s+nopreempt\n/);
            assert.match(conf, /advert_int 1\n/);
            assert.match(conf, /enable_script_security/);
            assert.match(conf, /track_script \{\s+iguana_healthy\s+\}/);
            assert.match(conf, new RegExp(`notify "${WORKER_PATHS.libDir}/notify.sh"`));
            assert.doesNotMatch(conf, /vrrp_strict/, "strict mode forbids unicast");
        }
    });

    it("the LLP gate rejects exactly the LLP channel ports, with a TCP reset", () => {
        const gate = renderLlpGateScript(s1);
        const rejected = [...gate.matchAll(/--dports ([\d,]+) -j REJECT --reject-with tcp-reset/g)].flatMap((m) => m[1].split(",").map(Number));
        assert.deepStrictEqual(rejected.sort(), [2575, 2576]);
        assert.match(gate, new RegExp(`chain=${LLP_CHAIN}`));
        assert.match(gate, /ss -K/, "established connections are killed on demotion");
    });

    it("splits many LLP ports into multiport rules of at most 15", () => {
        const many = { ...s1, gatedPorts: Array.from({ length: 40 }, (_, i) => 3000 + i) };
        const rules = [...renderLlpGateScript(many).matchAll(/--dports ([\d,]+)/g)].map((m) => m[1].split(",").length);
        assert.deepStrictEqual(rules, [15, 15, 10]);
    });

    it("the track script checks IguanaX /health, or TCP for Iguana 6", () => {
        assert.match(renderCheckIguanaScript(s1), /curl -fsS -o \/dev\/null -m 2 'http:\/\/127\.0\.0\.1:7654\/health'/);
        const six = bootstrapSettings(validateClusterConfig({ ...cfgRaw(), iguana: { edition: "iguana6" } }, "t"), wk1, wk2, awsSources());
        assert.match(renderCheckIguanaScript(six), /\/dev\/tcp\/127\.0\.0\.1\/6543/);
    });

    it("the role probe serves the same port and path the load balancer checks", () => {
        const args = roleProbeArgs(s1);
        assert.deepStrictEqual([args[args.indexOf("--port") + 1], args[args.indexOf("--path") + 1]], [String(ROLE_PROBE_PORT), ROLE_PROBE_PATH]);
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
            for (const line of ["Requires=iguana-data.service", "After=iguana-data.service", `RequiresMountsFor=${WORKER_PATHS.workingDir}`, `ExecStartPre=/usr/bin/mountpoint -q ${WORKER_PATHS.dataMount}`]) {
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

    it("gives only the backup a head start after boot", () => {
        assert.match(renderCheckIguanaScript(s2), /head-start-done/);
        assert.doesNotMatch(renderCheckIguanaScript(s1), /head-start/);
    });

    it("finds the Azure data disk at LUN 0", () => {
        const azure = bootstrapSettings({ ...cfg, cloud: "azure" }, wk1, wk2, { dataDisk: { kind: "azure-lun", lun: 0 } });
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

    it("every script keepalived runs is shipped, executable and owned by root", () => {
        const files = cloudInitFiles(renderCloudInit(s1));
        const conf = files.find((f) => f.path === WORKER_PATHS.keepalivedConf)!;
        const scripts = [...conf.content.matchAll(/(?:script|notify) "([^"]+)"/g)].map((m) => m[1]);
        assert.ok(scripts.length >= 2);
        for (const script of scripts) {
            const file = files.find((f) => f.path === script);
            assert.ok(file, `${script} is written by cloud-init`);
            assert.deepStrictEqual([file.permissions, file.owner], ["0755", "root:root"]);
        }
        assert.strictEqual(conf.defer, true, "keepalived.conf is written after packages, so keepalived does not start early");
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

    it("each worker's keepalived peers with the other worker's planned address", () => {
        const [b1, b2] = workerBootstraps(run.mocks.resources);
        const ip = (name: string) => run.one("aws:ec2/instance:Instance", name).inputs.privateIp;
        assert.match(b1.cloudInit, new RegExp(`unicast_src_ip ${ip("iguana-wk1")}\\n[\\s\\S]*unicast_peer \\{\\s+${ip("iguana-wk2")}\\s+\\}`));
        assert.match(b2.cloudInit, new RegExp(`unicast_src_ip ${ip("iguana-wk2")}\\n[\\s\\S]*unicast_peer \\{\\s+${ip("iguana-wk1")}\\s+\\}`));
    });

    it("the role probe listens where the target groups check", () => {
        const checks = run.ofType("aws:lb/targetGroup:TargetGroup").map((t) => t.inputs.healthCheck).filter((h) => h.path === ROLE_PROBE_PATH);
        assert.ok(checks.length >= 2);
        for (const b of workerBootstraps(run.mocks.resources)) {
            const unit = cloudInitFiles(b.cloudInit).find((f) => f.path.endsWith("iguana-role-probe.service"))!;
            for (const h of checks) {
                assert.ok(unit.content.includes(`--port ${h.port} --path ${h.path} `), `${b.resource}: probe on ${h.port}${h.path}`);
            }
        }
    });

    it("the LLP gate closes exactly the ports of the LLP listeners", () => {
        const llpPorts = run
            .ofType("aws:lb/listener:Listener")
            .filter((l) => l.name !== "iguana-dashboard" && !l.name.includes("results-api"))
            .map((l) => l.inputs.port)
            .sort();
        for (const b of workerBootstraps(run.mocks.resources)) {
            const gate = cloudInitFiles(b.cloudInit).find((f) => f.path.endsWith("llp-gate.sh"))!;
            const closed = [...gate.content.matchAll(/--dports ([\d,]+)/g)].flatMap((m) => m[1].split(",").map(Number)).sort();
            assert.deepStrictEqual(closed, llpPorts);
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
        const keyArn = run.one("aws:kms/key:Key", "iguana-key").state.arn;
        assert.deepStrictEqual(
            policy.Statement.map((s: any) => [s.Effect, s.Action, s.Resource]),
            [
                ["Allow", "secretsmanager:GetSecretValue", secretArn],
                ["Allow", "kms:Decrypt", keyArn],
            ],
        );
        assert.deepStrictEqual(policy.Statement[1].Condition, { StringEquals: { "kms:ViaService": "secretsmanager.us-east-2.amazonaws.com" } });
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

    it("each VM identity may only read secrets, and only in this cluster's vault (and write the lease, in its container)", () => {
        const vault = run.ofType("azure-native:keyvault:Vault")[0];
        const leaseContainer = run.one("azure-native:storage:BlobContainer", "iguana-lease");
        assert.strictEqual(vault.inputs.properties.enableRbacAuthorization, true, "RBAC, not access policies");
        const assignments = run.ofType("azure-native:authorization:RoleAssignment");
        const vms = run.ofType("azure-native:compute:VirtualMachine");
        assert.deepStrictEqual(
            assignments.map((a) => [a.inputs.principalId, a.inputs.scope, a.inputs.roleDefinitionId.split("/").pop(), a.inputs.principalType]).sort(),
            vms
                .flatMap((vm) => [
                    [vm.state.identity.principalId, vault.id, "4633458b-17de-408a-b874-0445c86b69e6", "ServicePrincipal"],
                    [vm.state.identity.principalId, leaseContainer.id, "ba92f5b4-2d11-453d-a403-e96b0029c9fe", "ServicePrincipal"],
                ])
                .sort(),
            "one Key Vault Secrets User assignment per VM, scoped to the vault; one Storage Blob Data Contributor, scoped to the lease container",
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

    it("keepalived speaks over the VXLAN overlay to the peer's overlay address", () => {
        const [b1, b2] = workerBootstraps(run.mocks.resources);
        assert.match(b1.cloudInit, /unicast_src_ip 169\.254\.112\.1\n\s+unicast_peer \{\s+169\.254\.112\.2\s+\}/);
        assert.match(b2.cloudInit, /unicast_src_ip 169\.254\.112\.2\n\s+unicast_peer \{\s+169\.254\.112\.1\s+\}/);
    });
});

describe("the generated admin password", () => {
    it("is a secret Output, so Pulumi encrypts it in state and masks it in logs", async () => {
        const pulumi = await import("@pulumi/pulumi");
        const { createAdminPassword } = await import("../components/secrets");
        const { evaluate } = await import("../tools/evaluate");
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
