// `famfs-ts layout ...` as a user runs it: the built CLI in a child process.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const CLI = path.resolve('dist/src/cli/main.js');
const MiB = 2 ** 20;

function run(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  // The CLI runs from dist: rebuild when a source this suite exercises is newer.
  const sources = ['src/cli/layout.ts', 'src/cli/main.ts', ...fs.readdirSync('src/interleave').map((f) => `src/interleave/${f}`)];
  const built = fs.existsSync(CLI) ? fs.statSync(CLI).mtimeMs : 0;
  const stale = sources.some((s) => {
    const js = path.join('dist', s.replace(/\.ts$/, '.js'));
    return !fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(s).mtimeMs;
  });
  if (built === 0 || stale) {
    // Type errors elsewhere in the tree still emit JS; only a missing CLI is fatal.
    spawnSync('npx', ['tsc', '-p', '.'], { stdio: 'ignore' });
    if (!fs.existsSync(CLI)) throw new Error(`build did not produce ${CLI}`);
  }
}, 120_000);

describe('layout check', () => {
  it('exits 0 with a summary for every good fixture', () => {
    const good = fs.readdirSync('fixtures/layouts').filter((f) => f.endsWith('.yaml')).map((f) => `fixtures/layouts/${f}`);
    const r = run('layout', 'check', ...good);
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(good.length);
    expect(r.out).toContain('fixtures/layouts/cxl-4way.yaml: ok: 1 daxdev (region0 4GiB)');
  });

  it('exits 1 with every error, file:line:col first', () => {
    const r = run('layout', 'check', 'fixtures/layouts/bad/policy.yaml');
    expect(r.code).toBe(1);
    const expected = fs.readFileSync('fixtures/layouts/bad/policy.expected', 'utf8').trim().split('\n').map((l) => `fixtures/layouts/bad/${l}`);
    expect(r.err.trim().split('\n')).toEqual([...expected, 'fixtures/layouts/bad/policy.yaml: 5 errors']);
  });
});

describe('layout show', () => {
  it('prints JSON with stable field names and writes an SVG', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'famfs-ts-cli-layout-'));
    try {
      const svg = path.join(dir, 'l.svg');
      const r = run('layout', 'show', 'fixtures/layouts/cxl-3way.yaml', '--json', '--svg', svg);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out) as Record<string, unknown>;
      expect(Object.keys(j)).toEqual(['source', 'capacity', 'daxdevs', 'devices', 'regions', 'policy']);
      expect(j.policy).toEqual({ chunk: 2 * MiB, strips: 3, buckets: 0, daxdevs: [0, 1] });
      expect(j.daxdevs).toEqual([
        { index: 0, name: 'region0', size: 1536 * MiB, kind: 'region', devices: ['cxl0', 'cxl1', 'cxl2'] },
        { index: 1, name: 'pmem0', size: 256 * MiB, kind: 'device', devices: ['pmem0'] },
      ]);
      expect(fs.readFileSync(svg, 'utf8')).toMatch(/^<svg [^]*<\/svg>\n$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('text output names daxdevs, devices, regions and the policy', () => {
    const r = run('layout', 'show', 'fixtures/layouts/mixed.yaml');
    expect(r.code).toBe(0);
    for (const s of ['daxdevs:', 'devices:', 'regions:', 'policy: chunk 4MiB, 6 strips', 'wide', 'uses 512MiB']) expect(r.out).toContain(s);
  });

  it('a bad layout is the located errors and exit 1', () => {
    const r = run('layout', 'show', 'fixtures/layouts/bad/ways-5.yaml');
    expect(r.code).toBe(1);
    expect(r.err).toBe('fixtures/layouts/bad/ways-5.yaml:7:11 regions[0].ways: 5 is not a CXL interleave way (1,2,3,4,6,8,12,16)\n');
  });
});

describe('layout map', () => {
  const fm = 'fixtures/fmaps/striped-4.yaml';

  it('one offset: one JSON object with device and dpa from --layout', () => {
    const r = run('layout', 'map', '--layout', 'fixtures/layouts/cxl-4way.yaml', '--fmap', fm, '--offset', '15MiB', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ daxdev: 0, offset: 0x30300000, length: MiB, device: 'cxl0', dpa: 0xc0c0000 });
  });

  it('repeated offsets: a JSON list in the same order, null at EOF; hex and plain integers accepted', () => {
    const r = run('layout', 'map', '--fmap', fm, '--offset', '0x1000', '--offset', '20MiB', '--offset', '2097152', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual([
      { daxdev: 0, offset: 0x20001000, length: 2 * MiB - 0x1000 }, null, { daxdev: 0, offset: 0x01000000, length: 2 * MiB },
    ]);
  });

  it('thousands of offsets in one process agree with single queries', () => {
    const offsets = Array.from({ length: 2000 }, (_, i) => String(i * 10007));
    const r = run('layout', 'map', '--fmap', fm, ...offsets.flatMap((o) => ['--offset', o]), '--json');
    const all = JSON.parse(r.out) as unknown[];
    expect(all).toHaveLength(2000);
    const one = JSON.parse(run('layout', 'map', '--fmap', fm, '--offset', offsets[1234]!, '--json').out) as unknown;
    expect(all[1234]).toEqual(one);
  });

  it('--length: a list of mappings with pos', () => {
    const r = run('layout', 'map', '--fmap', fm, '--offset', '1MiB', '--length', '2MiB', '--json');
    expect(JSON.parse(r.out)).toEqual([
      { pos: MiB, daxdev: 0, offset: 0x20000000 + MiB, length: MiB },
      { pos: 2 * MiB, daxdev: 0, offset: 0x01000000, length: MiB },
    ]);
  });

  it('text output', () => {
    const r = run('layout', 'map', '--fmap', fm, '--offset', '15MiB', '--offset', '30MiB');
    expect(r.out).toBe(`${15 * MiB}: daxdev 0 offset 0x30300000 length ${MiB}\n${30 * MiB}: EOF\n`);
  });

  it('usage errors are clear', () => {
    expect(run('layout', 'map', '--fmap', fm).err).toContain('give at least one --offset');
    expect(run('layout', 'map', '--offset', '0').err).toContain('either --fmap FMAP.yaml or a FILE argument');
    expect(run('layout', 'map', '--fmap', fm, '--offset', 'twelve').err).toContain('--offset: "twelve" is not a size');
    // A FILE argument goes to the FileMap source src/cli/image.ts plugs in; a missing image fails.
    expect(run('layout', 'map', 'IMAGE:/f', '--offset', '0').code).toBe(1);
    const r = run('layout', 'map', '--fmap', 'fixtures/fmaps/bad/overlap.yaml', '--offset', '0');
    expect(r.code).toBe(1);
    expect(r.err).toContain('fixtures/fmaps/bad/overlap.yaml:4:5 extents[0]: overlaps');
  });
});

describe('--help', () => {
  it.each(['layout', 'layout check', 'layout show', 'layout map'])('famfs-ts %s --help', (words) => {
    const verb = words.split(' ');
    const out = execFileSync(process.execPath, [CLI, ...verb, '--help'], { encoding: 'utf8' });
    expect(out).toContain(`Usage: famfs-ts ${verb.join(' ')}`);
    expect(out).not.toContain('-h,');
  });
});
