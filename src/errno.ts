// One errno vocabulary for every layer: an Errno is a name and its Linux number together, so
// a FUSE reply (-number), a famfs exit status (min(number, 127)) and a message (name) all come
// from the same value. Every error class of the project extends ErrnoError and so carries
// one; code that catches and re-throws passes the original as `cause`.
import os from 'node:os';

/** The names Node knows on this platform (Linux numbers on Linux, which is all famfs-ts runs on). */
export type ErrnoName = keyof typeof os.constants.errno;

const NUMBERS = os.constants.errno;

export class Errno {
  private static readonly byNumber = new Map<number, Errno>();
  private static readonly byName = new Map<string, Errno>();

  private constructor(readonly name: ErrnoName | `errno ${number}`, readonly number: number) {}

  static of(name: ErrnoName): Errno {
    let e = Errno.byName.get(name);
    if (!e) {
      e = new Errno(name, NUMBERS[name]);
      Errno.byName.set(name, e);
      if (!Errno.byNumber.has(e.number)) Errno.byNumber.set(e.number, e);
    }
    return e;
  }

  /** The Errno of a positive number (a number no name has keeps a generic name). */
  static fromNumber(n: number): Errno {
    const known = Errno.byNumber.get(n);
    if (known) return known;
    const name = (Object.keys(NUMBERS) as ErrnoName[]).find((k) => NUMBERS[k] === n);
    if (name) return Errno.of(name);
    const e = new Errno(`errno ${n}`, n);
    Errno.byNumber.set(n, e);
    return e;
  }

  /** A name given as text (e.g. Node's `code`), or undefined when it is not an errno name. */
  static parse(name: string): Errno | undefined {
    return Object.hasOwn(NUMBERS, name) ? Errno.of(name as ErrnoName) : undefined;
  }

  /** famfs's process exit status for this errno (exit_val = min(|rc|, 127)). */
  get exitCode(): number {
    return Math.min(this.number, 127);
  }

  toString(): string {
    return this.name;
  }
}

/** Shorthand for `Errno.of(name)` or `Errno.fromNumber(n)`. */
export function errnoOf(code: ErrnoName | number | Errno): Errno {
  if (code instanceof Errno) return code;
  return typeof code === 'number' ? Errno.fromNumber(code) : Errno.of(code);
}

/** The base of every error that stands for an errno. */
export class ErrnoError extends Error {
  /** The errno this failure stands for (the FUSE dispatcher replies with it). */
  readonly errnoValue: Errno;
  constructor(message: string, code: ErrnoName | number | Errno, options?: ErrorOptions) {
    super(message, options);
    this.errnoValue = errnoOf(code);
  }
}

/** Bad input or bad media (a parse or validation failure): EINVAL, as famfs answers them. */
export class InvalidError extends ErrnoError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'EINVAL', options);
  }
}

/**
 * The Errno of a thrown value: an ErrnoError's own, or for Node's system errors
 * (NodeJS.ErrnoException, whose `errno` is the negated number) the number's; undefined for
 * anything else, which callers treat as EIO and log.
 */
export function errnoOfError(e: unknown): Errno | undefined {
  if (e instanceof ErrnoError) return e.errnoValue;
  if (e instanceof Error) {
    const n = (e as NodeJS.ErrnoException).errno;
    if (typeof n === 'number' && Number.isInteger(n) && n !== 0) return Errno.fromNumber(Math.abs(n));
  }
  return undefined;
}

/** An error's name and message followed by its causes' (`E: a (cause: F: b)`), never a stack. */
export function describeError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && depth < 5; depth++) {
    parts.push(cur instanceof Error ? `${cur.name}: ${cur.message}` : String(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(' (cause: ') + ')'.repeat(parts.length - 1);
}
