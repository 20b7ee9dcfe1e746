// Allocation (reference famfs-format.md §4; src/famfs_alloc.c): one bitmap of 2 MiB units
// per daxdev, rebuilt from the log every time (nothing is persisted), famfs's contiguous
// first fit and its strided ("interleaved") allocation over buckets. Pure: no I/O.
import type { Extent, FileMap, Strip } from '../interleave/filemap.js';
import { ALLOC_UNIT } from './constants.js';
import { interleaveParamProblems, isInterleaved, stripCountProblem, type InterleaveParams } from '../interleave/interleave-params.js';
import { GlibcRand } from './prng.js';
import { ErrnoError } from '../errno.js';

export class AllocError extends ErrnoError {
  constructor(message: string, readonly errno: 'ENOMEM' | 'EINVAL') {
    super(message, errno);
  }
}

/** One bit per 2 MiB unit, LSB first within a byte (src/bitmap.h). */
export class Bitmap {
  readonly bits: Uint8Array;
  constructor(readonly nbits: number) {
    this.bits = new Uint8Array(Math.ceil(nbits / 8) + 1);
  }

  /** famfs rounds the device size up, so a partial last unit is allocatable (famfs-format.md §4.1, famfs-format.md §12.6). */
  static forDevice(devSize: number): Bitmap {
    return new Bitmap(Math.ceil(devSize / ALLOC_UNIT));
  }

  test(k: number): boolean {
    return (this.bits[k >>> 3]! & (1 << (k & 7))) !== 0;
  }
  set(k: number): void {
    this.bits[k >>> 3]! |= 1 << (k & 7);
  }
  clear(k: number): void {
    this.bits[k >>> 3]! &= ~(1 << (k & 7));
  }

  /**
   * Mark `[offset, offset+len)`; returns how many units were already set (famfs counts each
   * as one allocation collision) and how many fell outside the bitmap (which famfs would
   * write past its buffer; we count them instead).
   */
  mark(offset: number, len: number): { collisions: number; newUnits: number; outside: number } {
    const first = Math.floor(offset / ALLOC_UNIT);
    const n = Math.ceil(len / ALLOC_UNIT);
    let collisions = 0, newUnits = 0, outside = 0;
    for (let k = first; k < first + n; k++) {
      if (k >= this.nbits) { outside++; continue; }
      if (this.test(k)) collisions++;
      else { this.set(k); newUnits++; }
    }
    return { collisions, newUnits, outside };
  }

  free(offset: number, len: number): void {
    const first = Math.floor(offset / ALLOC_UNIT);
    const n = Math.ceil(len / ALLOC_UNIT);
    for (let k = first; k < first + n && k < this.nbits; k++) this.clear(k);
  }

  /**
   * bitmap_alloc_contiguous (famfs-format.md §4.2): first fit of ceil(size/2MiB) free units, scanning from
   * `start` (bytes) and giving up when fewer than that remain inside `range` bytes from
   * `start` (0 = the whole bitmap). famfs lets a range of 0 run past nbits when start > 0;
   * we clamp to the bitmap. Returns the byte offset, or -1.
   */
  allocContiguous(size: number, start: number, range = 0): number {
    const need = Math.ceil(size / ALLOC_UNIT);
    const startIdx = Math.floor(start / ALLOC_UNIT);
    const limit = Math.min(this.nbits, range ? startIdx + Math.ceil(range / ALLOC_UNIT) : this.nbits);
    let i = startIdx;
    while (i < limit) {
      if (this.test(i)) { i++; continue; }
      if (need > limit - i) return -1;
      let j = i;
      while (j < i + need && !this.test(j)) j++;
      if (j === i + need) {
        for (let k = i; k < i + need; k++) this.set(k);
        return i * ALLOC_UNIT;
      }
      // Every unit up to j is free but j is taken: no fit can start before j + 1.
      i = j + 1;
    }
    return -1;
  }

  /** Free units, for statistics. */
  countFree(from = 0, to = this.nbits): number {
    let n = 0;
    for (let k = from; k < to; k++) if (!this.test(k)) n++;
    return n;
  }
}

export { isInterleaved, type InterleaveParams } from '../interleave/interleave-params.js';

/** init_bucket_series: Fisher-Yates over 0..n-1 with glibc rand() after srand(seed) (famfs-format.md §4.3). */
export function bucketOrder(nbuckets: number, seed: number): number[] {
  const b = Array.from({ length: nbuckets }, (_, i) => i);
  const r = new GlibcRand(seed);
  for (let i = nbuckets - 1; i > 0; i--) {
    const j = r.next() % (i + 1);
    const t = b[i]!;
    b[i] = b[j]!;
    b[j] = t;
  }
  return b;
}

export interface AllocOptions {
  /** famfs strided allocation parameters; undefined or all zero = contiguous. */
  readonly interleave?: InterleaveParams;
  /** srand() seed for the bucket shuffle; famfs uses time(NULL). */
  readonly seed?: number;
  /** Daxdevs strips are drawn from (several-device layouts); default [0]. */
  readonly daxdevs?: readonly number[];
  readonly relaxBuckets?: boolean;
}

/**
 * A locked-log allocation session (famfs_locked_log): bitmaps built once, cur_pos starting
 * at 0 and moving past each contiguous allocation.
 */
