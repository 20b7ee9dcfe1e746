// CPU cache-line maintenance from JavaScript: write back (flush) and invalidate the lines
// covering a byte range, then fence. Node has no such primitive, so this module maps a few
// dozen bytes of x86-64 machine code executable (mmap, copy, mprotect to R+X) and calls them
// through koffi as function pointers. Why a routine and not a library: README "Caches on
// shared memory". The instruction choice mirrors famfs's libfcc (src/fcc-x86_64.c): flush
// with CLWB when CPUID says so, else CLFLUSHOPT, else CLFLUSH; invalidate with CLFLUSHOPT,
// else CLFLUSH. Other architectures get no routine (cacheLineSupport() says why).
import koffi from 'koffi';
import os from 'node:os';
import { check, libc, PAGE_SIZE, PROT_READ, PROT_WRITE, SysError } from './libc.js';

const PROT_EXEC = 4;
const MAP_PRIVATE = 2;
const MAP_ANONYMOUS = 0x20;
export const CACHE_LINE = 64;

const mmapAnon = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
const mprotectFn = libc.func('int mprotect(void *addr, size_t len, int prot)');

// x86-64 SysV: rdi = address, rsi = length. Every line from (addr & ~63) below addr+len gets
// `insn [rdi]`; then the fence; rax returns the count of lines (tests check the loop ran).
// Encodings checked against GNU as (objdump -d).
const XOR_EAX_EAX = [0x31, 0xc0];
const INC_RAX = [0x48, 0xff, 0xc0];
const TEST_RSI_RSI = [0x48, 0x85, 0xf6];
const LEA_RSI_END = [0x48, 0x8d, 0x34, 0x37]; // lea rsi, [rdi+rsi]
const AND_RDI_LINE = [0x48, 0x83, 0xe7, 0xc0]; // and rdi, -64
const ADD_RDI_64 = [0x48, 0x83, 0xc7, 0x40];
const CMP_RDI_RSI = [0x48, 0x39, 0xf7];
const RET = [0xc3];
export const INSN = {
  clflush: [0x0f, 0xae, 0x3f],
  clflushopt: [0x66, 0x0f, 0xae, 0x3f],
  clwb: [0x66, 0x0f, 0xae, 0x37],
} as const;
export type LineInsn = keyof typeof INSN;
const SFENCE = [0x0f, 0xae, 0xf8];
const MFENCE = [0x0f, 0xae, 0xf0];

function rangeRoutine(insn: readonly number[], fence: readonly number[]): number[] {
  const body = [...insn, ...INC_RAX, ...ADD_RDI_64, ...CMP_RDI_RSI];
  const loop = [...body, 0x72, (0x100 - (body.length + 2)) & 0xff]; // jb back to insn
  const skip = LEA_RSI_END.length + AND_RDI_LINE.length + loop.length;
  return [...XOR_EAX_EAX, ...TEST_RSI_RSI, 0x74, skip, ...LEA_RSI_END, ...AND_RDI_LINE, ...loop, ...fence, ...RET];
}

// cpuid(leaf = edi, subleaf = esi, out = rdx -> u32[4] eax, ebx, ecx, edx); rbx is callee-saved.
const CPUID_ROUTINE = [
  0x53, // push rbx
  0x49, 0x89, 0xd0, // mov r8, rdx
  0x89, 0xf8, // mov eax, edi
  0x89, 0xf1, // mov ecx, esi
  0x0f, 0xa2, // cpuid
  0x41, 0x89, 0x00, // mov [r8], eax
  0x41, 0x89, 0x58, 0x04, // mov [r8+4], ebx
  0x41, 0x89, 0x48, 0x08, // mov [r8+8], ecx
  0x41, 0x89, 0x50, 0x0c, // mov [r8+12], edx
  0x5b, // pop rbx
  ...RET,
];

const RangeFn = koffi.proto('size_t famfs_ts_cacheline_range(void *addr, size_t len)');
const CpuidFn = koffi.proto('void famfs_ts_cpuid(uint32_t leaf, uint32_t subleaf, _Out_ uint32_t *regs)');
type RangeCall = (addr: Uint8Array, len: number) => number | bigint;

/** Place `routines` in one page, made read+execute; returns their addresses. */
function mapExecutable(routines: readonly (readonly number[])[]): bigint[] {
  const ptr = mmapAnon(null, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ptr === null || koffi.address(ptr) === 0xffffffffffffffffn) throw new SysError('mmap', koffi.errno(), 'of the cache-line routine page');
  const page = new Uint8Array(koffi.view(ptr, PAGE_SIZE));
  const at: bigint[] = [];
  let off = 0;
  for (const r of routines) {
    page.set(r, off);
    at.push(koffi.address(ptr) + BigInt(off));
    off += (r.length + 15) & ~15;
  }
  if (off > PAGE_SIZE) throw new Error('cache-line routines exceed one page');
  check('mprotect', mprotectFn(ptr, PAGE_SIZE, PROT_READ | PROT_EXEC) as number, 'of the cache-line routine page to R+X');
  return at;
}

