/**
 * How the rolling rebuild reaches a deployed worker (automation/worker-commands.ts): SSM's
 * SendCommand / GetCommandInvocation through the AWS SDK, and ARM's runCommand action with its
 * long-running operation, each against a stand-in that speaks that wire protocol and runs the
 * script with this host's shell, as the worker's agent would.
 */
import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import { execFile } from "child_process";
import { SSMClient } from "@aws-sdk/client-ssm";
import { azureWorkerCommands, parseRunShellScriptMessage, ssmWorkerCommands } from "../automation/worker-commands";

interface Ran {
    done: boolean;
    code: number;
    stdout: string;
    stderr: string;
}

function runLocally(script: string): Ran {
    const ran: Ran = { done: false, code: 0, stdout: "", stderr: "" };
    execFile("/bin/sh", ["-c", script], (error, stdout, stderr) => {
        Object.assign(ran, { done: true, code: error ? Number((error as NodeJS.ErrnoException & { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    return ran;
}

async function listen(handler: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void): Promise<{ server: http.Server; url: string }> {
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => handler(req, body, res));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** SSM's JSON 1.1 protocol, for the two calls: the command runs once SendCommand is answered. */
class SsmStandIn {
    readonly sent: { target: string; body: Record<string, unknown>; signed: boolean }[] = [];
    private readonly commands = new Map<string, { instanceId: string; ran: Ran; polls: number }>();

    handle = (req: http.IncomingMessage, raw: string, res: http.ServerResponse) => {
        const target = String(req.headers["x-amz-target"]);
        const body = JSON.parse(raw || "{}");
        this.sent.push({ target, body, signed: String(req.headers.authorization).startsWith("AWS4-HMAC-SHA256 Credential=AKIDROLLING/") });
        const reply = (status: number, json: unknown) => {
            res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
            res.end(JSON.stringify(json));
        };
        if (target === "AmazonSSM.SendCommand") {
            if (body.DocumentName !== "AWS-RunShellScript") return reply(400, { __type: "InvalidDocument", message: `document ${body.DocumentName}` });
            const commandId = `cmd-${this.commands.size + 1}`;
            this.commands.set(commandId, { instanceId: body.InstanceIds[0], ran: runLocally(body.Parameters.commands.join("\n")), polls: 0 });
            return reply(200, { Command: { CommandId: commandId, Status: "Pending" } });
        }
        if (target === "AmazonSSM.GetCommandInvocation") {
            const command = this.commands.get(body.CommandId);
            // The invocation appears a moment after SendCommand answered.
            if (!command || command.instanceId !== body.InstanceId || command.polls++ === 0) {
                return reply(400, { __type: "InvocationDoesNotExist", message: "invocation does not exist" });
            }
            if (!command.ran.done) return reply(200, { CommandId: body.CommandId, InstanceId: body.InstanceId, Status: "InProgress", ResponseCode: -1 });
            return reply(200, {
                CommandId: body.CommandId,
                InstanceId: body.InstanceId,
                Status: command.ran.code === 0 ? "Success" : "Failed",
                StatusDetails: command.ran.code === 0 ? "Success" : "Failed",
                ResponseCode: command.ran.code,
                StandardOutputContent: command.ran.stdout,
                StandardErrorContent: command.ran.stderr,
            });
        }
        reply(400, { __type: "UnknownOperationException", message: target });
    };
}

describe("worker commands: the cloud's run command", function () {
    this.timeout(20000);

    it("AWS: SSM runs the script on the worker's current instance; its output and exit status come back", async () => {
        const ssm = new SsmStandIn();
        const { server, url } = await listen(ssm.handle);
        try {
            const client = new SSMClient({ endpoint: url, region: "eu-west-1", credentials: { accessKeyId: "AKIDROLLING", secretAccessKey: "secret" } });
            const ids: Record<string, string> = { wk1: "i-0aaa", wk2: "i-0bbb" };
            const commands = ssmWorkerCommands({ instanceId: (w) => ids[w], client, pollMs: 20 });
            assert.deepStrictEqual(await commands.run("wk2", "echo owner=wk1 epoch=3\nsleep 0.2\necho done"), { exitCode: 0, output: "owner=wk1 epoch=3\ndone\n" });
            ids.wk2 = "i-0ccc"; // replaced: a new instance
            assert.deepStrictEqual(await commands.run("wk2", "echo the peer has not taken the lease; exit 1"), { exitCode: 1, output: "the peer has not taken the lease\n" });
            const sends = ssm.sent.filter((s) => s.target === "AmazonSSM.SendCommand");
            assert.deepStrictEqual(
                sends.map((s) => [s.body.InstanceIds, s.body.DocumentName, (s.body.Parameters as { commands: string[] }).commands.length]),
                [
                    [["i-0bbb"], "AWS-RunShellScript", 1],
                    [["i-0ccc"], "AWS-RunShellScript", 1],
                ],
            );
            assert.ok(
                ssm.sent.every((s) => s.signed),
                "every call signed with SigV4 by the caller's credentials",
            );
        } finally {
            server.close();
        }
    });

    it("Azure: the VM's runCommand action, its long-running operation followed to the result; the exit status read from the output", async () => {
        const runs = new Map<string, Ran>();
        const seen: { method: string; path: string; auth?: string; body?: unknown }[] = [];
        const { server, url } = await listen((req, raw, res) => {
            const path = req.url ?? "";
            seen.push({ method: req.method!, path: path.split("?")[0], auth: req.headers.authorization, ...(raw ? { body: JSON.parse(raw) } : {}) });
            const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
                res.writeHead(status, { "content-type": "application/json", ...headers });
                res.end(JSON.stringify(body));
            };
            if (req.headers.authorization !== "Bearer arm-token") return json(401, { error: { code: "AuthenticationFailed" } });
            const post = /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/virtualMachines\/[^/]+)\/runCommand\?api-version=2024-07-01$/.exec(path);
            if (req.method === "POST" && post) {
                const body = JSON.parse(raw);
                if (body.commandId !== "RunShellScript") return json(400, { error: { code: "BadRequest" } });
                const id = `op${runs.size + 1}`;
                runs.set(id, runLocally(body.script.join("\n")));
                return json(202, {}, { "Azure-AsyncOperation": `${url}/operations/${id}?api-version=2024-07-01`, Location: `${url}/results/${id}?api-version=2024-07-01` });
            }
            const op = /^\/(operations|results)\/(op\d+)\?/.exec(path);
            const ran = op ? runs.get(op[2]) : undefined;
            if (!op || !ran) return json(404, { error: { code: "NotFound" } });
            if (op[1] === "operations") return json(200, { status: ran.done ? "Succeeded" : "InProgress" });
            return json(200, {
                value: [
                    {
                        code: "ProvisioningState/succeeded",
                        level: "Info",
                        displayStatus: "Provisioning succeeded",
                        message: `Enable succeeded: \n[stdout]\n${ran.stdout}\n[stderr]\n${ran.stderr}`,
                    },
                ],
            });
        });
        try {
            const vm = (w: string) => `/subscriptions/0000/resourceGroups/iguana-rg/providers/Microsoft.Compute/virtualMachines/iguana-${w}`;
            const commands = azureWorkerCommands({ vmId: vm, token: async () => "arm-token", endpoint: url, pollMs: 20 });
            assert.deepStrictEqual(await commands.run("wk1", "echo wk2 holds the lease \\(epoch 4\\)\nsleep 0.2"), { exitCode: 0, output: "wk2 holds the lease (epoch 4)\n" });
            assert.deepStrictEqual(await commands.run("wk1", "echo no running lease guard >&2; exit 3"), { exitCode: 3, output: "" });
            assert.strictEqual(seen[0].path, `${vm("wk1")}/runCommand`);
            assert.ok(seen.every((s) => s.auth === "Bearer arm-token"));
            const wrong = azureWorkerCommands({ vmId: vm, token: async () => "expired", endpoint: url, pollMs: 20 });
            await assert.rejects(wrong.run("wk2", "true"), /HTTP 401/);
        } finally {
            server.close();
        }
    });

    it("reads RunShellScript's message as Azure writes it", () => {
        assert.deepStrictEqual(parseRunShellScriptMessage("Enable succeeded: \n[stdout]\nrole: MASTER\niguana-ha-exit=0\n\n[stderr]\n"), { exitCode: 0, output: "role: MASTER\n" });
        assert.deepStrictEqual(parseRunShellScriptMessage("Enable succeeded: \n[stdout]\n\n[stderr]\nsh: 1: lease-guard.py: not found\n"), { exitCode: 1, output: "" });
    });
});
