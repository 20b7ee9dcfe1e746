// Tier 1: the one errno vocabulary (src/errno.ts) and the one interleave-parameter validator
// (src/interleave/interleave-params.ts) with famfs's limits.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { describeError, Errno, ErrnoError, errnoOfError } from '../../src/errno.js';
import { FuseError } from '../../src/fuse/filesystem.js';
import { ImageError } from '../../src/famfs/errors.js';
import { SysError } from '../../src/sys/libc.js';
import { GrowError } from '../../src/server/pending.js';
import { SizeError } from '../../src/interleave/size.js';
import { chunkSizeProblem, interleaveParamProblems, stripCountProblem } from '../../src/interleave/interleave-params.js';
import { parseInterleaveParam } from '../../src/server/interleave-param.js';

const E = os.constants.errno;
const MiB = 1024 * 1024;

describe('Errno', () => {
  it('is one value per name and number', () => {
    expect(Errno.of('ENOSPC')).toBe(Errno.fromNumber(E.ENOSPC));
    expect(Errno.of('ENOSPC').number).toBe(E.ENOSPC);
    expect(Errno.parse('EROFS')?.number).toBe(E.EROFS);
    expect(Errno.parse('nonsense')).toBeUndefined();
    expect(Errno.fromNumber(600).name).toBe('errno 600');
    expect(Errno.of('ENAMETOOLONG').exitCode).toBe(Math.min(E.ENAMETOOLONG, 127));
  });

  it('is carried by every error class, whatever its own errno field looks like', () => {
    const cases: [unknown, number][] = [
      [new FuseError(E.EACCES), E.EACCES],
      [new FuseError('EFBIG', 'too big'), E.EFBIG],
      [new SysError('open', E.EROFS), E.EROFS],
      [new ImageError('x', 'ENOENT'), E.ENOENT],
      [new GrowError('x', 'EFBIG'), E.EFBIG],
      [new SizeError('x'), E.EINVAL],
      [Object.assign(new Error('fs'), { errno: -E.ENOSPC, code: 'ENOSPC' }), E.ENOSPC],
    ];
    for (const [e, n] of cases) expect(errnoOfError(e)?.number, String(e)).toBe(n);
    expect(errnoOfError(new TypeError('bug'))).toBeUndefined();
    expect(new ImageError('x', 'ENOSPC').exitCode).toBe(E.ENOSPC);
  });

  it('keeps the cause and describes the chain without a stack', () => {
    const inner = new SysError('read', E.EIO, 'of /dev/dax0.0');
    const outer = new ErrnoError('replay: entry 4', inner.errnoValue, { cause: inner });
    expect(outer.cause).toBe(inner);
    const text = describeError(outer);
    expect(text).toContain('replay: entry 4');
    expect(text).toContain('read of /dev/dax0.0');
    expect(text).not.toContain('    at ');
  });
});

describe('interleave parameters: one validator, famfs bounds', () => {
  it('accepts what famfs accepts', () => {
    expect(interleaveParamProblems({ nstrips: 0, nbuckets: 0, chunkSize: 0 })).toEqual([]);
    expect(interleaveParamProblems({ nstrips: 6, nbuckets: 8, chunkSize: 2 * MiB }, { devSize: 8 * 1024 ** 3 })).toEqual([]);
    expect(interleaveParamProblems({ nstrips: 16, nbuckets: 64, chunkSize: 2 ** 31 }, { devSize: 1, relaxBuckets: true })).toEqual([]);
  });

  it('refuses each bound once, with the same words everywhere', () => {
    expect(chunkSizeProblem(3 * MiB)).toMatch(/power-of-two multiple of 2 MiB/);
    expect(chunkSizeProblem(64 * 1024)).toMatch(/power-of-two multiple of 2 MiB/);
    expect(chunkSizeProblem(64 * 1024, true)).toBeUndefined();
    expect(chunkSizeProblem(2 ** 32)).toMatch(/exceeds max/);
    expect(stripCountProblem(17)).toMatch(/1\.\.16/);
    expect(stripCountProblem(0)).toMatch(/1\.\.16/);
    expect(interleaveParamProblems({ nstrips: 4, nbuckets: 2, chunkSize: 2 * MiB })).toEqual([expect.stringMatching(/nbuckets 2 must be in nstrips\.\.64/)]);
    expect(interleaveParamProblems({ nstrips: 4, nbuckets: 65, chunkSize: 2 * MiB })).toHaveLength(1);
    expect(interleaveParamProblems({ nstrips: 4, nbuckets: 8, chunkSize: 2 * MiB }, { devSize: 4 * 1024 ** 3 })).toEqual([expect.stringMatching(/< 1G/)]);
  });

  it('the xattr says what the validator says', () => {
    expect(() => parseInterleaveParam('nstrips=2,chunk=4G')).toThrow(/exceeds max/);
    expect(() => parseInterleaveParam('nstrips=2,chunk=64K')).toThrow(/power-of-two multiple of 2 MiB/);
  });
});
