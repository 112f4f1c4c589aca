/**
 * The rules of user tags (`tags`) on each cloud. Keys are plain (checked before any resource
 * exists); a value may be an Output, checked when it resolves (config.ts, checkedTagValues).
 */
import * as pulumi from "@pulumi/pulumi";
import { Cloud, OWN_TAG_KEYS, TAG_LIMITS } from "./constants";

const AWS_TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const AZURE_KEY_FORBIDDEN = /[<>%&\\?/]/;

/** What is wrong with a user tag key on `cloud`, or undefined. */
export function tagKeyProblem(cloud: Cloud | undefined, key: string): string | undefined {
    if (key.trim() === "") return "is an empty tag key";
    const own = OWN_TAG_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
    if (own) return `is a tag the cluster sets itself (${OWN_TAG_KEYS.join(", ")}); pick another key`;
    if (key.length > TAG_LIMITS.maxKeyLength) return `is ${key.length} characters; a tag key has at most ${TAG_LIMITS.maxKeyLength}`;
    if (cloud === "aws") {
        if (/^aws:/i.test(key)) return "starts with aws:, which AWS reserves for itself";
        if (!AWS_TAG_TEXT.test(key)) return "has a character AWS tags refuse; allowed: letters, digits, spaces and _ . : / = + - @";
    }
    if (cloud === "azure" && AZURE_KEY_FORBIDDEN.test(key)) return "has a character Azure refuses in a tag name (< > % & \\ ? /)";
    return undefined;
}

/** What is wrong with a resolved user tag value on `cloud`, or undefined. */
export function tagValueProblem(cloud: Cloud | undefined, value: unknown): string | undefined {
    if (typeof value !== "string") return `must be a string (quote a number in YAML); got ${value === null ? "null" : typeof value}`;
    if (value.length > TAG_LIMITS.maxValueLength) return `is ${value.length} characters; a tag value has at most ${TAG_LIMITS.maxValueLength}`;
    if (cloud === "aws") {
        if (/^aws:/i.test(value)) return "starts with aws:, which AWS reserves for itself";
        if (!AWS_TAG_TEXT.test(value)) return "has a character AWS tags refuse; allowed: letters, digits, spaces and _ . : / = + - @";
    }
    return undefined;
}

/** The problems of a whole tag map, as [key, message] (keys relative to the project namespace). */
export function tagProblems(cloud: Cloud | undefined, tags: Record<string, unknown>): [string, string][] {
    const problems: [string, string][] = [];
    const keys = Object.keys(tags);
    if (keys.length > TAG_LIMITS.maxUserTags) {
        problems.push([
            "tags",
            `has ${keys.length} tags; at most ${TAG_LIMITS.maxUserTags} fit beside the cluster's own ${OWN_TAG_KEYS.length} (${TAG_LIMITS.maxPerResource} per resource)`,
        ]);
    }
    const seen = new Map<string, string>();
    for (const key of keys) {
        const keyProblem = tagKeyProblem(cloud, key);
        if (keyProblem) problems.push([`tags.${key}`, keyProblem]);
        const folded = key.toLowerCase();
        if (cloud === "azure" && seen.has(folded)) problems.push([`tags.${key}`, `is the key ${seen.get(folded)} again: Azure compares tag names without case`]);
        seen.set(folded, key);
        const value = tags[key];
        if (!pulumi.Output.isInstance(value) && !(value instanceof Promise)) {
            const valueProblem = tagValueProblem(cloud, value);
            if (valueProblem) problems.push([`tags.${key}`, valueProblem]);
        }
    }
    return problems;
}
