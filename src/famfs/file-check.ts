// Whether a replayed file can be read whole: its extents hold its size and lie inside the
// daxdevs the log knows. getmap calls a file good only when this finds nothing; a read of
// such a file fails with EIO at the first byte that has no home. Pure.
import { stripNeed } from '../interleave/filemap-check.js';
import type { FileNode } from './namespace.js';

/** What getmap needs to know of a daxdev: its size (from the superblock or ADD_DAXDEV). */
export interface DaxdevExtent {
  readonly size: number;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** Every reason `file` cannot be read whole; empty when it can. */
export function fileMapProblems(file: FileNode, daxdevs: ReadonlyMap<number, DaxdevExtent>): string[] {
  const out: string[] = [];
  const within = (what: string, daxdev: number, offset: number, length: number): void => {
    const d = daxdevs.get(daxdev);
    if (!d) out.push(`${what} is on daxdev ${daxdev}, which the log does not know`);
    else if (offset + length > d.size) out.push(`${what} [${hex(offset)}, ${hex(offset + length)}) runs past the end of daxdev ${daxdev} (${d.size} bytes)`);
  };
  let held = 0;
  file.map.extents.forEach((e, i) => {
    if (e.type === 'simple') {
      within(`extent ${i}`, e.daxdev, e.offset, e.length);
      held += e.length;
      return;
    }
    let ok = true;
    e.strips.forEach((s, j) => {
      within(`extent ${i} strip ${j}`, s.daxdev, s.offset, s.length);
      const need = stripNeed(e.nbytes, e.chunkSize, e.strips.length, j);
      if (s.length < need) {
        out.push(`extent ${i} strip ${j} holds ${s.length} bytes but ${need} of the file's chunks land on it`);
        ok = false;
      }
    });
    if (ok) held += e.nbytes;
  });
  if (held < file.size) out.push(`size ${file.size} is more than its extents hold (${held} bytes)`);
  return out;
}
