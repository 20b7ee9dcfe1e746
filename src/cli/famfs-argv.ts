// famfs's command-line conventions, applied before commander parses: `-h` and `-?` print
// usage and exit 0 in every verb (famfs src/famfs_cli.c), except `fsck`, where -h means
// human sizes; `famfs -h VERB` is VERB's usage; an unknown verb exits 3; logplay's
// `-Ss DIR` is shadowtest plus `--shadow DIR` (famfs smoke tests write it both ways).
export type ArgvResult = { readonly argv: string[] } | { readonly exitCode: number; readonly message: string };

/** Options of the program itself (before the verb) that take a value (src/cli/main.ts). */
const GLOBAL_WITH_VALUE = new Set(['--cache-maintenance']);

/** Verbs where `-h` is an option of the verb, not help. */
const H_IS_OPTION = new Set(['fsck']);

function isHelpCluster(arg: string, hIsHelp: boolean): boolean {
  if (arg === '-?' || arg === '--help') return true;
  if (!/^-[A-Za-z?]+$/.test(arg)) return false;
  return arg.includes('?') || (hIsHelp && arg === '-h');
}

/** Split a short-option cluster so the letter taking a value (S) comes last: -Ss -> -s -S. */
function splitValueLast(arg: string, letter: string): string[] {
  if (!/^-[A-Za-z]{2,}$/.test(arg) || !arg.includes(letter)) return [arg];
  const others = [...arg.slice(1)].filter((c) => c !== letter);
  return [`-${others.join('')}`, `-${letter}`];
}

/**
 * Rewrite famfs-style arguments (without node and the script) into what the commander
 * program understands. `verbs` are the program's top-level command names.
 */
export function famfsArgv(args: readonly string[], verbs: readonly string[], prog = 'famfs-ts'): ArgvResult {
  let i = 0;
  let help = false;
  const globals: string[] = [];
  while (i < args.length && args[i]!.startsWith('-') && args[i] !== '--') {
    const a = args[i]!;
    if (a === '-h' || a === '-?' || a === '--help') help = true;
    else globals.push(a);
    if (GLOBAL_WITH_VALUE.has(a) && i + 1 < args.length) globals.push(args[++i]!);
    i++;
  }
  if (args[i] === '--') i++;
  const verb = args[i];
  if (help) return { argv: verb !== undefined && verbs.includes(verb) ? [verb, '--help'] : ['--help'] };
  if (globals.some((g) => g === '-V' || g === '--version')) return { argv: globals };
  if (verb === undefined) return { exitCode: 1, message: `${prog}: missing command (${prog} -h lists them)` };
  if (!verbs.includes(verb)) return { exitCode: 3, message: `${prog}: unrecognized command ${verb} (${prog} -h lists them)` };
  const rest = args.slice(i + 1);
  const hIsHelp = !H_IS_OPTION.has(verb);
  const out: string[] = [...globals, verb];
  for (let k = 0; k < rest.length; k++) {
    const a = rest[k]!;
    if (a === '--') {
      out.push(...rest.slice(k));
      break;
    }
    if (isHelpCluster(a, hIsHelp)) return { argv: [...out, '--help'] };
    if (verb === 'logplay') out.push(...splitValueLast(a, 'S'));
    else out.push(a);
  }
  return { argv: out };
}
