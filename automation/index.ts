/**
 * The Automation API entry point: drive this project's stacks from your own tools (a portal, a
 * pipeline) without shelling out to `pulumi`. See "Automation API" in the README.
 */
export {
    DestroyOptions,
    DestroyResult,
    IguanaStack,
    InlineStackOptions,
    OpenOptions,
    OperationOptions,
    OperationSummary,
    PreviewResult,
    ProjectStackOptions,
    RefreshResult,
    UpResult,
    inlineProgram,
    openInlineStack,
    openProjectStack,
} from "./stack";
export { ClusterConfigInput, SecretConfig, prepareConfig, toStackConfigMap } from "./config";
export { MaybeSecret, OUTPUT_KEYS, Secret, StackOutputs, isSecret, reveal, toStackOutputs } from "./outputs";
export {
    BackendLoginError,
    IguanaAutomationError,
    InvalidConfigError,
    Operation,
    OperationCancelledError,
    PulumiCliNotFoundError,
    PulumiOperationError,
    SecretsPassphraseError,
    StackCreationConflictError,
    StackDoesNotExistError,
    UnexpectedOutputsError,
    UpdateInProgressError,
    toAutomationError,
} from "./errors";
export { AutomationStack, InlineStackRequest, PROJECT_DIR, ProjectStackRequest, WorkspaceFactory, WorkspaceSettings, localWorkspaceFactory } from "./workspace";
