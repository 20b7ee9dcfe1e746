import { describe, expect, it } from 'vitest';
import { resolve, type FileMap } from '../../src/interleave/filemap.js';
import {
  decodeFmap, encodeDaxdevOut, encodeFmap, FmapError, fmapReply, fmapRequestBuffer, fmapToFileMap, getFmapIn,
  type FmapEncoding,
} from '../../src/mapping/famfs-fmap.js';
import { checkDaxdevReply, checkFmapReply, famfsKernelResolve, KernelRejection, type KernelFmap } from '../support/kernel-rules.js';
import { ALLOC, MiB, randomFileMap, Rng, type MapShape } from '../support/kernel-player-maps.js';
import { counted, scaled } from '../support/scale.js';

/** What the kernel ends up with for `map` after GET_FMAP, following the retry rule. */
function kernelSide(map: FileMap, enc: FmapEncoding): KernelFmap {
  let buffer = 4096;
  let v = checkFmapReply(fmapReply(map, enc, buffer), { encoding: enc, buffer });
  if (v.kind === 'retry') {
    buffer = v.buffer;
    v = checkFmapReply(fmapReply(map, enc, buffer), { encoding: enc, buffer, retried: true });
  }
  if (v.kind !== 'map') throw new Error('second retry');
  return v.map;
}

/** Compare the kernel's re-derived address with resolve() at `pos` (plain checks: this runs 100k times). */
function agree(map: FileMap, k: KernelFmap, pos: number): void {
  const want = resolve(map, pos)!;
  const got = famfsKernelResolve(k, BigInt(pos));
  // The kernel clips at the extent or chunk; i_size does the rest.
  const len = got && (got.length < BigInt(map.size - pos) ? Number(got.length) : map.size - pos);
  if (!got || got.devindex !== want.daxdev || got.addr !== BigInt(want.offset) || len !== want.length) {
    throw new Error(`pos ${pos}: kernel ${JSON.stringify(got, (_, v) => (typeof v === 'bigint' ? Number(v) : v))} vs resolve ${JSON.stringify(want)} for ${JSON.stringify(map)}`);
  }
}

function positions(rng: Rng, map: FileMap): number[] {
  if (map.size === 0) return [];
  const out = [0, map.size - 1];
  for (let i = 0; i < 4; i++) out.push(rng.int(0, map.size - 1));
  return out;
}

const TiB = 2 ** 40;
const PROFILES: readonly { enc: FmapEncoding; shape: MapShape }[] = [
  { enc: 'v10', shape: { maxDaxdev: 0, famfs: true, maxLog2: 36, deviceBytes: 4 * TiB } },
  { enc: 'unrolled', shape: { maxDaxdev: 7, famfs: true, maxLog2: 31, deviceBytes: 4 * TiB } },
];

const FILES = scaled(10_000, 500);

