// An image famfs-ts makes decodes to the same structure as famfs's: the same sequence of
// operations on the same UUIDs gives the same bytes (superblock, header, every entry, data).
import { afterAll, describe, expect, it } from 'vitest';
import { MappedDevice } from '../../src/device/memory.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { FamfsImage } from '../../src/famfs/image.js';
import { bucketOrder } from '../../src/famfs/alloc.js';
import { FamfsRandom, randomBytes } from '../../src/famfs/prng.js';
import { ImageError } from '../../src/famfs/errors.js';
import { GiB, MiB, TempDir, fixtureHead, fixtureSystemUuid } from '../famfs-support.js';

const head = fixtureHead();
const sysUuid = fixtureSystemUuid();

function fill(img: FamfsImage, path: string, seed: number): void {
  const f = img.file(path);
  const rng = new FamfsRandom(seed);
  const chunk = Buffer.alloc(MiB);
  for (let pos = 0; pos < f.size; pos += chunk.length) {
    const n = Math.min(chunk.length, f.size - pos);
    rng.fill(chunk.subarray(0, n));
    img.write(f, pos, chunk.subarray(0, n));
  }
}

describe('mkfs + the fixture command sequence', () => {
  const t = new TempDir();
  afterAll(() => t.cleanup());

  it('reproduces the real famfs image byte for byte (first 16 MiB and the striped data)', () => {
    const dev = t.file('dax0.0', 4 * GiB);
    const mem = MappedDevice.open(dev);
    try {
      mkfs(mem, { devPath: '/dev/dax0.0', systemUuid: sysUuid, uuid: head.subarray(48, 64), devUuid: head.subarray(64, 80) });
    } finally {
      mem.close();
    }
    // famfs seeds the bucket shuffle with time(NULL); find a second that gives the
    // fixture's strip order (buckets 2, 0, 1, 3).
    let seed = 0;
    while (bucketOrder(4, seed).join() !== '2,0,1,3') seed++;
    const img = FamfsImage.open({ device: dev, writable: true, systemUuid: sysUuid });
    try {
      img.mkdir('dir1', { uid: 0, gid: 0 });
      img.creat('dir1/f1', 3 * MiB, { uid: 0, gid: 0 });
      fill(img, 'dir1/f1', 42);
      img.creat('dir1/src.txt', 12, { uid: 0, gid: 0 });
      img.write(img.file('dir1/src.txt'), 0, Buffer.from('hello famfs\n'));
      img.creat('striped', 20 * MiB, { uid: 0, gid: 0, interleave: { nstrips: 4, nbuckets: 4, chunkSize: 2 * MiB }, seed });
      fill(img, 'striped', 7);
      img.mkdir('a/b/c', { parents: true, uid: 0, gid: 0 });
    } finally {
      img.close();
    }
    const fd = MappedDevice.open(dev, { writable: false });
    try {
      const ours = fd.view(0, head.length);
      // Superblock, log and file data: everything famfs wrote.
      expect(Buffer.compare(ours.subarray(0, 200), head.subarray(0, 200))).toBe(0);
      expect(Buffer.compare(ours.subarray(0x200000, 0xa00000), head.subarray(0x200000, 0xa00000))).toBe(0);
      expect(Buffer.compare(ours, head)).toBe(0);
      // The striped file's data is the seed-7 stream laid out by the interleave arithmetic.
      const img2 = FamfsImage.open({ device: dev, systemUuid: sysUuid });
      try {
        const buf = Buffer.alloc(20 * MiB);
        img2.read(img2.file('striped'), 0, buf);
        expect(buf.equals(randomBytes(7, 20 * MiB))).toBe(true);
        const strips = img2.file('striped').map.extents[0];
        expect(strips?.type === 'interleave' && strips.strips.map((s) => s.offset)).toEqual([0x80000000, 0x1000000, 0x40000000, 0xc0000000]);
      } finally {
        img2.close();
      }
    } finally {
      fd.close();
    }
  });

  it('refuses what famfs refuses', () => {
    const dev = t.file('small', 64 * MiB);
    const mem = MappedDevice.open(dev);
    try {
      expect(() => mkfs(mem, { devPath: dev, systemUuid: sysUuid })).toThrow(/unsupported memory device size \(<4GiB\)/);
      expect(() => mkfs(mem, { devPath: dev, systemUuid: sysUuid, allowSmall: true, logLen: 12 * MiB })).toThrow(/invalid log length \(12582912\)/);
      mkfs(mem, { devPath: dev, systemUuid: sysUuid, allowSmall: true });
      expect(() => mkfs(mem, { devPath: dev, systemUuid: sysUuid, allowSmall: true })).toThrow(/already has a famfs superblock/);
      expect(() => mkfs(mem, { devPath: dev, systemUuid: new Uint8Array(16), allowSmall: true })).toThrow(/owned by another host/);
      mkfs(mem, { devPath: dev, systemUuid: sysUuid, allowSmall: true, force: true, logLen: 16 * MiB });
      expect(mem.view(0, 16 * MiB).readBigUInt64LE(0x200008)).toBe(BigInt(16 * MiB));
      expect(mem.view(0, 16 * MiB).readBigUInt64LE(0x200010)).toBe(0x7877n);
      const r = mkfs(mem, { devPath: dev, systemUuid: sysUuid, force: true, kill: true });
      expect(r.killed).toBe(true);
      expect(mem.view(0, 16 * MiB).readBigUInt64LE(0)).toBe(0n);
      expect(() => FamfsImage.open({ device: dev, systemUuid: sysUuid })).toThrow(ImageError);
    } finally {
      mem.close();
    }
  });
});
