// "Where is byte pos": resolve() on a FileMap, then, with a layout, the controller arithmetic
// down to the memory device and its DPA. This is what `famfs-ts layout map` prints; the JSON
// field names here are a stable interface (scripts and later issues read them).
import { toController, granuleRemainder } from './controller.js';
import { FileMapError, resolve, resolveRange, type FileMap, type Mapping } from './filemap.js';
import type { Layout } from './layout.js';

/** One answer of `layout map`. `device`/`dpa` only with a layout; `pos` only for ranges. */
export interface Location {
  pos?: number;
  daxdev: number;
  offset: number;
  length: number;
  device?: string;
  dpa?: number;
}

function withDevice(layout: Layout, m: Mapping, pos: number | undefined): Location {
  const d = layout.daxdevs[m.daxdev];
  if (d === undefined) throw new FileMapError(`the map names daxdev ${m.daxdev}, which ${layout.source} does not have (${layout.daxdevs.length} daxdevs)`);
  if (m.offset + m.length > d.size) throw new FileMapError(`daxdev ${m.daxdev} offset ${m.offset}+${m.length} is beyond "${d.name}" (size ${d.size})`);
  const head = pos === undefined ? {} : { pos };
  if (d.backing.kind === 'device') return { ...head, daxdev: m.daxdev, offset: m.offset, length: m.length, device: d.backing.device.name, dpa: m.offset };
  const c = toController(d.backing.region, m.offset);
  return { ...head, daxdev: m.daxdev, offset: m.offset, length: m.length, device: c.device, dpa: c.dpa };
}

/**
 * Resolve `pos`: null at or past EOF. With a layout, `device`/`dpa` name where the first
 * byte lives; `length` stays the run contiguous on the daxdev (use locateRange to split it
 * per controller).
 */
export function locate(map: FileMap, pos: number, layout?: Layout): Location | null {
  const m = resolve(map, pos);
  if (m === undefined) return null;
  return layout === undefined ? { daxdev: m.daxdev, offset: m.offset, length: m.length } : withDevice(layout, m, undefined);
}

/**
 * The mappings of [pos, pos+length), each with its file position, stopping at EOF. With a
 * layout, mappings are also split where a hardware region moves to the next controller, so
 * every entry is contiguous on one memory device.
 */
export function locateRange(map: FileMap, pos: number, length: number, layout?: Layout): Location[] {
  const out: Location[] = [];
  for (const m of resolveRange(map, pos, length)) {
    if (layout === undefined) {
      out.push({ pos: m.pos, daxdev: m.daxdev, offset: m.offset, length: m.length });
      continue;
    }
    const d = layout.daxdevs[m.daxdev];
    if (d?.backing.kind !== 'region') {
      out.push(withDevice(layout, m, m.pos));
      continue;
    }
    for (let done = 0; done < m.length;) {
      const off = m.offset + done;
      const len = Math.min(m.length - done, granuleRemainder(d.backing.region, off));
      out.push(withDevice(layout, { daxdev: m.daxdev, offset: off, length: len }, m.pos + done));
      done += len;
    }
  }
  return out;
}

/**
 * `layout map` for many offsets in one call, answers in the same order: without `length`
 * one Location (or null at EOF) per offset; with `length` one list per offset.
 */
export function mapOffsets(map: FileMap, offsets: readonly number[], layout?: Layout): (Location | null)[];
export function mapOffsets(map: FileMap, offsets: readonly number[], layout: Layout | undefined, length: number): Location[][];
export function mapOffsets(map: FileMap, offsets: readonly number[], layout?: Layout, length?: number): (Location | null)[] | Location[][] {
  if (length === undefined) return offsets.map((o) => locate(map, o, layout));
  return offsets.map((o) => locateRange(map, o, length, layout));
}
