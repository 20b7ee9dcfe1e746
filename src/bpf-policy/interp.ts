// A user-space interpreter of the instruction subset, exact in u64 (BigInt). It is the
// tier-1 oracle: every emitted program runs here against resolve() without privileges.
// Semantics follow RFC 9669 (bpf-tooling.md §1.4: x/0 = 0, x%0 = x, shifts masked).
// Memory is a set of named regions in a fake address space, so pointer arguments (a
// struct_ops out pointer, a map value) behave like the kernel's and stray accesses throw.
import {
  ALU_OP, CALL_HELPER, CALL_KFUNC, CLASS, HELPER, JMP_OP, MODE, PSEUDO_MAP_FD, SRC_X, SIZE,
  isLddw, opClass, type Insn,
} from './isa.js';
import { InvalidError } from '../errno.js';

const M64 = (1n << 64n) - 1n;
const M32 = 0xffffffffn;

export class BpfRuntimeError extends InvalidError {}

/** A hash map as the helper bpf_map_lookup_elem sees it (key bytes -> value bytes). */
export interface MapModel {
  readonly keySize: number;
  readonly valueSize: number;
  lookup(key: Uint8Array): Uint8Array | undefined;
}

/** A JS-backed BPF hash map for the interpreter. */
export class HashMapModel implements MapModel {
  private readonly entries = new Map<string, Uint8Array>();
  constructor(readonly keySize: number, readonly valueSize: number) {}
  update(key: Uint8Array, value: Uint8Array): void {
    if (key.byteLength !== this.keySize || value.byteLength !== this.valueSize) {
      throw new BpfRuntimeError(`map update: key ${key.byteLength}/${this.keySize} or value ${value.byteLength}/${this.valueSize} bytes`);
    }
    this.entries.set(Buffer.from(key).toString('hex'), Uint8Array.from(value));
  }
  delete(key: Uint8Array): void {
    this.entries.delete(Buffer.from(key).toString('hex'));
  }
  lookup(key: Uint8Array): Uint8Array | undefined {
    return this.entries.get(Buffer.from(key).toString('hex'));
  }
}

interface Region {
  readonly name: string;
  readonly base: bigint;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly writable: boolean;
}

const CTX_BASE = 0x1000_0000n;
const STACK_BASE = 0x2000_0000n;
const STACK_SIZE = 512;
const HEAP_BASE = 0x3000_0000n;
const HEAP_STRIDE = 0x0100_0000n;
/** Map handles (lddw src=1) live in their own range so they cannot be dereferenced. */
const MAP_HANDLE_BASE = 0x7000_0000n;
/** Map values a lookup returned, for this run only. */
const MAP_VALUE_BASE = 0x5000_0000n;

/** Regions outside ctx and stack that a run can point into (out structs, states). */
export class Memory {
  readonly regions: Region[] = [];
  private next: bigint;
  constructor(base = HEAP_BASE) {
    this.next = base;
  }

  /** Place `bytes` (shared, not copied) in the address space; returns its address. */
  place(name: string, bytes: Uint8Array, writable = true): bigint {
    const base = this.next;
    this.next += HEAP_STRIDE;
    this.regions.push({ name, base, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), writable });
    return base;
  }
}

export interface RunOptions {
  /** Maps by the fd the program's lddw src=1 names. */
  readonly maps?: ReadonlyMap<number, MapModel>;
  /** kfuncs by BTF id: arguments r1..r5, returns r0. */
  readonly kfuncs?: ReadonlyMap<number, (args: readonly bigint[]) => bigint>;
  /** Extra regions (pointer arguments). */
  readonly memory?: Memory;
  /** Whether the program may write its ctx (syscall type: yes; struct_ops args: no). */
  readonly ctxWritable?: boolean;
  readonly maxSteps?: number;
}

export interface RunResult {
  /** R0 at exit, as u64. */
  readonly r0: bigint;
  /** Instructions executed. */
  readonly steps: number;
}

function region(name: string, base: bigint, bytes: Uint8Array, writable: boolean): Region {
  return { name, base, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), writable };
}

function cond(op: number, a: bigint, b: bigint, bits: 32 | 64): boolean {
  const sa = bits === 64 ? BigInt.asIntN(64, a) : BigInt.asIntN(32, a);
  const sb = bits === 64 ? BigInt.asIntN(64, b) : BigInt.asIntN(32, b);
  switch (op) {
    case JMP_OP.jeq: return a === b;
    case JMP_OP.jne: return a !== b;
    case JMP_OP.jgt: return a > b;
    case JMP_OP.jge: return a >= b;
    case JMP_OP.jlt: return a < b;
    case JMP_OP.jle: return a <= b;
    case JMP_OP.jset: return (a & b) !== 0n;
    case JMP_OP.jsgt: return sa > sb;
    case JMP_OP.jsge: return sa >= sb;
    case JMP_OP.jslt: return sa < sb;
    case JMP_OP.jsle: return sa <= sb;
  }
  throw new BpfRuntimeError(`unknown jump op 0x${op.toString(16)}`);
}

