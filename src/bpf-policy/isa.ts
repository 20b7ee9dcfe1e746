// The eBPF instruction set subset famfs-ts emits (RFC 9669; reference bpf-tooling.md §1).
// One instruction is 8 bytes: opcode, dst|src<<4, s16 offset, s32 immediate, little-endian.
// `lddw` takes two slots; the second slot has opcode 0 and carries the high 32 bits.
import { InvalidError } from '../errno.js';

/** Instruction classes (low 3 bits of the opcode), bpf-tooling.md §1.1. */
export const CLASS = { LD: 0, LDX: 1, ST: 2, STX: 3, ALU: 4, JMP: 5, JMP32: 6, ALU64: 7 } as const;

/** ALU operation codes (high 4 bits), bpf-tooling.md §1.1. */
export const ALU_OP = {
  add: 0x00, sub: 0x10, mul: 0x20, div: 0x30, or: 0x40, and: 0x50, lsh: 0x60, rsh: 0x70,
  neg: 0x80, mod: 0x90, xor: 0xa0, mov: 0xb0, arsh: 0xc0,
} as const;
export type AluOp = keyof typeof ALU_OP;

/** Jump codes (high 4 bits), bpf-tooling.md §1.1. JGT/JGE/JLT/JLE are unsigned, the S variants signed. */
export const JMP_OP = {
  ja: 0x00, jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40, jne: 0x50, jsgt: 0x60, jsge: 0x70,
  call: 0x80, exit: 0x90, jlt: 0xa0, jle: 0xb0, jslt: 0xc0, jsle: 0xd0,
} as const;
export type CondOp = Exclude<keyof typeof JMP_OP, 'ja' | 'call' | 'exit'>;

/** Source bit: 0 = immediate operand (K), 1 = register operand (X). */
export const SRC_K = 0x00;
export const SRC_X = 0x08;

/** Load/store modes and sizes, bpf-tooling.md §1.1. */
export const MODE = { IMM: 0x00, MEM: 0x60, MEMSX: 0x80, ATOMIC: 0xc0 } as const;
export const SIZE = { w: 0x00, h: 0x08, b: 0x10, dw: 0x18 } as const;
export type Size = keyof typeof SIZE;
export const SIZE_BYTES: Record<Size, number> = { b: 1, h: 2, w: 4, dw: 8 };

/** `lddw` source subtypes, bpf-tooling.md §1.2. */
export const PSEUDO_MAP_FD = 1;
/** CALL source subtypes, bpf-tooling.md §1.3: 0 helper id, 1 local function, 2 kfunc by BTF id. */
export const CALL_HELPER = 0;
export const CALL_KFUNC = 2;

/** Helper ids used by the generic program. */
export const HELPER = { map_lookup_elem: 1 } as const;

export const INSN_SIZE = 8;

export interface Insn {
  readonly code: number;
  readonly dst: number;
  readonly src: number;
  readonly off: number;
  readonly imm: number;
}

export class BpfEncodingError extends InvalidError {}

export function opClass(code: number): number {
  return code & 0x07;
}

export function isLddw(code: number): boolean {
  return code === (CLASS.LD | MODE.IMM | SIZE.dw);
}

/** Encode instructions to bytecode (the bytes PROG_LOAD takes and the ELF section holds). */
export function encode(insns: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(insns.length * INSN_SIZE);
  insns.forEach((i, n) => {
    const o = n * INSN_SIZE;
    buf.writeUInt8(i.code, o);
    buf.writeUInt8(((i.src & 0xf) << 4) | (i.dst & 0xf), o + 1);
    buf.writeInt16LE(i.off, o + 2);
    buf.writeInt32LE(i.imm, o + 4);
  });
  return buf;
}

/** Decode bytecode; throws naming the slot when the length is not a multiple of 8. */
export function decode(bytes: Uint8Array): Insn[] {
  if (bytes.byteLength % INSN_SIZE !== 0) {
    throw new BpfEncodingError(`bytecode length ${bytes.byteLength} is not a multiple of ${INSN_SIZE}`);
  }
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Insn[] = [];
  for (let o = 0; o < b.byteLength; o += INSN_SIZE) {
    const regs = b.readUInt8(o + 1);
    out.push({ code: b.readUInt8(o), dst: regs & 0xf, src: regs >> 4, off: b.readInt16LE(o + 2), imm: b.readInt32LE(o + 4) });
  }
  return out;
}
