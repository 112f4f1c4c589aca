/**
 * The Automation API module without a Pulumi CLI or a cloud: a fake workspace factory records
 * what would reach Pulumi; failures are built with the SDK's own error classes and classifier,
 * shaped as its exec() throws them. One test runs the real LocalWorkspace with no CLI on PATH.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as util from "util";
import * as pulumi from "@pulumi/pulumi";
import type {
    ConfigMap,
    ConfigValue,
    DestroyOptions as PulumiDestroyOptions,
    DestroyResult as PulumiDestroyResult,
    EngineEvent,
    OutputMap,
    PreviewOptions,
    PreviewResult as PulumiPreviewResult,
    RefreshOptions,
    RefreshResult as PulumiRefreshResult,
    UpOptions,
    UpResult as PulumiUpResult,
    UpdateSummary,
} from "@pulumi/pulumi/automation";
import {
    AutomationStack,
    BackendLoginError,
    ClusterConfigInput,
    IguanaAutomationError,
    InlineStackRequest,
    InvalidConfigError,
    OUTPUT_KEYS,
    OperationCancelledError,
    ProjectStackRequest,
    PulumiCliNotFoundError,
    PulumiOperationError,
    SecretsPassphraseError,
    StackDoesNotExistError,
    UnexpectedOutputsError,
    UpdateInProgressError,
    WorkspaceFactory,
    isSecret,
    openInlineStack,
    openProjectStack,
    prepareConfig,
    reveal,
} from "../automation";
import { CONFIG_KEYS, validateClusterConfig } from "../components/config";
import { PROJECT } from "../components/constants";
import { promiseOf } from "../offline/evaluate";
import { RecordingMocks, installMocks } from "../offline/mocks";
import { rawClusterConfig } from "../offline/stack-config";
import { runProcess, skipBecause } from "./tools";
import { CreateOrSelectInline, inlineStackFactory } from "../automation/workspace";

// The SDK's internal result class and classifier: exactly what LocalWorkspace throws.
const { CommandResult } = require("@pulumi/pulumi/automation/cmd") as {
    CommandResult: new (stdout: string, stderr: string, code: number, err?: Error) => object;
};
const { createCommandError } = require("@pulumi/pulumi/automation/errors") as { createCommandError(result: object): Error };

/** A `pulumi` command that exited non-zero, as the SDK's exec() throws it (classified, then wrapped once more). */
function cliFailure(stderr: string, stdout = "", code = 255): Error {
    const inner = createCommandError(new CommandResult(stdout, stderr, code));
    return createCommandError(new CommandResult("", inner.message, -2, inner));
}

/** No `pulumi` on PATH: execa's spawn error, wrapped by the SDK. */
function spawnFailure(): Error {
    const spawnError = Object.assign(new Error("Command failed with ENOENT: pulumi version\nspawn pulumi ENOENT"), {
        code: "ENOENT",
        errno: -2,
        syscall: "spawn pulumi",
        path: "pulumi",
        spawnargs: ["version"],
    });
    return createCommandError(new CommandResult("", spawnError.message, -2, spawnError));
}

const CONTRACT_OUTPUTS = {
    cloud: "aws",
    vip: "203.0.113.10",
    vipAddresses: ["203.0.113.10", "203.0.113.11"],
    dashboardUrl: "http://203.0.113.10:7654/",
    channelEndpoints: [
        { name: "adt-in", protocol: "llp", port: 2575, mode: "active-passive", endpoint: "203.0.113.10:2575" },
        { name: "fhir-api", protocol: "http", port: 2590, mode: "active-passive", endpoint: "http://203.0.113.10:2590/" },
    ],
    workers: [
        { name: "wk1", role: "primary", zone: "us-east-1a", privateIp: "10.40.128.10", id: "i-0aaa" },
        { name: "wk2", role: "backup", zone: "us-east-1b", privateIp: "10.40.192.10", id: "i-0bbb" },
    ],
};

function outputMap(values: Record<string, unknown> = CONTRACT_OUTPUTS, secretKeys: string[] = []): OutputMap {
    return Object.fromEntries(Object.entries(values).map(([k, value]) => [k, { value, secret: secretKeys.includes(k) }]));
}

const SUMMARY: UpdateSummary = {
    kind: "update",
    startTime: new Date(0),
    endTime: new Date(1000),
    message: "",
    environment: { exec_kind: "auto.inline" },
    config: { "aws:secretKey": { value: "[secret]", secret: true } },
    result: "succeeded",
    version: 3,
    resourceChanges: { create: 42 },
};

type Method = "setAllConfig" | "setConfig" | "removeConfig" | "preview" | "up" | "refresh" | "destroy" | "outputs";
type AnyOptions = PreviewOptions & UpOptions & RefreshOptions & PulumiDestroyOptions;

/** Records every call; fails or hangs on request. */
class FakeStack implements AutomationStack {
    readonly calls: { method: Method; arg: unknown }[] = [];
    readonly failures: Partial<Record<Method, unknown>> = {};
    outputMap: OutputMap = outputMap();
    /** `up` waits for its signal to abort, then fails as the interrupted CLI does. */
    upWaitsForAbort = false;

