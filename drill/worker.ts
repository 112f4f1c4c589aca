/**
 * A drill worker: the files the bootstrap code renders for a real worker, written to the
 * worker's scratch paths and run inside its namespace: the lease guard with its rendered config
 * (its health check and notify script, which drives the LLP gate), the rendered role probe, and
 * the Iguana stand-in in place of Iguana. The drill stands in for systemd where a scenario needs
 * it: the guard unit's ExecStopPost and Restart=.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
    BootstrapSettings,
    ROLE_PROBE_SOURCE,
    CLOUD_LIBRARY_SOURCE,
    LEASE_GUARD_SOURCE,
    PEER_FENCE_SOURCE,
    cloudLibraryPath,
    gateFile,
    leaseConfigPath,
    leaseFile,
    leaseGuardPath,
    peerFenceConfigPath,
    peerFencePath,
    renderCheckIguanaScript,
    renderIguanaServiceScript,
    renderLeaseConfig,
    renderPeerFenceConfig,
    isShared,
    renderLlpGateScript,
    renderNotifyScript,
    roleProbeArgs,
    roleProbePath,
    stateFile,
    VIP_MOVER_SOURCE,
    renderVipConfig,
    renderVipReconcileTimer,
    renderVipReconcileUnit,
    vipConfigPath,
    vipMoverPath,
} from "../components/bootstrap";
import { ReconcileTimer, reconcileTimer } from "./floating";
import { Processes, Started, inNetns, pidAlive, readPid, sh } from "./system";
import { monotonicMs } from "./sender";
import { drillServiceCommand } from "./plan";

export interface RenderedFile {
    path: string;
    content: string;
    mode: number;
}

/** The stand-in's command line: the drill starts it itself, or (shared mode) through the systemctl emulation. */
export function standinArgs(s: BootstrapSettings, readyFile: string): string[] {
    return [
        "-r",
        "ts-node/register/transpile-only",
        path.join(__dirname, "standin.ts"),
        "--worker",
        s.self.name,
        "--ports",
        s.gatedPorts.join(","),
        "--journal-dir",
        s.paths.workingDir,
        "--health",
        iguanaHealthArg(s),
        "--ready",
        readyFile,
    ];
}

export function standinReadyFile(s: BootstrapSettings): string {
    return `${s.paths.runDir}/standin.ready`;
}

export function standinPidFile(s: BootstrapSettings): string {
    return `${s.paths.runDir}/standin.pid`;
}

/**
 * What the drill has instead of systemd for the Iguana unit (shared mode): `start --no-block
 * <unit>` launches the Iguana stand-in in its own session (keepalived's notify runs this inside
 * the worker's namespace, so the stand-in lives there); `stop <unit>` ends it and waits, as
 * systemctl stop does.
 */
export function renderDrillSystemctl(s: BootstrapSettings, repoRoot: string, logFile: string): string {
    const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
    const pidfile = q(standinPidFile(s));
    return `#!/bin/bash
# Drill emulation of systemctl for the Iguana unit: start|stop|kill [--no-block|--signal=...] <unit>.
set -uo pipefail
command="\${1:?}"
pidfile=${pidfile}
case "$command" in
    kill)
        if [ -f "$pidfile" ]; then kill -KILL "$(cat "$pidfile")" 2> /dev/null; fi
        ;;
    start)
        if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2> /dev/null; then exit 0; fi
        rm -f ${q(standinReadyFile(s))}
        cd ${q(repoRoot)}
        setsid ${q(process.execPath)} ${standinArgs(s, standinReadyFile(s)).map(q).join(" ")} >> ${q(logFile)} 2>&1 < /dev/null &
        echo $! > "$pidfile"
        ;;
    stop)
        if [ -f "$pidfile" ]; then
            pid=$(cat "$pidfile")
            kill -TERM "$pid" 2> /dev/null
            # Gone, or a zombie nobody has reaped yet (it runs no more): as systemd sees the unit stop.
            for _ in $(seq 1 50); do { [ -e "/proc/$pid" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2> /dev/null; } || break; sleep 0.1; done
            kill -KILL "$pid" 2> /dev/null
            rm -f "$pidfile"
        fi
        ;;
esac
exit 0
`;
}

