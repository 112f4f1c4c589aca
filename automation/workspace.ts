/**
 * The one place that creates Automation API workspaces. Everything else talks to the small
 * `AutomationStack` surface, so tests replace this factory with a fake and need no CLI.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace, LocalWorkspaceOptions, PulumiFn, Stack } from "@pulumi/pulumi/automation";

/** The project folder: `Pulumi.yaml` (project `iguana-ha`, `stackConfigDir: stacks`) and `stacks/`. */
export const PROJECT_DIR = path.resolve(__dirname, "..");

/** What this module uses of a Pulumi `Stack`. */
export type AutomationStack = Pick<Stack, "name" | "setAllConfig" | "setConfig" | "removeConfig" | "preview" | "up" | "refresh" | "destroy" | "outputs">;

/** Workspace settings a caller may pass through (backend and passphrase via `envVars`). */
export type WorkspaceSettings = Pick<LocalWorkspaceOptions, "envVars" | "pulumiHome" | "secretsProvider">;

export interface ProjectStackRequest {
    stackName: string;
    /** The folder holding `Pulumi.yaml`; the CLI runs the program there. */
    workDir: string;
    /** Create the stack when it does not exist (otherwise that is an error). */
    create: boolean;
    settings: WorkspaceSettings;
}

export interface InlineStackRequest {
    stackName: string;
    projectName: string;
    program: PulumiFn;
    settings: WorkspaceSettings;
}

export interface WorkspaceFactory {
    projectStack(request: ProjectStackRequest): Promise<AutomationStack>;
    inlineStack(request: InlineStackRequest): Promise<AutomationStack>;
}

function scratchDir(projectName: string, stackName: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), `${projectName}-${stackName.replace(/[^A-Za-z0-9_-]/g, "_")}-`));
}

/** How an inline workspace selects (or creates) its stack: `LocalWorkspace.createOrSelectStack`, or a test's stand-in. */
export type CreateOrSelectInline = (args: { stackName: string; projectName: string; program: PulumiFn }, options: LocalWorkspaceOptions) => Promise<AutomationStack>;

/**
 * An inline stack whose workspace lives only for one call: each call makes a scratch folder
 * (its own Pulumi.yaml and stack file, never the project folder), selects the stack there, sets
 * the config given so far, runs, and removes the folder, whatever happens. State and secrets
 * stay in the backend; nothing is left in the temp directory.
 */
export function inlineStackFactory(createOrSelect: CreateOrSelectInline = (args, options) => LocalWorkspace.createOrSelectStack(args, options)) {
    return async ({ stackName, projectName, program, settings }: InlineStackRequest): Promise<AutomationStack> => {
        let config: Parameters<Stack["setAllConfig"]>[0] | undefined;
        // Keys set one at a time (`workers.rebuild` by path), applied after the config object.
        const singleKeys = new Map<string, { value: Parameters<Stack["setConfig"]>[1]; path?: boolean }>();
        const inWorkspace = async <T>(call: (stack: AutomationStack) => Promise<T>): Promise<T> => {
            const workDir = scratchDir(projectName, stackName);
            try {
                const stack = await createOrSelect({ stackName, projectName, program }, { ...settings, workDir, projectSettings: { name: projectName, runtime: "nodejs" } });
                if (config) await stack.setAllConfig(config);
                for (const [key, { value, path }] of singleKeys) await stack.setConfig(key, value, path);
                return await call(stack);
            } finally {
                fs.rmSync(workDir, { recursive: true, force: true });
            }
        };
        // Opening selects (or creates) the stack once, so a missing CLI or backend fails here.
        await inWorkspace(async () => undefined);
        return {
            name: stackName,
            setAllConfig: async (values) => {
                await inWorkspace((stack) => stack.setAllConfig(values));
                config = values;
            },
            setConfig: async (key, value, path) => {
                await inWorkspace((stack) => stack.setConfig(key, value, path));
                singleKeys.set(key, { value, path });
            },
            removeConfig: async (key) => {
                singleKeys.delete(key);
            },
            preview: (options) => inWorkspace((stack) => stack.preview(options)),
            up: (options) => inWorkspace((stack) => stack.up(options)),
            refresh: (options) => inWorkspace((stack) => stack.refresh(options)),
            destroy: (options) => inWorkspace((stack) => stack.destroy(options)),
            outputs: () => inWorkspace((stack) => stack.outputs()),
        };
    };
}

/** The real factory: `LocalWorkspace` over the project folder, or a scratch folder per call for an inline program. */
export const localWorkspaceFactory: WorkspaceFactory = {
    async projectStack({ stackName, workDir, create, settings }) {
        const args = { stackName, workDir };
        return create ? LocalWorkspace.createOrSelectStack(args, settings) : LocalWorkspace.selectStack(args, settings);
    },
    inlineStack: inlineStackFactory(),
};
