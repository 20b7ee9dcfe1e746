// Tier-2 tests need root (real mounts, the kernel's BPF verifier). Off CI they skip with the
// reason; in CI (CI=true) a tier-2 test that cannot run fails, as the project requires.
import { describe } from 'vitest';

export const isRoot = process.getuid?.() === 0;
export const inCI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * describe() for a tier-2 suite. `why` returns undefined when the suite can run, or the
 * reason it cannot (checked once at collection time).
 */
export function describeTier2(name: string, why: () => string | undefined, fn: () => void): void {
  const reason = !isRoot ? 'needs root' : why();
  if (reason === undefined) {
    describe(name, fn);
  } else if (inCI) {
    describe(name, () => {
      throw new Error(`tier-2 suite "${name}" cannot run in CI: ${reason}`);
    });
  } else {
    describe.skip(`${name} (skipped: ${reason})`, fn);
  }
}
