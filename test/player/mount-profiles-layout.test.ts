// Tier 3: maps a profile cannot express, through the real mount server (child process over
// /dev/fd/N). An image over two daxdevs (software striping, fixtures/layouts/two-daxdevs
// style) holds a file striped over daxdev 0 and 1: a famfs-v10 kernel takes daxdev 0 only
// (reference fuse-iomap-abi.md §3.2), so GET_FMAP of that older file answers EOPNOTSUPP with
// a log line, never a broken reply, and a new file (whose policy stripes over both devices)
// is refused at CREATE. The dev-tree encoding and fuse-iomap serve the same files, checked
// against stamps on both device files; `auto` learns the encoding from the first GET_FMAP.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { formatUuid } from '../../src/famfs/uuid.js';
import { famfsKernelResolve, type KernelFmap } from '../support/kernel-rules.js';
import { Op } from '../../src/fuse/opcodes.js';
import { CreateIn, EntryOut, FallocateIn, OpenOut, WriteIn, WriteOut } from '../../src/fuse/structs.js';
import { resolve, runsByDaxdev, type FileMap } from '../../src/interleave/filemap.js';
import { loadLayout } from '../../src/interleave/layout-yaml.js';
import { CLI, ChildMount } from '../support/mount-channel.js';
import { FLAVOURS, play, stampOf, type KernelFlavour } from '../support/kernel-player.js';
import { MiB } from '../support/kernel-player-maps.js';

const E = os.constants.errno;
const DIR = fs.mkdtempSync('/dev/shm/famfs-ts-mount-profiles-layout-');
const DEVS = [path.join(DIR, 'mem0'), path.join(DIR, 'mem1')];
const YAML = path.join(DIR, 'two.yaml');
const UUID_FILE = path.join(DIR, 'master.uuid');
const master = Uint8Array.from({ length: 16 }, (_, i) => 0x90 + i);
const files: { name: string; index: number; map: FileMap }[] = [];

