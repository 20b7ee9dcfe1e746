import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkFileMap, checkLayout, formatProblem, LayoutError, loadLayout, parseLayout } from '../../src/interleave/layout-yaml.js';
import { toController } from '../../src/interleave/controller.js';
import { scaled } from '../support/scale.js';

const LAYOUTS = 'fixtures/layouts';
const MiB = 2 ** 20;
const GiB = 2 ** 30;

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
}

describe('good layouts', () => {
  it.each(yamlFiles(LAYOUTS))('%s parses with no errors', (f) => {
    const c = checkLayout(fs.readFileSync(path.join(LAYOUTS, f), 'utf8'), f);
    expect(c.errors.map(formatProblem)).toEqual([]);
    expect(c.layout).toBeDefined();
  });

  it('one pmem: defaults', () => {
    const l = loadLayout(`${LAYOUTS}/pmem.yaml`);
    expect(l.daxdevs).toHaveLength(1);
    expect(l.daxdevs[0]).toMatchObject({ index: 0, name: 'pmem0', size: GiB, backing: { kind: 'device' } });
    expect(l.policy).toEqual({ chunkSize: 2 * MiB, nstrips: 1, nbuckets: 0, daxdevs: [0] });
  });

  it('two daxdevs striped in software', () => {
    const l = loadLayout(`${LAYOUTS}/two-daxdevs.yaml`);
    expect(l.daxdevs.map((d) => d.name)).toEqual(['mem0', 'mem1']);
    expect(l.policy).toEqual({ chunkSize: 2 * MiB, nstrips: 4, nbuckets: 0, daxdevs: [0, 1] });
  });

  it('4-way region: one daxdev of 4 GiB, controllers in turn every 4 KiB', () => {
    const l = loadLayout(`${LAYOUTS}/cxl-4way.yaml`);
    expect(l.daxdevs).toHaveLength(1);
    const d = l.daxdevs[0]!;
    expect(d.size).toBe(4 * GiB);
    if (d.backing.kind !== 'region') throw new Error('expected a region');
    expect(d.backing.members.map((m) => m.name)).toEqual(['cxl0', 'cxl1', 'cxl2', 'cxl3']);
    expect(toController(d.backing.region, 5 * 4096 + 7)).toEqual({ position: 1, device: 'cxl1', dpa: 4096 + 7 });
  });

  it('3-way region plus pmem, explicit daxdev order', () => {
    const l = loadLayout(`${LAYOUTS}/cxl-3way.yaml`);
    expect(l.daxdevs.map((d) => [d.name, d.size])).toEqual([['region0', 3 * 512 * MiB], ['pmem0', 256 * MiB]]);
    expect(l.regions[0]).toMatchObject({ ways: 3, granularity: 256 });
  });

  it('relative device paths resolve against the YAML directory; unequal members warn', () => {
    const file = `${LAYOUTS}/mixed.yaml`;
    const l = loadLayout(file);
    expect(l.devices[0]!.path).toBe(path.resolve(LAYOUTS, 'shm/a0'));
    // b1 is 640 MiB but the 2-way region uses 512 MiB of each member.
    expect(l.regions[1]!.size).toBe(1024 * MiB);
    const c = checkLayout(fs.readFileSync(file, 'utf8'), 'mixed.yaml');
    expect(c.warnings.map(formatProblem)).toEqual([
      'mixed.yaml:14:61 warning: regions[1].devices[1]: "b1" (640MiB) is larger than the smallest member (512MiB); its last 128MiB go unused',
    ]);
    // parseLayout without a base directory keeps relative paths as written.
    expect(parseLayout(fs.readFileSync(file, 'utf8'), 'mixed.yaml').devices[0]!.path).toBe('shm/a0');
  });

  it('default daxdev order: every region, then every device in no region, in file order', () => {
    const l = parseLayout(
      ['devices:', '  - {name: p, path: /x/p, size: 64MiB}', '  - {name: c0, path: /x/c0, size: 32MiB}', '  - {name: c1, path: /x/c1, size: 32MiB}',
        'regions:', '  - {name: r, ways: 2, granularity: 256, devices: [c1, c0]}'].join('\n'),
      'inline.yaml');
    expect(l.daxdevs.map((d) => [d.index, d.name])).toEqual([[0, 'r'], [1, 'p']]);
    expect(l.regions[0]!.devices).toEqual(['c1', 'c0']);
  });

  it('a declared region size below the members is honoured; a chunk below 2 MiB warns', () => {
    const c = checkLayout(
      ['devices:', '  - {name: c0, path: /x/c0, size: 64MiB}', '  - {name: c1, path: /x/c1, size: 64MiB}',
        'regions: [{name: r, ways: 2, granularity: 4KiB, devices: [c0, c1], size: 100MiB}]', 'policy: {chunk: 64KiB}'].join('\n'),
      'inline.yaml');
    expect(c.errors).toEqual([]);
    expect(c.layout!.daxdevs[0]!.size).toBe(100 * MiB);
    expect(c.warnings.map((w) => w.path)).toEqual(['policy.chunk']);
  });
});

