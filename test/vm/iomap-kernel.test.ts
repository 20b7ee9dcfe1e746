// Tier 4: famfs-ts on the fuse-iomap kernel (../shared/kernels/fuse-iomap-7.3) with its
// experiment knobs off: `--abi auto` must find iomap (IOMAP_SUPPORT before INIT, minor 99,
// INIT bit 44), register the device with FUSE_DEV_IOC_BACKING_OPEN, mark files
// FUSE_ATTR_IOMAP | FUSE_ATTR_EXCLUSIVE, and then every byte of the workload
// (test/vm/mapping-workload.sh: cp in, cmp out, FIEMAP, O_DIRECT, mmap read/write, fio
// --verify, remount) goes between the page cache and /dev/ram0 with no READ or WRITE upcall.
// With --bpf the fuse_iomap_bpf_ops resolver is registered and answers mappings itself.
import { expect, it } from 'vitest';
import { describeTier4 } from '../support/tier.js';
import { runVm, vmUnavailable, type VmResult } from '../support/vm.js';
import { FUSE_READ, FUSE_WRITE, kernelOpcodes, parseCounts } from './mapping-counts.js';
import { IOMAP_73 } from '../../src/mapping/series.js';

const KERNEL = 'fuse-iomap-7.3';
const STEPS = ['mounted', 'cp-cmp', 'fiemap', 'odirect', 'mmap', 'fio', 'remount-cmp', 'done'];

async function workload(extra: string, before = ''): Promise<VmResult> {
  return runVm({
    kernel: KERNEL, ramdisk: '128M', memMiB: 1024, timeoutMs: 900_000,
    script: `
      . "$VM_REPO/test/vm/mapping-workload.sh"
      ${before}
      famfs_ts mkfs --small --system-uuid /tmp/uuid /dev/ram0 > "$VM_OUT/mkfs" 2>&1 || { cat "$VM_OUT/mkfs"; exit 2; }
      mapping_workload /dev/ram0 /tmp/m --abi auto ${extra}`,
  });
}

/** Lines of one tracepoint in a trace dump (the kernel's own count). */
const traced = (dump: string, event: string): number => dump.split('\n').filter((l) => l.includes(` ${event}:`)).length;

function explain(r: VmResult): string {
  const f = (n: string) => r.files.get(n)?.toString() ?? '';
  return `status ${r.status}${r.timedOut ? ' (timed out)' : ''}\n--- output\n${r.output.slice(-3000)}\n--- server-1.log\n${f('server-1.log').slice(-3000)}` +
    `\n--- server-2.log\n${f('server-2.log').slice(-2000)}\n--- console\n${r.console.slice(-2500)}`;
}

describeTier4(`famfs-ts on ${KERNEL}`, () => vmUnavailable(KERNEL), () => {
  it('auto picks iomap; BACKING_OPEN; cp, cmp, FIEMAP, O_DIRECT, mmap, fio --verify and remount with no READ/WRITE upcall', async () => {
    const r = await workload('');
    const f = (n: string) => r.files.get(n)?.toString() ?? '';
    expect(r.status, explain(r)).toBe(0);
    expect(f('steps').trim().split('\n')).toEqual(STEPS);
    const log = f('server-1.log');
    expect(log).toMatch(/abi auto: iomap \(kernel 7\.99, flags 0x[0-9a-f]+, IOMAP_SUPPORT 0x3; iomap: .*chosen\)/);
    expect(log).toMatch(/iomap: daxdev 0 \(\/dev\/ram0\) registered with FUSE_DEV_IOC_BACKING_OPEN as device \d+/);
    expect(f('filefrag')).not.toMatch(/status 124/);
    for (const n of [1, 2]) {
      // The kernel's count (fuse:fuse_request_send): no READ or WRITE request at all.
      const k = kernelOpcodes(f(`trace-${n}`));
      expect(k.size, `trace-${n} holds fuse_request_send lines`).toBeGreaterThan(0);
      expect(k.get(FUSE_READ) ?? 0).toBe(0);
      expect(k.get(FUSE_WRITE) ?? 0).toBe(0);
      expect(k.get(IOMAP_73.opcodes.IOMAP_BEGIN) ?? 0).toBeGreaterThan(0);
      const c = parseCounts(f(`counts-${n}`));
      expect(c.READ ?? 0, `mount ${n}: ${f(`counts-${n}`)}`).toBe(0);
      expect(c.WRITE ?? 0, `mount ${n}: ${f(`counts-${n}`)}`).toBe(0);
      expect(c.IOMAP_BEGIN ?? 0, `mount ${n}: ${f(`counts-${n}`)}`).toBeGreaterThan(0);
    }
  }, 1_000_000);

  it('mount --bpf registers fuse_iomap_bpf_ops and the resolver answers mappings in the kernel', async () => {
    // bpf verify --generic in that shell finds kfunc fuse_bpf_inode_nodeid in this kernel's BTF.
    const r = await workload('--bpf', 'famfs_ts bpf verify --generic --shell fuse_iomap_bpf_ops > "$VM_OUT/verify" 2>&1 || echo "status $?" >> "$VM_OUT/verify"');
    const f = (n: string) => r.files.get(n)?.toString() ?? '';
    expect(r.status, explain(r)).toBe(0);
    expect(f('verify')).toMatch(/famfs_generic \(generic, fuse_iomap_bpf_ops shell\): verifier accepted/);
    expect(f('steps').trim().split('\n')).toEqual(STEPS);
    expect(f('server-1.log')).toMatch(/bpf: fuse_iomap_bpf_ops resolver registered/);
    // The kernel's tracepoint fires on each call of the resolver (it does not show the
    // answer); the IOMAP_BEGIN upcalls are what it did not answer.
    const hits = traced(f('trace-1'), 'fuse_iomap_begin_bpf');
    const k = kernelOpcodes(f('trace-1'));
    expect(k.get(FUSE_READ) ?? 0).toBe(0);
    expect(k.get(FUSE_WRITE) ?? 0).toBe(0);
    expect(hits, explain(r)).toBeGreaterThan(0);
    const c = parseCounts(f('counts-1'));
    expect(c.READ ?? 0).toBe(0);
    expect(c.WRITE ?? 0).toBe(0);
    // Far fewer upcalls than resolver calls: the resolver answered the rest (one run: 6 vs 5,417).
    expect((k.get(IOMAP_73.opcodes.IOMAP_BEGIN) ?? 0) * 10).toBeLessThan(hits);
  }, 1_000_000);
});
