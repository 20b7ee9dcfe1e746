// The image verbs as a user runs them: `node dist/src/cli/main.js` in a child process
// against the fixture image and fresh emulated devices. Exit statuses are famfs's.
import { spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Command } from 'commander';
import { registerImage } from '../../src/cli/image.js';
import { FamfsImage } from '../../src/famfs/image.js';
import { FIXTURE, GiB, MiB, TempDir, fixtureImage, fixtureSystemUuid } from '../famfs-support.js';
import { formatUuid } from '../../src/famfs/uuid.js';

const ROOT = path.resolve(__dirname, '../..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');
const MKFS = path.join(ROOT, 'dist/tools/mkfs.js');

function famfs(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', input, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The same verbs run in this process (commander program, stdout/stderr captured, exit
 * status from process.exitCode): most checks use it, a few spawn the real binary.
 */
async function verb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const program = new Command('famfs-ts').helpOption('--help', 'help').exitOverride();
  registerImage(program);
  let stdout = '';
  let stderr = '';
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => { stdout += String(c); return true; });
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => { stderr += String(c); return true; });
  process.exitCode = 0;
  let code: number;
  try {
    await program.parseAsync(args, { from: 'user' });
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    code = (e as { exitCode?: number }).exitCode ?? 1;
  } finally {
    so.mockRestore();
    se.mockRestore();
    process.exitCode = 0;
  }
  return { code, stdout, stderr };
}

beforeAll(() => {
  // The CLI runs from dist/: build it when this checkout has not been built yet.
  if (!fs.existsSync(MAIN) || !fs.existsSync(MKFS)) execFileSync('npx', ['tsc', '-p', ROOT], { stdio: 'ignore' });
});

describe('image verbs on the real famfs image', () => {
  const t = new TempDir();
  let dev: string;
  let uuidFile: string;
  let U: string[];
  beforeAll(() => {
    dev = fixtureImage(t);
    uuidFile = t.path('system_uuid');
    fs.writeFileSync(uuidFile, formatUuid(fixtureSystemUuid()) + '\0');
    U = ['--system-uuid', uuidFile];
  });
  afterAll(() => t.cleanup());

  it('fsck prints fsck.txt and exits 0', async () => {
    const r = famfs(['fsck', ...U, dev]);
    expect(r.stdout).toBe(fs.readFileSync(path.join(FIXTURE, 'fsck.txt'), 'utf8'));
    expect(r.code).toBe(0);
    const j = JSON.parse((await verb(['fsck', '--json', ...U, dev])).stdout);
    expect(j.capacity.allocated).toBe(41943040);
  });

  it('logplay --shadow writes the shadow YAML famfs wrote', async () => {
    const sh = t.path('shadow');
    fs.mkdirSync(sh);
    const r = (await verb(['logplay', '--shadow', sh, ...U, dev]));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('famfs_logplay(shadow): 7 log entries; 3 new files; 4 new directories\n');
    for (const p of ['dir1/f1', 'dir1/src.txt', 'striped']) {
      expect(fs.readFileSync(path.join(sh, 'root', p), 'utf8')).toBe(fs.readFileSync(path.join(FIXTURE, 'shadow/root', p), 'utf8'));
    }
    expect(fs.statSync(path.join(sh, 'root/a/b/c')).isDirectory()).toBe(true);
  });

  it('ls, getmap, cat, verify -S 42', async () => {
    expect((await verb(['ls', ...U, `${dev}:/`])).stdout).toBe('a\ndir1\nstriped\n');
    expect((await verb(['ls', '-l', ...U, `${dev}:/dir1`])).stdout).toMatch(/-rw-r--r-- +0 +0 +3145728 f1\n-rw-r--r-- +0 +0 +12 src.txt\n/);
    const g = (await verb(['getmap', ...U, `${dev}:/dir1/f1`]));
    expect(g.stdout).toBe(`File:     ${dev}:/dir1/f1\n\tsize:    3145728\n\textents: 1\n\t\ta00000\t4194304\nfamfs_getmap: good file ${dev}:/dir1/f1\n`);
    const gj = JSON.parse((await verb(['getmap', '--json', ...U, `${dev}:/striped`])).stdout);
    expect(gj.extents[0].strips.map((s: { offset: number }) => s.offset)).toEqual([0x80000000, 0x1000000, 0x40000000, 0xc0000000]);
    // famfs getmap: a missing file is EBADF (9), as src/famfs_cli.c returns.
    expect((await verb(['getmap', ...U, `${dev}:/nope`])).code).toBe(9);
    expect(famfs(['cat', ...U, `${dev}:/dir1/src.txt`]).stdout).toBe('hello famfs\n');
    const v = (await verb(['verify', '-S', '42', '-f', `${dev}:/dir1/f1`, ...U]));
    expect(v.stdout).toBe(`Success: verified 3145728 bytes in file ${dev}:/dir1/f1\n`);
    expect(v.code).toBe(0);
    expect((await verb(['verify', '-S', '43', '-f', `${dev}:/dir1/f1`, ...U])).code).toBe(1);
  });

  it('layout map IMAGE:/path resolves through the image', async () => {
    const r = famfs(['layout', 'map', `${dev}:/striped`, '--offset', '0x200000', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ daxdev: 0, offset: 0x1000000, length: 0x200000 });
  });

  it('another host is a client and may not append', async () => {
    const other = t.path('other_uuid');
    fs.writeFileSync(other, '00000000-0000-0000-0000-000000000001\n');
    expect((await verb(['fsck', '--system-uuid', other, dev])).stdout).toContain('role of this node: Client');
    const r = (await verb(['mkdir', '--system-uuid', other, `${dev}:/x`]));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAMFS_MASTER/);
    expect((await verb(['mkdir', '--client', ...U, `${dev}:/x`])).code).toBe(1);
  });

  it('a cloned extent makes fsck report collisions and exit with their count', async () => {
    const d2 = fixtureImage(t, 'clone');
    const img = FamfsImage.open({ device: d2, writable: true, systemUuid: fixtureSystemUuid() });
    try {
      img.logFile('clone', img.file('dir1/f1').map);
    } finally {
      img.close();
    }
    const r = (await verb(['fsck', ...U, d2]));
    expect(r.stdout).toContain('ERROR: 2 ALLOCATION COLLISIONS FOUND');
    expect(r.code).toBe(2);
  });
});

