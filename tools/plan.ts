/**
 * The offline plan: `npm run plan -- --stack aws-dev [--json]`. Runs the program under Pulumi
 * mocks with the stack file's config: no credentials, no Pulumi CLI, nothing deployed.
 */
import { PROJECT } from "../components/constants";
import { ConfigValidationError } from "../components/config";
import { program } from "../components/program";
import { evaluate } from "../offline/evaluate";
import { markPlaceholders, plannedResources, renderTree } from "./plan-format";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { StackFileError, listStacks, rawClusterConfig, readStackConfig } from "../offline/stack-config";
import { quotaLine, quotaUsage } from "../components/quotas";
import { describeModes, renderModes } from "../components/modes";
import { validateClusterConfig } from "../components/config";
import { workerBootstraps } from "../offline/worker-bootstrap";
import { operationsSummary, renderOperations } from "./plan-operations";

const USAGE = `usage: npm run plan -- --stack <name> [--stack-file <path>] [--json]
  --stack <name>        a stack file in stacks/ (${listStacks().join(", ")})
  --stack-file <path>   read the config from this stack file instead (e.g. a draft); the
                        stack name defaults to <name> of Pulumi.<name>.yaml
  --json                print the plan as JSON
  --show-bootstrap      also print each worker's rendered cloud-init (it holds no secret)`;

interface PlanArgs {
    stack: string;
    stackFile?: string;
    json: boolean;
    showBootstrap: boolean;
}

export function parseArgs(argv: string[]): PlanArgs {
    let stack: string | undefined;
    let json = false;
    let stackFile: string | undefined;
    let showBootstrap = false;
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === "--stack" || arg === "-s") stack = argv[++i];
        else if (arg.startsWith("--stack=")) stack = arg.slice("--stack=".length);
        else if (arg === "--stack-file") stackFile = argv[++i];
        else if (arg === "--json") json = true;
        else if (arg === "--show-bootstrap") showBootstrap = true;
        else if (arg === "--help" || arg === "-h") throw new UsageError("");
        else throw new UsageError(`unknown argument "${arg}"`);
    }
    if (stackFile) {
        // npm runs scripts from the package root; a relative path means the caller's directory.
        stackFile = path.resolve(process.env.INIT_CWD ?? process.cwd(), stackFile);
        stack ??= /^Pulumi\.(.+)\.yaml$/.exec(path.basename(stackFile))?.[1] ?? "draft";
    }
    if (!stack) throw new UsageError("--stack is required");
    return { stack, stackFile, json, showBootstrap };
}

class UsageError extends Error {}

/** What the offline plan cannot see: the ESC environments a stack file imports. */
export function unresolvedEnvironmentsText(environments: string[]): string | undefined {
    if (environments.length === 0) return undefined;
    return (
        `environment: the stack file imports the Pulumi ESC environment${environments.length === 1 ? "" : "s"} ${environments.join(", ")}, which the offline plan does not resolve ` +
        `(it has no Pulumi Cloud access): config they set is missing here, and pulumi preview will see it`
    );
}

/** Runs the plan; a ConfigValidationError carries the unresolved-environment note too. */
export async function plan(args: PlanArgs) {
    const stackConfig = readStackConfig(args.stack, args.stackFile);
    const environmentNote = unresolvedEnvironmentsText(stackConfig.unresolvedEnvironments);
    let evaluation: Awaited<ReturnType<typeof evaluate>>;
    try {
        evaluation = await evaluate({ stack: args.stack, config: stackConfig.config, secretKeys: stackConfig.secretKeys, run: () => program() });
    } catch (e) {
        if (e instanceof ConfigValidationError && environmentNote) e.message += `\nnote: ${environmentNote}`;
        throw e;
    }
    const { outputs, mocks } = evaluation;
    const resources = plannedResources(mocks.resources);
    const bootstrap = args.showBootstrap ? workerBootstraps(mocks.resources) : undefined;
    // The program validated the same config; read it again for the mode description.
    const cfg = validateClusterConfig(rawClusterConfig(stackConfig), args.stack);
    const modes = describeModes(cfg);
    const warnings = [...(environmentNote ? [environmentNote] : []), ...mocks.warnings];
    const quotas = quotaUsage(cfg);
    const operations = operationsSummary(cfg, resources);
    return {
        project: PROJECT,
        stack: args.stack,
        modes,
        modesText: renderModes(cfg),
        warnings,
        quotas,
        operations,
        resources,
        outputs,
        bootstrap,
        placeholders: [...mocks.placeholders].sort(),
        mocks,
    };
}

export interface Console {
    log(text: string): void;
    error(text: string): void;
}

/** The whole command: parse, evaluate, print. Returns the exit status. */
export async function runPlanCommand(argv: string[], console: Console = globalThis.console): Promise<number> {
    let args: PlanArgs;
    try {
        args = parseArgs(argv);
    } catch (e) {
        if (e instanceof UsageError) {
            if (e.message) console.error(`plan: ${e.message}`);
            console.error(USAGE);
            return e.message ? 2 : 0;
        }
        throw e;
    }
    try {
        const result = await plan(args);
        if (args.json) {
            const { mocks, modesText, ...json } = result;
            console.log(JSON.stringify(json, null, 2));
        } else {
            const placeholders = new Set(result.placeholders);
            console.log(`Offline plan for stack "${args.stack}" (project ${PROJECT}): evaluated under Pulumi mocks; nothing was deployed.\n`);
            console.log(`Mode:\n${result.modesText}\n`);
            console.log(`Quotas (needed of the default limit): ${quotaLine(result.quotas)}\n`);
            console.log(`${renderOperations(result.operations)}\n`);
            if (result.warnings.length > 0) {
                console.log(`Warnings (${result.warnings.length}; pulumi preview prints the program's own):\n${result.warnings.map((w) => `  - ${w}`).join("\n")}\n`);
            }
            console.log(`Resources (${result.resources.length}):`);
            console.log(renderTree(result.resources, placeholders));
            console.log(`\nOutputs:`);
            console.log(JSON.stringify(markPlaceholders(result.outputs, placeholders), null, 2));
            for (const b of result.bootstrap ?? []) {
                console.log(`\nBootstrap of ${b.resource} (cloud-init, as the worker receives it):\n${b.cloudInit}`);
            }
            console.log(`\nValues marked <placeholder> are invented by the offline plan (ids, public addresses); the cloud assigns the real ones at deploy time.`);
        }
        return 0;
    } catch (e) {
        if (e instanceof ConfigValidationError || e instanceof StackFileError || (pulumi.ResourceError.isInstance(e) && e.hideStack)) {
            console.error(e.message);
            return 1;
        }
        console.error(`plan failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        return 1;
    }
}

if (require.main === module) {
    runPlanCommand(process.argv.slice(2)).then((code) => process.exit(code));
}
