import type { Command } from 'commander';

export function registerImage(program: Command): void {
  void program;
}
