/**
 * The drill on booted machines (`npm run drill -- --booted`): each scenario boots WK1 and WK2
 * with systemd-nspawn from the stack's rendered user data, as the boot test does (boot/), so
 * systemd starts and restarts the units, the role probe runs as its dynamic user, and the
 * faults are what happens to a VM: a power cut, `systemctl stop`, kill -9 of a unit's process
 * with systemd's Restart= in play, the machine's link cut. HAProxy (in the lab namespace, the
 * bridge the machines are plugged into) and the HL7 sender (a namespace of its own on the
 * bridge) are the same as in the namespace drill; so is every scenario (drill/scenario.ts).
 */
import * as fs from "fs";
import * as path from "path";
import {
    BootstrapSettings,
    IGUANA_UNIT,
    LEASE_GUARD_UNIT,
    VIP_RECONCILE_UNIT,
    WORKER_PATHS,
    bootstrapSettings,
    gateFile,
    leaseConfigPath,
    leaseFile,
    leaseGuardPath,
    stateFile,
} from "../components/bootstrap";
import { DRILL_VIP } from "./floating";
import { hostAddress, parseCidr } from "../components/cidr";
import { ClusterConfig } from "../components/config";
import { WorkerPlan, planCluster } from "../components/model";
import { CLUSTER_NAME } from "../components/constants";
import { BootedCluster, BootCase } from "../boot/cluster";
import { MACHINE_INTERFACE } from "../boot/lab";
import { Machine, unitPids } from "../boot/machine";
import { DrillAddresses } from "./addresses";
import { drillVip, isFloating } from "./plan";
import { monotonicMs } from "./sender";
import { readJournal } from "./standin";
import { killQuietly, sh, waitFor } from "./system";
import { gateOpenOf, roleOf } from "./worker";

/** The scenario's view of a worker names a TLS bundle secret as the machine's does; the machines read theirs from the stand-in. */
const BOOTED_VIEW_TLS_BUNDLE = { kind: "aws-secrets-manager", secretArn: "arn:aws:secretsmanager:us-east-1:000000000000:secret:booted-view", region: "us-east-1" } as const;

/** What the booted drill shares across scenarios: the baked root file system and the archive. */
export interface BootedContext {
    rootfs: string;
    archive: { hosts: string[]; addresses: string[] };
    workDir: string;
}

/** A booted worker, seen from the host: its state through /proc/<PID 1>/root, its units through their cgroups. */
export class BootedDrillWorker {
    constructor(
        readonly machine: Machine,
        readonly settings: BootstrapSettings,
        /** The machine's network namespace (the faults on its link are injected there). */
        readonly ns: string,
        private readonly edition: ClusterConfig["iguana"]["edition"],
    ) {}

    get name(): string {
        return this.settings.self.name;
    }

    get shared(): boolean {
        return false;
    }

    private root(): string | undefined {
        const pid = this.machine.leader();
        return pid === undefined ? undefined : `/proc/${pid}/root`;
    }

    private read(file: string): string | undefined {
        const root = this.root();
        if (!root) return undefined;
        try {
            return fs.readFileSync(path.join(root, file), "utf8");
        } catch {
            return undefined;
        }
    }

    state(): string {
        return this.read(stateFile(this.settings))?.trim() || "NONE";
    }

    /** MASTER while the machine holds the lease and its guard's deadline is ahead (the host and the machines share CLOCK_MONOTONIC). */
    role(): string {
        return roleOf(this.state(), this.read(leaseFile(this.settings)), this.guardRunning(), monotonicMs());
    }

    get guardUnit(): string {
        return LEASE_GUARD_UNIT;
    }

    guardRunning(): boolean {
        return this.machine.running() && unitPids(this.machine.cgroups, LEASE_GUARD_UNIT).length > 0;
    }

    gateOpen(): boolean {
        return gateOpenOf(this.read(gateFile(this.settings)), this.read(leaseFile(this.settings)), monotonicMs());
    }

    /** kill -9 of the guard's main process (systemd runs ExecStopPost and restarts it). */
    async killGuard(): Promise<void> {
        await this.machine.execAsync(`kill -9 "$(systemctl show -P MainPID ${LEASE_GUARD_UNIT})"`);
    }

    /** `systemctl stop` of the guard unit, without blocking the drill's sampling. */
    async stopGuard(): Promise<void> {
        await this.machine.execAsync(`systemctl stop ${LEASE_GUARD_UNIT}`);
    }

    /** Set while the drill keeps the machine frozen. */
    frozen = false;

    /** The whole machine paused, as a hypervisor pauses a VM: cgroup v2 freezes every process of its cgroup; its kernel (the host's) runs on. */
    freeze(): void {
        this.frozen = true;
        for (const dir of this.machine.cgroups) if (fs.existsSync(path.join(dir, "cgroup.freeze"))) fs.writeFileSync(path.join(dir, "cgroup.freeze"), "1");
    }

