// The walk `famfs cp` makes over its sources: regular files are copied, directories are
// recreated (with -r), anything else is reported; empty files are skipped as famfs does.
// One walk serves both destinations: a file inside an offline image and a path inside a
// famfs-ts mount; only the sink differs.
import fs from 'node:fs';
import path from 'node:path';

export interface CopySink {
  /** Make directory `to` (mode from the source) unless it is there. */
  ensureDir(to: string, mode: number): void;
  /** Prepare `to` for `st.size` bytes; return a writer, or undefined after reporting why not. */
  openFile(src: string, to: string, st: fs.Stats): ((pos: number, data: Buffer) => void) | undefined;
  /** Called after each chunk (progress bars) and when a file is done. */
  progress?(to: string, done: number, total: number): void;
  closeFile?(to: string): void;
  /** Join a directory destination and a name in the sink's path syntax. */
  join(dir: string, name: string): string;
}

const CHUNK = 4 * 1024 * 1024;

/** Copy `srcs` to `dest` (into it when `destIsDir`); returns the number of errors reported. */
export function copyTree(srcs: readonly string[], dest: string, destIsDir: boolean, recursive: boolean, sink: CopySink): number {
  let errors = 0;
  const copyFile = (src: string, to: string, st: fs.Stats) => {
    if (st.size === 0) return;
    const write = sink.openFile(src, to, st);
    if (!write) {
      errors++;
      return;
    }
    const fd = fs.openSync(src, 'r');
    try {
      const buf = Buffer.alloc(Math.min(st.size, CHUNK));
      for (let pos = 0; pos < st.size;) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, st.size - pos), pos);
        if (n <= 0) break;
        write(pos, buf.subarray(0, n));
        pos += n;
        sink.progress?.(to, pos, st.size);
      }
    } finally {
      fs.closeSync(fd);
      sink.closeFile?.(to);
    }
  };
  const walk = (src: string, to: string) => {
    const st = fs.statSync(src);
    if (st.isDirectory()) {
      if (!recursive) {
        process.stderr.write(`famfs cp: -r not specified; omitting directory '${src}'\n`);
        errors++;
        return;
      }
      sink.ensureDir(to, st.mode & 0o777);
      for (const name of fs.readdirSync(src).sort()) walk(path.join(src, name), sink.join(to, name));
    } else if (st.isFile()) {
      copyFile(src, to, st);
    } else {
      process.stderr.write(`famfs cp: ${src}: not a regular file or directory\n`);
      errors++;
    }
  };
  for (const src of srcs) walk(src, destIsDir ? sink.join(dest.replace(/\/+$/, ''), path.basename(src)) : dest);
  return errors;
}
