// Property tests of the placement arithmetic against an independent BigInt reference written
// here from reference fuse-iomap-abi.md §3.3 (it never calls resolve), plus unroll
// equivalence, the compiled resolver, resolveRange, and the CXL controller decode.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompiledFileMap, resolve, resolveInto, resolveRange, unroll, type Extent, type FileMap, type MappingSlot } from '../../src/interleave/filemap.js';
import { fromController, toController } from '../../src/interleave/controller.js';
import type { Region } from '../../src/interleave/layout.js';
import { CXL_WAYS } from '../../src/interleave/layout-yaml.js';
import { counted, scaled } from '../support/scale.js';

interface RefMapping { daxdev: number; offset: bigint; length: bigint }

/** The kernel's walk in BigInt: simple extents, then interleaved extents of min(nbytes, size). */
function refResolve(map: FileMap, pos: number): RefMapping | 'eof' | 'past-extents' {
  const P = BigInt(pos);
  const S = BigInt(map.size);
  if (P >= S) return 'eof';
  const tail = S - P;
  const min = (...v: bigint[]): bigint => v.reduce((a, b) => (b < a ? b : a));
  let local = P;
  for (const e of map.extents) {
    if (e.type === 'simple') {
      const L = BigInt(e.length);
      if (local < L) return { daxdev: e.daxdev, offset: BigInt(e.offset) + local, length: min(L - local, tail) };
      local -= L;
      continue;
    }
    const ext = min(BigInt(e.nbytes), S);
    if (local < ext) {
      const C = BigInt(e.chunkSize);
      const N = BigInt(e.strips.length);
      const chunkNum = local / C;
      const chunkOffset = local % C;
      const strip = e.strips[Number(chunkNum % N)]!;
      const offset = BigInt(strip.offset) + (chunkNum / N) * C + chunkOffset;
      return { daxdev: strip.daxdev, offset, length: min(C - chunkOffset, ext - local, tail) };
    }
    local -= ext;
  }
  return 'past-extents';
}

function same(got: { daxdev: number; offset: number; length: number } | undefined, want: ReturnType<typeof refResolve>): boolean {
  if (want === 'eof') return got === undefined;
  if (want === 'past-extents' || got === undefined) return false;
  return got.daxdev === want.daxdev && BigInt(got.offset) === want.offset && BigInt(got.length) === want.length;
}

// Chunk sizes: powers of two and not (3, 5, 6, 7, 12 KiB, odd byte counts).
const chunkArb = fc.oneof(
  fc.integer({ min: 0, max: 24 }).map((k) => 2 ** k),
  fc.integer({ min: 1, max: 5000 }),
  fc.constantFrom(3 * 4096, 5 * 4096, 6 * 2 ** 20, 7 * 2 ** 20, 12 * 1024),
);

/** Offsets: small, 2 MiB aligned, or near 2^52 so the arithmetic runs at the top of the range. */
const offsetArb = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 30 }),
  fc.integer({ min: 0, max: 2 ** 20 }).map((k) => k * 2 ** 21),
  fc.integer({ min: 0, max: 2 ** 20 }).map((k) => 2 ** 52 + k * 4096),
);

function extentArb(maxChunks: number): fc.Arbitrary<Extent> {
  const simpleArb = fc.record({
    type: fc.constant('simple' as const),
    daxdev: fc.integer({ min: 0, max: 5 }),
    offset: offsetArb,
    length: fc.oneof(fc.integer({ min: 1, max: 2 ** 24 }), fc.integer({ min: 1, max: 64 }).map((k) => k * 2 ** 21)),
  });
  const interleaveArb = fc
    .record({
      chunkSize: chunkArb,
      nstrips: fc.integer({ min: 1, max: 7 }),
      nchunks: fc.integer({ min: 1, max: maxChunks }),
      partial: fc.integer({ min: 0, max: 2 ** 24 }),
      strips: fc.array(fc.record({ daxdev: fc.integer({ min: 0, max: 5 }), offset: offsetArb }), { minLength: 7, maxLength: 7 }),
    })
    .map(({ chunkSize, nstrips, nchunks, partial, strips }): Extent => {
      // nbytes need not be a chunk multiple: the last chunk may be partial.
      const nbytes = (nchunks - 1) * chunkSize + 1 + (partial % chunkSize);
      const perStrip = Math.ceil(nchunks / nstrips) * chunkSize;
      return { type: 'interleave', chunkSize, nbytes, strips: strips.slice(0, nstrips).map((s) => ({ ...s, length: perStrip })) };
    });
  return fc.oneof(simpleArb, interleaveArb);
}

