// Program shells: the same resolver core wrapped for each way a kernel can run it
// (bpf-tooling.md §6; fuse-iomap-abi.md §4). Each shell moves its inputs into the core's
// registers (core.ts) and stores the answer where its caller looks for it.
import { IOMAP_TYPE, iomapBeginOut, iomapIo as FuseIomapIo } from '../mapping/iomap-wire.js';
import { Asm } from './asm.js';
import { CORE_REG, STATUS, type ResolverCore } from './core.js';
import { defineStruct } from '../cstruct.js';
import { InvalidError } from '../errno.js';

import type { ShellName } from './shell-names.js';
export { SHELL_NAMES, type ShellName } from './shell-names.js';

/** BPF_PROG_TYPE_* values used here (bpf-tooling.md §2.3). */
export const PROG_TYPE = { STRUCT_OPS: 27, SYSCALL: 31 } as const;

export interface ShellSpec {
  readonly name: ShellName;
  readonly progType: number;
  /** BPF_F_SLEEPABLE: syscall programs must be (bpf-tooling.md §1.6). */
  readonly sleepable: boolean;
  /** struct_ops shells: the kernel struct and member the program implements. */
  readonly structOps?: { readonly type: string; readonly member: string };
  /** ELF section name libbpf expects (bpf-tooling.md §2.1). */
  readonly section: string;
  readonly license: string;
}

export const SHELLS: Record<ShellName, ShellSpec> = {
  syscall: { name: 'syscall', progType: PROG_TYPE.SYSCALL, sleepable: true, section: 'syscall', license: 'GPL' },
  fuse_bpf_ops: {
    name: 'fuse_bpf_ops', progType: PROG_TYPE.STRUCT_OPS, sleepable: false,
    structOps: { type: 'fuse_bpf_ops', member: 'iomap_begin' }, section: 'struct_ops/iomap_begin', license: 'GPL',
  },
  fuse_iomap_bpf_ops: {
    name: 'fuse_iomap_bpf_ops', progType: PROG_TYPE.STRUCT_OPS, sleepable: false,
    structOps: { type: 'fuse_iomap_bpf_ops', member: 'iomap_begin' }, section: 'struct_ops/iomap_begin', license: 'GPL',
  },
  bpf_dummy_ops: {
    name: 'bpf_dummy_ops', progType: PROG_TYPE.STRUCT_OPS, sleepable: false,
    structOps: { type: 'bpf_dummy_ops', member: 'test_2' }, section: 'struct_ops/test_2', license: 'GPL',
  },
};

/** The syscall shell's ctx (docs/design.md "BPF syscall shell ctx"): pos and nodeid in, the rest out. */
export const SyscallCtx = defineStruct('famfs_ts_bpf_ctx', 40, [
  { name: 'pos', offset: 0, type: 'u64big' },
  { name: 'daxdev', offset: 8, type: 'u64big' },
  { name: 'offset', offset: 16, type: 'u64big' },
  { name: 'length', offset: 24, type: 'u64big' },
  { name: 'nodeid', offset: 32, type: 'u64big' },
] as const);

/**
 * Joanne Koong's `fuse_iomap_io` (fuse-iomap-abi.md §4.1): Darrick's 32-byte struct
 * (fuse-iomap-abi.md §1.2) plus `u64 id` at 32, the index into the connection's dax devices.
 * Darrick's fields are nested whole (`io`), so they are declared once, in the wire module.
 */
export const JoanneIomapIo = defineStruct('fuse_iomap_io(joanne)', 40, [
  { name: 'io', offset: 0, type: { struct: FuseIomapIo } },
  { name: 'id', offset: 32, type: 'u64big' },
] as const);

/** `struct fuse_iomap_io` (fuse-iomap-abi.md §1.2), 32 bytes: declared once, in the wire module. */
export { FuseIomapIo };

/** `struct fuse_iomap_begin_out`: read slot at 0, write slot at 32 (fuse-iomap-abi.md §1.2). */
export const FUSE_IOMAP_BEGIN_OUT_SIZE = iomapBeginOut.size;
/** The iomap mapping types, as the wire module declares them (fuse-iomap-abi.md §1.2). */
export { IOMAP_TYPE };
/** Darrick's enum fuse_iomap_bpf_ret (fuse-iomap-abi.md §4.2). */
export const FIB = { FALLBACK: 0, HANDLED: 1 } as const;
/** Errnos Joanne's iomap_begin returns (negative): no layout -> ENOENT, EOF or hole -> EIO. */
export const ERRNO = { ENOENT: 2, EIO: 5, EINVAL: 22 } as const;

