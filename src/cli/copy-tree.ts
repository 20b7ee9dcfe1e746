// The walk `famfs cp` makes over its sources: regular files are copied (or, with -c,
// compared), directories are recreated with -r, anything else is an error (famfs: EINVAL
// for a character device such as /dev/zero); an empty source is an error as in famfs.
// One walk serves every pair: host files or files of an image as sources, a file inside an
// offline image or a path inside a famfs-ts mount as destination.
import fs from 'node:fs';
import path from 'node:path';

export type Stat = { readonly kind: 'file' | 'dir' | 'other'; readonly size: number; readonly mode: number } | undefined;

export interface CopySource {
  stat(src: string): Stat;
  readdir(src: string): string[];
  /** A reader of `src`; close() when done. */
  open(src: string): { read(pos: number, dst: Buffer): number; close(): void };
  join(dir: string, name: string): string;
  basename(src: string): string;
}

export interface CopySink {
  /** Make directory `to` (mode from the source) unless it is there. */
  ensureDir(to: string, mode: number): void;
  /** Prepare `to` for `size` bytes (a same-size existing file is reused); throws with the reason. */
  openFile(to: string, size: number, mode: number): { write(pos: number, data: Buffer): void; close(): void };
  /** Open an existing `to` for -c (compare); throws when it is missing or of another size. */
  openExisting(to: string, size: number): { read(pos: number, dst: Buffer): number; close(): void };
  join(dir: string, name: string): string;
  progress?(to: string, done: number, total: number): void;
  done?(to: string, verb: 'cp' | 'compare'): void;
}

export interface CopyError {
  readonly message: string;
  readonly errno: string;
}

const CHUNK = 4 * 1024 * 1024;

/** A host-file source. */
export const hostSource: CopySource = {
  stat(src) {
    let st: fs.Stats;
    try {
      st = fs.statSync(src);
    } catch {
      return undefined;
    }
    return { kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other', size: st.size, mode: st.mode & 0o7777 };
  },
  readdir: (src) => fs.readdirSync(src).sort(),
  open(src) {
    const fd = fs.openSync(src, 'r');
    return { read: (pos, dst) => fs.readSync(fd, dst, 0, dst.length, pos), close: () => fs.closeSync(fd) };
  },
  join: path.join,
  basename: (src) => path.basename(src.replace(/\/+$/, '')),
};

function errnoOf(e: unknown): string {
  const c = (e as { code?: unknown; errno?: unknown } | undefined)?.code;
  if (typeof c === 'string' && /^E[A-Z]+$/.test(c)) return c;
  const errno = (e as { errno?: unknown } | undefined)?.errno;
  return typeof errno === 'string' ? errno : 'EIO';
}

/** Copy (or compare) `srcs` to `dest` (into it when `destIsDir`); returns the errors reported. */
export function copyTree(srcs: readonly string[], dest: string, destIsDir: boolean, opts: { recursive: boolean; compare?: boolean }, source: CopySource, sink: CopySink, report: (e: CopyError) => void): CopyError[] {
  const errors: CopyError[] = [];
  const fail = (message: string, errno: string) => {
    const e = { message, errno };
    errors.push(e);
    report(e);
  };
  const copyFile = (src: string, to: string, size: number, mode: number) => {
    if (size === 0) return fail(`famfs cp: skipping empty file ${src} (a famfs file has a size)`, 'EMPTY');
    const r = source.open(src);
    try {
      const buf = Buffer.alloc(Math.min(size, CHUNK));
      if (opts.compare) {
        const d = sink.openExisting(to, size);
        const other = Buffer.alloc(buf.length);
        try {
          for (let pos = 0; pos < size;) {
            const n = r.read(pos, buf.subarray(0, Math.min(buf.length, size - pos)));
            if (n <= 0) break;
            const m = d.read(pos, other.subarray(0, n));
            if (m !== n || !buf.subarray(0, n).equals(other.subarray(0, n))) return fail(`famfs cp: ${src}: miscompare with ${to} near offset ${pos}`, 'EIO');
            pos += n;
            sink.progress?.(to, pos, size);
          }
        } finally {
          d.close();
        }
        sink.done?.(to, 'compare');
        return;
      }
      const w = sink.openFile(to, size, mode);
      try {
        for (let pos = 0; pos < size;) {
          const n = r.read(pos, buf.subarray(0, Math.min(buf.length, size - pos)));
          if (n <= 0) break;
          w.write(pos, buf.subarray(0, n));
          pos += n;
          sink.progress?.(to, pos, size);
        }
      } finally {
        w.close();
      }
      sink.done?.(to, 'cp');
    } catch (e) {
      fail(`famfs cp: ${src} -> ${to}: ${(e as Error).message}`, errnoOf(e));
    } finally {
      r.close();
    }
  };
  const walk = (src: string, to: string) => {
    const st = source.stat(src);
    if (!st) return fail(`famfs cp: ${src}: No such file or directory`, 'ENOENT');
    if (st.kind === 'dir') {
      if (!opts.recursive) return fail(`famfs cp: -r not specified; omitting directory '${src}'`, 'EISDIR');
      try {
        if (!opts.compare) sink.ensureDir(to, st.mode & 0o777);
      } catch (e) {
        return fail(`famfs cp: ${to}: ${(e as Error).message}`, errnoOf(e));
      }
      for (const name of source.readdir(src)) walk(source.join(src, name), sink.join(to, name));
    } else if (st.kind === 'file') {
      copyFile(src, to, st.size, st.mode & 0o777);
    } else {
      fail(`famfs cp: ${src}: not a regular file or directory`, 'EINVAL');
    }
  };
  for (const src of srcs) walk(src, destIsDir ? sink.join(dest.replace(/\/+$/, '') || '/', source.basename(src)) : dest);
  return errors;
}
