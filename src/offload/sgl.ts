// The device's view of one command's buffers: a model of dma_map_sg() and the
// SGL checks of mlx5e_nvmeotcp_ddp_setup in the mlx5e NVMe/TCP offload series.
//
// Mapping takes one entry of the mapping pool per scatterlist entry (nents) and may
// coalesce entries that are adjacent in memory, as an IOMMU does, so the mapped
// segment count can be smaller than nents. Release must give back nents, the
// number taken: the seed's failure path unmapped with the mapped count (and even
// after a failed map); MappingPool.inUse makes such a leak visible.

export const PAGE_SIZE = 4096;

/** A mapped scatterlist: what the device places into. */
export interface MappedSgl {
  /** Segments after coalescing. */
  readonly segs: readonly Buffer[];
  /** Offset of each segment in the command's data. */
  readonly starts: readonly number[];
  /** Total bytes. */
  readonly size: number;
  /** Pool entries taken (the scatterlist's nents): what unmap gives back. */
  readonly nents: number;
}

/** Mapping pool accounting of one device. */
export class MappingPool {
  /** Scatterlist entries currently mapped. */
  inUse = 0;

  /**
   * Maps a scatterlist, all or nothing. Fails (undefined, nothing taken) for an
   * empty list or an entry that is not a byte view or has no bytes.
   */
  map(sgl: readonly Uint8Array[]): MappedSgl | undefined {
    if (sgl.length === 0) return undefined;
    for (const e of sgl) {
      if (!(e instanceof Uint8Array) || e.length === 0) return undefined;
    }
    const segs: Buffer[] = [];
    const starts: number[] = [];
    let size = 0;
    let cur = sgl[0];
    let curStart = 0;
    for (let i = 1; i <= sgl.length; i++) {
      const e = sgl[i];
      if (e !== undefined && e.buffer === cur.buffer && cur.byteOffset + cur.length === e.byteOffset) {
        cur = new Uint8Array(cur.buffer, cur.byteOffset, cur.length + e.length);
        continue;
      }
      segs.push(Buffer.from(cur.buffer, cur.byteOffset, cur.length));
      starts.push(curStart);
      size += cur.length;
      if (e === undefined) break;
      cur = e;
      curStart = size;
    }
    this.inUse += sgl.length;
    return { segs, starts, size, nents: sgl.length };
  }

  unmap(m: MappedSgl): void {
    this.inUse -= m.nents;
  }
}

/**
 * Whether the device can place into this layout: every segment between the first
 * and the last must be whole pages (a KLM/PRP-like list only lets the first segment
 * end and the last one start mid-page).
 */
export function placeableLayout(m: MappedSgl): boolean {
  for (let i = 1; i < m.segs.length - 1; i++) {
    if (m.segs[i].length % PAGE_SIZE !== 0) return false;
  }
  return true;
}

/** Index of the segment holding byte `off` of the command's data (-1 past the end). */
export function segmentAt(m: MappedSgl, off: number): number {
  if (off < 0 || off >= m.size) return -1;
  const starts = m.starts;
  let i = starts.length - 1;
  if (i > 0 && off < starts[i]) {
    let lo = 0;
    let hi = i;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    i = lo;
  }
  return i;
}
