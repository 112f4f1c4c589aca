/**
 * The lease guard against a lease store that answers 2.5 s late (docs/lease.md, drill scenario
 * 10): with a short lease nobody is active while it lasts, with a long one the holder rides it
 * out, as ridesOutSlowStore predicts. In a file of its own so that mocha (--parallel) runs its
 * 24 s of waiting on the guards' clocks beside the rest of the suite.
 */
import * as assert from "assert";
import { leaseTiming } from "../components/bootstrap";
import { ridesOutSlowStore } from "../drill/scenario";
import { concurrentTests, monotonicMs, onBothClouds, sleep, wk1Active } from "./lease-pair";

describe("the lease guard against a slow lease store (real python3, both clouds)", function () {
    this.timeout(60000);
    const L = 3;
    const timing = leaseTiming(L);
    const it = concurrentTests();
    it(`a store answering 2.5 s late: with a ${L} s lease nobody is active while it lasts (ridesOutSlowStore says no), then one again`, async () => {
        assert.strictEqual(ridesOutSlowStore(L, 2500), false);
        await onBothClouds(async (pair) => {
            await wk1Active(pair);
            pair.store.delayMs = 2500;
            await sleep(timing.fencedBySeconds * 1000 + 3000);
            assert.ok(!pair.w("wk1").active() && !pair.w("wk2").active(), `nobody active (wk1 ${pair.w("wk1").state()}, wk2 ${pair.w("wk2").state()})`);
            pair.store.delayMs = 0;
            assert.ok(await pair.until(() => pair.w("wk1").active() || pair.w("wk2").active(), 10000), "one active again");
        });
    });

    it("a store answering 2.5 s late: with a 12 s lease the holder rides it out (ridesOutSlowStore says yes)", async () => {
        assert.strictEqual(ridesOutSlowStore(12, 2500), true);
        await onBothClouds(
            async (pair) => {
                await wk1Active(pair);
                pair.store.delayMs = 2500;
                const slowFrom = monotonicMs();
                await sleep(15000);
                assert.strictEqual(pair.intervals.wk1.length, 1, "WK1 active throughout");
                assert.ok(pair.intervals.wk1[0].from < slowFrom && pair.w("wk1").active(), "WK1 still active");
                assert.strictEqual(pair.intervals.wk2.length, 0, "WK2 never active");
                // A 12 s lease reads every 2 s: WK2's head start must outlast WK1's first health checks and one read.
            },
            12,
            { headStartSeconds: 8 },
        );
    });
});
