// What the first store into a file's new 2 MiB unit costs on an emulated device: 4 KiB
// written at a 2 MiB stride (every famfs file starts in a unit of its own, so every create's
// first WRITE lands on a page never touched), at a 4 KiB stride (a heap packing small files,
// as memfs_ll's does), and again over pages already touched. A sparse /dev/shm file mapped
// as the mount maps its device (MappedDevice). bench/meta-mount/README.md.
//   node dist/bench/meta-mount/fault-stride.js [N=3000]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MappedDevice } from '../../src/device/memory.js';

const N = Number(process.argv[2] ?? 3000);
const MiB = 2 ** 20;
const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const dir = fs.mkdtempSync(path.join(base, 'famfs-ts-fault-stride-'));
try {
  const dev = path.join(dir, 'dax');
  fs.writeFileSync(dev, '');
  // Two regions of N units each: one written at 2 MiB strides, one at 4 KiB strides.
  fs.truncateSync(dev, 2 * N * 2 * MiB);
  const m = MappedDevice.open(dev);
  try {
    const data = Buffer.alloc(4096, 3);
    const run = (what: string, at: number, stride: number): void => {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) m.write(at + i * stride, data);
      const c = process.cpuUsage(c0);
      const wall = Number(process.hrtime.bigint() - t0) / 1e3 / N;
      console.log(`${what.padEnd(34)} ${wall.toFixed(1).padStart(7)} µs wall  ${((c.user + c.system) / N).toFixed(1).padStart(6)} µs CPU (system ${(c.system / N).toFixed(1)})`);
    };
    console.log(`fault-stride: ${N} writes of 4 KiB each (load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')})`);
    run('fresh pages, 2 MiB apart', 0, 2 * MiB);
    run('fresh pages, 4 KiB apart', N * 2 * MiB, 4096);
    run('touched pages, 2 MiB apart', 0, 2 * MiB);
  } finally {
    m.close();
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
