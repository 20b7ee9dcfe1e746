// A famfs image for protocol tests: mkfs on a sparse device file, then files the famfs
// allocator places (contiguous or strided), each 2 MiB granule stamped through the file's
// logged map so a reply's address can be checked against the bytes on the device.
import fs from 'node:fs';
import { MappedDevice } from '../../src/device/memory.js';
import type { CreatOptions } from '../../src/famfs/image.js';
import { FamfsImage } from '../../src/famfs/image.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { resolve, type FileMap } from '../../src/interleave/filemap.js';
import { stampOf } from './kernel-player.js';
import { MiB, Rng } from './kernel-player-maps.js';

export interface StampedFile {
  readonly name: string;
  readonly index: number;
  readonly map: FileMap;
}

export interface StampedImageSpec {
  readonly device: string;
  readonly deviceSize: number;
  readonly systemUuid: Uint8Array;
  readonly files: number;
  readonly seed: number;
  /** Size and creat options of file i (odd files are usually striped). */
  readonly place: (i: number, rng: Rng) => { size: number; opts: CreatOptions };
}

/** Strided placement with `nstrips` from rng, as the protocol tests use it. */
export function stripedOpts(i: number, nstrips: number, chunkSize: number): CreatOptions {
  return { interleave: { nstrips, nbuckets: 8, chunkSize }, seed: i, relaxBuckets: true };
}

export function makeStampedImage(spec: StampedImageSpec): StampedFile[] {
  fs.writeFileSync(spec.device, '');
  fs.truncateSync(spec.device, spec.deviceSize);
  const m = MappedDevice.open(spec.device);
  try {
    mkfs(m, { devPath: spec.device, systemUuid: spec.systemUuid, allowSmall: true });
  } finally {
    m.close();
  }
  const files: StampedFile[] = [];
  const img = FamfsImage.open({ device: spec.device, writable: true, systemUuid: spec.systemUuid });
  try {
    const rng = new Rng(spec.seed);
    for (let i = 0; i < spec.files; i++) {
      const { size, opts } = spec.place(i, rng);
      const f = img.creat(`/f${i}`, size, opts);
      files.push({ name: `f${i}`, index: i, map: f.map });
      // Past EOF the stamp stays inside the allocation.
      for (let pos = 0; pos < f.map.size; pos += 2 * MiB) {
        const at = resolve(f.map, pos)!;
        img.daxdev(at.daxdev).write(at.offset, stampOf(i, pos / (2 * MiB), Buffer.alloc(16)));
      }
    }
    img.sync();
  } finally {
    img.close();
  }
  return files;
}
