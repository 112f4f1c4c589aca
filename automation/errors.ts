/**
 * The errors the automation module throws, one class per situation users hit, each saying
 * what to do. `toAutomationError` recognises them by inspecting what the Automation API threw
 * (the SDK's own error classes, the spawn error, the CLI's output); the original is kept as
 * `cause`, with secret config values redacted.
 */
import * as fs from "fs";
import * as path from "path";
import { CommandError, ConcurrentUpdateError, StackAlreadyExistsError, StackNotFoundError } from "@pulumi/pulumi/automation";
import { ConfigProblem, ConfigValidationError } from "../components/config";
import { PROJECT } from "../components/constants";

export type Operation = "open" | "config" | "preview" | "up" | "refresh" | "destroy" | "outputs";

export interface ErrorContext {
    operation: Operation;
    stackName: string;
    /** Values that must never appear in an error (the secret config given in code). */
    secrets: readonly string[];
    signal?: AbortSignal;
    /** Stack files of the project, listed when a stack does not exist. */
    knownStacks?: readonly string[];
}

export const REDACTED = "[secret]";

export const PULUMI_INSTALL_URL = "https://www.pulumi.com/docs/iac/download-install/";

/** Base class of every error this module throws. */
export class IguanaAutomationError extends Error {
    readonly stackName: string;
    readonly operation: Operation;
    readonly cause?: unknown;

    constructor(message: string, context: Pick<ErrorContext, "stackName" | "operation">, cause?: unknown) {
        super(message);
        this.name = new.target.name;
        this.stackName = context.stackName;
        this.operation = context.operation;
        if (cause !== undefined) this.cause = cause;
    }
}

export class PulumiCliNotFoundError extends IguanaAutomationError {}
/** Starting `pulumi` failed with EACCES: a PATH directory this process cannot search, or a `pulumi` it cannot run. */
export class PulumiCliPermissionError extends IguanaAutomationError {}
export class BackendLoginError extends IguanaAutomationError {}
export class SecretsPassphraseError extends IguanaAutomationError {}
export class StackDoesNotExistError extends IguanaAutomationError {}
export class StackCreationConflictError extends IguanaAutomationError {}
export class UpdateInProgressError extends IguanaAutomationError {}
export class OperationCancelledError extends IguanaAutomationError {}
/** Any other failure of a `pulumi` command: the message carries the CLI's error output. */
export class PulumiOperationError extends IguanaAutomationError {}

/** The configuration failed validation; `problems` names each key. */
export class InvalidConfigError extends IguanaAutomationError {
    readonly problems: ConfigProblem[];

    constructor(validation: ConfigValidationError, context: Pick<ErrorContext, "stackName" | "operation">, cause: unknown = validation) {
        super(validation.message, context, cause);
        this.problems = validation.problems;
    }
}

/** The stack's outputs do not match the outputs contract (e.g. a stack of another program). */
export class UnexpectedOutputsError extends IguanaAutomationError {
    constructor(
        readonly problems: string[],
        context: Pick<ErrorContext, "stackName" | "operation">,
    ) {
        super(`Stack "${context.stackName}" does not have the ${PROJECT} stack outputs:\n` + problems.map((p) => `  - ${p}`).join("\n"), context);
    }
}

export function cliNotFoundMessage(): string {
    return (
        "The Pulumi CLI was not found: the Automation API runs the `pulumi` command, so it must be installed " +
        `and on the PATH of this process. Install it (${PULUMI_INSTALL_URL}): ` +
        "`curl -fsSL https://get.pulumi.com | sh` on Linux or macOS (it installs to ~/.pulumi/bin; add that to PATH), " +
        "`brew install pulumi/tap/pulumi`, or `winget install pulumi` on Windows. Then check that `pulumi version` " +
        "works in the environment your tool runs in (services and CI runners often have a shorter PATH than your shell)."
    );
}

/** The PATH directories this process may not search (EACCES when spawning a command). */
export function unsearchablePathEntries(pathValue = process.env.PATH ?? ""): string[] {
    return pathValue.split(path.delimiter).filter((dir) => {
        if (dir === "") return false;
        try {
            fs.accessSync(dir, fs.constants.X_OK);
            return false;
        } catch (e) {
            return (e as { code?: string }).code === "EACCES";
        }
    });
}

