// A famfs image opened without a kernel: the I/O half of src/famfs. Maps the primary
// daxdev (and, for a layout, the secondaries), validates the superblock and log header,
// replays the log into a Namespace, and appends entries as the master. The on-media codecs
// it uses are pure; this is the only module here that touches devices.
import fs from 'node:fs';
import { resolveRange, type FileMap } from '../interleave/filemap.js';
import type { Daxdev, Layout } from '../interleave/layout.js';
import { MappedDevice, openDaxdev, deviceSize, type DaxdevMemory } from '../device/memory.js';
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from '../sys/libc.js';
import { Allocator, Bitmap, AllocError, type AllocOptions } from './alloc.js';
import { LOG_OFFSET, FM_ALL_HOSTS_RW } from './constants.js';
import { ImageError } from './errors.js';
import { checkNewPath, DestinationError } from './destination.js';
import { systemUuid, type Role } from './host.js';
import { decodeLogHeader, encodeEntry, entryOffset, LogError, logHeaderStruct, LOG_HEADER_SIZE, type LogHeader, type NewEntry } from './log.js';
import { Namespace, PathError, splitPath, type DirNode, type FileNode, type Node } from './namespace.js';
import { damageSummary, newScan, scanEntries, writeRefusal, type BadEntry, type ScanState } from './scan.js';
import { checkSuperblock, type Superblock } from './superblock.js';
import { decodeTag } from './tag.js';
import { formatUuid, uuidEqual } from './uuid.js';

export interface OpenOptions {
  /** Primary device path (single-device image). */
  readonly device?: string;
  /** A layout: daxdev 0 is the primary, the others are matched to ADD_DAXDEV entries. */
  readonly layout?: Layout;
  /** Map writable; log appends also need the master role. */
  readonly writable?: boolean;
  /** The host identity: raw UUID bytes, or a file holding it (default /opt/famfs/system_uuid). */
  readonly systemUuid?: Uint8Array | string;
  /** Play a client even on the master host (famfs --client / -c). */
  readonly client?: boolean;
  /**
   * The primary's memory when the caller reached it some other way than mapping `device`:
   * famfs mode, through the mount's .meta files (src/server/famfs-mode.ts), where the mount
   * itself is the one writer and no lock is taken; or tests (the non-coherent memory
   * simulator), with no `device`. The image closes it with itself.
   */
  readonly primary?: DaxdevMemory;
  /**
   * Log and allocate even when the log has bad entries (--force). Without it a writer
   * refuses: a bad entry's extents are unknown, so an allocation could land on them.
   */
  readonly force?: boolean;
  /**
   * Another host may be appending to the log while this one replays (a client's mount): a
   * last entry that fails its CRC or seqnum is one being written, left out until a refresh
   * finds it whole (ScanOptions.tailInFlight; README "Two hosts"). Read-only images only.
   */
  readonly tailInFlight?: boolean;
}

export interface CreatOptions extends AllocOptions {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

export interface MkdirOptions {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** mkdir -p: create missing parents, no error if it exists as a directory. */
  readonly parents?: boolean;
}

/** How far populateLog maps the log's pages beyond the entry being stored (480 entries). */
const LOG_MAP_AHEAD = 256 * 1024;

// The defaults for new entries' owner (famfs: euid/egid), read once.
const EUID = process.geteuid?.() ?? 0;
const EGID = process.getegid?.() ?? 0;
function euid(): number {
  return EUID;
}
function egid(): number {
  return EGID;
}

/** Validate a path for a log entry: relative form < 80 bytes (FAMFS_MAX_PATHLEN). */
export function relpathOf(path: string): string {
  const rel = splitPath(path).join('/');
  if (!rel) throw new ImageError(`${path}: not a file name`, 'EINVAL');
  // The rules every route shares (src/famfs/destination.ts): /.meta is reserved, the limits.
  try {
    checkNewPath({ rel, dir: false }, path);
  } catch (e) {
    if (e instanceof DestinationError) throw new ImageError(e.message, e.errno, { cause: e });
    throw e;
  }
  return rel;
}

export class FamfsImage {
  readonly namespace = new Namespace();
  private scanState: ScanState;
  private logHeader: LogHeader;
  private allocator: Allocator | undefined;
  private allocatorAt = -1;
  private closed = false;