export interface CpuFeatures {
  readonly clflush: boolean;
  readonly clflushopt: boolean;
  readonly clwb: boolean;
}

/** What this machine offers: a reason when there is no routine for it. */
export function cacheLineSupport(): { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  if (os.arch() === 'x64') return { ok: true };
  if (os.arch() === 'arm64') {
    return { ok: false, reason: 'famfs-ts has no arm64 cache routine yet (famfs would use dc cvac / dc civac + dsb; its own libfcc builds for x86_64 only)' };
  }
  return { ok: false, reason: `famfs-ts has no cache routine for ${os.arch()}` };
}

/** The loaded routines of this thread (koffi functions are per thread, so the map is too). */
export interface CacheLineRoutines {
  readonly features: CpuFeatures;
  readonly flushInsn: LineInsn;
  readonly invalidateInsn: LineInsn;
  /** Write back the lines of `view`, then SFENCE; returns how many lines. */
  flush(view: Uint8Array): number;
  /** Write back and drop the lines of `view`, then MFENCE (later loads come from memory); returns how many lines. */
  invalidate(view: Uint8Array): number;
  /** Raw CPUID(leaf, subleaf) -> [eax, ebx, ecx, edx]. */
  cpuid(leaf: number, subleaf: number): [number, number, number, number];
}

let loaded: CacheLineRoutines | undefined;

/** Map the routines once per thread; throws where cacheLineSupport() says no. */
export function cacheLineRoutines(): CacheLineRoutines {
  if (loaded) return loaded;
  const sup = cacheLineSupport();
  if (!sup.ok) throw new Error(sup.reason);
  const [cpuidAt] = mapExecutable([CPUID_ROUTINE]);
  const cpuidFn = koffi.decode(cpuidAt!, CpuidFn) as (leaf: number, sub: number, out: Uint32Array) => void;
  const cpuid = (leaf: number, subleaf: number): [number, number, number, number] => {
    const regs = new Uint32Array(4);
    cpuidFn(leaf, subleaf, regs);
    return [regs[0]!, regs[1]!, regs[2]!, regs[3]!];
  };
  // famfs_misc / libfcc: CPUID.1:EDX[19] CLFSH; CPUID.(7,0):EBX[23] CLFLUSHOPT, [24] CLWB.
  const maxLeaf = cpuid(0, 0)[0];
  const leaf1 = cpuid(1, 0);
  const leaf7 = maxLeaf >= 7 ? cpuid(7, 0) : [0, 0, 0, 0];
  const features: CpuFeatures = {
    clflush: ((leaf1[3] >>> 19) & 1) === 1,
    clflushopt: ((leaf7[1] >>> 23) & 1) === 1,
    clwb: ((leaf7[1] >>> 24) & 1) === 1,
  };
  if (!features.clflush && !features.clflushopt) throw new Error('this x86_64 CPU reports neither CLFLUSH nor CLFLUSHOPT');
  const invalidateInsn: LineInsn = features.clflushopt ? 'clflushopt' : 'clflush';
  const flushInsn: LineInsn = features.clwb ? 'clwb' : invalidateInsn;
  loaded = {
    features, flushInsn, invalidateInsn, cpuid,
    flush: lineRoutine(flushInsn, 'sfence'),
    invalidate: lineRoutine(invalidateInsn, 'mfence'),
  };
  return loaded;
}

/**
 * One range routine with a given instruction, mapped and callable (each call returns the
 * lines it touched). The CPU must support `insn`: cacheLineRoutines() checks CPUID first.
 */
export function lineRoutine(insn: LineInsn, fence: 'sfence' | 'mfence'): (view: Uint8Array) => number {
  const sup = cacheLineSupport();
  if (!sup.ok) throw new Error(sup.reason);
  const [at] = mapExecutable([rangeRoutine(INSN[insn], fence === 'sfence' ? SFENCE : MFENCE)]);
  const fn = koffi.decode(at!, RangeFn) as RangeCall;
  // koffi passes a typed array as the address of its first byte (byteOffset included).
  return (view) => Number(fn(view, view.byteLength));
}

/** The routine bytes, for tests that disassemble or inspect them. */
export function routineBytes(insn: LineInsn, fence: 'sfence' | 'mfence'): number[] {
  return rangeRoutine(INSN[insn], fence === 'sfence' ? SFENCE : MFENCE);
}
export const cpuidRoutineBytes: readonly number[] = CPUID_ROUTINE;
