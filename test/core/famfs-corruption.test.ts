// Corruption: flipped bytes in every field class of the superblock, the log header and the
// entries, truncated devices and a full log. Each gives its documented error (famfs's
// where famfs has one), never a crash and never an access outside a device; committed
// files survive later appends.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { ImageError } from '../../src/famfs/errors.js';
import { fsck } from '../../src/famfs/fsck.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { MappedDevice } from '../../src/device/memory.js';
import { encodeEntry, entryCrc, logSlots } from '../../src/famfs/log.js';
import { superblockCrc } from '../../src/famfs/superblock.js';
import { MiB, TempDir, fixtureHead, fixtureImage, fixtureSystemUuid } from '../famfs-support.js';

const LOG = 0x200000;
const E = (i: number) => LOG + 48 + 544 * i;
const sys = fixtureSystemUuid();

/** Patch bytes of a copy of the fixture image, then open it. */
function patched(t: TempDir, name: string, patch: (b: Buffer) => void): string {
  const p = fixtureImage(t, name);
  const m = MappedDevice.open(p);
  try {
    patch(m.view(0, 16 * 2 ** 20));
  } finally {
    m.close();
  }
  return p;
}

function openErr(dev: string): string {
  try {
    FamfsImage.open({ device: dev, systemUuid: sys }).close();
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return (e as Error).message;
  }
  return '';
}

function report(dev: string) {
  const img = FamfsImage.open({ device: dev, systemUuid: sys });
  try {
    return { img: { bad: [...img.badEntries], damage: img.damage, paths: [...img.namespace.walk()].map((n) => n.path) }, r: fsck({ sb: img.sb, header: img.header, scan: img.scan, role: img.role }) };
  } finally {
    img.close();
  }
}

describe('superblock corruption (famfs-format.md §2.2)', () => {
  const t = new TempDir();
  afterAll(() => t.cleanup());
  const cases: [string, number, RegExp][] = [
    ['magic', 0, /no famfs superblock/],
    ['version', 8, /version/],
    ['log_offset', 16, /crc mismatch in superblock/],
    ['log_len', 24, /crc mismatch in superblock/],
    ['alloc_unit', 33, /crc mismatch in superblock/],
    ['omf version', 40, /crc mismatch in superblock/],
    ['fs uuid', 50, /crc mismatch in superblock/],
    ['system uuid', 90, /crc mismatch in superblock/],
    ['crc', 97, /crc mismatch in superblock/],
  ];
  for (const [what, at, want] of cases) {
    it(`a flipped byte in ${what} is refused: ${want}`, () => {
      expect(openErr(patched(t, `sb${at}`, (b) => { b[at]! ^= 0x5a; }))).toMatch(want);
    });
  }
  it('sb_flags, padding, dd_uuid and the device path are not CRC-covered: the image still opens (as famfs)', () => {
    const dev = patched(t, 'sbfree', (b) => { b[104] = 1; b[109] = 9; b[125] = 7; b[140] = 0x41; });
    expect(openErr(dev)).toBe('');
  });
  it('dd_size larger than the device is a truncated device, not a fault', () => {
    expect(openErr(patched(t, 'ddsize', (b) => { b.writeBigUInt64LE(8n << 30n, 112); }))).toMatch(/truncated device/);
    expect(openErr(patched(t, 'ddsize2', (b) => { b.writeBigUInt64LE(1n << 62n, 112); }))).toMatch(/past 2\^53/);
  });
  it('a CRC-valid superblock with a log past the device end is refused', () => {
    const dev = patched(t, 'loglen', (b) => { b.writeBigUInt64LE(1n << 40n, 24); b.writeBigUInt64LE(BigInt(superblockCrc(b)), 96); });
    expect(openErr(dev)).toMatch(/does not fit/);
  });
  it('alloc_unit neither 4K nor 2M is refused (CRC recomputed)', () => {
    const dev = patched(t, 'au', (b) => { b.writeBigUInt64LE(0x100000n, 32); b.writeBigUInt64LE(BigInt(superblockCrc(b)), 96); });
    expect(openErr(dev)).toMatch(/alloc_unit/);
  });
});

