import type { Command } from 'commander';

export function registerProtocol(program: Command): void {
  void program;
}