/** bpf_dummy_ops.test_2 modes (arg a1): what the 32-bit retval and state->val carry. */
export const DUMMY_MODE = { STATUS_DAXDEV: 0, OFFSET: 1, LENGTH: 2, DIGEST: 3 } as const;
/**
 * DIGEST mode answers DUMMY_BATCH positions pos + j*stride (stride in the a3 slot) in one
 * test-run, folded by answerDigest(): struct_ops test-runs build a trampoline each call
 * (about 1 ms), so batching is what makes 10,000 checked positions affordable.
 */
export const DUMMY_BATCH = 32;
export const DIGEST_MUL = 1000003;

/** The fold DIGEST mode computes; a non-mapped answer folds (0x10000 + status, 0, 0). */
export function answerDigest(h: bigint, a: { status: number; daxdev?: bigint; offset?: bigint; length?: bigint }): bigint {
  const M = (1n << 64n) - 1n;
  const mul = BigInt(DIGEST_MUL);
  const [d, o, l] = a.status === STATUS.MAPPED ? [a.daxdev!, a.offset!, a.length!] : [0x10000n + BigInt(a.status), 0n, 0n];
  h = (h * mul + d) & M;
  h = (h * mul + o) & M;
  return (h * mul + l) & M;
}

export interface ShellOptions {
  /** fuse_iomap_bpf_ops + generic core: BTF id of kfunc fuse_bpf_inode_nodeid (fuse-iomap-abi.md §4.2). */
  readonly nodeidKfunc?: number;
  /** fuse_iomap_bpf_ops: device cookie = daxdev + this (cookie 0 is FUSE_IOMAP_DEV_NULL). */
  readonly devCookieBase?: number;
  /**
   * fuse_iomap_bpf_ops: the i_blocksize the server announced (IOMAP_CONFIG; default 4096).
   * The kernel checks a BPF answer as it checks an upcall reply: offset, length and address
   * whole blocks, else EUCLEAN (fuse-iomap-abi.md errata).
   */
  readonly blockSize?: number;
}

/** The block size of ShellOptions, checked (a power of two the s32 immediates can carry). */
export function shellBlockSize(opts: ShellOptions): number {
  const bs = opts.blockSize ?? 4096;
  if (!Number.isInteger(bs) || bs < 512 || bs > 2 ** 30 || (bs & (bs - 1)) !== 0) {
    throw new ShellError(`block size ${bs} is not a power of two between 512 and 1 GiB`);
  }
  return bs;
}

export class ShellError extends InvalidError {}

/** Wrap `core` in `shell`; returns the assembler holding the whole program. */
export function wrap(core: ResolverCore, shell: ShellName, opts: ShellOptions = {}): Asm {
  const a = new Asm();
  SHELL_EMITTERS[shell](a, core, opts);
  return a;
}

/** Each shell's entry and exit around the core, one function a shell. */
const SHELL_EMITTERS: Record<ShellName, (a: Asm, core: ResolverCore, opts: ShellOptions) => void> = {
  syscall: syscallShell,
  fuse_bpf_ops: joanneIomapShell,
  fuse_iomap_bpf_ops: iomapShell,
  bpf_dummy_ops: dummyOpsShell,
};

/** BPF_PROG_TYPE_SYSCALL: ctx is famfs_ts_bpf_ctx; the answer is written back into it. */
function syscallShell(a: Asm, core: ResolverCore): void {
  const done = 'done';
  const { pos, nodeid, keep } = CORE_REG;
  a.mov(keep, 'r1');
  a.ldx('dw', pos, 'r1', SyscallCtx.offsetOf('pos'));
  if (core.needsNodeid) a.ldx('dw', nodeid, 'r1', SyscallCtx.offsetOf('nodeid'));
  core.emit(a, done);
  a.label(done);
  a.jmp('jne', 'r0', STATUS.MAPPED, 'out');
  a.stx('dw', keep, SyscallCtx.offsetOf('daxdev'), CORE_REG.daxdev);
  a.stx('dw', keep, SyscallCtx.offsetOf('offset'), CORE_REG.offset);
  a.stx('dw', keep, SyscallCtx.offsetOf('length'), CORE_REG.length);
  a.label('out');
  a.exit();
}

