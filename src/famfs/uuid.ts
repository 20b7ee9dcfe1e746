// famfs stores libuuid's raw uuid_t, i.e. the 16 bytes in textual order (famfs-format.md §2, famfs-format.md §12.4).
import crypto from 'node:crypto';
import { InvalidError } from '../errno.js';

export class UuidError extends InvalidError {}

export function parseUuid(text: string): Uint8Array {
  const t = text.trim();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(t)) throw new UuidError(`"${text}" is not a UUID`);
  return Uint8Array.from(Buffer.from(t.replace(/-/g, ''), 'hex'));
}

export function formatUuid(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function randomUuid(): Uint8Array {
  return parseUuid(crypto.randomUUID());
}

export function uuidEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
