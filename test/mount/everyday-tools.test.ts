// Tier 2: the programs people use, run against a real famfs-ts mount (issue 13). Each result
// is checked through the master's mount, on a `--client` mount of the same image (another
// host: it sees a file once the master logged it), and again after both are remounted. The
// rule checked: a program either ends with what it asked for, durably and on every host, or
// exits non-zero with the file exactly as it was.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { cli, must, sh, Scratch, type MountServer, mountUnavailable, useScratch } from '../support/mount-harness.js';

const MiB = 1024 ** 2;

interface Want {
  content: string;
  /** Permission bits in octal, as stat %a prints them. */
  mode?: string;
}

/** Poll `check` until it returns true (true) or `ms` passed (false). */
async function until(check: () => boolean, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (check()) return true;
    } catch {
      // not there yet
    }
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function modeOf(p: string): string {
  return (fs.statSync(p).mode & 0o7777).toString(8);
}

describeTier2('everyday tools through a famfs-ts mount', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let cmnt: string;
  let master: MountServer;
  let client: MountServer;
  const clientUuid = (): string => s.hostUuid('client-host');
  /** Every result the suite expects, by path relative to the mount. */
  const want = new Map<string, Want>();
  const wantDirs = new Map<string, string>();
  let src: string;

  const M = (rel: string): string => path.join(mnt, rel);

  /** Record and check a file through the master. */
  function expectFile(rel: string, content: string, mode?: string): void {
    want.set(rel, { content, mode });
    expect(fs.readFileSync(M(rel), 'utf8'), rel).toBe(content);
    if (mode) expect(modeOf(M(rel)), rel).toBe(mode);
  }

  /** Wait until the client host sees `rel` as expected (the master logged it). */
  async function onClient(rel: string, content?: string): Promise<void> {
    const p = path.join(cmnt, rel);
    const ok = await until(() => fs.existsSync(p) && (content === undefined || fs.readFileSync(p, 'utf8') === content));
    expect(ok, `${rel} on the client`).toBe(true);
  }

  /** Make a committed file through the mount (logged: the client sees it). */
  async function committed(rel: string, content: string): Promise<void> {
    fs.writeFileSync(M(rel), content);
    await onClient(rel, content);
    want.set(rel, { content });
  }

  beforeAll(async () => {
    s = new Scratch('tools');
    dev = s.device('dev0', 512 * MiB);
    mnt = s.mountpoint('master');
    cmnt = s.mountpoint('client');
    master = await s.serve(dev, mnt, []);
    client = await s.serve(dev, cmnt, ['--client', '--refresh', '200'], clientUuid());
    src = s.path('src');
    must(`mkdir -p ${src}/tree/sub/deep && echo a > ${src}/tree/a && echo b > ${src}/tree/sub/b && echo c > ${src}/tree/sub/deep/c`);
    must(`chmod 640 ${src}/tree/a && chmod 755 ${src}/tree/sub/b && chmod 751 ${src}/tree/sub`);
  }, 120_000);
  afterAll(async () => {
    await s?.cleanup();
  }, 60_000);

  it('keeps all the output of shell loops, subshells, xargs, find -exec and tee', async () => {
    // One open file description shared by several processes: each one's close sends a FLUSH;
    // the file is logged when the description is released, after the last of them.
    must(`for i in 1 2 3; do echo l$i; done > ${M('loop-builtin')}`);
    expectFile('loop-builtin', 'l1\nl2\nl3\n');
    must(`for i in 1 2 3; do /bin/echo l$i; done > ${M('loop-exec')}`);
    expectFile('loop-exec', 'l1\nl2\nl3\n');
    must(`(echo a; (echo b; /bin/echo c); sh -c 'echo d') > ${M('subshells')}`);
    expectFile('subshells', 'a\nb\nc\nd\n');
    must(`seq 1 50 | xargs -n1 echo > ${M('xargs')}`);
    expectFile('xargs', must('seq 1 50'));
    must(`find ${src}/tree -exec echo {} \\; > ${M('find')}`);
    expectFile('find', must(`find ${src}/tree -exec echo {} \\;`));
    expect(must(`seq 1 20 | tee -a ${M('tee')} | wc -l`).trim()).toBe('20');
    expectFile('tee', must('seq 1 20'));
    for (const f of ['loop-builtin', 'loop-exec', 'subshells', 'xargs', 'find', 'tee']) await onClient(f, want.get(f)!.content);
  }, 60_000);

  it('refuses to append to a logged file, leaving it as it was', async () => {
    await onClient('tee');
    const r = sh(`seq 21 22 | tee -a ${M('tee')}`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/File too large/);
    expect(sh(`echo more >> ${M('loop-exec')}`).stderr).toMatch(/File too large/);
    expectFile('tee', must('seq 1 20'));
    expectFile('loop-exec', 'l1\nl2\nl3\n');
  });

  it('vim: new files are written; edits of logged files fail with the old content intact', async () => {
    // `cq` after `wq`:
    // when the write fails vim stays in Ex mode reading commands (from stderr when stdin is
    // not a terminal); cq ends it with a non-zero status, as a person would.
    expect(sh(`vim -es -n -c 'normal! ihello vim' -c wq -c cq ${M('vim-new')} < /dev/null`).status).toBe(0);
    expectFile('vim-new', 'hello vim\n');
    expect(sh(`vim -es --cmd 'set directory=/tmp//' -c 'normal! ihello again' -c wq -c cq ${M('vim-dir')} < /dev/null`).status).toBe(0);
    expectFile('vim-dir', 'hello again\n');
    // Plain vim: its swap files (.NAME.swp, the .swpx probe) are never logged, so it can
    // remove them: nothing is left behind.
    expect(sh(`vim -es -c 'normal! ihello plain' -c wq -c cq ${M('vim-plain')} < /dev/null`).status).toBe(0);
    expectFile('vim-plain', 'hello plain\n');
    expect(must(`ls -A ${mnt}`)).not.toMatch(/\.vim-plain\.sw/);
    // An edit of a file just written (not logged yet): vim copies it to its backup
    // `NAME~`, writes, fsyncs through the open file and removes the backup. That fsync
    // returns at once, so the backup is still unlogged when vim removes it (it used to wait a
    // second, the backup was logged meanwhile and vim's unlink failed: E207, exit 1).
    expect(sh(`printf 'first draft\\n' > ${M('vim-edit')} && vim -es -c '%s/first/second/' -c wq -c cq ${M('vim-edit')} < /dev/null`).status).toBe(0);
    expectFile('vim-edit', 'second draft\n');
    expect(must(`ls -A ${mnt}`)).not.toMatch(/vim-edit~|\.vim-edit\.sw/);
    await committed('vim-short', 'this line is long\n');
    await committed('vim-same', 'this line is long\n');
    // vim opens without O_TRUNC, calls ftruncate(0) and writes on when that fails: the
    // refused ftruncate stops that open file from writing, so nothing is mixed.
    expect(sh(`vim -es -n -c '%s/.*/short/' -c wq -c cq ${M('vim-short')} < /dev/null`).status).not.toBe(0);
    expectFile('vim-short', 'this line is long\n');
    expect(sh(`vim -es -n -c '%s/long/LONG/' -c wq -c cq ${M('vim-same')} < /dev/null`).status).not.toBe(0);
    expectFile('vim-same', 'this line is long\n');
    expect(master.log()).toMatch(/vim-short: truncate to 0 bytes refused/);
  }, 60_000);

  it('sed -i, perl -pi, cp, install and rsync over a logged file: new content or non-zero with the old intact', async () => {
    await committed('rw', 'abc\n');
    for (const cmd of [
      `sed -i s/abc/xyz/ ${M('rw')}`,
      `perl -pi -e s/abc/xyz/ ${M('rw')}`,
      `printf 'other content\\n' > ${src}/other && cp ${src}/other ${M('rw')}`,
      `install -m 644 ${src}/other ${M('rw')}`,
      `rsync -I ${src}/other ${M('rw')}`,
      // Longer content in place: refused at the first write past the end, nothing stored.
      `rsync -I --inplace ${src}/other ${M('rw')}`,
      `dd if=${src}/other of=${M('rw')} status=none`,
    ]) {
      const r = sh(cmd);
      expect(r.status, cmd).not.toBe(0);
      expectFile('rw', 'abc\n');
    }
    // Same length in place: rsync --inplace, dd conv=notrunc.
    fs.writeFileSync(`${src}/same`, 'xyz\n');
    must(`rsync -I --inplace ${src}/same ${M('rw')}`);
    expectFile('rw', 'xyz\n');
    must(`printf XY | dd of=${M('rw')} conv=notrunc status=none`);
    expectFile('rw', 'XYz\n');
    // rsync --inplace of a new file writes it, created 0600, and sets the source's mode right
    // after the close: the file is logged once it settled, with that mode.
    must(`chmod 644 ${src}/other && rsync --inplace ${src}/other ${M('rsync-new')}`);
    expectFile('rsync-new', 'other content\n', '644');
    must(`chmod 600 ${src}/other && rsync --inplace ${src}/other ${M('rsync-600')}`);
    expectFile('rsync-600', 'other content\n', '600');
    // Without --inplace rsync renames its temp file into place: a new file is moved before
    // it is logged, and logged under its name.
    must(`chmod 640 ${src}/other && rsync ${src}/other ${M('rsync-rename')}`);
    expectFile('rsync-rename', 'other content\n', '640');
    expect(must(`ls -A ${mnt}`)).not.toMatch(/\.rsync-rename\./);
  }, 60_000);

  it('touch, truncate: new files are logged; logged ones keep size and times, or the call fails', async () => {
    must(`touch ${M('touched')}`);
    expectFile('touched', '');
    await committed('sized', 'twelve bytes');
    must(`truncate -s 12 ${M('sized')}`); // the same size: nothing changes, success
    expect(sh(`truncate -s 3 ${M('sized')}`).stderr).toMatch(/Operation not permitted/);
    expect(sh(`truncate -s 20 ${M('sized')}`).stderr).toMatch(/File too large/);
    expect(sh(`touch ${M('sized')}`).stderr).toMatch(/Operation not permitted/);
    expect(sh(`touch -d 2020-01-02 ${M('sized')}`).stderr).toMatch(/Operation not permitted/);
    expectFile('sized', 'twelve bytes');
    must(`truncate -s 1M ${M('size-first')}`);
    want.set('size-first', { content: '\0'.repeat(MiB) });
  });

  it('modes and owners set before the last close are logged; later changes are refused unless they change nothing', async () => {
    // cp --preserve sets the mode on the open file (fchmod) before closing it.
    must(`cp --preserve=mode,ownership ${src}/tree/a ${M('cp-mode')}`);
    await onClient('cp-mode');
    expectFile('cp-mode', 'a\n', '640');
    must(`chmod 640 ${M('cp-mode')} && chown 0:0 ${M('cp-mode')}`);
    expect(sh(`chmod 600 ${M('cp-mode')}`).stderr).toMatch(/Operation not permitted/);
    expect(sh(`chown 1:1 ${M('cp-mode')}`).stderr).toMatch(/Operation not permitted/);
    expect(master.log()).toMatch(/setattr refused: cp-mode: cannot set mode 600/);
    expectFile('cp-mode', 'a\n', '640');
    // install -m sets the mode by path right after the close: the file is not logged before
    // it settled, so the mode lands in its log entry.
    must(`install -m 600 ${src}/tree/a ${M('install-600')}`);
    expectFile('install-600', 'a\n', '600');
    must(`install -m 0755 ${src}/tree/a ${M('install-755')}`);
    expectFile('install-755', 'a\n', '755');
    // Directories are logged at mkdir: their mode is the one mkdir gave.
    must(`mkdir -m 751 ${M('dir751')} && install -d -m 750 ${M('dir750')}`);
    wantDirs.set('dir751', '751').set('dir750', '750');
    must(`chmod 751 ${M('dir751')}`);
    expect(sh(`chmod 755 ${M('dir751')}`).stderr).toMatch(/Operation not permitted/);
    expect(sh(`chown 1:1 ${M('dir751')}`).stderr).toMatch(/Operation not permitted/);
    expect(sh(`touch -d 2020-01-02 ${M('dir751')}`).stderr).toMatch(/Operation not permitted/);
    expect(modeOf(M('dir751'))).toBe('751');
  });

  it('cp -a and tar -x of a tree: right file contents, and a clear error for what cannot be kept', () => {
    // cp -a preserves times (famfs logs none) and makes directories 0700 before setting their
    // mode: both refused, each with a message; never a silent 0700.
    const cpa = sh(`cp -a ${src}/tree ${M('cpa')}`);
    expect(cpa.status).not.toBe(0);
    expect(cpa.stderr).toMatch(/preserving times .*Operation not permitted/);
    for (const [rel, text] of [['a', 'a\n'], ['sub/b', 'b\n'], ['sub/deep/c', 'c\n']] as const) expectFile(`cpa/${rel}`, text);
    const tar = s.path('tree.tar');
    must(`tar -C ${src} -cf ${tar} tree`);
    must(`mkdir ${M('tarx')}`);
    const x = sh(`tar -C ${M('tarx')} -xf ${tar}`);
    expect(x.status).not.toBe(0);
    expect(x.stderr).toMatch(/Cannot (change mode|utime)/);
    // -m (no times): the files are right, modes included; only the directories' modes fail.
    must(`mkdir ${M('tarm')}`);
    const m = sh(`tar -C ${M('tarm')} -xmf ${tar}`);
    expect(m.stderr).toMatch(/tree\/sub: Cannot change mode to rwxr-x--x: Operation not permitted/);
    expectFile('tarm/tree/a', 'a\n', '640');
    expectFile('tarm/tree/sub/b', 'b\n', '755');
    expectFile('tarm/tree/sub/deep/c', 'c\n', '644');
    // tar -c from the mount reads back what went in.
    const out = s.path('tar-out');
    must(`mkdir ${out} && tar -C ${M('tarm')} -cf - tree | tar -C ${out} -xf -`);
    must(`diff -r ${src}/tree ${out}/tree`);
  });

  it('refuses .meta and names over famfs\'s limits, and `..` out of the mount in famfs-ts verbs', () => {
    expect(sh(`mkdir ${M('.meta')}`).stderr).toMatch(/File exists/);
    expect(sh(`echo x > ${M('.meta')}/x`).status).not.toBe(0);
    const long = 'n'.repeat(80);
    expect(sh(`echo x > ${M(long)}`).stderr).toMatch(/File name too long/);
    expect(master.log()).toMatch(/at most 79 bytes/);
    const meta = cli(['creat', '-s', '1M', M('.meta')]);
    expect(meta.status).not.toBe(0);
    expect(meta.stderr).toMatch(/\/\.meta is reserved/);
    const longCreat = cli(['creat', '-s', '1M', M(long)]);
    expect(longCreat.status).not.toBe(0);
    expect(longCreat.stderr).toMatch(/is 80 bytes; famfs allows 79, FAMFS_MAX_PATHLEN/);
    const up = cli(['mkdir', '-p', `${mnt}/up/../../..`]);
    expect(up.status).not.toBe(0);
    expect(up.stderr).toMatch(/"\.\." leads out of the famfs file system/);
  });

  it('the client host sees every result', async () => {
    for (const [rel, w] of want) await onClient(rel, w.content);
    for (const [rel, w] of want) if (w.mode) expect(modeOf(path.join(cmnt, rel)), rel).toBe(w.mode);
    for (const [rel, mode] of wantDirs) expect(modeOf(path.join(cmnt, rel)), rel).toBe(mode);
  }, 120_000);

  it('after a remount (master and client) every result is as it was', async () => {
    await master.stop();
    await client.stop();
    master = await s.serve(dev, mnt, []);
    client = await s.serve(dev, cmnt, ['--client', '--refresh', '200'], clientUuid());
    for (const root of [mnt, cmnt]) {
      for (const [rel, w] of want) {
        expect(fs.readFileSync(path.join(root, rel), 'utf8'), `${root}/${rel}`).toBe(w.content);
        if (w.mode) expect(modeOf(path.join(root, rel)), `${root}/${rel}`).toBe(w.mode);
      }
      for (const [rel, mode] of wantDirs) expect(modeOf(path.join(root, rel)), rel).toBe(mode);
      // No file that a refused or failed command touched appeared or vanished.
    }
    // While mounted famfs checks by mount point (by device: exit 16, "cannot fsck by device when mounted").
    expect(cli(['fsck', '--system-uuid', s.uuidFile, mnt]).status).toBe(0);
  }, 120_000);
});

