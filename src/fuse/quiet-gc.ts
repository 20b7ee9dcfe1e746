// A full collection of one thread's V8 heap at a quiet time (a second after the kernel's
// forgets of a burst, FamfsMount.trimSoon: the main thread, then each serving thread when it
// is idle, told by QUIET_UPDATE, data-plane.ts). The heap a burst of creates grew is given back
// only by a full mark-compact, which an idle server may not run for a long time, and until
// then its pages stay counted in RssAnon (bench/meta-mount/README.md, memory). --expose-gc is
// set at run time and gc() reached through a fresh vm context: nothing else sees it.
import v8 from 'node:v8';
import vm from 'node:vm';
import { mallocTrim } from '../sys/libc.js';

let gcFn: (() => void) | null | undefined;

/** Runs a full collection of the calling thread's heap; false when this Node has no way to (then nothing happened). */
export function fullGc(): boolean {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const f: unknown = vm.runInNewContext('gc');
      gcFn = typeof f === 'function' ? (f as () => void) : null;
    } catch {
      gcFn = null;
    }
  }
  if (!gcFn) return false;
  // Compacting: a burst leaves the old space fragmented (32-40 MiB committed for 22 live
  // after 20,000 creates and forgets), and a plain full GC compacts only the worst pages.
  // Only this collection compacts everything; the flag is put back at once, so the
  // collections V8 runs by itself during a burst stay as they were.
  v8.setFlagsFromString('--compact-on-every-full-gc');
  try {
    gcFn();
  } finally {
    v8.setFlagsFromString('--no-compact-on-every-full-gc');
  }
  return true;
}

/**
 * A thread's quiet time (a serving thread's, and the main thread's after the kernel's
 * forgets, serve.ts trimSoon and shrinkYoungSoon): its heap collected in full, then the C heap's free pages given back (what
 * V8 freed goes back through it too). Failures are logged, never thrown: the thread goes on
 * serving.
 */
export function collectIdleThread(log: (line: string) => void): void {
  try {
    fullGc();
    mallocTrim();
  } catch (e) {
    log(`quiet gc: ${(e as Error).message}`);
  }
}
