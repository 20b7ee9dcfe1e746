// The famfs file system the FUSE engine serves: a FamfsImage's namespace (files and
// directories replayed from the log), files being written through the mount (PendingFile,
// master only), and the `.meta` views famfs tools look for (reference famfs-format.md §7).
//
// Policies (README "Mounting"):
// - A file created here is committed to the log, with its final size, once the kernel has
//   released its last open file description (RELEASE) and the settle time passed (README
//   "What a program sees through the mount"): a chmod, rename, unlink or reopen right after
//   the close still finds it unlogged. FLUSH commits nothing: every close(2) of a shared
//   descriptor (a shell's children, xargs, find -exec) sends one; an fsync with no writer
//   open commits at once. Until then only the master sees it; a crash loses it alone. A file
//   that cannot be finished (a write found no space) or logged is dropped at that release,
//   its space free again, with a log line.
// - Committed files never grow or shrink: a write or size change past the size gets EFBIG,
//   a truncation below it EPERM, and an open file description whose truncation was refused
//   writes nothing more (EPERM: vim writes on after a failed ftruncate). Writes inside the
//   size work on the master, and are kept undoable until the description's RELEASE
//   (undo-journal.ts): a refusal through it puts the file back first.
// - Empty files: committed with size 0 and one 2 MiB extent (famfs's logplay and fsck
//   accept a size-0 entry; only famfs's creat refuses one).
// - UNLINK and RENAME of a file not yet logged work (it was never in the log). Of anything
//   logged, and RMDIR, LINK, SYMLINK and MKNOD of anything but a regular file: ENOTSUP
//   (famfs's log has no delete, rename or link entries).
// - chmod/chown: before commit they change what is logged; after commit (and on every
//   directory, logged at mkdir) a change gets EPERM and a log line: famfs's log has no
//   entry that could record it. A request that changes nothing succeeds.
// - Times: famfs logs none. An explicit time (utimes, touch -d) that differs from the
//   reported one gets EPERM and a log line; "now" is taken by a file still being written.
// - `user.famfs.interleave` set after the first byte was placed: EBUSY.
// - Clients (and `--client`) are read-only; `getfattr -n user.famfs.logplay` replays the log.
// - Under a mapping profile (famfs, fuse-iomap; mapping-policy.ts) a new file gets its size
//   before its first write (EFBIG + a log line otherwise), a file whose map the kernel
//   could not take is refused at create (the errno GET_FMAP would give), and under famfs a
//   new file holds one 2 MiB unit from create on, so the kernel's GET_FMAP at open has a map.
import os from 'node:os';
import { MappedDevice, type DaxdevMemory } from '../device/memory.js';
import type { InterleaveParams } from '../famfs/alloc.js';
import { ALLOC_UNIT, LOG_OFFSET, MAX_PATHLEN } from '../famfs/constants.js';
import { ImageError } from '../famfs/errors.js';
import type { FamfsImage } from '../famfs/image.js';
import { joinPath, ROOT_ID, type DirNode, type FileNode, type Node } from '../famfs/namespace.js';
import type {
  AttrReply, ConnectionInfo, DirList, Entry, FileSystem, OpenReply, RequestContext, SetattrChanges, Statfs, Attr,
} from '../fuse/filesystem.js';
import { FuseError } from '../fuse/filesystem.js';
import { Fattr, Fopen, FUSE_ROOT_ID, InitFlag } from '../fuse/opcodes.js';
import { FAMFS_FILE, type FmapEncoding } from '../mapping/famfs-fmap.js';
import { resolveRange, type FileMap } from '../interleave/filemap.js';
import { readMapped, writeMapped } from './file-io.js';
import { UndoJournal, undoOutcome, writeCommittedUndoable } from './undo-journal.js';
import type { Layout } from '../interleave/layout.js';
import { formatInterleaveParam, INTERLEAVE_XATTR, interleaveOfMap, InterleaveParamError, parseInterleaveParam } from './interleave-param.js';
import { GrowError, PendingFile, type Placement } from './pending.js';
import type { KernelSeries } from '../mapping/series.js';
import { describeMode, mapRefusal, mappingModeOf, NO_MAPPING, probeMap, type MappingMode } from './mapping-policy.js';
import { ReservationAllocator, extentsOf } from './reservations.js';
import { CHILD_COOKIE_BIAS, DirRecords, nodeMode, PendingRecords, RecentNames } from './dir-listing.js';
import { FileTimes, type Times } from './file-times.js';
import { LOGPLAY_XATTR, MAP_XATTR, ROLE_XATTR, STATUS_XATTR } from './control-xattrs.js';

const E = os.constants.errno;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFMT = 0o170000;
const X_OK = 1;
/** Devices up to this size in all are mapped whole at INIT (mapWindowsNow). */
const PREMAP_LIMIT = 64 * 2 ** 30;
const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_TRUNC = 0o1000;
const FALLOC_FL_KEEP_SIZE = 1;
const RENAME_NOREPLACE = 1;

/** Synthetic nodeids, far above any log index + 2 (a log holds < 2^20 entries). */
export const META_DIR_ID = 2 ** 50;
export const META_SUPERBLOCK_ID = META_DIR_ID + 1;
export const META_LOG_ID = META_DIR_ID + 2;
const PENDING_BASE = 2 ** 51;
/**
 * Whether the kernel should check modes and owners itself (default_permissions). Only
 * where someone it would refuse can reach the mount: without allow_other only processes
 * whose every uid and gid are the server's get in (fs/fuse/dir.c fuse_allow_current_process),
 * and for a server run as root those pass every check but executing a file without an x
 * bit, which the kernel refuses without default_permissions too (fuse_permission), and
 * access(2), which then comes here (access()). The checks are not free: on Linux 6.18 a
 * create marks all of its directory's attributes stale, and the next path walk through the
 * directory asks a GETATTR for its mode: one request in five of a create.
 */
export function kernelChecksModes(allowOther: boolean | undefined, serverUid = process.getuid?.() ?? 0): boolean {
  return allowOther === true || serverUid !== 0;
}

/** Name-only records after which a READDIRPLUS reply ends (sendCommitted). */
const PLUS_BARE_RUN = 8;
/** Names of files-being-written kept for their listing cookies, at least (one listing's worth is plenty). */
const PENDING_COOKIES = 4096;

/** What `user.famfs.status` holds (the shape `famfs-ts status` expects). */
export interface MountStatus {
  readonly pid: number;
  readonly role: 'master' | 'client';
  readonly abi: string;
  readonly devices: string[];
  readonly mountpoint: string;
  readonly readonly: boolean;
  readonly ops: Record<string, { count: number; errors: number; timed: number; meanUs: number; maxUs: number }>;
}

export interface FamfsFsOptions {
  /** Layout the image was opened with (placement policy, daxdev paths). */
  readonly layout?: Layout;
  /** Primary device path when opened without a layout. */
  readonly device?: string;
  readonly log?: (line: string) => void;
  /** fuse-iomap device cookie of a daxdev (a map on a device without one is refused). */
  readonly iomapCookie?: (daxdev: number) => number | undefined;
  /**
   * A file whose last open description is released is logged this many ms later (0: at
   * once), so what programs do right after the close lands in its one log entry: install's
   * chmod, a rename of a temp file into place, an unlink, a reopen to append (README "What a
   * program sees through the mount"). The mount's default is DEFAULT_SETTLE_MS (`mount --settle MS`).
   */
  readonly settleMs?: number;
}

/** How long an fsync waits for the RELEASE the kernel sends after the writer's close. */
const RELEASE_WAIT_MS = 1000;

/** What the mount does when files open or their maps change (BPF layout map, iomap INVAL). */
export interface MapEvents {
  /** A regular file was opened (OPEN or CREATE). */
  opened(nodeid: number): void;
  /** The map of a file changed: its reservation grew or moved, or its size changed. */
  mapChanged(nodeid: number): void;
  /** An open file description's truncation was refused: it may write nothing more. */
  handleRefused(fh: number): void;
  /** The kernel forgot nodeid (its last lookup reference): what was handed out for it may go. */
  forgotten(nodeid: number): void;
  /** An open file description writing a committed file got an undo journal (buffer), or was released (undefined). */
  journal(fh: number, buffer: SharedArrayBuffer | undefined): void;
  /** Bytes the kernel may hold cached were put back: drop [off, off+len) of nodeid (len < 0: to the end). */
  invalidate(nodeid: number, off: number, len: number): void;
}

const ignored = (): void => {};

/**
 * Events nobody listens to yet, every one present from the start: the mount replaces them at
 * INIT (serve.ts), and an object that gained them one by one would have another shape than a
 * warm-up's (jit-warm.ts) at each step, each a deopt of the code compiled for the one before.
 */
function unheardEvents(): MapEvents {
  return { opened: ignored, mapChanged: ignored, handleRefused: ignored, forgotten: ignored, journal: ignored, invalidate: ignored };
}

/** A file still being written, as the mount reports it when asked to stop. */
export interface UnfinishedFile {
  readonly path: string;
  readonly size: number;
  /** Open file descriptions the kernel still holds. */
  readonly opens: number;
}

/** An open file description (OPEN/CREATE of a regular file until its RELEASE). */
interface Handle {
  readonly nodeid: number;
  /** Opened for writing. */
  readonly writing: boolean;
  /** Set when a truncation through it was refused: writes through it get EPERM. */
  refused?: string;
  /** A description writing a committed file: the bytes it overwrote, until its RELEASE (undo-journal.ts). */
  journal?: UndoJournal;
}

