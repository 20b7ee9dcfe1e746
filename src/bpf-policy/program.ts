// A complete resolver program: a core (per-layout or generic) inside a shell, assembled.
import type { FileMap } from '../interleave/filemap.js';
import type { Reg } from './asm.js';
import type { ResolverCore } from './core.js';
import { disassemble } from './disasm.js';
import { genericCore } from './generic-program.js';
import { encode, type Insn } from './isa.js';
import { layoutCore } from './layout-program.js';
import { SHELLS, ShellError, shellBlockSize, wrap, type ShellName, type ShellOptions, type ShellSpec } from './shells.js';
import { iomapAlignmentRefusal } from '../mapping/iomap-wire.js';

export interface BpfProgram {
  /** prog_name for PROG_LOAD (<= 15 chars of [A-Za-z0-9_.], bpf-tooling.md §2.3). */
  readonly name: string;
  readonly kind: ResolverCore['kind'];
  readonly shell: ShellSpec;
  readonly insns: readonly Insn[];
  readonly labels: ReadonlyMap<string, number>;
  /** The map fd a generic program's lddw names. */
  readonly mapFd?: number;
}

function build(core: ResolverCore, shell: ShellName, opts: ShellOptions, name: string, mapFd?: number): BpfProgram {
  const { insns, labels } = wrap(core, shell, opts).assemble();
  return { name, kind: core.kind, shell: SHELLS[shell], insns, labels, ...(mapFd === undefined ? {} : { mapFd }) };
}

/** The per-layout program for one file: constants folded in. */
export function emitLayoutProgram(map: FileMap, shell: ShellName = 'syscall', opts: ShellOptions = {}): BpfProgram {
  if (shell === 'fuse_iomap_bpf_ops') {
    // The iomap shell answers whole blocks; a map whose runs start inside a block cannot be.
    const why = iomapAlignmentRefusal(map, shellBlockSize(opts));
    if (why) throw new ShellError(`fuse_iomap_bpf_ops: ${why}`);
  }
  return build(layoutCore(map), shell, opts, 'famfs_layout');
}

/** The generic program reading layouts from the hash map with fd `mapFd`. */
export function emitGenericProgram(mapFd: number, shell: ShellName = 'syscall', opts: ShellOptions = {}): BpfProgram {
  return build(genericCore(mapFd), shell, opts, 'famfs_generic', mapFd);
}

export function programBytes(p: BpfProgram): Buffer {
  return encode(p.insns);
}

export function programListing(p: BpfProgram): string {
  return `; ${p.name}: ${p.kind} resolver, ${p.shell.name} shell, ${p.insns.length} instructions\n${disassemble(p.insns, p.labels)}`;
}

export type { Reg };