  private constructor(
    readonly source: string,
    readonly sb: Superblock,
    readonly role: Role,
    readonly writable: boolean,
    private readonly devices: Map<number, DaxdevMemory>,
    private readonly layout: Layout | undefined,
    /** An open fd holding flock(LOCK_EX) on the primary, for writers. */
    private readonly lockFd: number | undefined,
    /** A view of the whole log region (zero-copy when the primary maps contiguously). */
    private log: Buffer,
    private readonly logIsView: boolean,
    private readonly force: boolean,
    /** The header the caller invalidated the entries for (a log viewed in place moves on). */
    header?: LogHeader,
    private readonly tailInFlight = false,
  ) {
    this.logHeader = header ?? decodeLogHeader(log, sb.logLen);
    this.scanState = newScan(sb.ddSize, sb.logLen);
    this.replay();
  }

  /** Open and replay; throws ImageError with a clear message for anything not famfs. */
  static open(opts: OpenOptions): FamfsImage {
    const writable = opts.writable ?? false;
    let primary: DaxdevMemory;
    let lockPath: string | undefined;
    let source: string;
    if (opts.layout) {
      const d0 = opts.layout.daxdevs[0];
      if (!d0) throw new ImageError(`${opts.layout.source}: the layout has no daxdevs`);
      primary = openDev(d0, writable);
      lockPath = primaryPath(d0);
      source = opts.layout.source;
    } else if (opts.device) {
      source = opts.device;
      // famfs mode: the mount itself is the one writer (the kernel holds the daxdev): no lock.
      lockPath = opts.primary ? undefined : opts.device;
      primary = opts.primary ?? openPath(opts.device, writable);
    } else if (opts.primary) {
      source = opts.primary.name;
      primary = opts.primary;
    } else {
      throw new ImageError('no device or layout given');
    }
    const devices = new Map<number, DaxdevMemory>([[0, primary]]);
    let lockFd: number | undefined;
    try {
      const sbBytes = Buffer.alloc(200);
      if (primary.size < 200) throw new ImageError(`${source}: device is only ${primary.size} bytes; no famfs superblock`, 'EINVAL');
      // Another host may have written it (famfs_mmap_superblock_and_log_raw invalidates).
      primary.invalidate(0, sbBytes.length);
      primary.read(0, sbBytes);
      const chk = checkSuperblock(sbBytes);
      if (!chk.ok) throw new ImageError(`${source}: ${chk.message}`, 'EINVAL');
      const sb = chk.sb;
      if (sb.logOffset !== LOG_OFFSET) throw new ImageError(`${source}: superblock log_offset 0x${sb.logOffset.toString(16)} (famfs requires 0x${LOG_OFFSET.toString(16)})`);
      if (sb.logLen < LOG_HEADER_SIZE || LOG_OFFSET + sb.logLen > primary.size) {
        throw new ImageError(`${source}: the log (${sb.logLen} bytes at 0x${LOG_OFFSET.toString(16)}) does not fit the ${primary.size}-byte device (truncated device?)`, 'EIO');
      }
      if (sb.ddSize > primary.size) {
        throw new ImageError(`${source}: the superblock says the device holds ${sb.ddSize} bytes but it has ${primary.size} (truncated device?)`, 'EIO');
      }
      let role: Role = 'client';
      const mine = opts.systemUuid instanceof Uint8Array ? opts.systemUuid : systemUuid(opts.systemUuid);
      if (uuidEqual(mine, sb.systemUuid) && !opts.client) role = 'master';
      if (writable && role === 'master' && lockPath !== undefined) {
        lockFd = fs.openSync(lockPath, 'r');
        if (!flock(lockFd, LOCK_EX | LOCK_NB)) {
          throw new ImageError(`${source}: another writer holds the image (mounted read-write, or another famfs-ts command is running)`, 'EBUSY');
        }
      }
      const slices = primary.views ? primary.slices(LOG_OFFSET, sb.logLen) : [];
      const isView = slices.length === 1;
      let log: Buffer;
      let header: LogHeader | undefined;
      if (isView) {
        log = slices[0]!;
        header = invalidateLogView(primary, log, 0, sb.logLen);
      } else {
        // A copy: the header, then only the entries it counts (refresh() reads later ones,
        // growing the copy as the log does).
        log = readLogCopy(primary, Buffer.alloc(LOG_HEADER_SIZE), 0, sb.logLen);
      }
      let img: FamfsImage;
      try {
        img = new FamfsImage(source, sb, role, writable, devices, opts.layout, lockFd, log, isView, opts.force ?? false, header,
          opts.tailInFlight === true && !writable);
      } catch (e) {
        if (e instanceof LogError) throw new ImageError(`${source}: ${e.message}`, 'EINVAL', { cause: e });
        throw e;
      }
      img.attachSecondaries();
      return img;
    } catch (e) {
      for (const d of devices.values()) d.close();
      if (lockFd !== undefined) {
        try { flock(lockFd, LOCK_UN); } catch { /* closing releases it anyway */ }
        fs.closeSync(lockFd);
      }
      throw e;
    }
  }

