// mkfs and the offline verbs on a real block device: a loop device over a sparse file in
// /dev/shm (the size comes from BLKGETSIZE64, the mapping from the block device itself).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';

const ROOT = path.resolve(__dirname, '../..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');

function famfs(...args: string[]): { code: number; out: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function losetupMissing(): string | undefined {
  const r = spawnSync('losetup', ['--version']);
  if (r.status !== 0) return 'losetup is not installed';
  return fs.existsSync('/dev/loop-control') ? undefined : 'no /dev/loop-control';
}

describeTier2('famfs image on a loop device', losetupMissing, () => {
  let dir = '';
  let loop = '';
  beforeAll(() => {
    if (!fs.existsSync(MAIN)) execFileSync('npx', ['tsc', '-p', ROOT], { stdio: 'ignore' });
    dir = fs.mkdtempSync(path.join('/dev/shm', 'famfs-ts-loop-'));
    const backing = path.join(dir, 'backing');
    fs.writeFileSync(backing, '');
    fs.truncateSync(backing, 4 * 2 ** 30);
    loop = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
    fs.writeFileSync(path.join(dir, 'uuid'), `${crypto.randomUUID()}\n`);
  });
  afterAll(() => {
    if (loop) spawnSync('losetup', ['-d', loop]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('mkfs, creat -r, cp, verify, cat and a clean fsck', () => {
    const U = ['--system-uuid', path.join(dir, 'uuid')];
    expect(famfs('mkfs', ...U, loop).code).toBe(0);
    expect(famfs('mkfs', ...U, loop).code).not.toBe(0); // an existing superblock needs -f
    expect(famfs('creat', '-s', '6M', '-r', '-S', '3', ...U, `${loop}:/data`).code).toBe(0);
    const src = path.join(os.tmpdir(), `famfs-ts-loop-src-${process.pid}`);
    fs.writeFileSync(src, 'bytes on a block device\n');
    try {
      expect(famfs('cp', ...U, src, `${loop}:/note`).code).toBe(0);
    } finally {
      fs.rmSync(src, { force: true });
    }
    const v = famfs('verify', '-S', '3', '-f', `${loop}:/data`, ...U);
    expect(v.out).toMatch(/Success: verified 6291456 bytes/);
    expect(famfs('cat', `${loop}:/note`).out).toBe('bytes on a block device\n');
    const f = famfs('fsck', loop);
    expect(f.code).toBe(0);
    expect(f.out).toMatch(/Device capacity:\s+4294967296/);
    expect(f.out).toMatch(/2 files/);
  });
});
