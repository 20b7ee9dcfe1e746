// famfs-ts verbs for tier-4 guest scripts, served by one long-lived node process.
//
// Under TCG, starting node and compiling the CLI's modules costs 5-20 s per command on a busy
// 2-core host (measured 2026-12-06), most of a device test's time. `vm_cli_server` (in
// scripts/vm-guest-lib.sh) starts this server once; the guest's `famfs_ts` shell function then
// sends its argv down a FIFO and gets stdout, stderr and the exit status back, running the
// very same commander wiring as src/cli/main.ts (the register* functions), in this process.
// Differences from a fresh process: the environment and umask are this server's; a verb that
// calls process.exit ends its request with that status instead (the server lives on).
//
// Protocol (DIR = argv[2]): the client writes "ID\0CWD\0ARG\0ARG..." to the FIFO DIR/req and
// closes it (one client at a time: the shell function holds flock on DIR/lock); the server
// writes DIR/ID.out and DIR/ID.err, then the exit status to the FIFO DIR/ID.rc.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { registerLayout } from '../../src/cli/layout.js';
import { registerImage } from '../../src/cli/image.js';
import { registerMount } from '../../src/cli/mount.js';
import { registerProtocol } from '../../src/cli/protocol.js';
import { registerBpf } from '../../src/cli/bpf.js';
import { libc } from '../../src/sys/libc.js';

const dupFn = libc.func('int dup(int oldfd)');
const dup2Fn = libc.func('int dup2(int oldfd, int newfd)');
function dup(fd: number): number {
  const r = dupFn(fd) as number;
  if (r < 0) throw new Error(`cli-server: dup(${fd}) failed`);
  return r;
}
function dup2(from: number, to: number): void {
  if ((dup2Fn(from, to) as number) < 0) throw new Error(`cli-server: dup2(${from}, ${to}) failed`);
}

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

// Mirrors src/cli/main.ts.
function program(): Command {
  const p = new Command('famfs-ts')
    .description('famfs-style shared-memory file system: layouts, famfs images, FUSE mounts, BPF resolvers')
    .version('0.1.0')
    .helpOption('--help', 'show help')
    .showHelpAfterError();
  registerLayout(p);
  registerImage(p);
  registerMount(p);
  registerProtocol(p);
  registerBpf(p);
  return p;
}

async function serve(dir: string): Promise<never> {
  const req = path.join(dir, 'req');
  if (!fs.existsSync(req) && spawnSync('mkfifo', [req]).status !== 0) throw new Error(`cli-server: mkfifo ${req} failed`);
  fs.writeFileSync(path.join(dir, 'ready'), `${process.pid}\n`);
  const realExit = process.exit.bind(process);
  // Verbs write to process.stdout and to fd 1 itself (cat): the request's files are put at
  // fds 1 and 2 (dup2). This server's own stdout and stderr must be files, so that
  // process.stdout writes synchronously to whatever fd 1 is at the time.
  const savedOut = dup(1);
  const savedErr = dup(2);
  for (;;) {
    const fields = fs.readFileSync(req).toString('utf8').split('\0');
    if (fields[fields.length - 1] === '') fields.pop();
    const [id, cwd, ...args] = fields;
    if (id === undefined || cwd === undefined || !/^[A-Za-z0-9._-]+$/.test(id)) continue;
    if (args[0] === '--stop-server') realExit(0);
    const out = fs.openSync(path.join(dir, `${id}.out`), 'w');
    const err = fs.openSync(path.join(dir, `${id}.err`), 'w');
    dup2(out, 1);
    dup2(err, 2);
    fs.closeSync(out);
    fs.closeSync(err);
    process.exit = ((code?: number) => { throw new Exit(code ?? Number(process.exitCode ?? 0)); }) as typeof process.exit;
    process.exitCode = 0;
    let code: number;
    try {
      process.chdir(cwd);
      await program().parseAsync(['node', 'famfs-ts', ...args]);
      code = Number(process.exitCode ?? 0);
    } catch (e) {
      if (e instanceof Exit) code = e.code;
      else {
        process.stderr.write(`famfs-ts: ${e instanceof Error ? e.message : String(e)}\n`);
        code = 1;
      }
    } finally {
      process.exit = realExit;
      process.exitCode = 0;
      dup2(savedOut, 1);
      dup2(savedErr, 2);
    }
    try {
      fs.writeFileSync(path.join(dir, `${id}.rc`), `${code}\n`);
    } catch (e) {
      process.stderr.write(`cli-server: cannot answer ${id}: ${(e as Error).message}\n`);
    }
  }
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node dist/test/support/cli-server.js DIR\n');
  process.exit(2);
}
await serve(dir);
