// One FileSystem (and MappingSource) the engine holds for a mount whose real file system
// arrives later (famfs mode: famfs-mode.ts). Calls go to the current target; what the
// profile and the engine said at INIT (the negotiated series, the connection) is kept and
// replayed to the file system switched to.
import type { ConnectionInfo, FileSystem } from '../fuse/filesystem.js';
import type { MappingSource } from '../mapping/handlers.js';
import type { KernelSeries } from '../mapping/series.js';
import { mappingModeOf, type MappingMode } from './mapping-policy.js';

type Target = FileSystem & MappingSource;

export class FsSwitch {
  private target: Target;
  private negotiatedWith?: [KernelSeries, boolean];
  private conn?: ConnectionInfo;
  /** The object to hand the engine and the profile. */
  readonly fs: Target;

  constructor(first: Target) {
    this.target = first;
    const handler: ProxyHandler<Target> = {
      get: (_t, key) => {
        if (key === 'negotiated') {
          return (series: KernelSeries, granted: boolean) => {
            this.negotiatedWith = [series, granted];
            this.target.negotiated?.(series, granted);
          };
        }
        if (key === 'init') {
          return (conn: ConnectionInfo) => {
            this.conn = conn;
            this.target.init?.(conn);
          };
        }
        const v: unknown = Reflect.get(this.target, key);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(this.target) : v;
      },
      has: (_t, key) => Reflect.has(this.target, key),
    };
    this.fs = new Proxy(first, handler);
  }

  /** The mapping mode INIT negotiated (undefined before INIT). */
  get mode(): MappingMode | undefined {
    return this.negotiatedWith ? mappingModeOf(...this.negotiatedWith) : undefined;
  }

  /** Name of the negotiated series, for messages. */
  get series(): string | undefined {
    return this.negotiatedWith?.[0].name;
  }

  /** Serve `next` from now on, telling it what INIT negotiated. */
  switchTo(next: Target): void {
    if (this.negotiatedWith) next.negotiated?.(...this.negotiatedWith);
    if (this.conn) next.init?.(this.conn);
    this.target = next;
  }
}
