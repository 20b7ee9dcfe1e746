// Tier 1 (no kernel): the famfs FileSystem under mapping profiles, driven directly as the
// engine would after INIT. The rules a mapping kernel needs, checked after every step of
// random create / interleave / size / write / close sequences: every file's map can be sent
// in the profile's encoding at every moment (never a broken GET_FMAP reply), writes past the
// size are EFBIG with a log line, every change of a map is announced (iomap INVAL, BPF
// refill), and what is committed replays with the bytes written.
import fs from 'node:fs';
import os from 'node:os';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { ROOT_ID } from '../../src/famfs/namespace.js';
import { fmapRefusal } from '../../src/mapping/famfs-fmap.js';
import { FAMFS_BY_PAYLOAD, FAMFS_UNROLLED, FAMFS_V10, IOMAP_73, MAINLINE, type KernelSeries } from '../../src/mapping/series.js';
import { resolveRange, type FileMap } from '../../src/interleave/filemap.js';
import { FamfsFileSystem, META_LOG_ID, META_SUPERBLOCK_ID } from '../../src/server/famfs-fs.js';
import { mappingModeOf, mapRefusal, probeMap } from '../../src/server/mapping-policy.js';
import { MiB, smallImage, TempDir } from '../famfs-support.js';
import { ctx, errnoOf } from '../support/fs-calls.js';
import { scaled } from '../support/scale.js';

const E = os.constants.errno;
const UUID = Uint8Array.from({ length: 16 }, (_, i) => 0x30 + i);
const SERIES: Record<string, KernelSeries> = {
  mainline: MAINLINE, iomap: IOMAP_73, 'famfs-v10': FAMFS_V10, 'famfs-unrolled': FAMFS_UNROLLED, famfs: FAMFS_BY_PAYLOAD,
};
/** What a profile reports at INIT: the series and whether its INIT bit was granted. */
const conn = (profile: string, granted = true): [KernelSeries, boolean] => [SERIES[profile]!, granted];

describe('mapping policy', () => {
  it('a mapping mode needs both a mapping series and its INIT bit granted', () => {
    expect(mappingModeOf(...conn('famfs-v10', false)).kind).toBe('none');
    expect(mappingModeOf(...conn('mainline')).kind).toBe('none');
    expect(mappingModeOf(...conn('iomap')).kind).toBe('iomap');
    expect(mappingModeOf(...conn('famfs-v10'))).toMatchObject({ kind: 'famfs', encodings: ['v10'] });
    expect(mappingModeOf(...conn('famfs-unrolled'))).toMatchObject({ kind: 'famfs', encodings: ['unrolled'] });
    expect(mappingModeOf(...conn('famfs'))).toMatchObject({ kind: 'famfs', encodings: ['v10', 'unrolled'] });
  });

  it('refuses a placement only where no encoding the kernel may use carries it', () => {
    const twoDev = probeMap({ daxdevs: [0, 1], interleave: { nstrips: 4, chunkSize: 2 * MiB, nbuckets: 4 } });
    expect(mapRefusal(twoDev, mappingModeOf(...conn('famfs-v10')))).toMatchObject({ errno: E.EOPNOTSUPP, message: expect.stringMatching(/daxdev 1/) });
    expect(mapRefusal(twoDev, mappingModeOf(...conn('famfs-unrolled')))).toBeUndefined();
    expect(mapRefusal(twoDev, mappingModeOf(...conn('famfs')))).toBeUndefined();
    expect(mapRefusal(twoDev, mappingModeOf(...conn('iomap')), (d) => d + 1)).toBeUndefined();
    expect(mapRefusal(twoDev, mappingModeOf(...conn('iomap')), (d) => (d === 0 ? 1 : undefined))).toMatchObject({ errno: E.ENODEV });
    expect(mapRefusal(twoDev, mappingModeOf(...conn('mainline')))).toBeUndefined();
    // A chunk below 2 MiB cannot be sent to a famfs kernel at all.
    const small = probeMap({ daxdevs: [0], interleave: { nstrips: 2, chunkSize: 1 * MiB, nbuckets: 2 } });
    expect(mapRefusal(small, mappingModeOf(...conn('famfs')))?.errno).toBe(E.EOPNOTSUPP);
    expect(fmapRefusal(probeMap({ daxdevs: [0] }), 'v10')).toBeUndefined();
  });
});

type Op =
  | { kind: 'interleave'; file: number; text: string }
  | { kind: 'size'; file: number; size: number; fallocate: boolean }
  | { kind: 'write'; file: number; pos: number; len: number }
  | { kind: 'close'; file: number };

