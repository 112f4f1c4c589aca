/**
 * The components read in one look: each cloud builds the cluster in the same steps, a file per
 * step, and no function in components/ is longer than MAX_FUNCTION_LINES (docs/architecture.md).
 * Functions are found by TypeScript's parser: declarations, methods, arrow functions and
 * function expressions, measured from their first line to their last.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "..");
const COMPONENTS = path.join(ROOT, "components");
const MAX_FUNCTION_LINES = 150;
/** The steps both clouds have, each in its own file under components/aws/ and components/azure/. */
const COMMON_STEPS = ["context", "network", "security", "identity", "lease", "storage", "workers", "load-balancer", "audit", "alerts", "backup", "index"];

/** Every function in `source` longer than `limit` lines, as `file:line name (n lines)`. */
function longFunctions(fileName: string, source: string, limit: number): string[] {
    const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
    const found: string[] = [];
    const visit = (node: ts.Node) => {
        if (ts.isFunctionLike(node) && "body" in node && node.body) {
            const first = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
            const last = file.getLineAndCharacterOfPosition(node.getEnd()).line;
            const lines = last - first + 1;
            if (lines > limit) {
                const named =
                    node.name && ts.isIdentifier(node.name)
                        ? node.name.text
                        : ts.isVariableDeclaration(node.parent) && ts.isIdentifier(node.parent.name)
                          ? node.parent.name.text
                          : "(anonymous)";
                found.push(`${fileName}:${first + 1} ${named} (${lines} lines)`);
            }
        }
        ts.forEachChild(node, visit);
    };
    visit(file);
    return found;
}

function tsFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(dir, entry.name);
        return entry.isDirectory() ? tsFiles(full) : entry.name.endsWith(".ts") ? [full] : [];
    });
}

describe("layout of components/", () => {
    it("finds a long function, arrow or method, and passes a short one", () => {
        const body = (n: number) => Array.from({ length: n }, (_, i) => `    const v${i} = ${i};`).join("\n");
        const source = [
            `export function long() {\n${body(6)}\n}`,
            `const arrow = () => {\n${body(6)}\n};`,
            `class C {\n    method() {\n${body(6)}\n    }\n}`,
            `function short() {\n${body(2)}\n}`,
        ].join("\n");
        assert.deepStrictEqual(longFunctions("x.ts", source, 5), ["x.ts:1 long (8 lines)", "x.ts:9 arrow (8 lines)", "x.ts:18 method (8 lines)"]);
    });

    it(`has no function over ${MAX_FUNCTION_LINES} lines`, () => {
        const files = tsFiles(COMPONENTS);
        assert.ok(files.length > 30, `only ${files.length} files found`);
        const long = files.flatMap((f) => longFunctions(path.relative(ROOT, f), fs.readFileSync(f, "utf8"), MAX_FUNCTION_LINES));
        assert.deepStrictEqual(long, []);
    });

    it("plans once: outside model.ts, no code derives the network, the workers or a channel's health check itself (planCluster does)", () => {
        const derivations = /\b(planNetwork|planWorkers|healthCheckFor)\(/;
        const files = ["components", "drill", "boot", "tools", "offline", "automation"].flatMap((dir) => tsFiles(path.join(ROOT, dir)));
        const found = files
            .filter((f) => f !== path.join(COMPONENTS, "model.ts"))
            .flatMap((f) =>
                fs
                    .readFileSync(f, "utf8")
                    .split("\n")
                    .map((line, i) => [line, i] as const)
                    .filter(([line]) => derivations.test(line) && !line.trim().startsWith("*") && !line.trim().startsWith("//"))
                    .map(([line, i]) => `${path.relative(ROOT, f)}:${i + 1}: ${line.trim()}`),
            );
        assert.deepStrictEqual(found, []);
    });

    it("builds each cloud in the same steps, a file per step", () => {
        for (const cloud of ["aws", "azure"]) {
            const files = new Set(fs.readdirSync(path.join(COMPONENTS, cloud)).map((f) => f.replace(/\.ts$/, "")));
            assert.deepStrictEqual(
                COMMON_STEPS.filter((step) => !files.has(step)),
                [],
                `components/${cloud}/ lacks step files`,
            );
        }
    });
});
