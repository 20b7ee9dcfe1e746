// Tier 2: who may do what through the mount (src/server/famfs-fs.ts kernelChecksModes).
// Without --allow-other only processes with the server's (root's) ids get in: the kernel
// refuses everyone else before any mode is looked at, and root passes every mode check but
// executing a file with no x bit. So default_permissions is asked only with --allow-other,
// where the kernel must check modes and owners for other users.
import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { must, mountUnavailable, sh, Scratch, type MountServer } from '../support/mount-harness.js';

const MiB = 1024 ** 2;
/** Run `cmd` as nobody (uid and gid 65534, no supplementary groups). */
const asNobody = (cmd: string): ReturnType<typeof sh> => sh(`setpriv --reuid 65534 --regid 65534 --clear-groups sh -c '${cmd}'`);

function mountOptions(mnt: string): string[] {
  const line = fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === mnt);
  return line?.split(' ')[3]?.split(',') ?? [];
}

describeTier2('famfs-ts mount: permissions', mountUnavailable, () => {
  let s: Scratch;
  let own: string;
  let shared: string;
  const servers: MountServer[] = [];
  beforeAll(async () => {
    s = new Scratch('perm');
    // nobody must reach the mount points themselves.
    fs.chmodSync(s.dir, 0o755);
    own = s.mountpoint('own');
    shared = s.mountpoint('shared');
    servers.push(await s.serve(s.device('dev0', 256 * MiB), own));
    servers.push(await s.serve(s.device('dev1', 256 * MiB), shared, ['--allow-other']));
    for (const m of [own, shared]) {
      fs.chmodSync(m, 0o755);
      must(`install -m 755 /dev/null ${m}/tool && install -m 644 /dev/null ${m}/data && install -m 600 /dev/null ${m}/secret`);
      must(`echo hi > ${m}/text`);
    }
  }, 60_000);
  afterAll(async () => {
    await s?.cleanup();
  }, 60_000);

  it('only root reaches a mount without --allow-other, and the kernel checks no modes for it', () => {
    expect(mountOptions(own)).not.toContain('default_permissions');
    expect(mountOptions(own)).not.toContain('allow_other');
    expect(asNobody(`cat ${own}/text`).stderr).toMatch(/Permission denied/);
    expect(asNobody(`ls ${own}`).stderr).toMatch(/Permission denied/);
    // Root: everything but executing a file with no x bit (access(2) comes to the server).
    must(`cat ${own}/secret ${own}/text > /dev/null && test -r ${own}/secret && test -w ${own}/data`);
    expect(must(`test -x ${own}/tool && echo x || echo no`).trim()).toBe('x');
    expect(must(`test -x ${own}/data && echo x || echo no`).trim()).toBe('no');
    expect(sh(`${own}/data`).stderr).toMatch(/Permission denied/);
  });

  it('with --allow-other the kernel checks modes and owners for everyone', () => {
    expect(mountOptions(shared)).toEqual(expect.arrayContaining(['default_permissions', 'allow_other']));
    expect(asNobody(`cat ${shared}/text`).stdout).toBe('hi\n');
    expect(asNobody(`cat ${shared}/secret`).stderr).toMatch(/Permission denied/);
    expect(asNobody(`echo x >> ${shared}/data`).stderr).toMatch(/Permission denied/);
    expect(asNobody(`touch ${shared}/new`).stderr).toMatch(/Permission denied/);
    expect(fs.existsSync(`${shared}/new`)).toBe(false);
    expect(must(`test -x ${shared}/data && echo x || echo no`).trim()).toBe('no');
  });
});
