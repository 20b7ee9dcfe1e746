// famfs's command-line conventions (src/cli/famfs-argv.ts), the /proc/mounts reader and
// `famfs-ts status` against a fake mount table and a fake server attribute. Pure.
import { describe, expect, it } from 'vitest';
import { famfsArgv } from '../../src/cli/famfs-argv.js';
import { parseMounts } from '../../src/famfs/proc-mounts.js';
import { mountStatus, statusText } from '../../src/cli/status.js';
import { STATUS_XATTR } from '../../src/server/control-xattrs.js';

const VERBS = ['mount', 'fsck', 'creat', 'logplay', 'layout', 'cp'];

describe('famfs argv conventions', () => {
  it('-h and -? are help everywhere but fsck, where -h is human sizes', () => {
    expect(famfsArgv(['-h'], VERBS)).toEqual({ argv: ['--help'] });
    expect(famfsArgv(['-?'], VERBS)).toEqual({ argv: ['--help'] });
    expect(famfsArgv(['-h', 'mount'], VERBS)).toEqual({ argv: ['mount', '--help'] });
    expect(famfsArgv(['creat', '-h'], VERBS)).toEqual({ argv: ['creat', '--help'] });
    expect(famfsArgv(['fsck', '-h', 'X'], VERBS)).toEqual({ argv: ['fsck', '-h', 'X'] });
    expect(famfsArgv(['fsck', '-hv', 'X'], VERBS)).toEqual({ argv: ['fsck', '-hv', 'X'] });
    expect(famfsArgv(['fsck', '-?'], VERBS)).toEqual({ argv: ['fsck', '--help'] });
    expect(famfsArgv(['layout', 'map', '-h'], VERBS)).toEqual({ argv: ['layout', 'map', '--help'] });
  });
  it('an unknown verb exits 3, no verb exits 1', () => {
    expect(famfsArgv(['badarg'], VERBS)).toMatchObject({ exitCode: 3 });
    expect(famfsArgv([], VERBS)).toMatchObject({ exitCode: 1 });
    expect(famfsArgv(['--'], VERBS)).toMatchObject({ exitCode: 1 });
  });
  it('logplay -Ss DIR and -sS DIR are the shadow test plus --shadow DIR', () => {
    expect(famfsArgv(['logplay', '-Ss', 'D', 'M'], VERBS)).toEqual({ argv: ['logplay', '-s', '-S', 'D', 'M'] });
    expect(famfsArgv(['logplay', '-sS', 'D', 'M'], VERBS)).toEqual({ argv: ['logplay', '-s', '-S', 'D', 'M'] });
    expect(famfsArgv(['logplay', '-rc', 'M'], VERBS)).toEqual({ argv: ['logplay', '-rc', 'M'] });
  });
  it('arguments after -- are left alone', () => {
    expect(famfsArgv(['cp', '--', '-h', 'x'], VERBS)).toEqual({ argv: ['cp', '--', '-h', 'x'] });
  });
});

describe('/proc/mounts and status', () => {
  const table = 'dev0 /mnt/a\\040b fuse.famfs-ts rw,nosuid 0 0\n/dev/sda1 / ext4 rw 0 0\n/x/y.yaml /mnt/c fuse.famfs-ts ro 0 0\n';
  it('unescapes mount points', () => {
    const m = parseMounts(table);
    expect(m[0]).toMatchObject({ source: 'dev0', mountpoint: '/mnt/a b', fstype: 'fuse.famfs-ts' });
    expect(m).toHaveLength(3);
  });
  it('reads user.famfs.status, or says the counters are unavailable', () => {
    const [a, , c] = parseMounts(table);
    const st = { pid: 42, role: 'master', abi: 'mainline', devices: ['dev0'], mountpoint: '/mnt/a b', readonly: false, ops: { READ: { count: 10, errors: 0, timed: 4, meanUs: 3.5, maxUs: 9 } } };
    const got = mountStatus(a!, (p, n) => {
      expect([p, n]).toEqual(['/mnt/a b', STATUS_XATTR]);
      return Buffer.from(JSON.stringify(st));
    });
    expect(got.status).toEqual(st);
    const old = mountStatus(c!, () => {
      throw new Error('getxattr: ENODATA');
    });
    expect(old.status).toBeUndefined();
    expect(old.readonly).toBe(true);
    expect(old.unavailable).toMatch(/counters unavailable/);
    const text = statusText([got, old]);
    expect(text).toMatch(/server pid 42, role master, abi mainline, devices dev0/);
    expect(text).toMatch(/READ +10 +0 +4 +3\.5 +9/);
    expect(text).toMatch(/\/mnt\/c: \/x\/y\.yaml \(read-only\)\n {2}the server does not answer/);
    expect(mountStatus(a!, () => Buffer.from('{"pid":"x"}')).unavailable).toMatch(/shape/);
  });
});
