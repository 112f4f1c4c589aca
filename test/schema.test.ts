/**
 * The schema other languages get from `pulumi package add`: Pulumi's own component analyzer (the
 * one its Node.js plugin host runs) reads HaIguanaClusterArgs, and the schema must say what the
 * validator accepts: the same keys, the same choices, a description on every argument. Its
 * descriptions, Pulumi.yaml and docs/configuration.md state the defaults the validator fills.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { ComponentProvider } from "@pulumi/pulumi/provider/experimental/provider";
import { HaIguanaCluster } from "../components";
import { CONFIG_KEYS, NESTED_KEYS } from "../components/config";
import { ARGS_ONLY, CONTRACT, Spec } from "../components/contract";
import {
    AZURE_SHARE_GB,
    CHANNEL_MODES,
    CLOUD_LIMITS,
    CLOUDS,
    COMPONENT_TYPE,
    EDITIONS,
    FAILOVER_STRATEGY_CHOICES,
    LEASE_SECONDS,
    NAT_GATEWAY_CHOICES,
    PROJECT,
    PROTOCOLS,
    QUEUE_RECOVERY_CHOICES,
} from "../components/constants";

const ROOT = path.join(__dirname, "..");

interface SchemaProperty {
    type?: string;
    $ref?: string;
    items?: SchemaProperty;
    additionalProperties?: SchemaProperty;
    plain?: boolean;
    description?: string;
}
interface SchemaType {
    type: string;
    properties?: Record<string, SchemaProperty>;
    required?: string[];
    enum?: { name: string; value: string }[];
}
interface PackageSchema {
    name: string;
    resources: Record<string, { isComponent: boolean; inputProperties: Record<string, SchemaProperty>; requiredInputs: string[]; properties: Record<string, SchemaProperty> }>;
    types: Record<string, SchemaType>;
}

const typeName = (ref: string | undefined) => ref?.replace(`#/types/${PROJECT}:index:`, "");

describe("component schema (PulumiPlugin.yaml, pulumi package add)", function () {
    this.timeout(120000);
    let schema: PackageSchema;

    before(async () => {
        const provider = new ComponentProvider({ name: PROJECT, dirname: ROOT, components: [HaIguanaCluster] });
        schema = JSON.parse(await provider.getSchema());
    });

    it("PulumiPlugin.yaml declares the Node.js runtime and package.json's main exports the component", () => {
        const plugin = yaml.load(fs.readFileSync(path.join(ROOT, "PulumiPlugin.yaml"), "utf8")) as { runtime?: string };
        assert.strictEqual(plugin.runtime, "nodejs");
        const main = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).main;
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        assert.strictEqual(require(path.join(ROOT, main)).HaIguanaCluster, HaIguanaCluster);
    });

    it("names HaIguanaCluster by the type the component registers, as a component", () => {
        assert.strictEqual(schema.name, PROJECT);
        assert.deepStrictEqual(Object.keys(schema.resources), [COMPONENT_TYPE]);
        assert.strictEqual(schema.resources[COMPONENT_TYPE].isComponent, true);
    });

    it("takes exactly the keys the validator reads, top level and nested, and requires what it requires", () => {
        const resource = schema.resources[COMPONENT_TYPE];
        assert.deepStrictEqual(Object.keys(resource.inputProperties).sort(), [...CONFIG_KEYS, "region"].sort());
        // region: required on Azure only (validateClusterConfig says so); on AWS the provider's.
        assert.deepStrictEqual([...resource.requiredInputs].sort(), ["channels", "cloud", "network"]);
        const nested: Record<keyof typeof NESTED_KEYS, string | undefined> = {
            iguana: typeName(resource.inputProperties.iguana.$ref),
            channel: typeName(resource.inputProperties.channels.items?.$ref),
            network: typeName(resource.inputProperties.network.$ref),
            workers: typeName(resource.inputProperties.workers.$ref),
            failover: typeName(resource.inputProperties.failover.$ref),
            storage: typeName(resource.inputProperties.storage.$ref),
            audit: typeName(resource.inputProperties.audit.$ref),
            backup: typeName(resource.inputProperties.backup.$ref),
            alerts: typeName(resource.inputProperties.alerts.$ref),
            tls: typeName(resource.inputProperties.tls.$ref),
            existing: "ExistingNetworkArgs",
            subnet: "ExistingSubnetArgs",
            restoreFrom: "RestoreFromArgs",
            egress: "EgressArgs",
            egressDestination: "EgressDestinationArgs",
        };
        const typeOf = (name: string) => schema.types[`${PROJECT}:index:${name}`];
        assert.strictEqual(typeName(typeOf("NetworkArgs").properties!.existing.$ref), "ExistingNetworkArgs");
        assert.strictEqual(typeName(typeOf("StorageArgs").properties!.restoreFrom.$ref), "RestoreFromArgs");
        assert.strictEqual(typeName(typeOf("NetworkArgs").properties!.egress.$ref), "EgressArgs");
        assert.strictEqual(typeName(typeOf("EgressArgs").properties!.destinations.items!.$ref), "EgressDestinationArgs");
        assert.strictEqual(typeName(typeOf("ExistingNetworkArgs").properties!.workerSubnets.items?.$ref), "ExistingSubnetArgs");
        for (const [key, type] of Object.entries(nested) as [keyof typeof NESTED_KEYS, string][]) {
            assert.ok(schema.types[`${PROJECT}:index:${type}`], `${key}: type ${type} in the schema`);
            assert.deepStrictEqual(Object.keys(schema.types[`${PROJECT}:index:${type}`].properties!).sort(), [...NESTED_KEYS[key]].sort(), key);
        }
        assert.deepStrictEqual([...(schema.types[`${PROJECT}:index:ChannelArgs`].required ?? [])].sort(), ["name", "port", "protocol"]);
        assert.deepStrictEqual(typeOf("NetworkArgs").required, ["allowedCidrs"]);
        assert.deepStrictEqual([...(typeOf("ExistingNetworkArgs").required ?? [])].sort(), ["workerSubnets"]);
    });

    it("offers the validator's choices as enums", () => {
        const enumValues = (name: string) => schema.types[`${PROJECT}:index:${name}`].enum?.map((m) => m.value);
        assert.deepStrictEqual(enumValues("Cloud"), [...CLOUDS]);
        assert.deepStrictEqual(enumValues("Edition"), [...EDITIONS]);
        assert.deepStrictEqual(enumValues("Protocol"), [...PROTOCOLS]);
        assert.deepStrictEqual(enumValues("ChannelMode"), [...CHANNEL_MODES]);
        assert.deepStrictEqual(enumValues("NatGateways"), [...NAT_GATEWAY_CHOICES]);
        assert.deepStrictEqual(enumValues("FailoverStrategy"), [...FAILOVER_STRATEGY_CHOICES]);
        assert.deepStrictEqual(enumValues("QueueRecovery"), [...QUEUE_RECOVERY_CHOICES]);
        assert.strictEqual(typeName(schema.resources[COMPONENT_TYPE].inputProperties.cloud.$ref), "Cloud");
    });

    it("describes every argument with the contract table's summary, and takes an Output only where the component resolves one", () => {
        const deferred: string[] = [];
        const summaries = new Map<string, string>();
        const collect = (where: string, fields: Record<string, Spec>) => {
            for (const [key, spec] of Object.entries(fields)) {
                summaries.set(`${where}.${key}`, spec.summary);
                const inner = spec.kind === "list" ? spec.of : spec;
                if (inner.kind === "object") collect(inner.typeName, inner.fields);
            }
        };
        collect("args", { ...CONTRACT, ...ARGS_ONLY });
        const visit = (where: string, properties: Record<string, SchemaProperty>) => {
            for (const [key, property] of Object.entries(properties)) {
                assert.strictEqual(property.description?.replace(/\s+/g, " "), summaries.get(`${where}.${key}`), `${where}.${key}: the table's summary`);
                if (!property.plain) deferred.push(`${where}.${key}`);
                if (property.additionalProperties && !property.additionalProperties.plain) deferred.push(`${where}.${key} values`);
            }
        };
        visit("args", schema.resources[COMPONENT_TYPE].inputProperties);
        for (const [name, type] of Object.entries(schema.types)) if (type.properties && name.endsWith("Args")) visit(typeName(`#/types/${name}`)!, type.properties);
        assert.deepStrictEqual(deferred.sort(), [
            // A secret from another stack or ESC: wrapped with pulumi.secret where it is subscribed.
            "AlertsArgs.webhookUrl",
            "ExistingNetworkArgs.virtualNetworkId",
            "ExistingNetworkArgs.vpcId",
            "ExistingSubnetArgs.id",
            "IguanaArgs.installerSha256",
            "IguanaArgs.installerUrl",
            // The TLS bundle is built from Outputs (tlsBundleSecret in components/tls.ts): a key from another stack or a secret.
            "TlsArgs.certificate",
            "TlsArgs.clientCa",
            "TlsArgs.privateKey",
            "args.tags values",
        ]);
        assert.strictEqual(schema.resources[COMPONENT_TYPE].inputProperties.tags.additionalProperties?.type, "string");
    });

    it("docs/configuration.md states the validator's limits per cloud", () => {
        const docs = fs.readFileSync(path.join(ROOT, "docs", "configuration.md"), "utf8");
        const notes = (key: string) => docs.split("\n").find((line) => line.startsWith(`| \`${key}\` |`)) ?? "";
        const range = (r: { min: number; max: number }) => `${r.min}-${r.max}`;
        const { aws, azure } = CLOUD_LIMITS;
        const expected: [string, string][] = [
            ["channels", `at most ${aws.maxChannels} on AWS`],
            ["channels", `${azure.maxChannels} on Azure`],
            ["workers", `\`dataDiskGb\` ${range(aws.dataDiskGb)} on AWS, ${range(azure.dataDiskGb)} on Azure`],
            [
                "failover",
                `AWS: interval ${range(aws.healthCheckIntervalSeconds)} s, threshold ${range(aws.unhealthyThreshold)} (also used as the healthy threshold), idle timeout ${range(aws.idleTimeoutSeconds)} s`,
            ],
            [
                "failover",
                `Azure: interval ${range(azure.healthCheckIntervalSeconds)} s, threshold ${range(azure.unhealthyThreshold)}, idle timeout ${range(azure.idleTimeoutSeconds)} s`,
            ],
            ["failover", `\`leaseSeconds\`: How long the lease that makes a worker active lasts, ${range(LEASE_SECONDS)} seconds`],
            ["storage", `${range(AZURE_SHARE_GB)} GiB`],
        ];
        for (const [key, text] of expected) assert.ok(notes(key).includes(text), `docs ${key}: "${text}"`);
    });

    it("outputs the stack outputs of the contract", () => {
        const outputs = Object.keys(schema.resources[COMPONENT_TYPE].properties);
        for (const key of ["cloud", "vip", "vipAddresses", "dashboardUrl", "channelEndpoints", "workers"]) assert.ok(outputs.includes(key), key);
    });
});
