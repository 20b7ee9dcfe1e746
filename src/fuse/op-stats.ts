// Per-opcode counts and latency, after go-fuse's LatencyMap (fuse-engines.md §4): every
// request a dispatcher handles (FORGET, INIT and DESTROY included) adds one call and whether
// it failed to its opcode's slot, and its time when the request is one of those timed. Read
// on demand: the session prints it on SIGUSR1, the file system can expose it (famfs-ts's
// `user.famfs.status`), and the server logs the main thread's counts at unmount.
//
// Cost on the serving threads' 4 KiB path is the point of this layout (issue 16): every
// thread writes its own table (a SharedArrayBuffer of plain doubles) and nothing else, so
// a request costs a few ordinary stores, no Atomics and no BigInt; the main thread sums the
// tables when asked. Those reads race the writers: a snapshot may see a call counted whose
// time is not yet added, never a torn number (an aligned 8-byte store or load is one
// instruction on the 64-bit targets Node runs on). Reading the clock twice costs more than
// the rest of the request's accounting, so a serving thread times the first call of each
// opcode and then one in TIME_EVERY; the main thread (metadata, where a request costs tens
// of µs) times every call. `timed` says how many calls the mean and max are taken over.

/** Mainline opcodes (< 128) and the extension range below CUSE_INIT (4000..4126) get a slot each. */
const SLOTS = 256;
const OTHER = SLOTS - 1;
/** Float64 fields per opcode slot: calls, errors, timed calls, total µs of those, max µs of those. */
export const SLOT_FIELDS = 5;
const FIELDS = SLOT_FIELDS;
const COUNT = 0;
const ERRORS = 1;
const TIMED = 2;
const TOTAL_US = 3;
const MAX_US = 4;
/** A serving thread times one call in this many of each opcode (a power of two). */
export const TIME_EVERY = 16;

function slotOf(opcode: number): number {
  if (opcode >= 0 && opcode < 128) return opcode;
  if (opcode >= 4000 && opcode < 4000 + 127) return 128 + opcode - 4000;
  return OTHER;
}

function opcodeOf(slot: number): number | undefined {
  if (slot < 128) return slot;
  return slot === OTHER ? undefined : 4000 + slot - 128;
}

function newTable(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * FIELDS * 8);
}

export interface OpStat {
  readonly count: number;
  readonly errors: number;
  /** Of `count`, the calls that were timed: meanUs and maxUs are theirs. */
  readonly timed: number;
  readonly meanUs: number;
  readonly maxUs: number;
}

/** `start` for a call that is not timed. */
const UNTIMED = -1;

export class OpStats {
  /** This thread's table: only this thread writes it. */
  readonly buffer: SharedArrayBuffer;
  private readonly a: Float64Array;
  /** Calls seen per slot on this thread, for choosing which to time (this thread's memory only). */
  private readonly ticks = new Uint32Array(SLOTS);
  private readonly mask: number;
  /** On the main thread: every thread's table, its own first. */
  private readonly tables: Float64Array[];

  /**
   * The main thread's table (no argument), or a serving thread's view of the table the main
   * thread made for it with threadBuffer(). `thread` says whose calls this view records.
   */
  constructor(buffer?: SharedArrayBuffer, readonly thread: 'main' | 'serving' = buffer ? 'serving' : 'main') {
    this.buffer = buffer ?? newTable();
    this.a = new Float64Array(this.buffer);
    this.tables = [this.a];
    this.mask = thread === 'main' ? 0 : TIME_EVERY - 1;
  }

  /**
   * A table for one more serving thread, added into this one's snapshots from now on: each
   * thread needs its own (its writes are plain stores, which two writers would lose).
   */
  threadBuffer(): SharedArrayBuffer {
    const b = newTable();
    this.tables.push(new Float64Array(b));
    return b;
  }

  /** Call at the start of a request of `opcode`; pass what it returns to record(). */
  start(opcode: number): number {
    const s = slotOf(opcode);
    return (this.ticks[s]++ & this.mask) === 0 ? performance.now() : UNTIMED;
  }

  /** One handled request of `opcode`; `started` is what start() returned for it. */
  record(opcode: number, started: number, failed: boolean): void {
    const a = this.a;
    const at = slotOf(opcode) * FIELDS;
    a[at + COUNT]! += 1;
    if (failed) a[at + ERRORS]! += 1;
    if (started === UNTIMED) return;
    const us = (performance.now() - started) * 1000;
    a[at + TIMED]! += 1;
    a[at + TOTAL_US]! += us;
    if (us > a[at + MAX_US]!) a[at + MAX_US] = us;
  }

  /** Requests this thread's table has recorded, all opcodes. */
  calls(): number {
    let n = 0;
    for (let at = COUNT; at < this.a.length; at += FIELDS) n += this.a[at]!;
    return n;
  }

  /** Every opcode seen so far on every thread, by name (`nameOf` names an opcode; unknown ones are OTHER). */
  snapshot(nameOf: (opcode: number) => string): Record<string, OpStat> {
    const out: Record<string, OpStat> = {};
    for (let s = 0; s < SLOTS; s++) {
      const at = s * FIELDS;
      let count = 0, errors = 0, timed = 0, total = 0, max = 0;
      for (const t of this.tables) {
        count += t[at + COUNT]!;
        errors += t[at + ERRORS]!;
        timed += t[at + TIMED]!;
        total += t[at + TOTAL_US]!;
        max = Math.max(max, t[at + MAX_US]!);
      }
      if (count === 0) continue;
      const op = opcodeOf(s);
      out[op === undefined ? 'OTHER' : nameOf(op)] = {
        count,
        errors,
        timed,
        meanUs: timed ? Math.min(Math.round(total / timed * 10) / 10, Math.round(max * 10) / 10) : 0,
        maxUs: Math.round(max * 10) / 10,
      };
    }
    return out;
  }

  /** Calls this view's own thread handled (on the main thread: the main thread's), by opcode name in opcode order. */
  mainThreadCounts(nameOf: (opcode: number) => string): Record<string, number> {
    const out: Record<string, number> = {};
    for (let s = 0; s < SLOTS; s++) {
      const n = this.a[s * FIELDS + COUNT]!;
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
    return rows.map(([name, s]) => `${name.padEnd(16)} ${String(s.count).padStart(9)} calls ${String(s.errors).padStart(7)} errors  mean ${s.meanUs} us  max ${s.maxUs} us` +
      (s.timed < s.count ? `  (${s.timed} timed)` : ''));
  }
}