describeTier2('ENOSPC in the middle of cp -r', mountUnavailable, () => {
  let s: Scratch;
  useScratch('enospc', (made) => (s = made));

  it('leaves no phantom files and gives back the space of the file it could not finish', async () => {
    const dev = s.device('small', 64 * MiB);
    const mnt = s.mountpoint('m');
    let server = await s.serve(dev, mnt);
    const src = s.path('big');
    must(`mkdir ${src} && for i in $(seq 1 9); do head -c 9000000 /dev/urandom > ${src}/f$i; done`);
    const free0 = Number(must(`df -B1 --output=avail ${mnt} | tail -1`).trim());
    const r = sh(`cp -r ${src} ${mnt}/big`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/No space left on device/);
    // Each file cp could not finish is dropped at its close: poll until none is left.
    const listed = (): string[] => fs.readdirSync(`${mnt}/big`).sort();
    await until(() => listed().every((f) => fs.statSync(`${mnt}/big/${f}`).size === 9_000_000));
    const files = listed();
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) must(`cmp ${src}/${f} ${mnt}/big/${f}`);
    // Log them now (fsync of a closed file) rather than after the settle time: until then each
    // holds the reservation cp grew, not yet trimmed to its size.
    must(`sync ${files.map((f) => `${mnt}/big/${f}`).join(' ')}`);
    // What is left free is exactly what the finished files do not hold (10 MiB each).
    const free1 = Number(must(`df -B1 --output=avail ${mnt} | tail -1`).trim());
    expect(free0 - free1).toBe(files.length * 10 * MiB);
    expect(server.log()).toMatch(/dropped, not logged .*Out of space/);
    await server.stop();
    server = await s.serve(dev, mnt);
    expect(listed()).toEqual(files);
    await server.stop();
  }, 120_000);
});

