// Tier 4: famfs-ts on the famfs V10 kernel (../shared/kernels/famfs-v10-7.3) with /dev/dax0.0
// bound to fsdev_dax (famfs mode: no mmap, no read of the device) from the start, the way famfs
// runs there: mkfs through a bootstrap mount whose .meta files the kernel maps; the offline
// verbs (cp, creat -r, mkdir, ls, fsck, verify, getmap) through temporary mounts, their data
// through files of the mount mapped by the kernel; `mount --abi auto` reaches superblock and
// log only through .meta (GET_FMAP, GET_DAXDEV) from a thread that is not serving; files made
// through the mount by `famfs-ts cp`/`creat`/`mkdir` (logged by the CLI through .meta/.log,
// as famfs's CLI does) and listed at once, also in directories the kernel had listed before,
// and a plain open(O_CREAT) refused at CREATE (EOPNOTSUPP, as
// famfs_fused). Every byte is read, written, O_DIRECT-read and mmapped by the kernel's DAX
// path: no READ or WRITE request, by the kernel's own count (fuse:fuse_request_send), in the
// offline phase and across two mounts.
import { expect, it } from 'vitest';
import { describeTier4 } from '../support/tier.js';
import { GiB, runVm, vmUnavailable, type VmResult } from '../support/vm.js';
import { FAMFS_V10 } from '../../src/mapping/series.js';
import { FUSE_READ, FUSE_WRITE, kernelOpcodes, parseCounts } from './mapping-counts.js';

const KERNEL = 'famfs-v10-7.3';

function explain(r: VmResult): string {
  const f = (n: string) => r.files.get(n)?.toString() ?? '';
  const steps = ['mkfs', 'cp', 'verify0', 'ls', 'fsck', 'cp-mnt', 'create-err', 'verify', 'mmap'].map((n) => `--- ${n}\n${f(n).slice(-1500)}`).join('\n');
  return `status ${r.status}${r.timedOut ? ' (timed out)' : ''}\n--- output\n${r.output.slice(-3000)}\n${steps}\n--- server-1.log\n${f('server-1.log').slice(-3000)}` +
    `\n--- server-2.log\n${f('server-2.log').slice(-2000)}\n--- console\n${r.console.slice(-8000)}`;
}

