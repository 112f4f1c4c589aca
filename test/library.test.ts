/**
 * The package as a library: `require("iguana-ha")` (package.json main) gives HaIguanaCluster and
 * registers nothing; the component validates whatever config it is given, before any child.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { ConfigValidationError, HaIguanaCluster, validateClusterConfig } from "../components";
import { evaluate } from "../tools/evaluate";
import { RecordingMocks } from "../tools/mocks";
import { listStacks, readStackConfig } from "../tools/stack-config";
import { readRawConfig } from "../components/program";
import { runStack } from "./helpers";
import { runProcess } from "./tools";

const ROOT = path.resolve(__dirname, "..");

describe("the library (package.json main)", function () {
    this.timeout(60000);

    it("loads outside any Pulumi program and registers nothing; Pulumi.yaml runs the program from index.ts", async () => {
        const script = "const lib = require(process.cwd()); console.log(Object.keys(lib).sort().join(','))";
        const { status, stdout, stderr } = await runProcess(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], { cwd: ROOT });
        assert.strictEqual(status, 0, stderr);
        assert.strictEqual(stdout.trim(), "ConfigValidationError,HaIguanaCluster,validateClusterConfig");
        const project = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { main?: string };
        assert.strictEqual(project.main, "index.ts");
        assert.match(fs.readFileSync(path.join(ROOT, project.main), "utf8"), /program\(\)/);
    });

    it("validates a config given in code: every bad key in one error, nothing registered", async () => {
        const mocks = new RecordingMocks();
        const raw = { cloud: "aws", region: "eu-west-1", channels: [{ name: "adt-in", protocol: "llp", port: 99999 }], network: { allowedCidrs: [] } };
        await assert.rejects(
            evaluate({ stack: "lib", config: {}, mocks, run: () => new HaIguanaCluster("lib", { config: raw }) }),
            (e: unknown) => e instanceof ConfigValidationError && /channels\[0\]\.port: 99999 is outside the allowed range 1-65535/.test(e.message) && /network\.allowedCidrs: is empty/.test(e.message),
        );
        assert.deepStrictEqual(mocks.resources, [], "no child registered");
    });

    it("builds the same cluster from the stack file's raw keys as from the validated config", async () => {
        for (const stack of listStacks()) {
            const { config, secretKeys } = readStackConfig(stack);
            const fromRaw = await evaluate({ stack, config, secretKeys, run: () => new HaIguanaCluster("iguana", { config: readRawConfig() }) });
            const shipped = await runStack(stack);
            assert.deepStrictEqual([...fromRaw.mocks.urns].sort(), [...shipped.mocks.urns].sort(), stack);
        }
    });

    it("uses the config validateClusterConfig returned as is, and validates a copy of it like any input", async () => {
        const raw = { cloud: "aws", region: "eu-west-1", channels: [{ name: "adt-in", protocol: "llp", port: 2575 }], network: { allowedCidrs: ["198.51.100.0/24"] } };
        const validated = validateClusterConfig(raw, "lib");
        const ok = await evaluate({ stack: "lib", config: {}, run: () => new HaIguanaCluster("lib", { config: validated }).vip });
        assert.ok(ok.mocks.resources.length > 20);
        // A copy carries every cloud's defaults, which a user on AWS may not set: refused, by name.
        await assert.rejects(
            evaluate({ stack: "lib", config: {}, run: () => new HaIguanaCluster("lib", { config: { ...validated } }) }),
            /workers\.encryptionAtHost: is an Azure setting/,
        );
    });
});
