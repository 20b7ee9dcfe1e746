// The famfs data path in a FUSE serving thread (src/fuse/data-plane.ts): READ and WRITE of
// committed files, whose maps never change once logged, straight from the main thread's
// mappings of the daxdevs (shared, not mapped again: one set of page tables). Files still being written (their reservation grows), `.meta`
// and everything else stay with the main thread, which owns the namespace and the log.
import os from 'node:os';
import { attachSpec, type DaxdevMemory, type DeviceSpec } from '../device/memory.js';
import type { DataPlane, PlaneKernel } from '../fuse/data-plane.js';
import { FuseError, type RequestContext } from '../fuse/filesystem.js';
import { runsByDaxdev, type FileMap } from '../interleave/filemap.js';
import { readMapped, writeCommitted } from './file-io.js';
import { UndoJournal, writeCommittedUndoable } from './undo-journal.js';

/** createDataPlane's data: whether the image is open for writing (the master's). */
export interface PlaneData {
  readonly writable: boolean;
}

/** What the mount publishes: a daxdev to map, or a committed file the kernel opened. */
export type PlaneUpdate =
  | { readonly kind: 'daxdev'; readonly index: number; readonly spec: DeviceSpec }
  | { readonly kind: 'file'; readonly nodeid: number; readonly path: string; readonly map: FileMap }
  /** An open file description whose truncation was refused: its writes get EPERM (famfs-fs.ts). */
  | { readonly kind: 'refused-fh'; readonly fh: number; readonly why: string }
  /** The kernel forgot the nodeid: it sends no more requests for it. */
  | { readonly kind: 'forget'; readonly nodeid: number }
  /** An open file description writing a committed file keeps the bytes it overwrites here (undo-journal.ts). */
  | { readonly kind: 'journal'; readonly fh: number; readonly buffer: SharedArrayBuffer }
  /** That description was released. */
  | { readonly kind: 'journal-end'; readonly fh: number };

class FamfsDataPlane implements DataPlane {
  private readonly devices = new Map<number, DaxdevMemory>();
  private readonly files = new Map<number, { path: string; map: FileMap }>();
  private readonly refused = new Map<number, string>();
  private readonly journals = new Map<number, UndoJournal>();
  private kernel: PlaneKernel | undefined;
  constructor(private readonly writable: boolean) {}

  private readonly dev = (index: number): DaxdevMemory => {
    const d = this.devices.get(index);
    if (!d) throw new FuseError(os.constants.errno.EIO, `daxdev ${index} is not mapped in this thread`);
    return d;
  };

  owns(nodeid: number): boolean {
    return this.files.has(nodeid);
  }

  read(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, size: number): Buffer[] {
    return readMapped(this.files.get(nodeid)!.map, this.dev, offset, size);
  }

  write(_ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer): number {
    const f = this.files.get(nodeid)!;
    if (!this.writable) throw new FuseError(os.constants.errno.EROFS, 'a famfs client is read-only');
    const why = this.refused.get(fh);
    if (why !== undefined) throw new FuseError(os.constants.errno.EPERM, `${why}; this open file writes nothing more`);
    const journal = this.journals.get(fh);
    if (!journal) return writeCommitted(f.path, f.map, this.dev, offset, data);
    return writeCommittedUndoable(f.path, f.map, this.dev, offset, data, journal, (from, to) => this.kernel?.invalInode(nodeid, from, to - from));
  }

  attach(kernel: PlaneKernel): void {
    this.kernel = kernel;
  }

  update(msg: unknown): void {
    const u = msg as PlaneUpdate;
    if (u.kind === 'daxdev') {
      this.devices.set(u.index, attachSpec(u.spec, this.devices.get(u.index)));
    } else if (u.kind === 'refused-fh') {
      // Handles are never reused (famfs-fs.ts counts them up), so the entry may stay.
      this.refused.set(u.fh, u.why);
    } else if (u.kind === 'journal') {
      this.journals.set(u.fh, new UndoJournal(u.buffer));
    } else if (u.kind === 'journal-end') {
      this.journals.delete(u.fh);
    } else if (u.kind === 'forget') {
      this.files.delete(u.nodeid);
    } else if (u.kind === 'file') {
      // Only a file whose every daxdev this thread maps: the rest stays with the main thread.
      if ([...runsByDaxdev(u.map).keys()].every((d) => this.devices.has(d))) {
        this.files.set(u.nodeid, { path: u.path, map: u.map });
      }
    }
  }

  close(): void {
    for (const d of this.devices.values()) d.close();
    this.devices.clear();
  }
}

export function createDataPlane(data: unknown): DataPlane {
  return new FamfsDataPlane((data as PlaneData).writable);
}
