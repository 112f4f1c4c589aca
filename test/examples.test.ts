/** The examples the README points to compile against the project's own types (they are never run: they deploy). */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const ROOT = path.join(__dirname, "..");

describe("examples/", function () {
    this.timeout(120000);

    it("every example type-checks with the project's compiler options", () => {
        const files = fs
            .readdirSync(path.join(ROOT, "examples"))
            .filter((f) => f.endsWith(".ts"))
            .map((f) => path.join(ROOT, "examples", f));
        assert.ok(files.length >= 2);
        const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
        const program = ts.createProgram(files, { ...config.options, noEmit: true });
        const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
        assert.deepStrictEqual(diagnostics, []);
    });

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