    constructor(public name = "fake") {}

    optionsOf(method: Method): AnyOptions {
        const call = this.calls.find((c) => c.method === method);
        assert.ok(call, `${method} was not called`);
        return call.arg as AnyOptions;
    }

    private async record(method: Method, arg: unknown): Promise<void> {
        this.calls.push({ method, arg });
        const opts = arg as AnyOptions | undefined;
        opts?.onOutput?.(`${method}: progress\n`);
        opts?.onEvent?.({ sequence: this.calls.length, timestamp: 0, stdoutEvent: { message: method, color: "never" } });
        const failure = this.failures[method];
        if (failure) throw failure;
    }

    async setAllConfig(config: ConfigMap): Promise<void> {
        await this.record("setAllConfig", config);
    }

    async setConfig(key: string, value: ConfigValue, path?: boolean): Promise<void> {
        await this.record("setConfig", { key, value, path });
    }

    async removeConfig(key: string, path?: boolean): Promise<void> {
        await this.record("removeConfig", { key, path });
    }

    async preview(opts?: PreviewOptions): Promise<PulumiPreviewResult> {
        await this.record("preview", opts);
        return { stdout: "", stderr: "", changeSummary: { create: 42 } };
    }

    async up(opts?: UpOptions): Promise<PulumiUpResult> {
        await this.record("up", opts);
        if (this.upWaitsForAbort) {
            const signal = opts?.signal;
            assert.ok(signal, "up was given no signal to wait for");
            await new Promise((_, reject) => signal.addEventListener("abort", () => reject(cliFailure("error: update canceled\n", "Updating (fake)\n"))));
        }
        return { stdout: "", stderr: "", outputs: this.outputMap, summary: SUMMARY };
    }

    async refresh(opts?: RefreshOptions): Promise<PulumiRefreshResult> {
        await this.record("refresh", opts);
        return { stdout: "", stderr: "", summary: { ...SUMMARY, kind: "refresh" } };
    }

    async destroy(opts?: PulumiDestroyOptions): Promise<PulumiDestroyResult> {
        await this.record("destroy", opts);
        return { stdout: "", stderr: "", summary: { ...SUMMARY, kind: "destroy" } };
    }

    async outputs(): Promise<OutputMap> {
        await this.record("outputs", undefined);
        return this.outputMap;
    }
}

class FakeFactory implements WorkspaceFactory {
    readonly projectRequests: ProjectStackRequest[] = [];
    readonly inlineRequests: InlineStackRequest[] = [];
    openFailure?: unknown;

    constructor(readonly stack = new FakeStack()) {}

    get requestCount(): number {
        return this.projectRequests.length + this.inlineRequests.length;
    }

    async projectStack(request: ProjectStackRequest): Promise<AutomationStack> {
        this.projectRequests.push(request);
        if (this.openFailure) throw this.openFailure;
        this.stack.name = request.stackName;
        return this.stack;
    }

    async inlineStack(request: InlineStackRequest): Promise<AutomationStack> {
        this.inlineRequests.push(request);
        if (this.openFailure) throw this.openFailure;
        this.stack.name = request.stackName;
        return this.stack;
    }

    configSet(): ConfigMap {
        return this.stack.optionsOf("setAllConfig") as unknown as ConfigMap;
    }
}

/** Every contract key given, as `stacks/Pulumi.aws-dev.yaml` has them. */
const AWS_DEV_LIKE: ClusterConfigInput = {
    cloud: "aws",
    region: "us-east-1",
    environment: "dev",
    tags: { costCenter: "lab-4410" },
    iguana: { edition: "iguanax", installerUrl: "https://downloads.example.com/iguanax.tar.gz" },
    channels: [
        { name: "adt-in", protocol: "llp", port: 2575 },
        { name: "fhir-api", protocol: "http", port: 2590, mode: "active-active" },
    ],
    network: { cidr: "10.40.0.0/16", allowedCidrs: ["198.51.100.0/24"], adminCidrs: ["192.0.2.0/28"], natGateways: "single" },
    workers: { size: "t3.large", dataDiskGb: 50 },
    failover: { healthCheckIntervalSeconds: 10, unhealthyThreshold: 2, idleTimeoutSeconds: 1800 },
    storage: { queueRecovery: "none" },
    audit: { flowLogs: true, retentionDays: 365 },
    alerts: { emails: ["hl7-oncall@hospital.example"] },
    backup: { enabled: true, everyHours: 12, retentionDays: 14 },
    tls: { enabled: true },
};

const AZURE_MINIMAL: ClusterConfigInput = {
    cloud: "azure",
    region: "westeurope",
    channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
    network: { allowedCidrs: ["198.51.100.0/24"] },
};

/**
 * ClusterConfigInput is HaIguanaCluster's args with plain leaves: checked by `npm run typecheck`
 * (CI), which fails if either directive below stops finding an error.
 */
export const TYPE_CHECKS: ClusterConfigInput[] = [
    // @ts-expect-error an Output cannot be written into a stack's config
    { ...AZURE_MINIMAL, iguana: { installerUrl: pulumi.output("https://example.com/iguana.tar.gz") } },
    // @ts-expect-error a key the args do not have
    { ...AZURE_MINIMAL, region2: "westeurope" },
];

