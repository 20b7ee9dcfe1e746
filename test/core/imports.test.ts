// The dependency table of docs/design.md ("Modules and the direction of dependencies") is the
// rule; this test reads that table and every import in src/ (static, type-only, re-exports and
// import() calls, parsed with the TypeScript compiler) and names each file and import that
// goes against it. Change the table, not this file, when the right answer changes.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../support/source-files.js';

const ROOT = path.resolve(__dirname, '..', '..');
const SRC = path.join(ROOT, 'src');
const DESIGN = path.join(ROOT, 'docs', 'design.md');

/**
 * Imports that break the table today only because a move is still under way. Each entry is
 * [importing file, imported module]; an entry that no longer matches anything fails the test,
 * so the list shrinks to nothing as the moves land.
 */
/** Imports allowed against the table for now, each with the reason (none today). */
const PENDING: ReadonlyArray<readonly [string, string, string]> = [];

interface Rule {
  /** `src/x` for a folder, `src/x.ts` for a lone file. */
  readonly path: string;
  /** Modules it may import; null: any. */
  readonly mayImport: ReadonlySet<string> | null;
}

/** The table's rows: | `src/x` | holds | `a`, `b` (or "everything") | why |. */
function readTable(): Map<string, Rule> {
  const text = fs.readFileSync(DESIGN, 'utf8');
  const start = text.indexOf('## Modules and the direction of dependencies');
  if (start < 0) throw new Error(`${DESIGN}: no "Modules and the direction of dependencies" section`);
  const rules = new Map<string, Rule>();
  for (const line of text.slice(start).split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const cells = line.split('|').map((c) => c.trim());
    const m = /^`(src\/[a-z-]+(?:\.ts)?)`$/.exec(cells[1] ?? '');
    if (!m) continue;
    const p = m[1]!;
    const name = path.basename(p, '.ts');
    const allowed = cells[3] ?? '';
    const mayImport = /everything/.test(allowed) ? null : new Set([...allowed.matchAll(/`([a-z-]+)`/g)].map((x) => x[1]!));
    rules.set(name, { path: p, mayImport });
  }
  return rules;
}

/** Every relative module specifier in a file: import, export…from, import type, import(). */
function importsOf(file: string): string[] {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      found.push(n.moduleSpecifier.text);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      found.push(n.arguments[0].text);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      found.push(n.argument.literal.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found.filter((s) => s.startsWith('.'));
}

/** The module a file under src/ belongs to: its first folder, or the file's name at the top. */
function moduleOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length === 1 ? path.basename(rel[0]!, '.ts') : rel[0]!;
}

describe('the dependency table of docs/design.md', () => {
  const rules = readTable();

  it('has a row for every module in src/', () => {
    expect(rules.size).toBeGreaterThan(5);
    const modules = new Set(sourceFiles(SRC).map(moduleOf));
    const missing = [...modules].filter((m) => !rules.has(m));
    expect(missing, `modules in src/ with no row in ${path.relative(ROOT, DESIGN)}`).toEqual([]);
    for (const [name, r] of rules) {
      for (const m of r.mayImport ?? []) expect(rules.has(m), `${r.path} may import \`${m}\`, which has no row`).toBe(true);
      expect(fs.existsSync(path.join(ROOT, r.path)) || !modules.has(name), r.path).toBe(true);
    }
  });

  it('holds for every import in src/', () => {
    const violations: string[] = [];
    const used = new Set<string>();
    for (const file of sourceFiles(SRC)) {
      const from = moduleOf(file);
      const rule = rules.get(from);
      if (!rule || rule.mayImport === null) continue;
      const rel = path.relative(ROOT, file);
      for (const spec of importsOf(file)) {
        const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
        if (!target.startsWith(SRC + path.sep)) {
          violations.push(`${rel}: imports '${spec}', outside src/`);
          continue;
        }
        const to = moduleOf(target);
        if (to === from || rule.mayImport.has(to)) continue;
        const pending = PENDING.find(([f, m]) => f === rel && m === to);
        if (pending) {
          used.add(`${pending[0]} -> ${pending[1]}`);
          continue;
        }
        violations.push(`${rel}: imports '${spec}' (${to}); ${rule.path} may import ${[...rule.mayImport].join(', ') || 'nothing of the project'}`);
      }
    }
    expect(violations).toEqual([]);
    const stale = PENDING.map(([f, m]) => `${f} -> ${m}`).filter((k) => !used.has(k));
    expect(stale, 'PENDING entries that no longer occur: delete them').toEqual([]);
  });
});