describe('log header corruption (famfs-format.md §3.1)', () => {
  const t = new TempDir();
  afterAll(() => t.cleanup());
  it('magic, len, last_index and crc are checked', () => {
    expect(openErr(patched(t, 'hm', (b) => { b[LOG]! ^= 1; }))).toMatch(/log header: bad magic/);
    expect(openErr(patched(t, 'hl', (b) => { b[LOG + 9]! ^= 1; }))).toMatch(/log header: crc mismatch/);
    expect(openErr(patched(t, 'hi', (b) => { b[LOG + 16]! ^= 1; }))).toMatch(/log header: crc mismatch/);
    expect(openErr(patched(t, 'hc', (b) => { b[LOG + 24]! ^= 1; }))).toMatch(/log header: crc mismatch/);
  });
  it('next_index past the last slot is refused; next_index past the written entries reports the bad entry', () => {
    expect(openErr(patched(t, 'hn', (b) => { b.writeBigUInt64LE(1n << 40n, LOG + 40); }))).toMatch(/past the last slot/);
    const dev = patched(t, 'hn2', (b) => { b.writeBigUInt64LE(9n, LOG + 40); });
    const { img, r } = report(dev);
    expect(img.bad.map((b) => b.index)).toEqual([7, 8]);
    expect(img.damage).toMatch(/2 bad entries \(index 7 and 8\)/);
    expect(r.text).toContain('2 bad log entries detected');
    expect(r.exitCode).toBe(2);
    expect(img.paths).toHaveLength(7);
  });
});

describe('entry corruption (famfs-format.md §3.6)', () => {
  const t = new TempDir();
  afterAll(() => t.cleanup());
  // Field classes: seqnum, type, padding, file size, mode, relpath, ext type, extent offset, strip, crc.
  const fields: [string, number, number][] = [
    ['seqnum', 1, 0], ['type', 1, 8], ['padding', 1, 13], ['fm_size', 1, 17], ['fm_mode', 1, 36], ['relpath', 1, 42],
    ['ext_type', 1, 120], ['se_offset', 1, 138], ['ie_strip', 3, 160], ['unused union bytes', 0, 300], ['crc', 2, 537],
  ];
  for (const [what, index, at] of fields) {
    it(`a flipped byte in entry ${index} ${what}: replay skips it and goes on, fsck counts it and fails`, () => {
      const dev = patched(t, `e${index}-${at}`, (b) => { b[E(index) + at]! ^= 0x10; });
      const { img, r } = report(dev);
      expect(img.bad.map((b) => b.index)).toEqual([index]);
      expect(img.bad[0]!.message).toMatch(new RegExp(`log entry ${index}: (seqnum|crc)`));
      expect(r.text).toContain('1 bad log entries detected');
      expect(r.text).toContain(`    log entry ${index}: `);
      expect(r.exitCode).toBe(1);
      expect(img.paths.length).toBeLessThan(7);
      // Entries after the bad one are still replayed (the last entry, index 6, is a file).
      expect(img.paths.length).toBeGreaterThan(index);
    });
  }
  it('CRC-valid nonsense (41 extents, ext type 9, offsets past the device, an unknown entry type) gives errors, not faults', () => {
    const dev = patched(t, 'nonsense', (b) => {
      const fix = (i: number) => b.writeBigUInt64LE(BigInt(entryCrc(b.subarray(E(i), E(i) + 544))), E(i) + 536);
      b.writeUInt32LE(41, E(1) + 128); fix(1); // nextents
      b.writeUInt32LE(9, E(2) + 120); fix(2); // ext type
      b.writeBigUInt64LE(0x1_0000_0000_0000n, E(3) + 160); fix(3); // strip offset way past 4 GiB
      b.writeUInt32LE(77, E(4) + 8); fix(4); // unknown type: skipped like famfs
    });
    const { img, r } = report(dev);
    expect(img.bad[0]!.message).toMatch(/41 simple extents/);
    expect(r.text).toContain('2 bad log entries detected');
    expect(r.exitCode).toBeGreaterThan(0); // the strip past the device is an fsck error
    const img2 = FamfsImage.open({ device: dev, systemUuid: sys });
    try {
      expect(img2.scan.extentErrors.join()).toMatch(/runs past daxdev 0/);
    } finally {
      img2.close();
    }
  });
  it('a file whose extent lies past the device reads as EIO, never outside the mapping', () => {
    const dev = patched(t, 'pastend', (b) => {
      b.writeBigUInt64LE(0xfffe00000n, E(1) + 144);
      b.writeBigUInt64LE(BigInt(entryCrc(b.subarray(E(1), E(1) + 544))), E(1) + 536);
    });
    const img = FamfsImage.open({ device: dev, systemUuid: sys });
    try {
      const f = img.file('dir1/f1');
      expect(() => img.read(f, 0, Buffer.alloc(10))).toThrow(/runs past the device/);
    } finally {
      img.close();
    }
  });
});

