/**
 * The Debian root file system the booted workers share (each boots an overlay of it). Built once
 * with mmdebstrap from the Debian archive as this host's apt reaches it, and cached outside the
 * repository. Like a cloud image it holds systemd, udev, cloud-init and netplan but none of the
 * packages the user data installs: cloud-init installs those at boot.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { sh as run } from "../drill/system";

/** trixie: cloud-init 25.1, systemd 257, keepalived 2.3 (Ubuntu 24.04: 24.4+, 255, 2.2.8). */
export const GUEST_SUITE = "trixie";

/** What a cloud image has before its user data runs. */
export const ROOTFS_PACKAGES = ["systemd-sysv", "udev", "dbus", "cloud-init", "netplan.io", "iproute2", "e2fsprogs", "ca-certificates", "openssh-server", "sudo", "procps"];

/** Where the cached root file systems live (outside the repo, kept between runs). */
export const BOOT_CACHE_DIR = process.env.IGUANA_BOOT_CACHE ?? "/var/tmp/iguana-ha-boot";

/** Image configuration a cloud image carries: which datasource cloud-init reads. */
export const IMAGE_CLOUD_CFG = `# iguana-ha boot test image: the seed is a NoCloud directory, as a cloud's datasource would be.
datasource_list: [ NoCloud, None ]
`;

export interface AptSource {
    uri: string;
    /** "main" archive or "security". */
    kind: "main" | "security";
}

/**
 * The Debian archive URIs this host's apt uses, from deb822 `.sources` files and one-line
 * `sources.list` entries: the main archive and the security archive.
 */
export function parseAptSources(files: { name: string; text: string }[]): AptSource[] {
    const found: AptSource[] = [];
    const add = (uri: string, suites: string[]) => {
        const kind = suites.some((s) => s.endsWith("-security")) ? "security" : "main";
        const clean = uri.replace(/\/+$/, "");
        if (!found.some((f) => f.uri === clean && f.kind === kind)) found.push({ uri: clean, kind });
    };
    for (const { name, text } of files) {
        if (name.endsWith(".sources")) {
            for (const stanza of text.split(/\n\s*\n/)) {
                const field = (key: string) =>
                    stanza
                        .split("\n")
                        .find((l) => l.toLowerCase().startsWith(`${key.toLowerCase()}:`))
                        ?.slice(key.length + 1)
                        .trim();
                const enabled = (field("Enabled") ?? "yes").toLowerCase() !== "no";
                const types = (field("Types") ?? "").split(/\s+/);
                const uris = (field("URIs") ?? "").split(/\s+/).filter(Boolean);
                const suites = (field("Suites") ?? "").split(/\s+/).filter(Boolean);
                if (enabled && types.includes("deb")) for (const uri of uris) add(uri, suites);
            }
        } else {
            for (const line of text.split("\n")) {
                const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
                if (m) add(m[1], [m[2]]);
            }
        }
    }
    if (!found.some((f) => f.kind === "main")) throw new Error("no Debian archive in this host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*.sources)");
    return found;
}

