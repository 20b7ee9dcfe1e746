// The mount's warm-up (src/server/jit-warm.ts): it serves its scratch images every request a
// create, a stat, a listing and a read need, and leaves nothing behind, also when it cannot run.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { warmRequestPath } from '../../src/server/jit-warm.js';
import { TempDir } from '../famfs-support.js';

const LIMITS = { maxWrite: 256 << 10, maxPagesLimit: 256, pageSize: 4096, maxBackground: 64 };

describe('warmRequestPath', () => {
  let t: TempDir | undefined;
  afterEach(() => t?.cleanup());

  it('creates, stats, lists and reads its files on scratch images it removes', () => {
    t = new TempDir();
    const r = warmRequestPath(1100, LIMITS, t.dir);
    // Every request was answered without an error (a failed one is returned as its reason),
    // across three directories (500 files each): the listing's pages and a second directory.
    expect(r).toEqual({ files: 1100, ms: expect.any(Number) as number });
    expect(fs.readdirSync(t.dir)).toEqual([]);
  });

  it('does nothing for none', () => {
    expect(warmRequestPath(0, LIMITS, '/nonexistent')).toEqual({ files: 0, ms: 0 });
  });

  it('returns why it could not run, and leaves nothing', () => {
    t = new TempDir();
    const missing = path.join(t.dir, 'no-such-dir');
    const r = warmRequestPath(10, LIMITS, missing);
    expect(r).toMatch(/no-such-dir/);
    expect(fs.readdirSync(t.dir)).toEqual([]);
  });
});