  get header(): LogHeader {
    return this.logHeader;
  }
  get scan(): ScanState {
    return this.scanState;
  }
  get logLen(): number {
    return this.sb.logLen;
  }
  get logSlots(): number {
    return this.logHeader.lastIndex + 1;
  }
  get logFull(): boolean {
    return this.logHeader.nextIndex > this.logHeader.lastIndex;
  }
  /** The placement policy of the layout the image was opened with, if any. */
  get layoutPolicy(): Layout['policy'] | undefined {
    return this.layout?.policy;
  }
  /** The mapped devices' names (their paths), in daxdev index order. */
  get deviceNames(): string[] {
    return [...this.devices.entries()].sort(([a], [b]) => a - b).map(([, d]) => d.name);
  }

  /** The raw log region (read-only use: fsck, benchmarks); where the primary cannot be viewed, a copy of its used part. */
  get logBytes(): Buffer {
    return this.log;
  }

  /** Map the layout's secondary daxdevs that the log knows, checking their tags. */
  private attachSecondaries(): void {
    if (!this.layout) return;
    for (const [index, known] of this.scanState.daxdevs) {
      if (index === 0 || this.devices.has(index)) continue;
      const dax = this.layout.daxdevs.find((d) => d.index === index);
      if (!dax) continue; // files on it fail to read with a clear error
      const mem = openDev(dax, this.writable);
      const tagBytes = Buffer.alloc(64);
      try {
        if (mem.size < known.size) throw new ImageError(`daxdev ${index} (${dax.name}): ${mem.size} bytes, the log says ${known.size}`, 'EIO');
        mem.read(0, tagBytes);
        const tag = decodeTag(tagBytes);
        if (typeof tag === 'string') throw new ImageError(`daxdev ${index} (${dax.name}): ${tag}`, 'EIO');
        if (!known.uuid || !uuidEqual(tag.devUuid, known.uuid) || !uuidEqual(tag.fsUuid, this.sb.uuid) || tag.index !== index) {
          throw new ImageError(`daxdev ${index} (${dax.name}): its tag (uuid ${formatUuid(tag.devUuid)}, index ${tag.index}) does not match the log's ADD_DAXDEV entry`, 'EIO');
        }
      } catch (e) {
        mem.close();
        throw e;
      }
      this.devices.set(index, mem);
    }
  }

  /** Re-read the header and replay entries appended since; returns how many were new. */
  refresh(): number {
    this.checkOpen();
    const before = this.scanState.scanned;
    const primary = this.devices.get(0)!;
    let h: LogHeader | undefined;
    if (!this.logIsView) {
      // A copied log (an emulated region, the simulator): re-read the header, then only the
      // entries not scanned yet.
      this.log = readLogCopy(primary, this.log, before, this.sb.logLen);
    } else {
      h = invalidateLogView(primary, this.log, before, this.sb.logLen);
    }
    // Undefined: the header did not decode; decoding again reports why.
    this.logHeader = h ?? decodeLogHeader(this.log, this.sb.logLen);
    this.replay();
    if (this.layout) this.attachSecondaries();
    return this.scanState.scanned - before;
  }

