// How much of a property test's full run this run does. `npm test` runs every property and
// seed loop at its full count; `npm run test:fast` sets FAMFS_TS_TEST_SCALE (0 < s <= 1) so the
// pure core answers in seconds. The assertions stay the same: only the number of random cases
// shrinks, and thresholds that count cases shrink with them through the same function.

function scaleFromEnv(): number {
  const raw = process.env['FAMFS_TS_TEST_SCALE'];
  if (raw === undefined || raw === '') return 1;
  const s = Number(raw);
  if (!(s > 0 && s <= 1)) throw new Error(`FAMFS_TS_TEST_SCALE=${raw}: expected a number in (0, 1]`);
  return s;
}

/** The share of the full run: 1 unless FAMFS_TS_TEST_SCALE says less. */
export const TEST_SCALE = scaleFromEnv();

/** `full` cases scaled by TEST_SCALE, never below `least` (a run still meets every outcome). */
export function scaled(full: number, least = 1): number {
  return Math.max(Math.min(least, full), Math.round(full * TEST_SCALE));
}

/** A count for a test's name, e.g. "100,000" or "5,000". */
export function counted(n: number): string {
  return n.toLocaleString('en-US');
}
