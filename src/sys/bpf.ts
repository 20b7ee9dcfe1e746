// bpf(2) through koffi (reference bpf-tooling.md §2.3 for `union bpf_attr` offsets, bpf-tooling.md §3 for
// the koffi route). Every attr piece is a defineStruct table; pointers are u64 addresses of
// Buffers that stay referenced for the synchronous call. This file only talks to the kernel:
// programs, BTF parsing and the registration logic live in src/bpf-policy.
import fs from 'node:fs';
import koffi from 'koffi';
import { defineStruct } from '../cstruct.js';
import { libc, SysError } from './libc.js';
import { ErrnoError } from '../errno.js';

const SYS_bpf = 321; // x86_64 (bpf-tooling.md §2.3)

export const BPF_CMD = {
  MAP_CREATE: 0, MAP_LOOKUP_ELEM: 1, MAP_UPDATE_ELEM: 2, MAP_DELETE_ELEM: 3, PROG_LOAD: 5,
  PROG_TEST_RUN: 10, OBJ_GET_INFO_BY_FD: 15, BTF_LOAD: 18, LINK_CREATE: 28,
} as const;
export const MAP_TYPE = { HASH: 1, ARRAY: 2, STRUCT_OPS: 26 } as const;
export const BPF_F_SLEEPABLE = 16;
export const BPF_F_NO_PREALLOC = 1;
export const BPF_F_LINK = 0x2000;
export const BPF_ANY = 0;
export const BPF_ATTACH_STRUCT_OPS = 44;

export const ProgLoadAttr = defineStruct('bpf_attr(PROG_LOAD)', 152, [
  { name: 'prog_type', offset: 0, type: 'u32' },
  { name: 'insn_cnt', offset: 4, type: 'u32' },
  { name: 'insns', offset: 8, type: 'u64big' },
  { name: 'license', offset: 16, type: 'u64big' },
  { name: 'log_level', offset: 24, type: 'u32' },
  { name: 'log_size', offset: 28, type: 'u32' },
  { name: 'log_buf', offset: 32, type: 'u64big' },
  { name: 'kern_version', offset: 40, type: 'u32' },
  { name: 'prog_flags', offset: 44, type: 'u32' },
  { name: 'prog_name', offset: 48, type: { cstring: 16 } },
  { name: 'prog_ifindex', offset: 64, type: 'u32' },
  { name: 'expected_attach_type', offset: 68, type: 'u32' },
  { name: 'prog_btf_fd', offset: 72, type: 'u32' },
  { name: 'attach_btf_id', offset: 108, type: 'u32' },
  { name: 'attach_btf_obj_fd', offset: 112, type: 'u32' },
  { name: 'fd_array', offset: 120, type: 'u64big' },
  { name: 'log_true_size', offset: 140, type: 'u32' },
  { name: 'prog_token_fd', offset: 144, type: 's32' },
  { name: 'fd_array_cnt', offset: 148, type: 'u32' },
] as const);

export const TestRunAttr = defineStruct('bpf_attr(PROG_TEST_RUN)', 80, [
  { name: 'prog_fd', offset: 0, type: 'u32' },
  { name: 'retval', offset: 4, type: 'u32' },
  { name: 'data_size_in', offset: 8, type: 'u32' },
  { name: 'data_size_out', offset: 12, type: 'u32' },
  { name: 'data_in', offset: 16, type: 'u64big' },
  { name: 'data_out', offset: 24, type: 'u64big' },
  { name: 'repeat', offset: 32, type: 'u32' },
  { name: 'duration', offset: 36, type: 'u32' },
  { name: 'ctx_size_in', offset: 40, type: 'u32' },
  { name: 'ctx_size_out', offset: 44, type: 'u32' },
  { name: 'ctx_in', offset: 48, type: 'u64big' },
  { name: 'ctx_out', offset: 56, type: 'u64big' },
  { name: 'flags', offset: 64, type: 'u32' },
  { name: 'cpu', offset: 68, type: 'u32' },
  { name: 'batch_size', offset: 72, type: 'u32' },
] as const);

