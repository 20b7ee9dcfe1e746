// Tier 4, two hosts: two guests side by side, each with one NVDIMM backed by the SAME sparse
// /dev/shm file (memory-backend-file share=on: both qemu processes map the same pages, so a
// store by one guest is a load away for the other, as on CXL memory shared by two hosts).
//
// Why a prep boot: the label area of a qemu NVDIMM is the last label-size bytes of its backing
// file, so both guests share it too, but a guest's kernel reads it once, when it probes the
// DIMM at boot. A guest booted before the other one wrote its labels sees no namespace (the
// failure of the first attempt: the client never saw the master's devdax). So a short first
// boot labels the NVDIMM and creates the namespace (PREP_DEVDAX, --map=mem: see there) and
// powers off; then both guests boot and each finds /dev/dax0.0 from the same labels, at the
// same offset (the devdax info block is in the shared memory as well).
//
// The guests coordinate through a writable share both mount at /tmp/pair (9p, no caching: a
// file one guest makes is seen by the other's next lookup). test/vm/two-hosts-lib.sh holds
// the guest side (pair_signal, pair_wait); a guest that exits leaves /tmp/pair/exit-ROLE, so
// the other stops waiting for it at once instead of at its deadline.
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GiB, runVm, type KernelName, type VmOptions, type VmResult } from './vm.js';

export interface PairOptions {
  /** The kernel of both guests (and of the prep boot), unless one is given per role. */
  kernel: KernelName;
  /** Two hosts need not run the same kernel: e.g. a stock master, a famfs-kernel client. */
  masterKernel?: KernelName;
  clientKernel?: KernelName;
  /** The shared NVDIMM's size in bytes (multiple of 2 MiB; default 6 GiB: a devdax of 6 GiB - 128 MiB or so). */
  size?: number;
  /** Run in the prep boot (default PREP_DEVDAX: one devdax namespace, struct pages in RAM). */
  prep?: string;
  /** Bash for each guest; both source test/vm/two-hosts-lib.sh first (ROLE is master / client). */
  master: string;
  client: string;
  /** Bound on each guest (host side), default 900 s; the prep boot gets a third of it. */
  timeoutMs?: number;
  memMiB?: number;
  cpus?: number;
  env?: Record<string, string>;
}

/**
 * The default prep: label the NVDIMM, one 2 MiB-aligned devdax namespace over all of it, with
 * its struct pages in each kernel's own RAM (--map=mem). The default, --map=dev, keeps them in
 * the namespace itself, i.e. in the memory both guests share: each kernel then writes its page
 * refcounts and folio heads over the other's. Seen: with the client rebinding its dax0.0 to
 * fsdev_dax, the master's kernel warned in vmf_insert_folio_pmd (dev_dax_huge_fault) at its
 * first write through the devdax mapping and oopsed in folio_mark_dirty when the process exited.
 */
export const PREP_DEVDAX = `
  ndctl disable-region region0 >/dev/null && ndctl init-labels -f nmem0 >/dev/null && ndctl enable-region region0 >/dev/null || exit 1
  ndctl create-namespace -r region0 --mode=devdax --map=mem --align=2M || exit 1`;

export interface PairResult {
  prep: VmResult;
  /** Undefined when the prep boot failed (then no pair was booted). */
  master?: VmResult;
  client?: VmResult;
  /** The flag files the guests left in the share, by name (contents as text). */
  flags: Map<string, string>;
  seconds: number;
}

// The shared backing files this process made: removed at exit even when a run is abandoned.
const liveShm = new Set<string>();
process.once('exit', () => {
  for (const f of liveShm) try { unlinkSync(f); } catch { /* already gone */ }
});

export async function runVmPair(o: PairOptions): Promise<PairResult> {
  const size = o.size ?? 6 * GiB;
  const started = Date.now();
  const flagsDir = mkdtempSync(join(tmpdir(), 'famfs-ts-pair-'));
  const shm = `/dev/shm/famfs-ts-pair-${process.pid}-${flagsDir.slice(-6)}`;
  liveShm.add(shm);
  try {
    const fd = openSync(shm, 'wx', 0o600);
    try { ftruncateSync(fd, size); } finally { closeSync(fd); }
    const timeoutMs = o.timeoutMs ?? 900_000;
    const common = (role: string, script: string, bound: number, kernel: KernelName): VmOptions => ({
      kernel, nvdimms: [{ size, path: shm }], memMiB: o.memMiB, cpus: o.cpus, timeoutMs: bound,
      env: { ...(o.env ?? {}), ROLE: role },
      shares: [{ hostPath: flagsDir, guestPath: '/tmp/pair' }],
      script: `. "$VM_REPO/test/vm/two-hosts-lib.sh"\n${script}`,
    });
    const prep = await runVm(common('prep', o.prep ?? PREP_DEVDAX, Math.ceil(timeoutMs / 3), o.masterKernel ?? o.kernel));
    if (prep.status !== 0) return { prep, flags: readFlags(flagsDir), seconds: (Date.now() - started) / 1000 };
    // A guest that never ran its script's exit trap (a kernel panic, the deadline) is marked
    // gone by the host, so the other one stops waiting for it.
    const guest = async (role: 'master' | 'client', script: string, kernel: KernelName): Promise<VmResult> => {
      const r = await runVm(common(role, script, timeoutMs, kernel));
      const flag = join(flagsDir, `exit-${role}`);
      if (!existsSync(flag)) writeFileSync(flag, `gone: ${r.timedOut ? 'timed out' : r.status === null ? 'never finished (panic?)' : `status ${r.status}`}\n`);
      return r;
    };
    const [master, client] = await Promise.all([
      guest('master', o.master, o.masterKernel ?? o.kernel),
      guest('client', o.client, o.clientKernel ?? o.kernel),
    ]);
    return { prep, master, client, flags: readFlags(flagsDir), seconds: (Date.now() - started) / 1000 };
  } finally {
    try { unlinkSync(shm); } catch { /* never made */ }
    liveShm.delete(shm);
    rmSync(flagsDir, { recursive: true, force: true });
  }
}

function readFlags(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const n of readdirSync(dir)) {
    try { m.set(n, readFileSync(join(dir, n), 'utf8')); } catch { /* a directory */ }
  }
  return m;
}

/** Everything needed to see why a pair run failed: each guest's status, output and console tails. */
export function explainPair(r: PairResult): string {
  const tail = (s: string, n: number): string => s.trimEnd().split('\n').slice(-n).join('\n');
  const one = (name: string, v: VmResult | undefined): string => v === undefined ? `${name}: not booted` :
    `${name}: status ${v.status}${v.timedOut ? ' (timed out)' : ''} in ${v.seconds.toFixed(0)} s` +
    (v.keptDir ? ` (kept in ${v.keptDir})` : '') +
    `\n--- ${name} output\n${tail(v.output, 40)}\n--- ${name} console\n${tail(v.console, 12)}` +
    [...v.files.entries()].filter(([n]) => n.endsWith('.log')).map(([n, b]) => `\n--- ${name} ${n}\n${tail(b.toString(), 15)}`).join('');
  return [one('prep', r.prep), one('master', r.master), one('client', r.client),
    `flags: ${[...r.flags.keys()].sort().join(' ')}`].join('\n');
}
