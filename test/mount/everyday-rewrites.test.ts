// Tier 2: more of the programs people use, through a real famfs-ts mount (issue 13, the wider
// set): rewriters that write in place and then ask for a refused size change (the undo
// journal puts the file back), what programs do right after closing a new file (settle:
// install's chmod, a rename into place, an append), and every namespace change famfs's log
// cannot record. Each result is checked on the master, on a `--client` host and after a
// remount of both: a program ends with what it asked for, or fails with the file as it was
// and no name added or left behind.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { cli, must, sh, Scratch, type MountServer, mountUnavailable, useScratch } from '../support/mount-harness.js';

const MiB = 1024 ** 2;

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

const sha = (p: string): string => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
const modeOf = (p: string): string => (fs.statSync(p).mode & 0o7777).toString(8);

describeTier2('more everyday tools through a famfs-ts mount', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let cmnt: string;
  let master: MountServer;
  let client: MountServer;
  let src: string;
  const clientUuid = (): string => s.hostUuid('client-host');
  /** Every file the suite expects: path relative to the mount -> sha256 (and mode). */
  const want = new Map<string, { sha: string; mode?: string }>();
  /** Names that must not exist anywhere (refused creations, temp files). */
  const absent = new Set<string>();

  const M = (rel: string): string => path.join(mnt, rel);

  function expectFile(rel: string, hostFile: string, mode?: string): void {
    want.set(rel, { sha: sha(hostFile), mode });
    expect(sha(M(rel)), rel).toBe(sha(hostFile));
    if (mode) expect(modeOf(M(rel)), rel).toBe(mode);
  }

  /** Write `hostFile` through the mount and wait until the client sees it (logged). */
  async function committed(rel: string, hostFile: string): Promise<void> {
    fs.copyFileSync(hostFile, M(rel));
    const p = path.join(cmnt, rel);
    expect(await until(() => fs.existsSync(p) && sha(p) === sha(hostFile)), `${rel} on the client`).toBe(true);
    want.set(rel, { sha: sha(hostFile) });
  }

  function random(name: string, bytes: number): string {
    const p = path.join(src, name);
    fs.writeFileSync(p, crypto.randomBytes(bytes));
    return p;
  }

  function text(name: string, body: string, mode = 0o644): string {
    const p = path.join(src, name);
    fs.writeFileSync(p, body);
    fs.chmodSync(p, mode);
    return p;
  }

  beforeAll(async () => {
    s = new Scratch('rewrites');
    dev = s.device('dev0', 512 * MiB);
    mnt = s.mountpoint('master');
    cmnt = s.mountpoint('client');
    master = await s.serve(dev, mnt, []);
    client = await s.serve(dev, cmnt, ['--client', '--refresh', '200'], clientUuid());
    src = s.path('src');
    fs.mkdirSync(src);
  }, 120_000);
  afterAll(async () => {
    await s?.cleanup();
  }, 60_000);

  it('rewriters in place end with the old content when their size change is refused (undo)', async () => {
    const old = random('old-3M', 3 * MiB);
    const shorter = random('short-1M', MiB);
    const longer = random('long-4M', 4 * MiB);
    await committed('big', old);
    // rsync --inplace of shorter content: writes 1 MiB in place, then ftruncate (refused):
    // the bytes it wrote are put back before the refusal.
    const r = sh(`rsync -I --inplace ${shorter} ${M('big')}`);
    expect(r.status).toBe(23);
    expect(r.stderr).toMatch(/ftruncate failed .*Operation not permitted/);
    expectFile('big', old);
    expect(master.log()).toMatch(/big: truncate to 1048576 bytes refused.*bytes this open file had rewritten were put back/);
    // Longer content in place: the first write past the end is refused and what came before
    // is put back (rsync --inplace, dd conv=notrunc, both in many writes).
    expect(sh(`rsync -I --inplace ${longer} ${M('big')}`).status).not.toBe(0);
    expectFile('big', old);
    const dd = sh(`dd if=${longer} of=${M('big')} bs=256k conv=notrunc status=none`);
    expect(dd.stderr).toMatch(/File too large/);
    expectFile('big', old);
    // Truncating openers are refused at open, before any byte: cp, dd, `>`.
    for (const cmd of [`cp ${shorter} ${M('big')}`, `cp ${longer} ${M('big')}`, `dd if=${shorter} of=${M('big')} status=none`]) {
      expect(sh(cmd).status, cmd).not.toBe(0);
      expectFile('big', old);
    }
    // The same length in place works (and stays).
    const same = random('same-3M', 3 * MiB);
    must(`dd if=${same} of=${M('big')} bs=1M conv=notrunc status=none`);
    expectFile('big', same);
  }, 120_000);

  it('editors and rename-based rewriters over a logged file: non-zero, old content, no temp file left', async () => {
    const long = text('long.txt', 'this line is long\n');
    await committed('edit', long);
    for (const cmd of [
      `vim -es -c '%s/.*/short/' -c wq -c cq ${M('edit')} < /dev/null`,
      `vim -es -c '%s/long/LONG/' -c wq -c cq ${M('edit')} < /dev/null`,
      `sed -i s/long/short/ ${M('edit')}`,
      `perl -pi -e s/long/short/ ${M('edit')}`,
      `rsync -I ${text('other.txt', 'other\n')} ${M('edit')}`,
      `install -m 644 ${long} ${M('edit')}`,
    ]) {
      expect(sh(cmd).status, cmd).not.toBe(0);
      expectFile('edit', long);
    }
    // Their temp and swap files were never logged, so the tools removed them. vim keeps its
    // backup (edit~, then ediz~) when a write fails, by its own rule: those stay, holding the
    // old content.
    const left = must(`ls -A ${mnt}`).split('\n').filter((n) => n && !['.meta', 'big', 'edit'].includes(n));
    expect(left.filter((n) => !/^edi.~$/.test(n))).toEqual([]);
    for (const n of left) want.set(n, { sha: sha(long) });
  }, 120_000);

  it('what a program does right after closing a new file lands in its log entry', async () => {
    // install sets the mode by path after the close; rsync renames its temp file into place
    // and sets the mode; an append right after the first write is kept.
    const script = text('tool.sh', '#!/bin/sh\necho tool\n', 0o755);
    must(`install -m 0755 ${script} ${M('tool')}`);
    expectFile('tool', script, '755');
    must(`install -D -m 0640 ${script} ${M('inst/dir/tool')}`);
    expectFile('inst/dir/tool', script, '640');
    const cfg = text('cfg', 'key=value\n', 0o640);
    must(`rsync -p ${cfg} ${M('cfg')}`);
    expectFile('cfg', cfg, '640');
    must(`echo one > ${M('appended')}; echo two >> ${M('appended')}`);
    expectFile('appended', text('appended', 'one\ntwo\n'));
    // A new file moved before it is logged is logged under its new name (also across directories).
    must(`mkdir ${M('moved')} && echo moved > ${M('tmpname')} && mv ${M('tmpname')} ${M('moved/final')}`);
    expectFile('moved/final', text('moved', 'moved\n'));
    absent.add('tmpname');
    // A plain vim session on a new file: swap files removed, nothing else left.
    expect(sh(`vim -es -c 'normal! ihello' -c wq -c cq ${M('moved/vim')} < /dev/null`).status).toBe(0);
    expectFile('moved/vim', text('hello', 'hello\n'));
    expect(must(`ls -A ${M('moved')}`).trim().split('\n').sort()).toEqual(['final', 'vim']);
    // rsync of a tree twice, without times (famfs keeps none): the second run, comparing
    // checksums, finds every file unchanged and writes nothing.
    must(`mkdir -p ${src}/tree/sub && echo a > ${src}/tree/a && echo b > ${src}/tree/sub/b && chmod 640 ${src}/tree/a && chmod 750 ${src}/tree/sub`);
    must(`rsync -rp ${src}/tree/ ${M('rtree')}/`);
    const again = must(`rsync -rpc --itemize-changes ${src}/tree/ ${M('rtree')}/`);
    expect(again.trim()).toBe('');
    expectFile('rtree/a', `${src}/tree/a`, '640');
    expectFile('rtree/sub/b', `${src}/tree/sub/b`);
    expect(modeOf(M('rtree/sub'))).toBe('750');
    // git: init and a first commit (lock files renamed into place before they are logged).
    must(`mkdir ${M('repo')} && cd ${M('repo')} && git init -q . && echo x > x && git add x && git -c user.email=t@t -c user.name=t commit -qm one`);
    expect(must(`git -C ${M('repo')} log --format=%s`).trim()).toBe('one');
    // Once they are logged (after the settle time), a second commit must replace logged files
    // (index, refs): refused, the repository as it was.
    const g = sh(`sleep 2 && cd ${M('repo')} && echo y > y && git add y`);
    expect(g.status).not.toBe(0);
    expect(g.stderr).toMatch(/Unable to write new index file/);
    expect(must(`git -C ${M('repo')} log --format=%s`).trim()).toBe('one');
    absent.add('repo/.git/index.lock');
  }, 120_000);

  it('namespace changes famfs cannot log fail at once, nothing changed', async () => {
    const body = text('c', 'logged\n');
    await committed('c', body);
    await committed('c2', body);
    must(`mkdir ${M('d')}`);
    for (const [cmd, msg] of [
      [`mv ${M('c')} ${M('c-renamed')}`, /Operation not supported/],
      [`mv ${M('c')} ${M('d')}/`, /Operation not supported/],
      [`mv ${M('c2')} ${M('c')}`, /Operation not supported/],
      [`echo new > ${M('fresh')} && mv ${M('fresh')} ${M('c')}`, /Operation not supported/],
      [`rm ${M('c')}`, /Operation not supported/],
      [`rmdir ${M('d')}`, /Operation not supported/],
      [`ln ${M('c')} ${M('c-link')}`, /Operation not supported/],
      [`ln -s c ${M('c-sym')}`, /Operation not supported/],
      [`mkfifo ${M('fifo')}`, /Operation not supported/],
      [`mknod ${M('null')} c 1 3`, /Operation not supported/],
      [`setfattr -n user.note -v x ${M('c')}`, /Operation not supported/],
      [`echo more >> ${M('c')}`, /File too large/],
      [`fallocate -l 100 ${M('c')}`, /File too large/],
      [`cp --reflink=always ${body} ${M('c')}`, /Operation not permitted|Invalid cross-device link/],
    ] as const) {
      const r = sh(cmd);
      expect(r.status, cmd).not.toBe(0);
      expect(r.stderr, cmd).toMatch(msg);
      expectFile('c', body);
      expectFile('c2', body);
    }
    for (const n of ['c-renamed', 'd/c', 'c-link', 'c-sym', 'fifo', 'null']) absent.add(n);
    // `fresh` was refused its rename but is a file of its own (mv leaves it): it is logged.
    want.set('fresh', { sha: sha(text('fresh', 'new\n')) });
    // fallocate inside the size changes nothing; a new file is sized by it.
    must(`fallocate -l 3 ${M('c')}`);
    must(`fallocate -l 5M ${M('sized')}`);
    expect(fs.statSync(M('sized')).size).toBe(5 * MiB);
    want.set('sized', { sha: crypto.createHash('sha256').update(Buffer.alloc(5 * MiB)).digest('hex') });
    // tar -x over existing files: tar cannot remove them: it says so, files unchanged.
    must(`mkdir -p ${src}/tx && cp ${body} ${src}/tx/c && tar -C ${src}/tx -cf ${src}/tx.tar c`);
    const t = sh(`tar -C ${mnt} -xmf ${src}/tx.tar`);
    expect(t.status).not.toBe(0);
    expect(t.stderr).toMatch(/c: Cannot open: File exists/);
    // cp --reflink=auto copies (no clone across file systems); unzip without times works.
    must(`cp --reflink=auto ${body} ${M('reflinked')}`);
    expectFile('reflinked', body);
    must(`mkdir -p ${src}/z/d && echo q > ${src}/z/q && echo r > ${src}/z/d/r && cd ${src}/z && zip -qr ../z.zip .`);
    must(`unzip -DD -q ${src}/z.zip -d ${M('unz')}`);
    expectFile('unz/q', `${src}/z/q`);
    expectFile('unz/d/r', `${src}/z/d/r`);
  }, 120_000);

  it('the client host sees every result, and no name that was refused or removed', async () => {
    for (const [rel, w] of want) {
      const p = path.join(cmnt, rel);
      expect(await until(() => fs.existsSync(p) && sha(p) === w.sha), `${rel} on the client`).toBe(true);
      if (w.mode) expect(modeOf(p), rel).toBe(w.mode);
    }
    for (const rel of absent) expect(fs.existsSync(path.join(cmnt, rel)), rel).toBe(false);
  }, 120_000);

  it('after a remount (master and client) every result is as it was', async () => {
    await master.stop();
    await client.stop();
    master = await s.serve(dev, mnt, []);
    client = await s.serve(dev, cmnt, ['--client', '--refresh', '200'], clientUuid());
    for (const root of [mnt, cmnt]) {
      for (const [rel, w] of want) {
        expect(sha(path.join(root, rel)), `${root}/${rel}`).toBe(w.sha);
        if (w.mode) expect(modeOf(path.join(root, rel)), `${root}/${rel}`).toBe(w.mode);
      }
      for (const rel of absent) expect(fs.existsSync(path.join(root, rel)), `${root}/${rel}`).toBe(false);
    }
    expect(cli(['fsck', '--system-uuid', s.uuidFile, mnt]).status).toBe(0);
  }, 120_000);
});

