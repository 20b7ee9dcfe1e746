// sched_setaffinity(2) for the calling thread: a FUSE-over-io_uring ring thread that serves
// some CPUs' queues runs on those CPUs (uring-wire.ts planRingThreads), so the request it is
// woken for and the caller it wakes with the reply stay on one CPU.
import koffi from 'koffi';
import os from 'node:os';
import { libc, SysError } from './libc.js';

const setAffinityFn = libc.func('int sched_setaffinity(int pid, size_t cpusetsize, const uint8_t *mask)');

/** Largest CPU number a mask here names (the kernel's CONFIG_NR_CPUS is at most 8192). */
const MAX_CPUS = 8192;

/** Run the calling thread (pid 0: the calling thread, not the process) on `cpus` only. */
export function pinThisThread(cpus: readonly number[]): void {
  if (cpus.length === 0 || cpus.some((c) => !Number.isInteger(c) || c < 0 || c >= MAX_CPUS)) {
    throw new SysError('sched_setaffinity', os.constants.errno.EINVAL, `to cpus ${cpus.join(',')}`);
  }
  const mask = Buffer.alloc(Math.max(128, Math.ceil((Math.max(...cpus) + 1) / 64) * 8));
  for (const c of cpus) mask[c >> 3]! |= 1 << (c & 7);
  if (setAffinityFn(0, mask.length, mask) !== 0) throw new SysError('sched_setaffinity', koffi.errno(), `to cpus ${cpus.join(',')}`);
}
