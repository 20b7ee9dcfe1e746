// Memory devices as byte-addressable memory. A daxdev is either one mapped device (a file,
// a /dev/shm file, /dev/daxX.Y, /dev/pmemX, a loop device) or an emulated hardware region
// whose bytes are spread over its members by the controller arithmetic. Either way the
// caller asks for `slices(offset, length)`: zero-copy views into the mappings, one per
// physically contiguous piece, which a FUSE reply can hand to writev as they are.
import fs from 'node:fs';
import path from 'node:path';
import { toController, granuleRemainder } from '../interleave/controller.js';
import type { Daxdev, Region } from '../interleave/layout.js';
import { allocateRange, mmapShared, punchHole, pwriteAll, SEEK_DATA, SEEK_HOLE, seekDataOrHole, viewMapping, type Mapped } from '../sys/libc.js';
import { blockDeviceSize } from '../sys/ioctl.js';
import { ErrnoError, type ErrnoName } from '../errno.js';
import { cacheMaintenanceFor, nativeCacheMaintenance, NO_CACHE_MAINTENANCE, type CacheMaintenance } from './cache.js';

/** A device that cannot be used as asked: EIO unless a better errno is given. */
export class DeviceError extends ErrnoError {
  constructor(message: string, code: ErrnoName = 'EIO', options?: ErrorOptions) {
    super(message, code, options);
  }
}

/**
 * A mapped device as plain data for another thread of this process (a FUSE serving thread):
 * the addresses of the mapping windows shared so far, `[window, address]`, which that thread
 * views in place (attachSpec). Only windows asked for are shared: V8 counts every view
 * towards its external memory, and viewing a whole 64 GiB device made it collect 8x as often.
 */
export interface SharedDevice {
  readonly path: string;
  readonly size: number;
  readonly windows: readonly (readonly [number, bigint])[];
  /** The owner maintains CPU caches on this device (cache.ts); the viewer must too. */
  readonly cacheMaintenance: boolean;
  /**
   * An image file's descriptor (the owner's; descriptors belong to the whole process): the
   * viewer finds the file's holes with it (readSlices) and never closes it.
   */
  readonly fileDescriptor?: number;
}

/** A daxdev as plain data for another thread: one shared device, or a region's members. */
export type DeviceSpec =
  | ({ readonly kind: 'device' } & SharedDevice)
  | { readonly kind: 'region'; readonly name: string; readonly size: number; readonly region: Region; readonly members: readonly SharedDevice[] };

export interface DaxdevMemory {
  readonly name: string;
  readonly size: number;
  /**
   * Share the mappings covering `runs` (`[offset, length]`, mapped now if they were not) with
   * another thread, with every window shared before. The owner must keep them until that
   * thread is done with them.
   */
  share(runs: readonly (readonly [number, number])[]): DeviceSpec;
  /** Views of [offset, offset+length); throws DeviceError if any byte is outside the device. */
  slices(offset: number, length: number): Buffer[];
  /**
   * slices() for reading: where the device is an image file, its holes come as zeros, not as
   * views. Reading a hole through the mapping needs a page (tmpfs gives every fault one),
   * and on a full file system that is SIGBUS in the reading thread, or EFAULT for a reply
   * the kernel copies from the view. Absent: slices() serves.
   */
  readSlices?(offset: number, length: number): Buffer[];
  read(offset: number, dst: Uint8Array): void;
  write(offset: number, src: Uint8Array): void;
  /**
   * Write back this host's cached lines of [offset, offset+length) so other hosts can see
   * them (famfs flush_processor_cache). Nothing on devices without cache maintenance.
   */
  flush(offset: number, length: number): void;
  /**
   * Drop this host's cached lines of the range so the next loads read what other hosts
   * flushed (famfs invalidate_processor_cache).
   */
  invalidate(offset: number, length: number): void;
  /**
   * False where slices() cannot view the memory itself (the non-coherent memory simulator
   * of the tests, which must see every load and store): callers then use read()/write().
   */
  readonly views: boolean;
  /** Make stores durable (msync) on file-backed devices. */
  sync(): void;
  /**
   * Give [offset, offset+length) memory behind it before other threads store there through
   * the mapping: an image file allocates its holes (fallocate), so that a full file system
   * is ENOSPC here, not SIGBUS in a serving thread. Nothing where there are no holes.
   * True when the range has its memory now (always, on a device without holes); false when
   * that cannot be known (a file system without fallocate, a read-only descriptor).
   */
  back?(offset: number, length: number): boolean;
  /**
   * Map [offset, offset+length) into this process now, for stores: the first store to a page
   * not mapped yet is a page fault, which costs tens of µs on a paravirtualised VM and is
   * taken once per page of a log written an entry at a time. False where it cannot be done
   * (then each page faults at its first store, as before). Absent: nothing to map.
   */
  populate?(offset: number, length: number): boolean;
  /**
   * Make [offset, offset+length) read as zeros without storing them: an image file punches
   * a hole there (its pages go back to the file system). False where it cannot (a real
   * device, a file system without hole punching): storeZeros() then stores them.
   */
  zero?(offset: number, length: number): boolean;
  close(): void;
}

