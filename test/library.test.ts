/**
 * The package as a library: `require("iguana-ha")` (package.json main) gives HaIguanaCluster and
 * registers nothing; the component validates whatever config it is given, before any child.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { Provider as AwsProvider } from "@pulumi/aws/provider";
import { ConfigValidationError, HaIguanaCluster, HaIguanaClusterArgs, validateClusterConfig } from "../components";
import { evaluate } from "../offline/evaluate";
import { RecordingMocks } from "../offline/mocks";
import { cloudInitFiles, workerBootstraps } from "../offline/worker-bootstrap";
import { listStacks, readStackConfig } from "../offline/stack-config";
import { readRawConfig } from "../components/program";
import { runStack } from "./helpers";
import { providerRegionMismatch } from "../components/aws/context";
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
            evaluate({ stack: "lib", config: {}, mocks, run: () => new HaIguanaCluster("lib", raw as unknown as HaIguanaClusterArgs) }),
            (e: unknown) =>
                e instanceof ConfigValidationError &&
                /channels\[0\]\.port: 99999 is outside the allowed range 1-65535/.test(e.message) &&
                /network\.allowedCidrs: is empty/.test(e.message),
        );
        assert.deepStrictEqual(mocks.resources, [], "no child registered");
    });

    it("builds the same cluster from the stack file's raw keys as from the validated config", async () => {
        for (const stack of listStacks()) {
            const { config, secretKeys } = readStackConfig(stack);
            const fromRaw = await evaluate({ stack, config, secretKeys, run: () => new HaIguanaCluster("iguana", readRawConfig() as HaIguanaClusterArgs) });
            const shipped = await runStack(stack);
            assert.deepStrictEqual([...fromRaw.mocks.urns].sort(), [...shipped.mocks.urns].sort(), stack);
        }
    });

    it("exposes its main resources, each the one registered under its name, on its own cloud only", async () => {
        const urnsOf = (resources: Record<string, pulumi.Resource | pulumi.Resource[] | undefined>) =>
            pulumi.all(
                Object.entries(resources).map(([key, value]) =>
                    pulumi.all((value === undefined ? [] : Array.isArray(value) ? value : [value]).map((r) => r.urn)).apply((urns) => [key, urns] as const),
                ),
            );
        const names = (urns: string[]) => urns.map((u) => u.split("::").pop());
        for (const stack of ["aws-dev", "azure-dev"]) {
            const { config, secretKeys } = readStackConfig(stack);
            const { outputs, mocks } = await evaluate({
                stack,
                config,
                secretKeys,
                run: () => {
                    const cluster = new HaIguanaCluster("iguana", readRawConfig() as HaIguanaClusterArgs);
                    const resourcesOnly = <T extends object>(all: T) =>
                        Object.fromEntries(Object.entries(all).filter(([, v]) => !pulumi.Output.isInstance(v) && !(Array.isArray(v) && pulumi.Output.isInstance(v[0]))));
                    return {
                        aws: cluster.aws ? urnsOf(resourcesOnly(cluster.aws)) : pulumi.output([]),
                        azure: cluster.azure ? urnsOf(resourcesOnly(cluster.azure)) : pulumi.output([]),
                    };
                },
            });
            const exposed = Object.fromEntries((stack.startsWith("aws") ? outputs.aws : outputs.azure) as [string, string[]][]);
            assert.deepStrictEqual(stack.startsWith("aws") ? outputs.azure : outputs.aws, [], `${stack}: nothing of the other cloud`);
            for (const urns of Object.values(exposed)) for (const urn of urns) assert.ok(mocks.urns.includes(urn), `${urn} was registered`);
            if (stack === "aws-dev") {
                assert.deepStrictEqual(names(exposed.instances), ["iguana-wk1", "iguana-wk2"]);
                assert.deepStrictEqual(names(exposed.dataVolumes), ["iguana-wk1-data", "iguana-wk2-data"]);
                assert.deepStrictEqual(names(exposed.leaseTable), ["iguana-lease"]);
                assert.strictEqual(exposed.loadBalancers.length, mocks.resources.filter((r) => r.type === "aws:lb/loadBalancer:LoadBalancer").length);
                assert.deepStrictEqual(exposed.vpc.length, 1);
                assert.deepStrictEqual(names(exposed.flowLogGroup), ["iguana-flow-logs"]);
                assert.deepStrictEqual(names(exposed.alertsTopic), ["iguana-alerts"]);
                assert.ok(exposed.alarms.length > 2);
            } else {
                assert.deepStrictEqual(names(exposed.virtualMachines), ["iguana-wk1", "iguana-wk2"]);
                assert.deepStrictEqual(names(exposed.dataDisks), ["iguana-wk1-data", "iguana-wk2-data"]);
                assert.deepStrictEqual(names(exposed.leaseAccount), ["iguana-lease"]);
                assert.deepStrictEqual(names(exposed.loadBalancer), ["iguana-lb"]);
                assert.deepStrictEqual(names(exposed.flowLogAccount), ["iguana-flow-logs"]);
                assert.deepStrictEqual(names(exposed.alertsActionGroup), ["iguana-alerts"]);
                assert.ok(exposed.alerts.length > 2);
            }
        }
    });

    it("uses the config validateClusterConfig returned as is, and validates a copy of it like any input", async () => {
        const raw = { cloud: "aws", region: "eu-west-1", channels: [{ name: "adt-in", protocol: "llp", port: 2575 }], network: { allowedCidrs: ["198.51.100.0/24"] } };
        const validated = validateClusterConfig(raw, "lib");
        const ok = await evaluate({ stack: "lib", config: { "aws:region": "eu-west-1" }, run: () => new HaIguanaCluster("lib", validated).vip });
        assert.ok(ok.mocks.resources.length > 20);
        // A copy carries every cloud's defaults, which a user on AWS may not set: refused, by name.
        await assert.rejects(
            evaluate({ stack: "lib", config: { "aws:region": "eu-west-1" }, run: () => new HaIguanaCluster("lib", { ...validated }) }),
            /workers\.encryptionAtHost: is an Azure setting/,
        );
    });

    it("on AWS, is refused when its provider deploys to another region than its config names; built in the provider's region when they agree", async () => {
        const raw = (region: string): HaIguanaClusterArgs => ({
            cloud: "aws",
            region,
            channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
            network: { allowedCidrs: ["198.51.100.0/24"] },
        });
        // The stack's own aws:region is us-east-1 in both: only the explicit provider says eu-west-1.
        const build = (region: string) => () => {
            const euWest1 = new AwsProvider("eu-west-1", { region: "eu-west-1" });
            return new HaIguanaCluster("lib", raw(region), { providers: { aws: euWest1 } }).vip;
        };
        await assert.rejects(evaluate({ stack: "lib", config: { "aws:region": "us-east-1" }, run: build("us-east-1") }), (e: unknown) => {
            assert.ok(String((e as Error).message).includes(providerRegionMismatch("us-east-1", "eu-west-1")), String(e));
            return true;
        });
        const { mocks } = await evaluate({ stack: "lib", config: { "aws:region": "us-east-1" }, run: build("eu-west-1") });
        const zones = mocks.resources.filter((r) => r.type === "aws:ec2/subnet:Subnet").map((r) => r.inputs.availabilityZone);
        assert.ok(zones.length >= 2 && zones.every((z) => /^eu-west-1[ab]$/.test(z)), `subnets in the provider's zones: ${zones}`);
        const secretPolicy = mocks.resources.find((r) => r.name === "lib-worker-read-secret")!.inputs.policy;
        assert.match(secretPolicy, /secretsmanager\.eu-west-1\.amazonaws\.com/);
        const endpoints = mocks.resources.filter((r) => r.type === "aws:ec2/vpcEndpoint:VpcEndpoint").map((r) => r.inputs.serviceName);
        assert.ok(endpoints.length > 0 && endpoints.every((n) => n.startsWith("com.amazonaws.eu-west-1.")), `endpoints: ${endpoints}`);
    });

    it("on AWS, given no region, takes its provider's: nothing it builds names another region", async () => {
        // Floating IP and shared storage too, for the EC2 endpoint and the peer fence's locator.
        const args: HaIguanaClusterArgs = {
            cloud: "aws",
            channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
            network: { allowedCidrs: ["198.51.100.0/24"], adminCidrs: ["198.51.100.0/28"] },
            failover: { strategy: "floating-ip" },
            storage: { queueRecovery: "shared" },
        };
        const { mocks } = await evaluate({
            stack: "lib",
            config: { "aws:region": "us-east-1" },
            run: () => new HaIguanaCluster("lib", args, { providers: { aws: new AwsProvider("eu-west-1", { region: "eu-west-1" }) } }).vip,
        });
        const built = mocks.resources.filter((r) => r.type !== "pulumi:providers:aws");
        const bootstraps = workerBootstraps(built);
        const texts = [...built.map((r) => [r.name, JSON.stringify(r.inputs)]), ...bootstraps.map((b) => [`${b.resource} cloud-init`, b.cloudInit])];
        assert.deepStrictEqual(
            texts.filter(([, text]) => text.includes("us-east-1")).map(([resourceName]) => resourceName),
            [],
            "what names the stack's default region",
        );
        const named = (resourceName: string) => JSON.stringify(built.find((r) => r.name === resourceName)!.inputs);
        for (const resourceName of ["lib-worker-read-secret", "lib-worker-lease", "lib-lease", "lib-ec2-api"]) {
            assert.match(named(resourceName), /eu-west-1/, resourceName);
        }
        assert.strictEqual(bootstraps.length, 2);
        for (const { resource, cloudInit } of bootstraps) {
            // The admin password's, the lease's, the VIP's and the peer fence's locators.
            const regions = cloudInitFiles(cloudInit).flatMap((f) => [...f.content.matchAll(/\bregion"?(?:: ?"|=')([a-z0-9-]+)/g)].map((m) => m[1]));
            assert.ok(regions.length >= 4 && regions.every((r) => r === "eu-west-1"), `${resource}: regions in its files: ${regions}`);
        }
    });

    it("on Azure, refuses a config without a region (every Azure resource names its location), before any child", async () => {
        const mocks = new RecordingMocks();
        const args = { cloud: "azure", channels: [{ name: "adt-in", protocol: "llp", port: 2575 }], network: { allowedCidrs: ["198.51.100.0/24"] } } as HaIguanaClusterArgs;
        await assert.rejects(
            evaluate({ stack: "lib", config: {}, mocks, run: () => new HaIguanaCluster("lib", args) }),
            (e: unknown) => e instanceof ConfigValidationError && /region: is required for cloud "azure"/.test(e.message),
        );
        assert.deepStrictEqual(mocks.resources, [], "no child registered");
    });
});
