// `famfs-ts layout check|show|map`: commander wiring over src/interleave.
import fs from 'node:fs';
import type { Command } from 'commander';
import type { FileMap } from '../interleave/filemap.js';
import type { Layout } from '../interleave/layout.js';
import { formatProblem, LayoutError, loadFileMap, loadLayout, loadLayoutChecked } from '../interleave/layout-yaml.js';
import { layoutJson, layoutText, locationText } from '../interleave/layout-report.js';
import { layoutSvg } from '../interleave/layout-svg.js';
import { checkLayoutDevices } from '../famfs/device-check.js';
import { mapOffsets } from '../interleave/locate.js';
import { formatSize } from '../interleave/size.js';
import { collect, failAndExit, sizeArg } from './run.js';

/** A FileMap named on the command line other than by --fmap, e.g. `IMAGE:/path`. */
export interface FileMapFromSource {
  readonly map: FileMap;
  /** The layout the map's daxdev indexes refer to, if the source knows it (an image does). */
  readonly layout?: Layout;
}
export type FileMapSource = (spec: string) => FileMapFromSource | Promise<FileMapFromSource>;

let fileMapSource: FileMapSource | undefined;

/**
 * Let `layout map FILE` read FileMaps from elsewhere (src/cli/image.ts plugs in
 * `IMAGE:/path`). Without a source, only --fmap works.
 */
export function setFileMapSource(source: FileMapSource): void {
  fileMapSource = source;
}

class UsageError extends Error {}
const size = sizeArg;
const fail = (e: unknown): never => failAndExit(e, 1);

export function registerLayout(program: Command): void {
  const layout = program.command('layout').description('check, show and query memory layouts (devices, hardware regions, software interleave)');

  layout
    .command('check')
    .description('validate layout YAML files: a summary, or every error with file:line:col (exit 1)')
    .argument('<layouts...>', 'layout YAML files')
    .option('--json', 'JSON: one object per file (ok, errors, warnings, summary)')
    .action((files: string[], opts: { json?: boolean }) => {
      let bad = 0;
      const js: unknown[] = [];
      for (const f of files) {
        let c;
        try {
          c = loadLayoutChecked(f);
        } catch (e) {
          if (!(e instanceof LayoutError)) throw e;
          c = { errors: e.problems, warnings: [] as const, layout: undefined };
        }
        if (opts.json) {
          if (c.layout === undefined) bad++;
          js.push({ file: f, ok: c.layout !== undefined, errors: c.errors.map((p) => formatProblem(p)), warnings: c.warnings.map((w) => formatProblem(w)), layout: c.layout === undefined ? undefined : layoutJson(c.layout) });
          continue;
        }
        for (const w of c.warnings) process.stderr.write(`${formatProblem(w)}\n`);
        if (c.layout === undefined) {
          bad++;
          for (const p of c.errors) process.stderr.write(`${formatProblem(p)}\n`);
          process.stderr.write(`${f}: ${c.errors.length} error${c.errors.length === 1 ? '' : 's'}\n`);
          continue;
        }
        const l = c.layout;
        // The devices on this host: two paths naming one file is an error; missing or short
        // devices are warnings (a layout may be checked before they are made).
        const host = checkLayoutDevices(l, { mounted: false });
        for (const p of host) process.stderr.write(`${f}: ${p.kind === 'alias' ? 'error' : 'warning'}: ${p.message}\n`);
        if (host.some((p) => p.kind === 'alias')) {
          bad++;
          continue;
        }
        const j = layoutJson(l);
        process.stdout.write(`${f}: ok: ${l.daxdevs.length} daxdev${l.daxdevs.length === 1 ? '' : 's'} (${l.daxdevs.map((d) => `${d.name} ${formatSize(d.size)}`).join(', ')}), ` +
          `${l.devices.length} device${l.devices.length === 1 ? '' : 's'}, ${l.regions.length} region${l.regions.length === 1 ? '' : 's'}, ${formatSize(j.capacity)}; ` +
          `policy chunk ${formatSize(l.policy.chunkSize)} x ${l.policy.nstrips} strip${l.policy.nstrips === 1 ? '' : 's'}\n`);
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(files.length === 1 ? js[0] : js, null, 2)}\n`);
      if (bad > 0) process.exit(1);
    });

  layout
    .command('show')
    .description('devices, regions, daxdevs, capacities and policy; optionally a picture')
    .argument('<layout>', 'layout YAML file')
    .option('--json', 'print JSON (stable field names)')
    .option('--svg <out>', 'write an SVG of the controllers and a sample file striped by the policy')
    .action((file: string, opts: { json?: boolean; svg?: string }) => {
      try {
        const l = loadLayout(file);
        if (opts.svg !== undefined) fs.writeFileSync(opts.svg, layoutSvg(l));
        process.stdout.write(opts.json ? `${JSON.stringify(layoutJson(l), null, 2)}\n` : layoutText(l));
        if (opts.svg !== undefined && !opts.json) process.stdout.write(`wrote ${opts.svg}\n`);
      } catch (e) {
        fail(e);
      }
    });

  layout
    .command('map')
    .description('resolve file offsets of a FileMap to daxdev offsets (and, with --layout, to memory devices and DPAs)')
    .argument('[file]', 'a file given another way than --fmap (IMAGE:/path, when an image source is available)')
    .option('--layout <layout>', 'layout YAML: adds device and dpa to every answer')
    .option('--fmap <fmap>', 'FileMap YAML (size + extents)')
    .option('--offset <x>', 'file offset (4096, 15MiB, 0x...); repeat for several', collect, [] as string[])
    .option('--length <n>', 'map [offset, offset+n) as a list of mappings with pos')
    .option('--json', 'print JSON: one object per offset (null at EOF), a list when --offset repeats')
    .action(async (file: string | undefined, opts: { layout?: string; fmap?: string; offset: string[]; length?: string; json?: boolean }) => {
      try {
        if ((file === undefined) === (opts.fmap === undefined)) throw new UsageError('give a FileMap: either --fmap FMAP.yaml or a FILE argument, not both');
        if (opts.offset.length === 0) throw new UsageError('give at least one --offset');
        const offsets = opts.offset.map((o) => size('--offset', o));
        const length = opts.length === undefined ? undefined : size('--length', opts.length);
        let layout = opts.layout === undefined ? undefined : loadLayout(opts.layout);
        let map: FileMap;
        if (opts.fmap !== undefined) {
          map = loadFileMap(opts.fmap, layout);
        } else {
          if (fileMapSource === undefined) throw new UsageError(`cannot read "${file}": only --fmap is available in this build`);
          const got = await fileMapSource(file!);
          map = got.map;
          layout ??= got.layout;
        }
        if (length === undefined) {
          const answers = mapOffsets(map, offsets, layout);
          if (opts.json) process.stdout.write(`${JSON.stringify(answers.length === 1 ? answers[0] : answers)}\n`);
          else process.stdout.write(answers.map((a, i) => locationText(offsets[i]!, a)).join('\n') + '\n');
        } else {
          const answers = mapOffsets(map, offsets, layout, length);
          if (opts.json) process.stdout.write(`${JSON.stringify(answers.length === 1 ? answers[0] : answers)}\n`);
          else {
            const lines: string[] = [];
            answers.forEach((list, i) => {
              if (list.length === 0) lines.push(`${offsets[i]}: EOF`);
              for (const a of list) lines.push(locationText(a.pos!, a));
            });
            process.stdout.write(lines.join('\n') + '\n');
          }
        }
      } catch (e) {
        fail(e);
      }
    });
}