describe('making and filling images from the command line', () => {
  const t = new TempDir();
  let U: string[];
  beforeAll(() => {
    const f = t.path('uuid');
    fs.writeFileSync(f, '11111111-2222-4333-8444-555555555555\0');
    U = ['--system-uuid', f];
  });
  afterAll(() => t.cleanup());

  it('mkfs, then famfs refusals and exit statuses', async () => {
    const dev = t.file('dev', 4 * GiB);
    const m = famfs(['mkfs', ...U, dev]);
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/^devsize: 4294967296\nFamfs Superblock:/);
    expect((await verb(['mkfs', ...U, dev])).code).toBe(2);
    expect(spawnSync(process.execPath, [MKFS, '-f', ...U, dev]).status).toBe(0);
    expect((await verb(['mkfs', ...U, t.path('missing')])).code).toBe(2);
    const small = t.file('small', 64 * MiB);
    expect((await verb(['mkfs', ...U, small])).stderr).toMatch(/unsupported memory device size \(<4GiB\)/);
    expect((await verb(['mkfs', '--small', ...U, small])).code).toBe(0);
    expect((await verb(['mkfs', '-f', '-l', '12m', '--small', ...U, small])).stderr).toMatch(/invalid log length \(12582912\)/);

    expect((await verb(['mkdir', ...U, `${dev}:/d`])).code).toBe(0);
    expect((await verb(['mkdir', ...U, `${dev}:/d`])).code).toBe(17);
    expect((await verb(['mkdir', ...U, `${dev}:/p/q`])).code).toBe(2);
    expect((await verb(['mkdir', '-p', ...U, `${dev}:/p/q`])).code).toBe(0);
    const c = (await verb(['creat', '-s', '3M', '-r', '-S', '42', ...U, `${dev}:/d/f1`]));
    expect(c.stdout).toBe(`randomized 3145728 bytes: ${dev}:/d/f1\n`);
    expect((await verb(['creat', '-s', '3M', ...U, `${dev}:/d/f1`])).code).toBe(0); // same size: no-op
    // famfs creat returns -1 (exit 1) for another size, size 0 and -S without -r (src/famfs_cli.c).
    expect((await verb(['creat', '-s', '4M', ...U, `${dev}:/d/f1`])).code).toBe(1);
    expect((await verb(['creat', '-s', '0', ...U, `${dev}:/d/e`])).code).toBe(1);
    expect((await verb(['creat', '-s', '1M', '-S', '1', ...U, `${dev}:/d/e`])).code).toBe(1);
    expect((await verb(['creat', '-s', '1M', ...U, `${dev}:/d/${'x'.repeat(80)}`])).code).toBe(36);
    expect((await verb(['creat', '-s', '8G', ...U, `${dev}:/d/huge`])).code).toBe(12);
    expect((await verb(['verify', '-S', '42', '-f', `${dev}:/d/f1`, ...U])).code).toBe(0);
    expect((await verb(['getmap', ...U, `${dev}:/d/f1`])).stdout).toContain('\t\ta00000\t4194304\n');

    const src = t.path('src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a.txt'), 'alpha\n');
    fs.writeFileSync(path.join(src, 'sub', 'b.bin'), Buffer.alloc(3 * MiB + 5, 7));
    fs.writeFileSync(path.join(src, 'empty'), '');
    expect((await verb(['cp', ...U, path.join(src, 'a.txt'), `${dev}:/d`])).code).toBe(0);
    // famfs cp skips an empty source and counts it as an error (famfs_cp returns 1): the rest is copied.
    expect((await verb(['cp', '-r', ...U, src, `${dev}:/d`])).code).toBe(1);
    expect(famfs(['cat', ...U, `${dev}:/d/src/a.txt`]).stdout).toBe('alpha\n');
    expect((await verb(['ls', ...U, `${dev}:/d/src`])).stdout).toBe('a.txt\nsub\n');
    const img = FamfsImage.open({ device: dev, systemUuid: new Uint8Array(16) });
    try {
      const b = img.file('d/src/sub/b.bin');
      const buf = Buffer.alloc(b.size);
      img.read(b, 0, buf);
      expect(buf.equals(Buffer.alloc(3 * MiB + 5, 7))).toBe(true);
    } finally {
      img.close();
    }
    const f = (await verb(['fsck', ...U, dev]));
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(/No allocation errors found/);
  });

  it('several daxdevs from a layout: ADD_DAXDEV, tags, strips on both', async () => {
    for (const n of ['d0.img', 'd1.img', 'd2.img']) t.file(n, 64 * MiB);
    const y = t.path('layout.yaml');
    fs.writeFileSync(y, 'devices:\n  - {name: d0, path: d0.img, size: 64MiB}\n  - {name: d1, path: d1.img, size: 64MiB}\npolicy:\n  chunk: 2MiB\n  strips: 2\n  buckets: 1\n  daxdevs: [0, 1]\n');
    expect((await verb(['mkfs', '--small', ...U, y])).code).toBe(0);
    expect((await verb(['creat', '-s', '10M', '-r', '-S', '9', '--small', ...U, `${y}:/f`])).code).toBe(0);
    const g = JSON.parse((await verb(['getmap', '--json', ...U, `${y}:/f`])).stdout);
    expect(g.extents[0].strips.map((s: { daxdev: number }) => s.daxdev)).toEqual([0, 1]);
    expect((await verb(['verify', '-S', '9', '-f', `${y}:/f`, ...U])).code).toBe(0);
    const j = JSON.parse((await verb(['fsck', '--json', ...U, y])).stdout);
    expect(j.daxdevs.map((d: { index: number }) => d.index)).toEqual([0, 1]);
    // The wrong device in slot 1 is caught by its tag.
    fs.writeFileSync(t.path('layout-bad.yaml'), 'devices:\n  - {name: d0, path: d0.img, size: 64MiB}\n  - {name: d1, path: d2.img, size: 64MiB}\n');
    const bad = (await verb(['fsck', ...U, t.path('layout-bad.yaml')]));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/tag/);
  });
});
