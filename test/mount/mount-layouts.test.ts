// Tier 2: every valid layout in fixtures/layouts mounts (hardware regions emulated by the
// controller arithmetic, software strips over several daxdevs), and the placement is proven
// on the media: for a file written through the mount, the raw bytes of the member device
// files at the addresses resolve() gives (through toController for regions) are the file's.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { toController, granuleRemainder } from '../../src/interleave/controller.js';
import { resolveRange, type FileMap } from '../../src/interleave/filemap.js';
import { loadLayout } from '../../src/interleave/layout-yaml.js';
import type { Layout } from '../../src/interleave/layout.js';
import { describeTier2 } from '../support/tier.js';
import { must, mustCli, ROOT, type Scratch, mountUnavailable, useScratch } from '../support/mount-harness.js';

const FIXTURES = path.join(ROOT, 'fixtures/layouts');
const layouts = fs.existsSync(FIXTURES) ? fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).sort() : [];

const fds = new Map<string, number>();
function closeFds(): void {
  for (const fd of fds.values()) fs.closeSync(fd);
  fds.clear();
}

/** Bytes [offset, offset+len) of daxdev `index` read straight from the member files. */
function rawDaxdevBytes(layout: Layout, index: number, offset: number, len: number): Buffer {
  const dax = layout.daxdevs.find((d) => d.index === index);
  if (!dax) throw new Error(`daxdev ${index} not in the layout`);
  const out = Buffer.alloc(len);
  const readAt = (file: string, at: number, dst: Buffer) => {
    let fd = fds.get(file);
    if (fd === undefined) fds.set(file, (fd = fs.openSync(file, 'r')));
    fs.readSync(fd, dst, 0, dst.length, at);
  };
  if (dax.backing.kind === 'device') {
    readAt(dax.backing.device.path, offset, out);
    return out;
  }
  const { region, members } = dax.backing;
  for (let pos = 0; pos < len;) {
    const n = Math.min(granuleRemainder(region, offset + pos), len - pos);
    const c = toController(region, offset + pos);
    readAt(members[c.position]!.path, c.dpa, out.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

describeTier2('famfs-ts mount: every fixture layout, placement proven on the media', mountUnavailable, () => {
  let s: Scratch;
  useScratch('layouts', (made) => (s = made));

  it('has fixture layouts to mount', () => {
    expect(layouts.length).toBeGreaterThanOrEqual(4);
  });

  for (const name of layouts) {
    it(`mounts ${name}, round-trips files and places their bytes where resolve() says`, async () => {
      const dir = s.path(name.replace(/\.yaml$/, ''));
      fs.mkdirSync(dir);
      // Same layout, devices moved into the scratch directory (relative paths stay relative).
      const text = fs.readFileSync(path.join(FIXTURES, name), 'utf8').replaceAll('/dev/shm/famfs-ts/', `${dir}/`);
      const yaml = path.join(dir, name);
      fs.writeFileSync(yaml, text);
      const layout = loadLayout(yaml);
      for (const d of layout.devices) {
        fs.mkdirSync(path.dirname(d.path), { recursive: true });
        fs.writeFileSync(d.path, '');
        fs.truncateSync(d.path, d.size);
      }
      mustCli(['mkfs', '--small', '-f', '--system-uuid', s.uuidFile, yaml]);
      const mnt = s.mountpoint(`m-${name}`);
      const server = await s.serve(yaml, mnt);
      try {
        const src = path.join(dir, 'src');
        must(`head -c ${24 * 1024 * 1024 + 12345} /dev/urandom > ${src} && mkdir ${mnt}/d && cp ${src} ${mnt}/d/f && cmp ${src} ${mnt}/d/f`);
        // Size first: allocated at once in the layout's policy.
        must(`head -c 5000000 /dev/urandom > ${src}2 && truncate -s 5000000 ${mnt}/g && dd if=${src}2 of=${mnt}/g conv=notrunc bs=1M status=none && cmp ${src}2 ${mnt}/g`);
        const bytes = fs.readFileSync(src);
        // The map as the log holds it (offline reader, while mounted).
        const map = JSON.parse(mustCli(['getmap', '--json', '--system-uuid', s.uuidFile, `${yaml}:/d/f`])) as FileMap;
        expect(map.size).toBe(bytes.length);
        if (layout.policy.nstrips > 1) {
          expect(map.extents[0]!.type).toBe('interleave');
          if (map.extents[0]!.type === 'interleave') {
            expect(map.extents[0]!.strips.length).toBe(layout.policy.nstrips);
            expect(new Set(map.extents[0]!.strips.map((x) => x.daxdev))).toEqual(new Set(layout.policy.daxdevs));
          }
        }
        let checked = 0;
        for (const m of resolveRange(map, 0, map.size)) {
          const raw = rawDaxdevBytes(layout, m.daxdev, m.offset, m.length);
          expect(raw.equals(bytes.subarray(m.pos, m.pos + m.length))).toBe(true);
          checked += m.length;
        }
        expect(checked).toBe(bytes.length);
      } finally {
        closeFds();
        await server.stop();
      }
      const fsck = s.path('fsck.out');
      expect(must(`node ${path.join(ROOT, 'dist/src/cli/main.js')} fsck --system-uuid ${s.uuidFile} ${yaml} > ${fsck}; echo rc=$?`).trim()).toBe('rc=0');
      for (const d of layout.devices) fs.rmSync(d.path);
    }, 120_000);
  }
});
