// Tier 3: the engine served in a child process over a socketpair planted as /dev/fd/3,
// with this test playing the kernel (INIT, LOOKUP, GETATTR, OPEN, READ, WRITE, READDIRPLUS...).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import os from 'node:os';
import { startPlayedServer, parseDirents, parseEntry, cstr, type PlayedServer } from '../support/fuse-player.js';
import { patternFile } from '../support/fuse-memfs.js';
import { InitFlag, Notify, Op } from '../../src/fuse/opcodes.js';
import { GetxattrOut, InitOut, NotifyInvalEntryOut, NotifyInvalInodeOut, OpenIn, ReadIn, WriteOut } from '../../src/fuse/structs.js';

const E = os.constants.errno;
const BIG = 3 << 20;

describe('FUSE engine against a played kernel (socketpair, /dev/fd/N)', () => {
  let s: PlayedServer;
  beforeAll(async () => {
    s = await startPlayedServer(['--big', String(BIG)]);
  });
  afterAll(async () => {
    const code = await s.stop();
    expect(s.stderr()).not.toMatch(/failed|Error/);
    expect(code).toBe(0);
  });

  it('answers anything before INIT with EIO', () => {
    const r = s.player.call(Op.GETATTR, 1, [Buffer.alloc(16)]);
    expect(r.error).toBe(-E.EIO);
  });

  it('negotiates INIT: echoes INIT_EXT, grants only offered wanted flags, 1 MiB max_write', () => {
    const init = s.player.init();
    expect(init.raw.length).toBe(InitOut.size);
    expect(init.major).toBe(7);
    expect(init.minor).toBe(45);
    const flags = BigInt(init.flags) | (BigInt(init.flags2) << 32n);
    expect(flags & InitFlag.INIT_EXT).toBe(InitFlag.INIT_EXT);
    expect(flags & InitFlag.ASYNC_READ).toBe(InitFlag.ASYNC_READ);
    expect(flags & InitFlag.DO_READDIRPLUS).toBe(InitFlag.DO_READDIRPLUS);
    expect(flags & InitFlag.PARALLEL_DIROPS).toBe(InitFlag.PARALLEL_DIROPS);
    // Offered by our played kernel but refused: request extensions the decoder does not parse.
    expect(flags & InitFlag.SECURITY_CTX).toBe(0n);
    // Not offered, so not granted even though the engine would like it.
    expect(flags & InitFlag.ATOMIC_O_TRUNC).toBe(0n);
    expect(init.max_write).toBe(1 << 20);
    expect(init.max_pages).toBe(256);
  });

  it('refuses a second INIT', () => {
    expect(s.player.call(Op.INIT, 0, [Buffer.alloc(64)]).error).toBe(-E.EIO);
  });

  it('LOOKUP finds a file and misses with ENOENT', () => {
    const r = s.player.lookup(1, 'hello.txt');
    expect(r.error).toBe(0);
    const e = parseEntry(r.body, 0);
    expect(e.attr.size).toBe(12);
    expect(e.attr.mode & 0o170000).toBe(0o100000);
    expect(s.player.lookup(1, 'nope').error).toBe(-E.ENOENT);
  });

  it('GETATTR of the root is a directory', () => {
    const a = s.player.getattr(1);
    expect(a.mode & 0o170000).toBe(0o040000);
    expect(Number(a.ino)).toBe(1);
  });

  it('OPEN + READ returns the bytes, clipped at EOF, empty past it', () => {
    const id = parseEntry(s.player.lookup(1, 'hello.txt').body, 0).nodeid;
    const fh = s.player.open(id);
    expect(s.player.read(id, fh, 0, 4096).body.toString()).toBe('hello, fuse\n');
    expect(s.player.read(id, fh, 7, 4).body.toString()).toBe('fuse');
    const past = s.player.read(id, fh, 1 << 40, 4096);
    expect(past.error).toBe(0);
    expect(past.body.length).toBe(0);
    s.player.release(id, fh);
  });

  it('READ of 1 MiB from the big file arrives whole and in place', () => {
    const id = parseEntry(s.player.lookup(1, 'big').body, 0).nodeid;
    const fh = s.player.open(id);
    const want = patternFile(BIG);
    for (const off of [0, 1 << 20, (2 << 20) + 12345]) {
      const r = s.player.read(id, fh, off, 1 << 20);
      expect(r.error).toBe(0);
      expect(r.body.equals(want.subarray(off, Math.min(BIG, off + (1 << 20))))).toBe(true);
    }
  });

  it('READ at an offset past 2^53 is EINVAL, not a crash', () => {
    const id = parseEntry(s.player.lookup(1, 'big').body, 0).nodeid;
    expect(s.player.read(id, 1, 0xffff_ffff_ffff_f000n, 4096).error).toBe(-E.EINVAL);
  });

  it('CREATE, WRITE, READ back, and WRITE with a lying size is EINVAL', () => {
    const { entry, fh } = s.player.create(1, 'made');
    expect(entry.nodeid).toBeGreaterThan(1);
    const data = Buffer.from('0123456789'.repeat(1000));
    const w = s.player.write(entry.nodeid, fh, 100, data);
    expect(w.error).toBe(0);
    expect(WriteOut.decode(w.body).size).toBe(data.length);
    const back = s.player.read(entry.nodeid, fh, 0, 20000).body;
    expect(back.length).toBe(100 + data.length);
    expect(back.subarray(100).equals(data)).toBe(true);
    expect(back.subarray(0, 100).every((b) => b === 0)).toBe(true);
    const lie = s.player.call(Op.WRITE, entry.nodeid, [
      Buffer.from(new Uint8Array(40)).fill(0).fill(0xff, 16, 20), // size field 0xffffffff
      data.subarray(0, 10),
    ]);
    expect(lie.error).toBe(-E.EINVAL);
  });

  it('MKDIR, then READDIRPLUS lists entries with attributes; READDIR the names', () => {
    expect(s.player.mkdir(1, 'dir').error).toBe(0);
    expect(s.player.mkdir(1, 'dir').error).toBe(-E.EEXIST);
    const fh = s.player.open(1, 0, Op.OPENDIR);
    const plus = parseDirents(s.player.read(1, fh, 0, 65536, Op.READDIRPLUS).body, true);
    const names = plus.map((d) => d.name);
    expect(names).toEqual(expect.arrayContaining(['.', '..', 'hello.txt', 'big', 'made', 'dir']));
    const big = plus.find((d) => d.name === 'big')!;
    expect(big.entry!.attr.size).toBe(BIG);
    expect(big.type).toBe(0o10); // DT_REG
    expect(plus.find((d) => d.name === 'dir')!.type).toBe(0o4); // DT_DIR
    // Continue from an offset: the rest of the list.
    const rest = parseDirents(s.player.read(1, fh, plus[2]!.off, 65536, Op.READDIR).body, false);
    expect(rest.map((d) => d.name)).toEqual(names.slice(3));
    // A buffer too small for one more entry ends the list early instead of overflowing.
    const small = parseDirents(s.player.read(1, fh, 0, 80, Op.READDIR).body, false);
    expect(small.length).toBe(2);
    s.player.release(1, fh, Op.RELEASEDIR);
  });

  it('xattrs: size probe, value, ERANGE on a small buffer, ENODATA when absent', () => {
    const id = parseEntry(s.player.lookup(1, 'made').body, 0).nodeid;
    expect(s.player.setxattr(id, 'user.famfs.interleave', Buffer.from('nstrips=4,chunk=2M')).error).toBe(0);
    const probe = s.player.getxattr(id, 'user.famfs.interleave', 0);
    expect(GetxattrOut.decode(probe.body).size).toBe(18);
    expect(s.player.getxattr(id, 'user.famfs.interleave', 64).body.toString()).toBe('nstrips=4,chunk=2M');
    expect(s.player.getxattr(id, 'user.famfs.interleave', 4).error).toBe(-E.ERANGE);
    expect(s.player.getxattr(id, 'user.other', 64).error).toBe(-E.ENODATA);
  });

  it('STATFS reports the file system', () => {
    const st = s.player.statfs();
    expect(st.bsize).toBe(4096);
    expect(st.namelen).toBe(255);
  });

  it('FORGET and BATCH_FORGET get no reply; the next request is answered normally', () => {
    const id = parseEntry(s.player.lookup(1, 'hello.txt').body, 0).nodeid;
    s.player.forget(id, 1);
    s.player.batchForget([[id, 1], [999, 3]]);
    const r = s.player.lookup(1, 'hello.txt'); // call() fails if a stray reply came first
    expect(r.error).toBe(0);
  });

  it('unknown opcodes get ENOSYS; unimplemented ones too', () => {
    expect(s.player.call(9999, 1, []).error).toBe(-E.ENOSYS);
    expect(s.player.call(Op.BMAP, 1, [Buffer.alloc(16)]).error).toBe(-E.ENOSYS);
    expect(s.player.call(Op.LSEEK, 1, [Buffer.alloc(24)]).error).toBe(-E.ENOSYS);
  });

  it('malformed: short arguments, unterminated names, len mismatch, extensions too long', () => {
    expect(s.player.call(Op.OPEN, 1, [Buffer.alloc(3)]).error).toBe(-E.EINVAL);
    expect(s.player.call(Op.LOOKUP, 1, [Buffer.from('abc')]).error).toBe(-E.EINVAL);
    expect(s.player.call(Op.READ, 2, [ReadIn.encode({ size: 10 }).subarray(0, 20)]).error).toBe(-E.EINVAL);
    expect(s.player.call(Op.OPEN, 1, [OpenIn.encode({})], { len: 1000 }).error).toBe(-E.EINVAL);
    expect(s.player.call(Op.LOOKUP, 1, [cstr('x')], { extlen: 100 }).error).toBe(-E.EINVAL);
    expect(s.player.call(Op.GETATTR, 0xffff_ffff_ffff_fff0n, [Buffer.alloc(16)]).error).toBe(-E.EINVAL);
  });

  it('notifications arrive with unique 0, the notify code and their payload', () => {
    s.child.kill('SIGUSR2');
    const a = s.player.recv();
    const b = s.player.recv();
    expect(a).toMatchObject({ unique: 0n, error: Notify.INVAL_INODE, len: 16 + NotifyInvalInodeOut.size });
    expect(NotifyInvalInodeOut.decode(a.body)).toMatchObject({ ino: 1n, off: 0, len: -1 });
    expect(b).toMatchObject({ unique: 0n, error: Notify.INVAL_ENTRY });
    const e = NotifyInvalEntryOut.decode(b.body);
    expect(e).toMatchObject({ parent: 1n, namelen: 9 });
    expect(b.body.subarray(NotifyInvalEntryOut.size).toString('latin1')).toBe('hello.txt\0');
  });

  it('INTERRUPT of a finished request is dropped silently', () => {
    s.player.send(Op.INTERRUPT, 0, [Buffer.from(new BigUint64Array([2n]).buffer)], { unique: 3n });
    expect(s.player.call(Op.GETATTR, 1, [Buffer.alloc(16)]).error).toBe(0);
  });
  it('DESTROY is answered and ends the session: the server exits 0 by itself (runs last)', async () => {
    expect(s.player.call(Op.DESTROY, 0, []).error).toBe(0);
    const code = await new Promise<number | null>((r) => (s.child.exitCode !== null ? r(s.child.exitCode) : s.child.once('exit', r)));
    expect(code).toBe(0);
  });
});
