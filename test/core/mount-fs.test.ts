// Tier 1 (no kernel): the famfs FileSystem driven directly, as the engine would. Random
// interleavings of create / interleave xattr / truncate / write / close over several files
// at once, then: reads through the FileSystem equal a model, and a second, independent open
// of the device (log replay) finds every file with its final size, its bytes where its map
// says, famfs shapes only, and no allocation collision (reservations never overlapped).
import fs from 'node:fs';
import os from 'node:os';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { fileMapShapeProblem } from '../../src/famfs/log.js';
import { ROOT_ID } from '../../src/famfs/namespace.js';
import { FamfsFileSystem, META_LOG_ID, META_SUPERBLOCK_ID } from '../../src/server/famfs-fs.js';
import { parseInterleaveParam } from '../../src/server/interleave-param.js';
import { smallImage, TempDir, MiB, withMasterFs } from '../famfs-support.js';
import { ctx, errnoOf } from '../support/fs-calls.js';
import { scaled } from '../support/scale.js';

const E = os.constants.errno;
const UUID = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

/** Bytes whose every 8-byte word names the write and the file position: misplacement shows. */
function pattern(op: number, pos: number, len: number): Buffer {
  const start = pos - (pos % 8);
  const words = new BigUint64Array(Math.ceil((pos - start + len) / 8) + 1);
  for (let i = 0; i < words.length; i++) words[i] = (BigInt(op) << 40n) | BigInt(start + 8 * i);
  return Buffer.from(words.buffer).subarray(pos - start, pos - start + len);
}

function readAll(fsys: FamfsFileSystem, nodeid: number, size: number): Buffer {
  return Buffer.concat(fsys.read(ctx, nodeid, 0, 0, size + 4096));
}

type Op =
  | { kind: 'write'; file: number; pos: number; len: number }
  | { kind: 'truncate'; file: number; size: number }
  | { kind: 'close'; file: number };

