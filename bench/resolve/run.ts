// Resolutions per second: resolve() / resolveInto() / CompiledFileMap in JS next to the same
// arithmetic in C (resolve.c, built here with gcc -O2), on the same maps and positions. The
// checksums must match: that proves both sides computed the same mappings.
// Run: npx tsc -p . && node dist/bench/resolve/run.js [--quick]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompiledFileMap, resolve, resolveInto, unroll, type FileMap, type MappingSlot } from '../../src/interleave/filemap.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const quick = process.argv.includes('--quick');
const N = 1 << 20;
const ROUNDS = quick ? 1 : 3;

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/bench/resolve -> bench/resolve for the C source.
const cSource = [path.join(here, 'resolve.c'), path.resolve(here, '../../../bench/resolve/resolve.c')].find((p) => fs.existsSync(p))!;

const simpleMap: FileMap = {
  size: 96 * MiB,
  // famfs allows up to 16 simple extents; 8 of unequal lengths make the walk do real work.
  extents: [4, 8, 2, 16, 6, 24, 12, 24].map((m, i) => ({ type: 'simple' as const, daxdev: 0, offset: (64 + 64 * i) * MiB, length: m * MiB })),
};
const interleaved: FileMap = {
  size: GiB,
  extents: [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: GiB, strips: [0, 1, 2, 3].map((i) => ({ daxdev: 0, offset: 16 * GiB + i * 256 * MiB, length: 256 * MiB })) }],
};
const unrolled = unroll(interleaved);

type JsVariant = 'resolve()' | 'resolveInto' | 'CompiledFileMap';
interface Case { name: string; map: FileMap; reps: number; cMode: 'walk' | 'uniform'; js: JsVariant[] }
const cases: Case[] = [
  { name: 'simple (8 extents)', map: simpleMap, reps: 8, cMode: 'walk', js: ['resolve()', 'resolveInto', 'CompiledFileMap'] },
  { name: 'interleaved (4 strips x 2MiB)', map: interleaved, reps: 8, cMode: 'walk', js: ['resolve()', 'resolveInto', 'CompiledFileMap'] },
  // The famfs dev tree's O(1) lookup over uniform extents, in both languages.
  { name: `unrolled (${unrolled.extents.length} extents)`, map: unrolled, reps: 8, cMode: 'uniform', js: ['CompiledFileMap'] },
  // The same map walked extent by extent, as resolve() does (and the posted kernels would).
  { name: 'unrolled, walked', map: unrolled, reps: 1, cMode: 'walk', js: ['resolve()', 'resolveInto'] },
];

function positions(size: number, seed: number): Float64Array {
  // Two xorshift32 draws make a 53-bit fraction of the file size: deterministic, covers it all.
  const out = new Float64Array(N);
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let i = 0; i < N; i++) out[i] = Math.floor((((next() & 0x1fffff) * 2 ** 32 + next()) / 2 ** 53) * size);
  return out;
}

