/** The versions the project states are the versions it runs with, and Pulumi.yaml describes every key. */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { CONFIG_KEYS, NESTED_KEYS } from "../components/config";

// semver comes with @pulumi/pulumi; typed here to need no @types package of its own.
const semver: { minVersion(range: string): { major: number; minor: number } | null; satisfies(version: unknown, range: string): boolean } = require("semver");

const ROOT = path.join(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const project = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, { description?: string }> };

describe("versions and the project file", () => {
    it("every dependency accepts the oldest Node.js that package.json engines admits", () => {
        const oldest = semver.minVersion(pkg.engines.node)!;
        for (const name of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
            const dep = JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8"));
            const wants = dep.engines?.node;
            if (wants) assert.ok(semver.satisfies(oldest, wants), `${name}@${dep.version} needs Node ${wants}; engines says ${pkg.engines.node}`);
        }
    });

    it("the README states the Node.js version engines does", () => {
        const { major, minor } = semver.minVersion(pkg.engines.node)!;
        const stated = `${major}.${minor}`;
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        const claims = [...readme.matchAll(/Node\.js (\d+(?:\.\d+)?) or later/g)].map((m) => m[1]);
        assert.ok(claims.length > 0, "the README names the Node.js version");
        for (const claim of claims) assert.strictEqual(claim, stated, `README says Node.js ${claim}; engines says ${pkg.engines.node}`);
    });

    it("docs/configuration.md's reference lists exactly the keys the validator reads, in its order, with every nested key", () => {
        const doc = fs.readFileSync(path.join(ROOT, "docs", "configuration.md"), "utf8");
        const rows = [...doc.matchAll(/^\| `([a-zA-Z]+)` \| (.*) \|$/gm)].map(([, key, rest]) => [key, rest] as const);
        assert.deepStrictEqual(
            rows.map(([key]) => key),
            [...CONFIG_KEYS],
        );
        const nestedOf: Record<string, readonly string[]> = {
            ...NESTED_KEYS,
            channels: NESTED_KEYS.channel,
            network: [...NESTED_KEYS.network, ...NESTED_KEYS.existing, ...NESTED_KEYS.subnet],
        };
        for (const [key, rest] of rows) {
            for (const nested of nestedOf[key] ?? []) assert.match(rest, new RegExp(`\\b${nested}\\b`), `docs/configuration.md ${key} names ${nested}`);
        }
    });

    it("Pulumi.yaml describes exactly the keys the validator reads, and every nested key", () => {
        assert.deepStrictEqual(Object.keys(project.config).sort(), [...CONFIG_KEYS].sort());
        const nestedOf: Record<string, readonly string[]> = { ...NESTED_KEYS, channels: NESTED_KEYS.channel };
        for (const key of CONFIG_KEYS) {
            const description = project.config[key].description ?? "";
            assert.ok(description.length > 0, `${key} has a description`);
            for (const nested of nestedOf[key] ?? []) assert.match(description, new RegExp(`\\b${nested}\\b`), `Pulumi.yaml ${key} describes ${nested}`);
        }
    });
});