describe('famfs FileSystem without a kernel', () => {
  let t: TempDir;
  beforeAll(() => {
    t = new TempDir();
  });
  afterAll(() => t.cleanup());

  it('serves .meta views, refuses what famfs cannot log, and follows the size rules', () => {
    withMasterFs(t, 'rules', 256 * MiB, UUID, (f, img) => {
      const meta = f.lookup(ctx, ROOT_ID, '.meta');
      expect(f.lookup(ctx, meta.nodeid, '.superblock').nodeid).toBe(META_SUPERBLOCK_ID);
      expect(readAll(f, META_LOG_ID, img.logLen).subarray(0, 48).equals(img.logBytes.subarray(0, 48))).toBe(true);
      expect(errnoOf(() => f.open(ctx, META_LOG_ID, 1))).toBe(E.EPERM);
      const c = f.create(ctx, ROOT_ID, 'a', 0o100644, 0, 0o022);
      expect(f.write(ctx, c.nodeid, c.fh, 0, Buffer.from('hello'), 0)).toBe(5);
      // FLUSH (every close(2), also of a shared descriptor) commits nothing; the last RELEASE does.
      f.flush();
      expect(img.lookup('a')).toBeUndefined();
      f.release(ctx, c.nodeid, c.fh);
      expect(img.lookup('a')?.kind).toBe('file');
      expect(errnoOf(() => f.write(ctx, c.nodeid, 0, 5, Buffer.from('x'), 0))).toBe(E.EFBIG);
      expect(errnoOf(() => f.setattr(ctx, c.nodeid, { valid: 8, size: 2 }))).toBe(E.EPERM);
      expect(f.write(ctx, c.nodeid, 0, 1, Buffer.from('ELL'), 0)).toBe(3);
      expect(readAll(f, c.nodeid, 5).toString()).toBe('hELLo');
      expect(errnoOf(() => f.unlink(ctx, ROOT_ID, 'a'))).toBe(E.ENOTSUP);
      expect(errnoOf(() => f.rename(ctx, ROOT_ID, 'a', ROOT_ID, 'b', 0))).toBe(E.ENOTSUP);
      expect(errnoOf(() => f.create(ctx, ROOT_ID, 'a', 0o100644, 0, 0))).toBe(E.EEXIST);
      expect(errnoOf(() => f.create(ctx, ROOT_ID, 'x'.repeat(80), 0o100644, 0, 0))).toBe(E.ENAMETOOLONG);
      // Empty file: committed at RELEASE with size 0 and one 2 MiB extent.
      const e = f.create(ctx, ROOT_ID, 'empty', 0o100644, 0, 0);
      f.flush();
      expect(img.lookup('empty')).toBeUndefined();
      f.release(ctx, e.nodeid, e.fh);
      const n = img.lookup('empty');
      expect(n?.kind === 'file' && n.size === 0 && n.map.extents.length === 1).toBe(true);
      // Interleave xattr after the first byte: EBUSY; bad text: EINVAL.
      const s = f.create(ctx, ROOT_ID, 's', 0o100644, 0, 0);
      expect(errnoOf(() => f.setxattr(ctx, s.nodeid, 'user.famfs.interleave', Buffer.from('nstrips=2'), 0))).toBe(E.EINVAL);
      f.write(ctx, s.nodeid, 0, 0, Buffer.alloc(10), 0);
      expect(errnoOf(() => f.setxattr(ctx, s.nodeid, 'user.famfs.interleave', Buffer.from('nstrips=2,chunk=2M'), 0))).toBe(E.EBUSY);
      expect(f.getxattr(ctx, s.nodeid, 'security.capability')).toBeUndefined(); // ENODATA on the wire
    });
  });

  it('answers every attribute and entry with the same fields in the same order', () => {
    // The reply encoders then meet one hidden class (famfs-fs.ts makeAttr): a new shape
    // made V8 drop their optimized code and compile them again.
    withMasterFs(t, 'shapes', 256 * MiB, UUID, (f) => {
      const pending = f.create(ctx, ROOT_ID, 'new', 0o100644, 0, 0o022);
      const logged = f.create(ctx, ROOT_ID, 'logged', 0o100644, 0, 0o022);
      f.write(ctx, logged.nodeid, logged.fh, 0, Buffer.from('x'), 0);
      f.release(ctx, logged.nodeid, logged.fh);
      f.mkdir(ctx, ROOT_ID, 'dir', 0o755, 0o022);
      const meta = f.lookup(ctx, ROOT_ID, '.meta');
      const entries = [
        pending, logged, f.lookup(ctx, ROOT_ID, 'logged'), f.lookup(ctx, ROOT_ID, 'dir'), meta,
        f.lookup(ctx, meta.nodeid, '.log'), f.lookup(ctx, ROOT_ID, 'absent'),
      ];
      const attrs = [
        ...entries.map((e) => e.attr),
        ...[ROOT_ID, pending.nodeid, logged.nodeid, META_LOG_ID, META_SUPERBLOCK_ID].map((n) => f.getattr(ctx, n).attr),
      ];
      expect(f.lookup(ctx, ROOT_ID, 'logged').nodeid).toBe(logged.nodeid);
      for (const a of attrs) expect(Object.keys(a)).toEqual(Object.keys(attrs[0]!));
      const entryKeys = ['nodeid', 'generation', 'attr', 'entryTimeout', 'attrTimeout'];
      for (const e of entries) expect(Object.keys(e).slice(0, entryKeys.length)).toEqual(entryKeys);
    });
  });

  it('has every map event from the start, each one callable before the mount sets it', () => {
    // One shape whether the mount has wired its events or not (a warm-up's file system never
    // has): an object that gained them one by one was a new shape at each step.
    withMasterFs(t, 'events', 256 * MiB, UUID, (f) => {
      expect(Object.keys(f.events)).toEqual(['opened', 'mapChanged', 'handleRefused', 'forgotten', 'journal', 'invalidate']);
      const c = f.create(ctx, ROOT_ID, 'quiet', 0o100644, 0, 0o022);
      f.write(ctx, c.nodeid, c.fh, 0, Buffer.from('x'), 0);
      f.release(ctx, c.nodeid, c.fh);
      f.forget(c.nodeid, 1);
      const seen: number[] = [];
      f.events.opened = (n) => seen.push(n);
      const d = f.create(ctx, ROOT_ID, 'heard', 0o100644, 0, 0o022);
      expect(seen).toEqual([d.nodeid]);
      expect(Object.keys(f.events)).toEqual(['opened', 'mapChanged', 'handleRefused', 'forgotten', 'journal', 'invalidate']);
    });
  });

  it('parses the interleave xattr and rejects bad values with the reason', () => {
    expect(parseInterleaveParam('nstrips=4,chunk=2M')).toEqual({ nstrips: 4, chunkSize: 2 * MiB, nbuckets: 4 });
    expect(parseInterleaveParam('nstrips=2,chunk=4MiB,nbuckets=8')).toEqual({ nstrips: 2, chunkSize: 4 * MiB, nbuckets: 8 });
    expect(() => parseInterleaveParam('nstrips=17,chunk=2M')).toThrow(/1\.\.16/);
    expect(() => parseInterleaveParam('nstrips=2,chunk=3M')).toThrow(/power-of-two/);
    expect(() => parseInterleaveParam('nstrips=4,chunk=2M,nbuckets=2')).toThrow(/nbuckets/);
    expect(() => parseInterleaveParam('stripes=4')).toThrow(/unknown key/);
  });

  it('random concurrent writers: model bytes, exact sizes, famfs shapes, no collision', () => {
    const nfiles = 4;
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('write' as const), file: fc.nat(nfiles - 1), pos: fc.nat(20 * MiB), len: fc.integer({ min: 1, max: 3 * MiB }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), file: fc.nat(nfiles - 1), size: fc.nat(12 * MiB) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), file: fc.nat(nfiles - 1) }) },
    );
    const interleave = fc.array(fc.option(fc.constantFrom('nstrips=2,chunk=2M', 'nstrips=3,chunk=2M,nbuckets=6', 'nstrips=4,chunk=4M'), { nil: undefined }), { minLength: nfiles, maxLength: nfiles });
    let run = 0;
    fc.assert(fc.property(interleave, fc.array(op, { minLength: 1, maxLength: 25 }), (ileave, ops) => {
      const dev = smallImage(t, `p${run++}`, 512 * MiB, UUID);
      const img = FamfsImage.open({ device: dev, writable: true, systemUuid: UUID });
      const model: Buffer[] = [];
      const ids: number[] = [];
      const fhs: number[] = [];
      try {
        const f = new FamfsFileSystem(img, { device: dev });
        for (let i = 0; i < nfiles; i++) {
          const e = f.create(ctx, ROOT_ID, `f${i}`, 0o100644, 0, 0);
          ids.push(e.nodeid);
          fhs.push(e.fh);
          model.push(Buffer.alloc(0));
          if (ileave[i]) f.setxattr(ctx, e.nodeid, 'user.famfs.interleave', Buffer.from(ileave[i]!), 0);
        }
        const committed = new Set<number>();
        ops.forEach((o, k) => {
          const id = ids[o.file]!;
          const cur = model[o.file]!;
          if (o.kind === 'close') {
            // The only description is released: the file is logged, empty or not.
            f.flush();
            if (!committed.has(o.file)) f.release(ctx, id, fhs[o.file]!);
            committed.add(o.file);
          } else if (o.kind === 'truncate') {
            const err = errnoOf(() => f.setattr(ctx, id, { valid: 8, size: o.size }));
            if (!committed.has(o.file)) {
              expect(err).toBeUndefined();
              const next = Buffer.alloc(o.size);
              cur.copy(next, 0, 0, Math.min(cur.length, o.size));
              model[o.file] = next;
            } else expect(err).toBe(o.size === cur.length ? undefined : o.size > cur.length ? E.EFBIG : E.EPERM);
          } else {
            const data = pattern(k, o.pos, o.len);
            if (committed.has(o.file)) {
              // A write ending past the committed size is refused whole.
              if (o.pos + o.len > cur.length) expect(errnoOf(() => f.write(ctx, id, 0, o.pos, data, 0))).toBe(E.EFBIG);
              else {
                expect(f.write(ctx, id, 0, o.pos, data, 0)).toBe(o.len);
                data.copy(cur, o.pos);
              }
            } else {
              expect(f.write(ctx, id, 0, o.pos, data, 0)).toBe(o.len);
              const end = o.pos + o.len;
              const next = end > cur.length ? Buffer.alloc(end) : cur;
              if (next !== cur) cur.copy(next);
              data.copy(next, o.pos);
              model[o.file] = next;
            }
          }
        });
        for (let i = 0; i < nfiles; i++) {
          expect(readAll(f, ids[i]!, model[i]!.length).equals(model[i]!)).toBe(true);
          if (!committed.has(i)) f.release(ctx, ids[i]!, fhs[i]!);
        }
      } finally {
        img.close();
      }
      // An independent replay of the log: the files as the model says.
      const again = FamfsImage.open({ device: dev, writable: false, systemUuid: UUID });
      try {
        expect(again.scan.collisions).toBe(0);
        expect(again.scan.extentErrors).toEqual([]);
        for (let i = 0; i < nfiles; i++) {
          const node = again.file(`f${i}`);
          expect(node.size).toBe(model[i]!.length);
          expect(fileMapShapeProblem(node.map)).toBeUndefined();
          if (ileave[i] && node.size >= 4 * MiB * 4) expect(node.map.extents[0]!.type).toBe('interleave');
          const back = Buffer.alloc(node.size);
          again.read(node, 0, back);
          expect(back.equals(model[i]!)).toBe(true);
        }
      } finally {
        again.close();
        fs.rmSync(dev);
      }
    }), { numRuns: scaled(15, 1) });
  }, 120_000);
});
