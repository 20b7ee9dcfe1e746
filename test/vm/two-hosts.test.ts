// Tier 4, two hosts: two stock-7.3 guests, each its own kernel, over ONE memory (an NVDIMM
// backed by the same /dev/shm file in both, test/support/vm-pair.ts). The master guest makes
// the file system and files (offline verbs, then through its mount); the client guest mounts
// the same /dev/dax0.0 with --client and, after its log replay, reads them byte for byte;
// its writes are refused; it replays in a loop while the master appends a stream of files
// and never sees one that is not whole; the master's server is killed with -9 and the client
// goes on serving all that was committed; a writer caught half way through an append leaves
// an entry the client's logplay calls in flight (no file, no damage) until it is whole.
// Guest scripts: test/vm/two-hosts-{master,client}.sh.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeTier4 } from '../support/tier.js';
import { fuseCounts, FuseOp, repoRoot, vmUnavailable } from '../support/vm.js';
import { FAMFS_V10 } from '../../src/mapping/series.js';
import { explainPair, runVmPair, type PairResult } from '../support/vm-pair.js';

const script = (n: string): string => readFileSync(`${repoRoot}/test/vm/${n}`, 'utf8');

/** The whole two-host run; returns the pair for kernel-specific checks. */
async function twoHosts(KERNEL: 'stock-7.3' | 'famfs-v10-7.3', famfsMode: boolean): Promise<PairResult> {
  const r = await runVmPair({
    kernel: KERNEL, timeoutMs: 1_500_000, env: { STREAM: '24', FAMFS_MODE: famfsMode ? '1' : '0' },
    master: script('two-hosts-master.sh'), client: script('two-hosts-client.sh'),
  });
  const why = explainPair(r);
  expect(r.prep.status, why).toBe(0);
  expect(r.master?.status, why).toBe(0);
  expect(r.client?.status, why).toBe(0);
  const m = r.master!.output;
  const c = r.client!.output;
  for (const s of ['mkfs', 'offline', 'mount-files', 'unchanged', 'stream 24', 'killed', 'inflight', 'done']) expect(m, why).toContain(`OK master ${s}\n`);
  for (const s of ['mounted', 'replay', 'refused', 'after-kill', 'inflight-absent', 'inflight-whole', 'done']) expect(c, why).toContain(`OK client ${s}\n`);
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
  // A half-written last entry: the client's logplay said so, showed nothing, reported no damage.
  if (!famfsMode) expect(c).toMatch(/famfs_logplay: log entry \d+ is still being appended \(log entry \d+: crc mismatch/);
  console.log(`two hosts, client on ${KERNEL}: ${r.seconds.toFixed(0)} s in all (prep boot ${r.prep.seconds.toFixed(0)} s, master ${r.master!.seconds.toFixed(0)} s, ` +
    `client ${r.client!.seconds.toFixed(0)} s); client stream: ${stream![0]}`);
  return r;
}

describeTier4('two hosts on stock-7.3: one shared devdax, two kernels', () => vmUnavailable('stock-7.3'), () => {
  it('master writes, client replays and reads byte for byte, client writes refused, appends seen whole, master kill -9, an append in flight', async () => {
    await twoHosts('stock-7.3', false);
  }, 1_600_000);
});

// Both guests on the famfs V10 kernel: the master's dax0.0 in devdax mode (its offline verbs
// map the device; its mount serves data itself); the client's in famfs mode (fsdev_dax) and
// its mount on the famfs ABI, so its kernel maps every file's bytes from GET_FMAP onto the
// memory the master wrote, and sends no READ.
describeTier4('two hosts on famfs-v10-7.3: the client reads through the kernel DAX path', () => vmUnavailable('famfs-v10-7.3'), () => {
  it('the same run; the client kernel maps the files itself: GET_FMAP, no READ or WRITE', async () => {
    const r = await twoHosts('famfs-v10-7.3', true);
    const why = explainPair(r);
    const log = r.client!.files.get('server.log')?.toString() ?? '';
    expect(log, why).toMatch(/abi auto: famfs/);
    expect(log, why).toMatch(/superblock and \d+-byte log mapped through \/tmp\/c\/\.meta \(GET_FMAP\)/);
    const k = fuseCounts(r.client!.files.get('counts')?.toString() ?? '').get('client');
    expect(k, why).toBeDefined();
    expect(k!.ops.get(FuseOp.READ) ?? 0, 'client kernel READs').toBe(0);
    expect(k!.ops.get(FuseOp.WRITE) ?? 0, 'client kernel WRITEs').toBe(0);
    // .superblock, .log, and the files read (3 + 24 in the stream, each opened more than once).
    expect(k!.ops.get(FAMFS_V10.opcodes.GET_FMAP) ?? 0).toBeGreaterThanOrEqual(2 + 27);
  }, 1_600_000);
});
