// Goldens: the real famfs bytes (famfs-format.md §2.4, famfs-format.md §3.1, famfs-format.md §3.7 and the fixture image).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { superblockStruct, checkSuperblock, decodeSuperblock, superblockCrc } from '../../src/famfs/superblock.js';
import { logHeaderStruct, entryStruct, fileMetaStruct, mkdirStruct, addDaxdevStruct, simpleExtStruct, decodeLogHeader, decodeEntry, encodeEntry, encodeLogHeader, checkEntry, logSlots, ENTRY_SIZE } from '../../src/famfs/log.js';
import { FamfsImage } from '../../src/famfs/image.js';
import { fsck } from '../../src/famfs/fsck.js';
import { shadowYaml } from '../../src/famfs/shadow.js';
import { randomBytes } from '../../src/famfs/prng.js';
import { formatUuid } from '../../src/famfs/uuid.js';
import { FIXTURE, TempDir, fixtureHead, fixtureImage, fixtureSystemUuid, MiB } from '../famfs-support.js';

const LOG = 0x200000;
const entryAt = (i: number) => fixtureHead().subarray(LOG + 48 + 544 * i, LOG + 48 + 544 * (i + 1));

function hexdump(lines: string): Buffer {
  // "00200030: 0000 0000 ..." lines as in the reference; returns a 544-byte entry.
  const out = Buffer.alloc(544);
  let base = -1;
  for (const line of lines.trim().split('\n')) {
    const m = /^([0-9a-f]{8}): ((?:[0-9a-f]{4} ?)+)/.exec(line.trim());
    if (!m) continue;
    const addr = parseInt(m[1]!, 16);
    if (base < 0) base = addr;
    Buffer.from(m[2]!.replace(/\s+/g, ''), 'hex').copy(out, addr - base);
  }
  return out;
}

describe('struct sizes (famfs-format.md §0)', () => {
  it('pins every famfs struct', () => {
    expect(superblockStruct.size).toBe(200);
    expect(logHeaderStruct.size).toBe(48);
    expect(entryStruct.size).toBe(544);
    expect(fileMetaStruct.size).toBe(544);
    expect(mkdirStruct.size).toBe(544);
    expect(addDaxdevStruct.size).toBe(544);
    expect(simpleExtStruct.size).toBe(24);
    expect(logSlots(0x800000)).toBe(15420);
    expect(logSlots(0x1000000)).toBe(30840);
  });
});

describe('superblock (famfs-format.md §2.4)', () => {
  const sbBytes = fixtureHead().subarray(0, 200);
  it('decodes the real bytes', () => {
    const sb = decodeSuperblock(sbBytes);
    expect(sb.magic).toBe(0x87b282ff);
    expect(sb.version).toBe(48);
    expect(sb.logOffset).toBe(0x200000);
    expect(sb.logLen).toBe(0x800000);
    expect(sb.allocUnit).toBe(0x200000);
    expect([sb.omfMajor, sb.omfMinor]).toEqual([2, 2]);
    expect(formatUuid(sb.uuid)).toBe('835deac2-91ed-4d5e-8d6e-4e7d6c265121');
    expect(formatUuid(sb.devUuid)).toBe('5b9fbde4-1c8b-4109-8f3e-f1cec936e290');
    expect(formatUuid(sb.systemUuid)).toBe('228bca54-cf54-4bac-8bf3-9e526d564234');
    expect(sb.crc).toBe(0x6d4feeec);
    expect(sb.ddSize).toBe(4 * 1024 ** 3);
    expect(sb.daxdevPath).toBe('/dev/dax0.0');
    expect(sb.crc).toBe(superblockCrc(sbBytes));
    expect(checkSuperblock(sbBytes).ok).toBe(true);
  });
});

describe('log header (famfs-format.md §3.1)', () => {
  it('a fresh header is the real bytes', () => {
    const ref = Buffer.concat([
      Buffer.from('0df0fecaad0b00000000800000000000', 'hex'),
      Buffer.from('3b3c0000000000007850 87a500000000'.replace(/ /g, ''), 'hex'),
      Buffer.alloc(16),
    ]);
    expect(encodeLogHeader(0x800000)).toEqual(ref);
  });
  it('the fixture header: 7 entries', () => {
    const h = decodeLogHeader(fixtureHead().subarray(LOG, LOG + 0x800000), 0x800000);
    expect(h).toMatchObject({ len: 0x800000, lastIndex: 15419, crc: 0xa5875078, nextSeqnum: 7, nextIndex: 7 });
  });
});

