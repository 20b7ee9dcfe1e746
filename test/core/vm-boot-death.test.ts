// Tier 1: how the VM harness tells a kernel that died before user space (booted again) from a
// guest that ran (test/support/vm.ts earlyBootDeath); the console lines are CI's famfs-v10-7.3 boot.
import { describe, expect, it } from 'vitest';
import { earlyBootDeath } from '../support/vm.js';

describe('earlyBootDeath', () => {
  it('names the first Oops of a kernel that died while booting', () => {
    const console = [
      '[    2.343207] sched_clock: Marking stable (2359085126, -16645172)->(2489239864, -146799910)',
      '[    2.347549] Oops: int3: 0000 [#1] SMP NOPTI',
      '[    2.349042] CPU: 1 UID: 0 PID: 0 Comm: swapper/1 Not tainted 7.3.0-rc7-gf40bb4e49c62 #3 PREEMPT(lazy)',
      '[    2.400624] Kernel panic - not syncing: Fatal exception in interrupt',
    ].join('\n');
    expect(earlyBootDeath(console)).toBe('Oops: int3: 0000 [#1] SMP NOPTI');
  });

  it('names a panic without an Oops', () => {
    expect(earlyBootDeath('[    1.9] Kernel panic - not syncing: Requested init /x failed (error -2).\n'))
      .toBe('Kernel panic - not syncing: Requested init /x failed (error -2).');
  });

  it('sees no death in a clean boot or in a message that only mentions a panic', () => {
    expect(earlyBootDeath('[    2.1] Run /init as init process\nvm: panic=-1 oops=panic\n')).toBeUndefined();
    expect(earlyBootDeath('')).toBeUndefined();
  });
});