function alu(op: number, off: number, a: bigint, b: bigint, bits: 32 | 64): bigint {
  const mask = bits === 64 ? M64 : M32;
  const sh = BigInt(bits - 1);
  const sx = (v: bigint) => (bits === 64 ? BigInt.asIntN(64, v) : BigInt.asIntN(32, v));
  switch (op) {
    case ALU_OP.add: return (a + b) & mask;
    case ALU_OP.sub: return (a - b) & mask;
    case ALU_OP.mul: return (a * b) & mask;
    case ALU_OP.div:
      if (b === 0n) return 0n;
      if (off === 1) return BigInt.asUintN(bits, sx(a) / sx(b)); // SDIV; INT_MIN / -1 wraps to INT_MIN
      return a / b;
    case ALU_OP.mod:
      if (b === 0n) return a;
      if (off === 1) return BigInt.asUintN(bits, sx(a) % sx(b)); // SMOD truncates like C
      return a % b;
    case ALU_OP.or: return a | b;
    case ALU_OP.and: return a & b;
    case ALU_OP.xor: return a ^ b;
    case ALU_OP.lsh: return (a << (b & sh)) & mask;
    case ALU_OP.rsh: return a >> (b & sh);
    case ALU_OP.arsh: return BigInt.asUintN(bits, sx(a) >> (b & sh));
    case ALU_OP.neg: return (-a) & mask;
    case ALU_OP.mov:
      if (off === 8 || off === 16 || off === 32) return BigInt.asUintN(bits, BigInt.asIntN(off, b)); // MOVSX
      return b;
  }
  throw new BpfRuntimeError(`unknown ALU op 0x${op.toString(16)}`);
}