async function rejection(promise: Promise<unknown>): Promise<Error> {
    try {
        await promise;
    } catch (error) {
        assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
        return error;
    }
    assert.fail("expected the promise to reject");
}

function assertMentions(text: string, ...fragments: string[]): void {
    for (const fragment of fragments) assert.ok(text.includes(fragment), `expected "${fragment}" in:\n${text}`);
}

describe("automation: config given in code", () => {
    it("sets every contract key as JSON, as a stack file holds it, with the cloud's region key", async () => {
        const factory = new FakeFactory();
        await openInlineStack("portal-42", { config: AWS_DEV_LIKE, factory });

        assert.deepStrictEqual(
            factory.inlineRequests.map((r) => [r.stackName, r.projectName]),
            [["portal-42", PROJECT]],
        );
        const set = factory.configSet();
        const expected: ConfigMap = { "aws:region": { value: "us-east-1", secret: false } };
        for (const key of CONFIG_KEYS) {
            const value = AWS_DEV_LIKE[key];
            expected[`${PROJECT}:${key}`] = { value: typeof value === "string" ? value : JSON.stringify(value), secret: false };
        }
        assert.deepStrictEqual(set, expected);
        assert.strictEqual(Object.keys(set).length, CONFIG_KEYS.length + 1, "every contract key and the region, nothing else");
        assert.strictEqual(set["iguana-ha:cloud"].value, "aws", "strings stay plain, as `pulumi config set` stores them");
        assert.deepStrictEqual(JSON.parse(set["iguana-ha:channels"].value), AWS_DEV_LIKE.channels);
    });

    it("uses azure-native:location on Azure and sets only the keys given", async () => {
        const factory = new FakeFactory();
        await openInlineStack("portal-43", { config: AZURE_MINIMAL, factory });
        assert.deepStrictEqual(factory.configSet(), {
            "azure-native:location": { value: "westeurope", secret: false },
            "iguana-ha:cloud": { value: "azure", secret: false },
            "iguana-ha:channels": { value: JSON.stringify(AZURE_MINIMAL.channels), secret: false },
            "iguana-ha:network": { value: JSON.stringify(AZURE_MINIMAL.network), secret: false },
        });
    });

    it("sets secretConfig with secret: true, project keys in the iguana-ha namespace", async () => {
        const factory = new FakeFactory();
        await openInlineStack("portal-44", {
            config: AWS_DEV_LIKE,
            secretConfig: { license: "LIC-123-secret", "aws:secretKey": "wJalrXUtnFEMI/K7MDENG" },
            factory,
        });
        const set = factory.configSet();
        assert.deepStrictEqual(set["iguana-ha:license"], { value: "LIC-123-secret", secret: true });
        assert.deepStrictEqual(set["aws:secretKey"], { value: "wJalrXUtnFEMI/K7MDENG", secret: true });
        const secretKeys = Object.keys(set).filter((k) => set[k].secret);
        assert.deepStrictEqual(secretKeys.sort(), ["aws:secretKey", "iguana-ha:license"]);
    });

    it("maps to the same configuration a stack file with those values gives the program", () => {
        for (const input of [AWS_DEV_LIKE, AZURE_MINIMAL]) {
            const prepared = prepareConfig("round-trip", input);
            const flat = Object.fromEntries(Object.entries(prepared.configMap).map(([k, v]) => [k, v.value]));
            const fromStackFile = validateClusterConfig(rawClusterConfig({ stack: "round-trip", config: flat, secretKeys: [] }), "round-trip");
            assert.deepStrictEqual(prepared.cluster, fromStackFile);
        }
    });

    it("invalid config never reaches the workspace: one InvalidConfigError lists every problem", async () => {
        const factory = new FakeFactory();
        const config = {
            ...AWS_DEV_LIKE,
            channel: [],
            channels: [{ name: "adt-in", protocol: "llp", port: 70000 }],
            failover: { unhealthyThreshold: 1 },
        } as unknown as ClusterConfigInput;
        const error = await rejection(openInlineStack("portal-45", { config, factory }));

        assert.strictEqual(factory.requestCount, 0, "the factory was never called");
        assert.ok(error instanceof InvalidConfigError && error instanceof IguanaAutomationError, error.message);
        assert.deepStrictEqual(error.problems.map((p) => p.key).sort(), ["iguana-ha:channel", "iguana-ha:channels[0].port", "iguana-ha:failover.unhealthyThreshold"]);
        assertMentions(error.message, "Invalid iguana-ha configuration (3 problems)", "iguana-ha:channels[0].port: 70000 is outside the allowed range 1-65535");
        assert.strictEqual(error.stackName, "portal-45");
    });

    it("a stack's config names its region: an AWS config without one is refused before the workspace", async () => {
        const factory = new FakeFactory();
        const config = { ...AWS_DEV_LIKE, region: undefined } as ClusterConfigInput;
        const error = await rejection(openInlineStack("portal-46", { config, factory }));
        assert.strictEqual(factory.requestCount, 0, "the factory was never called");
        assert.ok(error instanceof InvalidConfigError, error.message);
        assert.deepStrictEqual(
            error.problems.map((p) => p.key),
            ["aws:region"],
        );
    });

    it("refuses a contract key in secretConfig, naming the key and never the value", async () => {
        const factory = new FakeFactory();
        const presigned = "https://bucket.s3.amazonaws.com/iguanax.tar.gz?X-Amz-Signature=abc123";
        const error = await rejection(openInlineStack("portal-46", { config: AWS_DEV_LIKE, secretConfig: { "iguana.installerUrl": presigned, "aws:region": "x" }, factory }));
        assert.strictEqual(factory.requestCount, 0);
        assert.ok(error instanceof InvalidConfigError);
        assert.deepStrictEqual(
            error.problems.map((p) => p.key),
            ["iguana-ha:iguana.installerUrl", "aws:region"],
        );
        assertMentions(error.message, "part of the configuration contract", "clear text");
        assert.ok(!util.inspect(error).includes(presigned), "the secret value is not in the error");
    });

    it("the inline program builds the cluster from the config given in code", async () => {
        const factory = new FakeFactory();
        await openInlineStack("portal-47", { config: AWS_DEV_LIKE, factory });
        const mocks = new RecordingMocks("us-east-1");
        await installMocks(mocks, PROJECT, "portal-47");
        pulumi.runtime.setAllConfig({}); // no stack config: everything must come from the object

        const outputs = (await factory.inlineRequests[0].program()) as Record<string, pulumi.Input<unknown>>;
        assert.deepStrictEqual(Object.keys(outputs).sort(), [...OUTPUT_KEYS].sort());
        const endpoints = (await promiseOf(outputs.channelEndpoints)) as { name: string; mode: string }[];
        assert.deepStrictEqual(
            endpoints.map((e) => [e.name, e.mode]),
            [
                ["adt-in", "active-passive"],
                ["fhir-api", "active-active"],
            ],
        );
        const workers = (await promiseOf(outputs.workers)) as { name: string; zone: string }[];
        assert.deepStrictEqual(
            workers.map((w) => w.name),
            ["wk1", "wk2"],
        );
        const instances = mocks.resources.filter((r) => r.type === "aws:ec2/instance:Instance");
        assert.deepStrictEqual(
            instances.map((r) => r.inputs.instanceType),
            ["t3.large", "t3.large"],
            "workers.size from the object",
        );
        assert.ok(
            instances.every((r) => r.inputs.tags?.environment === "dev"),
            "environment from the object",
        );
    });
});

