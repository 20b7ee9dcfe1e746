// A file created through the mount and not yet committed to the log. Its reservation grows
// as it is written: simple extents (merged when the allocator hands out the adjacent
// units, at most 16 as famfs allows), or one interleaved extent that is re-allocated and
// copied when it must grow (famfs allows exactly one). At commit the reservation is
// trimmed to the final size rounded up to 2 MiB (per strip: to the stripes in use).
import { ALLOC_UNIT, MAX_SIMPLE_EXTENTS } from '../famfs/constants.js';
import type { InterleaveParams } from '../famfs/alloc.js';
import type { DirNode, FileNode } from '../famfs/namespace.js';
import { resolveRange, type Extent, type FileMap, type SimpleExtent } from '../interleave/filemap.js';
import { storeZeros, type DaxdevMemory } from '../device/memory.js';
import { AllocError, type ReservationAllocator } from './reservations.js';
import { ErrnoError } from '../errno.js';

export function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}

export interface Placement {
  /** Interleave parameters (undefined: simple extents). */
  readonly interleave?: InterleaveParams;
  /** Daxdevs strips come from, in order; simple extents use the first that has room. */
  readonly daxdevs: readonly number[];
}

/** A reservation that cannot grow: the errno the write gets. */
export class GrowError extends ErrnoError {
  constructor(message: string, readonly code: 'ENOSPC' | 'EFBIG' | 'EINVAL', options?: ErrorOptions) {
    super(message, code, options);
  }
}

export class PendingFile {
  size = 0;
  /** The reservation; its size field is the capacity. */
  map: FileMap | undefined;
  interleave: InterleaveParams | undefined;
  /** Set once logged: from then on the file is this node. */
  committed: FileNode | undefined;
  /**
   * The reservation is only the one 2 MiB unit given at create so that a mapping kernel
   * has a map to fetch at open (famfs profiles): interleave may still be chosen, and the
   * first sizing replaces it when the file is to be interleaved.
   */
  placeholder = false;
  /** Open file descriptions of it the kernel holds (OPEN/CREATE minus RELEASE): it is committed when this reaches 0. */
  opens = 0;
  /** Why it can no longer be completed (a write found no space): dropped, not logged, at its last release. */
  failed: string | undefined;
  /** Its name was removed (unlink, or a rename over it) while a description held it: dropped at its last release. */
  unlinked = false;
  /** The name a listing last handed out its cookie under (kept past the file's record: FamfsFileSystem.cookieName). */
  listedAs: string | undefined;
  /** Set while its last description is released and its commit waits (FamfsFsOptions.settleMs). */
  settling: ReturnType<typeof setTimeout> | undefined;
  mtimeMs = Date.now();
  ctimeMs = this.mtimeMs;
  atimeMs = this.mtimeMs;

  constructor(
    readonly nodeid: number,
    /** Where it is; a rename before it is logged moves it. */
    public parent: DirNode,
    public name: string,
    /** Relative path from the root (the log's relpath). */
    public path: string,
    public mode: number,
    public uid: number,
    public gid: number,
    private readonly placement: Placement,
  ) {
    this.interleave = placement.interleave;
  }

  get capacity(): number {
    return this.map?.size ?? 0;
  }

  /** The bytes written so far as a FileMap (size = the file's size). */
  get view(): FileMap {
    return { size: this.size, extents: this.map?.extents ?? [] };
  }

  /**
   * Zero file bytes [from, to) of the reservation (inside capacity). The reservation may
   * hold stale bytes (space trimmed from other files), and a gap a file grows over must
   * read as zeros.
   */
  zero(from: number, to: number, dev: (i: number) => DaxdevMemory): void {
    if (to <= from || !this.map) return;
    for (const m of resolveRange(this.map, from, Math.min(to, this.capacity) - from)) storeZeros(dev(m.daxdev), m.offset, m.length);
  }

