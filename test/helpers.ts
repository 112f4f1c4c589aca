/** Shared test helpers: run the program under mocks for a stack file or a config object. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { WORKER_PATHS, leaseConfigPath, peerFenceConfigPath } from "../components/bootstrap";
import { PROJECT } from "../components/constants";
import { secretLeaves } from "../components/contract";
import { program } from "../components/program";
import { evaluate } from "../offline/evaluate";
import { runPlanCommand } from "../tools/plan";
import { selfSigned } from "../boot/tls";
import { RecordedResource, RecordingMocks, installMocks } from "../offline/mocks";
import { readStackConfig, toPulumiConfig } from "../offline/stack-config";
import { cloudInitFiles, workerBootstraps } from "../offline/worker-bootstrap";

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

/** A StackRun over an evaluation's result (outputs and recorded resources). */
export function wrapRun(result: { outputs: any; mocks: RecordingMocks }): StackRun {
    const { outputs, mocks } = result;
    return {
        outputs,
        mocks,
        ofType: (type) => mocks.resources.filter((r) => r.type === type),
        one: (type, name) => {
            const found = mocks.resources.find((r) => r.type === type && r.name === name);
            if (!found)
                throw new Error(
                    `no ${type} named ${name}; have: ${mocks.resources
                        .filter((r) => r.type === type)
                        .map((r) => r.name)
                        .join(", ")}`,
                );
            return found;
        },
    };
}

/** Freezes a run's plain data (outputs, recorded resources and calls) all the way down. */
function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
    if (value === null || typeof value !== "object" || seen.has(value) || ArrayBuffer.isView(value)) return value;
    seen.add(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as any)[key], seen);
    return Object.freeze(value);
}

/** Shipped-stack runs of this process, by stack name (each test file asks for the same few). */
const stackRuns = new Map<string, Promise<StackRun>>();

/**
 * Runs the program with a shipped stack file's config. The program is deterministic for a given
 * config, so a stack is evaluated once per process and every caller gets that one run, frozen:
 * a test that tried to change it would throw instead of affecting another test (change a copy).
 * Set IGUANA_TEST_FRESH_RUNS=1 to evaluate again at every call.
 */
export async function runStack(stack: string, options: { fresh?: boolean } = {}): Promise<StackRun> {
    const { config, secretKeys } = readStackConfig(stack);
    let run = process.env.IGUANA_TEST_FRESH_RUNS || options.fresh ? undefined : stackRuns.get(stack);
    if (!run) {
        run = evaluate({ stack, config, secretKeys, run: () => program() }).then((result) => {
            const { mocks } = result;
            deepFreeze(result.outputs);
            deepFreeze(mocks.resources);
            deepFreeze(mocks.calls);
            return Object.freeze(wrapRun(result));
        });
        stackRuns.set(stack, run);
        run.catch(() => stackRuns.delete(stack));
        return run;
    }
    const shared = await run;
    // Leave the Pulumi runtime as an evaluation of this stack does (its stack name and config
    // current), for tests that read the config back, e.g. loadClusterConfig().
    await installMocks(new RecordingMocks(), PROJECT, stack);
    pulumi.runtime.setAllConfig(config, secretKeys);
    return shared;
}

/** A worker's lease guard config (`lease.json`) and peer fence config (`peer-fence.json`), as its user data writes them. */
export interface GuardFiles {
    lease: {
        self: string;
        leaseSeconds: number;
        store: { kind: string; url: string; region?: string; table?: string; itemKey?: string; imdsUrl: string };
        peerFence?: { command: string[]; timeoutSeconds: number };
    };
    peerFence?: { cloud: string; aws?: { region: string }; azure?: { peerVmId: string } };
}

/**
 * What each worker's guards are told: the JSON files its rendered user data writes, read back
 * out of the registered instances / VMs (the files the guards read, not the settings they were
 * rendered from). By worker name (the guard's `self`).
 */
