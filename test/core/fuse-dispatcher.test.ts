// Tier 1: the protocol core driven in-process (no channel): async handlers, INTERRUPT,
// profile choice at INIT with an extension opcode, error mapping, notifications.
import { describe, expect, it } from 'vitest';
import os from 'node:os';
import { Dispatcher } from '../../src/fuse/dispatcher.js';
import { extendProfile, mainline, type KernelInit } from '../../src/fuse/abi.js';
import { defineOp } from '../../src/fuse/ops.js';
import { FuseError, type FileSystem, type RequestContext } from '../../src/fuse/filesystem.js';
import { InitFlag, Notify, Op } from '../../src/fuse/opcodes.js';
import { EntryOut, GetattrIn, GetxattrIn, InHeader, InitIn, OutHeader, ReadIn } from '../../src/fuse/structs.js';
import { SysError } from '../../src/sys/libc.js';
import { ImageError } from '../../src/famfs/errors.js';
import { PathError } from '../../src/famfs/namespace.js';
import { LogError } from '../../src/famfs/log.js';
import { DeviceError } from '../../src/device/memory.js';

const E = os.constants.errno;
const limits = { maxWrite: 1 << 20, maxPagesLimit: 256, pageSize: 4096, maxBackground: 64 };

function msg(opcode: number, unique: bigint, nodeid: number, ...parts: Buffer[]): Buffer {
  const len = 40 + parts.reduce((n, p) => n + p.length, 0);
  return Buffer.concat([InHeader.encode({ len, opcode, unique, nodeid: BigInt(nodeid) }), ...parts]);
}
const initMsg = (flags2 = 0) => msg(Op.INIT, 2n, 0, InitIn.encode({ major: 7, minor: 45, flags: Number(InitFlag.INIT_EXT | InitFlag.MAX_PAGES), flags2 }));

function harness(fs: FileSystem, profile?: ConstructorParameters<typeof Dispatcher>[1]['profile']) {
  const sent: Buffer[] = [];
  const logs: string[] = [];
  const d = new Dispatcher(fs, { limits, profile, log: (l) => logs.push(l) }, (iov) => sent.push(Buffer.concat(iov)));
  const replies = () => sent.map((b) => ({ ...OutHeader.decode(b), body: b.subarray(16), total: b.length }));
  return { d, sent, logs, replies };
}

