// A YAML reader that knows where every value came from. Layout and FileMap YAML are read
// through it so every problem can say `file:line:col key.path: what`, and so all problems
// are collected in one pass instead of stopping at the first.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { Document, Node, Pair, Scalar } from 'yaml';
import { parseSize, SizeError } from './size.js';
import { InvalidError } from '../errno.js';

export type Severity = 'error' | 'warning';

/** A problem found in a model, named by key path (`regions[0].ways`), not yet located. */
export interface Problem {
  readonly path: string;
  readonly message: string;
  readonly severity: Severity;
}

/** A problem with its place in a source text. line and col are 1-based. */
export interface SourceProblem extends Problem {
  readonly source: string;
  readonly line: number;
  readonly col: number;
}

/** `layout.yaml:7:13 regions[0].ways: 5 is not ...` (warnings say so). */
export function formatProblem(p: SourceProblem | Problem): string {
  const where = 'source' in p ? `${p.source}:${p.line}:${p.col} ` : '';
  const path = p.path === '' ? '' : `${p.path}: `;
  return `${where}${p.severity === 'warning' ? 'warning: ' : ''}${path}${p.message}`;
}

/** Thrown by the YAML parsers; `problems` holds every error found (warnings ride along in `warnings`). */
export class LayoutError extends InvalidError {
  constructor(readonly problems: readonly SourceProblem[], readonly warnings: readonly SourceProblem[] = [], options?: ErrorOptions) {
    super(problems.map(formatProblem).join('\n'), options);
    this.name = 'LayoutError';
  }
}

export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The yaml package, loaded at the first YAML read: about 44 ms of the CLI's start-up went to
 * it, and most verbs (cp, creat, fsck of a device) never read YAML.
 */
let yamlLib: typeof import('yaml') | undefined;
export function yaml(): typeof import('yaml') {
  return (yamlLib ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));
}

export class YamlReader {
  readonly problems: SourceProblem[] = [];
  private readonly lines = new (yaml().LineCounter)();
  private readonly doc: Document.Parsed;
  /** Every node read, by key path, so later semantic checks can point at it. */
  private readonly nodes = new Map<string, Node>();

  constructor(text: string, readonly source: string) {
    // intAsBigInt: integers past 2^53 must be caught, not silently rounded.
    this.doc = yaml().parseDocument(text, { lineCounter: this.lines, intAsBigInt: true, prettyErrors: false, uniqueKeys: true });
    for (const e of [...this.doc.errors, ...this.doc.warnings]) {
      const at = this.lines.linePos(e.pos[0]);
      // The parser's messages end with " at line L, column C" plus a code excerpt; we say where.
      const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      this.problems.push({ source, line: at.line, col: at.col, path: '', message: `YAML: ${message}`, severity: e.name === 'YAMLWarning' ? 'warning' : 'error' });
    }
  }

  /** False when the text is not YAML at all (syntax errors, already reported). */
  get parsed(): boolean {
    return this.doc.errors.length === 0;
  }

  get root(): Node | undefined {
    return this.doc.contents ?? undefined;
  }

  hasErrors(): boolean {
    return this.problems.some((p) => p.severity === 'error');
  }

  errors(): SourceProblem[] {
    return this.problems.filter((p) => p.severity === 'error');
  }

  warnings(): SourceProblem[] {
    return this.problems.filter((p) => p.severity === 'warning');
  }

  private where(node: Node | undefined): { line: number; col: number } {
    const off = node?.range?.[0] ?? 0;
    return this.lines.linePos(off);
  }

  /** Report at `node` (or, without one, at the nearest recorded ancestor of `path`). */
  report(severity: Severity, path: string, message: string, node?: Node): void {
    const at = this.where(node ?? this.nodeAt(path));
    this.problems.push({ source: this.source, line: at.line, col: at.col, path, message, severity });
  }

  error(path: string, message: string, node?: Node): void {
    this.report('error', path, message, node);
  }

  warn(path: string, message: string, node?: Node): void {
    this.report('warning', path, message, node);
  }

  /** Locate model-level problems (from validators that know only key paths). */
  reportAll(problems: readonly Problem[]): void {
    for (const p of problems) this.report(p.severity, p.path, p.message);
  }

  /** The node read at `path`, or its nearest recorded ancestor. */
  nodeAt(path: string): Node | undefined {
    let p = path;
    for (;;) {
      const n = this.nodes.get(p);
      if (n !== undefined || p === '') return n ?? this.root;
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      p = cut <= 0 ? '' : p.slice(0, cut);
    }
  }

  lineOf(path: string): number {
    return this.where(this.nodeAt(path)).line;
  }

