// The mount's serving threads (src/fuse/serving-threads.ts, src/server/data-plane.ts) over
// /dev/fd/N: the real `famfs-ts mount` child with three threads on dups of a socketpair,
// the test playing the kernel. READ and WRITE of an opened committed file are answered in
// the threads; these cases check that they answer exactly what the main thread would
// (bytes, short counts, errnos) under concurrency and under hostile messages, that the
// rest still reaches the main thread, and that the server survives it all. The same cases
// run against --readers 0, where the main thread answers everything.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamfsImage } from '../../src/famfs/image.js';
import { formatUuid } from '../../src/famfs/uuid.js';
import { Op } from '../../src/fuse/opcodes.js';
import { FlushIn, ReadIn, WriteIn, WriteOut } from '../../src/fuse/structs.js';
import { resolve, type FileMap } from '../../src/interleave/filemap.js';
import { CLI, ChildMount } from '../support/mount-channel.js';
import { concurrently } from '../support/kernel-player.js';
import { Rng } from '../support/kernel-player-maps.js';

const E = os.constants.errno;
const MiB = 1 << 20;
const DIR = fs.mkdtempSync('/dev/shm/famfs-ts-mount-threads-');
const DEV = path.join(DIR, 'dev0');
const UUID_FILE = path.join(DIR, 'master.uuid');
const master = Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i);
const SIZE = 5 * MiB + 12_345;
/** What the file must hold: the test's model, updated with every write it makes. */
const model = Buffer.alloc(SIZE);
let dataMap: FileMap;
const HOSTILE = Number(process.env.THREAD_FUZZ_CASES ?? 100_000);

