// The kernel's side of a FUSE channel, played over a SOCK_SEQPACKET socketpair: the server
// under test runs in a child process that serves "/dev/fd/3", and the test sends request
// messages built from the engine's own struct tables and reads the replies, synchronously
// (a receive timeout keeps a silent server from hanging the test).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seqpacketPair, setReceiveTimeout, setSocketBuffers } from './sockets.js';
import { threadPoolEnv } from '../../src/fuse/session.js';
import { InitFlag, Op } from '../../src/fuse/opcodes.js';
import {
  AttrOut, ATTR_OUT_ATTR_OFFSET, Attr, BatchForgetIn, CreateIn, Dirent, DIRENTPLUS_DIRENT_OFFSET, EntryOut,
  ENTRY_OUT_ATTR_OFFSET, ForgetIn, ForgetOne, GetattrIn, GetxattrIn, InHeader, InitIn, InitOut, MkdirIn, OpenIn, OpenOut,
  OutHeader, ReadIn, ReleaseIn, SetxattrIn, WriteIn, Kstatfs,
} from '../../src/fuse/structs.js';

export interface Reply {
  unique: bigint;
  /** 0 or a negative errno (or a positive notify code when unique is 0). */
  error: number;
  len: number;
  body: Buffer;
}

export interface SendOptions {
  unique?: bigint;
  uid?: number;
  gid?: number;
  pid?: number;
  /** Override the header's len (for malformed messages). */
  len?: number;
  extlen?: number;
}

export class ReplyTimeout extends Error {}

/** The project root: the nearest directory above this module holding package.json. */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('no package.json above the test support code');
    dir = up;
  }
  return dir;
}
/** The compiled server child (build first: npx tsc -p .), whether run from test/ or dist/test/. */
export const childScript = path.join(projectRoot(), 'dist', 'test', 'support', 'fuse-child.js');

export class FusePlayer {
  private nextUnique = 2n;
  private readonly rbuf = Buffer.alloc((4 << 20) + 4096);
  private timeoutMs: number;

  constructor(readonly fd: number, timeoutMs = 5000) {
    this.timeoutMs = timeoutMs;
    setReceiveTimeout(fd, timeoutMs);
  }

  /** A fresh unique (even: bit 0 marks interrupts). */
  unique(): bigint {
    const u = this.nextUnique;
    this.nextUnique += 2n;
    return u;
  }

  /** Build a request: header (len computed unless overridden) + argument parts. */
  build(opcode: number, nodeid: number | bigint, parts: readonly Buffer[], o: SendOptions = {}): { msg: Buffer; unique: bigint } {
    const unique = o.unique ?? this.unique();
    let len = InHeader.size;
    for (const p of parts) len += p.length;
    const head = InHeader.encode({
      len: o.len ?? len, opcode, unique, nodeid: BigInt(nodeid), uid: o.uid ?? 0, gid: o.gid ?? 0, pid: o.pid ?? 1,
      total_extlen: o.extlen ?? 0,
    });
    return { msg: Buffer.concat([head, ...parts]), unique };
  }

  sendRaw(msg: Buffer): void {
    fs.writeSync(this.fd, msg);
  }

  send(opcode: number, nodeid: number | bigint, parts: readonly Buffer[], o: SendOptions = {}): bigint {
    const { msg, unique } = this.build(opcode, nodeid, parts, o);
    this.sendRaw(msg);
    return unique;
  }