export function cliPermissionMessage(pathValue = process.env.PATH ?? ""): string {
    const blocked = unsearchablePathEntries(pathValue);
    const which = blocked.length
        ? `This process may not search ${blocked.length === 1 ? "this PATH directory" : "these PATH directories"}: ${blocked.join(", ")}. `
        : "Every PATH directory is searchable, so a `pulumi` found on PATH is not executable by this process. ";
    return (
        "The Pulumi CLI could not be started: running `pulumi` failed with EACCES (permission denied). " +
        which +
        "Fix the permissions (`chmod a+x <directory>`, or `chmod a+rx <directory>/pulumi`), remove the directory from PATH, " +
        "or put the directory that holds `pulumi` first; then check that `pulumi version` works as the user your tool runs as."
    );
}

function backendLoginMessage(stackName: string): string {
    return (
        `Stack "${stackName}": the Pulumi CLI is not logged in to a backend, so it cannot read or write stack state. ` +
        "Run `pulumi login` (Pulumi Cloud; in CI set PULUMI_ACCESS_TOKEN), or use a self-managed backend: " +
        "`pulumi login file://~/.pulumi-state`, or set PULUMI_BACKEND_URL=file://<directory> (or s3://, azblob://) " +
        "in the environment or in the `workspace.envVars` option."
    );
}

function passphraseMessage(stackName: string): string {
    return (
        `Stack "${stackName}": the backend encrypts secrets with a passphrase and none, or a different one, was given. ` +
        "Set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE (the same passphrase on every run) in the " +
        "environment or in the `workspace.envVars` option, or choose another secrets provider (`workspace.secretsProvider`)."
    );
}

function stackMissingMessage(context: ErrorContext): string {
    const known = context.knownStacks?.length ? ` Stack files of this project: ${context.knownStacks.join(", ")}.` : "";
    return (
        `Stack "${context.stackName}" does not exist in the backend you are logged in to. ` +
        `Pass { create: true } to create it (as \`pulumi stack init ${context.stackName}\` does), ` +
        "or check the backend (`pulumi whoami -v`) and the stack name (`pulumi stack ls`)." +
        known
    );
}

function updateInProgressMessage(context: ErrorContext): string {
    return (
        `Stack "${context.stackName}" is being updated by another process (a concurrent update), so this ${context.operation} did not run. ` +
        "Wait for that update to finish and try again. If you are sure none is running (a process that died left the lock), " +
        `clear it with \`pulumi cancel --stack ${context.stackName}\`, then run refresh before the next up.`
    );
}

function cancelledMessage(context: ErrorContext): string {
    const by = context.signal?.aborted ? "by its AbortSignal" : "by an interrupt the CLI received";
    return (
        `pulumi ${context.operation} of stack "${context.stackName}" was cancelled ${by}. ` +
        "Pulumi stops after the resource operations already in flight; run refresh, or up again, to bring the stack back in line."
    );
}

/** What `CommandError` keeps (a private field at the type level, present at run time). */
interface CommandOutcome {
    stdout: string;
    stderr: string;
    code: number;
    err?: unknown;
}

function commandOutcome(error: unknown): CommandOutcome | undefined {
    const outcome = (error as { commandResult?: CommandOutcome } | null)?.commandResult;
    return outcome && typeof outcome === "object" ? outcome : undefined;
}

/**
 * The SDK wraps a failed command twice (a non-zero exit is rethrown as a new CommandError whose
 * `err` is the first one), so the CLI's own stdout/stderr sit on the innermost result.
 */
function causeChain(error: unknown): unknown[] {
    const chain: unknown[] = [];
    let current: unknown = error;
    while (current !== undefined && current !== null && chain.length < 5 && !chain.includes(current)) {
        chain.push(current);
        current = commandOutcome(current)?.err;
    }
    return chain;
}

function innermostOutcome(error: unknown): CommandOutcome | undefined {
    return causeChain(error)
        .map(commandOutcome)
        .filter((o): o is CommandOutcome => o !== undefined)
        .pop();
}

