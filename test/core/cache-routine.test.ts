// The cache-line routine (src/sys/cacheline.ts) and the per-device choice (src/device/cache.ts):
// on x86-64 the machine code really runs (each call returns the lines its loop touched, so a
// routine that never ran, or mis-rounded the range, fails), CPUID agrees with the kernel's
// /proc/cpuinfo flags, and the bytes around flushed ranges are unchanged. Elsewhere the
// routine is refused with a message, and so is a real device under `auto`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CacheModeError, cacheMaintenanceFor, cacheMode, CACHE_MODE_ENV, isRealMemoryDevice, nativeCacheMaintenance, parseCacheMode, type CacheMaintenance } from '../../src/device/cache.js';
import { MappedDevice } from '../../src/device/memory.js';
import { FamfsImage } from '../../src/famfs/image.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { readMapped, writeMapped } from '../../src/server/file-io.js';
import { cacheLineRoutines, cacheLineSupport, CACHE_LINE, lineRoutine, routineBytes, type LineInsn } from '../../src/sys/cacheline.js';

const DIR = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'famfs-ts-cache-'));
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));
const x64 = os.arch() === 'x64';

function deviceFile(name: string, size: number): string {
  const p = path.join(DIR, name);
  fs.writeFileSync(p, '');
  fs.truncateSync(p, size);
  return p;
}

/** Lines covering [off, off+len) when the mapping starts page-aligned. */
function linesOf(off: number, len: number): number {
  return len === 0 ? 0 : Math.floor((off + len - 1) / CACHE_LINE) - Math.floor(off / CACHE_LINE) + 1;
}

function cpuinfoFlags(): Set<string> {
  const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
  return new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
}

describe.runIf(x64)('x86-64 cache-line routine', () => {
  it('CPUID detection matches the kernel flags in /proc/cpuinfo', () => {
    const r = cacheLineRoutines();
    const flags = cpuinfoFlags();
    expect(r.features).toEqual({ clflush: flags.has('clflush'), clflushopt: flags.has('clflushopt'), clwb: flags.has('clwb') });
    // famfs's choice: CLWB to flush when present, CLFLUSHOPT (else CLFLUSH) to invalidate.
    expect(r.flushInsn).toBe(flags.has('clwb') ? 'clwb' : flags.has('clflushopt') ? 'clflushopt' : 'clflush');
    expect(r.invalidateInsn).toBe(flags.has('clflushopt') ? 'clflushopt' : 'clflush');
    // Leaf 0 EBX/EDX/ECX spell the vendor, as the kernel reports it.
    const [, b, c, d] = r.cpuid(0, 0);
    const vendor = Buffer.alloc(12);
    vendor.writeUInt32LE(b, 0);
    vendor.writeUInt32LE(d, 4);
    vendor.writeUInt32LE(c, 8);
    const vendorLine = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('vendor_id'));
    expect(vendorLine?.split(':')[1]?.trim()).toBe(vendor.toString('latin1'));
  });

  it('every supported instruction runs over exactly the lines of a range, leaving the bytes intact', () => {
    const r = cacheLineRoutines();
    const insns = (['clflush', 'clflushopt', 'clwb'] as const).filter((i: LineInsn) => r.features[i]);
    expect(insns.length).toBeGreaterThan(0);
    const dev = MappedDevice.open(deviceFile('lines', 1 << 20), { cache: nativeCacheMaintenance() });
    try {
      const whole = dev.view(0, 1 << 20);
      for (let i = 0; i < whole.length; i += 4) whole.writeUInt32LE((i * 2654435761) >>> 0, i);
      const before = Buffer.from(whole);
      for (const insn of insns) {
        for (const fence of ['sfence', 'mfence'] as const) {
          const run = lineRoutine(insn, fence);
          for (const [off, len] of [[0, 0], [0, 1], [63, 1], [63, 2], [100, 64], [4096, 4096], [5, 300_000], [0, 1 << 20]] as const) {
            expect(run(whole.subarray(off, off + len)), `${insn} [${off}, +${len})`).toBe(linesOf(off, len));
          }
        }
      }
      expect(whole.equals(before)).toBe(true);
      // Through the device interface too (flush/invalidate of device offsets).
      dev.write(12345, Buffer.from('still here'));
      dev.flush(12345, 10);
      dev.invalidate(0, 1 << 20);
      const back = Buffer.alloc(10);
      dev.read(12345, back);
      expect(back.toString()).toBe('still here');
    } finally {
      dev.close();
    }
  });

  it('the routines are the bytes the encodings say (jump targets land on the instruction and the fence)', () => {
    // xor eax,eax; test rsi,rsi; je done; lea; and; insn; inc rax; add; cmp; jb insn; fence; ret
    const b = routineBytes('clwb', 'sfence');
    expect(b.slice(0, 2)).toEqual([0x31, 0xc0]);
    const je = b.indexOf(0x74);
    const done = je + 2 + b[je + 1]!;
    expect(b.slice(done)).toEqual([0x0f, 0xae, 0xf8, 0xc3]);
    const jb = b.lastIndexOf(0x72, done);
    const back = jb + 2 - (0x100 - b[jb + 1]!);
    expect(b.slice(back, back + 4)).toEqual([0x66, 0x0f, 0xae, 0x37]);
  });
});

