// Loading resolver programs into the running kernel, test-running them, the generic
// program's hash map, and the raw struct_ops registration sequence (bpf-tooling.md §6).
import {
  BPF_ATTACH_STRUCT_OPS, BPF_F_LINK, BPF_F_NO_PREALLOC, BPF_F_SLEEPABLE, MAP_TYPE, btfLoad, bufferAddress,
  closeFd, kernelBtfNames, linkCreate, mapCreate, mapDelete, mapLookup, mapUpdate, progLoad, readKernelBtf,
  testRunner, VerifierError, type LoadedProg,
} from '../sys/bpf.js';
import { SysError } from '../sys/libc.js';
import type { FileMap } from '../interleave/filemap.js';
import { Btf, btfStrings, parseBtf, tinyBtf } from './btf.js';
import { STATUS } from './core.js';
import { encodeGenericValue, GENERIC_KEY_SIZE, GENERIC_VALUE_SIZE, nodeidKey } from './generic-program.js';
import { emitGenericProgram, emitLayoutProgram, programBytes, type BpfProgram } from './program.js';
import { dummyAnswer, u64s, type Answer } from './shell-runs.js';
import { DUMMY_MODE, SHELLS, SyscallCtx, type ShellName } from './shells.js';
import type { StructOpsFlavor } from '../mapping/series.js';

let vmlinux: Btf | undefined;
/** vmlinux BTF, parsed once (about 60 ms). */
export function vmlinuxBtf(): Btf {
  if (!vmlinux) {
    const bytes = readKernelBtf('vmlinux');
    if (!bytes) throw new Error('this kernel exposes no /sys/kernel/btf/vmlinux');
    vmlinux = parseBtf(bytes);
  }
  return vmlinux;
}

/** The running kernel's BTF id of kfunc fuse_bpf_inode_nodeid (fuse-iomap-abi.md errata), if it has one. */
export function nodeidKfuncId(): number | undefined {
  return vmlinuxBtf().find(12 /* BTF_KIND_FUNC */, 'fuse_bpf_inode_nodeid')?.id;
}

/**
 * The shell options a program for `shell` needs from the running kernel: the generic program
 * in the fuse_iomap_bpf_ops shell calls kfunc fuse_bpf_inode_nodeid by its BTF id, which only
 * this kernel's BTF can tell (the emitter cannot guess it).
 */
export function kernelShellOptions(shell: ShellName, generic: boolean): { nodeidKfunc?: number } {
  if (shell !== 'fuse_iomap_bpf_ops' || !generic) return {};
  const id = nodeidKfuncId();
  if (id === undefined) throw new Error('this kernel\'s BTF (/sys/kernel/btf/vmlinux) has no kfunc fuse_bpf_inode_nodeid, which the generic fuse_iomap_bpf_ops program calls');
  return { nodeidKfunc: id };
}

/** Where a struct_ops type lives in kernel BTF and the facts registration needs. */
export interface StructOpsTarget {
  readonly type: string;
  readonly btfObject: string;
  readonly typeId: number;
  readonly memberIndex: number;
  readonly memberOffset: number;
  /** bpf_struct_ops_<type>: the STRUCT_OPS map value. */
  readonly wrapperId: number;
  readonly wrapperSize: number;
  /** Offset of the ops struct inside the wrapper (cacheline aligned: 64 on 6.18, bpf-tooling.md §6). */
  readonly dataOffset: number;
  /** Data members the subsystem's init_member copies (name, dev_fd, fuse_fd) and their offsets. */
  readonly dataMembers: ReadonlyMap<string, number>;
}

/**
 * Find `type`'s struct_ops facts in vmlinux BTF, then in module BTF. Returns the plain
 * reason when the kernel does not have it.
 */