function fullText(error: unknown): string {
    return causeChain(error)
        .flatMap((e) => [e instanceof Error ? e.message : String(e), commandOutcome(e)?.stdout ?? "", commandOutcome(e)?.stderr ?? ""])
        .join("\n");
}

function isCliNotFound(error: unknown, text: string): boolean {
    const spawnFailed = causeChain(error).some((e) => {
        const spawn = e as { code?: unknown; syscall?: unknown; path?: unknown };
        return (
            spawn.code === "ENOENT" &&
            typeof spawn.syscall === "string" &&
            spawn.syscall.startsWith("spawn") &&
            typeof spawn.path === "string" &&
            /(^|[\\/])pulumi(\.exe)?$/i.test(spawn.path)
        );
    });
    return spawnFailed || /spawn \S*pulumi(\.exe)? ENOENT/i.test(text);
}

function isCliPermissionDenied(error: unknown, text: string): boolean {
    const spawnFailed = causeChain(error).some((e) => {
        const spawn = e as { code?: unknown; syscall?: unknown };
        return spawn.code === "EACCES" && typeof spawn.syscall === "string" && /^spawn \S*pulumi(\.exe)?$/i.test(spawn.syscall);
    });
    return spawnFailed || /spawn \S*pulumi(\.exe)? EACCES/i.test(text);
}

const BACKEND_LOGIN_PATTERNS = [/PULUMI_ACCESS_TOKEN must be set for login/, /invalid access token/i, /\[401\] Unauthorized/, /run `pulumi login`/];
const PASSPHRASE_PATTERNS = [/passphrase must be set with PULUMI_CONFIG_PASSPHRASE/, /incorrect passphrase/i];
const CONCURRENT_UPDATE_PATTERNS = [/\[409\] Conflict: Another update is currently in progress/, /the stack is currently locked by/];
const STACK_MISSING_PATTERN = /no stack named .* found/;
const STACK_EXISTS_PATTERN = /stack .* already exists/;
/** The CLI's own answer to SIGINT or SIGTERM (e.g. Ctrl-C in a terminal reaches it directly). */
const INTERRUPTED_PATTERNS = [/\^C received; cancelling/, /SIGTERM received; cancelling/];
const CONFIG_HEADER = `Invalid ${PROJECT} configuration (`;

/**
 * The validation problems a project stack's program reported (it runs `validateClusterConfig`
 * under the CLI, which prints the message among its diagnostics, one `- key: message` line each).
 */
export function configProblemsInOutput(text: string): ConfigProblem[] | undefined {
    const start = text.indexOf(CONFIG_HEADER);
    if (start < 0) return undefined;
    const problems: ConfigProblem[] = [];
    for (const line of text.slice(start).split("\n").slice(1)) {
        const match = /^\s*- ([^\s:]+:\S+?): (.*)$/.exec(line);
        if (!match) break;
        problems.push({ key: match[1], message: match[2].trimEnd() });
    }
    return problems.length > 0 ? problems : undefined;
}

/** Replaces every secret value with `[secret]`. */
export function redact(text: string, secrets: readonly string[]): string {
    const variants = secrets
        .filter((s) => s.length > 0)
        .flatMap((s) => [s, JSON.stringify(s).slice(1, -1)])
        .sort((a, b) => b.length - a.length);
    return variants.reduce((out, secret) => out.split(secret).join(REDACTED), text);
}

function containsSecret(error: unknown, secrets: readonly string[]): boolean {
    if (secrets.length === 0) return false;
    const texts = causeChain(error).flatMap((e) => {
        const err = e as { message?: unknown; stack?: unknown };
        return [String(err.message ?? e), String(err.stack ?? ""), fullText(e)];
    });
    return texts.some((t) => redact(t, secrets) !== t);
}

/**
 * The original error, or, when a secret value appears anywhere in it (the CLI receives secret
 * config on its command line, so a failed `config set-all` names it), a copy of the same class
 * with only its name, message and stack, redacted.
 */
