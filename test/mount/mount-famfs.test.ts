// Tier 2: famfs images served by `famfs-ts mount` (server in a child process) and driven by
// real tools: cp/cmp of 1 GiB, directory trees, stat/df, two hosts, fio --verify, kill -9,
// the daemonizing CLI, and the documented policies (ENOTSUP, EFBIG, empty files, rsync).
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { cli, must, mustCli, sh, type Scratch, type MountServer, mountUnavailable, useScratch, useServedMount } from '../support/mount-harness.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describeTier2('famfs-ts mount: data through real tools', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let server: MountServer;
  useServedMount('mount', 3 * GiB, [], (m) => ({ s, dev, mnt, server } = m));

  it('copies a 1 GiB random file in and out unchanged', () => {
    const src = s.path('big.src');
    const out = s.path('big.out');
    must(`head -c ${GiB} /dev/urandom > ${src}`);
    must(`cp ${src} ${mnt}/big`);
    must(`cp ${mnt}/big ${out}`);
    must(`cmp ${src} ${out}`);
    must(`cmp ${src} ${mnt}/big`);
    expect(fs.statSync(`${mnt}/big`).size).toBe(GiB);
    fs.rmSync(out);
    // The log holds it with its final size, in at most 16 simple extents.
    const map = JSON.parse(mustCli(['getmap', '--json', '--system-uuid', s.uuidFile, `${dev}:/big`])) as { size: number; extents: unknown[] };
    expect(map.size).toBe(GiB);
    expect(map.extents.length).toBeLessThanOrEqual(16);
  }, 240_000);

  it('makes directory trees that ls -l, stat, find and df see', () => {
    must(`mkdir -p ${mnt}/t/a/b/c ${mnt}/t/d`);
    for (const [i, p] of ['t/a/f1', 't/a/b/f2', 't/a/b/c/f3', 't/d/f4'].entries()) fs.writeFileSync(`${mnt}/${p}`, `file ${i}\n`.repeat(i * 1000 + 1));
    expect(must(`cd ${mnt}/t && find . | sort`).trim().split('\n')).toEqual(['.', './a', './a/b', './a/b/c', './a/b/c/f3', './a/b/f2', './a/f1', './d', './d/f4']);
    const ls = must(`ls -l ${mnt}/t/a/b`);
    expect(ls).toMatch(/^d.* c$/m);
    expect(ls).toMatch(new RegExp(`^-rw-r--r-- .* ${'file 1\n'.length * 1001} .* f2$`, 'm'));
    const st = must(`stat -c '%s %F %a' ${mnt}/t/a/b/c/f3`).trim();
    expect(st).toBe(`${'file 2\n'.length * 2001} regular file 644`);
    expect(must(`stat -c '%F' ${mnt}/t/d`).trim()).toBe('directory');
    const df = must(`df -B1 --output=size,used,avail ${mnt} | tail -1`).trim().split(/\s+/).map(Number);
    expect(df[0]).toBe(3 * GiB);
    expect(df[1]).toBeGreaterThanOrEqual(10 * MiB + 4 * 2 * MiB); // superblock + log + four files
    expect(df[1]! + df[2]!).toBe(df[0]);
    // The log agrees (offline reader, while mounted).
    const ls2 = mustCli(['ls', '--system-uuid', s.uuidFile, `${dev}:/t/a/b`]);
    expect(ls2).toContain('f2');
    expect(fs.readFileSync(`${mnt}/t/d/f4`, 'utf8')).toBe('file 3\n'.repeat(3001));
  });

  it('shows .meta/.superblock and .meta/.log as read-only views of the device', () => {
    const sb = fs.readFileSync(`${mnt}/.meta/.superblock`);
    const raw = Buffer.alloc(sb.length);
    const fd = fs.openSync(dev, 'r');
    fs.readSync(fd, raw, 0, raw.length, 0);
    expect(sb.equals(raw)).toBe(true);
    const log = fs.readFileSync(`${mnt}/.meta/.log`);
    expect(log.length).toBe(8 * MiB);
    const rawLog = Buffer.alloc(log.length);
    fs.readSync(fd, rawLog, 0, rawLog.length, 2 * MiB);
    fs.closeSync(fd);
    expect(log.equals(rawLog)).toBe(true);
    expect(sh(`echo x > ${mnt}/.meta/.log`).status).not.toBe(0);
    expect((fs.statSync(`${mnt}/.meta/.superblock`).mode & 0o777).toString(8)).toBe('444');
  });

  it('answers namespace changes famfs cannot log with ENOTSUP, growth with EFBIG', () => {
    fs.writeFileSync(`${mnt}/fixed`, 'twelve bytes');
    // Logged now (`sync FILE`), not after the settle time: a file not yet logged could still be removed.
    must(`sync ${mnt}/fixed`);
    expect(sh(`rm ${mnt}/fixed`).stderr).toMatch(/Operation not supported/);
    expect(sh(`mv ${mnt}/fixed ${mnt}/moved`).stderr).toMatch(/Operation not supported/);
    expect(sh(`ln -s fixed ${mnt}/sym`).stderr).toMatch(/Operation not supported/);
    expect(sh(`ln ${mnt}/fixed ${mnt}/hard`).stderr).toMatch(/Operation not supported/);
    must(`mkdir ${mnt}/gone`);
    expect(sh(`rmdir ${mnt}/gone`).stderr).toMatch(/Operation not supported/);
    expect(sh(`mkfifo ${mnt}/fifo`).stderr).toMatch(/Operation not supported/);
    expect(sh(`echo more >> ${mnt}/fixed`).stderr).toMatch(/File too large/);
    expect(sh(`truncate -s 100 ${mnt}/fixed`).stderr).toMatch(/File too large/);
    expect(sh(`truncate -s 3 ${mnt}/fixed`).stderr).toMatch(/Operation not permitted/);
    // Writes inside the committed size work.
    must(`printf TWELVE | dd of=${mnt}/fixed conv=notrunc status=none`);
    expect(fs.readFileSync(`${mnt}/fixed`, 'utf8')).toBe('TWELVE bytes');
    // chmod/utimes on committed files: the log cannot record them, so EPERM (nothing changes);
    // a request that changes nothing succeeds (test/mount/everyday-tools.test.ts has more).
    expect(sh(`chmod 600 ${mnt}/fixed`).stderr).toMatch(/Operation not permitted/);
    expect(sh(`touch -d 2020-01-02 ${mnt}/fixed`).stderr).toMatch(/Operation not permitted/);
    must(`chmod 644 ${mnt}/fixed`);
    expect(must(`stat -c '%a' ${mnt}/fixed`).trim()).toBe('644');
  });

  it('commits empty files with size 0, size-first files at once, and takes the interleave xattr', () => {
    must(`touch ${mnt}/empty && : > ${mnt}/empty2`);
    expect(fs.statSync(`${mnt}/empty`).size).toBe(0);
    // A shell redirection opens, dup2s and closes before writing: still one file with the data.
    must(`echo hello > ${mnt}/redirected`);
    expect(fs.readFileSync(`${mnt}/redirected`, 'utf8')).toBe('hello\n');
    must(`truncate -s 5M ${mnt}/sized && fallocate -l 3M ${mnt}/falloc`);
    expect(fs.statSync(`${mnt}/sized`).size).toBe(5 * MiB);
    // famfs-ts creat on a mounted path: the interleave xattr, then the size first.
    mustCli(['creat', '-s', '24M', '-r', '-S', '7', '-N', '4', '-C', '2M', `${mnt}/striped`]);
    const m = JSON.parse(mustCli(['getmap', '--json', '--system-uuid', s.uuidFile, `${dev}:/striped`])) as { extents: { type: string; strips?: unknown[] }[] };
    expect(m.extents[0]!.type).toBe('interleave');
    expect(m.extents[0]!.strips!.length).toBe(4);
    expect(cli(['verify', '-S', '7', '-f', `${dev}:/striped`, '--system-uuid', s.uuidFile]).status).toBe(0);
    // famfs-ts cp -r into the mount: the same standard calls, size first, per file.
    const tree = s.path('cptree');
    must(`mkdir -p ${tree}/d && echo one > ${tree}/a && head -c 3000000 /dev/urandom > ${tree}/d/b`);
    mustCli(['cp', '-r', tree, `${mnt}/`]);
    must(`diff -r ${tree} ${mnt}/cptree`);
    // The log accepts them all; fsck finds no collision.
    const ls = mustCli(['ls', '-l', '--system-uuid', s.uuidFile, `${dev}:/`]);
    for (const f of ['empty', 'empty2', 'redirected', 'sized', 'falloc', 'striped', 'cptree']) expect(ls).toContain(f);
    // As in famfs: a mounted file system is checked by its mount point (by device: EBUSY, 16).
    expect(cli(['fsck', '--system-uuid', s.uuidFile, mnt]).status).toBe(0);
    expect(cli(['fsck', '--system-uuid', s.uuidFile, dev]).status).toBe(16);
  });

  it('works with rsync --inplace and tar -x', () => {
    const tree = s.path('tree');
    must(`mkdir -p ${tree}/x/y && head -c 3000000 /dev/urandom > ${tree}/x/r1 && echo small > ${tree}/x/y/s && : > ${tree}/x/y/zero`);
    // rsync sets a file's mode after closing it: 0600, the mode it creates with, is kept as is.
    must(`rsync -r --inplace --chmod=F600 ${tree}/ ${mnt}/rs/`);
    must(`diff -r ${tree} ${mnt}/rs`);
    // -a also sets times, which famfs does not log: refused with a message, contents right.
    const a = sh(`rsync -a --inplace ${tree}/ ${mnt}/rsa/`);
    expect(a.status).toBe(23);
    must(`diff -r ${tree} ${mnt}/rsa`);
    // tar -x makes directories 0700 and sets their modes at the end: refused, said per directory.
    must(`tar -C ${tree} -cf ${s.path('t.tar')} . && mkdir ${mnt}/tar`);
    const x = sh(`tar -C ${mnt}/tar -xmf ${s.path('t.tar')}`);
    expect(x.stderr).toMatch(/Cannot change mode/);
    must(`diff -r ${tree} ${mnt}/tar`);
  });

  it('passes fio --verify=crc32c with 4 jobs', () => {
    must(`mkdir -p ${mnt}/fio`);
    const r = sh(`fio --name=v --directory=${mnt}/fio --numjobs=4 --size=32M --bs=128k --rw=randwrite --verify=crc32c --do_verify=1 --ioengine=psync --verify_state_save=0 --group_reporting --output-format=terse`, 180_000);
    expect(r.stderr).not.toMatch(/verify|bad|error/i);
    expect(r.status).toBe(0);
    // terse v3: field 5 is the error count.
    expect(r.stdout.trim().split('\n').pop()!.split(';')[4]).toBe('0');
  }, 180_000);

  it('lets a client on another host see the master\'s files after logplay', async () => {
    // `sync FILE` logs a closed new file at once (else it is logged after the settle time).
    must(`head -c 3000000 /dev/urandom > ${mnt}/before && sync ${mnt}/before`);
    const cmnt = s.mountpoint('client');
    const client = await s.serve(dev, cmnt, ['--refresh', '0'], s.hostUuid('host2'));
    try {
      must(`cmp ${mnt}/before ${cmnt}/before`);
      must(`mkdir ${mnt}/shared && head -c 7000000 /dev/urandom > ${mnt}/shared/data && sync ${mnt}/shared/data`);
      expect(fs.existsSync(`${cmnt}/shared`)).toBe(false);
      expect(mustCli(['logplay', cmnt])).toMatch(/^famfs_logplay\(v1\): \d+ log entries; [1-9]\d* new files; \d+ new directories$/m);
      must(`cmp ${mnt}/shared/data ${cmnt}/shared/data`);
      expect(sh(`echo x > ${cmnt}/nope`).stderr).toMatch(/Read-only file system/);
      // A client with a periodic check finds new files by itself.
      const pmnt = s.mountpoint('client-periodic');
      const periodic = await s.serve(dev, pmnt, ['--refresh', '200'], s.hostUuid('host3'));
      try {
        must(`echo late > ${mnt}/shared/late`);
        let seen = false;
        for (let i = 0; i < 50 && !seen; i++) {
          seen = fs.existsSync(`${pmnt}/shared/late`);
          if (!seen) await new Promise((r) => setTimeout(r, 100));
        }
        expect(seen).toBe(true);
        expect(fs.readFileSync(`${pmnt}/shared/late`, 'utf8')).toBe('late\n');
      } finally {
        await periodic.stop();
      }
    } finally {
      await client.stop();
    }
  }, 120_000);
});

