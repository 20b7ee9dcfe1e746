// Before a mount serves, its request path runs on a scratch image it makes and deletes: V8
// compiles the functions a create, a stat, a listing and a read go through (TurboFan, on its
// own thread) while no client waits. A fresh server otherwise spends its first ~6,000 creates
// interpreting and compiling (bench/meta-mount/README.md, "Issue 16, eleventh pass"; twelfth
// pass for what this buys). The scratch image is a sparse file in the temp directory, deleted
// as soon as it is mapped: nothing of the user's image is read or written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FamfsImage } from '../famfs/image.js';
import { mkfsDevice } from '../famfs/mkfs-device.js';
import { parseUuid } from '../famfs/uuid.js';
import { Dispatcher } from '../fuse/dispatcher.js';
import { direntSize } from '../fuse/reply.js';
import type { InitLimits } from '../fuse/init.js';
import { OpStats } from '../fuse/op-stats.js';
import { InitFlag, Op, opName } from '../fuse/opcodes.js';
import { Errno } from '../errno.js';
import { BatchForgetIn, CreateIn, Dirent, DIRENTPLUS_DIRENT_OFFSET, FallocateIn, EntryOut, ForgetOne, GetattrIn, InHeader, InitIn, MkdirIn, OpenIn, OpenOut, OutHeader, ReadIn, ReleaseIn, WriteIn } from '../fuse/structs.js';
import { FamfsFileSystem } from './famfs-fs.js';
import { openForMount } from './mount-options.js';

/** The warm-up stops after this long whatever its count (ms): a slow host mounts no later than this. */
export const WARM_BUDGET_MS = 1500;
/** Files a warm-up makes at most: each scratch image has room for half, next to its 2 GiB file. */
export const MAX_WARM_FILES = 4000;

const GiB = 1024 ** 3;
/** famfs's smallest device: its allocator's offsets reach past 2^31, as a real device's do. */
const SCRATCH_BYTES = 8 * GiB;
const quiet = (): void => {};
const { ENOENT, ENOSYS } = os.constants.errno;
const FILE_BYTES = 4096;
/** Files per directory, listed after each is filled. */
const PER_DIR = 500;

export interface WarmResult {
  readonly files: number;
  readonly ms: number;
}

/**
 * Create `files` files of 4 KiB through Dispatchers and FamfsFileSystems on two scratch images
 * (in `dir`, default the temp directory), stat, list and read them back, then close it all.
 * Two, served in turn: a call site that saw one object's closures only (each FamfsFileSystem
 * has its own `devOf`) is compiled for that closure, and V8 throws such code away when the
 * closure dies or another comes (deopt "wrong call target"); seeing two, it compiles for the
 * function they share, which the mount's own instance then runs. A third scratch of a few
 * files is kept for the life of the process, its image closed: its objects keep the shapes of
 * a namespace, a pending file and a committed one alive, which a full collection would
 * otherwise drop with the code compiled for them (deopt "weak objects") before the mount made
 * objects of its own.
 * Throws nothing: a warm-up that cannot run (no room in the temp directory) leaves the mount
 * as it was, only colder; the reason is returned.
 */
