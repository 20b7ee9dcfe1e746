import { describe, expect, it } from 'vitest';
import { resolve, resolveRange, unroll, simple, type FileMap } from '../../src/interleave/filemap.js';

const MiB = 2 ** 20;

describe('resolve', () => {
  // The worked example of reference fuse-iomap-abi.md §3.3: chunk 2 MiB, 4 strips, offset 15 MiB.
  const striped: FileMap = {
    size: 20 * MiB,
    extents: [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: 24 * MiB, strips: [
      { daxdev: 0, offset: 0x80000000, length: 6 * MiB },
      { daxdev: 0, offset: 0x1000000, length: 6 * MiB },
      { daxdev: 0, offset: 0x40000000, length: 6 * MiB },
      { daxdev: 0, offset: 0xc0000000, length: 6 * MiB },
    ] }],
  };

  it('follows the kernel arithmetic for interleaved extents', () => {
    expect(resolve(striped, 15 * MiB)).toEqual({ daxdev: 0, offset: 0xc0000000 + 3 * MiB, length: 1 * MiB });
  });

  it('is EOF exactly at size and clips to size', () => {
    expect(resolve(striped, 20 * MiB)).toBeUndefined();
    expect(resolve(striped, 20 * MiB - 1)?.length).toBe(1);
    const f: FileMap = { size: 3 * MiB, extents: [simple(0, 10 * MiB, 4 * MiB)] };
    expect(resolve(f, MiB)).toEqual({ daxdev: 0, offset: 11 * MiB, length: 2 * MiB });
  });

  it('walks simple extents in file order', () => {
    const f: FileMap = { size: 6 * MiB, extents: [simple(0, 8 * MiB, 2 * MiB), simple(1, 2 * MiB, 4 * MiB)] };
    expect(resolve(f, 2 * MiB + 5)).toEqual({ daxdev: 1, offset: 2 * MiB + 5, length: 4 * MiB - 5 });
    expect(resolveRange(f, MiB, 2 * MiB).map((m) => m.daxdev)).toEqual([0, 1]);
  });

  it('unroll resolves identically', () => {
    const u = unroll(striped);
    expect(u.extents).toHaveLength(10);
    for (let pos = 0; pos < striped.size; pos += 123457) {
      const a = resolve(striped, pos)!;
      const b = resolve(u, pos)!;
      expect([b.daxdev, b.offset]).toEqual([a.daxdev, a.offset]);
    }
  });
});
