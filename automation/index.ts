/**
 * The Automation API entry point: drive this project's stacks from your own tools (a portal, a
 * pipeline) without shelling out to `pulumi`. See "Automation API" in the README.
 */
export { IguanaStack, inlineProgram, openInlineStack, openProjectStack } from "./stack";
export type {
    DestroyOptions,
    DestroyResult,
    InlineStackOptions,
    OpenOptions,
    OperationOptions,
    OperationSummary,
    PreviewResult,
    ProjectStackOptions,
    RefreshResult,
    UpResult,
} from "./stack";
export { prepareConfig, toStackConfigMap } from "./config";
export type { ClusterConfigInput, SecretConfig } from "./config";
export { OUTPUT_KEYS, Secret, isSecret, reveal, toStackOutputs } from "./outputs";
export type { MaybeSecret, StackOutputs } from "./outputs";
export {
    BackendLoginError,
    IguanaAutomationError,
    InvalidConfigError,
    OperationCancelledError,
    PulumiCliNotFoundError,
    PulumiCliPermissionError,
    PulumiOperationError,
    SecretsPassphraseError,
    StackCreationConflictError,
    StackDoesNotExistError,
    UnexpectedOutputsError,
    UpdateInProgressError,
    toAutomationError,
} from "./errors";
export type { Operation } from "./errors";
export { PROJECT_DIR, localWorkspaceFactory } from "./workspace";
export type { AutomationStack, InlineStackRequest, ProjectStackRequest, WorkspaceFactory, WorkspaceSettings } from "./workspace";