beforeAll(() => {
  fs.writeFileSync(UUID_FILE, `${formatUuid(master)}\n`);
  fs.writeFileSync(YAML, `devices:\n  - {name: mem0, path: ${DEVS[0]}, size: 1GiB}\n  - {name: mem1, path: ${DEVS[1]}, size: 1GiB}\n` +
    'policy: {chunk: 2MiB, strips: 4, buckets: 0, daxdevs: [0, 1]}\n');
  for (const d of DEVS) {
    fs.writeFileSync(d, '');
    fs.truncateSync(d, 2 ** 30);
  }
  const r = spawnSync(process.execPath, [CLI, 'mkfs', '--small', '-f', '--system-uuid', UUID_FILE, YAML], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfs: ${r.stderr}${r.stdout}`);
  const img = FamfsImage.open({ layout: loadLayout(YAML), writable: true, systemUuid: master });
  try {
    const plain = img.creat('/plain', 7 * MiB + 3, { daxdevs: [0] });
    const striped = img.creat('/striped', 24 * MiB + 11, { interleave: { nstrips: 4, chunkSize: 2 * MiB, nbuckets: 4 }, daxdevs: [0, 1], relaxBuckets: true });
    [plain, striped].forEach((f, index) => {
      files.push({ name: f.path.replace(/^\//, ''), index, map: f.map });
      for (let pos = 0; pos < f.map.size; pos += 2 * MiB) {
        const at = resolve(f.map, pos)!;
        img.daxdev(at.daxdev).write(at.offset, stampOf(index, pos / (2 * MiB), Buffer.alloc(16)));
      }
    });
    expect(new Set(runsByDaxdev(striped.map).keys())).toEqual(new Set([0, 1]));
    img.sync();
  } finally {
    img.close();
  }
});

afterAll(() => {
  fs.rmSync(DIR, { recursive: true, force: true });
});

async function getFmap(m: ChildMount, flavour: KernelFlavour, nodeid: number): Promise<KernelFmap | number> {
  const r = await m.getFmap(flavour, nodeid);
  return 'error' in r ? r.error : r.map;
}

async function create(m: ChildMount, name: string): Promise<{ error: number; nodeid: number; fh: bigint }> {
  const c = await m.call(Op.CREATE, 1, Buffer.concat([CreateIn.encode({ flags: 2 | 0o100, mode: 0o100644, umask: 0o022 }), Buffer.from(`${name}\0`)]), EntryOut.size + OpenOut.size);
  if (c.error !== 0) return { error: c.error, nodeid: 0, fh: 0n };
  return { error: 0, nodeid: Number(EntryOut.decode(c.payload).nodeid), fh: OpenOut.decode(c.payload, EntryOut.size).fh };
}

function start(abi: string): ChildMount {
  return ChildMount.start(YAML, ['--abi', abi, '--system-uuid', UUID_FILE]);
}

describe('maps a mount profile cannot express (two daxdevs)', () => {
  it('famfs-v10: the striped older file gets EOPNOTSUPP and a log line at GET_FMAP, a new file is refused at CREATE', async () => {
    const m = start('famfs-v10');
    try {
      await m.init('famfs-v10');
      const plain = await m.lookup(1, 'plain');
      expect(await m.open(plain.nodeid)).toBe(0);
      const k = await getFmap(m, 'famfs-v10', plain.nodeid);
      if (typeof k === 'number') throw new Error(`GET_FMAP plain: ${k}`);
      expect(k.devices).toEqual([0]);
      const striped = await m.lookup(1, 'striped');
      expect(await m.open(striped.nodeid)).toBe(0);
      expect(await getFmap(m, 'famfs-v10', striped.nodeid)).toBe(-E.EOPNOTSUPP);
      await m.waitLog(new RegExp(`GET_FMAP nodeid ${striped.nodeid}: GET_FMAP v10: extent 0 strip 1 is on daxdev 1; this kernel takes daxdev 0 only`));
      const c = await create(m, 'new');
      expect(c.error).toBe(-E.EOPNOTSUPP);
      await m.waitLog(/create new: refused under the famfs-v10 profile: GET_FMAP v10: extent 0 strip 1 is on daxdev 1/);
      // Nothing half-made: the name is free.
      expect((await m.call(Op.LOOKUP, 1, Buffer.from('new\0'), EntryOut.size)).error).toBe(-E.ENOENT);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nserver log:\n${m.log()}`);
    } finally {
      expect(await m.stop()).toBe(0);
    }
  }, 60_000);

  it('auto facing a V10 kernel: refuses at CREATE once GET_FMAP showed the V10 encoding', async () => {
    const m = start('auto');
    try {
      await m.init('famfs-v10');
      const plain = await m.lookup(1, 'plain');
      expect(await m.open(plain.nodeid)).toBe(0);
      expect(typeof (await getFmap(m, 'famfs-v10', plain.nodeid))).toBe('object');
      await m.waitLog(/GET_FMAP payload of 0 bytes: using the famfs V10/);
      expect((await create(m, 'auto-new')).error).toBe(-E.EOPNOTSUPP);
      await m.waitLog(/create auto-new: refused under the famfs profile/);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nserver log:\n${m.log()}`);
    } finally {
      expect(await m.stop()).toBe(0);
    }
  }, 60_000);

  for (const flavour of ['famfs-unrolled', 'iomap'] as const) {
    it(`${flavour}: both files' bytes on both devices (2,000 cases), and a new striped file is served`, async () => {
      const m = start(flavour);
      try {
        const s = await play({
          flavour, cases: 2000, seed: 31, channel: { fd: m.fd, profile: () => m.profile() },
          target: { files, devicePaths: DEVS, logLines: [], close: () => undefined },
        });
        expect(s.profile).toBe(flavour);
        expect(s.stampsChecked).toBeGreaterThan(1800);
        if (flavour === 'famfs-unrolled') expect(s.daxdevs).toBe(2);
        const c = await create(m, `new-${flavour}`);
        expect(c.error).toBe(0);
        const size = 9 * MiB + 1;
        expect((await m.call(Op.FALLOCATE, c.nodeid, FallocateIn.encode({ fh: c.fh, offset: 0n, length: BigInt(size), mode: 0 }), 0)).error).toBe(0);
        const data = Buffer.alloc(size);
        for (let i = 0; i + 4 <= size; i += 4096) data.writeUInt32LE((i * 2654435761) >>> 0, i);
        for (let off = 0; off < size; off += s.maxWrite) {
          const n = Math.min(s.maxWrite, size - off);
          const w = await m.call(Op.WRITE, c.nodeid, Buffer.concat([WriteIn.encode({ fh: c.fh, offset: BigInt(off), size: n }), data.subarray(off, off + n)]), WriteOut.size);
          expect(w.error).toBe(0);
        }
        if (flavour === 'famfs-unrolled') {
          const k = await getFmap(m, flavour, c.nodeid);
          if (typeof k === 'number') throw new Error(`GET_FMAP: ${k}`);
          // The layout's policy stripes new files over both devices.
          expect(k.devices).toEqual([0, 1]);
          for (let pos = 0; pos + 4 <= size; pos += 4096) {
            const a = famfsKernelResolve(k, BigInt(pos))!;
            const got = Buffer.alloc(4);
            const fd = fs.openSync(DEVS[a.devindex]!, 'r');
            fs.readSync(fd, got, 0, 4, Number(a.addr));
            fs.closeSync(fd);
            expect(got.equals(data.subarray(pos, pos + 4)), `pos ${pos}`).toBe(true);
          }
        }
      } catch (e) {
        throw new Error(`${(e as Error).message}\nserver log:\n${m.log()}`);
      } finally {
        expect(await m.stop()).toBe(0);
      }
    }, 60_000);
  }
});
