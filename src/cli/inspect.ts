// famfs getmap, verify, chkread, check and flush, plus ls and cat: on `IMAGE:/path` or on
// paths inside a famfs-ts mount (maps from the server's user.famfs.map, data read through
// the mount as any program reads it). Commander wiring and output.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { FileMap } from '../interleave/filemap.js';
import type { FileNode, Node } from '../famfs/namespace.js';
import { EXT_INTERLEAVE, EXT_SIMPLE } from '../famfs/constants.js';
import { fileJson, getmapText } from '../famfs/shadow.js';
import { verifyFile } from '../famfs/verify.js';
import { decodeSuperblock } from '../famfs/superblock.js';
import { decodeLogHeader } from '../famfs/log.js';
import { ImageError } from '../famfs/errors.js';
import { fileMapProblems } from '../famfs/file-check.js';
import { CliError, collect, failure, intArg, out, progress, run, threadArg } from './run.js';
import { hostOptions, lookupNode, resolveTarget, withImage, withMountImage, type HostOpts } from './target.js';
import { mountedFileMap } from './mounted-verbs.js';

type Opts = HostOpts & Record<string, string | string[] | boolean | undefined>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.byteLength) {
    try {
      off += fs.writeSync(fd, b, off, b.byteLength - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

/** A FileNode-shaped view of a map the server gave (for getmap's text and JSON). */
function nodeOfMap(p: string, map: FileMap, st: fs.Stats): FileNode {
  return { kind: 'file', id: st.ino, name: path.basename(p), path: p, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, index: -1, size: map.size, flags: 0, map };
}

function modeString(n: Node): string {
  const m = n.mode;
  const r = (b: number, c: string) => (m & b ? c : '-');
  return (n.kind === 'dir' ? 'd' : '-') + r(0o400, 'r') + r(0o200, 'w') + r(0o100, 'x') + r(0o40, 'r') + r(0o20, 'w') + r(0o10, 'x') + r(0o4, 'r') + r(0o2, 'w') + r(0o1, 'x');
}

/**
 * getmap of one file: famfs's exit codes (0 mapped famfs file, 1 not famfs, 9 missing, 21 not
 * a file), and 5 (EIO) for a file of an image whose map cannot hold it (src/famfs/file-check.ts).
 */
function getmapOne(file: string, o: Opts, js: unknown[]): number {
  const quiet = !!o.quiet;
  const t = resolveTarget(file);
  let node: FileNode;
  if (t.kind === 'image') {
    const [r, problems] = withImage(t.image, o, false, (img) => {
      const n = lookupNode(img, t.path);
      return [n, n?.kind === 'file' && n.id >= 0 ? fileMapProblems(n, img.scan.daxdevs) : []] as const;
    });
    if (!r) {
      if (!quiet) process.stderr.write(`famfs_getmap: file not found (${file})\n`);
      return 9;
    }
    if (r.kind !== 'file') return 21;
    if (problems.length) {
      // Never "good": a read would fail with EIO where the map has no home for a byte.
      if (!quiet) process.stderr.write(`famfs_getmap: bad file ${file}: ${problems.join('; ')}\n`);
      return 5;
    }
    node = r;
  } else {
    let st: fs.Stats;
    try {
      st = fs.statSync(t.path);
    } catch {
      if (!quiet) process.stderr.write(`famfs_getmap: file not found (${file})\n`);
      return 9;
    }
    if (!st.isFile()) {
      if (!quiet) process.stderr.write(`famfs_getmap: not a regular file (${file})\n`);
      return 21;
    }
    const map = t.kind === 'mounted' ? mountedFileMap(t.path) : undefined;
    if (!map) {
      if (!quiet) process.stderr.write(`famfs_getmap: file (${file}) not in famfs\n`);
      return 1;
    }
    node = nodeOfMap(file, map, st);
  }
  if (o.json) js.push(fileJson(node));
  else if (quiet) out(`famfs_getmap: good file ${file}\n`);
  else out(getmapText(file, node));
  return 0;
}

/** A host file (in a famfs-ts mount or not) read with read(2). */
function hostReader(file: string): { size: number; read(pos: number, dst: Buffer): number; close(): void } {
  const fd = fs.openSync(file, 'r');
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new CliError(`${file}: not a regular file`, 21);
  }
  return { size: st.size, read: (pos, dst) => fs.readSync(fd, dst, 0, dst.length, pos), close: () => fs.closeSync(fd) };
}

/** Verify one file; the offset of the first bad byte, or -1. */
function verifyOne(file: string, seed: number, o: Opts): { size: number; bad: number } {
  const t = resolveTarget(file);
  const prog = (d: number, n: number) => progress(`verify ${file}`, d, n);
  if (t.kind === 'image') {
    return withImage(t.image, o, false, (img) => {
      const n = lookupNode(img, t.path);
      if (!n) throw new ImageError(`${file}: No such file or directory`, 'ENOENT');
      if (n.kind !== 'file') throw new ImageError(`${file}: not a regular file`, 'EISDIR');
      return { size: n.size, bad: verifyFile(n.size, seed, (pos, dst) => img.read(n, pos, dst.subarray(0, Math.min(dst.length, n.size - pos))), prog) };
    });
  }
  const r = hostReader(t.path);
  try {
    return { size: r.size, bad: verifyFile(r.size, seed, r.read, prog) };
  } finally {
    r.close();
  }
}

function verifyVerb(o: Opts): number {
  const multi = (o.multi as string[] | undefined) ?? [];
  const threads = str(o.threadct) === undefined ? 0 : threadArg('-t', str(o.threadct)!);
  void threads; // one thread verifies; the flag is famfs's
  if (multi.length && (o.seed !== undefined || o.filename !== undefined)) throw new CliError('famfs verify: -S|-f and -m are incompatible', 1);
  const jobs = multi.length
    ? multi.map((m) => {
      const f = m.split(',');
      if (f.length !== 2 || !f[0]) throw new CliError(`famfs verify: bad multi arg: ${m} (FILE,SEED)`, 1);
      return { file: f[0], seed: intArg('-m seed', f[1]!) };
    })
    : [{ file: str(o.filename), seed: str(o.seed) === undefined ? undefined : intArg('-S', str(o.seed)!) }];
  const results: { file: string; size?: number; ok: boolean; offset?: number; error?: string }[] = [];
  for (const j of jobs) {
    if (j.file === undefined) throw new CliError('famfs verify: -f FILE (or -m FILE,SEED) is required', 1);
    if (!j.seed) throw new CliError('famfs verify: -S SEED is required (famfs test data is made from a non-zero seed)', 1);
    try {
      const r = verifyOne(j.file, j.seed, o);
      if (r.bad < 0) {
        if (!o.quiet && !o.json) out(`Success: verified ${r.size} bytes in file ${j.file}\n`);
        results.push({ file: j.file, size: r.size, ok: true });
      } else {
        process.stderr.write(`Verify fail: ${j.file} at offset ${r.bad} of ${r.size} bytes\n`);
        results.push({ file: j.file, size: r.size, ok: false, offset: r.bad });
      }
    } catch (e) {
      const f = failure(e);
      process.stderr.write(`${f.message}\n`);
      results.push({ file: j.file, ok: false, error: f.message });
      if (!multi.length) {
        if (o.json) out(JSON.stringify(results[0], null, 2) + '\n');
        return f.exitCode;
      }
    }
  }
  const errs = results.filter((r) => !r.ok).length;
  if (o.json) out(JSON.stringify(multi.length ? { files: results, errors: errs } : results[0], null, 2) + '\n');
  else if (multi.length) out(`Verify complete for ${results.length} files with ${errs} errs\n`);
  return multi.length ? Math.min(errs, 127) : errs ? 1 : 0;
}

/** chkread: the file read through read(2) and through its map must agree. */
function chkreadVerb(file: string, o: Opts): number {
  const t = resolveTarget(file);
  let viaRead: Buffer;
  let viaMap: Buffer;
  if (t.kind === 'image') {
    [viaRead, viaMap] = withImage(t.image, o, false, (img) => {
      const n = lookupNode(img, t.path);
      if (!n || n.kind !== 'file') throw new CliError(`famfs chkread: could not stat file ${file}`, 1);
      const a = Buffer.alloc(n.size);
      img.read(n, 0, a);
      const b = Buffer.alloc(n.size);
      for (const m of img.mappings(n, 0, n.size)) img.daxdev(m.daxdev).read(m.offset, b.subarray(m.pos, m.pos + m.length));
      return [a, b];
    });
  } else {
    let st: fs.Stats;
    try {
      st = fs.statSync(t.path);
    } catch (e) {
      throw new CliError(`famfs chkread: could not stat file ${file}`, 1, { cause: e });
    }
    viaRead = fs.readFileSync(t.path);
    if (t.kind !== 'mounted' || !mountedFileMap(t.path)) throw new CliError(`famfs chkread: ${file} is not a famfs file`, 1);
    const rel = t.rel;
    viaMap = withMountImage(t.mount, o, (img) => {
      const n = lookupNode(img, rel);
      if (!n || n.kind !== 'file') throw new CliError(`famfs chkread: ${file} is not in the log yet`, 1);
      const b = Buffer.alloc(Math.min(n.size, st.size));
      for (const m of img.mappings(n, 0, b.length)) img.daxdev(m.daxdev).read(m.offset, b.subarray(m.pos, m.pos + m.length));
      return b;
    });
  }
  if (o.superblock) {
    const sb = decodeSuperblock(viaRead.subarray(0, 200));
    out(`superblock: log_offset ${sb.logOffset} log_len ${sb.logLen} daxdev ${sb.daxdevPath} size ${sb.ddSize}\n`);
  }
  if (o.log) {
    const h = decodeLogHeader(viaRead, viaRead.length);
    out(`log: next_seqnum ${h.nextSeqnum} next_index ${h.nextIndex} last_index ${h.lastIndex}\n`);
  }
  if (!viaRead.equals(viaMap)) {
    process.stderr.write('Read and map miscompare\n');
    return 1;
  }
  out('Read and map match\n');
  return 0;
}

/** check: every file in the mount has a map; .meta files present (famfs's exit bits 1, 2, 4). */
function checkVerb(p: string, o: Opts): number {
  if (!p.startsWith('/')) throw new CliError(`famfs check: ${p}: give an absolute mount point path`, 22);
  const t = resolveTarget(p);
  const image = t.kind === 'image' ? t.image : t.kind === 'other' && fs.existsSync(p) && !fs.statSync(p).isDirectory() ? p : undefined;
  if (image !== undefined) {
    return withImage(image, o, false, (img) => {
      let files = 0;
      for (const n of img.namespace.walk()) if (n.kind === 'file') files++;
      out(`famfs check: ${files} files, all mapped (the log is their only source)\n`);
      return 0;
    });
  }
  if (t.kind !== 'mounted') throw new CliError(`famfs check: ${p} is not in a famfs-ts mount`, 22);
  let rc = 0;
  let files = 0;
  let bad = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) {
        files++;
        if (!mountedFileMap(full)) {
          bad++;
          rc |= 1;
          process.stderr.write(`famfs check: unmapped file ${full}\n`);
        } else if (o.verbose) out(`famfs check: ${full} ok\n`);
      }
    }
  };
  const root = t.mount.mountpoint;
  walk(root);
  if (!fs.existsSync(path.join(root, '.meta/.superblock'))) rc |= 2;
  if (!fs.existsSync(path.join(root, '.meta/.log'))) rc |= 4;
  out(`famfs check: ${files} files, ${bad} unmapped\n`);
  return rc;
}

