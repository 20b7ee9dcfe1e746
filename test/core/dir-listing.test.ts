// Tier 1: READDIR(PLUS) of the famfs file system in pages, through the packed listings
// (src/server/dir-listing.ts: logged children and files still being written, DirBuffer's packed
// fast path) and the per-entry path (a DirList without the fast path). Cookies name entries: a listing in pages
// of any size, from any cookie it handed out, equals the sorted full listing, and files
// created, committed or dropped between pages neither repeat nor skip the names that stayed.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { ROOT_ID } from '../../src/famfs/namespace.js';
import type { DirEntry, DirList } from '../../src/fuse/filesystem.js';
import { DirBuffer } from '../../src/fuse/reply.js';
import { DIRENTPLUS_DIRENT_OFFSET, Dirent } from '../../src/fuse/structs.js';
import { DirRecords, PendingRecords, RecentNames, upperBound } from '../../src/server/dir-listing.js';
import type { PendingFile } from '../../src/server/pending.js';
import { FamfsFileSystem } from '../../src/server/famfs-fs.js';
import { smallImage, TempDir, MiB, withMasterFs } from '../famfs-support.js';
import { ctx } from '../support/fs-calls.js';

const UUID = Uint8Array.from({ length: 16 }, (_, i) => i + 41);
const D_OFF = Dirent.offsetOf('off');
const D_INO = Dirent.offsetOf('ino');
const D_NAMELEN = Dirent.offsetOf('namelen');
const D_TYPE = Dirent.offsetOf('type');

interface Got {
  name: string;
  off: number;
  ino: number;
  type: number;
  nodeid: number;
}

/** Parses a READDIR(PLUS) reply as the kernel does (fs/fuse/readdir.c parse_dirfile / parse_dirplusfile). */
function parse(b: Buffer, plus: boolean): Got[] {
  const out: Got[] = [];
  for (let at = 0; at < b.length; ) {
    const d = plus ? at + DIRENTPLUS_DIRENT_OFFSET : at;
    const nlen = b.readUInt32LE(d + D_NAMELEN);
    out.push({
      name: b.toString('utf8', d + Dirent.size, d + Dirent.size + nlen),
      off: Number(b.readBigUInt64LE(d + D_OFF)),
      ino: Number(b.readBigUInt64LE(d + D_INO)),
      type: b.readUInt32LE(d + D_TYPE),
      nodeid: plus ? Number(b.readBigUInt64LE(at)) : -1,
    });
    at = d + ((Dirent.size + nlen + 7) & ~7);
  }
  return out;
}

