// famfs's test data (creat -r / verify): a file filled from famfs's PRNG for a seed, and
// the check that finds the first byte that differs. The I/O is the caller's: a reader or
// writer over a file in an image, a file in a mount, or anything else.
import { FamfsRandom } from './prng.js';

const CHUNK = 4 * 1024 * 1024;

export type Reader = (pos: number, dst: Buffer) => number;
export type Writer = (pos: number, src: Buffer) => void;
export type Progress = (done: number, total: number) => void;

/** Fill `size` bytes with the stream for `seed`. */
export function randomizeFile(size: number, seed: number, write: Writer, progress?: Progress): void {
  const rng = new FamfsRandom(seed);
  const chunk = Buffer.alloc(Math.min(CHUNK, Math.max(size, 1)));
  for (let pos = 0; pos < size; pos += chunk.length) {
    const n = Math.min(chunk.length, size - pos);
    rng.fill(chunk.subarray(0, n));
    write(pos, chunk.subarray(0, n));
    progress?.(pos + n, size);
  }
}

/** The offset of the first byte that is not the stream for `seed`, or -1 when all match. */
export function verifyFile(size: number, seed: number, read: Reader, progress?: Progress): number {
  const rng = new FamfsRandom(seed);
  const want = Buffer.alloc(Math.min(CHUNK, Math.max(size, 1)));
  const got = Buffer.alloc(want.length);
  for (let pos = 0; pos < size; pos += want.length) {
    const n = Math.min(want.length, size - pos);
    rng.fill(want.subarray(0, n));
    let filled = 0;
    while (filled < n) {
      const r = read(pos + filled, got.subarray(filled, n));
      if (r <= 0) return pos + filled;
      filled += r;
    }
    if (!want.subarray(0, n).equals(got.subarray(0, n))) {
      let k = 0;
      while (want[k] === got[k]) k++;
      return pos + k;
    }
    progress?.(pos + n, size);
  }
  return -1;
}
