/**
 * The contract table (components/contract.ts) is the one source of the config's keys, types,
 * choices, ranges, defaults and descriptions: the validator reads them from it, and the args
 * types, Pulumi.yaml and docs/configuration.md are rendered from it. These tests hold the
 * validator to every row of the table, and the rendered files to the table.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { BooleanSpec, CONTRACT, EnumSpec, IntegerSpec, LeafContext, ObjectSpec, Spec } from "../components/contract";

type TypedLeaf = EnumSpec | BooleanSpec | IntegerSpec;
import { ConfigValidationError, validateClusterConfig } from "../components/config";
import { CLOUDS, Cloud, DEFAULTS, EDITIONS, Edition, FAILOVER_STRATEGY_CHOICES, FailoverStrategy, PROJECT } from "../components/constants";
import { renderContractFiles } from "../tools/contract";

const ROOT = path.join(__dirname, "..");

/** Every enum, boolean and integer leaf: its path in a config (`channels[0].port`) and its spec. */
function leaves(fields: Record<string, Spec> = CONTRACT, prefix = ""): [string, TypedLeaf][] {
    return Object.entries(fields).flatMap(([key, spec]): [string, TypedLeaf][] => {
        const at = `${prefix}${key}`;
        if (spec.kind === "object") return key === "existing" ? [] : leaves(spec.fields, `${at}.`);
        if (spec.kind === "list") return leaves(spec.of.fields, `${at}[0].`);
        return spec.kind === "enum" || spec.kind === "boolean" || spec.kind === "integer" ? [[at, spec]] : [];
    });
}

/** Every object of the table: its path in a config and its spec. */
function objects(fields: Record<string, Spec> = CONTRACT, prefix = ""): [string, ObjectSpec][] {
    return Object.entries(fields).flatMap(([key, spec]): [string, ObjectSpec][] => {
        const at = `${prefix}${key}`;
        if (spec.kind === "object") return [[at, spec], ...objects(spec.fields, `${at}.`)];
        if (spec.kind === "list") return [[`${at}[0]`, spec.of], ...objects(spec.of.fields, `${at}[0].`)];
        return [];
    });
}

const steps = (at: string) => at.split(/\.|\[(\d+)\]\.?/).filter((s) => s !== undefined && s !== "");

function valueAt(config: unknown, at: string): unknown {
    return steps(at).reduce<unknown>((value, step) => (value as Record<string, unknown> | undefined)?.[step], config);
}

function withValue(config: Record<string, unknown>, at: string, value: unknown): Record<string, unknown> {
    const copy = structuredClone(config);
    const path = steps(at);
    let node = copy as Record<string, unknown>;
    path.slice(0, -1).forEach((step, i) => {
        node[step] ??= /^\d+$/.test(path[i + 1]) ? [] : {};
        node = node[step] as Record<string, unknown>;
    });
    node[path[path.length - 1]] = value;
    return copy;
}

function minimal(cloud: Cloud, edition: Edition = DEFAULTS.edition, strategy: FailoverStrategy = DEFAULTS.failoverStrategy): Record<string, unknown> {
    return {
        cloud,
        region: cloud === "aws" ? "us-east-1" : "eastus2",
        iguana: { edition },
        channels: [{ name: "results", protocol: "http", port: 2590 }],
        network: { allowedCidrs: ["198.51.100.0/24"] },
        failover: { strategy },
    };
}

function problemsOf(config: Record<string, unknown>): { key: string; message: string }[] {
    try {
        validateClusterConfig(config, "contract");
        return [];
    } catch (error) {
        if (!(error instanceof ConfigValidationError)) throw error;
        return error.problems;
    }
}

