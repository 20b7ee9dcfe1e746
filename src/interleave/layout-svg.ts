// `layout show --svg`: a picture of both interleave levels. Top: each daxdev as a row; a
// hardware region's first granules colored by the controller (memory device) that holds them.
// Bottom: a sample file placed by the policy: its chunks in file order, then where each chunk
// lands on its daxdev (computed with resolve(), so the picture cannot disagree with the
// arithmetic), with a bar under each chunk showing which controllers hold its bytes.
import { resolve, type FileMap } from './filemap.js';
import type { Daxdev, Layout, Region } from './layout.js';
import { sampleFile } from './layout-report.js';
import { formatSize } from './size.js';

function bytes(n: number): string {
  const f = formatSize(n);
  return f === String(n) ? `${n} B` : f;
}

const CONTROLLER_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#86bcb6', '#d37295', '#8cd17d', '#b6992d', '#499894', '#e19d9a', '#79706e'];
const WIDTH = 1040;
const LEFT = 190;
const RIGHT = 20;
const FONT = 'font-family="DejaVu Sans, Verdana, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function stripColor(i: number, n: number): string {
  return `hsl(${Math.round((i * 360) / Math.max(n, 1) + 200) % 360}, 70%, 84%)`;
}

/** Bytes of [0, x) of a region that sit on interleave position p (CXL modulo decode). */
function bytesBelow(g: Region, x: number, p: number): number {
  const row = g.granularity * g.ways;
  const full = Math.floor(x / row);
  const rest = x - full * row;
  return full * g.granularity + Math.min(g.granularity, Math.max(0, rest - p * g.granularity));
}

/** Share of [offset, offset+length) on each member of a region, exactly. */
export function controllerShares(g: Region, offset: number, length: number): number[] {
  return g.devices.map((_, p) => bytesBelow(g, offset + length, p) - bytesBelow(g, offset, p));
}

class Svg {
  readonly parts: string[] = [];
  y = 0;
  rect(x: number, y: number, w: number, h: number, fill: string, extra = ''): void {
    this.parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(w, 0).toFixed(1)}" height="${h.toFixed(1)}" fill="${fill}" ${extra}/>`);
  }
  text(x: number, y: number, s: string, attrs = ''): void {
    this.parts.push(`<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`);
  }
  line(x1: number, y1: number, x2: number, y2: number, stroke: string, extra = ''): void {
    this.parts.push(`<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${stroke}" ${extra}/>`);
  }
}

export interface SvgOptions {
  /** The file drawn in the lower half; default: sampleFile(layout). */
  readonly sample?: FileMap;
}

export function layoutSvg(layout: Layout, options: SvgOptions = {}): string {
  const s = new Svg();
  const colorOf = new Map<string, string>();
  layout.devices.forEach((d, i) => colorOf.set(d.name, CONTROLLER_COLORS[i % CONTROLLER_COLORS.length]!));
  const span = WIDTH - LEFT - RIGHT;

  s.text(20, 30, `famfs-ts layout ${layout.source}`, `font-size="18" font-weight="bold"`);
  const p = layout.policy;
  s.text(20, 50, `${layout.daxdevs.length} daxdev${layout.daxdevs.length === 1 ? '' : 's'}, ${layout.devices.length} memory device${layout.devices.length === 1 ? '' : 's'} (controllers); policy: chunk ${formatSize(p.chunkSize)}, ${p.nstrips} strip${p.nstrips === 1 ? '' : 's'} over daxdev${p.daxdevs.length === 1 ? '' : 's'} ${p.daxdevs.join(', ')}${p.nbuckets ? `, ${p.nbuckets} buckets` : ''}`, `font-size="13" fill="#444"`);
  s.y = 80;
  s.text(20, s.y, 'Daxdevs: which controller holds each granule', `font-size="15" font-weight="bold"`);
  s.y += 12;

  for (const d of layout.daxdevs) drawDaxdev(s, d, colorOf, span);

  // legend
  s.y += 4;
  let lx = 20;
  for (const d of layout.devices) {
    const label = `${d.name} ${formatSize(d.size)}`;
    const w = 22 + label.length * 7.2;
    if (lx + w > WIDTH - RIGHT) {
      lx = 20;
      s.y += 20;
    }
    s.rect(lx, s.y, 14, 14, colorOf.get(d.name)!, 'rx="2"');
    s.text(lx + 19, s.y + 12, label, `font-size="12"`);
    lx += w + 12;
  }
  s.y += 40;

  drawSample(s, layout, options.sample ?? sampleFile(layout), colorOf, span);

  const height = Math.ceil(s.y + 10);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...s.parts,
    '</svg>',
    '',
  ].join('\n');
}

