// Tier 4: famfs-ts on real memory devices in a stock 7.3 guest (test/vm/devices.sh does the
// work; run it by hand with scripts/vm-run.sh, see its header): mkfs, creat, verify, mkdir, cp,
// cat, ls, getmap, fsck, mount, write through the mount and remount on /dev/dax0.0 (devdax),
// /dev/pmem1 (fsdax) and /dev/ram0 (brd) at their real sizes; a layout striping over the devdax
// and the pmem; a daxdev in famfs mode refused with the mode and the command named, and that
// command bringing it back.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeTier4 } from '../support/tier.js';
import { GiB, repoRoot, runVmOk, vmUnavailable } from '../support/vm.js';

describeTier4('real devices in a stock-7.3 guest', () => vmUnavailable('stock-7.3'), () => {
  it('devdax, fsdax pmem, brd and a two-device layout: every verb, mount, remount, famfs-mode refusal', async () => {
    const r = await runVmOk({
      kernel: 'stock-7.3',
      nvdimms: [6 * GiB, 6 * GiB], // each shows 6 GiB - 128 MiB (label area, alignment)
      ramdisk: 4 * GiB, // brd allocates on write: only what famfs writes is used
      timeoutMs: 1_500_000, // 15 min measured at host load 15-20; a few minutes on an idle 2-core host
      script: readFileSync(`${repoRoot}/test/vm/devices.sh`, 'utf8'),
    }, 'test/vm/devices.sh');
    const out = r.output;
    expect(out).toContain('ALL DONE');
    for (const dev of ['dax0.0', 'pmem1', 'ram0']) {
      for (const step of ['mkfs', 'creat', 'verify', 'cp', 'cat', 'ls', 'mount', 'umount', 'fsck']) {
        expect(out, `${dev} ${step}`).toContain(`OK ${dev} ${step}\n`);
      }
    }
    expect(out).toContain('OK dax0.0 remount');
    expect(out).toContain('OK ram0 size 4294967296');
    // The devdax's real size is what sysfs says, not the NVDIMM's.
    const daxSize = /DEVICE dax0.0 size=(\d+) align=2097152/.exec(out);
    expect(daxSize).not.toBeNull();
    expect(out).toContain(`OK dax0.0 size ${daxSize![1]}`);
    // A stock kernel cannot serve famfs mode: mkfs (bootstrap mount) and ls (temporary mount) say so at INIT.
    expect(out).toMatch(/dax0.0 is in famfs mode \(fsdev_dax, which has no mmap\), which needs a famfs kernel \(INIT chose mainline\); elsewhere famfs-ts maps the device itself and needs devdax mode: daxctl reconfigure-device --mode=devdax dax0.0/);
    expect(out).not.toMatch(/no answer within/);
    expect(out).toContain('OK devdax again');
  }, 1_600_000);
});
