// Tier 1: what the famfs FileSystem keeps per file the kernel was told about. FORGET of the
// last lookup drops a committed file's record (the file is then found by its log nodeid,
// with its times and any chmod kept); a file still being written survives a FORGET; READDIR
// in pages of a few entries lists every name once, in the same order as one big page, and
// READDIRPLUS counts as lookups (and sends names alone for what the kernel holds). Committed files and directories get long cache timeouts, and
// the master keeps a committed file's page cache across opens (FOPEN_KEEP_CACHE).
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { ROOT_ID } from '../../src/famfs/namespace.js';
import type { DirEntry, DirList } from '../../src/fuse/filesystem.js';
import { Fopen, InitFlag } from '../../src/fuse/opcodes.js';
import { FamfsFileSystem } from '../../src/server/famfs-fs.js';
import { smallImage, TempDir, MiB, withMasterFs } from '../famfs-support.js';
import { ctx, errnoOf } from '../support/fs-calls.js';

const E = os.constants.errno;
const UUID = Uint8Array.from({ length: 16 }, (_, i) => i + 7);

/** A DirList that takes at most `room` entries per call. */
function pages(f: FamfsFileSystem, dir: number, room: number, plus: boolean): DirEntry[] {
  const all: DirEntry[] = [];
  for (let off = 0; ; ) {
    const got: DirEntry[] = [];
    const out: DirList = { plus, add: (e) => (got.length < room ? (got.push(e), true) : false) };
    f.readdir(ctx, dir, 0, off, out);
    if (got.length === 0) return all;
    all.push(...got);
    off = got[got.length - 1]!.nextOffset;
  }
}

