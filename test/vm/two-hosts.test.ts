// Tier 4, two hosts: two stock-7.3 guests, each its own kernel, over ONE memory (an NVDIMM
// backed by the same /dev/shm file in both, test/support/vm-pair.ts). The master guest makes
// the file system and files (offline verbs, then through its mount); the client guest mounts
// the same /dev/dax0.0 with --client and, after its log replay, reads them byte for byte;
// its writes are refused; it replays in a loop while the master appends a stream of files
// and never sees one that is not whole; the master's server is killed with -9 and the client
// goes on serving all that was committed. Guest scripts: test/vm/two-hosts-{master,client}.sh.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeTier4 } from '../support/tier.js';
import { repoRoot, vmUnavailable } from '../support/vm.js';
import { explainPair, runVmPair } from '../support/vm-pair.js';

const KERNEL = 'stock-7.3';
const script = (n: string): string => readFileSync(`${repoRoot}/test/vm/${n}`, 'utf8');

describeTier4(`two hosts on ${KERNEL}: one shared devdax, two kernels`, () => vmUnavailable(KERNEL), () => {
  it('master writes, client replays and reads byte for byte, client writes refused, appends seen whole, master kill -9', async () => {
    const r = await runVmPair({
      kernel: KERNEL, timeoutMs: 1_500_000, env: { STREAM: '24' },
      master: script('two-hosts-master.sh'), client: script('two-hosts-client.sh'),
    });
    const why = explainPair(r);
    expect(r.prep.status, why).toBe(0);
    expect(r.master?.status, why).toBe(0);
    expect(r.client?.status, why).toBe(0);
    const m = r.master!.output;
    const c = r.client!.output;
    for (const s of ['mkfs', 'offline', 'mount-files', 'unchanged', 'stream 24', 'killed', 'done']) expect(m, why).toContain(`OK master ${s}\n`);
    for (const s of ['mounted', 'replay', 'refused', 'after-kill', 'done']) expect(c, why).toContain(`OK client ${s}\n`);
    // The client's server is a client (read-only role) and its writes failed with EROFS or
    // the offline verbs' refusal, naming the device.
    expect(r.client!.files.get('server.log')?.toString(), why).toMatch(/is live \(pid \d+, client\)/);
    const refusals = r.client!.files.get('refusals')?.toString() ?? '';
    expect(refusals.trim().split('\n')).toHaveLength(7);
    expect(refusals).toMatch(/Read-only file system/);
    expect(refusals).not.toMatch(/^\s+at /m);
    // The stream: replayed at least twice while the master appended.
    const stream = /iterations=(\d+) seen=([\d ]+)/.exec(r.client!.files.get('stream')?.toString() ?? '');
    expect(stream, why).not.toBeNull();
    expect(Number(stream![1])).toBeGreaterThanOrEqual(2);
    const seen = stream![2].trim().split(/\s+/).map(Number);
    expect(seen).toEqual([...seen].sort((a, b) => a - b)); // never fewer files than before
    // After kill -9, fsck on the master counts every file: 3 before the stream, then the stream.
    expect(m).toMatch(/^ +27 files/m);
  }, 1_600_000);
});
