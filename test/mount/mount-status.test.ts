// Tier 2: what a running mount tells about itself. `user.famfs.status` on the mount root is
// JSON in the shape `famfs-ts status` reads (pid, role, abi, devices, mountpoint, readonly,
// per-opcode counts and latency), read here with getfattr from a child process; SIGUSR1
// prints the same per-opcode table to the server's log.
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { must, sh, type Scratch, type MountServer, mountUnavailable, useServedMount } from '../support/mount-harness.js';

const MiB = 1024 ** 2;

interface Status {
  pid: number;
  role: string;
  abi: string;
  devices: string[];
  mountpoint: string;
  readonly: boolean;
  ops: Record<string, { count: number; errors: number; timed: number; meanUs: number; maxUs: number }>;
}

describeTier2('famfs-ts mount: status and per-opcode statistics', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let server: MountServer;
  useServedMount('status', 256 * MiB, [], (m) => ({ s, dev, mnt, server } = m));

  const status = (): Status => JSON.parse(must(`getfattr --only-values --absolute-names -n user.famfs.status ${mnt}`)) as Status;

  it('user.famfs.status on the root is the server status as JSON', () => {
    must(`mkdir ${mnt}/d && echo hello > ${mnt}/d/f && cat ${mnt}/d/f > /dev/null && ls -l ${mnt}/d > /dev/null`);
    sh(`stat ${mnt}/d/missing`); // one failed LOOKUP
    const st = status();
    expect(Object.keys(st).sort()).toEqual(['abi', 'devices', 'mountpoint', 'ops', 'pid', 'readonly', 'role']);
    expect(st.pid).toBe(server.pid);
    expect(st.role).toBe('master');
    expect(typeof st.abi).toBe('string');
    expect(st.abi.length).toBeGreaterThan(0);
    expect(st.devices).toEqual([dev]);
    expect(st.mountpoint).toBe(mnt);
    expect(st.readonly).toBe(false);
    for (const op of ['LOOKUP', 'MKDIR', 'CREATE', 'WRITE', 'GETXATTR']) expect(st.ops[op]?.count, op).toBeGreaterThan(0);
    expect(st.ops.LOOKUP!.errors).toBeGreaterThan(0);
    for (const [op, v] of Object.entries(st.ops)) {
      expect(Object.keys(v).sort(), op).toEqual(['count', 'errors', 'maxUs', 'meanUs', 'timed']);
      expect(v.timed).toBeGreaterThan(0);
      expect(v.timed).toBeLessThanOrEqual(v.count);
      expect(v.errors).toBeLessThanOrEqual(v.count);
      expect(v.meanUs).toBeLessThanOrEqual(v.maxUs + 0.1);
    }
    // Only the root answers it; the counts grow with use.
    expect(sh(`getfattr -n user.famfs.status ${mnt}/d`).status).not.toBe(0);
    const before = st.ops.GETXATTR!.count;
    expect(status().ops.GETXATTR!.count).toBeGreaterThan(before);
  });

  it('counts every READ the serving threads answer and times the first and one in 16 after', () => {
    must(`dd if=/dev/urandom of=${mnt}/big bs=1M count=1 status=none && sync ${mnt}/big`);
    // Committed by the fsync; the next open of it hands it to the serving threads.
    must(`cat ${mnt}/big > /dev/null`);
    const before = status().ops.READ?.count ?? 0;
    must(`dd if=${mnt}/big of=/dev/null bs=4k iflag=direct status=none`);
    const st = status();
    // A kernel that maps famfs files sends no READ: nothing to count then.
    if (st.ops.READ === undefined) return;
    const read = st.ops.READ;
    expect(read.count - before).toBeGreaterThanOrEqual(256);
    expect(read.timed).toBeGreaterThan(0);
    // The default mount's serving threads answer the READs and time one call in 16 (op-stats.ts).
    expect(read.timed).toBeLessThan(read.count / 4);
    expect(read.meanUs).toBeGreaterThan(0);
    expect(read.meanUs).toBeLessThanOrEqual(read.maxUs + 0.1);
  });

  it('SIGUSR1 prints the per-opcode table to the server log', async () => {
    process.kill(server.pid, 'SIGUSR1');
    let text = '';
    for (let i = 0; i < 100 && !/requests answered[\s\S]*LOOKUP\s+\d+ calls/.test(text); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = fs.readFileSync(server.logFile, 'utf8');
    }
    expect(text).toMatch(/requests answered \(/);
    expect(text).toMatch(/LOOKUP\s+\d+ calls\s+\d+ errors\s+mean [\d.]+ us\s+max [\d.]+ us/);
    // The server keeps serving afterwards.
    expect(must(`cat ${mnt}/d/f`)).toBe('hello\n');
  });
});
