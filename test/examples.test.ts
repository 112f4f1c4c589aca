/**
 * The examples the README points to. They type-check with the project's own types in
 * `npm run typecheck` (tsconfig.json includes examples/, and CI runs it), not here a second time:
 * a second TypeScript program over the project cost the suite 12 s. They are never run (they
 * deploy), except examples/existing-network.ts under mocks (existing-network.test.ts).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const ROOT = path.join(__dirname, "..");

describe("examples/", () => {
    it("the Automation API docs' example is examples/portal-inline-stack.ts and has no top-level await", () => {
        const doc = fs.readFileSync(path.join(ROOT, "docs", "automation.md"), "utf8");
        assert.match(doc, /\(\.\.\/examples\/portal-inline-stack\.ts\)/);
        const source = fs.readFileSync(path.join(ROOT, "examples", "portal-inline-stack.ts"), "utf8");
        const file = ts.createSourceFile("x.ts", source, ts.ScriptTarget.ES2020, true);
        const topLevelAwait = file.statements.some((s) => {
            let found = false;
            const visit = (n: ts.Node): void => {
                if (found || ts.isFunctionLike(n)) return;
                if (ts.isAwaitExpression(n)) found = true;
                else ts.forEachChild(n, visit);
            };
            visit(s);
            return found;
        });
        assert.ok(!topLevelAwait, "a CommonJS project cannot run a top-level await");
    });
});