/** The unit MappedDevice tracks holes of an image file by (famfs's allocation unit). */
const DATA_UNIT = 2 * 1024 * 1024;

/** Zeros to store from (never written to). */
const ZEROS = Buffer.alloc(1 << 20);

/**
 * [offset, offset+length) of `d` reads as zeros, on this host and (flushed) every other: a
 * hole punched in an image file, zeros stored (and flushed) into any other memory. Storing
 * zeros into a sparse image gave a 100 GiB `creat -s` 100 GiB of tmpfs pages.
 */
export function storeZeros(d: DaxdevMemory, offset: number, length: number): void {
  if (length <= 0 || d.zero?.(offset, length)) return;
  // Stored like data (write(): an image file takes them by pwrite, never a fault, so a full
  // disk is ENOSPC and not SIGBUS), a chunk at a time.
  for (let at = 0; at < length; at += ZEROS.length) d.write(offset + at, ZEROS.subarray(0, Math.min(ZEROS.length, length - at)));
  d.flush(offset, length);
}

/** Size of a memory device path: regular file length, devdax size from sysfs, block size by ioctl. */
export function deviceSize(devPath: string): number {
  const st = fs.statSync(devPath);
  if (st.isFile()) return st.size;
  if (st.isCharacterDevice()) {
    // /dev/daxX.Y: the size lives in sysfs, not in stat.
    const name = path.basename(fs.realpathSync(devPath));
    const sys = `/sys/bus/dax/devices/${name}/size`;
    try {
      return Number(fs.readFileSync(sys, 'utf8').trim());
    } catch (e) {
      throw new DeviceError(`${devPath}: a character device without ${sys}; not a devdax device`, 'ENODEV', { cause: e });
    }
  }
  if (st.isBlockDevice()) {
    const fd = fs.openSync(devPath, 'r');
    try {
      return blockDeviceSize(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  throw new DeviceError(`${devPath}: not a regular file, devdax or block device`, 'ENODEV');
}

/** A character device bound to fsdev_dax: famfs mode, where the kernel maps the daxdev and famfs-ts does not. */
export function isFamfsModeDaxdev(device: string): boolean {
  try {
    if (!fs.statSync(device).isCharacterDevice()) return false;
    const name = path.basename(fs.realpathSync(device));
    return path.basename(fs.readlinkSync(`/sys/bus/dax/devices/${name}/driver`)) === 'fsdev_dax';
  } catch {
    return false;
  }
}

/**
 * For a famfs-mode daxdev on a kernel without famfs FUSE: the commands that put it back in
 * devdax mode, where famfs-ts maps it itself.
 */
export function devdaxModeCommand(devPath: string): string {
  const name = path.basename(fs.realpathSync(devPath));
  return `daxctl reconfigure-device --mode=devdax ${name}, or echo ${name} > /sys/bus/dax/drivers/fsdev_dax/unbind; echo ${name} > /sys/bus/dax/drivers/device_dax/bind`;
}

/**
 * famfs-ts maps a devdax device itself, which only the device_dax driver allows (devdax mode).
 * In famfs mode (fsdev_dax) mmap fails ENODEV and in system-ram mode (kmem) the memory belongs
 * to the kernel: refuse before mapping, naming the mode and the commands that change it.
 */
function checkDevdaxMode(devPath: string): void {
  const name = path.basename(fs.realpathSync(devPath));
  const sys = `/sys/bus/dax/devices/${name}`;
  if (!fs.existsSync(sys)) return; // not a dax device: deviceSize() says so
  let driver: string | undefined;
  try {
    driver = path.basename(fs.readlinkSync(`${sys}/driver`));
  } catch {
    driver = undefined;
  }
  const toDevdax = `echo ${name} > /sys/bus/dax/drivers/device_dax/bind`;
  if (driver === 'device_dax') return;
  if (driver === undefined) {
    throw new DeviceError(`${devPath}: ${name} is bound to no driver; famfs-ts needs devdax mode: ${toDevdax}`);
  }
  const mode = driver === 'fsdev_dax' ? 'famfs mode (driver fsdev_dax, which has no mmap)'
    : driver === 'kmem' ? 'system-ram mode (driver kmem: the memory is online as system RAM)'
      : `the mode of driver ${driver}`;
  const how = driver === 'kmem' ? `daxctl reconfigure-device --mode=devdax ${name}`
    : `daxctl reconfigure-device --mode=devdax ${name}, or echo ${name} > /sys/bus/dax/drivers/${driver}/unbind; ${toDevdax}`;
  throw new DeviceError(`${devPath}: ${name} is in ${mode}; famfs-ts maps the device itself and needs devdax mode: ${how}`);
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new DeviceError(`${name}: access [${offset}, ${offset + length}) is outside the device (size ${size})`);
  }
}

function copyIn(mem: DaxdevMemory, offset: number, src: Uint8Array): void {
  let at = 0;
  for (const s of mem.slices(offset, src.byteLength)) {
    s.set(src.subarray(at, at + s.byteLength));
    at += s.byteLength;
  }
}

/** Views of [offset, offset+length) to read from: readSlices() where the device has it, else slices(). */
export function readViews(mem: DaxdevMemory, offset: number, length: number): Buffer[] {
  return mem.readSlices?.(offset, length) ?? mem.slices(offset, length);
}

function copyOut(mem: DaxdevMemory, offset: number, dst: Uint8Array): void {
  let at = 0;
  for (const s of readViews(mem, offset, dst.byteLength)) {
    dst.set(s, at);
    at += s.byteLength;
  }
}

/**
 * One device, mapped MAP_SHARED in 1 GiB windows on first touch: opening a large device maps
 * (and makes V8 account for) only what is used, and devices past what one Buffer can view
 * (buffer.constants.MAX_LENGTH, 4 GiB on Node 20) work. slices() returns one view per
 * window crossed; a device of at most one window is a single view.
 */
export class MappedDevice implements DaxdevMemory {
  static readonly WINDOW = 1024 ** 3;
  readonly views = true;
  private readonly maps: (Mapped | undefined)[];
  /** fd < 0: the windows belong to another thread's MappedDevice (attach). */
  private constructor(
    readonly name: string, private readonly fd: number, readonly size: number, private readonly writable: boolean,
    readonly cache: CacheMaintenance,
  ) {
    this.maps = new Array<Mapped | undefined>(Math.ceil(size / MappedDevice.WINDOW)).fill(undefined);
  }

  /** View the windows another thread shared (share()); close() leaves them to their owner. */
  static attach(shared: SharedDevice): MappedDevice {
    const d = new MappedDevice(shared.path, -1, shared.size, true, shared.cacheMaintenance ? nativeCacheMaintenance() : NO_CACHE_MAINTENANCE);
    d.fileFd = shared.fileDescriptor ?? -1;
    d.adopt(shared);
    return d;
  }

  /** Add the windows of a later share() of the same device to an attached one. */
  adopt(shared: SharedDevice): void {
    if (this.fd >= 0 || shared.path !== this.name || shared.size !== this.size) throw new DeviceError(`${this.name}: cannot adopt windows of ${shared.path}`);
    const W = MappedDevice.WINDOW;
    for (const [w, address] of shared.windows) {
      if (this.maps[w] || w < 0 || w >= this.maps.length) continue;
      const length = Math.min(W, this.size - w * W);
      this.maps[w] = { bytes: viewMapping(address, length), length, address, unmap() {}, sync() {}, populate: () => false };
    }
  }

  /** `cache`: the maintenance to use; by default the process mode's choice for devPath (cache.ts). */
  static open(devPath: string, opts: { writable?: boolean; size?: number; cache?: CacheMaintenance } = {}): MappedDevice {
    const writable = opts.writable ?? true;
    const st = fs.statSync(devPath);
    const devdax = st.isCharacterDevice();
    if (devdax) checkDevdaxMode(devPath);
    const size = opts.size ?? deviceSize(devPath);
    if (size <= 0) throw new DeviceError(`${devPath}: size is 0`);
    // Mapping past the end of a file faults (SIGBUS) at the first touch: refuse at open.
    if (opts.size !== undefined) {
      const real = deviceSize(devPath);
      if (real < size) throw new DeviceError(`${devPath}: ${real} bytes, but ${size} are expected (the layout's size)`);
    }
    const d = new MappedDevice(devPath, fs.openSync(devPath, writable ? 'r+' : 'r'), size, writable, opts.cache ?? cacheMaintenanceFor(devPath));
    d.devdax = devdax;
    if (st.isFile()) d.fileFd = d.fd;
    return d;
  }

  /** A devdax mapping is the memory itself: there is no page cache for msync to write back (it says EINVAL). */
  private devdax = false;
  /**
   * A regular file (a device emulated in tmpfs or on disk): stores go through pwrite(2).
   * A store through the mapping into a page the file does not have yet takes a page fault,
   * which cost 46-58 µs for 4 KiB and 228-240 µs for 64 KiB on this project's VMs, against
   * 4-5 and 13-15 µs for pwrite; into a page already there pwrite costs 3.3-3.8 µs against
   * 1.1-2.6 (bench/meta-mount/README.md, eighth pass). A file system with large folios (ext4,
   * Linux 6.16+) also backed each faulted page of a sparse image with a 2 MiB folio, dirty
   * and allocated on disk. And a full disk is ENOSPC here, where a store would be SIGBUS.
   * The descriptor of such a file (the owner's, also in an attached copy), or -1.
   */
  private fileFd = -1;
  /**
   * Bit per 2 MiB unit of an image file seen to hold no hole. Only zero() punches holes, and
   * only in reservations of files being written, which no serving thread reads: the owner
   * clears its own bits for them.
   */
  private dataUnits?: Uint8Array;
  /** Windows share() handed out so far. */
  private readonly shared = new Set<number>();

  share(runs: readonly (readonly [number, number])[]): DeviceSpec & { kind: 'device' } {
    if (this.fd < 0) throw new DeviceError(`${this.name}: attached mappings are not shared again`);
    const W = MappedDevice.WINDOW;
    for (const [offset, length] of runs) checkRange(this.name, this.size, offset, length);
    for (const [offset, length] of runs) {
      for (let w = Math.floor(offset / W); w * W < offset + length; w++) {
        this.window(w);
        this.shared.add(w);
      }
    }
    // Only windows shared (not every one this thread mapped: a mount maps all at INIT).
    const windows: [number, bigint][] = [];
    this.maps.forEach((m, w) => m && this.shared.has(w) && windows.push([w, m.address]));
    return { kind: 'device', path: this.name, size: this.size, windows, cacheMaintenance: this.cache.active, ...(this.fileFd >= 0 && { fileDescriptor: this.fileFd }) };
  }

  /** The file descriptor, for locks and ioctls. */
  get descriptor(): number {
    return this.fd;
  }

  /** [offset, offset+length) as one view; throws where it would cross a 1 GiB window. */
  view(offset: number, length: number): Buffer {
    const s = this.slices(offset, length);
    if (s.length !== 1) throw new DeviceError(`${this.name}: [${offset}, ${offset + length}) crosses a mapping window; use slices()`);
    return s[0]!;
  }

  private window(w: number): Buffer {
    let m = this.maps[w];
    if (!m) {
      if (this.fd < 0) throw new DeviceError(`${this.name}: window ${w} was not shared with this thread`);
      const W = MappedDevice.WINDOW;
      m = mmapShared(this.fd, Math.min(W, this.size - w * W), w * W, this.writable);
      this.maps[w] = m;
    }
    return m.bytes;
  }

  slices(offset: number, length: number): Buffer[] {
    checkRange(this.name, this.size, offset, length);
    const W = MappedDevice.WINDOW;
    const w = Math.floor(offset / W);
    const at = offset - w * W;
    // The common case (and every access to a device of one window): one view.
    if (at + length <= W) return [this.window(Math.min(w, this.maps.length - 1)).subarray(at, at + length)];
    const out: Buffer[] = [];
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const wi = Math.floor(pos / W);
      const a = pos - wi * W;
      const n = Math.min(W - a, end - pos);
      out.push(this.window(wi).subarray(a, a + n));
      pos += n;
    }
    return out;
  }
  readSlices(offset: number, length: number): Buffer[] {
    if (this.fileFd < 0 || length === 0 || this.allData(offset, length)) return this.slices(offset, length);
    checkRange(this.name, this.size, offset, length);
    const out: Buffer[] = [];
    const end = offset + length;
    for (let pos = offset; pos < end;) {
      const data = Math.min(seekDataOrHole(this.fileFd, pos, SEEK_DATA) ?? end, end);
      if (data > pos) {
        out.push(Buffer.alloc(data - pos));
        pos = data;
        continue;
      }
      const hole = Math.min(seekDataOrHole(this.fileFd, pos, SEEK_HOLE) ?? end, end);
      out.push(...this.slices(pos, hole - pos));
      pos = hole;
    }
    return out;
  }

  /**
   * [offset, offset+length) is all data in the image file: one lseek per 2 MiB unit it
   * touches, none for a unit seen whole before. A file's first bytes sit at the start of its
   * unit, so a read of a file that is data up to some point needs just the lseek from there.
   */
  private allData(offset: number, length: number): boolean {
    const U = DATA_UNIT;
    const end = offset + length;
    const seen = (this.dataUnits ??= new Uint8Array(Math.ceil(this.size / U / 8)));
    for (let u = Math.floor(offset / U); u * U < end; u++) {
      if (seen[u >> 3]! & (1 << (u & 7))) continue;
      const start = u * U;
      const stop = Math.min(start + U, this.size);
      const hole = seekDataOrHole(this.fileFd, start, SEEK_HOLE) ?? start;
      if (hole >= stop) {
        // Everything up to the hole is data: every unit before it is seen whole now. The
        // kernel walked those pages to find the hole (1.6 ms for 256 MiB of tmpfs), and a
        // unit at a time that walk was made again for each unit of a large file.
        const dataEnd = Math.min(hole, this.size);
        for (let v = u; v * U < dataEnd && ((v + 1) * U <= dataEnd || dataEnd === this.size); v++) seen[v >> 3]! |= 1 << (v & 7);
        continue;
      }
      const from = Math.max(start, offset);
      const to = Math.min(stop, end);
      if (hole >= to) continue;
      if (hole > from || (seekDataOrHole(this.fileFd, from, SEEK_HOLE) ?? from) < to) return false;
    }
    return true;
  }
  read(offset: number, dst: Uint8Array): void {
    copyOut(this, offset, dst);
  }
  back(offset: number, length: number): boolean {
    if (this.fileFd < 0 || length <= 0) return true;
    if (this.fd < 0 || !this.writable) return false;
    checkRange(this.name, this.size, offset, length);
    return allocateRange(this.fd, offset, length, `of ${length} bytes of ${this.name} at ${offset}`);
  }
  populate(offset: number, length: number): boolean {
    if (!this.writable) return false;
    checkRange(this.name, this.size, offset, length);
    const W = MappedDevice.WINDOW;
    let ok = true;
    for (let w = Math.floor(offset / W); w * W < offset + length; w++) {
      this.window(w);
      const from = Math.max(offset, w * W) - w * W;
      const to = Math.min(offset + length, (w + 1) * W) - w * W;
      ok = this.maps[w]!.populate(from, to - from) && ok;
    }
    return ok;
  }
  zero(offset: number, length: number): boolean {
    if (this.fileFd < 0 || this.fd < 0 || !this.writable) return false;
    checkRange(this.name, this.size, offset, length);
    if (!punchHole(this.fd, offset, length, `of ${length} bytes of ${this.name} at ${offset}`)) return false;
    const seen = this.dataUnits;
    if (seen) for (let u = Math.floor(offset / DATA_UNIT); u * DATA_UNIT < offset + length; u++) seen[u >> 3]! &= ~(1 << (u & 7));
    return true;
  }
  write(offset: number, src: Uint8Array): void {
    if (this.fileFd < 0 || this.fd < 0) return copyIn(this, offset, src);
    checkRange(this.name, this.size, offset, src.byteLength);
    pwriteAll(this.fd, src, offset, `of ${src.byteLength} bytes to ${this.name} at ${offset}`);
  }
  flush(offset: number, length: number): void {
    if (!this.cache.active) return;
    for (const s of this.slices(offset, length)) this.cache.flush(s);
  }
  invalidate(offset: number, length: number): void {
    if (!this.cache.active) return;
    for (const s of this.slices(offset, length)) this.cache.invalidate(s);
  }
  sync(): void {
    if (this.devdax) return;
    for (const m of this.maps) m?.sync();
  }
  close(): void {
    for (const m of this.maps) m?.unmap();
    if (this.fd >= 0) fs.closeSync(this.fd);
  }
}

/** A hardware interleave region emulated in software over its mapped members. */
export class EmulatedRegion implements DaxdevMemory {
  readonly views = true;
  constructor(readonly name: string, readonly size: number, private readonly region: Region, private readonly members: readonly MappedDevice[]) {}

  share(_runs: readonly (readonly [number, number])[]): DeviceSpec {
    // Region offsets land on every member in turn: share the members whole (emulated
    // regions are test-sized).
    return { kind: 'region', name: this.name, size: this.size, region: this.region, members: this.members.map((m) => m.share([[0, m.size]])) };
  }

  get cacheDescription(): string {
    return this.members.find((m) => m.cache.active)?.cache.description ?? 'off';
  }

  /** Add a later share()'s windows to an attached region. */
  adopt(spec: DeviceSpec & { kind: 'region' }): void {
    spec.members.forEach((m, i) => this.members[i]!.adopt(m));
  }

  /**
   * [offset, offset+length) granule by granule: `piece` gets the member holding each piece,
   * the piece's offset on that member, where it starts in the range, and its length.
   */
  private pieces(offset: number, length: number, piece: (member: MappedDevice, dpa: number, at: number, n: number) => void): void {
    checkRange(this.name, this.size, offset, length);
    for (let at = 0; at < length;) {
      const n = Math.min(granuleRemainder(this.region, offset + at), length - at);
      const c = toController(this.region, offset + at);
      piece(this.members[c.position]!, c.dpa, at, n);
      at += n;
    }
  }

  slices(offset: number, length: number): Buffer[] {
    const out: Buffer[] = [];
    this.pieces(offset, length, (m, dpa, _at, n) => out.push(m.slices(dpa, n)[0]!));
    return out;
  }
  readSlices(offset: number, length: number): Buffer[] {
    const out: Buffer[] = [];
    this.pieces(offset, length, (m, dpa, _at, n) => out.push(...m.readSlices(dpa, n)));
    return out;
  }
  read(offset: number, dst: Uint8Array): void {
    copyOut(this, offset, dst);
  }
  back(offset: number, length: number): boolean {
    let all = true;
    this.pieces(offset, length, (m, dpa, _at, n) => (all = m.back(dpa, n) && all));
    return all;
  }
  zero(offset: number, length: number): boolean {
    this.pieces(offset, length, (m, dpa, _at, n) => storeZeros(m, dpa, n));
    return true;
  }
  write(offset: number, src: Uint8Array): void {
    // Each piece to its member, which stores the way it does best (pwrite into an image file).
    this.pieces(offset, src.byteLength, (m, dpa, at, n) => m.write(dpa, src.subarray(at, at + n)));
  }
  flush(offset: number, length: number): void {
    // Members of one region are all real or all emulated; any active one's routine serves.
    const c = this.members.find((m) => m.cache.active)?.cache;
    if (!c) return;
    for (const s of this.slices(offset, length)) c.flush(s);
  }
  invalidate(offset: number, length: number): void {
    // Members of one region are all real or all emulated; any active one's routine serves.
    const c = this.members.find((m) => m.cache.active)?.cache;
    if (!c) return;
    for (const s of this.slices(offset, length)) c.invalidate(s);
  }
  sync(): void {
    for (const m of this.members) m.sync();
  }
  close(): void {
    for (const m of this.members) m.close();
  }
}

/** Which cache maintenance a daxdev's memory uses, for logs (cache.ts). */
export function cacheMaintenanceOf(mem: DaxdevMemory): string {
  if (mem instanceof MappedDevice) return mem.cache.description;
  if (mem instanceof EmulatedRegion) return mem.cacheDescription;
  return mem.views ? 'off' : 'simulated';
}

/**
 * The daxdev another thread shared (share()), viewed in this thread; with `into`, the one
 * attached earlier, which gains the windows shared since.
 */
export function attachSpec(spec: DeviceSpec, into?: DaxdevMemory): DaxdevMemory {
  if (into) {
    if (spec.kind === 'device' && into instanceof MappedDevice) into.adopt(spec);
    else if (spec.kind === 'region' && into instanceof EmulatedRegion) into.adopt(spec);
    else throw new DeviceError(`${into.name}: shared as a ${spec.kind} now`);
    return into;
  }
  if (spec.kind === 'device') return MappedDevice.attach(spec);
  return new EmulatedRegion(spec.name, spec.size, spec.region, spec.members.map((m) => MappedDevice.attach(m)));
}

/** Map a layout's daxdev: its device, or every member of its region. */
export function openDaxdev(dax: Daxdev, opts: { writable?: boolean } = {}): DaxdevMemory {
  if (dax.backing.kind === 'device') return MappedDevice.open(dax.backing.device.path, { ...opts, size: dax.size });
  const { region, members } = dax.backing;
  const perMember = region.size / region.ways;
  const opened: MappedDevice[] = [];
  try {
    for (const m of members) {
      if (m.size < perMember) throw new DeviceError(`${m.name} (${m.path}): ${m.size} bytes, region ${region.name} needs ${perMember}`);
      opened.push(MappedDevice.open(m.path, { ...opts, size: perMember }));
    }
  } catch (e) {
    for (const o of opened) o.close();
    throw e;
  }
  return new EmulatedRegion(dax.name, region.size, region, opened);
}
