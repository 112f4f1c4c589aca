/**
 * One booted worker: an overlay of the shared root file system, a NoCloud seed holding the
 * stack's rendered user data byte for byte, a loop device as the data disk under the name the
 * cloud gives it, and `systemd-nspawn -b` in a network namespace of its own.
 *
 * On this kind of host PID 1 is not systemd and there is no D-Bus: nspawn runs with
 * `--register=no --keep-unit`, from a cgroup of its own per machine, with a tmpfs on
 * /run/systemd/nspawn. Commands run inside with nsenter into the machine's PID 1.
 */
import { ChildProcess, spawn } from "child_process";
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { sh, sleep } from "../drill/system";
import { MACHINE_INTERFACE } from "./lab";

export interface MachineSpec {
    name: string;
    /** Directory of this machine's overlay layers, seed and console log. */
    dir: string;
    rootfs: string;
    netns: string;
    /** The rendered user data, as the cloud hands it to the instance. */
    userData: string;
    instanceId: string;
    address: string;
    prefixBits: number;
    gateway: string;
    /** Lines for the guest's /etc/hosts (the archive, the stand-in cloud endpoints). */
    hosts: string[];
    /** The data disk: a loop device shown inside under this path (the cloud's stable name). */
    dataDisk?: { devicePath: string; sizeMb: number; readOnly?: boolean };
    /** Extra CA certificates the image trusts (the stand-in cloud endpoints' test CA). */
    caCertificate?: string;
    /** Read-only binds host:guest (the Iguana stand-in's runtime). */
    binds: [string, string][];
}

/** The NoCloud network config: the stack's planned address on eth0, the subnet's gateway. */
export function networkConfig(spec: Pick<MachineSpec, "address" | "prefixBits" | "gateway">, iface: string): string {
    return [
        "version: 2",
        "ethernets:",
        `  primary:`,
        `    match: {name: "${iface}"}`,
        `    addresses: [${spec.address}/${spec.prefixBits}]`,
        `    routes: [{to: default, via: ${spec.gateway}}]`,
        "",
    ].join("\n");
}

export function metaData(spec: Pick<MachineSpec, "instanceId" | "name">): string {
    return `instance-id: ${spec.instanceId}\nlocal-hostname: ${spec.name}\n`;
}

const CGROUP_HIERARCHIES = ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"];
export const NSPAWN_RUNTIME = "/run/systemd/nspawn";

/** nspawn keeps its per-machine runtime state here; on this host nothing mounts it. */
function ensureNspawnRuntime(): void {
    fs.mkdirSync(NSPAWN_RUNTIME, { recursive: true });
    if (!isMountpoint(NSPAWN_RUNTIME)) sh("mount", ["-t", "tmpfs", "-o", "mode=0755", "tmpfs", NSPAWN_RUNTIME]);
}

function isMountpoint(dir: string): boolean {
    try {
        sh("mountpoint", ["-q", dir]);
        return true;
    } catch {
        return false;
    }
}

export class Machine {
    private nspawn?: ChildProcess;
    private exitPromise?: Promise<number | null>;
    loopDevice?: string;
    cgroups: string[] = [];
    boots = 0;

    constructor(readonly spec: MachineSpec) {}

    get name(): string {
        return this.spec.name;
    }
    get merged(): string {
        return path.join(this.spec.dir, "merged");
    }
    get consoleLog(): string {
        return path.join(this.spec.dir, `console-${this.boots}.log`);
    }

    /** The overlay, the seed, the data disk: what the cloud prepares before the first boot. */
    prepare(): void {
        this.prepareRootDisk();
        this.attachDataDisk();
    }

    /**
     * The machine replaced, as `pulumi up` replaces a worker named by `workers.rebuild`: the old
     * one shut down (a terminated instance or deleted VM gets an ACPI shutdown), a new one from
     * the image and the same user data, with the same data disk; booted, not waited for.
     */
    async rebuild(): Promise<void> {
        await this.stop("poweroff");
        await this.unmountRootDisk();
        this.prepareRootDisk();
        this.boot();
    }

