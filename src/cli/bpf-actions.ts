// What `famfs-ts bpf emit|verify|run` do (cli/bpf.ts wires them, and loads this module only
// when one runs): terminal output around src/bpf-policy, the kernel calls in src/sys/bpf.ts.
import fs from 'node:fs';
import { resolve as resolveMap, type FileMap } from '../interleave/filemap.js';
import { loadFileMap, loadLayout } from '../interleave/layout-yaml.js';
import { failAndExit, sizeArg } from './run.js';
import { emitGenericProgram, emitLayoutProgram, programBytes, programListing, type BpfProgram } from '../bpf-policy/program.js';
import { SHELL_NAMES, type ShellName } from '../bpf-policy/shells.js';
import { toElf } from '../bpf-policy/elf.js';
import { interpret, type Answer } from '../bpf-policy/shell-runs.js';
import { HashMapModel } from '../bpf-policy/interp.js';
import { encodeGenericValue, GENERIC_KEY_SIZE, GENERIC_VALUE_SIZE, nodeidKey } from '../bpf-policy/generic-program.js';
import { STATUS } from '../bpf-policy/core.js';
import { classifyTarget, imageFileMap } from './image.js';

class BpfCliError extends Error {}

export interface Common {
  layout?: string;
  fmap?: string;
  generic?: boolean;
  shell: string;
  json?: boolean;
}

/** The file's FileMap: `--fmap F` (daxdev names resolved through `--layout L`) or `IMAGE:PATH`. */
function fileMapOf(file: string | undefined, o: Common): FileMap {
  if (o.fmap !== undefined) {
    if (file !== undefined) throw new BpfCliError('give either --fmap FMAP.yaml or IMAGE:PATH, not both');
    return loadFileMap(o.fmap, o.layout === undefined ? undefined : loadLayout(o.layout));
  }
  if (file === undefined) throw new BpfCliError('name a file: --fmap FMAP.yaml [--layout LAYOUT.yaml] or IMAGE:PATH');
  if (classifyTarget(file).kind !== 'image') throw new BpfCliError(`${file}: not IMAGE:PATH; for a FileMap YAML use --fmap`);
  return imageFileMap(file).map;
}

function shellOf(s: string): ShellName {
  if (!(SHELL_NAMES as readonly string[]).includes(s)) throw new BpfCliError(`--shell ${s}: choose one of ${SHELL_NAMES.join(', ')}`);
  return s as ShellName;
}

const fail = (e: unknown): never => failAndExit(e, 1);

/** The kernel side is loaded lazily: it needs koffi and bpf(2), emit does not. */
async function kernel() {
  return import('../bpf-policy/kernel.js');
}

