// Damaged logs through the CLI (issue 13 item 4): a bad CRC in the first, a middle and the
// last entry, and a torn last entry. Replay skips the bad entry and goes on; every reader
// warns on stderr naming the index; fsck lists it and exits non-zero; writers refuse unless
// --force; getmap never calls a file good whose map cannot hold it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryCrc } from '../../src/famfs/log.js';
import { TempDir, logNextIndex } from '../famfs-support.js';

const ROOT = path.resolve(__dirname, '../..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');
const LOG = 0x200000;
const E = (i: number) => LOG + 48 + 544 * i;

function famfs(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function must(args: string[]): string {
  const r = famfs(args);
  if (r.code !== 0) throw new Error(`famfs-ts ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}

function patch(dev: string, at: number, fn: (b: Buffer) => void, len = 544): void {
  const fd = fs.openSync(dev, 'r+');
  try {
    const b = Buffer.alloc(len);
    fs.readSync(fd, b, 0, len, at);
    fn(b);
    fs.writeSync(fd, b, 0, len, at);
  } finally {
    fs.closeSync(fd);
  }
}

describe('damaged logs', () => {
  let t: TempDir;
  let U: string[];
  let clean: string;
  beforeAll(() => {
    t = new TempDir(); // at run time: a filtered-out suite leaves no directory
    const uuid = t.path('uuid');
    fs.writeFileSync(uuid, '6e1c2a9e-5b7f-4a51-9d2f-1f4a8e0c3b77\n');
    U = ['--system-uuid', uuid];
    clean = t.file('clean', 64 << 20);
    must(['mkfs', '--small', ...U, clean]);
    // Entries: 0 f0, 1 dir, 2 dir/f2, 3 f3 (each 2 MiB, famfs test data, seeds 10..13).
    must(['creat', ...U, '-s', '2M', '-r', '-S', '10', `${clean}:/f0`]);
    must(['mkdir', ...U, `${clean}:/dir`]);
    must(['creat', ...U, '-s', '2M', '-r', '-S', '12', `${clean}:/dir/f2`]);
    must(['creat', ...U, '-s', '2M', '-r', '-S', '13', `${clean}:/f3`]);
  });
  afterAll(() => t?.cleanup());

  function damaged(name: string, index: number, how: 'flip' | 'torn'): string {
    const dev = t.path(name);
    fs.copyFileSync(clean, dev);
    patch(dev, E(index), (b) => {
      if (how === 'flip') b[60]! ^= 0x20;
      else b.fill(0, 272); // the second half never reached the media, CRC included
    });
    return dev;
  }

  const cases: [string, number, 'flip' | 'torn', string[], string[]][] = [
    ['first', 0, 'flip', ['dir', 'dir/f2', 'f3'], ['f0']],
    ['middle', 1, 'flip', ['f0', 'f3'], ['dir', 'dir/f2']],
    ['last', 3, 'flip', ['f0', 'dir', 'dir/f2'], ['f3']],
    ['torn last', 3, 'torn', ['f0', 'dir', 'dir/f2'], ['f3']],
  ];
  for (const [what, index, how, seen, lost] of cases) {
    describe(`${what} entry (${index}, ${how})`, () => {
      let dev: string;
      beforeAll(() => {
        dev = damaged(`d-${what.replace(' ', '-')}`, index, how);
      });
      const warning = new RegExp(`the log has 1 bad entry \\(index ${index}\\)`);

      it('ls shows every entry after the bad one and warns on stderr', () => {
        const top = famfs(['ls', ...U, `${dev}:/`]);
        expect(top.code).toBe(0);
        expect(top.stderr).toMatch(warning);
        const names = top.stdout.split('\n').filter(Boolean);
        for (const p of seen) if (!p.includes('/')) expect(names).toContain(p);
        for (const p of lost) if (!p.includes('/')) expect(names).not.toContain(p);
      });

      it('getmap and verify of a file logged after it work, with the warning', () => {
        const f = seen[seen.length - 1]!;
        const g = famfs(['getmap', ...U, `${dev}:/${f}`]);
        expect(g.code).toBe(0);
        expect(g.stdout).toContain(`famfs_getmap: good file ${dev}:/${f}`);
        expect(g.stderr).toMatch(warning);
        const seed = { f0: 10, 'dir/f2': 12, f3: 13 }[f];
        if (seed !== undefined) {
          const v = famfs(['verify', ...U, '-S', String(seed), '-f', `${dev}:/${f}`]);
          expect(v.code).toBe(0);
          expect(v.stderr).toMatch(warning);
        }
        const miss = famfs(['getmap', ...U, `${dev}:/${lost[lost.length - 1]}`]);
        // famfs getmap of a missing file exits 9 (EBADF; smoke test_errors, cli-parity).
        expect(miss.code).toBe(9);
      });

      it('fsck lists the bad entry by index and exits non-zero', () => {
        const r = famfs(['fsck', ...U, dev]);
        expect(r.code).toBe(1);
        expect(r.stdout).toContain('1 bad log entries detected');
        expect(r.stdout).toMatch(new RegExp(`    log entry ${index}: crc mismatch`));
        if (how === 'torn') expect(r.stdout).toContain('torn write');
        const j = JSON.parse(famfs(['fsck', '--json', ...U, dev]).stdout);
        expect(j.log.badEntries.map((b: { index: number }) => b.index)).toEqual([index]);
      });

      it('logplay reports the skipped entry and exits non-zero', () => {
        const r = famfs(['logplay', ...U, dev]);
        // One for the bad entry, one more where a file's directory was the bad entry.
        expect(r.code).toBe(index === 1 ? 2 : 1);
        expect(r.stderr).toMatch(new RegExp(`skipped invalid log entry ${index}: crc mismatch`));
        expect(r.stdout).toContain('3 log entries');
      });

      it('creat, mkdir and cp refuse to log (exit 5, nothing appended); --force writes', () => {
        const before = logNextIndex(dev);
        for (const args of [['creat', '-s', '1M', `${dev}:/new`], ['mkdir', `${dev}:/newdir`], ['cp', path.join(ROOT, 'package.json'), `${dev}:/pj`]]) {
          const r = famfs([args[0]!, ...U, ...args.slice(1)]);
          expect(r.code, args.join(' ')).toBe(5);
          expect(r.stderr).toMatch(new RegExp(`the log has 1 bad entry \\(index ${index}\\) whose extents are unknown`));
          expect(r.stderr).not.toMatch(/\n.*\n./); // one line, no stack
        }
        expect(logNextIndex(dev)).toBe(before);
        must(['creat', '--force', ...U, '-s', '1M', `${dev}:/forced`]);
        expect(logNextIndex(dev)).toBe(before + 1);
      });
    });
  }

  it('getmap refuses to call good a file whose size exceeds its extents or whose extent leaves the device', () => {
    const big = t.path('oversize');
    fs.copyFileSync(clean, big);
    // Entry 3 (f3): size 3 MiB on one 2 MiB extent.
    patch(big, E(3), (b) => {
      b.writeBigUInt64LE(3n << 20n, 16);
      b.writeBigUInt64LE(BigInt(entryCrc(b)), 536);
    });
    const r = famfs(['getmap', ...U, `${big}:/f3`]);
    expect(r.code).toBe(5);
    expect(r.stdout).not.toContain('good file');
    expect(r.stderr).toMatch(/bad file .*size 3145728 is more than its extents hold \(2097152 bytes\)/);
    expect(famfs(['getmap', '-q', ...U, `${big}:/f3`]).stdout).not.toContain('good file');

    const past = t.path('pastdev');
    fs.copyFileSync(clean, past);
    // Entry 0 (f0): its one extent moved to 62 MiB, running past the 64 MiB device.
    patch(past, E(0), (b) => {
      b.writeBigUInt64LE(BigInt(62 << 20), 136 + 8);
      b.writeBigUInt64LE(4n << 20n, 136 + 16);
      b.writeBigUInt64LE(BigInt(entryCrc(b)), 536);
    });
    const p = famfs(['getmap', ...U, `${past}:/f0`]);
    expect(p.code).toBe(5);
    expect(p.stderr).toMatch(/runs past the end of daxdev 0/);
    expect(famfs(['getmap', ...U, `${past}:/f3`]).code).toBe(0);
  });
});
