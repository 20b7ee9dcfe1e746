// Property tests: codecs round-trip, the allocator matches a naive model of famfs's first
// fit and never overlaps, and random creat/mkdir/cp sequences replay to the same namespace,
// maps and bytes with a clean fsck.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MappedDevice } from '../../src/device/memory.js';
import { Allocator, Bitmap, bucketOrder } from '../../src/famfs/alloc.js';
import { decodeEntry, encodeEntry, checkEntry, entryCrc, type NewEntry } from '../../src/famfs/log.js';
import { famfs_log_entry, famfs_log_entry_file_simple, famfs_log_file_meta_simple, famfs_log_fmap_simple } from '../../src/famfs/famfs-meta.js';
import { EntryType, EXT_SIMPLE, MAX_PATHLEN } from '../../src/famfs/constants.js';
import { FamfsImage } from '../../src/famfs/image.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { fsck } from '../../src/famfs/fsck.js';
import type { Extent, FileMap } from '../../src/interleave/filemap.js';
import { MiB, TempDir } from '../famfs-support.js';
import { counted, scaled } from '../support/scale.js';

const AU = 2 * MiB;
const sys = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

const pathArb = fc.array(fc.stringMatching(/^[a-z0-9_.-]{1,12}$/).filter((s) => s !== '.' && s !== '..'), { minLength: 1, maxLength: 4 }).map((p) => p.join('/')).filter((p) => Buffer.byteLength(p) <= 79);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const off = fc.integer({ min: 1, max: 2 ** 30 }).map((k) => k * AU);
const mapArb: fc.Arbitrary<FileMap> = fc.oneof(
  fc.array(fc.record({ daxdev: fc.integer({ min: 0, max: 3 }), offset: off, length: fc.integer({ min: 1, max: 64 }).map((k) => k * AU) }), { minLength: 1, maxLength: 16 })
    .chain((ex) => fc.integer({ min: 1, max: ex.reduce((a, e) => a + e.length, 0) }).map((size) => ({ size, extents: ex.map((e) => ({ type: 'simple' as const, ...e })) }))),
  fc.record({ n: fc.integer({ min: 1, max: 16 }), chunkLog: fc.integer({ min: 0, max: 6 }), stripes: fc.integer({ min: 1, max: 8 }), offs: fc.array(off, { minLength: 16, maxLength: 16 }), devs: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 16, maxLength: 16 }) })
    .chain(({ n, chunkLog, stripes, offs, devs }) => {
      const chunk = AU * 2 ** chunkLog;
      const len = stripes * chunk;
      return fc.integer({ min: 1, max: n * len }).map((size): FileMap => ({
        size, extents: [{ type: 'interleave', chunkSize: chunk, nbytes: size, strips: offs.slice(0, n).map((o, k) => ({ daxdev: devs[k]!, offset: o, length: len })) }],
      }));
    }),
);

describe('log entry codec', () => {
  it(`encode -> decode is the identity, CRC valid, for files, dirs and daxdevs (${counted(scaled(5000, 100))} cases)`, () => {
    const entryArb: fc.Arbitrary<NewEntry> = fc.oneof(
      fc.record({ path: pathArb, uid: u32, gid: u32, mode: fc.integer({ min: 0, max: 0o7777 }), flags: u32, map: mapArb }).map((r) => ({ type: 'file' as const, ...r, size: r.map.size })),
      fc.record({ path: pathArb, uid: u32, gid: u32, mode: fc.integer({ min: 0, max: 0o7777 }) }).map((r) => ({ type: 'mkdir' as const, ...r })),
      fc.record({ index: fc.integer({ min: 1, max: 1000 }), size: fc.integer({ min: 0, max: 2 ** 50 }), uuid: fc.uint8Array({ minLength: 16, maxLength: 16 }) }).map((r) => ({ type: 'add-daxdev' as const, ...r })),
    );
    fc.assert(fc.property(entryArb, fc.integer({ min: 0, max: 100000 }), (e, seq) => {
      const b = encodeEntry(e, seq);
      expect(checkEntry(b, seq)).toBeUndefined();
      const d = decodeEntry(b, seq);
      // Plain JSON compare: far cheaper than a deep-equality matcher at these counts.
      const plain = (x: unknown) => JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v));
      if (plain(d) !== plain({ ...e, seqnum: seq })) expect(d).toEqual({ ...e, seqnum: seq });
      // One flipped bit anywhere in the CRC-covered bytes is caught.
      const k = seq % 536;
      b[k]! ^= 1 << (seq % 8);
      expect(checkEntry(b, seq)).toBeDefined();
    }), { numRuns: scaled(5000, 100) });
  });
});

