import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigValidationError, RawClusterConfig, validateClusterConfig } from "../components/config";
import { DEFAULTS, EDITION_WEB_PORT, LEASE_SECONDS, ROLE_PROBE_PORT } from "../components/constants";
import { bootstrapSettings } from "../components/bootstrap";
import { planNetwork, planWorkers } from "../components/model";

const base = (overrides: Partial<RawClusterConfig> = {}): RawClusterConfig => ({
    cloud: "aws",
    region: "us-east-1",
    channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
    network: { allowedCidrs: ["198.51.100.0/24"] },
    ...overrides,
});

/** Validation must fail and one problem must name `key` and contain every fragment. */
function expectProblem(raw: RawClusterConfig, key: string, ...fragments: string[]): ConfigValidationError {
    let error: unknown;
    try {
        validateClusterConfig(raw, "test");
    } catch (e) {
        error = e;
    }
    assert.ok(error instanceof ConfigValidationError, `expected a ConfigValidationError for ${key}, got ${String(error)}`);
    const problem = error.problems.find((p) => p.key === `iguana-ha:${key}` || p.key === key);
    assert.ok(problem, `no problem for key ${key}; problems: ${error.message}`);
    for (const fragment of fragments) {
        assert.ok(problem.message.includes(fragment), `message for ${key} lacks "${fragment}": ${problem.message}`);
    }
    assert.ok(error.message.includes(problem.key), "the thrown message names the key");
    return error;
}

