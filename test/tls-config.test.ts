/**
 * The `tls` key: its default (on with network.public), the mistakes it refuses, the preview's
 * warnings, and what each cloud builds from it under mocks: the bundle in the secret store under
 * the cluster's key, read by the workers' identity only, never in user data or the plan.
 */
import * as assert from "assert";
import { ConfigValidationError, RawClusterConfig, validateClusterConfig } from "../components/config";
import { deploymentWarnings } from "../components/warnings";
import { TLS_LISTEN_PORT_BASE } from "../components/constants";
import { MOCK_TLS_PRIVATE_KEY } from "../offline/mocks";
import { cloudInitFiles, workerBootstraps } from "../offline/worker-bootstrap";
import { tlsOnPublicClusters } from "../policy/policies";
import { awsConfig, azureConfig, clearState, runConfig, testCertificate } from "./helpers";
import { stackViolations } from "./policy-harness";

const base = (overrides: Partial<RawClusterConfig> = {}): RawClusterConfig => ({
    cloud: "aws",
    region: "us-east-1",
    channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
    network: { allowedCidrs: ["10.20.0.0/16"] },
    ...overrides,
});

function problems(raw: RawClusterConfig): { key: string; message: string }[] {
    try {
        validateClusterConfig(raw, "t");
    } catch (e) {
        if (e instanceof ConfigValidationError) return e.problems;
        throw e;
    }
    return [];
}

function expectProblem(raw: RawClusterConfig, key: string, ...fragments: string[]): void {
    const found = problems(raw).find((p) => p.key === `iguana-ha:${key}`);
    assert.ok(found, `no problem for ${key}: ${JSON.stringify(problems(raw))}`);
    for (const f of fragments) assert.ok(found.message.includes(f), `${key}: "${f}" not in: ${found.message}`);
}

describe("tls: the key", () => {
    it("is on for an internet-facing cluster and off for an internal one, unless set", () => {
        assert.strictEqual(validateClusterConfig(base(), "t").tls.enabled, true);
        assert.strictEqual(validateClusterConfig(base({ network: { allowedCidrs: ["10.20.0.0/16"], public: false } }), "t").tls.enabled, false);
        assert.strictEqual(validateClusterConfig(base({ tls: { enabled: false } }), "t").tls.enabled, false);
        assert.strictEqual(validateClusterConfig(base({ network: { allowedCidrs: ["10.20.0.0/16"], public: false }, tls: { enabled: true } }), "t").tls.enabled, true);
    });

    it("refuses a certificate without its key, a key that is not the certificate's, and a CA where the server's certificate belongs", () => {
        const mine = testCertificate();
        const other = testCertificate("other.hospital.example");
        expectProblem(base({ tls: { certificate: mine.certificate } }), "tls.privateKey", "is required with tls.certificate");
        expectProblem(base({ tls: { privateKey: mine.privateKey } }), "tls.certificate", "is required with tls.privateKey");
        expectProblem(base({ tls: { certificate: mine.certificate, privateKey: other.privateKey } }), "tls.privateKey", "is not the key of tls.certificate");
        expectProblem(base({ tls: testCertificate("ca.hospital.example", { ca: true }) }), "tls.certificate", "starts with a CA certificate");
        expectProblem(base({ tls: { certificate: "/etc/ssl/hl7.pem", privateKey: mine.privateKey } }), "tls.certificate", "not its path");
        expectProblem(
            base({ tls: { certificate: mine.certificate, privateKey: "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----" } }),
            "tls.privateKey",
            "is not a PEM private key",
        );
        assert.deepStrictEqual(problems(base({ tls: mine })), [], "the pair that belongs together is taken");
    });

    it("refuses a client CA bundle that holds a server's certificate", () => {
        expectProblem(base({ tls: { clientCa: testCertificate().certificate } }), "tls.clientCa", "is not a CA");
        assert.deepStrictEqual(problems(base({ tls: { clientCa: testCertificate("senders.hospital.example", { ca: true }).certificate } })), []);
    });

    it("refuses a private key kept in clear in the stack file, naming the command that keeps it secret", () => {
        const pair = testCertificate();
        const inClear = { key: "iguana-ha:tls", value: JSON.stringify(pair) };
        expectProblem({ ...base({ tls: pair }), stackKeys: [inClear] }, "tls.privateKey", "stored in clear", "--secret");
        // A secret key: the engine withholds its value from the program's view of the stack's keys.
        assert.deepStrictEqual(problems({ ...base({ tls: pair }), stackKeys: [{ key: "iguana-ha:tls", value: undefined }] }), []);
    });

    it("refuses TLS settings with TLS off, and a channel on one of stunnel's ports", () => {
        expectProblem(base({ tls: { enabled: false, clientCa: "x" } }), "tls.clientCa", "tls.enabled is false");
        expectProblem(base({ channels: [{ name: "adt-in", protocol: "llp", port: TLS_LISTEN_PORT_BASE }] }), "channels[0].port", "stunnel listens on");
        assert.deepStrictEqual(problems(base({ channels: [{ name: "adt-in", protocol: "llp", port: TLS_LISTEN_PORT_BASE }], tls: { enabled: false } })), []);
    });

    it("the preview warns when a public cluster runs in clear, and while the certificate is the self-signed one", () => {
        const keys = (raw: RawClusterConfig) => deploymentWarnings(validateClusterConfig(raw, "t")).map((w) => w.key);
        assert.ok(keys(base({ tls: { enabled: false } })).includes("iguana-ha:tls.enabled"));
        assert.ok(keys(base()).includes("iguana-ha:tls.certificate"));
        assert.ok(!keys(base({ tls: testCertificate() })).some((k) => k.startsWith("iguana-ha:tls")));
        assert.ok(
            !keys(base({ network: { allowedCidrs: ["10.20.0.0/16"], public: false } })).some((k) => k.startsWith("iguana-ha:tls")),
            "an internal cluster in clear is a choice",
        );
    });
});

