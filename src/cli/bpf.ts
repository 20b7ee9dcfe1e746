// `famfs-ts bpf emit|verify|run`: the BPF resolver for a file. Commander wiring only; what
// each verb does is cli/bpf-actions.ts, loaded when one runs (the assembler, the ELF writer
// and the interpreter are not every verb's start-up cost).
import type { Command } from 'commander';
import { SHELL_NAMES } from '../bpf-policy/shell-names.js';
import type { Common } from './bpf-actions.js';

const actions = () => import('./bpf-actions.js');

export function registerBpf(program: Command): void {
  const bpf = program.command('bpf').description('BPF resolver programs for a file: emit, verify in the kernel, run');

  const common = (c: Command) =>
    c.argument('[file]', 'IMAGE:PATH (a file in an unmounted famfs image)')
      .option('--layout <layout>', 'layout YAML the FileMap\'s daxdev names refer to')
      .option('--fmap <fmap>', 'FileMap YAML (size + extents)')
      .option('--generic', 'the generic map-driven program (layout read from a hash map keyed by nodeid) instead of the per-layout one')
      .option('--shell <shell>', `program shell: ${SHELL_NAMES.join(' | ')}`, 'syscall');

  common(bpf.command('emit').description('emit the resolver program as a listing, raw bytecode or an ELF object'))
    .option('--format <format>', 'asm | raw | elf', 'asm')
    .option('-o, --output <file>', 'write here instead of stdout')
    .action(async (file: string | undefined, o: Common & { format: string; output?: string }) => (await actions()).emit(file, o));

  common(bpf.command('verify').description('load the program through the kernel verifier: instruction count, processed instructions, the verifier log on failure'))
    .option('--json', 'print the result as JSON')
    .action(async (file: string | undefined, o: Common) => (await actions()).verify(file, o));

  common(bpf.command('run').description('run the program in the kernel (test-run) and in the interpreter, beside resolve()\'s answer'))
    .option('--offset <x>', 'file offset (4096, 2M, 0x200000); repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--json', 'print the answers as JSON')
    .action(async (file: string | undefined, o: Common & { offset: string[] }) => (await actions()).run(file, o));
}
