// Shared generators and the resolve() oracle for the BPF tests.
import { FileMapError, resolve, type Extent, type FileMap, type Strip } from '../src/interleave/filemap.js';
import { STATUS } from '../src/bpf-policy/core.js';
import type { Answer } from '../src/bpf-policy/shell-runs.js';

/** A small deterministic PRNG (mulberry32) so failures reproduce from the seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MiB = 2 ** 20;

export function randomFileMap(r: () => number, opts: { maxExtents?: number; maxStrips?: number; blockAligned?: boolean } = {}): FileMap {
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const maxExt = opts.maxExtents ?? 32;
  const maxStrips = opts.maxStrips ?? 16;
  const nExt = int(1, maxExt);
  const extents: Extent[] = [];
  let cap = 0;
  // Aligned or arbitrary; blockAligned: every run, chunk and extent boundary on a 4 KiB block.
  const aligned = opts.blockAligned === true;
  const offset = () => (r() < 0.5 ? int(0, 2 ** 20) * 2 * MiB : aligned ? int(0, 2 ** 32) * 4096 : int(0, 2 ** 44));
  const interleaveBudget = Math.max(1, Math.floor(64 / maxStrips));
  let interleaved = 0;
  for (let k = 0; k < nExt; k++) {
    if (r() < 0.5 && interleaved < interleaveBudget) {
      interleaved++;
      const n = r() < 0.5 ? [1, 2, 4, 8, 16][int(0, 4)]! : int(1, maxStrips);
      const chunk = r() < 0.5 || aligned ? 2 ** int(12, 31) : int(1, 5 * MiB);
      const nbytes = int(1, 40) * chunk + (r() < 0.3 && !aligned ? int(0, chunk - 1) : 0);
      const dev0 = int(0, 3);
      const strips: Strip[] = [];
      const regular = r() < 0.3;
      for (let s = 0; s < Math.min(n, maxStrips); s++) {
        strips.push(regular ? { daxdev: dev0 + s, offset: 0x100000000, length: nbytes } : { daxdev: int(0, 7), offset: offset(), length: nbytes });
      }
      extents.push({ type: 'interleave', chunkSize: chunk, nbytes, strips });
      cap += nbytes;
    } else {
      const length = r() < 0.5 ? int(1, 64) * 2 * MiB : aligned ? int(1, 2 ** 18) * 4096 : int(1, 2 ** 30);
      extents.push({ type: 'simple', daxdev: int(0, 7), offset: offset(), length });
      cap += length;
    }
  }
  const shape = r();
  const size = shape < 0.7 ? int(1, cap) : shape < 0.9 ? cap : cap + int(1, 2 ** 24); // last case has a hole
  return { size, extents };
}

/** Positions worth asking about: boundaries of every extent and chunk, EOF, huge values. */
export function interestingPositions(map: FileMap, r: () => number, count: number): bigint[] {
  const out: bigint[] = [0n, BigInt(map.size) - 1n, BigInt(map.size), BigInt(map.size) + 1n, 1n << 53n, 1n << 63n, (1n << 64n) - 1n];
  let start = 0;
  for (const e of map.extents) {
    out.push(BigInt(start), BigInt(Math.max(0, start - 1)), BigInt(start + 1));
    if (e.type === 'interleave') out.push(BigInt(start + e.chunkSize - 1), BigInt(start + e.chunkSize));
    start += e.type === 'simple' ? e.length : Math.min(e.nbytes, map.size);
  }
  while (out.length < count) out.push(BigInt(Math.floor(r() * (map.size + 64))));
  return out.filter((p) => p >= 0n).slice(0, count);
}

/** resolve() as a resolver answer: EOF past size, HOLE where resolve() throws. */
export function expected(map: FileMap, pos: bigint): Answer {
  if (pos >= BigInt(map.size)) return { status: STATUS.EOF };
  try {
    const m = resolve(map, Number(pos));
    if (!m) return { status: STATUS.EOF };
    return { status: STATUS.MAPPED, daxdev: BigInt(m.daxdev), offset: BigInt(m.offset), length: BigInt(m.length) };
  } catch (e) {
    if (e instanceof FileMapError) return { status: STATUS.HOLE };
    throw e;
  }
}

/**
 * What the fuse_iomap_bpf_ops shell answers for pos, seen from pos: resolve() of pos's block
 * start, moved forward to pos, with the length rounded up to whole blocks from the block start.
 */
export function expectedBlocks(map: FileMap, pos: bigint, blockSize = 4096): Answer {
  const bs = BigInt(blockSize);
  const start = pos - (pos % bs);
  const a = expected(map, start);
  if (a.status !== STATUS.MAPPED) return a;
  const delta = pos - start;
  const len = ((a.length! + bs - 1n) / bs) * bs;
  return { status: STATUS.MAPPED, daxdev: a.daxdev, offset: a.offset! + delta, length: len - delta };
}

/** Collapse statuses the way a shell's caller sees them (fuse shells say only "not mapped"). */
export function visible(a: Answer, lossy: boolean): Answer {
  if (!lossy || a.status === STATUS.MAPPED) return a;
  return { status: a.status === STATUS.UNKNOWN_NODEID ? STATUS.UNKNOWN_NODEID : STATUS.EOF };
}
