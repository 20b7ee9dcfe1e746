// Running each shell in the interpreter with the inputs its kernel caller would pass, and
// reading the answer back the way that caller would. Tests and `bpf run` use these.
import { HashMapModel, Memory, run, type MapModel } from './interp.js';
import type { BpfProgram } from './program.js';
import { STATUS } from './core.js';
import {
  answerDigest, DUMMY_BATCH, DUMMY_MODE, ERRNO, FIB, FUSE_IOMAP_BEGIN_OUT_SIZE, FuseIomapIo, IOMAP_TYPE, JoanneIomapIo, SyscallCtx,
} from './shells.js';
import { InvalidError } from '../errno.js';

/** What a resolver answered: status (core.ts STATUS) and, when mapped, the mapping. */
export interface Answer {
  readonly status: number;
  readonly daxdev?: bigint;
  readonly offset?: bigint;
  readonly length?: bigint;
}

export interface InterpInputs {
  readonly pos: bigint;
  readonly nodeid?: bigint;
  readonly maps?: ReadonlyMap<number, MapModel>;
  /** fuse_iomap_bpf_ops: the block size the program was emitted for (default 4096). */
  readonly blockSize?: number;
  /** fuse_iomap_bpf_ops: the kfunc id and the nodeid it returns for the fbi. */
  readonly nodeidKfunc?: number;
}

export class ShellRunError extends InvalidError {}

/** Run `prog` in the interpreter as its shell's caller would; returns the uniform answer. */
export function interpret(prog: BpfProgram, inp: InterpInputs): Answer {
  const maps = inp.maps ?? new Map<number, HashMapModel>();
  switch (prog.shell.name) {
    case 'syscall': {
      const ctx = SyscallCtx.encode({ pos: inp.pos, nodeid: inp.nodeid ?? 0n });
      const r = run(prog.insns, ctx, { maps });
      const out = SyscallCtx.decode(ctx);
      const status = Number(r.r0 & 0xffffffffn);
      return status === STATUS.MAPPED ? { status, daxdev: out.daxdev, offset: out.offset, length: out.length } : { status };
    }
    case 'fuse_bpf_ops': {
      const mem = new Memory();
      const io = Buffer.alloc(JoanneIomapIo.size);
      const args = u64s([inp.nodeid ?? 0n, inp.pos, 1n << 20n, 0n, mem.place('fuse_iomap_io', io)]);
      const r = BigInt.asIntN(32, run(prog.insns, args, { maps, memory: mem, ctxWritable: false }).r0);
      if (r === 0n) {
        const { io: o, id } = JoanneIomapIo.decode(io);
        if (o.type !== IOMAP_TYPE.MAPPED || o.offset !== inp.pos) throw new ShellRunError(`fuse_iomap_io type ${o.type} offset ${o.offset}`);
        return { status: STATUS.MAPPED, daxdev: id, offset: o.addr, length: o.length };
      }
      if (r === BigInt(-ERRNO.ENOENT)) return { status: STATUS.UNKNOWN_NODEID };
      if (r === BigInt(-ERRNO.EIO)) return { status: STATUS.EOF };
      throw new ShellRunError(`fuse_bpf_ops iomap_begin returned ${r}`);
    }
    case 'fuse_iomap_bpf_ops': {
      const mem = new Memory();
      const out = Buffer.alloc(FUSE_IOMAP_BEGIN_OUT_SIZE);
      const fbi = mem.place('fuse_bpf_inode', Buffer.alloc(8), false);
      const args = u64s([fbi, inp.pos, 1n << 20n, 0n, mem.place('fuse_iomap_begin_out', out)]);
      const kfuncs = new Map<number, (a: readonly bigint[]) => bigint>();
      if (inp.nodeidKfunc !== undefined) kfuncs.set(inp.nodeidKfunc, (a) => (a[0] === fbi ? inp.nodeid ?? 0n : 0n));
      const r = run(prog.insns, args, { maps, memory: mem, ctxWritable: false, kfuncs }).r0;
      if (r === BigInt(FIB.HANDLED)) {
        const rd = FuseIomapIo.decode(out, 0);
        const wr = FuseIomapIo.decode(out, FuseIomapIo.size);
        const bs = BigInt(inp.blockSize ?? 4096);
        if (rd.type !== IOMAP_TYPE.MAPPED || wr.type !== IOMAP_TYPE.PURE_OVERWRITE || rd.offset !== inp.pos - (inp.pos % bs) || rd.dev === 0) {
          throw new ShellRunError(`fuse_iomap_begin_out read type ${rd.type} dev ${rd.dev} offset ${rd.offset}, write type ${wr.type}`);
        }
        if (rd.length % bs !== 0n || rd.addr % bs !== 0n || rd.length === 0n) {
          throw new ShellRunError(`fuse_iomap_begin_out length ${rd.length} addr ${rd.addr}: not whole ${bs}-byte blocks (the kernel says EUCLEAN)`);
        }
        // As seen from pos: the block's answer moved forward to pos.
        const delta = inp.pos - rd.offset;
        return { status: STATUS.MAPPED, daxdev: BigInt(rd.dev - 1), offset: rd.addr + delta, length: rd.length - delta };
      }
      if (r === BigInt(FIB.FALLBACK)) return { status: STATUS.EOF };
      throw new ShellRunError(`fuse_iomap_bpf_ops iomap_begin returned ${r}`);
    }
    case 'bpf_dummy_ops':
      return dummyAnswer((mode) => {
        const mem = new Memory();
        const state = Buffer.alloc(4);
        const args = u64s([mem.place('bpf_dummy_ops_state', state), BigInt(mode), inp.nodeid ?? 0n, 0n, inp.pos]);
        const r = run(prog.insns, args, { maps, memory: mem, ctxWritable: false }).r0;
        return { retval: Number(r & 0xffffffffn), val: state.readUInt32LE(0) };
      });
  }
}