describe('log entries (famfs-format.md §3.7)', () => {
  it('entry 0 (MKDIR dir1) and entry 1 (FILE dir1/f1) are the reference bytes, and we encode them identically', () => {
    const e0 = hexdump(`
00200030: 0000 0000 0000 0000 0100 0000 0000 0000
00200040: 0000 0000 0000 0000 ed01 0000 6469 7231
00200240: 0000 0000 0000 0000 0b82 dbd6 0000 0000`);
    expect(entryAt(0)).toEqual(e0);
    expect(encodeEntry({ type: 'mkdir', path: 'dir1', uid: 0, gid: 0, mode: 0o755 }, 0)).toEqual(e0);
    const e1 = hexdump(`
00200250: 0100 0000 0000 0000 0000 0000 0000 0000
00200260: 0000 3000 0000 0000 0200 0000 0000 0000
00200270: 0000 0000 a401 0000 6469 7231 2f66 3100
002002d0: 0100 0000 0000 0000 0000 0000 0000 0000
002002e0: 0000 a000 0000 0000 0000 4000 0000 0000
00200460: 0000 0000 0000 0000 284f 70bf 0000 0000`);
    expect(entryAt(1)).toEqual(e1);
    const d = decodeEntry(e1, 1);
    expect(d).toMatchObject({ type: 'file', path: 'dir1/f1', size: 0x300000, flags: 2, mode: 0o644 });
    expect(encodeEntry({ ...(d as Extract<typeof d, { type: 'file' }>) }, 1)).toEqual(e1);
  });

  it('entry 3 of the reference run (strips 0xc0000000, 0x1000000, 0x40000000, 0x80000000) has crc 0x227bd0ad', () => {
    const strips = [0xc0000000, 0x1000000, 0x40000000, 0x80000000].map((offset) => ({ daxdev: 0, offset, length: 0x600000 }));
    const b = encodeEntry({ type: 'file', path: 'striped', size: 0x1400000, flags: 2, uid: 0, gid: 0, mode: 0o644, map: { size: 0x1400000, extents: [{ type: 'interleave', chunkSize: 0x200000, nbytes: 0x1400000, strips }] } }, 3);
    expect(b.readUInt32LE(536)).toBe(0x227bd0ad);
    expect(b.subarray(0x700 - 0x690, 0x720 - 0x690).toString('hex')).toBe('0000000000000000010000000000000001000000000000000400000000000000');
  });

  it('every fixture entry validates, decodes and re-encodes to the same 544 bytes', () => {
    for (let i = 0; i < 7; i++) {
      const raw = entryAt(i);
      expect(checkEntry(raw, i)).toBeUndefined();
      const e = decodeEntry(raw, i);
      expect(e.type).not.toBe('other');
      if (e.type === 'other') continue;
      const { seqnum, ...rest } = e;
      expect(encodeEntry(rest, seqnum)).toEqual(Buffer.from(raw));
    }
    expect(entryAt(3).readUInt32LE(536)).toBe(0xb141c08b);
    expect(ENTRY_SIZE).toBe(544);
  });
});

describe('the fixture image', () => {
  const t = new TempDir();
  let dev: string;
  beforeAll(() => {
    dev = fixtureImage(t);
  });
  afterAll(() => t.cleanup());

  it('replays into the namespace famfs made', () => {
    const img = FamfsImage.open({ device: dev, systemUuid: fixtureSystemUuid() });
    try {
      expect(img.role).toBe('master');
      const paths = [...img.namespace.walk()].map((n) => `${n.kind}:${n.path}`);
      expect(paths).toEqual(['dir:a', 'dir:a/b', 'dir:a/b/c', 'dir:dir1', 'file:dir1/f1', 'file:dir1/src.txt', 'file:striped']);
      expect(img.namespace.stats).toMatchObject({ entries: 7, filesCreated: 3, dirsCreated: 4, fileErrors: 0, dirErrors: 0 });
      expect(img.lookup('dir1/f1')!.id).toBe(3);
    } finally {
      img.close();
    }
  });

  it('fsck prints what famfs printed (fsck.txt), exit 0', () => {
    const img = FamfsImage.open({ device: dev, systemUuid: fixtureSystemUuid() });
    try {
      const r = fsck({ sb: img.sb, header: img.header, scan: img.scan, role: img.role });
      expect(r.text).toBe(fs.readFileSync(path.join(FIXTURE, 'fsck.txt'), 'utf8'));
      expect(r.exitCode).toBe(0);
    } finally {
      img.close();
    }
  });

  it('another host is a client', () => {
    const img = FamfsImage.open({ device: dev, systemUuid: new Uint8Array(16) });
    try {
      expect(img.role).toBe('client');
      expect(fsck({ sb: img.sb, header: img.header, scan: img.scan, role: img.role }).text).toContain('role of this node: Client');
      expect(() => img.mkdir('x')).toThrow(/FAMFS_MASTER/);
    } finally {
      img.close();
    }
  });

  it('shadow YAML equals famfs logplay --shadow output', () => {
    const img = FamfsImage.open({ device: dev, systemUuid: fixtureSystemUuid() });
    try {
      for (const p of ['dir1/f1', 'dir1/src.txt', 'striped']) {
        expect(shadowYaml(img.file(p))).toBe(fs.readFileSync(path.join(FIXTURE, 'shadow/root', p), 'utf8'));
      }
    } finally {
      img.close();
    }
  });

  it('file data reads back: f1 is famfs PRNG seed 42, src.txt is "hello famfs\\n"', () => {
    const img = FamfsImage.open({ device: dev, systemUuid: fixtureSystemUuid() });
    try {
      const f1 = img.file('dir1/f1');
      const buf = Buffer.alloc(3 * MiB);
      expect(img.read(f1, 0, buf)).toBe(3 * MiB);
      expect(buf.equals(randomBytes(42, 3 * MiB))).toBe(true);
      const src = Buffer.alloc(100);
      expect(img.read(img.file('dir1/src.txt'), 0, src)).toBe(12);
      expect(src.subarray(0, 12).toString()).toBe('hello famfs\n');
    } finally {
      img.close();
    }
  });
});
