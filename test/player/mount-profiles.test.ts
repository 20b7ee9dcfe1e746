// Tier 3: the real mount server (`famfs-ts mount IMAGE /dev/fd/3 --abi X --foreground`, a
// child process) against the kernel-side player on the other end of a socketpair, for every
// profile and for `auto` facing each kernel flavour: INIT, LOOKUP, OPEN, then thousands of
// IOMAP_BEGIN / GET_FMAP / GET_DAXDEV cases judged by the kernel's rules and checked against
// stamps on the device file. Then, on the same connection, what a mapping kernel does with a
// file created through the mount: CREATE, the map before sizing, WRITE before sizing (EFBIG
// and a log line), FALLOCATE (iomap: INVAL_MAPPINGS), data written and found on the device
// where the kernel's arithmetic puts it, FLUSH (commit), and the .meta files' file_type.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_OFFSET } from '../../src/famfs/constants.js';
import { formatUuid } from '../../src/famfs/uuid.js';
import { FAMFS_EXT, FAMFS_FILE, fmapHeader } from '../../src/mapping/famfs-fmap.js';
import { FUSE_ATTR_IOMAP, IOMAP_FLAGS_V7, IOMAP_OP, IOMAP_TYPE, iomapBeginIn, iomapConfigOut, iomapInvalMappingsOut } from '../../src/mapping/iomap-wire.js';
import {
  checkDaxdevReply, checkIomapBegin, famfsKernelResolve, iomapAddress, type KernelFmap,
} from '../support/kernel-rules.js';
import { Op } from '../../src/fuse/opcodes.js';
import { IOMAP_73 } from '../../src/mapping/series.js';
import {
  Attr as AttrStruct, CreateIn, Dirent, DIRENTPLUS_DIRENT_OFFSET, ENTRY_OUT_ATTR_OFFSET, EntryOut, FallocateIn, FlushIn, ReleaseIn, OpenOut, ReadIn, SETXATTR_IN_COMPAT_SIZE, WriteIn, WriteOut,
} from '../../src/fuse/structs.js';
import { ChildMount } from '../support/mount-channel.js';
import { makeStampedImage, stripedOpts, type StampedFile } from '../support/stamped-image.js';
import { FLAVOURS, play, type KernelFlavour } from '../support/kernel-player.js';
import { MiB, Rng } from '../support/kernel-player-maps.js';

const E = os.constants.errno;
const DIR = fs.mkdtempSync('/dev/shm/famfs-ts-mount-profiles-');
const DEV = path.join(DIR, 'dev0');
const UUID_FILE = path.join(DIR, 'master.uuid');
const master = Uint8Array.from({ length: 16 }, (_, i) => 0x70 + i);
const files: StampedFile[] = [];
const CASES = 3000;
const UPSERT_LIMIT = 64 * MiB;

let devFd = -1;
function devBytes(addr: bigint, n: number): Buffer {
  const b = Buffer.alloc(n);
  fs.readSync(devFd, b, 0, n, Number(addr));
  return b;
}

beforeAll(() => {
  fs.writeFileSync(UUID_FILE, `${formatUuid(master)}\n`);
  files.push(...makeStampedImage({
    device: DEV, deviceSize: 4 * 2 ** 30, systemUuid: master, files: 12, seed: 4242,
    // Two files past the upsert limit (one simple, one striped); the rest up to 128 MiB.
    place: (i, rng) => ({
      size: i === 0 ? 100 * MiB + 7 : i === 1 ? 70 * MiB : rng.spread(27),
      opts: i % 2 === 1 ? stripedOpts(i, rng.int(2, 8), 2 * MiB * 2 ** rng.int(0, 2)) : {},
    }),
  }));
  devFd = fs.openSync(DEV, 'r');
});

afterAll(() => {
  if (devFd >= 0) fs.closeSync(devFd);
  fs.rmSync(DIR, { recursive: true, force: true });
});