/** Everything the drill writes for one worker, all from the bootstrap renderers. */
export function workerFiles(s: BootstrapSettings): RenderedFile[] {
    const lib = s.paths.libDir;
    const shared: RenderedFile[] = isShared(s) ? [{ path: `${lib}/iguana-service.sh`, content: renderIguanaServiceScript(s), mode: 0o755 }] : [];
    // Floating IP: the mover the notify script runs, and its config (pointed at the stand-in cloud API).
    const vip: RenderedFile[] = s.vip
        ? [
              { path: vipMoverPath(s.paths), content: VIP_MOVER_SOURCE, mode: 0o755 },
              { path: vipConfigPath(s.paths), content: renderVipConfig(s), mode: 0o644 },
          ]
        : [];
    const fence: RenderedFile[] = s.peerFence
        ? [
              { path: peerFencePath(s.paths), content: PEER_FENCE_SOURCE, mode: 0o755 },
              { path: peerFenceConfigPath(s.paths), content: renderPeerFenceConfig(s), mode: 0o644 },
          ]
        : [];
    return [
        ...shared,
        ...vip,
        ...fence,
        { path: cloudLibraryPath(s.paths), content: CLOUD_LIBRARY_SOURCE, mode: 0o644 },
        { path: leaseGuardPath(s.paths), content: LEASE_GUARD_SOURCE, mode: 0o755 },
        { path: leaseConfigPath(s.paths), content: renderLeaseConfig(s), mode: 0o644 },
        { path: `${lib}/notify.sh`, content: renderNotifyScript(s), mode: 0o755 },
        { path: `${lib}/llp-gate.sh`, content: renderLlpGateScript(s), mode: 0o755 },
        { path: `${lib}/check-iguana.sh`, content: renderCheckIguanaScript(s), mode: 0o755 },
        { path: roleProbePath(s.paths), content: ROLE_PROBE_SOURCE, mode: 0o755 },
    ];
}

/** The PATH systemd gives a service (the lease guard's unit on a worker). */
export const SYSTEMD_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The lease guard's command line, as its unit's ExecStart has it. */
export function leaseGuardArgs(s: BootstrapSettings): string[] {
    return [leaseGuardPath(s.paths), leaseConfigPath(s.paths), "run"];
}

/**
 * A worker's role as the drill shows it, from its files: MASTER while the role is MASTER and the
 * guard's deadline is ahead; EXPIRED past the deadline; STOPPED when no guard runs.
 */
export function roleOf(state: string, leaseText: string | undefined, guardRunning: boolean, nowMs: number): string {
    if (activeByLease(state, leaseText, nowMs)) return "MASTER";
    if (!guardRunning) return "STOPPED";
    return state === "MASTER" ? "EXPIRED" : state;
}

/** Open as the notify script left it, and the kernel gate still armed (it expires at the guard's deadline by itself). */
export function gateOpenOf(gateText: string | undefined, leaseText: string | undefined, nowMs: number): boolean {
    return gateText?.trim() === "open" && activeByLease("MASTER", leaseText, nowMs);
}

/** Whether a worker is active by its own account: role MASTER and the guard's deadline ahead (what the probe checks, Iguana's health aside). */
export function activeByLease(state: string, leaseText: string | undefined, nowMs: number): boolean {
    if (state !== "MASTER" || !leaseText) return false;
    try {
        return Number(JSON.parse(leaseText).deadline) * 1000 > nowMs;
    } catch {
        return false;
    }
}

export function iguanaHealthArg(s: BootstrapSettings): string {
    const h = s.iguanaHealth;
    return h.protocol === "http" ? `http:${h.port}:${h.path}` : `tcp:${h.port}`;
}

/** The rendered iguana-vip-reconcile unit and timer of a floating-IP worker, as the drill runs them. */
export function workerReconcileTimer(s: BootstrapSettings): ReconcileTimer {
    return reconcileTimer(renderVipReconcileUnit(s), renderVipReconcileTimer());
}

export class DrillWorker {
    guard?: Started;
    /** Stand in for systemd's Restart=always and ExecStopPost of the guard unit (off: a power cut, a freeze). */
    superviseGuard = false;
    standin?: Started;
    roleProbe?: Started;
    /** Floating IP: the emulated systemd timer of the VIP reconcile unit, and its last run. */
    private reconcileTimer?: NodeJS.Timeout;
    private reconcileRun?: Started;
    reconcileRuns = 0;

    constructor(
        readonly settings: BootstrapSettings,
        readonly ns: string,
        private readonly procs: Processes,
        private readonly repoRoot: string,
    ) {}

    get name(): string {
        return this.settings.self.name;
    }

    get shared(): boolean {
        return isShared(this.settings);
    }

    render(logDir?: string): void {
        const p = this.settings.paths;
        for (const dir of [p.libDir, p.etcDir, p.runDir, this.shared ? p.dataMount : p.workingDir, p.appDir]) fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
        const files = workerFiles(this.settings);
        if (this.shared) {
            const log = path.join(logDir ?? p.runDir, `${this.name}-iguana.log`);
            files.push({ path: drillServiceCommand(p), content: renderDrillSystemctl(this.settings, this.repoRoot, log), mode: 0o755 });
        }
        for (const file of files) {
            fs.mkdirSync(path.dirname(file.path), { recursive: true, mode: 0o755 });
            fs.writeFileSync(file.path, file.content, { mode: file.mode });
            fs.chmodSync(file.path, file.mode);
        }
    }

