/**
 * The lease guard (components/bootstrap/lease-guard.py), run by real python3 as two workers
 * against the stand-in lease store (DynamoDB, Blob; drill/lease-store.ts) and the stand-in
 * instance metadata, with the config the program renders (renderLeaseConfig). Each worker
 * reaches the store through its own port, so one can be cut off alone. The guard's notify is
 * replaced by a script that records the role as notify.sh does (the gate and Iguana need root:
 * the drill runs the real one); its health check reads a file the test flips.
 *
 * What is asserted is the timing rule of docs/lease.md, measured: never two workers active
 * (role MASTER and the guard's deadline ahead, what the role probe answers 200 on), sampled
 * every 10 ms; a takeover only after a whole lease of silence; the holder's active time ending
 * before that, by L/3; no failback; release, switchover and an unhealthy Iguana hand over fast;
 * a frozen holder never active again; a slow store rides out or nobody is active, as predicted.
 * Both clouds run side by side in each test. The slow store: lease-guard-slow-store.test.ts.
 */
import * as assert from "assert";
import { execFile } from "child_process";
import { promisify } from "util";
import { leaseTiming } from "../components/bootstrap";
import { GUARD, STORE_SILENT_SECONDS, concurrentTests, monotonicMs, onBothClouds, sleep, wk1Active } from "./lease-pair";

describe("the lease guard at a cold start (real python3, both clouds)", function () {
    this.timeout(60000);
    const L = 3;

    // Alone: with nine other pairs starting at once, WK1's guard was late by more than WK2's head start.
    it("cold start: WK1 is active even when WK2 starts first (WK2's head start); WK2 never is", async () => {
        await onBothClouds(
            async (pair) => {
                await wk1Active(pair);
                await sleep(2000);
                assert.strictEqual(pair.intervals.wk2.length, 0, "WK2 was never active");
                assert.strictEqual(pair.w("wk1").state(), "MASTER");
                assert.ok(!pair.w("wk1").notified().includes("MASTER takeover"), `a first start takes nothing over: ${pair.w("wk1").notified()}`);
            },
            L,
            // WK2 starts 1 s first; WK1 then has the rest of the head start to pass two health
            // checks 1 s apart and acquire. 3 s left it 2 s, which a loaded 2-core runner missed once.
            { wk2First: true, headStartSeconds: 6 },
        );
    });
});

