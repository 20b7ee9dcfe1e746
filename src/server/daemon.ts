// `famfs-ts mount` without --foreground: start the server as a detached child (stdout and
// stderr to a log file), wait until it says the mount is live on a pipe (fd 3), print
// and return. The child writes "ready" or "error: ..." on that pipe; if it dies first, the
// tail of its log is the error.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const READY_FD = 3;

/**
 * V8 flags of the server process.
 * - `--max-semi-space-size=4`: the young generation's semispaces (Node 20: up to 16 MiB
 *   each) grow to their limit in a burst of creates and are never shrunk again, not by the
 *   quiet-time full collection either (src/fuse/quiet-gc.ts): that was 28 of the 40 MiB of
 *   RssAnon a server kept after creating and forgetting 20,000 files (bench/meta-mount,
 *   memory). 4 MiB semispaces kept creates/s as fast in paired runs.
 * - `--always-sparkplug --no-lazy-feedback-allocation`: much of a server's code runs a few
 *   times per burst (a directory's first listing, a commit's rarer branches), and V8's
 *   interpreter ran it some 40 times slower than optimized code: the first READDIRPLUS of
 *   a listing took 150-450 µs where a warm one takes 6. Compiled to baseline code at the
 *   first call, with type feedback from the first call, the first listing's requests cost
 *   about half, and creates and stats gained 6% in paired runs (bench/meta-mount/README.md,
 *   "Tenth pass").
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--always-sparkplug', '--no-lazy-feedback-allocation'];

export interface DaemonResult {
  readonly pid: number;
  readonly logFile: string;
}

/** Default log file of a daemonized mount: one per mount point. */
export function defaultLogFile(mountpoint: string): string {
  const tag = path.resolve(mountpoint).replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'root';
  return path.join(os.tmpdir(), `famfs-ts-mount-${tag}.log`);
}

export async function daemonize(cli: string, args: readonly string[], logFile: string, timeoutMs = 60_000): Promise<DaemonResult> {
  const logFd = fs.openSync(logFile, 'a', 0o644);
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, cli, ...args, '--foreground', '--ready-fd', String(READY_FD)], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'pipe'],
  });
  fs.closeSync(logFd);
  const pipe = child.stdio[READY_FD] as NodeJS.ReadableStream | null;
  if (!pipe) throw new Error('no status pipe to the mount process');
  let text = '';
  const outcome = await new Promise<{ ok: boolean; message: string }>((resolve) => {
    const timer = setTimeout(() => resolve({ ok: false, message: `the mount process did not report within ${timeoutMs / 1000} s` }), timeoutMs);
    const finish = (r: { ok: boolean; message: string }) => {
      clearTimeout(timer);
      resolve(r);
    };
    pipe.on('data', (b: Buffer) => {
      text += b.toString();
      const line = text.split('\n')[0]!;
      if (text.includes('\n')) {
        if (line === 'ready') finish({ ok: true, message: '' });
        else finish({ ok: false, message: line.replace(/^error: /, '') });
      }
    });
    child.on('exit', (code, sig) => {
      let tail = '';
      try {
        tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
      } catch {
        // no log
      }
      finish({ ok: false, message: `the mount process exited (${sig ?? `status ${code}`}) before the mount was live${tail ? `:\n${tail}` : ''}` });
    });
  });
  (pipe as unknown as { destroy(): void }).destroy();
  if (!outcome.ok) {
    if (child.exitCode === null) child.kill('SIGTERM');
    throw new Error(outcome.message);
  }
  child.unref();
  return { pid: child.pid!, logFile };
}
