// The pure rules behind the CLI's refusals: destination classification, '..', trailing
// slashes, /.meta, famfs's path limits (src/famfs/destination.ts); a file map that cannot
// hold its file (src/famfs/file-check.ts); the one-line damage messages (src/famfs/scan.ts).
import { describe, expect, it } from 'vitest';
import { checkNewPath, classifyDestination, DestinationError, famfsPath, hostPathRefusal, mountOf } from '../../src/famfs/destination.js';
import { fileMapProblems } from '../../src/famfs/file-check.js';
import type { FileNode } from '../../src/famfs/namespace.js';
import { badIndexes, damageSummary, writeRefusal } from '../../src/famfs/scan.js';

function refusal(fn: () => unknown): DestinationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DestinationError);
    return e as DestinationError;
  }
  throw new Error('not refused');
}

describe('famfs paths', () => {
  it('resolve "." and ".." lexically and refuse a climb out of the root', () => {
    expect(famfsPath('/a/./b/../c')).toEqual({ rel: 'a/c', dir: false });
    expect(famfsPath('/a/b/')).toEqual({ rel: 'a/b', dir: true });
    expect(famfsPath('/a/b/.')).toEqual({ rel: 'a/b', dir: true });
    expect(famfsPath('/')).toEqual({ rel: '', dir: true });
    const e = refusal(() => famfsPath('/a/../..', 'D:/a/../..'));
    expect(e.errno).toBe('EINVAL');
    expect(e.message).toBe('D:/a/../..: ".." leads out of the famfs file system');
  });

  it('reserve /.meta at the root only, and enforce FAMFS_MAX_PATHLEN and NAME_MAX', () => {
    expect(refusal(() => checkNewPath(famfsPath('/.meta'), 'x')).errno).toBe('EEXIST');
    expect(refusal(() => checkNewPath(famfsPath('/.meta/f'), 'x')).errno).toBe('EPERM');
    expect(() => checkNewPath(famfsPath('/d/.meta'), 'x')).not.toThrow();
    expect(() => checkNewPath(famfsPath('/' + 'a'.repeat(79)), 'x')).not.toThrow();
    const long = refusal(() => checkNewPath(famfsPath('/' + 'a'.repeat(80)), 'x'));
    expect(long.errno).toBe('ENAMETOOLONG');
    expect(long.exitCode).toBe(36);
    expect(long.message).toMatch(/famfs allows 79, FAMFS_MAX_PATHLEN 80/);
    // Multi-byte names count in bytes: 27 three-byte characters are 81 bytes.
    expect(refusal(() => checkNewPath(famfsPath('/' + '€'.repeat(27)), 'x')).errno).toBe('ENAMETOOLONG');
    expect(refusal(() => checkNewPath(famfsPath('/'), 'x')).errno).toBe('EEXIST');
  });
});

describe('destinations', () => {
  const mounts = ['/mnt/f', '/mnt/f/inner', '/srv'];
  const at = (arg: string, cwd = '/home/u') => classifyDestination(arg, { cwd, mountpoints: mounts });

  it('IMAGE:/path, a path in a mount (the deepest), and a host path', () => {
    expect(at('/dev/shm/d:/a/b/')).toEqual({ kind: 'image', image: '/dev/shm/d', rel: 'a/b', dir: true });
    expect(at('/mnt/f/x')).toEqual({ kind: 'mounted', mountpoint: '/mnt/f', abs: '/mnt/f/x', rel: 'x', dir: false });
    expect(at('/mnt/f/inner/y/')).toMatchObject({ kind: 'mounted', mountpoint: '/mnt/f/inner', rel: 'y', dir: true });
    expect(at('x', '/srv/d')).toMatchObject({ kind: 'mounted', mountpoint: '/srv', rel: 'd/x' });
    expect(at('/mnt/fx')).toEqual({ kind: 'host', abs: '/mnt/fx' });
    expect(at('rel')).toEqual({ kind: 'host', abs: '/home/u/rel' });
    expect(mountOf('/mnt/f', mounts)).toBe('/mnt/f');
  });

  it('".." inside a mount resolves; out of it is refused', () => {
    expect(at('/mnt/f/a/../b')).toMatchObject({ kind: 'mounted', rel: 'b' });
    const e = refusal(() => at('/mnt/f/a/../../../tmp'));
    expect(e.message).toMatch(/leads out of the famfs file system mounted on \/mnt\/f$/);
    expect(at('/home/u/../v')).toEqual({ kind: 'host', abs: '/home/v' });
  });

  it('host paths get famfs\'s words and exit 1', () => {
    const e = hostPathRefusal('creat', '/tmp/x');
    expect(e.exitCode).toBe(1);
    expect(e.message).toMatch(/^famfs creat: failed to create file \/tmp\/x: not in a famfs file system/);
    expect(hostPathRefusal('mkdir', '/tmp/d').message).toMatch(/failed to create directory/);
  });
});

