// ESLint: typescript-eslint's recommended rules (syntax only: `npm run typecheck` checks types).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "bin/", "drill-results/"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        rules: {
            // Leaving keys out by destructuring (`const { secret, ...rest } = x`) is how this code omits them.
            "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true, argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
            // The Pulumi SDK's internals (runtime settings, state, config, debuggable, log, automation
            // errors) have no typed export; each require is typed where it is made. semver ships untyped.
            "@typescript-eslint/no-require-imports": ["error", { allow: ["^@pulumi/pulumi/", "^semver$"] }],
        },
    },
    {
        // What the mocks record is what the engine would see: untyped inputs, read by the tests as such.
        files: ["test/**/*.ts", "offline/mocks.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
);