    thaw(): void {
        if (!this.frozen) return;
        this.frozen = false;
        for (const dir of this.machine.cgroups) if (fs.existsSync(path.join(dir, "cgroup.freeze"))) fs.writeFileSync(path.join(dir, "cgroup.freeze"), "0");
    }

    /** The planned switchover, as an operator runs it on the active worker. */
    handover(): Promise<string> {
        return this.machine.execAsync(`/usr/bin/python3 ${leaseGuardPath(WORKER_PATHS)} ${leaseConfigPath(WORKER_PATHS)} handover 2>&1`);
    }

    get iguanaUnit(): string {
        return `${IGUANA_UNIT[this.edition]}.service`;
    }

    standinRunning(): boolean {
        return this.machine.running() && unitPids(this.machine.cgroups, this.iguanaUnit).length > 0;
    }

    standinReady(): boolean {
        return this.standinRunning() && this.read(`${WORKER_PATHS.workingDir}/standin.ready`) !== undefined;
    }

    /** kill -9 of every process of Iguana's unit (systemd restarts it: Restart=always). */
    killStandin(): void {
        for (const pid of unitPids(this.machine.cgroups, this.iguanaUnit)) killQuietly(pid, "SIGKILL");
    }

    /** The machine loses power: every process at once, and its link goes dark (nothing answers, not even the kernel). */
    async powerCut(): Promise<void> {
        sh("ip", ["-n", this.ns, "link", "set", MACHINE_INTERFACE, "down"]);
        await this.machine.stop("power-cut");
    }

    /** Powered on again: a boot from the same disk; returns once cloud-init's final stage is done. */
    async powerOn(timeoutMs = 180000): Promise<boolean> {
        sh("ip", ["-n", this.ns, "link", "set", MACHINE_INTERFACE, "up"]);
        this.machine.boot();
        return this.machine.waitCloudInit(timeoutMs);
    }

    /** Replaced by a new machine from the same image and user data, with the same data disk (`workers.rebuild`); booted, not waited for. */
    async rebuild(): Promise<void> {
        sh("ip", ["-n", this.ns, "link", "set", MACHINE_INTERFACE, "up"]);
        await this.machine.rebuild();
    }

    /** A script run as root inside the machine, as the cloud's run command runs it. */
    async runCommand(script: string): Promise<{ exitCode: number; output: string }> {
        const { code, stdout } = await this.machine.run(script);
        return { exitCode: code, output: stdout };
    }

    /** The journal lines of a port: through the running machine, or from its disk when it is off. */
    journal(port: number): string[] {
        const file = `${WORKER_PATHS.workingDir}/journal-${port}.log`;
        const root = this.machine.running() ? this.root() : undefined;
        if (root) return readJournal(path.join(root, file));
        if (!this.machine.loopDevice) return [];
        const mount = fs.mkdtempSync(path.join(this.machine.spec.dir, "disk-"));
        try {
            sh("mount", ["-o", "ro,noload", this.machine.loopDevice, mount]);
            return readJournal(path.join(mount, path.relative(WORKER_PATHS.dataMount, file)));
        } catch {
            return [];
        } finally {
            sh("umount", [mount], { allowFail: true });
            fs.rmSync(mount, { recursive: true, force: true });
        }
    }

    /** The lease guard's journal, when the machine runs (a powered-off machine's journal is gone with it): what a failed row's log tail shows. */
    guardLog(): string {
        if (!this.machine.running()) return "";
        return this.machine.exec(`journalctl -u ${LEASE_GUARD_UNIT} -o short-precise --no-pager | tail -n 400`, { allowFail: true });
    }

    vipLog(): string {
        return this.read(`${WORKER_PATHS.runDir}/vip.log`) ?? "";
    }

    /** Floating IP: the machine's own systemd timer runs the reconcile unit; nothing to emulate. */
    startReconcileTimer(): void {}
    stopReconcileTimer(): void {}

    private lastReconcile?: string;
    private reconciles = 0;

    /** Runs of the reconcile unit seen so far (its InvocationID changes at each run). */
    get reconcileRuns(): number {
        const id = this.machine.exec(`systemctl show -P InvocationID ${VIP_RECONCILE_UNIT}`, { allowFail: true }).trim();
        if (id && id !== this.lastReconcile) {
            if (this.lastReconcile !== undefined) this.reconciles++;
            this.lastReconcile = id;
        }
        return this.reconciles;
    }

    reconcileRunning(): boolean {
        return this.machine.exec(`systemctl is-active ${VIP_RECONCILE_UNIT}`, { allowFail: true }).trim() === "activating";
    }

    /** What the reconcile unit printed (the scenario reads who took the VIP from it). */
    reconcileLog(): string {
        return this.machine.exec(`journalctl -b -u ${VIP_RECONCILE_UNIT} -o cat --no-pager || true`, { allowFail: true });
    }
}

