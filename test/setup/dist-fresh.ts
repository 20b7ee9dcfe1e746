// vitest globalSetup for the tiers that run compiled code (the CLI as a child, mount servers,
// serving threads): dist/ must hold the tsc output of the sources as they are now, or a test
// would judge yesterday's code. A source newer than its output (or one with no output yet)
// rebuilds dist once; if tsc then fails, the run stops here naming the first stale files.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceFiles } from '../support/source-files.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TREES = ['src', 'tools', 'bench', 'test']; // tsconfig.json "include"

/** Sources (relative to the checkout) whose dist/…js is missing or older than they are. */
export function staleSources(): string[] {
  const stale: string[] = [];
  for (const tree of TREES) {
    const dir = path.join(ROOT, tree);
    if (!fs.existsSync(dir)) continue;
    for (const src of sourceFiles(dir)) {
      const rel = path.relative(ROOT, src);
      const out = path.join(ROOT, 'dist', rel.replace(/\.ts$/, '.js'));
      let outTime: number;
      try {
        outTime = fs.statSync(out).mtimeMs;
      } catch {
        stale.push(rel);
        continue;
      }
      if (fs.statSync(src).mtimeMs > outTime) stale.push(rel);
    }
  }
  return stale;
}

export default function setup(): void {
  const before = staleSources();
  if (before.length === 0) return;
  console.error(`dist/ is older than ${before.length} source file(s) (${before.slice(0, 3).join(', ')}${before.length > 3 ? ', …' : ''}): running tsc -p .`);
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', ROOT], { stdio: 'inherit' });
  const after = staleSources();
  if (r.status !== 0 || after.length > 0) {
    throw new Error(`dist/ is not the build of src/ (tsc -p . exited ${r.status}; still stale: ${after.slice(0, 5).join(', ') || 'none'}); fix the build, then run the tests again`);
  }
}
