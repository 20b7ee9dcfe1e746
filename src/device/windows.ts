// A daxdev the server cannot map itself: a famfs-mode daxdev (bound to fsdev_dax, which has
// no mmap and no read) reached only through windows the kernel mapped for us, the mount's
// `.meta/.superblock` and `.meta/.log` files (the kernel maps them from GET_FMAP, as famfs
// does: reference famfs-format.md "superblock", fuse-iomap-abi.md §3.1). Every byte outside
// a window belongs to files the kernel maps for their users; touching it is a DeviceError.
import { cacheMaintenanceFor, type CacheMaintenance } from './cache.js';
import { DeviceError, type DaxdevMemory, type DeviceSpec } from './memory.js';

export interface DeviceWindow {
  /** Device offset of the window's first byte. */
  readonly offset: number;
  /** The mapped bytes (a view of another mapping of this process). */
  readonly bytes: Buffer;
  /** msync the window (stores durable through the kernel's mapping). */
  readonly sync?: () => void;
}

export class WindowedDevice implements DaxdevMemory {
  /** The server reaches only these windows; file data is the kernel's (see famfs-fs zeroing). */
  readonly kernelMapped = true;

  readonly views = true;

  /** The windows are the device's memory itself (the kernel's DAX mapping): real caches apply. */
  private readonly windows: DeviceWindow[];

  /**
   * `miss`: asked for a range no window holds; it may add windows (a CLI maps a file of the
   * mount whose bytes these are) and says whether to look again.
   */
  constructor(readonly name: string, readonly size: number, windows: readonly DeviceWindow[],
    private readonly cache: CacheMaintenance = cacheMaintenanceFor(name),
    private readonly miss?: (offset: number, length: number) => boolean) {
    this.windows = [...windows];
  }

  /** More windows (views of a file of the mount, mapped by the kernel from its fmap). */
  addWindows(ws: readonly DeviceWindow[]): void {
    this.windows.push(...ws);
  }

  private find(offset: number, length: number): { w: DeviceWindow; at: number } | undefined {
    for (const w of this.windows) {
      if (offset >= w.offset && offset + length <= w.offset + w.bytes.length) return { w, at: offset - w.offset };
    }
    return undefined;
  }

  private window(offset: number, length: number): { w: DeviceWindow; at: number } {
    const hit = this.find(offset, length) ?? (this.miss?.(offset, length) ? this.find(offset, length) : undefined);
    if (hit) return hit;
    throw new DeviceError(`${this.name}: [${offset}, ${offset + length}) is not reachable: in famfs mode the server maps only the superblock and log (through .meta), the kernel maps file data`);
  }

  share(_runs: readonly (readonly [number, number])[]): DeviceSpec {
    throw new DeviceError(`${this.name}: in famfs mode there is no device mapping to share with serving threads`);
  }

  slices(offset: number, length: number): Buffer[] {
    const { w, at } = this.window(offset, length);
    return [w.bytes.subarray(at, at + length)];
  }

  read(offset: number, dst: Uint8Array): void {
    const { w, at } = this.window(offset, dst.length);
    w.bytes.copy(dst, 0, at, at + dst.length);
  }

  write(offset: number, src: Uint8Array): void {
    const { w, at } = this.window(offset, src.length);
    Buffer.from(src.buffer, src.byteOffset, src.byteLength).copy(w.bytes, at);
  }

  flush(offset: number, length: number): void {
    if (this.cache.active) this.cache.flush(this.slices(offset, length)[0]!);
  }

  invalidate(offset: number, length: number): void {
    if (this.cache.active) this.cache.invalidate(this.slices(offset, length)[0]!);
  }

  sync(): void {
    for (const w of this.windows) w.sync?.();
  }

  close(): void {
    // The windows belong to the thread that mapped them; nothing to release here.
  }
}
