// One way for a verb to fail: a CliError (or an ImageError/SysError/DestinationError from
// below) becomes one line on stderr, prefixed once with the command (src/cli/errors.ts), and
// famfs's exit status, exit_val(rc) = min(|rc|, 127) (famfs src/famfs_misc.c); Node's own
// errors keep their errno. Argument parsers live here too, so every verb reads sizes,
// numbers and modes the same way.
import { ImageError } from '../famfs/errors.js';
import { DestinationError } from '../famfs/destination.js';
import { LayoutError, formatProblem } from '../interleave/layout-yaml.js';
import { parseSize, SizeError } from '../interleave/size.js';
import { SysError } from '../sys/libc.js';
import { commandName, errorText, exitStatusOf, isBrokenPipe, withPrefix } from './errors.js';

/** A command-line error with famfs's exit status. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The message and exit status of anything a verb throws. The message carries `prefix` (the
 * running command, "famfs-ts VERB") unless it already starts with a tool prefix.
 */
export function failure(e: unknown, prefix: string = commandName()): { message: string; exitCode: number } {
  if (e instanceof CliError || e instanceof DestinationError) return { message: e.message && withPrefix(prefix, e.message), exitCode: e.exitCode };
  if (e instanceof ImageError) return { message: withPrefix(prefix, e.message), exitCode: e.exitCode };
  if (e instanceof SysError) return { message: withPrefix(prefix, e.message), exitCode: Math.min(e.errno, 127) };
  if (e instanceof LayoutError) return { message: e.problems.map((p) => formatProblem(p)).join('\n'), exitCode: 1 };
  return { message: withPrefix(prefix, errorText(e)), exitCode: exitStatusOf(e) };
}

function report(e: unknown): void {
  // The reader of our output went away (`famfs-ts ls ... | head -1`): end quietly.
  if (isBrokenPipe(e)) process.exit(0);
  const f = failure(e);
  if (f.message) process.stderr.write(`${f.message}\n`);
  process.exitCode = f.exitCode;
}

/** Run a verb body: a returned number is the exit status; a throw is reported by failure(). */
export function run(fn: () => number | void | Promise<number | void>): void | Promise<void> {
  try {
    const rc = fn();
    if (rc instanceof Promise) {
      return rc.then((v) => {
        if (typeof v === 'number' && v !== 0) process.exitCode = v;
      }, report);
    }
    if (typeof rc === 'number' && rc !== 0) process.exitCode = rc;
  } catch (e) {
    report(e);
  }
}

export function out(s: string): void {
  process.stdout.write(s);
}

/** A size with k/m/g (and KiB...) suffixes, or 0x hex: the one size parser of the CLI. */
export function sizeArg(what: string, v: string): number {
  try {
    return parseSize(v);
  } catch (e) {
    if (e instanceof SizeError) throw new CliError(`${what}: ${e.message}`, 22, { cause: e });
    throw e;
  }
}

/** A non-negative integer (decimal or 0x hex, as strtoul with base 0). */
export function intArg(what: string, v: string): number {
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new CliError(`${what}: "${v}" is not a non-negative integer`, 22);
  return n;
}

export function octalArg(what: string, v: string): number {
  if (!/^[0-7]{1,4}$/.test(v)) throw new CliError(`${what}: "${v}" is not an octal mode`, 22);
  return parseInt(v, 8);
}

/** famfs's thread counts: 0..256 (0 = in the calling thread). */
export function threadArg(what: string, v: string): number {
  const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 256) throw new CliError(`${what}: bad thread count ${v} (0..256)`, 22);
  return n;
}

/** Commander collector for repeatable options. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Progress on a terminal only, and only for work a person waits on (>= 64 MiB). */
export function progress(label: string, done: number, total: number): void {
  if (!process.stderr.isTTY || total < 64 * 1024 * 1024) return;
  const pct = Math.floor((100 * done) / total);
  process.stderr.write(`\r${label}: ${pct}%${done >= total ? '\n' : ''}`);
}

/** For verbs that end the process at once: report `e` as failure() does and exit with `exitCode` (default: its famfs status). */
export function failAndExit(e: unknown, exitCode?: number): never {
  const f = failure(e);
  process.stderr.write(`${f.message}\n`);
  process.exit(exitCode ?? f.exitCode);
}
