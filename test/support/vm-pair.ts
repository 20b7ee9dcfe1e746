// Tier 4, two hosts: two guests side by side, each with one NVDIMM backed by the SAME sparse
// /dev/shm file (memory-backend-file share=on: both qemu processes map the same pages, so a
// store by one guest is a load away for the other, as on CXL memory shared by two hosts).
//
// Why a prep boot: the label area of a qemu NVDIMM is the last label-size bytes of its backing
// file, so both guests share it too, but a guest's kernel reads it once, when it probes the
// DIMM at boot. A guest booted before the other one wrote its labels sees no namespace (the
// failure of the first attempt: the client never saw the master's devdax). So a short first
// boot labels the NVDIMM and creates the namespace (by default `vm_namespace 0 devdax`) and
// powers off; then both guests boot and each finds /dev/dax0.0 from the same labels, at the
// same offset (the devdax info block is in the shared memory as well).
//
// The guests coordinate through a writable share both mount at /tmp/pair (9p, no caching: a
// file one guest makes is seen by the other's next lookup). test/vm/two-hosts-lib.sh holds
// the guest side (pair_signal, pair_wait); a guest that exits leaves /tmp/pair/exit-ROLE, so
// the other stops waiting for it at once instead of at its deadline.
import { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GiB, runVm, type KernelName, type VmOptions, type VmResult } from './vm.js';

export interface PairOptions {
  kernel: KernelName;
  /** The shared NVDIMM's size in bytes (multiple of 2 MiB; default 6 GiB: a 5.875 GiB devdax). */
  size?: number;
  /** Run in the prep boot (default: label and create one devdax namespace). */
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
    const common = (role: string, script: string, bound: number): VmOptions => ({
      kernel: o.kernel, nvdimms: [{ size, path: shm }], memMiB: o.memMiB, cpus: o.cpus, timeoutMs: bound,
      env: { ...(o.env ?? {}), ROLE: role },
      shares: [{ hostPath: flagsDir, guestPath: '/tmp/pair' }],
      script: `. "$VM_REPO/test/vm/two-hosts-lib.sh"\n${script}`,
    });
    const prep = await runVm(common('prep', o.prep ?? 'vm_namespace 0 devdax', Math.ceil(timeoutMs / 3)));
    if (prep.status !== 0) return { prep, flags: readFlags(flagsDir), seconds: (Date.now() - started) / 1000 };
    const [master, client] = await Promise.all([
      runVm(common('master', o.master, timeoutMs)),
      runVm(common('client', o.client, timeoutMs)),
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
