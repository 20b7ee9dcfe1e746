// The one representation of placement: a file size plus extents in file order. Every
// wire format (famfs log entry, GET_FMAP, fuse_iomap_io, BPF) is an encoder of this, and
// resolve() below is the single definition of "where is byte pos".
// Arithmetic follows the famfs kernel (reference fuse-iomap-abi.md §3.3).
import { InvalidError } from '../errno.js';

/** A contiguous run on one daxdev (famfs `famfs_simple_extent`, kernel `fuse_famfs_simple_ext`). */
export interface SimpleExtent {
  readonly type: 'simple';
  readonly daxdev: number;
  readonly offset: number;
  readonly length: number;
}

/** One strip of an interleaved extent: a contiguous allocation on a daxdev. */
export interface Strip {
  readonly daxdev: number;
  readonly offset: number;
  readonly length: number;
}

/**
 * `nbytes` of file data striped round-robin in `chunkSize` chunks over `strips`
 * (famfs `famfs_interleaved_ext` / kernel `fuse_famfs_iext`).
 */
export interface InterleavedExtent {
  readonly type: 'interleave';
  readonly chunkSize: number;
  readonly nbytes: number;
  readonly strips: readonly Strip[];
}

export type Extent = SimpleExtent | InterleavedExtent;

export interface FileMap {
  readonly size: number;
  readonly extents: readonly Extent[];
}

/** Where a byte lives: `length` bytes from `offset` on daxdev `daxdev` are contiguous file data. */
export interface Mapping {
  readonly daxdev: number;
  readonly offset: number;
  readonly length: number;
}

/** A mapping together with the file position it starts at (resolveRange). */
export interface PlacedMapping extends Mapping {
  readonly pos: number;
}

export class FileMapError extends InvalidError {}

export function simple(daxdev: number, offset: number, length: number): SimpleExtent {
  return { type: 'simple', daxdev, offset, length };
}

/** Where a map's extents and strips lie, grouped by daxdev: `[offset, length]` runs. */
export function runsByDaxdev(map: FileMap): Map<number, [number, number][]> {
  const out = new Map<number, [number, number][]>();
  const add = (d: number, offset: number, length: number): void => {
    let runs = out.get(d);
    if (!runs) out.set(d, (runs = []));
    runs.push([offset, length]);
  };
  for (const e of map.extents) {
    if (e.type === 'simple') add(e.daxdev, e.offset, e.length);
    else for (const s of e.strips) add(s.daxdev, s.offset, s.length);
  }
  return out;
}

/** Bytes of file data an extent holds (an interleaved extent holds nbytes, not its strips' sum). */
export function extentBytes(e: Extent): number {
  return e.type === 'simple' ? e.length : e.nbytes;
}

/**
 * Resolve file position `pos`. Returns undefined exactly when `pos >= size` (EOF); the
 * mapping's length is clipped to `size - pos` and to the end of the extent holding pos.
 * Throws FileMapError when pos is inside the file but no extent covers it (the kernel
 * answers -EIO there; validation rejects such maps before they get this far).
 */
export function resolve(map: FileMap, pos: number): Mapping | undefined {
  const out: MappingSlot = { daxdev: 0, offset: 0, length: 0 };
  return resolveInto(map, pos, out) ? out : undefined;
}

/** A writable Mapping for the allocation-free resolvers (resolveInto, CompiledFileMap). */
export interface MappingSlot {
  daxdev: number;
  offset: number;
  length: number;
}

function checkPos(pos: number): void {
  if (!(pos >= 0) || !Number.isSafeInteger(pos)) throw new FileMapError(`position ${pos} is not a non-negative integer below 2^53`);
}

function pastExtents(map: FileMap, pos: number): FileMapError {
  return new FileMapError(`position ${pos} is inside the file (size ${map.size}) but past its extents`);
}

/**
 * The famfs kernel arithmetic inside one extent (fuse-iomap-abi.md §3.3): `local` is pos relative to
 * the extent's start and below its size `extSize`.
 */
function place(e: Extent, local: number, extSize: number, tail: number, out: MappingSlot): void {
  if (e.type === 'simple') {
    out.daxdev = e.daxdev;
    out.offset = e.offset + local;
    const rest = extSize - local;
    out.length = rest < tail ? rest : tail;
    return;
  }
  const chunk = e.chunkSize;
  const nstrips = e.strips.length;
  // Exact: both operands are integers below 2^53, so floor of the double quotient is the
  // integer quotient.
  const chunkNum = Math.floor(local / chunk);
  const chunkOffset = local - chunkNum * chunk;
  const stripeNum = Math.floor(chunkNum / nstrips);
  const strip = e.strips[chunkNum - stripeNum * nstrips]!;
  out.daxdev = strip.daxdev;
  out.offset = strip.offset + stripeNum * chunk + chunkOffset;
  let length = chunk - chunkOffset;
  if (extSize - local < length) length = extSize - local;
  out.length = tail < length ? tail : length;
}

