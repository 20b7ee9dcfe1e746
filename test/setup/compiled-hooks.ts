// Module resolution hook for the test processes: worker threads cannot run .ts, so when a
// module that vitest runs from source (src/fuse/serving-threads.ts) starts a worker on its
// sibling `./channel-worker.js`, that file does not exist beside the source. This hook
// resolves any such missing .js under the checkout to the tsc output of the same path
// (dist/, which globalSetup has checked is newer than the sources). Production code just
// names its sibling; only the tests' loader knows there is a source tree and a dist tree.
import fs from 'node:fs';
import type { ResolveHook } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// This file runs compiled, from dist/test/setup/.
const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROOT = path.dirname(DIST);

export const resolve: ResolveHook = (specifier, context, next) => {
  const relative = specifier.startsWith('./') || specifier.startsWith('../');
  if (specifier.startsWith('file:') || (relative && context.parentURL?.startsWith('file:'))) {
    const file = fileURLToPath(new URL(specifier, context.parentURL));
    if (file.endsWith('.js') && file.startsWith(ROOT + path.sep) && !file.startsWith(DIST + path.sep) && !fs.existsSync(file)) {
      const compiled = path.join(DIST, path.relative(ROOT, file));
      if (fs.existsSync(compiled)) return { url: pathToFileURL(compiled).href, shortCircuit: true };
    }
  }
  return next(specifier, context);
};
