/**
 * `tags`: the user's own tags reach every resource the cluster tags, on both clouds, without
 * displacing the cluster's own keys; a value may be an Output, checked when it resolves.
 */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigValidationError, HaIguanaCluster, HaIguanaClusterArgs } from "../components";
import { PROJECT } from "../components/constants";
import { evaluate } from "../offline/evaluate";
import { RecordedResource, RecordingMocks } from "../offline/mocks";
import { awsConfig, azureConfig, runConfig } from "./helpers";

const USER_TAGS = { costCenter: "lab-4410", dataClassification: "phi" };

/** Resource name to its tags, for every resource registered with a `tags` input. */
function tagsByResource(resources: readonly RecordedResource[]): Map<string, Record<string, string>> {
    return new Map(resources.filter((r) => r.inputs.tags !== undefined).map((r) => [`${r.type} ${r.name}`, r.inputs.tags]));
}

describe("tags", function () {
    this.timeout(60000);

    for (const [cloud, config] of [
        ["aws", awsConfig],
        ["azure", azureConfig],
    ] as const) {
        it(`${cloud}: puts the user's tags on every resource the cluster tags, beside its own, which stay as they were`, async () => {
            const plain = tagsByResource((await runConfig(config({ storage: { queueRecovery: "shared" } }))).mocks.resources);
            const tagged = tagsByResource((await runConfig(config({ storage: { queueRecovery: "shared" }, tags: USER_TAGS }))).mocks.resources);
            assert.ok(plain.size > 15, `only ${plain.size} tagged resources`);
            assert.deepStrictEqual([...tagged.keys()].sort(), [...plain.keys()].sort(), "the same resources carry tags");
            for (const [resource, own] of plain) {
                assert.deepStrictEqual(tagged.get(resource), { ...USER_TAGS, ...own }, resource);
                assert.strictEqual(own.project, PROJECT, resource);
            }
        });
    }

    function argsWith(tags: HaIguanaClusterArgs["tags"]): HaIguanaClusterArgs {
        return { cloud: "aws", region: "eu-west-1", channels: [{ name: "adt-in", protocol: "llp", port: 2575 }], network: { allowedCidrs: ["198.51.100.0/24"] }, tags };
    }

    function run(args: HaIguanaClusterArgs) {
        const mocks = new RecordingMocks("eu-west-1");
        return { mocks, run: evaluate({ stack: "prod", config: { "aws:region": "eu-west-1" }, mocks, run: () => ({ vip: new HaIguanaCluster("iguana", args).vip }) }) };
    }

    it("takes a value from an Output, as another stack's would be", async () => {
        const { mocks, run: done } = run(argsWith({ owner: pulumi.output("integration-team") }));
        await done;
        const tagged = mocks.resources.filter((r) => r.inputs.tags !== undefined);
        assert.ok(tagged.length > 15);
        for (const r of tagged) assert.strictEqual(r.inputs.tags.owner, "integration-team", r.name);
    });

    it("fails the preview naming the key when an Output value resolves to a bad one", async () => {
        const { run: done } = run(argsWith({ owner: pulumi.output("aws:integration") }));
        await assert.rejects(done, (e: unknown) => {
            assert.ok(e instanceof ConfigValidationError, String(e));
            assert.deepStrictEqual(
                e.problems.map((p) => [p.key, p.message]),
                [[`${PROJECT}:tags.owner`, "starts with aws:, which AWS reserves for itself"]],
            );
            return true;
        });
    });

    it("refuses a bad plain key before any resource is registered", async () => {
        const { mocks, run: done } = run(argsWith({ Cluster: "mine", owner: "x".repeat(257) }));
        await assert.rejects(done, (e: unknown) => {
            assert.ok(e instanceof ConfigValidationError, String(e));
            assert.deepStrictEqual(e.problems.map((p) => p.key).sort(), [`${PROJECT}:tags.Cluster`, `${PROJECT}:tags.owner`]);
            return true;
        });
        assert.deepStrictEqual(
            mocks.resources.filter((r) => r.custom),
            [],
        );
    });
});