describe("config model", () => {
    it("fills every default from one place", () => {
        const cfg = validateClusterConfig(base(), "aws-dev");
        assert.strictEqual(cfg.environment, "aws-dev", "environment defaults to the stack name");
        assert.strictEqual(cfg.iguana.edition, DEFAULTS.edition);
        assert.strictEqual(cfg.iguana.webPort, EDITION_WEB_PORT.iguanax);
        assert.strictEqual(cfg.network.cidr, DEFAULTS.networkCidr);
        assert.strictEqual(cfg.network.public, true);
        assert.deepStrictEqual(cfg.network.adminCidrs, []);
        assert.strictEqual(cfg.network.natGateways, "one-per-zone");
        assert.strictEqual(cfg.workers.size, DEFAULTS.workerSize.aws);
        assert.strictEqual(cfg.workers.dataDiskGb, DEFAULTS.dataDiskGb);
        assert.strictEqual(cfg.workers.dedicated, false);
        assert.strictEqual(cfg.workers.encryptionAtHost, false);
        assert.deepStrictEqual(cfg.failover, {
            strategy: DEFAULTS.failoverStrategy,
            healthCheckIntervalSeconds: DEFAULTS.healthCheckIntervalSeconds,
            unhealthyThreshold: DEFAULTS.unhealthyThreshold,
            idleTimeoutSeconds: DEFAULTS.idleTimeoutSeconds,
            leaseSeconds: DEFAULTS.leaseSeconds,
        });
        assert.deepStrictEqual(cfg.channels, [{ name: "adt-in", protocol: "llp", port: 2575, mode: "active-passive" }]);
    });

    it("takes failover.leaseSeconds at both ends of its range, with either strategy", () => {
        for (const strategy of ["load-balancer", "floating-ip"]) {
            for (const leaseSeconds of [LEASE_SECONDS.min, 15, LEASE_SECONDS.max]) {
                assert.strictEqual(validateClusterConfig(base({ failover: { strategy, leaseSeconds } }), "t").failover.leaseSeconds, leaseSeconds, `${strategy} ${leaseSeconds}`);
            }
            assert.strictEqual(validateClusterConfig(base({ failover: { strategy } }), "t").failover.leaseSeconds, DEFAULTS.leaseSeconds, `${strategy}: the default`);
        }
    });

    it("hands failover.leaseSeconds to each worker's bootstrap settings", () => {
        const cfg = validateClusterConfig(base({ failover: { leaseSeconds: 12 } }), "t");
        const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr));
        assert.strictEqual(bootstrapSettings(cfg, wk1, wk2, { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" } }).leaseSeconds, 12);
        const defaulted = validateClusterConfig(base(), "t");
        assert.strictEqual(bootstrapSettings(defaulted, wk2, wk1, { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" } }).leaseSeconds, DEFAULTS.leaseSeconds);
    });

    it("uses the Iguana 6 web port for that edition and keeps an explicit one", () => {
        assert.strictEqual(validateClusterConfig(base({ iguana: { edition: "iguana6" } }), "t").iguana.webPort, 6543);
        assert.strictEqual(validateClusterConfig(base({ iguana: { webPort: 9000 } }), "t").iguana.webPort, 9000);
    });

    it("HTTP channels default to active-passive and may be active-active", () => {
        const cfg = validateClusterConfig(
            base({
                channels: [
                    { name: "a", protocol: "http", port: 8080 },
                    { name: "b", protocol: "http", port: 8081, mode: "active-active" },
                ],
            }),
            "t",
        );
        assert.deepStrictEqual(
            cfg.channels.map((c) => c.mode),
            ["active-passive", "active-active"],
        );
    });

    describe("rejects, naming the key", () => {
        it("a missing cloud", () => expectProblem(base({ cloud: undefined }), "cloud", "required", '"aws"', '"azure"'));
        it("an unknown cloud", () => expectProblem(base({ cloud: "gcp" }), "cloud", '"gcp"', '"aws", "azure"'));
        it("a missing region for the cloud", () => expectProblem(base({ region: undefined }), "aws:region", "required"));
        it("missing channels", () => expectProblem(base({ channels: undefined }), "channels", "required"));
        it("an empty channel list", () => expectProblem(base({ channels: [] }), "channels", "at least one"));
        it("channels that are not a list", () => expectProblem(base({ channels: "adt" }), "channels", "must be a list"));
        it("duplicate channel names", () =>
            expectProblem(
                base({
                    channels: [
                        { name: "adt", protocol: "llp", port: 2575 },
                        { name: "adt", protocol: "llp", port: 2576 },
                    ],
                }),
                "channels[1].name",
                "already used by channels[0]",
            ));
        it("a channel name that is not DNS-safe", () =>
            expectProblem(base({ channels: [{ name: "ADT_In", protocol: "llp", port: 2575 }] }), "channels[0].name", "not DNS-safe", "lowercase"));
        it("a channel name that is too long", () => expectProblem(base({ channels: [{ name: "a".repeat(25), protocol: "llp", port: 2575 }] }), "channels[0].name", "at most 24"));
        it("a port above 65535", () => expectProblem(base({ channels: [{ name: "a", protocol: "llp", port: 70000 }] }), "channels[0].port", "1-65535"));
        it("port 0", () => expectProblem(base({ channels: [{ name: "a", protocol: "llp", port: 0 }] }), "channels[0].port", "1-65535"));
        it("a port given as a string", () => expectProblem(base({ channels: [{ name: "a", protocol: "llp", port: "2575" }] }), "channels[0].port", "whole number", '"2575"'));
        it("duplicate ports", () =>
            expectProblem(
                base({
                    channels: [
                        { name: "a", protocol: "llp", port: 2575 },
                        { name: "b", protocol: "http", port: 2575 },
                    ],
                }),
                "channels[1].port",
                "already used by channels[0]",
            ));
        it("a port on the web port", () => expectProblem(base({ channels: [{ name: "a", protocol: "http", port: 7654 }] }), "channels[0].port", "Iguana web port"));
        it("a port on the role-probe port", () => expectProblem(base({ channels: [{ name: "a", protocol: "llp", port: ROLE_PROBE_PORT }] }), "channels[0].port", "role probe"));
        it("a port on 22", () => expectProblem(base({ channels: [{ name: "a", protocol: "llp", port: 22 }] }), "channels[0].port", "SSH"));
        it("a port on 3389", () => expectProblem(base({ channels: [{ name: "a", protocol: "llp", port: 3389 }] }), "channels[0].port", "RDP"));
        it("workers.encryptionAtHost on AWS", () => expectProblem(base({ workers: { encryptionAtHost: true } }), "workers.encryptionAtHost", "Azure setting", "KMS-encrypted"));
        it("an active-active LLP channel", () =>
            expectProblem(
                base({ channels: [{ name: "a", protocol: "llp", port: 2575, mode: "active-active" }] }),
                "channels[0].mode",
                "cannot be active-active",
                '"active-passive"',
            ));
        it("an unknown protocol", () => expectProblem(base({ channels: [{ name: "a", protocol: "tcp", port: 2575 }] }), "channels[0].protocol", '"llp", "http"'));
        it("an unknown channel key", () => expectProblem(base({ channels: [{ name: "a", protocol: "llp", port: 2575, ports: 1 }] }), "channels[0].ports", "not a known key"));
        it("no network at all", () => expectProblem(base({ network: undefined }), "network", "allowedCidrs"));
        it("no allowedCidrs", () => expectProblem(base({ network: {} }), "network.allowedCidrs", "required"));
        it("empty allowedCidrs", () => expectProblem(base({ network: { allowedCidrs: [] } }), "network.allowedCidrs", "empty"));
        it("a malformed allowed CIDR", () => expectProblem(base({ network: { allowedCidrs: ["10.0.0.300/24"] } }), "network.allowedCidrs[0]", "invalid IPv4", "203.0.113.0/24"));
        it("an allowed CIDR with host bits", () => expectProblem(base({ network: { allowedCidrs: ["10.0.0.5/24"] } }), "network.allowedCidrs[0]", "host bits", "10.0.0.0/24"));
        it("a malformed admin CIDR", () => expectProblem(base({ network: { allowedCidrs: ["10.0.0.0/8"], adminCidrs: ["office"] } }), "network.adminCidrs[0]", "a.b.c.d/n"));
        it("the whole Internet as admin CIDR", () =>
            expectProblem(base({ network: { allowedCidrs: ["10.0.0.0/8"], adminCidrs: ["0.0.0.0/0"] } }), "network.adminCidrs[0]", "whole Internet"));
        it("a network CIDR too small to carve", () => expectProblem(base({ network: { allowedCidrs: ["10.0.0.0/8"], cidr: "10.0.0.0/26" } }), "network.cidr", "/16 to /24"));
        it("an unknown NAT gateway choice", () =>
            expectProblem(base({ network: { allowedCidrs: ["10.0.0.0/8"], natGateways: "none" } }), "network.natGateways", '"one-per-zone", "single"'));
        it("network.public that is not a boolean", () => expectProblem(base({ network: { allowedCidrs: ["10.0.0.0/8"], public: "yes" } }), "network.public", "true or false"));
        it("an NLB health-check interval below 5 s", () => expectProblem(base({ failover: { healthCheckIntervalSeconds: 4 } }), "failover.healthCheckIntervalSeconds", "5-300"));
        it("an NLB health-check interval above 300 s", () =>
            expectProblem(base({ failover: { healthCheckIntervalSeconds: 301 } }), "failover.healthCheckIntervalSeconds", "5-300"));
        it("an NLB threshold of 1", () => expectProblem(base({ failover: { unhealthyThreshold: 1 } }), "failover.unhealthyThreshold", "2-10"));
        it("an NLB threshold of 11", () => expectProblem(base({ failover: { unhealthyThreshold: 11 } }), "failover.unhealthyThreshold", "2-10"));
        it("an NLB idle timeout below 60 s", () => expectProblem(base({ failover: { idleTimeoutSeconds: 59 } }), "failover.idleTimeoutSeconds", "60-6000"));
        it("an NLB idle timeout above 6000 s", () => expectProblem(base({ failover: { idleTimeoutSeconds: 6001 } }), "failover.idleTimeoutSeconds", "60-6000"));
        it("a data disk below 10 GiB", () => expectProblem(base({ workers: { dataDiskGb: 5 } }), "workers.dataDiskGb", "10-16384"));
        it("a data disk above the gp3 maximum", () => expectProblem(base({ workers: { dataDiskGb: 20000 } }), "workers.dataDiskGb", "10-16384"));
        it("a worker size that is no instance type", () => expectProblem(base({ workers: { size: "large" } }), "workers.size", "m6i.large"));
        it("an unknown edition", () => expectProblem(base({ iguana: { edition: "iguana5" } }), "iguana.edition", '"iguanax", "iguana6"'));
        it("an installer URL that is not http(s)", () => expectProblem(base({ iguana: { installerUrl: "ftp://x/iguana.tar.gz" } }), "iguana.installerUrl", "http(s) URL"));
        it("a web port on the role probe", () => expectProblem(base({ iguana: { webPort: ROLE_PROBE_PORT } }), "iguana.webPort", "role probe"));
        it("more channels than an AWS cluster carries", () =>
            expectProblem(base({ channels: Array.from({ length: 1001 }, (_, i) => ({ name: `c${i}`, protocol: "llp", port: 10000 + i })) }), "channels", "at most 1000"));
        it("channel ports spread over more NLBs than allowed", () =>
            expectProblem(
                base({ channels: Array.from({ length: 21 }, (_, i) => ({ name: `c${i}`, protocol: "llp", port: 1000 + i * 100 })) }),
                "channels",
                "21 blocks of 50 ports",
                "at most 20",
            ));
        it("more channel rules than four security groups hold", () =>
            expectProblem(
                base({
                    channels: Array.from({ length: 25 }, (_, i) => ({ name: `c${i}`, protocol: "llp", port: 3000 + 2 * i })),
                    network: { allowedCidrs: Array.from({ length: 10 }, (_, i) => `10.0.${i}.0/24`) },
                }),
                "network.allowedCidrs",
                "10 CIDRs x 25 port ranges need 250 inbound rules",
                "240",
            ));
        it("an internal cluster needing several NLBs in a small network", () =>
            expectProblem(base({ network: { allowedCidrs: ["10.0.0.0/8"], public: false, cidr: "10.1.0.0/20" } }), "network.cidr", "/18 or larger"));
        it("a wrong type for a whole section", () => expectProblem(base({ failover: [5] }), "failover", "must be an object"));
        it("a lease shorter than 3 s", () => expectProblem(base({ failover: { leaseSeconds: 2 } }), "failover.leaseSeconds", "2 s is outside the allowed range 3-60 s"));
        it("a lease longer than 60 s", () =>
            expectProblem(base({ failover: { strategy: "floating-ip", leaseSeconds: 61 } }), "failover.leaseSeconds", "61 s is outside the allowed range 3-60 s"));
        it("a fractional lease", () => expectProblem(base({ failover: { leaseSeconds: 2.5 } }), "failover.leaseSeconds", "a whole number in 3-60 s"));
    });

    it("throws a Pulumi RunError, whose message the CLI prints without a stack trace", () => {
        const error = expectProblem(base({ cloud: "gcp" }), "cloud");
        assert.ok(pulumi.RunError.isInstance(error));
    });

    it("reports every problem at once", () => {
        const error = expectProblem(base({ cloud: "gcp", channels: [], network: { allowedCidrs: ["x"] }, workers: { dataDiskGb: "big" } }), "cloud");
        const keys = error.problems.map((p) => p.key);
        assert.deepStrictEqual(keys, ["iguana-ha:cloud", "iguana-ha:network.allowedCidrs[0]", "iguana-ha:workers.dataDiskGb", "iguana-ha:channels"]);
        assert.strictEqual(error.message.split("\n").length, 1 + keys.length, "one line per problem after the heading");
    });
});
