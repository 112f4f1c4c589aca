/**
 * The README's Automation API example, runnable as is: an inline stack configured in code, with
 * a self-managed backend, cancelled cleanly on SIGTERM. Like create-aws-dev.ts it needs the
 * Pulumi CLI, the backend and AWS credentials, and it creates billed resources: the tests only
 * compile it.
 *
 *   npx ts-node --transpile-only examples/portal-inline-stack.ts
 */
import { openInlineStack, reveal } from "../automation";

async function main(): Promise<void> {
    const controller = new AbortController();
    process.on("SIGTERM", () => controller.abort());

    const stack = await openInlineStack("portal-42", {
        config: {
            cloud: "aws",
            region: "us-east-1",
            iguana: { installerUrl: "https://downloads.example.org/iguanax-linux-x64.tar.gz" },
            channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
            network: { allowedCidrs: ["10.20.0.0/16"], adminCidrs: ["10.30.0.0/24"] },
        },
        workspace: { envVars: { PULUMI_BACKEND_URL: "file:///var/lib/portal/pulumi", PULUMI_CONFIG_PASSPHRASE_FILE: "/run/secrets/pulumi" } },
    });
    const { outputs } = await stack.up({ onOutput: (text) => process.stdout.write(text), signal: controller.signal });
    // Senders use their channel's endpoint; `vip` is where the channels with the lowest ports listen.
    console.log(
        reveal(outputs.channelEndpoints)
            .map((c) => `${c.name}: ${c.endpoint}`)
            .join("\n"),
    );
}

main().catch((error: Error) => {
    console.error(`${error.name}: ${error.message}`);
    process.exitCode = 1;
});