describeTier2('famfs-ts mount: crash and daemon', mountUnavailable, () => {
  let s: Scratch;
  useScratch('crash', (made) => (s = made));

  it('after kill -9 mid-copy: committed files intact, fsck clean, mount point reusable', async () => {
    const dev = s.device('dev', 2 * GiB);
    const mnt = s.mountpoint('m');
    const server = await s.serve(dev, mnt);
    must(`head -c 20000000 /dev/urandom > ${s.path('a')} && head -c 600000000 /dev/urandom > ${s.path('huge')}`);
    // Logged before the kill (`sync FILE`): a closed file is otherwise logged after the settle time, and a crash before that loses it.
    must(`mkdir ${mnt}/d && cp ${s.path('a')} ${mnt}/d/a && cp ${s.path('a')} ${mnt}/a2 && sync ${mnt}/d/a ${mnt}/a2`);
    const cp = sh(`(cp ${s.path('huge')} ${mnt}/huge & CP=$!; while [ $(stat -c %s ${mnt}/huge 2>/dev/null || echo 0) -lt 50000000 ]; do sleep 0.05; done; kill -9 ${server.pid}; wait $CP; echo cp=$?) 2>&1`, 120_000);
    expect(cp.stdout).toMatch(/cp=[1-9]/);
    await server.waitExit();
    // The dead mount answers ENOTCONN; unmount it (falls back to umount -l).
    await server.stop();
    expect(fs.readFileSync('/proc/mounts', 'utf8')).not.toContain(` ${mnt} `);
    const again = await s.serve(dev, mnt);
    must(`cmp ${s.path('a')} ${mnt}/d/a && cmp ${s.path('a')} ${mnt}/a2`);
    expect(fs.existsSync(`${mnt}/huge`)).toBe(false);
    await again.stop();
    const fsck = cli(['fsck', '--system-uuid', s.uuidFile, dev]);
    expect(fsck.stdout).toMatch(/No allocation errors found/);
    expect(fsck.status).toBe(0);
  }, 180_000);

  it('daemonizes: `famfs-ts mount` returns once live, `famfs-ts umount` ends the server', async () => {
    const dev = s.device('dev2', 256 * MiB);
    const mnt = s.mountpoint('d');
    const log = s.path('daemon.log');
    const out = mustCli(['mount', dev, mnt, '--system-uuid', s.uuidFile, '--log', log]);
    const pid = Number(/server pid (\d+)/.exec(out)?.[1]);
    expect(pid).toBeGreaterThan(0);
    try {
      fs.writeFileSync(`${mnt}/hello`, 'hi');
      expect(fs.readFileSync(`${mnt}/hello`, 'utf8')).toBe('hi');
      expect(cli(['mount', dev, s.mountpoint('d2'), '--system-uuid', s.uuidFile, '--log', s.path('d2.log')]).stderr).toMatch(/another writer|EBUSY/);
      mustCli(['umount', mnt]);
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      expect(alive(pid)).toBe(false);
      expect(fs.readFileSync(log, 'utf8')).toMatch(/unmounted/);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 60_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

