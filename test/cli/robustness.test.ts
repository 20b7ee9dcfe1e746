// The CLI as a careless user drives it (issue 13 items 5, 6, 7): closed pipes, host paths,
// `..`, trailing slashes, `/.meta`, over-long paths, aliased and missing layout devices, mkfs
// of a layout whose secondary is too small, and (tier 2, real mounts) a mount point that is
// already a famfs-ts mount, a non-empty one, and a dead mount after kill -9 of its server.
// Every refusal is one line naming the operation and the path, with famfs's exit status,
// and changes nothing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempDir, logNextIndex } from '../famfs-support.js';
import { describeTier2 } from '../support/tier.js';
import { Scratch, cli, mountUnavailable, sh } from '../support/mount-harness.js';

const ROOT = path.resolve(__dirname, '../..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');

function famfs(args: string[], cwd?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000, cwd });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function must(args: string[]): string {
  const r = famfs(args);
  if (r.code !== 0) throw new Error(`famfs-ts ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** One line, no stack frame, no bare Node errno text. */
function oneCleanLine(stderr: string): void {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at |node:internal|^[A-Z]+: /m);
}

describe('CLI robustness on images', () => {
  let t: TempDir;
  let U: string[];
  let dev: string;
  let src: string;
  beforeAll(() => {
    t = new TempDir(); // at run time: a filtered-out suite leaves no directory
    const uuid = t.path('uuid');
    fs.writeFileSync(uuid, '1b7e4c2a-0d3f-4e9a-8c61-5a2f9d0e7b34\n');
    U = ['--system-uuid', uuid];
    dev = t.file('dev', 128 << 20);
    must(['mkfs', '--small', ...U, dev]);
    must(['mkdir', ...U, `${dev}:/dir`]);
    for (let i = 0; i < 40; i++) must(['creat', ...U, '-s', '4096', `${dev}:/dir/file-with-a-longish-name-${String(i).padStart(3, '0')}`]);
    src = t.path('src.txt');
    fs.writeFileSync(src, 'hello\n');
  });
  afterAll(() => t?.cleanup());

  it('a closed pipe ends ls -l, cat and fsck quietly', () => {
    for (const cmd of [`ls -l ${U.join(' ')} ${dev}:/dir | head -1`, `cat ${U.join(' ')} ${dev}:/dir/file-with-a-longish-name-000 | head -c 1`, `fsck ${U.join(' ')} ${dev} | head -1`]) {
      const r = spawnSync('bash', ['-c', `set -o pipefail; node ${MAIN} ${cmd} >/dev/null; echo "rc=\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
      expect(r.stderr, cmd).toBe('');
      expect(r.stdout.trim(), cmd).toBe('rc=0');
    }
  });

  it('errors name the operation and the path, once, without Node\'s errno text', () => {
    const missing = famfs(['cp', ...U, t.path('nosuch'), `${dev}:/x`]);
    expect(missing.code).toBe(2);
    // famfs cp's own wording for a missing source (cli-parity's copy-tree): verb, path, strerror.
    expect(missing.stderr).toMatch(/^famfs cp: .*nosuch: No such file or directory\n$/);
    const notdev = famfs(['fsck', ...U, t.dir]);
    // A directory outside famfs: famfs fsck's wording (cli-parity's log-verbs), one line.
    expect(notdev.stderr).toBe(`famfs_fsck: ${t.dir} is not in a famfs file system (not mounted?)\n`);
    const nodev = famfs(['ls', ...U, `${t.path('nodev')}:/`]);
    oneCleanLine(nodev.stderr);
    expect(nodev.stderr).toContain(t.path('nodev'));
    const loglen = famfs(['mkfs', '--small', '-f', '-l', '3M', ...U, t.file('ll', 64 << 20)]);
    expect(loglen.code).toBe(2);
    expect(loglen.stderr).toMatch(/^famfs_mkfs: Error: invalid log length \(3145728\)$/m);
    expect(loglen.stderr).not.toMatch(/famfs_mkfs: famfs_mkfs/);
  });

  it('creat, mkdir and cp refuse host paths (famfs: exit 1) and create nothing', () => {
    const host = t.path('host');
    for (const [args, what] of [[['creat', '-s', '1M', `${host}-f`], 'file'], [['mkdir', `${host}-d`], 'directory'], [['cp', src, `${host}-c`], 'file']] as const) {
      const r = famfs([args[0], ...U, ...args.slice(1)]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^famfs ${args[0]}: failed to create ${what} .*: not in a famfs file system`));
      oneCleanLine(r.stderr);
    }
    for (const s of ['-f', '-d', '-c']) expect(fs.existsSync(`${host}${s}`)).toBe(false);
    // A relative host path too (the cwd is not a famfs mount).
    const rel = famfs(['creat', ...U, '-s', '1M', 'relative-file'], t.dir);
    expect(rel.code).toBe(1);
    expect(fs.existsSync(t.path('relative-file'))).toBe(false);
  });

  it('".." that climbs out of the file system is refused; ".." inside it resolves', () => {
    const before = logNextIndex(dev);
    for (const args of [['mkdir', '-p', `${dev}:/a/../../..`], ['creat', '-s', '1M', `${dev}:/../x`], ['cp', src, `${dev}:/dir/../../y`]]) {
      const r = famfs([args[0]!, ...U, ...args.slice(1)]);
      expect(r.code, args.join(' ')).toBe(22);
      expect(r.stderr).toMatch(/"\.\." leads out of the famfs file system/);
      oneCleanLine(r.stderr);
    }
    expect(logNextIndex(dev)).toBe(before);
    must(['mkdir', ...U, `${dev}:/dir/../up`]);
    expect(must(['ls', ...U, `${dev}:/`]).split('\n')).toContain('up');
  });

  it('a trailing slash means a directory', () => {
    const before = logNextIndex(dev);
    const cp = famfs(['cp', ...U, src, `${dev}:/nodir/`]);
    expect(cp.code).toBe(20);
    expect(cp.stderr).toBe(`famfs cp: cannot create regular file '${dev}:/nodir/': Not a directory\n`);
    const onFile = famfs(['cp', ...U, src, `${dev}:/dir/file-with-a-longish-name-000/`]);
    expect(onFile.code).toBe(20);
    const creat = famfs(['creat', ...U, '-s', '1M', `${dev}:/newfile/`]);
    expect(creat.code).toBe(21);
    expect(creat.stderr).toMatch(/Is a directory/);
    expect(logNextIndex(dev)).toBe(before);
    must(['mkdir', ...U, `${dev}:/into`]);
    must(['cp', ...U, src, `${dev}:/into/`]);
    expect(must(['ls', ...U, `${dev}:/into`]).trim()).toBe('src.txt');
    must(['mkdir', ...U, `${dev}:/slashdir/`]);
    expect(must(['ls', '-l', ...U, `${dev}:/`])).toMatch(/^d.* slashdir\/$/m);
  });

  it('/.meta is reserved on every route', () => {
    const before = logNextIndex(dev);
    const creat = famfs(['creat', ...U, '-s', '1M', `${dev}:/.meta`]);
    expect(creat.code).toBe(17);
    expect(creat.stderr).toMatch(/^famfs creat: .*\/\.meta: File exists \(\/\.meta is reserved/);
    expect(famfs(['mkdir', ...U, `${dev}:/.meta`]).code).toBe(17);
    expect(famfs(['mkdir', '-p', ...U, `${dev}:/.meta/sub`]).code).toBe(1);
    expect(famfs(['cp', ...U, src, `${dev}:/.meta`]).code).toBe(17);
    // A tree whose top directory is named .meta, copied into the root.
    const tree = t.path('tree');
    fs.mkdirSync(path.join(tree, '.meta'), { recursive: true });
    fs.writeFileSync(path.join(tree, '.meta', 'f'), 'x');
    const r = famfs(['cp', '-r', ...U, path.join(tree, '.meta'), `${dev}:/`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/\.meta is reserved/);
    expect(logNextIndex(dev)).toBe(before);
    // Deeper in the tree the name is an ordinary one.
    must(['mkdir', ...U, `${dev}:/dir/.meta`]);
  });

  it('paths over famfs\'s limits are refused naming the limit', () => {
    const long = 'n'.repeat(80);
    const r = famfs(['creat', ...U, '-s', '1M', `${dev}:/${long}`]);
    expect(r.code).toBe(36);
    expect(r.stderr).toMatch(/famfs allows 79, FAMFS_MAX_PATHLEN 80/);
    const deep = famfs(['mkdir', '-p', ...U, `${dev}:/${'d/'.repeat(41)}`]);
    expect(deep.code).toBe(36);
    expect(famfs(['creat', ...U, '-s', '1M', `${dev}:/${'n'.repeat(79)}`]).code).toBe(0);
  });
});

describe('layout devices', () => {
  let t: TempDir;
  let U: string[];
  beforeAll(() => {
    t = new TempDir(); // at run time: a filtered-out suite leaves no directory
    const uuid = t.path('uuid');
    fs.writeFileSync(uuid, '2c8f5d3b-1e40-4fab-9d72-6b3a0e1f8c45\n');
    U = ['--system-uuid', uuid];
  });
  afterAll(() => t?.cleanup());

  function layout(name: string, devs: [string, string, string][]): string {
    const f = t.path(`${name}.yaml`);
    fs.writeFileSync(f, `devices:\n${devs.map(([n, p, s]) => `  - name: ${n}\n    path: ${p}\n    size: ${s}\n`).join('')}`);
    return f;
  }
  const zeros = (p: string) => fs.readFileSync(p).every((b) => b === 0);

  it('mkfs of a layout whose secondary is too small writes nothing', () => {
    const p0 = t.file('p0', 64 << 20);
    t.file('s1', 1 << 20);
    const l = layout('small', [['p0', 'p0', '64MiB'], ['s1', 's1', '16MiB']]);
    const r = famfs(['mkfs', '--small', ...U, l]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^famfs_mkfs: .*small\.yaml: nothing written: device "s1" .* holds 1048576 bytes; the layout says 16777216\n$/);
    expect(zeros(p0)).toBe(true);
    expect(zeros(t.path('s1'))).toBe(true);
  });

  it('mkfs refuses a missing device; layout check warns of it', () => {
    const p0 = t.file('q0', 64 << 20);
    const l = layout('missing', [['q0', 'q0', '64MiB'], ['q1', 'q1-absent', '16MiB']]);
    const r = famfs(['mkfs', '--small', ...U, l]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/device "q1" .*q1-absent\): does not exist/);
    expect(zeros(p0)).toBe(true);
    const c = famfs(['layout', 'check', l]);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/warning: device "q1" .*does not exist/);
  });

  it('two devices that are one file (a hard link, a symlink) are refused by mkfs and by layout check', () => {
    const p0 = t.file('a0', 64 << 20);
    fs.linkSync(p0, t.path('a0-hard'));
    fs.symlinkSync(p0, t.path('a0-sym'));
    for (const alias of ['a0-hard', 'a0-sym']) {
      const l = layout(`alias-${alias}`, [['a0', 'a0', '64MiB'], ['a1', alias, '16MiB']]);
      const c = famfs(['layout', 'check', l]);
      expect(c.code, alias).toBe(1);
      expect(c.stderr).toMatch(new RegExp(`error: device "a1" \\(.*${alias}\\) is the same file as device "a0"`));
      const r = famfs(['mkfs', '--small', ...U, l]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/is the same file as device "a0"/);
      expect(zeros(p0)).toBe(true);
    }
  });

  it('a layout device shorter than the layout says is refused at open, not a SIGBUS', () => {
    const p0 = t.file('b0', 64 << 20);
    t.file('b1', 16 << 20);
    const l = layout('shrunk', [['b0', 'b0', '64MiB'], ['b1', 'b1', '16MiB']]);
    must(['mkfs', '--small', ...U, l]);
    must(['creat', ...U, '-s', '1M', `${l}:/f`]);
    fs.truncateSync(t.path('b1'), 1 << 20);
    const r = famfs(['ls', ...U, `${l}:/`]);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(135);
    expect(r.stderr).toMatch(/b1.*: 1048576 bytes, .* 16777216/);
    oneCleanLine(r.stderr);
    void p0;
  });
});

describeTier2('CLI robustness on mounts', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  beforeAll(() => {
    s = new Scratch('clirob');
    dev = s.device('dev', 64 << 20);
  });
  afterAll(async () => {
    await s.cleanup();
  });

  it('refuses a mount point that is a live famfs-ts mount (a --client stacked on the master) and a non-empty one', async () => {
    const m = s.mountpoint();
    const server = await s.serve(dev, m);
    const stacked = cli(['mount', dev, m, '--client', '--system-uuid', s.uuidFile]);
    expect(stacked.status).toBe(1);
    expect(stacked.stderr).toMatch(/already a famfs-ts mount/);
    expect(fs.readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1] === m)).toHaveLength(1);
    // Paths inside the mount are famfs paths: '..' out of it is refused, '.meta' is reserved.
    const up = cli(['mkdir', '-p', `${m}/a/../../../escape`]); // not path.join: it would fold the '..'
    expect(up.status).toBe(22);
    expect(up.stderr).toMatch(/leads out of the famfs file system mounted on/);
    expect(cli(['creat', '-s', '1M', path.join(m, '.meta')]).status).toBe(17);
    expect(cli(['creat', '-s', '1M', path.join(m, 'ok')]).status).toBe(0);
    const slash = cli(['cp', path.join(ROOT, 'package.json'), path.join(m, 'nodir') + '/']);
    expect(slash.status).toBe(20);
    expect(fs.existsSync(path.join(m, 'nodir'))).toBe(false);
    await server.stop();

    const full = s.mountpoint();
    fs.writeFileSync(path.join(full, 'hidden'), 'x');
    const r = cli(['mount', dev, full, '--system-uuid', s.uuidFile]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/mount point is not empty .* --nonempty/);
  });

  it('mkfs refuses a device a client mount serves, whatever the cwd or spelling', async () => {
    const m = s.mountpoint();
    const client = await s.serve(dev, m, ['--client']);
    const r = spawnSync(process.execPath, [MAIN, 'mkfs', '-f', '--small', '--system-uuid', s.uuidFile, path.relative('/tmp', dev)], { encoding: 'utf8', cwd: '/tmp' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot mkfs while .* is mounted on/);
    expect(fs.readdirSync(m)).toContain('ok');
    await client.stop();
  });

  it('after kill -9 of the server, mount says the previous server died, cleans up and mounts', async () => {
    const m = s.mountpoint();
    const server = await s.serve(dev, m);
    await server.kill9();
    const dead = sh(`stat ${JSON.stringify(m)}`);
    expect(dead.stderr).toMatch(/Transport endpoint is not connected/);
    const again = await s.serve(dev, m);
    expect(again.log()).toMatch(/a previous famfs-ts server of this mount point died/);
    expect(fs.readdirSync(m)).toContain('ok');
    await again.stop();
  });
});