  /**
   * Apply the entries scanned since the last replay. A bad entry (CRC, seqnum, contents) is
   * skipped and the replay goes on, as famfs_build_bitmap does, so the files logged after it
   * are still seen and their extents still allocated (famfs's logplay returns at the first
   * one instead; see README "Damaged logs"). The bad entries are in `badEntries`.
   */
  private replay(): void {
    const st = this.scanState;
    const from = st.scanned;
    scanEntries(st, this.log, this.logHeader, { tailInFlight: this.tailInFlight });
    for (let i = from; i < st.scanned; i++) {
      const e = st.entries[i];
      if (e) this.namespace.apply(e, i);
    }
  }

  /** The last entry, still being written by another host (tailInFlight images), or undefined. */
  get inFlight(): BadEntry | undefined {
    return this.scanState.inFlight;
  }

  /** Log entries that failed their checks, in index order. */
  get badEntries(): readonly BadEntry[] {
    return this.scanState.bad;
  }

  /** One line saying the namespace misses the bad entries' files, or undefined when none. */
  get damage(): string | undefined {
    return damageSummary(this.source, this.scanState.bad);
  }

  lookup(path: string): Node | undefined {
    return this.namespace.lookup(path);
  }

  readdir(path: string): Node[] {
    const n = this.namespace.lookup(path);
    if (!n) throw new ImageError(`${path}: No such file or directory`, 'ENOENT');
    if (n.kind !== 'dir') throw new ImageError(`${path}: Not a directory`, 'ENOTDIR');
    return [...n.children.keys()].sort().map((k) => n.children.get(k)!);
  }

  file(path: string): FileNode {
    const n = this.namespace.lookup(path);
    if (!n) throw new ImageError(`${path}: No such file or directory`, 'ENOENT');
    if (n.kind !== 'file') throw new ImageError(`${path}: Is a directory`, 'EISDIR');
    return n;
  }

  private checkOpen(): void {
    if (this.closed) throw new ImageError(`${this.source}: image is closed`, 'EBADF');
  }

  private checkAppend(): void {
    this.checkOpen();
    if (this.role !== 'master') throw new ImageError(`${this.source}: Error not running on FAMFS_MASTER node`, 'EPERM');
    if (!this.writable) throw new ImageError(`${this.source}: image opened read-only`, 'EROFS');
    const bad = this.scanState.bad;
    if (bad.length && !this.force) throw new ImageError(writeRefusal(this.source, bad), 'EIO');
  }

  /** The allocation session (famfs_locked_log): bitmaps copied from the scan, cur_pos 0. */
  private session(): Allocator {
    if (!this.allocator || this.allocatorAt !== this.scanState.scanned) {
      // Entries appeared that this session did not write: start a new one.
      const copies = new Map<number, Bitmap>();
      for (const [k, b] of this.scanState.bitmaps) {
        const c = new Bitmap(b.nbits);
        c.bits.set(b.bits);
        copies.set(k, c);
      }
      const sizes = new Map<number, number>([...this.scanState.daxdevs].map(([k, d]) => [k, d.size]));
      this.allocator = new Allocator(copies, sizes);
    }
    return this.allocator;
  }

  /** Append one entry (famfs_append_log, famfs-format.md §3.6): entry first, then the header counters. */
  append(entry: NewEntry): number {
    this.checkAppend();
    this.refresh();
    // The refresh may have met a bad entry another writer left.
    this.checkAppend();
    const h = this.logHeader;
    if (h.nextIndex > h.lastIndex) throw new ImageError(`${this.source}: log full`, 'ENOMEM');
    const index = h.nextIndex;
    // seqnum == index always (both start at 0 and advance together).
    const bytes = encodeEntry(entry, h.nextSeqnum);
    const primary = this.devices.get(0)!;
    // The entry reaches memory before the counters that publish it: a host that reads
    // next_index then finds the entry whole. famfs writes both and flushes the whole log
    // once, relying on the entry CRC when the header line lands first (famfs_append_log).
    this.storeLog(LOG_OFFSET + entryOffset(index), bytes);
    const counters = Buffer.allocUnsafe(16);
    counters.writeBigUInt64LE(BigInt(h.nextSeqnum + 1), 0);
    counters.writeBigUInt64LE(BigInt(index + 1), 8);
    this.storeLog(LOG_OFFSET + logHeaderStruct.offsetOf('famfs_log_next_seqnum'), counters);
    const ownSession = this.allocator !== undefined && this.allocatorAt === this.scanState.scanned;
    if (this.logIsView && entry.type !== 'add-daxdev') {
      // The log is viewed in place and this writer holds it (the refresh above found every
      // other entry): the header now says what was just stored, so the new entry is replayed
      // from the view (CRC, decode, allocation, namespace) without reading and decoding the
      // header again (this host stored and flushed both). A copied log (emulated
      // regions, the simulator) refreshes as before, and so does a new daxdev (it is mapped).
      // The invalidations are refresh()'s (README "Caches on shared memory").
      primary.invalidate(LOG_OFFSET, LOG_HEADER_SIZE);
      primary.invalidate(LOG_OFFSET + entryOffset(index), bytes.length);
      this.logHeader = { ...h, nextSeqnum: h.nextSeqnum + 1, nextIndex: index + 1 };
      this.replay();
    } else {
      this.refresh();
    }
    if (ownSession) this.allocatorAt = this.scanState.scanned;
    return index;
  }