describe("automation: outputs", () => {
    it("up returns the outputs contract, typed, and a summary without config or environment", async () => {
        const factory = new FakeFactory();
        const stack = await openProjectStack("aws-dev", { factory });
        const { outputs, summary } = await stack.up();

        assert.deepStrictEqual(
            factory.projectRequests.map((r) => [r.stackName, r.create, path.basename(path.join(r.workDir, "Pulumi.yaml"))]),
            [["aws-dev", false, "Pulumi.yaml"]],
        );
        assert.ok(fs.existsSync(path.join(factory.projectRequests[0].workDir, "stacks", "Pulumi.aws-dev.yaml")), "the workspace is the project folder");
        assert.deepStrictEqual(outputs, CONTRACT_OUTPUTS);
        const vip: string = reveal(outputs.vip);
        assert.strictEqual(vip, "203.0.113.10");
        assert.deepStrictEqual(Object.keys(summary).sort(), ["endTime", "kind", "message", "resourceChanges", "result", "startTime", "version"]);
        assert.strictEqual(summary.result, "succeeded");
    });

    it("keeps outputs Pulumi marks secret wrapped: printing or serialising shows [secret]", async () => {
        const factory = new FakeFactory();
        factory.stack.outputMap = outputMap(CONTRACT_OUTPUTS, ["dashboardUrl", "workers"]);
        const outputs = (await (await openProjectStack("aws-dev", { factory })).outputs())!;

        assert.ok(isSecret(outputs.dashboardUrl) && isSecret(outputs.workers));
        assert.ok(!isSecret(outputs.vip));
        for (const shown of [String(outputs.dashboardUrl), JSON.stringify(outputs), util.inspect(outputs, { depth: 5 }), `${outputs.workers}`]) {
            assert.ok(!shown.includes("7654") && !shown.includes("i-0aaa"), `a secret leaked: ${shown}`);
        }
        assert.strictEqual(JSON.parse(JSON.stringify(outputs)).dashboardUrl, "[secret]");
        assert.strictEqual(reveal(outputs.dashboardUrl), CONTRACT_OUTPUTS.dashboardUrl);
        assert.deepStrictEqual(reveal(outputs.workers), CONTRACT_OUTPUTS.workers);
    });

    it("outputs() is undefined for a stack with none, and an error names what a foreign stack lacks", async () => {
        const factory = new FakeFactory();
        const stack = await openProjectStack("aws-dev", { factory });
        factory.stack.outputMap = {};
        assert.strictEqual(await stack.outputs(), undefined);

        factory.stack.outputMap = outputMap({ ...CONTRACT_OUTPUTS, vip: 42, workers: undefined });
        delete factory.stack.outputMap.workers;
        const error = await rejection(stack.outputs());
        assert.ok(error instanceof UnexpectedOutputsError, error.message);
        assert.deepStrictEqual(error.problems, ["vip: does not have the contract's shape (see docs/outputs.md)", "workers: missing"]);
    });
});