describeTier2('stopping a server while files are being written', mountUnavailable, () => {
  let s: Scratch;
  useScratch('stop', (made) => (s = made));

  it('SIGTERM waits for the open file (naming it) and logs it at its close', async () => {
    const dev = s.device('d1', 64 * MiB);
    const mnt = s.mountpoint('m1');
    const server = await s.serve(dev, mnt);
    const writer = sh(`(exec 3>${mnt}/held; echo part1 >&3; kill -TERM ${server.pid}; sleep 1; echo part2 >&3) ; echo done`, 60_000);
    expect(writer.stdout).toContain('done');
    expect(await server.waitExit()).toBe(0);
    expect(server.log()).toMatch(/SIGTERM: waiting for 1 file still being written.*held \(6 bytes so far\)/);
    const again = await s.serve(dev, mnt);
    expect(fs.readFileSync(`${mnt}/held`, 'utf8')).toBe('part1\npart2\n');
    await again.stop();
  }, 60_000);

  it('a second signal drops the file still open, one log line each', async () => {
    const dev = s.device('d2', 64 * MiB);
    const mnt = s.mountpoint('m2');
    const server = await s.serve(dev, mnt);
    sh(`(exec 3>${mnt}/dropped; echo part1 >&3; kill -TERM ${server.pid}; sleep 0.5; kill -INT ${server.pid}; sleep 1; echo part2 >&3) 2>/dev/null`, 60_000);
    await server.waitExit();
    expect(server.log()).toMatch(/dropped: dropped, not logged \(SIGINT received a second time/);
    const again = await s.serve(dev, mnt);
    expect(fs.existsSync(`${mnt}/dropped`)).toBe(false);
    await again.stop();
  }, 60_000);
});
