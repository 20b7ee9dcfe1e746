// The kernel's half of the mapping protocols, played over a SOCK_SEQPACKET socketpair that
// the server sees as /dev/fd/N (docs/design.md "Kernel-side player channel"). This machine's
// kernel speaks neither fuse-iomap nor famfs-over-FUSE, so the player stands in for one:
// it sends INIT offering a kernel flavour's flags, LOOKUP/OPEN, then IOMAP_BEGIN or
// GET_FMAP/GET_DAXDEV for random files and positions, judges every reply with the
// kernel's rules (test/support/kernel-rules.ts), re-derives each address with the kernel's
// arithmetic and reads the stamp the test wrote at that address in the device file.
//
// Device cookies: on this channel the server cannot issue FUSE_DEV_IOC_BACKING_OPEN, so it
// assigns cookie = daxdev + 1 itself (src/mapping/handlers.ts playerCookie) and the player
// reads cookie c as daxdev c - 1.
import fs from 'node:fs';
import path from 'node:path';
import { resolve, resolveRange, type FileMap, type Strip } from '../../src/interleave/filemap.js';
import { MappedDevice } from '../../src/device/memory.js';
import type { AbiProfile, ProfileChooser } from '../../src/fuse/abi.js';
import type { AttrReply, Entry, FileSystem, OpenReply, RequestContext } from '../../src/fuse/filesystem.js';
import { errno, FuseError } from '../../src/fuse/filesystem.js';
import { FuseSession } from '../../src/fuse/session.js';
import { InitFlag, Op } from '../../src/fuse/opcodes.js';
import { Attr as AttrStruct, ATTR_OUT_ATTR_OFFSET, ENTRY_OUT_ATTR_OFFSET, EntryOut, InHeader, InitIn, InitOut, OpenIn, OpenOut } from '../../src/fuse/structs.js';
import { getFmapIn } from '../../src/mapping/famfs-fmap.js';
import {
  FUSE_ATTR_IOMAP, IOMAP_FLAGS_V7, IOMAP_OP, IOMAP_TYPE, iomapBeginIn, iomapBeginOut, iomapConfigOut, iomapEndIn, iomapUpsertMappingsOut,
} from '../../src/mapping/iomap-wire.js';
import {
  checkDaxdevReply, checkFmapReply, checkIomapBegin, checkReplyFrame, famfsKernelResolve, iomapAddress, KernelRejection,
  type KernelFmap, type Reply,
} from './kernel-rules.js';
import type { MappingSource } from '../../src/mapping/handlers.js';
import { playerCookie } from '../../src/mapping/iomap-wire.js';
import { FAMFS_V10, IOMAP_73 } from '../../src/mapping/series.js';
import { defaultIomapConfig, profileByName, type ProfileName } from '../../src/mapping/profiles.js';
import { offeredFlags, RECORDED_INITS, type RecordedInit } from './kernel-inits.js';
import { seqpacketPair, setSocketBuffers } from './sockets.js';
import { ALLOC, randomFileMap, Rng, type MapShape } from './kernel-player-maps.js';

// ---------------------------------------------------------------------------------------
// Kernel flavours: what a kernel of each series offers and sends.

export type KernelFlavour = 'mainline' | 'iomap' | 'famfs-v10' | 'famfs-unrolled' | 'stock-uring';

interface Flavour {
  /** What the kernel offers in INIT (a recording of a real kernel, kernel-inits.ts). */
  readonly init: RecordedInit;
  /** The INIT bit a server speaking this kernel's series must be granted (0n: none). */
  readonly bit: bigint;
  readonly kind: 'none' | 'iomap' | 'famfs';
  readonly getFmap?: number;
  readonly getDaxdev?: number;
  /** GET_FMAP payload: none (V-series) or fuse_getxattr_in {size} (dev tree). */
  readonly fmapPayload?: 0 | 8;
  readonly encoding?: 'v10' | 'unrolled';
  /** Devices a kernel of this flavour takes (V10: daxdev 0 only). */
  readonly maxDaxdev: number;
}

