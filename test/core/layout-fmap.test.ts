import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolve, unroll, type FileMap } from '../../src/interleave/filemap.js';
import { checkFileMap, famfsShapeProblems, formatFileMapYaml, formatProblem, LayoutError, loadFileMap, loadLayout, parseFileMap, validateFileMap } from '../../src/interleave/layout-yaml.js';
import { locate, locateRange, mapOffsets } from '../../src/interleave/locate.js';
import { sampleFile } from '../../src/interleave/layout-report.js';
import { controllerShares, layoutSvg } from '../../src/interleave/layout-svg.js';

const MiB = 2 ** 20;
const FMAPS = 'fixtures/fmaps';
const LAYOUTS = 'fixtures/layouts';

describe('FileMap YAML', () => {
  it('reads the issue 3 example', () => {
    const m = loadFileMap(`${FMAPS}/example.yaml`);
    expect(m).toEqual({
      size: 100 * MiB,
      extents: [
        { type: 'simple', daxdev: 0, offset: 4 * MiB, length: 64 * MiB },
        { type: 'interleave', chunkSize: 2 * MiB, nbytes: 96 * MiB, strips: [{ daxdev: 0, offset: 512 * MiB, length: 48 * MiB }, { daxdev: 1, offset: 0, length: 48 * MiB }] },
      ],
    });
    // 64 MiB of simple extent, then chunk 1 of the interleave (strip 1).
    expect(resolve(m, 66 * MiB + 5)).toEqual({ daxdev: 1, offset: 5, length: 2 * MiB - 5 });
  });

  it('the fuse-iomap-abi.md §3.3 worked example: 15 MiB -> strip 3 at strip offset 3 MiB, 1 MiB long', () => {
    const m = loadFileMap(`${FMAPS}/striped-4.yaml`);
    expect(resolve(m, 15 * MiB)).toEqual({ daxdev: 0, offset: 0x30000000 + 3 * MiB, length: MiB });
    expect(famfsShapeProblems(m)).toEqual([]);
  });

  it.each(['example.yaml', 'simple.yaml', 'striped-4.yaml'])('%s survives formatFileMapYaml -> parseFileMap', (f) => {
    const m = loadFileMap(`${FMAPS}/${f}`);
    expect(parseFileMap(formatFileMapYaml(m), 'round-trip.yaml')).toEqual(m);
  });

  it('round-trips unrolled maps and odd sizes', () => {
    const m = unroll(loadFileMap(`${FMAPS}/striped-4.yaml`));
    expect(parseFileMap(formatFileMapYaml(m), 'u.yaml')).toEqual(m);
    const odd: FileMap = { size: 12345, extents: [{ type: 'simple', daxdev: 3, offset: 3 * MiB + 7, length: 20000 }] };
    expect(parseFileMap(formatFileMapYaml(odd), 'odd.yaml')).toEqual(odd);
  });

  describe('bad maps: every error, located', () => {
    const dir = `${FMAPS}/bad`;
    const layoutFor: Record<string, string> = { 'beyond.yaml': `${LAYOUTS}/two-daxdevs.yaml` };
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort()) {
      it(f, () => {
        const expected = fs.readFileSync(path.join(dir, f.replace(/\.yaml$/, '.expected')), 'utf8');
        const layout = layoutFor[f] === undefined ? undefined : loadLayout(layoutFor[f]!);
        const text = fs.readFileSync(path.join(dir, f), 'utf8');
        const c = checkFileMap(text, f, layout);
        expect(c.map).toBeUndefined();
        expect(c.errors.map(formatProblem).join('\n') + '\n').toBe(expected);
        expect(() => parseFileMap(text, f, layout)).toThrow(LayoutError);
      });
    }
  });

  it('beyond.yaml is fine without a layout (nothing to be beyond), but not famfs-shaped', () => {
    const c = checkFileMap(fs.readFileSync(`${FMAPS}/bad/beyond.yaml`, 'utf8'), 'beyond.yaml');
    expect(c.errors).toEqual([]);
    expect(c.warnings.map((w) => w.path)).toEqual(['extents', 'extents[0].interleave.strips[1].offset']);
  });
});

