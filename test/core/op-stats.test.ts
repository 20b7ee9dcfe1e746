// Tier 1: per-opcode counts and latency (src/fuse/op-stats.ts, go-fuse's LatencyMap as the
// model), shared between threads through one SharedArrayBuffer; opcode and INIT flag names
// in --debug logs.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { OpStats, SLOT_FIELDS, TIME_EVERY } from '../../src/fuse/op-stats.js';
import { Dispatcher } from '../../src/fuse/dispatcher.js';
import { FuseError } from '../../src/fuse/filesystem.js';
import { InitFlag, initFlagNames, Op, opName } from '../../src/fuse/opcodes.js';
import { GetattrIn, InHeader, InitIn } from '../../src/fuse/structs.js';

const E = os.constants.errno;
const names = (op: number): string => opName(op);

describe('OpStats', () => {
  it('counts calls and errors and keeps mean and max per opcode', () => {
    const s = new OpStats();
    s.record(Op.GETATTR, s.start(Op.GETATTR) - 2, false); // started 2 ms ago
    s.record(Op.GETATTR, s.start(Op.GETATTR) - 4, true);
    s.record(Op.LOOKUP, s.start(Op.LOOKUP), false);
    s.record(4094, s.start(4094), false); // an extension opcode (IOMAP_BEGIN's number)
    s.record(99_999, s.start(99_999), false);
    const snap = s.snapshot((op) => (op === 4094 ? 'IOMAP_BEGIN' : names(op)));
    expect(Object.keys(snap).sort()).toEqual(['GETATTR', 'IOMAP_BEGIN', 'LOOKUP', 'OTHER']);
    // The main thread times every call.
    expect(snap.GETATTR).toMatchObject({ count: 2, errors: 1, timed: 2 });
    expect(snap.GETATTR!.maxUs).toBeGreaterThanOrEqual(4000);
    expect(snap.GETATTR!.meanUs).toBeGreaterThanOrEqual(3000);
    expect(snap.GETATTR!.meanUs).toBeLessThanOrEqual(snap.GETATTR!.maxUs);
    expect(s.report(names)[0]).toMatch(/^GETATTR\s+2 calls\s+1 errors\s+mean \d+(\.\d)? us\s+max \d+(\.\d)? us$/);
    expect(new OpStats().report(names)).toEqual(['no requests answered yet']);
    expect(s.calls()).toBe(5);
    expect(new OpStats().calls()).toBe(0);
  });

  it('a serving thread counts every call and times the first and then one in TIME_EVERY', () => {
    const main = new OpStats();
    const view = new OpStats(main.threadBuffer());
    expect(view.thread).toBe('serving');
    const n = 3 * TIME_EVERY + 1;
    let timedStarts = 0;
    for (let i = 0; i < n; i++) {
      const t = view.start(Op.READ);
      if (t >= 0) timedStarts++;
      view.record(Op.READ, t >= 0 ? t - 1 : t, i % 10 === 0); // every timed call took >= 1 ms
    }
    view.record(Op.WRITE, view.start(Op.WRITE), false); // another opcode's first call is timed
    const snap = main.snapshot(names);
    expect(timedStarts).toBe(4);
    expect(snap.READ).toMatchObject({ count: n, errors: 5, timed: 4 });
    expect(snap.READ!.meanUs).toBeGreaterThanOrEqual(1000);
    expect(snap.WRITE).toMatchObject({ count: 1, timed: 1 });
    expect(main.report(names).find((l) => l.startsWith('READ'))).toMatch(/\(4 timed\)$/);
    // The main thread's own calls are only the ones it recorded.
    expect(main.mainThreadCounts(names)).toEqual({});
  });

  it('adds up what other threads record in their own tables', async () => {
    const s = new OpStats();
    // Two workers add 1000 READs each through their own views, as serving threads do.
    const code = `
      const { workerData } = require('node:worker_threads');
      const a = new Float64Array(workerData);
      for (let i = 0; i < 1000; i++) { a[${Op.READ * SLOT_FIELDS}] += 1; a[${Op.READ * SLOT_FIELDS + 2}] += 1; a[${Op.READ * SLOT_FIELDS + 3}] += 1000; a[${Op.READ * SLOT_FIELDS + 4}] = 1000; }`;
    await Promise.all([s.threadBuffer(), s.threadBuffer()].map((b) => new Promise<void>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: b });
      w.once('error', reject);
      w.once('exit', () => resolve());
    })));
    for (let i = 0; i < 500; i++) s.record(Op.READ, s.start(Op.READ), false);
    const read = s.snapshot(names).READ!;
    expect(read).toMatchObject({ count: 2500, timed: 2500 });
    expect(read.meanUs).toBeGreaterThanOrEqual(800); // 2000 calls of 1000 us, 500 of next to nothing
    // The workers' max is 1000 us; one of the main thread's own 500 may take longer on a busy machine.
    expect(read.maxUs).toBeGreaterThanOrEqual(1000);
    // Only the 500 the main thread's view recorded are the main thread's.
    expect(s.mainThreadCounts(names)).toEqual({ READ: 500 });
  });
});