/** One READDIR(PLUS) of `size` bytes from `off`, through the real reply buffer or a plain DirList taking `room` entries. */
function page(f: FamfsFileSystem, dir: number, off: number, plus: boolean, size: number, packed: boolean): Got[] {
  if (packed) {
    const out = new DirBuffer(size, plus);
    f.readdir(ctx, dir, 0, off, out);
    return parse(out.take(), plus);
  }
  const got: DirEntry[] = [];
  const room = Math.max(1, Math.floor(size / 64));
  const out: DirList = { plus, add: (e) => (got.length < room ? (got.push(e), true) : false) };
  f.readdir(ctx, dir, 0, off, out);
  return got.map((e) => ({ name: e.name, off: e.nextOffset, ino: e.entry.attr.ino, type: (e.entry.attr.mode >> 12) & 0xf, nodeid: e.entry.nodeid }));
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

describe('dir-listing: packed records and entry cookies', () => {
  let t: TempDir;
  beforeAll(() => {
    t = new TempDir();
  });
  afterAll(() => t.cleanup());

  it('upperBound and fit agree with a linear scan', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !s.includes('/') && !s.includes('\0')), { maxLength: 40 }), fc.string({ maxLength: 6 }), (names, probe) => {
      const s = sorted(names);
      expect(upperBound(s, probe)).toBe(s.filter((n) => n <= probe).length);
    }));
    const r = new DirRecords();
    const children = new Map();
    const dir = { kind: 'dir' as const, id: 1, name: '', path: '', mode: 0o755, uid: 0, gid: 0, index: -1, children };
    for (const [i, name] of ['b', 'a', 'ccc', 'dddddddddddddddddd'].entries()) {
      children.set(name, { kind: 'file', id: i + 2, name, path: name, mode: 0o644, uid: 0, gid: 0, index: i, size: 0, flags: 0, map: undefined as never });
    }
    r.sync(dir, (n) => n.id);
    expect(r.names).toEqual(['a', 'b', 'ccc', 'dddddddddddddddddd']);
    expect(r.starts).toEqual([0, 32, 64, 96, 144]);
    for (let from = 0; from <= 4; from++) {
      for (let room = 0; room < 200; room++) {
        let end = from;
        while (end < 4 && r.starts[end + 1]! - r.starts[from]! <= room) end++;
        expect(r.fit(from, room)).toBe(end);
      }
    }
    // An added name sorting first rebuilds; one sorting last is appended.
    children.set('0', { kind: 'dir', id: 9, name: '0', path: '0', mode: 0o755, uid: 0, gid: 0, index: 7, children: new Map() });
    children.set('z', { kind: 'file', id: 10, name: 'z', path: 'z', mode: 0o644, uid: 0, gid: 0, index: 8, size: 0, flags: 0, map: undefined as never });
    r.sync(dir, (n) => n.id);
    expect(r.names).toEqual(['0', 'a', 'b', 'ccc', 'dddddddddddddddddd', 'z']);
    children.set('zz', { kind: 'file', id: 11, name: 'zz', path: 'zz', mode: 0o644, uid: 0, gid: 0, index: 9, size: 0, flags: 0, map: undefined as never });
    r.sync(dir, (n) => n.id);
    expect(r.names.at(-1)).toBe('zz');
    expect(r.nodes.map((n) => n.id)).toEqual([9, 3, 2, 4, 5, 10, 11]);
    expect(parse(r.buf.subarray(0, r.starts.at(-1)), false).map((g) => [g.name, g.ino, g.off, g.type])).toEqual(
      [['0', 9, 25, 4], ['a', 3, 19, 8], ['b', 2, 18, 8], ['ccc', 4, 20, 8], ['dddddddddddddddddd', 5, 21, 8], ['z', 10, 26, 8], ['zz', 11, 27, 8]]);
    // A name added among the last few records is packed in place (the tail moves up); one
    // further in is left to the next sync, which merges it.
    const y = { kind: 'file' as const, id: 12, name: 'y', path: 'y', mode: 0o644, uid: 0, gid: 0, index: 10, size: 0, flags: 0, map: undefined as never };
    children.set('y', y);
    r.added(dir, y, 99);
    const b1 = { kind: 'file' as const, id: 13, name: 'b1', path: 'b1', mode: 0o644, uid: 0, gid: 0, index: 11, size: 0, flags: 0, map: undefined as never };
    children.set('b1', b1);
    r.added(dir, b1, 13);
    const want = [['0', 9, 25, 4], ['a', 3, 19, 8], ['b', 2, 18, 8], ['b1', 13, 29, 8], ['ccc', 4, 20, 8], ['dddddddddddddddddd', 5, 21, 8], ['y', 99, 28, 8], ['z', 10, 26, 8], ['zz', 11, 27, 8]];
    r.sync(dir, (n) => n.id);
    expect(parse(r.buf.subarray(0, r.starts.at(-1)), false).map((g) => [g.name, g.ino, g.off, g.type])).toEqual(want);
    expect(r.names).toEqual(want.map((w) => w[0]));
    for (let k = 0; k < r.length; k++) expect(r.inoAt(k)).toBe(want[k]![1]);
    // Many names in random order, added one by one, equal one sync of them all.
    const big = new Map();
    const bigDir = { ...dir, children: big };
    const one = new DirRecords();
    one.sync(bigDir, (n) => n.id);
    const names = Array.from({ length: 400 }, (_, i) => `n${(i * 7919) % 400}`);
    for (const [i, name] of names.entries()) {
      const n = { kind: 'file' as const, id: 100 + i, name, path: name, mode: 0o644, uid: 0, gid: 0, index: 98 + i, size: 0, flags: 0, map: undefined as never };
      big.set(name, n);
      one.added(bigDir, n, n.id);
      if (i % 50 === 0) one.sync(bigDir, (x) => x.id);
    }
    one.sync(bigDir, (n) => n.id);
    const all = new DirRecords();
    all.sync({ ...dir, children: new Map(big) }, (n) => n.id);
    expect(one.names).toEqual(all.names);
    expect(one.starts).toEqual(all.starts);
    expect(one.buf.subarray(0, one.starts.at(-1)).equals(all.buf.subarray(0, all.starts.at(-1)))).toBe(true);
  });

  it('RecentNames keeps the newest names, at least keep and never more than twice that', () => {
    const r = new RecentNames(100);
    for (let id = 0; id < 1000; id++) {
      r.set(id, `n${id}`);
      // Set again: still one entry, still the newest.
      r.set(id, `n${id}`);
      for (const back of [0, 1, 99]) if (id - back >= 0) expect(r.get(id - back)).toBe(`n${id - back}`);
      if (id >= 200) expect(r.get(id - 200)).toBeUndefined();
    }
    r.set(999, 'renamed');
    expect(r.get(999)).toBe('renamed');
  });

  it('PendingRecords: files being written, in name order and packed after every create, rename and drop', () => {
    const nm = fc.stringMatching(/^[a-z0-9]{1,5}$/);
    fc.assert(fc.property(fc.array(fc.record({ name: nm, drop: fc.boolean(), check: fc.boolean() }), { maxLength: 80 }), (steps) => {
      const r = new PendingRecords();
      const model = new Map<string, number>();
      let next = 2 ** 51;
      for (const s of steps) {
        if (s.drop) expect(r.delete(s.name)).toBe(model.delete(s.name));
        else {
          const f = { nodeid: next++, name: s.name } as PendingFile;
          r.set(s.name, f);
          model.set(s.name, f.nodeid);
        }
        if (!s.check) continue;
        const want = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
        expect(r.length).toBe(model.size);
        expect(r.names).toEqual(want.map(([n]) => n));
        expect(parse(r.buf.subarray(r.starts[0], r.starts.at(-1)), false).map((g) => [g.name, g.ino, g.off, g.type])).toEqual(
          want.map(([n, id]) => [n, id, id + 16, 8]));
        for (const [n, id] of want) expect(r.get(n)?.nodeid).toBe(id);
        for (let k = 0; k < r.length; k++) expect(r.inoAt(k)).toBe(want[k]![1]);
        // Padding past the records is zero, and within them too: no move or repack left a
        // record's bytes behind (the same bytes as the names packed afresh, in order).
        expect(r.buf.subarray(r.starts.at(-1)).every((b) => b === 0)).toBe(true);
        const fresh = new PendingRecords();
        for (const [n, id] of want) fresh.set(n, { nodeid: id, name: n } as PendingFile);
        expect(r.buf.subarray(r.starts[0], r.starts.at(-1)).equals(fresh.buf.subarray(0, fresh.starts.at(-1)))).toBe(true);
        for (let from = 0; from <= r.length; from++) {
          const room = (from * 37) % 200;
          let end = from;
          while (end < r.length && r.starts[end + 1]! - r.starts[from]! <= room) end++;
          expect(r.fit(from, room)).toBe(end);
        }
      }
    }), { numRuns: 200 });
    // A directory being filled: names created in order, the oldest logged first, listed in
    // between. The records are appended and dropped in place, and equal a fresh packing.
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(6), fc.nat(6)), { maxLength: 60 }), (rounds) => {
      const r = new PendingRecords();
      let made = 0;
      let gone = 0;
      for (const [creates, commits] of rounds) {
        for (let i = 0; i < creates; i++, made++) r.set(`f${String(made).padStart(4, '0')}`, { nodeid: 2 ** 51 + made, name: '' } as PendingFile);
        for (let i = 0; i < commits && gone < made; i++, gone++) r.delete(`f${String(gone).padStart(4, '0')}`);
        const fresh = new PendingRecords();
        for (let k = 0; k < r.length; k++) fresh.set(r.names[k]!, r.files[k]!);
        expect(r.buf.subarray(r.starts[0], r.starts.at(-1)).equals(fresh.buf.subarray(0, fresh.starts.at(-1)))).toBe(true);
        expect(r.starts.map((x) => x - r.starts[0]!)).toEqual(fresh.starts);
        expect(r.buf.subarray(r.starts.at(-1)).every((b) => b === 0)).toBe(true);
      }
    }), { numRuns: 200 });
    // Emptied, it holds no buffer.
    const r = new PendingRecords();
    for (let i = 0; i < 300; i++) r.set(`f${i}`, { nodeid: i, name: `f${i}` } as PendingFile);
    expect(r.buf.length).toBeGreaterThan(300 * 32 - 1);
    for (let i = 0; i < 300; i++) r.delete(`f${i}`);
    expect([r.length, r.buf.length, r.starts]).toEqual([0, 0, [0]]);
  });

  const name = fc.stringMatching(/^[a-z0-9._-]{1,12}$/).filter((s) => s !== '.' && s !== '..' && s !== '.meta');
  const step = fc.oneof(
    fc.record({ op: fc.constant('create' as const), name, commit: fc.boolean() }),
    fc.record({ op: fc.constant('commit' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('unlink' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('forget' as const), pick: fc.nat() }),
  );

  it('pages at random sizes equal the sorted full listing, and changes between pages repeat or skip nothing that stayed', () => {
    let run = 0;
    fc.assert(fc.property(
      fc.uniqueArray(name, { maxLength: 30 }), fc.array(fc.boolean(), { maxLength: 30 }), fc.boolean(), fc.boolean(),
      fc.array(fc.record({ size: fc.integer({ min: 200, max: 4096 }), changes: fc.array(step, { maxLength: 3 }) }), { minLength: 1, maxLength: 40 }),
      (names, pendingFlags, plus, packed, pages) => {
        const dev = smallImage(t, `list${run++}`, 160 * MiB, UUID);
        const img = FamfsImage.open({ device: dev, writable: true, systemUuid: UUID });
        try {
          const f = new FamfsFileSystem(img, { device: dev });
          const open = new Map<string, { nodeid: number; fh: number }>();
          const live = new Set<string>();
          const create = (n: string, commit: boolean): void => {
            if (live.has(n) || live.size >= 60) return;
            const c = f.create(ctx, ROOT_ID, n, 0o100644, 0, 0o022);
            live.add(n);
            f.write(ctx, c.nodeid, c.fh, 0, Buffer.from(n), 0);
            if (commit) f.release(ctx, c.nodeid, c.fh);
            else open.set(n, { nodeid: c.nodeid, fh: c.fh });
          };
          names.forEach((n, i) => create(n, !pendingFlags[i]));
          const head = ['.', '..', '.meta'];
          // Whole listing in big pages: the fixed names, then every name in order. A READDIR
          // takes them all at once; a READDIRPLUS ends after a run of names the kernel holds
          // (famfs-fs.ts PLUS_BARE_RUN), and the next page goes on from there.
          const whole: string[] = [];
          for (let off = 0, n = 0; ; n++) {
            const got = page(f, ROOT_ID, off, plus, 1 << 20, packed);
            if (got.length === 0) break;
            if (n > 0) expect(plus).toBe(true);
            whole.push(...got.map((g) => g.name));
            off = got.at(-1)!.off;
          }
          expect(whole).toEqual([...head, ...sorted([...live])]);
          // The same in random pages with no change between them.
          const inPages: string[] = [];
          for (let off = 0, i = 0; ; i++) {
            const got = page(f, ROOT_ID, off, plus, pages[i % pages.length]!.size, packed);
            if (got.length === 0) break;
            inPages.push(...got.map((g) => g.name));
            off = got.at(-1)!.off;
          }
          expect(inPages).toEqual(whole);
          // Again, with files created, committed, dropped and forgotten between pages.
          const before = new Set(live);
          const dropped = new Set<string>();
          const seen: string[] = [];
          let off = 0;
          for (let i = 0; ; i++) {
            const p = pages[i % pages.length]!;
            const got = page(f, ROOT_ID, off, plus, p.size, packed);
            if (got.length === 0) break;
            seen.push(...got.map((g) => g.name));
            off = got.at(-1)!.off;
            if (i >= pages.length) continue;
            for (const c of p.changes) {
              const pend = [...open.keys()];
              if (c.op === 'create') create(`${c.name}.n`, c.commit);
              else if (c.op === 'commit' && pend.length) {
                const n = pend[c.pick % pend.length]!;
                f.release(ctx, open.get(n)!.nodeid, open.get(n)!.fh);
                open.delete(n);
              } else if (c.op === 'unlink' && pend.length) {
                const n = pend[c.pick % pend.length]!;
                f.unlink(ctx, ROOT_ID, n);
                f.release(ctx, open.get(n)!.nodeid, open.get(n)!.fh);
                open.delete(n);
                live.delete(n);
                dropped.add(n);
              } else if (c.op === 'forget') {
                // The kernel forgets a file it was told of: a READDIRPLUS then sends its
                // entry again, under its log nodeid (the inode number moves).
                const all = [...live];
                if (all.length) {
                  const e = f.lookup(ctx, ROOT_ID, all[c.pick % all.length]!);
                  f.forget(e.nodeid, 1e9);
                }
              }
            }
          }
          // No name twice, in name order, every name that stayed is there.
          expect(new Set(seen).size).toBe(seen.length);
          expect(seen.slice(0, 3)).toEqual(head);
          expect(seen.slice(3)).toEqual(sorted(seen.slice(3)));
          for (const n of before) if (!dropped.has(n)) expect(seen).toContain(n);
          for (const n of seen.slice(3)) expect(live.has(n) || dropped.has(n)).toBe(true);
          // The inode numbers are what the kernel knows each name by now.
          const now = page(f, ROOT_ID, 0, false, 1 << 20, packed);
          for (const g of now.slice(3)) expect(g.ino).toBe(f.lookup(ctx, ROOT_ID, g.name).nodeid);
        } finally {
          img.close();
        }
      },
    ), { numRuns: 40 });
  });

  it('a page that ended at a file being written goes on after it once the file is dropped, or logged and forgotten', () => {
    for (const how of ['dropped', 'forgotten'] as const) {
      for (const packed of [true, false]) {
        withMasterFs(t, `cookie-${how}-${packed}`, 64 * MiB, UUID, (f) => {
          const open = new Map<string, { nodeid: number; fh: number }>();
          for (const n of ['a', 'b', 'c']) {
            const c = f.create(ctx, ROOT_ID, n, 0o100644, 0, 0o022);
            open.set(n, { nodeid: c.nodeid, fh: c.fh });
          }
          // '.', '..', '.meta', 'a', 'b': 32 bytes each (page() packs 64-byte slots unpacked).
          const first = page(f, ROOT_ID, 0, false, packed ? 160 : 5 * 64, packed);
          expect(first.map((g) => g.name)).toEqual(['.', '..', '.meta', 'a', 'b']);
          const b = open.get('b')!;
          if (how === 'dropped') f.unlink(ctx, ROOT_ID, 'b');
          f.release(ctx, b.nodeid, b.fh);
          if (how === 'forgotten') {
            f.finishAll();
            f.forget(b.nodeid, 1e9);
          }
          expect(page(f, ROOT_ID, first.at(-1)!.off, false, 4096, packed).map((g) => g.name)).toEqual(['c']);
        });
      }
    }
  });

  it('a reply buffer is reused zeroed: a name-only record after a listing with entries has an all-zero entry_out', () => {
    const first = new DirBuffer(4096, true);
    expect(first.add({ name: 'x', nextOffset: 1, entry: { nodeid: 7, attr: { ino: 7, size: 5, mode: 0o100644 } } })).toBe(true);
    expect(first.take().subarray(0, 8).readUInt32LE(0)).toBe(7);
    expect(first.add({ name: 'z', nextOffset: 3, entry: { nodeid: 0, attr: { ino: 3, size: 0, mode: 0o100644 } } })).toBe(false);
    const again = new DirBuffer(4096, true);
    expect(again.add({ name: 'y', nextOffset: 2, entry: { nodeid: 0, attr: { ino: 9, size: 0, mode: 0o100644 } } })).toBe(true);
    const bytes = again.take();
    expect(bytes.subarray(0, DIRENTPLUS_DIRENT_OFFSET).every((b) => b === 0)).toBe(true);
    expect(parse(bytes, true)).toEqual([expect.objectContaining({ name: 'y', ino: 9, nodeid: 0 })]);
  });

  it('READDIRPLUS counts a lookup for a name the kernel did not hold, and sends a name alone for one it holds', () => {
    withMasterFs(t, 'plus', 64 * MiB, UUID, (f) => {
      for (const n of ['b', 'a', 'c']) {
        const c = f.create(ctx, ROOT_ID, n, 0o100644, 0, 0o022);
        f.release(ctx, c.nodeid, c.fh);
      }
      const held = page(f, ROOT_ID, 0, true, 4096, true);
      expect(held.map((g) => [g.name, g.nodeid === 0])).toEqual([['.', true], ['..', true], ['.meta', false], ['a', true], ['b', true], ['c', true]]);
      for (const g of held.slice(3)) f.forget(g.ino, 1);
      const cold = page(f, ROOT_ID, 0, true, 4096, true).slice(3);
      // Forgotten: entries again, under the log nodeids, each one lookup.
      expect(cold.every((g) => g.nodeid === g.ino && !held.some((h) => h.ino === g.ino))).toBe(true);
      expect(page(f, ROOT_ID, 0, true, 4096, true).slice(3).every((g) => g.nodeid === 0)).toBe(true);
      for (const g of cold) f.forget(g.nodeid, 1);
      expect(page(f, ROOT_ID, 0, true, 4096, true).slice(3).every((g) => g.nodeid !== 0)).toBe(true);
      // A page too small for the next record sends nothing more and counts nothing.
      expect(page(f, ROOT_ID, held[2]!.off, true, 100, true)).toEqual([]);
    });
  });
});