/** Joanne Koong's fuse_bpf_ops.iomap_begin: fills her fuse_iomap_io, errnos for no answer. */
function joanneIomapShell(a: Asm, core: ResolverCore): void {
  const done = 'done';
  const { pos, nodeid, keep } = CORE_REG;
  // iomap_begin(u64 nodeid, loff_t pos, loff_t length, unsigned flags, fuse_iomap_io *out__nullable):
  // arguments are a u64 array (bpf_tracing_btf_ctx_access).
  a.ldx('dw', keep, 'r1', 4 * 8);
  a.ldx('dw', pos, 'r1', 1 * 8);
  if (core.needsNodeid) a.ldx('dw', nodeid, 'r1', 0);
  a.mov('r0', -ERRNO.EINVAL);
  a.jmp('jeq', keep, 0, 'out');
  core.emit(a, done);
  a.label(done);
  a.jmp('jne', 'r0', STATUS.MAPPED, 'fail');
  const io = JoanneIomapIo.offsetOf('io');
  a.stx('dw', keep, io + FuseIomapIo.offsetOf('offset'), pos);
  a.stx('dw', keep, io + FuseIomapIo.offsetOf('length'), CORE_REG.length);
  a.stx('dw', keep, io + FuseIomapIo.offsetOf('addr'), CORE_REG.offset);
  a.st('h', keep, io + FuseIomapIo.offsetOf('type'), IOMAP_TYPE.MAPPED);
  a.st('h', keep, io + FuseIomapIo.offsetOf('flags'), 0);
  a.st('w', keep, io + FuseIomapIo.offsetOf('dev'), 0);
  a.stx('dw', keep, JoanneIomapIo.offsetOf('id'), CORE_REG.daxdev);
  a.exit();
  a.label('fail');
  a.mov('r1', 'r0');
  a.mov('r0', -ERRNO.EIO);
  a.jmp('jne', 'r1', STATUS.UNKNOWN_NODEID, 'out');
  a.mov('r0', -ERRNO.ENOENT);
  a.label('out');
  a.exit();
}

/** Darrick Wong's fuse_iomap_bpf_ops.iomap_begin: fills fuse_iomap_begin_out, or falls back to the upcall. */
function iomapShell(a: Asm, core: ResolverCore, opts: ShellOptions): void {
  const done = 'done';
  const { pos, nodeid, keep } = CORE_REG;
  // iomap_begin(fuse_bpf_inode *fbi, u64 pos, u64 count, u32 opflags, fuse_iomap_begin_out *outarg)
  // The answer starts at pos rounded down to a block and covers whole blocks: the core
  // resolves the block's first byte, the length is rounded up (the partial last block of
  // a file lies inside its 2 MiB-aligned allocation). Only block-aligned maps are fed to
  // this shell (iomapAlignmentRefusal), so the block never straddles two runs.
  const bs = shellBlockSize(opts);
  a.ldx('dw', keep, 'r1', 4 * 8);
  a.ldx('dw', pos, 'r1', 1 * 8);
  a.and(pos, -bs);
  if (core.needsNodeid) {
    if (opts.nodeidKfunc === undefined) {
      throw new ShellError('the generic program in the fuse_iomap_bpf_ops shell needs the BTF id of kfunc fuse_bpf_inode_nodeid, which this kernel does not have');
    }
    a.ldx('dw', 'r1', 'r1', 0);
    a.callKfunc(opts.nodeidKfunc);
    a.mov(nodeid, 'r0');
  }
  a.mov('r0', FIB.FALLBACK);
  a.jmp('jeq', keep, 0, 'out');
  core.emit(a, done);
  a.label(done);
  a.jmp('jne', 'r0', STATUS.MAPPED, 'fallback');
  a.add(CORE_REG.length, bs - 1);
  a.and(CORE_REG.length, -bs);
  const w = iomapBeginOut.offsetOf('write');
  a.stx('dw', keep, FuseIomapIo.offsetOf('offset'), pos);
  a.stx('dw', keep, FuseIomapIo.offsetOf('length'), CORE_REG.length);
  a.stx('dw', keep, FuseIomapIo.offsetOf('addr'), CORE_REG.offset);
  a.st('h', keep, FuseIomapIo.offsetOf('type'), IOMAP_TYPE.MAPPED);
  a.st('h', keep, FuseIomapIo.offsetOf('flags'), 0);
  a.add(CORE_REG.daxdev, opts.devCookieBase ?? 1);
  a.stx('w', keep, FuseIomapIo.offsetOf('dev'), CORE_REG.daxdev);
  // famfs files are overwritten in place: writes use the read mapping (fuse-iomap-abi.md §1.3).
  a.stx('dw', keep, w + FuseIomapIo.offsetOf('offset'), pos);
  a.stx('dw', keep, w + FuseIomapIo.offsetOf('length'), CORE_REG.length);
  a.st('dw', keep, w + FuseIomapIo.offsetOf('addr'), -1);
  a.st('h', keep, w + FuseIomapIo.offsetOf('type'), IOMAP_TYPE.PURE_OVERWRITE);
  a.st('h', keep, w + FuseIomapIo.offsetOf('flags'), 0);
  a.st('w', keep, w + FuseIomapIo.offsetOf('dev'), 0);
  a.mov('r0', FIB.HANDLED);
  a.exit();
  a.label('fallback');
  a.mov('r0', FIB.FALLBACK);
  a.label('out');
  a.exit();
}