describe("automation: errors say what to do", () => {
    const cases: { name: string; failure: () => Error; kind: new (...args: never[]) => Error; fragments: string[] }[] = [
        {
            name: "no Pulumi CLI",
            failure: spawnFailure,
            kind: PulumiCliNotFoundError,
            fragments: ["Pulumi CLI was not found", "on the PATH", "https://www.pulumi.com/docs/iac/download-install/", "pulumi version"],
        },
        {
            name: "no backend login",
            failure: () => cliFailure("error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\n"),
            kind: BackendLoginError,
            fragments: ["not logged in", "`pulumi login`", "file://", "PULUMI_BACKEND_URL"],
        },
        {
            name: "no secrets passphrase",
            failure: () =>
                cliFailure(
                    'error: constructing secrets manager of type "passphrase": passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables\n',
                ),
            kind: SecretsPassphraseError,
            fragments: ["PULUMI_CONFIG_PASSPHRASE", "workspace.envVars"],
        },
        {
            name: "the stack does not exist",
            failure: () => cliFailure("error: no stack named 'aws-qa' found\n"),
            kind: StackDoesNotExistError,
            fragments: ['Stack "aws-qa" does not exist', "{ create: true }", "pulumi stack ls", "aws-dev, aws-prod, azure-dev, azure-prod"],
        },
        {
            name: "a concurrent update (Pulumi Cloud)",
            failure: () => cliFailure("error: [409] Conflict: Another update is currently in progress.\n"),
            kind: UpdateInProgressError,
            fragments: ["concurrent update", "Wait", "pulumi cancel --stack aws-qa"],
        },
        {
            name: "a concurrent update (file backend lock)",
            failure: () =>
                cliFailure("error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n"),
            kind: UpdateInProgressError,
            fragments: ["concurrent update"],
        },
    ];

    for (const c of cases) {
        it(`${c.name}: ${c.kind.name}`, async () => {
            const factory = new FakeFactory();
            const original = c.failure();
            factory.openFailure = original;
            const error = await rejection(openProjectStack("aws-qa", { factory }));
            assert.ok(error instanceof c.kind, `expected ${c.kind.name}, got ${error.name}: ${error.message}`);
            assert.ok(error instanceof IguanaAutomationError);
            assertMentions(error.message, ...c.fragments);
            assert.strictEqual((error as IguanaAutomationError).cause, original, "the original error is the cause");
            assert.strictEqual((error as IguanaAutomationError).operation, "open");
        });
    }

    it("a concurrent update during up is mapped too", async () => {
        const factory = new FakeFactory();
        factory.stack.failures.up = cliFailure("error: [409] Conflict: Another update is currently in progress.\n");
        const error = await rejection((await openProjectStack("aws-dev", { factory })).up());
        assert.ok(error instanceof UpdateInProgressError, error.message);
        assertMentions(error.message, "this up did not run");
    });

    it("config a project stack's program rejected comes back as InvalidConfigError with its problems", async () => {
        const factory = new FakeFactory();
        const diagnostics = [
            "Previewing update (aws-dev):",
            "Diagnostics:",
            "  pulumi:pulumi:Stack (iguana-ha-aws-dev):",
            "    error: Running program '/srv/iguana-ha' failed with an unhandled exception:",
            "    ConfigValidationError: Invalid iguana-ha configuration (2 problems):",
            '      - iguana-ha:channels[0].mode: an LLP channel cannot be active-active (...); allowed: "active-passive"',
            "      - iguana-ha:failover.unhealthyThreshold: 1 is outside the allowed range 2-10",
            "        at validateClusterConfig (/srv/iguana-ha/components/config.ts:282:15)",
        ].join("\n");
        factory.stack.failures.preview = cliFailure("error: preview failed\n", diagnostics);
        const error = await rejection((await openProjectStack("aws-dev", { factory })).preview());
        assert.ok(error instanceof InvalidConfigError, `${error.name}: ${error.message}`);
        assert.deepStrictEqual(error.problems, [
            { key: "iguana-ha:channels[0].mode", message: 'an LLP channel cannot be active-active (...); allowed: "active-passive"' },
            { key: "iguana-ha:failover.unhealthyThreshold", message: "1 is outside the allowed range 2-10" },
        ]);
        assert.ok(error.message.startsWith("Invalid iguana-ha configuration (2 problems):"), error.message);
    });

    it("any other CLI failure: PulumiOperationError quoting the CLI's error output, not the SDK's wrapper", async () => {
        const factory = new FakeFactory();
        factory.stack.failures.destroy = cliFailure("error: aws:ec2/vpc:Vpc iguana-vpc: DependencyViolation: has dependencies\n", "Destroying (aws-dev)\n");
        const error = await rejection((await openProjectStack("aws-dev", { factory })).destroy());
        assert.ok(error instanceof PulumiOperationError, error.message);
        assert.strictEqual(error.message, 'pulumi destroy of stack "aws-dev" failed:\nerror: aws:ec2/vpc:Vpc iguana-vpc: DependencyViolation: has dependencies');
    });

    it("a failed up quotes the CLI's diagnostics, where resource errors are reported", async () => {
        const factory = new FakeFactory();
        const display = [
            "Updating (aws-dev):",
            " +  aws:ec2:Instance iguana-wk1 creating (0s)",
            " +  aws:ec2:Instance iguana-wk1 **creating failed** error: operation error EC2: RunInstances, api error Unsupported",
            "Diagnostics:",
            "  aws:ec2:Instance (iguana-wk1):",
            "    error: operation error EC2: RunInstances, api error Unsupported: The requested configuration is currently not supported.",
            "",
            "Resources:",
            "    + 40 created",
            "Duration: 2m3s",
        ].join("\n");
        factory.stack.failures.up = cliFailure("error: update failed\n", display);
        const error = await rejection((await openProjectStack("aws-dev", { factory })).up());
        assert.ok(error instanceof PulumiOperationError, error.message);
        assert.strictEqual(
            error.message,
            'pulumi up of stack "aws-dev" failed:\nDiagnostics:\n  aws:ec2:Instance (iguana-wk1):\n' +
                "    error: operation error EC2: RunInstances, api error Unsupported: The requested configuration is currently not supported.\n" +
                "error: update failed",
        );
    });

    it("secret values never appear in an error, its stack, or its cause", async () => {
        const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY";
        const factory = new FakeFactory();
        // A failed `config set-all`: the CLI got the secret on its command line, and execa quotes it.
        const commandLine = `pulumi config set-all --stack portal-48 --plaintext iguana-ha:cloud=aws --secret aws:secretKey=${secret} --non-interactive`;
        factory.stack.failures.setAllConfig = cliFailure(`error: could not set ${commandLine}\n`, commandLine);
        const error = await rejection(openInlineStack("portal-48", { config: AWS_DEV_LIKE, secretConfig: { "aws:secretKey": secret }, factory }));

        assert.ok(error instanceof PulumiOperationError, `${error.name}: ${error.message}`);
        const cause = (error as IguanaAutomationError).cause as Error;
        assert.ok(cause instanceof Error && cause.name === "CommandError", "the cause keeps its class");
        for (const shown of [error.message, String(error.stack), util.inspect(error, { depth: 5 }), cause.message, String(cause.stack), util.inspect(cause)]) {
            assert.ok(!shown.includes(secret), `the secret leaked into:\n${shown}`);
        }
        assertMentions(error.message, "aws:secretKey=[secret]");
    });
});