  private remember(path: string, node: Node | null | undefined): node is Node {
    if (node === null || node === undefined) return false;
    this.nodes.set(path, node);
    return true;
  }

  /**
   * A mapping with only `allowed` keys. Returns key -> value node (null for `key:` with no
   * value), or undefined when the node is not a mapping (reported).
   */
  map(node: Node | null | undefined, path: string, allowed: readonly string[]): Map<string, Node | null> | undefined {
    this.remember(path, node);
    if (!yaml().isMap(node)) {
      this.error(path, `expected a mapping with keys ${allowed.join(', ')}`, node ?? undefined);
      return undefined;
    }
    const out = new Map<string, Node | null>();
    for (const pair of node.items as Pair<unknown, unknown>[]) {
      const key = pair.key;
      const name = yaml().isScalar(key) ? String(key.value) : undefined;
      if (name === undefined) {
        this.error(path, 'keys must be plain names', (key as Node | null) ?? node);
        continue;
      }
      const keyPath = childPath(path, name);
      if (!allowed.includes(name)) {
        this.error(keyPath, `unknown key "${name}" (expected one of: ${allowed.join(', ')})`, key as Scalar);
        continue;
      }
      const value = (pair.value as Node | null) ?? null;
      // A bare `key:` points at the key itself.
      this.remember(keyPath, value ?? (key as Scalar));
      out.set(name, value);
    }
    return out;
  }

  /** Report the keys in `required` that `m` lacks; true when all are there. */
  require(m: Map<string, Node | null>, path: string, required: readonly string[]): boolean {
    let ok = true;
    for (const k of required) {
      if (!m.has(k) || m.get(k) === null) {
        this.error(childPath(path, k), `missing (required)`, this.nodes.get(childPath(path, k)) ?? this.nodeAt(path));
        ok = false;
      }
    }
    return ok;
  }

  seq(node: Node | null | undefined, path: string, what: string): Node[] | undefined {
    this.remember(path, node);
    if (!yaml().isSeq(node)) {
      this.error(path, `expected a list of ${what}`, node ?? undefined);
      return undefined;
    }
    const items = node.items as (Node | null)[];
    items.forEach((n, i) => this.remember(childPath(path, i), n));
    return items.map((n) => n ?? (node as Node));
  }

  string(node: Node | null | undefined, path: string): string | undefined {
    this.remember(path, node);
    if (!yaml().isScalar(node) || typeof node.value !== 'string' || node.value === '') {
      this.error(path, `expected a non-empty string`, node ?? undefined);
      return undefined;
    }
    return node.value;
  }

  /** A byte count: an integer, 0x hex, or `2MiB`-style; exact below 2^53. */
  size(node: Node | null | undefined, path: string): number | undefined {
    this.remember(path, node);
    const v = yaml().isScalar(node) ? node.value : undefined;
    try {
      if (typeof v === 'bigint') return checkedInt(v);
      if (typeof v === 'number' || typeof v === 'string') return parseSize(v);
    } catch (e) {
      if (!(e instanceof SizeError)) throw e;
      this.error(path, e.message, node ?? undefined);
      return undefined;
    }
    this.error(path, `expected a size (4096, 0x200000, 2MiB, 4GiB)`, node ?? undefined);
    return undefined;
  }

  /** A plain integer in [min, max]. */
  int(node: Node | null | undefined, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    this.remember(path, node);
    const v = yaml().isScalar(node) ? node.value : undefined;
    let n: number | undefined;
    try {
      if (typeof v === 'bigint') n = checkedInt(v);
      else if (typeof v === 'number' && Number.isInteger(v)) n = checkedInt(BigInt(v));
    } catch (e) {
      if (!(e instanceof SizeError)) throw e;
      this.error(path, e.message, node ?? undefined);
      return undefined;
    }
    if (n === undefined) {
      this.error(path, `expected an integer`, node ?? undefined);
      return undefined;
    }
    if (n < min || n > max) {
      this.error(path, `${n} is out of range (${min}..${max})`, node ?? undefined);
      return undefined;
    }
    return n;
  }
}

function checkedInt(v: bigint): number {
  if (v < 0n) throw new SizeError(`${v} is negative`);
  if (v > MAX) throw new SizeError(`${v} is past 2^53, which famfs-ts cannot hold exactly`);
  return Number(v);
}

/** A source file's text; a missing or unreadable file is a LayoutError naming it. */
export function readSource(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new LayoutError([{ source: file, line: 1, col: 1, path: '', message: `cannot read (${code})`, severity: 'error' }], [], { cause: e });
  }
}