describe("the contract table (components/contract.ts)", () => {
    it("components/args.ts, Pulumi.yaml's config section and docs/configuration.md's table are what the table renders", async () => {
        for (const { file, rendered, current } of await renderContractFiles()) {
            assert.ok(rendered === current, `${file} differs from components/contract.ts: run npm run contract, and review the diff`);
        }
    });

    it("Pulumi.yaml declares each key with the table's type and summary", () => {
        const project = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, { type: string; description: string }> };
        assert.deepStrictEqual(Object.keys(project.config), Object.keys(CONTRACT));
        for (const [key, spec] of Object.entries(CONTRACT) as [string, Spec][]) {
            const declared = project.config[key];
            const type = spec.kind === "list" ? "array" : spec.kind === "object" || spec.kind === "tags" ? "object" : "string";
            assert.strictEqual(declared.type, type, key);
            assert.ok(declared.description.startsWith(spec.summary), `${key}: "${declared.description.slice(0, 80)}..."`);
        }
    });

    it("the validator fills the default of every leaf, on each cloud, edition and strategy", () => {
        let checked = 0;
        for (const cloud of CLOUDS)
            for (const edition of EDITIONS)
                for (const strategy of FAILOVER_STRATEGY_CHOICES) {
                    const context: LeafContext = { cloud, edition, strategy };
                    const config = validateClusterConfig(minimal(cloud, edition, strategy), "contract");
                    for (const [at, spec] of leaves()) {
                        // A required leaf has no default; these three decide the rest.
                        if (spec.required || ["cloud", "iguana.edition", "failover.strategy"].includes(at)) continue;
                        const expected = spec.kind === "integer" ? spec.default?.(context) : spec.default;
                        if (expected === undefined && spec.kind === "enum" && spec.defaultText === "unset") {
                            // An optional choice (workers.rebuild): none unless given.
                            assert.strictEqual(valueAt(config, at), undefined, `${cloud} ${edition} ${strategy}: ${at} is unset`);
                            checked++;
                            continue;
                        }
                        assert.notStrictEqual(expected, undefined, `${at} has a default in the table`);
                        assert.strictEqual(valueAt(config, at), expected, `${cloud} ${edition} ${strategy}: ${at}`);
                        checked++;
                    }
                }
        assert.ok(checked >= 8 * 14, `${checked} defaults checked`);
    });

    it("the validator refuses every value outside a leaf's choices or range, naming the key and what is allowed", () => {
        for (const cloud of CLOUDS) {
            const context: LeafContext = { cloud, edition: DEFAULTS.edition, strategy: DEFAULTS.failoverStrategy };
            for (const [at, spec] of leaves()) {
                if (at === "cloud" || (spec.only && spec.only !== cloud)) continue;
                const key = `${PROJECT}:${at}`;
                const refused = (value: unknown, ...fragments: string[]) => {
                    const problem = problemsOf(withValue(minimal(cloud), at, value)).find((p) => p.key === key);
                    assert.ok(problem, `${cloud}: ${at} = ${JSON.stringify(value)} is refused`);
                    for (const fragment of fragments) assert.ok(problem.message.includes(fragment), `${cloud} ${at}: "${problem.message}" names ${fragment}`);
                };
                if (spec.kind === "enum") refused("not-a-choice", ...spec.choices.map((c) => `"${c}"`));
                if (spec.kind === "boolean") refused("yes", "true or false");
                if (spec.kind === "integer") {
                    const range = spec.range(context)!;
                    const text = `${range.min}-${range.max}`;
                    refused(range.min - 1, text);
                    refused(range.max + 1, text);
                    refused(range.min + 0.5, "whole number", text);
                    for (const edge of [range.min, range.max]) {
                        const problem = problemsOf(withValue(minimal(cloud), at, edge)).find((p) => p.key === key && p.message.includes(text));
                        assert.strictEqual(problem, undefined, `${cloud}: ${at} = ${edge} is within the table's range`);
                    }
                }
            }
        }
    });

    it("the validator refuses a key the table does not have, in every object, naming the keys it has", () => {
        const subnets = (id: string, third: number) => [0, 1].map((i) => ({ id: `${id}${i}`, cidr: `10.8.${third + i}.0/24` }));
        const azureVnet = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hospital";
        const existing: Record<Cloud, Record<string, unknown>> = {
            aws: { vpcId: "vpc-0123456789abcdef0", workerSubnets: subnets("subnet-012345678", 1), loadBalancerSubnets: subnets("subnet-0abcdef0", 3) },
            azure: {
                virtualNetworkId: azureVnet,
                workerSubnets: subnets(`${azureVnet}/subnets/wk`, 1),
                privateEndpointSubnet: { id: `${azureVnet}/subnets/pe`, cidr: "10.8.5.0/27" },
            },
        };
        for (const [at, spec] of objects()) {
            const cloud: Cloud = /loadBalancerSubnets|vpcId/.test(at) ? "aws" : "azure";
            const base = at.startsWith("network.existing.")
                ? withValue(withValue(minimal(cloud), "network.cidr", "10.8.0.0/16"), "network.existing", existing[cloud])
                : minimal("aws");
            const config = withValue(base, `${at}.colour`, "green");
            const problem = problemsOf(config).find((p) => p.key === `${PROJECT}:${at}.colour`);
            assert.ok(problem, `${at}.colour is refused`);
            assert.ok(problem.message.includes(`allowed: ${Object.keys(spec.fields).join(", ")}`), `${at}: "${problem.message}"`);
        }
    });
});