describe('log entry codec: the direct path for simple-extent FILE entries', () => {
  it('writes the bytes the struct tables write and reads them back (2k cases)', () => {
    const simpleArb = fc.record({ path: pathArb, uid: u32, gid: u32, mode: fc.integer({ min: 0, max: 0o7777 }), flags: u32, map: mapArb })
      .filter((r) => r.map.extents[0]!.type === 'simple');
    fc.assert(fc.property(simpleArb, fc.integer({ min: 0, max: 2 ** 40 }), (r, seq) => {
      const e = { type: 'file' as const, ...r, size: r.map.size };
      const want = Buffer.alloc(famfs_log_entry.size);
      const rel = new Uint8Array(MAX_PATHLEN);
      rel.set(Buffer.from(e.path));
      famfs_log_entry_file_simple.encodeInto(want, {
        famfs_log_entry_seqnum: seq, famfs_log_entry_type: EntryType.File,
        famfs_fm: {
          fm_size: e.size, fm_flags: e.flags, fm_uid: e.uid, fm_gid: e.gid, fm_mode: e.mode, fm_relpath: rel,
          fm_fmap: {
            fmap_ext_type: EXT_SIMPLE, fmap_nextents: e.map.extents.length,
            se: e.map.extents.map((x) => (x.type === 'simple' ? { se_devindex: BigInt(x.daxdev), se_offset: BigInt(x.offset), se_len: BigInt(x.length) } : { se_devindex: 0n, se_offset: 0n, se_len: 0n })),
          },
        },
      });
      famfs_log_entry.encodeInto(want, { famfs_log_entry_crc: entryCrc(want) });
      const b = encodeEntry(e, seq);
      expect(b.equals(want)).toBe(true);
      expect(decodeEntry(b, seq)).toEqual({ ...e, seqnum: seq });
    }), { numRuns: 2000 });
  });

  it('leaves what it cannot read exactly to the generic decoder (an extent offset past 2^53)', () => {
    const b = encodeEntry({ type: 'file', path: 'f', size: AU, flags: 2, uid: 0, gid: 0, mode: 0o644, map: { size: AU, extents: [{ type: 'simple', daxdev: 0, offset: AU, length: AU }] } }, 3);
    const seAt = famfs_log_entry_file_simple.offsetOf('famfs_fm') + famfs_log_file_meta_simple.offsetOf('fm_fmap') + famfs_log_fmap_simple.offsetOf('se');
    b.writeBigUInt64LE(2n ** 60n, seAt + 8);
    expect(() => decodeEntry(b, 3)).toThrow(/past 2\^53/);
  });
});

/** famfs's bitmap_alloc_contiguous written the obvious way, for comparison. */
function naiveFirstFit(used: boolean[], need: number, start: number): number {
  for (let i = start; i + need <= used.length; i++) {
    let ok = true;
    for (let j = i; j < i + need; j++) if (used[j]) { ok = false; break; }
    if (ok) {
      for (let j = i; j < i + need; j++) used[j] = true;
      return i;
    }
  }
  return -1;
}

describe('allocator', () => {
  it(`contiguous allocation is famfs first fit from cur_pos (${counted(scaled(5000, 100))} sequences)`, () => {
    fc.assert(fc.property(fc.integer({ min: 8, max: 200 }), fc.array(fc.integer({ min: 0, max: 199 }), { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 40 * AU }), { maxLength: 30 }), (nbits, pre, sizes) => {
      const bm = new Bitmap(nbits);
      const used = new Array<boolean>(nbits).fill(false);
      for (const k of pre) if (k < nbits) { bm.set(k); used[k] = true; }
      const a = new Allocator(new Map([[0, bm]]), new Map([[0, nbits * AU]]));
      let cur = 0;
      for (const s of sizes) {
        const need = Math.ceil(s / AU);
        const want = naiveFirstFit(used, need, cur);
        let got: number;
        try {
          const ex = a.allocContiguous(s)[0] as Extent & { type: 'simple' };
          got = ex.offset / AU;
          expect(ex.length).toBe(need * AU);
        } catch {
          got = -1;
        }
        expect(got).toBe(want);
        if (want >= 0) cur = want + need;
      }
    }), { numRuns: scaled(5000, 100) });
  });

  it(`strided allocation: strips inside distinct buckets, no overlaps, famfs sizes (${counted(scaled(2000, 100))} cases)`, () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 64 * MiB }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (nbuckets, extra, size, seed) => {
      const nstrips = Math.max(1, nbuckets - extra);
      const devSize = 512 * MiB;
      const bm = Bitmap.forDevice(devSize);
      bm.mark(0, 10 * MiB);
      const a = new Allocator(new Map([[0, bm]]), new Map([[0, devSize]]));
      const p = { nbuckets, nstrips, chunkSize: AU };
      let map: FileMap;
      try {
        map = a.alloc(size, { interleave: p, seed, relaxBuckets: true });
      } catch {
        return; // out of space in this small device is allowed; nothing may be half-allocated
      }
      const e = map.extents[0]!;
      if (size < AU) { expect(e.type).toBe('simple'); return; }
      expect(e.type).toBe('interleave');
      if (e.type !== 'interleave') return;
      const bucketAu = Math.floor(devSize / AU / nbuckets);
      const stripAu = Math.ceil(Math.ceil(size / AU) / nstrips);
      expect(e.strips).toHaveLength(nstrips);
      const order = bucketOrder(nbuckets, seed);
      const buckets = e.strips.map((s) => Math.floor(s.offset / AU / bucketAu));
      expect(new Set(buckets).size).toBe(nstrips);
      // Strips are recorded in the shuffled bucket visit order.
      const idx = buckets.map((b) => order.indexOf(b));
      expect([...idx].sort((x, y) => x - y)).toEqual(idx);
      for (const s of e.strips) {
        expect(s.length).toBe(stripAu * AU);
        const b = Math.floor(s.offset / AU / bucketAu);
        expect(s.offset / AU + stripAu).toBeLessThanOrEqual((b + 1) * bucketAu);
      }
    }), { numRuns: scaled(2000, 100) });
  });
});

