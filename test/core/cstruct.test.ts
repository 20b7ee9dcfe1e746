// Tier 1: cstruct's fixed arrays and nested structs, and famfs_meta.h's structs declared with
// them (famfs-format.md §2, §3): sizes and offsets as famfs's header gives them.
import { describe, expect, it } from 'vitest';
import { defineStruct, getU64, putU64, StructError } from '../../src/cstruct.js';
import * as meta from '../../src/famfs/famfs-meta.js';

describe('cstruct arrays and nested structs', () => {
  const pair = defineStruct('pair', 8, [
    { name: 'a', offset: 0, type: 'u32' },
    { name: 'b', offset: 4, type: 'u32' },
  ] as const);
  const outer = defineStruct('outer', 28, [
    { name: 'n', offset: 0, type: 'u32' },
    { name: 'p', offset: 4, type: { array: { struct: pair }, count: 3 } },
  ] as const);

  it('round-trips and leaves unnamed elements alone', () => {
    const b = outer.encode({ n: 2, p: [{ a: 1, b: 2 }, undefined, { b: 6 }] });
    expect([...new Uint32Array(b.buffer, b.byteOffset, 7)]).toEqual([2, 1, 2, 0, 0, 0, 6]);
    expect(outer.decode(b)).toEqual({ n: 2, p: [{ a: 1, b: 2 }, { a: 0, b: 0 }, { a: 0, b: 6 }] });
  });

  it('refuses too many elements and overlaps, naming the element', () => {
    expect(() => outer.encode({ p: [{}, {}, {}, {}] })).toThrow(StructError);
    expect(() => outer.encode({ p: [{ a: -1 }] })).toThrow(/outer\.p\[0\]|pair\.a/);
    expect(() => defineStruct('bad', 16, [{ name: 'x', offset: 0, type: { array: 'u64', count: 2 } }, { name: 'y', offset: 8, type: 'u32' }] as const)).toThrow(/overlaps/);
  });
});

describe('u64 halves', () => {
  it('putU64 writes what getU64 reads and Buffer reads as a BigInt, up to 2^53 - 1', () => {
    const b = Buffer.alloc(24, 0xee);
    for (const v of [0, 1, 0xffff_ffff, 0x1_0000_0000, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER]) {
      putU64(b, 8, v);
      expect(getU64(b, 8)).toBe(v);
      expect(b.readBigUInt64LE(8)).toBe(BigInt(v));
      expect(b[7]).toBe(0xee);
      expect(b[16]).toBe(0xee);
    }
  });
});

describe("famfs_meta.h's structs", () => {
  it('have famfs sizes and offsets', () => {
    expect(meta.famfs_superblock.size).toBe(200);
    expect(meta.famfs_superblock.offsetOf('ts_daxdev')).toBe(112);
    expect(meta.famfs_log.size).toBe(48);
    expect(meta.famfs_simple_extent.size).toBe(24);
    expect(meta.famfs_interleaved_ext.size).toBe(400);
    expect(meta.famfs_log_fmap_simple.size).toBe(416);
    expect(meta.famfs_log_file_meta_simple.size).toBe(520);
    expect(meta.famfs_log_file_meta_simple.offsetOf('fm_fmap')).toBe(104);
    expect(meta.famfs_log_mkdir.size).toBe(92);
    expect(meta.famfs_log_entry.size).toBe(544);
    expect(meta.famfs_log_entry.offsetOf('famfs_log_entry_crc')).toBe(536);
    // The union's members share entry+16; fmap_ext_type lands at entry+120 and ie_strips at entry+152.
    expect(16 + 104 + meta.famfs_log_fmap_interleave.offsetOf('fmap_ext_type')).toBe(120);
    expect(16 + 104 + meta.famfs_log_fmap_interleave.offsetOf('ie') + meta.famfs_interleaved_ext.offsetOf('ie_strips')).toBe(152);
  });
});