describe('bad layouts: every error, with file:line:col and key path', () => {
  const dir = `${LAYOUTS}/bad`;
  it.each(yamlFiles(dir))('%s', (f) => {
    const expected = fs.readFileSync(path.join(dir, f.replace(/\.yaml$/, '.expected')), 'utf8');
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const c = checkLayout(text, f);
    expect(c.layout).toBeUndefined();
    expect(c.errors.map(formatProblem).join('\n') + '\n').toBe(expected);
    // parseLayout throws the same, all of them.
    let thrown: unknown;
    try {
      parseLayout(text, f);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(LayoutError);
    expect((thrown as LayoutError).problems).toHaveLength(expected.trim().split('\n').length);
    expect((thrown as LayoutError).message + '\n').toBe(expected);
  });

  it('every bad fixture has its expected text', () => {
    for (const f of yamlFiles(dir)) expect(fs.existsSync(path.join(dir, f.replace(/\.yaml$/, '.expected')))).toBe(true);
  });

  it('a missing file is a LayoutError naming it', () => {
    expect(() => loadLayout('/nonexistent/layout.yaml')).toThrow('/nonexistent/layout.yaml:1:1 cannot read (ENOENT)');
  });

  it('an empty document is an error, not a crash', () => {
    expect(checkLayout('', 'empty.yaml').errors.map(formatProblem)).toEqual(['empty.yaml:1:1 expected a mapping with keys devices, regions, daxdevs, policy']);
    expect(checkLayout('devices: []', 'e.yaml').errors.map(formatProblem)).toEqual(['e.yaml:1:10 devices: at least one device is needed']);
  });
});

describe('no crash on any input', () => {
  // Mutations of real fixtures (a character dropped, duplicated or replaced) and random text:
  // checkLayout / checkFileMap must report, never throw.
  const texts = [...yamlFiles(LAYOUTS).map((f) => fs.readFileSync(path.join(LAYOUTS, f), 'utf8')),
    ...fs.readdirSync('fixtures/fmaps').filter((f) => f.endsWith('.yaml')).map((f) => fs.readFileSync(path.join('fixtures/fmaps', f), 'utf8'))];
  it('mutated fixtures and random text', () => {
    fc.assert(
      fc.property(fc.nat(texts.length - 1), fc.array(fc.tuple(fc.nat(), fc.constantFrom('drop', 'dup', 'put'), fc.constantFrom(...':-[]{},&*!|>\'" \n0x9aZ#-1.5e9')), { maxLength: 4 }), fc.string(), (which, edits, junk) => {
        let t = texts[which]!;
        for (const [at, op, ch] of edits) {
          const i = at % (t.length + 1);
          t = op === 'drop' ? t.slice(0, i) + t.slice(i + 1) : op === 'dup' ? t.slice(0, i) + t[i - 1 >= 0 ? i - 1 : 0] + t.slice(i) : t.slice(0, i) + ch + t.slice(i + 1);
        }
        for (const input of [t, junk, `${t}\n${junk}`]) {
          const l = checkLayout(input, 'm.yaml');
          const f = checkFileMap(input, 'm.yaml');
          if ((l.layout === undefined) !== (l.errors.length > 0)) return false;
          if ((f.map === undefined) !== (f.errors.length > 0)) return false;
        }
        return true;
      }),
      { numRuns: scaled(1500, 50), seed: 7 },
    );
  });
});