    /** What the worker's llp-gate unit does at boot, before the lease guard starts. */
    closeGate(): void {
        inNetns(this.ns, `${this.settings.paths.libDir}/llp-gate.sh`, ["close"]);
    }

    /** Shows the LLP chain, to tell an open gate from a closed one. */
    gateRules(): string {
        return inNetns(this.ns, "iptables", ["-w", "-S", "IGUANA_HA_LLP"], { allowFail: true });
    }

    readyFile(): string {
        return standinReadyFile(this.settings);
    }

    startStandin(): Started {
        fs.rmSync(this.readyFile(), { force: true });
        this.standin = this.procs.spawnIn(this.ns, `${this.name}-iguana`, process.execPath, standinArgs(this.settings, this.readyFile()), { cwd: this.repoRoot });
        return this.standin;
    }

    standinReady(): boolean {
        return fs.existsSync(this.readyFile());
    }

    /** Shared mode: the stand-in the notify script started, while it runs. */
    sharedStandinPid(): number | undefined {
        const pid = readPid(standinPidFile(this.settings));
        return pid !== undefined && pidAlive(pid) ? pid : undefined;
    }

    /** Whether this worker's Iguana stand-in runs now. */
    standinRunning(): boolean {
        if (this.shared) return this.sharedStandinPid() !== undefined;
        return this.standin !== undefined && pidAlive(this.standin.pid);
    }

