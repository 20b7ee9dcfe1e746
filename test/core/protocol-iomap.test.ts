import { describe, expect, it } from 'vitest';
import { resolve, type FileMap } from '../../src/interleave/filemap.js';
import {
  decodeIomapIo, IOMAP_FLAGS_RFC2025, IOMAP_FLAGS_V7, IOMAP_NULL_ADDR, IOMAP_OP, IOMAP_TYPE, iomapBeginReply,
  iomapBeginOut, iomapConfigOut, iomapConfigReply, iomapInvalMappingsOut, iomapIo, IomapError, iomapUpsertMappingsOut, invalPayload,
  upsertPayloads, type IomapGeometry,
} from '../../src/mapping/iomap-wire.js';
import { checkIomapBegin, iomapAddress, KernelRejection, type IomapRules } from '../support/kernel-rules.js';
import { ALLOC, MiB, randomFileMap, Rng } from '../support/kernel-player-maps.js';
import { counted, scaled } from '../support/scale.js';

const TiB = 2 ** 40;
const BLOCKS = [512, 1024, 4096, 65536, ALLOC];
const geometry = (blockSize: number): IomapGeometry => ({ blockSize, maxBytes: 2 ** 53 - 1, cookie: (d) => d + 1 });
const rules = (g: IomapGeometry): IomapRules => ({ blockSize: g.blockSize, maxBytes: g.maxBytes, flags: IOMAP_FLAGS_V7 });

const CASES = scaled(10_000, 500);

describe('FUSE_IOMAP_BEGIN replies from resolve()', () => {
  it(`${counted(CASES)} random files and positions: every reply passes fuse-iomap-abi.md §1.4 and re-derives resolve()`, () => {
    const rng = new Rng(0x10a9);
    let mapped = 0, holes = 0, refusedWrites = 0;
    for (let c = 0; c < CASES; c++) {
      const map = randomFileMap(rng, { maxDaxdev: 15, famfs: c % 2 === 0, maxLog2: 40, deviceBytes: 64 * TiB });
      const g = geometry(rng.pick(BLOCKS));
      const pos = rng.next() < 0.1 ? map.size + rng.int(0, 3 * g.blockSize) : rng.int(0, Math.max(0, map.size - 1));
      const opflags = rng.pick([0, IOMAP_OP.WRITE, IOMAP_OP.DAX | IOMAP_OP.FAULT, IOMAP_OP.WRITE | IOMAP_OP.DIRECT, IOMAP_OP.REPORT]);
      let reply: Buffer;
      try {
        reply = iomapBeginReply(map, pos, opflags, g);
      } catch (e) {
        if (e instanceof IomapError && e.errno === 27 && opflags & IOMAP_OP.WRITE && pos >= map.size) { refusedWrites++; continue; }
        throw new Error(`case ${c} pos ${pos}: ${(e as Error).message}`);
      }
      const v = checkIomapBegin(reply, BigInt(pos), rules(g));
      if (v.write.type !== IOMAP_TYPE.PURE_OVERWRITE || v.write.offset !== v.read.offset || v.write.length !== v.read.length) {
        throw new Error(`case ${c}: write slot is not the pure-overwrite copy of the read slot`);
      }
      const start = pos - (pos % g.blockSize);
      if (start >= map.size) {
        if (v.read.type !== IOMAP_TYPE.HOLE) throw new Error(`case ${c}: past EOF but type ${v.read.type}`);
        holes++;
        continue;
      }
      // Inside the file, or in the block holding EOF: mapped like the block's first byte.
      const first = resolve(map, start)!;
      const want = pos < map.size ? resolve(map, pos)! : { daxdev: first.daxdev, offset: first.offset + (pos - start), length: map.size - pos };
      const got = iomapAddress(v.read, BigInt(pos));
      // The mapping runs to resolve()'s end rounded up to a block, never further.
      const end = Math.max(Math.ceil((pos + want.length) / g.blockSize) * g.blockSize, start + g.blockSize);
      if (got.dev !== want.daxdev + 1 || got.addr !== BigInt(want.offset) || got.contiguous !== BigInt(end - pos)) {
        throw new Error(`case ${c} pos ${pos}: got dev ${got.dev} addr ${got.addr} +${got.contiguous}, want ${JSON.stringify(want)} end ${end}`);
      }
      mapped++;
    }
    expect(mapped).toBeGreaterThan(CASES * 0.8);
    expect(holes).toBeGreaterThan(CASES / 100);
    expect(refusedWrites).toBeGreaterThan(CASES / 200);
  });

  it('a FIEMAP-style walk (IOMAP_REPORT from 0, next at offset + length) reaches maxbytes in one step past EOF', () => {
    const rng = new Rng(0xf1e);
    for (let c = 0; c < 200; c++) {
      const map = randomFileMap(rng, { maxDaxdev: 3, famfs: true, maxLog2: 28, deviceBytes: TiB });
      const g = geometry(rng.pick(BLOCKS));
      let pos = 0n;
      let steps = 0;
      while (pos < BigInt(g.maxBytes) - BigInt(g.blockSize)) {
        const v = checkIomapBegin(iomapBeginReply(map, Number(pos), IOMAP_OP.REPORT, g), pos, rules(g));
        pos = v.read.offset + v.read.length;
        if (++steps > 10_000) throw new Error(`walk of a ${map.size}-byte file did not end`);
      }
      // Every mapping of the file, then one hole.
      expect(steps).toBeLessThanOrEqual(Math.ceil(map.size / g.blockSize) + 1);
    }
  });

  it('UPSERT payloads cover the whole file with valid, contiguous mappings', () => {
    const rng = new Rng(77);
    for (let c = 0; c < 500; c++) {
      const map = randomFileMap(rng, { maxDaxdev: 3, famfs: true, maxLog2: 28, deviceBytes: TiB });
      const g = geometry(rng.pick(BLOCKS));
      let next = 0n;
      for (const p of upsertPayloads(map, 9n, 1234n, g)) {
        const u = iomapUpsertMappingsOut.decode(p);
        expect([u.nodeid, u.attr_ino]).toEqual([9n, 1234n]);
        const v = checkIomapBegin(iomapBeginOut.encode({ read: u.read, write: u.write }), next, rules(g));
        expect(v.read.offset).toBe(next);
        next = v.read.offset + v.read.length;
      }
      expect(next).toBe(BigInt(Math.ceil(map.size / g.blockSize) * g.blockSize));
    }
  });

  it('INVAL and CONFIG payloads', () => {
    const inval = iomapInvalMappingsOut.decode(invalPayload(5n, 6n));
    expect(inval.nodeid).toBe(5n);
    expect(inval.read).toEqual({ offset: 0n, length: 2n ** 64n - 1n });
    expect(inval.write).toEqual(inval.read);
    const cfg = iomapConfigOut.decode(iomapConfigReply({ blockSize: 4096, maxBytes: 2 ** 50, uuid: new Uint8Array(16).fill(7), id: 'famfs-ts' }));
    expect(cfg.s_blocksize).toBe(4096);
    expect(cfg.s_uuid_len).toBe(16);
    expect(cfg.s_id).toBe('famfs-ts');
    expect(cfg.flags).toBe(0b100111n);
  });

  it('refuses what cannot be mapped, with the reason', () => {
    const map: FileMap = { size: 4 * MiB, extents: [{ type: 'simple', daxdev: 0, offset: 4096 + 512, length: 4 * MiB }] };
    expect(() => iomapBeginReply(map, 0, 0, geometry(4096))).toThrow(/not aligned to the 4096-byte block/);
    const aligned: FileMap = { size: 4 * MiB, extents: [{ type: 'simple', daxdev: 0, offset: 0, length: 4 * MiB }] };
    expect(() => iomapBeginReply(aligned, 0, 0, { ...geometry(4096), cookie: () => undefined })).toThrow(/no iomap device cookie/);
    expect(() => iomapBeginReply(map, 4 * MiB, IOMAP_OP.WRITE, geometry(512))).toThrow(/sized before the first write/);
    expect(() => iomapBeginReply(map, 0, 0, geometry(3000))).toThrow(/power of two/);
  });
});

