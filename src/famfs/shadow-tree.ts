// famfs `logplay --shadow DIR`: the namespace written as a tree of shadow YAML files under
// DIR/root (reference §8.1), and `--shadowtest`: each file's YAML read back and compared.
import fs from 'node:fs';
import path from 'node:path';
import { yaml } from '../interleave/yaml-reader.js';
import type { Namespace, FileNode } from './namespace.js';
import type { Role } from './host.js';
import { shadowYaml } from './shadow.js';
import { ImageError } from './errors.js';

export interface ShadowResult {
  readonly files: number;
  readonly dirs: number;
  /** Files whose YAML was read back (--shadowtest) and how many differed. */
  readonly yamlChecked: number;
  readonly yamlErrors: number;
}

/** famfs refuses a shadow path that is not a writable directory. */
export function checkShadowDir(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    throw new ImageError(`shadow path ${dir} does not exist`, 'ENOENT', { cause: e });
  }
  if (!st.isDirectory()) throw new ImageError(`shadow path ${dir} is not a directory`, 'ENOTDIR');
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new ImageError(`shadow path ${dir} is not writable`, 'EPERM', { cause: e });
  }
}

function yamlMatches(file: string, f: FileNode): boolean {
  try {
    const got = yaml().parse(fs.readFileSync(file, 'utf8')) as { file?: { path?: unknown; size?: unknown; nextents?: unknown } };
    const want = yaml().parse(shadowYaml(f)) as { file: { path: unknown; size: unknown; nextents: unknown } };
    return JSON.stringify(got.file) === JSON.stringify(want.file);
  } catch {
    return false;
  }
}

/** Write the shadow tree of `ns` under `dir/root`; `say` gets famfs's -v lines. */
export function writeShadowTree(ns: Namespace, dir: string, role: Role, opts: { test?: boolean; say?: (line: string) => void } = {}): ShadowResult {
  checkShadowDir(dir);
  const root = path.join(dir, 'root');
  fs.mkdirSync(root, { recursive: true });
  let files = 0;
  let dirs = 0;
  let yamlChecked = 0;
  let yamlErrors = 0;
  for (const n of ns.walk()) {
    const p = path.join(root, n.path);
    if (n.kind === 'dir') {
      fs.mkdirSync(p, { recursive: true, mode: n.mode });
      dirs++;
    } else {
      fs.writeFileSync(p, shadowYaml(n), { mode: role === 'master' ? 0o644 : 0o444 });
      files++;
      if (opts.test) {
        yamlChecked++;
        if (!yamlMatches(p, n)) yamlErrors++;
      }
    }
    opts.say?.(`famfs logplay: creating ${n.kind === 'dir' ? 'directory' : 'file'} ${n.path}`);
  }
  return { files, dirs, yamlChecked, yamlErrors };
}
