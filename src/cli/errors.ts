// How the CLI reports a failure: one line naming the operation and the path or device, never
// a stack trace, never Node's bare "ENOENT: no such file or directory, stat 'x'", never a
// prefix twice. A closed stdout (`famfs-ts ls | head -1`) ends the command quietly.
import os from 'node:os';

/** A Node system error (fs, child_process): it carries errno code, syscall and path. */
function systemError(e: unknown): NodeJS.ErrnoException | undefined {
  if (!(e instanceof Error)) return undefined;
  const x = e as NodeJS.ErrnoException;
  return typeof x.code === 'string' && typeof x.syscall === 'string' ? x : undefined;
}

/** Whether `e` is a write to a pipe whose reader has gone. */
export function isBrokenPipe(e: unknown): boolean {
  return e instanceof Error && (e as NodeJS.ErrnoException).code === 'EPIPE';
}

/** strerror-like text for an errno name ("ENOENT" -> "No such file or directory"). */
function describeCode(x: NodeJS.ErrnoException): string {
  // Node's message is "CODE: description, syscall 'path'"; keep the description.
  const m = /^[A-Z0-9_]+: ([^,]+)/.exec(x.message);
  const text = m?.[1] ?? x.code ?? 'error';
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The message of `e` for the user: a system error becomes "syscall path: Description"
 * (path -> dest for rename/link/copy), anything else keeps its own message.
 */
export function errorText(e: unknown): string {
  const x = systemError(e);
  if (x) {
    const dest = (x as NodeJS.ErrnoException & { dest?: string }).dest;
    const where = x.path ? ` ${x.path}${dest ? ` -> ${dest}` : ''}` : '';
    return `${x.syscall}${where}: ${describeCode(x)}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Prefix `msg` with `prefix: ` unless it already starts with a tool prefix. */
export function withPrefix(prefix: string, msg: string): string {
  // Tool prefixes only: "famfs-ts", "famfs-ts VERB", "famfs", "famfs VERB", "famfs_fn",
  // "mkfs.famfs(-ts)", and famfs's own "Error:" lines (an image named famfs.img is a path,
  // not a prefix).
  if (/^(famfs-ts( [a-z]+)?|famfs( [a-z]+)?|famfs_[a-z_]+|mkfs\.famfs(-ts)?|Error):/.test(msg)) return msg;
  return `${prefix}: ${msg}`;
}

/**
 * "famfs-ts VERB" of the running command (the first word after the program that is not an
 * option), or "famfs-ts" when the CLI runs inside another program (tests).
 */
export function commandName(argv: readonly string[] = process.argv): string {
  if (!/main\.js$|famfs-ts$/.test(argv[1] ?? '')) return 'famfs-ts';
  const verb = argv.slice(2).find((a) => !a.startsWith('-'));
  return verb ? `famfs-ts ${verb}` : 'famfs-ts';
}

/** famfs's exit status for a system error (min(errno, 127)), 1 otherwise. */
export function exitStatusOf(e: unknown): number {
  const x = systemError(e);
  const n = x?.code ? os.constants.errno[x.code as keyof typeof os.constants.errno] : undefined;
  return typeof n === 'number' ? Math.min(n, 127) : 1;
}

/**
 * Make every later write to stdout or stderr whose reader is gone end the process quietly
 * (exit 0: the reader took what it wanted, as `ls | head` shows nothing either).
 */
export function quietOnBrokenPipe(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: unknown) => {
      if (isBrokenPipe(e)) process.exit(0);
      throw e;
    });
  }
}