/** GET_FMAP as a kernel of `flavour` would send it (dev tree: one retry), the reply judged. */
async function getFmap(m: ChildMount, flavour: KernelFlavour, nodeid: number): Promise<{ k: KernelFmap; fileType: number } | { error: number }> {
  const r = await m.getFmap(flavour, nodeid);
  if ('error' in r) return r;
  for (const d of r.map.devices) {
    const dx = await m.call(FLAVOURS[flavour].getDaxdev!, d, Buffer.alloc(0), 280);
    expect(dx.error).toBe(0);
    expect(checkDaxdevReply(dx.payload, d).path).toBe(DEV);
  }
  return { k: r.map, fileType: fmapHeader.decode(r.payload).file_type };
}

async function iomapBlockSize(m: ChildMount): Promise<number> {
  const c = await m.call(IOMAP_73.opcodes.IOMAP_CONFIG, 0, Buffer.alloc(64), iomapConfigOut.size);
  expect(c.error).toBe(0);
  return iomapConfigOut.decode(c.payload).s_blocksize;
}

async function iomapBegin(m: ChildMount, nodeid: number, pos: number, opflags: number) {
  return m.call(IOMAP_73.opcodes.IOMAP_BEGIN, nodeid, iomapBeginIn.encode({ opflags, attr_ino: BigInt(nodeid), pos: BigInt(pos), count: 4096n }), 64);
}

/** Where the kernel of `flavour` finds file byte `pos` (device address), or undefined for READ/WRITE kernels. */
async function kernelAddress(m: ChildMount, flavour: KernelFlavour, nodeid: number, pos: number, fmap?: KernelFmap): Promise<bigint | undefined> {
  const kind = FLAVOURS[flavour].kind;
  if (kind === 'famfs') {
    const a = famfsKernelResolve(fmap!, BigInt(pos));
    expect(a, `famfs kernel falls off the map at ${pos}`).toBeDefined();
    expect(a!.devindex).toBe(0);
    return a!.addr;
  }
  if (kind === 'iomap') {
    const r = await iomapBegin(m, nodeid, pos, IOMAP_OP.DAX);
    expect(r.error).toBe(0);
    const v = checkIomapBegin(r.payload, BigInt(pos), { blockSize: 4096, maxBytes: Number.MAX_SAFE_INTEGER, flags: IOMAP_FLAGS_V7 });
    expect(v.read.type).toBe(IOMAP_TYPE.MAPPED);
    const a = iomapAddress(v.read, BigInt(pos));
    expect(a.dev).toBe(1); // daxdev 0's server-assigned cookie
    return a.addr;
  }
  return undefined;
}

function setxattrPayload(name: string, value: string): Buffer {
  const head = Buffer.alloc(SETXATTR_IN_COMPAT_SIZE);
  head.writeUInt32LE(Buffer.byteLength(value), 0);
  return Buffer.concat([head, Buffer.from(`${name}\0`), Buffer.from(value)]);
}

/**
 * A file created through the mount under `flavour`'s kernel: the size-first rule, the map
 * before and after sizing, its data where the kernel's arithmetic says, commit at FLUSH.
 */
