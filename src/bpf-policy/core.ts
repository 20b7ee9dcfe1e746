// The register contract between a resolver core (per-layout or generic) and the program
// shells around it (bpf-tooling.md §6 "Share one core"). A core reads pos (and nodeid),
// may clobber r0-r8 and the stack below r10-8, never r9 (the shell's ctx or out pointer),
// and ends every path at the shell's `done` label with the status in r0 and, when r0 is
// MAPPED, the answer in r2 (daxdev), r3 (device offset) and r4 (length).
import type { Asm, Reg } from './asm.js';

export const CORE_REG = {
  pos: 'r6',
  nodeid: 'r7',
  keep: 'r9',
  status: 'r0',
  daxdev: 'r2',
  offset: 'r3',
  length: 'r4',
} as const satisfies Record<string, Reg>;

/** Core status in r0; the syscall shell returns it as is (docs/design.md, BPF syscall shell ctx). */
export const STATUS = {
  MAPPED: 0,
  /** pos >= size. */
  EOF: 1,
  /** the generic program has no layout for this nodeid. */
  UNKNOWN_NODEID: 2,
  /** pos is inside the file but no extent covers it (the kernel answers -EIO). */
  HOLE: 3,
} as const;

/** Emits a core into `a`; every path ends by jumping to (or falling into) `done`. */
export interface ResolverCore {
  readonly kind: 'layout' | 'generic';
  /** Whether the core reads CORE_REG.nodeid. */
  readonly needsNodeid: boolean;
  emit(a: Asm, done: string): void;
}