export function workerGuardFiles(run: StackRun): Record<string, GuardFiles> {
    const byWorker: Record<string, GuardFiles> = {};
    for (const bootstrap of workerBootstraps(run.mocks.resources)) {
        const files = cloudInitFiles(bootstrap.cloudInit);
        const json = (path: string) => {
            const file = files.find((f) => f.path === path);
            return file ? JSON.parse(file.content) : undefined;
        };
        const lease = json(leaseConfigPath(WORKER_PATHS));
        if (!lease) throw new Error(`${bootstrap.resource}: its user data writes no ${leaseConfigPath(WORKER_PATHS)}`);
        byWorker[lease.self] = { lease, peerFence: json(peerFenceConfigPath(WORKER_PATHS)) };
    }
    if (Object.keys(byWorker).length !== 2) throw new Error(`expected the guard files of two workers, saw ${Object.keys(byWorker).join(", ") || "none"}`);
    return byWorker;
}

/** Neither worker's guard may stop its peer (no shared storage): no fence step, no fence config. */
export function assertNoPeerFence(guards: Record<string, GuardFiles>): void {
    for (const [worker, files] of Object.entries(guards)) {
        if (files.lease.peerFence || files.peerFence) throw new Error(`${worker} is given a peer fence, though the cluster has no shared storage`);
    }
}

/** Runs the program with config given as an object of project keys (plus `aws:region` etc.). */
export async function runConfig(values: Record<string, unknown>, stack = "test"): Promise<StackRun> {
    // A secret leaf (a TLS private key, a webhook URL) is set with --secret, which makes its whole key secret.
    const secretKeys = secretLeaves()
        .filter(({ key, leaf }) => (values[key] as Record<string, unknown> | undefined)?.[leaf] !== undefined)
        .map(({ key }) => `${PROJECT}:${key}`);
    return wrapRun(await evaluate({ stack, config: toPulumiConfig(PROJECT, values), secretKeys, run: () => program() }));
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

/** Pulumi's marker of a secret value in a resource's inputs (the SDK's specialSigKey and secretSig). */
const SECRET_SIG = { key: "4dabf18193072939515e22adb298388d", value: "1b47061264138c4ac30d75fd1eb44270" };

/**
 * Resource state as text with every secret value replaced by "[secret]": what a plan or state
 * export shows in clear. The tls provider's own resources are left out: their key output is
 * declared secret (additionalSecretOutputs), which the mocks cannot show.
 */
export function clearState(resources: { type: string; state: Record<string, unknown> }[]): string {
    return JSON.stringify(
        resources.filter((r) => !r.type.startsWith("tls:")).map((r) => r.state),
        (_key, value) => (value && typeof value === "object" && (value as Record<string, unknown>)[SECRET_SIG.key] === SECRET_SIG.value ? "[secret]" : value),
    );
}

/**
 * A server certificate and its key as a hospital's CA would issue them (PEM text), made once per
 * run with openssl: what `tls.certificate` and `tls.privateKey` take. `name` varies the pair.
 */
const certificates = new Map<string, { certificate: string; privateKey: string }>();
export function testCertificate(name = "hl7.hospital.example", options: { ca?: boolean } = {}): { certificate: string; privateKey: string } {
    const key = `${name}/${options.ca ? "ca" : "leaf"}`;
    let pair = certificates.get(key);
    if (!pair) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-cert-"));
        const made = selfSigned(dir, "pair", name, { ca: options.ca === true, days: 30 });
        pair = { certificate: fs.readFileSync(made.cert, "utf8"), privateKey: fs.readFileSync(made.key, "utf8") };
        fs.rmSync(dir, { recursive: true, force: true });
        certificates.set(key, pair);
    }
    return pair;
}

/** What each worker's custom data writes and enables for one of its timer tools (the share snapshots, the backup copies), by VM name. */
export function timerToolBootstrap(run: StackRun, tool: { script: string; config: string; unit: string; timer: string }) {
    return workerBootstraps(run.mocks.resources).map((b) => {
        const files = cloudInitFiles(b.cloudInit);
        const file = (p: string) => files.find((f) => f.path === p)?.content;
        const runcmd = (yaml.load(b.cloudInit) as { runcmd: unknown[] }).runcmd;
        return {
            vm: b.resource,
            script: file(tool.script),
            config: file(tool.config),
            timer: file(`/etc/systemd/system/${tool.timer}`),
            unit: file(`/etc/systemd/system/${tool.unit}`),
            enabled: runcmd.some((c) => Array.isArray(c) && c.join(" ") === `systemctl enable --now ${tool.timer}`),
        };
    });
}
