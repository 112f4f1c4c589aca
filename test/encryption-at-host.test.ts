/**
 * `workers.encryptionAtHost` (Azure): the VMs encrypt their temp disk and caches at the host,
 * which the subscription must have registered once. A missing registration fails the preview,
 * naming the key and the commands, instead of the first VM's creation halfway through `pulumi up`.
 */
import * as assert from "assert";
import { PROJECT } from "../components/constants";
import { program } from "../components/program";
import { evaluate } from "../offline/evaluate";
import { RecordingMocks } from "../offline/mocks";
import { toPulumiConfig } from "../offline/stack-config";
import { azureConfig, runConfig, runStack } from "./helpers";

const VM = "azure-native:compute:VirtualMachine";
const FEATURE_CHECK = "azure-native:features:getSubscriptionFeatureRegistration";

function withFeature(state: string): RecordingMocks {
    const mocks = new RecordingMocks("westeurope");
    mocks.featureStates.set("Microsoft.Compute/EncryptionAtHost", state);
    return mocks;
}

describe("workers.encryptionAtHost (Azure)", function () {
    this.timeout(60000);

    it("azure-prod: both VMs encrypt at the host, once the subscription's registration is checked", async () => {
        const run = await runStack("azure-prod");
        assert.deepStrictEqual(
            run.ofType(VM).map((vm) => vm.inputs.securityProfile),
            [{ encryptionAtHost: true }, { encryptionAtHost: true }],
        );
        assert.ok(
            run.mocks.calls.some((c) => c.token === FEATURE_CHECK && c.inputs.featureName === "EncryptionAtHost" && c.inputs.providerNamespace === "Microsoft.Compute"),
            "the feature registration is read",
        );
    });

    for (const [state, said] of [
        ["NotFound", "is not registered"],
        ["Pending", "is Pending"],
    ]) {
        it(`a subscription whose feature ${said} fails the preview, naming the key and the commands`, async () => {
            const config = toPulumiConfig(PROJECT, azureConfig({ workers: { encryptionAtHost: true } }));
            await assert.rejects(
                evaluate({ stack: "test", config, mocks: withFeature(state), run: () => program() }),
                (error: Error) =>
                    error.message.includes(`workers.encryptionAtHost: the subscription's Microsoft.Compute/EncryptionAtHost feature ${said}`) &&
                    error.message.includes("az feature register --namespace Microsoft.Compute --name EncryptionAtHost"),
            );
        });
    }

    it("on by default: a stack without the key encrypts at the host, once the registration is checked", async () => {
        for (const run of [await runConfig(azureConfig()), await runStack("azure-dev")]) {
            assert.deepStrictEqual(
                run.ofType(VM).map((vm) => vm.inputs.securityProfile),
                [{ encryptionAtHost: true }, { encryptionAtHost: true }],
            );
            assert.ok(run.mocks.calls.some((c) => c.token === FEATURE_CHECK));
        }
        await assert.rejects(
            evaluate({ stack: "test", config: toPulumiConfig(PROJECT, azureConfig()), mocks: withFeature("NotFound"), run: () => program() }),
            /or set workers\.encryptionAtHost: false/,
            "an unregistered subscription learns at preview how to register, or how to opt out",
        );
    });

    it("workers.encryptionAtHost: false asks nothing of the subscription", async () => {
        const run = await runConfig(azureConfig({ workers: { encryptionAtHost: false } }));
        assert.deepStrictEqual(
            run.ofType(VM).map((vm) => vm.inputs.securityProfile),
            [undefined, undefined],
        );
        assert.ok(!run.mocks.calls.some((c) => c.token === FEATURE_CHECK));
        const unregistered = await evaluate({
            stack: "test",
            config: toPulumiConfig(PROJECT, azureConfig({ workers: { encryptionAtHost: false } })),
            mocks: withFeature("NotFound"),
            run: () => program(),
        });
        assert.ok(unregistered.mocks.resources.length > 20, "an unregistered subscription deploys a cluster that does not ask for it");
    });
});
