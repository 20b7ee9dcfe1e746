// The FamfsImage API the mount server builds on: one writer (flock on the primary), clients
// that refresh() to see the master's appends, stable node ids, reads and writes through
// resolve(), EOF clipping.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MappedDevice } from '../../src/device/memory.js';
import { FamfsImage } from '../../src/famfs/image.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { ImageError } from '../../src/famfs/errors.js';
import { MiB, TempDir } from '../famfs-support.js';
import { parseLayout } from '../../src/interleave/layout-yaml.js';
import { openDaxdev } from '../../src/device/memory.js';
import { randomBytes } from '../../src/famfs/prng.js';

const master = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
const other = Uint8Array.from({ length: 16 }, (_, i) => 0x80 + i);

describe('FamfsImage', () => {
  const t = new TempDir();
  let dev: string;
  beforeAll(() => {
    dev = t.file('dev', 64 * MiB);
    const m = MappedDevice.open(dev);
    try {
      mkfs(m, { devPath: dev, systemUuid: master, allowSmall: true });
    } finally {
      m.close();
    }
  });
  afterAll(() => t.cleanup());

  it('one writer at a time; readers and clients are not blocked', () => {
    const w = FamfsImage.open({ device: dev, writable: true, systemUuid: master });
    try {
      let err: unknown;
      try {
        FamfsImage.open({ device: dev, writable: true, systemUuid: master }).close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ImageError);
      expect((err as ImageError).errno).toBe('EBUSY');
      FamfsImage.open({ device: dev, systemUuid: master }).close();
      FamfsImage.open({ device: dev, writable: true, systemUuid: other }).close();
    } finally {
      w.close();
    }
    FamfsImage.open({ device: dev, writable: true, systemUuid: master }).close();
  });

  it('a client sees the master appends after refresh(), with the same node ids', () => {
    const w = FamfsImage.open({ device: dev, writable: true, systemUuid: master });
    const c = FamfsImage.open({ device: dev, systemUuid: other });
    try {
      expect(c.role).toBe('client');
      const d = w.mkdir('shared', { mode: 0o750, uid: 5, gid: 6 });
      const f = w.creat('shared/data', 3 * MiB + 1, { mode: 0o600 });
      expect(w.write(f, 0, Buffer.alloc(3 * MiB + 10, 0xab))).toBe(3 * MiB + 1);
      expect(c.lookup('shared')).toBeUndefined();
      expect(c.refresh()).toBeGreaterThanOrEqual(2);
      const cd = c.lookup('shared')!;
      const cf = c.file('shared/data');
      expect(cd.id).toBe(d.id);
      expect(cf.id).toBe(f.id);
      expect(cd).toMatchObject({ kind: 'dir', mode: 0o750, uid: 5, gid: 6 });
      expect(cf.map).toEqual(f.map);
      const buf = Buffer.alloc(16);
      expect(c.read(cf, 3 * MiB - 8, buf)).toBe(9);
      expect(buf.subarray(0, 9)).toEqual(Buffer.alloc(9, 0xab));
      expect(c.read(cf, 3 * MiB + 1, buf)).toBe(0);
      expect(c.readdir('shared').map((n) => n.name)).toEqual(['data']);
      expect(() => c.write(cf, 0, buf)).toThrow(/read-only/);
      expect(() => c.creat('x', 1)).toThrow(/FAMFS_MASTER/);
    } finally {
      c.close();
      w.close();
    }
  });

  it('path rules: parents must exist, 79 bytes at most, no "..", no duplicates', () => {
    const w = FamfsImage.open({ device: dev, writable: true, systemUuid: master });
    try {
      expect(() => w.creat('nope/f', 1)).toThrow(/does not exist/);
      expect(() => w.creat('x'.repeat(80), 1)).toThrow(/famfs allows 79, FAMFS_MAX_PATHLEN 80/);
      expect(() => w.creat('.meta', 1)).toThrow(/reserved/);
      expect(() => w.creat('a/../b', 1)).toThrow(/\.\./);
      w.creat('dup', 1);
      expect(() => w.creat('dup', 1)).toThrow(/exists/);
      expect(() => w.mkdir('dup/sub', { parents: true })).toThrow(/not a directory/);
      expect(() => w.creat('empty', 0)).toThrow(/empty file/);
      expect(() => w.creat('huge', 1024 * MiB)).toThrow(/Out of space/);
      // A failed allocation leaves nothing behind: the next creat still fits.
      expect(w.creat('after', 2 * MiB).size).toBe(2 * MiB);
    } finally {
      w.close();
    }
  });

  it('a hardware-interleaved region as the primary: the log is copied, appends and refresh still work', () => {
    for (const n of ['ra', 'rb']) t.file(n, 32 * MiB);
    const layout = parseLayout('devices:\n  - {name: a, path: ra, size: 32MiB}\n  - {name: b, path: rb, size: 32MiB}\nregions:\n  - {name: r0, ways: 2, granularity: 4KiB, devices: [a, b]}\n', 'region.yaml', { baseDir: t.dir });
    const mem = openDaxdev(layout.daxdevs[0]!, { writable: true });
    try {
      mkfs(mem, { devPath: 'r0', systemUuid: master, allowSmall: true });
    } finally {
      mem.close();
    }
    const w = FamfsImage.open({ layout, writable: true, systemUuid: master });
    const c = FamfsImage.open({ layout, systemUuid: other });
    try {
      const f = w.creat('f', 5 * MiB);
      w.write(f, 0, randomBytes(3, 5 * MiB));
      for (let i = 0; i < 50; i++) w.mkdir(`d${i}`);
      c.refresh();
      const back = Buffer.alloc(5 * MiB);
      c.read(c.file('f'), 0, back);
      expect(back.equals(randomBytes(3, 5 * MiB))).toBe(true);
      expect(c.header.nextIndex).toBe(51);
      expect(c.lookup('d49')?.kind).toBe('dir');
    } finally {
      c.close();
      w.close();
    }
  });
});