export const FLAVOURS: Readonly<Record<KernelFlavour, Flavour>> = {
  mainline: { init: RECORDED_INITS['host-6.18'], bit: 0n, kind: 'none', maxDaxdev: 0 },
  iomap: { init: RECORDED_INITS['fuse-iomap-7.3'], bit: IOMAP_73.initBit, kind: 'iomap', maxDaxdev: 3 },
  'famfs-v10': { init: RECORDED_INITS['famfs-v10-7.3'], bit: FAMFS_V10.initBit, kind: 'famfs', getFmap: FAMFS_V10.opcodes.GET_FMAP, getDaxdev: FAMFS_V10.opcodes.GET_DAXDEV, fmapPayload: 0, encoding: 'v10', maxDaxdev: 0 },
  // No dev-tree kernel was booted: V10's INIT with the dev tree's GET_FMAP payload.
  'famfs-unrolled': { init: RECORDED_INITS['famfs-v10-7.3'], bit: FAMFS_V10.initBit, kind: 'famfs', getFmap: FAMFS_V10.opcodes.GET_FMAP, getDaxdev: FAMFS_V10.opcodes.GET_DAXDEV, fmapPayload: 8, encoding: 'unrolled', maxDaxdev: 3 },
  // stock 7.3 with FUSE io_uring on: bit 43 is FUSE_HAS_IO_URING_BUFPOOL, no mapping at all.
  'stock-uring': { init: RECORDED_INITS['stock-7.3-uring'], bit: 0n, kind: 'none', maxDaxdev: 0 },
};

/** What this machine's kernel offers (DESIGN.md), plus INIT_EXT so flags2 counts. */
export const KERNEL_FLAGS = offeredFlags(RECORDED_INITS['host-6.18']) | InitFlag.INIT_EXT;
/** Every bit a mapping series might be granted: none may be granted beyond the flavour's. */
const MAPPING_BITS = FAMFS_V10.initBit | IOMAP_73.initBit;

// ---------------------------------------------------------------------------------------
// The world: device files, files with maps, and stamps at every 2 MiB granule.

const GRANULE = ALLOC;
const STAMP_MAGIC = 0x5fa3f5;

export interface PlayerFile {
  readonly name: string;
  readonly nodeid: number;
  readonly index: number;
  readonly map: FileMap;
}

/** Give every run of `map` a fresh place on its device (bump allocation with gaps). */
function place(map: FileMap, bump: number[], rng: Rng): FileMap {
  const take = (r: Strip): Strip => {
    const offset = bump[r.daxdev]!;
    bump[r.daxdev] = offset + r.length + rng.int(0, 2) * ALLOC;
    return { daxdev: r.daxdev, offset, length: r.length };
  };
  return {
    size: map.size,
    extents: map.extents.map((e) => (e.type === 'simple' ? { type: 'simple' as const, ...take(e) } : { ...e, strips: e.strips.map(take) })),
  };
}

export class PlayerWorld implements MappingSource {
  readonly files: PlayerFile[] = [];
  readonly devicePaths: string[] = [];
  private readonly byNode = new Map<number, PlayerFile>();
  readonly logLines: string[] = [];