function mapArb(maxChunks: number): fc.Arbitrary<FileMap> {
  return fc
    .record({ extents: fc.array(extentArb(maxChunks), { minLength: 1, maxLength: 5 }), cut: fc.double({ min: 0, max: 1, noNaN: true }), full: fc.boolean() })
    .map(({ extents, cut, full }) => {
      const cap = extents.reduce((n, e) => n + (e.type === 'simple' ? e.length : e.nbytes), 0);
      const size = full ? cap : Math.max(1, Math.floor(cap * cut));
      return { size, extents };
    });
}

/** Edge positions of a map: 0, chunk-1, chunk, chunk+1, every extent boundary +-1, size-1, size. */
function edges(map: FileMap): number[] {
  const out = new Set<number>([0, 1, map.size - 1, map.size, map.size + 1]);
  let at = 0;
  for (const e of map.extents) {
    const len = e.type === 'simple' ? e.length : Math.min(e.nbytes, map.size);
    for (const d of [-1, 0, 1]) out.add(at + d);
    if (e.type === 'interleave') {
      const c = e.chunkSize;
      for (const k of [1, e.strips.length, e.strips.length + 1]) for (const d of [-1, 0, 1]) out.add(at + k * c + d);
    }
    at += len;
  }
  return [...out].filter((p) => p >= 0 && Number.isSafeInteger(p));
}

/** xorshift128+ positions, deterministic per map. */
function randomPositions(seed: number, n: number, below: number): number[] {
  let s0 = BigInt(seed) | 1n;
  let s1 = 0x9e3779b97f4a7c15n;
  const mask = (1n << 64n) - 1n;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let x = s0;
    const y = s1;
    s0 = y;
    x = (x ^ (x << 23n)) & mask;
    s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    out.push(Number(((s1 + y) & mask) % BigInt(below)));
  }
  return out;
}

describe('resolve against the BigInt reference', () => {
  it(`agrees on >= ${counted(scaled(100_000))} (map, pos) cases, edges included`, () => {
    let cases = 0;
    let edgeCases = 0;
    const failures: string[] = [];
    const slot: MappingSlot = { daxdev: 0, offset: 0, length: 0 };
    fc.assert(
      fc.property(mapArb(4000), fc.integer({ min: 1, max: 2 ** 31 }), (map, seed) => {
        const compiled = new CompiledFileMap(map);
        const e = edges(map);
        edgeCases += e.length;
        for (const pos of [...e, ...randomPositions(seed, 40, map.size + 2)]) {
          cases++;
          const want = refResolve(map, pos);
          const got = resolve(map, pos);
          const gotC = compiled.resolve(pos);
          const into = resolveInto(map, pos, slot) ? { ...slot } : undefined;
          if (!same(got, want) || !same(gotC, want) || !same(into, want)) {
            failures.push(`${JSON.stringify(map)} pos ${pos}: resolve ${JSON.stringify(got)} compiled ${JSON.stringify(gotC)} reference ${String(JSON.stringify(want, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))}`);
          }
        }
        return failures.length === 0;
      }),
      { numRuns: scaled(2000, 20), seed: 0x5eed, endOnFailure: true },
    );
    expect(failures.slice(0, 3)).toEqual([]);
    expect(cases).toBeGreaterThanOrEqual(scaled(100_000));
    expect(edgeCases).toBeGreaterThan(scaled(20_000));
  });

  it('throws, like the kernel fails, only for pos inside the size but past the extents', () => {
    const map: FileMap = { size: 10, extents: [{ type: 'simple', daxdev: 0, offset: 0, length: 4 }] };
    expect(resolve(map, 3)).toEqual({ daxdev: 0, offset: 3, length: 1 });
    expect(() => resolve(map, 4)).toThrow(/past its extents/);
    expect(() => new CompiledFileMap(map).resolve(4)).toThrow(/past its extents/);
    expect(resolve(map, 10)).toBeUndefined();
    expect(() => resolve(map, -1)).toThrow(/not a non-negative integer/);
    expect(() => resolve(map, 2 ** 53)).toThrow(/below 2\^53/);
    expect(() => resolve(map, 1.5)).toThrow(/not a non-negative integer/);
  });
});

