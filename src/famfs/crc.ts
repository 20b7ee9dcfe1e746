// famfs checksums are zlib crc32(0, buf, len): standard CRC-32/IEEE (famfs-format.md §0, famfs-format.md §2.1).
import zlib from 'node:zlib';

export function crc32(bytes: Uint8Array): number {
  return zlib.crc32(bytes) >>> 0;
}
