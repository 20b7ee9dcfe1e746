// A master mount of an image whose log has a bad entry (issue 13 item 4): it comes up, says
// so in one line, serves every good entry (those after the bad one too) and is read-only,
// because the bad entry's extents are unknown; --force serves it read-write.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { Scratch, cli, mountUnavailable, mustCli, sh } from '../support/mount-harness.js';

const LOG = 0x200000;
const E = (i: number) => LOG + 48 + 544 * i;

describeTier2('mount of a damaged log', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  beforeAll(() => {
    s = new Scratch('damaged');
    dev = s.device('dev', 64 << 20);
    const U = ['--system-uuid', s.uuidFile];
    for (const [i, name] of ['f0', 'f1', 'f2'].entries()) mustCli(['creat', ...U, '-s', '2M', '-r', '-S', String(20 + i), `${dev}:/${name}`]);
    // Flip a byte of entry 1 (f1): its CRC no longer matches.
    const fd = fs.openSync(dev, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, E(1) + 60);
    b[0]! ^= 0x40;
    fs.writeSync(fd, b, 0, 1, E(1) + 60);
    fs.closeSync(fd);
  });
  afterAll(async () => {
    await s.cleanup();
  });

  it('serves the good entries read-only and says why in one line', async () => {
    const m = s.mountpoint();
    const server = await s.serve(dev, m);
    const lines = server.log().split('\n').filter((l) => /bad entry/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/as master \(read-only\): .*the log has 1 bad entry \(index 1\).*serving read-only/);
    expect(fs.readdirSync(m).filter((n) => n !== '.meta').sort()).toEqual(['f0', 'f2']);
    // The file logged after the bad entry reads back whole.
    expect(cli(['verify', '-S', '22', '-f', `${dev}:/f2`]).status).toBe(0);
    expect(fs.readFileSync(path.join(m, 'f2')).length).toBe(2 << 20);
    const w = sh(`echo data > ${JSON.stringify(path.join(m, 'new'))}`);
    expect(w.status).not.toBe(0);
    expect(w.stderr).toMatch(/Read-only file system/);
    expect(sh(`mkdir ${JSON.stringify(path.join(m, 'd'))}`).stderr).toMatch(/Read-only file system/);
    await server.stop();
  });

  it('the daemonizing mount says so on stderr; --force serves read-write', async () => {
    const m = s.mountpoint();
    const r = cli(['mount', dev, m, '--system-uuid', s.uuidFile, '--log', s.path('daemon.log')]);
    try {
      expect(r.status).toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^famfs-ts mount: .*the log has 1 bad entry \(index 1\).*serving read-only \(--force serves read-write\)$/m);
    } finally {
      cli(['umount', m]);
    }
    for (let i = 0; i < 50 && fs.readFileSync('/proc/mounts', 'utf8').includes(` ${m} `); i++) await new Promise((res) => setTimeout(res, 100));
    const forced = await s.serve(dev, m, ['--force']);
    expect(forced.log()).not.toMatch(/read-only/);
    expect(sh(`echo data > ${JSON.stringify(path.join(m, 'new'))}`).status).toBe(0);
    await forced.stop();
  });
});
