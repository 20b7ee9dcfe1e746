// What every `famfs-ts` run loads before it knows its verb: the static imports reachable
// from src/cli/main.ts (value imports only; `import type` and `import()` load nothing then).
// famfs's scripts call the CLI hundreds of times, so the FUSE engine, the server, the BPF
// assembler and the yaml package are loaded only by the verbs that use them (docs/design.md,
// "Rules that keep it easy to change"). A static import that pulls one back in fails here.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const SRC = path.join(ROOT, 'src');

/** Specifiers a file loads when it is evaluated: value imports and re-exports, not types or import(). */
function loadedBy(file: string): string[] {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  for (const s of sf.statements) {
    if (ts.isImportDeclaration(s) && ts.isStringLiteral(s.moduleSpecifier)) {
      const c = s.importClause;
      // `import type {…}` and imports whose every name is `type X` are erased by tsc.
      const typeOnly = c !== undefined && (c.isTypeOnly || (!c.name && c.namedBindings !== undefined && ts.isNamedImports(c.namedBindings) &&
        c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) out.push(s.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(s) && s.moduleSpecifier && ts.isStringLiteral(s.moduleSpecifier) && !s.isTypeOnly) {
      out.push(s.moduleSpecifier.text);
    }
  }
  return out;
}

/** Project files (relative to src/) and packages evaluated when `entry` is. */
function startupGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const walk = (file: string): void => {
    const rel = path.relative(SRC, file);
    if (files.has(rel)) return;
    files.add(rel);
    for (const spec of loadedBy(file)) {
      if (spec.startsWith('.')) walk(path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'));
      else if (!spec.startsWith('node:')) packages.add(spec);
    }
  };
  walk(path.join(SRC, entry));
  return { files, packages };
}

describe('famfs-ts start-up', () => {
  const { files, packages } = startupGraph('cli/main.ts');

  it('loads neither the FUSE engine, the server nor the BPF assembler', () => {
    // Small leaves (opcode numbers, the FileSystem types and errors, mount defaults, shell
    // names) are fine; these are what a verb that does not serve or emit must not pay for.
    const heavy = [
      'fuse/session.ts', 'fuse/dispatcher.ts', 'fuse/ops.ts', 'fuse/serving-threads.ts', 'fuse/uring-transport.ts',
      'server/serve.ts', 'server/famfs-fs.ts', 'server/famfs-mode.ts', 'mapping/handlers.ts',
      'bpf-policy/asm.ts', 'bpf-policy/program.ts', 'bpf-policy/interp.ts', 'bpf-policy/elf.ts',
    ].map((f) => f.split('/').join(path.sep));
    expect(heavy.filter((f) => files.has(f))).toEqual([]);
  });

  it('loads no yaml package (read at the first YAML file)', () => {
    expect([...packages].sort()).not.toContain('yaml');
    expect([...packages].sort()).toEqual(expect.arrayContaining(['commander', 'koffi']));
  });

  it('still reaches every verb group (the walk itself works)', () => {
    for (const f of ['cli/mount.ts', 'cli/bpf.ts', 'cli/files.ts', 'famfs/image.ts', 'server/mount-options.ts']) expect(files.has(f.split('/').join(path.sep)), f).toBe(true);
  });
});