export function findStructOps(type: string, member: string): StructOpsTarget | string {
  const names = kernelBtfNames();
  if (names.length === 0) return 'this kernel exposes no BTF under /sys/kernel/btf';
  const base = vmlinuxBtf();
  const baseStr = btfStrings(readKernelBtf('vmlinux')!);
  const searched: string[] = [];
  for (const obj of ['vmlinux', ...names.filter((n) => n !== 'vmlinux')]) {
    let btf: Btf;
    if (obj === 'vmlinux') btf = base;
    else {
      const bytes = readKernelBtf(obj);
      if (!bytes) continue;
      try { btf = parseBtf(bytes, base, baseStr); } catch { continue; }
    }
    searched.push(obj);
    const t = btf.struct(type);
    const w = btf.struct(`bpf_struct_ops_${type}`);
    if (!t || !w) continue;
    if (obj !== 'vmlinux') {
      return `struct ${type} is in module BTF "${obj}"; registering against module BTF (attach_btf_obj_fd) is not implemented`;
    }
    const m = btf.member(type, member);
    if (!m) return `struct ${type} has no member ${member} in this kernel's BTF`;
    const data = w.members?.find((x) => x.name === 'data');
    if (!data) return `struct bpf_struct_ops_${type} has no data member`;
    const dataMembers = new Map<string, number>();
    for (const x of t.members ?? []) if (['name', 'dev_fd', 'fuse_fd'].includes(x.name)) dataMembers.set(x.name, x.offset);
    return {
      type, btfObject: obj, typeId: t.id, memberIndex: m.index, memberOffset: m.offset,
      wrapperId: w.id, wrapperSize: w.sizeOrType, dataOffset: data.offset, dataMembers,
    };
  }
  return `this kernel's BTF has no struct ${type} (searched ${searched.length > 3 ? `vmlinux and ${searched.length - 1} modules` : searched.join(', ')})`;
}

export interface LoadedResolver extends LoadedProg {
  readonly program: BpfProgram;
  close(): void;
}

/** PROG_LOAD `p` as its shell's program type (struct_ops shells need the type in kernel BTF). */
export function loadResolver(p: BpfProgram): LoadedResolver {
  const s = p.shell;
  let attach: { expectedAttachType: number; attachBtfId: number } | undefined;
  if (s.structOps) {
    const t = findStructOps(s.structOps.type, s.structOps.member);
    if (typeof t === 'string') throw new Error(`cannot load the ${s.name} shell: ${t}`);
    attach = { expectedAttachType: t.memberIndex, attachBtfId: t.typeId };
  }
  const loaded = progLoad({
    progType: s.progType, insns: programBytes(p), license: s.license, name: p.name,
    flags: s.sleepable ? BPF_F_SLEEPABLE : 0, ...(attach ?? {}),
  });
  return { ...loaded, program: p, close: () => closeFd(loaded.fd) };
}

/**
 * A kernel test-runner for a loaded syscall or bpf_dummy_ops program: answers like
 * shell-runs.ts interpret(), from BPF_PROG_TEST_RUN. Buffers are reused across calls.
 */
export function kernelRunner(r: LoadedResolver): (pos: bigint, nodeid?: bigint) => Answer {
  const shell: ShellName = r.program.shell.name;
  if (shell === 'syscall') {
    const ctx = Buffer.alloc(SyscallCtx.size);
    const go = testRunner(r.fd, ctx);
    const at = (f: 'pos' | 'daxdev' | 'offset' | 'length' | 'nodeid') => SyscallCtx.offsetOf(f);
    return (pos, nodeid = 0n) => {
      ctx.writeBigUInt64LE(BigInt.asUintN(64, pos), at('pos'));
      ctx.writeBigUInt64LE(nodeid, at('nodeid'));
      const status = go();
      if (status !== STATUS.MAPPED) return { status };
      return { status, daxdev: ctx.readBigUInt64LE(at('daxdev')), offset: ctx.readBigUInt64LE(at('offset')), length: ctx.readBigUInt64LE(at('length')) };
    };
  }
  if (shell === 'bpf_dummy_ops') {
    const state = Buffer.alloc(4);
    const args = Buffer.alloc(5 * 8);
    const go = testRunner(r.fd, args);
    const stateAddr = bufferAddress(state);
    return (pos, nodeid = 0n) => dummyAnswer((mode) => {
      state.fill(0);
      u64s([stateAddr, BigInt(mode), nodeid, 0n, pos]).copy(args);
      const retval = go();
      return { retval, val: state.readUInt32LE(0) };
    });
  }
  throw new Error(`the ${shell} shell cannot be test-run: only syscall and bpf_dummy_ops programs can (bpf-tooling.md §5.9)`);
}