function drawDaxdev(s: Svg, d: Daxdev, colorOf: Map<string, string>, span: number): void {
  const h = 26;
  const top = s.y + 8;
  s.text(20, top + 11, `daxdev ${d.index}: ${d.name}`, `font-size="13" font-weight="bold"`);
  s.text(20, top + 25, `${formatSize(d.size)}${d.index === 0 ? ', primary' : ''}`, `font-size="11" fill="#555"`);
  if (d.backing.kind === 'device') {
    const dev = d.backing.device;
    s.rect(LEFT, top, span, h, colorOf.get(dev.name)!, 'rx="3"');
    s.text(LEFT + 8, top + 17, `one controller: ${dev.name}  (${dev.path})`, `font-size="12" fill="white"`);
    s.y = top + h + 14;
    return;
  }
  const g = d.backing.region;
  const n = g.ways * Math.max(2, Math.floor(36 / g.ways));
  const w = span / (n + 1);
  for (let i = 0; i < n; i++) {
    const dev = g.devices[i % g.ways]!;
    s.rect(LEFT + i * w, top, w - 1.5, h, colorOf.get(dev)!);
    if (w > 14) s.text(LEFT + i * w + (w - 1.5) / 2, top + 17, String(i % g.ways), `font-size="11" fill="white" text-anchor="middle"`);
  }
  s.text(LEFT + n * w + 4, top + 17, '…', `font-size="14"`);
  s.text(LEFT, top + h + 14, `${g.ways}-way x ${bytes(g.granularity)} granules: offset o is on device floor(o / ${bytes(g.granularity)}) mod ${g.ways}, at dpa floor(o / ${bytes(g.granularity * g.ways)}) * ${bytes(g.granularity)} + o mod ${bytes(g.granularity)}`, `font-size="11" fill="#555"`);
  s.y = top + h + 26;
}

