// Tier 4: `mount --abi auto` on every kernel of ../shared/kernels, including stock 7.3 with
// FUSE io_uring on (it offers INIT bit 43 = FUSE_HAS_IO_URING_BUFPOOL, the bit famfs V10 uses
// for FUSE_DAX_FMAP): each must get the right series, and the log must say how it decided.
// The image is an emulated device (a file on the guest's /dev/shm): detection needs no DAX.
import { expect, it } from 'vitest';
import { describeTier4 } from '../support/tier.js';
import { runVm, vmUnavailable, type KernelName } from '../support/vm.js';

const CASES: { kernel: KernelName; cmdline?: string; series: string; why: RegExp }[] = [
  { kernel: 'famfs-v10-7.3', series: 'famfs', why: /IOMAP_SUPPORT ENOTTY; iomap: kernel minor 46 is outside 99; famfs: minor 46, INIT bit 43 offered without INIT bit 41: chosen/ },
  { kernel: 'fuse-iomap-7.3', series: 'iomap', why: /kernel 7\.99, .*IOMAP_SUPPORT 0x3; iomap: minor 99, INIT bit 44 offered, IOMAP_SUPPORT 0x3: chosen/ },
  { kernel: 'stock-7.3', series: 'mainline', why: /famfs: kernel does not offer INIT bit 43; mainline: chosen/ },
  { kernel: 'stock-7.3', cmdline: 'fuse.enable_uring=1', series: 'mainline', why: /famfs: kernel offers INIT bit 43 with INIT bit 41, so the bit means something else there; mainline: chosen/ },
];

for (const c of CASES) {
  describeTier4(`--abi auto on ${c.kernel}${c.cmdline ? ` (${c.cmdline})` : ''}`, () => vmUnavailable(c.kernel), () => {
    it(`chooses ${c.series} and logs why`, async () => {
      const r = await runVm({
        kernel: c.kernel, cmdline: c.cmdline, timeoutMs: 300_000,
        script: `
          truncate -s 64M /dev/shm/img
          famfs_ts mkfs --small --system-uuid /tmp/uuid /dev/shm/img > /dev/null || exit 2
          mkdir -p /tmp/m
          famfs_ts mount /dev/shm/img /tmp/m --abi auto --foreground --readers 0 --system-uuid /tmp/uuid > "$VM_OUT/server.log" 2>&1 &
          s=$!
          i=0; until grep -q 'INIT:' "$VM_OUT/server.log"; do i=$((i+1)); [ $i -gt 600 ] && exit 3; sleep 0.1; done
          ls /tmp/m > /dev/null
          vm_bounded 60 famfs_ts umount /tmp/m
          wait $s`,
      });
      const log = r.files.get('server.log')?.toString() ?? '';
      expect(r.status, `${r.output}\n${log}\n${r.console.slice(-2000)}`).toBe(0);
      expect(log).toMatch(new RegExp(`abi auto: ${c.series} \\(`));
      expect(log).toMatch(c.why);
      expect(log).toMatch(new RegExp(`INIT: kernel 7\\.\\d+ flags 0x[0-9a-f]+; profile ${c.series}`));
    }, 400_000);
  });
}
