import path from 'node:path';
import { FIXTURE } from '../famfs-support.js';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFmapReply, checkIomapBegin, famfsKernelResolve } from '../support/kernel-rules.js';
import { IOMAP_FLAGS_V7 } from '../../src/mapping/iomap-wire.js';

// `famfs-ts fmap` / `famfs-ts iomap` against the image the real famfs tools wrote
// (fixtures/famfs-example): the striped file is 4 strips of 2 MiB chunks (fuse-iomap-abi.md §3.3's
// worked example). The CLI is run from dist/ (npm test builds first).
const CLI = 'dist/src/cli/main.js';
const IMG = `/dev/shm/famfs-ts-protocol-cli-${process.pid}.img`;
const run = (...args: string[]) => execFileSync('node', [CLI, ...args], { encoding: 'utf8' });

describe('protocol CLI', () => {
  beforeAll(() => {
    fs.writeFileSync(IMG, zlib.gunzipSync(fs.readFileSync(path.join(FIXTURE, 'head-16MiB.bin.gz'))));
    fs.truncateSync(IMG, 4 * 2 ** 30);
  });
  afterAll(() => fs.rmSync(IMG, { force: true }));

  it('fmap --hex prints a message the V10 kernel accepts and resolves like fuse-iomap-abi.md §3.3', () => {
    const msg = Buffer.from(run('fmap', `${IMG}:/striped`, '--hex').trim(), 'hex');
    expect(msg.byteLength).toBe(32 + 24 + 4 * 24);
    const v = checkFmapReply(msg, { encoding: 'v10', buffer: 4096 });
    if (v.kind !== 'map') throw new Error('retry');
    expect(famfsKernelResolve(v.map, 15n * 2n ** 20n)).toEqual({ devindex: 0, addr: 0xc0000000n + 3n * 2n ** 20n, length: 2n ** 20n });
  });

  it('fmap --encoding unrolled --json shows fmap_size and one extent per chunk', () => {
    const j = JSON.parse(run('fmap', `${IMG}:/striped`, '--encoding', 'unrolled', '--json')) as { bytes: number; header: { nextents: number; fmap_size: number } };
    expect(j.header.nextents).toBe(10);
    expect(j.header.fmap_size).toBe(j.bytes);
  });

  it('iomap prints the BEGIN reply, valid for the kernel', () => {
    const [r] = JSON.parse(run('iomap', `${IMG}:/striped`, '15M', '--json')) as { hex: string }[];
    const v = checkIomapBegin(Buffer.from(r!.hex, 'hex'), 15n * 2n ** 20n, { blockSize: 4096, maxBytes: Number.MAX_SAFE_INTEGER, flags: IOMAP_FLAGS_V7 });
    expect(v.read.addr).toBe(0xc0300000n);
    expect(run('iomap', `${IMG}:/dir1/src.txt`, '--offset', '0', '--offset', '8')).toMatch(/read : offset 0x0 length 0x1000 addr 0xe00000 type MAPPED/);
  });

  it('refuses what an encoding cannot express, with the reason', () => {
    const yaml = `${IMG}.fmap.yaml`;
    fs.writeFileSync(yaml, fs.readFileSync('fixtures/fmaps/striped-4.yaml', 'utf8').replace(/daxdev: 0, offset: 0x10000000/, 'daxdev: 1, offset: 0x10000000'));
    try {
      const r = spawnSync('node', [CLI, 'fmap', '--fmap', yaml, '--encoding', 'v10'], { encoding: 'utf8' });
      const u = spawnSync('node', [CLI, 'fmap', '--fmap', yaml, '--encoding', 'unrolled', '--hex'], { encoding: 'utf8' });
      // A strip on daxdev 1: V10 takes daxdev 0 only, the dev tree takes it.
      expect(r.stderr).toMatch(/GET_FMAP v10: extent 0 strip 2 is on daxdev 1/);
      expect(r.status).toBe(1);
      expect(u.status).toBe(0);
    } finally {
      fs.rmSync(yaml, { force: true });
    }
  });
});
