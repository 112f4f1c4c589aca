/** Reads a stack file from `stacks/` into the flat key/value map Pulumi gives a program. */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

export const STACKS_DIR = path.join(__dirname, "..", "stacks");

export interface StackConfig {
    stack: string;
    /** `project:key` → value; structured values as JSON, as `pulumi config` stores them. */
    config: Record<string, string>;
    /** Keys whose stack-file value is `secure:` (their value is not readable here). */
    secretKeys: string[];
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

export const SECRET_PLACEHOLDER = "[secret: encrypted in the stack file]";

/** Reads `stacks/Pulumi.<stack>.yaml`, or `file` when given (any stack file, same format). */
export function readStackConfig(stack: string, file = stackFile(stack)): StackConfig {
    if (!fs.existsSync(file)) {
        throw new Error(`no stack file for "${stack}" (${path.relative(process.cwd(), file)}); known stacks: ${listStacks().join(", ")}`);
    }
    const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, value] of Object.entries(doc.config ?? {})) {
        if (value && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
            config[key] = SECRET_PLACEHOLDER;
            secretKeys.push(key);
        } else {
            config[key] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { stack, config, secretKeys };
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