type Op =
  | { op: 'mkdir'; parent: number; name: string }
  | { op: 'creat'; parent: number; name: string; size: number; seed: number; striped: boolean };

describe('random creat/mkdir/cp sequences on an emulated device', () => {
  const t = new TempDir();
  let dev: string;
  beforeAll(() => {
    dev = t.file('dev', 256 * MiB);
  });
  afterAll(() => t.cleanup());

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('mkdir' as const), parent: fc.nat(), name: fc.stringMatching(/^[a-z]{1,6}$/) }),
    fc.record({ op: fc.constant('creat' as const), parent: fc.nat(), name: fc.stringMatching(/^[a-z]{1,6}\.[a-z]{1,3}$/), size: fc.integer({ min: 1, max: 5 * MiB }), seed: fc.integer({ min: 1, max: 1000 }), striped: fc.boolean() }),
  );

  it('replay gives the same namespace, maps and bytes; fsck is clean', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 20 }), (ops) => {
      const mem = MappedDevice.open(dev);
      try {
        mkfs(mem, { devPath: dev, systemUuid: sys, force: true, allowSmall: true });
      } finally {
        mem.close();
      }
      const dirs = [''];
      const files = new Map<string, { map: FileMap; data: Buffer }>();
      const img = FamfsImage.open({ device: dev, writable: true, systemUuid: sys });
      try {
        for (const o of ops) {
          const parent = dirs[o.parent % dirs.length]!;
          const p = parent ? `${parent}/${o.name}` : o.name;
          if (img.lookup(p) || Buffer.byteLength(p) > 79) continue;
          if (o.op === 'mkdir') {
            img.mkdir(p);
            dirs.push(p);
          } else {
            let f;
            try {
              f = img.creat(p, o.size, o.striped ? { interleave: { nbuckets: 4, nstrips: 3, chunkSize: AU }, seed: o.seed, relaxBuckets: true } : {});
            } catch (e) {
              expect((e as Error).message).toMatch(/Out of space/);
              continue;
            }
            const data = Buffer.alloc(o.size);
            for (let i = 0; i < data.length; i += 4096) data[i] = (o.seed + i) & 0xff;
            expect(img.write(f, 0, data)).toBe(o.size);
            files.set(p, { map: f.map, data });
          }
        }
      } finally {
        img.close();
      }
      const re = FamfsImage.open({ device: dev, systemUuid: sys });
      try {
        const seen = [...re.namespace.walk()].map((n) => n.path).sort();
        expect(seen).toEqual([...dirs.slice(1), ...files.keys()].sort());
        for (const [p, f] of files) {
          const n = re.file(p);
          expect(n.map).toEqual(f.map);
          const back = Buffer.alloc(f.data.length);
          expect(re.read(n, 0, back)).toBe(f.data.length);
          expect(back.equals(f.data)).toBe(true);
        }
        const r = fsck({ sb: re.sb, header: re.header, scan: re.scan, role: re.role });
        expect(r.exitCode).toBe(0);
        expect(re.scan.bad).toEqual([]);
      } finally {
        re.close();
      }
    }), { numRuns: scaled(15, 1) });
  });
});
