#!/usr/bin/env node
// famfs-ts command line: commander wiring only. Each verb group lives in its own module.
import { Command } from 'commander';
import { registerLayout } from './layout.js';
import { registerImage } from './image.js';
import { registerMount } from './mount.js';
import { registerProtocol } from './protocol.js';
import { registerBpf } from './bpf.js';
import { commandName, errorText, exitStatusOf, isBrokenPipe, quietOnBrokenPipe, withPrefix } from './errors.js';

const program = new Command('famfs-ts')
  .description('famfs-style shared-memory file system: layouts, famfs images, FUSE mounts, BPF resolvers')
  .version('0.1.0')
  // famfs uses -h for human sizes (fsck -h), so help is --help only.
  .helpOption('--help', 'show help')
  .showHelpAfterError();

registerLayout(program);
registerImage(program);
registerMount(program);
registerProtocol(program);
registerBpf(program);

// No stack trace ever (src/cli/errors.ts): a closed pipe ends quietly, anything else is one
// line naming the verb, the operation and the path.
quietOnBrokenPipe();
const fail = (e: unknown): never => {
  if (isBrokenPipe(e)) process.exit(0);
  try {
    process.stderr.write(`${withPrefix(commandName(), errorText(e))}\n`);
  } catch {
    // stderr is gone too
  }
  process.exit(exitStatusOf(e));
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
program.parseAsync(process.argv).catch(fail);
