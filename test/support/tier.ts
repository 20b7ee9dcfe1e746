// Tier-2 tests need root (real mounts, the kernel's BPF verifier). Off CI they skip with the
// reason; in CI (CI=true) a tier-2 test that cannot run fails, as the project requires.
import { describe } from 'vitest';

export const isRoot = process.getuid?.() === 0;
export const inCI = process.env.CI === 'true' || process.env.CI === '1';

/** The one rule for a suite that may be unable to run: run it, fail it in CI, or skip it saying why. */
function describeTier(tier: number, name: string, reason: string | undefined, fn: () => void): void {
  if (reason === undefined) {
    describe(name, fn);
  } else if (inCI) {
    describe(name, () => {
      throw new Error(`tier-${tier} suite "${name}" cannot run in CI: ${reason}`);
    });
  } else {
    describe.skip(`${name} (skipped: ${reason})`, fn);
  }
}

/**
 * describe() for a tier-1 suite that needs something of the kernel a machine may refuse
 * without root (io_uring under kernel.io_uring_disabled). Same rule: in CI it fails.
 */
export function describeTier1(name: string, why: () => string | undefined, fn: () => void): void {
  describeTier(1, name, why(), fn);
}

/**
 * describe() for a tier-2 suite. `why` returns undefined when the suite can run, or the
 * reason it cannot (checked once at collection time).
 */
export function describeTier2(name: string, why: () => string | undefined, fn: () => void): void {
  describeTier(2, name, !isRoot ? 'needs root' : why(), fn);
}

/**
 * describe() for a tier-4 suite (qemu guests, test/support/vm.ts). Off CI it skips with one line
 * saying why (no ../shared/kernels, no qemu, dist/ not built); in CI a suite that cannot run fails.
 * Root is not needed: qemu runs TCG and the guest is root in itself.
 */
export function describeTier4(name: string, why: () => string | undefined, fn: () => void): void {
  describeTier(4, name, why(), fn);
}