describe('famfs FileSystem: forget, paged readdir, cache timeouts', () => {
  let t: TempDir;
  beforeAll(() => {
    t = new TempDir();
  });
  afterAll(() => t.cleanup());

  it('drops a committed file at its last FORGET, keeps what the user sees', () => {
    withMasterFs(t, 'forget', 256 * MiB, UUID, (f, img, dev) => {
      const forgotten: number[] = [];
      f.events.forgotten = (n) => forgotten.push(n);
      const c = f.create(ctx, ROOT_ID, 'a', 0o100644, 0, 0o022);
      expect(c.entryTimeout).toBeGreaterThan(3600);
      expect(c.attrTimeout).toBe(1); // still being written
      f.write(ctx, c.nodeid, c.fh, 0, Buffer.from('hello'), 0);
      // Not committed yet: a FORGET keeps it (found again by name, same nodeid).
      f.forget(c.nodeid, 1);
      expect(f.lookup(ctx, ROOT_ID, 'a').nodeid).toBe(c.nodeid);
      // The mode is set before the last close, so it lands in the log entry (a committed file's mode is fixed).
      f.setattr(ctx, c.nodeid, { valid: 1, mode: 0o600 });
      f.flush();
      f.release(ctx, c.nodeid, c.fh);
      const before = f.getattr(ctx, c.nodeid);
      expect(before.timeout).toBeGreaterThan(3600);
      // The CREATE's lookup was forgotten; the LOOKUP above and this one are held: one FORGET keeps it.
      expect(f.lookup(ctx, ROOT_ID, 'a').nodeid).toBe(c.nodeid);
      f.forget(c.nodeid, 1);
      expect(forgotten).toEqual([]);
      expect(f.getattr(ctx, c.nodeid).attr.mode & 0o7777).toBe(0o600);
      f.forget(c.nodeid, 1);
      expect(forgotten).toEqual([c.nodeid]);
      expect(errnoOf(() => f.getattr(ctx, c.nodeid))).toBe(E.ENOENT);
      const again = f.lookup(ctx, ROOT_ID, 'a');
      expect(again.nodeid).not.toBe(c.nodeid);
      expect(again.nodeid).toBe(img.lookup('a')!.id);
      expect(again.attr.size).toBe(5);
      expect(again.attr.mode & 0o7777).toBe(0o600);
      expect(again.attr.mtimeMs).toBe(before.attr.mtimeMs);
      expect(Buffer.concat(f.read(ctx, again.nodeid, 0, 0, 5)).toString()).toBe('hello');
      // The master keeps a committed file's page cache across opens; a read-only view does not.
      expect(f.open(ctx, again.nodeid, 0).openFlags).toBe(Fopen.KEEP_CACHE | Fopen.NOFLUSH);
      const ro = FamfsImage.open({ device: dev, writable: false, systemUuid: UUID });
      try {
        const view = new FamfsFileSystem(ro, { device: dev });
        expect((view.open(ctx, view.lookup(ctx, ROOT_ID, 'a').nodeid, 0).openFlags ?? 0) & Fopen.KEEP_CACHE).toBe(0);
      } finally {
        ro.close();
      }
      // A log nodeid holds nothing per lookup; its FORGET only tells the mount (serving threads).
      f.forget(again.nodeid, 1);
      expect(forgotten).toEqual([c.nodeid, again.nodeid]);
      expect(f.lookup(ctx, ROOT_ID, 'a').nodeid).toBe(again.nodeid);
    });
  });

  it('pages READDIR(PLUS) without losing or repeating names; plus entries are lookups, names alone for what the kernel holds', () => {
    withMasterFs(t, 'readdir', 256 * MiB, UUID, (f) => {
      const ids: number[] = [];
      for (const name of ['m', 'c', 'x', 'a', 'q']) {
        const c = f.create(ctx, ROOT_ID, name, 0o100644, 0, 0o022);
        ids.push(c.nodeid);
        if (name !== 'q') {
          f.write(ctx, c.nodeid, c.fh, 0, Buffer.from(name), 0);
          f.release(ctx, c.nodeid, c.fh); // 'q' stays pending
        }
      }
      const one = pages(f, ROOT_ID, 1000, false).map((e) => e.name);
      // One name order for committed files and those still being written ('q'): a file keeps
      // its place when it is committed between two READDIRs.
      expect(one).toEqual(['.', '..', '.meta', 'a', 'c', 'm', 'q', 'x']);
      for (const room of [1, 2, 3]) expect(pages(f, ROOT_ID, room, false).map((e) => e.name)).toEqual(one);
      // The kernel holds every created file (CREATE was a lookup): READDIRPLUS sends their
      // names alone (nodeid 0, no attributes, not a lookup), with the inode number and type.
      const held = pages(f, ROOT_ID, 2, true);
      expect(held.map((e) => e.name)).toEqual(one);
      // '.meta' was never looked up: it comes with its entry (and is held from then on).
      for (const e of held) expect(e.entry.nodeid).toBe(e.name === '.meta' ? e.entry.attr.ino : 0);
      expect(held.filter((e) => ids.includes(e.entry.attr.ino)).map((e) => e.name)).toEqual(['a', 'c', 'm', 'q', 'x']);
      for (const id of ids) f.forget(id, 1);
      expect(errnoOf(() => f.getattr(ctx, ids[0]!))).toBe(E.ENOENT);
      // The pending one is never dropped.
      expect(f.getattr(ctx, ids[4]!).attr.ino).toBe(ids[4]);
      expect(pages(f, ROOT_ID, 2, false).map((e) => e.name)).toEqual(one);
      // Forgotten, the committed files come with entries again (their log nodeids), each a
      // lookup: one FORGET of each is the last again.
      const again = pages(f, ROOT_ID, 2, true).filter((e) => ['a', 'c', 'm', 'x'].includes(e.name));
      expect(again.map((e) => e.entry.nodeid).every((n) => n > 0 && !ids.includes(n))).toBe(true);
      for (const e of again) expect(f.getattr(ctx, e.entry.nodeid).attr.size).toBe(1);
      expect(pages(f, ROOT_ID, 2, true).filter((e) => e.entry.nodeid !== 0).map((e) => e.name)).toEqual([]);
      for (const e of again) f.forget(e.entry.nodeid, 1);
      expect(pages(f, ROOT_ID, 2, true).filter((e) => e.entry.nodeid !== 0).map((e) => e.name)).toEqual(['a', 'c', 'm', 'x']);
    });
  });
  it('lets the master\'s kernel keep listings (no OPENDIR where it offers), and drops them for names it did not see come or go', () => {
    const dev = smallImage(t, 'cachedir', 64 * MiB, UUID);
    const img = FamfsImage.open({ device: dev, writable: true, systemUuid: UUID });
    try {
      const f = new FamfsFileSystem(img, { device: dev });
      const dropped: number[] = [];
      f.events.invalidate = (n, off, len) => {
        expect([off, len]).toEqual([0, -1]);
        dropped.push(n);
      };
      const cached = Fopen.CACHE_DIR | Fopen.KEEP_CACHE;
      expect(f.opendir(ctx, ROOT_ID).openFlags).toBe(cached);
      // A file still being written is listed like any other: the kernel saw its CREATE.
      f.create(ctx, ROOT_ID, 'busy', 0o100644, 0, 0o022);
      expect(f.opendir(ctx, ROOT_ID).openFlags).toBe(cached);
      expect(dropped).toEqual([]);
      // Dropped unlogged (the server stops with it open): the kernel is told to forget the listing.
      f.dropAll('stopping');
      expect(dropped).toEqual([ROOT_ID]);
      expect(pages(f, ROOT_ID, 10, false).map((e) => e.name)).not.toContain('busy');
      // A kernel that can do without OPENDIR is told so once (ENOSYS), then opens directories itself.
      f.init({ minor: 45, profile: 'mainline', maxWrite: 1 << 20, maxReadahead: 1 << 20, flags: InitFlag.NO_OPENDIR_SUPPORT });
      expect(errnoOf(() => f.opendir(ctx, ROOT_ID))).toBe(E.ENOSYS);
    } finally {
      img.close();
    }
    // A client learns of files by logplay, which its kernel does not see: no cached listing,
    // and each directory a replay adds names to is dropped from the kernel's caches.
    const client = FamfsImage.open({ device: dev, systemUuid: Uint8Array.from({ length: 16 }, (_, i) => 200 - i) });
    try {
      const f = new FamfsFileSystem(client, { device: dev });
      expect(f.opendir(ctx, ROOT_ID).openFlags ?? 0).toBe(0);
      const dropped: number[] = [];
      f.events.invalidate = (n) => dropped.push(n);
      const w = FamfsImage.open({ device: dev, writable: true, systemUuid: UUID });
      try {
        w.mkdir('d');
        w.creat('d/x', MiB);
      } finally {
        w.close();
      }
      expect(f.logplay()).toBe(2);
      const d = f.lookup(ctx, ROOT_ID, 'd').nodeid;
      expect(dropped.sort((x, y) => x - y)).toEqual([ROOT_ID, d].sort((x, y) => x - y));
      expect(f.logplay()).toBe(0);
      expect(dropped.length).toBe(2);
    } finally {
      client.close();
    }
  });
});
