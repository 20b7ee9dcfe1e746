// Tier 2: `famfs-ts fmap` / `iomap` on a file inside a live famfs-ts mount (the map comes
// from the mount's user.famfs.map attribute) agree byte for byte with the same verbs on
// IMAGE:/path, and `mount --abi auto` on this machine's kernel picks mainline and says so.
import fs from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { mountUnavailable, mustCli, type Scratch, type MountServer, useServedMount } from '../support/mount-harness.js';

const MiB = 1024 ** 2;

describeTier2('famfs-ts fmap/iomap on a mounted file', mountUnavailable, () => {
  let s: Scratch;
  let dev: string;
  let mnt: string;
  let server: MountServer;
  useServedMount('protocol', 1024 * MiB, ['--abi', 'auto'], (m) => ({ s, dev, mnt, server } = m));
  beforeAll(() => {
    fs.writeFileSync(`${mnt}/f`, Buffer.alloc(5 * MiB + 123, 7));
  });

  it('prints the same GET_FMAP and IOMAP_BEGIN bytes as for IMAGE:/path', () => {
    for (const enc of ['v10', 'unrolled']) {
      const mounted = mustCli(['fmap', `${mnt}/f`, '--encoding', enc, '--hex']);
      const offline = mustCli(['fmap', `${dev}:/f`, '--encoding', enc, '--hex']);
      expect(mounted).toBe(offline);
      expect(mounted.trim().length).toBeGreaterThan(64);
    }
    expect(mustCli(['iomap', `${mnt}/f`, '3M', '--json'])).toBe(mustCli(['iomap', `${dev}:/f`, '3M', '--json']));
  });

  it('mount --abi auto logs its choice for this kernel', () => {
    expect(server.log()).toMatch(/abi auto: mainline \(kernel 7\.\d+, flags 0x[0-9a-f]+, IOMAP_SUPPORT ENOTTY; .*famfs: kernel does not offer INIT bit 43; mainline: chosen/);
  });
});
