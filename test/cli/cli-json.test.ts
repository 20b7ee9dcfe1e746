// --json on every verb that reports, status, and famfs's help and exit conventions, run as
// a user runs them (the built CLI as a child process) on a scratch image.
import { spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');
const MKFS = path.join(ROOT, 'dist/tools/mkfs.js');

function run(args: string[], bin = MAIN): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function json(args: string[]): unknown {
  const r = run(args);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

describe('--json, status and famfs conventions', () => {
  let dir: string;
  let dev: string;
  let U: string[];
  beforeAll(() => {
    if (!fs.existsSync(MAIN)) execFileSync('npx', ['tsc', '-p', ROOT], { stdio: 'ignore' });
    dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'famfs-json-'));
    dev = path.join(dir, 'dev');
    fs.writeFileSync(dev, '');
    fs.truncateSync(dev, 4 * 1024 ** 3);
    fs.writeFileSync(path.join(dir, 'uuid'), '11111111-2222-3333-4444-555555555555\n');
    U = ['--system-uuid', path.join(dir, 'uuid')];
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('help is -h, -? and --help with exit 0; fsck -h is human sizes; an unknown verb exits 3', () => {
    for (const a of [['-h'], ['-?'], ['--help'], ['-h', 'creat'], ['creat', '-h'], ['cp', '-?'], ['fsck', '-?'], ['mount', '-?'], ['status', '-h']]) {
      const r = run(a);
      expect([a.join(' '), r.code]).toEqual([a.join(' '), 0]);
      expect(r.stdout).toMatch(/Usage:/);
    }
    expect(run(['-h'], MKFS).code).toBe(0);
    expect(run(['badarg']).code).toBe(3);
    expect(run(['fsck', '-h', path.join(dir, 'none')]).stderr).toMatch(/failed to stat path/);
  });

  it('mkfs, creat, cp, mkdir, verify, getmap, fsck, logplay and layout check report JSON', () => {
    const mk = run(['--json', ...U, dev], MKFS);
    expect([mk.code, mk.stderr]).toEqual([0, '']);
    expect(JSON.parse(mk.stdout)).toMatchObject({ device: dev, devSize: 4 * 1024 ** 3, killed: false });
    expect(json(['mkdir', '--json', ...U, `${dev}:/d`])).toEqual({ created: ['d'] });
    expect(json(['creat', '--json', '-s', '2M', '-r', '-S', '5', ...U, `${dev}:/d/f`])).toEqual({ path: `${dev}:/d/f`, size: 2097152, created: true, seed: 5 });
    const src = path.join(dir, 'src.txt');
    fs.writeFileSync(src, 'hello\n');
    expect(json(['cp', '--json', ...U, src, `${dev}:/d/`])).toEqual({ files: [{ path: '/d/src.txt', verb: 'cp' }], errors: [] });
    expect(json(['verify', '--json', '-S', '5', '-f', `${dev}:/d/f`])).toEqual({ file: `${dev}:/d/f`, size: 2097152, ok: true });
    expect(json(['verify', '--json', '-m', `${dev}:/d/f,5`])).toMatchObject({ errors: 0 });
    expect(json(['getmap', '--json', `${dev}:/d/f`])).toMatchObject({ path: 'd/f', size: 2097152 });
    expect(json(['fsck', '--json', '-B', '2', dev])).toMatchObject({ errors: 0, buckets: [{ index: 0 }, { index: 1 }] });
    expect(json(['logplay', '--json', dev])).toMatchObject({ mode: 'v1', entries: 3, filesCreated: 2, dirsCreated: 1 });
    expect(json(['layout', 'check', '--json', path.join(ROOT, 'fixtures/layouts/mixed.yaml')])).toMatchObject({ ok: true, errors: [] });
    const st = run(['status', '--json']);
    expect(st.code).toBe(0);
    expect(Array.isArray(JSON.parse(st.stdout))).toBe(true);
  });

  it('creat re-randomizes an existing file without -s; creat -r -s 0 exits 1; cp /dev/zero exits 22', () => {
    expect(run(['creat', '-S', '6', '-r', ...U, `${dev}:/d/f`]).code).toBe(0);
    expect(run(['verify', '-S', '6', '-f', `${dev}:/d/f`]).code).toBe(0);
    expect(run(['creat', '-r', '-s', '0', '-S', '1', ...U, `${dev}:/d/e`]).code).toBe(1);
    expect(run(['cp', ...U, '/dev/zero', `${dev}:/d/`]).code).toBe(22);
    expect(run(['getmap', '-q', `${dev}:/nope`])).toEqual({ code: 9, stdout: '', stderr: '' });
    expect(run(['getmap', `${dev}:/.meta/.log`]).stdout).toMatch(/^File: .*\n\tsize: +8388608\n\textents: 1\n\t\t200000\t8388608\n/);
  });
});