async function createdFile(m: ChildMount, flavour: KernelFlavour, maxWrite: number, name: string, size: number, interleave?: string): Promise<void> {
  const kind = FLAVOURS[flavour].kind;
  const c = await m.call(Op.CREATE, 1, Buffer.concat([CreateIn.encode({ flags: 2 | 0o100, mode: 0o100644, umask: 0o022 }), Buffer.from(`${name}\0`)]), EntryOut.size + OpenOut.size);
  expect(c.error).toBe(0);
  const nodeid = Number(EntryOut.decode(c.payload).nodeid);
  const attr = AttrStruct.decode(c.payload, ENTRY_OUT_ATTR_OFFSET);
  const fh = OpenOut.decode(c.payload, EntryOut.size).fh;
  expect(attr.size).toBe(0);
  // Regular files go on the iomap path: FUSE_ATTR_IOMAP in CREATE's entry too (fuse-iomap-abi.md §1.1).
  expect(Boolean(attr.flags & FUSE_ATTR_IOMAP)).toBe(kind === 'iomap');

  if (kind === 'famfs') {
    // The kernel's GET_FMAP after the create's open: a valid map of size 0 (one 2 MiB unit).
    const r = await getFmap(m, flavour, nodeid);
    if ('error' in r) throw new Error(`GET_FMAP of a new file: ${r.error}\n${m.log()}`);
    expect(r.k.fileSize).toBe(0n);
    expect(r.fileType).toBe(FAMFS_FILE.REG);
  }
  if (kind === 'iomap') {
    const hole = await iomapBegin(m, nodeid, 0, 0);
    expect(hole.error).toBe(0);
    expect(checkIomapBegin(hole.payload, 0n, { blockSize: 4096, maxBytes: Number.MAX_SAFE_INTEGER, flags: IOMAP_FLAGS_V7 }).read.type).toBe(IOMAP_TYPE.HOLE);
    expect((await iomapBegin(m, nodeid, 0, IOMAP_OP.WRITE)).error).toBe(-E.EFBIG);
  }
  if (interleave) {
    const x = await m.call(Op.SETXATTR, nodeid, setxattrPayload('user.famfs.interleave', interleave), 0);
    expect(x.error).toBe(0);
  }

  // A write before the size: EFBIG and a log line under a mapping profile; mainline grows.
  const early = await m.call(Op.WRITE, nodeid, Buffer.concat([WriteIn.encode({ fh, offset: 0n, size: 4096 }), Buffer.alloc(4096, 1)]), WriteOut.size);
  if (kind === 'none') {
    expect(early.error).toBe(0);
  } else {
    expect(early.error).toBe(-E.EFBIG);
    await m.waitLog(new RegExp(`${name}: write of 4096 bytes at 0 past the size 0: under the \\S+ profile a file created through the mount gets its size first`));
  }

  // Sized in two steps: the reservation is made, then grows (an interleaved one is
  // re-allocated whole and its bytes moved): each time cached mappings must go (fuse-iomap-abi.md §1.2).
  for (const step of [Math.floor(size / 3), size]) {
    const before = m.ch.notifies.length;
    const fa = await m.call(Op.FALLOCATE, nodeid, FallocateIn.encode({ fh, offset: 0n, length: BigInt(step), mode: 0 }), 0);
    expect(fa.error).toBe(0);
    const inval = m.ch.notifies.slice(before).filter(([code]) => code === IOMAP_73.notify.INVAL_MAPPINGS);
    if (kind === 'iomap') {
      expect(inval.length).toBeGreaterThan(0);
      const p = iomapInvalMappingsOut.decode(inval[0]![1]);
      expect(p.nodeid).toBe(BigInt(nodeid));
      expect(p.attr_ino).toBe(BigInt(attr.ino));
    } else {
      expect(inval).toEqual([]);
    }
  }

  const rng = new Rng(size);
  const data = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) data.writeUInt32LE(Math.floor(rng.next() * 2 ** 32), i);
  for (let off = 0; off < size; off += maxWrite) {
    const n = Math.min(maxWrite, size - off);
    const w = await m.call(Op.WRITE, nodeid, Buffer.concat([WriteIn.encode({ fh, offset: BigInt(off), size: n }), data.subarray(off, off + n)]), WriteOut.size);
    expect(w.error).toBe(0);
    expect(WriteOut.decode(w.payload).size).toBe(n);
  }

  // The bytes are where the kernel's own arithmetic (from the reply) says, on the device file.
  const check = async (committed: boolean) => {
    let fmap: KernelFmap | undefined;
    if (kind === 'famfs') {
      const r = await getFmap(m, flavour, nodeid);
      if ('error' in r) throw new Error(`GET_FMAP of ${name}: ${r.error}\n${m.log()}`);
      expect(r.k.fileSize).toBe(BigInt(size));
      if (interleave && FLAVOURS[flavour].encoding === 'v10') expect(r.k.extType).toBe(FAMFS_EXT.INTERLEAVE);
      fmap = r.k;
    }
    const prng = new Rng(size + (committed ? 1 : 0));
    for (let i = 0; i < 64; i++) {
      const pos = i === 0 ? size - 1 : prng.int(0, size - 1);
      const n = Math.min(16, size - pos);
      const addr = await kernelAddress(m, flavour, nodeid, pos, fmap);
      if (addr === undefined) {
        const r = await m.call(Op.READ, nodeid, ReadIn.encode({ fh, offset: BigInt(pos), size: n }), n, true);
        expect(r.error).toBe(0);
        expect(Buffer.from(r.payload).equals(data.subarray(pos, pos + n))).toBe(true);
      } else {
        // Bytes up to the end of the run the kernel was given are contiguous on the device.
        const len = Math.min(n, 2 * MiB - (pos % (2 * MiB)));
        expect(devBytes(addr, len).equals(data.subarray(pos, pos + len)), `${name} pos ${pos}`).toBe(true);
      }
    }
  };
  await check(false);
  // FLUSH (every close) commits nothing; the RELEASE of the only open file description does.
  const fl = await m.call(Op.FLUSH, nodeid, FlushIn.encode({ fh }), 0);
  expect(fl.error).toBe(0);
  const rl = await m.call(Op.RELEASE, nodeid, ReleaseIn.encode({ fh, flags: 0, release_flags: 0, lock_owner: 0n }), 0);
  expect(rl.error).toBe(0);
  await check(true);
  if (kind === 'iomap') {
    // After commit the size is fixed: writes inside it overwrite in place, past it EFBIG.
    expect((await iomapBegin(m, nodeid, size - 1, IOMAP_OP.WRITE)).error).toBe(0);
    expect((await iomapBegin(m, nodeid, size + 4096, IOMAP_OP.WRITE)).error).toBe(-E.EFBIG);
  }
}

