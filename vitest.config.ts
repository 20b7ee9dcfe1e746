import path from 'node:path';
import { defineConfig } from 'vitest/config';

// One project per test tier (docs/design.md "Tests and benchmarks"); `npm run test:fast` runs core only,
// with its property tests and seed loops scaled down (FAMFS_TS_TEST_SCALE, test/support/scale.ts);
// `npm test` runs core at full scale with the other tiers.
//   core   tier 1: pure code and local files, no root, no child processes (seconds)
//   cli    tier 1: the built CLI run as a child process on temporary images
//   mount  tier 2: root: real FUSE mounts, loop devices, the kernel's BPF verifier
//   player tier 3: the kernel's side of FUSE played over /dev/fd/N against real servers
//   vm     tier 4: the kernels of ../shared/kernels booted in qemu
//
// Every tier but core runs compiled code (the CLI and servers as children, worker threads in
// process), so it first checks dist/ is the build of the sources (rebuilding when it is not),
// and its processes load a resolve hook that sends a worker's missing sibling .js to dist/.
const compiled = {
  globalSetup: ['test/setup/dist-fresh.ts'],
  execArgv: ['--import', path.resolve('dist/test/setup/compiled-loader.js')],
};
const tier = (name: string, timeout: number) => ({
  extends: true as const,
  test: {
    name,
    include: [`test/${name}/**/*.test.ts`],
    testTimeout: timeout,
    hookTimeout: timeout,
    // The pure core shares one module graph across its files in worker threads: a third less
    // CPU than a fresh process per file, and its tests keep no state between files.
    ...(name === 'core' ? { pool: 'threads' as const, isolate: false } : compiled),
  },
});

export default defineConfig({
  test: {
    // Mount tests serve FUSE from child processes; give them room on a 2-core CI box.
    pool: 'forks',
    // Mounts skip their JIT warm-up (mount --warm-up; ~0.7 s of 2 CPUs each): it touches only
    // scratch images, and test/mount/mount-warm-up.test.ts runs it through a real mount.
    env: { FAMFS_TS_WARM_UP: '0' },
    projects: [tier('core', 60_000), tier('cli', 120_000), tier('mount', 120_000), tier('player', 120_000), tier('vm', 900_000)],
  },
});
