// The real `famfs-ts mount` server as a child process on one end of a SOCK_SEQPACKET
// socketpair (`famfs-ts mount SOURCE /dev/fd/3 --foreground ...`), the test playing the
// kernel on the other end: the CLI, FamfsMount, the profiles and the engine are the code
// under test, exactly as a user starts them. Helpers to send requests and check each reply
// frame with the kernel's rules (test/support/kernel-rules.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Op } from '../../src/fuse/opcodes.js';
import { checkFmapReply, checkReplyFrame, type KernelFmap, type Reply } from './kernel-rules.js';
import { getFmapIn } from '../../src/mapping/famfs-fmap.js';
import { EntryOut, InitIn, InitOut, OpenIn, OpenOut } from '../../src/fuse/structs.js';
import { seqpacketPair, setSocketBuffers } from './sockets.js';
import { FLAVOURS, PlayerChannel, type KernelFlavour } from './kernel-player.js';
import { offeredFlags } from './kernel-inits.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

export class ChildMount {
  readonly ch: PlayerChannel;
  private stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess, readonly fd: number) {
    this.ch = new PlayerChannel(fd);
    child.stderr!.on('data', (b: Buffer) => {
      this.stderr += b.toString();
    });
    child.stdout!.on('data', (b: Buffer) => {
      this.stderr += b.toString();
    });
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  /** Spawn `famfs-ts mount SOURCE /dev/fd/3 --foreground ...args` with the server end as fd 3. */
  static start(source: string, args: readonly string[]): ChildMount {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p .)`);
    const [kernelFd, serverFd] = seqpacketPair();
    setSocketBuffers(kernelFd, 17 << 20);
    setSocketBuffers(serverFd, 17 << 20);
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [CLI, 'mount', source, '/dev/fd/3', '--foreground', '--readers', '1', ...args], {
        stdio: ['ignore', 'pipe', 'pipe', serverFd],
        env: { ...process.env, UV_THREADPOOL_SIZE: '6' },
      });
    } finally {
      // The child holds its own copy: when it exits, our reads see the end of the channel.
      fs.closeSync(serverFd);
    }
    return new ChildMount(child, kernelFd);
  }

  /** Everything the server logged (stderr). */
  log(): string {
    return this.stderr;
  }

  /** The profile the server logged at INIT. */
  profile(): string {
    return /INIT: .*profile (\S+),/.exec(this.stderr)?.[1] ?? '';
  }

  /** Wait until the log matches (the child writes asynchronously). */
  async waitLog(re: RegExp, ms = 5000): Promise<string> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const m = re.exec(this.stderr);
      if (m) return m[0];
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`the server never logged ${re}; its log:\n${this.stderr}`);
  }

  /** One request; the reply frame checked (exact size unless `variable`). */
  async call(opcode: number, nodeid: number, payload: Buffer, size: number, variable = false): Promise<Reply> {
    const r = await this.ch.call(opcode, nodeid, payload);
    return checkReplyFrame(r.msg, r.unique, { size, variable });
  }

  /** The largest WRITE the server granted at init() (a kernel sends none bigger). */
  maxWrite = 0;

  /** INIT as a kernel of `flavour`; returns the granted flags. */
  async init(flavour: KernelFlavour): Promise<bigint> {
    const flav = FLAVOURS[flavour];
    const offered = offeredFlags(flav.init);
    const r = await this.call(Op.INIT, 0, InitIn.encode({
      major: 7, minor: flav.init.minor, max_readahead: 128 << 10, flags: Number(offered & 0xffffffffn), flags2: Number(offered >> 32n),
    }), 64);
    if (r.error !== 0) throw new Error(`INIT: ${r.error}\n${this.stderr}`);
    const io = InitOut.decode(r.payload);
    this.maxWrite = io.max_write;
    return BigInt(io.flags) | (BigInt(io.flags2) << 32n);
  }

  /** LOOKUP name under parent; the nodeid and the reply payload (entry_out). */
  async lookup(parent: number, name: string): Promise<{ nodeid: number; payload: Buffer }> {
    const r = await this.call(Op.LOOKUP, parent, Buffer.from(`${name}\0`), EntryOut.size);
    if (r.error !== 0) throw new Error(`LOOKUP ${name}: ${r.error}`);
    return { nodeid: Number(EntryOut.decode(r.payload).nodeid), payload: Buffer.from(r.payload) };
  }

  /**
   * GET_FMAP as a kernel of `flavour` sends it (the dev-tree encoding asks again with the
   * size the first reply names), each reply judged by the kernel's rules.
   */
  async getFmap(flavour: KernelFlavour, nodeid: number): Promise<{ map: KernelFmap; payload: Buffer } | { error: number }> {
    const flav = FLAVOURS[flavour];
    let buffer = 4096;
    let retried = false;
    for (;;) {
      const payload = flav.fmapPayload === 8 ? getFmapIn.encode({ size: buffer }) : Buffer.alloc(0);
      const r = await this.call(flav.getFmap!, nodeid, payload, buffer, true);
      if (r.error !== 0) return { error: r.error };
      const v = checkFmapReply(r.payload, { encoding: flav.encoding!, buffer, retried });
      if (v.kind === 'map') return { map: v.map, payload: Buffer.from(r.payload) };
      buffer = v.buffer;
      retried = true;
    }
  }

  async open(nodeid: number, flags = 0): Promise<number> {
    const r = await this.call(Op.OPEN, nodeid, OpenIn.encode({ flags }), OpenOut.size);
    return r.error;
  }

  /** Close our end (the server sees the channel end and exits); SIGKILL after `ms`. */
  async stop(ms = 10_000): Promise<number | null> {
    try {
      fs.closeSync(this.fd);
    } catch {
      // closed already
    }
    const t = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}
