/**
 * `storage.restoreFrom`: a worker's data disk built from a recovery point, as a reviewed
 * `pulumi up --replace`; and a rebuilt worker, which must give up its fixed address, NIC and disk
 * before its successor can take them.
 */
import * as assert from "assert";
import { StackRun, awsConfig, azureConfig, runConfig, runStack } from "./helpers";

const T = {
    instance: "aws:ec2/instance:Instance",
    volume: "aws:ebs/volume:Volume",
    key: "aws:kms/key:Key",
    vm: "azure-native:compute:VirtualMachine",
    disk: "azure-native:compute:Disk",
};

const SNAPSHOT = "snap-0123456789abcdef0";
const AZURE_SNAPSHOT = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/iguana-snapshots-rg/providers/Microsoft.Compute/snapshots/iguana-wk1-data-20261206";

const byName = (run: StackRun, type: string) => Object.fromEntries(run.ofType(type).map((r) => [r.name, r]));

describe("restore and rebuild: a worker's disk from a recovery point", function () {
    this.timeout(60000);

    for (const stack of ["aws-dev", "azure-dev"]) {
        it(`${stack}: a worker is replaced delete-first (its fixed address, NIC and disk take one machine at a time); its disk is not`, async () => {
            const run = await runStack(stack);
            const [machine, disk] = stack.startsWith("aws") ? [T.instance, T.volume] : [T.vm, T.disk];
            assert.deepStrictEqual(
                run.ofType(machine).map((m) => [m.name, m.deleteBeforeReplace]),
                [
                    ["iguana-wk1", true],
                    ["iguana-wk2", true],
                ],
            );
            // A restored disk is created before the old one leaves the stack (kept, not deleted).
            for (const d of run.ofType(disk)) assert.deepStrictEqual([d.name, d.deleteBeforeReplace, d.retainOnDelete], [d.name, false, true]);
        });
    }

    it("AWS: WK2's volume is built from its snapshot, encrypted with the project key at the configured size; WK1's is empty", async () => {
        const run = await runConfig(awsConfig({ storage: { restoreFrom: { wk2: SNAPSHOT } }, workers: { dataDiskGb: 200 } }));
        const volumes = byName(run, T.volume);
        const key = run.one(T.key, "iguana-key");
        assert.deepStrictEqual(
            [volumes["iguana-wk2-data"].inputs.snapshotId, volumes["iguana-wk2-data"].inputs.size, volumes["iguana-wk2-data"].inputs.kmsKeyId],
            [SNAPSHOT, 200, key.state.arn],
        );
        assert.strictEqual(volumes["iguana-wk1-data"].inputs.snapshotId, undefined);
    });

    it("Azure: WK1's disk is a copy of its snapshot; WK2's is empty", async () => {
        const run = await runConfig(azureConfig({ storage: { restoreFrom: { wk1: AZURE_SNAPSHOT } } }));
        const disks = byName(run, T.disk);
        assert.deepStrictEqual(disks["iguana-wk1-data"].inputs.creationData, { createOption: "Copy", sourceResourceId: AZURE_SNAPSHOT });
        assert.deepStrictEqual(disks["iguana-wk2-data"].inputs.creationData, { createOption: "Empty" });
    });

    it("setting or clearing a recovery point never replaces a disk by itself: the restore is an explicit --replace", async () => {
        for (const [run, disk, property] of [
            [await runConfig(awsConfig({ storage: { restoreFrom: { wk1: SNAPSHOT } } })), T.volume, "snapshotId"],
            [await runConfig(azureConfig({ storage: { restoreFrom: { wk1: AZURE_SNAPSHOT } } })), T.disk, "creationData"],
        ] as const) {
            for (const d of run.ofType(disk)) assert.deepStrictEqual(d.ignoreChanges, [property], `${d.name}`);
        }
    });
});
