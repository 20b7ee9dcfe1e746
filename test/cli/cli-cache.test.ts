// `--cache-maintenance` as a user gives it (README "Caches on shared memory"): the built CLI
// in a child process makes, fills and verifies an image with maintenance forced on (the
// x86-64 routine runs on every flush and invalidate) and off; a bad mode is refused before
// anything is touched; the environment variable does the same.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, TempDir } from '../famfs-support.js';

const ROOT = path.resolve(__dirname, '../..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');

function famfs(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!fs.existsSync(MAIN)) execFileSync('npx', ['tsc', '-p', ROOT], { stdio: 'ignore' });
});

describe('famfs-ts --cache-maintenance', () => {
  const t = new TempDir();
  afterAll(() => t.cleanup());
  const modes = os.arch() === 'x64' ? ['on', 'off', 'auto'] : ['off', 'auto'];
  for (const mode of modes) {
    it(`${mode}: mkfs, creat -r, cp, verify and cat on an emulated device`, () => {
      const dev = t.file(`dev-${mode}`, 4 * GiB);
      const uuidFile = t.path(`uuid-${mode}`);
      fs.writeFileSync(uuidFile, '0a0b0c0d-0102-0304-0506-0708090a0b0c\n');
      const U = ['--system-uuid', uuidFile];
      const src = t.path(`src-${mode}`);
      fs.writeFileSync(src, Buffer.alloc(100_000, 0x5a));
      const flag = ['--cache-maintenance', mode];
      expect(famfs([...flag, 'mkfs', ...U, dev]).code).toBe(0);
      expect(famfs([...flag, 'creat', '-s', '3M', '-r', '-S', '7', ...U, `${dev}:/f`]).code).toBe(0);
      expect(famfs([...flag, 'cp', ...U, src, `${dev}:/g`]).code).toBe(0);
      expect(famfs([...flag, 'verify', '-S', '7', '-f', `${dev}:/f`, ...U]).code).toBe(0);
      // The mode from the environment, the flag after the verb.
      const cat = spawnSync(process.execPath, [MAIN, 'cat', '--cache-maintenance', mode, ...U, `${dev}:/g`], { env: { ...process.env, FAMFS_TS_CACHE_MAINTENANCE: mode }, timeout: 60_000 });
      expect(cat.status).toBe(0);
      expect(Buffer.compare(cat.stdout, fs.readFileSync(src))).toBe(0);
    });
  }

  it('refuses a bad mode, from the flag or the environment, before touching the device', () => {
    const dev = t.file('dev-bad', 4 * GiB);
    const r = famfs(['--cache-maintenance', 'sometimes', 'mkfs', '--system-uuid', t.path('nope'), dev]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--cache-maintenance: cache maintenance mode "sometimes" \(expected on, off or auto\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const e = famfs(['mkfs', '--system-uuid', t.path('nope'), dev], { FAMFS_TS_CACHE_MAINTENANCE: 'maybe' });
    expect(e.code).not.toBe(0);
    expect(e.stderr).toMatch(/FAMFS_TS_CACHE_MAINTENANCE: cache maintenance mode "maybe"/);
    const head = Buffer.alloc(4096);
    const fd = fs.openSync(dev, 'r');
    fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    expect(head.every((x) => x === 0)).toBe(true);
  });
});
