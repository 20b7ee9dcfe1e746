// FileMap YAML: a file's size and its extents in file order.
//
//   size: 100MiB                     # file size
//   extents:                         # in file order
//     - {daxdev: 0, offset: 4MiB, length: 64MiB}            # simple extent
//     - interleave: {chunk: 2MiB, nbytes: 96MiB,            # interleaved extent
//         strips: [{daxdev: 0, offset: 1GiB, length: 48MiB},
//                  {daxdev: 1, offset: 0, length: 48MiB}]}
//
// Sizes take the same forms as layouts (integers, 0x hex, 2MiB). Errors (validateFileMap)
// fail the parse; famfs shape rules come back as warnings from checkFileMap.
import path from 'node:path';
import type { Node } from 'yaml';
import { simple, type Extent, type FileMap, type Strip } from './filemap.js';
import { validateFileMap } from './filemap-check.js';
import type { Layout } from './layout.js';
import { formatSize } from './size.js';
import { childPath, LayoutError, readSource, YamlReader, type SourceProblem } from './yaml-reader.js';

export interface FileMapCheck {
  readonly map?: FileMap;
  readonly errors: readonly SourceProblem[];
  readonly warnings: readonly SourceProblem[];
}

/** Parse and validate (against `layout` when given), collecting every problem. */
export function checkFileMap(text: string, source: string, layout?: Layout): FileMapCheck {
  const r = new YamlReader(text, source);
  const map = r.parsed ? readFileMap(r) : undefined;
  if (map !== undefined) r.reportAll(validateFileMap(map, layout));
  const byPlace = (a: SourceProblem, b: SourceProblem): number => a.line - b.line || a.col - b.col;
  const errors = r.errors().sort(byPlace);
  return { map: errors.length === 0 ? map : undefined, errors, warnings: r.warnings().sort(byPlace) };
}

/** Parse a FileMap; throws LayoutError with every error (famfs shape warnings do not throw). */
export function parseFileMap(text: string, source: string, layout?: Layout): FileMap {
  const c = checkFileMap(text, source, layout);
  if (c.map === undefined) throw new LayoutError(c.errors, c.warnings);
  return c.map;
}

export function loadFileMap(file: string, layout?: Layout): FileMap {
  return parseFileMap(readSource(file), path.normalize(file), layout);
}

function readFileMap(r: YamlReader): FileMap | undefined {
  const top = r.map(r.root, '', ['size', 'extents']);
  if (top === undefined || !r.require(top, '', ['size', 'extents'])) return undefined;
  const size = r.size(top.get('size'), 'size');
  const extents: Extent[] = [];
  let ok = size !== undefined;
  (r.seq(top.get('extents'), 'extents', 'extents') ?? []).forEach((n, i) => {
    const p = childPath('extents', i);
    const m = r.map(n, p, ['daxdev', 'offset', 'length', 'interleave']);
    if (m === undefined) return void (ok = false);
    if (m.has('interleave')) {
      if (m.size > 1) {
        r.error(p, 'an extent is either simple {daxdev, offset, length} or {interleave: ...}, not both');
        return void (ok = false);
      }
      const e = readInterleave(r, m.get('interleave')!, childPath(p, 'interleave'));
      if (e === undefined) ok = false;
      else extents.push(e);
      return;
    }
    const s = readStrip(r, m, p);
    if (s === undefined) ok = false;
    else extents.push(simple(s.daxdev, s.offset, s.length));
  });
  return ok ? { size: size!, extents } : undefined;
}

function readStrip(r: YamlReader, m: Map<string, Node | null>, p: string): Strip | undefined {
  if (!r.require(m, p, ['daxdev', 'offset', 'length'])) return undefined;
  const daxdev = r.int(m.get('daxdev'), childPath(p, 'daxdev'), 0, 2 ** 32 - 1);
  const offset = r.size(m.get('offset'), childPath(p, 'offset'));
  const length = r.size(m.get('length'), childPath(p, 'length'));
  if (daxdev === undefined || offset === undefined || length === undefined) return undefined;
  return { daxdev, offset, length };
}

function readInterleave(r: YamlReader, node: Node | null, p: string): Extent | undefined {
  const m = r.map(node, p, ['chunk', 'nbytes', 'strips']);
  if (m === undefined || !r.require(m, p, ['chunk', 'nbytes', 'strips'])) return undefined;
  const chunkSize = r.size(m.get('chunk'), childPath(p, 'chunk'));
  const nbytes = r.size(m.get('nbytes'), childPath(p, 'nbytes'));
  const strips: Strip[] = [];
  let ok = chunkSize !== undefined && nbytes !== undefined;
  if (chunkSize === 0) {
    r.error(childPath(p, 'chunk'), 'chunk cannot be 0');
    ok = false;
  }
  (r.seq(m.get('strips'), childPath(p, 'strips'), 'strips') ?? []).forEach((n, j) => {
    const sp = childPath(childPath(p, 'strips'), j);
    const sm = r.map(n, sp, ['daxdev', 'offset', 'length']);
    const s = sm === undefined ? undefined : readStrip(r, sm, sp);
    if (s === undefined) ok = false;
    else strips.push(s);
  });
  return ok ? { type: 'interleave', chunkSize: chunkSize!, nbytes: nbytes!, strips } : undefined;
}

function sz(n: number): string {
  const f = formatSize(n);
  return f === String(n) && n >= 2 ** 20 ? `0x${n.toString(16)}` : f;
}

/** The FileMap YAML for `map` (what `parseFileMap` reads back). */
export function formatFileMapYaml(map: FileMap): string {
  const lines = [`size: ${sz(map.size)}`, 'extents:'];
  if (map.extents.length === 0) lines[1] = 'extents: []';
  const strip = (s: Strip): string => `{daxdev: ${s.daxdev}, offset: ${sz(s.offset)}, length: ${sz(s.length)}}`;
  for (const e of map.extents) {
    if (e.type === 'simple') {
      lines.push(`  - ${strip(e)}`);
      continue;
    }
    lines.push(`  - interleave:`, `      chunk: ${sz(e.chunkSize)}`, `      nbytes: ${sz(e.nbytes)}`, `      strips:`);
    for (const s of e.strips) lines.push(`        - ${strip(s)}`);
  }
  return lines.join('\n') + '\n';
}