  /**
   * The log is viewed in place and every page of it has memory behind it (set at the first
   * append). Stores then go through the view: in an image file a pwrite(2) each (two per
   * entry) cost more than the rest of an append (bench/meta-mount/README.md, ninth pass),
   * and a page the file system gave at the first append cannot be SIGBUS.
   */
  private logResident?: boolean;

  /**
   * Where the log's pages stop being mapped ahead of its tail (populateLog), or Infinity
   * when the device cannot map ahead.
   */
  private logMapped = 0;

  private storeLog(at: number, bytes: Buffer): void {
    const primary = this.devices.get(0)!;
    if ((this.logResident ??= this.logIsView && this.backLog())) {
      if (at + bytes.length > this.logMapped) this.populateLog(primary, at + bytes.length);
      bytes.copy(this.log, at - LOG_OFFSET);
    } else primary.write(at, bytes);
    primary.flush(at, bytes.length);
  }

  /**
   * Map the log's pages up to `end` and LOG_MAP_AHEAD beyond in one call: an entry is 544
   * bytes, so every eighth append was the first store to a page, a page fault of 40-50 µs
   * on this project's VMs (bench/meta-mount/README.md, "Tenth pass").
   */
  private populateLog(primary: DaxdevMemory, end: number): void {
    const from = Math.max(this.logMapped, LOG_OFFSET);
    const to = Math.min(LOG_OFFSET + this.sb.logLen, end + LOG_MAP_AHEAD);
    this.logMapped = primary.populate?.(from, to - from) ? to : Infinity;
  }

  private backLog(): boolean {
    try {
      return this.devices.get(0)!.back?.(LOG_OFFSET, this.sb.logLen) ?? false;
    } catch {
      return false; // no room for the log's holes: each store is a pwrite, ENOSPC if it must be
    }
  }

  /**
   * Create a file of `size` bytes (famfs creat/cp): allocate, log, replay. The path's parent
   * must exist; the path must not.
   */
  creat(path: string, size: number, opts: CreatOptions = {}): FileNode {
    this.checkAppend();
    this.refresh();
    const rel = relpathOf(path);
    if (!Number.isSafeInteger(size) || size <= 0) throw new ImageError(`${path}: Creating empty file (${size}) not allowed`, 'EINVAL');
    const where = this.parentDir(rel);
    if (where.parent.children.has(where.name)) throw new ImageError(`${path}: File exists`, 'EEXIST');
    if (this.logFull) throw new ImageError(`${this.source}: log full`, 'ENOMEM');
    const alloc = this.session();
    this.allocatorAt = this.scanState.scanned;
    let map: FileMap;
    try {
      map = alloc.alloc(size, opts);
    } catch (e) {
      if (e instanceof AllocError) throw new ImageError(`${path}: ${e.message}`, e.errno, { cause: e });
      throw e;
    }
    this.append({ type: 'file', path: rel, size, flags: FM_ALL_HOSTS_RW, uid: opts.uid ?? euid(), gid: opts.gid ?? egid(), mode: (opts.mode ?? 0o644) & 0o7777, map });
    return this.file(rel);
  }

