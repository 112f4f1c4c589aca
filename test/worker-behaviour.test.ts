/**
 * The worker scripts doing their job, run for real in a private network namespace: the role
 * probe's answers, the LLP gate's resets, and the interface detection keepalived relies on.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { validateClusterConfig } from "../components/config";
import {
    WorkerPaths,
    bootstrapSettings,
    VRRP,
    iguanaMarkers,
    renderCheckIguanaScript,
    renderIguanaServiceScript,
    renderKeepalivedConf,
    renderVrrpLinkScript,
    renderLlpGateScript,
    renderNotifyScript,
    ROLE_PROBE_SOURCE,
    roleProbeArgs,
} from "../components/bootstrap";
import { planNetwork, planWorkers } from "../components/model";
import { ProcessResult, isRoot, requireTools, runProcess } from "./tools";

/**
 * A shell function standing in for Iguana (or any service) listening on a local TCP port for 30 s:
 * `listen PORT &`. Perl starts in a twentieth of the time Python takes here.
 */
const LISTEN = `listen() { exec perl -MIO::Socket::INET -e 'my $socket = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 5, ReuseAddr => 1) or die "listen $ARGV[0]: $!"; sleep 30' "$1"; }`;

/** Runs a script in a private network namespace (and mount namespace, if asked), without blocking. */
function inNamespace(script: string, { mount = false, exitOnError = true } = {}): Promise<ProcessResult> {
    const options = exitOnError ? "-euo pipefail" : "-uo pipefail";
    return runProcess("unshare", ["--net", ...(mount ? ["--mount"] : []), "bash", "-c", `set ${options}\nip link set lo up\n${LISTEN}\n${script}`]);
}

