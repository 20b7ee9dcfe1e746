// The shells' names alone (shells.ts defines them): the CLI lists them in its help without
// loading the assembler.
export type ShellName = 'syscall' | 'fuse_bpf_ops' | 'fuse_iomap_bpf_ops' | 'bpf_dummy_ops';
export const SHELL_NAMES: readonly ShellName[] = ['syscall', 'fuse_bpf_ops', 'fuse_iomap_bpf_ops', 'bpf_dummy_ops'];
