// Tier 1 (no kernel): the rules of issue 13 on the famfs FileSystem driven as the engine
// would drive it. A file is logged at the RELEASE of its last open file description; a
// refused truncation stops that description from writing; chmod/chown/utimes of logged
// nodes are refused unless they change nothing; a file a write could not grow is dropped
// with its space; create refuses a full device. The same rules through a real mount and
// real programs: test/mount/everyday-tools.test.ts.
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { ROOT_ID } from '../../src/famfs/namespace.js';
import { Fattr } from '../../src/fuse/opcodes.js';
import { FamfsFileSystem } from '../../src/server/famfs-fs.js';
import { smallImage, TempDir, MiB } from '../famfs-support.js';
import { ctx, errnoOf } from '../support/fs-calls.js';

const E = os.constants.errno;
const UUID = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const O_WRONLY = 1;

describe('famfs FileSystem: commit at the last release, refusals that change nothing', () => {
  let t: TempDir;
  beforeAll(() => {
    t = new TempDir();
  });
  afterAll(() => t.cleanup());

  function open(name: string, size = 256 * MiB): { img: FamfsImage; f: FamfsFileSystem; logged: string[] } {
    const dev = smallImage(t, name, size, UUID);
    const img = FamfsImage.open({ device: dev, writable: true, systemUuid: UUID });
    const logged: string[] = [];
    return { img, f: new FamfsFileSystem(img, { device: dev, log: (l) => logged.push(l) }), logged };
  }

  it('logs a file when its last open file description is released, not at FLUSH', () => {
    const { img, f } = open('release');
    try {
      const c = f.create(ctx, ROOT_ID, 'shared', 0o100644, 0, 0o022);
      const second = f.open(ctx, c.nodeid, O_WRONLY);
      f.write(ctx, c.nodeid, c.fh, 0, Buffer.from('one\n'), 0);
      f.flush();
      f.release(ctx, c.nodeid, c.fh);
      expect(img.lookup('shared')).toBeUndefined(); // another description still holds it
      f.write(ctx, c.nodeid, second.fh, 4, Buffer.from('two\n'), 0);
      f.release(ctx, c.nodeid, second.fh);
      const n = img.lookup('shared');
      expect(n?.kind === 'file' && n.size).toBe(8);
      expect(f.unfinished()).toEqual([]);
    } finally {
      img.close();
    }
  });

  it('a refused truncation stops its open file description from writing; the same size is allowed', () => {
    const { img, f, logged } = open('trunc');
    try {
      const c = f.create(ctx, ROOT_ID, 'e', 0o100644, 0, 0o022);
      f.write(ctx, c.nodeid, c.fh, 0, Buffer.from('this line is long\n'), 0);
      f.release(ctx, c.nodeid, c.fh);
      const h = f.open(ctx, c.nodeid, O_WRONLY);
      expect(errnoOf(() => f.setattr(ctx, c.nodeid, { valid: Fattr.SIZE | Fattr.FH, size: 0, fh: h.fh }))).toBe(E.EPERM);
      expect(errnoOf(() => f.write(ctx, c.nodeid, h.fh, 0, Buffer.from('short\n'), 0))).toBe(E.EPERM);
      expect(logged.join('\n')).toMatch(/e: truncate to 0 bytes refused/);
      // Another description still writes in place; the same size is no change.
      const other = f.open(ctx, c.nodeid, O_WRONLY);
      expect(f.setattr(ctx, c.nodeid, { valid: Fattr.SIZE | Fattr.FH, size: 18, fh: other.fh }).attr.size).toBe(18);
      expect(f.write(ctx, c.nodeid, other.fh, 0, Buffer.from('THIS'), 0)).toBe(4);
      expect(Buffer.concat(f.read(ctx, c.nodeid, 0, 0, 100)).toString()).toBe('THIS line is long\n');
      // A write ending past the size is refused whole, and what this description rewrote before
      // is put back (a longer rewrite in place never leaves new bytes over an old tail).
      expect(errnoOf(() => f.write(ctx, c.nodeid, other.fh, 16, Buffer.from('xyz'), 0))).toBe(E.EFBIG);
      expect(Buffer.concat(f.read(ctx, c.nodeid, 0, 0, 100)).toString()).toBe('this line is long\n');
      expect(errnoOf(() => f.write(ctx, c.nodeid, other.fh, 0, Buffer.from('THIS'), 0))).toBe(E.EPERM);
      // A shorter rewrite: written in place, then its ftruncate is refused: put back as well.
      const third = f.open(ctx, c.nodeid, O_WRONLY);
      expect(f.write(ctx, c.nodeid, third.fh, 0, Buffer.from('short\n'), 0)).toBe(6);
      expect(f.write(ctx, c.nodeid, third.fh, 2, Buffer.from('OR'), 0)).toBe(2);
      expect(errnoOf(() => f.setattr(ctx, c.nodeid, { valid: Fattr.SIZE | Fattr.FH, size: 6, fh: third.fh }))).toBe(E.EPERM);
      expect(Buffer.concat(f.read(ctx, c.nodeid, 0, 0, 100)).toString()).toBe('this line is long\n');
      expect(logged.join('\n')).toMatch(/e: truncate to 6 bytes refused.*the 8 bytes this open file had rewritten were put back/);
      expect(errnoOf(() => f.open(ctx, c.nodeid, O_WRONLY | 0o1000))).toBe(E.EPERM);
    } finally {
      img.close();
    }
  });

  it('chmod/chown/utimes: pending files take them (times only "now"); logged nodes refuse a change, accept no change', () => {
    const { img, f, logged } = open('attrs');
    try {
      const c = f.create(ctx, ROOT_ID, 'm', 0o100600, 0, 0);
      f.setattr(ctx, c.nodeid, { valid: Fattr.MODE | Fattr.UID | Fattr.GID, mode: 0o100640, uid: 7, gid: 8 });
      f.setattr(ctx, c.nodeid, { valid: Fattr.ATIME | Fattr.MTIME, atimeMs: 'now', mtimeMs: 'now' });
      expect(errnoOf(() => f.setattr(ctx, c.nodeid, { valid: Fattr.MTIME, mtimeMs: 1_000 }))).toBe(E.EPERM);
      f.write(ctx, c.nodeid, c.fh, 0, Buffer.from('x'), 0);
      f.release(ctx, c.nodeid, c.fh);
      const n = img.lookup('m');
      expect(n?.kind === 'file' && [n.mode, n.uid, n.gid]).toEqual([0o640, 7, 8]);
      const a = f.getattr(ctx, c.nodeid).attr;
      expect(f.setattr(ctx, c.nodeid, { valid: Fattr.MODE | Fattr.UID | Fattr.GID, mode: 0o100640, uid: 7, gid: 8 }).attr.mode & 0o7777).toBe(0o640);
      expect(f.setattr(ctx, c.nodeid, { valid: Fattr.MTIME, mtimeMs: a.mtimeMs }).attr.mode & 0o7777).toBe(0o640);
      expect(errnoOf(() => f.setattr(ctx, c.nodeid, { valid: Fattr.MODE, mode: 0o100600 }))).toBe(E.EPERM);
      expect(errnoOf(() => f.setattr(ctx, c.nodeid, { valid: Fattr.UID, uid: 0 }))).toBe(E.EPERM);
      expect(errnoOf(() => f.setattr(ctx, c.nodeid, { valid: Fattr.MTIME | Fattr.MTIME_NOW, mtimeMs: 'now' }))).toBe(E.EPERM);
      expect(f.getattr(ctx, c.nodeid).attr.mode & 0o7777).toBe(0o640);
      const d = f.mkdir(ctx, ROOT_ID, 'd', 0o751, 0);
      expect(f.setattr(ctx, d.nodeid, { valid: Fattr.MODE, mode: 0o40751 }).attr.mode & 0o7777).toBe(0o751);
      expect(errnoOf(() => f.setattr(ctx, d.nodeid, { valid: Fattr.MODE, mode: 0o40755 }))).toBe(E.EPERM);
      expect(logged.filter((l) => l.startsWith('setattr refused')).length).toBe(5);
    } finally {
      img.close();
    }
  });

  it('a file a write could not grow is dropped at its release, its space free; a full device refuses create', () => {
    const { img, f, logged } = open('enospc', 32 * MiB);
    try {
      const free0 = f.statfs().bfree;
      const c = f.create(ctx, ROOT_ID, 'big', 0o100644, 0, 0);
      let at = 0;
      const chunk = Buffer.alloc(MiB, 1);
      let err: number | undefined;
      while (err === undefined) {
        err = errnoOf(() => f.write(ctx, c.nodeid, c.fh, at, chunk, 0));
        at += MiB;
      }
      expect(err).toBe(E.ENOSPC);
      f.release(ctx, c.nodeid, c.fh);
      expect(img.lookup('big')).toBeUndefined();
      expect(f.lookup(ctx, ROOT_ID, 'big').nodeid).toBe(0); // a miss (sent as ENOENT)
      expect(f.statfs().bfree).toBe(free0);
      expect(logged.join('\n')).toMatch(/big: dropped, not logged/);
      // Fill every unit with empty files (one 2 MiB unit each): the next create is refused at once.
      let k = 0;
      for (;;) {
        const r = errnoOf(() => f.create(ctx, ROOT_ID, `e${k++}`, 0o100644, 0, 0));
        if (r !== undefined) {
          expect(r).toBe(E.ENOSPC);
          break;
        }
      }
      expect(k - 1).toBe(free0);
    } finally {
      img.close();
    }
  });
});