describe("automation: progress and cancellation", () => {
    it("passes onOutput and onEvent through to every operation", async () => {
        const factory = new FakeFactory();
        const stack = await openProjectStack("aws-dev", { factory });
        const text: string[] = [];
        const events: EngineEvent[] = [];
        const progress = { onOutput: (t: string) => void text.push(t), onEvent: (e: EngineEvent) => void events.push(e) };
        await stack.preview(progress);
        await stack.up(progress);
        await stack.refresh(progress);
        await stack.destroy(progress);
        assert.deepStrictEqual(text, ["preview: progress\n", "up: progress\n", "refresh: progress\n", "destroy: progress\n"]);
        assert.deepStrictEqual(
            events.map((e) => e.stdoutEvent?.message),
            ["preview", "up", "refresh", "destroy"],
        );
    });

    it("passes the AbortSignal to every operation, and destroy's remove", async () => {
        const factory = new FakeFactory();
        const stack = await openProjectStack("aws-dev", { factory });
        const controller = new AbortController();
        await stack.preview({ signal: controller.signal });
        await stack.up({ signal: controller.signal });
        await stack.refresh({ signal: controller.signal });
        await stack.destroy({ signal: controller.signal, remove: true });
        for (const method of ["preview", "up", "refresh", "destroy"] as const) {
            assert.strictEqual(factory.stack.optionsOf(method).signal, controller.signal, `${method} got the caller's signal`);
        }
        assert.strictEqual(factory.stack.optionsOf("destroy").remove, true);
    });

    it("an already aborted signal: the operation is not started", async () => {
        const factory = new FakeFactory();
        const stack = await openProjectStack("aws-dev", { factory });
        const controller = new AbortController();
        controller.abort();
        const error = await rejection(stack.up({ signal: controller.signal }));
        assert.ok(error instanceof OperationCancelledError, error.message);
        assert.ok(!factory.stack.calls.some((c) => c.method === "up"), "up was never called");
    });

    it("aborting during up: the CLI's failure becomes OperationCancelledError", async () => {
        const factory = new FakeFactory();
        factory.stack.upWaitsForAbort = true;
        const stack = await openProjectStack("aws-dev", { factory });
        const controller = new AbortController();
        const running = stack.up({ signal: controller.signal });
        setTimeout(() => controller.abort(), 10);
        const error = await rejection(running);
        assert.ok(error instanceof OperationCancelledError, `${error.name}: ${error.message}`);
        assertMentions(error.message, 'pulumi up of stack "aws-dev" was cancelled by its AbortSignal', "refresh");
        assert.ok(String(((error as OperationCancelledError).cause as Error).message).includes("update canceled"));
    });

    it("an interrupt the CLI received itself (Ctrl-C in a terminal) is a cancellation too", async () => {
        const factory = new FakeFactory();
        factory.stack.failures.up = cliFailure(
            "error: update canceled\n",
            "Updating (aws-dev):\n^C received; cancelling. If you would like to terminate immediately, press ^C again.\n",
        );
        const error = await rejection((await openProjectStack("aws-dev", { factory })).up());
        assert.ok(error instanceof OperationCancelledError, `${error.name}: ${error.message}`);
        assertMentions(error.message, "cancelled by an interrupt the CLI received");
    });
});

