/**
 * install-iguana.sh checks the download against iguana.installerSha256 before unpacking it:
 * run for real with bash, the network replaced by a stand-in `curl` that writes known bytes.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { validateClusterConfig } from "../components/config";
import { WORKER_PATHS, bootstrapSettings, renderInstallIguanaScript } from "../components/bootstrap";
import { planNetwork, planWorkers } from "../components/model";
import { requireTools, runProcess } from "./tools";

const INSTALLER_BYTES = "not really an Iguana installer";
const RIGHT = crypto.createHash("sha256").update(INSTALLER_BYTES).digest("hex");
const WRONG = "0".repeat(64);

describe("installer checksum (install-iguana.sh under bash)", function () {
    this.timeout(20000);
    let dir: string;

    before(function () {
        requireTools(this, "bash", "sha256sum", "logger");
    });
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-installer-"));
        fs.mkdirSync(path.join(dir, "bin"));
        // The stand-in curl: writes the known bytes wherever -o points.
        fs.writeFileSync(
            path.join(dir, "bin", "curl"),
            `#!/bin/bash\nwhile [ $# -gt 0 ]; do if [ "$1" = -o ]; then printf '%s' ${JSON.stringify(INSTALLER_BYTES)} > "$2"; shift; fi; shift; done\n`,
            { mode: 0o755 },
        );
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    function install(sha256: string | undefined) {
        const cfg = validateClusterConfig(
            {
                cloud: "aws",
                region: "eu-west-1",
                iguana: { installerUrl: "https://downloads.example/iguanax.tar.gz", ...(sha256 ? { installerSha256: sha256 } : {}) },
                channels: [{ name: "adt-in", protocol: "llp", port: 2575 }],
                network: { allowedCidrs: ["198.51.100.0/24"] },
                tls: { enabled: false },
            },
            "t",
        );
        const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
        const paths = { ...WORKER_PATHS, appDir: path.join(dir, "app"), libDir: path.join(dir, "lib"), workingDir: path.join(dir, "working") };
        const script = path.join(dir, "install-iguana.sh");
        fs.writeFileSync(script, renderInstallIguanaScript(bootstrapSettings(cfg, wk1, wk2, { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" } }, paths)));
        return runProcess("bash", ["-c", `PATH=${dir}/bin:$PATH exec bash ${script}`]);
    }

    it("refuses a download whose SHA-256 differs, before unpacking anything", async () => {
        const result = await install(WRONG);
        assert.strictEqual(result.status, 1, result.stdout + result.stderr);
        assert.match(result.stderr, /does not match iguana\.installerSha256 \(0{64}\): NOT installing it/);
        assert.ok(!fs.existsSync(path.join(dir, "app")), "nothing was unpacked");
    });

    it("goes on with a download whose SHA-256 matches (given in capitals too)", async () => {
        const result = await install(RIGHT.toUpperCase());
        assert.strictEqual(result.stderr.includes("does not match"), false, result.stderr);
        assert.match(result.stdout, new RegExp(`installer verified \\(SHA-256 ${RIGHT}\\)`));
        assert.ok(fs.existsSync(path.join(dir, "app")), "it went on to unpack (the stand-in bytes are no tarball, so tar fails after)");
    });

    it("says plainly when no checksum is set", async () => {
        const result = await install(undefined);
        assert.match(result.stderr, /iguana\.installerSha256 is not set: the installer is NOT verified/);
    });
});
