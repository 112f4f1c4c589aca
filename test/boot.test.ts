/**
 * The boot test's pure parts: what it reads from the host's apt, the guest's sources, the lab's
 * addresses, the seed it writes, and how it reads cloud-init's verdict. The boot itself runs in
 * `npm run boot-test` (root, systemd-nspawn; `.ci/run` runs it).
 */
import * as assert from "assert";
import { dataDiskPath, withOverrides } from "../boot/cluster";
import { cloudInitVerdict } from "../boot/checks";
import { BOOT_CASES, UsageError, parseBootArgs } from "../boot/index";
import { HOST_RULE_COMMENT, labAddressing, leftoverHostRules } from "../boot/lab";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { Machine, metaData, networkConfig } from "../boot/machine";
import { isRoot, requireTools, skipBecause } from "./tools";
import { archiveHosts, guestSources, hostAptSettings, parseAptSources } from "../boot/rootfs";
import { runStack } from "./helpers";
import { workerBootstraps } from "../offline/worker-bootstrap";
import { listStacks } from "../offline/stack-config";

const DEB822 = `Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Enabled: no
Types: deb
URIs: http://off.example/debian
Suites: bookworm
`;

describe("boot test: host apt and guest sources", () => {
    it("reads the archive and security URIs from deb822 and one-line sources, skipping deb-src and disabled stanzas", () => {
        const sources = parseAptSources([
            { name: "debian.sources", text: DEB822 },
            { name: "sources.list", text: "# comment\ndeb [arch=amd64] http://other.example/debian/ bookworm main\n" },
        ]);
        assert.deepStrictEqual(sources, [
            { uri: "http://mirror.example/debian", kind: "main" },
            { uri: "http://mirror.example/debian-security", kind: "security" },
            { uri: "http://other.example/debian", kind: "main" },
        ]);
        assert.deepStrictEqual(archiveHosts(sources), ["mirror.example", "other.example"]);
    });

    it("refuses a host with no Debian archive, naming where it looked", () => {
        assert.throws(() => parseAptSources([{ name: "x.sources", text: "Types: deb-src\nURIs: http://a/\nSuites: s\n" }]), /no Debian archive in this host's apt sources/);
    });

    it("points the guest at the host's URIs for its own suite", () => {
        const text = guestSources(parseAptSources([{ name: "debian.sources", text: DEB822 }]), "trixie");
        assert.match(text, /URIs: http:\/\/mirror\.example\/debian\nSuites: trixie trixie-updates\n/);
        assert.match(text, /URIs: http:\/\/mirror\.example\/debian-security\nSuites: trixie-security\n/);
        assert.doesNotMatch(text, /bookworm/);
    });

    it("copies only the apt settings that say how to reach the archive", () => {
        const kept = hostAptSettings([
            { name: "99proxy", text: 'Acquire::Check-Valid-Until "false";\n' },
            { name: "01autoremove", text: 'APT { NeverAutoRemove { "^linux"; }; };\n' },
        ]);
        assert.deepStrictEqual(
            kept.map((k) => k.name),
            ["99proxy"],
        );
    });
});

describe("boot test: the lab and the seed", () => {
    it("puts each worker subnet's gateway (the first host) on the bridge, once per subnet", () => {
        const two = labAddressing(["10.40.128.0/18", "10.40.192.0/18"], 3);
        assert.deepStrictEqual(two.gateways, [
            { cidr: "10.40.128.1/18", address: "10.40.128.1" },
            { cidr: "10.40.192.1/18", address: "10.40.192.1" },
        ]);
        assert.strictEqual(two.services, "10.40.128.1");
        assert.deepStrictEqual(two.uplink, { host: "10.253.3.1", lab: "10.253.3.2", bits: 30 });
        assert.strictEqual(labAddressing(["10.0.1.0/24", "10.0.1.0/24"], 1).gateways.length, 1);
    });

    it("gives the machine its planned address and the subnet's gateway in the NoCloud network config", () => {
        const text = networkConfig({ address: "10.40.128.10", prefixBits: 18, gateway: "10.40.128.1" }, "eth0");
        assert.match(text, /match: \{name: "eth0"\}/);
        assert.match(text, /addresses: \[10\.40\.128\.10\/18\]/);
        assert.match(text, /routes: \[\{to: default, via: 10\.40\.128\.1\}\]/);
        assert.strictEqual(metaData({ instanceId: "i-1", name: "wk1" }), "instance-id: i-1\nlocal-hostname: wk1\n");
    });

    it("finds each shipped stack's data disk under the name the cloud gives it, in the rendered user data", async () => {
        for (const stack of listStacks()) {
            const run = await runStack(stack);
            for (const boot of workerBootstraps(run.mocks.resources)) {
                const disk = dataDiskPath(boot.cloudInit);
                const want = run.outputs.cloud === "aws" ? /^\/dev\/disk\/by-id\/nvme-Amazon_Elastic_Block_Store_/ : /^\/dev\/disk\/azure\/scsi1\/lun\d+$/;
                assert.match(disk ?? "", want, `${stack} ${boot.resource}`);
            }
        }
    });

    it("merges a case's overrides into the stack's own objects, as config set --path would", () => {
        const merged = withOverrides({ "iguana-ha:iguana": '{"edition":"iguanax","webPort":7654}', "iguana-ha:cloud": "aws" }, { iguana: { edition: "iguana6" } });
        assert.deepStrictEqual(JSON.parse(merged["iguana-ha:iguana"]), { edition: "iguana6", webPort: 7654 });
        assert.strictEqual(merged["iguana-ha:cloud"], "aws");
    });

    it("finds only other runs' host rules by their comment, with arguments iptables -D takes", () => {
        const save = [
            '-A FORWARD -i igbab1h -d 203.0.113.80/32 -m comment --comment "iguana-ha-boot-test ab1" -j ACCEPT',
            '-A FORWARD -i igbzz9h -j DROP -m comment --comment "iguana-ha-boot-test zz9"',
            "-A FORWARD -i docker0 -j ACCEPT",
        ].join("\n");
        const rules = leftoverHostRules(save, "filter", (id) => id === "zz9");
        assert.deepStrictEqual(rules, [
            ["-t", "filter", "-D", "FORWARD", "-i", "igbab1h", "-d", "203.0.113.80/32", "-m", "comment", "--comment", `${HOST_RULE_COMMENT} ab1`, "-j", "ACCEPT"],
        ]);
    });
});

describe("boot test: a new machine", () => {
    it("starts from the image alone, whatever an earlier machine left in its directory", function () {
        requireTools(this, "mount", "umount", "mountpoint");
        if (!isRoot()) skipBecause(this, "needs root: an overlay mount", { ciProvides: true });
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "boot-machine-"));
        const image = path.join(root, "image");
        fs.mkdirSync(path.join(image, "etc/cloud/cloud.cfg.d"), { recursive: true });
        fs.writeFileSync(path.join(image, "etc/hosts"), "127.0.0.1 localhost\n");
        const dir = path.join(root, "wk1");
        // What the machine before left: its own cloud-init instance and a unit it enabled.
        fs.mkdirSync(path.join(dir, "upper/var/lib/cloud/instances/i-earlier"), { recursive: true });
        fs.writeFileSync(path.join(dir, "upper/etc-leftover"), "from the machine before\n");
        const machine = new Machine({
            name: "wk1",
            dir,
            rootfs: image,
            netns: "none",
            userData: "#cloud-config\n",
            instanceId: "i-new",
            address: "10.0.0.10",
            prefixBits: 24,
            gateway: "10.0.0.1",
            hosts: [],
            binds: [],
        });
        try {
            machine.prepare();
            assert.ok(!fs.existsSync(path.join(dir, "merged", "var/lib/cloud/instances/i-earlier")), "cloud-init starts with no instance of the earlier machine");
            assert.ok(fs.existsSync(path.join(dir, "merged", "var/lib/cloud/seed/nocloud/user-data")), "the new machine's seed is there");
            assert.ok(!fs.existsSync(path.join(dir, "merged", "etc-leftover")), "nothing of the earlier machine is on the new one's disk");
            assert.throws(() => machine.prepare(), /still mounted: the machine that was there before was not torn down/);
        } finally {
            execFileSync("umount", [path.join(dir, "merged")]);
            fs.rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("boot test: verdicts and arguments", () => {
    it("reads cloud-init's status, errors and recoverable errors", () => {
        const verdict = cloudInitVerdict(JSON.stringify({ status: "done", errors: [], recoverable_errors: { WARNING: ["Failed generating key type rsa"] } }));
        assert.deepStrictEqual(verdict, { status: "done", errors: [], warnings: ["WARNING: Failed generating key type rsa"] });
        assert.strictEqual(cloudInitVerdict(JSON.stringify({ status: "error", errors: ["scripts_user"] })).status, "error");
    });

    it("runs every case by default and refuses an unknown one, listing the cases", () => {
        assert.strictEqual(parseBootArgs([]).cases.length, BOOT_CASES.length);
        assert.deepStrictEqual(
            parseBootArgs(["--case", "azure-dev"]).cases.map((c) => c.label),
            ["azure-dev"],
        );
        assert.throws(
            () => parseBootArgs(["--case", "nope"]),
            (e: Error) => e instanceof UsageError && /no case "nope"; the cases are "aws-dev"/.test(e.message),
        );
        assert.throws(() => parseBootArgs(["--cold-starts", "-1"]), /--cold-starts must be a whole number >= 0/);
    });

    it("boots every shipped stack", () => {
        assert.deepStrictEqual([...new Set(BOOT_CASES.map((c) => c.stack))].sort(), listStacks());
    });
});