/** The guest's deb822 sources: this host's archive URIs, for the guest's suite. */
export function guestSources(sources: AptSource[], suite = GUEST_SUITE): string {
    const stanza = (uri: string, suites: string[]) =>
        `Types: deb\nURIs: ${uri}\nSuites: ${suites.join(" ")}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
    return sources.map((s) => (s.kind === "security" ? stanza(s.uri, [`${suite}-security`]) : stanza(s.uri, [suite, `${suite}-updates`]))).join("\n");
}

/** apt settings of this host that say how to reach the archive (Acquire::*: proxies, date checks). */
export function hostAptSettings(files: { name: string; text: string }[]): { name: string; text: string }[] {
    return files.filter((f) => /^\s*Acquire::/m.test(f.text));
}

/** The hosts of the archive URIs (the guest resolves them through /etc/hosts, the NAT lets only them through). */
export function archiveHosts(sources: AptSource[]): string[] {
    return [...new Set(sources.map((s) => new URL(s.uri).hostname))];
}

function readDir(dir: string, filter: (name: string) => boolean): { name: string; text: string }[] {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter(filter)
        .sort()
        .map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), "utf8") }));
}

export interface HostApt {
    sources: AptSource[];
    settings: { name: string; text: string }[];
}

export function readHostApt(root = "/etc/apt"): HostApt {
    const list = fs.existsSync(path.join(root, "sources.list")) ? [{ name: "sources.list", text: fs.readFileSync(path.join(root, "sources.list"), "utf8") }] : [];
    const sources = parseAptSources([...list, ...readDir(path.join(root, "sources.list.d"), (n) => n.endsWith(".sources") || n.endsWith(".list"))]);
    return { sources, settings: hostAptSettings(readDir(path.join(root, "apt.conf.d"), () => true)) };
}

/** Changes to any of these make a new root file system. */
export function rootfsKey(apt: HostApt, packages: string[] = ROOTFS_PACKAGES): string {
    const hash = crypto.createHash("sha256");
    hash.update(JSON.stringify({ suite: GUEST_SUITE, packages, apt, image: IMAGE_CLOUD_CFG, builder: 1 }));
    return hash.digest("hex").slice(0, 16);
}

export interface Rootfs {
    dir: string;
    built: boolean;
    seconds: number;
}

/**
 * The cached root file system, built first if absent (about a minute). `baked` adds packages
 * to the image itself, as an image built for the purpose would have them (the failover drill's
 * machines, which boot many times: cloud-init then finds them installed).
 */
export function ensureRootfs(log: (line: string) => void, baked: string[] = []): Rootfs {
    const apt = readHostApt();
    const packages = [...ROOTFS_PACKAGES, ...baked.filter((p) => !ROOTFS_PACKAGES.includes(p))];
    const key = rootfsKey(apt, packages);
    const flavour = baked.length > 0 ? "baked" : "cloud";
    const dir = path.join(BOOT_CACHE_DIR, `rootfs-${GUEST_SUITE}-${flavour}-${key}`);
    if (fs.existsSync(path.join(dir, ".iguana-ha-complete"))) return { dir, built: false, seconds: 0 };
    const started = Date.now();
    fs.mkdirSync(BOOT_CACHE_DIR, { recursive: true, mode: 0o755 });
    for (const old of fs
        .readdirSync(BOOT_CACHE_DIR)
        .filter((n) => n.startsWith("rootfs-") && n !== path.basename(dir) && (n.startsWith(`rootfs-${GUEST_SUITE}-${flavour}-`) || !/^rootfs-\w+-(cloud|baked)-/.test(n)))) {
        log(`boot-test: removing an outdated root file system ${old}`);
        fs.rmSync(path.join(BOOT_CACHE_DIR, old), { recursive: true, force: true });
    }
    const building = `${dir}.building`;
    fs.rmSync(building, { recursive: true, force: true });
    const main = apt.sources.find((s) => s.kind === "main")!;
    log(`boot-test: building the ${GUEST_SUITE} root file system with mmdebstrap (once; cached in ${BOOT_CACHE_DIR})`);
    const aptOptions = apt.settings.flatMap((s) =>
        s.text
            .split("\n")
            .map((l) => l.trim())
            .filter((l) => l.startsWith("Acquire::"))
            .flatMap((l) => ["--aptopt", l]),
    );
    run("mmdebstrap", ["--quiet", "--variant=apt", `--include=${packages.join(",")}`, ...aptOptions, GUEST_SUITE, building, main.uri]);
    const etc = path.join(building, "etc");
    fs.rmSync(path.join(etc, "apt", "sources.list"), { force: true });
    fs.mkdirSync(path.join(etc, "apt", "sources.list.d"), { recursive: true });
    fs.writeFileSync(path.join(etc, "apt", "sources.list.d", "debian.sources"), guestSources(apt.sources));
    for (const s of apt.settings) fs.writeFileSync(path.join(etc, "apt", "apt.conf.d", `60host-${s.name}`), s.text);
    fs.writeFileSync(path.join(etc, "cloud", "cloud.cfg.d", "90-iguana-ha-boot-test.cfg"), IMAGE_CLOUD_CFG);
    // Each machine gets its own machine id at its first boot (as a cloud image is prepared).
    fs.writeFileSync(path.join(etc, "machine-id"), "");
    fs.rmSync(path.join(building, "var", "lib", "dbus", "machine-id"), { force: true });
    // The ssh host keys are made by cloud-init at first boot, per machine, as on a cloud image.
    for (const f of fs.readdirSync(path.join(etc, "ssh")).filter((n) => n.startsWith("ssh_host_"))) fs.rmSync(path.join(etc, "ssh", f));
    fs.writeFileSync(path.join(building, ".iguana-ha-complete"), `${key}\n`);
    fs.renameSync(building, dir);
    return { dir, built: true, seconds: (Date.now() - started) / 1000 };
}