/** Interpret `insns` with `ctx` as R1's memory. The ctx buffer is updated in place. */
export function run(insns: readonly Insn[], ctx: Uint8Array, opts: RunOptions = {}): RunResult {
  const regs: bigint[] = new Array<bigint>(11).fill(0n);
  const stack = new Uint8Array(STACK_SIZE);
  const regions: Region[] = [
    region('ctx', CTX_BASE, ctx, opts.ctxWritable ?? true),
    region('stack', STACK_BASE, stack, true),
    ...(opts.memory?.regions ?? []),
  ];
  const mapValues = new Map<Uint8Array, bigint>();
  const heap = new Memory(MAP_VALUE_BASE);
  regs[1] = CTX_BASE;
  regs[10] = STACK_BASE + BigInt(STACK_SIZE);
  const maxSteps = opts.maxSteps ?? 1_000_000;

  const locate = (addr: bigint, size: number, write: boolean, pc: number): [DataView, number] => {
    for (const r of regions) {
      if (addr >= r.base && addr + BigInt(size) <= r.base + BigInt(r.bytes.byteLength)) {
        if (write && !r.writable) throw new BpfRuntimeError(`insn ${pc}: write to read-only ${r.name} at +${addr - r.base}`);
        return [r.view, Number(addr - r.base)];
      }
    }
    throw new BpfRuntimeError(`insn ${pc}: ${write ? 'store' : 'load'} of ${size} bytes at 0x${addr.toString(16)} is outside every region`);
  };
  const load = (addr: bigint, size: number, pc: number): bigint => {
    const [v, o] = locate(addr, size, false, pc);
    switch (size) {
      case 1: return BigInt(v.getUint8(o));
      case 2: return BigInt(v.getUint16(o, true));
      case 4: return BigInt(v.getUint32(o, true));
      default: return v.getBigUint64(o, true);
    }
  };
  const store = (addr: bigint, size: number, val: bigint, pc: number): void => {
    const [v, o] = locate(addr, size, true, pc);
    switch (size) {
      case 1: v.setUint8(o, Number(val & 0xffn)); break;
      case 2: v.setUint16(o, Number(val & 0xffffn), true); break;
      case 4: v.setUint32(o, Number(val & M32), true); break;
      default: v.setBigUint64(o, val & M64, true);
    }
  };
  const sizeOf = (code: number): number => ({ [SIZE.b]: 1, [SIZE.h]: 2, [SIZE.w]: 4, [SIZE.dw]: 8 })[code & 0x18]!;

  let pc = 0;
  let steps = 0;
  for (;;) {
    if (pc < 0 || pc >= insns.length) throw new BpfRuntimeError(`pc ${pc} ran off the program (${insns.length} slots)`);
    if (++steps > maxSteps) throw new BpfRuntimeError(`more than ${maxSteps} steps: the program does not terminate`);
    const i = insns[pc]!;
    const cls = opClass(i.code);
    if (cls === CLASS.ALU64 || cls === CLASS.ALU) {
      const bits = cls === CLASS.ALU64 ? 64 : 32;
      const op = i.code & 0xf0;
      let b: bigint;
      if (i.code & SRC_X) b = bits === 64 ? regs[i.src]! : regs[i.src]! & M32;
      else b = bits === 64 ? BigInt.asUintN(64, BigInt(i.imm)) : BigInt.asUintN(32, BigInt(i.imm));
      const a = bits === 64 ? regs[i.dst]! : regs[i.dst]! & M32;
      if (i.dst === 10) throw new BpfRuntimeError(`insn ${pc}: frame pointer is read only`);
      regs[i.dst] = alu(op, i.off, a, b, bits);
      pc++;
      continue;
    }
    if (cls === CLASS.JMP || cls === CLASS.JMP32) {
      const op = i.code & 0xf0;
      if (op === JMP_OP.exit) return { r0: regs[0]!, steps };
      if (op === JMP_OP.ja) { pc += 1 + (cls === CLASS.JMP32 ? i.imm : i.off); continue; }
      if (op === JMP_OP.call) {
        regs[0] = callOut(i, regs, pc);
        for (let r = 1; r <= 5; r++) regs[r] = 0n;
        pc++;
        continue;
      }
      const bits = cls === CLASS.JMP ? 64 : 32;
      const m = bits === 64 ? M64 : M32;
      const a = regs[i.dst]! & m;
      const b = i.code & SRC_X ? regs[i.src]! & m : BigInt.asUintN(bits, BigInt(i.imm));
      pc += cond(op, a, b, bits) ? 1 + i.off : 1;
      continue;
    }
    if (isLddw(i.code)) {
      const hi = insns[pc + 1];
      if (!hi) throw new BpfRuntimeError(`insn ${pc}: lddw without its second slot`);
      if (i.src === PSEUDO_MAP_FD) regs[i.dst] = MAP_HANDLE_BASE + BigInt(i.imm);
      else if (i.src === 0) regs[i.dst] = (BigInt.asUintN(32, BigInt(hi.imm)) << 32n) | BigInt.asUintN(32, BigInt(i.imm));
      else throw new BpfRuntimeError(`insn ${pc}: lddw source ${i.src} is not interpreted`);
      pc += 2;
      continue;
    }
    const mode = i.code & 0xe0;
    if (mode !== MODE.MEM && !(cls === CLASS.LDX && mode === MODE.MEMSX)) {
      throw new BpfRuntimeError(`insn ${pc}: opcode 0x${i.code.toString(16)} is not interpreted`);
    }
    const size = sizeOf(i.code);
    if (cls === CLASS.LDX) {
      const v = load(regs[i.src]! + BigInt(i.off), size, pc);
      regs[i.dst] = mode === MODE.MEMSX ? BigInt.asUintN(64, BigInt.asIntN(size * 8, v)) : v;
    } else if (cls === CLASS.STX) {
      store(regs[i.dst]! + BigInt(i.off), size, regs[i.src]!, pc);
    } else if (cls === CLASS.ST) {
      store(regs[i.dst]! + BigInt(i.off), size, BigInt.asUintN(64, BigInt(i.imm)), pc);
    } else {
      throw new BpfRuntimeError(`insn ${pc}: opcode 0x${i.code.toString(16)} is not interpreted`);
    }
    pc++;
  }

  function callOut(i: Insn, r: bigint[], at: number): bigint {
    if (i.src === CALL_HELPER && i.imm === HELPER.map_lookup_elem) {
      const fd = r[1]! - MAP_HANDLE_BASE;
      const map = opts.maps?.get(Number(fd));
      if (fd < 0n || !map) throw new BpfRuntimeError(`insn ${at}: map_lookup_elem on r1 = 0x${r[1]!.toString(16)}, not a known map`);
      const key = new Uint8Array(map.keySize);
      for (let k = 0; k < map.keySize; k++) key[k] = Number(load(r[2]! + BigInt(k), 1, at));
      const value = map.lookup(key);
      if (!value) return 0n;
      let addr = mapValues.get(value);
      if (addr === undefined) {
        addr = heap.place('map value', value, true);
        regions.push(heap.regions[heap.regions.length - 1]!);
        mapValues.set(value, addr);
      }
      return addr;
    }
    if (i.src === CALL_KFUNC) {
      const f = opts.kfuncs?.get(i.imm);
      if (!f) throw new BpfRuntimeError(`insn ${at}: kfunc #${i.imm} is not provided to the interpreter`);
      return BigInt.asUintN(64, f(r.slice(1, 6)));
    }
    throw new BpfRuntimeError(`insn ${at}: call ${i.imm} (src ${i.src}) is not interpreted`);
  }
}
