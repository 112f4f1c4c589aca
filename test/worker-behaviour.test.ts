/**
 * The worker scripts doing their job, run for real in a private network namespace: the role
 * probe's answers (and its own deadline check), the LLP gate's resets, the kernel gate that
 * closes at the lease deadline with no process running, and the shared mode's Iguana control.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { validateClusterConfig } from "../components/config";
import {
    WorkerPaths,
    bootstrapSettings,
    GUARD,
    iguanaMarkers,
    renderCheckIguanaScript,
    renderIguanaServiceScript,
    renderLeaseConfig,
    renderLlpGateScript,
    renderNotifyScript,
    ROLE_PROBE_SOURCE,
    roleProbeArgs,
} from "../components/bootstrap";
import { planNetwork, planWorkers } from "../components/model";
import { ProcessResult, isRoot, requireTools, runProcess, skipBecause } from "./tools";

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

/** A lease store for the rendered guard config (these tests run no guard). */
const TEST_LEASE = { kind: "aws-dynamodb", tableName: "iguana-test-lease", region: "us-east-1", itemKey: "iguana-test" } as const;

describe("worker scripts at work (private network namespace)", function () {
    this.timeout(60000);
    let dir: string;
    /** Each scenario's own scratch directories, so the scenarios can run side by side. */
    const pathsFor = (scenario: string): WorkerPaths => {
        const base = path.join(dir, scenario);
        const paths = { libDir: `${base}/lib`, etcDir: `${base}/etc`, runDir: `${base}/run`, dataMount: `${base}/data`, workingDir: `${base}/data/working`, appDir: `${base}/app` };
        for (const d of [paths.libDir, paths.etcDir, paths.runDir]) fs.mkdirSync(d, { recursive: true });
        return paths;
    };
    // Every scenario starts in `before` (each mostly waits for a process to start or a port to
    // open) and each `it` checks one.
    const scenarios: Record<string, { paths: WorkerPaths; settings: ReturnType<typeof bootstrapSettings>; run: Promise<ProcessResult>; calls?: string }> = {};

    before(function () {
        requireTools(this, "unshare", "setpriv", "ip", "iptables", "nft", "python3", "curl", "perl");
        if (!isRoot()) skipBecause(this, "needs root for a private network namespace", { ciProvides: true });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "iguana-worker-run-"));
        // The role probe runs as nobody: it must reach its script through these directories.
        fs.chmodSync(dir, 0o755);
        scenarios.roleProbe = startRoleProbe(pathsFor("role-probe"));
        scenarios.llpGate = startLlpGate(pathsFor("llp-gate"));
        scenarios.kernelGate = startKernelGate(pathsFor("kernel-gate"));
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
                tls: { enabled: false },
            },
            "t",
        );
        const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
        return bootstrapSettings(cfg, wk1, wk2, { dataDisk: { kind: "aws-ebs", volumeId: "vol-1" }, lease: TEST_LEASE }, paths);
    };

    /**
     * As on a worker: the probe runs as an unprivileged user (its unit has DynamicUser=yes), the
     * role comes from the rendered notify script run under a restrictive umask (0177; the real
     * boot found that a probe run as root hides an unreadable state file), and the deadline from
     * the lease file the guard writes, in CLOCK_MONOTONIC seconds.
     */
    function startRoleProbe(paths: WorkerPaths) {
        const s = settings("iguana6", paths);
        const probe = path.join(paths.libDir, "role-probe.py");
        fs.writeFileSync(probe, ROLE_PROBE_SOURCE);
        fs.writeFileSync(path.join(paths.libDir, "notify.sh"), renderNotifyScript(s), { mode: 0o755 });
        fs.writeFileSync(path.join(paths.libDir, "llp-gate.sh"), renderLlpGateScript(s), { mode: 0o755 });
        // The notify script makes the run dir itself, as after a boot.
        fs.rmSync(paths.runDir, { recursive: true, force: true });
        const args = roleProbeArgs(s).join(" ");
        const url = `http://127.0.0.1:${s.roleProbe.port}${s.roleProbe.path}`;
        const notify = (state: string) => `(umask 0177; ${paths.libDir}/notify.sh ${state})`;
        // What the guard writes after a renewal: the monotonic instant its active time ends.
        const deadlineIn = (seconds: number) =>
            `(umask 0177; python3 -c 'import json, time; print(json.dumps({"deadline": time.monotonic() + ${seconds}}))' > ${paths.runDir}/lease.tmp && chmod 0644 ${paths.runDir}/lease.tmp && mv ${paths.runDir}/lease.tmp ${paths.runDir}/lease)`;
        const run = inNamespace(`
code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 ${probe} ${args} & probe=$!
for _ in $(seq 50); do curl -s -o /dev/null ${url} && break; sleep 0.1; done
echo "no-state $(code ${url})"
${notify("BACKUP")}; echo "backup $(code ${url})"
${notify("MASTER")}; echo "master-no-lease $(code ${url})"
${deadlineIn(30)}; echo "master-iguana-down $(code ${url})"
listen ${s.webPort} & iguana=$!
for _ in $(seq 100); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${s.webPort}" 2>/dev/null && break; sleep 0.1; done
echo "master-healthy $(code ${url})"
echo "other-path $(code http://127.0.0.1:${s.roleProbe.port}/other)"
# Nobody renews: the probe turns 503 at the deadline by itself.
${deadlineIn(1)}; echo "before-deadline $(code ${url})"
sleep 1.2; echo "after-deadline $(code ${url})"
${deadlineIn(30)}; ${notify("STOP")}; echo "stopped $(code ${url})"
kill $iguana $probe`);
        return { paths, settings: s, run };
    }

    it("the role probe answers 200 only while MASTER, before the lease deadline and with Iguana healthy; at the deadline it turns 503 by itself", async () => {
        const result = await scenarios.roleProbe.run;
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(result.stdout.trim().split("\n"), [
            "no-state 503",
            "backup 503",
            "master-no-lease 503",
            "master-iguana-down 503",
            "master-healthy 200",
            "other-path 404",
            "before-deadline 200",
            "after-deadline 503",
            "stopped 503",
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
${paths.libDir}/notify.sh BACKUP
echo "backup llp=$(try 2575) http=$(try 8080) state=$(cat ${paths.runDir}/state) gate=$(cat ${paths.runDir}/gate)"
${paths.libDir}/notify.sh MASTER
echo "master llp=$(try 2575) http=$(try 8080) state=$(cat ${paths.runDir}/state) gate=$(cat ${paths.runDir}/gate)"
${paths.libDir}/notify.sh STOP
echo "stop llp=$(try 2575) http=$(try 8080) gate=$(cat ${paths.runDir}/gate)"
kill $llp $http`);
        return { paths, settings: s, run };
    }

    it("notify closes the LLP ports with a reset on demotion and opens them on promotion; HTTP stays open", async () => {
        const result = await scenarios.llpGate.run;
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(result.stdout.trim().split("\n"), [
            "backup llp=refused http=open state=BACKUP gate=closed",
            "master llp=open http=open state=MASTER gate=open",
            "stop llp=refused http=open gate=closed",
        ]);
    });

    /**
     * The guard's kernel gate (lease-guard.py KernelGate), armed as after a renewal, with 1 s
     * left: the LLP port answers until the deadline and is refused after it, while no process
     * of the guard runs at all; HTTP is never touched. The notify script's gate is open all along.
     */
    function startKernelGate(paths: WorkerPaths) {
        const s = settings("iguanax", paths);
        const config = JSON.parse(renderLeaseConfig(s)) as { kernelGate: { table: string; ports: number[] } };
        const guard = path.join(__dirname, "..", "components", "bootstrap");
        const arm = (what: string) =>
            `python3 -c 'import importlib.util, sys, time; sys.path.insert(0, "${guard}"); spec = importlib.util.spec_from_file_location("guard", "${guard}/lease-guard.py"); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); g = m.KernelGate(${JSON.stringify(config.kernelGate)}); ${what}'`;
        const run = inNamespace(`
listen 2575 & llp=$!
listen 8080 & http=$!
try() { if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then echo open; else echo refused; fi; }
for _ in $(seq 100); do [ "$(try 2575)$(try 8080)" = openopen ] && break; sleep 0.1; done
${arm("g.install()")}
echo "installed llp=$(try 2575) http=$(try 8080)"
${arm("g.open_until(time.monotonic() + 1.0)")}
echo "armed llp=$(try 2575) http=$(try 8080)"
sleep 1.2
echo "deadline-passed llp=$(try 2575) http=$(try 8080)"
${arm("g.open_until(time.monotonic() + 30)")}
echo "re-armed llp=$(try 2575)"
${arm("g.close()")}
echo "closed llp=$(try 2575)"
kill $llp $http`);
        return { paths, settings: s, run };
    }

    it("the kernel gate closes the LLP ports at the lease deadline with no process running, and never touches HTTP", async () => {
        const result = await scenarios.kernelGate.run;
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(result.stdout.trim().split("\n"), [
            "installed llp=refused http=open",
            "armed llp=open http=open",
            "deadline-passed llp=refused http=open",
            "re-armed llp=open",
            "closed llp=refused",
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
                tls: { enabled: false },
                storage: { queueRecovery: "shared" },
            },
            "t",
        );
        const [wk1, wk2] = planWorkers(planNetwork(cfg.network.cidr, cfg.network.existing));
        return bootstrapSettings(cfg, wk1, wk2, { dataDisk: { kind: "aws-efs", fileSystemId: "fs-1" }, lease: TEST_LEASE }, paths);
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
${paths.libDir}/notify.sh BACKUP
echo "backup check=$(rc ${check})"
# The notify records MASTER before it starts Iguana: a check in between is within the grace.
printf 'MASTER\n' > ${paths.runDir}/state
echo "promoted-not-yet-started check=$(rc ${check})"
${paths.libDir}/notify.sh MASTER
echo "master-starting check=$(rc ${check}) started=$(test -e ${paths.runDir}/iguana-started && echo yes)"
listen ${s.webPort} & iguana=$!
for _ in $(seq 100); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${s.webPort}" 2>/dev/null && break; sleep 0.1; done
echo "master-healthy check=$(rc ${check}) healthy=$(test -e ${paths.runDir}/iguana-healthy && echo yes)"
kill $iguana; wait $iguana 2>/dev/null
echo "master-iguana-died check=$(rc ${check})"
${paths.libDir}/notify.sh BACKUP
echo "fenced check=$(rc ${check}) started=$(test -e ${paths.runDir}/iguana-started && echo yes || echo no)"
umount ${paths.dataMount}
echo "lost-mount check=$(rc ${check})"`,
            { mount: true, exitOnError: false },
        );
        return { paths, settings: s, run, calls };
    }

    it("shared storage: notify starts Iguana on promotion and kills it on demotion; the health check holds the file system and, on the MASTER, Iguana", async () => {
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
            "fenced check=0 started=no",
            "lost-mount check=1",
        ]);
        // The fence kills Iguana at once (SIGKILL), then stops the unit: no write to the queue after it.
        assert.deepStrictEqual(fs.readFileSync(calls!, "utf8").trim().split("\n"), [
            "kill --signal=SIGKILL iguana6.service",
            "stop iguana6.service",
            "start --no-block iguana6.service",
            "kill --signal=SIGKILL iguana6.service",
            "stop iguana6.service",
        ]);
    });

    /** The health check of a MASTER whose Iguana was started just now ("starting") or long ago ("grace-over"). */
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

    it("shared storage: a just-promoted Iguana that has not answered yet is within the grace, and the guard waits for the script's verdict", async () => {
        const results = [await scenarios.slowStart.run, await scenarios.slowAfterGrace.run];
        for (const result of results) assert.strictEqual(result.status, 0, result.stderr);
        const lines = results.map((result) => result.stdout.trim().split(" "));
        assert.deepStrictEqual(
            lines.map(([label, status]) => [label, status]),
            [
                ["starting", "0"],
                ["grace-over", "1"],
            ],
        );
        const startingMs = Number(lines[0][2]);
        // The script waited out the request's timeout for the slow answer, then applied the grace;
        // the guard, which kills a check at its own timeout and counts a failure, waits longer.
        assert.ok(startingMs >= GUARD.checkTimeoutSeconds * 1000 - 100, `the script waited ${startingMs} ms for the answer`);
        assert.ok(startingMs < GUARD.scriptTimeoutSeconds * 1000, `the script took ${startingMs} ms; the guard's timeout is ${GUARD.scriptTimeoutSeconds} s`);
        const rendered = JSON.parse(renderLeaseConfig(scenarios.slowStart.settings)) as { health: { timeoutSeconds: number } };
        assert.strictEqual(rendered.health.timeoutSeconds, GUARD.scriptTimeoutSeconds);
    });
});