  /** Log a file with a given FileMap (no allocation: tools and tests, e.g. famfs clone). */
  logFile(path: string, map: FileMap, opts: { mode?: number; uid?: number; gid?: number } = {}): FileNode {
    const rel = relpathOf(path);
    const index = this.append({ type: 'file', path: rel, size: map.size, flags: FM_ALL_HOSTS_RW, uid: opts.uid ?? euid(), gid: opts.gid ?? egid(), mode: (opts.mode ?? 0o644) & 0o7777, map });
    // The allocation session did not place this map: the next creat must start a new one
    // from the scan, or it could hand out these extents again.
    this.allocatorAt = -1;
    // The node log entry i made is node i + 2 (namespace.ts): no second walk of the path.
    const made = this.namespace.node(index + 2);
    const n = made?.path === rel ? made : this.namespace.lookup(rel);
    if (!n || n.kind !== 'file') throw new ImageError(`${path}: logged but not replayed (see logplay)`, 'EIO');
    return n;
  }

  private parentDir(rel: string): { parent: DirNode; name: string } {
    try {
      return this.namespace.parentOf(rel);
    } catch (e) {
      if (e instanceof PathError) throw new ImageError(e.message, e.errno, { cause: e });
      throw e;
    }
  }

  mkdir(path: string, opts: MkdirOptions = {}): DirNode {
    this.checkAppend();
    this.refresh();
    const rel = relpathOf(path);
    const entry = (p: string): NewEntry => ({ type: 'mkdir', path: p, uid: opts.uid ?? euid(), gid: opts.gid ?? egid(), mode: (opts.mode ?? 0o755) & 0o7777 });
    if (!opts.parents) {
      const where = this.parentDir(rel);
      if (where.parent.children.has(where.name)) throw new ImageError(`${path}: File exists`, 'EEXIST');
      this.append(entry(rel));
    } else {
      const parts = rel.split('/');
      for (let k = 1; k <= parts.length; k++) {
        const sub = parts.slice(0, k).join('/');
        const n = this.namespace.lookup(sub);
        if (n?.kind === 'dir') continue;
        if (n) throw new ImageError(`${path}: ${sub} exists and is not a directory`, 'ENOTDIR');
        // mkdir -p logs one entry per created component (famfs-format.md §3.7).
        this.append(entry(sub));
      }
    }
    const n = this.namespace.lookup(rel);
    if (!n || n.kind !== 'dir') throw new ImageError(`${path}: logged but not replayed`, 'EIO');
    return n;
  }

  private dev(index: number): DaxdevMemory {
    const d = this.devices.get(index);
    if (!d) throw new ImageError(`${this.source}: daxdev ${index} is not mapped (give a layout that maps it)`, 'EIO');
    return d;
  }

  /** Read file bytes at `pos` into `dst`; returns the count (short at EOF). */
  read(file: FileNode, pos: number, dst: Uint8Array): number {
    this.checkOpen();
    let n = 0;
    for (const m of this.mappings(file, pos, dst.byteLength)) {
      // Another host may have written it (famfs verify invalidates the file first).
      const d = this.dev(m.daxdev);
      d.invalidate(m.offset, m.length);
      d.read(m.offset, dst.subarray(m.pos - pos, m.pos - pos + m.length));
      n += m.length;
    }
    return n;
  }

  /**
   * Where [pos, pos+len) of a file lives, checked against the mapped daxdevs first, so a
   * corrupt map gives an error naming the file instead of an access outside a device.
   */
  mappings(file: FileNode, pos: number, len: number): ReturnType<typeof resolveRange> {
    let ms;
    try {
      ms = resolveRange(file.map, pos, len);
    } catch (e) {
      throw new ImageError(`${file.path}: ${(e as Error).message}`, 'EIO', { cause: e });
    }
    for (const m of ms) {
      const d = this.dev(m.daxdev);
      if (m.offset + m.length > d.size) throw new ImageError(`${file.path}: extent at daxdev ${m.daxdev} offset 0x${m.offset.toString(16)} runs past the device (${d.size} bytes)`, 'EIO');
    }
    return ms;
  }

