// Cut a byte stream into TCP segments and impair their arrival order, seeded, so a
// packet device run can be repeated exactly: loss (the segment arrives later, as
// its retransmission), reordering (swapped with the next one) and duplication.
import type { TcpSegment } from './packet-device.ts';
import { seqAdd } from '../protocol/seq.ts';

/** Segments of at most `mss` bytes (views into `stream`), starting at sequence number `seq`. */
export function segmentStream(stream: Buffer, seq: number, mss: number): TcpSegment[] {
  if (!Number.isInteger(mss) || mss < 1) throw new RangeError(`mss must be a positive integer, got ${mss}`);
  const out: TcpSegment[] = [];
  for (let off = 0; off < stream.length; off += mss) {
    out.push({ seq: seqAdd(seq, off), payload: stream.subarray(off, Math.min(stream.length, off + mss)) });
  }
  return out;
}

export interface Impairments {
  seed: number;
  /** Probability a segment is lost; it arrives `rtxDelay` segments later (its retransmission). */
  loss?: number;
  /** Probability a segment is swapped with the one after it. */
  reorder?: number;
  /** Probability a segment arrives twice (the copy right after the next one). */
  duplicate?: number;
  /** Segments between a loss and its retransmission. Default 3. */
  rtxDelay?: number;
}

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** The arrival order of `segs` under the impairments. Every segment arrives at least once. */
export function impair(segs: readonly TcpSegment[], o: Impairments): TcpSegment[] {
  const rnd = prng(o.seed);
  const delay = o.rtxDelay ?? 3;
  const order = [...segs];
  for (let i = 0; i + 1 < order.length; i++) {
    if (rnd() < (o.reorder ?? 0)) {
      [order[i], order[i + 1]] = [order[i + 1], order[i]];
      i++;
    }
  }
  const out: TcpSegment[] = [];
  // Retransmissions due after a given number of further arrivals.
  const pending: { due: number; seg: TcpSegment }[] = [];
  const release = (): void => {
    for (let k = 0; k < pending.length; ) {
      if (pending[k].due <= out.length) {
        out.push(pending[k].seg);
        pending.splice(k, 1);
      } else {
        k++;
      }
    }
  };
  for (const s of order) {
    if (rnd() < (o.loss ?? 0)) {
      pending.push({ due: out.length + delay, seg: s });
      continue;
    }
    out.push(s);
    if (rnd() < (o.duplicate ?? 0)) pending.push({ due: out.length + 1, seg: s });
    release();
  }
  for (const p of pending) out.push(p.seg);
  return out;
}
