/**
 * What holds the queue, and the audit trail (the flow logs: audit), survives `pulumi destroy`
 * and a replacement, and so does what it needs to be read.
 */
import * as assert from "assert";
import { listStacks, loadStackClusterConfig } from "../offline/stack-config";
import { StackRun, awsConfig, azureConfig, runConfig, runStack } from "./helpers";
import { RecordedResource } from "../offline/mocks";
import { HOLDS_BACKUPS } from "../components/constants";

const AWS_DATA = ["aws:ebs/volume:Volume", "aws:efs/fileSystem:FileSystem", "aws:cloudwatch/logGroup:LogGroup", "aws:backup/vault:Vault"];
// The flow logs' account keeps its lifecycle rule: kept logs are still deleted after their retention.
const AZURE_DATA = [
    "azure-native:compute:Disk",
    "azure-native:storage:StorageAccount",
    "azure-native:storage:FileShare",
    "azure-native:storage:ManagementPolicy",
    "azure-native:dataprotection:BackupVault",
    // The workers' logs, and the Syslog table's retention that keeps them.
    "azure-native:operationalinsights:Workspace",
    "azure-native:operationalinsights:Table",
];
/** Where Azure Disk Backup writes its snapshots: a resource group that holds recovery points. */
const isSnapshotGroup = (r: RecordedResource) => r.type === RG && r.inputs.tags?.holds === HOLDS_BACKUPS;
const RG = "azure-native:resources:ResourceGroup";
const AWS_LEASE_TABLE = "aws:dynamodb/table:Table";

/** The data resources of a run, and everything a kept data resource needs: its KMS key, its resource group. */
function stateful(run: StackRun): { data: RecordedResource[]; needed: RecordedResource[] } {
    if (run.outputs.cloud === "aws") {
        const data = run.mocks.resources.filter((r) => AWS_DATA.includes(r.type));
        const keyOf = (d: RecordedResource) => d.inputs.kmsKeyId ?? d.inputs.kmsKeyArn;
        const keys = run.ofType("aws:kms/key:Key").filter((k) => data.some((d) => keyOf(d) === k.state.arn));
        assert.ok(data.length > 0 && data.every((d) => keys.some((k) => k.state.arn === keyOf(d))), "every data resource is encrypted with a key of the stack");
        return { data, needed: keys };
    }
    // The lease's account holds no data (see below).
    const data = run.mocks.resources.filter((r) => (AZURE_DATA.includes(r.type) && r.name !== "iguana-lease") || isSnapshotGroup(r));
    const groups = run.ofType(RG).filter((g) => data.some((d) => d.inputs.resourceGroupName === g.state.name));
    return { data, needed: groups };
}

function assertKept(run: StackRun, protect: boolean, label: string) {
    const { data, needed } = stateful(run);
    assert.ok(data.length > 0, `${label}: has data resources`);
    for (const r of [...data, ...needed]) {
        assert.strictEqual(r.retainOnDelete, true, `${label}: ${r.type} ${r.name} is kept by destroy`);
        assert.strictEqual(r.protect, protect, `${label}: ${r.type} ${r.name} protect=${protect}`);
    }
}

describe("data kept on destroy and replacement", function () {
    this.timeout(60000);

    for (const [label, config] of [
        ["AWS data volumes", awsConfig()],
        ["AWS shared EFS", awsConfig({ storage: { queueRecovery: "shared" } })],
        ["Azure data disks", azureConfig()],
        ["Azure shared NFS share", azureConfig({ storage: { queueRecovery: "shared" } })],
    ] as const) {
        it(`${label}: kept with what reads it (the KMS key, the resource group); protected only with storage.protect`, async () => {
            assertKept(await runConfig(config), false, label);
            const storage = { ...((config as any).storage ?? {}), protect: true };
            assertKept(await runConfig({ ...config, storage }), true, `${label} with storage.protect`);
        });
    }

    it("Azure: the kept data is not in the resource group a destroy deletes", async () => {
        const run = await runConfig(azureConfig());
        const deleted = run.ofType(RG).filter((g) => !g.retainOnDelete);
        assert.ok(deleted.length > 0);
        for (const r of stateful(run).data) {
            assert.ok(!deleted.some((g) => g.state.name === r.inputs.resourceGroupName), `${r.name} is outside ${deleted.map((g) => g.name).join(", ")}`);
        }
    });

    it("only what holds data is kept (and the AWS lease table, see below): a destroy removes the rest", async () => {
        for (const run of [await runConfig(awsConfig()), await runConfig(azureConfig())]) {
            const { data, needed } = stateful(run);
            const kept = run.mocks.resources
                .filter((r) => r.retainOnDelete)
                .map((r) => r.name)
                .sort();
            assert.deepStrictEqual(kept, [...data, ...needed, ...run.ofType(AWS_LEASE_TABLE)].map((r) => r.name).sort());
        }
    });

    it("the Azure lease account holds no data: in the resource group a destroy deletes, never kept or protected", async () => {
        for (const protect of [false, true]) {
            const run = await runConfig(azureConfig({ storage: { protect } }));
            const account = run.one("azure-native:storage:StorageAccount", "iguana-lease");
            assert.strictEqual(account.inputs.resourceGroupName, run.one(RG, "iguana-rg").state.name);
            assert.deepStrictEqual([account.retainOnDelete, account.protect], [false, false], `storage.protect: ${protect}`);
        }
    });

    it("the AWS lease table holds no data: kept by destroy only because its deletion protection would fail the destroy, never protected", async () => {
        for (const protect of [false, true]) {
            const run = await runConfig(awsConfig({ storage: { protect } }));
            const table = run.one(AWS_LEASE_TABLE, "iguana-lease");
            assert.deepStrictEqual([table.inputs.deletionProtectionEnabled, table.retainOnDelete, table.protect], [true, true, false], `storage.protect: ${protect}`);
        }
    });

    for (const stack of listStacks().filter((s) => s.endsWith("-prod"))) {
        it(`${stack}: a production stack protects its data`, async () => {
            assert.strictEqual(loadStackClusterConfig(stack).storage.protect, true);
            assertKept(await runStack(stack), true, stack);
        });
    }
});
