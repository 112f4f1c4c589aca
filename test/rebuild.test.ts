/**
 * `workers.rebuild`: what the workers boot with (user data / custom data) and their image reach a
 * worker only when it is named, by a replacement; a plain `pulumi up` after such a change touches
 * neither worker. The engine's rules this relies on (Pulumi docs, resource options): a property
 * in `ignoreChanges` never makes a diff; a diff in a `replaceOnChanges` property is a replacement.
 */
import * as assert from "assert";
import { validateClusterConfig } from "../components/config";
import { deploymentWarnings } from "../components/warnings";
import { awsConfig, azureConfig, runConfig } from "./helpers";

const CASES = [
    { cloud: "aws", config: awsConfig, type: "aws:ec2/instance:Instance", image: "ami", replacedBy: ["userDataBase64"] },
    {
        cloud: "azure",
        config: azureConfig,
        type: "azure-native:compute:VirtualMachine",
        image: "storageProfile.imageReference",
        // Azure changes encryption at host only on a deallocated VM: that too waits for the rebuild.
        replacedBy: ["osProfile.customData", "securityProfile.encryptionAtHost"],
    },
] as const;

describe("workers.rebuild: one worker at a time takes a new boot configuration or image", function () {
    this.timeout(60000);

    for (const { cloud, config, type, image, replacedBy } of CASES) {
        it(`${cloud}: unset, neither worker takes a changed boot configuration or image (no stop, no start, no replacement)`, async () => {
            const run = await runConfig(config({}));
            const machines = run.ofType(type);
            assert.strictEqual(machines.length, 2);
            for (const m of machines) {
                for (const property of [...replacedBy, image]) assert.ok(m.ignoreChanges.includes(property), `${m.name} ignores ${property}: ${JSON.stringify(m.ignoreChanges)}`);
                assert.deepStrictEqual(
                    m.replaceOnChanges,
                    [...replacedBy],
                    `${m.name}: a boot configuration it takes comes by a replacement (cloud-init runs it on a first boot only)`,
                );
                assert.strictEqual(m.deleteBeforeReplace, true);
            }
        });

        it(`${cloud}: "wk2" rebuilds WK2 only; WK1 keeps what it runs`, async () => {
            const run = await runConfig(config({ workers: { rebuild: "wk2" } }));
            const byWorker = Object.fromEntries(run.ofType(type).map((m) => [m.name.replace(/^iguana-/, ""), m]));
            for (const property of replacedBy) assert.ok(!byWorker.wk2.ignoreChanges.includes(property), `wk2 takes ${property}: ${JSON.stringify(byWorker.wk2.ignoreChanges)}`);
            if (cloud === "aws") assert.ok(!byWorker.wk2.ignoreChanges.includes(image), "on AWS the rebuilt worker takes the newest AMI");
            assert.deepStrictEqual(byWorker.wk2.replaceOnChanges, [...replacedBy]);
            for (const property of [...replacedBy, image])
                assert.ok(byWorker.wk1.ignoreChanges.includes(property), `wk1 ignores ${property}: ${JSON.stringify(byWorker.wk1.ignoreChanges)}`);
        });
    }

    it("the preview says which worker may be replaced, that it must be the passive one, and to remove the key after", () => {
        const cfg = validateClusterConfig(awsConfig({ workers: { rebuild: "wk1" } }), "test");
        const warning = deploymentWarnings(cfg).find((w) => w.key === "iguana-ha:workers.rebuild");
        assert.match(warning?.message ?? "", /is "wk1": pulumi up replaces that worker .* must be the passive one .* remove the key/);
        assert.strictEqual(
            deploymentWarnings(validateClusterConfig(awsConfig({}), "test")).find((w) => w.key === "iguana-ha:workers.rebuild"),
            undefined,
        );
    });

    it("a name that is not a worker is refused before anything is registered, with the allowed names", async () => {
        await assert.rejects(runConfig(awsConfig({ workers: { rebuild: "both" } })), /iguana-ha:workers\.rebuild: must be one of "wk1", "wk2"; got the string "both"/);
    });
});