export const MapCreateAttr = defineStruct('bpf_attr(MAP_CREATE)', 80, [
  { name: 'map_type', offset: 0, type: 'u32' },
  { name: 'key_size', offset: 4, type: 'u32' },
  { name: 'value_size', offset: 8, type: 'u32' },
  { name: 'max_entries', offset: 12, type: 'u32' },
  { name: 'map_flags', offset: 16, type: 'u32' },
  { name: 'inner_map_fd', offset: 20, type: 'u32' },
  { name: 'numa_node', offset: 24, type: 'u32' },
  { name: 'map_name', offset: 28, type: { cstring: 16 } },
  { name: 'map_ifindex', offset: 44, type: 'u32' },
  { name: 'btf_fd', offset: 48, type: 'u32' },
  { name: 'btf_key_type_id', offset: 52, type: 'u32' },
  { name: 'btf_value_type_id', offset: 56, type: 'u32' },
  { name: 'btf_vmlinux_value_type_id', offset: 60, type: 'u32' },
  { name: 'map_extra', offset: 64, type: 'u64big' },
  { name: 'value_type_btf_obj_fd', offset: 72, type: 's32' },
  { name: 'map_token_fd', offset: 76, type: 's32' },
] as const);

export const MapElemAttr = defineStruct('bpf_attr(MAP_*_ELEM)', 32, [
  { name: 'map_fd', offset: 0, type: 'u32' },
  { name: 'key', offset: 8, type: 'u64big' },
  { name: 'value', offset: 16, type: 'u64big' },
  { name: 'flags', offset: 24, type: 'u64big' },
] as const);

export const LinkCreateAttr = defineStruct('bpf_attr(LINK_CREATE)', 48, [
  { name: 'prog_or_map_fd', offset: 0, type: 'u32' },
  { name: 'target_fd', offset: 4, type: 'u32' },
  { name: 'attach_type', offset: 8, type: 'u32' },
  { name: 'flags', offset: 12, type: 'u32' },
] as const);

export const BtfLoadAttr = defineStruct('bpf_attr(BTF_LOAD)', 32, [
  { name: 'btf', offset: 0, type: 'u64big' },
  { name: 'btf_log_buf', offset: 8, type: 'u64big' },
  { name: 'btf_size', offset: 16, type: 'u32' },
  { name: 'btf_log_size', offset: 20, type: 'u32' },
  { name: 'btf_log_level', offset: 24, type: 'u32' },
  { name: 'btf_log_true_size', offset: 28, type: 'u32' },
] as const);

const syscallFn = libc.func('long syscall(long number, ...)');
const closeFn = libc.func('int close(int fd)');

function addr(buf: Uint8Array): bigint {
  return BigInt(koffi.address(buf) as bigint);
}

/** Raw bpf(cmd, attr): returns the result or throws SysError with the command named. */
export function bpf(cmd: number, attr: Buffer, what: string): number {
  const rc = Number(syscallFn(SYS_bpf, 'int', cmd, 'void *', attr, 'uint', attr.byteLength) as number | bigint);
  if (rc < 0) throw new SysError('bpf', koffi.errno(), what);
  return rc;
}

export function closeFd(fd: number): void {
  closeFn(fd);
}

export interface ProgLoadSpec {
  readonly progType: number;
  readonly insns: Buffer;
  readonly license: string;
  readonly name?: string;
  readonly flags?: number;
  readonly expectedAttachType?: number;
  readonly attachBtfId?: number;
}

export interface LoadedProg {
  readonly fd: number;
  /** Verifier-processed instructions ("processed N insns"). */
  readonly processed?: number;
  readonly log: string;
}

