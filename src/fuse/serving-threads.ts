// The main thread's side of the serving threads (data-plane.ts, channel-worker.ts): one
// cloned channel descriptor and one worker per thread, the publish queue to every plane,
// and the requests the workers hand back.
import fs from 'node:fs';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { cloneChannel } from '../sys/fuse-dev.js';
import type { ChannelWorkerData } from './channel-worker.js';
import { siblingModule, type WorkerOptions } from './data-plane.js';
import type { ConnectionInfo } from './filesystem.js';
import type { InitLimits } from './init.js';
import type { OpStats } from './op-stats.js';

/**
 * Per-thread Int32 counters: requests answered in the thread, requests forwarded, and 1 once
 * the thread saw the channel end (shared memory: visible before the worker's exit event).
 */
export const COUNTERS = 3;

export type ToMain =
  | { kind: 'ready' }
  | { kind: 'log'; line: string }
  | { kind: 'request'; fd: number; bytes: Uint8Array };

export interface ServingThreadsOptions extends WorkerOptions {
  readonly fd: number;
  readonly conn: ConnectionInfo;
  readonly limits: InitLimits;
  readonly bufSize: number;
  readonly debug?: boolean;
  readonly log: (line: string) => void;
  /** The session's per-opcode table (op-stats.ts): each thread adds to a table of its own in it. */
  readonly stats?: OpStats;
  /** A request a thread did not answer: dispatch it and reply on `fd`. */
  readonly onRequest: (fd: number, msg: Buffer) => void;
  /**
   * Every thread has stopped: `ended` when one saw the channel end (unmount, abort, closed
   * socket); otherwise they failed (a plane that would not load) and the main thread must
   * serve again.
   */
  readonly onStopped: (ended: boolean) => void;
}

export class ServingThreads {
  private readonly threads: { worker: Worker; port: MessagePort; fd: number; running: boolean; ready: boolean }[] = [];
  private readonly counters: Int32Array;
  /**
   * [0] 1: the threads wait before their next read (the main thread reads the channel); 0: they
   * read. [1] bumped after each publish, so a thread looks at its port (a call into C++, a third
   * of a µs) only when there is news, not at every request.
   */
  private readonly gate = new Int32Array(new SharedArrayBuffer(8));
  private live = 0;
  private resolveExited!: () => void;
  /** Settles once every thread has exited. */
  readonly exited = new Promise<void>((r) => (this.resolveExited = r));

  /** Clone the channel `count` times and start a worker on each; throws if no clone can be made. */
  constructor(opts: ServingThreadsOptions) {
    const shared = new SharedArrayBuffer(opts.count * COUNTERS * 4);
    this.counters = new Int32Array(shared);
    const script = siblingModule(import.meta.url, 'channel-worker');
    const fds: number[] = [];
    try {
      for (let i = 0; i < opts.count; i++) fds.push(cloneChannel(opts.fd));
    } catch (e) {
      for (const fd of fds) fs.closeSync(fd);
      throw e;
    }
    for (const [index, fd] of fds.entries()) {
      const { port1, port2 } = new MessageChannel();
      const data: ChannelWorkerData = {
        fd, index, module: opts.module, data: opts.data, conn: opts.conn, limits: opts.limits, bufSize: opts.bufSize,
        updates: port2, counters: shared, debug: opts.debug ?? false, spinMicros: opts.spinMicros ?? 0, stats: opts.stats?.threadBuffer(),
        gate: this.gate.buffer as SharedArrayBuffer,
      };
      const worker = new Worker(new URL(script), { workerData: data, transferList: [port2], name: `fuse-${index}` });
      const t = { worker, port: port1, fd, running: true, ready: false };
      this.threads.push(t);
      this.live++;
      const stopped = (): void => {
        if (!t.running) return;
        t.running = false;
        port1.close();
        try {
          fs.closeSync(fd);
        } catch {
          // already closed
        }
        if (--this.live === 0) this.resolveExited();
        if (this.live === 0) opts.onStopped(this.threads.some((_, i) => Atomics.load(this.counters, i * COUNTERS + 2) === 1));
      };
      worker.on('message', (m: ToMain) => {
        if (m.kind === 'request') opts.onRequest(m.fd, Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
        else if (m.kind === 'log') opts.log(m.line);
        else if (m.kind === 'ready') t.ready = true;
      });
      worker.on('error', (e) => opts.log(`serving thread ${index}: ${e.stack ?? e.message}`));
      worker.on('exit', (code) => {
        // Its clone is closed in stopped(): the kernel fails the requests it had read (ECONNABORTED).
        if (t.running && Atomics.load(this.counters, index * COUNTERS + 2) !== 1) {
          opts.log(`serving thread ${index} exited (code ${code}); ${this.live - 1} left`);
        }
        stopped();
      });
    }
  }

  get count(): number {
    return this.threads.length;
  }

  /**
   * Whether `fd` is a running thread's channel. A thread's descriptor is closed when it exits
   * (which fails the requests it read and did not answer); a late reply must not be written
   * to whatever file reuses the number.
   */
  isLive(fd: number): boolean {
    return this.threads.some((t) => t.fd === fd && t.running);
  }

  /** Whether any thread is still running. */
  get running(): boolean {
    return this.live > 0;
  }

  /**
   * Whether a running thread reads the channel. A worker loads its modules and its plane
   * first: ~150 ms on 2 CPUs, during which the main thread still serves (a mount's first
   * request waited that long otherwise).
   */
  get serving(): boolean {
    return this.threads.some((t) => t.running && t.ready);
  }

  /**
   * Park the threads: each finishes (or forwards) the request it may already be blocked on,
   * then waits before its next read until resume().
   */
  park(): void {
    Atomics.store(this.gate, 0, 1);
  }

  resume(): void {
    Atomics.store(this.gate, 0, 0);
    Atomics.notify(this.gate, 0);
  }

  get parked(): boolean {
    return Atomics.load(this.gate, 0) === 1;
  }

  /** Send `msg` to every thread's plane; each applies it before its next request. */
  publish(msg: unknown): void {
    for (const t of this.threads) if (t.running) t.port.postMessage(msg);
    Atomics.add(this.gate, 1, 1);
  }

  /** Requests answered in the threads and requests they handed to the main thread. */
  stats(): { local: number; forwarded: number } {
    let local = 0;
    let forwarded = 0;
    for (let i = 0; i < this.threads.length; i++) {
      local += Atomics.load(this.counters, i * COUNTERS);
      forwarded += Atomics.load(this.counters, i * COUNTERS + 1);
    }
    return { local, forwarded };
  }

  /** Let the process exit even if a thread still waits on a channel that was not ours to end. */
  unref(): void {
    for (const t of this.threads) t.worker.unref();
  }
}