    /** The overlay off its mount point, retried while the machine's last mounts let go. */
    private async unmountRootDisk(): Promise<void> {
        for (let i = 0; i < 10 && isMountpoint(this.merged); i++) {
            sh("umount", ["-R", this.merged], { allowFail: true });
            if (isMountpoint(this.merged)) await sleep(300);
        }
    }

    private prepareRootDisk(): void {
        const { dir } = this.spec;
        // A new machine's disk is the image and nothing else: an earlier machine's layer left in
        // the same place (its cloud-init state, units, /etc) once made a second machine hang in cloud-init.
        if (isMountpoint(this.merged)) throw new Error(`${this.merged} is still mounted: the machine that was there before was not torn down`);
        for (const sub of ["upper", "work"]) fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
        for (const sub of ["upper", "work", "merged"]) fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o755 });
        sh("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${this.spec.rootfs},upperdir=${dir}/upper,workdir=${dir}/work`, this.merged]);
        const seed = path.join(this.merged, "var/lib/cloud/seed/nocloud");
        fs.mkdirSync(seed, { recursive: true, mode: 0o755 });
        fs.writeFileSync(path.join(seed, "user-data"), this.spec.userData);
        fs.writeFileSync(path.join(seed, "meta-data"), metaData(this.spec));
        fs.writeFileSync(path.join(seed, "network-config"), networkConfig(this.spec, MACHINE_INTERFACE));
        const hosts = path.join(this.merged, "etc/hosts");
        fs.appendFileSync(hosts, `\n# iguana-ha boot test: the archive and the stand-in cloud endpoints\n${this.spec.hosts.join("\n")}\n`);
        // cloud-init must not rewrite /etc/hosts (Debian's default leaves it alone; say so).
        fs.writeFileSync(path.join(this.merged, "etc/cloud/cloud.cfg.d/91-iguana-ha-boot-hosts.cfg"), "manage_etc_hosts: false\n");
        if (this.spec.caCertificate) {
            const caDir = path.join(this.merged, "usr/local/share/ca-certificates");
            fs.mkdirSync(caDir, { recursive: true });
            fs.writeFileSync(path.join(caDir, "iguana-ha-boot-test-ca.crt"), this.spec.caCertificate);
            sh("chroot", [this.merged, "update-ca-certificates", "--fresh"]);
        }
        for (const [host, guest] of this.spec.binds) {
            const target = path.join(this.merged, guest);
            if (fs.statSync(host).isDirectory()) fs.mkdirSync(target, { recursive: true });
            else {
                fs.mkdirSync(path.dirname(target), { recursive: true });
                fs.closeSync(fs.openSync(target, "a"));
            }
        }
    }

    private attachDataDisk(): void {
        const { dir } = this.spec;
        if (this.spec.dataDisk) {
            const image = path.join(dir, "data-disk.img");
            fs.closeSync(fs.openSync(image, "w"));
            fs.truncateSync(image, this.spec.dataDisk.sizeMb * 1024 * 1024);
            const readOnly = this.spec.dataDisk.readOnly === true;
            this.loopDevice = sh("losetup", ["--find", "--show", ...(readOnly ? ["--read-only"] : []), image]).trim();
            // A loop device keeps its read-only flag from an earlier attachment.
            if (!readOnly) sh("blockdev", ["--setrw", this.loopDevice]);
        }
    }

    /** Boots the machine (again): a new nspawn on the same overlay; /run starts empty. */
    boot(): void {
        ensureNspawnRuntime();
        this.boots++;
        const cgroupName = `${this.spec.netns}-${this.boots}`;
        const procs: string[] = [];
        for (const root of CGROUP_HIERARCHIES) {
            if (!fs.existsSync(root)) continue;
            const dir = path.join(root, cgroupName);
            fs.mkdirSync(dir, { recursive: true });
            this.cgroups.push(dir);
            procs.push(`${dir}/cgroup.procs`);
        }
        const binds = [
            ...(this.spec.dataDisk && this.loopDevice ? [`--bind=${this.loopDevice}:${this.spec.dataDisk.devicePath}`] : []),
            ...this.spec.binds.map(([host, guest]) => `--bind-ro=${host}:${guest}`),
        ];
        const args = [
            "-q",
            "-D",
            this.merged,
            "-b",
            "-M",
            this.name,
            "--register=no",
            "--keep-unit",
            `--network-namespace-path=/run/netns/${this.spec.netns}`,
            // With a network namespace of its own the machine may manage it (systemd-networkd,
            // iptables, keepalived), as --private-network would allow.
            "--capability=CAP_NET_ADMIN",
            "--resolv-conf=off",
            "--timezone=off",
            "--link-journal=no",
            ...binds,
        ];
        // The shell moves itself into the machine's own cgroups, then becomes nspawn.
        const enter = procs.map((p) => `echo $$ > ${p}`).join("; ");
        const log = fs.openSync(this.consoleLog, "a");
        // /proc/sys/net writable (the worker's TCP keepalive settings), the rest of /proc/sys read-only.
        const env = { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: "network" };
        this.nspawn = spawn("sh", ["-c", `${enter}; exec systemd-nspawn "$@"`, "nspawn", ...args], { stdio: ["ignore", log, log], detached: true, env });
        fs.closeSync(log);
        const child = this.nspawn;
        this.exitPromise = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    }

    /** The machine's PID 1 (systemd), once nspawn started it. */
    leader(): number | undefined {
        const nspawnPid = this.nspawn?.pid;
        if (nspawnPid === undefined) return undefined;
        const children = (pid: number) => {
            try {
                return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
            } catch {
                return [];
            }
        };
        const queue = children(nspawnPid);
        while (queue.length > 0) {
            const pid = queue.shift()!;
            try {
                if (fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "systemd") return pid;
            } catch {
                continue;
            }
            queue.push(...children(pid));
        }
        return undefined;
    }

    running(): boolean {
        return this.nspawn !== undefined && this.nspawn.exitCode === null && this.nspawn.signalCode === null;
    }

    /** Runs a command inside the machine as root, with systemd's PATH. */
    exec(command: string, options: { allowFail?: boolean } = {}): string {
        const pid = this.leader();
        if (pid === undefined) {
            if (options.allowFail) return "";
            throw new Error(`${this.name} is not running`);
        }
        return sh(
            "nsenter",
            [
                "-t",
                String(pid),
                "-m",
                "-u",
                "-i",
                "-n",
                "-p",
                "--",
                "/usr/bin/env",
                "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
                "/bin/sh",
                "-c",
                command,
            ],
            options,
        );
    }

    /** `exec` without blocking the caller's event loop (the drill watches the cluster while it runs). */
    async execAsync(command: string): Promise<string> {
        return (await this.run(command)).stdout;
    }

    /** A command inside the machine, with its exit status (1 when the machine is not running). */
    run(command: string): Promise<{ code: number; stdout: string }> {
        const pid = this.leader();
        if (pid === undefined) return Promise.resolve({ code: 1, stdout: "" });
        return new Promise((resolve) =>
            execFile(
                "nsenter",
                [
                    "-t",
                    String(pid),
                    "-m",
                    "-u",
                    "-i",
                    "-n",
                    "-p",
                    "--",
                    "/usr/bin/env",
                    "-i",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "LANG=C.UTF-8",
                    "/bin/sh",
                    "-c",
                    command,
                ],
                (error, stdout) => resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout: String(stdout) }),
            ),
        );
    }

    /** Exit status of a command inside the machine. */
    status(command: string): number {
        try {
            this.exec(command);
            return 0;
        } catch {
            return 1;
        }
    }

    /** Waits until cloud-init's final stage wrote boot-finished for this boot (or nspawn ended). */
    async waitCloudInit(timeoutMs: number): Promise<boolean> {
        const end = Date.now() + timeoutMs;
        while (Date.now() < end) {
            if (!this.running()) return false;
            if (this.leader() !== undefined && (await this.run("test -e /run/cloud-init/result.json && cloud-init status | grep -Eq 'status: (done|error|degraded)'")).code === 0)
                return true;
            await sleep(1000);
        }
        return false;
    }

    /** A clean shutdown (poweroff inside), or kill -9 of the machine's PID 1 (a power cut). */
    async stop(how: "poweroff" | "power-cut", timeoutMs = 60000): Promise<void> {
        if (!this.running()) return;
        const pid = this.leader();
        if (how === "power-cut" && pid !== undefined) process.kill(pid, "SIGKILL");
        else this.exec("systemctl poweroff --no-block", { allowFail: true });
        const exited = await Promise.race([this.exitPromise, sleep(timeoutMs).then(() => "timeout" as const)]);
        if (exited === "timeout" && this.nspawn?.pid) {
            try {
                process.kill(-this.nspawn.pid, "SIGKILL");
            } catch {
                /* gone */
            }
            await this.exitPromise;
        }
        // Without blocking: the failover drill samples the cluster while a machine goes down.
        for (let attempt = 0; attempt < 20 && this.cgroups.some((dir) => cgroupPids(dir).length > 0); attempt++) {
            for (const dir of this.cgroups) for (const pid of cgroupPids(dir)) killQuietlyPid(pid);
            await sleep(100);
        }
        this.releaseCgroups();
    }

    private releaseCgroups(): void {
        // Deepest first: the machine's systemd made its own sub-cgroups.
        for (const dir of this.cgroups) removeCgroupTree(dir);
        this.cgroups = [];
    }

    /** Everything the machine holds on the host: processes, cgroups, the overlay, the loop device. */
    async destroy(): Promise<void> {
        await this.stop("power-cut", 10000).catch(() => undefined);
        if (this.nspawn?.pid) {
            try {
                process.kill(-this.nspawn.pid, "SIGKILL");
            } catch {
                /* gone */
            }
        }
        this.releaseCgroups();
        await this.unmountRootDisk();
        if (isMountpoint(this.merged)) sh("umount", ["-l", this.merged], { allowFail: true });
        if (this.loopDevice) sh("losetup", ["-d", this.loopDevice], { allowFail: true });
        this.loopDevice = undefined;
    }
}

