import { describe, expect, it } from 'vitest';
import { mainline, type KernelInit } from '../../src/fuse/abi.js';
import { FuseError } from '../../src/fuse/filesystem.js';
import { Op } from '../../src/fuse/opcodes.js';
import { FAMFS_V10, IOMAP_73, MAINLINE, SERIES, type KernelSeries } from '../../src/mapping/series.js';
import { detectSeries, type IomapSupportProbe } from '../../src/mapping/detect.js';
import { isProfileName, PROFILE_NAMES, profileByName, profileOf } from '../../src/mapping/profiles.js';
import type { MappingSource } from '../../src/mapping/handlers.js';
import type { FileMap } from '../../src/interleave/filemap.js';
import type { Args, Header } from '../../src/fuse/request.js';
import { offeredFlags, RECORDED_INITS } from '../support/kernel-inits.js';

const MiB = 2 ** 20;
const kernel = (minor: number, bits: bigint): KernelInit => ({ major: 7, minor, maxReadahead: 0, flags: (1n << 30n) | bits, size: 64 });
const NOT_ASKED: IomapSupportProbe = { kind: 'not-asked', why: 'test' };
const src: MappingSource = { fileMap: () => undefined, daxdevPath: () => undefined };

describe('ABI profiles', () => {
  it('are named for mount --abi', () => {
    expect(PROFILE_NAMES).toEqual(['auto', 'mainline', 'iomap', 'famfs-v10', 'famfs-unrolled']);
    expect(isProfileName('famfs-v10')).toBe(true);
    expect(isProfileName('famfs')).toBe(false);
    // The famfs libfuse fork's numbers (bit 42, opcodes 53/54) are mainline's
    // FUSE_REQUEST_TIMEOUT and COPY_FILE_RANGE_64 now: no profile speaks them.
    expect(isProfileName('famfs-fork')).toBe(false);
  });

  it('put the INIT bit and the opcodes where each series does', () => {
    expect(FAMFS_V10.initBit).toBe(1n << 43n);
    expect(IOMAP_73.initBit).toBe(1n << 44n); // the 7.3 port; 43 is FUSE_HAS_IO_URING_BUFPOOL there
    const v10 = profileOf(FAMFS_V10, { source: src });
    expect(v10.wantFlags & FAMFS_V10.initBit).toBe(FAMFS_V10.initBit);
    expect(v10.ops.get(FAMFS_V10.opcodes.GET_FMAP)?.name).toBe('GET_FMAP');
    expect(v10.ops.get(FAMFS_V10.opcodes.GET_DAXDEV)?.name).toBe('GET_DAXDEV');
    expect(v10.ops.get(Op.COPY_FILE_RANGE_64)).toBe(mainline.ops.get(Op.COPY_FILE_RANGE_64));
    const io = profileOf(IOMAP_73, { source: src });
    expect(io.minor).toBe(99);
    expect([...Object.values(IOMAP_73.opcodes)].sort()).toEqual([4089, 4090, 4091, 4092, 4093, 4094, 4095]);
    for (const op of Object.values(IOMAP_73.opcodes)) expect(io.ops.has(op)).toBe(true);
    expect(IOMAP_73.notify).toMatchObject({ DEV_INVAL: 99, UPSERT_MAPPINGS: 100, INVAL_MAPPINGS: 101 });
    expect(mainline.ops.has(FAMFS_V10.opcodes.GET_FMAP)).toBe(false);
    expect(mainline.wantFlags & (1n << 43n)).toBe(0n);
    expect(mainline.wantFlags & (1n << 44n)).toBe(0n);
  });

  it('every profile reports its series and whether its bit was granted', () => {
    for (const s of SERIES) {
      const seen: [KernelSeries, boolean][] = [];
      const p = profileOf(s, { source: { ...src, negotiated: (series, granted) => seen.push([series, granted]) } });
      const reply = { flags: s.initBit | (1n << 30n), minor: s.minor } as Parameters<NonNullable<typeof p.adjustInit>>[1];
      p.adjustInit?.(kernel(s.minor, s.initBit), reply);
      expect(seen).toEqual([[s, s.initBit !== 0n]]);
    }
  });

  it('auto decides from the minor, the series bit and the IOMAP_SUPPORT probe, never from one bit', () => {
    const b43 = 1n << 43n;
    const b44 = 1n << 44n;
    const uring = 1n << 41n;
    expect(detectSeries(kernel(45, 0n), NOT_ASKED).series).toBe(MAINLINE);
    expect(detectSeries(kernel(99, 0n), NOT_ASKED).series).toBe(MAINLINE);
    expect(detectSeries(kernel(99, b44), NOT_ASKED).series.kind).toBe('iomap');
    expect(detectSeries(kernel(99, b44), { kind: 'answered', flags: 3n }).series.kind).toBe('iomap');
    // A /dev/fuse that refuses IOMAP_SUPPORT is no iomap kernel, whatever it offers.
    expect(detectSeries(kernel(99, b44), { kind: 'refused', errno: 'ENOTTY' }).series).toBe(MAINLINE);
    // The posted iomap's bit 43 at minor 99 is not this series.
    expect(detectSeries(kernel(99, b43), NOT_ASKED).series).toBe(MAINLINE);
    expect(detectSeries(kernel(46, b43), NOT_ASKED).series.kind).toBe('famfs');
    expect(detectSeries(kernel(45, b43), NOT_ASKED).series.kind).toBe('famfs');
    // 7.46 with FUSE io_uring: bit 43 is FUSE_HAS_IO_URING_BUFPOOL.
    expect(detectSeries(kernel(46, b43 | uring), NOT_ASKED).series).toBe(MAINLINE);
    // Bit 43 on a kernel that answers IOMAP_SUPPORT is not famfs.
    expect(detectSeries(kernel(46, b43), { kind: 'answered', flags: 3n }).series).toBe(MAINLINE);
    expect(detectSeries(kernel(44, b43), NOT_ASKED).series).toBe(MAINLINE);
    const lines: string[] = [];
    const chooser = profileByName('auto', { source: src, log: (l) => lines.push(l) });
    if (typeof chooser !== 'function') throw new Error('auto is a chooser');
    expect(chooser(kernel(99, b44)).name).toBe('iomap');
    expect(lines[0]).toMatch(/^abi auto: iomap \(kernel 7.99/);
    expect(chooser(kernel(46, b43 | uring)).name).toBe('mainline');
    expect(lines[1]).toMatch(/famfs: kernel offers INIT bit 43 with INIT bit 41/);
  });

  it.each(Object.entries(RECORDED_INITS))('auto on the INIT %s sent when booted picks the right series', (_name, rec) => {
    const d = detectSeries({ major: 7, minor: rec.minor, maxReadahead: 0, flags: offeredFlags(rec), size: 64 }, rec.iomapSupport);
    expect(d.series.kind).toBe(rec.expect);
  });

  it('GET_FMAP of a file the profile cannot express: a clear errno and a log line, no reply bytes', () => {
    const lines: string[] = [];
    const tooMany: FileMap = { size: 40 * 2 * MiB, extents: Array.from({ length: 40 }, (_, i) => ({ type: 'simple' as const, daxdev: 0, offset: (2 * i + 2) * 2 * MiB, length: 2 * MiB })) };
    const s: MappingSource = { fileMap: (n) => (n === 5 ? tooMany : undefined), daxdevPath: () => '/dev/dax0.0', log: (l) => lines.push(l) };
    const op = profileOf(FAMFS_V10, { source: s }).ops.get(FAMFS_V10.opcodes.GET_FMAP)!;
    const args = { remaining: 0, take: () => Buffer.alloc(0) } as unknown as Args;
    const a = op.decode(args, {} as Header, {} as never);
    const call = (nodeid: number) => op.handle({ ctx: { nodeid } as never, fs: {}, conn: {} as never }, a);
    let err: unknown;
    try { call(5); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(FuseError);
    expect((err as FuseError).errno).toBe(95);
    expect(lines[0]).toMatch(/GET_FMAP nodeid 5: GET_FMAP v10: 40 extents, the kernel takes at most 32/);
    expect(() => call(6)).toThrow(/not a famfs regular file/);
  });
});
