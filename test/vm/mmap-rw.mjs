// Guest helper of test/vm/mapping-workload.sh: write a pattern into a file through a shared
// mapping, msync, unmap, and read it back with read(2); `--check FILE` only reads it back
// (after a remount). Uses famfs-ts's own mmap FFI from dist/ (Node has no mmap).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { mmapShared } = await import(path.join(repo, 'dist/src/sys/libc.js'));
if (process.argv[2] === '--same') {
  // --same SRC FILE: FILE, read through a read-only shared mapping, equals SRC.
  const [src, file] = process.argv.slice(3);
  const want = fs.readFileSync(src);
  const fd = fs.openSync(file, 'r');
  const m = mmapShared(fd, want.length, 0, false);
  const same = m.bytes.equals(want);
  m.unmap();
  fs.closeSync(fd);
  if (!same) throw new Error(`${file}: its mapping differs from ${src}`);
  console.log(`mmap same ${want.length} bytes ok`);
  process.exit(0);
}
const check = process.argv[2] === '--check';
const file = process.argv[check ? 3 : 2];
const size = fs.statSync(file).size;
const want = Buffer.alloc(size);
for (let i = 0; i < size; i += 4) want.writeUInt32LE((i * 2654435761) >>> 0, i);
if (!check) {
  const fd = fs.openSync(file, 'r+');
  const m = mmapShared(fd, size);
  want.copy(m.bytes);
  // Read back through the mapping, then make it durable.
  if (!m.bytes.equals(want)) throw new Error('mapping does not read back what was stored');
  m.sync();
  m.unmap();
  fs.closeSync(fd);
}
const got = fs.readFileSync(file);
if (!got.equals(want)) throw new Error(`${file}: read(2) after mmap writes differs`);
// And a read-only mapping sees the same bytes.
const fd = fs.openSync(file, 'r');
const r = mmapShared(fd, size, 0, false);
const same = r.bytes.equals(want);
r.unmap();
fs.closeSync(fd);
if (!same) throw new Error(`${file}: a read-only mapping differs`);
console.log(`mmap ${check ? 'check' : 'write+read'} ${size} bytes ok`);
