// The one representation of placement: a file size plus extents in file order. Every
// wire format (famfs log entry, GET_FMAP, fuse_iomap_io, BPF) is an encoder of this, and
// resolve() below is the single definition of "where is byte pos".
// Arithmetic follows the famfs kernel (reference fuse-iomap-abi.md §3.3).

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

export class FileMapError extends Error {}

export function simple(daxdev: number, offset: number, length: number): SimpleExtent {
  return { type: 'simple', daxdev, offset, length };
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
 * The famfs kernel arithmetic inside one extent (reference §3.3): `local` is pos relative to
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
 * A FileMap prepared for many resolutions: the extent holding pos is found in O(1) when every
 * extent but the last has the same size (the famfs dev tree's `ext_shift` case, reference
 * §3.3, which is what unroll() produces) and by binary search otherwise; the
 * arithmetic inside the extent is resolve()'s own. Results equal resolve()'s.
 */
export class CompiledFileMap {
  readonly size: number;
  private readonly extents: readonly Extent[];
  /** File position where extent i starts (n + 1 entries). */
  private readonly starts: Float64Array;
  /** The size every extent but the last has (the last no larger), or 0 when they differ. */
  private readonly uniform: number;

  constructor(readonly map: FileMap) {
    this.size = map.size;
    this.extents = map.extents;
    const n = map.extents.length;
    this.starts = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) this.starts[i + 1] = this.starts[i]! + this.extSize(i);
    const first = n > 0 ? this.extSize(0) : 0;
    let uniform = first > 0 ? first : 0;
    for (let i = 1; i < n && uniform > 0; i++) {
      const s = this.extSize(i);
      if (s !== first && !(i === n - 1 && s > 0 && s <= first)) uniform = 0;
    }
    this.uniform = uniform;
  }

  private extSize(i: number): number {
    const e = this.extents[i]!;
    return e.type === 'simple' ? e.length : Math.min(e.nbytes, this.size);
  }

  resolve(pos: number): Mapping | undefined {
    const out: MappingSlot = { daxdev: 0, offset: 0, length: 0 };
    return this.resolveInto(pos, out) ? out : undefined;
  }

  resolveInto(pos: number, out: MappingSlot): boolean {
    checkPos(pos);
    if (pos >= this.size) return false;
    const starts = this.starts;
    const n = this.extents.length;
    if (pos >= starts[n]!) throw pastExtents(this.map, pos);
    let i: number;
    if (this.uniform > 0) {
      // Exact for integers below 2^53 (the kernel shifts; any uniform size divides the same).
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
    place(this.extents[i]!, pos - start, starts[i + 1]! - start, this.size - pos, out);
    return true;
  }
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
 * The uniform simple-extent form of the mid-2026 famfs dev tree (reference §3.3): each
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
      // every unrolled extent stays 2 MiB aligned as famfs kernels require (§3.2).
      if (remaining === 0 && start + e.chunkSize <= s.length) len = e.chunkSize;
      extents.push(simple(s.daxdev, s.offset + start, len));
    }
  }
  return { size: map.size, extents };
}
