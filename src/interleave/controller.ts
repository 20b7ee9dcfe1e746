// CXL-style hardware interleave decode (modulo arithmetic, as CXL 2.0+ HDM decoders do for
// every way count including 3, 6 and 12): host offset within a region <-> (member, DPA).
import type { Region } from './layout.js';

export interface ControllerAddress {
  /** Interleave position of the member device (index into region.devices). */
  readonly position: number;
  /** Member device name. */
  readonly device: string;
  /** Device physical address: the byte offset inside that member. */
  readonly dpa: number;
}

export function toController(region: Region, offset: number): ControllerAddress {
  const ig = region.granularity;
  const iw = region.ways;
  const granule = Math.floor(offset / ig);
  const position = granule % iw;
  const dpa = Math.floor(granule / iw) * ig + (offset - granule * ig);
  return { position, device: region.devices[position]!, dpa };
}

export function fromController(region: Region, position: number, dpa: number): number {
  const ig = region.granularity;
  const row = Math.floor(dpa / ig);
  return row * ig * region.ways + position * ig + (dpa - row * ig);
}

/** Bytes from `offset` that stay on one member (up to the end of the granule). */
export function granuleRemainder(region: Region, offset: number): number {
  return region.granularity - (offset % region.granularity);
}
