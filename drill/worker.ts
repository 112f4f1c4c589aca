/**
 * A drill worker: the files the bootstrap code renders for a real worker, written to the
 * worker's scratch paths and run inside its namespace: keepalived with the rendered
 * keepalived.conf (its track script and notify script, which drives the LLP gate), the rendered
 * role probe, and the Iguana stand-in in place of Iguana.
 */
import * as fs from "fs";
import * as path from "path";
import {
    BootstrapSettings,
    ROLE_PROBE_SOURCE,
    renderCheckIguanaScript,
    renderIguanaServiceScript,
    renderKeepalivedConf,
    isShared,
    renderLlpGateScript,
    renderNotifyScript,
    renderVrrpLinkScript,
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
import { Processes, Started, inNetns, netnsPidsNamed, pidAlive, readPid, sh } from "./system";
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
# Drill emulation of systemctl for the Iguana unit: start|stop [--no-block] <unit>.
set -uo pipefail
command="\${1:?}"
pidfile=${pidfile}
case "$command" in
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
            for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
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
    return [
        ...shared,
        ...vip,
        { path: s.paths.keepalivedConf, content: renderKeepalivedConf(s), mode: 0o644 },
        // Run before keepalived, as the worker's iguana-vrrp-link unit does: finds the interface,
        // builds the VXLAN tunnel on Azure, writes keepalived's interface include.
        { path: `${lib}/vrrp-link.sh`, content: renderVrrpLinkScript(s), mode: 0o755 },
        { path: `${lib}/notify.sh`, content: renderNotifyScript(s), mode: 0o755 },
        { path: `${lib}/llp-gate.sh`, content: renderLlpGateScript(s), mode: 0o755 },
        { path: `${lib}/check-iguana.sh`, content: renderCheckIguanaScript(s), mode: 0o755 },
        { path: roleProbePath(s.paths), content: ROLE_PROBE_SOURCE, mode: 0o755 },
    ];
}

/** The PATH systemd gives a service (keepalived.service on a worker). */
export const SYSTEMD_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** keepalived's pid files for one worker: separate per worker, so two can run on one host. */
export function keepalivedPidfiles(s: BootstrapSettings) {
    const run = s.paths.runDir;
    return { main: `${run}/keepalived.pid`, vrrp: `${run}/keepalived-vrrp.pid`, checkers: `${run}/keepalived-checkers.pid`, bfd: `${run}/keepalived-bfd.pid` };
}

export function keepalivedArgs(s: BootstrapSettings): string[] {
    const pids = keepalivedPidfiles(s);
    // VRRP only, in the foreground, logging to the console (captured in the worker's log).
    return ["-f", s.paths.keepalivedConf, "-p", pids.main, "-r", pids.vrrp, "-c", pids.checkers, "-b", pids.bfd, "-P", "-n", "-l", "-D", "-G"];
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
    keepalived?: Started;
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

    /** What the worker's iguana-vrrp-link unit does at boot: the link VRRP runs on. */
    prepareVrrpLink(): void {
        inNetns(this.ns, `${this.settings.paths.libDir}/vrrp-link.sh`, []);
    }

    /** `keepalived -t` on the rendered file: the drill stops early on a config keepalived rejects. */
    configTest(): void {
        inNetns(this.ns, "keepalived", ["-t", "-f", this.settings.paths.keepalivedConf]);
    }

    /** What the worker's llp-gate unit does at boot, before keepalived starts. */
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

    /** Shared mode: the stand-in keepalived's notify started, while it runs. */
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
     * host's mount namespace and, once keepalived runs, in its own: `ip netns exec` gives every
     * process it starts a private mount namespace, which later host mounts do not reach.
     */
    mountShared(sharedDir: string): void {
        fs.mkdirSync(this.settings.paths.dataMount, { recursive: true, mode: 0o755 });
        sh("mount", ["--bind", sharedDir, this.settings.paths.dataMount]);
        const pid = this.keepalivedMainPid();
        if (pid !== undefined) sh("nsenter", ["-t", String(pid), "-m", "mount", "--bind", sharedDir, this.settings.paths.dataMount], { allowFail: true });
    }

    /** The shared file system goes away (lazily, like a dead NFS server for new operations), for keepalived too. */
    unmountShared(): void {
        if (!this.shared) return;
        const pid = this.keepalivedMainPid();
        if (pid !== undefined) sh("nsenter", ["-t", String(pid), "-m", "umount", "-l", this.settings.paths.dataMount], { allowFail: true });
        sh("umount", ["-l", this.settings.paths.dataMount], { allowFail: true });
    }

    private keepalivedMainPid(): number | undefined {
        const pid = readPid(keepalivedPidfiles(this.settings).main);
        return pid !== undefined && pidAlive(pid) ? pid : undefined;
    }

    startRoleProbe(): Started {
        this.roleProbe = this.procs.spawnIn(this.ns, `${this.name}-role-probe`, "/usr/bin/python3", [
            roleProbePath(this.settings.paths),
            ...roleProbeArgs(this.settings, keepalivedPidfiles(this.settings).main),
        ]);
        return this.roleProbe;
    }

    startKeepalived(): Started {
        // The environment its notify and track scripts inherit: systemd's PATH, as on a worker
        // (not the drill's own, where `/usr/bin/env python3` could find another Python first).
        this.keepalived = this.procs.spawnIn(this.ns, `${this.name}-keepalived`, "keepalived", keepalivedArgs(this.settings), {
            env: { ...process.env, PATH: SYSTEMD_DEFAULT_PATH },
        });
        return this.keepalived;
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

    /** The role keepalived last reported through the rendered notify script. */
    state(): string {
        try {
            return fs.readFileSync(stateFile(this.settings), "utf8").trim();
        } catch {
            return "NONE";
        }
    }

    /** keepalived's role as the LB would see it: the state file only counts while keepalived runs. */
    role(): string {
        return this.keepalivedRunning() ? this.state() : "STOPPED";
    }

    keepalivedRunning(): boolean {
        const main = readPid(keepalivedPidfiles(this.settings).main);
        return main !== undefined && pidAlive(main);
    }

    /** kill -9 of every keepalived process of this worker at once (its process group), then by pid file. */
    killKeepalived(): void {
        if (this.keepalived) this.procs.signal(this.keepalived, "SIGKILL");
        for (const pid of [...this.keepalivedPids(), ...netnsPidsNamed(this.ns, "keepalived")]) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                /* gone */
            }
        }
    }

    /** keepalived's own processes, parent and VRRP child, from its pid files. */
    keepalivedPids(): number[] {
        const pids = keepalivedPidfiles(this.settings);
        return [readPid(pids.vrrp), readPid(pids.main)].filter((p): p is number => p !== undefined);
    }
}