export function warmRequestPath(files: number, limits: InitLimits, dir = os.tmpdir()): WarmResult | string {
  if (files <= 0) return { files: 0, ms: 0 };
  files = Math.min(files, MAX_WARM_FILES);
  const t0 = performance.now();
  let work: string | undefined;
  const images: FamfsImage[] = [];
  try {
    work = fs.mkdtempSync(path.join(dir, 'famfs-ts-warm-'));
    const uuidFile = path.join(work, 'uuid');
    fs.writeFileSync(uuidFile, `${SCRATCH_UUID}\n`);
    for (const name of ['a', 'b', 'pin']) images.push(scratchImage(path.join(work, name), uuidFile));
    // Mapped, the files are no longer needed: removed now, nothing is left behind on a crash.
    fs.rmSync(work, { recursive: true, force: true });
    work = undefined;
    const [a, b, pin] = images.map((image) => new Scratch(image, limits));
    // Offsets past 2^31 are not small integers in V8: the mount's own are both (famfs devices
    // are 4 GiB or more), so one scratch places its files above a 2 GiB file, the other below.
    a!.ballast(2 * GiB);
    const done = drive([a!, b!], files, t0 + WARM_BUDGET_MS);
    drive([pin!], PIN_FILES, Infinity, false);
    pinned = pin;
    return { files: done, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    return (e as Error).message;
  } finally {
    for (const image of images) image.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The kept scratch (warmRequestPath). */
let pinned: Scratch | undefined;
/** Files of the kept scratch. */
const PIN_FILES = 4;
const SCRATCH_UUID = '5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a5a';

/**
 * A fresh image at `dev`, of famfs's smallest size (sparse: a file takes a 2 MiB extent, of
 * which 4 KiB is written), opened as the mount opens its own (openForMount), so its objects
 * have the mount's shapes.
 */
function scratchImage(dev: string, uuidFile: string): FamfsImage {
  fs.writeFileSync(dev, '');
  fs.truncateSync(dev, SCRATCH_BYTES);
  mkfsDevice({ device: dev, systemUuid: parseUuid(SCRATCH_UUID) });
  return openForMount({ source: dev, systemUuid: uuidFile }).image;
}

const nameOf = (s: string): Buffer => Buffer.from(`${s}\0`);
const handleOf = (body: Buffer, at = 0): bigint => OpenOut.decode(body.subarray(at)).fh;
const DATA = Buffer.alloc(FILE_BYTES, 0x5a);

/** One scratch file system and the requests a kernel sends it for a create, a stat, a listing and a read. */
class Scratch {
  private reply: Buffer = Buffer.alloc(0);
  private readonly d: Dispatcher;
  private unique = 0n;
  private dir = 0;
  private ids: number[] = [];

  constructor(image: FamfsImage, limits: InitLimits) {
    // Options of the shape the mount's own have (serve.ts, session.ts): objects of another
    // shape would train V8 on maps the mount's never have (deopt "wrong map").
    const famfs = new FamfsFileSystem(image, { layout: undefined, device: image.deviceNames[0], log: quiet, iomapCookie: () => undefined, settleMs: 0 });
    this.d = new Dispatcher(famfs, { profile: undefined, limits, log: quiet, debug: undefined, stats: new OpStats() }, (iov) => {
      this.reply = iov.length === 1 ? iov[0]! : Buffer.concat(iov);
    });
    this.ask(Op.INIT, 0, InitIn.encode({
      major: 7, minor: 41, max_readahead: 128 << 10,
      flags: Number(InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO | InitFlag.MAX_PAGES | InitFlag.NO_OPENDIR_SUPPORT),
    }));
    this.listSize = limits.maxWrite;
  }

  /** A listing request's size: a reader's getdents buffer (1 MiB here: glibc's, from st_blksize) clamped to max_pages. */
  private readonly listSize: number;

  private ask(opcode: number, nodeid: number, ...args: Buffer[]): Buffer {
    this.tell(opcode, nodeid, ...args);
    const error = this.reply.readInt32LE(4);
    // A new name's LOOKUP (ENOENT) and OPENDIR where the kernel opens directories itself
    // (ENOSYS) are the requests whose errno is the answer wanted.
    if (error !== 0 && !(opcode === Op.LOOKUP && -error === ENOENT) && !(opcode === Op.OPENDIR && -error === ENOSYS)) {
      throw new Error(`warm-up: ${opName(opcode)} answered ${Errno.fromNumber(-error).name}`);
    }
    return this.reply.subarray(OutHeader.size);
  }

  /** Send a request; a reply lands in this.reply (FORGET and BATCH_FORGET get none). */
  private tell(opcode: number, nodeid: number, ...args: Buffer[]): void {
    const len = InHeader.size + args.reduce((n, a) => n + a.length, 0);
    this.unique += 2n;
    void this.d.dispatch(Buffer.concat([InHeader.encode({ len, opcode, unique: this.unique, nodeid: BigInt(nodeid), uid: 0, gid: 0, pid: process.pid }), ...args]));
  }

  /** CREATE of `name` in `parent` (O_CREAT|O_EXCL|O_WRONLY, as open(2) of a new file sends it): its nodeid and handle. */
  private createIn(parent: number, name: Buffer): { nodeid: number; fh: bigint } {
    const created = this.ask(Op.CREATE, parent, CreateIn.encode({ flags: 0o101101, mode: 0o100644, umask: 0o22 }), name);
    return { nodeid: Number(EntryOut.decode(created).nodeid), fh: handleOf(created, EntryOut.size) };
  }

  /** A file of `bytes`, allocated and never written. */
  ballast(bytes: number): void {
    const { nodeid, fh } = this.createIn(1, nameOf('ballast'));
    this.ask(Op.FALLOCATE, nodeid, FallocateIn.encode({ fh, offset: 0n, length: BigInt(bytes), mode: 0, padding: 0 }));
    this.ask(Op.RELEASE, nodeid, ReleaseIn.encode({ fh }));
  }

  mkdir(n: number): void {
    this.dir = Number(EntryOut.decode(this.ask(Op.MKDIR, 1, MkdirIn.encode({ mode: 0o755, umask: 0o22 }), nameOf(`d${n}`))).nodeid);
    this.ids = [];
  }

  create(i: number): void {
    const name = nameOf(`f${i}`);
    this.ask(Op.LOOKUP, this.dir, name); // the miss a kernel asks first
    const { nodeid, fh } = this.createIn(this.dir, name);
    this.ask(Op.WRITE, nodeid, WriteIn.encode({ fh, offset: 0n, size: FILE_BYTES }), DATA);
    this.ask(Op.RELEASE, nodeid, ReleaseIn.encode({ fh }));
    this.ids.push(nodeid);
  }

  statAll(): void {
    for (const id of this.ids) this.ask(Op.GETATTR, id, GetattrIn.encode({}));
  }

  /**
   * A listing as a 6.18 kernel asks it of this connection (fs/fuse/readdir.c): OPENDIR,
   * answered ENOSYS (the kernel then opens directories itself, with no RELEASEDIR), a
   * READDIRPLUS at offset 0, then READDIRs from where each reply ended until one is empty.
   */
  list(): void {
    this.ask(Op.OPENDIR, this.dir, OpenIn.encode({ flags: 0o200000 }));
    let plus = true;
    for (let off = 0n; ;) {
      const page = this.ask(plus ? Op.READDIRPLUS : Op.READDIR, this.dir, ReadIn.encode({ fh: 0n, offset: off, size: this.listSize }));
      if (page.length === 0) break;
      off = lastOffset(page, plus);
      plus = false;
    }
  }

  /**
   * The kernel forgets the directory's files (memory pressure, drop_caches): the next
   * listing's READDIRPLUS hands each one's entry and attributes again, as a remounted
   * file system's first listing does.
   */
  forgetAll(): void {
    const ones = this.ids.map((id) => ForgetOne.encode({ nodeid: BigInt(id), nlookup: 1n }));
    this.tell(Op.BATCH_FORGET, 0, BatchForgetIn.encode({ count: ones.length, dummy: 0 }), ...ones);
    this.ids = [];
  }

  readAll(): void {
    for (const id of this.ids) {
      const fh = handleOf(this.ask(Op.OPEN, id, OpenIn.encode({ flags: 0 })));
      this.ask(Op.READ, id, ReadIn.encode({ fh, offset: 0n, size: FILE_BYTES }));
      this.ask(Op.RELEASE, id, ReleaseIn.encode({ fh }));
    }
  }
}

/**
 * Directories of PER_DIR files on the scratches in turn, file by file; returns the files made.
 * `forgotten`: each directory is listed again after its files are forgotten (the pinned
 * scratch keeps its files, whose objects it is there to keep alive).
 */
function drive(scratches: readonly Scratch[], files: number, deadline: number, forgotten = true): number {
  let made = 0;
  for (let n = 0; made < files && performance.now() < deadline; n++) {
    for (const s of scratches) s.mkdir(n);
    for (let i = 0; i < PER_DIR && made < files; i++) {
      for (const s of scratches) s.create(i);
      made += scratches.length;
    }
    for (const s of scratches) s.statAll();
    for (const s of scratches) s.list();
    for (const s of scratches) s.readAll();
    if (!forgotten) continue;
    for (const s of scratches) s.forgetAll();
    for (const s of scratches) s.list();
  }
  return made;
}

/** The `off` of the last record in a READDIR or READDIRPLUS page (fuse-engines.md §3). */
function lastOffset(page: Buffer, plus: boolean): bigint {
  const skip = plus ? DIRENTPLUS_DIRENT_OFFSET : 0;
  let off = 0n;
  for (let at = 0; at + skip + Dirent.size <= page.length;) {
    const dirent = Dirent.decode(page, at + skip);
    off = dirent.off;
    at += skip + direntSize(dirent.namelen);
  }
  return off;
}
