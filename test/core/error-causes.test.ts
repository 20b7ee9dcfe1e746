// docs/design.md "Rules that keep it easy to change": errors carry their `cause`. A `throw new
// X(...)` inside a catch block replaces the error it caught with a new message; this test reads
// every file of src/ and tools/ with the TypeScript parser and names each such throw that does
// not pass `{ cause }` (the caught error, so a debugger or a log still reaches the original).
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../support/source-files.js';

const ROOT = path.resolve(__dirname, '..', '..');

/** `file:line: new X(...)` for each throw of a new error inside a catch clause without a cause. */
function causeless(file: string, text = fs.readFileSync(file, 'utf8')): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (n: ts.Node, inCatch: boolean): void => {
    if (ts.isCatchClause(n)) inCatch = true;
    else if (ts.isFunctionLike(n)) inCatch = false; // a callback defined in a catch runs later
    if (inCatch && ts.isThrowStatement(n) && ts.isNewExpression(n.expression)) {
      const text = n.expression.getText(sf);
      if (!/\bcause\b/.test(text)) {
        const line = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
        found.push(`${path.relative(ROOT, file)}:${line}: ${text.replace(/\s+/g, ' ').slice(0, 120)}`);
      }
    }
    ts.forEachChild(n, (c) => visit(c, inCatch));
  };
  visit(sf, false);
  return found;
}

describe('errors keep their cause', () => {
  it('every error made inside a catch block passes the caught error as its cause', () => {
    const files = ['src', 'tools'].flatMap((d) => sourceFiles(path.join(ROOT, d)));
    expect(files.length).toBeGreaterThan(50);
    expect(files.flatMap((f) => causeless(f))).toEqual([]);
  });

  it('finds one when there is one', () => {
    const text = 'try { f(); } catch (e) {\n  throw new Error(`x: ${String(e)}`);\n}\n' +
      'try { f(); } catch (e) {\n  throw new Error("y", { cause: e });\n}\n' +
      'try { f(); } catch {\n  setTimeout(() => { throw new Error("later"); });\n}\n';
    expect(causeless(path.join(ROOT, 'x.ts'), text)).toEqual(['x.ts:2: new Error(`x: ${String(e)}`)']);
  });
});