/**
 * resolve() without allocating: fills `out` and returns true, or returns false at EOF
 * (`pos >= size`). resolve() is this plus a fresh slot.
 */
export function resolveInto(map: FileMap, pos: number, out: MappingSlot): boolean {
  checkPos(pos);
  const size = map.size;
  if (pos >= size) return false;
  const extents = map.extents;
  let local = pos;
  for (let i = 0; i < extents.length; i++) {
    const e = extents[i]!;
    // The kernel uses min(nbytes, file_size) as an interleaved extent's size; for
    // pos < size that is the same walk as using nbytes.
    const extSize = e.type === 'simple' ? e.length : Math.min(e.nbytes, size);
    if (local < extSize) {
      place(e, local, extSize, size - pos, out);
      return true;
    }
    local -= extSize;
  }
  throw pastExtents(map, pos);
}

/**
 * A FileMap prepared for many resolutions (a server answering faults, a benchmark). The
 * extent holding pos is found in O(1) when every extent but the last has the same size (the
 * famfs dev tree's `ext_shift` case, fuse-iomap-abi.md §3.3, which is what unroll() produces) and by
 * binary search otherwise. The map is flattened into typed arrays so the hot path touches one
 * object shape; the arithmetic inside an extent is place()'s, transcribed, and the property
 * tests hold both to the same BigInt reference. Results equal resolve()'s.
 */
export class CompiledFileMap {
  readonly size: number;
  private readonly n: number;
  /** File position where extent i starts (n + 1 entries). */
  private readonly starts: Float64Array;
  /** 1 for an interleaved extent. */
  private readonly interleaved: Uint8Array;
  /** Simple: daxdev. Interleaved: index of its first strip in stripDaxdev/stripOffset. */
  private readonly daxdevOrStrip: Int32Array;
  /** Simple: device offset. Interleaved: chunk size. */
  private readonly offsetOrChunk: Float64Array;
  private readonly nstrips: Int32Array;
  private readonly stripDaxdev: Int32Array;
  private readonly stripOffset: Float64Array;
  /** The size every extent but the last has (the last no larger), or 0 when they differ. */
  private readonly uniform: number;
  /** 1/uniform when uniform is a power of two (then pos * inverse is exact), else 0. */
  private readonly uniformInverse: number;
  /** Per extent: 1/chunk and 1/nstrips when they are powers of two, else 0 (divide instead). */
  private readonly chunkInverse: Float64Array;
  private readonly stripsInverse: Float64Array;
  /**
   * The famfs interleaved shape (one interleaved extent) as plain fields: the hot path then
   * loads a handful of fields instead of a dozen typed arrays (about 2x faster).
   */
  private readonly one: boolean;
  private readonly oneChunk: number;
  private readonly oneChunkInverse: number;
  private readonly oneStrips: number;
  private readonly oneStripsInverse: number;
  private readonly oneExtSize: number;
  /** Every extent simple, all of one power-of-two size but the last (no larger). */
  private readonly unrolled: boolean;

