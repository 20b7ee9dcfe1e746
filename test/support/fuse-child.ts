// A FUSE server process for the engine's tests and benchmark: serves MemFs at MOUNTPOINT
// (or over /dev/fd/N). Prints "ready" once serving; unmounts on SIGTERM/SIGINT.
//   node dist/test/support/fuse-child.js MOUNTPOINT [--big BYTES] [--readers N] [--spin MICROS]
//     [--max-write N] [--slice BYTES] [--shm FILE] [--threads N --poison OFFSET] [--stats] [--debug]
// --shm FILE serves "big" from a MAP_SHARED mapping of FILE (written with the pattern first).
// --slice answers READs with views of at most BYTES each (many iovecs per reply).
// --threads N serves READ of "big" on N serving threads (dying-plane.ts); a READ at --poison
// OFFSET ends the thread that reads it; --plane-load MS makes each thread that slow to start,
// and "ready" is printed without waiting for the threads.
// SIGUSR2 makes it send INVAL_INODE(root) and INVAL_ENTRY(root, "hello.txt") notifications.
import fs from 'node:fs';
import { siblingModule } from '../../src/fuse/data-plane.js';
import { FuseSession } from '../../src/fuse/session.js';
import { mmapShared } from '../../src/sys/libc.js';
import { MemFs, patternFile } from './fuse-memfs.js';

const args = process.argv.slice(2);
const mnt = args[0];
if (!mnt) {
  process.stderr.write('usage: fuse-child MOUNTPOINT [--big BYTES] [--readers N] [--max-write N] [--debug]\n');
  process.exit(2);
}
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i > 0 ? args[i + 1] : undefined;
};

const memfs = new MemFs();
memfs.addFile(1, 'hello.txt', Buffer.from('hello, fuse\n'));
const big = Number(opt('--big') ?? 0);
const shm = opt('--shm');
let bigId = 0;
if (big > 0) {
  if (shm) {
    // Serve "big" from a MAP_SHARED mapping of a /dev/shm file, as a memory device is served.
    fs.writeFileSync(shm, patternFile(big));
    const fd = fs.openSync(shm, 'r+');
    bigId = memfs.addFile(1, 'big', mmapShared(fd, big).bytes);
  } else bigId = memfs.addFile(1, 'big', patternFile(big));
}
const slice = Number(opt('--slice') ?? 0);
if (slice > 0) memfs.sliceSize = slice;

const session = FuseSession.mount(mnt, memfs, {
  readers: Number(opt('--readers') ?? 1),
  spinMicros: opt('--spin') !== undefined ? Number(opt('--spin')) : undefined,
  maxWrite: opt('--max-write') ? Number(opt('--max-write')) : undefined,
  workers: opt('--threads') ? {
    count: Number(opt('--threads')),
    module: siblingModule(import.meta.url, 'dying-plane'),
    data: { nodeid: bigId, size: big, poison: Number(opt('--poison') ?? -1), loadMs: Number(opt('--plane-load') ?? 0) },
  } : undefined,
  debug: args.includes('--debug'),
  fsname: 'fuse-child',
  subtype: 'memfs',
});
// SIGUSR2: send the notifications a file system uses when data changes behind the kernel.
process.on('SIGUSR2', () => {
  try {
    session.notifyInvalInode(1, 0, -1);
    session.notifyInvalEntry(1, 'hello.txt');
  } catch (e) {
    process.stderr.write(`notify failed: ${(e as Error).message}\n`);
  }
});
// With --threads, "ready" waits for them to read the channel: until then the main thread
// answers every request itself (session.ts), which a test of the threads must not see.
const threadsUp = Date.now() + 10_000;
while (opt('--threads') && !opt('--plane-load') && !session.threadsServing && Date.now() < threadsUp) await new Promise((r) => setTimeout(r, 10));
process.stdout.write('ready\n');
void session.done.then(() => {
  if (args.includes('--stats')) process.stderr.write(`fuse-child stats: ${JSON.stringify({ ...session.stats, threads: session.threadStats() })}\n`);
  process.exit(0);
});
