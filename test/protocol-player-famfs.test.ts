// The kernel-side player against the real famfs server (src/server/famfs-fs.ts) over an
// image made with mkfs and creat: GET_FMAP/GET_DAXDEV and IOMAP_BEGIN answers for files the
// famfs allocator placed (contiguous and strided), checked with the kernel's rules and
// against stamps written on the device at every 2 MiB granule of every file.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MappedDevice } from '../src/device/memory.js';
import { FamfsImage } from '../src/famfs/image.js';
import { mkfs } from '../src/famfs/mkfs.js';
import { resolve } from '../src/interleave/filemap.js';
import { FamfsFileSystem } from '../src/server/famfs-fs.js';
import { play, stampOf, type KernelFlavour, type PlayTarget } from './support/kernel-player.js';
import { MiB, Rng } from './support/kernel-player-maps.js';

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
    fs.writeFileSync(DEV, '');
    fs.truncateSync(DEV, 3 * 2 ** 30);
    const m = MappedDevice.open(DEV);
    try {
      mkfs(m, { devPath: DEV, systemUuid: master, allowSmall: true });
    } finally {
      m.close();
    }
    const img = FamfsImage.open({ device: DEV, writable: true, systemUuid: master });
    try {
      const rng = new Rng(2026);
      for (let i = 0; i < 12; i++) {
        const size = rng.spread(27);
        const striped = i % 2 === 1;
        const name = `f${i}`;
        const f = img.creat(`/${name}`, size, striped
          ? { interleave: { nstrips: rng.int(2, 8), nbuckets: 8, chunkSize: 2 * MiB * 2 ** rng.int(0, 2) }, seed: i, relaxBuckets: true }
          : {});
        names.push(name);
        // Stamp each granule through the map the image logged (past EOF stays inside the allocation).
        for (let pos = 0; pos < f.map.size; pos += 2 * MiB) {
          const at = resolve(f.map, pos)!;
          img.daxdev(at.daxdev).write(at.offset, stampOf(i, pos / (2 * MiB), Buffer.alloc(16)));
        }
      }
      img.sync();
    } finally {
      img.close();
    }
  });
  afterAll(() => fs.rmSync(DEV, { force: true }));

  it.each(['famfs-v10', 'famfs-unrolled', 'famfs-fork', 'iomap'] as KernelFlavour[])('%s: 2,000 random cases', async (flavour) => {
    const s = await play({ flavour, cases: 2000, seed: 77, target: famfsTarget() });
    expect(s.profile).toBe(flavour);
    expect(s.stampsChecked).toBeGreaterThan(1500);
  }, 60_000);

  it('iomap with the upsert-at-OPEN policy: the famfs files\' mappings pass the kernel checks', async () => {
    const s = await play({ flavour: 'iomap', cases: 500, seed: 78, target: famfsTarget(), upsertAtOpen: 4096 });
    expect(s.upserts).toBeGreaterThan(names.length);
  }, 60_000);
});