  /** Write file bytes at `pos` (files never grow: clipped at the size); returns the count. */
  write(file: FileNode, pos: number, src: Uint8Array): number {
    this.checkOpen();
    if (!this.writable) throw new ImageError(`${this.source}: image opened read-only`, 'EROFS');
    let n = 0;
    for (const m of this.mappings(file, pos, src.byteLength)) {
      // famfs cp and creat -r flush the data they wrote (__famfs_copy_file_data).
      const d = this.dev(m.daxdev);
      d.write(m.offset, src.subarray(m.pos - pos, m.pos - pos + m.length));
      d.flush(m.offset, m.length);
      n += m.length;
    }
    return n;
  }

  /** The indexes of the daxdevs this host maps. */
  daxdevIndexes(): number[] {
    return [...this.devices.keys()];
  }

  /** The memory of daxdev `index` (mount servers hand out slices of it). */
  daxdev(index: number): DaxdevMemory {
    return this.dev(index);
  }

  sync(): void {
    for (const d of this.devices.values()) d.sync();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.writable) {
      try { this.sync(); } catch { /* best effort: emulated devices share the page cache */ }
    }
    for (const d of this.devices.values()) d.close();
    if (this.lockFd !== undefined) {
      try { flock(this.lockFd, LOCK_UN); } finally { fs.closeSync(this.lockFd); }
    }
  }
}

/**
 * Before reading a log in place: drop this host's cached lines of the header, then of the
 * entries it counts from index `from` on, so both come from memory, not from lines cached
 * earlier (README "Caches on shared memory"). Only those: famfs invalidates the whole log,
 * but touching all of it faults in every page of an 8 MiB log. Returns the header it used
 * (undefined when it does not decode).
 */
function invalidateLogView(primary: DaxdevMemory, log: Buffer, from: number, logLen: number): LogHeader | undefined {
  primary.invalidate(LOG_OFFSET, LOG_HEADER_SIZE);
  let h: LogHeader;
  try {
    // Decoded from one copy: the master may move next_index on meanwhile, and entries past
    // the ones invalidated here must wait for the next refresh.
    h = decodeLogHeader(Buffer.from(log.subarray(0, LOG_HEADER_SIZE)), logLen);
  } catch {
    return undefined;
  }
  if (h.nextIndex > from) primary.invalidate(LOG_OFFSET + entryOffset(from), entryOffset(h.nextIndex) - entryOffset(from));
  return h;
}

/**
 * Read a log header from memory into `log` (a copy of the start of a `logLen`-byte log
 * region), then the entries it counts from index `from` on, each range invalidated first.
 * Returns the copy, grown to hold those entries.
 */
function readLogCopy(primary: DaxdevMemory, log: Buffer, from: number, logLen: number): Buffer {
  primary.invalidate(LOG_OFFSET, LOG_HEADER_SIZE);
  primary.read(LOG_OFFSET, log.subarray(0, LOG_HEADER_SIZE));
  let next: number;
  try {
    next = decodeLogHeader(log, logLen).nextIndex;
  } catch {
    return log; // the caller decodes it again and reports the problem
  }
  if (next <= from) return log;
  const at = entryOffset(from);
  const end = entryOffset(next);
  if (end > log.length) {
    const grown = Buffer.alloc(Math.min(logLen, Math.max(end, 2 * log.length)));
    log.copy(grown);
    log = grown;
  }
  primary.invalidate(LOG_OFFSET + at, end - at);
  primary.read(LOG_OFFSET + at, log.subarray(at, end));
  return log;
}

function primaryPath(d: Daxdev): string {
  return d.backing.kind === 'device' ? d.backing.device.path : d.backing.members[0]!.path;
}

function openPath(path: string, writable: boolean): DaxdevMemory {
  let size: number;
  try {
    size = deviceSize(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageError(`${path}: device not found`, 'ENOENT', { cause: e });
    const msg = (e as Error).message;
    throw new ImageError(msg.startsWith(`${path}:`) ? msg : `${path}: ${msg}`, 'EINVAL', { cause: e });
  }
  if (size <= 0) throw new ImageError(`${path}: device is empty`, 'EINVAL');
  return MappedDevice.open(path, { writable, size });
}

function openDev(d: Daxdev, writable: boolean): DaxdevMemory {
  if (d.backing.kind === 'device') return openPath(d.backing.device.path, writable);
  return openDaxdev(d, { writable });
}
