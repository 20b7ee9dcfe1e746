// A DataPlane for the engine's serving-thread tests (fuse-child --threads): serves READ of one
// MemFs file (the same pattern bytes the main thread holds) and ends its own thread when a
// one-page READ asks for the poison offset, as a thread that hits a fatal fault would. The main
// thread must carry on: the dead thread's request fails, the others keep serving, and once
// none is left the main thread reads the channel itself again.
import os from 'node:os';
import type { DataPlane } from '../../src/fuse/data-plane.js';
import { FuseError } from '../../src/fuse/filesystem.js';
import { patternFile } from './fuse-memfs.js';

export interface DyingPlaneData {
  readonly nodeid: number;
  readonly size: number;
  /** A READ of one page at this offset ends the thread (bigger reads over it are served). */
  readonly poison: number;
  /** The plane takes this long to make (a thread that is slow to load its modules). */
  readonly loadMs?: number;
}

export function createDataPlane(data: unknown): DataPlane {
  const d = data as DyingPlaneData;
  if (d.loadMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, d.loadMs);
  const bytes = patternFile(d.size);
  return {
    owns: (nodeid) => nodeid === d.nodeid,
    read(_ctx, _nodeid, _fh, offset, size) {
      if (offset === d.poison && size <= 4096) process.exit(7); // in a worker: ends this thread only
      return offset >= bytes.length ? [] : [bytes.subarray(offset, Math.min(bytes.length, offset + size))];
    },
    write() {
      throw new FuseError(os.constants.errno.EROFS, 'the dying plane is read-only');
    },
    update() {},
  };
}
