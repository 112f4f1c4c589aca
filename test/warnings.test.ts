/** Preview-time warnings: what deploys but would not work, said by `pulumi.log.warn` and the plan. */
import * as assert from "assert";
import { DOCUMENTATION_CIDRS } from "../components/constants";
import { awsConfig, azureConfig, runConfig, runPlan, testCertificate } from "./helpers";

const INSTALLER = "https://downloads.example/iguana/iguanax-linux.tar.gz";
const SHA = "ab".repeat(32);
const real = { allowedCidrs: ["10.20.0.0/16"], adminCidrs: ["10.30.0.0/24"], egress: { restricted: true, destinations: [{ cidr: "10.50.1.17/32", port: 6661 }] } };

describe("preview-time warnings (pulumi.log.warn)", function () {
    this.timeout(60000);

    for (const [cloud, config] of [
        ["aws", awsConfig],
        ["azure", azureConfig],
    ] as const) {
        it(`${cloud}: no installer URL warns that the workers never become healthy; an installer and its checksum silence it`, async () => {
            const bare = await runConfig(config({ network: real }));
            assert.ok(
                bare.mocks.warnings.some((w) => w.startsWith("iguana-ha:iguana.installerUrl: is not set") && /no health check ever passes/.test(w)),
                bare.mocks.warnings.join("\n"),
            );

            const unchecked = await runConfig(config({ network: real, iguana: { installerUrl: INSTALLER } }));
            assert.ok(!unchecked.mocks.warnings.some((w) => w.includes("installerUrl: is not set")));
            assert.ok(
                unchecked.mocks.warnings.some((w) => w.startsWith("iguana-ha:iguana.installerSha256: is not set")),
                unchecked.mocks.warnings.join("\n"),
            );

            const complete = await runConfig(
                config({
                    network: real,
                    iguana: { installerUrl: INSTALLER, installerSha256: SHA },
                    tls: testCertificate(),
                    alerts: { emails: ["hl7-oncall@hospital.example"] },
                    ...(cloud === "azure" ? { storage: { customerManagedKey: true } } : {}),
                }),
            );
            assert.deepStrictEqual(complete.mocks.warnings, [], "a complete configuration warns about nothing");
        });

        it(`${cloud}: alerts that reach nobody (no alerts.emails, no alerts.webhookUrl) are warned about; one address silences it`, async () => {
            const silent = await runConfig(config({ network: real, iguana: { installerUrl: INSTALLER, installerSha256: SHA }, tls: testCertificate() }));
            const warning = silent.mocks.warnings.find((w) => w.startsWith("iguana-ha:alerts.emails: is empty and alerts.webhookUrl is not set"));
            assert.match(warning ?? silent.mocks.warnings.join("\n"), /tells nobody; add the on-call address: pulumi config set --path 'iguana-ha:alerts\.emails\[0\]' <address>/);
            for (const alerts of [{ emails: ["hl7-oncall@hospital.example"] }, { webhookUrl: "https://events.pager.example/v1/abc" }]) {
                const told = await runConfig(config({ network: real, iguana: { installerUrl: INSTALLER, installerSha256: SHA }, tls: testCertificate(), alerts }));
                assert.ok(!told.mocks.warnings.some((w) => w.startsWith("iguana-ha:alerts.")), JSON.stringify(alerts));
            }
        });
    }

    it("documentation-range CIDRs in allowedCidrs, adminCidrs or egress destinations are named, each with its key", async () => {
        const inside = (range: string) => range.replace(/\.0\/24$/, ".64/26");
        const [a, b, c] = DOCUMENTATION_CIDRS;
        const run = await runConfig(
            awsConfig({
                iguana: { installerUrl: INSTALLER, installerSha256: SHA },
                tls: testCertificate(),
                alerts: { emails: ["hl7-oncall@hospital.example"] },
                network: {
                    allowedCidrs: ["10.20.0.0/16", inside(a), b],
                    adminCidrs: [inside(c)],
                    egress: {
                        restricted: true,
                        destinations: [
                            { cidr: "10.50.1.17/32", port: 6661 },
                            { cidr: inside(b), port: 6661 },
                        ],
                    },
                },
            }),
        );
        const keys = run.mocks.warnings.map((w) => w.split(": ")[0]);
        assert.deepStrictEqual(keys, [
            "iguana-ha:network.allowedCidrs[1]",
            "iguana-ha:network.allowedCidrs[2]",
            "iguana-ha:network.adminCidrs[0]",
            "iguana-ha:network.egress.destinations[1].cidr",
        ]);
        assert.match(run.mocks.warnings[0], /documentation range 192\.0\.2\.0\/24 \(RFC 5737\)/);
    });

    it("a plain-http installer and an empty adminCidrs are warned about", async () => {
        const run = await runConfig(
            awsConfig({ iguana: { installerUrl: INSTALLER.replace("https", "http"), installerSha256: SHA }, network: { allowedCidrs: real.allowedCidrs } }),
        );
        assert.ok(run.mocks.warnings.some((w) => w.startsWith("iguana-ha:iguana.installerUrl: is plain http")));
        assert.ok(run.mocks.warnings.some((w) => w.startsWith("iguana-ha:network.adminCidrs: is empty")));
    });

    it("a secret installer URL never appears in a warning", async () => {
        const presigned = `${INSTALLER.replace("https", "http")}?X-Amz-Signature=feedface`;
        const run = await runConfig(awsConfig({ iguana: { installerUrl: presigned }, network: real }));
        assert.ok(run.mocks.warnings.length > 0);
        for (const w of run.mocks.warnings) assert.ok(!w.includes("feedface"), w);
    });

    it("the offline plan prints what the program warned, as text and as JSON", async () => {
        const text = await runPlan("--stack", "aws-dev");
        const json = JSON.parse((await runPlan("--stack", "aws-dev", "--json")).stdout);
        assert.ok(json.warnings.length > 0 && json.warnings.some((w: string) => w.startsWith("iguana-ha:iguana.installerUrl: is not set")));
        for (const w of json.warnings) assert.ok(text.stdout.includes(`  - ${w}\n`), `text plan lacks: ${w}`);
    });
});
