/**
 * Stack outputs typed as the outputs contract. A value Pulumi marks secret stays wrapped in
 * `Secret`, which prints, logs and serialises as `[secret]`; `reveal` unwraps it on purpose.
 */
import * as util from "util";
import type * as pulumi from "@pulumi/pulumi";
import type { OutputMap } from "@pulumi/pulumi/automation";
import { CLOUDS } from "../components/constants";
import type { ClusterOutputs } from "../components/model";
import { REDACTED } from "./errors";

export class Secret<T> {
    readonly #value: T;

    constructor(value: T) {
        this.#value = value;
    }

    /** The plain value: only call this where the value is meant to be used. */
    reveal(): T {
        return this.#value;
    }

    toString(): string {
        return REDACTED;
    }

    toJSON(): string {
        return REDACTED;
    }

    [util.inspect.custom](): string {
        return REDACTED;
    }
}

export type MaybeSecret<T> = T | Secret<T>;

export function isSecret<T>(value: MaybeSecret<T>): value is Secret<T> {
    return value instanceof Secret;
}

/** The value, unwrapped if it is secret. */
export function reveal<T>(value: MaybeSecret<T>): T {
    return value instanceof Secret ? value.reveal() : value;
}

type Resolved<T> = T extends pulumi.Output<infer U> ? U : T;

/** The stack outputs contract (`cloud`, `vip`, `vipAddresses`, `dashboardUrl`, `channelEndpoints`, `workers`), resolved. */
export type StackOutputs = { [K in keyof ClusterOutputs]: MaybeSecret<Resolved<ClusterOutputs[K]>> };

const OUTPUT_SHAPES: { [K in keyof StackOutputs]: (value: unknown) => boolean } = {
    cloud: (v) => CLOUDS.includes(v as never),
    vip: (v) => typeof v === "string",
    vipAddresses: (v) => Array.isArray(v) && v.every((a) => typeof a === "string"),
    dashboardUrl: (v) => typeof v === "string",
    channelEndpoints: (v) => Array.isArray(v) && v.every((c) => typeof c?.name === "string" && typeof c?.endpoint === "string"),
    workers: (v) => Array.isArray(v) && v.every((w) => typeof w?.name === "string" && typeof w?.role === "string"),
};

export const OUTPUT_KEYS = Object.keys(OUTPUT_SHAPES) as (keyof StackOutputs)[];

/**
 * Maps the Automation API's output map to the contract. Returns undefined when the stack has
 * no outputs at all (never deployed, or destroyed); otherwise returns the problems (missing keys,
 * wrong shapes) so the caller can throw. Secret values are wrapped, never shape-checked or quoted.
 */
export function toStackOutputs(map: OutputMap): { outputs: StackOutputs; problems: [] } | { outputs: undefined; problems: string[] } {
    if (Object.keys(map).length === 0) return { outputs: undefined, problems: [] };
    const problems: string[] = [];
    const outputs: Record<string, unknown> = {};
    for (const key of OUTPUT_KEYS) {
        const output = map[key];
        if (output === undefined) {
            problems.push(`${key}: missing`);
        } else if (output.secret) {
            outputs[key] = new Secret(output.value);
        } else if (!OUTPUT_SHAPES[key](output.value)) {
            problems.push(`${key}: does not have the contract's shape (see docs/outputs.md)`);
        } else {
            outputs[key] = output.value;
        }
    }
    return problems.length > 0 ? { outputs: undefined, problems } : { outputs: outputs as StackOutputs, problems: [] };
}
