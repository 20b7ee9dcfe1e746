// File bytes in and out of the mapped daxdevs: the one data path of the mount, run by the
// main thread (famfs-fs.ts) and by every serving thread (data-plane.ts).
import os from 'node:os';
import { readViews, type DaxdevMemory } from '../device/memory.js';
import { FuseError } from '../fuse/filesystem.js';
import { resolveRange, type FileMap } from '../interleave/filemap.js';

export type DaxdevLookup = (index: number) => DaxdevMemory;

/** Views of the file's bytes [offset, offset+size), clipped at its size (none past it). */
export function readMapped(map: FileMap, dev: DaxdevLookup, offset: number, size: number): Buffer[] {
  if (offset >= map.size) return [];
  const out: Buffer[] = [];
  for (const m of resolveRange(map, offset, Math.min(size, map.size - offset))) {
    const d = dev(m.daxdev);
    // Another host may have written these bytes (README "Caches on shared memory").
    d.invalidate(m.offset, m.length);
    if (d.views) for (const s of readViews(d, m.offset, m.length)) out.push(s);
    else {
      const copy = Buffer.alloc(m.length);
      d.read(m.offset, copy);
      out.push(copy);
    }
  }
  return out;
}

/** Store all of `data` at file offset `offset` (the map must hold it). */
export function writeMapped(map: FileMap, dev: DaxdevLookup, offset: number, data: Buffer): void {
  for (const m of resolveRange(map, offset, data.length)) {
    const d = dev(m.daxdev);
    d.write(m.offset, data.subarray(m.pos - offset, m.pos - offset + m.length));
    d.flush(m.offset, m.length);
  }
}

/**
 * A write to a committed file: famfs files never grow, so a write that would end past the
 * size gets EFBIG whole, nothing written (a rewriter with longer content, rsync --inplace,
 * fails at its first write past the end, not after storing the part that fits).
 */
export function writeCommitted(name: string, map: FileMap, dev: DaxdevLookup, offset: number, data: Buffer): number {
  if (offset + data.length > map.size) {
    throw new FuseError(os.constants.errno.EFBIG, `${name}: a write of ${data.length} bytes at ${offset} would end past the size ${map.size}: famfs files cannot grow after they are committed`);
  }
  writeMapped(map, dev, offset, data);
  return data.length;
}
