/** Reads a stack file from `stacks/` into the flat key/value map Pulumi gives a program. */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { CONFIG_KEYS, ClusterConfig, REGION_KEY, RawClusterConfig, validateClusterConfig } from "../components/config";
import { PROJECT, UNREADABLE_SECRET } from "../components/constants";

export const STACKS_DIR = path.join(__dirname, "..", "stacks");

export interface StackConfig {
    stack: string;
    /** `project:key` → value; structured values as JSON, as `pulumi config` stores them. */
    config: Record<string, string>;
    /** Keys whose stack-file value is `secure:` (their value is not readable here). */
    secretKeys: string[];
    /**
     * The Pulumi ESC environments the stack file imports (`environment:`). The offline plan has
     * no Pulumi Cloud to open them, so the config they add is missing here; `pulumi preview` has it.
     */
    unresolvedEnvironments: string[];
}

/** A stack file that is missing or unreadable: the plan prints the message alone. */
export class StackFileError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "StackFileError";
    }
}

/** The environment names of a stack file's `environment:` (a list, one name, or `imports:`). */
function environmentNames(value: unknown): string[] {
    if (value === undefined || value === null) return [];
    if (typeof value === "string") return [value];
    if (Array.isArray(value)) return value.map(String);
    if (typeof value === "object" && Array.isArray((value as { imports?: unknown }).imports)) {
        return (value as { imports: unknown[] }).imports.map((i) => (typeof i === "string" ? i : JSON.stringify(i)));
    }
    return [JSON.stringify(value)];
}

export function stackFile(stack: string): string {
    return path.join(STACKS_DIR, `Pulumi.${stack}.yaml`);
}

export function listStacks(): string[] {
    return fs
        .readdirSync(STACKS_DIR)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

export const SECRET_PLACEHOLDER = UNREADABLE_SECRET;

/** A value with every `secure:` leaf (`pulumi config set --path --secret`) replaced by SECRET_PLACEHOLDER; `found` says whether there was one. */
function withoutSecureLeaves(value: unknown, found: { secure: boolean }): unknown {
    if (Array.isArray(value)) return value.map((v) => withoutSecureLeaves(v, found));
    if (value && typeof value === "object") {
        if ("secure" in value) {
            found.secure = true;
            return SECRET_PLACEHOLDER;
        }
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutSecureLeaves(v, found)]));
    }
    return value;
}

/** Reads `stacks/Pulumi.<stack>.yaml`, or `file` when given (any stack file, same format). */
export function readStackConfig(stack: string, file = stackFile(stack)): StackConfig {
    if (!fs.existsSync(file)) {
        throw new StackFileError(`no stack file for "${stack}" (${path.relative(process.cwd(), file) || file}); known stacks: ${listStacks().join(", ")}`);
    }
    let doc: { config?: Record<string, unknown>; environment?: unknown };
    try {
        doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as typeof doc;
    } catch (e) {
        throw new StackFileError(`stack file ${path.relative(process.cwd(), file) || file} is not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
    }
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, value] of Object.entries(doc.config ?? {})) {
        if (value && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
            config[key] = SECRET_PLACEHOLDER;
            secretKeys.push(key);
        } else {
            // A secure leaf makes the whole key secret, as Pulumi's engine reports it to the program.
            const found = { secure: false };
            const plain = withoutSecureLeaves(value, found);
            config[key] = typeof plain === "string" ? plain : JSON.stringify(plain);
            if (found.secure) secretKeys.push(key);
        }
    }
    return { stack, config, secretKeys, unresolvedEnvironments: environmentNames(doc.environment) };
}

/** Flat Pulumi config from a plain object of project keys plus provider keys given whole. */
export function toPulumiConfig(project: string, values: Record<string, unknown>): Record<string, string> {
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(values)) {
        if (value === undefined) continue;
        const fullKey = key.includes(":") ? key : `${project}:${key}`;
        config[fullKey] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return config;
}

/**
 * The untyped cluster config of a stack file, keyed like `components/program.ts readRawConfig`
 * reads it from Pulumi: every contract key of the project (JSON values parsed, plain text kept),
 * plus `aws:region` or `azure-native:location` for the cloud the stack names.
 */
export function rawClusterConfig(stack: Omit<StackConfig, "unresolvedEnvironments">, project = PROJECT): RawClusterConfig {
    const parse = (text: string | undefined): unknown => {
        if (text === undefined) return undefined;
        try {
            return JSON.parse(text);
        } catch {
            return text;
        }
    };
    const raw: RawClusterConfig = {};
    for (const key of CONFIG_KEYS) {
        raw[key] = parse(stack.config[`${project}:${key}`]);
    }
    if (raw.cloud === "aws" || raw.cloud === "azure") {
        // Read as text, like `pulumi.Config.get` does for the provider's key.
        raw.region = stack.config[REGION_KEY[raw.cloud]];
    }
    raw.stackKeys = Object.entries(stack.config).map(([key, value]) => ({ key, value: stack.secretKeys.includes(key) ? undefined : value }));
    return raw;
}

/** A shipped stack's validated config, defaults filled in, exactly as the program would see it. */
export function loadStackClusterConfig(stack: string, file?: string): ClusterConfig {
    return validateClusterConfig(rawClusterConfig(readStackConfig(stack, file)), stack);
}
