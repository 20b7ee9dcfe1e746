// Tier 2: a sparse image on a file system that fills up (a tmpfs of 48 MiB here; a disk in
// use). The server stores file data with pwrite(2) (src/device/memory.ts MappedDevice.write):
// the writer gets ENOSPC, the file that could not be stored is dropped at its close, not
// logged half, and the server lives on. Stored through the mapping, the first page the file
// system could not back was SIGBUS: the server died and the mount answered ENOTCONN.
import fs from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { cli, mountUnavailable, must, sh, useScratch, type Scratch } from '../support/mount-harness.js';

const MiB = 1024 ** 2;

describeTier2('famfs-ts mount: an image on a file system that fills up', mountUnavailable, () => {
  let s: Scratch;
  useScratch('fullfs', (x) => (s = x));
  let small: string | undefined;
  afterAll(() => {
    // Before the scratch directory goes (its own afterAll, registered first, runs last).
    if (small) sh(`umount -l ${small}`);
  });

  it('answers ENOSPC, drops the file it could not store, and keeps serving', async () => {
    small = s.path('small');
    fs.mkdirSync(small);
    must(`mount -t tmpfs -o size=48m famfs-ts-test ${small}`);
    const dev = `${small}/dev`;
    fs.writeFileSync(dev, '');
    fs.truncateSync(dev, 1024 * MiB);
    expect(cli(['mkfs', '--small', '-f', '--system-uuid', s.uuidFile, dev]).status).toBe(0);
    const mnt = s.mountpoint('m');
    const server = await s.serve(dev, mnt, ['--settle', '0']);
    must(`head -c ${16 * MiB} /dev/urandom > ${s.path('src')}`);
    must(`cp ${s.path('src')} ${mnt}/f1 && cp ${s.path('src')} ${mnt}/f2`);
    // 8 MiB of log and 32 of data in 48: the third copy meets the end of the tmpfs.
    const third = sh(`cp ${s.path('src')} ${mnt}/f3`);
    expect(third.status).not.toBe(0);
    expect(third.stderr).toMatch(/No space left on device/);
    // The server is alive: the mount lists and reads back what was stored. The tmpfs stays
    // full (the dropped file's pages are still in the image file), so the next write is
    // refused the same way.
    expect(fs.readdirSync(mnt).filter((n) => n !== '.meta').sort()).toEqual(['f1', 'f2']);
    must(`cmp ${s.path('src')} ${mnt}/f1 && cmp ${s.path('src')} ${mnt}/f2`);
    const more = sh(`head -c ${MiB} /dev/urandom > ${mnt}/more`);
    expect(more.stderr).toMatch(/No space left on device/);
    must(`mkdir ${mnt}/after`);
    expect(server.log()).toMatch(/f3: dropped, not logged \(its data could not be stored: pwrite .*ENOSPC/);
    await server.stop();
    const fsck = cli(['fsck', dev]);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    // What the log holds, as another mount replays it: no file half stored.
    const again = await s.serve(dev, mnt);
    expect(fs.readdirSync(mnt).filter((n) => n !== '.meta').sort()).toEqual(['after', 'f1', 'f2']);
    must(`cmp ${s.path('src')} ${mnt}/f2`);
    await again.stop();
  }, 120_000);

  it('reads a file logged without data as zeros on a full file system, refuses to open it for writing, and serves on', async () => {
    const small2 = s.path('small2');
    fs.mkdirSync(small2);
    must(`mount -t tmpfs -o size=48m famfs-ts-test ${small2}`);
    try {
      const dev = `${small2}/dev`;
      fs.writeFileSync(dev, '');
      fs.truncateSync(dev, 1024 * MiB);
      expect(cli(['mkfs', '--small', '-f', '--system-uuid', s.uuidFile, dev]).status).toBe(0);
      // famfs's creat without data: 16 MiB logged, holes in the image file.
      expect(cli(['creat', '--system-uuid', s.uuidFile, '-s', '16M', `${dev}:/holey`]).status).toBe(0);
      sh(`head -c ${48 * MiB} /dev/zero > ${small2}/filler`); // fills the tmpfs (ENOSPC expected)
      const mnt = s.mountpoint('m2');
      const server = await s.serve(dev, mnt);
      const client = await s.serve(dev, s.mountpoint('c2'), ['--client']);
      // On tmpfs a read of a hole through the mapping needs a page: on a full tmpfs that was
      // SIGBUS or EFAULT in a serving thread, the server ended and the mount answered
      // ENOTCONN. A client opens the image read-only and could not even try to make room.
      for (const m of [mnt, client.mountpoint]) {
        must(`cmp -n ${16 * MiB} ${m}/holey /dev/zero`);
        expect(must(`cat ${m}/holey | wc -c`).trim()).toBe(String(16 * MiB));
      }
      // Stores go through the mapping in serving threads: the master gives the bytes their
      // pages at the first open for writing, which is ENOSPC here.
      const dd = sh(`dd if=/dev/urandom of=${mnt}/holey bs=4k count=1 conv=notrunc`);
      expect(dd.stderr).toMatch(/No space left on device/);
      expect(server.log()).toMatch(/holey: open refused: the image has no room for the file's bytes/);
      expect(fs.readdirSync(mnt)).toContain('holey');
      // A file made larger through the mount is zeroed by punching a hole, which needs no
      // room (storing the zeros was ENOSPC here, and took 16 MiB of tmpfs where there was room).
      must(`truncate -s ${16 * MiB} ${mnt}/grown && sync ${mnt}/grown`);
      must(`cmp -n ${16 * MiB} ${mnt}/grown /dev/zero`);
      expect(fs.statSync(`${mnt}/grown`).size).toBe(16 * MiB);
      // Room again: the same open succeeds, and the client reads what the master wrote.
      fs.rmSync(`${small2}/filler`);
      must(`head -c 4096 /dev/urandom > ${s.path('page')} && dd if=${s.path('page')} of=${mnt}/holey bs=4k count=1 conv=notrunc`);
      must(`cmp -n 4096 ${s.path('page')} ${client.mountpoint}/holey`);
      await client.stop();
      await server.stop();
    } finally {
      sh(`umount -l ${small2}`);
    }
  }, 120_000);
});
