/**
 * Opening a stack (a named stack of this project, or an inline program configured in code) and
 * running preview, up, refresh, destroy and outputs on it, with typed results and mapped errors.
 */
import type { EngineEvent, OpMap, PulumiFn, UpdateSummary } from "@pulumi/pulumi/automation";
import type { ClusterConfig } from "../components/config";
import { PROJECT } from "../components/constants";
import { listStacks } from "../offline/stack-config";
import { ClusterConfigInput, SecretConfig, prepareConfig } from "./config";
import { ErrorContext, Operation, OperationCancelledError, UnexpectedOutputsError, toAutomationError } from "./errors";
import { StackOutputs, toStackOutputs } from "./outputs";
import { AutomationStack, PROJECT_DIR, WorkspaceFactory, WorkspaceSettings, localWorkspaceFactory } from "./workspace";

export interface OperationOptions {
    /** Progress as the `pulumi` command prints it, chunk by chunk. */
    onOutput?: (text: string) => void;
    /** Structured engine events (resource steps, diagnostics, the summary). */
    onEvent?: (event: EngineEvent) => void;
    /**
     * Cancels the operation: the CLI is interrupted and stops after the resource operations in
     * flight; the promise then rejects with `OperationCancelledError`.
     */
    signal?: AbortSignal;
}

export interface DestroyOptions extends OperationOptions {
    /** Also remove the stack and its configuration once its resources are gone. */
    remove?: boolean;
}

export interface OpenOptions {
    /** Passed to the workspace: `envVars` (e.g. PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE), `pulumiHome`, `secretsProvider`. */
    workspace?: WorkspaceSettings;
    /** Replaces how workspaces are created (tests pass a fake). */
    factory?: WorkspaceFactory;
}

export interface ProjectStackOptions extends OpenOptions {
    /** Create the stack in the backend when it does not exist yet. Default false. */
    create?: boolean;
    /** The project folder (with `Pulumi.yaml` and `stacks/`). Default: this project. */
    workDir?: string;
}

export interface InlineStackOptions extends OpenOptions {
    /** The stack's configuration: the keys of a stack file, validated before anything runs. */
    config: ClusterConfigInput;
    /** Extra config set as secret (see `SecretConfig`). */
    secretConfig?: SecretConfig;
}

/** What an update, refresh or destroy reports (without the config and environment it ran with). */
export type OperationSummary = Pick<UpdateSummary, "kind" | "result" | "message" | "startTime" | "endTime" | "version" | "resourceChanges">;

export interface PreviewResult {
    changeSummary: OpMap;
}

export interface UpResult {
    outputs: StackOutputs;
    summary: OperationSummary;
}

export interface RefreshResult {
    summary: OperationSummary;
}

export type DestroyResult = RefreshResult;

interface StackContext {
    stackName: string;
    secrets: readonly string[];
    knownStacks?: readonly string[];
}

function summaryOf(summary: UpdateSummary): OperationSummary {
    const { kind, result, message, startTime, endTime, version, resourceChanges } = summary;
    return { kind, result, message, startTime, endTime, version, resourceChanges };
}

function progressOptions({ onOutput, onEvent, signal }: OperationOptions) {
    return { onOutput, onEvent, signal };
}

/** Runs one call, refusing to start when already cancelled, and maps whatever it throws. */
async function run<T>(operation: Operation, context: StackContext, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    const errorContext: ErrorContext = { ...context, operation, signal };
    if (signal?.aborted) {
        throw new OperationCancelledError(`pulumi ${operation} of stack "${context.stackName}" was not started: its AbortSignal was already aborted.`, errorContext);
    }
    try {
        return await call();
    } catch (error) {
        throw toAutomationError(error, errorContext);
    }
}

function requireOutputs(context: StackContext, operation: Operation, mapped: ReturnType<typeof toStackOutputs>): StackOutputs {
    if (mapped.outputs) return mapped.outputs;
    throw new UnexpectedOutputsError(mapped.problems.length > 0 ? mapped.problems : ["the update produced no outputs"], { stackName: context.stackName, operation });
}

/** A stack of the HA Iguana cluster, driven through the Automation API. */
export class IguanaStack {
    constructor(
        private readonly stack: AutomationStack,
        private readonly context: StackContext,
    ) {}