/** .meta/.superblock and .meta/.log: GET_FMAP file_type SUPERBLOCK / LOG and the right bytes. */
async function metaFiles(m: ChildMount, flavour: KernelFlavour): Promise<void> {
  const meta = await m.lookup(1, '.meta');
  for (const [name, type, at] of [['.superblock', FAMFS_FILE.SUPERBLOCK, 0], ['.log', FAMFS_FILE.LOG, LOG_OFFSET]] as const) {
    const { nodeid } = await m.lookup(meta.nodeid, name);
    expect(await m.open(nodeid)).toBe(0);
    const r = await getFmap(m, flavour, nodeid);
    if ('error' in r) throw new Error(`GET_FMAP ${name}: ${r.error}`);
    expect(r.fileType).toBe(type);
    const a = famfsKernelResolve(r.k, 0n)!;
    expect(a.addr).toBe(BigInt(at));
    const raw = Buffer.alloc(64);
    fs.readSync(devFd, raw, 0, 64, at);
    expect(devBytes(a.addr, 64).equals(raw)).toBe(true);
  }
}

/**
 * READDIRPLUS of the root: regular files (committed, created) marked FUSE_ATTR_IOMAP, nothing
 * else. A name whose inode the kernel already holds (looked up by the play) comes with nodeid 0
 * and no attributes (the kernel links nothing for it): its dirent type tells a regular file.
 */
async function readdirplusMarks(m: ChildMount, iomap: boolean): Promise<number> {
  // A reply may end early (famfs-fs.ts ends one after a run of names the kernel holds): ask
  // again from the last record's cookie until an empty reply, as the kernel does.
  let regular = 0;
  for (let offset = 0n, pages = 0; ; pages++) {
    expect(pages).toBeLessThan(100);
    const r = await m.call(Op.READDIRPLUS, 1, ReadIn.encode({ fh: 0n, offset, size: 65536 }), 65536, true);
    expect(r.error).toBe(0);
    const buf = Buffer.from(r.payload);
    if (buf.length === 0) return regular;
    for (let at = 0; at + DIRENTPLUS_DIRENT_OFFSET + Dirent.size <= buf.length;) {
      const a = AttrStruct.decode(buf, at + ENTRY_OUT_ATTR_OFFSET);
      const d = Dirent.decode(buf, at + DIRENTPLUS_DIRENT_OFFSET);
      const isReg = d.type === 0o100000 >> 12;
      if (isReg) regular++;
      if (buf.readBigUInt64LE(at) === 0n) expect(a.mode).toBe(0);
      else {
        expect((a.mode & 0o170000) === 0o100000).toBe(isReg);
        expect(Boolean(a.flags & FUSE_ATTR_IOMAP)).toBe(iomap && isReg);
      }
      offset = BigInt(d.off);
      at += (DIRENTPLUS_DIRENT_OFFSET + Dirent.size + d.namelen + 7) & ~7;
    }
  }
}

