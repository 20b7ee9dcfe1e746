// Tier 2: the serving threads hand the channel to the main thread during a burst of
// metadata (creating files: every request would be forwarded) and take it back when reads
// of committed files dominate (session.ts judgeThreads/judgeMain). Whoever reads, every
// byte and name must come out right; the mount's last log line counts the takeovers and
// what the threads answered. Also: files created, stat'ed and forgotten (drop_caches) are
// found again by name with the same size, mode and bytes.
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { must, type Scratch, type MountServer, mountUnavailable, useServedMount } from '../support/mount-harness.js';

const MiB = 1024 ** 2;

describeTier2('famfs-ts mount: metadata bursts and forgotten files', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let server: MountServer;
  useServedMount('meta', 1200 * MiB, ['--readers', '2'], (m) => ({ s, dev, mnt, server } = m));

  it('moves the reading of the channel to where requests are answered, and back', async () => {
    const src = s.path('big.src');
    must(`head -c ${64 * MiB} /dev/urandom > ${src}`);
    must(`cp ${src} ${mnt}/big`);
    // A burst of creates (forwarded by the threads: the main thread takes over).
    must(`cd ${mnt} && mkdir d && for i in $(seq 1 300); do printf "file $i" > d/f$i; done`);
    // Reads of a committed file (the threads answer them: they read again).
    for (let i = 0; i < 3; i++) must(`dd if=${mnt}/big of=/dev/null bs=256K iflag=direct status=none`);
    must(`cmp ${src} ${mnt}/big`);
    for (const i of [1, 150, 300]) expect(fs.readFileSync(`${mnt}/d/f${i}`, 'utf8')).toBe(`file ${i}`);
    expect(fs.readdirSync(`${mnt}/d`).length).toBe(300);
    await server.stop();
    const log = server.log();
    const m = /answered (\d+) reads and writes, forwarded (\d+) requests; the main thread read the channel itself (\d+) times/.exec(log);
    expect(m, log).not.toBeNull();
    expect(Number(m![3])).toBeGreaterThanOrEqual(1);
    // 3 x 64 MiB of direct reads in 256 KiB requests, nearly all answered by the threads.
    expect(Number(m![1])).toBeGreaterThan(600);
    server = await s.serve(dev, mnt, ['--readers', '2']);
  }, 240_000);

  it('finds forgotten files again by name, unchanged', () => {
    // f7's mode is set by the umask at create: a committed file's mode is fixed (chmod: EPERM).
    must(`cd ${mnt} && mkdir g && for i in $(seq 1 200); do (if [ $i = 7 ]; then umask 077; fi; head -c 4096 /dev/zero | tr '\\0' x > g/f$i); done`);
    const before = must(`cd ${mnt}/g && stat -c '%n %s %a %Y' f1 f7 f200`);
    must('sync; echo 2 > /proc/sys/vm/drop_caches');
    expect(must(`cd ${mnt}/g && stat -c '%n %s %a %Y' f1 f7 f200`)).toBe(before);
    expect(must(`cat ${mnt}/g/f200 | tr -d x | wc -c`).trim()).toBe('0');
    expect(fs.readdirSync(`${mnt}/g`).length).toBe(200);
  }, 240_000);
});