  /** Next message from the server; ReplyTimeout when none comes in time. */
  recv(): Reply {
    let n: number;
    try {
      n = fs.readSync(this.fd, this.rbuf, 0, this.rbuf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') throw new ReplyTimeout(`no message from the server within ${this.timeoutMs} ms`);
      throw e;
    }
    if (n < OutHeader.size) throw new Error(`server sent ${n} bytes, shorter than fuse_out_header`);
    const h = OutHeader.decode(this.rbuf);
    if (h.len !== n) throw new Error(`server reply len ${h.len} but ${n} bytes arrived`);
    if (h.error !== 0 && h.unique !== 0n && n !== OutHeader.size) throw new Error(`error reply of ${n} bytes (must be header only)`);
    if (h.error > 0 && h.unique !== 0n) throw new Error(`positive error ${h.error} in a reply`);
    if (h.error <= -512) throw new Error(`error ${h.error} outside (-512, 0]`);
    return { unique: h.unique, error: h.error, len: n, body: Buffer.from(this.rbuf.subarray(OutHeader.size, n)) };
  }

  /** Wait up to ms for a message; undefined if none. */
  poll(ms: number): Reply | undefined {
    setReceiveTimeout(this.fd, ms);
    try {
      return this.recv();
    } catch (e) {
      if (e instanceof ReplyTimeout) return undefined;
      throw e;
    } finally {
      setReceiveTimeout(this.fd, this.timeoutMs);
    }
  }

  /** Send and wait for the reply to this request. */
  call(opcode: number, nodeid: number | bigint, parts: readonly Buffer[], o: SendOptions = {}): Reply {
    const u = this.send(opcode, nodeid, parts, o);
    const r = this.recv();
    if (r.unique !== u) throw new Error(`expected reply to ${u}, got ${r.unique}`);
    return r;
  }

  /** Call and demand success. */
  ok(opcode: number, nodeid: number | bigint, parts: readonly Buffer[]): Buffer {
    const r = this.call(opcode, nodeid, parts);
    if (r.error !== 0) throw new Error(`op ${opcode} on ${nodeid} failed: ${r.error}`);
    return r.body;
  }

  init(o: { major?: number; minor?: number; flags?: bigint; maxReadahead?: number } = {}): ReturnType<typeof InitOut.decode> & { raw: Buffer } {
    const flags = o.flags ?? (InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.MAX_PAGES | InitFlag.DO_READDIRPLUS |
      InitFlag.READDIRPLUS_AUTO | InitFlag.PARALLEL_DIROPS | InitFlag.INIT_EXT | InitFlag.SECURITY_CTX);
    const body = this.ok(Op.INIT, 0, [InitIn.encode({
      major: o.major ?? 7, minor: o.minor ?? 45, max_readahead: o.maxReadahead ?? 1 << 20,
      flags: Number(flags & 0xffffffffn), flags2: Number(flags >> 32n),
    })]);
    const full = Buffer.concat([body, Buffer.alloc(Math.max(0, InitOut.size - body.length))]);
    return { ...InitOut.decode(full), raw: body };
  }

  lookup(parent: number, name: string): Reply {
    return this.call(Op.LOOKUP, parent, [cstr(name)]);
  }

  getattr(nodeid: number): ReturnType<typeof Attr.decode> {
    const b = this.ok(Op.GETATTR, nodeid, [GetattrIn.encode({})]);
    if (b.length !== AttrOut.size) throw new Error(`attr_out of ${b.length} bytes`);
    return Attr.decode(b, ATTR_OUT_ATTR_OFFSET);
  }

  open(nodeid: number, flags = 0, opcode: number = Op.OPEN): number {
    const b = this.ok(opcode, nodeid, [OpenIn.encode({ flags })]);
    if (b.length !== OpenOut.size) throw new Error(`open_out of ${b.length} bytes`);
    return Number(OpenOut.decode(b).fh);
  }

  read(nodeid: number, fh: number, offset: number | bigint, size: number, opcode: number = Op.READ): Reply {
    return this.call(opcode, nodeid, [ReadIn.encode({ fh: BigInt(fh), offset: BigInt(offset), size })]);
  }

  write(nodeid: number, fh: number, offset: number | bigint, data: Buffer): Reply {
    return this.call(Op.WRITE, nodeid, [WriteIn.encode({ fh: BigInt(fh), offset: BigInt(offset), size: data.length }), data]);
  }

  release(nodeid: number, fh: number, opcode: number = Op.RELEASE): void {
    this.ok(opcode, nodeid, [ReleaseIn.encode({ fh: BigInt(fh) })]);
  }

  create(parent: number, name: string, mode = 0o644): { entry: ParsedEntry; fh: number } {
    const b = this.ok(Op.CREATE, parent, [CreateIn.encode({ flags: 0o101, mode: 0o100000 | mode, umask: 0o022 }), cstr(name)]);
    if (b.length !== EntryOut.size + OpenOut.size) throw new Error(`create reply of ${b.length} bytes`);
    return { entry: parseEntry(b, 0), fh: Number(OpenOut.decode(b, EntryOut.size).fh) };
  }

  mkdir(parent: number, name: string, mode = 0o755): Reply {
    return this.call(Op.MKDIR, parent, [MkdirIn.encode({ mode, umask: 0o022 }), cstr(name)]);
  }

  forget(nodeid: number, nlookup: number): void {
    this.send(Op.FORGET, nodeid, [ForgetIn.encode({ nlookup: BigInt(nlookup) })]);
  }

  batchForget(list: readonly [number, number][]): void {
    this.send(Op.BATCH_FORGET, 0, [
      BatchForgetIn.encode({ count: list.length }),
      ...list.map(([nodeid, n]) => ForgetOne.encode({ nodeid: BigInt(nodeid), nlookup: BigInt(n) })),
    ]);
  }

  statfs(): ReturnType<typeof Kstatfs.decode> {
    return Kstatfs.decode(this.ok(Op.STATFS, 1, []));
  }

  setxattr(nodeid: number, name: string, value: Buffer): Reply {
    return this.call(Op.SETXATTR, nodeid, [SetxattrIn.encode({ size: value.length }).subarray(0, 8), cstr(name), value]);
  }

  getxattr(nodeid: number, name: string, size: number): Reply {
    return this.call(Op.GETXATTR, nodeid, [GetxattrIn.encode({ size }), cstr(name)]);
  }
}

export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

export interface ParsedEntry {
  nodeid: number;
  attr: ReturnType<typeof Attr.decode>;
}

export function parseEntry(b: Buffer, at: number): ParsedEntry {
  const e = EntryOut.decode(b, at);
  return { nodeid: Number(e.nodeid), attr: Attr.decode(b, at + ENTRY_OUT_ATTR_OFFSET) };
}

export interface ParsedDirent {
  name: string;
  ino: number;
  off: number;
  type: number;
  entry?: ParsedEntry;
}

/** Walk a READDIR / READDIRPLUS reply, checking each record's alignment and bounds. */
export function parseDirents(b: Buffer, plus: boolean): ParsedDirent[] {
  const out: ParsedDirent[] = [];
  let at = 0;
  while (at < b.length) {
    const d = plus ? at + DIRENTPLUS_DIRENT_OFFSET : at;
    const h = Dirent.decode(b, d);
    const nameAt = d + Dirent.size;
    const end = ((nameAt + h.namelen - at + 7) & ~7) + at;
    if (nameAt + h.namelen > b.length) throw new Error(`dirent at ${at} runs past the reply`);
    out.push({
      name: b.toString('utf8', nameAt, nameAt + h.namelen), ino: Number(h.ino), off: Number(h.off), type: h.type,
      entry: plus ? parseEntry(b, at) : undefined,
    });
    at = end;
  }
  return out;
}

/**
 * Collect a server child's stderr and wait until its stdout says "ready"; if it exits first,
 * reject with its stderr. Returns the stderr so far, as a function (it keeps growing).
 */
export async function childReady(child: ChildProcess): Promise<() => string> {
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server child exited (${code}) before ready: ${err}`)));
  });
  return () => err;
}

export interface PlayedServer {
  player: FusePlayer;
  child: ChildProcess;
  stderr: () => string;
  /** Close the channel and wait for the child to exit (kills it if it lingers). */
  stop(): Promise<number | null>;
}

/** Spawn the MemFs server child on one end of a socketpair; the player holds the other. */
export async function startPlayedServer(args: readonly string[] = [], readers = 1): Promise<PlayedServer> {
  const [mine, theirs] = seqpacketPair();
  setSocketBuffers(mine, 4 << 20);
  setSocketBuffers(theirs, 4 << 20);
  const child = spawn(process.execPath, [childScript, '/dev/fd/3', '--readers', String(readers), ...args], {
    stdio: ['ignore', 'pipe', 'pipe', theirs],
    env: threadPoolEnv(readers),
  });
  fs.closeSync(theirs);
  const stderr = await childReady(child);
  const player = new FusePlayer(mine);
  return {
    player,
    child,
    stderr,
    async stop() {
      const exited = new Promise<number | null>((r) => {
        if (child.exitCode !== null) r(child.exitCode);
        else child.once('exit', (code) => r(code));
      });
      fs.closeSync(mine);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