/**
 * Entry and attribute timeouts (s) of what cannot change behind the kernel's back: committed
 * files, directories and `.meta` (famfs never renames, unlinks or resizes them; chmod, chown and
 * utimes on the master come through this kernel, whose cache the SETATTR reply updates; a
 * client's files change only by new names, and ENOENT is not cached). Files still being
 * written keep 1 s attributes: their size and blocks change at commit.
 */
const STABLE_TIMEOUT = 86400;
const PENDING_ATTR_TIMEOUT = 1;

type Inode =
  | { kind: 'dir'; node: DirNode }
  | { kind: 'file'; node: FileNode; nodeid: number }
  | { kind: 'pending'; file: PendingFile }
  | { kind: 'meta-dir' }
  | { kind: 'meta-file'; which: 'superblock' | 'log' };

/**
 * The answer to every LOOKUP of a name not there (each create through the mount asks once
 * first): a negative entry the kernel may not cache, which goes out as ENOENT (fuse/ops.ts
 * entryOrMiss), so a file a client learns of by logplay is found at the next lookup. Returned,
 * not thrown: a handler that leaves by a throw stays in V8's interpreter.
 */
const NO_TIMES: Readonly<Times> = FileTimes.all(0);

/** cp and friends size their buffers from st_blksize. */
const BLKSIZE = 1 << 20;

/**
 * Every Attr and Entry this file system answers with has one shape: all fields, in one order.
 * The reply encoders (fuse/reply.ts) then meet one hidden class. Literals of six shapes
 * (spreads of times, optional fields left out, a frozen constant) made V8 throw away the
 * optimized encodeAttrInto at each new one, two or three times in a new server's first
 * creates, stats and listings, and compile it again on a CPU the client needs
 * (bench/meta-mount/README.md, "Eleventh pass").
 */
function makeAttr(ino: number, size: number, mode: number, nlink: number, uid: number, gid: number, blocks: number, t: Readonly<Times>): Attr {
  return { ino, size, mode, nlink, uid, gid, rdev: 0, blocks, blksize: BLKSIZE, atimeMs: t.atimeMs, mtimeMs: t.mtimeMs, ctimeMs: t.ctimeMs, flags: 0 };
}

function makeEntry(nodeid: number, attr: Attr, entryTimeout: number, attrTimeout: number): Entry {
  return { nodeid, generation: 0, attr, entryTimeout, attrTimeout };
}

const NO_SUCH_NAME: Readonly<Entry> = makeEntry(0, makeAttr(0, 0, 0, 0, 0, 0, 0, NO_TIMES), 0, 0);
/** The master's answer to the first OPENDIR where the kernel can do without (opendir()). */
const NO_OPENDIR = new FuseError(E.ENOSYS, 'no OPENDIR needed: the kernel opens directories itself');

/** The file type bits a dirent carries for an inode. */
function modeOf(n: Inode): number {
  return n.kind === 'dir' || n.kind === 'meta-dir' ? S_IFDIR : S_IFREG;
}

function fuseErr(code: keyof typeof E, message: string): FuseError {
  return new FuseError(E[code], message);
}

function rethrowAsFuse(e: unknown): never {
  if (e instanceof ImageError) {
    // famfs says ENOMEM for a full log or device; a user understands ENOSPC.
    throw new FuseError(e.errno === 'ENOMEM' ? E.ENOSPC : E[e.errno], e.message, { cause: e });
  }
  if (e instanceof GrowError) throw new FuseError(E[e.code], e.message, { cause: e });
  throw e;
}

export class FamfsFileSystem implements FileSystem {
  readonly alloc: ReservationAllocator;
  /** Set by the mount: answers `user.famfs.status` on the root. */
  status?: () => MountStatus;
  private readonly pendingById = new Map<number, PendingFile>();
  /** Pending files not yet committed: the reservations the allocator must avoid (pendingById keeps committed ones too, for their nodeids). */
  private readonly reserving = new Set<PendingFile>();
  private readonly pendingByDir = new Map<number, PendingRecords>();
  /** Directories a replay (logplay()) is adding names to: the kernel did not see them come. */
  private replayedInto?: Set<DirNode>;
  /** Committed node id -> the pending nodeid the kernel already knows it by. */
  private readonly alias = new Map<number, number>();
  /** Times of files committed through this mount, by log node id (famfs logs none). */
  private readonly fileTimes = new FileTimes();
  private readonly dirInterleave = new Map<number, InterleaveParams>();
  private nextPending = PENDING_BASE;
  private readonly handles = new Map<number, Handle>();
  private nextFh = 1;
  /**
   * The kernel's lookup count of each nodeid but the root (entries it was handed: LOOKUP,
   * CREATE, MKNOD, MKDIR, READDIRPLUS). At zero (FORGET) a committed file's record goes; the
   * file is then known by its log nodeid. READDIRPLUS sends no attributes for a nodeid the
   * kernel holds (knows()).
   */
  private readonly lookups = new Map<number, number>();
  /** Each listed directory's committed children as packed dirents (dir-listing.ts), by directory id. */
  private readonly listings = new Map<number, DirRecords>();
  /** Names of files-being-written a listing handed out cookies for (cookieName), once their records are gone. */
  private readonly pendingCookies = new RecentNames(PENDING_COOKIES);
  /** Aliases dropped so far (listing(): the listed inode numbers move with them). */
  private aliasDrops = 0;
  /** What stat shows as the times of anything this server did not write (famfs logs no times). */
  private readonly startTimes: Readonly<Times> = FileTimes.all(Date.now());
  private readonly placement: Placement;
  readonly log: (line: string) => void;
  conn?: ConnectionInfo;
  /** Set at INIT from the negotiated series (mapping-policy.ts). */
  mode: MappingMode = NO_MAPPING;
  /** What the profile reported at INIT (MappingSource.negotiated), read by init(). */
  private negotiatedMode: MappingMode = NO_MAPPING;
  readonly events: MapEvents = unheardEvents();

  constructor(readonly image: FamfsImage, private readonly opts: FamfsFsOptions = {}) {
    this.log = opts.log ?? (() => undefined);
    this.alloc = new ReservationAllocator(image, () => this.liveReservations());
    const policy = opts.layout?.policy;
    const daxdevs = policy?.daxdevs.length ? policy.daxdevs : [0];
    this.placement = policy && policy.nstrips > 1
      ? { daxdevs, interleave: { nstrips: policy.nstrips, chunkSize: policy.chunkSize, nbuckets: Math.max(policy.nbuckets, policy.nstrips) } }
      : { daxdevs };
    image.namespace.onAdd = (parent, n) => this.childAdded(parent, n);
  }

  get isMaster(): boolean {
    return this.image.role === 'master' && this.image.writable;
  }

  private *liveReservations(): Generator<FileMap> {
    for (const p of this.reserving) if (p.map) yield p.map;
  }

  // ---- hooks for the mapping protocols (GET_FMAP, IOMAP_BEGIN) ----

  /** A committed file's path and map, which never change again (serving threads serve it). */
  committedFile(nodeid: number): { path: string; map: FileMap } | undefined {
    const n = this.inode(nodeid);
    return n?.kind === 'file' ? { path: n.node.path, map: n.node.map } : undefined;
  }

  /** The FileMap of a regular file (pending: what has been written so far). */
  fileMap(nodeid: number): FileMap | undefined {
    const n = this.inode(nodeid);
    if (!n) return undefined;
    if (n.kind === 'file') return n.node.map;
    if (n.kind === 'pending') return n.file.view;
    if (n.kind === 'meta-file') {
      const len = n.which === 'superblock' ? ALLOC_UNIT : this.image.logLen;
      return { size: len, extents: [{ type: 'simple', daxdev: 0, offset: n.which === 'superblock' ? 0 : LOG_OFFSET, length: len }] };
    }
    return undefined;
  }

  /** The daxdev table: index -> device path (undefined for an emulated region). */
  daxdevPath(index: number): string | undefined {
    const layout = this.opts.layout;
    if (!layout) return index === 0 ? this.opts.device : undefined;
    const d = layout.daxdevs.find((x) => x.index === index);
    return d?.backing.kind === 'device' ? d.backing.device.path : undefined;
  }

  daxdev(index: number): DaxdevMemory {
    return this.image.daxdev(index);
  }

  /** GET_FMAP file_type: famfs's tools know the superblock and log files by it (fuse-iomap-abi.md §3.2). */
  fileType(nodeid: number): number {
    if (nodeid === META_SUPERBLOCK_ID) return FAMFS_FILE.SUPERBLOCK;
    if (nodeid === META_LOG_ID) return FAMFS_FILE.LOG;
    return FAMFS_FILE.REG;
  }

  /**
   * After the server stored into device memory itself (zeroing a grown file, moving a
   * reservation): under fuse-iomap the kernel reads and writes the block device with bios
   * that bypass the device's page cache the server's mapping lives in, so dirty pages left
   * there would be written back later over the kernel's data (fio --verify caught it). Write
   * them back now. Other modes share one copy of the bytes (DAX, or READ/WRITE through us).
   */
  private zeroWarned = false;

  /**
   * Zero [from, to) of a file being created. In famfs mode the server cannot reach file data
   * (the daxdev is the kernel's; src/device/windows.ts): the bytes are left as they are, as
   * famfs's own creat leaves them, and that is said once.
   */
  private zeroNew(f: PendingFile, from: number, to: number): void {
    if ('kernelMapped' in this.image.daxdev(0)) {
      if (!this.zeroWarned) this.log('famfs mode: new files are not zeroed (the server does not map file data)');
      this.zeroWarned = true;
      return;
    }
    f.zero(from, to, this.devOf);
  }

