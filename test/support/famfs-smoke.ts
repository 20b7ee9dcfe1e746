// famfs's smoke tests (github cxl-micron-reskit/famfs, smoke/*.sh at 5d0919f) retold as a
// table of command steps, each with the expectation the smoke test has of it (good = exit 0,
// fail = exit 1..127, nocrash = any exit below 128; 128 and above is a crash in both). The
// same table runs offline (`@/x` is IMAGE:/x) and through a real famfs-ts mount (`@/x` is
// MNT/x). Steps that only make sense with a mount are marked, and so are the steps where
// famfs-ts deliberately answers otherwise (docs/famfs-differences.md), with its answer.
//
// Left out, because they test things famfs-ts does not have: kernel module loading and raw
// `mount -t famfs`, dax mode switching, famfs_fused's REST socket and binary, multichase.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './mount-harness.js';

export type Mode = 'offline' | 'mounted';
export type Expect = 'good' | 'fail' | 'nocrash';

export interface Step {
  readonly script: string;
  readonly expect: Expect | 'setup';
  /** famfs-style command: `famfs ...`, `mkfs ...`, `fsck ...`, `mount ...` or `sh ...`. */
  readonly cmd: string;
  readonly only?: Mode;
  /** The offline form when it differs. */
  readonly offline?: string;
  /** Run in the mount's parent, the mount root, or the scratch directory. */
  readonly cwd?: 'parent' | 'root' | 'tmp';
  /** Run as this uid (famfs's CLI_NOSUDO steps). */
  readonly uid?: number;
  /** A deliberate difference: famfs-ts's answer and why (docs/famfs-differences.md); `mode` limits it to one mode. */
  readonly ours?: { readonly expect: Expect; readonly why: string; readonly mode?: Mode };
  /** Extra check of stdout (famfs's assert_equal after the step). */
  readonly stdout?: RegExp;
  /** The step recreates the file system (famfs_recreate), uncounted; 'bare' = a device with nothing on it, unmounted. */
  readonly recreate?: boolean | 'bare';
}

export interface Ctx {
  readonly mode: Mode;
  readonly dir: string;
  readonly dev: string;
  readonly mnt: string;
  readonly tmp: string;
}

export interface Outcome {
  readonly step: Step;
  readonly status: number;
  readonly metFamfs: boolean;
  readonly metOurs: boolean;
  readonly output: string;
}

// FAMFS_SMOKE_ROOT runs the steps against another build (e.g. an older commit, to compare).
const BUILD = process.env.FAMFS_SMOKE_ROOT ?? ROOT;
const CLI = path.join(BUILD, 'dist/src/cli/main.js');
const MKFS = path.join(BUILD, 'dist/tools/mkfs.js');

function subst(tok: string, c: Ctx, shell = false): string {
  if (tok === '@') return c.mode === 'mounted' ? c.mnt : c.dev;
  // `@/x` as a whole argument or after `=` (dd of=@/x).
  const at = /^(\w+=)?@\//.exec(tok);
  if (at) {
    const rest = tok.slice(at[0].length - 1);
    return `${at[1] ?? ''}${c.mode === 'mounted' ? `${c.mnt}${rest}` : `${c.dev}:${rest}`}`;
  }
  if (tok.startsWith('%') && !shell) return c.mode === 'mounted' ? tok.slice(1) : `${c.dev}:/${tok.slice(1)}`;
  return tok.replace(/\$DEV/g, c.dev).replace(/\$MNT/g, c.mnt).replace(/\$T/g, c.tmp).replace(/\$CLI/g, `${process.execPath} ${CLI}`)
    .replace(/\$UID/g, String(process.getuid?.() ?? 0)).replace(/\$GID/g, String(process.getgid?.() ?? 0));
}

/** The argv (or shell line) of a step in a mode. */
export function commandOf(s: Step, c: Ctx): { file: string; args: string[] } {
  const text = c.mode === 'offline' && s.offline ? s.offline : s.cmd;
  const [head, ...rest] = text.split(/\s+/).filter(Boolean);
  const args = rest.map((t) => subst(t, c));
  switch (head) {
    case 'famfs': return { file: process.execPath, args: [CLI, ...args] };
    case 'mkfs': return { file: process.execPath, args: [MKFS, '--fuse', ...args] };
    case 'fsck': return { file: process.execPath, args: [CLI, 'fsck', '--fuse', ...args] };
    case 'mount': return { file: process.execPath, args: [CLI, 'mount', '--fuse', ...args] };
    case 'sh': return { file: 'bash', args: ['-c', rest.map((t) => subst(t, c, true)).join(' ')] };
    default: throw new Error(`smoke step: unknown command ${head}`);
  }
}