export class Allocator {
  private curPos = 0;
  constructor(readonly bitmaps: ReadonlyMap<number, Bitmap>, readonly devSizes: ReadonlyMap<number, number>) {}

  private bitmap(dev: number): Bitmap {
    const b = this.bitmaps.get(dev);
    if (!b) throw new AllocError(`daxdev ${dev} is not part of this image`, 'EINVAL');
    return b;
  }

  /** famfs_file_alloc_contiguous: one simple extent of round_up(size, 2 MiB). */
  allocContiguous(size: number, dev = 0): Extent[] {
    const bm = this.bitmap(dev);
    const off = bm.allocContiguous(size, dev === 0 ? this.curPos : 0);
    if (off < 0) throw new AllocError('Out of space!', 'ENOMEM');
    const len = Math.ceil(size / ALLOC_UNIT) * ALLOC_UNIT;
    if (dev === 0) this.curPos = off + len;
    return [{ type: 'simple', daxdev: dev, offset: off, length: len }];
  }

  /** famfs_file_alloc: contiguous, or strided when any interleave parameter is set. */
  alloc(size: number, opts: AllocOptions = {}): FileMap {
    if (!(size > 0)) throw new AllocError('Creating empty file is not allowed', 'EINVAL');
    const p = opts.interleave;
    const devs = opts.daxdevs && opts.daxdevs.length ? opts.daxdevs : [0];
    if (!isInterleaved(p)) return { size, extents: this.allocContiguous(size, devs[0]!) };
    // Several daxdevs: strips rotate over them, so each device holds ceil(nstrips/ndevs)
    // of them and needs at least that many buckets (one bucket per device when 0).
    if (devs.length > 1) {
      const per = Math.ceil(p.nstrips / devs.length);
      const nb = Math.max(p.nbuckets, per, 1);
      const strips = stripCountProblem(p.nstrips);
      if (strips) throw new AllocError(`invalid interleave parameters: ${strips}`, 'EINVAL');
      const perDev = { nstrips: per, nbuckets: nb, chunkSize: p.chunkSize };
      for (const d of devs) {
        const problems = interleaveParamProblems(perDev, { devSize: this.devSizes.get(d) ?? 0, relaxBuckets: opts.relaxBuckets });
        if (problems.length) throw new AllocError(`invalid interleave parameters for daxdev ${d}: ${problems.join('; ')}`, 'EINVAL');
      }
      if (size < p.chunkSize) {
        this.curPos = 0;
        return { size, extents: this.allocContiguous(size, devs[0]!) };
      }
      return { size, extents: [this.strided(size, { ...p, nbuckets: nb }, devs, opts.seed ?? Math.floor(Date.now() / 1000))] };
    }
    for (const d of devs) {
      const problems = interleaveParamProblems(p, { devSize: this.devSizes.get(d) ?? 0, relaxBuckets: opts.relaxBuckets });
      if (problems.length) throw new AllocError(`invalid interleave parameters: ${problems.join('; ')}`, 'EINVAL');
    }
    if (size < p.chunkSize) {
      // Smaller than a chunk: contiguous from cur_pos = 0.
      this.curPos = 0;
      return { size, extents: this.allocContiguous(size, devs[0]!) };
    }
    return { size, extents: [this.strided(size, p, devs, opts.seed ?? Math.floor(Date.now() / 1000))] };
  }

  /** famfs_file_strided_alloc (famfs-format.md §4.3); strips rotate over `devs` (one device: famfs exactly). */
  private strided(size: number, p: InterleaveParams, devs: readonly number[], seed: number): Extent {
    const au = ALLOC_UNIT;
    const allocAu = Math.ceil(size / au);
    const chunkAu = p.chunkSize / au;
    const stripeAu = p.nstrips * chunkAu;
    const nstripes = Math.ceil(allocAu / stripeAu);
    const stripAu = nstripes * chunkAu;
    const strips: Strip[] = [];
    // famfs re-seeds for every strided allocation (srand(time(NULL)) in init_bucket_series).
    const order = bucketOrder(p.nbuckets, seed);
    const perDev = devs.map((d) => ({ dev: d, bucketAu: Math.floor(Math.floor((this.devSizes.get(d) ?? 0) / au) / p.nbuckets), next: 0 }));
    let turn = 0;
    let attempts = 0;
    const maxAttempts = p.nbuckets * perDev.length;
    while (strips.length < p.nstrips && attempts < maxAttempts) {
      const d = perDev[turn % perDev.length]!;
      turn++;
      if (d.next >= p.nbuckets) { attempts++; continue; }
      const bucket = order[d.next++]!;
      attempts++;
      const off = this.bitmap(d.dev).allocContiguous(stripAu * au, bucket * d.bucketAu * au, d.bucketAu * au);
      if (off > 0) strips.push({ daxdev: d.dev, offset: off, length: stripAu * au });
    }
    if (strips.length < p.nstrips) {
      for (const s of strips) this.bitmap(s.daxdev).free(s.offset, s.length);
      throw new AllocError(`Out of space! (failed ${p.nstrips} strips @${stripAu * au}b each; got ${strips.length} strips)`, 'ENOMEM');
    }
    return { type: 'interleave', chunkSize: p.chunkSize, nbytes: size, strips };
  }
}
