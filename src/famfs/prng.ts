// famfs's test-data PRNG (famfs-format.md §9; testlib/xoroshiro.h): xoroshiro128+ (rotations
// 55/14/36) seeded by two splitmix64 steps from a u32 seed. Each 4 file bytes take the
// low 32 bits of the next output, little-endian; a short tail takes that word's low bytes.
// The state is kept as 32-bit halves so filling gigabytes stays fast.

const M64 = (1n << 64n) - 1n;

function splitmix(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

export class FamfsRandom {
  private h0: number;
  private l0: number;
  private h1: number;
  private l1: number;

  constructor(seed: number) {
    // randomize_buffer takes an unsigned int.
    let s = BigInt(seed >>> 0);
    s = (s + 0x9e3779b97f4a7c15n) & M64;
    const a = splitmix(s);
    s = (s + 0x9e3779b97f4a7c15n) & M64;
    const b = splitmix(s);
    this.h0 = Number(a >> 32n) >>> 0;
    this.l0 = Number(a & 0xffffffffn) >>> 0;
    this.h1 = Number(b >> 32n) >>> 0;
    this.l1 = Number(b & 0xffffffffn) >>> 0;
  }

  /** Low 32 bits of the next 64-bit output. */
  next32(): number {
    const h0 = this.h0, l0 = this.l0;
    const result = (l0 + this.l1) >>> 0;
    // s1 ^= s0
    const h1 = this.h1 ^ h0, l1 = this.l1 ^ l0;
    // s0 = rotl(s0, 55) ^ s1 ^ (s1 << 14); rotl 55 = swap halves, then rotl 23.
    const rh = ((l0 << 23) | (h0 >>> 9)) >>> 0;
    const rl = ((h0 << 23) | (l0 >>> 9)) >>> 0;
    const sh = ((h1 << 14) | (l1 >>> 18)) >>> 0;
    const sl = (l1 << 14) >>> 0;
    this.h0 = (rh ^ h1 ^ sh) >>> 0;
    this.l0 = (rl ^ l1 ^ sl) >>> 0;
    // s1 = rotl(s1, 36): swap halves, then rotl 4.
    this.h1 = ((l1 << 4) | (h1 >>> 28)) >>> 0;
    this.l1 = ((h1 << 4) | (l1 >>> 28)) >>> 0;
    return result;
  }

  /** Fill `buf` with the stream's next bytes; `buf.length` must be a multiple of 4 except at the very end. */
  fill(buf: Uint8Array): void {
    const n4 = buf.byteLength & ~3;
    if ((buf.byteOffset & 3) === 0) {
      const words = new Uint32Array(buf.buffer, buf.byteOffset, n4 >>> 2);
      // next32() written out with the state in locals: a method call and four field stores
      // per word held this at ~110 MB/s, and famfs's scripts fill and verify gigabytes.
      let h0 = this.h0, l0 = this.l0, h1 = this.h1, l1 = this.l1;
      // Little-endian host (x86_64/arm64), as famfs assumes.
      for (let i = 0; i < words.length; i++) {
        words[i] = l0 + l1;
        const xh = h1 ^ h0, xl = l1 ^ l0;
        const nh = ((l0 << 23) | (h0 >>> 9)) ^ xh ^ ((xh << 14) | (xl >>> 18));
        const nl = ((h0 << 23) | (l0 >>> 9)) ^ xl ^ (xl << 14);
        h0 = nh >>> 0;
        l0 = nl >>> 0;
        h1 = ((xl << 4) | (xh >>> 28)) >>> 0;
        l1 = ((xh << 4) | (xl >>> 28)) >>> 0;
      }
      this.h0 = h0;
      this.l0 = l0;
      this.h1 = h1;
      this.l1 = l1;
    } else {
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < n4; i += 4) dv.setUint32(i, this.next32(), true);
    }
    const tail = buf.byteLength - n4;
    if (tail > 0) {
      const w = this.next32();
      for (let i = 0; i < tail; i++) buf[n4 + i] = (w >>> (8 * i)) & 0xff;
    }
  }
}

/** The first `len` bytes famfs `creat -r -S seed` writes. */
export function randomBytes(seed: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  new FamfsRandom(seed).fill(b);
  return b;
}

/**
 * glibc's rand() after srand(seed) (the TYPE_3 additive feedback generator). famfs shuffles
 * its strided-allocation buckets with it, seeded by time(NULL) (famfs-format.md §4.3), so the same
 * seed gives the same bucket order as famfs.
 */
export class GlibcRand {
  /** The last 34 values of r[] (r[i] = r[i-31] + r[i-3]), as a ring. */
  private readonly ring = new Int32Array(34);
  private pos = 0;

  constructor(seed: number) {
    const r = this.ring;
    let s = seed >>> 0;
    if (s === 0) s = 1;
    r[0] = s | 0;
    for (let i = 1; i < 31; i++) {
      // r[i] = (16807 * r[i-1]) % 2147483647 with glibc's signed hi/lo split.
      const prev = r[i - 1]!;
      const hi = Math.trunc(prev / 127773);
      const lo = prev % 127773;
      let word = 16807 * lo - 2836 * hi;
      if (word < 0) word += 2147483647;
      r[i] = word;
    }
    for (let i = 31; i < 34; i++) r[i] = r[i - 31]!;
    this.pos = 0;
    // glibc srandom_r discards the first 310 outputs.
    for (let i = 0; i < 310; i++) this.step();
  }

  private step(): number {
    const r = this.ring;
    const p = this.pos;
    const v = (r[(p + 3) % 34]! + r[(p + 31) % 34]!) | 0;
    r[p] = v;
    this.pos = (p + 1) % 34;
    return v;
  }

  /** Next rand() value in [0, 2^31). */
  next(): number {
    return this.step() >>> 1;
  }
}