/** PROG_LOAD rejected by the verifier: `log` is the full verifier log. */
export class VerifierError extends ErrnoError {
  constructor(readonly sys: SysError, readonly log: string) {
    super(`the kernel verifier rejected the program (${sys.code}):\n${log.trim() || '(no log)'}`, sys.errno, { cause: sys });
  }
  /** The verifier's own complaint: the last log line before its statistics. */
  get reason(): string {
    const lines = this.log.split('\n').map((l) => l.trim()).filter((l) => l && !/^(verification time|stack depth|processed \d+ insns)/.test(l));
    return lines[lines.length - 1] ?? this.sys.code;
  }
}

const LOG_STATS = 4; // BPF_LOG_STATS: one summary line on success
const LOG_VERBOSE = 1;

/**
 * PROG_LOAD. First with a stats-only log; on failure again with the full log, retried at
 * `log_true_size` when the buffer was too small (ENOSPC hides the real error, bpf-tooling.md §1.5).
 */
export function progLoad(spec: ProgLoadSpec): LoadedProg {
  const license = Buffer.from(`${spec.license}\0`);
  type Attempt = { ok: true; fd: number; log: string } | { ok: false; error: SysError; log: string; trueSize: number };
  const attempt = (level: number, size: number): Attempt => {
    const log = Buffer.alloc(size);
    const attr = ProgLoadAttr.encode({
      prog_type: spec.progType,
      insn_cnt: spec.insns.byteLength / 8,
      insns: addr(spec.insns),
      license: addr(license),
      log_level: level,
      log_size: size,
      log_buf: addr(log),
      prog_flags: spec.flags ?? 0,
      prog_name: spec.name ?? '',
      expected_attach_type: spec.expectedAttachType ?? 0,
      attach_btf_id: spec.attachBtfId ?? 0,
    });
    try {
      const fd = bpf(BPF_CMD.PROG_LOAD, attr, 'PROG_LOAD');
      return { ok: true, fd, log: cstr(log) };
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      return { ok: false, error: e, log: cstr(log), trueSize: ProgLoadAttr.decode(attr).log_true_size };
    }
  };
  let r = attempt(LOG_STATS, 4096);
  if (r.ok) return { fd: r.fd, log: r.log, ...processedOf(r.log) };
  r = attempt(LOG_VERBOSE | LOG_STATS, 1 << 16);
  if (!r.ok && r.error.code === 'ENOSPC' && r.trueSize > 0) r = attempt(LOG_VERBOSE | LOG_STATS, r.trueSize);
  if (r.ok) return { fd: r.fd, log: r.log, ...processedOf(r.log) };
  throw new VerifierError(r.error, r.log);
}

function processedOf(log: string): { processed?: number } {
  const m = /processed (\d+) insns/.exec(log);
  return m ? { processed: Number(m[1]) } : {};
}

function cstr(b: Buffer): string {
  const n = b.indexOf(0);
  return b.toString('utf8', 0, n < 0 ? b.byteLength : n);
}

export interface TestRunResult {
  readonly retval: number;
}

/**
 * PROG_TEST_RUN with ctx_in only (syscall and struct_ops programs): the kernel copies the
 * ctx back into `ctx` for syscall programs (bpf-tooling.md §1.6). `attr` may be reused across calls.
 */
export function testRun(progFd: number, ctx: Buffer, attr = Buffer.alloc(TestRunAttr.size)): TestRunResult {
  TestRunAttr.encodeInto(attr, { prog_fd: progFd, retval: 0, ctx_size_in: ctx.byteLength, ctx_in: addr(ctx) });
  bpf(BPF_CMD.PROG_TEST_RUN, attr, 'PROG_TEST_RUN');
  return { retval: attr.readUInt32LE(TestRunAttr.offsetOf('retval')) };
}

/** A test-runner bound to one program: reuses its attr buffer for batches. */
export function testRunner(progFd: number, ctx: Buffer): () => number {
  const attr = TestRunAttr.encode({ prog_fd: progFd, ctx_size_in: ctx.byteLength, ctx_in: addr(ctx) });
  const retvalAt = TestRunAttr.offsetOf('retval');
  return () => {
    bpf(BPF_CMD.PROG_TEST_RUN, attr, 'PROG_TEST_RUN');
    return attr.readUInt32LE(retvalAt);
  };
}

