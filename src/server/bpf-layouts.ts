// `famfs-ts mount --bpf`: register the generic in-kernel resolver for the mount's FUSE
// connection (src/bpf-policy/kernel.ts registerResolver) and keep its nodeid -> layout hash
// map filled: at OPEN (and CREATE) and whenever a file's map changes, as Joanne Koong's
// prototype server does in its OPEN handler (reference fuse-iomap-abi.md §4.1). When the
// kernel has no fuse struct_ops type the server says why once and keeps answering in user
// space (READ/WRITE, GET_FMAP, IOMAP_BEGIN), which is what it does anyway.
import type { FileMap } from '../interleave/filemap.js';
import { registerResolver, type NotRegistered, type Registration, type RegisterOptions, type StructOpsFlavor } from '../bpf-policy/kernel.js';

export type Registrar = (opts: RegisterOptions) => Registration | NotRegistered;

export class BpfLayouts {
  /** Nodeids whose map could not be put in the BPF value (logged once each). */
  private readonly unfit = new Set<number>();
  filled = 0;

  private constructor(private readonly reg: Registration, private readonly fileMap: (nodeid: number) => FileMap | undefined,
    private readonly log: (line: string) => void, private readonly refuse?: (map: FileMap) => string | undefined) {}

  /**
   * Try to register; log the plain reason and return undefined when the kernel cannot.
   * `register` is replaceable so a test can hand in a registration with a real map.
   */
  static start(opts: {
    fuseFd: number; flavor: StructOpsFlavor; maxFiles?: number; fileMap: (nodeid: number) => FileMap | undefined;
    log: (line: string) => void; register?: Registrar;
    /** Why a map must stay out of the resolver's map (e.g. not block aligned for iomap), or undefined. */
    refuse?: (map: FileMap) => string | undefined;
  }): BpfLayouts | undefined {
    const r = (opts.register ?? registerResolver)({ fuseFd: opts.fuseFd, flavor: opts.flavor, maxFiles: opts.maxFiles });
    if (!r.registered) {
      opts.log(`bpf: resolver not registered (${opts.flavor}): ${r.reason}${r.errno ? ` [${r.errno}]` : ''}; answering mappings in user space`);
      return undefined;
    }
    if (!r.layouts) {
      r.close();
      opts.log(`bpf: ${opts.flavor} registered without a layout map; unregistered again, answering in user space`);
      return undefined;
    }
    opts.log(`bpf: ${opts.flavor} resolver registered (link fd ${r.linkFd}); layouts are filled at OPEN`);
    return new BpfLayouts(r, opts.fileMap, opts.log, opts.refuse);
  }

  /** Put nodeid's current map in the kernel's layout map (or drop it when it cannot be held). */
  fill(nodeid: number): void {
    const map = this.fileMap(nodeid);
    const layouts = this.reg.layouts!;
    if (!map) {
      layouts.delete(nodeid);
      return;
    }
    try {
      const why = this.refuse?.(map);
      if (why) throw new Error(why);
      layouts.set(nodeid, map);
      this.unfit.delete(nodeid);
      this.filled++;
    } catch (e) {
      // A stale entry would send the kernel to old addresses: remove it; the kernel then
      // falls back to the upcall for this file.
      layouts.delete(nodeid);
      if (!this.unfit.has(nodeid)) {
        this.unfit.add(nodeid);
        this.log(`bpf: nodeid ${nodeid}: ${(e as Error).message}; the kernel asks user space for it`);
      }
    }
  }

  close(): void {
    this.reg.close();
  }
}