describe('the kernel validation rules of fuse-iomap-abi.md §1.4', () => {
  const map: FileMap = { size: 8 * MiB, extents: [{ type: 'simple', daxdev: 2, offset: 64 * MiB, length: 8 * MiB }] };
  const g = geometry(4096);
  const good = iomapBeginReply(map, 5000, 0, g);
  const rule = (mutate: (read: Buffer, write: Buffer) => void, pos = 5000n, r: IomapRules = rules(g)) => {
    const b = Buffer.from(good);
    mutate(b.subarray(0, 32), b.subarray(32, 64));
    try {
      checkIomapBegin(b, pos, r);
    } catch (e) {
      expect((e as KernelRejection).errno).toBe((e as KernelRejection).rule === 'size' ? 22 : 117);
      return (e as KernelRejection).rule;
    }
    return 'accepted';
  };
  const set = (slot: Buffer, v: Partial<ReturnType<typeof iomapIo.decode>>) => iomapIo.encodeInto(slot, v);

  it('accepts the server reply, and the read slot decodes to the mapping', () => {
    expect(rule(() => {})).toBe('accepted');
    expect(decodeIomapIo(good)).toMatchObject({ offset: 4096, addr: BigInt(64 * MiB + 4096), dev: 3, type: IOMAP_TYPE.MAPPED });
  });
  it('rejects each broken rule', () => {
    expect(rule((r) => set(r, { type: 7 }))).toBe('type');
    expect(rule((r) => set(r, { type: IOMAP_TYPE.NOCACHE }))).toBe('type');
    expect(rule((r) => set(r, { type: IOMAP_TYPE.PURE_OVERWRITE, addr: IOMAP_NULL_ADDR, dev: 0 }))).toBe('pure-overwrite');
    expect(rule((_, w) => set(w, { type: IOMAP_TYPE.RETRY_CACHE }))).toBe('type');
    expect(rule((r) => set(r, { flags: IOMAP_FLAGS_V7.SIZE_CHANGED }))).toBe('flags');
    expect(rule((r) => set(r, { flags: IOMAP_FLAGS_V7.WANT_IOMAP_END }))).toBe('accepted');
    expect(rule((r) => set(r, { flags: IOMAP_FLAGS_RFC2025.WANT_IOMAP_END }))).toBe('flags');
    expect(rule((r) => set(r, { length: 0n }))).toBe('length');
    expect(rule((r) => set(r, { offset: 4095n }))).toBe('alignment');
    expect(rule((r) => set(r, { length: 100n }))).toBe('alignment');
    expect(rule((r) => set(r, { offset: 0xfffffffffffff000n }))).toBe('overflow');
    expect(rule(() => {}, 5000n, { ...rules(g), maxBytes: 4096 })).toBe('maxbytes');
    expect(rule((r) => set(r, { dev: 0 }))).toBe('dev-addr');
    expect(rule((r) => set(r, { addr: IOMAP_NULL_ADDR }))).toBe('dev-addr');
    expect(rule((r) => set(r, { type: IOMAP_TYPE.HOLE }))).toBe('dev-addr');
    expect(rule((_, w) => set(w, { dev: 3 }))).toBe('dev-addr');
    expect(rule(() => {}, BigInt(12 * MiB))).toBe('coverage');
    expect(rule(() => {}, 100n)).toBe('coverage');
  });
});