  constructor(readonly map: FileMap) {
    const n = map.extents.length;
    this.size = map.size;
    this.n = n;
    this.starts = new Float64Array(n + 1);
    this.interleaved = new Uint8Array(n);
    // Int32 (not Uint32) so values stay small integers in the hot path.
    this.daxdevOrStrip = new Int32Array(n);
    this.offsetOrChunk = new Float64Array(n);
    this.nstrips = new Int32Array(n);
    this.chunkInverse = new Float64Array(n);
    this.stripsInverse = new Float64Array(n);
    let nStrips = 0;
    for (const e of map.extents) if (e.type === 'interleave') nStrips += e.strips.length;
    this.stripDaxdev = new Int32Array(nStrips);
    this.stripOffset = new Float64Array(nStrips);
    let k = 0;
    const sizes: number[] = [];
    const daxdevIndex = (d: number): number => {
      if (!(d >= 0 && d <= 0x7fffffff && Number.isInteger(d))) throw new FileMapError(`daxdev ${d} is not an index below 2^31`);
      return d;
    };
    map.extents.forEach((e, i) => {
      // The kernel's extent size: min(nbytes, file_size) for an interleaved extent.
      const extSize = e.type === 'simple' ? e.length : Math.min(e.nbytes, map.size);
      sizes.push(extSize);
      this.starts[i + 1] = this.starts[i]! + extSize;
      if (e.type === 'simple') {
        this.daxdevOrStrip[i] = daxdevIndex(e.daxdev);
        this.offsetOrChunk[i] = e.offset;
        return;
      }
      this.interleaved[i] = 1;
      this.daxdevOrStrip[i] = k;
      this.offsetOrChunk[i] = e.chunkSize;
      this.nstrips[i] = e.strips.length;
      this.chunkInverse[i] = exactInverse(e.chunkSize);
      this.stripsInverse[i] = exactInverse(e.strips.length);
      for (const s of e.strips) {
        this.stripDaxdev[k] = daxdevIndex(s.daxdev);
        this.stripOffset[k++] = s.offset;
      }
    });
    const first = sizes[0] ?? 0;
    let uniform = first > 0 ? first : 0;
    for (let i = 1; i < n && uniform > 0; i++) {
      const s = sizes[i]!;
      if (s !== first && !(i === n - 1 && s > 0 && s <= first)) uniform = 0;
    }
    this.uniform = uniform;
    this.uniformInverse = exactInverse(uniform);
    this.one = n === 1 && this.interleaved[0] === 1;
    this.oneChunk = this.one ? this.offsetOrChunk[0]! : 0;
    this.oneChunkInverse = this.one ? this.chunkInverse[0]! : 0;
    this.oneStrips = this.one ? this.nstrips[0]! : 0;
    this.oneStripsInverse = this.one ? this.stripsInverse[0]! : 0;
    this.oneExtSize = this.one ? sizes[0]! : 0;
    this.unrolled = n > 1 && this.uniformInverse > 0 && this.interleaved.every((k) => k === 0);
  }

  resolve(pos: number): Mapping | undefined {
    const out: MappingSlot = { daxdev: 0, offset: 0, length: 0 };
    return this.resolveInto(pos, out) ? out : undefined;
  }

  resolveInto(pos: number, out: MappingSlot): boolean {
    if (!(pos >= 0 && pos <= Number.MAX_SAFE_INTEGER) || Math.floor(pos) !== pos) checkPos(pos);
    if (pos >= this.size) return false;
    // Small separate paths, so the one a call site uses can be inlined into it.
    if (this.one) return this.resolveOne(pos, out);
    if (this.unrolled) return this.resolveUnrolled(pos, out);
    return this.resolveMany(pos, out);
  }

  /** One interleaved extent (every famfs interleaved file): resolve()'s arithmetic from position 0. */
  private resolveOne(pos: number, out: MappingSlot): boolean {
    const chunk = this.oneChunk;
    const ci = this.oneChunkInverse;
    const chunkNum = ci > 0 ? Math.floor(pos * ci) : Math.floor(pos / chunk);
    const chunkOffset = pos - chunkNum * chunk;
    const nstrips = this.oneStrips;
    const si = this.oneStripsInverse;
    const stripeNum = si > 0 ? Math.floor(chunkNum * si) : Math.floor(chunkNum / nstrips);
    const strip = chunkNum - stripeNum * nstrips;
    out.daxdev = this.stripDaxdev[strip]!;
    out.offset = this.stripOffset[strip]! + stripeNum * chunk + chunkOffset;
    let length = chunk - chunkOffset;
    const rest = this.oneExtSize - pos;
    if (rest < length) length = rest;
    const tail = this.size - pos;
    out.length = tail < length ? tail : length;
    return true;
  }

  /** Uniform simple extents (unroll()'s output): the dev tree's O(1) ext_shift lookup. */
  private resolveUnrolled(pos: number, out: MappingSlot): boolean {
    const starts = this.starts;
    if (pos >= starts[this.n]!) throw pastExtents(this.map, pos);
    const i = Math.floor(pos * this.uniformInverse);
    out.daxdev = this.daxdevOrStrip[i]!;
    out.offset = this.offsetOrChunk[i]! + (pos - starts[i]!);
    const rest = starts[i + 1]! - pos;
    const tail = this.size - pos;
    out.length = rest < tail ? rest : tail;
    return true;
  }

