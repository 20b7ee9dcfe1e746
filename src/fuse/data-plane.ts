// Serving threads (session option `workers`): each worker thread reads its own clone of the
// FUSE channel and answers the data path itself; everything else goes to the main thread.
// The file system supplies a module that builds a DataPlane in each worker from plain data
// and keeps it current from the messages the main thread publishes (session.publish), e.g.
// "daxdev 0's windows are at these addresses" (threads view the main thread's mappings in
// place, they map nothing themselves) and "nodeid 7 is this map".
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { RequestContext } from './filesystem.js';
import { Op } from './opcodes.js';
import { IN_HEADER_SIZE } from './request.js';
import { InHeader } from './structs.js';

export interface DataPlane {
  /**
   * Whether READ/WRITE of nodeid are answered in this thread. Only what the plane was told
   * (publish) and what cannot change behind its back: anything else is forwarded.
   */
  owns(nodeid: number): boolean;
  /** FileSystem.read, synchronous: a worker never returns to its event loop while serving. */
  read(ctx: RequestContext, nodeid: number, fh: number, offset: number, size: number): Buffer[];
  /** FileSystem.write, synchronous. */
  write(ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer, flags: number): number;
  /** A message the main thread published; applied before the next request is handled. */
  update(msg: unknown): void;
  /** Called once, before the first request: what the plane may tell the kernel from this thread. */
  attach?(kernel: PlaneKernel): void;
  close?(): void;
}

/** Notifications a serving thread may send on its own clone of the channel. */
export interface PlaneKernel {
  /** FUSE_NOTIFY_INVAL_INODE: drop cached data [off, off+len) of nodeid (len < 0: to the end). */
  invalInode(nodeid: number, off: number, len: number): void;
}

/** What a plane module exports: `createDataPlane(data)`, data being `workers.data`. */
export type DataPlaneFactory = (data: unknown) => DataPlane;

export interface WorkerOptions {
  /** Serving threads (0: serve on the main thread only). */
  readonly count: number;
  /** URL of the module exporting createDataPlane (siblingModule makes one). */
  readonly module: string;
  /** Structured-cloneable data handed to createDataPlane. */
  readonly data?: unknown;
  /** Each thread busy-polls its channel this long after a request before it blocks (µs, default 0). */
  readonly spinMicros?: number;
  /**
   * The main thread's view of what the planes answer: READ/WRITE of nodeid (what it published).
   * Given, the session moves the reading of the channel to where the requests are answered:
   * while most requests would be forwarded (creating, stating, listing) the threads park and
   * the main thread reads the channel itself, one wake-up per request instead of two; once
   * reads and writes the threads answer dominate again, they read again (session.ts).
   */
  readonly threadsServe?: (nodeid: number) => boolean;
}

/**
 * URL of the module `name` (compiled, .js) next to the module at `metaUrl` (its
 * import.meta.url): how a worker script or a plane module is named to a Worker.
 */
export function siblingModule(metaUrl: string, name: string): string {
  return new URL(`./${name}.js`, metaUrl).href;
}

const O_OPCODE = InHeader.offsetOf('opcode');
const O_NODEID = InHeader.offsetOf('nodeid');

/**
 * Whether a serving thread (/dev/fuse clone or io_uring) answers the message itself: a READ
 * or WRITE of a nodeid its plane owns. A nodeid past 2^53 (high word >= 2^21) is never owned.
 */
export function planeAnswers(plane: DataPlane, msg: Buffer): boolean {
  if (msg.length < IN_HEADER_SIZE) return false;
  const op = msg.readUInt32LE(O_OPCODE);
  if (op !== Op.READ && op !== Op.WRITE) return false;
  const hi = msg.readUInt32LE(O_NODEID + 4);
  return hi < 0x200000 && plane.owns(hi * 0x100000000 + msg.readUInt32LE(O_NODEID));
}

/**
 * Apply what the main thread published. One that fails is logged and skipped: the plane then
 * owns less, and its requests go to the main thread.
 */
export function applyUpdates(plane: DataPlane, updates: MessagePort, log: (line: string) => void): void {
  for (let m = receiveMessageOnPort(updates); m !== undefined; m = receiveMessageOnPort(updates)) {
    try {
      plane.update(m.message);
    } catch (e) {
      log(`update: ${(e as Error).message}`);
    }
  }
}
