// Memory devices as byte-addressable memory. A daxdev is either one mapped device (a file,
// a /dev/shm file, /dev/daxX.Y, /dev/pmemX, a loop device) or an emulated hardware region
// whose bytes are spread over its members by the controller arithmetic. Either way the
// caller asks for `slices(offset, length)`: zero-copy views into the mappings, one per
// physically contiguous piece, which a FUSE reply can hand to writev as they are.
import fs from 'node:fs';
import path from 'node:path';
import { toController, granuleRemainder } from '../interleave/controller.js';
import type { Daxdev, Region } from '../interleave/layout.js';
import { mmapShared, viewMapping, type Mapped } from '../sys/libc.js';
import { blockDeviceSize } from '../sys/ioctl.js';

export class DeviceError extends Error {}

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
  read(offset: number, dst: Uint8Array): void;
  write(offset: number, src: Uint8Array): void;
  /** Make stores durable (msync) on file-backed devices. */
  sync(): void;
  close(): void;
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
    } catch {
      throw new DeviceError(`${devPath}: a character device without ${sys}; not a devdax device`);
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
  throw new DeviceError(`${devPath}: not a regular file, devdax or block device`);
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

function copyOut(mem: DaxdevMemory, offset: number, dst: Uint8Array): void {
  let at = 0;
  for (const s of mem.slices(offset, dst.byteLength)) {
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
  private readonly maps: (Mapped | undefined)[];
  /** fd < 0: the windows belong to another thread's MappedDevice (attach). */
  private constructor(readonly name: string, private readonly fd: number, readonly size: number, private readonly writable: boolean) {
    this.maps = new Array<Mapped | undefined>(Math.ceil(size / MappedDevice.WINDOW)).fill(undefined);
  }

  /** View the windows another thread shared (share()); close() leaves them to their owner. */
  static attach(shared: SharedDevice): MappedDevice {
    const d = new MappedDevice(shared.path, -1, shared.size, true);
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
      this.maps[w] = { bytes: viewMapping(address, length), length, address, unmap() {}, sync() {} };
    }
  }

  static open(devPath: string, opts: { writable?: boolean; size?: number } = {}): MappedDevice {
    const writable = opts.writable ?? true;
    const size = opts.size ?? deviceSize(devPath);
    if (size <= 0) throw new DeviceError(`${devPath}: size is 0`);
    // Mapping past the end of a file faults (SIGBUS) at the first touch: refuse at open.
    if (opts.size !== undefined) {
      const real = deviceSize(devPath);
      if (real < size) throw new DeviceError(`${devPath}: ${real} bytes, but ${size} are expected (the layout's size)`);
    }
    return new MappedDevice(devPath, fs.openSync(devPath, writable ? 'r+' : 'r'), size, writable);
  }

  share(runs: readonly (readonly [number, number])[]): DeviceSpec & { kind: 'device' } {
    if (this.fd < 0) throw new DeviceError(`${this.name}: attached mappings are not shared again`);
    const W = MappedDevice.WINDOW;
    for (const [offset, length] of runs) {
      checkRange(this.name, this.size, offset, length);
      for (let w = Math.floor(offset / W); w * W < offset + length; w++) this.window(w);
    }
    const windows: [number, bigint][] = [];
    this.maps.forEach((m, w) => m && windows.push([w, m.address]));
    return { kind: 'device', path: this.name, size: this.size, windows };
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
  read(offset: number, dst: Uint8Array): void {
    copyOut(this, offset, dst);
  }
  write(offset: number, src: Uint8Array): void {
    copyIn(this, offset, src);
  }
  sync(): void {
    for (const m of this.maps) m?.sync();
  }
  close(): void {
    for (const m of this.maps) m?.unmap();
    if (this.fd >= 0) fs.closeSync(this.fd);
  }
}

/** A hardware interleave region emulated in software over its mapped members. */
export class EmulatedRegion implements DaxdevMemory {
  constructor(readonly name: string, readonly size: number, private readonly region: Region, private readonly members: readonly MappedDevice[]) {}

  share(_runs: readonly (readonly [number, number])[]): DeviceSpec {
    // Region offsets land on every member in turn: share the members whole (emulated
    // regions are test-sized).
    return { kind: 'region', name: this.name, size: this.size, region: this.region, members: this.members.map((m) => m.share([[0, m.size]])) };
  }

  /** Add a later share()'s windows to an attached region. */
  adopt(spec: DeviceSpec & { kind: 'region' }): void {
    spec.members.forEach((m, i) => this.members[i]!.adopt(m));
  }

  slices(offset: number, length: number): Buffer[] {
    checkRange(this.name, this.size, offset, length);
    const out: Buffer[] = [];
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const n = Math.min(granuleRemainder(this.region, pos), end - pos);
      const c = toController(this.region, pos);
      out.push(this.members[c.position]!.slices(c.dpa, n)[0]!);
      pos += n;
    }
    return out;
  }
  read(offset: number, dst: Uint8Array): void {
    copyOut(this, offset, dst);
  }
  write(offset: number, src: Uint8Array): void {
    copyIn(this, offset, src);
  }
  sync(): void {
    for (const m of this.members) m.sync();
  }
  close(): void {
    for (const m of this.members) m.close();
  }
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