  /** Maps of several extents (kept out of resolveInto so the one-extent path stays small enough to inline). */
  private resolveMany(pos: number, out: MappingSlot): boolean {
    const size = this.size;
    const starts = this.starts;
    const n = this.n;
    if (pos >= starts[n]!) throw pastExtents(this.map, pos);
    let i = 0;
    if (n === 1) {
      // One extent (every famfs interleaved file): nothing to look up.
    } else if (this.uniformInverse > 0) {
      // The kernel's ext_shift: multiplying by 2^-k is exact, like the shift.
      i = Math.floor(pos * this.uniformInverse);
    } else if (this.uniform > 0) {
      // Exact for integers below 2^53: floor of the double quotient is the integer quotient.
      i = Math.floor(pos / this.uniform);
    } else {
      // Smallest i with starts[i+1] > pos: zero-size extents are skipped like the walk does.
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid + 1]! > pos) hi = mid;
        else lo = mid + 1;
      }
      i = lo;
    }
    const start = starts[i]!;
    const local = pos - start;
    const rest = starts[i + 1]! - pos;
    const tail = size - pos;
    if (this.interleaved[i] === 0) {
      out.daxdev = this.daxdevOrStrip[i]!;
      out.offset = this.offsetOrChunk[i]! + local;
      out.length = rest < tail ? rest : tail;
      return true;
    }
    const chunk = this.offsetOrChunk[i]!;
    const nstrips = this.nstrips[i]!;
    const ci = this.chunkInverse[i]!;
    const chunkNum = ci > 0 ? Math.floor(local * ci) : Math.floor(local / chunk);
    const chunkOffset = local - chunkNum * chunk;
    const si = this.stripsInverse[i]!;
    const stripeNum = si > 0 ? Math.floor(chunkNum * si) : Math.floor(chunkNum / nstrips);
    const strip = this.daxdevOrStrip[i]! + (chunkNum - stripeNum * nstrips);
    out.daxdev = this.stripDaxdev[strip]!;
    out.offset = this.stripOffset[strip]! + stripeNum * chunk + chunkOffset;
    let length = chunk - chunkOffset;
    if (rest < length) length = rest;
    out.length = tail < length ? tail : length;
    return true;
  }
}

/** 1/x when x is a power of two (so multiplying by it is exact), else 0. */
function exactInverse(x: number): number {
  if (!(x > 0) || !Number.isSafeInteger(x)) return 0;
  for (let y = x; y > 1; y /= 2) if (y % 2 !== 0) return 0;
  return 1 / x;
}

/** Split [pos, pos+len) into mappings, stopping at EOF. */
export function resolveRange(map: FileMap, pos: number, len: number): PlacedMapping[] {
  const out: PlacedMapping[] = [];
  const end = Math.min(pos + len, map.size);
  let p = pos;
  while (p < end) {
    const m = resolve(map, p)!;
    const length = Math.min(m.length, end - p);
    out.push({ pos: p, daxdev: m.daxdev, offset: m.offset, length });
    p += length;
  }
  return out;
}

/** Sum of the file data the extents can hold. */
export function capacity(map: FileMap): number {
  let n = 0;
  for (const e of map.extents) n += extentBytes(e);
  return n;
}

/**
 * The uniform simple-extent form of the mid-2026 famfs dev tree (fuse-iomap-abi.md §3.3): each
 * interleaved extent becomes one simple extent per chunk (chunk k on strip k % nstrips at
 * strip.offset + floor(k / nstrips) * chunk). Simple extents pass through. The result
 * resolves identically for every pos < size.
 */
export function unroll(map: FileMap): FileMap {
  const extents: SimpleExtent[] = [];
  let remaining = map.size;
  for (const e of map.extents) {
    if (remaining <= 0) break;
    if (e.type === 'simple') {
      extents.push(e);
      remaining -= e.length;
      continue;
    }
    const bytes = Math.min(e.nbytes, remaining);
    const nstrips = e.strips.length;
    const nchunks = Math.ceil(bytes / e.chunkSize);
    remaining -= bytes;
    for (let k = 0; k < nchunks; k++) {
      const s = e.strips[k % nstrips]!;
      const start = Math.floor(k / nstrips) * e.chunkSize;
      let len = Math.min(e.chunkSize, bytes - k * e.chunkSize);
      // The file's last chunk keeps its whole allocation when the strip holds it, so
      // every unrolled extent stays 2 MiB aligned as famfs kernels require (fuse-iomap-abi.md §3.2).
      if (remaining === 0 && start + e.chunkSize <= s.length) len = e.chunkSize;
      extents.push(simple(s.daxdev, s.offset + start, len));
    }
  }
  return { size: map.size, extents };
}