describe("tls: what each cloud builds", function () {
    this.timeout(60000);

    it("AWS: the bundle in Secrets Manager under the cluster's key, readable by the workers' role, never in user data or the plan", async () => {
        const pair = testCertificate();
        const run = await runConfig(awsConfig({ tls: pair }));
        const secret = run.one("aws:secretsmanager/secret:Secret", "iguana-tls");
        assert.strictEqual(secret.inputs.kmsKeyId, run.one("aws:kms/key:Key", "iguana-key").state.arn);
        const version = run.one("aws:secretsmanager/secretVersion:SecretVersion", "iguana-tls");
        assert.deepStrictEqual(JSON.parse(version.inputs.secretString.value), { certificate: pair.certificate, privateKey: pair.privateKey });
        assert.ok(version.inputs.secretString["4dabf18193072939515e22adb298388d"], "the bundle is a secret");
        const policy = JSON.parse(run.one("aws:iam/rolePolicy:RolePolicy", "iguana-worker-read-secret").inputs.policy);
        assert.ok(policy.Statement.some((s: { Action: string; Resource: string }) => s.Action === "secretsmanager:GetSecretValue" && s.Resource === secret.state.arn));
        assert.strictEqual(run.ofType("tls:index/selfSignedCert:SelfSignedCert").length, 0, "no self-signed certificate when one is given");
        const keyBody = pair.privateKey.split("\n")[1];
        for (const b of workerBootstraps(run.mocks.resources)) {
            assert.ok(!b.cloudInit.includes(keyBody), `${b.resource}: the private key is not in user data`);
            const fetch = cloudInitFiles(b.cloudInit).find((f) => f.path.endsWith("/fetch-tls.sh"))!;
            assert.ok(fetch.content.includes(secret.state.arn), `${b.resource}: fetch-tls.sh reads the bundle's secret`);
        }
        assert.ok(!clearState(run.mocks.resources).includes(keyBody), "the key appears nowhere in clear");
    });

    it("AWS and Azure: without a certificate, a self-signed pair is made, its key secret and never in user data", async () => {
        for (const config of [awsConfig, azureConfig]) {
            const run = await runConfig(config({}));
            assert.strictEqual(run.ofType("tls:index/selfSignedCert:SelfSignedCert").length, 1);
            const body = MOCK_TLS_PRIVATE_KEY.split("\n")[1];
            for (const b of workerBootstraps(run.mocks.resources)) assert.ok(!b.cloudInit.includes(body));
            assert.ok(!clearState(run.mocks.resources).includes(body), "the self-signed key appears nowhere in clear");
        }
    });

    it("Azure: the bundle is a secret of the private vault the workers read", async () => {
        const run = await runConfig(azureConfig({ tls: { ...testCertificate(), clientCa: testCertificate("senders.hospital.example", { ca: true }).certificate } }));
        const secret = run.one("azure-native:keyvault:Secret", "iguana-tls");
        assert.strictEqual(secret.inputs.secretName, "iguana-tls");
        assert.ok(secret.inputs.properties["4dabf18193072939515e22adb298388d"], "the bundle is a secret");
        assert.strictEqual(secret.inputs.vaultName, run.one("azure-native:keyvault:Vault", "iguana-kv").state.name);
        for (const b of workerBootstraps(run.mocks.resources)) {
            const stunnel = cloudInitFiles(b.cloudInit).find((f) => f.path.endsWith("/stunnel.conf"))!.content;
            assert.match(stunnel, /^verifyChain = yes$/m, "mutual TLS: the sender's chain is checked");
            assert.match(stunnel, /^requireCert = yes$/m);
        }
    });

    it("TLS off: no secret, no stunnel, nothing redirected", async () => {
        const run = await runConfig(awsConfig({ tls: { enabled: false } }));
        assert.strictEqual(run.ofType("aws:secretsmanager/secret:Secret").filter((s) => s.name === "iguana-tls").length, 0);
        for (const b of workerBootstraps(run.mocks.resources)) {
            const files = cloudInitFiles(b.cloudInit);
            assert.ok(!files.some((f) => f.path.endsWith("/stunnel.conf") || f.path.endsWith("/fetch-tls.sh")));
            assert.ok(!files.find((f) => f.path.endsWith("/llp-gate.sh"))!.content.includes("REDIRECT"));
        }
    });
});

