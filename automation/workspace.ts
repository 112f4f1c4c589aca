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
export type AutomationStack = Pick<Stack, "name" | "setAllConfig" | "preview" | "up" | "refresh" | "destroy" | "outputs">;

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

/** The real factory: `LocalWorkspace` over the project folder, or over a scratch folder for an inline program. */
export const localWorkspaceFactory: WorkspaceFactory = {
    async projectStack({ stackName, workDir, create, settings }) {
        const args = { stackName, workDir };
        return create ? LocalWorkspace.createOrSelectStack(args, settings) : LocalWorkspace.selectStack(args, settings);
    },

    async inlineStack({ stackName, projectName, program, settings }) {
        // Never the project folder: the inline workspace writes its own Pulumi.yaml and stack file.
        const workDir = scratchDir(projectName, stackName);
        try {
            return await LocalWorkspace.createOrSelectStack(
                { stackName, projectName, program },
                { ...settings, workDir, projectSettings: { name: projectName, runtime: "nodejs" } },
            );
        } catch (error) {
            fs.rmSync(workDir, { recursive: true, force: true });
            throw error;
        }
    },
};