    get name(): string {
        return this.context.stackName;
    }

    async preview(options: OperationOptions = {}): Promise<PreviewResult> {
        const result = await run("preview", this.context, options.signal, () => this.stack.preview(progressOptions(options)));
        return { changeSummary: result.changeSummary };
    }

    async up(options: OperationOptions = {}): Promise<UpResult> {
        const result = await run("up", this.context, options.signal, () => this.stack.up(progressOptions(options)));
        return { outputs: requireOutputs(this.context, "up", toStackOutputs(result.outputs)), summary: summaryOf(result.summary) };
    }

    async refresh(options: OperationOptions = {}): Promise<RefreshResult> {
        const result = await run("refresh", this.context, options.signal, () => this.stack.refresh(progressOptions(options)));
        return { summary: summaryOf(result.summary) };
    }

    async destroy(options: DestroyOptions = {}): Promise<DestroyResult> {
        const result = await run("destroy", this.context, options.signal, () => this.stack.destroy({ ...progressOptions(options), remove: options.remove }));
        return { summary: summaryOf(result.summary) };
    }

    /**
     * `workers.rebuild`: the worker the next `up` replaces with the current boot configuration
     * (docs/operations.md), or none. A project stack keeps it in its stack file, as
     * `pulumi config set --path` does.
     */
    async setWorkersRebuild(worker: "wk1" | "wk2" | undefined): Promise<void> {
        const key = `${PROJECT}:workers.rebuild`;
        await run("config", this.context, undefined, () => (worker ? this.stack.setConfig(key, { value: worker }, true) : this.stack.removeConfig(key, true)));
    }

    /** The outputs of the last update, or undefined when the stack has none (never deployed, or destroyed). */
    async outputs(): Promise<StackOutputs | undefined> {
        const mapped = toStackOutputs(await run("outputs", this.context, undefined, () => this.stack.outputs()));
        return mapped.problems.length > 0 ? requireOutputs(this.context, "outputs", mapped) : mapped.outputs;
    }
}

function projectStackFiles(workDir: string): string[] | undefined {
    if (workDir !== PROJECT_DIR) return undefined;
    try {
        return listStacks();
    } catch {
        return undefined;
    }
}

/**
 * A named stack of this project: the CLI runs the project's program (`index.ts`) with the stack
 * file `stacks/Pulumi.<stack>.yaml`, exactly as `pulumi up --stack <stack>` does.
 */
export async function openProjectStack(stackName: string, options: ProjectStackOptions = {}): Promise<IguanaStack> {
    const { factory = localWorkspaceFactory, workDir = PROJECT_DIR, create = false, workspace = {} } = options;
    const context: StackContext = { stackName, secrets: [], knownStacks: projectStackFiles(workDir) };
    const stack = await run("open", context, undefined, () => factory.projectStack({ stackName, workDir, create, settings: workspace }));
    return new IguanaStack(stack, context);
}

/** The program an inline stack runs: the same cluster as `index.ts`, built from the validated config. */
export function inlineProgram(config: ClusterConfig): PulumiFn {
    return async () => {
        // Loaded on first run, not at import: tools that only open project stacks never load the cloud SDKs.
        const { program } = await import("../components/program");
        return program(config);
    };
}

/**
 * A stack whose configuration is given in code (created when it does not exist). The config is
 * validated first; then it is set on the stack (secrets as secret config) and the program runs
 * in this process.
 */
export async function openInlineStack(stackName: string, options: InlineStackOptions): Promise<IguanaStack> {
    const { factory = localWorkspaceFactory, workspace = {} } = options;
    let prepared: ReturnType<typeof prepareConfig>;
    try {
        prepared = prepareConfig(stackName, options.config, options.secretConfig);
    } catch (error) {
        throw toAutomationError(error, { stackName, operation: "config", secrets: Object.values(options.secretConfig ?? {}) });
    }
    const context: StackContext = { stackName, secrets: prepared.secretValues };
    const stack = await run("open", context, undefined, () =>
        factory.inlineStack({ stackName, projectName: PROJECT, program: inlineProgram(prepared.cluster), settings: workspace }),
    );
    await run("config", context, undefined, () => stack.setAllConfig(prepared.configMap));
    return new IguanaStack(stack, context);
}
