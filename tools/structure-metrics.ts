// The structure numbers docs/design.md ("Measuring the structure") reports before and after a
// clean-up: the longest functions of src/ and tools/ (lines from the function's first token to
// its closing brace, comments inside included), how many functions pass 40 and 80 lines, and
// the .ts files per folder of src/ and test/. Read with the TypeScript parser; writes nothing.
//   node dist/tools/structure-metrics.js [CHECKOUT=.] [TOP=10]
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

interface FunctionSize {
  readonly lines: number;
  readonly name: string;
  readonly where: string;
}

function sources(dir: string, out: string[] = []): string[] {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

type FunctionNode = ts.FunctionLikeDeclaration & { readonly body?: ts.Node };

/** A function's name as a reader finds it: its own, the variable or property it is assigned to, or the call it is passed to. */
function nameOf(n: FunctionNode, sf: ts.SourceFile): string {
  if (n.name) return n.name.getText(sf);
  if (ts.isConstructorDeclaration(n)) return 'constructor';
  const p = n.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p)) return p.name.getText(sf);
  if (ts.isCallExpression(p)) return `(callback of ${p.expression.getText(sf).slice(0, 40)})`;
  return '(anonymous)';
}

function functionSizes(root: string): FunctionSize[] {
  const out: FunctionSize[] = [];
  for (const file of [...sources(path.join(root, 'src')), ...sources(path.join(root, 'tools'))]) {
    const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      if (ts.isFunctionLike(n) && 'body' in n && n.body !== undefined) {
        const f = n as FunctionNode;
        const first = sf.getLineAndCharacterOfPosition(f.getStart(sf)).line;
        const last = sf.getLineAndCharacterOfPosition(f.getEnd()).line;
        out.push({ lines: last - first + 1, name: nameOf(f, sf), where: `${path.relative(root, file)}:${first + 1}` });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out.sort((a, b) => b.lines - a.lines);
}

function filesPerFolder(root: string, tree: string): [string, number][] {
  const m = new Map<string, number>();
  for (const f of sources(path.join(root, tree))) {
    const dir = path.relative(root, path.dirname(f));
    m.set(dir, (m.get(dir) ?? 0) + 1);
  }
  return [...m].sort((a, b) => a[0].localeCompare(b[0]));
}

const root = path.resolve(process.argv[2] ?? '.');
const top = Number(process.argv[3] ?? 10);
const sizes = functionSizes(root);
console.log(`longest functions in src/ and tools/ (lines):`);
for (const f of sizes.slice(0, top)) console.log(`  ${String(f.lines).padStart(4)}  ${f.name}  ${f.where}`);
console.log(`functions over 80 lines: ${sizes.filter((f) => f.lines > 80).length}; over 40: ${sizes.filter((f) => f.lines > 40).length}; in all: ${sizes.length}`);
console.log('.ts files per folder:');
for (const tree of ['src', 'test']) for (const [dir, n] of filesPerFolder(root, tree)) console.log(`  ${dir}: ${n}`);
