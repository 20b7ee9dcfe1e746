// What the kernel connection means for files created through the mount. Under a famfs or
// fuse-iomap series whose INIT bit the kernel granted, the kernel maps file bytes itself
// and takes a file's size from its map (reference fuse-iomap-abi.md §3.1 "i_size =
// file_size", §1.4), so the server must (a) never hand out a map the kernel's encoding
// cannot express and (b) size a new file before its first byte is written. On a mainline
// connection every byte goes through READ/WRITE and neither rule applies.
import type { InterleaveParams } from '../famfs/alloc.js';
import { ALLOC_UNIT } from '../famfs/constants.js';
import { fmapRefusal, type FmapEncoding, type FmapError } from '../mapping/famfs-fmap.js';
import { MAINLINE, type FamfsSeries, type IomapSeries, type KernelSeries, type MainlineSeries } from '../mapping/series.js';
import type { FileMap, Strip } from '../interleave/filemap.js';

export type MappingMode =
  /** `series`: the one negotiated (its bit not granted, or mainline). */
  | { readonly kind: 'none'; readonly series: KernelSeries }
  | { readonly kind: 'iomap'; readonly series: IomapSeries }
  /** `encodings`: those the kernel may ask in (both until a by-payload profile learns which). */
  | { readonly kind: 'famfs'; readonly series: FamfsSeries; readonly encodings: readonly FmapEncoding[] };

export const NO_MAPPING: MappingMode = { kind: 'none', series: MAINLINE satisfies MainlineSeries };

/** The mapping mode of a negotiated connection: a mapping series AND its INIT bit granted. */
export function mappingModeOf(series: KernelSeries, granted: boolean): MappingMode {
  if (!granted) return { kind: 'none', series };
  switch (series.kind) {
    case 'mainline': return { kind: 'none', series };
    case 'iomap': return { kind: 'iomap', series };
    case 'famfs': return { kind: 'famfs', series, encodings: series.encodings };
  }
}

/** Why the kernel of `mode` could not take `map`, or undefined when it can. */
export function mapRefusal(map: FileMap, mode: MappingMode, iomapCookie?: (daxdev: number) => number | undefined): MapRefusal | undefined {
  if (mode.kind === 'none') return undefined;
  if (mode.kind === 'famfs') {
    // Refuse only when no encoding the kernel may ask in can carry the map.
    let first: FmapError | undefined;
    for (const enc of mode.encodings) {
      const r = fmapRefusal(map, enc);
      if (!r) return undefined;
      first ??= r;
    }
    return first ? { errno: first.errno, message: first.message } : undefined;
  }
  // fuse-iomap: every run must be block aligned (famfs runs are 2 MiB aligned) and on a
  // device the connection has a cookie for (fuse-iomap-abi.md §1.5).
  for (const e of map.extents) {
    const runs: readonly Strip[] = e.type === 'simple' ? [e] : e.strips;
    for (const r of runs) {
      if (iomapCookie && iomapCookie(r.daxdev) === undefined) {
        return { errno: ENODEV, message: `IOMAP: daxdev ${r.daxdev} has no device cookie on this connection` };
      }
    }
  }
  return undefined;
}

export interface MapRefusal {
  readonly errno: number;
  readonly message: string;
}

const ENODEV = 19;

/**
 * A small map of the shape a new file in `placement` will get (strips rotate over the
 * daxdevs as the allocator does), to refuse at create time what could never be served.
 */
export function probeMap(placement: { readonly interleave?: InterleaveParams; readonly daxdevs: readonly number[] }): FileMap {
  const devs = placement.daxdevs.length ? placement.daxdevs : [0];
  const p = placement.interleave;
  if (!p || p.nstrips <= 1) {
    return { size: ALLOC_UNIT, extents: [{ type: 'simple', daxdev: devs[0]!, offset: ALLOC_UNIT, length: ALLOC_UNIT }] };
  }
  const strips: Strip[] = [];
  for (let i = 0; i < p.nstrips; i++) strips.push({ daxdev: devs[i % devs.length]!, offset: ALLOC_UNIT * (1 + i) * 64, length: p.chunkSize });
  return { size: p.nstrips * p.chunkSize, extents: [{ type: 'interleave', chunkSize: p.chunkSize, nbytes: p.nstrips * p.chunkSize, strips }] };
}

/** A one-line description of the mode for log lines. */
export function describeMode(mode: MappingMode): string {
  if (mode.kind === 'none') return 'READ/WRITE (no mapping protocol)';
  if (mode.kind === 'iomap') return 'fuse-iomap (the kernel maps file bytes through IOMAP_BEGIN)';
  return `famfs ${mode.encodings.join('/')} (the kernel maps file bytes from GET_FMAP)`;
}
