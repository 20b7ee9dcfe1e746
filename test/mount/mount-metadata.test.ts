// Tier 2: the serving threads hand the channel to the main thread during a burst of
// metadata (creating files: every request would be forwarded) and take it back when reads
// of committed files dominate (session.ts judgeThreads/judgeMain). Whoever reads, every
// byte and name must come out right; the mount's last log line counts the takeovers and
// what the threads answered. Also: files created, stat'ed and forgotten (drop_caches) are
// found again by name with the same size, mode and bytes. And: directories are opened by the
// kernel itself (the first OPENDIR is answered ENOSYS, then none comes, nor any RELEASEDIR),
// with listings it keeps, and every create, unlink, rename and mkdir shows in the next listing.
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

  it('lists directories without OPENDIR or RELEASEDIR, and shows every change at the next listing', async () => {
    const ls = (d: string): string => must(`ls -a ${mnt}/${d} | tr '\\n' ' '`).trim();
    must(`cd ${mnt} && mkdir L && for f in a b c; do echo $f > L/$f; done`);
    expect(ls('L')).toBe('. .. a b c');
    expect(ls('L')).toBe('. .. a b c');
    must(`cd ${mnt}/L && echo d > d && rm a && mv b e && mkdir sub && echo s > sub/s`);
    expect(ls('L')).toBe('. .. c d e sub');
    expect(must(`cd ${mnt} && find L | sort | tr '\\n' ' '`).trim()).toBe('L L/c L/d L/e L/sub L/sub/s');
    expect(ls('.meta')).toBe('. .. .log .superblock');
    // A directory open for listing while it changes (ls's opendir, then a create before readdir).
    must(`cd ${mnt}/L && exec 3< . && echo f > f && ls -a /proc/self/fd/3/ | tr '\\n' ' ' > ${s.path('fd-ls')}; exec 3<&-`);
    expect(fs.readFileSync(s.path('fd-ls'), 'utf8').trim()).toBe('. .. c d e f sub');
    await server.stop();
    const counts = [...server.log().matchAll(/requests on the main thread: (.*)/g)].at(-1)?.[1] ?? '';
    expect(counts, server.log()).toMatch(/\bOPENDIR 1\b/);
    expect(counts).not.toMatch(/RELEASEDIR/);
    server = await s.serve(dev, mnt, ['--readers', '2']);
    expect(ls('L')).toBe('. .. c d e f sub');
  }, 240_000);
});