  /** `nfiles` random famfs-shaped files over `ndev` sparse device files in `dir`. */
  constructor(readonly seed: number, nfiles: number, ndev: number, maxLog2 = 30, extra: readonly FileMap[] = [], dir = '/dev/shm') {
    const rng = new Rng(seed);
    const bump = new Array<number>(ndev).fill(ALLOC); // keep the first 2 MiB free, as famfs does
    const shape: MapShape = { maxDaxdev: ndev - 1, famfs: true, maxLog2, deviceBytes: 2 ** 45 };
    for (let i = 0; i < nfiles + extra.length; i++) {
      const map = place(i < nfiles ? randomFileMap(rng, shape) : extra[i - nfiles]!, bump, rng);
      const f = { name: `f${i}`, nodeid: i + 2, index: i, map };
      this.files.push(f);
      this.byNode.set(f.nodeid, f);
    }
    const fds: number[] = [];
    try {
      for (let d = 0; d < ndev; d++) {
        const p = path.join(dir, `famfs-ts-player-${process.pid}-${seed}-${d}`);
        this.devicePaths.push(p);
        const fd = fs.openSync(p, 'w+');
        fds.push(fd);
        fs.ftruncateSync(fd, bump[d]!); // sparse: only stamped pages cost memory
      }
      const stamp = Buffer.alloc(16);
      for (const f of this.files) {
        for (let pos = 0; pos < f.map.size; pos += GRANULE) {
          const m = resolve(f.map, pos)!;
          stampOf(f.index, pos / GRANULE, stamp);
          fs.writeSync(fds[m.daxdev]!, stamp, 0, 16, m.offset);
        }
      }
    } catch (e) {
      this.cleanup();
      throw e;
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
  }

  fileMap(nodeid: number): FileMap | undefined {
    return this.byNode.get(nodeid)?.map;
  }
  daxdevPath(index: number): string | undefined {
    return this.devicePaths[index];
  }
  /** fuse_attr.ino of a file (PlayerFs reports 1000 + nodeid, so a mix-up shows). */
  attrIno(nodeid: number): number {
    return 1000 + nodeid;
  }
  log(line: string): void {
    this.logLines.push(line);
  }
  file(nodeid: number): PlayerFile | undefined {
    return this.byNode.get(nodeid);
  }

  cleanup(): void {
    for (const p of this.devicePaths) fs.rmSync(p, { force: true });
  }
}

export function stampOf(file: number, granule: number, out: Buffer): Buffer {
  out.writeUInt32LE(STAMP_MAGIC, 0);
  out.writeUInt32LE(file, 4);
  out.writeBigUInt64LE(BigInt(granule), 8);
  return out;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** The served file system: a root directory holding the world's files. */
export class PlayerFs implements FileSystem {
  constructor(private readonly world: PlayerWorld) {}
  private attrOf(nodeid: number) {
    if (nodeid === 1) return { ino: 1, size: 0, mode: S_IFDIR | 0o755, nlink: 2 };
    const f = this.world.file(nodeid);
    if (!f) throw new FuseError(errno.ENOENT);
    // Regular files go on the iomap path under the iomap profile (fuse-iomap-abi.md §1.1).
    return { ino: this.world.attrIno(f.nodeid), size: f.map.size, mode: S_IFREG | 0o644, nlink: 1 };
  }
  lookup(_ctx: RequestContext, parent: number, name: string): Entry {
    if (parent !== 1) throw new FuseError(errno.ENOTDIR);
    const f = this.world.files.find((x) => x.name === name);
    if (!f) throw new FuseError(errno.ENOENT);
    return { nodeid: f.nodeid, attr: this.attrOf(f.nodeid) };
  }
  getattr(_ctx: RequestContext, nodeid: number): AttrReply {
    return { attr: this.attrOf(nodeid) };
  }
  open(_ctx: RequestContext, nodeid: number): OpenReply {
    if (!this.world.file(nodeid)) throw new FuseError(errno.EISDIR);
    return { fh: nodeid };
  }
  private devices: MappedDevice[] = [];
  /** The READ path (mainline kernels): views of the mapped device files, placed by resolve(). */
  read(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, size: number): Buffer[] {
    const f = this.world.file(nodeid);
    if (!f) throw new FuseError(errno.EISDIR);
    const out: Buffer[] = [];
    for (const m of resolveRange(f.map, offset, size)) {
      const dev = (this.devices[m.daxdev] ??= MappedDevice.open(this.world.devicePaths[m.daxdev]!, { writable: false }));
      out.push(...dev.slices(m.offset, m.length));
    }
    return out;
  }
  destroy(): void {
    this.close();
  }
  close(): void {
    for (const d of this.devices) d?.close();
    this.devices = [];
  }
}

// ---------------------------------------------------------------------------------------
// The channel: one request out, its reply (and any notifies before it) back.

export class PlayerChannel {
  private unique = 0n;
  private readonly buf: Buffer;
  private readonly pending = new Map<bigint, { res: (m: Buffer) => void; rej: (e: Error) => void }>();
  private reading = false;
  /** Notifications received (unique 0): [code, payload]. */
  readonly notifies: [number, Buffer][] = [];
  constructor(readonly fd: number, bufferBytes = (16 << 20) + 4096) {
    this.buf = Buffer.alloc(bufferBytes);
  }

  /** One read outstanding while any request waits; replies are matched by unique. */
  private pump(): void {
    if (this.reading || this.pending.size === 0) return;
    this.reading = true;
    fs.read(this.fd, this.buf, 0, this.buf.length, null, (err, n) => {
      this.reading = false;
      if (err || n === 0) {
        const e = err ?? new Error('server closed the channel');
        for (const p of this.pending.values()) p.rej(e);
        this.pending.clear();
        return;
      }
      const msg = Buffer.from(this.buf.subarray(0, n));
      const u = n >= 16 ? msg.readBigUInt64LE(8) : -1n;
      if (u === 0n) this.notifies.push([msg.readInt32LE(4), msg.subarray(16)]);
      else {
        const p = this.pending.get(u);
        if (!p) {
          for (const q of this.pending.values()) q.rej(new Error(`reply with unique ${u} answers no request`));
          this.pending.clear();
          return;
        }
        this.pending.delete(u);
        p.res(msg);
      }
      this.pump();
    });
  }

  /**
   * Send one request and wait for its reply message (notifies are collected). Several
   * calls may be in flight at once, as the kernel has many requests outstanding.
   */
  call(opcode: number, nodeid: number, payload: Buffer = Buffer.alloc(0), len = 40 + payload.length): Promise<{ unique: bigint; msg: Buffer }> {
    this.unique += 2n; // bit 0 marks interrupt replies (fuse-iomap-abi.md §2)
    const unique = this.unique;
    // `len` other than the bytes sent: a hostile header the server must answer with -EINVAL.
    const head = InHeader.encode({ len, opcode, unique, nodeid: BigInt(nodeid), uid: 0, gid: 0, pid: process.pid });
    const reply = new Promise<Buffer>((res, rej) => this.pending.set(unique, { res, rej }));
    fs.writeSync(this.fd, Buffer.concat([head, payload]));
    this.pump();
    return reply.then((msg) => ({ unique, msg }));
  }
}

/** Run `n` cases with `width` of them in flight at a time. */
export async function concurrently(n: number, width: number, run: (c: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await run(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, lane));
}

// ---------------------------------------------------------------------------------------
// Playing a kernel flavour against a server profile.

export interface PlayOptions {
  readonly flavour: KernelFlavour;
  /** The server's --abi (default: the flavour's own name; 'auto' tests the chooser). */
  readonly serverAbi?: ProfileName;
  readonly cases: number;
  readonly seed: number;
  readonly nfiles?: number;
  readonly maxLog2?: number;
  /** iomap: the server's upsert-at-OPEN policy (files of at most this many mappings). */
  readonly upsertAtOpen?: number;
  /** Play against this instead of a random PlayerWorld (the caller owns it; play closes it). */
  readonly target?: PlayTarget;
  /** Files added to the random ones (their runs are re-placed on the devices). */
  readonly extraFiles?: readonly FileMap[];
  /** Requests in flight at once (default 8). */
  readonly width?: number;
  /**
   * Play over this already-connected kernel end instead of serving the target in-process:
   * the server runs elsewhere (e.g. `famfs-ts mount IMAGE /dev/fd/N` in a child process),
   * so the target's fs/source are not used. play() leaves the fd open.
   */
  readonly channel?: { readonly fd: number; readonly profile: () => string };
}

export interface PlayStats {
  readonly flavour: KernelFlavour;
  profile: string;
  requests: number;
  positions: number;
  stampsChecked: number;
  fmapRetries: number;
  daxdevs: number;
  upserts: number;
  /** The largest WRITE the server granted at INIT (a kernel sends none bigger). */
  maxWrite: number;
  /** Wall time of the random cases alone (no setup). */
  loopMs: number;
  readonly serverLog: string[];
}

class PlayerFailure extends Error {}

function fail(what: string): never {
  throw new PlayerFailure(what);
}

/**
 * What the player plays against: a served file system, the mapping source the profiles
 * use, and the files it must find in the root directory, each stamped (stampOf) with its
 * `index` at every 2 MiB granule of the device file `devicePaths[daxdev]`.
 */
export interface PlayTarget {
  /** Served in-process (absent when play() gets a channel to a server elsewhere). */
  readonly fs?: FileSystem;
  readonly source?: MappingSource;
  readonly files: readonly { readonly name: string; readonly index: number; readonly map: FileMap }[];
  readonly devicePaths: readonly string[];
  readonly logLines: string[];
  close(): void;
}

/** A random PlayerWorld served by PlayerFs. */
function worldTarget(opts: PlayOptions, ndev: number): PlayTarget {
  const world = new PlayerWorld(opts.seed, opts.nfiles ?? 24, ndev, opts.maxLog2 ?? 30, opts.extraFiles);
  const pfs = new PlayerFs(world);
  return {
    fs: pfs, source: world, files: world.files, devicePaths: world.devicePaths, logLines: world.logLines,
    close() {
      pfs.close();
      world.cleanup();
    },
  };
}

interface Opened {
  readonly name: string;
  readonly index: number;
  readonly map: FileMap;
  readonly nodeid: number;
  readonly ino: number;
  readonly size: number;
}

/** The profile a server names for a flavour's kernel (stock kernels get mainline). */
function serverAbiOf(flavour: KernelFlavour): ProfileName {
  return flavour === 'stock-uring' ? 'mainline' : flavour;
}

/** Serve a target in-process on one end of a socketpair and play `flavour` on the other. */
export async function play(opts: PlayOptions): Promise<PlayStats> {
  const flav = FLAVOURS[opts.flavour];
  const target = opts.target ?? worldTarget(opts, flav.maxDaxdev + 1);
  const [kernelFd, serverFd] = opts.channel ? [opts.channel.fd, -1] : seqpacketPair();
  let session: FuseSession | undefined;
  const stats: PlayStats = {
    flavour: opts.flavour, profile: '', requests: 0, positions: 0, stampsChecked: 0, fmapRetries: 0, daxdevs: 0, upserts: 0, maxWrite: 0, loopMs: 0,
    serverLog: target.logLines,
  };
  const devFds: number[] = [];
  try {
    setSocketBuffers(kernelFd, 17 << 20);
    if (!opts.channel) {
      if (!target.fs || !target.source) fail('an in-process target needs fs and source');
      setSocketBuffers(serverFd, 17 << 20);
      const iomapCfg = defaultIomapConfig({ upsertAtOpen: opts.upsertAtOpen });
      const profile: AbiProfile | ProfileChooser = profileByName(opts.serverAbi ?? serverAbiOf(opts.flavour), {
        source: target.source, iomap: iomapCfg, log: (l) => target.logLines.push(l),
      });
      session = FuseSession.mount(`/dev/fd/${serverFd}`, target.fs, { profile, readers: 1, handleSignals: false, log: (l) => target.logLines.push(l) });
    }
    const s = session;
    const ch = new PlayerChannel(kernelFd);
    const rng = new Rng(opts.seed ^ 0x6b65726e);

    // INIT: offer what the flavour's kernel offered when it was booted.
    const offered = offeredFlags(flav.init);
    const init = await ch.call(Op.INIT, 0, InitIn.encode({
      major: 7, minor: flav.init.minor, max_readahead: 128 << 10, flags: Number(offered & 0xffffffffn), flags2: Number(offered >> 32n),
    }));
    stats.requests++;
    const ir = checkReplyFrame(init.msg, init.unique, { size: 64 });
    if (ir.error !== 0) fail(`INIT failed with ${ir.error}`);
    const io = InitOut.decode(ir.payload);
    stats.maxWrite = io.max_write;
    const granted = BigInt(io.flags) | (BigInt(io.flags2) << 32n);
    stats.profile = s ? s.dispatcher.conn?.profile ?? '' : opts.channel!.profile();
    if (!(granted & InitFlag.INIT_EXT)) fail('INIT reply does not echo FUSE_INIT_EXT');
    if ((granted & MAPPING_BITS) !== flav.bit) fail(`INIT mapping bits 0x${(granted & MAPPING_BITS).toString(16)} granted to a ${opts.flavour} kernel (want 0x${flav.bit.toString(16)})`);
    if (flav.kind === 'iomap' && io.minor !== IOMAP_73.minor) fail(`iomap server answered minor ${io.minor}, not ${IOMAP_73.minor}`);

    let blockSize = 0;
    let maxBytes = 0n;
    if (flav.kind === 'iomap') {
      const c = await ch.call(IOMAP_73.opcodes.IOMAP_CONFIG, 0, Buffer.alloc(64));
      stats.requests++;
      const r = checkReplyFrame(c.msg, c.unique, { size: iomapConfigOut.size });
      if (r.error !== 0) fail(`IOMAP_CONFIG failed with ${r.error}`);
      const cfg = iomapConfigOut.decode(r.payload);
      blockSize = cfg.s_blocksize;
      maxBytes = BigInt(cfg.s_maxbytes);
      if (blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) fail(`IOMAP_CONFIG block size ${blockSize}`);
    }

    // LOOKUP + OPEN every file once, as the kernel would before mapping I/O.
    const opened: Opened[] = [];
    for (const f of target.files) {
      const l = await ch.call(Op.LOOKUP, 1, Buffer.from(`${f.name}\0`));
      stats.requests++;
      const lr = checkReplyFrame(l.msg, l.unique, { size: EntryOut.size });
      if (lr.error !== 0) fail(`LOOKUP ${f.name}: ${lr.error}`);
      const nodeid = Number(EntryOut.decode(lr.payload).nodeid);
      const attr = AttrStruct.decode(lr.payload, ENTRY_OUT_ATTR_OFFSET);
      if (nodeid < 1 || opened.some((x) => x.nodeid === nodeid)) fail(`LOOKUP ${f.name}: nodeid ${nodeid}`);
      if (attr.size !== f.map.size) fail(`LOOKUP ${f.name}: size ${attr.size}, the map says ${f.map.size}`);
      if (flav.kind === 'iomap') {
        // Regular files must come marked for the iomap path, from LOOKUP and GETATTR alike.
        if ((attr.flags & IOMAP_73.attrFlags) !== IOMAP_73.attrFlags) fail(`LOOKUP ${f.name}: not FUSE_ATTR_IOMAP | FUSE_ATTR_EXCLUSIVE`);
        const g = await ch.call(Op.GETATTR, nodeid, Buffer.alloc(16));
        stats.requests++;
        const gr = checkReplyFrame(g.msg, g.unique, { size: 104 });
        if (gr.error !== 0 || (AttrStruct.decode(gr.payload, ATTR_OUT_ATTR_OFFSET).flags & IOMAP_73.attrFlags) !== IOMAP_73.attrFlags) fail(`GETATTR ${f.name}: not FUSE_ATTR_IOMAP | FUSE_ATTR_EXCLUSIVE`);
      }
      opened.push({ ...f, nodeid, ino: Number(attr.ino), size: attr.size });
      const o = await ch.call(Op.OPEN, nodeid, OpenIn.encode({ flags: 0 }));
      stats.requests++;
      const or = checkReplyFrame(o.msg, o.unique, { size: OpenOut.size });
      if (or.error !== 0) fail(`OPEN ${f.name}: ${or.error}`);
    }
    if (opts.upsertAtOpen !== undefined) stats.upserts = checkUpserts(ch.notifies, opened, blockSize, maxBytes);

    if (flav.kind === 'none') {
      // A mainline kernel has neither GET_FMAP (54) nor IOMAP_BEGIN (4094): unknown opcodes
      // must get -ENOSYS (fuse-iomap-abi.md §2).
      for (const opcode of [FAMFS_V10.opcodes.GET_FMAP, IOMAP_73.opcodes.IOMAP_BEGIN]) {
        const r = await ch.call(opcode, 2, Buffer.alloc(32));
        const v = checkReplyFrame(r.msg, r.unique, { size: 64 });
        if (v.error !== -38) fail(`opcode ${opcode} on a mainline connection answered ${v.error}, not -ENOSYS`);
        stats.requests++;
      }
      return stats;
    }

    const devices = new Map<number, number>(); // daxdev index -> fd of the path GET_DAXDEV named
    const openDevice = (index: number, p: string) => {
      // The kernel wants a character (devdax) device here; the player accepts the emulated
      // regular files too, and requires that the path named is the one holding the stamps.
      const st = fs.statSync(p);
      if (!st.isFile() && !st.isCharacterDevice()) fail(`daxdev ${index}: ${p} is neither a devdax nor an emulated device file`);
      if (p !== target.devicePaths[index]) fail(`daxdev ${index}: server named ${p}`);
      const fd = fs.openSync(p, 'r');
      devFds.push(fd);
      devices.set(index, fd);
    };
    const checkStamp = (f: Opened, dev: number, addr: bigint, pos: number) => {
      const fd = devices.get(dev);
      if (fd === undefined) fail(`no device ${dev}`);
      const at = addr - BigInt(pos % GRANULE);
      const got = Buffer.alloc(16);
      fs.readSync(fd, got, 0, 16, Number(at));
      const want = stampOf(f.index, Math.floor(pos / GRANULE), Buffer.alloc(16));
      if (!got.equals(want)) fail(`${f.name} pos ${pos}: device ${dev} at ${at} holds ${got.toString('hex')}, want ${want.toString('hex')}`);
      stats.stampsChecked++;
    };

    if (flav.kind === 'famfs') {
      const daxdevs = new Map<number, Promise<void>>();
      const daxdev = (d: number): Promise<void> => {
        let p = daxdevs.get(d);
        if (!p) {
          // The kernel asks once per table slot (fuse-iomap-abi.md §3.4).
          p = (async () => {
            const r = await ch.call(flav.getDaxdev!, d);
            stats.requests++;
            const rep = checkReplyFrame(r.msg, r.unique, { size: 280 });
            if (rep.error !== 0) fail(`GET_DAXDEV ${d}: ${rep.error}`);
            openDevice(d, checkDaxdevReply(rep.payload, d).path);
            stats.daxdevs++;
          })();
          daxdevs.set(d, p);
        }
        return p;
      };
      const t0 = performance.now();
      await concurrently(opts.cases, opts.width ?? 8, async () => {
        const f = rng.pick(opened);
        // Every case is an OPEN's GET_FMAP (the kernel caches per inode; we re-ask to test more).
        let buffer = 4096;
        let retried = false;
        let k: KernelFmap | undefined;
        while (!k) {
          const payload = flav.fmapPayload === 8 ? getFmapIn.encode({ size: buffer }) : Buffer.alloc(0);
          const r = await ch.call(flav.getFmap!, f.nodeid, payload);
          stats.requests++;
          const rep = checkReplyFrame(r.msg, r.unique, { size: buffer, variable: true });
          if (rep.error !== 0) fail(`GET_FMAP ${f.name}: ${rep.error} (${target.logLines.at(-1) ?? ''})`);
          const v = checkFmapReply(rep.payload, { encoding: flav.encoding!, buffer, retried });
          if (v.kind === 'retry') {
            buffer = v.buffer;
            retried = true;
            stats.fmapRetries++;
          } else k = v.map;
        }
        if (k.fileSize !== BigInt(f.size)) fail(`GET_FMAP ${f.name}: file_size ${k.fileSize}, LOOKUP said ${f.size}`);
        for (const d of k.devices) await daxdev(d);
        if (f.map.size === 0) return;
        const pos = rng.next() < 0.1 ? f.map.size - 1 : rng.int(0, f.map.size - 1);
        const a = famfsKernelResolve(k, BigInt(pos));
        if (!a) fail(`${f.name}: the kernel falls off the map at ${pos} < ${f.map.size}`);
        stats.positions++;
        checkStamp(f, a.devindex, a.addr, pos);
      });
      stats.loopMs = performance.now() - t0;
      return stats;
    }

    // iomap
    for (let dev = 0; dev < target.devicePaths.length; dev++) openDevice(dev, target.devicePaths[dev]!);
    const rules = { blockSize, maxBytes: Number(maxBytes), flags: IOMAP_FLAGS_V7 };
    const t0 = performance.now();
    await concurrently(opts.cases, opts.width ?? 8, async (c) => {
      const f = rng.pick(opened);
      const past = rng.next() < 0.05;
      const pos = past ? f.map.size + rng.int(0, 2 * blockSize) : rng.int(0, Math.max(0, f.map.size - 1));
      const write = rng.next() < 0.3 && pos < f.map.size;
      const opflags = (write ? IOMAP_OP.WRITE : 0) | rng.pick([0, IOMAP_OP.DAX, IOMAP_OP.DIRECT, IOMAP_OP.FAULT | IOMAP_OP.DAX]);
      const count = rng.int(1, 1 << 20);
      const r = await ch.call(IOMAP_73.opcodes.IOMAP_BEGIN, f.nodeid, iomapBeginIn.encode({ opflags, attr_ino: BigInt(f.ino), pos: BigInt(pos), count: BigInt(count) }));
      stats.requests++;
      const rep = checkReplyFrame(r.msg, r.unique, { size: 64 });
      if (rep.error !== 0) fail(`IOMAP_BEGIN ${f.name} pos ${pos}: ${rep.error}`);
      const v = checkIomapBegin(rep.payload, BigInt(pos), rules);
      stats.positions++;
      if (pos < f.map.size) {
        if (v.read.type !== IOMAP_TYPE.MAPPED) fail(`${f.name} pos ${pos}: type ${v.read.type} inside the file`);
        const a = iomapAddress(v.read, BigInt(pos));
        checkStamp(f, a.dev - 1, a.addr, pos);
      }
      if (c % 64 === 0) {
        // The kernel sends IOMAP_END for writes that came up short; the server must take it.
        const end = await ch.call(IOMAP_73.opcodes.IOMAP_END, f.nodeid, iomapEndIn.encode({
          opflags, attr_ino: BigInt(f.ino), pos: BigInt(pos), count: BigInt(count), written: 0, map: iomapBeginOut.decode(rep.payload).read,
        }));
        stats.requests++;
        const er = checkReplyFrame(end.msg, end.unique, { size: 0 });
        if (er.error !== 0) fail(`IOMAP_END: ${er.error}`);
      }
    });
    stats.loopMs = performance.now() - t0;
    return stats;
  } catch (e) {
    if (e instanceof KernelRejection || e instanceof PlayerFailure) {
      throw new Error(`${opts.flavour} player (seed ${opts.seed}): ${e.message}`);
    }
    throw e;
  } finally {
    for (const fd of devFds) fs.closeSync(fd);
    await session?.close();
    if (!opts.channel) {
      try {
        fs.closeSync(kernelFd);
      } catch {
        // closed already
      }
    }
    target.close();
  }
}

/** Validate UPSERT notifies as the kernel would: nodeid known, attr_ino matching, both slots per fuse-iomap-abi.md §1.4. */
function checkUpserts(notifies: readonly [number, Buffer][], opened: readonly Opened[], blockSize: number, maxBytes: bigint): number {
  let n = 0;
  for (const [code, payload] of notifies) {
    if (code !== IOMAP_73.notify.UPSERT_MAPPINGS) fail(`unexpected notify ${code}`);
    if (payload.length !== iomapUpsertMappingsOut.size) fail(`UPSERT payload of ${payload.length} bytes`);
    const u = iomapUpsertMappingsOut.decode(payload);
    const f = opened.find((x) => BigInt(x.nodeid) === u.nodeid);
    if (!f) fail(`UPSERT for unknown nodeid ${u.nodeid} (-ESTALE)`);
    // The kernel compares attr_ino with the inode's orig_ino, else -EINVAL (fuse-iomap-abi.md §1.2).
    if (u.attr_ino !== BigInt(f.ino)) fail(`UPSERT attr_ino ${u.attr_ino} but LOOKUP gave ino ${f.ino}`);
    const read = payload.subarray(16, 48);
    const offset = read.readBigUInt64LE(0);
    checkIomapBegin(Buffer.concat([read, payload.subarray(48, 80)]), offset, { blockSize, maxBytes: Number(maxBytes), flags: IOMAP_FLAGS_V7 });
    n++;
  }
  return n;
}

export { playerCookie };