describe.each(PROFILES)('GET_FMAP $enc', ({ enc, shape }) => {
  it(`famfs-shaped maps: ${counted(FILES)} random files encode, pass the kernel checks and resolve like resolve()`, () => {
    const rng = new Rng(0xf4a5 + enc.length);
    let encoded = 0;
    for (let c = 0; c < FILES; c++) {
      const map = randomFileMap(rng, shape);
      let k: KernelFmap;
      try {
        k = kernelSide(map, enc);
      } catch (e) {
        // V10's 4 KiB page cannot carry every 16-strip map; nothing else may refuse.
        if (e instanceof FmapError && e.reason === 'too-large' && enc === 'v10') continue;
        throw new Error(`case ${c}: ${(e as Error).message}\n${JSON.stringify(map)}`);
      }
      encoded++;
      for (const pos of positions(rng, map)) agree(map, k, pos);
      // Decoding the message gives back a map that places every byte the same way.
      const back = fmapToFileMap(decodeFmap(encodeFmap(map, { encoding: enc })));
      if (back.size !== map.size) throw new Error(`decoded size ${back.size}`);
      for (const pos of positions(rng, map)) {
        const a = resolve(back, pos)!, b = resolve(map, pos)!;
        if (a.daxdev !== b.daxdev || a.offset !== b.offset || a.length !== b.length) throw new Error(`decoded map differs at ${pos}`);
      }
    }
    expect(encoded).toBeGreaterThan(FILES * 0.9);
  });

  it(`model-shaped maps: ${counted(FILES)} random files are either refused with a reason or accepted and right`, () => {
    const rng = new Rng(0x5eed + enc.length);
    const refusals = new Map<string, number>();
    for (let c = 0; c < FILES; c++) {
      const map = randomFileMap(rng, { ...shape, famfs: false, maxDaxdev: 2 });
      let k: KernelFmap;
      try {
        k = kernelSide(map, enc);
      } catch (e) {
        if (!(e instanceof FmapError)) throw e;
        expect(e.message).toMatch(/^GET_FMAP /);
        refusals.set(e.reason, (refusals.get(e.reason) ?? 0) + 1);
        continue;
      }
      for (const pos of positions(rng, map)) agree(map, k, pos);
    }
    if (enc === 'v10') expect(refusals.get('daxdev')).toBeGreaterThan(0);
    expect([...refusals.values()].reduce((a, b) => a + b, 0)).toBeLessThan(FILES);
  });
});

