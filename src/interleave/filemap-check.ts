// FileMap validation. Problems carry the key path the FileMap YAML uses (extents[1].interleave
// .strips[0].offset), so the YAML reader can put a line:column on them, and a map decoded
// from an image gets the same words.
import { type Extent, type FileMap, type Strip } from './filemap.js';
import type { Layout } from './layout.js';
import { formatSize } from './size.js';
import type { Problem } from './yaml-reader.js';
import { ALLOC_UNIT, isPowerOfTwo, MAX_SIMPLE_EXTENTS, MAX_STRIPS } from './famfs-limits.js';
import { chunkSizeProblem, stripCountProblem } from './interleave-params.js';

const U32_MAX = 2 ** 32 - 1;

export function extentPath(i: number, e: Extent): string {
  return e.type === 'simple' ? `extents[${i}]` : `extents[${i}].interleave`;
}

function safe(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/**
 * Bytes an interleaved extent of `nbytes` puts on strip `i` of `nstrips`: through the end of
 * the last chunk that lands there.
 */
export function stripNeed(nbytes: number, chunk: number, nstrips: number, i: number): number {
  const nchunks = Math.ceil(nbytes / chunk);
  if (i >= nchunks) return 0;
  const last = i + Math.floor((nchunks - 1 - i) / nstrips) * nstrips;
  return Math.floor(last / nstrips) * chunk + Math.min(chunk, nbytes - last * chunk);
}

interface Piece {
  readonly daxdev: number;
  readonly start: number;
  readonly end: number;
  readonly path: string;
}

/**
 * Everything wrong with a map: errors make it unresolvable or unsafe (numbers past 2^53,
 * overlapping extents or strips, strips beyond a daxdev or too short for their chunks, chunk
 * not a power of two, extents not covering the size); warnings are famfs shape rules
 * (famfsShapeProblems), which only matter for maps going into an image.
 */
export function validateFileMap(map: FileMap, layout?: Layout): Problem[] {
  const out: Problem[] = [];
  const err = (path: string, message: string): void => void out.push({ path, message, severity: 'error' });
  if (!safe(map.size)) err('size', `${map.size} is not a byte count below 2^53`);
  const pieces: Piece[] = [];
  const place = (daxdev: number, offset: number, length: number, p: string): void => {
    if (!safe(daxdev) || daxdev > U32_MAX) return err(`${p}.daxdev`, `${daxdev} is not a daxdev index`);
    if (!safe(offset)) return err(`${p}.offset`, `${offset} is not a byte offset below 2^53`);
    if (!safe(length) || length === 0) return err(`${p}.length`, `${length} is not a positive length below 2^53`);
    if (!safe(offset + length)) return err(`${p}.length`, `offset + length is past 2^53`);
    if (layout !== undefined) {
      const d = layout.daxdevs[daxdev];
      if (d === undefined) return err(`${p}.daxdev`, `daxdev ${daxdev} does not exist in ${layout.source} (${layout.daxdevs.length} daxdevs)`);
      if (offset + length > d.size) {
        return err(p, `[${hex(offset)}, ${hex(offset + length)}) is beyond daxdev ${daxdev} "${d.name}" (size ${formatSize(d.size)})`);
      }
    }
    pieces.push({ daxdev, start: offset, end: offset + length, path: p });
  };
  let held = 0;
  map.extents.forEach((e, i) => {
    const p = extentPath(i, e);
    if (e.type === 'simple') {
      place(e.daxdev, e.offset, e.length, p);
      held += safe(e.length) ? e.length : 0;
      return;
    }
    let ok = true;
    if (!isPowerOfTwo(e.chunkSize)) {
      err(`${p}.chunk`, `${e.chunkSize} is not a power of two`);
      ok = false;
    }
    if (!safe(e.nbytes) || e.nbytes === 0) {
      err(`${p}.nbytes`, `${e.nbytes} is not a positive byte count below 2^53`);
      ok = false;
    }
    if (e.strips.length === 0) {
      err(`${p}.strips`, 'an interleaved extent needs at least one strip');
      ok = false;
    }
    e.strips.forEach((s: Strip, j) => {
      const sp = `${p}.strips[${j}]`;
      const before = out.length;
      place(s.daxdev, s.offset, s.length, sp);
      if (!ok || out.length !== before) return;
      const need = stripNeed(e.nbytes, e.chunkSize, e.strips.length, j);
      if (s.length < need) err(`${sp}.length`, `${formatSize(s.length)} is too short: the extent's ${formatSize(e.nbytes)} in ${formatSize(e.chunkSize)} chunks put ${formatSize(need)} on strip ${j}`);
    });
    if (ok) held += e.nbytes;
  });
  if (safe(map.size) && held < map.size) {
    err('size', `${formatSize(map.size)} is more than the extents hold (${formatSize(held)})`);
  }
  pieces.sort((a, b) => a.daxdev - b.daxdev || a.start - b.start);
  // Compare each piece with the one reaching furthest so far on its daxdev, so a long piece
  // that overlaps several later ones is caught against each of them.
  let reach: Piece | undefined;
  for (const b of pieces) {
    if (reach !== undefined && reach.daxdev === b.daxdev && b.start < reach.end) {
      err(b.path, `overlaps ${reach.path} on daxdev ${b.daxdev} at [${hex(b.start)}, ${hex(Math.min(reach.end, b.end))})`);
    }
    if (reach === undefined || reach.daxdev !== b.daxdev || b.end > reach.end) reach = b;
  }
  for (const w of famfsShapeProblems(map)) out.push(w);
  return out;
}

/**
 * Reasons `map` cannot go into a famfs image as it is (docs/design.md "FileMap shapes in images",
 * famfs-format.md §3.2): famfs holds either up to 16 simple extents or exactly one
 * interleaved extent of up to 16 equal strips, its chunk valid for interleave-params.ts;
 * every offset and length 2 MiB aligned. Empty when it can. Severity is
 * 'warning' because the model may hold other shapes for inspection.
 */
export function famfsShapeProblems(map: FileMap): Problem[] {
  const out: Problem[] = [];
  const warn = (path: string, message: string): void => void out.push({ path, message, severity: 'warning' });
  const aligned = (p: string, s: { offset: number; length: number }): void => {
    if (s.offset % ALLOC_UNIT !== 0) warn(`${p}.offset`, `famfs: ${hex(s.offset)} is not 2 MiB aligned`);
    if (s.length % ALLOC_UNIT !== 0) warn(`${p}.length`, `famfs: ${s.length} is not a multiple of 2 MiB`);
  };
  const nInterleaved = map.extents.filter((e) => e.type === 'interleave').length;
  if (map.extents.length === 0 && map.size > 0) warn('extents', 'famfs: a non-empty file needs extents');
  if (nInterleaved > 0 && map.extents.length > 1) {
    warn('extents', `famfs: an interleaved file has exactly one interleaved extent (this map has ${nInterleaved} interleaved and ${map.extents.length - nInterleaved} simple)`);
  }
  if (nInterleaved === 0 && map.extents.length > MAX_SIMPLE_EXTENTS) {
    warn('extents', `famfs: ${map.extents.length} simple extents; at most ${MAX_SIMPLE_EXTENTS}`);
  }
  map.extents.forEach((e, i) => {
    const p = extentPath(i, e);
    if (e.type === 'simple') return aligned(p, e);
    const chunk = chunkSizeProblem(e.chunkSize);
    if (chunk) warn(`${p}.chunk`, `famfs: ${chunk}`);
    if (e.strips.length > MAX_STRIPS) warn(`${p}.strips`, `famfs: ${stripCountProblem(e.strips.length)}`);
    const len0 = e.strips[0]?.length;
    e.strips.forEach((s, j) => {
      aligned(`${p}.strips[${j}]`, s);
      if (s.length !== len0) warn(`${p}.strips[${j}].length`, `famfs: strips must be equal (${s.length} vs strips[0] ${len0})`);
    });
  });
  return out;
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

