/**
 * No import cycle anywhere in the project, type-only imports included: a module's dependencies
 * must be readable without reading the module back. The imports are read by TypeScript's own
 * pre-processor (ts.preProcessFile), not by a pattern.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "..");

/** Every .ts file tsconfig.json includes (its globs are all `dir/**\/*.ts` or a single file). */
function projectFiles(): string[] {
    const include: string[] = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8")).include;
    const files: string[] = [];
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(full);
            else if (entry.name.endsWith(".ts")) files.push(full);
        }
    };
    for (const pattern of include) {
        if (pattern.endsWith("/**/*.ts")) walk(path.join(ROOT, pattern.slice(0, -"/**/*.ts".length)));
        else files.push(path.join(ROOT, pattern));
    }
    return files;
}

/** Relative imports of `file` resolved to project files. */
function importsOf(file: string, known: Set<string>): string[] {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true);
    return importedFiles
        .filter((i) => i.fileName.startsWith("."))
        .map((i) => path.resolve(path.dirname(file), i.fileName))
        .map((p) => [`${p}.ts`, path.join(p, "index.ts")].find((c) => known.has(c)))
        .filter((p): p is string => p !== undefined);
}

/** The strongly connected components with more than one file (Tarjan), or a file importing itself. */
function importCycles(graph: Map<string, string[]>): string[][] {
    let counter = 0;
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string) => {
        index.set(v, counter);
        low.set(v, counter++);
        stack.push(v);
        onStack.add(v);
        for (const w of graph.get(v) ?? []) {
            if (!index.has(w)) {
                visit(w);
                low.set(v, Math.min(low.get(v)!, low.get(w)!));
            } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        if (low.get(v) === index.get(v)) {
            const component: string[] = [];
            let w: string;
            do {
                w = stack.pop()!;
                onStack.delete(w);
                component.push(w);
            } while (w !== v);
            if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
        }
    };
    for (const v of graph.keys()) if (!index.has(v)) visit(v);
    return cycles;
}

describe("imports", () => {
    it("finds a cycle when there is one (type-only imports count)", () => {
        const graph = new Map([
            ["a", ["b"]],
            ["b", ["c"]],
            ["c", ["a"]],
            ["d", ["a"]],
        ]);
        assert.deepStrictEqual(importCycles(graph), [["a", "b", "c"]]);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "imports-"));
        fs.writeFileSync(path.join(dir, "x.ts"), 'import type { Y } from "./y";\nexport interface X { y: Y }\n');
        fs.writeFileSync(path.join(dir, "y.ts"), 'import {\n    x,\n} from "./x";\nexport type Y = typeof x;\n');
        const known = new Set([path.join(dir, "x.ts"), path.join(dir, "y.ts")]);
        assert.deepStrictEqual(importsOf(path.join(dir, "x.ts"), known), [path.join(dir, "y.ts")]);
        assert.deepStrictEqual(importsOf(path.join(dir, "y.ts"), known), [path.join(dir, "x.ts")]);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("has no cycle anywhere in the project", () => {
        const files = projectFiles();
        assert.ok(files.length > 50, `only ${files.length} files found`);
        const known = new Set(files);
        const graph = new Map(files.map((f) => [f, importsOf(f, known)]));
        const cycles = importCycles(graph).map((c) => c.map((f) => path.relative(ROOT, f)));
        assert.deepStrictEqual(cycles, []);
    });
});
