/**
 * `npm run rolling-rebuild -- --stack <stack>`: rebuilds both workers of a deployed stack, one
 * at a time, with one planned switchover (automation/rolling-rebuild.ts). It needs what a
 * deployment needs: the Pulumi CLI, a backend login, the cloud's credentials (and on Azure the
 * `az` CLI, for a Resource Manager token). docs/operations.md#rolling-rebuild says when to use it.
 */
import { execFileSync } from "child_process";
import * as readline from "readline";
import { SSMClient } from "@aws-sdk/client-ssm";
import { IguanaStack, openProjectStack, reveal } from "../automation";
import { WorkerName, rollingRebuild } from "../automation/rolling-rebuild";
import { azureWorkerCommands, ssmWorkerCommands } from "../automation/worker-commands";
import { readStackConfig } from "../offline/stack-config";

const USAGE = `usage: npm run rolling-rebuild -- --stack <stack> [--yes]
  --stack  the deployed stack (stacks/Pulumi.<stack>.yaml)
  --yes    hand the lease over without asking (after the first worker is a ready standby)`;

export interface RollingArgs {
    stack: string;
    yes: boolean;
}

export function parseRollingArgs(argv: string[]): RollingArgs {
    let stack: string | undefined;
    let yes = false;
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === "--stack" && argv[i + 1] && !argv[i + 1].startsWith("--")) stack = argv[++i];
        else if (arg === "--yes") yes = true;
        else throw new Error(`${arg === "--stack" ? "--stack needs a stack name" : `unknown argument ${arg}`}\n${USAGE}`);
    }
    if (!stack) throw new Error(`--stack is required\n${USAGE}`);
    return { stack, yes };
}

function ask(question: string): Promise<boolean> {
    const prompt = readline.createInterface({ input: process.stdin, output: process.stdout });
    return new Promise((resolve) =>
        prompt.question(`${question} [y/N] `, (answer) => {
            prompt.close();
            resolve(/^y(es)?$/i.test(answer.trim()));
        }),
    );
}

/** A Resource Manager token from the `az` CLI's login, asked again after 30 minutes (they last about an hour). */
let cachedToken: { token: string; at: number } | undefined;
function armToken(): Promise<string> {
    if (!cachedToken || Date.now() - cachedToken.at > 30 * 60 * 1000) {
        const token = execFileSync("az", ["account", "get-access-token", "--resource", "https://management.azure.com/", "--query", "accessToken", "-o", "tsv"], {
            encoding: "utf8",
        });
        cachedToken = { token: token.trim(), at: Date.now() };
    }
    return Promise.resolve(cachedToken.token);
}

async function main(args: RollingArgs): Promise<void> {
    // The question before the switchover needs someone to answer it.
    if (!args.yes && !process.stdin.isTTY) throw new Error("no terminal to ask before the switchover: run it in a terminal, or pass --yes");
    const stack: IguanaStack = await openProjectStack(args.stack);
    const outputs = await stack.outputs();
    if (!outputs) throw new Error(`stack ${args.stack} has no outputs: deploy it first`);
    const ids = new Map<WorkerName, string>(reveal(outputs.workers).map((w) => [w.name as WorkerName, w.id]));
    const idOf = (worker: WorkerName) => ids.get(worker) ?? "";
    const region = readStackConfig(args.stack).config["aws:region"];
    const commands = outputs.cloud === "aws" ? ssmWorkerCommands({ instanceId: idOf, client: new SSMClient({ region }) }) : azureWorkerCommands({ vmId: idOf, token: armToken });
    const progress = { onOutput: (text: string) => process.stdout.write(text) };
    console.log(`rolling rebuild of ${args.stack}: first an update of everything but the workers`);
    await stack.up(progress);
    const result = await rollingRebuild({
        commands,
        replacer: {
            replace: async (worker) => {
                await stack.setWorkersRebuild(worker);
                const up = await stack.up(progress);
                for (const w of reveal(up.outputs.workers)) ids.set(w.name as WorkerName, w.id);
            },
            finish: async () => {
                await stack.setWorkersRebuild(undefined);
                const { changeSummary } = await stack.preview();
                const left = Object.entries(changeSummary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0);
                if (left.length > 0) console.log(`the preview still shows changes (${left.map(([op, n]) => `${op} ${n}`).join(", ")}): run pulumi preview to see them`);
            },
        },
        log: (line) => console.log(`rolling rebuild: ${line}`),
        ...(args.yes
            ? {}
            : { confirmSwitchover: (to: WorkerName) => ask(`${to} is rebuilt and a ready standby. Check its dashboard (and its license) now. Hand the lease over to ${to}?`) }),
    });
    console.log(
        result.stoppedBecause
            ? `stopped: ${result.stoppedBecause}`
            : `done: ${result.rebuilt.join(" then ")} rebuilt; ${result.active} is active (the switchover took ${((result.switchoverMs ?? 0) / 1000).toFixed(1)} s)`,
    );
}

if (require.main === module) {
    let args: RollingArgs;
    try {
        args = parseRollingArgs(process.argv.slice(2));
    } catch (error) {
        console.error((error as Error).message);
        process.exit(2);
    }
    main(args).catch((error: Error) => {
        console.error(`rolling rebuild: ${error.message}`);
        process.exit(1);
    });
}
