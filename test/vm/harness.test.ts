// Tier 4: the VM harness itself: a script's output, status and files come back, NVDIMM backing
// files are sparse /dev/shm files removed afterwards, the host's deadline ends a run, and a kernel
// that dies before init is booted again (at most three boots), saying why.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeTier4 } from '../support/tier.js';
import { GiB, runVm, vmUnavailable } from '../support/vm.js';

const ours = (): string[] => readdirSync('/dev/shm').filter((n) => n.startsWith(`famfs-ts-vm-${process.pid}-`));

describeTier4('vm harness (stock-7.3)', () => vmUnavailable('stock-7.3'), () => {
  it('runs a script from the shared root with an NVDIMM and a ram disk, returns status, output and files', async () => {
    const r = await runVm({
      kernel: 'stock-7.3', nvdimms: [4 * GiB], ramdisk: '16M', timeoutMs: 240_000,
      env: { GREETING: "it's here" },
      script: `
        echo "$GREETING"; uname -r
        test "$(pwd)" = "$VM_REPO" || exit 10
        test -b /dev/pmem0 || exit 11          # raw NVDIMM before labels
        test -b /dev/ram0 || exit 12
        echo "$(cat /sys/block/ram0/size) sectors" > "$VM_OUT/ram0"
        touch /x 2>/dev/null && exit 13         # the host root is read-only
        famfs_ts --version > "$VM_OUT/version"
        exit 3`,
    });
    try {
      expect(r.status, r.console.slice(-3000)).toBe(3);
      expect(r.output).toContain("it's here");
      expect(r.output).toContain('7.3.0-rc7');
      expect(r.files.get('ram0')?.toString()).toBe(`${16 * 2048} sectors\n`);
      expect(r.files.get('version')?.toString().trim()).toMatch(/^\d+\.\d+\.\d+$/);
      expect(r.keptDir, 'a failed run keeps its console').toBeDefined();
      expect(existsSync(`${r.keptDir}/console.log`)).toBe(true);
      expect(ours()).toEqual([]);
    } finally {
      if (r.keptDir) rmSync(r.keptDir, { recursive: true, force: true });
    }
  });

  it('kills the guest at the host deadline and still removes its /dev/shm files', async () => {
    const r = await runVm({ kernel: 'stock-7.3', nvdimms: [4 * GiB], timeoutMs: 2_000, script: 'sleep 1000' });
    try {
      expect(r.timedOut).toBe(true);
      expect(r.status).toBeNull();
      expect(r.seconds).toBeLessThan(30);
      expect(ours()).toEqual([]);
    } finally {
      if (r.keptDir) rmSync(r.keptDir, { recursive: true, force: true });
    }
  });

  it('boots a kernel that died before init again, twice at most, and reports each death', async () => {
    // The last init= on the command line wins: a missing one panics the kernel before user space.
    const r = await runVm({ kernel: 'stock-7.3', timeoutMs: 120_000, cmdline: 'init=/famfs-ts-no-such-init', script: 'exit 0' });
    try {
      expect(r.status).toBeNull();
      expect(r.timedOut).toBe(false);
      expect(r.bootRetries).toHaveLength(2);
      // Each boot dies of the missing init, or before it of the TCG "Oops: int3" the 7.3
      // kernels sometimes hit while patching their own text (../shared/kernels/README.md):
      // both are deaths before init, and a run today met the second on the first boot.
      for (const died of r.bootRetries) expect(died).toMatch(/^(Kernel panic|Oops: int3)/);
      expect(r.console.match(/booting it again/g)).toHaveLength(2);
    } finally {
      if (r.keptDir) rmSync(r.keptDir, { recursive: true, force: true });
    }
  });
});
