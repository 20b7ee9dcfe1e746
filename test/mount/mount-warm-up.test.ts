// Tier 2: a mount's JIT warm-up (mount --warm-up, src/server/jit-warm.ts) runs before the
// kernel sees the mount, on scratch images of its own: the served image holds only what was
// written through the mount, and nothing of the scratch images is left in the temp directory.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { CLI, must, mustCli, type Scratch, type MountServer, mountUnavailable, useServedMount } from '../support/mount-harness.js';

const MiB = 1024 ** 2;
const leftovers = (): string[] => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('famfs-ts-warm-'));

describeTier2('famfs-ts mount --warm-up', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let server: MountServer;
  useServedMount('warm-up', 256 * MiB, ['--warm-up', '300'], (m) => ({ s, dev, mnt, server } = m));

  it('warms up before it serves, on scratch images it removed', () => {
    const log = server.log();
    expect(log).toMatch(/warm-up: 300 files on scratch images in \d+ ms/);
    expect(log.indexOf('warm-up:')).toBeLessThan(log.indexOf('serving '));
    expect(leftovers()).toEqual([]);
  });

  it('serves an image that holds only what was written through the mount', () => {
    expect(fs.readdirSync(mnt).filter((n) => !n.startsWith('.'))).toEqual([]);
    must(`echo hello > ${mnt}/f && sync ${mnt}/f`);
    expect(fs.readdirSync(mnt).filter((n) => !n.startsWith('.'))).toEqual(['f']);
    expect(fs.readFileSync(`${mnt}/f`, 'utf8')).toBe('hello\n');
    // The device's log, read offline: one file.
    const files = mustCli(['ls', '--system-uuid', s.uuidFile, `${dev}:/`]);
    expect(files.trim().split('\n')).toEqual(['f']);
  });

  it('refuses a count that is not a whole number, naming the flag or the variable, and mounts nothing', () => {
    const mnt2 = s.mountpoint();
    const run = (extra: string[], env: Record<string, string>) =>
      // --log in the scratch directory: a refused launch leaves its log behind.
      spawnSync(process.execPath, [CLI, 'mount', dev, mnt2, '--system-uuid', s.uuidFile, '--log', s.path('refused.log'), ...extra], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
    const flag = run(['--warm-up', '-3'], {});
    expect(flag.status).toBe(1);
    expect(flag.stderr).toMatch(/--warm-up -3: not a whole number/);
    const variable = run([], { FAMFS_TS_WARM_UP: 'lots' });
    expect(variable.status).toBe(1);
    expect(variable.stderr).toMatch(/FAMFS_TS_WARM_UP lots: not a whole number/);
    expect(fs.readFileSync('/proc/mounts', 'utf8')).not.toContain(` ${mnt2} `);
  });
});
