// Tier 2: a new file opened write-only is written past the page cache (FOPEN_DIRECT_IO at
// CREATE on a mainline connection), which spares the GETXATTR security.capability the
// kernel's cached write path asks before the first write to each new inode. What a program
// sees must not change: bytes read back, a reader that holds the file open sees each write,
// and a file created read-write still maps (MAP_SHARED) and writes through the mapping.
// Every open file description without an undo journal is opened FOPEN_NOFLUSH: its close(2)
// sends no FLUSH; a rewrite of a committed file (journaled) still gets one.
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { mmapShared } from '../../src/sys/libc.js';
import { must, type Scratch, type MountServer, mountUnavailable, useServedMount } from '../support/mount-harness.js';

const MiB = 1024 ** 2;

describeTier2('famfs-ts mount: new files written past the page cache', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let server: MountServer;
  useServedMount('cdirect', 256 * MiB, ['--readers', '0'], (m) => ({ s, dev, mnt, server } = m));

  it('creates write-only files with no GETXATTR and no FLUSH, bytes intact', async () => {
    must(`cd ${mnt} && mkdir w && for i in $(seq 1 50); do printf "file $i" > w/f$i; done`);
    must(`head -c ${3 * MiB + 123} /dev/urandom > ${s.path('src')} && cp ${s.path('src')} ${mnt}/w/big`);
    must(`cmp ${s.path('src')} ${mnt}/w/big`);
    for (const i of [1, 25, 50]) expect(fs.readFileSync(`${mnt}/w/f${i}`, 'utf8')).toBe(`file ${i}`);
    await server.stop();
    const counts = /requests on the main thread: (.*)/.exec(server.log());
    expect(counts, server.log()).not.toBeNull();
    expect(counts![1]).toMatch(/CREATE 5\d/);
    expect(counts![1]).not.toMatch(/GETXATTR|FLUSH/);
    // A rewrite of a committed file keeps an undo journal: its closes still send FLUSH.
    server = await s.serve(dev, mnt, ['--readers', '0']);
    must(`printf F | dd of=${mnt}/w/f2 conv=notrunc status=none`);
    expect(fs.readFileSync(`${mnt}/w/f2`, 'utf8')).toBe('File 2');
    await server.stop();
    expect([...server.log().matchAll(/requests on the main thread: (.*)/g)].at(-1)![1]).toMatch(/FLUSH \d/);
    server = await s.serve(dev, mnt, ['--readers', '0']);
  }, 120_000);

  it('shows a reader that holds a new file open every write through the direct descriptor', () => {
    const p = `${mnt}/shared`;
    const w = fs.openSync(p, 'wx'); // O_WRONLY | O_CREAT | O_EXCL: direct
    try {
      fs.writeSync(w, 'aaaaaaaa', 0);
      const r = fs.openSync(p, 'r'); // cached: its pages stay until a write drops them
      try {
        const b = Buffer.alloc(8);
        expect(fs.readSync(r, b, 0, 8, 0)).toBe(8);
        expect(b.toString()).toBe('aaaaaaaa');
        fs.writeSync(w, 'bbbb', 2);
        expect(fs.readSync(r, b, 0, 8, 0)).toBe(8);
        expect(b.toString()).toBe('aabbbbaa');
      } finally {
        fs.closeSync(r);
      }
    } finally {
      fs.closeSync(w);
    }
    expect(fs.readFileSync(p, 'utf8')).toBe('aabbbbaa');
  });

  it('maps a file created read-write (MAP_SHARED) and keeps what was stored through the map', () => {
    const p = `${mnt}/mapped`;
    const fd = fs.openSync(p, 'wx+'); // O_RDWR | O_CREAT | O_EXCL: cached, mappable
    try {
      fs.ftruncateSync(fd, 8192);
      const m = mmapShared(fd, 8192, 0, true);
      try {
        m.bytes.write('map!', 4096);
        m.sync();
      } finally {
        m.unmap();
      }
    } finally {
      fs.closeSync(fd);
    }
    const b = fs.readFileSync(p);
    expect(b.length).toBe(8192);
    expect(b.subarray(4096, 4100).toString()).toBe('map!');
  });
});