describe('file maps that cannot hold their file', () => {
  const file = (size: number, extents: FileNode['map']['extents']): FileNode => ({
    kind: 'file', id: 3, name: 'f', path: 'f', mode: 0o644, uid: 0, gid: 0, index: 1, size, flags: 0, map: { size, extents },
  });
  const devs = new Map([[0, { size: 64 << 20 }], [1, { size: 16 << 20 }]]);
  const MiB = 1 << 20;

  it('a good simple and a good interleaved file have no problems', () => {
    expect(fileMapProblems(file(3 * MiB, [{ type: 'simple', daxdev: 0, offset: 10 * MiB, length: 4 * MiB }]), devs)).toEqual([]);
    const strips = [{ daxdev: 0, offset: 20 * MiB, length: 4 * MiB }, { daxdev: 1, offset: 2 * MiB, length: 4 * MiB }];
    expect(fileMapProblems(file(8 * MiB, [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: 8 * MiB, strips }]), devs)).toEqual([]);
  });

  it('size past the extents, an extent past its daxdev, an unknown daxdev, a short strip', () => {
    expect(fileMapProblems(file(5 * MiB, [{ type: 'simple', daxdev: 0, offset: 10 * MiB, length: 4 * MiB }]), devs)).toEqual([`size ${5 * MiB} is more than its extents hold (${4 * MiB} bytes)`]);
    expect(fileMapProblems(file(MiB, [{ type: 'simple', daxdev: 1, offset: 14 * MiB, length: 4 * MiB }]), devs)[0]).toMatch(/runs past the end of daxdev 1/);
    expect(fileMapProblems(file(MiB, [{ type: 'simple', daxdev: 7, offset: 2 * MiB, length: 2 * MiB }]), devs)[0]).toMatch(/daxdev 7, which the log does not know/);
    const strips = [{ daxdev: 0, offset: 20 * MiB, length: 4 * MiB }, { daxdev: 1, offset: 2 * MiB, length: 2 * MiB }];
    const p = fileMapProblems(file(8 * MiB, [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: 8 * MiB, strips }]), devs);
    expect(p.join('\n')).toMatch(/strip 1 holds 2097152 bytes but 4194304/);
  });
});

describe('damage messages', () => {
  const bad = (ix: number[]) => ix.map((index) => ({ index, message: `log entry ${index}: crc mismatch` }));
  it('list the indexes in one line', () => {
    expect(badIndexes(bad([3]))).toBe('3');
    expect(badIndexes(bad([1, 5]))).toBe('1 and 5');
    expect(badIndexes(bad([1, 2, 3]))).toBe('1, 2 and 3');
    expect(badIndexes(bad([...Array(10).keys()]))).toBe('0, 1, 2, 3, 4, 5, 6, 7 and 2 more');
    expect(damageSummary('D', [])).toBeUndefined();
    expect(damageSummary('D', bad([4]))).toMatch(/^D: warning: the log has 1 bad entry \(index 4\); /);
    expect(writeRefusal('D', bad([4, 9]))).toMatch(/^D: the log has 2 bad entries \(index 4 and 9\) whose extents are unknown/);
  });
});