export function redactedCause(error: unknown, secrets: readonly string[]): unknown {
    if (!containsSecret(error, secrets)) return error;
    if (typeof error !== "object" || error === null) return new Error(redact(String(error), secrets));
    const original = error as Error;
    const copy = Object.create(Object.getPrototypeOf(original) ?? Error.prototype) as Error;
    Object.defineProperty(copy, "name", { value: original.name, enumerable: false, writable: true, configurable: true });
    Object.defineProperty(copy, "message", { value: redact(String(original.message ?? original), secrets), enumerable: false, writable: true, configurable: true });
    Object.defineProperty(copy, "stack", { value: redact(String(original.stack ?? ""), secrets), enumerable: false, writable: true, configurable: true });
    return copy;
}

function lastLines(text: string, count: number): string {
    const lines = text.trim().split("\n");
    return (lines.length > count ? ["...", ...lines.slice(-count)] : lines).join("\n");
}

/** The "Diagnostics:" block of the CLI's display, where resource and program errors are reported. */
function diagnosticsOf(stdout: string): string {
    const start = stdout.indexOf("Diagnostics:");
    if (start < 0) return "";
    const block = stdout.slice(start);
    const end = block.search(/\n(Outputs|Resources|Duration):/);
    return (end < 0 ? block : block.slice(0, end)).trim();
}

function operationFailureMessage(error: unknown, context: ErrorContext): string {
    const outcome = innermostOutcome(error);
    const detail = outcome
        ? [diagnosticsOf(outcome.stdout), outcome.stderr.trim()].filter((t) => t !== "").join("\n") || outcome.stdout.trim()
        : error instanceof Error
          ? error.message
          : String(error);
    const header = `pulumi ${context.operation} of stack "${context.stackName}" failed`;
    return detail ? `${header}:\n${lastLines(detail, 40)}` : `${header} (exit code ${outcome?.code}); see the cause for the full output.`;
}

/**
 * Turns whatever an Automation API call threw into the matching error of this module, with a
 * message that says what to do. Secret config values never reach the message or the cause.
 */
export function toAutomationError(error: unknown, context: ErrorContext): Error {
    if (error instanceof IguanaAutomationError) return error;
    const cause = redactedCause(error, context.secrets);
    const make = <E extends IguanaAutomationError>(Kind: new (m: string, c: ErrorContext, cause: unknown) => E, message: string): E =>
        new Kind(redact(message, context.secrets), context, cause);

    if (error instanceof ConfigValidationError) return new InvalidConfigError(error, context, cause);
    if (context.signal?.aborted) return make(OperationCancelledError, cancelledMessage(context));

    const text = fullText(error);
    if (INTERRUPTED_PATTERNS.some((p) => p.test(text))) return make(OperationCancelledError, cancelledMessage(context));
    if (isCliNotFound(error, text)) return make(PulumiCliNotFoundError, cliNotFoundMessage());
    if (isCliPermissionDenied(error, text)) return make(PulumiCliPermissionError, cliPermissionMessage());
    if (BACKEND_LOGIN_PATTERNS.some((p) => p.test(text))) return make(BackendLoginError, backendLoginMessage(context.stackName));
    if (PASSPHRASE_PATTERNS.some((p) => p.test(text))) return make(SecretsPassphraseError, passphraseMessage(context.stackName));
    if (error instanceof ConcurrentUpdateError || CONCURRENT_UPDATE_PATTERNS.some((p) => p.test(text))) {
        return make(UpdateInProgressError, updateInProgressMessage(context));
    }
    if (error instanceof StackNotFoundError || STACK_MISSING_PATTERN.test(text)) return make(StackDoesNotExistError, stackMissingMessage(context));
    if (error instanceof StackAlreadyExistsError || STACK_EXISTS_PATTERN.test(text)) {
        return make(StackCreationConflictError, `Stack "${context.stackName}" was created by another process at the same moment; open it again to select it.`);
    }
    const problems = configProblemsInOutput(text);
    if (problems) {
        return new InvalidConfigError(new ConfigValidationError(problems.map((p) => ({ key: p.key, message: redact(p.message, context.secrets) }))), context, cause);
    }
    if (error instanceof CommandError) return make(PulumiOperationError, operationFailureMessage(error, context));
    return cause instanceof Error ? cause : new Error(redact(String(cause), context.secrets));
}
