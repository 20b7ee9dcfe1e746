// famfs's limits, each written once (famfs-format.md §0 and §4.3; famfs's famfs_meta.h and
// famfs_lib.c). The layout model in this folder is more general than famfs (any power-of-two
// chunk, any number of extents); these are the rules for what goes into a famfs image, and
// the few bounds the model itself keeps (MIN_CHUNK, MAX_CHUNK).

/** Allocation unit, and the alignment of every extent and daxdev in an image. */
export const ALLOC_UNIT = 0x200000;
/** Simple extents in one file's log entry (FAMFS_MAX_SIMPLE_EXTENTS). */
export const MAX_SIMPLE_EXTENTS = 16;
/** Strips in an interleaved extent (FAMFS_MAX_INTERLEAVED_STRIPS; the CLI's -N bound). */
export const MAX_STRIPS = 16;
/** Buckets a device may be split into for interleaved allocation (FAMFS_MAX_NBUCKETS). */
export const MAX_NBUCKETS = 64;
/** famfs_validate_interleave_param: each bucket at least 1 GiB (unless famfs's mock_stripe). */
export const MIN_BUCKET_SIZE = 1024 ** 3;
/** A log entry's relative path, NUL included (FAMFS_MAX_PATHLEN). */
export const MAX_PATHLEN = 80;
/** One name in a path (Linux NAME_MAX); also the most a GET_DAXDEV name may hold. */
export const NAME_MAX = 255;
/** Smallest chunk of the model (one page): only the server's READ/WRITE path serves it. */
export const MIN_CHUNK = 4096;
/** Largest chunk: the GET_FMAP wire carries it as a u32 (fuse-iomap-abi.md §3.2). */
export const MAX_CHUNK = 2 ** 31;

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}
