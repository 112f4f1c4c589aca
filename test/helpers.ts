/** Shared test helpers: run the program under mocks for a stack file or a config object. */
import { PROJECT } from "../components/constants";
import { program } from "../components/program";
import { evaluate } from "../tools/evaluate";
import { runPlanCommand } from "../tools/plan";
import { RecordedResource, RecordingMocks } from "../tools/mocks";
import { readStackConfig, toPulumiConfig } from "../tools/stack-config";

export type StackOutputs = Awaited<ReturnType<typeof runStack>>["outputs"];

export interface StackRun {
    outputs: {
        cloud: string;
        vip: string;
        vipAddresses: string[];
        dashboardUrl: string;
        channelEndpoints: { name: string; protocol: string; port: number; mode: string; endpoint: string }[];
        workers: { name: string; role: string; zone: string; privateIp: string; id: string }[];
    };
    mocks: RecordingMocks;
    /** Resources of one type, by Pulumi type token. */
    ofType(type: string): RecordedResource[];
    /** The one resource with this type and name; fails if absent. */
    one(type: string, name: string): RecordedResource;
}

function wrap(result: { outputs: any; mocks: RecordingMocks }): StackRun {
    const { outputs, mocks } = result;
    return {
        outputs,
        mocks,
        ofType: (type) => mocks.resources.filter((r) => r.type === type),
        one: (type, name) => {
            const found = mocks.resources.find((r) => r.type === type && r.name === name);
            if (!found) throw new Error(`no ${type} named ${name}; have: ${mocks.resources.filter((r) => r.type === type).map((r) => r.name).join(", ")}`);
            return found;
        },
    };
}

/** Runs the program with a shipped stack file's config. */
export async function runStack(stack: string): Promise<StackRun> {
    const { config, secretKeys } = readStackConfig(stack);
    return wrap(await evaluate({ stack, config, secretKeys, run: () => program() }));
}

/** Runs the program with config given as an object of project keys (plus `aws:region` etc.). */
export async function runConfig(values: Record<string, unknown>, stack = "test"): Promise<StackRun> {
    return wrap(await evaluate({ stack, config: toPulumiConfig(PROJECT, values), run: () => program() }));
}

/** A small valid AWS configuration to vary in edge-case tests. */
export function awsConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        "aws:region": "eu-west-1",
        cloud: "aws",
        channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
        network: { allowedCidrs: ["198.51.100.0/24"] },
        ...overrides,
    };
}

/** The plan command in this process (fast); plan.test.ts also runs it as a process, as `npm run plan` does. */
export async function runPlan(...args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runPlanCommand(args, { log: (t) => void out.push(t), error: (t) => void err.push(t) });
    return { code, stdout: out.map((l) => `${l}\n`).join(""), stderr: err.map((l) => `${l}\n`).join("") };
}

/** A small valid Azure configuration to vary in edge-case tests. */
export function azureConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        "azure-native:location": "westeurope",
        cloud: "azure",
        channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
        network: { allowedCidrs: ["198.51.100.0/24"] },
        ...overrides,
    };
}