export interface MapCreateSpec {
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
  readonly name?: string;
  readonly btfFd?: number;
  readonly btfVmlinuxValueTypeId?: number;
}

export function mapCreate(spec: MapCreateSpec): number {
  return bpf(BPF_CMD.MAP_CREATE, MapCreateAttr.encode({
    map_type: spec.type, key_size: spec.keySize, value_size: spec.valueSize, max_entries: spec.maxEntries,
    map_flags: spec.flags ?? 0, map_name: spec.name ?? '', btf_fd: spec.btfFd ?? 0,
    btf_vmlinux_value_type_id: spec.btfVmlinuxValueTypeId ?? 0,
  }), `MAP_CREATE type ${spec.type}`);
}

export function mapUpdate(mapFd: number, key: Buffer, value: Buffer, flags = BPF_ANY): void {
  bpf(BPF_CMD.MAP_UPDATE_ELEM, MapElemAttr.encode({ map_fd: mapFd, key: addr(key), value: addr(value), flags: BigInt(flags) }), 'MAP_UPDATE_ELEM');
}

/** The value for `key`, or undefined when the map has none. */
export function mapLookup(mapFd: number, key: Buffer, valueSize: number): Buffer | undefined {
  const value = Buffer.alloc(valueSize);
  try {
    bpf(BPF_CMD.MAP_LOOKUP_ELEM, MapElemAttr.encode({ map_fd: mapFd, key: addr(key), value: addr(value) }), 'MAP_LOOKUP_ELEM');
  } catch (e) {
    if (e instanceof SysError && e.code === 'ENOENT') return undefined;
    throw e;
  }
  return value;
}

export function mapDelete(mapFd: number, key: Buffer): boolean {
  try {
    bpf(BPF_CMD.MAP_DELETE_ELEM, MapElemAttr.encode({ map_fd: mapFd, key: addr(key) }), 'MAP_DELETE_ELEM');
    return true;
  } catch (e) {
    if (e instanceof SysError && e.code === 'ENOENT') return false;
    throw e;
  }
}

/** BTF_LOAD; throws with the kernel's BTF log on rejection. */
export function btfLoad(btf: Buffer): number {
  const log = Buffer.alloc(1 << 14);
  const attr = BtfLoadAttr.encode({ btf: addr(btf), btf_size: btf.byteLength, btf_log_buf: addr(log), btf_log_size: log.byteLength, btf_log_level: 1 });
  try {
    return bpf(BPF_CMD.BTF_LOAD, attr, 'BTF_LOAD');
  } catch (e) {
    if (e instanceof SysError) throw new ErrnoError(`${e.message}: ${cstr(log).trim()}`, e.errnoValue, { cause: e });
    throw e;
  }
}

export function linkCreate(progOrMapFd: number, attachType: number, targetFd = 0): number {
  return bpf(BPF_CMD.LINK_CREATE, LinkCreateAttr.encode({ prog_or_map_fd: progOrMapFd, target_fd: targetFd, attach_type: attachType }), 'LINK_CREATE');
}

/** The address of a Buffer, for pointer arguments inside a test-run ctx. */
export function bufferAddress(buf: Uint8Array): bigint {
  return addr(buf);
}

/** Names of the BTF objects the kernel exposes (vmlinux and modules). */
export function kernelBtfNames(dir = '/sys/kernel/btf'): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Raw bytes of /sys/kernel/btf/<name>, or undefined when the kernel has no such BTF. */
export function readKernelBtf(name: string, dir = '/sys/kernel/btf'): Buffer | undefined {
  try {
    return fs.readFileSync(`${dir}/${name}`);
  } catch {
    return undefined;
  }
}

/** Why bpf(2) cannot be used here, or undefined when it can (a cheap probe). */
export function bpfUnavailable(): string | undefined {
  try {
    const fd = mapCreate({ type: MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
    closeFd(fd);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
