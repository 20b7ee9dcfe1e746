// Per-opcode counts and latency, after go-fuse's LatencyMap (fuse-engines.md §4): every
// request a dispatcher handles (FORGET, INIT and DESTROY included) adds one call, its time and
// whether it failed to its opcode's slot. The table lives in a SharedArrayBuffer so serving
// threads add to the same numbers as the main thread, without messages; a slot also counts
// the calls the main thread handled, which tells which path a file's bytes took (a mapping
// kernel sends the main thread no READ or WRITE). Read on demand: the session prints it on
// SIGUSR1, the file system can expose it (famfs-ts's `user.famfs.status`), and the server logs
// the main thread's counts at unmount.

/** Mainline opcodes (< 128) and the extension range below CUSE_INIT (4000..4126) get a slot each. */
const SLOTS = 256;
const OTHER = SLOTS - 1;
/** BigInt64 fields per opcode slot: count, errors, total ns, max ns, count on the main thread. */
export const SLOT_FIELDS = 5;
const FIELDS = SLOT_FIELDS;
const MAIN = 4;

function slotOf(opcode: number): number {
  if (opcode >= 0 && opcode < 128) return opcode;
  if (opcode >= 4000 && opcode < 4000 + 127) return 128 + opcode - 4000;
  return OTHER;
}

function opcodeOf(slot: number): number | undefined {
  if (slot < 128) return slot;
  return slot === OTHER ? undefined : 4000 + slot - 128;
}

export interface OpStat {
  readonly count: number;
  readonly errors: number;
  readonly meanUs: number;
  readonly maxUs: number;
}

export class OpStats {
  readonly buffer: SharedArrayBuffer;
  private readonly a: BigInt64Array;

  /**
   * A new table, or a view of one another thread made (its `buffer`). `thread` says whose
   * calls this view records: the main thread made the table, serving threads get views.
   */
  constructor(buffer?: SharedArrayBuffer, readonly thread: 'main' | 'serving' = buffer ? 'serving' : 'main') {
    this.buffer = buffer ?? new SharedArrayBuffer(SLOTS * FIELDS * 8);
    this.a = new BigInt64Array(this.buffer);
  }

  /** Monotonic nanoseconds, the unit `record` takes. */
  static now(): bigint {
    return process.hrtime.bigint();
  }

  /** One handled request of `opcode` that started at `startNs` (OpStats.now()). */
  record(opcode: number, startNs: bigint, failed: boolean): void {
    const ns = OpStats.now() - startNs;
    const at = slotOf(opcode) * FIELDS;
    Atomics.add(this.a, at, 1n);
    if (this.thread === 'main') Atomics.add(this.a, at + MAIN, 1n);
    if (failed) Atomics.add(this.a, at + 1, 1n);
    Atomics.add(this.a, at + 2, ns);
    for (let max = Atomics.load(this.a, at + 3); ns > max;) {
      const seen = Atomics.compareExchange(this.a, at + 3, max, ns);
      if (seen === max) break;
      max = seen;
    }
  }

  /** Every opcode seen so far, by name (`nameOf` names an opcode; unknown ones are OTHER). */
  snapshot(nameOf: (opcode: number) => string): Record<string, OpStat> {
    const out: Record<string, OpStat> = {};
    for (let s = 0; s < SLOTS; s++) {
      const at = s * FIELDS;
      const count = Number(Atomics.load(this.a, at));
      if (count === 0) continue;
      const op = opcodeOf(s);
      out[op === undefined ? 'OTHER' : nameOf(op)] = {
        count,
        errors: Number(Atomics.load(this.a, at + 1)),
        meanUs: Math.round(Number(Atomics.load(this.a, at + 2)) / count / 100) / 10,
        maxUs: Math.round(Number(Atomics.load(this.a, at + 3)) / 100) / 10,
      };
    }
    return out;
  }

  /** Calls the main thread handled, by opcode name in opcode order (`nameOf` as for snapshot). */
  mainThreadCounts(nameOf: (opcode: number) => string): Record<string, number> {
    const out: Record<string, number> = {};
    for (let s = 0; s < SLOTS; s++) {
      const n = Number(Atomics.load(this.a, s * FIELDS + MAIN));
      if (n === 0) continue;
      const op = opcodeOf(s);
      const name = op === undefined ? 'OTHER' : nameOf(op);
      out[name] = (out[name] ?? 0) + n;
    }
    return out;
  }

  /** The table as log lines, the opcodes with the most total time first. */
  report(nameOf: (opcode: number) => string): string[] {
    const rows = Object.entries(this.snapshot(nameOf)).sort(([, x], [, y]) => y.count * y.meanUs - x.count * x.meanUs);
    if (rows.length === 0) return ['no requests answered yet'];
    return rows.map(([name, s]) => `${name.padEnd(16)} ${String(s.count).padStart(9)} calls ${String(s.errors).padStart(7)} errors  mean ${s.meanUs} us  max ${s.maxUs} us`);
  }
}
