// Tier 2 (root): a real mount of the test MemFs served by a child process, driven from this
// process with ordinary tools (ls, cat, cp, dd, stat, mkdir, df), then unmounted: by
// SIGTERM to the server (its clean-unmount path) and by unmount() from outside.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeTier2 } from '../support/tier.js';
import { childReady, childScript } from '../support/fuse-player.js';
import { patternFile } from '../support/fuse-memfs.js';
import { threadPoolEnv } from '../../src/fuse/session.js';
import { unmount } from '../../src/sys/fuse-dev.js';

const BIG = 8 << 20;

function mounted(mnt: string): boolean {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt);
}

function run(cmd: string, args: string[], input?: Buffer): { out: Buffer; err: string; code: number | null } {
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 << 20, timeout: 60_000 });
  return { out: r.stdout, err: r.stderr?.toString() ?? '', code: r.status };
}

async function serve(mnt: string, extra: string[] = []): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [childScript, mnt, '--big', String(BIG), ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'], env: threadPoolEnv(1),
  });
  return { child, stderr: await childReady(child) };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (c) => r(c))));
}

describeTier2('FUSE engine on a real mount (server in a child process)', () => {
  if (!fs.existsSync('/dev/fuse')) return 'no /dev/fuse';
  if (!fs.existsSync(childScript)) return `${childScript} missing: build with npx tsc -p .`;
  return undefined;
}, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fuse-mount-test-'));
  const mnt = path.join(tmp, 'mnt');
  const mnt2 = path.join(tmp, 'mnt2');
  const mnt3 = path.join(tmp, 'mnt3');
  const mnt4 = path.join(tmp, 'mnt4');
  const children: ChildProcess[] = [];
  const want = patternFile(BIG);
  let server: { child: ChildProcess; stderr: () => string };

  beforeAll(async () => {
    fs.mkdirSync(mnt);
    fs.mkdirSync(mnt2);
    fs.mkdirSync(mnt3);
    fs.mkdirSync(mnt4);
    server = await serve(mnt);
    children.push(server.child);
  });

  afterAll(() => {
    for (const m of [mnt, mnt2, mnt3, mnt4]) {
      if (mounted(m)) {
        try {
          unmount(m, { lazy: true });
        } catch {
          // gone meanwhile
        }
      }
    }
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('is mounted as fuse.memfs and ls -la lists the files', () => {
    expect(mounted(mnt)).toBe(true);
    const ls = run('ls', ['-la', mnt]);
    expect(ls.code).toBe(0);
    expect(ls.out.toString()).toMatch(/hello\.txt/);
    expect(ls.out.toString()).toMatch(new RegExp(`${BIG} .* big`));
  });

  it('cat and stat', () => {
    expect(run('cat', [path.join(mnt, 'hello.txt')]).out.toString()).toBe('hello, fuse\n');
    expect(run('stat', ['-c', '%s %F %a', path.join(mnt, 'big')]).out.toString().trim()).toBe(`${BIG} regular file 644`);
  });

  it('dd iflag=direct and cp read the exact bytes', () => {
    const dd = run('dd', [`if=${path.join(mnt, 'big')}`, 'bs=1M', 'iflag=direct', 'status=none']);
    expect(dd.code).toBe(0);
    expect(dd.out.equals(want)).toBe(true);
    const copy = path.join(tmp, 'copy');
    expect(run('cp', [path.join(mnt, 'big'), copy]).code).toBe(0);
    expect(fs.readFileSync(copy).equals(want)).toBe(true);
  });

  it('cp in, mkdir -p, ls -R, dd write, read back; df works', () => {
    const src = path.join(tmp, 'src');
    const data = patternFile(3 << 20).subarray(12345);
    fs.writeFileSync(src, data);
    expect(run('mkdir', ['-p', path.join(mnt, 'a/b/c')]).code).toBe(0);
    expect(run('cp', [src, path.join(mnt, 'a/b/c/file')]).code).toBe(0);
    expect(run('cmp', [src, path.join(mnt, 'a/b/c/file')]).code).toBe(0);
    expect(run('ls', ['-R', path.join(mnt, 'a')]).out.toString()).toMatch(/c:\nfile/);
    const w = run('dd', ['of=' + path.join(mnt, 'dd-out'), 'bs=1M', 'oflag=direct', 'status=none'], want.subarray(0, 4 << 20));
    expect(w.code).toBe(0);
    expect(fs.statSync(path.join(mnt, 'dd-out')).size).toBe(4 << 20);
    expect(run('cmp', ['-n', String(4 << 20), path.join(mnt, 'dd-out'), path.join(mnt, 'big')]).code).toBe(0);
    const df = run('df', ['-B1', mnt]);
    expect(df.code).toBe(0);
    expect(df.out.toString()).toMatch(/fuse-child/);
  });

  it('the kernel accepts our INVAL_INODE / INVAL_ENTRY notifications and the mount keeps working', async () => {
    server.child.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 200));
    expect(server.stderr()).not.toMatch(/notify failed/);
    expect(run('cat', [path.join(mnt, 'hello.txt')]).out.toString()).toBe('hello, fuse\n');
  });

  it('SIGTERM unmounts cleanly and the server exits 0', async () => {
    server.child.kill('SIGTERM');
    expect(await exited(server.child)).toBe(0);
    expect(mounted(mnt)).toBe(false);
    expect(server.stderr()).not.toMatch(/failed|Error/);
  });

  it('READ replies of 2048 iovecs (more than IOV_MAX) reach the kernel whole; unmount() from outside ends the server', async () => {
    const s = await serve(mnt2, ['--slice', '512']);
    children.push(s.child);
    const dd = run('dd', [`if=${path.join(mnt2, 'big')}`, 'bs=1M', 'iflag=direct', 'status=none']);
    expect(dd.code).toBe(0);
    expect(dd.out.equals(want)).toBe(true);
    unmount(mnt2);
    expect(await exited(s.child)).toBe(0);
    expect(mounted(mnt2)).toBe(false);
  });

  it('a serving thread that dies fails only the request it held; the rest serve on, then the main thread', async () => {
    const POISON = 4 << 20;
    const s = await serve(mnt3, ['--threads', '2', '--poison', String(POISON), '--stats']);
    children.push(s.child);
    const big = path.join(mnt3, 'big');
    const readAll = (): void => {
      const dd = run('dd', [`if=${big}`, 'bs=1M', 'iflag=direct', 'status=none']);
      expect(dd.code, dd.err).toBe(0);
      expect(dd.out.equals(want)).toBe(true);
    };
    const poisoned = () => run('dd', [`if=${big}`, 'bs=4k', `skip=${POISON / 4096}`, 'count=1', 'iflag=direct', 'status=none']);
    readAll();
    // Each poisoned READ ends the thread that took it: closing its clone of the channel ends
    // the request (ECONNABORTED), not the mount.
    for (let live = 2; live > 0; live--) {
      const dd = poisoned();
      expect(dd.code).not.toBe(0);
      expect(dd.err).toMatch(/connection abort/i);
      readAll();
    }
    // No thread left: the main thread reads the channel again, and its MemFs has no poison.
    for (let i = 0; i < 50 && !/serving on the main thread/.test(s.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(s.stderr()).toMatch(/serving thread \d exited \(code 7\); 1 left[^]*serving thread \d exited \(code 7\); 0 left/);
    expect(s.stderr()).toMatch(/serving threads failed; serving on the main thread/);
    const dd = poisoned();
    expect(dd.code, dd.err).toBe(0);
    expect(dd.out.equals(want.subarray(POISON, POISON + 4096))).toBe(true);
    readAll();
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toBe(0);
    expect(mounted(mnt3)).toBe(false);
    const stats = JSON.parse(/fuse-child stats: (.*)/.exec(s.stderr())![1]!) as { threads: { local: number } };
    expect(stats.threads.local).toBeGreaterThan(0);
  });

  it('answers on the main thread while the serving threads still load, then they serve', async () => {
    // Each thread takes 4 s to make its plane; the first reads must not wait for them.
    const s = await serve(mnt4, ['--threads', '2', '--plane-load', '4000', '--stats']);
    children.push(s.child);
    const big = path.join(mnt4, 'big');
    const t0 = Date.now();
    const first = run('dd', [`if=${big}`, 'bs=1M', 'count=1', 'iflag=direct', 'status=none']);
    expect(first.code, first.err).toBe(0);
    expect(first.out.equals(want.subarray(0, 1 << 20))).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2500);
    await new Promise((r) => setTimeout(r, 4500 - (Date.now() - t0)));
    for (let i = 0; i < 4; i++) {
      const dd = run('dd', [`if=${big}`, 'bs=1M', 'iflag=direct', 'status=none']);
      expect(dd.code, dd.err).toBe(0);
      expect(dd.out.equals(want)).toBe(true);
    }
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toBe(0);
    const stats = JSON.parse(/fuse-child stats: (.*)/.exec(s.stderr())![1]!) as { threads: { local: number } };
    expect(stats.threads.local).toBeGreaterThan(0);
  });
});