function mapText(m: FileMap): string {
  const lines = [`${m.size} ${m.extents.length}`];
  for (const e of m.extents) {
    if (e.type === 'simple') lines.push(`s ${e.daxdev} ${e.offset} ${e.length}`);
    else lines.push(`i ${e.chunkSize} ${e.nbytes} ${e.strips.length} ${e.strips.map((s) => `${s.daxdev} ${s.offset} ${s.length}`).join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

type Variant = (pos: Float64Array, reps: number) => number;

function timeIt(run: Variant, pos: Float64Array, reps: number): { nsPerOp: number; acc: number } {
  run(pos, 1); // warm up (and JIT) before timing
  // CPU time, not wall time (C measures CLOCK_PROCESS_CPUTIME_ID): fair on a busy machine.
  const t0 = process.cpuUsage();
  const acc = run(pos, reps);
  const ns = process.cpuUsage(t0).user * 1000;
  return { nsPerOp: ns / (pos.length * reps), acc: acc >>> 0 };
}

function variants(map: FileMap): Record<JsVariant, Variant> {
  const compiled = new CompiledFileMap(map);
  return {
    'resolve()': (pos, reps) => {
      let acc = 0;
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < pos.length; i++) {
          const m = resolve(map, pos[i]!)!;
          acc = (acc + (m.offset | 0) + m.length + m.daxdev) | 0;
        }
      }
      return acc;
    },
    resolveInto: (pos, reps) => {
      const slot: MappingSlot = { daxdev: 0, offset: 0, length: 0 };
      let acc = 0;
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < pos.length; i++) {
          resolveInto(map, pos[i]!, slot);
          acc = (acc + (slot.offset | 0) + slot.length + slot.daxdev) | 0;
        }
      }
      return acc;
    },
    CompiledFileMap: (pos, reps) => {
      const slot: MappingSlot = { daxdev: 0, offset: 0, length: 0 };
      let acc = 0;
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < pos.length; i++) {
          compiled.resolveInto(pos[i]!, slot);
          acc = (acc + (slot.offset | 0) + slot.length + slot.daxdev) | 0;
        }
      }
      return acc;
    },
  };
}

/**
 * One JS measurement in a fresh process (`run.js --child CASE VARIANT REPS`), so each map
 * shape gets its own JIT feedback: in one process, code that has seen simple and interleaved
 * maps is slower on both (a real server resolving many shapes would see that too).
 */
function child(): void {
  const [ci, name, reps] = process.argv.slice(process.argv.indexOf('--child') + 1);
  const c = cases[Number(ci)]!;
  const pos = positions(c.map.size, 0x9e3779b9 + Number(ci));
  const t = timeIt(variants(c.map)[name as JsVariant], pos, Number(reps));
  console.log(`${t.nsPerOp} ${t.acc}`);
}

function main(): void {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'famfs-ts-bench-resolve-'));
  try {
    const exe = path.join(tmp, 'resolve');
    execFileSync('gcc', ['-O2', '-o', exe, cSource], { stdio: 'inherit' });
    const rows: string[][] = [['map', 'JS resolve()', 'JS resolveInto', 'JS compiled', 'C', 'C / best JS', 'checksum']];
    let failed = false;
    for (const [ci, c] of cases.entries()) {
      const reps = quick ? Math.max(1, c.reps >> 3) : c.reps;
      const pos = positions(c.map.size, 0x9e3779b9 + ci);
      const mapFile = path.join(tmp, `map${ci}.txt`);
      const posFile = path.join(tmp, `pos${ci}.bin`);
      fs.writeFileSync(mapFile, mapText(c.map));
      fs.writeFileSync(posFile, new BigUint64Array(Array.from(pos, (p) => BigInt(p))));
      // Best of ROUNDS, C and JS taking turns, so a busy machine hurts both alike.
      let cNs = Infinity;
      let cAcc = -1;
      const js: Record<string, { nsPerOp: number; acc: number }> = {};
      for (let round = 0; round < ROUNDS; round++) {
        const out = execFileSync(exe, [`c${ci}`, mapFile, posFile, String(reps), c.cMode], { encoding: 'utf8' }).trim().split(' ');
        cNs = Math.min(cNs, Number(out[1]));
        cAcc = Number(out[2]);
        for (const name of c.js) {
          const [ns, acc] = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', String(ci), name, String(reps)], { encoding: 'utf8' }).trim().split(' ').map(Number);
          if (js[name] === undefined || ns! < js[name].nsPerOp) js[name] = { nsPerOp: ns!, acc: acc! };
        }
      }
      const accs = new Set(Object.values(js).map((v) => v.acc));
      const same = accs.size === 1 && accs.has(cAcc);
      failed ||= !same;
      const best = Math.min(...Object.values(js).map((v) => v.nsPerOp));
      const rate = (ns: number | undefined): string => (ns === undefined ? '-' : `${(1e3 / ns).toFixed(1)} M/s`);
      rows.push([c.name, rate(js['resolve()']?.nsPerOp), rate(js.resolveInto?.nsPerOp), rate(js.CompiledFileMap?.nsPerOp), `${rate(cNs)} (${c.cMode})`, `${(cNs / best).toFixed(2)}x`, same ? 'equal' : `DIFFER js ${[...accs].join('/')} c ${cAcc}`]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
    console.log(`\n${N} random positions per map, single core, CPU time, best of ${ROUNDS}, each JS variant in its own process.`);
    console.log('"C / best JS": the fastest JS variant\'s speed as a fraction of C\'s (1.00x = as fast as C; target >= 0.33x).');
    if (failed) {
      console.error('checksums differ: JS and C disagree');
      process.exitCode = 1;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) child();
else main();