describe("automation: the real LocalWorkspace with no Pulumi CLI on PATH", () => {
    const saved: Record<string, string | undefined> = {};
    const VARS = ["PATH", "PULUMI_HOME", "PULUMI_COMMAND"];

    before(() => {
        for (const name of VARS) saved[name] = process.env[name];
        process.env.PATH = (process.env.PATH ?? "")
            .split(path.delimiter)
            .filter((dir) => dir !== "" && !fs.existsSync(path.join(dir, "pulumi")) && !fs.existsSync(path.join(dir, "pulumi.exe")))
            .join(path.delimiter);
        delete process.env.PULUMI_HOME;
        delete process.env.PULUMI_COMMAND;
    });

    after(() => {
        for (const name of VARS) {
            if (saved[name] === undefined) delete process.env[name];
            else process.env[name] = saved[name];
        }
    });

    it("a project stack: PulumiCliNotFoundError that says how to install it, quickly", async () => {
        const started = Date.now();
        const error = await rejection(openProjectStack("aws-dev"));
        assert.ok(error instanceof PulumiCliNotFoundError, `${error.name}: ${error.message}`);
        assertMentions(error.message, "Pulumi CLI was not found", "PATH", "https://www.pulumi.com/docs/iac/download-install/");
        assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });

    it("an inline stack: the same error, and no scratch folder left behind", async () => {
        const scratch = () => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`${PROJECT}-portal-cli-`));
        const before = scratch();
        const error = await rejection(openInlineStack("portal-cli", { config: AZURE_MINIMAL }));
        assert.ok(error instanceof PulumiCliNotFoundError, `${error.name}: ${error.message}`);
        assert.deepStrictEqual(scratch(), before);
    });
});

