// Sizes as people write them: integers, 0x hex, and binary-unit suffixes. famfs's own CLI
// takes single letters (3M, 2G); layouts say MiB/GiB. Both mean powers of 1024.
import { InvalidError } from '../errno.js';

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10,
  m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20,
  g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30,
  t: 2 ** 40, tb: 2 ** 40, tib: 2 ** 40,
  p: 2 ** 50, pb: 2 ** 50, pib: 2 ** 50,
};

export class SizeError extends InvalidError {}

/** Parse `4GiB`, `2M`, `0x200000`, `12345` (or a number) to a byte count below 2^53. */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) throw new SizeError(`${input} is not a byte count (a non-negative integer below 2^53)`);
    return input;
  }
  const s = input.trim();
  const hex = /^0x([0-9a-f]+)$/i.exec(s);
  if (hex) return checked(BigInt(s), input);
  const m = /^(\d+)(?:\.(\d+))?\s*([a-z]*)$/i.exec(s);
  if (!m) throw new SizeError(`"${input}" is not a size (examples: 4096, 0x200000, 2MiB, 4G)`);
  const unit = UNITS[m[3]!.toLowerCase()];
  if (unit === undefined) throw new SizeError(`"${input}": unknown unit "${m[3]}" (use K, M, G, T, P or KiB, MiB, GiB, TiB, PiB)`);
  if (m[2] !== undefined) {
    const v = Number(`${m[1]}.${m[2]}`) * unit;
    if (!Number.isInteger(v)) throw new SizeError(`"${input}" is not a whole number of bytes`);
    return checked(BigInt(v), input);
  }
  return checked(BigInt(m[1]!) * BigInt(unit), input);
}

function checked(v: bigint, input: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new SizeError(`"${input}" is past 2^53 bytes, which famfs-ts cannot address exactly`);
  return Number(v);
}

/** Human size in binary units, exact when it can be ("2MiB", "4GiB", "3145728"). */
export function formatSize(n: number): string {
  for (const [u, v] of [['PiB', 2 ** 50], ['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (n >= v && n % v === 0) return `${n / v}${u}`;
  }
  return String(n);
}
