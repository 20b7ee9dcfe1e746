#!/usr/bin/env node
// famfs-ts command line: commander wiring only. Each verb group lives in its own module.
import { Command } from 'commander';
import { registerLayout } from './layout.js';
import { registerImage } from './image.js';
import { registerMount } from './mount.js';
import { registerProtocol } from './protocol.js';
import { registerBpf } from './bpf.js';
import { parseCacheMode, setCacheMode } from '../device/cache.js';
import { registerStatus } from './status.js';
import { famfsArgv } from './famfs-argv.js';
import { isBrokenPipe, quietOnBrokenPipe } from './errors.js';
import { failure } from './run.js';

const program = new Command('famfs-ts')
  .description('famfs-style shared-memory file system: layouts, famfs images, FUSE mounts, BPF resolvers')
  .version('0.1.0')
  // famfs uses -h for human sizes (fsck -h), so help is --help only.
  .helpOption('--help', 'show help')
  .showHelpAfterError()
  // README "Caches on shared memory": set in the environment so mount servers and serving
  // threads started from here use the same mode.
  .option('--cache-maintenance <mode>', 'flush/invalidate CPU caches around shared-memory access: on, off, or auto (on for devdax and pmem devices, off for files)')
  .hook('preAction', (cmd) => {
    const mode = cmd.opts<{ cacheMaintenance?: string }>().cacheMaintenance;
    if (mode !== undefined) setCacheMode(parseCacheMode(mode, '--cache-maintenance'));
  });

registerLayout(program);
registerImage(program);
registerMount(program);
registerProtocol(program);
registerBpf(program);
registerStatus(program);

// No stack trace ever (src/cli/errors.ts): a closed pipe ends quietly, anything else is one
// line naming the verb, the operation and the path, with famfs's exit status (run.ts failure).
quietOnBrokenPipe();
const fail = (e: unknown): never => {
  if (isBrokenPipe(e)) process.exit(0);
  const f = failure(e);
  try {
    if (f.message) process.stderr.write(`${f.message}\n`);
  } catch {
    // stderr is gone too
  }
  process.exit(f.exitCode);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

// famfs conventions (-h/-? help, `-h VERB`, exit 3 for an unknown verb): src/cli/famfs-argv.ts.
const args = famfsArgv(process.argv.slice(2), program.commands.map((c) => c.name()));
if ('exitCode' in args) {
  process.stderr.write(`${args.message}\n`);
  process.exit(args.exitCode);
}

program.parseAsync([...process.argv.slice(0, 2), ...args.argv]).catch(fail);
