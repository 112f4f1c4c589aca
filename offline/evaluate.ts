/** Runs the program once under mocks and waits until every resource is registered. */
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../components/constants";
import { RecordingMocks, installMocks } from "./mocks";

export interface Evaluation<T> {
    outputs: T;
    mocks: RecordingMocks;
}

/**
 * The value of an output. The SDK's `Output.promise()` is internal but stable since 2018; unlike
 * `apply`, whose callback never runs when the output fails, it rejects with the program's error.
 */
export function promiseOf<T>(output: pulumi.Input<T>): Promise<T> {
    return (pulumi.output(output) as unknown as { promise(): Promise<T> }).promise();
}

async function drainRegistrations(): Promise<void> {
    // Internal but stable since 2019: waits for every queued RPC (resource registration) to finish.
    const settings = require("@pulumi/pulumi/runtime/settings");
    await settings.waitForRPCs();
}

/**
 * Installs fresh mocks and config, calls `run` (which builds resources) and resolves the
 * outputs it returns. Any error thrown by `run` propagates before resources are awaited.
 */
export interface EvaluateOptions<T> {
    stack: string;
    config: Record<string, string>;
    secretKeys?: string[];
    region?: string;
    /** Pass your own to inspect what was registered even when `run` throws. */
    mocks?: RecordingMocks;
    run: () => T;
}

/**
 * The SDK's `Resource.stackTrace` (private, @pulumi/pulumi 3.248.0): every resource constructor
 * calls it to send the engine the program's source position and stack with the registration.
 * It captures a stack with no depth limit and maps each frame through ts-node's source maps.
 */
const sdkResource = pulumi.Resource as unknown as { stackTrace?: (skip: number) => unknown[] };
const sdkStackTrace = sdkResource.stackTrace;

/**
 * azure-native (3.28.0) gives every resource one alias per Azure API version it has known, each
 * naming a versioned type (a NIC has about 60: `azure-native:network/v20150615:NetworkInterface`
 * and so on), so that a stack which created the resource under such a type can move to the
 * unversioned one. The SDK turns each alias into a URN output in the resource's constructor:
 * profiled, about 85% of an Azure evaluation (200 ms of 230 for 23 resources). This program only
 * ever creates unversioned types, so those aliases match nothing of ours, and the mock monitor
 * never reads aliases; they are dropped while evaluating under mocks. Other aliases are kept.
 */
const API_VERSION_ALIAS = /^azure-native:[a-z0-9]+\/v\d{8}(preview)?:/i;
type MergeOptions = (a: pulumi.ResourceOptions | undefined, b: pulumi.ResourceOptions | undefined) => pulumi.ResourceOptions;
const sdkOptions = pulumi as unknown as { mergeOptions: MergeOptions };
const sdkMergeOptions = sdkOptions.mergeOptions;

export function isApiVersionAlias(alias: unknown): boolean {
    if (typeof alias !== "object" || alias === null) return false;
    const { type, ...rest } = alias as { type?: unknown };
    return typeof type === "string" && Object.keys(rest).length === 0 && API_VERSION_ALIAS.test(type);
}

const mergeOptionsWithoutApiVersionAliases: MergeOptions = (a, b) => {
    if (b && Array.isArray(b.aliases) && b.aliases.some(isApiVersionAlias)) {
        b = { ...b, aliases: b.aliases.filter((alias) => !isApiVersionAlias(alias)) };
    }
    return sdkMergeOptions(a, b);
};

/**
 * The SDK's `debuggablePromise` (internal, runtime/debuggable.js, @pulumi/pulumi 3.248.0) wraps
 * every promise of a registration, an output or an RPC for the leak report a real program prints
 * when it exits with promises pending: it defines three properties on the promise (an id, a
 * context and a stack), adds it to a set and chains two more promises to take it out again.
 * Profiled, that is about a third of an AWS evaluation at 200 channels. An evaluation here waits
 * for every registration itself (drainRegistrations) and never reads the report, so while it runs
 * the wrapper hands back the promise itself, which settles exactly as the wrapped one would.
 */
const sdkDebuggable: { debuggablePromise?: <T>(p: Promise<T>, ctx: unknown) => Promise<T> } = require("@pulumi/pulumi/runtime/debuggable");
const sdkDebuggablePromise = sdkDebuggable.debuggablePromise;