describe('famfs FileSystem under a mapping profile', () => {
  let t: TempDir;
  let run = 0;
  beforeAll(() => {
    t = new TempDir();
  });
  afterAll(() => t.cleanup());

  const freshImage = (): string => smallImage(t, `img${run++}`, 256 * MiB, UUID);

  it('.meta files carry the famfs file types SUPERBLOCK and LOG', () => {
    const dev = freshImage();
    const img = FamfsImage.open({ device: dev, writable: true, systemUuid: UUID });
    try {
      const f = new FamfsFileSystem(img, { device: dev });
      expect([f.fileType(META_SUPERBLOCK_ID), f.fileType(META_LOG_ID), f.fileType(ROOT_ID)]).toEqual([1, 2, 0]);
    } finally {
      img.close();
    }
  });

  for (const profile of ['famfs-v10', 'famfs-unrolled', 'iomap'] as const) {
    it(`${profile}: random sequences keep every map sendable, refuse early writes and announce every change`, () => {
      const nfiles = 3;
      const op: fc.Arbitrary<Op> = fc.oneof(
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('interleave' as const), file: fc.nat(nfiles - 1), text: fc.constantFrom('nstrips=2,chunk=2M', 'nstrips=4,chunk=4M', 'nstrips=3,chunk=2M,nbuckets=6') }) },
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('size' as const), file: fc.nat(nfiles - 1), size: fc.nat(12 * MiB), fallocate: fc.boolean() }) },
        { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), file: fc.nat(nfiles - 1), pos: fc.nat(12 * MiB), len: fc.integer({ min: 1, max: MiB / 2 }) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), file: fc.nat(nfiles - 1) }) },
      );
      fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 20 }), (ops) => {
        const dev = freshImage();
        const img = FamfsImage.open({ device: dev, writable: true, systemUuid: UUID });
        const logged: string[] = [];
        try {
          const f = new FamfsFileSystem(img, { device: dev, log: (l) => logged.push(l), iomapCookie: (d) => d + 1 });
          f.negotiated(...conn(profile));
          f.init({ minor: 46, profile, maxWrite: 1 << 20, maxReadahead: 1 << 17, flags: 0n });
          const changed: number[] = [];
          f.events.mapChanged = (n) => changed.push(n);
          const ids: number[] = [];
          const model: Buffer[] = [];
          const committed: boolean[] = [];
          /** A size > 0 was given: the reservation is real, the interleave fixed. */
          const placed: boolean[] = [];
          for (let i = 0; i < nfiles; i++) {
            placed.push(false);
            ids.push(f.create(ctx, ROOT_ID, `f${i}`, 0o100644, 0, 0).nodeid);
            model.push(Buffer.alloc(0));
            committed.push(false);
          }
          const snapshot = (i: number) => JSON.stringify(f.fileMap(ids[i]!));
          const sendable = (map: FileMap) => {
            if (profile === 'iomap') return;
            // A famfs kernel asks GET_FMAP at every open: the map must encode, always.
            expect(fmapRefusal(map, profile === 'famfs-v10' ? 'v10' : 'unrolled')?.message).toBeUndefined();
          };
          for (let i = 0; i < nfiles; i++) sendable(f.fileMap(ids[i]!)!);
          for (const o of ops) {
            const id = ids[o.file]!;
            const before = snapshot(o.file);
            changed.length = 0;
            if (o.kind === 'interleave') {
              const e = errnoOf(() => f.setxattr(ctx, id, 'user.famfs.interleave', Buffer.from(o.text), 0));
              // Until the first sizing the interleave may change; after it, EBUSY (EPERM once committed).
              expect(e).toBe(committed[o.file] ? E.EPERM : placed[o.file] ? E.EBUSY : undefined);
            } else if (o.kind === 'size') {
              const old = model[o.file]!;
              const e = errnoOf(() => (o.fallocate
                ? f.fallocate(ctx, id, id, 0, o.size, 0)
                : f.setattr(ctx, id, { valid: 8, size: o.size })));
              if (committed[o.file]) {
                if (o.size > old.length) expect(e).toBe(E.EFBIG);
                else if (!o.fallocate && o.size < old.length) expect(e).toBe(E.EPERM);
                else expect(e).toBeUndefined();
              } else {
                expect(e).toBeUndefined();
                if (o.size > 0) placed[o.file] = true;
                if (o.fallocate) {
                  if (o.size > old.length) model[o.file] = Buffer.concat([old, Buffer.alloc(o.size - old.length)]);
                } else {
                  model[o.file] = o.size > old.length ? Buffer.concat([old, Buffer.alloc(o.size - old.length)]) : old.subarray(0, o.size);
                }
              }
            } else if (o.kind === 'write') {
              const data = Buffer.alloc(o.len, (o.pos + o.len) & 0xff);
              const size = model[o.file]!.length;
              const logs = logged.length;
              const e = errnoOf(() => f.write(ctx, id, id, o.pos, data, 0));
              if (o.pos + o.len > size && !committed[o.file]) {
                // Size first under a mapping profile: EFBIG and one log line naming the file.
                expect(e).toBe(E.EFBIG);
                expect(logged.slice(logs).join('\n')).toMatch(new RegExp(`f${o.file}: write of ${o.len} bytes at ${o.pos} past the size ${size}`));
              } else if (o.pos + o.len > size) {
                // Committed: a write ending past the size is refused whole.
                expect(e).toBe(E.EFBIG);
              } else {
                expect(e).toBeUndefined();
                const m = Buffer.from(model[o.file]!);
                data.copy(m, o.pos);
                model[o.file] = m;
              }
            } else {
              f.flush();
              f.release(ctx, id, id);
              committed[o.file] = true;
            }
            const map = f.fileMap(id)!;
            expect(map.size).toBe(model[o.file]!.length);
            sendable(map);
            // Any change of the map the kernel sees must have been announced.
            if (snapshot(o.file) !== before) expect(changed).toContain(id);
          }
          // What the kernel would read through the maps is what was written.
          for (let i = 0; i < nfiles; i++) {
            const map = f.fileMap(ids[i]!)!;
            const got = Buffer.alloc(map.size);
            for (const m of resolveRange(map, 0, map.size)) img.daxdev(m.daxdev).read(m.offset, got.subarray(m.pos, m.pos + m.length));
            expect(got.equals(model[i]!)).toBe(true);
          }
        } finally {
          img.close();
          fs.rmSync(dev, { force: true });
        }
      }), { numRuns: scaled(15, 1) });
    }, 120_000);
  }
});
