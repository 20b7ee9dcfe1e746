import { describe, expect, it } from 'vitest';
import type { FileMap } from '../../src/interleave/filemap.js';
import { play, type KernelFlavour } from '../support/kernel-player.js';
import { MiB } from '../support/kernel-player-maps.js';

// The kernel-side player against the server's mapping handlers, one kernel flavour at a
// time, >= 10,000 random (file, position) cases per profile; every reply is validated with
// the kernel's rules and every re-derived address is checked against the device bytes.
const CASES = 10_000;

describe.each(['iomap', 'famfs-v10', 'famfs-unrolled'] as KernelFlavour[])('kernel player: %s', (flavour) => {
  it(`${CASES} random cases against --abi ${flavour}`, async () => {
    const s = await play({ flavour, cases: CASES, seed: 1000 + flavour.length });
    expect(s.profile).toBe(flavour);
    expect(s.positions).toBeGreaterThanOrEqual(CASES * 0.9);
    expect(s.stampsChecked).toBeGreaterThan(CASES * 0.8);
    if (flavour !== 'iomap') expect(s.daxdevs).toBeGreaterThan(0);
  }, 60_000);
});

describe('kernel player: auto', () => {
  it.each([
    ['mainline', 'mainline'], ['iomap', 'iomap'], ['famfs-v10', 'famfs'], ['famfs-unrolled', 'famfs'],
    // stock 7.3 with FUSE io_uring offers bit 43 (FUSE_HAS_IO_URING_BUFPOOL): not famfs.
    ['stock-uring', 'mainline'],
  ] as [KernelFlavour, string][])('a %s kernel gets the %s profile, logged', async (flavour, profile) => {
    const s = await play({ flavour, serverAbi: 'auto', cases: 500, seed: 7 });
    expect(s.profile).toBe(profile);
    expect(s.serverLog.some((l) => l.startsWith(`abi auto: ${profile} (`))).toBe(true);
    if (flavour.startsWith('famfs-')) {
      expect(s.serverLog.some((l) => l.includes(flavour === 'famfs-v10' ? 'payload of 0 bytes' : 'payload of 8 bytes'))).toBe(true);
    }
  }, 30_000);

  it('iomap UPSERT notifies at OPEN pass the kernel checks', async () => {
    const s = await play({ flavour: 'iomap', cases: 200, seed: 11, upsertAtOpen: 64 });
    expect(s.upserts).toBeGreaterThan(0);
  }, 30_000);

  it('the unrolled encoding retries once with fmap_size for large maps', async () => {
    // 1 GiB over 4 strips in 2 MiB chunks unrolls to 512 extents: 12,320 bytes > 4 KiB.
    const strips = [0, 1, 2, 3].map((daxdev) => ({ daxdev, offset: 0, length: 256 * MiB }));
    const big: FileMap = { size: 1024 * MiB - 5, extents: [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: 1024 * MiB, strips }] };
    const s = await play({ flavour: 'famfs-unrolled', cases: 400, seed: 5, nfiles: 3, extraFiles: [big] });
    expect(s.fmapRetries).toBeGreaterThan(50);
  }, 30_000);
});
