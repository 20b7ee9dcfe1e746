// Tier 1: what a read of the channel means to the serving loops (src/fuse/channel.ts). A
// connection that is gone for good must end the loop, never be read again and again.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { readOutcome } from '../../src/fuse/channel.js';

const E = os.constants.errno;

describe('readOutcome', () => {
  it('ends on unmount, abort (fusectl: ECONNABORTED) and a closed channel', () => {
    for (const n of [0, -E.ENODEV, -E.ECONNABORTED, -E.EBADF, -E.ECONNRESET]) expect(readOutcome(n)).toBe('ended');
  });
  it('reads again after EINTR and an interrupted request (ENOENT); waits on EAGAIN', () => {
    expect(readOutcome(-E.EINTR)).toBe('again');
    expect(readOutcome(-E.ENOENT)).toBe('again');
    expect(readOutcome(-E.EAGAIN)).toBe('empty');
    expect(readOutcome(40)).toBe('message');
    expect(readOutcome(-E.EINVAL)).toBe('failed');
  });
});
