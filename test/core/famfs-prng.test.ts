import { describe, expect, it } from 'vitest';
import { FamfsRandom, GlibcRand, randomBytes } from '../../src/famfs/prng.js';

describe('famfs PRNG (famfs-format.md §9)', () => {
  it('seed 42 starts with the bytes the reference gives', () => {
    expect(randomBytes(42, 12).toString('hex')).toBe('985f52e27afb0c3df88c822b');
  });
  it('a short tail takes the low bytes of the next word', () => {
    const full = randomBytes(7, 16);
    expect(randomBytes(7, 14)).toEqual(full.subarray(0, 14));
  });
  it('fills unaligned buffers identically', () => {
    const a = Buffer.alloc(41);
    new FamfsRandom(9).fill(a.subarray(1, 41));
    expect(a.subarray(1)).toEqual(randomBytes(9, 40));
  });
  it('a long fill, in pieces, is the word-by-word stream (next32) for any seed', () => {
    for (const seed of [0, 1, 42, 0x7fffffff, 0xffffffff]) {
      const fast = Buffer.alloc(1 << 18);
      const rng = new FamfsRandom(seed);
      for (let at = 0; at < fast.length; at += 4096 * 3) rng.fill(fast.subarray(at, Math.min(fast.length, at + 4096 * 3)));
      const slow = new FamfsRandom(seed);
      const words = new Uint32Array(fast.buffer, fast.byteOffset, fast.length / 4);
      for (let i = 0; i < words.length; i++) if (words[i] !== slow.next32()) throw new Error(`seed ${seed}: word ${i} differs`);
    }
  });
});

describe('glibc rand() (bucket shuffle, famfs-format.md §4.3)', () => {
  it('matches glibc for srand(12345) and srand(0)', () => {
    // Printed by a C program linked against glibc 2.36 on this machine.
    const g = new GlibcRand(12345);
    expect([g.next(), g.next(), g.next(), g.next(), g.next()]).toEqual([383100999, 858300821, 357768173, 455528251, 133005921]);
    expect(new GlibcRand(0).next()).toBe(1804289383);
  });
});
