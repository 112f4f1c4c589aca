/**
 * Every shipped stack's resources by URN (type, name, parent chain): what `pulumi up` tracks a
 * resource by. A URN that changes is a delete and a create on the next update: for a worker, its
 * data disk or the lease table, an outage or lost data. A change here is deliberate only with an
 * alias on the moved resource and a line in CHANGELOG.md; then rewrite the snapshot with
 * IGUANA_UPDATE_URN_SNAPSHOT=1 npm test -- -g "keep their URNs"
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { listStacks } from "../offline/stack-config";
import { runStack } from "./helpers";

const SNAPSHOT = path.join(__dirname, "resource-urns.snapshot.json");

describe("resources keep their URNs (no resource renamed, re-parented or retyped without an alias)", () => {
    const stacks = listStacks();
    const snapshot: Record<string, string[]> = fs.existsSync(SNAPSHOT) ? JSON.parse(fs.readFileSync(SNAPSHOT, "utf8")) : {};
    const seen: Record<string, string[]> = {};

    after(() => {
        if (process.env.IGUANA_UPDATE_URN_SNAPSHOT === "1") fs.writeFileSync(SNAPSHOT, `${JSON.stringify(seen, null, 2)}\n`);
    });

    it("has a snapshot for every shipped stack, and none for a stack that is gone", () => {
        if (process.env.IGUANA_UPDATE_URN_SNAPSHOT === "1") return;
        assert.deepStrictEqual(Object.keys(snapshot).sort(), [...stacks].sort());
    });

    for (const stack of stacks) {
        it(`${stack}: the same URNs as the snapshot`, async () => {
            const urns = [...(await runStack(stack)).mocks.urns].sort();
            seen[stack] = urns;
            if (process.env.IGUANA_UPDATE_URN_SNAPSHOT === "1") return;
            assert.ok(urns.length > 20, `${stack} registered only ${urns.length} resources`);
            const before = new Set(snapshot[stack] ?? []);
            const now = new Set(urns);
            const gone = [...before].filter((u) => !now.has(u));
            const added = [...now].filter((u) => !before.has(u));
            assert.deepStrictEqual({ gone, added }, { gone: [], added: [] }, `${stack}: URNs changed; see this file's header for what a deliberate change needs`);
        });
    }
});