describe("worker scripts at work (private network namespace)", function () {
    this.timeout(60000);
    let dir: string;
    /** Each scenario's own scratch directories, so the scenarios can run side by side. */
    const pathsFor = (scenario: string): WorkerPaths => {
        const base = path.join(dir, scenario);
        const paths = { libDir: `${base}/lib`, etcDir: `${base}/etc`, runDir: `${base}/run`, keepalivedConf: `${base}/keepalived.conf`, dataMount: `${base}/data`, workingDir: `${base}/data/working`, appDir: `${base}/app` };
        for (const d of [paths.libDir, paths.etcDir, paths.runDir]) fs.mkdirSync(d, { recursive: true });
        return paths;
    };
    // Every scenario starts in `before` (each mostly waits for a process to start or a port to
    // open) and each `it` checks one.
    const scenarios: Record<string, { paths: WorkerPaths; settings: ReturnType<typeof bootstrapSettings>; run: Promise<ProcessResult>; calls?: string }> = {};

    before(function () {
        requireTools(this, "unshare", "setpriv", "ip", "iptables", "python3", "curl", "perl");
        if (!isRoot()) {
            if (process.env.CI === "true") throw new Error("these tests need root for a private network namespace");
            console.log("      SKIPPED (needs root for a private network namespace)");
            this.skip();
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-worker-run-"));
        // The role probe runs as nobody: it must reach its script through these directories.
        fs.chmodSync(dir, 0o755);
        scenarios.roleProbe = startRoleProbe(pathsFor("role-probe"));
        scenarios.llpGate = startLlpGate(pathsFor("llp-gate"));
        scenarios.vrrpLinkAws = startVrrpLinkAws(pathsFor("vrrp-link-aws"));
        scenarios.vrrpLinkAzure = startVrrpLinkAzure(pathsFor("vrrp-link-azure"));
        scenarios.sharedStorage = startSharedStorage(pathsFor("shared-storage"));
        scenarios.slowStart = startSlowStart(pathsFor("slow-start"), "starting");
        scenarios.slowAfterGrace = startSlowStart(pathsFor("slow-after-grace"), "grace-over");
        return Promise.all(Object.values(scenarios).map((scenario) => scenario.run));
    });
    after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

    const settings = (edition: "iguanax" | "iguana6", paths: WorkerPaths) => {
        const cfg = validateClusterConfig(
            {
                cloud: "aws",
                region: "us-east-1",
                iguana: { edition },
                channels: [
                    { name: "adt", protocol: "llp", port: 2575 },
                    { name: "api", protocol: "http", port: 8080 },
                ],
                network: { allowedCidrs: ["10.0.0.0/8"] },
            },
            "t",
        );
        const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr));
        return bootstrapSettings(cfg, wk1, wk2, { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" } }, paths);
    };

    /**
     * As on a worker: the probe runs as an unprivileged user (its unit has DynamicUser=yes), the
     * state comes from the rendered notify script run with keepalived's umask (0177), and
     * keepalived is a root process named keepalived. The real boot found both failures that a
     * probe run as root hides: an unreadable state file and EPERM on signal 0.
     */
    function startRoleProbe(paths: WorkerPaths) {
        const s = settings("iguana6", paths);
        const probe = path.join(paths.libDir, "role-probe.py");
        fs.writeFileSync(probe, ROLE_PROBE_SOURCE);
        fs.writeFileSync(path.join(paths.libDir, "notify.sh"), renderNotifyScript(s), { mode: 0o755 });
        fs.writeFileSync(path.join(paths.libDir, "llp-gate.sh"), renderLlpGateScript(s), { mode: 0o755 });
        const keepalived = path.join(paths.libDir, "keepalived");
        fs.copyFileSync(fs.realpathSync("/bin/sleep"), keepalived);
        fs.chmodSync(keepalived, 0o755);
        // The notify script makes the run dir itself, as after a boot.
        fs.rmSync(paths.runDir, { recursive: true, force: true });
        const pidfile = path.join(paths.etcDir, "keepalived.pid");
        const args = roleProbeArgs(s, pidfile).join(" ");
        const url = `http://127.0.0.1:${s.roleProbe.port}${s.roleProbe.path}`;
        const notify = (state: string) => `(umask 0177; ${paths.libDir}/notify.sh INSTANCE IGUANA ${state} 100)`;
        const run = inNamespace(`
code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 ${probe} ${args} & probe=$!
${keepalived} 60 & keepalived=$!
echo $keepalived > ${pidfile}
for _ in $(seq 50); do curl -s -o /dev/null ${url} && break; sleep 0.1; done
echo "no-state $(code ${url})"
${notify("BACKUP")}; echo "backup $(code ${url})"
${notify("MASTER")}; echo "master-iguana-down $(code ${url})"
listen ${s.webPort} & iguana=$!
for _ in $(seq 100); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${s.webPort}" 2>/dev/null && break; sleep 0.1; done
echo "master-healthy $(code ${url})"
echo "other-path $(code http://127.0.0.1:${s.roleProbe.port}/other)"
kill $keepalived; sleep 0.2
echo "keepalived-dead $(code ${url})"
sleep 60 & other=$!
echo $other > ${pidfile}
echo "pid-of-another-process $(code ${url})"
kill $iguana $probe $other`);
        return { paths, settings: s, run };
    }

    it("the role probe answers 200 only while MASTER, keepalived alive and Iguana healthy", async () => {
        const result = await scenarios.roleProbe.run;
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(result.stdout.trim().split("\n"), [
            "no-state 503",
            "backup 503",
            "master-iguana-down 503",
            "master-healthy 200",
            "other-path 404",
            "keepalived-dead 503",
            "pid-of-another-process 503",
        ]);
    });

    function startLlpGate(paths: WorkerPaths) {
        const s = settings("iguanax", paths);
        fs.writeFileSync(path.join(paths.libDir, "notify.sh"), renderNotifyScript(s), { mode: 0o755 });
        fs.writeFileSync(path.join(paths.libDir, "llp-gate.sh"), renderLlpGateScript(s), { mode: 0o755 });
        const run = inNamespace(`
listen 2575 & llp=$!
listen 8080 & http=$!
try() { if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then echo open; else echo refused; fi; }
for _ in $(seq 100); do [ "$(try 2575)$(try 8080)" = openopen ] && break; sleep 0.1; done
${paths.libDir}/notify.sh INSTANCE IGUANA BACKUP 100
echo "backup llp=$(try 2575) http=$(try 8080) state=$(cat ${paths.runDir}/state)"
${paths.libDir}/notify.sh INSTANCE IGUANA MASTER 150
echo "master llp=$(try 2575) http=$(try 8080) state=$(cat ${paths.runDir}/state)"
${paths.libDir}/notify.sh INSTANCE IGUANA FAULT 150
echo "fault llp=$(try 2575) http=$(try 8080)"
kill $llp $http`);
        return { paths, settings: s, run };
    }

    it("notify closes the LLP ports with a reset on demotion and opens them on promotion; HTTP stays open", async () => {
        const result = await scenarios.llpGate.run;
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(result.stdout.trim().split("\n"), [
            "backup llp=refused http=open state=BACKUP",
            "master llp=open http=open state=MASTER",
            "fault llp=refused http=open",
        ]);
    });

    function startVrrpLinkAws(paths: WorkerPaths) {
        const s = settings("iguanax", paths);
        const script = path.join(paths.libDir, "vrrp-link.sh");
        fs.writeFileSync(script, renderVrrpLinkScript(s), { mode: 0o755 });
        const run = inNamespace(`
ip link add ens5 type veth peer name peer0
ip addr add ${s.self.privateIp}/18 dev ens5
ip link set ens5 up
${script}
cat ${paths.etcDir}/keepalived-interface.conf`);
        return { paths, settings: s, run };
    }

    it("vrrp-link names the interface holding the worker's planned address for keepalived (AWS)", async () => {
        const result = await scenarios.vrrpLinkAws.run;
        assert.strictEqual(result.status, 0, result.stderr);
        assert.strictEqual(result.stdout, "$IGUANA_HA_IFACE=ens5\n");
    });

    function startVrrpLinkAzure(paths: WorkerPaths) {
        const s = { ...settings("iguanax", paths), vrrpTransport: "vxlan" as const };
        const script = path.join(paths.libDir, "vrrp-link.sh");
        fs.writeFileSync(script, renderVrrpLinkScript(s), { mode: 0o755 });
        const run = inNamespace(`
ip link add eth0 type veth peer name peer0
ip addr add ${s.self.privateIp}/18 dev eth0
ip link set eth0 up
${script}
${script}
cat ${paths.etcDir}/keepalived-interface.conf
ip -d -o link show iguana-vrrp | grep -o 'vxlan id [0-9]* remote [0-9.]* local [0-9.]* dev [a-z0-9]*'
ip -o -4 addr show dev iguana-vrrp | awk '{print $4}'`);
        return { paths, settings: s, run };
    }

    it("vrrp-link builds the VXLAN tunnel to the peer and hands it to keepalived (Azure), again at every boot", async () => {
        const { run, settings: s } = scenarios.vrrpLinkAzure;
        const result = await run;
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(result.stdout.trim().split("\n"), [
            "$IGUANA_HA_IFACE=iguana-vrrp",
            `vxlan id 112 remote ${s.peer.privateIp} local ${s.self.privateIp} dev eth0`,
            "169.254.112.1/30",
        ]);
    });

    /** A worker of a shared-storage (EFS) cluster with one LLP channel. */
    const sharedSettings = (edition: "iguanax" | "iguana6", paths: WorkerPaths) => {
        const cfg = validateClusterConfig(
            {
                cloud: "aws",
                region: "us-east-1",
                iguana: { edition },
                channels: [{ name: "adt", protocol: "llp", port: 2575 }],
                network: { allowedCidrs: ["10.0.0.0/8"] },
                storage: { queueRecovery: "shared" },
            },
            "t",
        );
        const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr));
        return bootstrapSettings(cfg, wk1, wk2, { dataDisk: { kind: "aws-efs", fileSystemId: "fs-1" } }, paths);
    };

    function startSharedStorage(paths: WorkerPaths) {
        const calls = path.join(paths.runDir, "..", "service-calls.log");
        const fakeSystemctl = path.join(paths.libDir, "fake-systemctl.sh");
        fs.writeFileSync(fakeSystemctl, `#!/bin/bash\necho "$*" >> ${calls}\n`, { mode: 0o755 });
        const s = { ...sharedSettings("iguana6", paths), serviceCommand: fakeSystemctl };
        fs.mkdirSync(paths.dataMount, { recursive: true });
        for (const [name, content] of [
            ["notify.sh", renderNotifyScript(s)],
            ["llp-gate.sh", renderLlpGateScript(s)],
            ["iguana-service.sh", renderIguanaServiceScript(s)],
            ["check-iguana.sh", renderCheckIguanaScript(s)],
        ]) {
            fs.writeFileSync(path.join(paths.libDir, name), content, { mode: 0o755 });
        }
        const check = `${paths.libDir}/check-iguana.sh`;
        // A private mount namespace: the "shared file system" is the data dir bind-mounted on itself.
        const run = inNamespace(
            `rc() { "$@" > /dev/null 2>&1; echo $?; }
echo "unmounted $(rc ${check})"
mount --bind ${paths.dataMount} ${paths.dataMount}
${paths.libDir}/notify.sh INSTANCE IGUANA BACKUP 100
echo "backup check=$(rc ${check})"
# The notify records MASTER before it starts Iguana: a check in between is within the grace.
printf 'MASTER\n' > ${paths.runDir}/state
echo "promoted-not-yet-started check=$(rc ${check})"
${paths.libDir}/notify.sh INSTANCE IGUANA MASTER 100
echo "master-starting check=$(rc ${check}) started=$(test -e ${paths.runDir}/iguana-started && echo yes)"
listen ${s.webPort} & iguana=$!
for _ in $(seq 100); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${s.webPort}" 2>/dev/null && break; sleep 0.1; done
echo "master-healthy check=$(rc ${check}) healthy=$(test -e ${paths.runDir}/iguana-healthy && echo yes)"
kill $iguana; wait $iguana 2>/dev/null
echo "master-iguana-died check=$(rc ${check})"
${paths.libDir}/notify.sh INSTANCE IGUANA FAULT 100
echo "fault check=$(rc ${check}) started=$(test -e ${paths.runDir}/iguana-started && echo yes || echo no)"
umount ${paths.dataMount}
echo "lost-mount check=$(rc ${check})"`,
            { mount: true, exitOnError: false },
        );
        return { paths, settings: s, run, calls };
    }

    it("shared storage: notify starts Iguana on promotion and stops it on demotion; the track script holds the file system and, on the MASTER, Iguana", async () => {
        const { run, calls } = scenarios.sharedStorage;
        const result = await run;
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(result.stdout.trim().split("\n"), [
            "unmounted 1",
            "backup check=0",
            "promoted-not-yet-started check=0",
            "master-starting check=0 started=yes",
            "master-healthy check=0 healthy=yes",
            "master-iguana-died check=1",
            "fault check=0 started=no",
            "lost-mount check=1",
        ]);
        assert.deepStrictEqual(fs.readFileSync(calls!, "utf8").trim().split("\n"), [
            "stop iguana6.service",
            "start --no-block iguana6.service",
            "stop iguana6.service",
        ]);
    });

    /** The track script of a MASTER whose Iguana was started just now ("starting") or long ago ("grace-over"). */
    function startSlowStart(paths: WorkerPaths, when: "starting" | "grace-over") {
        const s = sharedSettings("iguanax", paths);
        fs.mkdirSync(paths.dataMount, { recursive: true });
        const check = path.join(paths.libDir, "check-iguana.sh");
        fs.writeFileSync(check, renderCheckIguanaScript(s), { mode: 0o755 });
        const { started } = iguanaMarkers(s);
        const port = s.iguanaHealth.port;
        // The stand-in listens but never accepts: connections complete in the kernel's backlog and
        // a health request waits for an answer that does not come, like an Iguana still starting.
        const run = inNamespace(
            `mount --bind ${paths.dataMount} ${paths.dataMount}
listen ${port} & iguana=$!
for _ in $(seq 100); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${port}" 2>/dev/null && break; sleep 0.1; done
timed() { local t0; t0=$(date +%s%N); "$@" > /dev/null 2>&1; local rc=$?; echo "$rc $(( ($(date +%s%N) - t0) / 1000000 ))"; }
echo MASTER > ${paths.runDir}/state
echo $(( $(date +%s) - ${when === "starting" ? 0 : 1000} )) > ${started}
echo "${when} $(timed ${check})"
kill $iguana`,
            { mount: true, exitOnError: false },
        );
        return { paths, settings: s, run };
    }

    it("shared storage: a just-promoted Iguana that has not answered yet is within the grace, and keepalived waits for the script's verdict", async () => {
        const { settings: s } = scenarios.slowStart;
        const results = [await scenarios.slowStart.run, await scenarios.slowAfterGrace.run];
        for (const result of results) assert.strictEqual(result.status, 0, result.stderr);
        const lines = results.map((result) => result.stdout.trim().split(" "));
        assert.deepStrictEqual(lines.map(([label, status]) => [label, status]), [
            ["starting", "0"],
            ["grace-over", "1"],
        ]);
        const startingMs = Number(lines[0][2]);
        // The script waited out the health check's timeout for the slow answer, then applied the
        // grace; keepalived, which kills a script at its own timeout and counts a failure, waits longer.
        assert.ok(startingMs >= VRRP.checkTimeoutSeconds * 1000 - 100, `the script waited ${startingMs} ms for the answer`);
        assert.ok(startingMs < VRRP.scriptTimeoutSeconds * 1000, `the script took ${startingMs} ms; keepalived's timeout is ${VRRP.scriptTimeoutSeconds} s`);
        assert.match(renderKeepalivedConf(s), new RegExp(`vrrp_script iguana_healthy \\{[^}]*\\n\\s*timeout ${VRRP.scriptTimeoutSeconds}\\n`));
    });
});