describe('GET_FMAP limits and refusals', () => {
  const striped = (nstrips: number, chunk = ALLOC, daxdev = 0): FileMap => ({
    size: nstrips * chunk * 3,
    extents: [{ type: 'interleave', chunkSize: chunk, nbytes: nstrips * chunk * 3,
      strips: Array.from({ length: nstrips }, (_, i) => ({ daxdev, offset: (i + 1) * 64 * MiB, length: 3 * chunk })) }],
  });

  it('V10 refuses what the posted kernel rejects, naming the rule', () => {
    expect(() => encodeFmap(striped(4, ALLOC, 1), { encoding: 'v10' })).toThrow(/daxdev 1.*0 only/);
    expect(() => encodeFmap(striped(33), { encoding: 'v10' })).toThrow(/33 strips/);
    expect(() => encodeFmap(striped(2, 3 * MiB), { encoding: 'v10' })).toThrow(/chunk size/);
    const many: FileMap = { size: 33 * ALLOC, extents: Array.from({ length: 33 }, (_, i) => ({ type: 'simple' as const, daxdev: 0, offset: i * ALLOC, length: ALLOC })) };
    expect(() => encodeFmap(many, { encoding: 'v10' })).toThrow(/33 extents/);
    expect(() => encodeFmap({ size: 1, extents: [{ type: 'simple', daxdev: 0, offset: 4096, length: ALLOC }] }, { encoding: 'v10' })).toThrow(/aligned/);
    expect(() => encodeFmap({ size: 3 * ALLOC, extents: [{ type: 'simple', daxdev: 0, offset: 0, length: ALLOC }] }, { encoding: 'v10' })).toThrow(/less than the file size/);
    // 6 extents of 32 strips: 32 + 6 * (24 + 768) bytes > 4096.
    const big: FileMap = { size: 6 * 32 * ALLOC, extents: [0, 1, 2, 3, 4, 5].map(() => striped(32).extents[0]!).map((e) => ({ ...e, nbytes: 32 * ALLOC })) };
    const err = (() => { try { encodeFmap(big, { encoding: 'v10' }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(FmapError);
    expect((err as FmapError).reason).toBe('too-large');
    expect((err as FmapError).errno).toBe(27);
    // The same map unrolls into simple extents the dev tree takes.
    expect(() => encodeFmap(big, { encoding: 'unrolled' })).not.toThrow();
  });

  it('sends a mixed map to V10 with simple extents as one-strip interleaved extents', () => {
    const map: FileMap = { size: 10 * ALLOC, extents: [{ type: 'simple', daxdev: 0, offset: 100 * ALLOC, length: 4 * ALLOC }, striped(2).extents[0]!] };
    const d = decodeFmap(encodeFmap(map, { encoding: 'v10' }));
    expect(d.header.ext_type).toBe(1);
    expect(d.extents.map((e) => (e.kind === 'interleave' ? e.strips.length : 0))).toEqual([1, 2]);
  });

  it('the unrolled encoding sends the header alone when the buffer is small, then all of it once', () => {
    const map = striped(8);
    map.extents[0]!.type === 'interleave' && expect(map.size / ALLOC).toBe(24);
    const full = encodeFmap(map, { encoding: 'unrolled' });
    expect(full.byteLength).toBe(32 + 24 * 24);
    expect(full.readUInt32LE(12)).toBe(full.byteLength);
    const first = fmapReply(map, 'unrolled', 256);
    expect(first.byteLength).toBe(32);
    expect(checkFmapReply(first, { encoding: 'unrolled', buffer: 256 })).toEqual({ kind: 'retry', buffer: full.byteLength });
    expect(() => checkFmapReply(first, { encoding: 'unrolled', buffer: 256, retried: true })).toThrow(KernelRejection);
    const k = checkFmapReply(fmapReply(map, 'unrolled', full.byteLength), { encoding: 'unrolled', buffer: full.byteLength });
    expect(k.kind === 'map' && k.map.extShift).toBe(21n);
  });

  it('reads the request payload: none on V-series, fuse_getxattr_in on the dev tree', () => {
    expect(fmapRequestBuffer(Buffer.alloc(0))).toEqual({ buffer: 4096, payloadBytes: 0 });
    expect(fmapRequestBuffer(getFmapIn.encode({ size: 65536 }))).toEqual({ buffer: 65536, payloadBytes: 8 });
    expect(() => fmapRequestBuffer(Buffer.alloc(4))).toThrow(/0 or 8/);
  });

  it('the kernel rules catch broken messages', () => {
    const good = encodeFmap(striped(4), { encoding: 'v10' });
    const rule = (buf: Buffer, enc: FmapEncoding = 'v10') => {
      try { checkFmapReply(buf, { encoding: enc, buffer: 4096 }); } catch (e) { return (e as KernelRejection).rule; }
      return 'accepted';
    };
    expect(rule(good)).toBe('accepted');
    const devindex = Buffer.from(good); devindex.writeUInt32LE(1, 32 + 24); expect(rule(devindex)).toBe('devindex');
    const misaligned = Buffer.from(good); misaligned.writeBigUInt64LE(4096n, 32 + 24 + 8); expect(rule(misaligned)).toBe('alignment');
    const chunk = Buffer.from(good); chunk.writeUInt32LE(MiB, 32 + 4); expect(rule(chunk)).toBe('chunk');
    const short = Buffer.from(good); short.writeBigUInt64LE(1n << 40n, 16); expect(rule(short)).toBe('coverage');
    expect(rule(good.subarray(0, good.byteLength - 8))).toBe('truncated');
    const zero = Buffer.from(good); zero.writeUInt32LE(0, 8); expect(rule(zero)).toBe('nextents');
    expect(rule(good, 'unrolled')).toBe('fmap-size');
  });
});

describe('GET_DAXDEV', () => {
  it('is 280 bytes with the NUL-terminated path', () => {
    const out = encodeDaxdevOut(3, '/dev/dax0.0');
    expect(out.byteLength).toBe(280);
    expect(checkDaxdevReply(out, 3)).toEqual({ index: 3, path: '/dev/dax0.0' });
    expect(() => encodeDaxdevOut(0, 'x'.repeat(256))).toThrow(/1..255 bytes/);
    expect(() => checkDaxdevReply(out.subarray(0, 279), 3)).toThrow(/not 280/);
    const noNul = Buffer.from(out); noNul.fill(0x41, 24); expect(() => checkDaxdevReply(noNul, 3)).toThrow(/NUL/);
  });
});
