/** The shortcuts offline/evaluate.ts takes under mocks: what they drop, what they keep, and that they are undone. */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import { evaluate, isApiVersionAlias } from "../offline/evaluate";
import { toPulumiConfig } from "../offline/stack-config";
import { PROJECT } from "../components/constants";

const aliasesOf = (resource: pulumi.Resource) => (resource as unknown as { __aliases: unknown[] }).__aliases;

describe("evaluation under mocks", () => {
    it("recognises only azure-native's API-version aliases (a versioned type and nothing else)", () => {
        assert.ok(isApiVersionAlias({ type: "azure-native:network/v20150615:NetworkInterface" }));
        assert.ok(isApiVersionAlias({ type: "azure-native:network/v20150501preview:NetworkInterface" }));
        assert.ok(!isApiVersionAlias({ type: "azure-native:network:PrivateEndpoint" }), "a renamed type is kept");
        assert.ok(!isApiVersionAlias({ type: "azure-native:network/v20150615:NetworkInterface", name: "old" }), "an alias with a name is kept");
        assert.ok(!isApiVersionAlias({ name: "old-name" }));
        assert.ok(!isApiVersionAlias("urn:pulumi:stack::project::azure-native:network/v20150615:NetworkInterface::x"));
        assert.ok(!isApiVersionAlias({ type: "aws:ec2/instance:Instance" }));
    });

    it("drops the API-version aliases while evaluating, keeps the program's own, and restores the SDK afterwards", async () => {
        const mergeOptions = pulumi.mergeOptions;
        const debuggable = require("@pulumi/pulumi/runtime/debuggable");
        const debuggablePromise = debuggable.debuggablePromise;
        const stackTrace = (pulumi.Resource as any).stackTrace;
        const stackTraceLimit = Error.stackTraceLimit;
        const created: Record<string, pulumi.Resource> = {};
        await evaluate({
            stack: "test",
            config: toPulumiConfig(PROJECT, { "azure-native:location": "westeurope" }),
            run: () => {
                created.plain = new network.NetworkInterface("plain", { resourceGroupName: "rg" });
                created.renamed = new network.NetworkInterface("renamed", { resourceGroupName: "rg" }, { aliases: [{ name: "old-name" }] });
                return {};
            },
        });
        assert.strictEqual(aliasesOf(created.plain).length, 0);
        assert.strictEqual(aliasesOf(created.renamed).length, 1, "an alias the program gives is kept");
        assert.strictEqual(pulumi.mergeOptions, mergeOptions, "the SDK's mergeOptions is back");
        assert.strictEqual(debuggable.debuggablePromise, debuggablePromise, "the SDK's promise wrapper is back");
        assert.strictEqual((pulumi.Resource as any).stackTrace, stackTrace, "the SDK's source positions are back");
        assert.strictEqual(Error.stackTraceLimit, stackTraceLimit);
        const merged = pulumi.mergeOptions({}, { aliases: [{ type: "azure-native:network/v20150615:NetworkInterface" }] });
        assert.strictEqual(merged.aliases?.length, 1, "outside an evaluation nothing is dropped");
    });

    it("a failure inside the program's outputs still fails the evaluation, with its message", async () => {
        await assert.rejects(
            evaluate({
                stack: "test",
                config: toPulumiConfig(PROJECT, { "azure-native:location": "westeurope" }),
                run: () => {
                    const nic = new network.NetworkInterface("nic", { resourceGroupName: "rg" });
                    return {
                        broken: nic.id.apply((): string => {
                            throw new Error("a failure after registration");
                        }),
                    };
                },
            }),
            /a failure after registration/,
        );
    });
});
