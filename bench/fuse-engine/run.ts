// Data-path benchmark of the FUSE engine: sequential 1 MiB O_DIRECT reads and writes and
// 4 KiB O_DIRECT reads (dd) through a real mount of the test MemFs, its file served from a
// MAP_SHARED mapping of a /dev/shm file,
// in several loop configurations, and the libfuse3 C peer from ../shared/bench-peers on a
// /dev/shm image of the same size, all in one run. Needs root and /dev/fuse.
//   node dist/bench/fuse-engine/run.js [SIZE_MIB=1024] [--no-peer] [--only NAME]
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { threadPoolEnv } from '../../src/fuse/session.js';
import { unmount } from '../../src/sys/fuse-dev.js';

const args = process.argv.slice(2);
const sizeMiB = Number(args.find((a) => /^\d+$/.test(a)) ?? 1024);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const child = path.join(root, 'dist/test/support/fuse-child.js');
const peerSrc = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../shared/bench-peers/c-lowlevel-peer.c');

interface Variant { name: string; start(mnt: string): ChildProcess; file: string }

const variants: Variant[] = [
  { name: 'famfs-ts engine (sleep in poll, no spin)', file: 'big', start: (m) => node(m, ['--spin', '0']) },
  { name: 'famfs-ts engine (spin <=300us, then poll)', file: 'big', start: (m) => node(m, ['--spin', '300']) },
];

function node(mnt: string, extra: string[]): ChildProcess {
  // Like the C peer, serve the file from a MAP_SHARED mapping of a /dev/shm file.
  return spawn(process.execPath, [child, mnt, '--big', String(sizeMiB << 20), '--shm', engineImage, ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'], env: threadPoolEnv(1),
  });
}

const engineImage = `/dev/shm/famfs-ts-bench-engine-${process.pid}`;
let peerBin: string | undefined;
let image: string | undefined;
if (!args.includes('--no-peer') && fs.existsSync(peerSrc)) {
  try {
    peerBin = path.join(os.tmpdir(), 'famfs-ts-c-lowlevel-peer');
    const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' }).trim().split(/\s+/);
    execFileSync('gcc', ['-O2', '-o', peerBin, peerSrc, ...flags]);
    image = `/dev/shm/famfs-ts-bench-${process.pid}.img`;
    const fd = fs.openSync(image, 'w');
    const block = Buffer.alloc(1 << 20, 0x5a);
    for (let i = 0; i < sizeMiB; i++) fs.writeSync(fd, block);
    fs.closeSync(fd);
    const bin = peerBin;
    const img = image;
    variants.push({ name: 'libfuse3 C peer (bench-peers)', file: 'data', start: (m) => spawn(bin, [img, m], { stdio: ['ignore', 'pipe', 'inherit'] }) });
  } catch (e) {
    process.stderr.write(`C peer unavailable: ${(e as Error).message}\n`);
  }
}

async function waitReady(p: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('server not ready in 120 s')), 120_000);
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    p.once('exit', (c) => reject(new Error(`server exited (${c})`)));
  });
}

/** Run dd and return MB/s from its own report (it prints on stderr). */
function ddMeasure(a: string[]): number {
  const r = spawnSync('dd', a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dd ${a.join(' ')}: ${r.stderr}`);
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(r.stderr);
  if (!m) throw new Error(`dd said: ${r.stderr}`);
  return Number(m[1]) / Number(m[2]) / 1e6;
}

/** CPU time (user + system) a process has used so far, in µs (clock ticks of 10 ms). */
function cpuMicros(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const rows: { name: string; read: number; read4k: number; write: number; cpu1m: number; cpu4k: number }[] = [];
for (const v of variants) {
  if (only && !v.name.includes(only)) continue;
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'fuse-bench-'));
  const p = v.start(mnt);
  try {
    await waitReady(p);
    const f = path.join(mnt, v.file);
    let c0 = cpuMicros(p.pid!);
    const reads = [0, 1, 2].map(() => ddMeasure([`if=${f}`, 'of=/dev/null', 'bs=1M', 'iflag=direct']));
    const cpu1m = (cpuMicros(p.pid!) - c0) / (3 * sizeMiB);
    const n4k = Math.min(sizeMiB * 256, 100_000);
    c0 = cpuMicros(p.pid!);
    const read4k = ddMeasure([`if=${f}`, 'of=/dev/null', 'bs=4k', `count=${n4k}`, 'iflag=direct']);
    const cpu4k = (cpuMicros(p.pid!) - c0) / n4k;
    const write = ddMeasure(['if=/dev/zero', `of=${f}`, 'bs=1M', `count=${sizeMiB}`, 'oflag=direct', 'conv=notrunc']);
    rows.push({ name: v.name, read: Math.max(...reads), read4k, write, cpu1m, cpu4k });
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => (p.exitCode !== null ? r(0) : p.once('exit', r)));
    try {
      unmount(mnt, { lazy: true });
    } catch {
      // already unmounted by the server
    }
    fs.rmdirSync(mnt);
  }
}
if (image) fs.rmSync(image, { force: true });
fs.rmSync(engineImage, { force: true });

const peer = rows.find((r) => r.name.startsWith('libfuse3'));
const fmt = (x: number) => x.toFixed(0).padStart(8);
const ratio = (x: number, y: number | undefined) => (y ? `${(x / y).toFixed(2)}x` : '-').padStart(7);
console.log(`\n${sizeMiB} MiB file, dd O_DIRECT; MB/s (best of 3 for 1 MiB reads); ratio vs the C peer;`);
console.log(`server CPU µs per request (user+sys, 10 ms ticks) for the 1 MiB and 4 KiB reads; load average ${os.loadavg()[0]!.toFixed(1)}`);
console.log(`${'server'.padEnd(46)} ${'read 1M'.padStart(8)} ${'ratio'.padStart(7)} ${'read 4k'.padStart(8)} ${'ratio'.padStart(7)} ${'write 1M'.padStart(8)} ${'ratio'.padStart(7)} ${'cpu/1M'.padStart(7)} ${'cpu/4k'.padStart(7)}`);
for (const r of rows) {
  console.log(`${r.name.padEnd(46)} ${fmt(r.read)} ${ratio(r.read, peer?.read)} ${fmt(r.read4k)} ${ratio(r.read4k, peer?.read4k)} ${fmt(r.write)} ${ratio(r.write, peer?.write)} ${r.cpu1m.toFixed(0).padStart(7)} ${r.cpu4k.toFixed(1).padStart(7)}`);
}
