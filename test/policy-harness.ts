/**
 * Runs the policy pack's policies outside the Pulumi engine, as the engine would: one resource
 * (violationsOf), a stack (stackViolations), or every policy over an evaluation's resources
 * (packViolations). Shared by policy.test.ts and the tests of what each policy guards.
 */
import { ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { GuardrailConfig, guardrails } from "../policy/policies";
import { RecordedResource } from "../offline/mocks";

class NotApplicable extends Error {}

function resourceArgs(type: string, props: Record<string, any>, config: GuardrailConfig = {}, name = "r"): ResourceValidationArgs {
    return {
        type,
        props,
        urn: `urn:pulumi:test::iguana-ha::${type}::${name}`,
        name,
        opts: {} as any,
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: <T extends object>() => config as T,
        notApplicable: (reason?: string): never => {
            throw new NotApplicable(reason);
        },
    } as unknown as ResourceValidationArgs;
}

export async function violationsOf(policy: ResourceValidationPolicy, type: string, props: Record<string, any>, config: GuardrailConfig = {}, name = "r"): Promise<string[]> {
    const found: string[] = [];
    const validations = (Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource]).filter((v) => v !== undefined);
    for (const validate of validations) {
        try {
            await validate(resourceArgs(type, props, config, name), (message) => found.push(message));
        } catch (e) {
            if (!(e instanceof NotApplicable)) throw e;
        }
    }
    return found;
}

function stackArgs(resources: { type: string; name: string; props: Record<string, any> }[], config: GuardrailConfig = {}): StackValidationArgs {
    return {
        resources: resources.map((r) => ({
            ...r,
            urn: `urn:${r.type}::${r.name}`,
            opts: {} as any,
            isType: () => false,
            asType: () => undefined,
            dependencies: [],
            propertyDependencies: {},
        })),
        getConfig: <T extends object>() => config as T,
        notApplicable: (reason?: string): never => {
            throw new NotApplicable(reason);
        },
    } as unknown as StackValidationArgs;
}

export async function stackViolations(policy: StackValidationPolicy, resources: { type: string; name: string; props: Record<string, any> }[], config: GuardrailConfig = {}) {
    const found: string[] = [];
    await policy.validateStack(stackArgs(resources, config), (message) => found.push(message));
    return found;
}

/** Pulumi's wire form of a secret value, as the mocks receive it. */
function unwrapSecrets(value: any): any {
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (value && typeof value === "object") {
        if (value["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270") return unwrapSecrets(value.value);
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

export async function packViolations(resources: RecordedResource[], config: GuardrailConfig): Promise<string[]> {
    const custom = resources.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: unwrapSecrets(r.state) }));
    const found: string[] = [];
    for (const policy of guardrails) {
        if ("validateStack" in policy) {
            found.push(...(await stackViolations(policy, custom, config)).map((m) => `${policy.name}: ${m}`));
        } else {
            for (const r of custom) found.push(...(await violationsOf(policy, r.type, r.props, config, r.name)).map((m) => `${policy.name}: ${m}`));
        }
    }
    return found;
}