function meets(e: Expect, status: number): boolean {
  if (e === 'good') return status === 0;
  if (e === 'fail') return status >= 1 && status <= 127;
  return status >= 0 && status < 128;
}

/** Unmount `mnt` if something is mounted there (lazy when busy). */
export function unmountIfMounted(mnt: string): void {
  for (let i = 0; i < 3; i++) {
    const mounted = fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt);
    if (!mounted) return;
    spawnSync('umount', i < 2 ? [mnt] : ['-l', mnt]);
  }
}

/** famfs_recreate: a fresh sparse device, mkfs, and (mounted) a mount. */
export function recreate(c: Ctx, size: number, bare = false): void {
  if (c.mode === 'mounted') unmountIfMounted(c.mnt);
  fs.rmSync(c.dev, { force: true });
  fs.writeFileSync(c.dev, '');
  fs.truncateSync(c.dev, size);
  if (bare) return;
  const mk = spawnSync(process.execPath, [MKFS, c.dev], { encoding: 'utf8' });
  if (mk.status !== 0) throw new Error(`recreate: mkfs: ${mk.stderr}`);
  if (c.mode === 'mounted') {
    const m = spawnSync(process.execPath, [CLI, 'mount', c.dev, c.mnt], { encoding: 'utf8', timeout: 60_000 });
    if (m.status !== 0) throw new Error(`recreate: mount: ${m.stderr}`);
  }
}

/** Run the steps that apply to `c.mode`; every outcome is returned, nothing thrown for a miss. */
export function runSteps(steps: readonly Step[], c: Ctx, deviceSize: number, log?: (line: string) => void): Outcome[] {
  const out: Outcome[] = [];
  // FAMFS_SMOKE_SCRIPTS=test0,test1 runs those scripts only (each starts from a fresh file system).
  const only = process.env.FAMFS_SMOKE_SCRIPTS?.split(',');
  for (const s of steps) {
    if (s.only && s.only !== c.mode) continue;
    if (only && !only.includes(s.script)) continue;
    if (s.recreate) {
      recreate(c, deviceSize, s.recreate === 'bare');
      continue;
    }
    const { file, args } = commandOf(s, c);
    const cwd = s.uid !== undefined ? '/' : s.cwd === 'parent' ? path.dirname(c.mnt) : s.cwd === 'root' && c.mode === 'mounted' ? c.mnt : c.tmp;
    const r = spawnSync(file, args, { encoding: 'utf8', cwd, timeout: 300_000, maxBuffer: 64 << 20, uid: s.uid, gid: s.uid });
    const status = r.status ?? (r.signal ? 128 + 9 : -1);
    if (s.expect === 'setup') {
      // A setup command of the script (not an expect_* step): a failure is shown, not counted.
      if (status !== 0) log?.(`setup step failed: [${s.script}] ${s.cmd}: ${r.stderr}`);
      continue;
    }
    const okOut = s.stdout ? s.stdout.test(r.stdout ?? '') : true;
    const metFamfs = meets(s.expect, status) && okOut;
    const ours = s.ours && (s.ours.mode === undefined || s.ours.mode === c.mode) ? s.ours : undefined;
    const metOurs = ours ? meets(ours.expect, status) : metFamfs;
    out.push({ step: s, status, metFamfs, metOurs, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-600) });
    log?.(`${metOurs ? 'ok  ' : 'MISS'} [${s.script}] ${s.expect} ${s.cmd} -> ${status}${metOurs ? '' : `\n${`${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-400)}`}`);
  }
  return out;
}

export function report(name: string, outcomes: readonly Outcome[]): string {
  const met = outcomes.filter((o) => o.metFamfs).length;
  const lines = [`${name}: famfs's expectation met in ${met} of ${outcomes.length} steps`];
  for (const o of outcomes) if (!o.metFamfs) lines.push(`  [${o.step.script}] ${o.step.expect} ${o.step.cmd} -> exit ${o.status}${o.step.ours ? ` (deliberate${o.step.ours.mode ? ` when ${o.step.ours.mode}` : ''}: ${o.step.ours.why})` : ''}`);
  return lines.join('\n');
}
