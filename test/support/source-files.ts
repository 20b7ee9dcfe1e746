// The TypeScript sources below a folder, for the checks that read the tree as text (the import
// table, the error-cause rule) and for the dist/ freshness check.
import fs from 'node:fs';
import path from 'node:path';

/** Every .ts file (not .d.ts) below `dir`, depth first. */
export function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}