function drawSample(s: Svg, layout: Layout, map: FileMap, colorOf: Map<string, string>, span: number): void {
  const e = map.extents[0];
  if (e === undefined) return;
  const chunk = e.type === 'interleave' ? e.chunkSize : map.size;
  const strips = e.type === 'interleave' ? e.strips : [{ daxdev: e.daxdev, offset: e.offset, length: e.length }];
  const nchunks = Math.ceil(map.size / chunk);
  s.text(20, s.y, `A sample ${formatSize(map.size)} file: ${nchunks} chunks of ${formatSize(chunk)} striped over ${strips.length} strip${strips.length === 1 ? '' : 's'}`, `font-size="15" font-weight="bold"`);
  s.y += 14;

  // Where each chunk lands, straight from resolve().
  const homes = Array.from({ length: nchunks }, (_, k) => resolve(map, k * chunk)!);
  const stripOf = homes.map((m) => strips.findIndex((t) => t.daxdev === m.daxdev && m.offset >= t.offset && m.offset < t.offset + t.length));
  const stripes = Math.max(...strips.map((t) => Math.ceil(t.length / chunk)));
  // Rows: one per daxdev that holds strips; in it, one group of `stripes` slots per strip.
  const daxdevsUsed = [...new Set(strips.map((t) => t.daxdev))].sort((a, b) => a - b);
  const maxGroups = Math.max(...daxdevsUsed.map((dx) => strips.filter((t) => t.daxdev === dx).length));
  const slotW = Math.min(40, span / Math.max(nchunks, maxGroups * (stripes + 0.6)));
  const h = 24;

  // File row.
  const fileTop = s.y + 6;
  s.text(20, fileTop + 16, 'file, in order', `font-size="13" font-weight="bold"`);
  const fileX = new Array<number>(nchunks);
  for (let k = 0; k < nchunks; k++) {
    const x = LEFT + k * slotW;
    fileX[k] = x + (slotW - 2) / 2;
    const part = Math.min(1, (map.size - k * chunk) / chunk);
    s.rect(x, fileTop, (slotW - 2) * part, h, stripColor(stripOf[k]!, strips.length), 'stroke="#333" stroke-width="0.6"');
    s.text(x + ((slotW - 2) * part) / 2, fileTop + 16, String(k), `font-size="11" text-anchor="middle"`);
  }
  s.text(LEFT, fileTop + h + 14, `chunk k goes to strip k mod ${strips.length}, at stripe floor(k / ${strips.length}) of that strip`, `font-size="11" fill="#555"`);
  s.y = fileTop + h + 34;

  const lines: string[] = [];
  const under = s.parts.length;
  for (const dx of daxdevsUsed) {
    const d = layout.daxdevs[dx];
    const region = d?.backing.kind === 'region' ? d.backing.region : undefined;
    const top = s.y;
    s.text(20, top + 16, `daxdev ${dx}${d ? `: ${d.name}` : ''}`, `font-size="13" font-weight="bold"`);
    const mine = strips.map((t, i) => [t, i] as const).filter(([t]) => t.daxdev === dx);
    mine.forEach(([t, i], gi) => {
      const gx = LEFT + gi * (stripes + 0.6) * slotW;
      s.text(gx, top - 2, `strip ${i} @ ${formatSize(t.offset)}`, `font-size="10" fill="#555"`);
      for (let st = 0; st < Math.ceil(t.length / chunk); st++) {
        const x = gx + st * slotW;
        const off = t.offset + st * chunk;
        const k = homes.findIndex((m) => m.daxdev === dx && m.offset === off);
        s.rect(x, top + 4, slotW - 2, h, k >= 0 ? stripColor(i, strips.length) : '#f4f4f4', 'stroke="#333" stroke-width="0.6"');
        if (k >= 0) {
          s.text(x + (slotW - 2) / 2, top + 20, String(k), `font-size="11" text-anchor="middle"`);
          lines.push(`<line x1="${fileX[k]!.toFixed(1)}" y1="${fileTop + h}" x2="${(x + (slotW - 2) / 2).toFixed(1)}" y2="${top + 4}" stroke="${stripColor(i, strips.length).replace('84%', '55%')}" stroke-width="0.8" opacity="0.45"/>`);
        }
        // Which controllers hold this chunk's bytes.
        const barY = top + 4 + h + 2;
        if (region !== undefined) {
          const shares = controllerShares(region, off, chunk);
          let bx = x;
          shares.forEach((b, pos) => {
            const bw = ((slotW - 2) * b) / chunk;
            if (bw > 0) s.rect(bx, barY, bw, 6, colorOf.get(region.devices[pos]!)!);
            bx += bw;
          });
        } else if (d !== undefined && d.backing.kind === 'device') {
          s.rect(x, barY, slotW - 2, 6, colorOf.get(d.backing.device.name)!);
        }
      }
    });
    s.y = top + h + 30;
  }
  // Connectors from file chunks to their homes, drawn beneath the cells.
  s.parts.splice(under, 0, ...lines);
  s.text(LEFT, s.y, 'bars under chunks: the controllers holding that chunk\'s bytes (colors as above)', `font-size="11" fill="#555"`);
  s.y += 10;
}