  private settle(): void {
    if (this.mode.kind === 'iomap') this.image.sync();
  }

  /** The profile's report at INIT: which series, and whether its mapping bit was granted. */
  negotiated(series: KernelSeries, granted: boolean): void {
    this.negotiatedMode = mappingModeOf(series, granted);
  }

  /** `auto`'s famfs profile learned the kernel's GET_FMAP encoding from a payload size. */
  fmapEncodingChosen(encoding: FmapEncoding): void {
    if (this.mode.kind === 'famfs' && this.mode.encodings.length > 1) this.mode = { ...this.mode, encodings: [encoding] };
  }

  /** Refuse (errno + log line) a map the connection's kernel could not take. */
  private checkExpressible(what: string, map: FileMap): void {
    const r = mapRefusal(map, this.mode, this.opts.iomapCookie);
    if (!r) return;
    this.log(`${what}: refused under the ${this.mode.series.name} profile: ${r.message}`);
    throw new FuseError(r.errno, `${what}: ${r.message}`);
  }

  private changed(nodeid: number): void {
    try {
      this.events.mapChanged(nodeid);
    } catch (e) {
      this.log(`map change of nodeid ${nodeid}: ${(e as Error).message}`);
    }
  }

  private event(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.log(`mount event: ${(e as Error).message}`);
    }
  }

  private invalidate(nodeid: number, off: number, len: number): void {
    this.event(() => this.events.invalidate(nodeid, off, len));
  }

  /** Committed files whose bytes have memory behind them in the image (back()). */
  private readonly backed = new WeakSet<FileNode>();

  /**
   * Before the first open for writing of a committed file hands its map to the serving
   * threads, make its bytes' pages exist in an image file: a file logged without data
   * (famfs's `creat -s`) is holes there, and a serving thread stores through the mapping,
   * where a page a full file system cannot give is SIGBUS and ends the server. Here it is
   * ENOSPC for this open. Reads need no pages: holes read as zeros (readSlices).
   */
  private back(node: FileNode): void {
    if (this.backed.has(node) || this.mode.kind !== 'none' || node.size === 0) return;
    try {
      for (const m of resolveRange(node.map, 0, node.size)) this.devOf(m.daxdev).back?.(m.offset, m.length);
    } catch (e) {
      const msg = `${node.path}: open refused: the image has no room for the file's bytes (${(e as Error).message})`;
      this.log(msg);
      throw new FuseError(E.ENOSPC, msg, { cause: e });
    }
    this.backed.add(node);
  }

  private opened(nodeid: number): void {
    try {
      this.events.opened(nodeid);
    } catch (e) {
      this.log(`open of nodeid ${nodeid}: ${(e as Error).message}`);
    }
  }

  // ---- nodes ----

  private inode(nodeid: number): Inode | undefined {
    if (nodeid === META_DIR_ID) return { kind: 'meta-dir' };
    if (nodeid === META_SUPERBLOCK_ID) return { kind: 'meta-file', which: 'superblock' };
    if (nodeid === META_LOG_ID) return { kind: 'meta-file', which: 'log' };
    if (nodeid >= PENDING_BASE) {
      const p = this.pendingById.get(nodeid);
      if (!p) return undefined;
      return p.committed ? { kind: 'file', node: p.committed, nodeid } : { kind: 'pending', file: p };
    }
    const n = this.image.namespace.node(nodeid);
    if (!n) return undefined;
    return n.kind === 'dir' ? { kind: 'dir', node: n } : { kind: 'file', node: n, nodeid };
  }

  private need(nodeid: number): Inode {
    const n = this.inode(nodeid);
    if (!n) throw fuseErr('ENOENT', `nodeid ${nodeid} is unknown`);
    return n;
  }

  private dirOf(nodeid: number): DirNode {
    const n = this.need(nodeid);
    if (n.kind === 'meta-dir') throw fuseErr('EPERM', '.meta is read-only');
    if (n.kind !== 'dir') throw fuseErr('ENOTDIR', `nodeid ${nodeid} is not a directory`);
    return n.node;
  }

  private nodeidOf(n: Node): number {
    return this.alias.get(n.id) ?? n.id;
  }

  private attrOf(nodeid: number, n: Inode): Attr {
    switch (n.kind) {
      case 'dir':
        return makeAttr(nodeid, 4096, S_IFDIR | n.node.mode, 2, n.node.uid, n.node.gid, 8, this.startTimes);
      case 'file': {
        const cap = extentsOf(n.node.map).reduce((s, x) => s + x.length, 0);
        return makeAttr(nodeid, n.node.size, S_IFREG | n.node.mode, 1, n.node.uid, n.node.gid, Math.ceil(cap / 512), this.fileTimes.get(n.node.id, this.startTimes));
      }
      case 'pending': {
        const f = n.file;
        return makeAttr(nodeid, f.size, S_IFREG | f.mode, 1, f.uid, f.gid, Math.ceil(f.capacity / 512), f);
      }
      case 'meta-dir':
        return makeAttr(nodeid, 4096, S_IFDIR | 0o755, 2, 0, 0, 8, this.startTimes);
      case 'meta-file': {
        const size = n.which === 'superblock' ? ALLOC_UNIT : this.image.logLen;
        return makeAttr(nodeid, size, S_IFREG | 0o444, 1, 0, 0, size / 512, this.startTimes);
      }
    }
  }

  private entry(nodeid: number, n: Inode): Entry {
    return makeEntry(nodeid, this.attrOf(nodeid, n), STABLE_TIMEOUT, this.attrTimeout(n));
  }

  private attrTimeout(n: Inode): number {
    return n.kind === 'pending' ? PENDING_ATTR_TIMEOUT : STABLE_TIMEOUT;
  }

  /** An entry handed to the kernel: counts as one lookup of its nodeid (FUSE protocol: forget). */
  private looked(e: Entry): Entry {
    if (e.nodeid !== FUSE_ROOT_ID) this.lookups.set(e.nodeid, (this.lookups.get(e.nodeid) ?? 0) + 1);
    return e;
  }

  /** The kernel holds an inode for nodeid (it was handed an entry and has not forgotten it). */
  private knows(nodeid: number): boolean {
    return nodeid === FUSE_ROOT_ID || this.lookups.has(nodeid);
  }

  forget(nodeid: number, nlookup: number): void {
    const left = (this.lookups.get(nodeid) ?? 0) - nlookup;
    if (left > 0) {
      this.lookups.set(nodeid, left);
      return;
    }
    this.lookups.delete(nodeid);
    if (nodeid < PENDING_BASE) {
      this.forgotten(nodeid);
      return;
    }
    const p = this.pendingById.get(nodeid);
    // Only a committed file is dropped: one still being written (or whose commit failed) is
    // found again by its name, and the kernel cannot forget a file it holds open.
    const node = p?.committed;
    if (!node || this.alias.get(node.id) !== nodeid) return;
    this.forgetPending(p);
    this.alias.delete(node.id);
    this.aliasDrops++;
    this.forgotten(nodeid);
  }

  private forgotten(nodeid: number): void {
    try {
      this.events.forgotten(nodeid);
    } catch (e) {
      this.log(`forget of nodeid ${nodeid}: ${(e as Error).message}`);
    }
  }

  // ---- FileSystem ----

  init(conn: ConnectionInfo): void {
    this.conn = conn;
    this.mode = this.negotiatedMode;
    this.mapWindowsNow();
    if (this.mode.kind !== 'none') {
      this.log(`files are mapped by the kernel: ${describeMode(this.mode)}; new files must be sized (fallocate/truncate) before their first write`);
    }
  }

  /**
   * Map every window of the daxdevs now, at INIT, rather than at the first touch of each.
   * V8 counts a window's view as external memory, and each new one set off a burst of
   * collections (external memory pressure: 20-40 ms per 1 GiB window, every 512 files
   * created on a fresh device; bench/meta-mount/README.md, "Third pass"); mapped together
   * they cost one burst, here. Only up to PREMAP_LIMIT bytes in all: past that the windows
   * stay mapped on demand, as V8 collects more often with much more external memory. Mapping
   * reserves addresses only (no page is touched); a failure leaves it to the first touch.
   */
  private mapWindowsNow(): void {
    if (this.famfsMode) return; // the server reaches only .meta's windows there
    const devs = this.image.daxdevIndexes().map((i) => this.image.daxdev(i)).filter((d) => d.views);
    if (devs.reduce((sum, d) => sum + d.size, 0) > PREMAP_LIMIT) return;
    try {
      for (const d of devs) for (let off = 0; off < d.size; off += MappedDevice.WINDOW) d.slices(off, 1);
    } catch (e) {
      this.log(`mapping the devices at mount: ${(e as Error).message} (left to the first access)`);
    }
  }

  lookup(_ctx: RequestContext, parent: number, name: string): Entry {
    const p = this.need(parent);
    if (p.kind === 'meta-dir') {
      if (name === '.superblock') return this.looked(this.entry(META_SUPERBLOCK_ID, { kind: 'meta-file', which: 'superblock' }));
      if (name === '.log') return this.looked(this.entry(META_LOG_ID, { kind: 'meta-file', which: 'log' }));
      throw fuseErr('ENOENT', name);
    }
    if (p.kind !== 'dir') throw fuseErr('ENOTDIR', name);
    if (p.node.id === ROOT_ID && name === '.meta') return this.looked(this.entry(META_DIR_ID, { kind: 'meta-dir' }));
    const c = p.node.children.get(name);
    if (c) {
      const id = this.nodeidOf(c);
      return this.looked(this.entry(id, this.need(id)));
    }
    const pend = this.pendingByDir.get(p.node.id)?.get(name);
    if (pend) return this.looked(this.entry(pend.nodeid, this.need(pend.nodeid)));
    return NO_SUCH_NAME;
  }

  getattr(_ctx: RequestContext, nodeid: number): AttrReply {
    const n = this.need(nodeid);
    return { attr: this.attrOf(nodeid, n), timeout: this.attrTimeout(n) };
  }

  setattr(_ctx: RequestContext, nodeid: number, c: SetattrChanges): AttrReply {
    const n = this.need(nodeid);
    const now = Date.now();
    const when = (t: number | 'now' | undefined): number | undefined => (t === 'now' ? now : t);
    if (n.kind === 'meta-dir' || n.kind === 'meta-file') throw fuseErr('EPERM', '.meta is read-only');
    if (!this.isMaster) throw fuseErr('EROFS', 'a famfs client is read-only');
    // Refuse before changing anything: a request is done whole or not at all.
    const cur = this.attrOf(nodeid, n);
    const name = n.kind === 'pending' ? n.file.path : n.kind === 'file' || n.kind === 'dir' ? n.node.path || '/' : '?';
    const wants: string[] = [];
    if (c.valid & Fattr.MODE && c.mode !== undefined && (c.mode & 0o7777) !== (cur.mode & 0o7777)) wants.push(`mode ${(c.mode & 0o7777).toString(8)}`);
    if (c.valid & Fattr.UID && c.uid !== undefined && c.uid !== cur.uid) wants.push(`owner ${c.uid}`);
    if (c.valid & Fattr.GID && c.gid !== undefined && c.gid !== cur.gid) wants.push(`group ${c.gid}`);
    const times: string[] = [];
    for (const [bit, t, was, what] of [[Fattr.ATIME, c.atimeMs, cur.atimeMs, 'atime'], [Fattr.MTIME, c.mtimeMs, cur.mtimeMs, 'mtime']] as const) {
      if (!(c.valid & bit) || t === undefined) continue;
      // A truncate of a file being written carries the kernel's own mtime with the size; and a
      // fuse-iomap kernel writes file bytes itself and keeps their times, sending them back by
      // SETATTR (at close, after truncate) as it does with a writeback cache. Those times are
      // its bookkeeping, kept in memory like every time here (famfs's log records none).
      if ((n.kind === 'pending' && c.valid & Fattr.SIZE) || this.mode.kind === 'iomap') continue;
      // famfs logs no times: "now" is what a file being written has anyway; an explicit
      // time is kept only when it is the one already reported.
      if (t === 'now' ? n.kind !== 'pending' : Math.abs(t - (was ?? 0)) >= 1) times.push(what);
    }
    if (times.length) wants.push(`${times.join(' and ')} (famfs's log records no times)`);
    const logged = n.kind !== 'pending';
    if (logged && wants.length) {
      const what = n.kind === 'dir' ? 'directory' : 'file';
      const msg = `${name}: cannot set ${wants.join(', ')}: the ${what} is in the log, which has no entry to record a change`;
      this.log(`setattr refused: ${msg}`);
      throw fuseErr('EPERM', msg);
    }
    if (!logged && times.length) {
      const msg = `${name}: cannot set ${times.join(' and ')}: famfs's log records no times`;
      this.log(`setattr refused: ${msg}`);
      throw fuseErr('EPERM', msg);
    }
    if (c.valid & Fattr.SIZE && c.size !== undefined) this.resize(n, c.size, c.valid & Fattr.FH ? c.fh : undefined);
    if (n.kind === 'pending') {
      const f = n.file;
      if (c.valid & Fattr.MODE && c.mode !== undefined) f.mode = c.mode & 0o7777;
      if (c.valid & Fattr.UID && c.uid !== undefined) f.uid = c.uid;
      if (c.valid & Fattr.GID && c.gid !== undefined) f.gid = c.gid;
      f.atimeMs = when(c.atimeMs) ?? f.atimeMs;
      f.mtimeMs = when(c.mtimeMs) ?? f.mtimeMs;
      if (wants.length || c.valid & Fattr.SIZE) f.ctimeMs = now;
    }
    const after = this.need(nodeid);
    return { attr: this.attrOf(nodeid, after), timeout: this.attrTimeout(after) };
  }

  /** truncate/ftruncate: a size given first allocates at once; committed sizes are fixed. */
  private resize(n: Inode, size: number, fh: number | undefined): void {
    if (n.kind === 'dir') throw fuseErr('EISDIR', n.node.path);
    if (n.kind === 'file') {
      if (size === n.node.size) return;
      const grow = size > n.node.size;
      let msg = `${n.node.path}: truncate to ${size} bytes refused: famfs files keep the size they were committed with (${n.node.size})`;
      // What this description rewrote before (rsync --inplace of shorter content writes it
      // first) is put back: the file ends as it was, never new bytes over an old tail. No page
      // of the file is locked during SETATTR, so the kernel's cache is dropped at once.
      const journal = fh !== undefined ? this.handles.get(fh)?.journal : undefined;
      if (journal) {
        const undone = journal.undo(n.node.map, this.devOf);
        if (undone?.bytes) this.invalidate(n.nodeid, 0, -1);
        msg += `; ${undoOutcome(undone)}`;
      }
      this.log(msg);
      // A program that ignores the refusal (vim) must not write a shorter content over the
      // old one: this open file description writes nothing more.
      if (fh !== undefined) this.refuseHandle(fh, msg);
      throw fuseErr(grow ? 'EFBIG' : 'EPERM', msg);
    }
    if (n.kind !== 'pending') throw fuseErr('EPERM', 'read-only');
    const f = n.file;
    if (size > f.capacity || (f.placeholder && size > 0)) this.grow(f, size);
    if (size > f.size) this.zeroNew(f, f.size, size);
    this.settle();
    const was = f.size;
    f.size = size;
    f.mtimeMs = f.ctimeMs = Date.now();
    if (size !== was) this.changed(f.nodeid);
  }

  private readonly devOf = (i: number): DaxdevMemory => this.image.daxdev(i);

  private grow(f: PendingFile, need: number): void {
    const before = f.map;
    try {
      f.ensureCapacity(need, this.alloc, this.devOf);
    } catch (e) {
      rethrowAsFuse(e);
    }
    if (f.map === before) return;
    this.changed(f.nodeid);
    if (f.map) this.checkExpressible(f.path, f.map);
  }

  private checkName(parent: DirNode, name: string): string {
    if (name === '.meta' && parent.id === ROOT_ID) throw fuseErr('EEXIST', '.meta');
    const rel = joinPath(parent.path, name);
    if (Buffer.byteLength(rel) > MAX_PATHLEN - 1) {
      // famfs's log entry holds the relative path in FAMFS_MAX_PATHLEN bytes, NUL included (famfs-format.md §3.3).
      const msg = `${rel}: ${Buffer.byteLength(rel)} bytes; a famfs path (relative to the mount) is at most ${MAX_PATHLEN - 1} bytes`;
      this.log(`create refused: ${msg}`);
      throw fuseErr('ENAMETOOLONG', msg);
    }
    if (parent.children.has(name) || this.pendingByDir.get(parent.id)?.has(name)) throw fuseErr('EEXIST', rel);
    return rel;
  }

  private refuseHandle(fh: number, why: string): void {
    const h = this.handles.get(fh);
    if (!h || h.refused) return;
    h.refused = why;
    try {
      this.events.handleRefused(fh);
    } catch (e) {
      this.log(`refused handle ${fh}: ${(e as Error).message}`);
    }
  }

  /** Why writes through an open file description are refused, if they are. */
  refusal(fh: number): string | undefined {
    return this.handles.get(fh)?.refused;
  }

  private newHandle(nodeid: number, writing: boolean): number {
    const fh = this.nextFh++;
    this.handles.set(fh, { nodeid, writing });
    return fh;
  }

  /** famfs mode (src/server/famfs-mode.ts): the server reaches only the superblock and log. */
  private get famfsMode(): boolean {
    return 'kernelMapped' in this.image.daxdev(0);
  }

  /**
   * In famfs mode names are made as famfs makes them (its famfs_fused has no create, mknod
   * or mkdir: ENOTSUP): the CLI logs them through .meta/.log and asks for a logplay. The
   * V10 kernel sends no GET_FMAP for a file it CREATEd, so its bytes would come as WRITEs the
   * server cannot place: refused here, at the first call, never at the WRITE.
   */
  private refuseInFamfsMode(op: string, parentId: number, name: string): void {
    if (!this.famfsMode) return;
    const dir = this.inode(parentId);
    const where = dir?.kind === 'dir' ? `${dir.node.path === '/' ? '' : dir.node.path}/${name}` : name;
    const msg = `${op} ${where}: refused in famfs mode (the daxdev is bound to fsdev_dax): make files and directories with famfs-ts creat, cp or mkdir on the mount path, which log them through .meta/.log`;
    this.log(msg);
    throw fuseErr('EOPNOTSUPP', msg);
  }

  private newPending(ctx: RequestContext, parentId: number, name: string, mode: number, umask: number): PendingFile {
    if (!this.isMaster) throw fuseErr('EROFS', 'a famfs client is read-only');
    this.refuseInFamfsMode('create', parentId, name);
    const parent = this.dirOf(parentId);
    const rel = this.checkName(parent, name);
    // Every file being written needs a log slot at its commit: refuse now, not at the close.
    if (this.image.header.nextIndex + this.reserving.size >= this.image.logSlots) {
      throw fuseErr('ENOSPC', `create ${rel}: the famfs log is full (${this.image.logSlots} entries, counting the files still being written)`);
    }
    const inherited = this.dirInterleave.get(parent.id);
    const placement: Placement = inherited ? { ...this.placement, interleave: inherited } : this.placement;
    this.checkExpressible(`create ${rel}`, probeMap(placement));
    const f = new PendingFile(this.nextPending++, parent, name, rel, mode & ~umask & 0o7777, ctx.uid, ctx.gid, placement);
    this.pendingById.set(f.nodeid, f);
    this.reserving.add(f);
    let m = this.pendingByDir.get(parent.id);
    if (!m) this.pendingByDir.set(parent.id, (m = new PendingRecords()));
    m.set(name, f);
    {
      // Hold the unit an empty file is logged with, so a full device refuses the create
      // itself (not the close). Under famfs the kernel asks GET_FMAP right after the open
      // and needs at least one extent (fuse-iomap-abi.md §3.2).
      try {
        f.reserveUnit(this.alloc);
      } catch (e) {
        this.pendingById.delete(f.nodeid);
        this.reserving.delete(f);
        m.delete(name);
        rethrowAsFuse(e);
      }
    }
    return f;
  }

  create(ctx: RequestContext, parent: number, name: string, mode: number, flags: number, umask: number): Entry & OpenReply {
    const f = this.newPending(ctx, parent, name, mode, umask);
    f.opens++;
    this.opened(f.nodeid);
    const e = this.looked(this.entry(f.nodeid, { kind: 'pending', file: f }));
    const fh = this.newHandle(f.nodeid, (flags & O_ACCMODE) !== 0);
    // A new file opened write-only on a mainline connection is written past the page cache
    // (FOPEN_DIRECT_IO): the kernel's cached write path asks GETXATTR security.capability
    // before the first write to every new inode (file_remove_privs; S_NOSEC is set only after
    // that), one round trip of the seven a create costs, and its direct path does not. Such a
    // descriptor can neither read nor mmap, so nothing else it does changes; the kernel drops
    // other descriptors' cached pages of the range before each direct write
    // (bench/meta-mount/README.md, "Third pass"). Mapping kernels store file bytes themselves.
    const openFlags = this.mode.kind !== 'none' ? undefined : ((flags & O_ACCMODE) === O_WRONLY ? Fopen.DIRECT_IO : 0) | Fopen.NOFLUSH;
    // One literal naming every field: V8 defines the fields added after a spread in its
    // runtime, a measurable share of a create (bench/meta-mount/README.md, "Tenth pass").
    return { nodeid: e.nodeid, generation: 0, attr: e.attr, entryTimeout: e.entryTimeout, attrTimeout: e.attrTimeout, fh, openFlags };
  }

  mknod(ctx: RequestContext, parent: number, name: string, mode: number, _rdev: number, umask: number): Entry {
    if ((mode & S_IFMT) !== S_IFREG) throw fuseErr('ENOTSUP', `${name}: famfs holds only regular files and directories`);
    const f = this.newPending(ctx, parent, name, mode, umask);
    return this.looked(this.entry(f.nodeid, { kind: 'pending', file: f }));
  }

  mkdir(ctx: RequestContext, parent: number, name: string, mode: number, umask: number): Entry {
    if (!this.isMaster) throw fuseErr('EROFS', 'a famfs client is read-only');
    this.refuseInFamfsMode('mkdir', parent, name);
    const dir = this.dirOf(parent);
    const rel = this.checkName(dir, name);
    // The last log slots belong to the files being written (each needs one at its close).
    if (this.image.header.nextIndex + this.reserving.size >= this.image.logSlots) {
      throw fuseErr('ENOSPC', `mkdir ${rel}: the famfs log is full (${this.image.logSlots} entries, counting the files still being written)`);
    }
    let node: DirNode;
    try {
      node = this.alloc.keepAcross(() => this.image.mkdir(rel, { mode: mode & ~umask & 0o7777, uid: ctx.uid, gid: ctx.gid }));
    } catch (e) {
      rethrowAsFuse(e);
    }
    return this.looked(this.entry(node.id, { kind: 'dir', node }));
  }

  private noNamespaceChange(what: string): never {
    throw fuseErr('ENOTSUP', `${what}: famfs has no delete, rename or links (its log cannot record them)`);
  }

  /** A file of dir not yet logged (being written, or settling), by name. */
  private unlogged(dir: DirNode, name: string): PendingFile | undefined {
    const f = this.pendingByDir.get(dir.id)?.get(name);
    return f && !f.committed ? f : undefined;
  }

  /** Remove the name of a file not yet logged: it is never logged, its space is free once no description holds it. */
  private removeUnlogged(f: PendingFile): void {
    this.pendingByDir.get(f.parent.id)?.delete(f.name);
    if (f.opens === 0) this.drop(f);
    else f.unlinked = true;
  }

  /**
   * Files not yet logged can be removed (vim's swap files, a tool's temp file after a failed
   * rename): nothing of them is in the log. Logged files and directories cannot (ENOTSUP).
   */
  unlink(_ctx: RequestContext, parent: number, name: string): void {
    const dir = this.dirOf(parent);
    if (!this.isMaster) throw fuseErr('EROFS', 'a famfs client is read-only');
    const f = this.unlogged(dir, name);
    if (f) {
      this.removeUnlogged(f);
      return;
    }
    const rel = joinPath(dir.path, name);
    if (dir.children.has(name)) this.noNamespaceChange(`unlink ${rel}: it is in the log`);
    throw fuseErr('ENOENT', rel);
  }

  rmdir(_ctx: RequestContext, parent: number, name: string): void {
    const dir = this.dirOf(parent);
    this.noNamespaceChange(`rmdir ${joinPath(dir.path, name)}`);
  }

  /**
   * A file not yet logged can be renamed (a temp file moved into place: rsync, sed -i, git's
   * lock files), also over another such file; it is logged under its new path. Nothing
   * logged can be renamed or replaced (ENOTSUP): famfs's log has no rename or delete entry.
   */
  rename(_ctx: RequestContext, parent: number, name: string, newParent: number, newName: string, flags: number): void {
    const from = this.dirOf(parent);
    const to = this.dirOf(newParent);
    if (!this.isMaster) throw fuseErr('EROFS', 'a famfs client is read-only');
    const src = joinPath(from.path, name);
    const dst = joinPath(to.path, newName);
    if (flags & ~RENAME_NOREPLACE) throw fuseErr('EINVAL', `rename ${src} to ${dst}: flags 0x${flags.toString(16)} (famfs can only move a file not yet logged)`);
    const f = this.unlogged(from, name);
    if (!f) {
      if (from.children.has(name)) this.noNamespaceChange(`rename ${src} to ${dst}: ${src} is in the log`);
      throw fuseErr('ENOENT', src);
    }
    if (from === to && name === newName) return;
    if (newName === '.meta' && to.id === ROOT_ID) throw fuseErr('EEXIST', '.meta');
    if (to.children.has(newName)) {
      if (flags & RENAME_NOREPLACE) throw fuseErr('EEXIST', dst);
      this.noNamespaceChange(`rename ${src} to ${dst}: ${dst} is in the log and cannot be replaced`);
    }
    if (Buffer.byteLength(dst) > MAX_PATHLEN - 1) {
      const msg = `rename ${src} to ${dst}: ${Buffer.byteLength(dst)} bytes; a famfs path (relative to the mount) is at most ${MAX_PATHLEN - 1} bytes`;
      this.log(msg);
      throw fuseErr('ENAMETOOLONG', msg);
    }
    const over = this.unlogged(to, newName);
    if (over) {
      if (flags & RENAME_NOREPLACE) throw fuseErr('EEXIST', dst);
      this.removeUnlogged(over);
    }
    this.pendingByDir.get(from.id)?.delete(name);
    f.parent = to;
    f.name = newName;
    f.path = dst;
    let m = this.pendingByDir.get(to.id);
    if (!m) this.pendingByDir.set(to.id, (m = new PendingRecords()));
    m.set(newName, f);
  }
  link(): Entry {
    this.noNamespaceChange('link');
  }
  symlink(): Entry {
    this.noNamespaceChange('symlink');
  }

  open(_ctx: RequestContext, nodeid: number, flags: number): OpenReply {
    const n = this.need(nodeid);
    const writing = (flags & O_ACCMODE) !== 0;
    if (n.kind === 'dir' || n.kind === 'meta-dir') throw fuseErr('EISDIR', `nodeid ${nodeid}`);
    if (n.kind === 'meta-file') {
      // famfs mode: the CLI appends to the log through its own mapping of .meta/.log (as
      // famfs's CLI does), under flock on that file; the master's log only.
      const logWriter = n.which === 'log' && this.famfsMode && this.isMaster;
      if (writing && !logWriter) throw fuseErr('EPERM', `.meta/.${n.which} is a read-only view`);
      return { fh: 0, openFlags: Fopen.DIRECT_IO };
    }
    if (writing && !this.isMaster) throw fuseErr('EROFS', 'a famfs client is read-only');
    if (n.kind === 'file' && flags & O_TRUNC && writing && n.node.size > 0) {
      const msg = `${n.node.path}: open with O_TRUNC refused: famfs files keep the size they were committed with (${n.node.size})`;
      this.log(msg);
      throw fuseErr('EPERM', msg);
    }
    if (n.kind === 'pending' && flags & O_TRUNC && writing && n.file.size > 0) {
      n.file.size = 0;
      this.changed(nodeid);
    }
    if (n.kind === 'pending') {
      n.file.opens++;
      clearTimeout(n.file.settling);
      n.file.settling = undefined;
    }
    if (n.kind === 'file' && writing) this.back(n.node);
    this.opened(nodeid);
    const fh = this.newHandle(nodeid, writing);
    const journaled = n.kind === 'file' && writing && this.mode.kind === 'none';
    if (journaled) {
      // Kept until RELEASE: a later refusal through this description puts its writes back.
      // (A mapping kernel stores file bytes itself: nothing passes through here to keep.)
      const journal = UndoJournal.forFile(n.node.size);
      this.handles.get(fh)!.journal = journal;
      this.event(() => this.events.journal(fh, journal.buffer));
    }
    // The master's committed file changes only by writes through this kernel, which keep its
    // page cache current: the cache may outlive the open. A client's kernel cannot see the
    // master rewrite a file in place, so a client drops the cache at each open (and sees the
    // new bytes from its next open on).
    // Only a journaled description needs its FLUSH (flush()).
    const noFlush = this.mode.kind === 'none' && !journaled ? Fopen.NOFLUSH : 0;
    if (n.kind === 'file' && this.isMaster) return { fh, openFlags: Fopen.KEEP_CACHE | noFlush };
    return noFlush ? { fh, openFlags: noFlush } : { fh };
  }

  /**
   * In famfs mode the server cannot reach file data (src/device/windows.ts): a READ or WRITE
   * the kernel sends anyway (the V10 kernel asks GET_FMAP at OPEN, not for a file it CREATEd)
   * gets EOPNOTSUPP and a log line, never a stack.
   */
  private refuseUnreachable(op: string, nodeid: number): void {
    if (!('kernelMapped' in this.image.daxdev(0))) return;
    const msg = `${op} of nodeid ${nodeid}: in famfs mode the server does not map file data; the kernel maps files it got from GET_FMAP (a file created through this mount is one after a remount)`;
    this.log(msg);
    throw fuseErr('EOPNOTSUPP', msg);
  }

  read(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, size: number): Buffer[] {
    this.refuseUnreachable('READ', nodeid);
    const n = this.need(nodeid);
    let map: FileMap;
    if (n.kind === 'file') map = n.node.map;
    else if (n.kind === 'pending') map = n.file.view;
    else if (n.kind === 'meta-file') map = this.fileMap(nodeid)!;
    else throw fuseErr('EISDIR', `nodeid ${nodeid}`);
    return readMapped(map, this.devOf, offset, size);
  }

  write(_ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer, _flags: number): number {
    this.refuseUnreachable('WRITE', nodeid);
    const n = this.need(nodeid);
    if (n.kind === 'meta-file' || n.kind === 'meta-dir') throw fuseErr('EPERM', '.meta is read-only');
    if (n.kind === 'dir') throw fuseErr('EISDIR', n.node.path);
    if (!this.isMaster) throw fuseErr('EROFS', 'a famfs client is read-only');
    const refused = this.handles.get(fh)?.refused;
    if (refused) throw fuseErr('EPERM', `${refused}; this open file writes nothing more`);
    if (n.kind === 'file') {
      return writeCommittedUndoable(n.node.path, n.node.map, this.devOf, offset, data, this.handles.get(fh)?.journal, (from, to) => this.invalidate(nodeid, from, to - from));
    }
    const f = n.file;
    const end = offset + data.length;
    if (end > f.size && this.mode.kind !== 'none') {
      // The kernel took the file's size from its map at open; a write past it would land
      // in bytes the kernel does not know the file has.
      const msg = `${f.path}: write of ${data.length} bytes at ${offset} past the size ${f.size}: under the ${this.mode.series.name} profile ` +
        'a file created through the mount gets its size first (fallocate or truncate), then its data';
      this.log(msg);
      throw fuseErr('EFBIG', msg);
    }
    if (end > f.capacity || (f.placeholder && end > 0)) {
      try {
        this.grow(f, end);
      } catch (e) {
        // The file cannot be finished: it is dropped at its last release, not logged half.
        if (e instanceof FuseError && e.errno === E.ENOSPC) f.failed ??= e.message;
        throw e;
      }
    }
    if (offset > f.size) this.zeroNew(f, f.size, offset);
    this.settle();
    try {
      writeMapped({ size: Math.max(f.size, end), extents: f.view.extents }, this.devOf, offset, data);
    } catch (e) {
      // The memory behind the device failed the store (an image on a full disk: ENOSPC): the
      // size stays, and the file is dropped at its last release, not logged half.
      f.failed ??= `its data could not be stored: ${(e as Error).message}`;
      throw e;
    }
    if (end > f.size) {
      f.size = end;
      this.changed(f.nodeid);
    }
    f.mtimeMs = Date.now();
    return data.length;
  }

  fallocate(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, length: number, mode: number): void {
    const n = this.need(nodeid);
    if (mode & ~FALLOC_FL_KEEP_SIZE) throw fuseErr('EOPNOTSUPP', `fallocate mode 0x${mode.toString(16)}: famfs files are fully allocated`);
    const end = offset + length;
    if (n.kind === 'file') {
      if (end > n.node.size) throw fuseErr('EFBIG', `${n.node.path}: famfs files cannot grow after they are committed`);
      return;
    }
    if (n.kind !== 'pending') throw fuseErr('EPERM', 'not a regular file');
    if (!this.isMaster) throw fuseErr('EROFS', 'a famfs client is read-only');
    if (end > n.file.capacity || (n.file.placeholder && end > 0)) this.grow(n.file, end);
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > n.file.size) {
      this.zeroNew(n.file, n.file.size, end);
      this.settle();
      n.file.size = end;
      this.changed(nodeid);
    }
  }

  /** Log a pending file with its final size (at FLUSH, i.e. close(2)). */
  commit(f: PendingFile): void {
    if (f.committed) return;
    let node: FileNode;
    try {
      const map = f.finalMap(this.alloc);
      // The trimmed tails are free again: hold exactly what is logged, even if logging fails.
      f.adopt(map);
      node = this.alloc.keepAcross(() => this.image.logFile(f.path, map, { mode: f.mode, uid: f.uid, gid: f.gid }));
    } catch (e) {
      if (e instanceof Error) this.log(`commit of ${f.path} failed: ${e.message}`);
      rethrowAsFuse(e);
    }
    f.committed = node;
    this.reserving.delete(f);
    // The trimmed map is what the kernel may be told from now on (BPF value, cached mappings,
    // serving threads: the file is committed by now).
    this.changed(f.nodeid);
    this.alias.set(node.id, f.nodeid);
    this.fileTimes.set(node.id, f);
    this.pendingByDir.get(f.parent.id)?.delete(f.name);
  }

  flush(_ctx?: RequestContext, nodeid = 0, fh = 0): void {
    // Every close(2) sends one, also the close of a descriptor that a child process (a
    // shell's loop, xargs, find -exec) or a dup still shares: nothing is committed here.
    // A description whose rewrites were undone by a serving thread during a WRITE could not
    // drop the cached pages next to that write's locked ones then: it does now. Only such a
    // description (one with an undo journal) needs its FLUSH: every other one is opened
    // FOPEN_NOFLUSH on a mainline connection, and its close(2) sends none (fs/fuse/file.c
    // fuse_flush): a create through the mount is five requests instead of six.
    if (this.handles.get(fh)?.journal?.refused) this.invalidate(nodeid, 0, -1);
  }

  release(_ctx: RequestContext, nodeid: number, fh: number): void {
    // The kernel releases an open file description when its last descriptor is closed.
    // The file is logged when its last description goes (README "What a program sees").
    const h = this.handles.get(fh);
    this.handles.delete(fh);
    if (h?.journal) this.event(() => this.events.journal(fh, undefined));
    const n = this.inode(nodeid);
    if (n?.kind !== 'pending') return;
    const f = n.file;
    if (f.opens > 0) f.opens--;
    if (f.opens > 0) return;
    if (f.unlinked) {
      this.drop(f);
      return;
    }
    const settle = this.opts.settleMs ?? 0;
    if (settle <= 0 || f.failed) {
      this.finish(f);
      return;
    }
    // Logged once left alone for a moment: a chmod, rename, unlink or reopen that follows the
    // close (the kernel sends RELEASE after close(2) returned) still finds it unlogged.
    clearTimeout(f.settling);
    f.settling = setTimeout(() => {
      f.settling = undefined;
      if (f.opens === 0 && !f.committed && this.reserving.has(f)) this.finish(f);
    }, settle);
    f.settling.unref?.();
  }

  /** Log a file no description holds any more; drop it (space free again) when it cannot be. */
  private finish(f: PendingFile): void {
    clearTimeout(f.settling);
    f.settling = undefined;
    if (f.failed) {
      this.drop(f, f.failed);
      return;
    }
    try {
      this.commit(f);
    } catch (e) {
      this.drop(f, `it could not be logged: ${(e as Error).message}`);
    }
  }

  /** Forget a file that was never logged and give its space back (`why` undefined: it was unlinked). */
  private drop(f: PendingFile, why?: string): void {
    clearTimeout(f.settling);
    f.settling = undefined;
    f.releaseAll(this.alloc);
    this.reserving.delete(f);
    this.forgetPending(f);
    if (this.pendingByDir.get(f.parent.id)?.get(f.name) === f) this.pendingByDir.get(f.parent.id)!.delete(f.name);
    if (why === undefined) return;
    this.log(`${f.path}: dropped, not logged (${why}); its space is free again`);
    // The kernel saw the name made (CREATE) but not gone: a listing it keeps would still show it.
    this.dropListing(f.parent);
  }

  /** The kernel's cached listing (and attributes) of dir: dropped, for names it did not see come or go. */
  private dropListing(dir: DirNode): void {
    this.invalidate(this.nodeidOf(dir), 0, -1);
  }

  /** Files created through the mount and not yet logged. */
  unfinished(): UnfinishedFile[] {
    return [...this.reserving].filter((f) => !f.committed).map((f) => ({ path: f.path, size: f.size, opens: f.opens }));
  }

  /**
   * The connection ended (unmount): no description of any file is open any more, though a
   * RELEASE the kernel queued may never have arrived. Log what can be finished.
   */
  finishAll(): void {
    for (const f of [...this.reserving]) {
      if (f.committed) continue;
      // Removed while open (a swap file): never logged.
      if (f.unlinked) this.drop(f);
      else this.finish(f);
    }
  }

  /** The server is told to stop without waiting: drop (and log) every file not yet logged. */
  dropAll(why: string): void {
    for (const f of [...this.reserving]) {
      if (f.committed) continue;
      // Closed and waiting out its settle time: complete, so logged rather than dropped.
      if (f.opens === 0 && !f.unlinked) this.finish(f);
      else this.drop(f, `${why}; ${f.size} bytes written, ${f.opens} open descriptions`);
    }
  }

  /**
   * fsync of a file not yet logged that no description holds open for writing (`sync FILE`
   * after the writer closed it) logs it at once instead of after the settle time: a way to
   * make a new file visible to other hosts now. The writer's RELEASE follows its close(2)
   * asynchronously and may come after this request: it is waited for, up to RELEASE_WAIT_MS.
   * With a writer still open after that the file may still grow: nothing is logged. An fsync
   * through a description that writes the file (vim's `:w`, git's object files: write,
   * fsync, close) returns at once: that description stays open for the whole call, so
   * nothing could be logged, and waiting held the caller a second while its other new files
   * (vim's backup `NAME~`) passed their settle time and were logged for good. Such a file is
   * logged after its close, as any other. (File bytes need no flushing: stores to mapped
   * memory are what every host sees.)
   */
  fsync(_ctx?: RequestContext, nodeid = 0, fh?: number): void | Promise<void> {
    const f = this.pendingById.get(nodeid);
    if (!f || f.committed || f.unlinked || !this.reserving.has(f)) return;
    if (fh !== undefined && this.handles.get(fh)?.writing) return;
    const writers = (): number => {
      let n = 0;
      for (const h of this.handles.values()) if (h.nodeid === nodeid && h.writing) n++;
      return n;
    };
    const logIt = (): void => {
      if (f.committed || f.unlinked || !this.reserving.has(f)) return;
      this.finish(f);
      if (!f.committed) throw fuseErr('EIO', `fsync ${f.path}: the file could not be logged (see the mount log)`);
    };
    if (writers() === 0) return logIt();
    const until = Date.now() + RELEASE_WAIT_MS;
    return new Promise<void>((resolve, reject) => {
      const poll = (): void => {
        if (writers() > 0 && Date.now() < until) {
          setTimeout(poll, 5);
          return;
        }
        try {
          if (writers() === 0) logIt();
          resolve();
        } catch (e) {
          reject(e);
        }
      };
      poll();
    });
  }


  opendir(_ctx: RequestContext, nodeid: number): OpenReply {
    const n = this.need(nodeid);
    if (n.kind !== 'dir' && n.kind !== 'meta-dir') throw fuseErr('ENOTDIR', `nodeid ${nodeid}`);
    // A client learns of new files by logplay, behind its kernel's back: it never caches.
    if (!this.isMaster) return { fh: 0 };
    // The master's directories change through this kernel (CREATE, MKDIR, UNLINK, RENAME),
    // which resets its cached listing at each (fs/fuse/readdir.c: the cache is checked
    // against the directory's i_version, which each of them bumps), or behind it only where
    // this server tells it (dropListing: a replay of names the CLI logged, a file dropped
    // unlogged), so the kernel may keep listings. Where it offers to, it does without
    // OPENDIR altogether: answered ENOSYS once, it opens every directory itself from then
    // on, with a cached listing (fs/fuse/file.c fuse_file_open, "Default for no-open"), and
    // sends no RELEASEDIR: two requests less per listing.
    if (this.conn && (this.conn.flags & InitFlag.NO_OPENDIR_SUPPORT) !== 0n) throw NO_OPENDIR;
    return { fh: 0, openFlags: Fopen.CACHE_DIR | Fopen.KEEP_CACHE };
  }

  readdir(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, out: DirList): void {
    const n = this.need(nodeid);
    // The fixed entries first (cookies: their positions), then the children, committed and
    // still being written, in one name order (a file's place does not move when it is
    // committed); a child's cookie names it (dir-listing.ts), so a READDIR resumes after
    // that name whatever was created or dropped since the last one.
    const head: { name: string; id: number; inode: Inode }[] = [];
    let dir: DirNode | undefined;
    if (n.kind === 'meta-dir') {
      head.push({ name: '.', id: META_DIR_ID, inode: n }, { name: '..', id: ROOT_ID, inode: this.need(ROOT_ID) });
      head.push({ name: '.superblock', id: META_SUPERBLOCK_ID, inode: { kind: 'meta-file', which: 'superblock' } });
      head.push({ name: '.log', id: META_LOG_ID, inode: { kind: 'meta-file', which: 'log' } });
    } else if (n.kind === 'dir') {
      dir = n.node;
      const parentId = dir.id === ROOT_ID ? ROOT_ID : this.parentIdOf(dir);
      head.push({ name: '.', id: nodeid, inode: n }, { name: '..', id: parentId, inode: this.need(parentId) });
      if (dir.id === ROOT_ID) head.push({ name: '.meta', id: META_DIR_ID, inode: { kind: 'meta-dir' } });
    } else throw fuseErr('ENOTDIR', `nodeid ${nodeid}`);
    const send = (name: string, cookie: number, id: number, mode: number, inode: () => Inode): boolean => {
      if (!out.plus || name === '.' || name === '..' || this.knows(id)) {
        // READDIR sends only the inode number and the type. The kernel links no entry for
        // '.' and '..', and one it already holds needs none: a READDIRPLUS record with
        // nodeid 0 carries only the name, inode number and type (fs/fuse/readdir.c
        // fuse_direntplus_link: "nodeid 0 ... do nothing"), so a listing of files the kernel
        // knows (just created, or stat'ed) costs no attributes here and no inode updates
        // there. A name it does not know gets its entry and attributes.
        return out.add({ name, nextOffset: cookie, entry: makeEntry(out.plus ? 0 : id, makeAttr(id, 0, mode, 1, 0, 0, 0, NO_TIMES), 0, 0) });
      }
      const entry = this.entry(id, inode());
      if (!out.add({ name, nextOffset: cookie, entry })) return false;
      this.looked(entry);
      return true;
    };
    if (offset < head.length) {
      for (let i = offset; i < head.length; i++) {
        const h = head[i]!;
        if (!send(h.name, i + 1, h.id, modeOf(h.inode), () => h.inode)) return;
      }
    }
    if (!dir) return;
    let after: string | undefined;
    if (offset >= CHILD_COOKIE_BIAS) {
      after = this.cookieName(offset - CHILD_COOKIE_BIAS);
      // A cookie this server never handed out: nothing to resume after.
      if (after === undefined) return;
    }
    const recs = this.listing(dir);
    const pend = this.pendingByDir.get(dir.id);
    const np = pend?.length ?? 0;
    let ci = after === undefined ? 0 : recs.after(after);
    let pi = after === undefined || !pend ? 0 : pend.after(after);
    const committed = (k: number): boolean => {
      const child = recs.nodes[k]!;
      const id = recs.inoAt(k);
      return send(child.name, child.id + CHILD_COOKIE_BIAS, id, nodeMode(child), () => this.need(id));
    };
    const unlogged = (k: number): boolean => {
      const f = pend!.files[k]!;
      return send(f.name, f.nodeid + CHILD_COOKIE_BIAS, f.nodeid, S_IFREG, () => ({ kind: 'pending', file: f }));
    };
    // Runs of committed children between runs of files still being written, each run packed.
    for (;;) {
      const cto = pi < np ? recs.after(pend!.names[pi]!) : recs.length;
      ci = this.sendRun(recs, ci, cto, out, committed);
      if (ci < cto || pi >= np) return;
      const pto = ci < recs.length ? pend!.after(recs.names[ci]!) : np;
      const from = pi;
      pi = this.sendRun(pend!, pi, pto, out, unlogged);
      // A file listed while being written is found by its cookie after its record goes too
      // (forgetPending()); a property store here, where a Map's set cost ~0.3 us a name.
      for (let k = from; k < pi; k++) pend!.files[k]!.listedAs = pend!.names[k]!;
      if (pi < pto) return;
    }
  }

  /**
   * Records [from, to) of a listing's packed run into `out`: copied whole when `out` takes
   * them (a READDIR: one copy), else one by one (`one(k)`); returns where it stopped.
   */
  private sendRun(recs: DirRecords | PendingRecords, from: number, to: number, out: DirList, one: (k: number) => boolean): number {
    if (from >= to) return from;
    if (out.addPacked && out.addPackedPlus && out.room !== undefined) {
      if (!out.plus) {
        const end = Math.min(to, recs.fit(from, out.room));
        out.addPacked(recs.buf, recs.starts[from]!, recs.starts[end]!);
        return end;
      }
      // A READDIRPLUS reply ends after a run of names the kernel already holds: what follows
      // comes in plain READDIRs (the kernel asks READDIRPLUS at offset 0 and after a lookup in
      // the directory, fs/fuse/readdir.c fuse_use_readdirplus), which are one copy here,
      // while each record here is one by one. A name it does not hold still gets its entry.
      let bare = 0;
      for (let k = from; k < to; k++) {
        const id = recs.inoAt(k);
        const entry = this.knows(id) ? undefined : this.entry(id, this.need(id));
        if (!entry && ++bare > PLUS_BARE_RUN) return k;
        if (entry) bare = 0;
        if (!out.addPackedPlus(recs.buf, recs.starts[k]!, recs.starts[k + 1]!, entry)) return k;
        if (entry) this.looked(entry);
      }
      return to;
    }
    for (let k = from; k < to; k++) if (!one(k)) return k;
    return to;
  }

  /**
   * A node the namespace just added (a commit's log entry, or a replay): packed into its
   * directory's listing if that was listed before. A file committed here is added before
   * its alias is set (finish()), and is known by its pending nodeid, still in pendingByDir.
   */
  private childAdded(parent: DirNode, n: Node): void {
    this.replayedInto?.add(parent);
    const mine = this.pendingByDir.get(parent.id)?.get(n.name)?.nodeid;
    let r = this.listings.get(parent.id);
    if (!r) {
      // A directory files are created in through this mount gets its listing now (the one
      // child short of the sync is then packed here), so that its first listing is a copy too.
      if (mine === undefined) return;
      this.listings.set(parent.id, (r = new DirRecords()));
      r.inos(String(this.aliasDrops), (c) => this.nodeidOf(c));
      const without = new Map(parent.children);
      without.delete(n.name);
      r.sync({ ...parent, children: without }, (c) => this.nodeidOf(c));
      r.adopt(parent);
    }
    r.added(parent, n, mine ?? this.nodeidOf(n));
  }

  /**
   * A directory's packed listing, brought up to date. A child is listed under the nodeid the
   * kernel knows it by: a file created here keeps its first nodeid (alias) until its last
   * FORGET. An alias is made only for a node its own commit just added (childAdded() and
   * the sync find it new) and dropped only in forget(), so only the drops tell when the
   * inode numbers must be worked out again.
   */
  private listing(dir: DirNode): DirRecords {
    let r = this.listings.get(dir.id);
    if (!r) this.listings.set(dir.id, (r = new DirRecords()));
    const ino = (n: Node): number => this.nodeidOf(n);
    // Records already there first (if the aliases moved), then the new ones, made as they are now.
    r.inos(String(this.aliasDrops), ino);
    r.sync(dir, ino);
    return r;
  }

  /**
   * Drops the packed listings (some 60 bytes a name), made again at the next listing or
   * create in each directory: called at a quiet time after the kernel forgot what it held.
   */
  releaseListings(): void {
    this.listings.clear();
  }

  /** A file created here is known by its pending nodeid no more; a listing's cookie for it still names it. */
  private forgetPending(f: PendingFile): void {
    this.pendingById.delete(f.nodeid);
    if (f.listedAs !== undefined) this.pendingCookies.set(f.nodeid, f.listedAs);
  }

  /** The name a child's cookie stands for: a logged node's, or a file being written (or since dropped). */
  private cookieName(id: number): string | undefined {
    if (id < PENDING_BASE) return this.image.namespace.node(id)?.name;
    return this.pendingById.get(id)?.name ?? this.pendingCookies.get(id);
  }

  private parentIdOf(dir: DirNode): number {
    const slash = dir.path.lastIndexOf('/');
    if (slash < 0) return ROOT_ID;
    return this.image.namespace.lookup(dir.path.slice(0, slash))?.id ?? ROOT_ID;
  }

  statfs(): Statfs {
    const total = [...this.image.scan.daxdevs.values()].reduce((s, d) => s + Math.floor(d.size / ALLOC_UNIT), 0);
    const free = this.alloc.freeUnits();
    const slots = this.image.logSlots;
    const used = this.image.header.nextIndex;
    return { blocks: total, bfree: free, bavail: this.isMaster ? free : 0, files: slots, ffree: Math.max(0, slots - used), bsize: ALLOC_UNIT, frsize: ALLOC_UNIT, namelen: MAX_PATHLEN - 1 };
  }

  /**
   * Asked only of a mount without default_permissions (kernelChecksModes), which only
   * root's processes can reach: root may read and write anything, and may execute a file
   * only if one of its x bits is set (fs/namei.c generic_permission).
   */
  access(_ctx: RequestContext, nodeid: number, mask: number): void {
    const n = this.need(nodeid);
    const mode = this.attrOf(nodeid, n).mode;
    if (mask & X_OK && (mode & S_IFMT) === S_IFREG && !(mode & 0o111)) throw fuseErr('EACCES', `${nodeid}: no x bit to execute`);
  }

  /**
   * Replay log entries appended since (a client's logplay, or the master's after the CLI
   * logged through .meta/.log in famfs mode); returns how many were new. The kernel did not
   * see those names come: the listings of their directories are dropped.
   */
  logplay(): number {
    const touched = (this.replayedInto = new Set<DirNode>());
    let added: number;
    try {
      added = this.image.refresh();
    } finally {
      this.replayedInto = undefined;
    }
    for (const dir of touched) this.dropListing(dir);
    return added;
  }

  /** Undefined: no such attribute (ENODATA; `ls -l` asks for two on every file). */
  getxattr(_ctx: RequestContext, nodeid: number, name: string): Buffer | undefined {
    const n = this.need(nodeid);
    if (name === LOGPLAY_XATTR) {
      const added = this.logplay();
      const st = this.image.namespace.stats;
      return Buffer.from(`logplay: ${added} new log entries; ${st.filesCreated} files, ${st.dirsCreated} directories in total`);
    }
    if (name === ROLE_XATTR) return Buffer.from(this.image.role);
    if (name === STATUS_XATTR && nodeid === FUSE_ROOT_ID && this.status) return Buffer.from(JSON.stringify(this.status()));
    if (name === MAP_XATTR) {
      const map = n.kind === 'file' || n.kind === 'pending' || n.kind === 'meta-file' ? this.fileMap(nodeid) : undefined;
      return map && Buffer.from(JSON.stringify(map));
    }
    if (name === INTERLEAVE_XATTR) {
      let text: string | undefined;
      if (n.kind === 'pending' && n.file.interleave) text = formatInterleaveParam(n.file.interleave);
      else if (n.kind === 'file') text = interleaveOfMap(n.node.map);
      else if (n.kind === 'dir') {
        const p = this.dirInterleave.get(n.node.id);
        if (p) text = formatInterleaveParam(p);
      }
      return text === undefined ? undefined : Buffer.from(text);
    }
    return undefined;
  }

  listxattr(): string[] {
    // The control attributes are not advertised, so cp -a / rsync -X do not copy them.
    return [];
  }

  setxattr(_ctx: RequestContext, nodeid: number, name: string, value: Buffer, _flags: number): void {
    const n = this.need(nodeid);
    if (name !== INTERLEAVE_XATTR) throw fuseErr('ENOTSUP', `${name}: famfs-ts stores no extended attributes`);
    if (!this.isMaster) throw fuseErr('EROFS', 'a famfs client is read-only');
    let p: InterleaveParams;
    try {
      p = parseInterleaveParam(value.toString('utf8'));
    } catch (e) {
      if (e instanceof InterleaveParamError) throw fuseErr('EINVAL', e.message);
      throw e;
    }
    if (n.kind === 'dir') {
      this.checkExpressible(`${INTERLEAVE_XATTR} on ${n.node.path || '/'}`, probeMap({ ...this.placement, interleave: p }));
      this.dirInterleave.set(n.node.id, p);
      return;
    }
    if (n.kind === 'file') throw fuseErr('EPERM', `${n.node.path}: committed; interleave is fixed`);
    if (n.kind !== 'pending') throw fuseErr('EPERM', '.meta is read-only');
    if (n.file.map && !n.file.placeholder) throw fuseErr('EBUSY', `${n.file.path}: set ${INTERLEAVE_XATTR} before the first write`);
    this.checkExpressible(`${INTERLEAVE_XATTR} on ${n.file.path}`, probeMap({ ...this.placement, interleave: p }));
    n.file.interleave = p;
  }

  removexattr(_ctx: RequestContext, nodeid: number, name: string): void {
    const n = this.need(nodeid);
    if (name !== INTERLEAVE_XATTR) throw fuseErr('ENODATA', name);
    if (n.kind === 'dir' && this.dirInterleave.delete(n.node.id)) return;
    if (n.kind === 'pending' && (!n.file.map || n.file.placeholder) && n.file.interleave) {
      n.file.interleave = undefined;
      return;
    }
    throw fuseErr(n.kind === 'pending' && n.file.map && !n.file.placeholder ? 'EBUSY' : 'ENODATA', name);
  }
}