const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`) : v);

function answerText(a: Answer | string): string {
  if (typeof a === 'string') return a;
  if (a.status !== STATUS.MAPPED) return ['mapped', 'EOF', 'unknown nodeid', 'hole (no extent)'][a.status] ?? `status ${a.status}`;
  return `daxdev ${a.daxdev} offset 0x${a.offset!.toString(16)} length 0x${a.length!.toString(16)}`;
}

function expectedAnswer(map: FileMap, pos: number, shell: ShellName): Answer {
  if (shell === 'fuse_iomap_bpf_ops') {
    // That shell answers whole 4 KiB blocks from pos's block start (shells.ts), seen from pos.
    const start = pos - (pos % 4096);
    const a = expectedAnswer(map, start, 'syscall');
    if (a.status !== STATUS.MAPPED) return a;
    const delta = BigInt(pos - start);
    return { ...a, offset: a.offset! + delta, length: ((a.length! + 4095n) / 4096n) * 4096n - delta };
  }
  if (pos >= map.size) return { status: STATUS.EOF };
  try {
    const m = resolveMap(map, pos);
    return m ? { status: STATUS.MAPPED, daxdev: BigInt(m.daxdev), offset: BigInt(m.offset), length: BigInt(m.length) } : { status: STATUS.EOF };
  } catch {
    return { status: STATUS.HOLE };
  }
}
const NODEID = 1n;
/** The kfunc id the interpreter's model of fuse_bpf_inode_nodeid answers to (any id works there). */
const INTERP_KFUNC = 1;

export async function emit(file: string | undefined, o: Common & { format: string; output?: string }): Promise<void> {
  try {
    const shell = shellOf(o.shell);
    // Without a kernel map the generic program names map fd 0; verify/run create the map.
    // Its fuse_iomap_bpf_ops form calls a kfunc by the running kernel's BTF id.
    const prog = o.generic ? emitGenericProgram(0, shell, (await kernel()).kernelShellOptions(shell, true)) : emitLayoutProgram(fileMapOf(file, o), shell);
    let out: Buffer;
    switch (o.format) {
      case 'asm': out = Buffer.from(`${programListing(prog)}\n`); break;
      case 'raw': out = programBytes(prog); break;
      case 'elf':
        out = toElf(prog);
        if (prog.shell.structOps) {
          process.stderr.write(`famfs-ts: note: this object holds the ${shell} program only; libbpf also needs .BTF and a .struct_ops section to load a struct_ops program (reference bpf-tooling.md §2.2). famfs-ts registers it without libbpf (bpf verify / mount --bpf).\n`);
        }
        break;
      default: throw new BpfCliError(`--format ${o.format}: choose asm, raw or elf`);
    }
    if (o.output) fs.writeFileSync(o.output, out);
    else process.stdout.write(out);
  } catch (e) {
    fail(e);
  }
}

export async function verify(file: string | undefined, o: Common): Promise<void> {
  try {
    const shell = shellOf(o.shell);
    const k = await kernel();
    const map = o.generic ? undefined : fileMapOf(file, o);
    const layouts = o.generic ? new k.GenericLayoutMap(16) : undefined;
    try {
      const prog = layouts ? emitGenericProgram(layouts.fd, shell, k.kernelShellOptions(shell, true)) : emitLayoutProgram(map!, shell);
      const l = k.loadResolver(prog);
      l.close();
      const res = { program: prog.name, kind: prog.kind, shell, instructions: prog.insns.length, processed: l.processed ?? null };
      if (o.json) process.stdout.write(`${JSON.stringify(res)}\n`);
      else process.stdout.write(`${prog.name} (${prog.kind}, ${shell} shell): verifier accepted; ${prog.insns.length} instructions, ${l.processed ?? '?'} processed\n`);
    } finally {
      layouts?.close();
    }
  } catch (e) {
    fail(e);
  }
}

export async function run(file: string | undefined, o: Common & { offset: string[] }): Promise<void> {
  try {
    const shell = shellOf(o.shell);
    const map = fileMapOf(file, o);
    const offsets = o.offset.map((s) => sizeArg('--offset', s));
    if (offsets.length === 0) throw new BpfCliError('give at least one --offset X');
    // The interpreter runs everywhere; the kernel when bpf(2) and the shell's type allow.
    const maps = new Map([[0, new HashMapModel(GENERIC_KEY_SIZE, GENERIC_VALUE_SIZE)]]);
    if (o.generic) maps.get(0)!.update(nodeidKey(NODEID), encodeGenericValue(map));
    let kernelRun: ((pos: bigint) => Answer) | undefined;
    let kernelWhy = '';
    const cleanup: (() => void)[] = [];
    const progForInterp: BpfProgram = o.generic ? emitGenericProgram(0, shell, { nodeidKfunc: INTERP_KFUNC }) : emitLayoutProgram(map, shell);
    try {
      const k = await kernel();
      const { bpfUnavailable } = await import('../sys/bpf.js');
      const why = bpfUnavailable();
      if (why) throw new Error(why);
      let prog = progForInterp;
      if (o.generic) {
        const layouts = new k.GenericLayoutMap(16);
        cleanup.push(() => layouts.close());
        layouts.set(NODEID, map);
        prog = emitGenericProgram(layouts.fd, shell, k.kernelShellOptions(shell, true));
      }
      const l = k.loadResolver(prog);
      cleanup.push(() => l.close());
      const r = k.kernelRunner(l);
      kernelRun = (pos) => r(pos, NODEID);
    } catch (e) {
      const { VerifierError } = await import('../sys/bpf.js');
      kernelWhy = `kernel unavailable: ${e instanceof VerifierError ? `verifier: ${e.reason}` : e instanceof Error ? e.message : String(e)}`;
    }
    try {
      const rows = offsets.map((pos) => {
        const p = BigInt(pos);
        const kernelAnswer: Answer | string = kernelRun ? kernelRun(p) : kernelWhy;
        const interpAnswer = interpret(progForInterp, { pos: p, nodeid: NODEID, maps, nodeidKfunc: INTERP_KFUNC });
        const want = expectedAnswer(map, pos, shell);
        const same = (a: Answer | string) => typeof a !== 'string' && JSON.stringify(a, big) === JSON.stringify(want, big);
        return { offset: pos, kernel: kernelAnswer, interpreter: interpAnswer, resolve: want, agree: same(interpAnswer) && (typeof kernelAnswer === 'string' || same(kernelAnswer)) };
      });
      if (o.json) process.stdout.write(`${JSON.stringify(rows, big)}\n`);
      else {
        for (const r of rows) {
          process.stdout.write(`offset 0x${r.offset.toString(16)}${r.agree ? '' : '  MISMATCH'}\n  kernel:      ${answerText(r.kernel)}\n  interpreter: ${answerText(r.interpreter)}\n  resolve():   ${answerText(r.resolve)}\n`);
        }
      }
      if (rows.some((r) => !r.agree)) process.exitCode = 2;
    } finally {
      for (const c of cleanup.reverse()) c();
    }
  } catch (e) {
    fail(e);
  }
}