/** iomap --upsert-at-open: OPEN of a small file pushes its mappings, of a big one nothing. */
async function upsertPolicy(m: ChildMount): Promise<void> {
  const small = files.filter((f) => f.map.size > 0 && f.map.size <= UPSERT_LIMIT)[0]!;
  const big = files.find((f) => f.map.size > UPSERT_LIMIT)!;
  for (const [f, wantSome] of [[small, true], [big, false]] as const) {
    const { nodeid } = await m.lookup(1, f.name);
    const before = m.ch.notifies.length;
    expect(await m.open(nodeid)).toBe(0);
    const ups = m.ch.notifies.slice(before).filter(([code]) => code === IOMAP_73.notify.UPSERT_MAPPINGS);
    if (wantSome) expect(ups.length).toBeGreaterThan(0);
    else expect(ups).toEqual([]);
  }
}

const RUNS: { flavour: KernelFlavour; abi: string; profile: string; extra?: string[] }[] = [
  { flavour: 'mainline', abi: 'mainline', profile: 'mainline' },
  { flavour: 'iomap', abi: 'iomap', profile: 'iomap', extra: ['--upsert-at-open', '64M'] },
  { flavour: 'famfs-v10', abi: 'famfs-v10', profile: 'famfs-v10' },
  { flavour: 'famfs-unrolled', abi: 'famfs-unrolled', profile: 'famfs-unrolled' },
  { flavour: 'mainline', abi: 'auto', profile: 'mainline' },
  { flavour: 'iomap', abi: 'auto', profile: 'iomap' },
  { flavour: 'famfs-v10', abi: 'auto', profile: 'famfs' },
  { flavour: 'stock-uring', abi: 'auto', profile: 'mainline' },
  { flavour: 'famfs-unrolled', abi: 'auto', profile: 'famfs' },
];

describe('famfs-ts mount over /dev/fd/N against the kernel-side player', () => {
  RUNS.forEach((run, i) => {
    // Each profile gets CASES cases; `auto` runs re-test the same profiles, chosen by INIT.
    const cases = run.abi === 'auto' ? CASES / 3 : CASES;
    it(`--abi ${run.abi} facing a ${run.flavour} kernel: ${cases} cases, created files, .meta`, async () => {
      const m = ChildMount.start(DEV, ['--abi', run.abi, '--system-uuid', UUID_FILE, ...(run.extra ?? [])]);
      try {
        const logLines: string[] = [];
        const s = await play({
          flavour: run.flavour, cases, seed: 900 + i, channel: { fd: m.fd, profile: () => m.profile() },
          target: { files, devicePaths: [DEV], logLines, close: () => undefined },
          ...(run.extra ? { upsertAtOpen: 1 } : {}),
        });
        expect(s.profile).toBe(run.profile);
        if (FLAVOURS[run.flavour].kind !== 'none') expect(s.stampsChecked).toBeGreaterThan(cases * 0.9);
        if (run.extra) expect(s.upserts).toBeGreaterThan(0);
        if (run.abi === 'auto') await m.waitLog(new RegExp(`abi auto: ${run.profile} \\(`));
        const kind = FLAVOURS[run.flavour].kind;
        if (kind === 'iomap') expect(await iomapBlockSize(m)).toBe(4096);
        if (run.extra) await upsertPolicy(m);
        await createdFile(m, run.flavour, s.maxWrite, `new-${i}`, 5 * MiB + 123);
        await createdFile(m, run.flavour, s.maxWrite, `striped-${i}`, 9 * MiB + 5, 'nstrips=2,chunk=2M');
        if (kind === 'famfs') await metaFiles(m, run.flavour);
        expect(await readdirplusMarks(m, kind === 'iomap')).toBeGreaterThanOrEqual(files.length + 2);
        if (kind !== 'none') await m.waitLog(/files are mapped by the kernel/);
      } catch (e) {
        throw new Error(`${(e as Error).message}\nserver log:\n${m.log()}`);
      } finally {
        expect(await m.stop()).toBe(0);
      }
    }, 120_000);
  });
});