describe('validateFileMap and famfsShapeProblems', () => {
  const strip = (daxdev: number, offset: number, length: number) => ({ daxdev, offset, length });

  it('finds a long extent overlapping two later ones', () => {
    const m: FileMap = { size: 6 * MiB, extents: [
      { type: 'simple', daxdev: 0, offset: 0, length: 4 * MiB },
      { type: 'simple', daxdev: 0, offset: MiB, length: MiB },
      { type: 'simple', daxdev: 0, offset: 3 * MiB, length: MiB },
    ] };
    expect(validateFileMap(m).filter((p) => p.severity === 'error').map((p) => p.path)).toEqual(['extents[1]', 'extents[2]']);
  });

  it('the same range on different daxdevs is no overlap', () => {
    const m: FileMap = { size: 4 * MiB, extents: [{ type: 'simple', daxdev: 0, offset: 0, length: 2 * MiB }, { type: 'simple', daxdev: 1, offset: 0, length: 2 * MiB }] };
    expect(validateFileMap(m)).toEqual([]);
  });

  it('strip length must hold its chunks: 5 chunks over 2 strips need 3 on strip 0', () => {
    const m: FileMap = { size: 10 * MiB, extents: [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: 10 * MiB, strips: [strip(0, 0, 4 * MiB), strip(0, 64 * MiB, 4 * MiB)] }] };
    expect(validateFileMap(m).map(formatProblem)).toContain('extents[0].interleave.strips[0].length: 4MiB is too short: the extent\'s 10MiB in 2MiB chunks put 6MiB on strip 0');
  });

  it('famfs shapes: up to 16 simple extents or one interleaved extent of up to 16 equal strips', () => {
    const simples = (n: number): FileMap => ({ size: n * 2 * MiB, extents: Array.from({ length: n }, (_, i) => ({ type: 'simple' as const, daxdev: 0, offset: i * 4 * MiB, length: 2 * MiB })) });
    expect(famfsShapeProblems(simples(16))).toEqual([]);
    expect(famfsShapeProblems(simples(17)).map((p) => p.message)).toEqual(['famfs: 17 simple extents; at most 16']);
    const wide: FileMap = { size: 34 * MiB, extents: [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: 34 * MiB, strips: Array.from({ length: 17 }, (_, i) => strip(0, i * 2 * MiB, 2 * MiB)) }] };
    expect(famfsShapeProblems(wide).map((p) => p.path)).toEqual(['extents[0].interleave.strips']);
    const smallChunk: FileMap = { size: 4 * MiB, extents: [{ type: 'interleave', chunkSize: 64 * 1024, nbytes: 4 * MiB, strips: [strip(0, 0, 2 * MiB), strip(0, 2 * MiB, 2 * MiB)] }] };
    expect(famfsShapeProblems(smallChunk).map((p) => p.path)).toEqual(['extents[0].interleave.chunk']);
    const unaligned: FileMap = { size: MiB, extents: [{ type: 'simple', daxdev: 0, offset: 4096, length: MiB }] };
    expect(famfsShapeProblems(unaligned).map((p) => p.path)).toEqual(['extents[0].offset', 'extents[0].length']);
    // Warnings only: the model may hold them.
    expect(validateFileMap(unaligned).every((p) => p.severity === 'warning')).toBe(true);
  });
});

describe('locate / mapOffsets (what `layout map` prints)', () => {
  const layout = loadLayout(`${LAYOUTS}/cxl-4way.yaml`);
  const map = loadFileMap(`${FMAPS}/striped-4.yaml`);

  it('adds the controller and DPA from the region arithmetic', () => {
    // daxdev offset 0x30300000: granule 0x30300, position 0, dpa (0x30300 / 4) * 4 KiB.
    expect(locate(map, 15 * MiB, layout)).toEqual({ daxdev: 0, offset: 0x30300000, length: MiB, device: 'cxl0', dpa: 0xc0c0000 });
    expect(locate(map, 15 * MiB + 4096, layout)).toMatchObject({ device: 'cxl1', dpa: 0xc0c0000 });
    expect(locate(map, 15 * MiB)).toEqual({ daxdev: 0, offset: 0x30300000, length: MiB });
    expect(locate(map, 20 * MiB)).toBeNull();
  });

  it('answers many offsets in order, null at EOF', () => {
    expect(mapOffsets(map, [0, 20 * MiB, 2 * MiB])).toEqual([
      { daxdev: 0, offset: 0x20000000, length: 2 * MiB }, null, { daxdev: 0, offset: 0x01000000, length: 2 * MiB },
    ]);
  });

  it('with a length, splits at chunk and (with a layout) controller boundaries', () => {
    const r = locateRange(map, 2 * MiB - 4096, 3 * 4096, layout);
    expect(r.map((m) => [m.pos, m.offset, m.length, m.device])).toEqual([
      [2 * MiB - 4096, 0x20000000 + 2 * MiB - 4096, 4096, 'cxl3'],
      [2 * MiB, 0x01000000, 4096, 'cxl0'],
      [2 * MiB + 4096, 0x01000000 + 4096, 4096, 'cxl1'],
    ]);
    // 19 MiB is chunk 9: strip 9 % 4 = 1, stripe 2, 1 MiB into the chunk; the file ends 1 MiB later.
    expect(mapOffsets(map, [19 * MiB], undefined, 8 * MiB)).toEqual([[{ pos: 19 * MiB, daxdev: 0, offset: 0x01000000 + 5 * MiB, length: MiB }]]);
  });

  it('refuses a daxdev the layout does not have', () => {
    const m: FileMap = { size: 4096, extents: [{ type: 'simple', daxdev: 1, offset: 0, length: 4096 }] };
    expect(() => locate(m, 0, layout)).toThrow(/daxdev 1, which .* does not have/);
  });
});

describe('layout pictures', () => {
  it('controller shares of a range are exact', () => {
    const g = loadLayout(`${LAYOUTS}/cxl-3way.yaml`).regions[0]!;
    expect(controllerShares(g, 0, 2 * MiB).reduce((a, b) => a + b)).toBe(2 * MiB);
    expect(controllerShares(g, 100, 300)).toEqual([156, 144, 0]);
  });

  it.each(fs.readdirSync(LAYOUTS).filter((f) => f.endsWith('.yaml')))('%s: the sample file is valid for its layout, and the SVG is well formed', (f) => {
    const l = loadLayout(path.join(LAYOUTS, f));
    const sample = sampleFile(l);
    expect(validateFileMap(sample, l).filter((p) => p.severity === 'error')).toEqual([]);
    const svg = layoutSvg(l);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    for (const d of l.devices) expect(svg).toContain(d.name);
  });
});
