// Tier 2: `famfs-ts mount --cache-maintenance on` (README "Caches on shared memory"): a master
// and a client mount of one emulated device, both forced to flush and invalidate through the
// x86-64 routine (on the main thread and in the serving threads, which map it themselves);
// files written through the master reach the client byte for byte after its logplay. On one
// kernel the caches are coherent anyway: this shows the maintenance path serves real mounts,
// not that it is needed here (the simulator in test/core shows that).
import os from 'node:os';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { must, mustCli, Scratch, type MountServer, mountUnavailable } from '../support/mount-harness.js';

const GiB = 1024 ** 3;

describeTier2('famfs-ts mount with cache maintenance on', () => (os.arch() === 'x64' ? mountUnavailable() : `no cache routine for ${os.arch()}`), () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let cmnt: string;
  let master: MountServer;
  let client: MountServer;

  beforeAll(async () => {
    s = new Scratch('cache');
    dev = s.device('dev0', GiB);
    mnt = s.mountpoint('master');
    cmnt = s.mountpoint('client');
    master = await s.serve(dev, mnt, ['--cache-maintenance', 'on']);
    client = await s.serve(dev, cmnt, ['--cache-maintenance', 'on', '--refresh', '0'], s.hostUuid('host2'));
  }, 120_000);
  afterAll(async () => {
    await s?.cleanup();
  }, 60_000);

  it('master writes, client replays and reads the same bytes; reads through serving threads', () => {
    // `sync FILE` logs a closed new file at once (else it is logged after the settle time).
    must(`mkdir ${mnt}/d && head -c 20000000 /dev/urandom > ${mnt}/d/a && head -c 4097 /dev/urandom > ${mnt}/b && sync ${mnt}/d/a ${mnt}/b`);
    must(`cmp ${mnt}/d/a ${s.path('a.copy')} 2>/dev/null || cp ${mnt}/d/a ${s.path('a.copy')}`);
    expect(mustCli(['logplay', cmnt])).toMatch(/famfs_logplay\(v1\): [1-9]\d* log entries; [1-9]\d* new files/);
    must(`cmp ${mnt}/d/a ${cmnt}/d/a && cmp ${mnt}/b ${cmnt}/b && cmp ${s.path('a.copy')} ${cmnt}/d/a`);
    // O_DIRECT reads go to the server every time (no page cache): the serving threads' path.
    must(`dd if=${cmnt}/d/a of=${s.path('a.direct')} bs=1M iflag=direct status=none && cmp ${s.path('a.direct')} ${mnt}/d/a`);
    // Both servers say what they use; nothing failed in a serving thread.
    for (const srv of [master, client]) {
      expect(srv.log()).toMatch(/cache maintenance x86_64 (clwb|clflushopt|clflush)\+sfence to flush, (clflushopt|clflush)\+mfence to invalidate/);
      expect(srv.log()).not.toMatch(/Error|died|exit code/);
    }
  }, 120_000);
});