/** flush: famfs-ts serves coherent memory (no cache flush needed); checks each is a famfs file. */
function flushVerb(files: string[], o: Opts): number {
  let errs = 0;
  for (const f of files) {
    const t = resolveTarget(f);
    let ok = false;
    if (t.kind === 'image') ok = withImage(t.image, o, false, (img) => lookupNode(img, t.path)?.kind === 'file');
    else if (t.kind === 'mounted') ok = fs.existsSync(t.path) && fs.statSync(t.path).isFile() && mountedFileMap(t.path) !== undefined;
    if (!ok) {
      process.stderr.write(`famfs flush: ${f}: not a famfs file\n`);
      errs++;
    } else if (o.verbose) out(`famfs flush: ${f}: nothing to flush (coherent memory)\n`);
  }
  if (errs) out(`famfs flush: ${errs} errors were detected\n`);
  return Math.min(errs, 127);
}

export function registerInspectVerbs(program: Command): void {
  hostOptions(program.command('ls'))
    .description('list a directory or file (IMAGE:/path or MNT/path)')
    .argument('<path>', 'IMAGE:/path or a path in a famfs-ts mount')
    .option('-l, --long', 'mode, owner, size')
    .option('--json', 'JSON output')
    .action((p: string, o: Opts) => run(() => {
      const t = resolveTarget(p);
      if (t.kind === 'other') throw new CliError(`${p}: not in famfs (IMAGE:/path or a path in a famfs-ts mount)`, 1);
      const image = t.kind === 'image' ? t.image : t.mount.source;
      const rel = t.kind === 'image' ? t.path : t.rel;
      const h = t.kind === 'image' ? o : { ...o, systemUuid: o.systemUuid ?? new Uint8Array(16) };
      withImage(image, h, false, (img) => {
        const n = lookupNode(img, rel);
        if (!n) throw new ImageError(`${p}: No such file or directory`, 'ENOENT');
        const items = n.kind === 'dir' ? (n.id === -1 ? [...n.children.values()] : img.readdir(rel)) : [n];
        if (o.json) {
          out(JSON.stringify(items.map((c) => (c.kind === 'file' ? { name: c.name, type: 'file', ...(fileJson(c) as object) } : { name: c.name, type: 'dir', path: c.path, mode: `0${c.mode.toString(8)}`, uid: c.uid, gid: c.gid, nodeid: c.id })), null, 2) + '\n');
          return;
        }
        for (const c of items) {
          if (!o.long) out(`${c.name}\n`);
          else out(`${modeString(c)} ${String(c.uid).padStart(5)} ${String(c.gid).padStart(5)} ${String(c.kind === 'file' ? c.size : 0).padStart(12)} ${c.name}${c.kind === 'dir' ? '/' : ''}\n`);
        }
      });
    }));

  hostOptions(program.command('cat'))
    .description('write files of an image to stdout')
    .argument('<files...>', 'IMAGE:/path ...')
    .action((files: string[], o: Opts) => run(() => {
      for (const file of files) {
        const t = resolveTarget(file);
        if (t.kind !== 'image') {
          writeAll(1, fs.readFileSync(t.path));
          continue;
        }
        withImage(t.image, o, false, (img) => {
          const f = lookupNode(img, t.path);
          if (!f || f.kind !== 'file') throw new ImageError(`${file}: not a file`, f ? 'EISDIR' : 'ENOENT');
          const buf = Buffer.alloc(Math.min(f.size, 4 * 1024 * 1024));
          for (let pos = 0; pos < f.size; pos += buf.length) {
            const n = img.read(f, pos, buf);
            writeAll(1, buf.subarray(0, n));
          }
        });
      }
    }));

  hostOptions(program.command('getmap'))
    .description('print the extents of famfs files (famfs getmap); exit 0 mapped, 1 not famfs, 9 (EBADF) missing, 21 not a file')
    .argument('[files...]', 'IMAGE:/path or paths in a famfs-ts mount (.meta/.log too)')
    .option('-q, --quiet', 'only the exit status says whether the file is a mapped famfs file')
    .option('-c, --continue', 'continue after an error')
    .option('--json', 'JSON output')
    .action((files: string[], o: Opts) => run(() => {
      if (!files.length) throw new CliError('famfs_getmap: Must specify filename', 22);
      let rc = 0;
      const js: unknown[] = [];
      for (const file of files) {
        rc = getmapOne(file, o, js);
        if (rc && !o.continue) break;
      }
      if (o.json) out(JSON.stringify(files.length === 1 ? js[0] ?? null : js, null, 2) + '\n');
      return rc;
    }));

  hostOptions(program.command('verify'))
    .description('check files against famfs test data (famfs verify)')
    .option('-S, --seed <seed>', 'the seed it was created with')
    .option('-f, --filename <file>', 'the file: MNT/path, IMAGE:/path or any file')
    .option('-m, --multi <file,seed>', 'verify several files (repeat)', collect)
    .option('-t, --threadct <n>', 'threads, 0..256 (accepted; famfs-ts verifies one file at a time)')
    .option('-q, --quiet', 'no success message')
    .option('-v, --verbose', 'accepted (famfs prints usage for it and exits 0; famfs-ts verifies)')
    .option('--json', 'JSON: per-file results')
    .action((o: Opts) => run(() => verifyVerb(o)));

  hostOptions(program.command('chkread'))
    .description('read a famfs file through read(2) and through its map on the devices; they must agree (famfs chkread)')
    .argument('<file>', 'MNT/path or IMAGE:/path')
    .option('-s, --superblock', 'the file is the superblock: print it')
    .option('-l, --log', 'the file is the log: print its header')
    .action((file: string, o: Opts) => run(() => chkreadVerb(file, o)));

  hostOptions(program.command('check'))
    .description('check that every file in a mounted famfs has a map (famfs check); exit bits: 1 unmapped file, 2 superblock missing, 4 log missing')
    .argument('<mountpoint>', 'absolute path of a famfs-ts mount (or IMAGE:/)')
    .option('-v, --verbose', 'print every file checked')
    .action((p: string, o: Opts) => run(() => checkVerb(p, o)));

  hostOptions(program.command('flush'))
    .description('flush processor caches for files (famfs flush); famfs-ts memory is coherent, so this checks that each is a famfs file')
    .argument('<files...>', 'files in a famfs-ts mount or IMAGE:/path')
    .option('-v, --verbose', 'say what was done per file')
    .action((files: string[], o: Opts) => run(() => flushVerb(files, o)));
}
