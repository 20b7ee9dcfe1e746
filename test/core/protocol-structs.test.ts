import { describe, expect, it } from 'vitest';
import { daxdevOut, famfsIext, famfsSimpleExt, fmapHeader, getFmapIn } from '../../src/mapping/famfs-fmap.js';
import {
  backingMap, freezefsIn, fuseRange, iomapBeginIn, iomapBeginOut, iomapConfigIn, iomapConfigOut, iomapDevInvalOut,
  iomapEndIn, iomapInvalMappingsOut, iomapIo, iomapIoendIn, iomapIoendOut, iomapUpsertMappingsOut, shutdownfsIn,
} from '../../src/mapping/iomap-wire.js';

// Sizes and key offsets from reference fuse-iomap-abi.md §1.2, §1.5, §3.2, §3.4.
describe('mapping protocol struct tables', () => {
  it.each([
    [iomapIo, 32], [iomapBeginIn, 32], [iomapBeginOut, 64], [iomapEndIn, 72], [iomapIoendIn, 48], [iomapIoendOut, 8],
    [iomapConfigIn, 64], [iomapConfigOut, 104], [fuseRange, 16], [iomapDevInvalOut, 24], [iomapInvalMappingsOut, 48],
    [iomapUpsertMappingsOut, 80], [freezefsIn, 8], [shutdownfsIn, 8], [backingMap, 16],
    [fmapHeader, 32], [famfsSimpleExt, 24], [famfsIext, 24], [daxdevOut, 280], [getFmapIn, 8],
  ] as const)('%s has the reference size', (s, size) => {
    expect(s.size).toBe(size);
    expect(s.encode({}).byteLength).toBe(size);
  });

  it('puts the fields where the reference says', () => {
    expect(iomapIo.offsetOf('dev')).toBe(28);
    expect(iomapIo.offsetOf('type')).toBe(24);
    expect(iomapBeginOut.offsetOf('write')).toBe(32);
    expect(iomapEndIn.offsetOf('map')).toBe(40);
    expect(iomapIoendIn.offsetOf('dev')).toBe(40);
    expect(iomapConfigOut.offsetOf('s_blocksize')).toBe(60);
    expect(iomapConfigOut.offsetOf('cache_maxbytes')).toBe(96);
    expect(iomapUpsertMappingsOut.offsetOf('write')).toBe(48);
    expect(iomapInvalMappingsOut.offsetOf('write')).toBe(32);
    expect(fmapHeader.offsetOf('fmap_size')).toBe(12);
    expect(fmapHeader.offsetOf('file_size')).toBe(16);
    expect(famfsIext.offsetOf('ie_nbytes')).toBe(8);
    expect(famfsSimpleExt.offsetOf('se_offset')).toBe(8);
    expect(daxdevOut.offsetOf('name')).toBe(24);
  });

  it('round-trips a fuse_iomap_io with the NULL address', () => {
    const v = { offset: 4096n, length: 8192n, addr: 0xffffffffffffffffn, type: 255, flags: 0, dev: 0 };
    expect(iomapIo.decode(iomapIo.encode(v))).toEqual(v);
  });
});
