// Tier 2: FUSE over io_uring (--transport uring, docs/reference/fuse-io-uring.md). The suite
// switches /sys/module/fuse/parameters/enable_uring on for its run and puts the previous value
// back in afterAll, whatever happened. Bytes through real tools (cp/cmp, O_DIRECT, fio
// --verify, many small files, ls), proof that requests came through the ring (the server's
// exit line counts ring and /dev/fuse requests), ring threads pinned to their queues' CPUs,
// the refusal when the switch is off, and
// kill -9 of the server (callers get an error, nothing hangs, the mount point is reusable).
import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { cli, forceUnmount, must, sh, Scratch, type MountServer, mountUnavailable } from '../support/mount-harness.js';
import { planRingThreads } from '../../src/fuse/uring-wire.js';
import { fuseQueueCount } from '../../src/fuse/uring-transport.js';
import { DEFAULT_THREADS } from '../../src/server/mount-options.js';

const ENABLE = '/sys/module/fuse/parameters/enable_uring';
const MiB = 1024 ** 2;

function uringUnavailable(): string | undefined {
  return mountUnavailable() ?? (fs.existsSync(ENABLE) ? undefined : `${ENABLE} missing (kernel without CONFIG_FUSE_IO_URING)`);
}

function setUring(v: string): void {
  fs.writeFileSync(ENABLE, v);
}