describe('unroll', () => {
  it('resolves identically to the map it came from, for every pos < size tried', () => {
    let cases = 0;
    fc.assert(
      fc.property(mapArb(300), fc.integer({ min: 1, max: 2 ** 31 }), (map, seed) => {
        const u = unroll(map);
        const cu = new CompiledFileMap(u);
        if (u.extents.some((e) => e.type !== 'simple')) return false;
        for (const pos of [...edges(map), ...randomPositions(seed, 30, map.size)]) {
          if (pos >= map.size) {
            if (resolve(u, pos) !== undefined) return false;
            continue;
          }
          cases++;
          const want = refResolve(map, pos);
          if (!same(resolve(u, pos), want) || !same(cu.resolve(pos), want)) return false;
        }
        return true;
      }),
      { numRuns: scaled(800, 20), seed: 0xfeed },
    );
    expect(cases).toBeGreaterThan(scaled(20_000));
  });

  it('a famfs-shaped striped file unrolls into uniform 2 MiB extents (the O(1) case)', () => {
    const MiB = 2 ** 20;
    const map: FileMap = { size: 63 * MiB, extents: [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: 64 * MiB, strips: [0, 1, 2, 3].map((i) => ({ daxdev: i % 2, offset: (100 + 16 * i) * MiB, length: 16 * MiB })) }] };
    const u = unroll(map);
    expect(u.extents).toHaveLength(32);
    expect(u.extents.every((e) => e.type === 'simple' && e.length === 2 * MiB && e.offset % (2 * MiB) === 0)).toBe(true);
  });
});

describe('resolveRange', () => {
  it('tiles [pos, min(pos+len, size)) with mappings that each agree with the reference', () => {
    fc.assert(
      fc.property(mapArb(50), fc.double({ min: 0, max: 1.1, noNaN: true }), fc.integer({ min: 0, max: 2 ** 26 }), (map, at, len) => {
        const pos = Math.floor(map.size * at);
        const ms = resolveRange(map, pos, len);
        let p = pos;
        for (const m of ms) {
          if (m.pos !== p || m.length <= 0) return false;
          const want = refResolve(map, p);
          if (want === 'eof' || want === 'past-extents' || m.daxdev !== want.daxdev || BigInt(m.offset) !== want.offset || BigInt(m.length) > want.length) return false;
          p += m.length;
        }
        return p === Math.max(pos, Math.min(pos + len, map.size));
      }),
      { numRuns: scaled(500, 20), seed: 0xabc },
    );
  });
});

describe('CXL controller decode', () => {
  it(`matches the modulo arithmetic and round-trips, ${counted(scaled(100_000))} offsets over every way count`, () => {
    let n = 0;
    const bad: string[] = [];
    for (const ways of CXL_WAYS) {
      for (let g = 8; g <= 14; g++) {
        const ig = 2 ** g;
        const span = ig * 4099; // granules per member, not a power of two
        const region: Region = { name: 'r', ways, granularity: ig, devices: Array.from({ length: ways }, (_, i) => `d${i}`), size: span * ways };
        const offs = [0, ig - 1, ig, ig * ways - 1, ig * ways, region.size - 1, ...randomPositions(ways * 100 + g, scaled(1780, 20), region.size)];
        for (const off of offs) {
          n++;
          const c = toController(region, off);
          const O = BigInt(off);
          const IG = BigInt(ig);
          const IW = BigInt(ways);
          const pos = Number((O / IG) % IW);
          const dpa = (O / (IG * IW)) * IG + (O % IG);
          if (c.position !== pos || BigInt(c.dpa) !== dpa || c.device !== `d${pos}` || c.dpa >= span) bad.push(`${ways}x${ig} @${off}: ${JSON.stringify(c)}`);
          if (fromController(region, c.position, c.dpa) !== off) bad.push(`${ways}x${ig} @${off}: inverse ${fromController(region, c.position, c.dpa)}`);
        }
        // And the other way: every (position, dpa) is some offset.
        for (const dpa of randomPositions(g * 7 + ways, 20, span)) {
          const p = dpa % ways;
          const back = toController(region, fromController(region, p, dpa));
          if (back.position !== p || back.dpa !== dpa) bad.push(`${ways}x${ig} (${p}, ${dpa}) -> ${JSON.stringify(back)}`);
        }
      }
    }
    expect(bad.slice(0, 3)).toEqual([]);
    expect(n).toBeGreaterThanOrEqual(scaled(100_000));
  });
});