  /** Reserve the one 2 MiB unit an empty file is logged with (size stays 0). */
  reserveUnit(alloc: ReservationAllocator): void {
    if (this.map) return;
    try {
      const x = this.allocSimple(ALLOC_UNIT, alloc);
      this.map = { size: ALLOC_UNIT, extents: [x] };
      this.placeholder = true;
    } catch (e) {
      if (e instanceof AllocError) throw new GrowError(`${this.path}: ${e.message}`, e.errno === 'ENOMEM' ? 'ENOSPC' : 'EINVAL', { cause: e });
      throw e;
    }
  }

  /** Make room for bytes [0, need). */
  ensureCapacity(need: number, alloc: ReservationAllocator, dev: (i: number) => DaxdevMemory): void {
    if (this.placeholder && need > 0) {
      this.placeholder = false;
      // An interleaved file is allocated whole; the placeholder holds no data (size 0).
      if (this.interleave && this.size === 0 && this.map) {
        for (const e of this.map.extents) if (e.type === 'simple') alloc.release(e);
        this.map = undefined;
      }
    }
    if (need <= this.capacity) return;
    try {
      if (this.interleave) this.growInterleaved(need, alloc, dev);
      else this.growSimple(need, alloc, dev);
    } catch (e) {
      if (e instanceof AllocError) throw new GrowError(`${this.path}: ${e.message}`, e.errno === 'ENOMEM' ? 'ENOSPC' : 'EINVAL', { cause: e });
      throw e;
    }
  }

  private allocSimple(len: number, alloc: ReservationAllocator): Extent {
    let last: unknown;
    for (const d of this.placement.daxdevs) {
      try {
        return alloc.allocateSimple(len, d);
      } catch (e) {
        if (!(e instanceof AllocError)) throw e;
        last = e;
      }
    }
    throw last ?? new AllocError('Out of space!', 'ENOMEM');
  }

  private growSimple(need: number, alloc: ReservationAllocator, dev: (i: number) => DaxdevMemory): void {
    const cap = this.capacity;
    const exts = (this.map?.extents ?? []) as SimpleExtent[];
    // Double the reservation (at least 2 MiB) so a file written sequentially needs few
    // extents; fall back to exactly what is missing when that much is not free.
    const want = roundUp(Math.max(need - cap, cap, ALLOC_UNIT), ALLOC_UNIT);
    const exact = roundUp(need - cap, ALLOC_UNIT);
    let x: Extent;
    try {
      x = this.allocSimple(want, alloc);
    } catch (e) {
      if (!(e instanceof AllocError) || exact === want) throw e;
      x = this.allocSimple(exact, alloc);
    }
    if (x.type !== 'simple') throw new Error('simple allocation returned an interleaved extent');
    const tail = exts[exts.length - 1];
    let next: SimpleExtent[];
    if (tail && tail.daxdev === x.daxdev && tail.offset + tail.length === x.offset) {
      next = [...exts.slice(0, -1), { ...tail, length: tail.length + x.length }];
    } else if (exts.length < MAX_SIMPLE_EXTENTS) {
      next = [...exts, x];
    } else {
      // famfs allows 16 simple extents: move everything into one extent big enough.
      alloc.release(x);
      const one = this.allocSimple(roundUp(Math.max(need, 2 * cap), ALLOC_UNIT), alloc);
      if (one.type !== 'simple') throw new Error('simple allocation returned an interleaved extent');
      const moved: FileMap = { size: one.length, extents: [one] };
      copyData(this.view, moved, this.size, dev);
      for (const old of exts) alloc.release(old);
      this.map = moved;
      return;
    }
    this.map = { size: next.reduce((s, e) => s + e.length, 0), extents: next };
  }

