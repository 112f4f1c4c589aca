/**
 * The boot test's network: one "lab" namespace holding a bridge with the gateway addresses of the
 * stack's worker subnets (as a VPC or VNet router does), the stand-in cloud services, and a NAT
 * that lets the machines reach the Debian archive and nothing else. Each machine gets a
 * network namespace of its own with a veth into the bridge; systemd-nspawn boots it inside.
 *
 *   machine wk1 (netns igb-<run>-wk1, eth0 = the stack's WK1 address) --+
 *   machine wk2 (netns igb-<run>-wk2, eth0 = the stack's WK2 address) --+-- br0 in igb-<run>-lab
 *         gateways of both worker subnets, 169.254.169.254 (IMDS), the lease store on br0 too --+
 *                       veth igb<run>h (host) <-> uplink (lab): NAT to the archive's addresses only
 */
import * as fs from "fs";
import * as path from "path";
import { hostAddress, parseCidr } from "../components/cidr";
import { sh } from "../drill/system";

/** Every name of the boot test (namespaces, host links, iptables comments) starts with this. */
export const BOOT_PREFIX = "igb";
export const IMDS_ADDRESS = "169.254.169.254";
/**
 * The stand-in lease store (DynamoDB, Blob) answers here, an address of its own on the bridge
 * (from the benchmarking range, which nothing routes), so that a drill can cut a machine off the
 * lease store alone.
 */
export const LEASE_STORE_ADDRESS = "198.18.0.10";
/** The machines' interface (Azure names it eth0; AWS Nitro ens5: the worker finds it by its address). */
export const MACHINE_INTERFACE = "eth0";
/** The comment on every host iptables rule the lab adds, so leftovers can be found. */
export const HOST_RULE_COMMENT = "iguana-ha-boot-test";

export interface LabAddressing {
    /** The worker subnets' gateways (the first host of each, as on AWS and Azure). */
    gateways: { cidr: string; address: string }[];
    /** Where the lab's own services listen: the gateway of WK1's subnet. */
    services: string;
    uplink: { host: string; lab: string; bits: number };
}

/** The gateways of the subnets the two workers sit in (one subnet or two), and the lab's uplink. */
export function labAddressing(workerSubnets: string[], uplinkIndex: number): LabAddressing {
    const gateways: { cidr: string; address: string }[] = [];
    for (const cidr of workerSubnets) {
        const net = parseCidr(cidr);
        const address = hostAddress(net, 1);
        if (!gateways.some((g) => g.address === address)) gateways.push({ cidr: `${address}/${net.prefix}`, address });
    }
    const base = parseCidr(`10.253.${uplinkIndex % 256}.0/30`);
    return { gateways, services: gateways[0].address, uplink: { host: hostAddress(base, 1), lab: hostAddress(base, 2), bits: 30 } };
}

export function labNetnsName(runId: string): string {
    return `${BOOT_PREFIX}-${runId}-lab`;
}

export function machineNetnsName(runId: string, machine: string): string {
    return `${BOOT_PREFIX}-${runId}-${machine}`;
}

function hostLinkName(runId: string): string {
    return `${BOOT_PREFIX}${runId}h`.slice(0, 15);
}

const inLab = (ns: string, cmd: string, args: string[], allowFail = false) => sh("ip", ["netns", "exec", ns, cmd, ...args], { allowFail });

export class Lab {
    readonly ns: string;
    private readonly hostLink: string;
    private readonly hostRules: string[][] = [];
    private readonly machines: string[] = [];
    private forwardingBefore?: string;

    constructor(
        readonly runId: string,
        readonly addressing: LabAddressing,
        /** The Debian archive's addresses: the only ones the NAT lets through. */
        readonly archiveAddresses: string[],
        /** False: only the lab itself reaches the archive (a proxy there is the machines' only way). */
        readonly machinesReachArchive = true,
    ) {
        this.ns = labNetnsName(runId);
        this.hostLink = hostLinkName(runId);
    }