describeTier2('famfs-ts mount --transport uring', uringUnavailable, () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let server: MountServer;
  let previous: string | undefined;

  beforeAll(async () => {
    previous = fs.readFileSync(ENABLE, 'utf8').trim();
    setUring('Y');
    s = new Scratch('uring');
    dev = s.device('dev0', 1024 * MiB);
    mnt = s.mountpoint('m');
    server = await s.serve(dev, mnt, ['--transport', 'uring']);
  }, 120_000);
  afterAll(async () => {
    try {
      await s?.cleanup();
    } finally {
      if (previous !== undefined) setUring(previous);
    }
  }, 120_000);

  it('returns from mount once the ring threads are set up (until then the kernel holds every request)', () => {
    // Read at once after `mount` returned: the line is logged before the mount reports ready.
    expect(server.log()).toMatch(/transport uring: (\d+) of \1 ring threads set up/);
  });

  it('copies files in and out unchanged, buffered and O_DIRECT', () => {
    const src = s.path('src');
    must(`head -c ${48 * MiB} /dev/urandom > ${src}`);
    must(`cp ${src} ${mnt}/a`);
    must(`cmp ${src} ${mnt}/a`);
    must(`dd if=${src} of=${mnt}/b bs=1M oflag=direct status=none`);
    must(`dd if=${mnt}/b of=${s.path('b.out')} bs=4k iflag=direct status=none`);
    must(`cmp ${src} ${s.path('b.out')}`);
    must(`dd if=${mnt}/a of=${s.path('a.out')} bs=1M iflag=direct status=none`);
    must(`cmp ${src} ${s.path('a.out')}`);
    fs.rmSync(s.path('a.out'));
    fs.rmSync(s.path('b.out'));
  }, 120_000);

  it('passes fio --verify=crc32c with 4 jobs', () => {
    must(`mkdir -p ${mnt}/fio`);
    const r = sh(`fio --name=v --directory=${mnt}/fio --numjobs=4 --size=16M --bs=64k --rw=randwrite --verify=crc32c --do_verify=1 --ioengine=psync --verify_state_save=0 --group_reporting --output-format=terse`, 180_000);
    expect(r.stderr).not.toMatch(/verify|bad|error/i);
    expect(r.status).toBe(0);
  }, 200_000);

  it('makes, lists and reads back many small files', () => {
    must(`mkdir ${mnt}/many && cd ${mnt}/many && for i in $(seq 1 300); do echo "file $i" > f$i; done`);
    expect(fs.readdirSync(`${mnt}/many`).length).toBe(300);
    expect(must(`ls ${mnt}/many | wc -l`).trim()).toBe('300');
    expect(must(`cat ${mnt}/many/f1 ${mnt}/many/f300`)).toBe('file 1\nfile 300\n');
    expect(must(`cd ${mnt}/many && cat $(ls | sort -V) | wc -l`).trim()).toBe('300');
  }, 120_000);

  it('a ring thread that puts back a refused rewrite makes the kernel drop the pages it wrote (INVAL_INODE), before the close', () => {
    // The file is committed, so its WRITEs are answered by ring threads, which keep the bytes
    // they overwrite in the open file's undo journal. A rewrite longer than the file: the first
    // WRITE past the end is refused (EFBIG) and the ring thread puts back what came before,
    // then sends INVAL_INODE (on /dev/fuse: the ring takes no notifications) for the part of
    // the file outside that WRITE's locked 2 MiB folios, here [0, 2 MiB). The master's files
    // are KEEP_CACHE, so without it the kernel would keep the new bytes it wrote there; the
    // main thread drops the whole file's pages only at the close (FLUSH). So the writer reads
    // [0, 2 MiB) back through the same descriptor before closing it: old bytes, from the file.
    const old = s.path('undo-old');
    const long = s.path('undo-long');
    must(`head -c ${3 * MiB} /dev/urandom > ${old} && head -c ${4 * MiB} /dev/urandom > ${long}`);
    must(`cp ${old} ${mnt}/undo && sync ${mnt}/undo && cat ${mnt}/undo > /dev/null`);
    const script = `
      const fs = require('fs');
      const [file, longPath, oldPath] = process.argv.slice(1);
      const fd = fs.openSync(file, 'r+');
      const long = fs.readFileSync(longPath);
      let at = 0;
      try {
        for (; at < long.length; at += 256 * 1024) fs.writeSync(fd, long, at, 256 * 1024, at);
      } catch (e) {
        console.log('refused at ' + at + ': ' + e.code);
      }
      const back = Buffer.alloc(2 * 1024 * 1024);
      fs.readSync(fd, back, 0, back.length, 0);
      const old = fs.readFileSync(oldPath).subarray(0, back.length);
      console.log(back.equals(old) ? 'old bytes' : back.equals(long.subarray(0, back.length)) ? 'new bytes' : 'other bytes');
      fs.closeSync(fd);`;
    const r = must(`node -e "${script.replace(/"/g, '\\"')}" ${mnt}/undo ${long} ${old}`, 60_000);
    expect(r).toContain(`refused at ${3 * MiB}: EFBIG`);
    expect(r).toContain('old bytes');
    expect(must(`cmp ${old} ${mnt}/undo && echo same`)).toContain('same');
  }, 120_000);

  it('runs each CPU\'s queue on a ring thread pinned to that CPU (planRingThreads)', () => {
    // The server's threads and the CPUs each may run on (the kernel's list: "0", "0-3", "1,3").
    const cpusOf = (list: string): number[] => list.trim().split(',').filter(Boolean).flatMap((part) => {
      const [a, b] = part.split('-').map(Number);
      return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
    });
    const tasks = fs.readdirSync(`/proc/${server.pid}/task`).map((t) => {
      const status = fs.readFileSync(`/proc/${server.pid}/task/${t}/status`, 'utf8');
      return cpusOf(/^Cpus_allowed_list:\s*(.*)$/m.exec(status)![1]!).join(',');
    });
    const plan = planRingThreads(fuseQueueCount(), DEFAULT_THREADS);
    for (const p of plan) {
      if (p.cpus.length === 0) continue; // more threads than queues: nobody is pinned
      expect(tasks, `a thread on cpus ${p.cpus.join(',')}`).toContain(p.cpus.join(','));
    }
  });

  it('served the requests through the ring, and ends with umount', async () => {
    must(`umount ${mnt}`);
    const code = await Promise.race([server.waitExit(), new Promise((r) => setTimeout(() => r('hung'), 20_000))]);
    expect(code).toBe(0);
    const log = server.log();
    const m = /transport uring: (\d+) requests from the io_uring queues, (\d+) read from \/dev\/fuse/.exec(log);
    expect(m, log).not.toBeNull();
    const ring = Number(m![1]);
    const dev = Number(m![2]);
    // Everything but INIT, FORGET and INTERRUPT (and what came before every queue had an entry).
    expect(ring).toBeGreaterThan(5000);
    expect(dev).toBeLessThan(ring / 20);
  }, 60_000);

  it('is refused with the switch named when enable_uring is N', () => {
    const m2 = s.mountpoint('off');
    setUring('N');
    try {
      const r = cli(['mount', dev, m2, '--foreground', '--system-uuid', s.uuidFile, '--transport', 'uring'], 60_000);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/enable_uring is N/);
      expect(fs.readFileSync('/proc/mounts', 'utf8')).not.toContain(` ${m2} `);
    } finally {
      setUring('Y');
    }
  }, 60_000);

  it('with --readers 0 (no serving threads) says so and serves through /dev/fuse', async () => {
    const m4 = s.mountpoint('r0');
    const srv = await s.serve(dev, m4, ['--transport', 'uring', '--readers', '0']);
    must(`cmp ${s.path('src')} ${m4}/a`);
    await srv.stop();
    expect(srv.log()).toMatch(/the ring needs serving threads/);
    // INIT did not agree the ring (bit 41): the kernel would hold every request until it was ready.
    const agreed = /max_write \d+, flags (0x[0-9a-f]+)/.exec(srv.log());
    expect(agreed).not.toBeNull();
    expect(BigInt(agreed![1]!) & (1n << 41n)).toBe(0n);
    expect(srv.log()).toMatch(/transport dev: 0 requests from the io_uring queues/);
  }, 60_000);

  it('after kill -9 of the server: readers get an error, nothing hangs, the mount point is reusable', async () => {
    const m3 = s.mountpoint('k');
    const srv = await s.serve(dev, m3, ['--transport', 'uring']);
    must(`cmp ${s.path('src')} ${m3}/a`);
    const r = sh(`(while true; do dd if=${m3}/a of=/dev/null bs=4k iflag=direct status=none || exit 7; done) & R=$!; sleep 1; kill -9 ${srv.pid}; ` +
      `for i in $(seq 1 100); do kill -0 $R 2>/dev/null || break; sleep 0.1; done; if kill -0 $R 2>/dev/null; then kill -9 $R; echo hung; fi; wait $R; echo rc=$?`, 60_000);
    expect(r.stdout).not.toContain('hung');
    expect(r.stdout).toMatch(/rc=7/);
    await srv.waitExit();
    forceUnmount(m3);
    expect(fs.readFileSync('/proc/mounts', 'utf8')).not.toContain(` ${m3} `);
    const again = await s.serve(dev, m3, ['--transport', 'uring']);
    must(`cmp ${s.path('src')} ${m3}/a`);
    await again.stop();
  }, 120_000);
});
