// Tier 4: which path the bytes take on a stock 7.3 kernel (no famfs, no iomap): the workload of
// test/vm/stock-paths.sh on a devdax mount, with the kernel's own count of FUSE upcalls per step
// (tracepoint fuse:fuse_request_send). Every data byte must be a READ or WRITE upcall, in
// max_write (256 KiB) pieces; the server's log says its serving threads answered them.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeTier4 } from '../support/tier.js';
import { FuseOp, GiB, fuseCounts, repoRoot, runVmOk, vmUnavailable } from '../support/vm.js';

const MiB = 1024 * 1024;
const PIECE = 256 * 1024; // the mount's max_write, and the kernel's read size here

describeTier4('data paths on stock-7.3', () => vmUnavailable('stock-7.3'), () => {
  it('cp, cmp, mmap, O_DIRECT, fio --verify and remount: every byte a FUSE READ or WRITE, counted by the kernel', async () => {
    const r = await runVmOk({
      kernel: 'stock-7.3', nvdimms: [6 * GiB], timeoutMs: 900_000,
      script: readFileSync(`${repoRoot}/test/vm/stock-paths.sh`, 'utf8'),
    }, 'test/vm/stock-paths.sh');
    expect(r.output).toContain('ALL DONE');
    expect(r.output).toMatch(/INIT: kernel 7\.46 .*profile mainline/);
    const c = fuseCounts(r.output);
    const n = (step: string, op: number): number => {
      const s = c.get(step);
      if (!s) throw new Error(`no FUSE counts for step ${step} in:\n${r.output}`);
      return s.ops.get(op) ?? 0;
    };
    // cp of 8 MiB in: 32 WRITEs carrying exactly the file.
    expect(n('cp-in', FuseOp.WRITE)).toBe(8 * MiB / PIECE);
    expect(c.get('cp-in')!.wbytes).toBe(8 * MiB);
    // Reading it back after dropping the page cache: 32 READs.
    expect(n('cmp-out', FuseOp.READ)).toBe(8 * MiB / PIECE);
    // mmap: page faults are READs; the 64 KiB store reaches the server as a WRITE at msync.
    expect(n('mmap', FuseOp.READ)).toBeGreaterThanOrEqual(8 * MiB / PIECE);
    expect(n('mmap', FuseOp.WRITE)).toBeGreaterThanOrEqual(1);
    expect(c.get('mmap')!.wbytes).toBe(64 * 1024);
    expect(n('mmap-check', FuseOp.READ)).toBe(8 * MiB / PIECE);
    // O_DIRECT 4 x 1 MiB: each request split into max_write pieces, none cached.
    expect(n('odirect-write', FuseOp.WRITE)).toBe(4 * MiB / PIECE);
    expect(c.get('odirect-write')!.wbytes).toBe(4 * MiB);
    expect(n('odirect-read', FuseOp.READ)).toBe(4 * MiB / PIECE);
    // fio: 64 KiB O_DIRECT random writes over 4 MiB, then its crc32c verify reads them all.
    expect(n('fio', FuseOp.WRITE)).toBe(64);
    expect(n('fio', FuseOp.READ)).toBe(64);
    // After a remount the file (with the mmap store) is read again through READ.
    expect(n('remount-cmp', FuseOp.READ)).toBe(8 * MiB / PIECE);
    // The server's serving threads answered data requests themselves.
    const answered = [...r.output.matchAll(/serving threads answered (\d+) reads and writes/g)].map((m) => Number(m[1]));
    expect(answered.length).toBe(2);
    expect(answered[0]).toBeGreaterThan(0);
  }, 1_000_000);
});