describeTier4(`famfs-ts on ${KERNEL}, daxdev in famfs mode`, () => vmUnavailable(KERNEL), () => {
  it('mkfs and offline verbs through .meta; files made through the mount; read, write, O_DIRECT and mmap by DAX with no READ/WRITE', async () => {
    const r = await runVm({
      kernel: KERNEL, nvdimms: [6 * GiB], memMiB: 2048, timeoutMs: 1_500_000,
      script: `
        . "$VM_REPO/test/vm/mapping-workload.sh"
        set -e
        dev=$(vm_namespace 0 devdax)
        vm_dax_driver dax0.0 fsdev_dax
        echo "DRIVER $(basename "$(readlink /sys/bus/dax/devices/dax0.0/driver)")" > "$VM_OUT/driver"
        head -c 3145729 /dev/urandom > /tmp/src1
        head -c 5000001 /dev/urandom > /tmp/src2
        U="--system-uuid /tmp/uuid"
        trace_on
        # Offline, famfs mode: nothing maps /dev/dax0.0 (fsdev_dax could not).
        vm_bounded 300 node "$VM_REPO/dist/src/cli/main.js" mkfs $U "$dev" > "$VM_OUT/mkfs" 2>&1
        # The other verbs in one long-lived node process (a node start costs 5-20 s here).
        vm_cli_server
        vm_bounded 300 famfs_ts cp $U /tmp/src1 "$dev:/f1" > "$VM_OUT/cp" 2>&1
        vm_bounded 300 famfs_ts mkdir $U "$dev:/d" >> "$VM_OUT/cp" 2>&1
        vm_bounded 300 famfs_ts creat $U -s 4M -r -S 7 "$dev:/d/c0" >> "$VM_OUT/cp" 2>&1
        vm_bounded 300 famfs_ts verify $U -S 7 -f "$dev:/d/c0" > "$VM_OUT/verify0" 2>&1
        vm_bounded 300 famfs_ts ls $U "$dev:/" > "$VM_OUT/ls" 2>&1
        vm_bounded 300 famfs_ts fsck $U "$dev" > "$VM_OUT/fsck" 2>&1
        echo offline >> "$VM_OUT/steps"
        trace_dump 0
        MNT=/tmp/m; mkdir -p $MNT
        for n in 1 2; do
          mount_bg $n "$dev" $MNT --abi auto
          vm_bounded 60 cmp /tmp/src1 $MNT/f1
          vm_bounded 60 dd if=$MNT/f1 of=/tmp/direct bs=1M iflag=direct status=none
          vm_bounded 30 cmp -n 3145728 /tmp/src1 /tmp/direct
          vm_bounded 60 node "$VM_REPO/test/vm/mmap-rw.mjs" --same /tmp/src1 $MNT/f1 >> "$VM_OUT/mmap" 2>&1
          if [ $n = 1 ]; then
            # Listed first, so the kernel holds the listings the CLI's files change behind it.
            ls -a $MNT $MNT/d > "$VM_OUT/ls-before" 2>&1
            # Through the mount: the CLI logs through .meta/.log, the kernel writes the bytes.
            vm_bounded 300 famfs_ts cp $U /tmp/src2 $MNT/d/f2 > "$VM_OUT/cp-mnt" 2>&1
            vm_bounded 300 famfs_ts mkdir $U $MNT/e >> "$VM_OUT/cp-mnt" 2>&1
            vm_bounded 300 famfs_ts creat $U -s 2M -r -S 9 $MNT/e/c1 >> "$VM_OUT/cp-mnt" 2>&1
            vm_bounded 300 famfs_ts creat $U -s 4M $MNT/m1 >> "$VM_OUT/cp-mnt" 2>&1
            vm_bounded 120 node "$VM_REPO/test/vm/mmap-rw.mjs" $MNT/m1 >> "$VM_OUT/mmap" 2>&1
            ls -a $MNT $MNT/d > "$VM_OUT/ls-after" 2>&1
          else
            vm_bounded 120 node "$VM_REPO/test/vm/mmap-rw.mjs" --check $MNT/m1 >> "$VM_OUT/mmap" 2>&1
            # A plain create: refused at CREATE, nothing written, the mount stays up.
            (echo hello > $MNT/new) 2> "$VM_OUT/create-err" && echo created > "$VM_OUT/create-err"
            [ ! -e $MNT/new ]
          fi
          vm_bounded 60 cmp /tmp/src2 $MNT/d/f2
          vm_bounded 300 famfs_ts verify $U -S 7 -f $MNT/d/c0 >> "$VM_OUT/verify" 2>&1
          vm_bounded 300 famfs_ts verify $U -S 9 -f $MNT/e/c1 >> "$VM_OUT/verify" 2>&1
          vm_bounded 60 famfs_ts getmap $MNT/d/f2 > "$VM_OUT/getmap-$n" 2>&1
          step "mount-$n"
          umount_wait $n $MNT
          trace_dump $n
        done`,
    });
    const f = (n: string) => r.files.get(n)?.toString() ?? '';
    expect(r.status, explain(r)).toBe(0);
    expect(f('driver')).toMatch(/DRIVER fsdev_dax/);
    expect(f('steps').trim().split('\n')).toEqual(['offline', 'mount-1', 'mount-2']);
    expect(f('mkfs'), f('mkfs')).toMatch(/devsize: \d+\n[^]*role of this node: Owner/);
    expect(f('ls').trim().split('\n').sort()).toEqual(['d', 'f1']);
    expect(f('fsck')).toMatch(/ 2 files/);
    const log = f('server-1.log');
    expect(log).toMatch(/\/dev\/dax0\.0 is in famfs mode \(fsdev_dax\): the server will not map it/);
    expect(log).toMatch(/abi auto: famfs \(kernel 7\.46, .*famfs: minor 46, INIT bit 43 offered without INIT bit 41: chosen\)/);
    expect(log).toMatch(/famfs mode: superblock and \d+-byte log mapped through \/tmp\/m\/\.meta \(GET_FMAP\), not from \/dev\/dax0\.0/);
    // Refused before any byte: by the server at CREATE (EOPNOTSUPP, a log line), or by the
    // kernel itself without sending CREATE (what famfs-v10-7.3 was seen to do); never a WRITE.
    expect(f('create-err')).not.toBe('created\n');
    expect(f('create-err').trim().length, 'the shell reported the refused create').toBeGreaterThan(0);
    if (/CREATE \d+/.test(f('counts-1'))) expect(log).toMatch(/create \/new: refused in famfs mode/);
    expect(f('mmap')).toMatch(/mmap same 3145729 bytes ok/);
    expect(f('mmap')).toMatch(/mmap write\+read 4194304 bytes ok/);
    expect(f('mmap')).toMatch(/mmap check 4194304 bytes ok/);
    expect(f('getmap-2')).toMatch(/f2/);
    // Names the CLI logged through .meta/.log show in the next listing, also of a directory
    // the kernel had listed (and kept) before: the replay drops its listing (INVAL_INODE).
    expect(f('ls-before').split(/\s+/)).not.toContain('f2');
    expect(f('ls-after').split(/\s+/)).toEqual(expect.arrayContaining(['e', 'm1', 'f1', 'c0', 'f2']));
    // The offline phase (mkfs's bootstrap mount and the temporary mounts) and both mounts.
    for (const n of [0, 1, 2]) {
      const k = kernelOpcodes(f(`trace-${n}`));
      expect(k.size, `trace-${n} holds fuse_request_send lines`).toBeGreaterThan(0);
      expect(k.get(FUSE_READ) ?? 0, `phase ${n}: kernel READs`).toBe(0);
      expect(k.get(FUSE_WRITE) ?? 0, `phase ${n}: kernel WRITEs`).toBe(0);
      expect(k.get(FAMFS_V10.opcodes.GET_FMAP) ?? 0).toBeGreaterThanOrEqual(3); // .superblock, .log, a file
      expect(k.get(FAMFS_V10.opcodes.GET_DAXDEV) ?? 0).toBeGreaterThan(0);
    }
    for (const n of [1, 2]) {
      const c = parseCounts(f(`counts-${n}`));
      expect(c.READ ?? 0).toBe(0);
      expect(c.WRITE ?? 0).toBe(0);
      expect(c.GET_FMAP ?? 0).toBeGreaterThanOrEqual(3);
    }
  }, 1_600_000);
});
