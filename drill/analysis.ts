/**
 * What a scenario's evidence says: the sender's ACKs against the workers' journals. Pure.
 *
 * - lost: acknowledged by some worker but in no journal. A stand-in ACKs only after its fsync,
 *   so anything here is a real loss (the claim of the project is that this stays 0).
 * - duplicates: journal entries beyond the first for the same control id, over both journals.
 *   Expected now and then: a message journaled whose ACK never reached the sender is resent.
 * - order violations: places in a journal where a message comes after one sent later.
 * - outage: the longest gap between two consecutive ACKs from the last ACK before the fault on.
 */

export interface Ack {
    /** MSH-10 of the message, echoed in MSA-2. */
    id: string;
    /** Worker that journaled it (the stand-in names itself in the ACK's MSH-3). */
    worker: string;
    /** Monotonic milliseconds. */
    t: number;
}

export type Journals = Record<string, string[]>;

/** The send order of a control id: its trailing number (`ADT-000042` -> 42). */
export function sequenceOf(id: string): number {
    const match = /(\d+)$/.exec(id);
    if (!match) throw new Error(`control id "${id}" has no sequence number`);
    return Number(match[1]);
}

export function lostMessages(acks: Ack[], journals: Journals): string[] {
    const journaled = new Set(Object.values(journals).flat());
    return [...new Set(acks.map((a) => a.id))].filter((id) => !journaled.has(id));
}

/** ACKs that name a worker whose journal lacks the id: the ACK did not come from a journal write. */
export function misattributedAcks(acks: Ack[], journals: Journals): Ack[] {
    const sets = Object.fromEntries(Object.entries(journals).map(([w, ids]) => [w, new Set(ids)]));
    return acks.filter((a) => !sets[a.worker]?.has(a.id));
}

export function duplicateCount(journals: Journals): number {
    const all = Object.values(journals).flat();
    return all.length - new Set(all).size;
}

export function orderViolations(journal: string[]): number {
    let violations = 0;
    for (let i = 1; i < journal.length; i++) {
        if (sequenceOf(journal[i]) < sequenceOf(journal[i - 1])) violations++;
    }
    return violations;
}

export interface Gap {
    ms: number;
    /** Time of the ACK before the gap (or of the fault when no ACK came before it). */
    from: number;
    /** Time of the ACK after the gap, or the end of the run when none came. */
    to: number;
}

/**
 * The longest silence between ACKs that starts at or after the last ACK before the fault.
 * When nothing was acknowledged after the fault, the silence runs to `endAt`.
 */
export function longestGap(ackTimes: number[], faultAt: number, endAt: number): Gap {
    const times = [...ackTimes].sort((a, b) => a - b);
    const before = times.filter((t) => t < faultAt);
    const start = before.length > 0 ? before[before.length - 1] : faultAt;
    const points = [start, ...times.filter((t) => t >= faultAt), endAt];
    let best: Gap = { ms: 0, from: start, to: start };
    for (let i = 1; i < points.length; i++) {
        const ms = points[i] - points[i - 1];
        if (ms > best.ms) best = { ms, from: points[i - 1], to: points[i] };
    }
    return best;
}

export interface Evidence {
    acks: Ack[];
    journals: Journals;
    faultAt: number;
    endAt: number;
    /** The worker expected to hold the feed at the end (its journal is checked for order). */
    activeWorker: string;
}

export interface Analysis {
    acked: number;
    lost: string[];
    misattributed: number;
    duplicates: number;
    /** Order violations in the active worker's journal. */
    orderViolations: number;
    /** Entries in each worker's journal. */
    journalEntries: Record<string, number>;
    outage: Gap;
    /** First ACK from each worker after the fault, in ms after the fault. */
    firstAckAfterFaultMs: Record<string, number | null>;
}

export function analyse(evidence: Evidence): Analysis {
    const { acks, journals, faultAt, endAt, activeWorker } = evidence;
    const firstAckAfterFaultMs: Record<string, number | null> = {};
    for (const worker of Object.keys(journals)) {
        const first = acks.filter((a) => a.worker === worker && a.t >= faultAt).sort((a, b) => a.t - b.t)[0];
        firstAckAfterFaultMs[worker] = first ? first.t - faultAt : null;
    }
    return {
        acked: new Set(acks.map((a) => a.id)).size,
        lost: lostMessages(acks, journals),
        misattributed: misattributedAcks(acks, journals).length,
        duplicates: duplicateCount(journals),
        orderViolations: orderViolations(journals[activeWorker] ?? []),
        journalEntries: Object.fromEntries(Object.entries(journals).map(([w, ids]) => [w, ids.length])),
        outage: longestGap(
            acks.map((a) => a.t),
            faultAt,
            endAt,
        ),
        firstAckAfterFaultMs,
    };
}