  private growInterleaved(need: number, alloc: ReservationAllocator, dev: (i: number) => DaxdevMemory): void {
    const p = this.interleave!;
    const stripe = p.nstrips * p.chunkSize;
    const want = roundUp(Math.max(need, 2 * this.capacity, stripe), stripe);
    const exact = roundUp(Math.max(need, stripe), stripe);
    // famfs puts each strip in its own bucket; when the buckets named are too full, finer
    // buckets (up to famfs's 64) may still hold the strips. nbuckets is not logged.
    const tries: number[] = [];
    for (let nb = p.nbuckets; nb <= 64; nb *= 2) tries.push(nb);
    if (tries[tries.length - 1] !== 64) tries.push(64);
    let map: FileMap | undefined;
    let last: unknown;
    for (const size of exact === want ? [want] : [want, exact]) {
      for (const nbuckets of tries) {
        try {
          map = alloc.allocate(size, { interleave: { ...p, nbuckets }, daxdevs: this.placement.daxdevs, relaxBuckets: true });
          break;
        } catch (e) {
          if (!(e instanceof AllocError)) throw e;
          last = e;
        }
      }
      if (map) break;
    }
    if (!map) throw last;
    const old = this.map;
    if (old) {
      copyData(this.view, map, this.size, dev);
      for (const e of old.extents) {
        if (e.type === 'simple') alloc.release(e);
        else for (const s of e.strips) alloc.release(s);
      }
    }
    this.map = map;
  }

  /** Give the whole reservation back (a file dropped before it was logged). */
  releaseAll(alloc: ReservationAllocator): void {
    for (const e of this.map?.extents ?? []) {
      if (e.type === 'simple') alloc.release(e);
      else for (const s of e.strips) alloc.release(s);
    }
    this.map = undefined;
  }

  /** Make a trimmed map (finalMap) the reservation: capacity = what its extents hold. */
  adopt(map: FileMap): void {
    const cap = map.extents.reduce((n, e) => n + (e.type === 'simple' ? e.length : e.nbytes), 0);
    this.map = { size: cap, extents: map.extents };
  }

  /**
   * The map to log: the reservation trimmed to the final size. famfs forbids empty files;
   * an empty file keeps one 2 MiB unit (size 0), which famfs's logplay and fsck accept.
   */
  finalMap(alloc: ReservationAllocator): FileMap {
    if (this.size === 0 || !this.map) {
      for (const e of this.map?.extents ?? []) {
        if (e.type === 'simple') alloc.release(e);
        else for (const s of e.strips) alloc.release(s);
      }
      this.map = undefined;
      const x = this.allocSimple(ALLOC_UNIT, alloc);
      return { size: 0, extents: [x] };
    }
    const keep = this.size;
    const map = this.map;
    const first = map.extents[0]!;
    if (first.type === 'interleave') {
      const stripe = first.strips.length * first.chunkSize;
      const stripLen = Math.ceil(keep / stripe) * first.chunkSize;
      for (const s of first.strips) if (s.length > stripLen) alloc.release({ daxdev: s.daxdev, offset: s.offset + stripLen, length: s.length - stripLen });
      return {
        size: this.size,
        extents: [{ ...first, nbytes: this.size, strips: first.strips.map((s) => ({ ...s, length: Math.min(s.length, stripLen) })) }],
      };
    }
    const out: Extent[] = [];
    let at = 0;
    for (const e of map.extents as SimpleExtent[]) {
      if (at >= keep) {
        alloc.release(e);
        continue;
      }
      const len = Math.min(e.length, roundUp(keep - at, ALLOC_UNIT));
      if (len < e.length) alloc.release({ daxdev: e.daxdev, offset: e.offset + len, length: e.length - len });
      out.push({ ...e, length: len });
      at += e.length;
    }
    return { size: this.size, extents: out };
  }
}

/** Copy file bytes [0, size) from one placement to another. */
export function copyData(from: FileMap, to: FileMap, size: number, dev: (i: number) => DaxdevMemory): void {
  const step = 4 << 20;
  const buf = Buffer.allocUnsafe(Math.min(step, Math.max(size, 1)));
  for (let pos = 0; pos < size; pos += step) {
    const n = Math.min(step, size - pos);
    const chunk = buf.subarray(0, n);
    for (const m of resolveRange({ size, extents: from.extents }, pos, n)) dev(m.daxdev).read(m.offset, chunk.subarray(m.pos - pos, m.pos - pos + m.length));
    for (const m of resolveRange({ size: to.size, extents: to.extents }, pos, n)) {
      dev(m.daxdev).write(m.offset, chunk.subarray(m.pos - pos, m.pos - pos + m.length));
      dev(m.daxdev).flush(m.offset, m.length);
    }
  }
}