describe("tls: the policy pack", function () {
    this.timeout(60000);
    const resources = (run: Awaited<ReturnType<typeof runConfig>>) => run.mocks.resources.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.state }));

    for (const [cloud, config] of [
        ["aws", awsConfig],
        ["azure", azureConfig],
    ] as const) {
        it(`${cloud}: an internet-facing cluster in clear fails tls-on-public-clusters; with TLS, or internal, it passes`, async () => {
            const plain = await runConfig(config({ tls: { enabled: false } }));
            const found = await stackViolations(tlsOnPublicClusters, resources(plain));
            assert.strictEqual(found.length, 2, found.join("\n"));
            assert.match(found[0], /serves its channels in clear/);
            assert.deepStrictEqual(await stackViolations(tlsOnPublicClusters, resources(await runConfig(config({})))), []);
            const internal = await runConfig(config({ network: { allowedCidrs: ["10.20.0.0/16"], public: false } }));
            assert.deepStrictEqual(await stackViolations(tlsOnPublicClusters, resources(internal)), [], "an internal cluster may run in clear");
        });
    }

    it("aws: a floating-IP cluster (no load balancer) is internet-facing too", async () => {
        const floating = { failover: { strategy: "floating-ip" } };
        const plain = await runConfig(awsConfig({ ...floating, tls: { enabled: false } }));
        assert.strictEqual((await stackViolations(tlsOnPublicClusters, resources(plain))).length, 2);
        assert.deepStrictEqual(await stackViolations(tlsOnPublicClusters, resources(await runConfig(awsConfig(floating)))), []);
    });
});