describe("the lease guard against the stand-in lease store (real python3, both clouds)", function () {
    this.timeout(60000);
    const L = 3;
    const timing = leaseTiming(L);
    const it = concurrentTests();
    // The slowest first: the queue takes them in this order.
    it("a crashed holder: the peer takes over only after a whole lease of silence, and the holder's active time ended L/3 before that", async () => {
        await onBothClouds(async (pair) => {
            await wk1Active(pair);
            await sleep(1000);
            pair.w("wk1").signal("SIGKILL");
            const deadline = pair.w("wk1").deadlineMs();
            assert.ok(await pair.until(() => pair.w("wk2").active(), 8000), "WK2 active after the crash");
            const lastWk1 = pair.writesBy("wk1").slice(-1)[0];
            const acquired = pair.writesBy("wk2").find((w) => w.record.owner === "wk2")!;
            assert.ok(acquired.t - lastWk1.t >= L * 1000, `WK2 acquired ${Math.round(acquired.t - lastWk1.t)} ms after WK1's last write (>= ${L * 1000})`);
            assert.ok(
                acquired.t - deadline >= timing.marginSeconds * 1000 - 20,
                `WK1's deadline ${Math.round(acquired.t - deadline)} ms before the takeover (>= L/3 = ${timing.marginSeconds * 1000})`,
            );
            assert.ok(
                acquired.t - lastWk1.t <= (L + timing.renewEverySeconds + timing.callTimeoutSeconds) * 1000 + 500,
                `the takeover came ${Math.round(acquired.t - lastWk1.t)} ms after the last write`,
            );
            // What the notify script tells the cloud (events.ts): WK2 took over; WK1's first start did not.
            assert.ok(pair.w("wk2").notified().includes("MASTER takeover"), `WK2: ${pair.w("wk2").notified()}`);
            assert.ok(!pair.w("wk1").notified().includes("MASTER takeover"), `WK1: ${pair.w("wk1").notified()}`);
        });
    });

    it("a holder cut off from the store stops being active by its own deadline; the peer takes over; healed, it stays passive (no failback)", async () => {
        await onBothClouds(async (pair) => {
            await wk1Active(pair);
            await sleep(1000);
            assert.strictEqual(pair.w("wk1").reported().leaseStoreReachable, true, `WK1 reports the store reachable: ${JSON.stringify(pair.w("wk1").reported())}`);
            pair.w("wk1").cut = true;
            const cutAt = monotonicMs();
            assert.ok(await pair.until(() => !pair.w("wk1").active(), 3000), "WK1 stops being active");
            const inactiveAt = monotonicMs();
            assert.ok(inactiveAt - cutAt <= timing.activeForSeconds * 1000 + 200, `WK1 was active ${Math.round(inactiveAt - cutAt)} ms after the cut (<= L/2 + sampling)`);
            assert.ok(await pair.until(() => pair.w("wk1").state() === "BACKUP", 1000), `WK1's own fence ran: state ${pair.w("wk1").state()}`);
            // What publish-event.py tells the cloud (the lease-store alarm): the cut worker only.
            assert.ok(await pair.until(() => pair.w("wk1").reported().leaseStoreReachable === false, (STORE_SILENT_SECONDS + L) * 1000), "WK1 reports the store unreachable");
            assert.ok(await pair.until(() => pair.w("wk2").active(), 8000), "WK2 active");
            assert.strictEqual(pair.w("wk2").reported().leaseStoreReachable, true, "WK2 reports the store reachable");
            pair.w("wk1").cut = false;
            assert.ok(await pair.until(() => pair.w("wk1").reported().leaseStoreReachable === true, 3000), "healed, WK1 reports the store reachable again");
            await sleep(3 * L * 1000);
            assert.ok(pair.w("wk2").active(), "WK2 still active after the heal");
            assert.strictEqual(pair.w("wk1").state(), "BACKUP", "WK1 stays passive after the heal");
            assert.strictEqual(pair.intervals.wk1.length, 1, "WK1 was active only before the cut");
        });
    });

    it("a clean stop releases the lease: the peer is active within one read and one call", async () => {
        await onBothClouds(async (pair) => {
            await wk1Active(pair);
            await sleep(500);
            const stoppedAt = monotonicMs();
            pair.w("wk1").signal("SIGTERM");
            assert.ok(await pair.until(() => pair.w("wk2").active(), 5000), "WK2 active");
            const took = monotonicMs() - stoppedAt;
            assert.ok(took <= (timing.renewEverySeconds + timing.callTimeoutSeconds) * 1000 + 500, `WK2 active ${Math.round(took)} ms after the stop`);
            assert.ok(await pair.until(() => pair.w("wk1").state() === "STOP", 2000), `WK1 says STOP: ${pair.w("wk1").state()}`);
            // The lease was released (free), but WK2 had seen WK1 hold it: a takeover all the same.
            assert.ok(pair.w("wk2").notified().includes("MASTER takeover"), `WK2: ${pair.w("wk2").notified()}`);
        });
    });

    it("a planned switchover (the handover command) makes the peer active within 2 s, and the old holder does not take it back", async () => {
        await onBothClouds(async (pair) => {
            await wk1Active(pair);
            await sleep(500);
            const started = monotonicMs();
            // Not execFileSync: the store answers from this very process.
            const answer = (await promisify(execFile)("python3", [GUARD, pair.w("wk1").config, "handover"], { encoding: "utf8" })).stdout;
            assert.match(answer, /wk2 holds the lease/);
            assert.ok(await pair.until(() => pair.w("wk2").active(), 5000), `WK2 active (${Math.round(monotonicMs() - started)} ms after the command started)`);
            // The outage: from WK1's last active moment to WK2's first, as the pair's monitor saw
            // them; the command's own start-up (a python3 process) is not part of it.
            assert.ok(await pair.until(() => pair.intervals.wk2.length > 0, 1000), "the monitor saw WK2 active");
            const outage = pair.intervals.wk2[0].from - pair.intervals.wk1[0].to;
            assert.ok(pair.intervals.wk1.length === 1 && outage <= 2000, `switchover outage ${Math.round(outage)} ms (the command ran ${Math.round(monotonicMs() - started)} ms)`);
            await sleep(3 * L * 1000);
            assert.ok(pair.w("wk2").active() && !pair.w("wk1").active(), "WK2 keeps the lease");
        });
    });

    it("an unhealthy Iguana on the holder hands the lease over; a passive worker with an unhealthy Iguana never takes it", async () => {
        await onBothClouds(async (pair) => {
            await wk1Active(pair);
            assert.ok(await pair.until(() => pair.w("wk2").reported().iguanaHealthy === true, 3000), "the healthy standby reports Iguana healthy");
            pair.w("wk2").setHealthy(false);
            await sleep(3000);
            // What publish-event.py tells the cloud (the standby-lost alarm).
            assert.strictEqual(pair.w("wk2").reported().iguanaHealthy, false, "WK2 reports its Iguana unhealthy");
            assert.strictEqual(pair.w("wk1").reported().iguanaHealthy, true, "WK1 reports its Iguana healthy");
            pair.w("wk1").setHealthy(false);
            assert.ok(await pair.until(() => !pair.w("wk1").active(), 6000), "WK1 lets go");
            // The guard lets go first (the lease file: the probe turns 503), then reports, in the same fence: the
            // report may land a moment after the test sees the lease let go, never much later.
            assert.ok(await pair.until(() => pair.w("wk1").reported().iguanaHealthy === false, 1000), "WK1 reported its Iguana unhealthy within 1 s of letting go");
            await sleep(L * 1000 * 2);
            assert.ok(!pair.w("wk2").active(), "the unhealthy WK2 did not take it");
            pair.w("wk2").setHealthy(true);
            assert.ok(await pair.until(() => pair.w("wk2").active(), 8000), "WK2 active once healthy");
            assert.strictEqual(pair.w("wk2").reported().iguanaHealthy, true, "WK2 reports its Iguana healthy");
        });
    });

    it("a frozen holder (SIGSTOP past its deadline) is replaced, and once thawed is never active again", async () => {
        await onBothClouds(async (pair) => {
            await wk1Active(pair);
            await sleep(500);
            pair.w("wk1").signal("SIGSTOP");
            assert.ok(await pair.until(() => pair.w("wk2").active(), 8000), "WK2 active while WK1 is frozen");
            await sleep(1000);
            const intervalsBefore = pair.intervals.wk1.length;
            pair.w("wk1").signal("SIGCONT");
            assert.ok(await pair.until(() => pair.w("wk1").state() === "BACKUP", 3000), `the thawed WK1 fenced itself: ${pair.w("wk1").state()}`);
            await sleep(2000);
            assert.strictEqual(pair.intervals.wk1.length, intervalsBefore, "WK1 never active after the thaw");
            assert.ok(pair.w("wk2").active(), "WK2 stays active");
        });
    });

    it("a guard killed -9 and restarted takes its own lease back before the peer may (no failover)", async () => {
        await onBothClouds(async (pair) => {
            await wk1Active(pair);
            await sleep(500);
            pair.w("wk1").signal("SIGKILL");
            await sleep(1000);
            pair.w("wk1").start();
            assert.ok(await pair.until(() => pair.w("wk1").active(), 5000), "WK1 active again");
            await sleep(L * 1000);
            assert.strictEqual(pair.intervals.wk2.length, 0, "WK2 never active");
            assert.ok(!pair.w("wk1").notified().includes("MASTER takeover"), `taking its own lease back is no takeover: ${pair.w("wk1").notified()}`);
        });
    });
});
