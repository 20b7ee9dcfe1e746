// What `layout show` and `layout map` print: a layout as text or JSON, and a sample file
// placed by the layout's policy. The JSON field names are a stable interface.
import type { FileMap, Strip } from './filemap.js';
import type { Layout } from './layout.js';
import type { Location } from './locate.js';
import { formatSize } from './size.js';

/** Superblock (2 MiB) + default log (8 MiB) at the start of the primary (famfs-format.md §1). */
const PRIMARY_META = 10 * 2 ** 20;

export interface LayoutJson {
  source: string;
  capacity: number;
  daxdevs: { index: number; name: string; size: number; kind: 'device' | 'region'; devices: string[] }[];
  devices: { name: string; path: string; size: number; region?: string; position?: number; used: number }[];
  regions: { name: string; ways: number; granularity: number; size: number; devices: string[]; daxdev?: number }[];
  policy: { chunk: number; strips: number; buckets: number; daxdevs: number[] };
}

export function layoutJson(l: Layout): LayoutJson {
  const daxdevOf = new Map(l.daxdevs.map((d) => [d.name, d.index]));
  const membership = new Map<string, { region: string; position: number; used: number }>();
  for (const g of l.regions) g.devices.forEach((dn, position) => membership.set(dn, { region: g.name, position, used: g.size / g.ways }));
  return {
    source: l.source,
    capacity: l.daxdevs.reduce((n, d) => n + d.size, 0),
    daxdevs: l.daxdevs.map((d) => ({
      index: d.index, name: d.name, size: d.size, kind: d.backing.kind,
      devices: d.backing.kind === 'region' ? [...d.backing.region.devices] : [d.backing.device.name],
    })),
    devices: l.devices.map((d) => {
      const m = membership.get(d.name);
      const used = m !== undefined ? m.used : daxdevOf.has(d.name) ? d.size : 0;
      return m !== undefined ? { name: d.name, path: d.path, size: d.size, region: m.region, position: m.position, used } : { name: d.name, path: d.path, size: d.size, used };
    }),
    regions: l.regions.map((g) => {
      const idx = daxdevOf.get(g.name);
      const base = { name: g.name, ways: g.ways, granularity: g.granularity, size: g.size, devices: [...g.devices] };
      return idx === undefined ? base : { ...base, daxdev: idx };
    }),
    policy: { chunk: l.policy.chunkSize, strips: l.policy.nstrips, buckets: l.policy.nbuckets, daxdevs: [...l.policy.daxdevs] },
  };
}

function table(rows: string[][]): string[] {
  const widths = rows.reduce<number[]>((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  return rows.map((r) => '  ' + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

export function layoutText(l: Layout): string {
  const j = layoutJson(l);
  const out = [`layout ${j.source}: ${j.daxdevs.length} daxdev${j.daxdevs.length === 1 ? '' : 's'}, ${formatSize(j.capacity)}`, 'daxdevs:'];
  out.push(...table(j.daxdevs.map((d) => {
    const g = l.regions.find((r) => r.name === d.name);
    const what = g !== undefined ? `region, ${g.ways}-way x ${formatSize(g.granularity)} over ${g.devices.join(', ')}` : `device ${d.devices[0]}`;
    return [String(d.index), d.name, formatSize(d.size), what + (d.index === 0 ? ' (primary: superblock + log)' : '')];
  })));
  out.push('devices:');
  out.push(...table(j.devices.map((d) => [d.name, formatSize(d.size), d.path,
    d.region !== undefined ? `${d.region} position ${d.position}${d.used < d.size ? `, uses ${formatSize(d.used)}` : ''}` : d.used > 0 ? 'daxdev' : 'unused'])));
  if (j.regions.length > 0) {
    out.push('regions:');
    out.push(...table(j.regions.map((g) => [g.name, `${g.ways} ways`, `granularity ${formatSize(g.granularity)}`, formatSize(g.size),
      g.daxdev === undefined ? 'unused' : `daxdev ${g.daxdev}`])));
  }
  const p = j.policy;
  out.push(`policy: chunk ${formatSize(p.chunk)}, ${p.strips} strip${p.strips === 1 ? '' : 's'}, ${p.buckets} bucket${p.buckets === 1 ? '' : 's'}, from daxdev${p.daxdevs.length === 1 ? '' : 's'} ${p.daxdevs.join(', ')}`);
  return out.join('\n') + '\n';
}

/**
 * A file of `nchunks` chunks (the last one half full) placed as the policy would: strip i on
 * daxdev policy.daxdevs[i % n]; with buckets, strip i's daxdev offset starts bucket i, as
 * famfs's strided allocator spreads strips (otherwise strips follow each other). A
 * picture's sample, not the allocator: it ignores what else is allocated.
 */
export function sampleFile(l: Layout, nchunks = 2 * l.policy.nstrips + 1): FileMap {
  const { chunkSize, nstrips, nbuckets, daxdevs } = l.policy;
  const stripeCount = Math.ceil(nchunks / nstrips);
  const stripLen = stripeCount * chunkSize;
  const next = new Map<number, number>();
  const strips: Strip[] = [];
  for (let i = 0; i < nstrips; i++) {
    const d = daxdevs[i % daxdevs.length]!;
    const start = d === 0 ? Math.ceil(PRIMARY_META / chunkSize) * chunkSize : 0;
    const nth = Math.floor(i / daxdevs.length);
    let offset = next.get(d) ?? start;
    if (nbuckets > 0) {
      const dev = l.daxdevs[d]!;
      const bucket = Math.floor(dev.size / nbuckets / chunkSize) * chunkSize;
      offset = Math.max(start, (nth % nbuckets) * bucket);
    }
    next.set(d, offset + stripLen);
    strips.push({ daxdev: d, offset, length: stripLen });
  }
  const size = (nchunks - 0.5) * chunkSize;
  return { size: Math.floor(size), extents: [{ type: 'interleave', chunkSize, nbytes: stripLen * nstrips, strips }] };
}

/** One line of `layout map` text output. */
export function locationText(pos: number, loc: Location | null): string {
  if (loc === null) return `${pos}: EOF`;
  const dev = loc.device === undefined ? '' : `  ${loc.device} dpa 0x${loc.dpa!.toString(16)}`;
  return `${loc.pos ?? pos}: daxdev ${loc.daxdev} offset 0x${loc.offset.toString(16)} length ${loc.length}${dev}`;
}