/** bpf_dummy_ops.test_2, for test-runs on kernels without a fuse struct_ops: one answer, or a DIGEST of a batch. */
function dummyOpsShell(a: Asm, core: ResolverCore): void {
  const done = 'done';
  const { pos, nodeid, keep } = CORE_REG;
  // test_2(struct bpf_dummy_ops_state *cb__nullable, int a1, unsigned short a2, char a3,
  // unsigned long a4): a1 = mode, a2 = nodeid, a3 = stride (DIGEST), a4 = pos. The answer
  // comes back 32 bits in the return value and 32 bits in state->val (bpf-tooling.md §5.9). Test-run
  // passes each argument as a full u64 slot.
  const MODE = -16, HASH = -24, J = -32, STRIDE = -40, POS0 = -48;
  a.ldx('dw', keep, 'r1', 0);
  a.ldx('dw', 'r2', 'r1', 1 * 8);
  a.stx('dw', 'r10', MODE, 'r2');
  a.ldx('dw', 'r2', 'r1', 3 * 8);
  a.stx('dw', 'r10', STRIDE, 'r2');
  a.ldx('dw', pos, 'r1', 4 * 8);
  if (core.needsNodeid) {
    a.ldx('dw', nodeid, 'r1', 2 * 8);
    a.and(nodeid, 0xffff);
  }
  a.mov('r0', -1);
  a.jmp('jeq', keep, 0, 'out');
  a.ldx('dw', 'r1', 'r10', MODE);
  a.jmp('jeq', 'r1', DUMMY_MODE.DIGEST, 'batch');
  core.emit(a, done);
  a.label(done);
  a.jmp('jne', 'r0', STATUS.MAPPED, 'nomap');
  a.ldx('dw', 'r1', 'r10', MODE);
  a.jmp('jeq', 'r1', DUMMY_MODE.OFFSET, 'm_offset');
  a.jmp('jeq', 'r1', DUMMY_MODE.LENGTH, 'm_length');
  a.stx('w', keep, 0, CORE_REG.daxdev);
  a.exit();
  a.label('m_offset');
  a.mov('r0', CORE_REG.offset);
  a.rsh(CORE_REG.offset, 32);
  a.stx('w', keep, 0, CORE_REG.offset);
  a.exit();
  a.label('m_length');
  a.mov('r0', CORE_REG.length);
  a.rsh(CORE_REG.length, 32);
  a.stx('w', keep, 0, CORE_REG.length);
  a.exit();
  a.label('nomap');
  a.st('w', keep, 0, 0);
  a.exit();
  // DIGEST: a bounded loop (the verifier walks its DUMMY_BATCH iterations) around a
  // second copy of the core; the loop state lives on the stack.
  a.label('batch');
  a.stx('dw', 'r10', POS0, pos);
  if (core.needsNodeid) a.stx('dw', 'r10', -8, nodeid); // where the generic core keeps its key
  a.mov('r1', 0);
  a.stx('dw', 'r10', HASH, 'r1');
  a.stx('dw', 'r10', J, 'r1');
  a.label('batch_next');
  a.ldx('dw', 'r1', 'r10', J);
  a.ldx('dw', 'r2', 'r10', STRIDE);
  a.mul('r1', 'r2');
  a.ldx('dw', pos, 'r10', POS0);
  a.add(pos, 'r1');
  if (core.needsNodeid) { a.ldx('dw', nodeid, 'r10', -8); }
  core.emit(a, 'batch_done');
  a.label('batch_done');
  a.jmp('jeq', 'r0', STATUS.MAPPED, 'batch_fold');
  a.mov(CORE_REG.daxdev, 'r0');
  a.add(CORE_REG.daxdev, 0x10000);
  a.mov(CORE_REG.offset, 0);
  a.mov(CORE_REG.length, 0);
  a.label('batch_fold');
  a.ldx('dw', 'r1', 'r10', HASH);
  a.mul('r1', DIGEST_MUL);
  a.add('r1', CORE_REG.daxdev);
  a.mul('r1', DIGEST_MUL);
  a.add('r1', CORE_REG.offset);
  a.mul('r1', DIGEST_MUL);
  a.add('r1', CORE_REG.length);
  a.stx('dw', 'r10', HASH, 'r1');
  a.ldx('dw', 'r1', 'r10', J);
  a.add('r1', 1);
  a.stx('dw', 'r10', J, 'r1');
  a.jmp('jlt', 'r1', DUMMY_BATCH, 'batch_next');
  a.ldx('dw', 'r0', 'r10', HASH);
  a.mov('r1', 'r0');
  a.rsh('r1', 32);
  a.stx('w', keep, 0, 'r1');
  a.label('out');
  a.exit();
}
