// Space for files being written through a mount but not yet in the log. famfs rebuilds its
// bitmap from the log for every allocation session (reference famfs-format.md §4.1), so a
// reservation that is not logged is invisible to it: this allocator starts from the
// image's scan bitmaps and marks every live reservation on top, rebuilding whenever the
// log grew. Nothing here is persisted: a crash before commit frees the space by itself.
import { Allocator, AllocError, Bitmap, type AllocOptions } from '../famfs/alloc.js';
import { ALLOC_UNIT } from '../famfs/constants.js';
import type { FamfsImage } from '../famfs/image.js';
import type { Extent, FileMap } from '../interleave/filemap.js';

export { AllocError };

export function extentsOf(map: FileMap): { daxdev: number; offset: number; length: number }[] {
  const out: { daxdev: number; offset: number; length: number }[] = [];
  for (const e of map.extents) {
    if (e.type === 'simple') out.push(e);
    else out.push(...e.strips);
  }
  return out;
}

export class ReservationAllocator {
  private allocator: Allocator | undefined;
  private builtAt = -1;
  private bitmaps = new Map<number, Bitmap>();

  /** `live` lists every reservation not yet in the log (asked for at each rebuild). */
  constructor(private readonly image: FamfsImage, private readonly live: () => Iterable<FileMap>) {}

  private session(): Allocator {
    const scan = this.image.scan;
    if (this.allocator && this.builtAt === scan.scanned) return this.allocator;
    const copies = new Map<number, Bitmap>();
    for (const [k, b] of scan.bitmaps) {
      const c = new Bitmap(b.nbits);
      c.bits.set(b.bits);
      copies.set(k, c);
    }
    for (const map of this.live()) {
      for (const x of extentsOf(map)) copies.get(x.daxdev)?.mark(x.offset, x.length);
    }
    const sizes = new Map<number, number>([...scan.daxdevs].map(([k, d]) => [k, d.size]));
    this.bitmaps = copies;
    this.allocator = new Allocator(copies, sizes);
    this.builtAt = scan.scanned;
    return this.allocator;
  }

  /**
   * famfs's allocator searches forward from where its last allocation ended, as one famfs
   * allocation session does; space given back behind that point (a trimmed tail, a file
   * dropped after ENOSPC) is found again by a fresh session from the current reservations.
   */
  private retried<T>(f: (a: Allocator) => T): T {
    try {
      return f(this.session());
    } catch (e) {
      if (!(e instanceof AllocError)) throw e;
      this.allocator = undefined;
      return f(this.session());
    }
  }

  /**
   * Run `append`, which logs one entry whose extents this session already holds (a pending
   * file's committed map, trimmed through release(); or a directory, which has none). When
   * the log grew by exactly that entry the session stays: its bitmaps already equal what a
   * rebuild from the scan plus the remaining reservations would give, and a rebuild at each
   * commit made every create scan the bitmap from unit 0 (famfs's cursor restarts with each
   * session), a cost growing with the files logged. Entries anyone else appended (the log
   * grew by more) still force a rebuild.
   */
  keepAcross<T>(append: () => T): T {
    const scan = this.image.scan;
    const current = this.allocator !== undefined && this.builtAt === scan.scanned;
    const before = scan.scanned;
    const r = append();
    if (current && this.image.scan.scanned === before + 1) this.builtAt = this.image.scan.scanned;
    return r;
  }

  /** A FileMap of at least `size` bytes (its size field is the capacity). */
  allocate(size: number, opts: AllocOptions): FileMap {
    return this.retried((a) => a.alloc(size, opts));
  }

  /** One simple extent of round_up(size, 2 MiB) on `daxdev`. */
  allocateSimple(size: number, daxdev: number): Extent {
    return this.retried((a) => a.allocContiguous(size, daxdev)[0]!);
  }

  /** Give back a reservation that will never be logged (copy-on-grow, trimming). */
  release(x: { daxdev: number; offset: number; length: number }): void {
    if (this.allocator && this.builtAt === this.image.scan.scanned) this.bitmaps.get(x.daxdev)?.free(x.offset, x.length);
  }

  /** Free 2 MiB units per daxdev, reservations counted as used. */
  freeUnits(): number {
    this.session();
    let n = 0;
    for (const [k, b] of this.bitmaps) {
      const size = this.image.scan.daxdevs.get(k)?.size ?? 0;
      n += b.countFree(0, Math.min(b.nbits, Math.floor(size / ALLOC_UNIT)));
    }
    return n;
  }
}
