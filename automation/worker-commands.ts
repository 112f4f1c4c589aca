/**
 * Running the rolling rebuild's scripts on a deployed worker, as root, through the cloud's own
 * run command (no SSH: the workers have none): AWS Systems Manager's `AWS-RunShellScript` (the
 * worker role holds AmazonSSMManagedInstanceCore), or Azure's `RunShellScript` action on the VM.
 * Both take the caller's credentials; nothing is stored.
 */
import { GetCommandInvocationCommand, InvocationDoesNotExist, SSMClient, SendCommandCommand } from "@aws-sdk/client-ssm";
import { CommandResult, WorkerCommands, WorkerName } from "./rolling-rebuild";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** SSM's statuses of a command invocation that are still under way (GetCommandInvocation, Status). */
const SSM_PENDING = new Set(["Pending", "InProgress", "Delayed"]);

export interface SsmCommandsOptions {
    /** The worker's current instance id (it changes when the worker is replaced). */
    instanceId: (worker: WorkerName) => string;
    client: SSMClient;
    /** How long SSM lets a script run (default 300 s; a handover waits up to four leases). */
    timeoutSeconds?: number;
    pollMs?: number;
}

export function ssmWorkerCommands(options: SsmCommandsOptions): WorkerCommands {
    const { client, pollMs = 2000, timeoutSeconds = 300 } = options;
    return {
        async run(worker: WorkerName, script: string): Promise<CommandResult> {
            const instanceId = options.instanceId(worker);
            const sent = await client.send(
                new SendCommandCommand({
                    InstanceIds: [instanceId],
                    DocumentName: "AWS-RunShellScript",
                    Parameters: { commands: [script], executionTimeout: [String(timeoutSeconds)] },
                    TimeoutSeconds: 60,
                    Comment: `iguana-ha rolling rebuild: ${worker}`,
                }),
            );
            const commandId = sent.Command?.CommandId;
            if (!commandId) throw new Error(`SSM SendCommand to ${worker} (${instanceId}) returned no command id`);
            const deadline = Date.now() + (timeoutSeconds + 120) * 1000;
            while (Date.now() < deadline) {
                await sleep(pollMs);
                try {
                    const invocation = await client.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
                    const status = invocation.Status ?? "Pending";
                    if (SSM_PENDING.has(status)) continue;
                    if (status === "Success" || status === "Failed") {
                        return { exitCode: invocation.ResponseCode ?? (status === "Success" ? 0 : 1), output: invocation.StandardOutputContent ?? "" };
                    }
                    throw new Error(`SSM command ${commandId} on ${worker} (${instanceId}) ended ${status}${invocation.StatusDetails ? ` (${invocation.StatusDetails})` : ""}`);
                } catch (error) {
                    // Right after SendCommand the invocation may not exist yet.
                    if (error instanceof InvocationDoesNotExist) continue;
                    throw error;
                }
            }
            throw new Error(`SSM command ${commandId} on ${worker} (${instanceId}) did not finish within ${timeoutSeconds + 120} s`);
        },
    };
}

/** ARM's API version for the VM's runCommand action. */
export const AZURE_COMPUTE_API_VERSION = "2024-07-01";
/** The line the script's exit status is echoed on (Azure's RunShellScript returns the output, not the status). */
const EXIT_MARKER = "iguana-ha-exit=";

export interface AzureRunCommandOptions {
    /** The worker's VM resource id (a replaced worker keeps its name, so its id). */
    vmId: (worker: WorkerName) => string;
    /** A bearer token for Azure Resource Manager (e.g. `az account get-access-token`). */
    token: () => Promise<string>;
    /** Default https://management.azure.com (another cloud's Resource Manager, or a stand-in). */
    endpoint?: string;
    pollMs?: number;
    timeoutMs?: number;
}

interface RunCommandResult {
    value?: { code?: string; message?: string }[];
}

/** `[stdout]` of Azure's RunShellScript message ("Enable succeeded: \n[stdout]\n…\n[stderr]\n…"), and the exit status echoed into it. */
export function parseRunShellScriptMessage(message: string): CommandResult {
    const stdout = /\[stdout\]\n([\s\S]*?)(?:\n?\[stderr\]|$)/.exec(message)?.[1] ?? "";
    const lines = stdout.split("\n");
    const markerAt = lines.findIndex((line) => line.startsWith(EXIT_MARKER));
    if (markerAt < 0) return { exitCode: 1, output: stdout };
    return {
        exitCode: Number(lines[markerAt].slice(EXIT_MARKER.length)),
        output: lines
            .slice(0, markerAt)
            .map((line) => `${line}\n`)
            .join(""),
    };
}

export function azureWorkerCommands(options: AzureRunCommandOptions): WorkerCommands {
    const { endpoint = "https://management.azure.com", pollMs = 3000, timeoutMs = 10 * 60 * 1000 } = options;
    const call = async (method: "GET" | "POST", url: string, body?: unknown) => {
        const response = await fetch(url, {
            method,
            headers: { authorization: `Bearer ${await options.token()}`, "content-type": "application/json" },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        if (response.status >= 400) throw new Error(`${method} ${url.split("?")[0]}: HTTP ${response.status} ${text.slice(0, 500)}`);
        return { response, json: text ? JSON.parse(text) : {} };
    };
    return {
        async run(worker: WorkerName, script: string): Promise<CommandResult> {
            const url = `${endpoint}${options.vmId(worker)}/runCommand?api-version=${AZURE_COMPUTE_API_VERSION}`;
            const started = await call("POST", url, { commandId: "RunShellScript", script: ["(", script, ")", `echo "${EXIT_MARKER}$?"`] });
            let result: RunCommandResult | undefined = started.response.status === 200 ? started.json : undefined;
            // A long-running operation: its status at Azure-AsyncOperation, its result there (properties.output) or at Location.
            const statusUrl = started.response.headers.get("azure-asyncoperation");
            const location = started.response.headers.get("location");
            const deadline = Date.now() + timeoutMs;
            while (!result) {
                if (Date.now() > deadline) throw new Error(`run command on ${worker} did not finish within ${timeoutMs / 1000} s`);
                await sleep(pollMs);
                if (statusUrl) {
                    const { json } = await call("GET", statusUrl);
                    if (json.status === "InProgress") continue;
                    if (json.status !== "Succeeded") throw new Error(`run command on ${worker} ended ${json.status}: ${JSON.stringify(json.error ?? {})}`);
                    result = json.properties?.output ?? (location ? (await call("GET", location)).json : undefined);
                    if (!result) throw new Error(`run command on ${worker} succeeded without a result`);
                } else if (location) {
                    const { response, json } = await call("GET", location);
                    if (response.status === 200) result = json;
                } else throw new Error(`run command on ${worker}: HTTP ${started.response.status} without a result or an operation to follow`);
            }
            const message = result.value?.[0]?.message;
            if (message === undefined) throw new Error(`run command on ${worker} returned no message: ${JSON.stringify(result).slice(0, 300)}`);
            return parseRunShellScriptMessage(message);
        },
    };
}