/** The booted pair of one scenario: the cluster, the sender's namespace, the addresses the drill uses. */
export class BootedPair {
    readonly cluster: BootedCluster;
    workers?: [BootedDrillWorker, BootedDrillWorker];
    senderNs: string;
    addresses: DrillAddresses;

    constructor(
        readonly bootCase: BootCase,
        readonly cfg: ClusterConfig,
        readonly ctx: BootedContext,
        readonly runId: string,
        readonly index: number,
        repoRoot: string,
        /** Floating IP: how long the stand-in cloud takes to apply a VIP change. */
        vipMoveDelayMs?: number,
    ) {
        const floating = vipMoveDelayMs !== undefined;
        const {
            network,
            workers: [wk1, wk2],
        } = planCluster(cfg, CLUSTER_NAME);
        const subnet = parseCidr(network.privateSubnets[0]);
        // With a load balancer the VIP is the lab's gateway address of WK1's subnet (HAProxy binds
        // there). A floating VIP is a public address the lab routes to its holder, as the cloud does.
        const vip = floating ? DRILL_VIP.aws.publicIp : hostAddress(subnet, 1);
        this.addresses = { vip, sender: hostAddress(subnet, 5), wk1: wk1.privateIp, wk2: wk2.privateIp, cloudApi: hostAddress(subnet, 1), leaseStore: "" };
        this.cluster = new BootedCluster(bootCase, {
            runId,
            index,
            rootfs: ctx.rootfs,
            workDir: ctx.workDir,
            archive: ctx.archive,
            repoRoot,
            log: () => undefined,
            ...(floating ? { vipPlacement: { vip, moveDelayMs: vipMoveDelayMs } } : {}),
        });
        this.senderNs = `igb-${this.cluster.id}-snd`;
    }

    /** Boots both machines together and waits until WK1 is MASTER and WK2 BACKUP; `booting` runs right before the boot. */
    async start(booting: () => void = () => undefined): Promise<void> {
        await this.cluster.start();
        const lab = this.cluster.lab!;
        const cfg = this.cluster.cfg!;
        const plan = planCluster(cfg, CLUSTER_NAME);
        const [p1, p2] = plan.workers;
        // Settings for the scenario's view of each worker (name, address, priority); the machines
        // run what their user data says.
        const view = (self: WorkerPlan, peer: WorkerPlan) =>
            bootstrapSettings(cfg, self, peer, {
                dataDisk: { kind: "aws-ebs", volumeId: "vol-booted" },
                ...(isFloating(cfg) ? { vip: drillVip(cfg, self, peer) } : {}),
                ...(cfg.tls.enabled ? { tlsBundle: BOOTED_VIEW_TLS_BUNDLE } : {}),
            });
        const [m1, m2] = [this.cluster.machine("wk1"), this.cluster.machine("wk2")];
        this.workers = [
            new BootedDrillWorker(m1, view(p1, p2), lab.machineNetns("wk1"), cfg.iguana.edition),
            new BootedDrillWorker(m2, view(p2, p1), lab.machineNetns("wk2"), cfg.iguana.edition),
        ];
        // The sender: a namespace of its own on the bridge, in WK1's subnet, reaching the VIP.
        sh("ip", ["netns", "add", this.senderNs]);
        sh("ip", ["-n", this.senderNs, "link", "set", "lo", "up"]);
        sh("ip", ["link", "add", MACHINE_INTERFACE, "netns", this.senderNs, "type", "veth", "peer", "name", "v-snd", "netns", lab.ns]);
        sh("ip", ["-n", lab.ns, "link", "set", "v-snd", "master", "br0"]);
        sh("ip", ["-n", lab.ns, "link", "set", "v-snd", "up"]);
        const bits = plan.network.privateSubnets[0].split("/")[1];
        sh("ip", ["-n", this.senderNs, "addr", "add", `${this.addresses.sender}/${bits}`, "dev", MACHINE_INTERFACE]);
        sh("ip", ["-n", this.senderNs, "link", "set", MACHINE_INTERFACE, "up"]);
        sh("ip", ["-n", this.senderNs, "route", "add", "default", "via", this.addresses.cloudApi]);
        booting();
        this.cluster.bootTogether();
        const up = await Promise.all(this.cluster.machines.map((m) => m.waitCloudInit(8 * 60 * 1000)));
        if (!up.every(Boolean)) throw new Error(`the machines did not finish booting: ${this.cluster.machines.map((m, i) => `${m.name} ${up[i] ? "up" : "not up"}`).join(", ")}`);
        const [w1, w2] = this.workers;
        if (!(await waitFor(() => w1.role() === "MASTER" && w2.role() === "BACKUP" && w1.standinReady(), 120000, 500))) {
            throw new Error(`the lease did not make WK1 active on the booted machines: wk1=${w1.role()} wk2=${w2.role()}`);
        }
    }

    async destroy(): Promise<void> {
        await this.cluster.destroy();
        sh("ip", ["netns", "del", this.senderNs], { allowFail: true });
    }
}
