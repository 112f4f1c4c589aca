/** "Did you mean …?" for a mistyped name. */

export function editDistance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let diagonal = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const above = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
            diagonal = above;
        }
    }
    return row[b.length];
}

/** The known name closest to `name`, if it is close enough to be a typo of it. */
export function closest(name: string, known: readonly string[]): string | undefined {
    const lower = name.toLowerCase();
    let best: { candidate: string; distance: number } | undefined;
    for (const candidate of known) {
        const distance = editDistance(lower, candidate.toLowerCase());
        if (!best || distance < best.distance) best = { candidate, distance };
    }
    if (!best) return undefined;
    return best.distance <= Math.max(2, Math.floor(best.candidate.length / 3)) ? best.candidate : undefined;
}
