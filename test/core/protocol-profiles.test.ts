import { describe, expect, it } from 'vitest';
import { mainline, type KernelInit } from '../../src/fuse/abi.js';
import { FuseError } from '../../src/fuse/filesystem.js';
import { Op } from '../../src/fuse/opcodes.js';
import { FAMFS_FORK, FAMFS_V10, famfsForkProfile, famfsV10Profile, FUSE_DAX_FMAP } from '../../src/fuse/profiles/famfs.js';
import { FUSE_IOMAP, IOMAP_OPCODES, iomapProfile } from '../../src/fuse/profiles/iomap.js';
import { autoDecision, defaultIomapConfig, isProfileName, PROFILE_NAMES, profileByName } from '../../src/fuse/profiles/index.js';
import type { MappingSource } from '../../src/fuse/mapping-handlers.js';
import type { FileMap } from '../../src/interleave/filemap.js';
import type { Args, Header } from '../../src/fuse/request.js';

const MiB = 2 ** 20;
const kernel = (minor: number, bit43: boolean): KernelInit => ({ major: 7, minor, maxReadahead: 0, flags: (1n << 30n) | (bit43 ? 1n << 43n : 0n), size: 64 });

describe('ABI profiles', () => {
  it('are named for mount --abi', () => {
    expect(PROFILE_NAMES).toEqual(['auto', 'mainline', 'iomap', 'famfs-v10', 'famfs-fork', 'famfs-unrolled']);
    expect(isProfileName('famfs-v10')).toBe(true);
    expect(isProfileName('famfs')).toBe(false);
  });

  it('put bit 43 and the opcodes where each series does', () => {
    const src: MappingSource = { fileMap: () => undefined, daxdevPath: () => undefined };
    expect(FUSE_IOMAP).toBe(FUSE_DAX_FMAP); // the collision of fuse-iomap-abi.md §1.1 / fuse-iomap-abi.md §3.1
    const v10 = famfsV10Profile(src);
    expect(v10.wantFlags & FUSE_DAX_FMAP).toBe(FUSE_DAX_FMAP);
    expect(v10.ops.get(FAMFS_V10.GET_FMAP)?.name).toBe('GET_FMAP');
    expect(v10.ops.get(FAMFS_V10.GET_DAXDEV)?.name).toBe('GET_DAXDEV');
    expect(v10.ops.get(Op.COPY_FILE_RANGE_64)).toBe(mainline.ops.get(Op.COPY_FILE_RANGE_64));
    const fork = famfsForkProfile(src);
    expect(fork.ops.get(FAMFS_FORK.GET_FMAP)?.name).toBe('GET_FMAP'); // 53, where mainline later put COPY_FILE_RANGE_64
    expect(fork.ops.get(FAMFS_FORK.GET_DAXDEV)?.name).toBe('GET_DAXDEV');
    const io = iomapProfile(src, defaultIomapConfig());
    expect(io.minor).toBe(99);
    expect([...Object.values(IOMAP_OPCODES)].sort()).toEqual([4089, 4090, 4091, 4092, 4093, 4094, 4095]);
    for (const op of Object.values(IOMAP_OPCODES)) expect(io.ops.has(op)).toBe(true);
    expect(io.notify).toMatchObject({ IOMAP_DEV_INVAL: 99, IOMAP_UPSERT_MAPPINGS: 100, IOMAP_INVAL_MAPPINGS: 101 });
    expect(mainline.ops.has(FAMFS_V10.GET_FMAP)).toBe(false);
    expect(mainline.wantFlags & (1n << 43n)).toBe(0n);
  });

  it('auto decides from the INIT minor, bit 43 and (for famfs) later the GET_FMAP payload', () => {
    expect(autoDecision(kernel(45, false)).name).toBe('mainline');
    expect(autoDecision(kernel(99, false)).name).toBe('mainline');
    expect(autoDecision(kernel(99, true)).name).toBe('iomap');
    expect(autoDecision(kernel(46, true)).name).toBe('famfs');
    expect(autoDecision(kernel(45, true)).name).toBe('famfs');
    expect(autoDecision(kernel(44, true)).name).toBe('famfs-fork');
    const lines: string[] = [];
    const chooser = profileByName('auto', { source: { fileMap: () => undefined, daxdevPath: () => undefined }, log: (l) => lines.push(l) });
    if (typeof chooser !== 'function') throw new Error('auto is a chooser');
    expect(chooser(kernel(99, true)).name).toBe('iomap');
    expect(lines[0]).toMatch(/^abi auto: iomap \(kernel 7.99/);
  });

  it('GET_FMAP of a file the profile cannot express: a clear errno and a log line, no reply bytes', () => {
    const lines: string[] = [];
    const tooMany: FileMap = { size: 40 * 2 * MiB, extents: Array.from({ length: 40 }, (_, i) => ({ type: 'simple' as const, daxdev: 0, offset: (2 * i + 2) * 2 * MiB, length: 2 * MiB })) };
    const src: MappingSource = { fileMap: (n) => (n === 5 ? tooMany : undefined), daxdevPath: () => '/dev/dax0.0', log: (l) => lines.push(l) };
    const op = famfsV10Profile(src).ops.get(FAMFS_V10.GET_FMAP)!;
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