describe('the dispatcher counts and names what it answers', () => {
  function msg(opcode: number, unique: bigint, nodeid: number, ...parts: Buffer[]): Buffer {
    const len = 40 + parts.reduce((n, p) => n + p.length, 0);
    return Buffer.concat([InHeader.encode({ len, opcode, unique, nodeid: BigInt(nodeid) }), ...parts]);
  }

  it('records every reply, and --debug names opcodes, errnos and INIT flags', async () => {
    const stats = new OpStats();
    const logs: string[] = [];
    let n = 0;
    const d = new Dispatcher({
      getattr: () => {
        if (++n === 2) throw new FuseError(E.ENOENT);
        return { attr: { ino: 1, size: 0, mode: 0o40755 } };
      },
    }, { limits: { maxWrite: 1 << 20, maxPagesLimit: 256, pageSize: 4096, maxBackground: 64 }, stats, debug: true, log: (l) => logs.push(l) }, () => {});
    const flags = Number(InitFlag.INIT_EXT | InitFlag.MAX_PAGES | InitFlag.ASYNC_READ);
    d.dispatch(msg(Op.INIT, 2n, 0, InitIn.encode({ major: 7, minor: 45, flags, flags2: 1 << 11 })));
    for (let i = 0; i < 3; i++) await d.dispatch(msg(Op.GETATTR, BigInt(4 + 2 * i), 1, GetattrIn.encode({})));
    await d.dispatch(msg(Op.BMAP, 20n, 1));
    d.dispatch(msg(Op.FORGET, 21n, 1, Buffer.alloc(8)));
    const snap = stats.snapshot(d.opName);
    expect(snap.GETATTR).toMatchObject({ count: 3, errors: 1, timed: 3 });
    expect(snap.BMAP).toMatchObject({ count: 1, errors: 1 });
    // Requests with no reply and INIT are counted too: the main thread's counts are all of them.
    expect(snap.INIT).toMatchObject({ count: 1, errors: 0 });
    expect(snap.FORGET).toMatchObject({ count: 1, errors: 0 });
    expect(stats.mainThreadCounts(d.opName)).toEqual({ GETATTR: 3, FORGET: 1, INIT: 1, BMAP: 1 });
    expect(logs).toContain('rx 4: GETATTR n1 len 56');
    expect(logs.some((l) => l === 'tx 6: -2 ENOENT')).toBe(true);
    const offered = logs.find((l) => l.startsWith('INIT: kernel offers'))!;
    expect(offered).toContain('ASYNC_READ');
    expect(offered).toContain('MAX_PAGES');
    expect(offered).toContain('INIT_EXT');
    expect(offered).toContain('bit 43');
  });

  it('names INIT flags and opcodes outside the mainline tables by number', () => {
    expect(initFlagNames(InitFlag.ASYNC_READ | (1n << 44n))).toEqual(['ASYNC_READ', 'bit 44']);
    expect(initFlagNames(1n << 44n, { FUSE_IOMAP: 1n << 44n })).toEqual(['FUSE_IOMAP']);
    expect(opName(Op.READDIRPLUS)).toBe('READDIRPLUS');
    expect(opName(4094)).toBe('op 4094');
  });
});
