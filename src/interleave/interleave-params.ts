// The one validator of interleave parameters (nstrips, nbuckets, chunk size), modelled on
// famfs's famfs_validate_interleave_param (famfs-format.md §4.3). The allocator, the log
// codec, the map checker, the layout reader, the CLI and the `user.famfs.interleave` xattr
// all ask it, so a chunk or strip count is legal in one place exactly when it is in all.
import { ALLOC_UNIT, MAX_CHUNK, MAX_NBUCKETS, MAX_STRIPS, MIN_BUCKET_SIZE, MIN_CHUNK, isPowerOfTwo } from './famfs-limits.js';

export interface InterleaveParams {
  readonly nbuckets: number;
  readonly nstrips: number;
  readonly chunkSize: number;
}

/** famfs: all three zero means "not interleaved" (contiguous allocation). */
export function isInterleaved(p: InterleaveParams | undefined): p is InterleaveParams {
  return !!p && (p.nbuckets !== 0 || p.nstrips !== 0 || p.chunkSize !== 0);
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * Why `chunk` cannot be an interleaved extent's chunk in a famfs image (undefined: it can):
 * a power of two, a multiple of the allocation unit, at most MAX_CHUNK. With `model`, the
 * bound is the model's instead (a power of two from MIN_CHUNK), for maps only served by
 * the server's READ/WRITE path.
 */
export function chunkSizeProblem(chunk: number, model = false): string | undefined {
  if (!chunk) return 'chunk_size is 0';
  if (model) {
    return isPowerOfTwo(chunk) && chunk >= MIN_CHUNK && chunk <= MAX_CHUNK ? undefined : `chunk_size=${hex(chunk)} is not a power-of-two from 4 KiB to 2 GiB`;
  }
  if (!isPowerOfTwo(chunk) || chunk % ALLOC_UNIT) return `chunk_size=${hex(chunk)} is not a power-of-two multiple of 2 MiB (alloc_unit)`;
  if (chunk > MAX_CHUNK) return `chunk_size=${hex(chunk)} exceeds max ${hex(MAX_CHUNK)} (GET_FMAP carries it in 32 bits)`;
  return undefined;
}

/** Why an interleaved extent cannot have `n` strips in a famfs image (undefined: it can). */
export function stripCountProblem(n: number): string | undefined {
  return Number.isInteger(n) && n >= 1 && n <= MAX_STRIPS ? undefined : `nstrips ${n} is outside 1..${MAX_STRIPS}`;
}

export interface ValidateOptions {
  /** The device the buckets divide; without it the bucket-size rule is not checked. */
  readonly devSize?: number;
  /** Drop the 1 GiB bucket minimum (famfs's mock_stripe) for small emulated devices. */
  readonly relaxBuckets?: boolean;
}

/**
 * famfs_validate_interleave_param: the problems (empty = valid). All-zero parameters are
 * valid (not interleaved). nbuckets is 1..MAX_NBUCKETS and at least nstrips.
 */
export function interleaveParamProblems(p: InterleaveParams, opts: ValidateOptions = {}): string[] {
  if (!isInterleaved(p)) return [];
  const out: string[] = [];
  const chunk = chunkSizeProblem(p.chunkSize);
  if (chunk) out.push(chunk);
  const strips = stripCountProblem(p.nstrips);
  if (strips) out.push(strips);
  if (!Number.isInteger(p.nbuckets) || p.nbuckets < p.nstrips || p.nbuckets < 1 || p.nbuckets > MAX_NBUCKETS) {
    out.push(`nbuckets ${p.nbuckets} must be in nstrips..${MAX_NBUCKETS} (nstrips ${p.nstrips})`);
  }
  if (opts.devSize !== undefined && !opts.relaxBuckets) {
    const bucket = p.nbuckets ? Math.floor(opts.devSize / p.nbuckets) : 0;
    if (bucket < MIN_BUCKET_SIZE) out.push(`bucket size (${bucket}) < 1G`);
  }
  return out;
}
