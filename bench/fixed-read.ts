// A target receive path that reads the way SPDK's nvmf/tcp does, for reproducing what
// a host meets there without SPDK: every socket read asks for exactly the rest of the
// current PDU part (the 8-byte common header, then the rest of the header and its
// digest, then pad, data, data digest), never more than a fixed-size receive buffer,
// so the PDUs are taken one at a time and each part costs a read of its own. Our own
// target instead reads as much as the kernel has (256 KiB) and parses it all.
import type { RxView } from '../src/protocol/receiver.ts';
import type { RxPlacement, RxPlacementFactory } from '../src/transport/reader.ts';

/** SPDK's receive buffer for 4 KiB in-capsule data: (4096 + 72 + 2 × 4) × 16. */
export const SPDK_RECV_BUF = (4096 + 72 + 8) * 16;

export class FixedReadPlacement implements RxPlacement {
  private readonly buf: Buffer;
  /** One view per read length, made once (no allocation per read). */
  private readonly views: Buffer[];
  /** Socket reads so far, and PDU parts so far (equal: one read never spans two). */
  reads = 0;
  bytes = 0;

  constructor(
    private readonly rx: RxView,
    size = SPDK_RECV_BUF,
  ) {
    this.buf = Buffer.allocUnsafeSlow(size);
    this.views = [];
  }

  nextBuffer(): Buffer {
    const n = Math.max(1, Math.min(this.rx.unitRemaining, this.buf.length));
    let v = this.views[n];
    if (v === undefined) {
      v = this.buf.subarray(0, n);
      this.views[n] = v;
    }
    return v;
  }

  onRead(n: number, buf: Buffer): void {
    this.reads++;
    this.bytes += n;
    this.rx.feed(n === buf.length ? buf : buf.subarray(0, n));
  }
}

/** The target option `rxPlacement` for fixed reads; `made` collects every placement (for counts). */
export function fixedReads(size = SPDK_RECV_BUF, made?: FixedReadPlacement[]): RxPlacementFactory {
  return (rx) => {
    const p = new FixedReadPlacement(rx, size);
    made?.push(p);
    return p;
  };
}
