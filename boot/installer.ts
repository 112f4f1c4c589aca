/**
 * A stand-in Iguana installer: a tarball laid out like the real one (one top directory, the
 * `iguana` executable; Iguana 6 also `iguana_service`), so the rendered install-iguana.sh
 * downloads it, checks its SHA-256, unpacks it and installs it as the edition's service. What
 * runs is the drill's Iguana stand-in (drill/standin.ts: an MLLP listener that journals before
 * it ACKs, and the edition's health check), with Node.js and the repository bound read-only
 * into the machine at STANDIN_RUNTIME.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Edition } from "../components/constants";
import { sh } from "../drill/system";

/** Where the machines see this repository and the host's node (read-only binds). */
export const STANDIN_RUNTIME = { repo: "/opt/iguana-ha-boot/repo", node: "/opt/iguana-ha-boot/node" };

export interface StandinInstaller {
    file: string;
    sha256: string;
}

export interface StandinSettings {
    edition: Edition;
    llpPorts: number[];
    webPort: number;
}

/** The `iguana` executable: IguanaX's commands the install script uses, and the service itself. */
export function iguanaLauncher(s: StandinSettings): string {
    const health = s.edition === "iguanax" ? `http:${s.webPort}:/health` : `tcp:${s.webPort}`;
    return `#!/bin/bash
# Stand-in for Iguana (${s.edition}) in the iguana-ha boot test: the drill's journaling MLLP listener.
set -euo pipefail
app_dir=$(cd "$(dirname "$0")" && pwd)
run_standin() {
    local working_dir="$1"
    mkdir -p "$working_dir"
    echo "$(date +%s) started on $(hostname) in $working_dir" >> "$working_dir/standin-starts.log"
    cd ${STANDIN_RUNTIME.repo}
    exec ${STANDIN_RUNTIME.node} -r ts-node/register/transpile-only drill/standin.ts \\
        --worker "$(hostname)" --ports ${s.llpPorts.join(",")} --journal-dir "$working_dir" \\
        --health ${health} --ready "$working_dir/standin.ready"
}
case "\${1:-}" in
    --set_admin_password)
        # Keeps a digest only: the boot test compares it with the secret store's value.
        printf '%s' "$2" | sha256sum | cut -d' ' -f1 > "$app_dir/admin-password.sha256"
        ;;
    --service)
        [ "$2" = install ] && [ "$3" = --username ]
        cat > /etc/systemd/system/IguanaX.service <<UNIT
[Unit]
Description=IguanaX (iguana-ha boot-test stand-in)
After=network-online.target

[Service]
User=$4
WorkingDirectory=$app_dir
ExecStart=$app_dir/iguana --run
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT
        ;;
    --run)
        working_dir=$(sed -n 's/^working_dir=//p' "$app_dir/iguana.ini")
        run_standin "$working_dir"
        ;;
    --working_dir)
        run_standin "$2"
        ;;
    *)
        echo "iguana stand-in: unknown arguments: $*" >&2
        exit 2
        ;;
esac
`;
}

/** Iguana 6's service wrapper: runs iguana_service.hdf's command_line_unix from the app dir. */
export const IGUANA6_SERVICE_WRAPPER = `#!/bin/bash
# Stand-in for Iguana 6's iguana_service: runs the command line its .hdf names.
set -euo pipefail
cd "$(dirname "$0")"
command_line=$(sed -n 's/^ *command_line_unix=//p' iguana_service.hdf)
# shellcheck disable=SC2086
exec $command_line
`;

/** Builds the tarball in `dir` and returns its path and SHA-256. */
export function buildStandinInstaller(dir: string, s: StandinSettings): StandinInstaller {
    const top = s.edition === "iguanax" ? "iguanax" : "iguana6";
    const staging = path.join(dir, `${top}-staging`);
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(path.join(staging, top), { recursive: true });
    fs.writeFileSync(path.join(staging, top, "iguana"), iguanaLauncher(s), { mode: 0o755 });
    if (s.edition === "iguana6") fs.writeFileSync(path.join(staging, top, "iguana_service"), IGUANA6_SERVICE_WRAPPER, { mode: 0o755 });
    const file = path.join(dir, `${top}-standin-${s.llpPorts.join("-")}.tar.gz`);
    sh("tar", ["-czf", file, "-C", staging, "--owner=0", "--group=0", top]);
    fs.rmSync(staging, { recursive: true, force: true });
    const sha256 = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
    return { file, sha256 };
}
