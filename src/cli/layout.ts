import type { Command } from 'commander';

export function registerLayout(program: Command): void {
  void program;
}
