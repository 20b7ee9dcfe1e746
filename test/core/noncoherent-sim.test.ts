// famfs-ts's cache maintenance proven on the non-coherent memory simulator
// (test/support/noncoherent.ts, README "Caches on shared memory"): with the flushes and
// invalidates removed, the simulator catches a client replaying a torn or stale log entry,
// missing published files, or reading stale data; with them, thousands of seeded
// interleavings (with random evictions, prefetches and one host's operation run in the middle
// of the other's) never do. Also the simulator itself, and mkfs's superblock.
import { describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { ImageError } from '../../src/famfs/errors.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { NoncoherentMemory } from '../support/noncoherent.js';
import { MiB, runProtocol, SIM_DEVICE_SIZE, SIM_MASTER_UUID, simBaseImage, type ViolationKind } from '../support/sim-protocol.js';
import { scaled } from '../support/scale.js';

/** Seeds per regime with maintenance on (two regimes); SIM_RUNS=N runs more. */
const ON_RUNS = process.env.SIM_RUNS ? Number(process.env.SIM_RUNS) : scaled(1000, 50);
const OFF_RUNS = scaled(200, 20);
/** More evictions, prefetches and switches between hosts, and a smaller cache. */
const HARSH = { evictRate: 0.1, prefetchRate: 0.2, switchRate: 0.05, capacity: 32 } as const;

describe('the simulator', () => {
  it('keeps stores in the writer cache until flushed and serves stale lines until invalidated', () => {
    const mem = new NoncoherentMemory(4096, { seed: 1, evictRate: 0, prefetchRate: 0 });
    const a = mem.host('a', { maintenance: true });
    const b = mem.host('b', { maintenance: true });
    const got = Buffer.alloc(8);
    b.read(64, got); // b caches the line (zeros)
    a.write(60, Buffer.from('ABCDEFGH')); // spans two lines
    expect(a.dirtyLines).toBe(2);
    b.read(64, got);
    expect(got.toString('latin1')).toBe('\0'.repeat(8)); // not flushed
    a.flush(60, 8);
    b.read(64, got);
    expect(got.toString('latin1')).toBe('\0'.repeat(8)); // flushed, but b's line is stale
    b.invalidate(64, 8);
    b.read(60, got);
    expect(got.toString()).toBe('ABCDEFGH');
    expect(a.dirtyLines).toBe(0); // clwb keeps the line, clean
    a.maintenance = false; // the switch: flush and invalidate become no-ops
    a.write(0, Buffer.from('zz'));
    a.flush(0, 2);
    expect(a.dirtyLines).toBe(1);
    expect(() => a.slices(0, 1)).toThrow(/no direct views/);
  });

  it('writes evicted lines back at random times (seeded: the same seed, the same history)', () => {
    const history = (seed: number): string => {
      const mem = new NoncoherentMemory(64 * 1024, { seed, capacity: 16, evictRate: 0.2, prefetchRate: 0.2 });
      const a = mem.host('a', { maintenance: false });
      for (let i = 0; i < 200; i++) a.write((i * 192) % (64 * 1024 - 8), Buffer.from([i]));
      return JSON.stringify(a.counts) + Buffer.from(mem.snapshot()).toString('base64').length;
    };
    expect(history(5)).toBe(history(5));
    const mem = new NoncoherentMemory(64 * 1024, { seed: 9, capacity: 16, evictRate: 0.2 });
    const a = mem.host('a', { maintenance: false });
    for (let i = 0; i < 100; i++) a.write(i * 64, Buffer.from([1]));
    expect(a.counts.writebacks).toBeGreaterThan(80); // capacity 16: most lines went back
    expect(mem.snapshot().reduce((s, v) => s + v, 0)).toBe(a.counts.writebacks);
  });
});

describe('mkfs on one host, open on another', () => {
  function attempt(maintenance: boolean): string {
    const mem = new NoncoherentMemory(16 * MiB, { seed: 3, capacity: 64, evictRate: 0, prefetchRate: 0 });
    const master = mem.host('master', { maintenance });
    const client = mem.host('client', { maintenance });
    const uuid = new Uint8Array(16).fill(1);
    // The client looks first (no file system yet), so it holds the superblock line.
    expect(() => FamfsImage.open({ primary: client, systemUuid: new Uint8Array(16) })).toThrow(ImageError);
    mkfs(master, { devPath: '/dev/sim0', systemUuid: uuid, allowSmall: true });
    try {
      const img = FamfsImage.open({ primary: client, systemUuid: new Uint8Array(16) });
      return `${img.role} ${img.header.nextIndex}`;
    } catch (e) {
      return (e as Error).message;
    }
  }
  it('sees the new superblock and log only with flush (mkfs) and invalidate (open)', () => {
    expect(attempt(true)).toBe('client 0');
    expect(attempt(false)).toMatch(/no famfs superblock/);
  });
});

describe('master/client protocol on non-coherent memory', () => {
  it(`maintenance removed: the client is caught reading torn entries, a stale log and stale data (${OFF_RUNS} seeds)`, () => {
    const kinds = new Map<ViolationKind, number>();
    let caught = 0;
    for (let seed = 1; seed <= OFF_RUNS; seed++) {
      const r = runProtocol({ seed, maintenance: false });
      if (r.violations.length) caught++;
      for (const v of r.violations) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
    }
    console.log(`maintenance off: ${caught}/${OFF_RUNS} runs caught; by kind ${JSON.stringify(Object.fromEntries(kinds))}`);
    expect(caught).toBeGreaterThan(OFF_RUNS / 2);
    expect(kinds.get('stale-log') ?? 0).toBeGreaterThan(0);
    expect(kinds.get('stale-data') ?? 0).toBeGreaterThan(0);
    expect(kinds.get('torn-entry') ?? 0).toBeGreaterThan(0);
    // CRC and seqnum keep a torn entry out of the namespace even without maintenance.
    expect(kinds.get('phantom-file') ?? 0).toBe(0);
  });

  for (const [regime, params, first] of [['default', {}, 1], ['harsh', HARSH, 1_000_001]] as const) {
    it(`maintenance on: ${ON_RUNS} seeded interleavings (${regime} rates), no violation`, () => {
      let steps = 0;
      let nested = 0;
      let checks = 0;
      let entries = 0;
      let evictions = 0;
      for (let seed = first; seed < first + ON_RUNS; seed++) {
        const r = runProtocol({ seed, maintenance: true, ...params });
        if (r.violations.length) throw new Error(`seed ${seed}: ${JSON.stringify(r.violations)}`);
        steps += r.steps;
        nested += r.nested;
        checks += r.clientChecks;
        entries += r.entriesSeen;
        evictions += r.master.counts.evictions + r.client.counts.evictions;
      }
      console.log(`maintenance on, ${regime}: ${ON_RUNS} runs, ${steps} line accesses, ${evictions} evictions, ${nested} operations run inside the other host's, ${checks} client replays+checks, ${entries} entries replayed: no violation`);
      expect(nested).toBeGreaterThan(ON_RUNS);
    }, 300_000);
  }
});

describe('allocation sessions (found by the simulator runs)', () => {
  it('a file logged with a map placed elsewhere (the mount commits this way) is not handed out again by the next creat', () => {
    const mem = new NoncoherentMemory(SIM_DEVICE_SIZE, { seed: 1, base: simBaseImage(), evictRate: 0, prefetchRate: 0 });
    const img = FamfsImage.open({ primary: mem.host('master', { maintenance: true }), writable: true, systemUuid: SIM_MASTER_UUID });
    const a = img.creat('a', 4096);
    const x = a.map.extents[0]!;
    if (x.type !== 'simple') throw new Error('expected a simple extent');
    // The next free unit after a's, as another allocator (a mount's reservations) would pick it.
    const b = img.logFile('b', { size: 4096, extents: [{ type: 'simple', daxdev: 0, offset: x.offset + x.length, length: 2 * MiB }] });
    const c = img.creat('c', 4096);
    const bx = b.map.extents[0]!;
    const cx = c.map.extents[0]!;
    if (bx.type !== 'simple' || cx.type !== 'simple') throw new Error('expected simple extents');
    expect(cx.offset + cx.length <= bx.offset || bx.offset + bx.length <= cx.offset).toBe(true);
  });
});
