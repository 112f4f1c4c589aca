/**
 * Creates (or updates) an aws-dev-like stack from code with the Automation API, prints the
 * progress as it goes and then the typed outputs.
 *
 * Run it only where a real deployment can run: it needs the Pulumi CLI on PATH, a backend login
 * (`pulumi login`, or PULUMI_BACKEND_URL=file://... with PULUMI_CONFIG_PASSPHRASE) and AWS
 * credentials, and it creates billed AWS resources. The tests never run it.
 *
 *   npx ts-node --transpile-only examples/create-aws-dev.ts [stack] [--preview | --destroy]
 *
 * Cancelling: SIGTERM, or Ctrl-C, stops the operation cleanly (Pulumi finishes the resource
 * operations in flight, then stops); a second Ctrl-C in a terminal makes Pulumi stop at once.
 */
import { ClusterConfigInput, IguanaAutomationError, IguanaStack, OperationCancelledError, OperationOptions, StackOutputs, openInlineStack, reveal } from "../automation";

/** The values of `stacks/Pulumi.aws-dev.yaml`, as an object. */
const AWS_DEV_LIKE: ClusterConfigInput = {
    cloud: "aws",
    region: "us-east-1",
    environment: "dev",
    iguana: { edition: "iguanax" },
    channels: [
        { name: "adt-in", protocol: "llp", port: 2575 },
        { name: "fhir-api", protocol: "http", port: 2590 },
    ],
    network: { cidr: "10.40.0.0/16", allowedCidrs: ["198.51.100.0/24"], adminCidrs: ["192.0.2.0/28"], natGateways: "single" },
    workers: { size: "t3.large", dataDiskGb: 50 },
    failover: { healthCheckIntervalSeconds: 10, unhealthyThreshold: 2, idleTimeoutSeconds: 1800 },
};

/**
 * Aborts the controller on SIGTERM and on Ctrl-C. In a terminal, Ctrl-C also reaches the `pulumi`
 * process itself (it shares our process group) and the CLI starts cancelling on its own; the
 * SDK's abort would be a second interrupt, which the CLI takes as "terminate now" and which can
 * orphan resources. So there the abort is left to the CLI.
 */
function cancelOnSignals(controller: AbortController): void {
    let interrupts = 0;
    const cancel = (signal: NodeJS.Signals) => {
        interrupts += 1;
        if (interrupts > 1) {
            console.error(`\n${signal} again: Pulumi stops at once.`);
            return;
        }
        console.error(`\n${signal}: cancelling; Pulumi finishes the operations in flight, then stops.`);
        if (!(signal === "SIGINT" && process.stdin.isTTY)) controller.abort();
    };
    process.on("SIGINT", cancel);
    process.on("SIGTERM", cancel);
}

function printOutputs(outputs: StackOutputs): void {
    // `${...}` prints a secret output as [secret]; reveal() is for values you mean to use.
    console.log(`\nvip:           ${outputs.vip} (all: ${reveal(outputs.vipAddresses).join(", ")})`);
    console.log(`dashboard:     ${outputs.dashboardUrl}`);
    for (const channel of reveal(outputs.channelEndpoints)) {
        console.log(`channel:       ${channel.name.padEnd(12)} ${channel.protocol} ${channel.mode.padEnd(14)} ${channel.endpoint}`);
    }
    for (const worker of reveal(outputs.workers)) {
        console.log(`worker:        ${worker.name} ${worker.role.padEnd(7)} ${worker.zone} ${worker.privateIp} ${worker.id}`);
    }
}

async function runMode(stack: IguanaStack, mode: string, progress: OperationOptions): Promise<void> {
    if (mode === "--preview") {
        const { changeSummary } = await stack.preview(progress);
        console.log("\nchanges:", changeSummary);
    } else if (mode === "--destroy") {
        await stack.destroy(progress);
    } else {
        const { outputs, summary } = await stack.up(progress);
        console.log(`\nupdate ${summary.result}:`, summary.resourceChanges);
        printOutputs(outputs);
    }
}

async function main(): Promise<void> {
    const args = process.argv.slice(2);
    const stackName = args.find((a) => !a.startsWith("--")) ?? "aws-dev-from-code";
    const mode = args.find((a) => a.startsWith("--")) ?? "--up";

    const controller = new AbortController();
    cancelOnSignals(controller);
    const progress: OperationOptions = { onOutput: (text) => process.stdout.write(text), signal: controller.signal };

    const stack = await openInlineStack(stackName, { config: AWS_DEV_LIKE });
    await runMode(stack, mode, progress);
}

main().catch((error: unknown) => {
    if (error instanceof OperationCancelledError) {
        console.error(`\n${error.message}`);
        process.exitCode = 130;
    } else if (error instanceof IguanaAutomationError) {
        console.error(`\n${error.name}: ${error.message}`);
        process.exitCode = 1;
    } else {
        console.error(error);
        process.exitCode = 1;
    }
});