describe('truncated devices', () => {
  const t = new TempDir();
  afterAll(() => t.cleanup());
  it('cut inside the log, inside the superblock, and empty', () => {
    const head = fixtureHead();
    for (const [len, want] of [[5 * MiB, /does not fit/], [100, /no famfs superblock/], [0, /empty/]] as const) {
      const p = t.path(`trunc${len}`);
      fs.writeFileSync(p, head.subarray(0, len));
      expect(openErr(p)).toMatch(want);
    }
    const p = t.path('trunc12');
    fs.writeFileSync(p, head.subarray(0, 12 * MiB));
    expect(openErr(p)).toMatch(/truncated device/);
  });
});

describe('a full log', () => {
  const t = new TempDir();
  let dev: string;
  beforeAll(() => {
    dev = t.file('full', 128 * MiB);
    const m = MappedDevice.open(dev);
    try {
      mkfs(m, { devPath: dev, systemUuid: sys, allowSmall: true });
    } finally {
      m.close();
    }
  });
  afterAll(() => t.cleanup());

  it('fills to 15420 entries, then "log full" (ENOMEM); committed files survive every append', () => {
    const img = FamfsImage.open({ device: dev, writable: true, systemUuid: sys });
    const data = Buffer.from('committed before the log filled');
    try {
      const f = img.creat('keep', data.length);
      img.write(f, 0, data);
      img.mkdir('d');
      // Fill the rest fast: raw appends of MKDIR entries (what mkdir would log).
      const slots = logSlots(8 * MiB);
      for (let i = img.header.nextIndex; i < slots; i++) img.append({ type: 'mkdir', path: `d/${i}`, uid: 0, gid: 0, mode: 0o755 });
      expect(img.logFull).toBe(true);
      let err: unknown;
      try {
        img.creat('late', 10);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ImageError);
      expect((err as ImageError).message).toMatch(/log full/);
      expect((err as ImageError).exitCode).toBe(12);
      expect(() => img.mkdir('late')).toThrow(/log full/);
    } finally {
      img.close();
    }
    const re = FamfsImage.open({ device: dev, systemUuid: sys });
    try {
      expect(re.header.nextIndex).toBe(15420);
      const back = Buffer.alloc(data.length);
      re.read(re.file('keep'), 0, back);
      expect(back).toEqual(data);
      const r = fsck({ sb: re.sb, header: re.header, scan: re.scan, role: re.role });
      expect(r.text).toContain('15420 of 15420 entries used');
      expect(r.exitCode).toBe(0);
      expect(re.namespace.stats.dirsCreated).toBe(15419);
    } finally {
      re.close();
    }
  });

  it('a torn append (entry written, header not yet advanced) is invisible; a torn entry is caught by CRC', () => {
    const d2 = t.file('torn', 128 * MiB);
    const m = MappedDevice.open(d2);
    try {
      mkfs(m, { devPath: d2, systemUuid: sys, allowSmall: true });
      // Half an entry in slot 0, counters untouched: nothing to replay.
      encodeEntry({ type: 'mkdir', path: 'x', uid: 0, gid: 0, mode: 0o755 }, 0).copy(m.view(0, 16 * 2 ** 20), E(0), 0, 300);
    } finally {
      m.close();
    }
    const img = FamfsImage.open({ device: d2, writable: true, systemUuid: sys });
    try {
      expect(img.header.nextIndex).toBe(0);
      img.mkdir('y');
      expect(img.lookup('y')?.kind).toBe('dir');
    } finally {
      img.close();
    }
  });
});
