/**
 * The stand-in cloud API as a process of its own, started by the drill inside a scenario's lb
 * namespace (`ip netns exec <lb> node ... cloud-api-server.ts CONFIG`): it listens on the
 * bridge, so both worker namespaces reach it and it tells them apart by source address, and it
 * ends with the namespace. When a change takes effect it moves the VIP between the namespaces
 * (drill/floating.ts) and records who holds it.
 *
 * usage: cloud-api-server.ts CONFIG.json   (a CloudApiServerConfig)
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { FakeCloudApi } from "./cloud-api";
import { CloudApiServerConfig, DRILL_AWS_CREDENTIALS, DRILL_AZURE_STORAGE_TOKEN, DRILL_LEASE, WorkerName, drillCloudIdentity, vipPlacementCommands, workerAt } from "./floating";
import { FakeLeaseStore, steerFromFiles } from "./lease-store";

/** How long a stopped machine reads as "stopping" before "stopped" (EC2 and Azure take seconds to tens of seconds; emulated). */
const PEER_STOP_DELAY_MS = 2000;

/** The same clock as sender.ts's monotonicMs (CLOCK_MONOTONIC), without loading the HL7 library. */
const monotonicMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

function writeAtomically(file: string, text: string): void {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
}

async function main(): Promise<void> {
    const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8")) as CloudApiServerConfig;
    const ns = { sender: config.senderNs, wk1: config.workers[0].ns, wk2: config.workers[1].ns };
    const api: FakeCloudApi = new FakeCloudApi({
        cloud: config.cloud,
        ...drillCloudIdentity(config.region),
        workers: config.workers.map(({ name, instanceId, nicId, vmId }) => ({ name, instanceId, nicId, vmId })),
        identify: (remote) => workerAt(config.workers, remote),
        moveDelayMs: config.moveDelayMs,
        stopDelayMs: PEER_STOP_DELAY_MS,
        // Shared mode's peer fence: the machine stops at once, as after StopInstances with
        // SkipOsShutdown or powerOff with skipShutdown: every process in its namespace dies.
        onStop: (worker) => {
            const target = config.workers.find((w) => w.name === worker);
            if (!target) return;
            const pids = execFileSync("ip", ["netns", "pids", target.ns], { encoding: "utf8" }).split(/\s+/).filter(Boolean).map(Number);
            for (const pid of pids) {
                try {
                    process.kill(pid, "SIGKILL");
                } catch {
                    /* gone */
                }
            }
            fs.appendFileSync(config.files.fences, `${JSON.stringify({ t: monotonicMs(), worker, killed: pids.length })}\n`);
            console.log(`cloud-api: stopped ${worker} (${pids.length} processes killed)`);
        },
        onMove: (holder) => {
            // Recorded when the cloud applies the change (what DescribeAddresses / the Public IP now
            // say), before the addresses are moved here, which takes this process a while under load.
            const t = monotonicMs();
            writeAtomically(config.files.holder, `${holder ?? "none"}\n`);
            fs.appendFileSync(config.files.moves, `${JSON.stringify({ t, holder: holder ?? "none" })}\n`);
            for (const c of vipPlacementCommands(ns, config.addresses, config.iface, holder as WorkerName | undefined)) {
                try {
                    execFileSync("ip", c.args, { stdio: ["ignore", "ignore", "pipe"] });
                } catch (e) {
                    if (!c.allowFail) console.error(`cloud-api: ip ${c.args.join(" ")} failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim()}`);
                }
            }
            console.log(`cloud-api: the VIP is now on ${holder ?? "no worker"}`);
        },
    });
    await api.listen(config.host, config.port);
    const lease = new FakeLeaseStore({
        cloud: config.cloud,
        aws: { region: config.region, tableName: DRILL_LEASE.aws.tableName, credentials: DRILL_AWS_CREDENTIALS },
        azure: { accountName: DRILL_LEASE.azure.accountName, container: DRILL_LEASE.azure.container, accessToken: DRILL_AZURE_STORAGE_TOKEN },
        identify: (remote) => workerAt(config.workers, remote),
    });
    const leaseServer = http.createServer(lease.requestListener);
    await new Promise<void>((resolve) => leaseServer.listen(config.lease.port, config.lease.host, resolve));
    // The drill changes the store's faults at run time through a file; its writes go to another.
    const dumpLease = steerFromFiles(lease, { faults: config.files.leaseFaults, writes: config.files.leaseWrites, calls: config.files.leaseCalls }, (line) =>
        console.log(`cloud-api: ${line}`),
    );
    setInterval(dumpLease, 200).unref();
    writeAtomically(config.files.holder, "none\n");
    let dumped = -1;
    const dump = () => {
        if (api.calls.length === dumped) return;
        dumped = api.calls.length;
        writeAtomically(config.files.calls, JSON.stringify(api.calls));
    };
    setInterval(dump, 500).unref();
    const stop = () => {
        dump();
        dumpLease();
        process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    fs.writeFileSync(config.files.ready, `${process.pid}\n`);
    console.log(`cloud-api: ${config.cloud} stand-in on http://${config.host}:${config.port}, each change takes ${config.moveDelayMs} ms`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
