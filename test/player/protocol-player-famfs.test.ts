// The kernel-side player against the real famfs server (src/server/famfs-fs.ts) over an
// image made with mkfs and creat: GET_FMAP/GET_DAXDEV and IOMAP_BEGIN answers for files the
// famfs allocator placed (contiguous and strided), checked with the kernel's rules and
// against stamps written on the device at every 2 MiB granule of every file.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { FamfsFileSystem } from '../../src/server/famfs-fs.js';
import { play, type KernelFlavour, type PlayTarget } from '../support/kernel-player.js';
import { MiB } from '../support/kernel-player-maps.js';
import { makeStampedImage, stripedOpts } from '../support/stamped-image.js';

const DEV = `/dev/shm/famfs-ts-player-famfs-${process.pid}.img`;
const master = Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i);
const names: string[] = [];

function famfsTarget(): PlayTarget {
  const image = FamfsImage.open({ device: DEV, systemUuid: master });
  const logLines: string[] = [];
  const fsys = new FamfsFileSystem(image, { device: DEV, log: (l) => logLines.push(l) });
  return {
    fs: fsys, source: fsys, devicePaths: [DEV], logLines,
    files: names.map((name, index) => ({ name, index, map: image.file(`/${name}`).map })),
    close: () => image.close(),
  };
}

describe('kernel player against the famfs server', () => {
  beforeAll(() => {
    const made = makeStampedImage({
      device: DEV, deviceSize: 3 * 2 ** 30, systemUuid: master, files: 12, seed: 2026,
      place: (i, rng) => ({ size: rng.spread(27), opts: i % 2 === 1 ? stripedOpts(i, rng.int(2, 8), 2 * MiB * 2 ** rng.int(0, 2)) : {} }),
    });
    names.push(...made.map((f) => f.name));
  });
  afterAll(() => fs.rmSync(DEV, { force: true }));

  it.each(['famfs-v10', 'famfs-unrolled', 'iomap'] as KernelFlavour[])('%s: 2,000 random cases', async (flavour) => {
    const s = await play({ flavour, cases: 2000, seed: 77, target: famfsTarget() });
    expect(s.profile).toBe(flavour);
    expect(s.stampsChecked).toBeGreaterThan(1500);
  }, 60_000);

  it('iomap with the upsert-at-OPEN policy: the famfs files\' mappings pass the kernel checks', async () => {
    const s = await play({ flavour: 'iomap', cases: 500, seed: 78, target: famfsTarget(), upsertAtOpen: 4096 });
    expect(s.upserts).toBeGreaterThan(names.length);
  }, 60_000);
});