describe.runIf(x64)('famfs points on a mapped device (the routine under a counter)', () => {
  it('mkfs, append, replay, cp/verify and the server data path flush and invalidate what famfs does', () => {
    const native = nativeCacheMaintenance();
    let log: string[] = [];
    const counting: CacheMaintenance = {
      active: true,
      description: 'counting',
      flush: (v) => { log.push(`flush ${v.byteLength}`); native.flush(v); },
      invalidate: (v) => { log.push(`invalidate ${v.byteLength}`); native.invalidate(v); },
    };
    const p = deviceFile('image', 32 * 1024 * 1024);
    const master = MappedDevice.open(p, { cache: counting });
    const client = MappedDevice.open(p, { cache: counting });
    const U = new Uint8Array(16).fill(3);
    try {
      mkfs(master, { devPath: p, systemUuid: U, allowSmall: true });
      // The existing superblock read, then the log (8 MiB) written back before the superblock.
      expect(log).toEqual(['invalidate 200', `flush ${8 * 1024 * 1024}`, 'flush 200']);
      const m = FamfsImage.open({ primary: master, writable: true, systemUuid: U });
      log = [];
      const f = m.creat('f', 5000);
      // creat's and append's refreshes (header), the entry, the counters, the replay after
      // the append (header, then the new entry).
      expect(log).toEqual(['invalidate 48', 'invalidate 48', 'flush 544', 'flush 16', 'invalidate 48', 'invalidate 544']);
      log = [];
      m.write(f, 0, Buffer.alloc(5000, 9));
      writeMapped(f.map, (i) => m.daxdev(i), 100, Buffer.alloc(50, 8));
      expect(log).toEqual(['flush 5000', 'flush 50']);
      log = [];
      const c = FamfsImage.open({ primary: client, systemUuid: new Uint8Array(16) });
      // Superblock, log header, the one entry it counts.
      expect(log).toEqual(['invalidate 200', 'invalidate 48', 'invalidate 544']);
      log = [];
      const cf = c.file('f');
      const got = Buffer.alloc(5000);
      c.read(cf, 0, got);
      const served = Buffer.concat(readMapped(cf.map, (i) => c.daxdev(i), 0, 5000));
      expect(log).toEqual(['invalidate 5000', 'invalidate 5000']);
      expect(got.equals(served)).toBe(true);
      expect(got.subarray(100, 150).every((b) => b === 8)).toBe(true);
    } finally {
      // The images own these devices now; closing them here stands for closing the images.
      master.close();
      client.close();
    }
  });
});

// Runs everywhere (no skip): x86-64 has the routine; elsewhere `on` is refused with a message.
describe('the cache-line routine and the architecture', () => {
  it('exists on x86-64 only; elsewhere maintenance on is refused with a message', () => {
    const s = cacheLineSupport();
    expect(s.ok).toBe(x64);
    if (!x64) expect(() => cacheMaintenanceFor(deviceFile('refused', 4096), 'on')).toThrow(CacheModeError);
  });
});

describe('per-device choice', () => {
  it('auto: off for files (emulated devices), on/off as asked, bad modes refused', () => {
    const f = deviceFile('emulated', 4096);
    expect(isRealMemoryDevice(f)).toBe(false);
    expect(isRealMemoryDevice('/dev/null')).toBe(false);
    expect(cacheMaintenanceFor(f, 'auto').active).toBe(false);
    expect(cacheMaintenanceFor(f, 'off').active).toBe(false);
    if (x64) expect(cacheMaintenanceFor(f, 'on').active).toBe(true);
    expect(() => parseCacheMode('sometimes', '--cache-maintenance')).toThrow(/expected on, off or auto/);
    const saved = process.env[CACHE_MODE_ENV];
    try {
      process.env[CACHE_MODE_ENV] = 'off';
      expect(cacheMode()).toBe('off');
      delete process.env[CACHE_MODE_ENV];
      expect(cacheMode()).toBe('auto');
    } finally {
      if (saved === undefined) delete process.env[CACHE_MODE_ENV];
      else process.env[CACHE_MODE_ENV] = saved;
    }
  });

  it.runIf(x64)('a shared device tells the viewing thread to maintain caches too', () => {
    const dev = MappedDevice.open(deviceFile('shared', 4096), { cache: nativeCacheMaintenance() });
    try {
      expect(dev.share([[0, 4096]]).cacheMaintenance).toBe(true);
    } finally {
      dev.close();
    }
    const off = MappedDevice.open(deviceFile('shared-off', 4096));
    try {
      expect(off.share([[0, 4096]]).cacheMaintenance).toBe(false);
    } finally {
      off.close();
    }
  });
});