describe("automation: a PATH directory the process cannot search (EACCES)", function () {
    this.timeout(60000);

    it("PulumiCliPermissionError names the directory and what to fix", async function () {
        // Root searches any directory, so the real spawn runs as an unprivileged user.
        const runuser = ["/usr/sbin/runuser", "/sbin/runuser"].find((p) => fs.existsSync(p));
        const asRoot = process.getuid?.() === 0;
        if (asRoot && !runuser) skipBecause(this, "as root the test runs the spawn as nobody, through runuser (Debian: util-linux), which is missing", { ciProvides: true });
        if (asRoot) {
            // The unprivileged user must be able to read the project (a clone under /root is not).
            const probe = await runProcess(runuser!, ["-u", "nobody", "--", "test", "-r", path.join(__dirname, "..", "automation", "errors.ts")]);
            if (probe.status !== 0) skipBecause(this, "user nobody cannot read this clone (one under /root, for example): clone it where nobody may read it");
        }
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-eacces-"));
        const blocked = path.join(dir, "bin-nobody-may-search");
        fs.mkdirSync(blocked, { mode: 0o000 });
        fs.chmodSync(dir, 0o755);
        const script = path.join(dir, "open.ts");
        fs.writeFileSync(
            script,
            `import { openProjectStack } from ${JSON.stringify(path.join(__dirname, "..", "automation"))};\n` +
                `openProjectStack("aws-dev").then(() => console.log("{}"), (e: Error) => console.log(JSON.stringify({ name: e.name, message: e.message })));\n`,
            { mode: 0o644 },
        );
        try {
            const pathValue = [blocked, "/usr/bin", "/bin"].join(path.delimiter);
            if (pathValue.split(path.delimiter).some((d) => fs.existsSync(path.join(d, "pulumi"))))
                skipBecause(this, "a pulumi CLI in /usr/bin or /bin: the error needs a PATH without one");
            const node = [process.execPath, "-r", require.resolve("ts-node/register/transpile-only"), script];
            const env = [`PATH=${pathValue}`, `HOME=${dir}`, `TS_NODE_PROJECT=${path.join(__dirname, "..", "tsconfig.json")}`];
            const command = asRoot ? [runuser!, "-u", "nobody", "--", "env", ...env, ...node] : ["env", ...env, ...node];
            const { status, stdout, stderr } = await runProcess(command[0], command.slice(1), { cwd: dir });
            assert.strictEqual(status, 0, stderr);
            const error = JSON.parse(stdout.trim().split("\n").pop()!);
            assert.strictEqual(error.name, "PulumiCliPermissionError", error.message);
            assertMentions(error.message, "EACCES", blocked, "chmod a+x", "remove the directory from PATH");
        } finally {
            fs.chmodSync(blocked, 0o700);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("automation: workers.rebuild, for the rolling rebuild", () => {
    it("a project stack sets it in its stack file by path, as pulumi config set --path does, and clears it", async () => {
        const factory = new FakeFactory();
        const stack = await openProjectStack("aws-prod", { factory });
        await stack.setWorkersRebuild("wk2");
        await stack.setWorkersRebuild(undefined);
        assert.deepStrictEqual(
            factory.stack.calls.map((c) => [c.method, c.arg]),
            [
                ["setConfig", { key: "iguana-ha:workers.rebuild", value: { value: "wk2" }, path: true }],
                ["removeConfig", { key: "iguana-ha:workers.rebuild", path: true }],
            ],
        );
    });

    it("a CLI failure is an IguanaAutomationError of operation config", async () => {
        const factory = new FakeFactory();
        factory.stack.failures.setConfig = cliFailure("error: could not set config\n", "pulumi config set");
        const stack = await openProjectStack("aws-prod", { factory });
        await assert.rejects(stack.setWorkersRebuild("wk1"), (error: IguanaAutomationError) => error.operation === "config" && error.stackName === "aws-prod");
    });

    it("an inline stack applies it after its config object on every later call, until cleared", async () => {
        const applied: unknown[][] = [];
        const fake: CreateOrSelectInline = async () => {
            const entry: unknown[] = [];
            applied.push(entry);
            return {
                name: "portal-7",
                setAllConfig: async (config: unknown) => void entry.push(["all", config]),
                setConfig: async (key: string, value: unknown, path?: boolean) => void entry.push(["one", key, value, path]),
                up: async () => (entry.push(["up"]), { outputs: {}, summary: {} }),
            } as unknown as AutomationStack;
        };
        const stack = await inlineStackFactory(fake)({ stackName: "portal-7", projectName: PROJECT, program: async () => ({}), settings: {} });
        await stack.setAllConfig({ "iguana-ha:cloud": { value: "aws" } });
        await stack.setConfig("iguana-ha:workers.rebuild", { value: "wk2" }, true);
        await stack.up();
        await stack.removeConfig("iguana-ha:workers.rebuild", true);
        await stack.up();
        const all = ["all", { "iguana-ha:cloud": { value: "aws" } }];
        const rebuild = ["one", "iguana-ha:workers.rebuild", { value: "wk2" }, true];
        assert.deepStrictEqual(applied.slice(3), [
            [all, rebuild, ["up"]],
            [all, ["up"]],
        ]);
    });
});

describe("automation: an inline stack's workspace lasts one call", () => {
    it("each call gets a scratch folder with the config set so far, removed afterwards, even when the call fails", async () => {
        const calls: { workDir: string; existedDuring: boolean; config?: unknown; op: string }[] = [];
        const fake: CreateOrSelectInline = async (_args, options) => {
            const workDir = options.workDir!;
            const entry: (typeof calls)[number] = { workDir, existedDuring: fs.existsSync(workDir), op: "open" };
            calls.push(entry);
            const op =
                <T>(name: string, result: T) =>
                async () => ((entry.op = name), name === "refresh" ? Promise.reject(new Error("cloud said no")) : result);
            return {
                name: "portal-7",
                setAllConfig: async (config: unknown) => void (entry.config = config),
                preview: op("preview", { changeSummary: {} }),
                up: op("up", { outputs: {}, summary: {} }),
                refresh: op("refresh", { summary: {} }),
                destroy: op("destroy", { summary: {} }),
                outputs: op("outputs", {}),
            } as unknown as AutomationStack;
        };
        const stack = await inlineStackFactory(fake)({ stackName: "portal-7", projectName: PROJECT, program: async () => ({}), settings: {} });
        await stack.setAllConfig({ "iguana-ha:cloud": { value: "aws" } });
        await stack.preview();
        await stack.outputs();
        await assert.rejects(stack.refresh(), /cloud said no/);
        // Opening, then setting the config (checked by the CLI in a workspace of its own), then each operation.
        assert.deepStrictEqual(
            calls.map((c) => c.op),
            ["open", "open", "preview", "outputs", "refresh"],
        );
        for (const call of calls) {
            assert.ok(call.existedDuring, "the folder exists while the call runs");
            assert.ok(!fs.existsSync(call.workDir), `${call.workDir} is removed after the call`);
            assert.ok(call.workDir.startsWith(os.tmpdir()) && !call.workDir.startsWith(path.join(__dirname, "..")), "never the project folder");
        }
        assert.strictEqual(new Set(calls.map((c) => c.workDir)).size, calls.length, "a fresh folder per call");
        for (const call of calls.slice(2)) assert.deepStrictEqual(call.config, { "iguana-ha:cloud": { value: "aws" } }, `${call.op} runs with the config`);
    });
});
