// Tier 1 (no kernel): what programs do right after closing a new file lands in its one log
// entry (FamfsFsOptions.settleMs): install's chmod, a rename of a temp file into place, an
// unlink of a swap or temp file, a reopen to append. Files not yet logged can be removed and
// renamed; logged ones cannot. Through a real mount: test/mount/everyday-rewrites.test.ts.
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
const SETTLE = 150;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('famfs FileSystem: settle time, unlink and rename of files not yet logged', () => {
  let t: TempDir;
  beforeAll(() => {
    t = new TempDir();
  });
  afterAll(() => t.cleanup());

  function open(name: string): { img: FamfsImage; f: FamfsFileSystem; logged: string[] } {
    const dev = smallImage(t, name, 256 * MiB, UUID);
    const img = FamfsImage.open({ device: dev, writable: true, systemUuid: UUID });
    const logged: string[] = [];
    return { img, f: new FamfsFileSystem(img, { device: dev, log: (l) => logged.push(l), settleMs: SETTLE }), logged };
  }

  it('a chmod and a reopen to append after the last close land in the log entry', async () => {
    const { img, f } = open('settle');
    try {
      const c = f.create(ctx, ROOT_ID, 'inst', 0o100600, 0, 0);
      f.write(ctx, c.nodeid, c.fh, 0, Buffer.from('a\n'), 0);
      f.release(ctx, c.nodeid, c.fh);
      f.setattr(ctx, c.nodeid, { valid: Fattr.MODE, mode: 0o100755 }); // install -m 755: chmod after close
      const again = f.open(ctx, c.nodeid, O_WRONLY);
      f.write(ctx, c.nodeid, again.fh, 2, Buffer.from('b\n'), 0);
      f.release(ctx, c.nodeid, again.fh);
      expect(img.lookup('inst')).toBeUndefined();
      await pause(SETTLE * 3);
      const n = img.lookup('inst');
      expect(n?.kind === 'file' && [n.size, n.mode]).toEqual([4, 0o755]);
      // Logged now: a change is refused.
      expect(errnoOf(() => f.setattr(ctx, c.nodeid, { valid: Fattr.MODE, mode: 0o100700 }))).toBe(E.EPERM);
    } finally {
      img.close();
    }
  });

  it('fsync with no writer open logs a settling file at once; with a writer open it logs nothing', async () => {
    const { img, f } = open('fsync');
    try {
      const c = f.create(ctx, ROOT_ID, 'synced', 0o100644, 0o1 /* O_WRONLY */, 0);
      f.write(ctx, c.nodeid, c.fh, 0, Buffer.from('x'), 0);
      // Through the writing description itself (vim's :w, git): at once, nothing logged.
      const t0 = Date.now();
      expect(f.fsync(ctx, c.nodeid, c.fh)).toBeUndefined();
      expect(img.lookup('synced')).toBeUndefined();
      await f.fsync(ctx, c.nodeid); // another description: waits up to a second for the writer's release
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(img.lookup('synced')).toBeUndefined(); // its writer is still open
      // The writer's RELEASE may follow the fsync of another description: it is waited for.
      const waiting = f.fsync(ctx, c.nodeid);
      setTimeout(() => f.release(ctx, c.nodeid, c.fh), 20);
      await waiting;
      expect(img.lookup('synced')?.kind).toBe('file');
      const d = f.create(ctx, ROOT_ID, 'synced2', 0o100644, 0o1, 0);
      f.release(ctx, d.nodeid, d.fh);
      const reader = f.open(ctx, d.nodeid, 0); // `sync FILE` opens it read-only
      await f.fsync(ctx, d.nodeid);
      expect(img.lookup('synced2')?.kind).toBe('file');
      f.release(ctx, d.nodeid, reader.fh);
    } finally {
      img.close();
    }
  });

  it('unlink of a file not yet logged (open or closed) frees it; logged files and directories cannot be removed', async () => {
    const { img, f } = open('unlink');
    try {
      const free0 = f.alloc.freeUnits();
      const swp = f.create(ctx, ROOT_ID, '.e.swp', 0o100600, 0, 0);
      f.write(ctx, swp.nodeid, swp.fh, 0, Buffer.alloc(3 * MiB), 0);
      f.unlink(ctx, ROOT_ID, '.e.swp'); // still open: gone by name, dropped at its release
      expect(f.lookup(ctx, ROOT_ID, '.e.swp').nodeid).toBe(0); // a miss (sent as ENOENT)
      f.release(ctx, swp.nodeid, swp.fh);
      const tmp = f.create(ctx, ROOT_ID, 'tmp', 0o100600, 0, 0);
      f.release(ctx, tmp.nodeid, tmp.fh);
      f.unlink(ctx, ROOT_ID, 'tmp'); // closed, settling
      await pause(SETTLE * 3);
      expect(img.lookup('.e.swp')).toBeUndefined();
      expect(img.lookup('tmp')).toBeUndefined();
      expect(f.alloc.freeUnits()).toBe(free0);
      const kept = f.create(ctx, ROOT_ID, 'kept', 0o100600, 0, 0);
      f.release(ctx, kept.nodeid, kept.fh);
      f.finishAll();
      expect(errnoOf(() => f.unlink(ctx, ROOT_ID, 'kept'))).toBe(E.ENOTSUP);
      expect(errnoOf(() => f.unlink(ctx, ROOT_ID, 'nothing'))).toBe(E.ENOENT);
      f.mkdir(ctx, ROOT_ID, 'd', 0o755, 0);
      expect(errnoOf(() => f.rmdir(ctx, ROOT_ID, 'd'))).toBe(E.ENOTSUP);
    } finally {
      img.close();
    }
  });

  it('rename moves a file not yet logged (also over another one); nothing logged is moved or replaced', async () => {
    const { img, f } = open('rename');
    try {
      const dir = f.mkdir(ctx, ROOT_ID, 'dir', 0o755, 0);
      const a = f.create(ctx, ROOT_ID, '.a.XXXX', 0o100644, 0, 0);
      f.write(ctx, a.nodeid, a.fh, 0, Buffer.from('new\n'), 0);
      f.release(ctx, a.nodeid, a.fh);
      const b = f.create(ctx, dir.nodeid, 'target', 0o100644, 0, 0);
      f.write(ctx, b.nodeid, b.fh, 0, Buffer.from('older\n'), 0);
      f.release(ctx, b.nodeid, b.fh);
      f.rename(ctx, ROOT_ID, '.a.XXXX', dir.nodeid, 'target', 0); // over the unlogged target
      await pause(SETTLE * 3);
      const n = img.lookup('dir/target');
      expect(n?.kind === 'file' && n.size).toBe(4);
      expect(img.lookup('.a.XXXX')).toBeUndefined();
      expect(img.namespace.stats.filesCreated).toBe(1);
      // Over a logged file, or a logged file itself: ENOTSUP, nothing moved.
      const c = f.create(ctx, ROOT_ID, 'c', 0o100644, 0, 0);
      expect(errnoOf(() => f.rename(ctx, ROOT_ID, 'c', dir.nodeid, 'target', 0))).toBe(E.ENOTSUP);
      expect(errnoOf(() => f.rename(ctx, dir.nodeid, 'target', ROOT_ID, 'moved', 0))).toBe(E.ENOTSUP);
      expect(errnoOf(() => f.rename(ctx, ROOT_ID, 'c', dir.nodeid, 'target', 1))).toBe(E.EEXIST);
      expect(errnoOf(() => f.rename(ctx, ROOT_ID, 'c', ROOT_ID, 'x'.repeat(80), 0))).toBe(E.ENAMETOOLONG);
      expect(errnoOf(() => f.rename(ctx, ROOT_ID, 'c', ROOT_ID, 'd', 2))).toBe(E.EINVAL);
      f.release(ctx, c.nodeid, c.fh);
      f.finishAll();
      expect(img.lookup('c')?.kind).toBe('file');
    } finally {
      img.close();
    }
  });
});
