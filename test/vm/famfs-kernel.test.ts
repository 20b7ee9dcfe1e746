// Tier 4: famfs-ts on the famfs V10 kernel (../shared/kernels/famfs-v10-7.3) with /dev/dax0.0
// bound to fsdev_dax (famfs mode: no mmap, no read of the device). `mount --abi auto` must
// find famfs from INIT, reach the superblock and log only through .meta files the kernel maps
// (GET_FMAP, GET_DAXDEV) from a thread that is not serving, and the file's bytes must then be
// read, O_DIRECT-read and mmapped by the kernel's DAX path with no READ or WRITE request, by
// the kernel's own count (fuse:fuse_request_send), across a remount.
// Not yet the famfs way (src/server/README.md): mkfs and the file are made by the offline
// verbs in devdax mode before the rebind (famfs formats and creates through the mount), and a
// file created through a famfs-mode mount is refused (EOPNOTSUPP): the V10 kernel sends
// GET_FMAP at OPEN, not for a file it CREATEd, so it WRITEs, and the server cannot reach data.
import { expect, it } from 'vitest';
import { describeTier4 } from '../support/tier.js';
import { GiB, runVm, vmUnavailable, type VmResult } from '../support/vm.js';
import { FAMFS_V10 } from '../../src/mapping/series.js';
import { FUSE_READ, FUSE_WRITE, kernelOpcodes, parseCounts } from './mapping-counts.js';

const KERNEL = 'famfs-v10-7.3';

function explain(r: VmResult): string {
  const f = (n: string) => r.files.get(n)?.toString() ?? '';
  return `status ${r.status}${r.timedOut ? ' (timed out)' : ''}\n--- output\n${r.output.slice(-3000)}\n--- server-1.log\n${f('server-1.log').slice(-3000)}` +
    `\n--- server-2.log\n${f('server-2.log').slice(-2000)}\n--- console\n${r.console.slice(-2500)}`;
}

describeTier4(`famfs-ts on ${KERNEL}, daxdev in famfs mode`, () => vmUnavailable(KERNEL), () => {
  it('auto picks famfs; superblock and log through .meta; read, O_DIRECT and mmap by DAX with no READ/WRITE, twice', async () => {
    const r = await runVm({
      kernel: KERNEL, nvdimms: [6 * GiB], memMiB: 1024, timeoutMs: 900_000,
      script: `
        . "$VM_REPO/test/vm/mapping-workload.sh"
        set -e
        dev=$(vm_namespace 0 devdax)
        head -c 3145729 /dev/urandom > /tmp/src1
        # devdax mode: the offline verbs write the image (msync on devdax is another issue's).
        famfs_ts mkfs --system-uuid /tmp/uuid "$dev" > "$VM_OUT/mkfs" 2>&1 || true
        famfs_ts cp --system-uuid /tmp/uuid /tmp/src1 "$dev:/f1" > "$VM_OUT/cp" 2>&1 || true
        vm_dax_driver dax0.0 fsdev_dax
        MNT=/tmp/m; mkdir -p $MNT
        trace_on
        for n in 1 2; do
          mount_bg $n "$dev" $MNT --abi auto
          vm_bounded 60 cmp /tmp/src1 $MNT/f1
          vm_bounded 60 dd if=$MNT/f1 of=/tmp/direct bs=1M iflag=direct status=none
          vm_bounded 30 cmp -n 3145728 /tmp/src1 /tmp/direct
          vm_bounded 60 node "$VM_REPO/test/vm/mmap-rw.mjs" --same /tmp/src1 $MNT/f1 >> "$VM_OUT/mmap" 2>&1
          # Created through the mount: refused with EOPNOTSUPP, the mount stays up.
          if [ $n = 1 ]; then (echo hello > $MNT/new) 2> "$VM_OUT/create-err" && echo created > "$VM_OUT/create-err"; true; fi
          step "mount-$n"
          umount_wait $n $MNT
          trace_dump $n
        done`,
    });
    const f = (n: string) => r.files.get(n)?.toString() ?? '';
    expect(r.status, explain(r)).toBe(0);
    expect(f('steps').trim().split('\n')).toEqual(['mount-1', 'mount-2']);
    const log = f('server-1.log');
    expect(log).toMatch(/\/dev\/dax0\.0 is in famfs mode \(fsdev_dax\): the server will not map it/);
    expect(log).toMatch(/abi auto: famfs \(kernel 7\.46, .*famfs: minor 46, INIT bit 43 offered without INIT bit 41: chosen\)/);
    expect(log).toMatch(/famfs mode: superblock and \d+-byte log mapped through \/tmp\/m\/\.meta \(GET_FMAP\), not from \/dev\/dax0\.0/);
    expect(f('mmap')).toMatch(/mmap same 3145729 bytes ok/);
    expect(f('create-err')).not.toBe('created\n');
    for (const n of [1, 2]) {
      const k = kernelOpcodes(f(`trace-${n}`));
      expect(k.size, `trace-${n} holds fuse_request_send lines`).toBeGreaterThan(0);
      // The create attempt on mount 1 may WRITE once (refused); reads never go through us.
      expect(k.get(FUSE_READ) ?? 0, `mount ${n}: kernel READs`).toBe(0);
      if (n === 2) expect(k.get(FUSE_WRITE) ?? 0, 'mount 2: kernel WRITEs').toBe(0);
      expect(k.get(FAMFS_V10.opcodes.GET_FMAP) ?? 0).toBeGreaterThanOrEqual(3); // .superblock, .log, f1
      expect(k.get(FAMFS_V10.opcodes.GET_DAXDEV) ?? 0).toBeGreaterThan(0);
      const c = parseCounts(f(`counts-${n}`));
      expect(c.READ ?? 0).toBe(0);
      expect(c.GET_FMAP ?? 0).toBeGreaterThanOrEqual(3);
    }
  }, 1_000_000);
});