describeTier2('undo on the main thread (--readers 0)', mountUnavailable, () => {
  let s: Scratch;
  useScratch('undo-main', (made) => (s = made));

  it('rsync --inplace of shorter content and dd of longer content leave the logged file as it was', async () => {
    const dev = s.device('dev', 128 * MiB);
    const mnt = s.mountpoint('m');
    let server = await s.serve(dev, mnt, ['--readers', '0']);
    const old = s.path('old');
    fs.writeFileSync(old, crypto.randomBytes(3 * MiB));
    fs.writeFileSync(s.path('short'), crypto.randomBytes(MiB));
    fs.writeFileSync(s.path('long'), crypto.randomBytes(4 * MiB));
    must(`cp ${old} ${mnt}/f && sync ${mnt}/f`);
    expect(sh(`rsync -I --inplace ${s.path('short')} ${mnt}/f`).status).toBe(23);
    expect(sha(`${mnt}/f`)).toBe(sha(old));
    expect(sh(`dd if=${s.path('long')} of=${mnt}/f bs=256k conv=notrunc status=none`).stderr).toMatch(/File too large/);
    expect(sha(`${mnt}/f`)).toBe(sha(old));
    await server.stop();
    server = await s.serve(dev, mnt, ['--readers', '0']);
    expect(sha(`${mnt}/f`)).toBe(sha(old));
    await server.stop();
  }, 120_000);
});
