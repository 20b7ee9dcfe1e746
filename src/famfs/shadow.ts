// Text forms of a file's metadata: famfs's shadow YAML (famfs-format.md §8.1, src/famfs_yaml.c)
// and the getmap listing (famfs-format.md §6). Pure formatting.
import type { FileNode } from './namespace.js';
import { EXT_INTERLEAVE, EXT_SIMPLE } from './constants.js';

const hex = (n: number) => `0x${n.toString(16)}`;

/** The shadow YAML famfs `logplay --shadow` writes for one file. */
export function shadowYaml(f: FileNode): string {
  const out: string[] = ['---', 'file:'];
  out.push(`  path: ${f.path}`, `  size: ${f.size}`, `  flags: ${f.flags}`, `  mode: 0${f.mode.toString(8)}`, `  uid: ${f.uid}`, `  gid: ${f.gid}`);
  const ex = f.map.extents;
  const first = ex[0];
  if (first && first.type === 'interleave') {
    out.push(`  nextents: ${ex.length}`, '  striped_ext_list:');
    for (const ie of ex) {
      if (ie.type !== 'interleave') continue;
      out.push(`  - nstrips: ${ie.strips.length}`, `    chunk_size: ${hex(ie.chunkSize)}`, '    simple_ext_list:');
      for (const s of ie.strips) out.push(`    - devindex: ${s.daxdev}`, `      offset: ${hex(s.offset)}`, `      length: ${hex(s.length)}`);
    }
  } else {
    out.push(`  nextents: ${ex.length}`, '  simple_ext_list:');
    for (const s of ex) if (s.type === 'simple') out.push(`  - devindex: ${s.daxdev}`, `    offset: ${hex(s.offset)}`, `    length: ${hex(s.length)}`);
  }
  out.push('...');
  return out.join('\n') + '\n';
}

/** famfs getmap's listing (src/famfs_cli.c): offsets in bare hex, lengths in decimal. */
export function getmapText(name: string, f: FileNode): string {
  const out = [`File:     ${name}`, `\tsize:    ${f.size}`];
  const ex = f.map.extents;
  out.push(`\textents: ${ex.length}`);
  for (const e of ex) {
    if (e.type === 'simple') out.push(`\t\t${e.offset.toString(16)}\t${e.length}`);
    else {
      out.push(`\tInterleave_Param chunk_size: ${hex(e.chunkSize)} nstrips: ${e.strips.length}`);
      for (const s of e.strips) out.push(`\t\t${s.offset.toString(16)}\t${s.length}`);
    }
  }
  out.push(`famfs_getmap: good file ${name}`);
  return out.join('\n') + '\n';
}

/** getmap --json / ls --json shape of a file. */
export function fileJson(f: FileNode): unknown {
  const first = f.map.extents[0];
  return {
    path: f.path, size: f.size, mode: `0${f.mode.toString(8)}`, uid: f.uid, gid: f.gid, flags: f.flags, nodeid: f.id, logIndex: f.index,
    extType: first?.type === 'interleave' ? EXT_INTERLEAVE : EXT_SIMPLE,
    extents: f.map.extents.map((e) => (e.type === 'simple'
      ? { type: 'simple', daxdev: e.daxdev, offset: e.offset, length: e.length }
      : { type: 'interleave', chunkSize: e.chunkSize, nbytes: e.nbytes, strips: e.strips.map((s) => ({ daxdev: s.daxdev, offset: s.offset, length: s.length })) })),
  };
}
