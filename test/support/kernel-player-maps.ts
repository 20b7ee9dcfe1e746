// Random FileMaps for the protocol tests and the kernel-side player: the shapes famfs
// images hold (<= 16 simple extents, or one interleaved extent of <= 16 equal strips) and
// the wider shapes the model allows (mixed extents, up to 32 of each), on a seeded PRNG
// so a failing case can be replayed from its seed.
import type { Extent, FileMap, Strip } from '../../src/interleave/filemap.js';

export const MiB = 2 ** 20;
export const ALLOC = 2 * MiB;

/** mulberry32: small, fast, good enough to pick test cases. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  /** A size spread over orders of magnitude: [1, 2^maxLog2]. */
  spread(maxLog2: number): number {
    return Math.max(1, Math.floor(2 ** (this.next() * maxLog2)));
  }
}

export interface MapShape {
  /** Highest daxdev index a run may use. */
  readonly maxDaxdev: number;
  /** famfs image shapes only, or the model's mixed shapes. */
  readonly famfs: boolean;
  /** log2 of the largest file. */
  readonly maxLog2: number;
  /** Device offsets stay below this (so the player can back them with sparse files). */
  readonly deviceBytes: number;
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

function run(rng: Rng, shape: MapShape, length: number): Strip {
  const slots = Math.max(1, Math.floor((shape.deviceBytes - length) / ALLOC));
  return { daxdev: rng.int(0, shape.maxDaxdev), offset: rng.int(0, slots - 1) * ALLOC, length };
}

function interleaved(rng: Rng, shape: MapShape, nbytes: number, maxStrips: number): Extent {
  const nstrips = rng.int(1, maxStrips);
  const chunkSize = ALLOC * 2 ** rng.int(0, 3);
  // Equal strips of whole chunks, each large enough for its share (as famfs allocates).
  const stripLen = Math.ceil(nbytes / (chunkSize * nstrips)) * chunkSize;
  const strips: Strip[] = [];
  for (let i = 0; i < nstrips; i++) strips.push(run(rng, shape, stripLen));
  return { type: 'interleave', chunkSize, nbytes, strips };
}

/** A random FileMap of `shape`. The extents hold at least `size` bytes. */
export function randomFileMap(rng: Rng, shape: MapShape): FileMap {
  const size = rng.next() < 0.03 ? 0 : rng.spread(shape.maxLog2);
  const data = Math.max(size, 1);
  const kind = rng.int(0, shape.famfs ? 1 : 2);
  if (kind === 1) {
    // One interleaved extent; famfs rounds nbytes up to the allocation unit.
    return { size, extents: [interleaved(rng, shape, roundUp(data, ALLOC), 16)] };
  }
  const n = Math.min(rng.int(1, shape.famfs ? 16 : 32), Math.ceil(data / ALLOC));
  // Cut the (aligned) data into n runs of whole allocation units.
  const units = roundUp(data, ALLOC) / ALLOC;
  const cuts = new Set<number>();
  while (cuts.size < n - 1) cuts.add(rng.int(1, units - 1));
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), units];
  const extents: Extent[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const len = (bounds[i + 1]! - bounds[i]!) * ALLOC;
    const mixed = kind === 2 && rng.next() < 0.4;
    if (mixed) {
      // A model-only interleaved piece: whole chunks unless it is the last.
      const e = interleaved(rng, shape, len, 32);
      extents.push(e);
    } else {
      extents.push({ type: 'simple', ...run(rng, shape, len) });
    }
  }
  return { size, extents };
}