/** A bpf_dummy_ops program's DIGEST mode in the kernel: DUMMY_BATCH positions per test-run. */
export function kernelDigestRunner(r: LoadedResolver): (pos0: bigint, stride: bigint, nodeid?: bigint) => bigint {
  if (r.program.shell.name !== 'bpf_dummy_ops') throw new Error('only the bpf_dummy_ops shell has a DIGEST mode');
  const state = Buffer.alloc(4);
  const args = Buffer.alloc(5 * 8);
  const go = testRunner(r.fd, args);
  const stateAddr = bufferAddress(state);
  return (pos0, stride, nodeid = 0n) => {
    u64s([stateAddr, BigInt(DUMMY_MODE.DIGEST), nodeid, stride, pos0]).copy(args);
    const lo = go();
    return (BigInt(state.readUInt32LE(0)) << 32n) | BigInt(lo);
  };
}

/** The generic program's layout map: a BPF hash map nodeid -> encodeGenericValue(). */
export class GenericLayoutMap {
  readonly fd: number;
  constructor(maxEntries = 4096) {
    this.fd = mapCreate({
      type: MAP_TYPE.HASH, keySize: GENERIC_KEY_SIZE, valueSize: GENERIC_VALUE_SIZE, maxEntries,
      flags: BPF_F_NO_PREALLOC, name: 'famfs_layouts',
    });
  }
  set(nodeid: number | bigint, map: FileMap): void {
    mapUpdate(this.fd, nodeidKey(nodeid), encodeGenericValue(map));
  }
  get(nodeid: number | bigint): Buffer | undefined {
    return mapLookup(this.fd, nodeidKey(nodeid), GENERIC_VALUE_SIZE);
  }
  delete(nodeid: number | bigint): boolean {
    return mapDelete(this.fd, nodeidKey(nodeid));
  }
  close(): void {
    closeFd(this.fd);
  }
}

export type { StructOpsFlavor };

export interface Registration {
  readonly registered: true;
  /** The generic program's nodeid -> layout map (absent for a per-layout program). */
  readonly layouts?: GenericLayoutMap;
  readonly linkFd: number;
  /** Detach (close the link) and free the program and maps. */
  close(): void;
}

export interface NotRegistered {
  readonly registered: false;
  /** Plain reason, for the server's log line. */
  readonly reason: string;
  /** The step that failed (absent when the kernel lacks the type altogether). */
  readonly step?: 'PROG_LOAD' | 'BTF_LOAD' | 'MAP_CREATE' | 'MAP_UPDATE_ELEM' | 'LINK_CREATE';
  readonly errno?: string;
}

export interface RegisterOptions {
  /** The server's /dev/fuse fd (fuse_bpf_ops dev_fd, fuse_iomap_bpf_ops fuse_fd). */
  readonly fuseFd: number;
  readonly flavor?: StructOpsFlavor;
  readonly maxFiles?: number;
  /**
   * Register the per-layout program for this one file map instead of the generic program
   * (bpf_dummy_ops programs cannot call map helpers, so its walk uses this).
   */
  readonly fileMap?: FileMap;
}

