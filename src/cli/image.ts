// The famfs verbs (mkfs, creat, cp, mkdir, clone, ls, cat, getmap, verify, chkread, check,
// flush, logplay, fsck, mkmeta) registered together. Each group lives in its own module;
// a file is IMAGE:/path (an unmounted image) or a path inside a famfs-ts mount.
import type { Command } from 'commander';
import { setFileMapSource } from './layout.js';
import { imageFileMap } from './target.js';
import { registerMkfs } from './mkfs.js';
import { registerFileVerbs } from './files.js';
import { registerInspectVerbs } from './inspect.js';
import { registerLogVerbs } from './log-verbs.js';

export { classifyTarget, imageFileMap, openImage, type Target } from './target.js';
export { imageLayout } from '../famfs/image-layout.js';

export function registerImage(program: Command): void {
  // `famfs-ts layout map IMAGE:/path|MNT/path --offset X` reads the map from the image
  // (read-only; the role does not matter, so no system UUID file is read or created).
  setFileMapSource((spec) => imageFileMap(spec));
  registerMkfs(program);
  registerFileVerbs(program);
  registerInspectVerbs(program);
  registerLogVerbs(program);
}
