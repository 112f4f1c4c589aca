import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigValidationError, RawClusterConfig, validateClusterConfig } from "../components/config";
import { DEFAULTS, EDITION_WEB_PORT, LEASE_SECONDS } from "../components/constants";
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
        assert.strictEqual(cfg.workers.encryptionAtHost, DEFAULTS.encryptionAtHost, "read on AWS too, where nothing uses it");
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
        const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
        assert.strictEqual(bootstrapSettings({ ...cfg, tls: { enabled: false } }, wk1, wk2, { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" } }).leaseSeconds, 12);
        const defaulted = validateClusterConfig(base(), "t");
        assert.strictEqual(
            bootstrapSettings({ ...defaulted, tls: { enabled: false } }, wk2, wk1, { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" } }).leaseSeconds,
            DEFAULTS.leaseSeconds,
        );
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

    // Each bad value and its message: test/bad-input.test.ts's catalogue, through the program and the plan.

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