/**
 * Assemble a bpf_dummy_ops answer from its three test-runs (32-bit retval + 32-bit
 * state->val each, shells.ts DUMMY_MODE). Exported for the kernel test-run path too.
 */
export function dummyAnswer(runMode: (mode: number) => { retval: number; val: number }): Answer {
  const first = runMode(DUMMY_MODE.STATUS_DAXDEV);
  if (first.retval !== STATUS.MAPPED) return { status: first.retval };
  const off = runMode(DUMMY_MODE.OFFSET);
  const len = runMode(DUMMY_MODE.LENGTH);
  const join = (x: { retval: number; val: number }) => (BigInt(x.val) << 32n) | BigInt(x.retval);
  return { status: STATUS.MAPPED, daxdev: BigInt(first.val), offset: join(off), length: join(len) };
}

export function u64s(vals: readonly bigint[]): Buffer {
  const b = Buffer.alloc(vals.length * 8);
  vals.forEach((v, k) => b.writeBigUInt64LE(BigInt.asUintN(64, v), k * 8));
  return b;
}

/** The DUMMY_BATCH positions a DIGEST test-run answers (pos0 + j*stride, wrapping in u64). */
export function batchPositions(pos0: bigint, stride: bigint): bigint[] {
  return Array.from({ length: DUMMY_BATCH }, (_, j) => BigInt.asUintN(64, pos0 + BigInt(j) * stride));
}

/** Fold answers as the bpf_dummy_ops DIGEST mode does. */
export function digestOf(answers: readonly Answer[]): bigint {
  return answers.reduce((h, a) => answerDigest(h, a), 0n);
}

/** Run a bpf_dummy_ops program's DIGEST mode in the interpreter. */
export function interpretDigest(prog: BpfProgram, pos0: bigint, stride: bigint, inp: { nodeid?: bigint; maps?: ReadonlyMap<number, MapModel> } = {}): bigint {
  const mem = new Memory();
  const state = Buffer.alloc(4);
  const args = u64s([mem.place('bpf_dummy_ops_state', state), BigInt(DUMMY_MODE.DIGEST), inp.nodeid ?? 0n, stride, pos0]);
  const r = run(prog.insns, args, { maps: inp.maps ?? new Map(), memory: mem, ctxWritable: false }).r0;
  return (BigInt(state.readUInt32LE(0)) << 32n) | (r & 0xffffffffn);
}
