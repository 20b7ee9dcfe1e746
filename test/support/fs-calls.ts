// Calling a FileSystem directly (no kernel): a request context and the errno a call fails with.
import { FuseError, type RequestContext } from '../../src/fuse/filesystem.js';

export const ctx: RequestContext = { unique: 1n, opcode: 0, nodeid: 0, uid: 0, gid: 0, pid: 1, signal: new AbortController().signal };

/** The errno `f` fails with (FuseError), or undefined when it succeeds; other errors propagate. */
export function errnoOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof FuseError) return e.errno;
    throw e;
  }
  return undefined;
}