describe('dispatcher', () => {
  it('sends one message per reply whose len counts every part, READ slices in order', () => {
    const slices = Array.from({ length: 300 }, (_, i) => Buffer.alloc(7, i));
    const h = harness({ read: () => slices });
    h.d.dispatch(initMsg());
    h.d.dispatch(msg(Op.READ, 4n, 5, ReadIn.encode({ size: 2100 })));
    const r = h.replies()[1]!;
    expect(r.len).toBe(r.total);
    expect(r.body.equals(Buffer.concat(slices))).toBe(true);
    // Asking for less clips the slices: the kernel rejects a READ reply longer than asked.
    h.d.dispatch(msg(Op.READ, 6n, 5, ReadIn.encode({ size: 10 })));
    expect(h.replies()[2]!.body.equals(Buffer.concat(slices).subarray(0, 10))).toBe(true);
  });

  it('answers a LOOKUP miss returned (nodeid 0, not to be cached) with ENOENT; a cached miss with its entry', () => {
    const attr = { ino: 0, size: 0, mode: 0 };
    const h = harness({ lookup: (_c, _p, name) => ({ nodeid: 0, attr, entryTimeout: name === 'cached' ? 5 : 0, attrTimeout: 0 }) });
    h.d.dispatch(initMsg());
    h.d.dispatch(msg(Op.LOOKUP, 4n, 1, Buffer.from('gone\0')));
    h.d.dispatch(msg(Op.LOOKUP, 6n, 1, Buffer.from('cached\0')));
    const [miss, cached] = h.replies().slice(1);
    expect(miss).toMatchObject({ error: -E.ENOENT, total: 16 });
    expect(cached!.error).toBe(0);
    expect(EntryOut.decode(cached!.body)).toMatchObject({ nodeid: 0n, entry_valid: 5 });
  });

  it('answers a GETXATTR of an attribute returned as absent (undefined) with ENODATA', () => {
    const h = harness({ getxattr: (_c, _n, name) => (name === 'user.a' ? Buffer.from('v') : undefined) });
    h.d.dispatch(initMsg());
    h.d.dispatch(msg(Op.GETXATTR, 4n, 1, GetxattrIn.encode({ size: 64 }), Buffer.from('security.selinux\0')));
    h.d.dispatch(msg(Op.GETXATTR, 6n, 1, GetxattrIn.encode({ size: 64 }), Buffer.from('user.a\0')));
    const [absent, present] = h.replies().slice(1);
    expect(absent).toMatchObject({ error: -E.ENODATA, total: 16 });
    expect(present!.body.toString()).toBe('v');
  });

  it('maps thrown errors: FuseError, SysError, Node fs errors, anything else EIO (logged)', async () => {
    let which = 0;
    const h = harness({
      getattr: () => {
        which++;
        if (which === 1) throw new FuseError(E.EACCES);
        if (which === 2) throw new SysError('open', E.EROFS);
        if (which === 3) throw Object.assign(new Error('x'), { errno: -E.ENOSPC });
        if (which === 4) throw new FuseError(600); // out of range for the wire
        throw new TypeError('bug');
      },
    });
    h.d.dispatch(initMsg());
    for (let i = 0; i < 5; i++) await h.d.dispatch(msg(Op.GETATTR, BigInt(4 + 2 * i), 1, GetattrIn.encode({})));
    expect(h.replies().slice(1).map((r) => r.error)).toEqual([-E.EACCES, -E.EROFS, -E.ENOSPC, -E.EIO, -E.EIO]);
    expect(h.replies().slice(1).every((r) => r.total === 16)).toBe(true);
    expect(h.logs.some((l) => l.includes('TypeError: bug'))).toBe(true);
  });

  it('maps every error class by its Errno: an ImageError (string errno) is not EIO, a LogError is EINVAL, causes are logged', async () => {
    let which = 0;
    const h = harness({
      getattr: () => {
        which++;
        if (which === 1) throw new ImageError('/a: no space', 'ENOSPC');
        if (which === 2) throw new PathError('/b: exists', 'EEXIST');
        if (which === 3) throw new LogError('entry 3: bad crc');
        throw new DeviceError('dev0: outside', 'EIO', { cause: new RangeError('offset 9') });
      },
    });
    h.d.dispatch(initMsg());
    for (let i = 0; i < 4; i++) await h.d.dispatch(msg(Op.GETATTR, BigInt(4 + 2 * i), 1, GetattrIn.encode({})));
    expect(h.replies().slice(1).map((r) => r.error)).toEqual([-E.ENOSPC, -E.EEXIST, -E.EINVAL, -E.EIO]);
    expect(h.logs.some((l) => l.includes('dev0: outside') && l.includes('RangeError: offset 9') && !l.includes('    at '))).toBe(true);
  });

  it('INTERRUPT aborts the signal of an in-flight async request; it still replies once', async () => {
    let seen: RequestContext | undefined;
    const h = harness({
      getattr: (ctx) => new Promise((_resolve, reject) => {
        seen = ctx;
        ctx.signal.addEventListener('abort', () => reject(new FuseError(E.EINTR)));
      }),
    });
    h.d.dispatch(initMsg());
    const p = h.d.dispatch(msg(Op.GETATTR, 10n, 1, GetattrIn.encode({})));
    expect(h.d.pending).toBe(1);
    h.d.dispatch(msg(Op.INTERRUPT, 11n, 0, Buffer.from(new BigUint64Array([10n]).buffer)));
    await p;
    expect(seen?.signal.aborted).toBe(true);
    const rs = h.replies();
    expect(rs.length).toBe(2); // INIT + the interrupted request; nothing for the INTERRUPT
    expect(rs[1]).toMatchObject({ unique: 10n, error: -E.EINTR });
  });

  it('an INTERRUPT that overtakes its request marks it interrupted on arrival', () => {
    let aborted: boolean | undefined;
    const h = harness({ getattr: (ctx) => ((aborted = ctx.signal.aborted), { attr: { ino: 1, size: 0, mode: 0o40755 } }) });
    h.d.dispatch(initMsg());
    h.d.dispatch(msg(Op.INTERRUPT, 21n, 0, Buffer.from(new BigUint64Array([20n]).buffer)));
    h.d.dispatch(msg(Op.GETATTR, 20n, 1, GetattrIn.encode({})));
    expect(aborted).toBe(true);
  });

  it('a chooser picks a profile from the kernel INIT; its extension opcode is dispatched', () => {
    const BIT43 = 1n << 43n;
    const ext = extendProfile(mainline, {
      name: 'ext',
      ops: [[54, defineOp({
        name: 'GET_THING',
        decode: (a) => a.take(8, 'thing'),
        handle: ({ ctx }, b) => Buffer.concat([b, Buffer.from([ctx.nodeid])]),
      })]],
      wantFlags: BIT43,
    });
    let saw: KernelInit | undefined;
    const chooser = (kin: KernelInit) => ((saw = kin), kin.flags & BIT43 ? ext : mainline);
    const h = harness({}, chooser);
    h.d.dispatch(initMsg(Number(BIT43 >> 32n)));
    expect(saw?.flags && saw.flags & BIT43).toBe(BIT43);
    expect(h.d.abi?.name).toBe('ext');
    h.d.dispatch(msg(54, 4n, 9, Buffer.from('abcdefgh')));
    expect(h.replies()[1]!.body.toString('latin1')).toBe('abcdefgh\x09');
    h.d.dispatch(msg(54, 6n, 9, Buffer.from('abc')));
    expect(h.replies()[2]!.error).toBe(-E.EINVAL);
    // The same opcode on a mainline connection is unknown.
    const m = harness({}, chooser);
    m.d.dispatch(initMsg());
    m.d.dispatch(msg(54, 4n, 9, Buffer.from('abcdefgh')));
    expect(m.replies()[1]!.error).toBe(-E.ENOSYS);
  });

  it('notifications go out with unique 0 and the positive code', () => {
    const h = harness({});
    h.d.notify(Notify.INVAL_INODE, [Buffer.alloc(24, 1)]);
    expect(h.replies()[0]).toMatchObject({ unique: 0n, error: Notify.INVAL_INODE, len: 40 });
  });

  it('defaults: open/opendir succeed with fh 0, statfs answers, missing methods ENOSYS', async () => {
    const h = harness({});
    h.d.dispatch(initMsg());
    await h.d.dispatch(msg(Op.OPEN, 4n, 2, Buffer.alloc(8)));
    await h.d.dispatch(msg(Op.STATFS, 6n, 1));
    await h.d.dispatch(msg(Op.LOOKUP, 8n, 1, Buffer.from('a\0')));
    const rs = h.replies();
    expect(rs[1]).toMatchObject({ error: 0, len: 32 });
    expect(rs[2]).toMatchObject({ error: 0, len: 96 });
    expect(rs[3]).toMatchObject({ error: -E.ENOSYS, len: 16 });
  });

  it('DESTROY calls destroy once and replies', () => {
    let n = 0;
    const h = harness({ destroy: () => void n++ });
    h.d.dispatch(initMsg());
    h.d.dispatch(msg(Op.DESTROY, 4n, 0));
    expect(n).toBe(1);
    expect(h.d.isDestroyed).toBe(true);
    expect(h.replies()[1]).toMatchObject({ unique: 4n, error: 0, len: 16 });
  });
});
