// `famfs-ts status`: the famfs-ts mounts of this host (from /proc/mounts) with what each
// server says about itself in the JSON xattr user.famfs.status on the mount root: pid,
// role, ABI profile, devices and per-opcode counters. A server without that attribute is
// listed from /proc/mounts alone, with the counters marked unavailable.
import type { Command } from 'commander';
import { famfsTsMounts, type MountEntry } from '../famfs/proc-mounts.js';
import { getXattr } from '../sys/xattr.js';
import { out, run } from './run.js';
import { STATUS_XATTR } from '../server/control-xattrs.js';

export interface OpCounter {
  readonly count: number;
  readonly errors: number;
  /** The calls meanUs and maxUs are taken over (serving threads time one call in 16); absent from older servers, which timed every call. */
  readonly timed?: number;
  readonly meanUs: number;
  readonly maxUs: number;
}

export interface ServerStatus {
  readonly pid: number;
  readonly role: 'master' | 'client';
  readonly abi: string;
  readonly devices: readonly string[];
  readonly mountpoint: string;
  readonly readonly: boolean;
  readonly ops: Readonly<Record<string, OpCounter>>;
}

export interface MountStatus {
  readonly mountpoint: string;
  readonly source: string;
  readonly readonly: boolean;
  readonly status?: ServerStatus;
  /** Why the server's status is missing (an older server, or one not answering). */
  readonly unavailable?: string;
}

function isStatus(v: unknown): v is ServerStatus {
  const s = v as Partial<ServerStatus> | null;
  return typeof s === 'object' && s !== null && typeof s.pid === 'number' && (s.role === 'master' || s.role === 'client') && typeof s.abi === 'string' && Array.isArray(s.devices) && typeof s.ops === 'object';
}

/** One mount's status; `read` is the xattr reader (tests pass a fake). */
export function mountStatus(m: MountEntry, read: (path: string, name: string) => Buffer = (p, n) => getXattr(p, n, 1 << 20)): MountStatus {
  const base = { mountpoint: m.mountpoint, source: m.source, readonly: m.options.includes('ro') };
  let raw: Buffer;
  try {
    raw = read(m.mountpoint, STATUS_XATTR);
  } catch (e) {
    return { ...base, unavailable: `the server does not answer ${STATUS_XATTR} (${(e as Error).message}); counters unavailable` };
  }
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    if (isStatus(v)) return { ...base, status: v };
    return { ...base, unavailable: `${STATUS_XATTR} is not the expected shape; counters unavailable` };
  } catch {
    return { ...base, unavailable: `${STATUS_XATTR} is not JSON; counters unavailable` };
  }
}

export function statusText(list: readonly MountStatus[]): string {
  if (!list.length) return 'no famfs-ts mounts\n';
  const lines: string[] = [];
  for (const m of list) {
    lines.push(`${m.mountpoint}: ${m.source}${m.readonly ? ' (read-only)' : ''}`);
    if (!m.status) {
      lines.push(`  ${m.unavailable}`);
      continue;
    }
    const s = m.status;
    lines.push(`  server pid ${s.pid}, role ${s.role}, abi ${s.abi}, devices ${s.devices.join(', ')}`);
    const ops = Object.entries(s.ops).sort((a, b) => b[1].count - a[1].count);
    if (ops.length) lines.push(`  ${'op'.padEnd(16)} ${'count'.padStart(10)} ${'errors'.padStart(8)} ${'timed'.padStart(10)} ${'mean us'.padStart(9)} ${'max us'.padStart(9)}`);
    for (const [name, c] of ops) lines.push(`  ${name.padEnd(16)} ${String(c.count).padStart(10)} ${String(c.errors).padStart(8)} ${String(c.timed ?? c.count).padStart(10)} ${c.meanUs.toFixed(1).padStart(9)} ${c.maxUs.toFixed(0).padStart(9)}`);
  }
  return lines.join('\n') + '\n';
}

export function registerStatus(program: Command): void {
  program.command('status')
    .description('list famfs-ts mounts: device, role, server pid, ABI profile and per-opcode counters (from /proc/mounts and user.famfs.status)')
    .option('--json', 'JSON: one object per mount')
    .action((o: { json?: boolean }) => run(() => {
      const list = famfsTsMounts().map((m) => mountStatus(m));
      out(o.json ? JSON.stringify(list, null, 2) + '\n' : statusText(list));
    }));
}
