import type { Command } from 'commander';

export function registerBpf(program: Command): void {
  void program;
}