    create(): void {
        const { ns } = this;
        const a = this.addressing;
        sh("ip", ["netns", "add", ns]);
        sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
        sh("ip", ["-n", ns, "link", "add", "br0", "type", "bridge"]);
        for (const g of a.gateways) sh("ip", ["-n", ns, "addr", "add", g.cidr, "dev", "br0"]);
        sh("ip", ["-n", ns, "addr", "add", `${IMDS_ADDRESS}/32`, "dev", "br0"]);
        sh("ip", ["-n", ns, "addr", "add", `${LEASE_STORE_ADDRESS}/32`, "dev", "br0"]);
        sh("ip", ["-n", ns, "link", "set", "br0", "up"]);
        inLab(ns, "sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
        // The uplink: the only way out, and only to the archive.
        sh("ip", ["link", "add", this.hostLink, "type", "veth", "peer", "name", "uplink", "netns", ns]);
        sh("ip", ["addr", "add", `${a.uplink.host}/${a.uplink.bits}`, "dev", this.hostLink]);
        sh("ip", ["link", "set", this.hostLink, "up"]);
        sh("ip", ["-n", ns, "addr", "add", `${a.uplink.lab}/${a.uplink.bits}`, "dev", "uplink"]);
        sh("ip", ["-n", ns, "link", "set", "uplink", "up"]);
        sh("ip", ["-n", ns, "route", "add", "default", "via", a.uplink.host]);
        inLab(ns, "iptables", ["-w", "-P", "FORWARD", "DROP"]);
        inLab(ns, "iptables", ["-w", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]);
        // Between the two worker subnets (the VPC router carries VRRP and everything else).
        inLab(ns, "iptables", ["-w", "-A", "FORWARD", "-i", "br0", "-o", "br0", "-j", "ACCEPT"]);
        for (const address of this.machinesReachArchive ? this.archiveAddresses : []) {
            for (const port of ["80", "443"]) {
                inLab(ns, "iptables", ["-w", "-A", "FORWARD", "-i", "br0", "-o", "uplink", "-d", address, "-p", "tcp", "--dport", port, "-j", "ACCEPT"]);
            }
        }
        inLab(ns, "iptables", ["-w", "-t", "nat", "-A", "POSTROUTING", "-o", "uplink", "-j", "MASQUERADE"]);
        this.forwardingBefore = sh("sysctl", ["-n", "net.ipv4.ip_forward"]).trim();
        sh("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
        for (const address of this.archiveAddresses) {
            this.hostRule(["-t", "nat", "POSTROUTING", "-s", `${a.uplink.lab}/32`, "-d", address, "-j", "MASQUERADE"]);
            this.hostRule(["FORWARD", "-i", this.hostLink, "-d", address, "-j", "ACCEPT"]);
            this.hostRule(["FORWARD", "-o", this.hostLink, "-s", address, "-j", "ACCEPT"]);
        }
        this.hostRule(["FORWARD", "-i", this.hostLink, "-j", "DROP"]);
    }

    private hostRule(rule: string[]): void {
        const table = rule[0] === "-t" ? rule.slice(0, 2) : [];
        const rest = rule[0] === "-t" ? rule.slice(2) : rule;
        const [chain, ...spec] = rest;
        const full = [...table, chain, ...spec, "-m", "comment", "--comment", `${HOST_RULE_COMMENT} ${this.runId}`];
        sh("iptables", ["-w", ...table, "-A", chain, ...spec, "-m", "comment", "--comment", `${HOST_RULE_COMMENT} ${this.runId}`]);
        this.hostRules.push(full);
    }

    /** A network namespace for one machine, its eth0 a veth into the bridge (kept across the machine's reboots). */
    machineNetns(machine: string): string {
        const ns = machineNetnsName(this.runId, machine);
        if (this.machines.includes(ns)) return ns;
        sh("ip", ["netns", "add", ns]);
        this.machines.push(ns);
        const port = `v-${machine}`;
        sh("ip", ["link", "add", MACHINE_INTERFACE, "netns", ns, "type", "veth", "peer", "name", port, "netns", this.ns]);
        sh("ip", ["-n", this.ns, "link", "set", port, "master", "br0"]);
        sh("ip", ["-n", this.ns, "link", "set", port, "up"]);
        return ns;
    }

    /** /etc/hosts of what runs in the lab namespace (`ip netns exec` binds /etc/netns/<ns>/hosts over it). */
    writeHosts(lines: string[]): void {
        fs.mkdirSync(this.netnsEtc, { recursive: true });
        fs.writeFileSync(path.join(this.netnsEtc, "hosts"), ["127.0.0.1 localhost", ...lines, ""].join("\n"));
    }

    private get netnsEtc(): string {
        return path.join("/etc/netns", this.ns);
    }

    /** Runs a command in the lab namespace (the load balancer's view: the bridge). */
    exec(cmd: string, args: string[], allowFail = false): string {
        return inLab(this.ns, cmd, args, allowFail);
    }

    destroy(): void {
        for (const rule of this.hostRules.reverse()) {
            const table = rule[0] === "-t" ? rule.slice(0, 2) : [];
            const rest = rule[0] === "-t" ? rule.slice(2) : rule;
            sh("iptables", ["-w", ...table, "-D", ...rest], { allowFail: true });
        }
        this.hostRules.length = 0;
        if (this.forwardingBefore !== undefined) sh("sysctl", ["-q", "-w", `net.ipv4.ip_forward=${this.forwardingBefore}`], { allowFail: true });
        sh("ip", ["link", "del", this.hostLink], { allowFail: true });
        for (const ns of [...this.machines, this.ns]) sh("ip", ["netns", "del", ns], { allowFail: true });
        fs.rmSync(this.netnsEtc, { recursive: true, force: true });
    }
}

/** Host iptables rules left by boot-test runs (found by their comment), as `iptables -D` arguments. */
export function leftoverHostRules(save: string, table: string, isMine: (runId: string) => boolean): string[][] {
    return save
        .split("\n")
        .filter((l) => l.startsWith("-A ") && l.includes(HOST_RULE_COMMENT))
        .filter((l) => {
            const m = new RegExp(`${HOST_RULE_COMMENT} (\\w+)`).exec(l);
            return m !== null && !isMine(m[1]);
        })
        .map((l) => ["-t", table, "-D", ...splitRule(l.slice(3))]);
}

/** Splits an iptables-save rule into arguments (quoted comments kept whole). */
export function splitRule(rule: string): string[] {
    const out: string[] = [];
    const re = /"([^"]*)"|(\S+)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(rule)) !== null) out.push(m[1] ?? m[2]);
    return out;
}