    /** kill -9 of the Iguana stand-in, however it was started. */
    killStandin(): void {
        if (this.standin) this.procs.signal(this.standin, "SIGKILL");
        const pid = this.sharedStandinPid();
        if (pid !== undefined) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                /* gone */
            }
        }
    }

    /**
     * Shared mode: this worker's data mount becomes a bind mount of the shared directory. In the
     * host's mount namespace and, once the guard runs, in its own: `ip netns exec` gives every
     * process it starts a private mount namespace, which later host mounts do not reach.
     */
    mountShared(sharedDir: string): void {
        fs.mkdirSync(this.settings.paths.dataMount, { recursive: true, mode: 0o755 });
        sh("mount", ["--bind", sharedDir, this.settings.paths.dataMount]);
        const pid = this.guardPid();
        if (pid !== undefined) sh("nsenter", ["-t", String(pid), "-m", "mount", "--bind", sharedDir, this.settings.paths.dataMount], { allowFail: true });
    }

    /** Shared mode: the guard's own mount namespace (ip netns exec made it private) gets the shared directory too. */
    mountSharedInGuard(sharedDir: string): void {
        const pid = this.guardPid();
        if (pid !== undefined) sh("nsenter", ["-t", String(pid), "-m", "mount", "--bind", sharedDir, this.settings.paths.dataMount], { allowFail: true });
    }

    /** The shared file system goes away (lazily, like a dead NFS server for new operations), for the guard too. */
    unmountShared(): void {
        if (!this.shared) return;
        const pid = this.guardPid();
        if (pid !== undefined) sh("nsenter", ["-t", String(pid), "-m", "umount", "-l", this.settings.paths.dataMount], { allowFail: true });
        sh("umount", ["-l", this.settings.paths.dataMount], { allowFail: true });
    }

    guardPid(): number | undefined {
        const pid = readPid(`${this.settings.paths.runDir}/lease-guard.pid`);
        return pid !== undefined && pidAlive(pid) ? pid : undefined;
    }

    startRoleProbe(): Started {
        this.roleProbe = this.procs.spawnIn(this.ns, `${this.name}-role-probe`, "/usr/bin/python3", [roleProbePath(this.settings.paths), ...roleProbeArgs(this.settings)]);
        return this.roleProbe;
    }

    startGuard(): Started {
        // The environment its notify and health scripts inherit: systemd's PATH, as on a worker
        // (not the drill's own, where `/usr/bin/env python3` could find another Python first).
        const guard = this.procs.spawnIn(this.ns, `${this.name}-lease-guard`, "/usr/bin/python3", leaseGuardArgs(this.settings), {
            env: { ...process.env, PATH: SYSTEMD_DEFAULT_PATH },
        });
        this.guard = guard;
        void guard.exited.then(() => {
            if (!this.superviseGuard || this.guard !== guard) return;
            // What the unit does when its process ends: ExecStopPost, then Restart=always after RestartSec=1.
            this.runNotify("STOP");
            setTimeout(() => {
                if (this.superviseGuard && this.guard === guard) this.startGuard();
            }, 1000);
        });
        return guard;
    }

    runNotify(state: string): void {
        inNetns(this.ns, `${this.settings.paths.libDir}/notify.sh`, [state], { allowFail: true });
    }

    /** `systemctl stop` of the guard unit: SIGTERM (the guard fences and releases the lease), then ExecStopPost. */
    async stopGuard(): Promise<void> {
        const guard = this.guard;
        this.superviseGuard = false;
        if (!guard) return;
        this.procs.signal(guard, "SIGTERM");
        await Promise.race([guard.exited, new Promise((r) => setTimeout(r, 10000))]);
        this.runNotify("STOP");
    }

    guardRunning(): boolean {
        return this.guardPid() !== undefined;
    }

    /** kill -9 of the guard process only (its unit's Restart= and ExecStopPost apply when supervised). */
    killGuard(): void {
        const pid = this.guardPid();
        if (pid !== undefined) process.kill(pid, "SIGKILL");
    }

    /** Set while the drill keeps the worker frozen. */
    frozen = false;

    /** Every process of the worker's namespace stopped (SIGSTOP) or resumed (SIGCONT): a paused VM. */
    freeze(): number {
        this.frozen = true;
        // Twice: a process forked while the first pass ran is stopped by the second.
        const stopped = this.signalAll("SIGSTOP");
        this.signalAll("SIGSTOP");
        return stopped;
    }

    thaw(): number {
        if (!this.frozen) return 0;
        this.frozen = false;
        return this.signalAll("SIGCONT");
    }

    /** The planned switchover, as an operator runs it on the active worker. */
    handover(): Promise<string> {
        return new Promise((resolve) =>
            execFile(
                "ip",
                ["netns", "exec", this.ns, "/usr/bin/python3", leaseGuardPath(this.settings.paths), leaseConfigPath(this.settings.paths), "handover"],
                (_error, stdout, stderr) => resolve(`${stdout}${stderr}`),
            ),
        );
    }

    private signalAll(signal: NodeJS.Signals): number {
        const pids = sh("ip", ["netns", "pids", this.ns], { allowFail: true }).split(/\s+/).filter(Boolean).map(Number);
        for (const pid of pids) {
            try {
                process.kill(pid, signal);
            } catch {
                /* gone */
            }
        }
        return pids.length;
    }

    /**
     * Floating IP: runs the rendered reconcile unit's ExecStart in the worker's namespace, first
     * after `firstMs`, then every OnUnitActiveSec, never while the previous run is still going
     * (a oneshot unit that is still active is not started again), as its systemd timer does.
     */
    startReconcileTimer(firstMs: number): void {
        const timer = workerReconcileTimer(this.settings);
        const [cmd, ...args] = timer.command;
        const tick = () => {
            if (!this.reconcileRun || !pidAlive(this.reconcileRun.pid)) {
                this.reconcileRun = this.procs.spawnIn(this.ns, `${this.name}-vip-reconcile`, cmd, args);
                this.reconcileRuns++;
            }
            this.reconcileTimer = setTimeout(tick, timer.everyMs);
        };
        this.stopReconcileTimer();
        this.reconcileTimer = setTimeout(tick, firstMs);
    }

    /** A reconcile run is going on now. */
    reconcileRunning(): boolean {
        return this.reconcileRun !== undefined && pidAlive(this.reconcileRun.pid);
    }

    stopReconcileTimer(): void {
        if (this.reconcileTimer) clearTimeout(this.reconcileTimer);
        this.reconcileTimer = undefined;
    }

    /** The VIP mover's log of this worker (claims and releases run by the notify script). */
    vipLog(): string {
        try {
            return fs.readFileSync(path.join(this.settings.paths.runDir, "vip.log"), "utf8");
        } catch {
            return "";
        }
    }

    private readRun(file: string): string | undefined {
        try {
            return fs.readFileSync(file, "utf8");
        } catch {
            return undefined;
        }
    }

    /** The role the guard last set through the rendered notify script. */
    state(): string {
        return this.readRun(stateFile(this.settings))?.trim() || "NONE";
    }

    /** MASTER while the worker holds the lease and its deadline is ahead; else its role (STOPPED when no guard runs). */
    role(): string {
        return roleOf(this.state(), this.readRun(leaseFile(this.settings)), this.guardRunning(), monotonicMs());
    }

    gateOpen(): boolean {
        return gateOpenOf(this.readRun(gateFile(this.settings)), this.readRun(leaseFile(this.settings)), monotonicMs());
    }

    /** kill -9 of every process of this worker (guard, notify, VIP mover, probe, Iguana): nothing cleans up. */
    crash(): void {
        this.superviseGuard = false;
        this.signalAll("SIGKILL");
    }
}