export async function evaluate<T extends object>(options: EvaluateOptions<T>): Promise<Evaluation<{ [K in keyof T]: pulumi.Unwrap<T[K]> }>> {
    // The SDK records a stack trace for every internal promise; under ts-node's source maps that
    // dominates evaluation time (profiled: about 60% at 200 channels). Errors thrown by the program
    // keep their messages; only their stack frames are cut while evaluating.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    // The source position per resource ignores that limit (the SDK lifts it) and costs about a
    // fifth of an evaluation. Under mocks it only fills two fields of the registration request
    // (sourcePosition, stackTrace) that the mock monitor never reads, so it is skipped while
    // evaluating: errors, their stacks and what the mocks record are unchanged. Should an SDK
    // upgrade remove the method, nothing is patched and evaluation is merely slower.
    if (typeof sdkStackTrace === "function") sdkResource.stackTrace = () => [];
    sdkOptions.mergeOptions = mergeOptionsWithoutApiVersionAliases;
    if (typeof sdkDebuggablePromise === "function") sdkDebuggable.debuggablePromise = (promise) => promise;
    try {
        return await evaluateWithMocks(options);
    } finally {
        Error.stackTraceLimit = stackTraceLimit;
        if (typeof sdkStackTrace === "function") sdkResource.stackTrace = sdkStackTrace;
        sdkOptions.mergeOptions = sdkMergeOptions;
        if (typeof sdkDebuggablePromise === "function") sdkDebuggable.debuggablePromise = sdkDebuggablePromise;
    }
}

/**
 * The SDK's log module: with no engine (under mocks) `warn` prints to the console. While
 * evaluating, warnings are recorded on the mocks instead, for the plan and the tests to read.
 */
const sdkLog: { warn: (message: string, ...rest: unknown[]) => Promise<void> } = require("@pulumi/pulumi/log");

async function evaluateWithMocks<T extends object>(options: EvaluateOptions<T>): Promise<Evaluation<{ [K in keyof T]: pulumi.Unwrap<T[K]> }>> {
    const mocks = options.mocks ?? new RecordingMocks(options.region ?? options.config["aws:region"] ?? options.config["azure-native:location"]);
    await installMocks(mocks, PROJECT, options.stack);
    pulumi.runtime.setAllConfig(options.config, options.secretKeys);
    const sdkWarn = sdkLog.warn;
    sdkLog.warn = async (message: string) => void mocks.warnings.push(message);
    // An error thrown inside an apply (a check on what the cloud answers) fails the registrations
    // that depend on it without rejecting anything awaited here: under `pulumi up` the CLI's
    // unhandled-rejection handler reports it. Here it fails the evaluation instead of hanging it.
    let failed!: (error: unknown) => void;
    const failure = new Promise<never>((_, reject) => (failed = reject));
    failure.catch(() => undefined);
    let firstFailure: { error: unknown } | undefined;
    const onUnhandled = (error: unknown) => {
        firstFailure ??= { error };
        failed(error);
    };
    process.on("unhandledRejection", onUnhandled);
    try {
        const evaluation = (async () => {
            let outputs: T;
            try {
                // A program may be an async function (`export = async () => ...`), as Pulumi allows.
                const produced: T | Promise<T> = options.run();
                outputs = produced instanceof Promise ? await produced : produced;
            } finally {
                await drainRegistrations();
            }
            if (mocks.registrationErrors.length > 0) throw mocks.registrationErrors[0];
            const resolved: Record<string, unknown> = {};
            for (const [key, value] of Object.entries(outputs)) {
                resolved[key] = await promiseOf(value);
            }
            await drainRegistrations();
            if (mocks.registrationErrors.length > 0) throw mocks.registrationErrors[0];
            return { outputs: resolved as { [K in keyof T]: pulumi.Unwrap<T[K]> }, mocks };
        })();
        const result = await Promise.race([evaluation, failure]);
        // A registration whose input failed (an invoke's answer checked at preview) rejects after
        // the queue drained: Node reports it only once this turn's promises have run.
        await new Promise((resolve) => setImmediate(resolve));
        if (firstFailure) throw firstFailure.error;
        return result;
    } finally {
        process.off("unhandledRejection", onUnhandled);
        sdkLog.warn = sdkWarn;
    }
}