beforeAll(() => {
  fs.writeFileSync(UUID_FILE, `${formatUuid(master)}\n`);
  fs.writeFileSync(DEV, '');
  fs.truncateSync(DEV, 256 * MiB);
  const r = spawnSync(process.execPath, [CLI, 'mkfs', '--small', '-f', '--system-uuid', UUID_FILE, DEV], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfs: ${r.stderr}${r.stdout}`);
  const r0 = new Rng(7);
  for (let i = 0; i + 4 <= SIZE; i += 4) model.writeUInt32LE(Math.floor(r0.next() * 2 ** 32), i);
  const img = FamfsImage.open({ device: DEV, writable: true, systemUuid: master });
  try {
    const f = img.creat('/data', SIZE, {});
    img.write(f, 0, model);
    dataMap = f.map;
  } finally {
    img.close();
  }
});

afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));

function deviceDigest(): string {
  return createHash('sha256').update(fs.readFileSync(DEV)).digest('hex');
}

// Three threads, and the same cases with none (--readers 0: the main thread answers all).
describe.each([3, 0])('mount over /dev/fd/N with --readers %i', (threads) => {
  let m: ChildMount;
  let nodeid = 0;

  const reply = (msg: Buffer) => ({ error: msg.readInt32LE(4), body: msg.subarray(16) });

  beforeAll(async () => {
    m = ChildMount.start(DEV, ['--system-uuid', UUID_FILE, '--readers', String(threads)]);
    await m.init('mainline');
    nodeid = (await m.lookup(1, 'data')).nodeid;
    // OPEN publishes the committed file's map to the threads before its reply goes out.
    expect(await m.open(nodeid)).toBe(0);
  });

  afterAll(async () => {
    expect(await m.stop()).toBe(0);
    // The server's last words: how much the threads answered themselves.
    const served = /(\d+) serving threads answered (\d+) reads and writes, forwarded (\d+) requests/.exec(m.log());
    if (threads === 0) {
      expect(served, m.log()).toBeNull();
      return;
    }
    expect(served, m.log()).not.toBeNull();
    expect(Number(served![1])).toBe(threads);
    expect(Number(served![2])).toBeGreaterThan(HOSTILE / 2);
  });

  it('answers 3,000 concurrent READs and WRITEs with the bytes the file holds', async () => {
    const r = new Rng(11);
    await concurrently(3000, 24, async () => {
      const offset = r.int(0, SIZE + 4096);
      const size = r.int(1, m.maxWrite);
      if (r.int(0, 3) === 0 && offset < SIZE) {
        // A write inside the file: the threads store it where resolve() says (same mapping).
        const n = Math.min(size, SIZE - offset);
        const data = Buffer.alloc(n, r.int(0, 255));
        const w = reply((await m.ch.call(Op.WRITE, nodeid, Buffer.concat([WriteIn.encode({ fh: BigInt(nodeid), offset: BigInt(offset), size: n }), data]))).msg);
        expect(w.error).toBe(0);
        expect(WriteOut.decode(w.body).size).toBe(n);
        data.copy(model, offset);
        return;
      }
      const got = reply((await m.ch.call(Op.READ, nodeid, ReadIn.encode({ fh: BigInt(nodeid), offset: BigInt(offset), size }))).msg);
      expect(got.error).toBe(0);
      // Overlapping writes in flight may land either side of this read: compare afterwards.
      expect(got.body.length).toBe(Math.max(0, Math.min(size, SIZE - offset)));
    });
    for (let off = 0; off < SIZE; off += m.maxWrite) {
      const n = Math.min(m.maxWrite, SIZE - off);
      const got = reply((await m.ch.call(Op.READ, nodeid, ReadIn.encode({ fh: BigInt(nodeid), offset: BigInt(off), size: n }))).msg);
      expect(got.error).toBe(0);
      expect(got.body.equals(model.subarray(off, off + n)), `bytes at ${off}`).toBe(true);
    }
    // And the threads' writes are on the device where resolve() places them.
    const fd = fs.openSync(DEV, 'r');
    try {
      const r2 = new Rng(5);
      for (let i = 0; i < 256; i++) {
        const pos = r2.int(0, SIZE - 1);
        const at = resolve(dataMap, pos)!;
        const n = Math.min(64, at.length, SIZE - pos);
        const raw = Buffer.alloc(n);
        fs.readSync(fd, raw, 0, n, at.offset);
        expect(raw.equals(model.subarray(pos, pos + n)), `device bytes of pos ${pos}`).toBe(true);
      }
    } finally {
      fs.closeSync(fd);
    }
  });

  it(`answers ${HOSTILE.toLocaleString('en')} hostile READ/WRITE messages with the errno the protocol demands`, async () => {
    const r = new Rng(0x7ead);
    const head = (fh: bigint, offset: bigint, size: number) => ReadIn.encode({ fh, offset, size });
    const cases: readonly (() => Promise<void>)[] = [
      // READ past the end of the file: an empty reply, not an error.
      async () => {
        const g = reply((await m.ch.call(Op.READ, nodeid, head(0n, BigInt(SIZE + r.int(0, 2 ** 30)), r.int(1, 4096)))).msg);
        expect([g.error, g.body.length]).toEqual([0, 0]);
      },
      // Offsets near 2^64 (no byte of ours lives past 2^53): EINVAL.
      async () => {
        const g = reply((await m.ch.call(Op.READ, nodeid, head(0n, (1n << 64n) - BigInt(r.int(1, 4096)), 4096))).msg);
        expect(g.error).toBe(-E.EINVAL);
      },
      // A read_in cut short: EINVAL.
      async () => {
        const g = reply((await m.ch.call(Op.READ, nodeid, head(0n, 0n, 16).subarray(0, r.int(0, 39)))).msg);
        expect(g.error).toBe(-E.EINVAL);
      },
      // The header's len disagrees with the bytes sent: EINVAL.
      async () => {
        const p = head(0n, 0n, 16);
        const g = reply((await m.ch.call(Op.READ, nodeid, p, 40 + p.length + r.int(1, 64))).msg);
        expect(g.error).toBe(-E.EINVAL);
      },
      // WRITE at or past the size: EFBIG (famfs files never grow), up to 2^53.
      async () => {
        const offset = BigInt(r.int(SIZE, 2 ** 31)) * BigInt(r.int(1, 2 ** 21));
        const g = reply((await m.ch.call(Op.WRITE, nodeid, Buffer.concat([WriteIn.encode({ fh: 0n, offset, size: 8 }), Buffer.alloc(8)]))).msg);
        expect(g.error).toBe(-E.EFBIG);
      },
      // WRITE straddling the end: EFBIG whole, nothing stored (the model stays true).
      async () => {
        const back = r.int(1, 512);
        const g = reply((await m.ch.call(Op.WRITE, nodeid, Buffer.concat([WriteIn.encode({ fh: 0n, offset: BigInt(SIZE - back), size: 1024 }), Buffer.alloc(1024, 0xee)]))).msg);
        expect(g.error).toBe(-E.EFBIG);
      },
      // WRITE whose size field disagrees with the payload: EINVAL, nothing stored.
      async () => {
        const g = reply((await m.ch.call(Op.WRITE, nodeid, Buffer.concat([WriteIn.encode({ fh: 0n, offset: 0n, size: 4096 }), Buffer.alloc(r.int(0, 4095), 0xee)]))).msg);
        expect(g.error).toBe(-E.EINVAL);
      },
      // Not READ or WRITE: forwarded to the main thread, which knows no opcode 9999.
      async () => {
        const g = reply((await m.ch.call(9999, nodeid, Buffer.alloc(r.int(0, 64)))).msg);
        expect(g.error).toBe(-E.ENOSYS);
      },
    ];
    // None of the cases changes a byte (the straddling write stores what is there): the
    // whole device, log and every other extent included, must come out identical.
    const before = deviceDigest();
    await concurrently(HOSTILE, 32, async () => r.pick(cases)());
    expect(deviceDigest(), 'device bytes after the hostile messages').toBe(before);
    // Still serving, and nothing stored where it should not be.
    const all = Buffer.alloc(SIZE);
    for (let off = 0; off < SIZE; off += m.maxWrite) {
      const n = Math.min(m.maxWrite, SIZE - off);
      const got = reply((await m.ch.call(Op.READ, nodeid, ReadIn.encode({ fh: 0n, offset: BigInt(off), size: n }))).msg);
      expect(got.error).toBe(0);
      got.body.copy(all, off);
    }
    expect(all.equals(model)).toBe(true);
    expect((await m.call(Op.FLUSH, nodeid, FlushIn.encode({ fh: BigInt(nodeid) }), 0)).error).toBe(0);
  }, 120_000);

});