/**
 * Register the generic resolver for a FUSE connection: PROG_LOAD (struct_ops), BTF_LOAD,
 * MAP_CREATE (STRUCT_OPS, BPF_F_LINK), MAP_UPDATE_ELEM, LINK_CREATE (bpf-tooling.md §6).
 * The server then fills `layouts` at OPEN. Returns the plain reason when the kernel cannot,
 * so `mount --bpf` can fall back to answering in user space.
 */
export function registerResolver(opts: RegisterOptions): Registration | NotRegistered {
  const flavor = opts.flavor ?? 'fuse_bpf_ops';
  const spec = SHELLS[flavor].structOps!;
  let target: StructOpsTarget | string;
  try {
    target = findStructOps(spec.type, spec.member);
  } catch (e) {
    return { registered: false, reason: e instanceof Error ? e.message : String(e) };
  }
  if (typeof target === 'string') return { registered: false, reason: target };
  let nodeidKfunc: number | undefined;
  if (flavor === 'fuse_iomap_bpf_ops' && !opts.fileMap) {
    nodeidKfunc = nodeidKfuncId();
    if (nodeidKfunc === undefined) return { registered: false, reason: 'kernel BTF has fuse_iomap_bpf_ops but no kfunc fuse_bpf_inode_nodeid' };
  }
  const fds: number[] = [];
  const cleanup = () => { for (const fd of fds.reverse()) closeFd(fd); };
  let step: NotRegistered['step'] = 'MAP_CREATE';
  try {
    const layouts = opts.fileMap ? undefined : new GenericLayoutMap(opts.maxFiles);
    if (layouts) fds.push(layouts.fd);
    step = 'PROG_LOAD';
    const prog = layouts
      ? emitGenericProgram(layouts.fd, flavor, { ...(nodeidKfunc === undefined ? {} : { nodeidKfunc }) })
      : emitLayoutProgram(opts.fileMap!, flavor);
    const loaded = progLoad({
      progType: prog.shell.progType, insns: programBytes(prog), license: prog.shell.license, name: prog.name,
      expectedAttachType: target.memberIndex, attachBtfId: target.typeId,
    });
    fds.push(loaded.fd);
    step = 'BTF_LOAD';
    const btfFd = btfLoad(tinyBtf());
    fds.push(btfFd);
    step = 'MAP_CREATE';
    const opsFd = mapCreate({
      type: MAP_TYPE.STRUCT_OPS, keySize: 4, valueSize: target.wrapperSize, maxEntries: 1, flags: BPF_F_LINK,
      btfFd, btfVmlinuxValueTypeId: target.wrapperId, name: 'famfs_ops',
    });
    fds.push(opsFd);
    step = 'MAP_UPDATE_ELEM';
    const value = Buffer.alloc(target.wrapperSize);
    value.writeBigUInt64LE(BigInt(loaded.fd), target.dataOffset + target.memberOffset);
    const nameAt = target.dataMembers.get('name');
    if (nameAt !== undefined) value.write('famfs_ts', target.dataOffset + nameAt, 'latin1');
    for (const f of ['dev_fd', 'fuse_fd']) {
      const at = target.dataMembers.get(f);
      if (at !== undefined) value.writeInt32LE(opts.fuseFd, target.dataOffset + at);
    }
    mapUpdate(opsFd, Buffer.alloc(4), value);
    step = 'LINK_CREATE';
    const linkFd = linkCreate(opsFd, BPF_ATTACH_STRUCT_OPS);
    fds.push(linkFd);
    return { registered: true, ...(layouts ? { layouts } : {}), linkFd, close: cleanup };
  } catch (e) {
    cleanup();
    const errno = e instanceof SysError ? e.code : e instanceof VerifierError ? e.sys.code : undefined;
    const msg = e instanceof Error ? e.message : String(e);
    return { registered: false, step, reason: `${spec.type}: ${step} failed: ${msg}`, ...(errno ? { errno } : {}) };
  }
}
