// Tier-4 guest helper (two-hosts-master.sh): a writer caught in the middle of a log append,
// as another host sees one. It bumps the log header's counters first, then stores half of a
// MKDIR entry, raises a flag and waits for another, then stores the rest:
//   node test/vm/slow-append.mjs DEVICE NAME HALF-FLAG GO-FLAG
// Run only while no master serves the device (it takes no lock). Uses famfs-ts's own codecs.
import { existsSync, writeFileSync } from 'node:fs';
import { MappedDevice } from '../../dist/src/device/memory.js';
import { LOG_OFFSET } from '../../dist/src/famfs/constants.js';
import { encodeEntry, ENTRY_SIZE, entryOffset, logHeaderStruct } from '../../dist/src/famfs/log.js';

const [dev, name, halfFlag, goFlag] = process.argv.slice(2);
if (!goFlag) { process.stderr.write('usage: slow-append.mjs DEVICE NAME HALF-FLAG GO-FLAG\n'); process.exit(2); }
const d = MappedDevice.open(dev, { writable: true });
const counters = LOG_OFFSET + logHeaderStruct.offsetOf('famfs_log_next_seqnum');
const c = Buffer.alloc(16);
d.invalidate(counters, 16);
d.read(counters, c);
const index = Number(c.readBigUInt64LE(8));
const entry = encodeEntry({ type: 'mkdir', path: name, uid: 0, gid: 0, mode: 0o755 }, index);
const at = LOG_OFFSET + entryOffset(index);
c.writeBigUInt64LE(BigInt(index + 1), 0);
c.writeBigUInt64LE(BigInt(index + 1), 8);
d.write(counters, c);
d.flush(counters, 16);
d.write(at, entry.subarray(0, ENTRY_SIZE / 2));
d.flush(at, ENTRY_SIZE / 2);
writeFileSync(halfFlag, `${index}\n`);
process.stdout.write(`slow-append: next_index ${index + 1}, entry ${index} half written\n`);
const until = Date.now() + 600_000;
while (!existsSync(goFlag)) {
  if (Date.now() > until) { process.stderr.write(`slow-append: ${goFlag} never came\n`); process.exit(1); }
  await new Promise((r) => setTimeout(r, 200));
}
d.write(at + ENTRY_SIZE / 2, entry.subarray(ENTRY_SIZE / 2));
d.flush(at + ENTRY_SIZE / 2, ENTRY_SIZE / 2);
d.close();
process.stdout.write(`slow-append: entry ${index} (${name}) whole\n`);