/** Pids in a cgroup directory and everything under it. */
function cgroupPids(dir: string): number[] {
    const pids: number[] = [];
    const walk = (d: string) => {
        try {
            pids.push(...fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number));
            for (const entry of fs.readdirSync(d, { withFileTypes: true })) if (entry.isDirectory()) walk(path.join(d, entry.name));
        } catch {
            /* gone meanwhile */
        }
    };
    walk(dir);
    return pids;
}

/** Kills what still runs in a cgroup tree, waits for it to go, then removes the directories, deepest first. */
function killQuietlyPid(pid: number): void {
    try {
        process.kill(pid, "SIGKILL");
    } catch {
        /* gone */
    }
}

export function removeCgroupTree(dir: string): void {
    if (!fs.existsSync(dir)) return;
    for (let attempt = 0; attempt < 20; attempt++) {
        const pids = cgroupPids(dir);
        if (pids.length === 0) break;
        for (const pid of pids) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                /* gone */
            }
        }
        sh("sleep", ["0.1"]);
    }
    const remove = (d: string) => {
        try {
            for (const entry of fs.readdirSync(d, { withFileTypes: true })) if (entry.isDirectory()) remove(path.join(d, entry.name));
            fs.rmdirSync(d);
        } catch {
            /* still busy: the next run's leftovers sweep takes it */
        }
    };
    remove(dir);
}

/** The pids of one systemd unit of a booted machine, from its cgroup (the machine's systemd makes one per unit). */
export function unitPids(machineCgroups: string[], unit: string): number[] {
    // The machine's systemd keeps its units in one hierarchy (cgroup v2 here): ask each.
    const pids = new Set<number>();
    for (const root of machineCgroups) for (const pid of cgroupPids(path.join(root, "payload", "system.slice", unit))) pids.add(pid);
    return [...pids];
}
