import { defineConfig } from 'vitest/config';

// One project per test tier (DESIGN.md "Tests and benchmarks"); `npm run test:fast` runs core only.
//   core   tier 1: pure code and local files, no root, no child processes (seconds)
//   cli    tier 1: the built CLI run as a child process on temporary images
//   mount  tier 2: root: real FUSE mounts, loop devices, the kernel's BPF verifier
//   player tier 3: the kernel's side of FUSE played over /dev/fd/N against real servers
//   vm     tier 4: the kernels of ../shared/kernels booted in qemu
const tier = (name: string, timeout: number) => ({
  extends: true as const,
  test: {
    name,
    include: [`test/${name}/**/*.test.ts`],
    testTimeout: timeout,
    hookTimeout: timeout,
  },
});

export default defineConfig({
  test: {
    // Mount tests serve FUSE from child processes; give them room on a 2-core CI box.
    pool: 'forks',
    projects: [tier('core', 60_000), tier('cli', 120_000), tier('mount', 120_000), tier('player', 120_000), tier('vm', 900_000)],
  },
});
