/**
 * The README is what an operator follows top to bottom: short, every link resolves, and every
 * command it shows is run, by CI (.ci/run), by plan.test.ts (the plan block), or here. The
 * Pulumi CLI cannot run here, so `pulumi` commands run against a stand-in that applies them to
 * a copy of the stack files as the CLI documents (`config set --path`: "true"/"false" become
 * booleans, integers numbers, the rest strings) and plans `preview`/`up` offline.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { runPlan } from "./helpers";
import { selfSigned } from "../boot/tls";
import { runProcess } from "./tools";

const ROOT = path.join(__dirname, "..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const CI = fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8");
const MAX_LINES = 250;
/** Docs linked before they land (none now). */
const PENDING_DOCS = new Set<string>();

/** Whether a command line of .ci/run (not a comment) runs `command`, with or without more arguments. */
function ciRuns(command: string): boolean {
    const pattern = new RegExp(`(^|\\s)${command.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(\\s|$)`);
    return CI.split("\n").some((line) => !line.trim().startsWith("#") && pattern.test(line));
}

function shellBlocks(): string[][] {
    return [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
        m[1]
            .split("\n")
            .map((line) => line.replace(/\s+#\s.*$/, "").trim())
            .filter((line) => line !== "" && !line.startsWith("#")),
    );
}

/** Splits a command line into words, honouring single quotes. */
function words(line: string): string[] {
    return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

function pathValue(text: string): unknown {
    if (text === "true" || text === "false") return text === "true";
    return /^-?\d+$/.test(text) ? Number(text) : text;
}

/** `a.b[0].c` → ["a", "b", 0, "c"]. */
function pathParts(key: string): (string | number)[] {
    return [...key.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]));
}

/**
 * The files the README's commands read with `<` (the TLS certificate and its key): a certificate
 * for the hospital's name, as its CA would issue one, made with openssl in the stand-in's directory.
 */
function makeCertificateFiles(dir: string): void {
    const made = selfSigned(dir, "hl7", "hl7.hospital.example", { ca: false, days: 30 });
    fs.renameSync(made.cert, path.join(dir, "chain.pem"));
    fs.renameSync(made.key, path.join(dir, "key.pem"));
}

class PulumiStandIn {
    private stack?: string;
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-readme-"));
    readonly ran: string[] = [];
    lastPlan?: { code: number; stdout: string; stderr: string };

    constructor() {
        makeCertificateFiles(this.dir);
    }

    file(stack = this.stack!): string {
        return path.join(this.dir, `Pulumi.${stack}.yaml`);
    }

    private load(): { config: Record<string, any> } {
        return yaml.load(fs.readFileSync(this.file(), "utf8")) as { config: Record<string, any> };
    }

    async run(args: string[]): Promise<void> {
        const [command, ...rest] = args;
        this.ran.push(command);
        switch (command) {
            case "login":
                return;
            case "stack": {
                if (rest[0] === "output") {
                    // The outputs of the last preview or up, as the offline plan gives them.
                    const outputs = JSON.parse(this.lastPlan!.stdout).outputs;
                    assert.ok(rest[1] in outputs, `pulumi stack output ${rest[1]}: no such output`);
                    return;
                }
                assert.strictEqual(rest[0], "init", `pulumi stack ${rest[0]} is not stood in for`);
                const from = rest[rest.indexOf("--copy-config-from") + 1];
                this.stack = rest[1];
                const source = yaml.load(fs.readFileSync(path.join(ROOT, "stacks", `Pulumi.${from}.yaml`), "utf8")) as object;
                fs.writeFileSync(this.file(), yaml.dump(source));
                return;
            }
            case "config": {
                assert.strictEqual(rest[0], "set", `pulumi config ${rest[0]} is not stood in for`);
                const flags = rest.filter((w) => w.startsWith("--"));
                const words = rest.slice(1).filter((w) => !w.startsWith("--"));
                // `pulumi config set KEY < FILE`: the value comes from stdin.
                const stdin = words.indexOf("<");
                const [key, value] = stdin >= 0 ? [words[0], fs.readFileSync(path.join(this.dir, words[stdin + 1]), "utf8")] : words;
                assert.ok(
                    flags.every((f) => ["--path", "--secret", "--plaintext"].includes(f)),
                    `flags ${flags}`,
                );
                const doc = this.load();
                if (flags.includes("--path")) {
                    const [namespace, name] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
                    const parts = pathParts(name);
                    const topKey = `${namespace}:${parts[0]}`;
                    // --secret: Pulumi encrypts the leaf and writes `secure:` in its place.
                    const leaf = flags.includes("--secret") ? { secure: "v1:readme-stand-in" } : pathValue(value);
                    if (parts.length === 1) doc.config[topKey] = leaf;
                    else {
                        let node = (doc.config[topKey] ??= typeof parts[1] === "number" ? [] : {});
                        for (let i = 1; i < parts.length - 1; i++) node = node[parts[i]] ??= typeof parts[i + 1] === "number" ? [] : {};
                        node[parts[parts.length - 1]] = leaf;
                    }
                } else {
                    doc.config[key] = value;
                }
                fs.writeFileSync(this.file(), yaml.dump(doc));
                return;
            }
            case "preview":
            case "up":
                this.lastPlan = await runPlan("--stack-file", this.file(), "--json");
                assert.strictEqual(this.lastPlan.code, 0, this.lastPlan.stderr);
                return;
            case "destroy":
                return;
            default:
                assert.fail(`pulumi ${command}: the README shows it, and nothing runs it`);
        }
    }
}

describe("README", function () {
    this.timeout(60000);

    it(`is at most ${MAX_LINES} lines`, () => {
        const lines = README.split("\n").length;
        assert.ok(lines <= MAX_LINES, `${lines} lines`);
    });

    it("its layout names every top-level file and folder git tracks, and nothing else", async () => {
        const section = README.split("\n## Layout\n")[1]?.split("\n## ")[0] ?? "";
        const listed = new Set([...section.matchAll(/^\| (.+?) \|/gm)].flatMap(([, cell]) => [...cell.matchAll(/`([^`]+)`/g)].map(([, p]) => p.replace(/\/$/, "").split("/")[0])));
        const { stdout } = await runProcess("git", ["ls-files"], { cwd: ROOT });
        const tracked = new Set(
            stdout
                .split("\n")
                .filter(Boolean)
                .map((f) => f.split("/")[0]),
        );
        assert.deepStrictEqual(
            [...tracked].filter((p) => !listed.has(p)),
            [],
            "tracked but not in the README's layout",
        );
        assert.deepStrictEqual(
            [...listed].filter((p) => !tracked.has(p)),
            [],
            "in the README's layout but not tracked",
        );
    });

    it("links only to files that exist", () => {
        for (const [, target] of README.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
            if (/^https?:/.test(target) || PENDING_DOCS.has(target)) continue;
            assert.ok(fs.existsSync(path.join(ROOT, target)), `README links to ${target}, which does not exist`);
        }
    });

    it("the docs it links to link only to files that exist", () => {
        for (const doc of fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md"))) {
            const text = fs.readFileSync(path.join(ROOT, "docs", doc), "utf8");
            for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
                if (/^https?:/.test(target) || PENDING_DOCS.has(path.posix.join("docs", target))) continue;
                assert.ok(fs.existsSync(path.join(ROOT, "docs", target)), `docs/${doc} links to ${target}, which does not exist`);
            }
        }
    });

    it("every command it shows is run: by .ci/run, by plan.test.ts, or here", async () => {
        const pulumi = new PulumiStandIn();
        try {
            for (const block of shellBlocks()) {
                if (block.some((line) => line.includes("--stack-file Pulumi.draft.yaml"))) continue; // plan.test.ts runs this block as written
                for (const line of block) {
                    for (const part of line.split("&&").map((p) => p.trim())) {
                        const argv = words(part);
                        if (argv[0] === "pulumi") await pulumi.run(argv.slice(1));
                        else if (part.startsWith("npm run plan -- ")) assert.strictEqual((await runPlan(...argv.slice(4))).code, 0, part);
                        else assert.ok(ciRuns(part), `"${part}" is run by nothing (not in .ci/run)`);
                    }
                }
            }
            assert.ok(pulumi.ran.includes("up") && pulumi.ran.includes("destroy"), "the deploy path is in the README");
        } finally {
            fs.rmSync(pulumi.dir, { recursive: true, force: true });
        }
    });

    it("the deploy-your-own-stack path leaves no preview warning", async () => {
        const pulumi = new PulumiStandIn();
        try {
            const deploy = shellBlocks().find((b) => b.some((l) => l.includes("--copy-config-from")))!;
            for (const line of deploy) await pulumi.run(words(line).slice(1));
            const plan = JSON.parse(pulumi.lastPlan!.stdout);
            assert.deepStrictEqual(plan.warnings, [], "a stack made as the README says is ready to deploy");
            assert.strictEqual(plan.stack, "hospital-prod");
        } finally {
            fs.rmSync(pulumi.dir, { recursive: true, force: true });
        }
    });
});
