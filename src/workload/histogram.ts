// Log-linear latency histogram (the HdrHistogram idea, small): 64 sub-buckets per
// power of two, so any recorded value is reported within 1/64 (~1.6%) of itself.
// Recording is one Math.log2-free bit scan and an array increment: no allocation.

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
const MAX_EXP = 40; // values up to 2^40 ns (~18 min)

export class LatencyHistogram {
  private readonly counts = new Float64Array((MAX_EXP + 2) * SUB);
  count = 0;
  private sum = 0;
  max = 0;

  /** Records one value in nanoseconds (non-negative integer). */
  record(ns: number): void {
    const v = ns < 0 ? 0 : Math.floor(ns);
    this.counts[bucketOf(v)]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  merge(o: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += o.counts[i];
    this.count += o.count;
    this.sum += o.sum;
    if (o.max > this.max) this.max = o.max;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** The value at quantile q (0..1): the upper edge of the bucket holding it, capped at max. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(upperEdge(i), this.max);
    }
    return this.max;
  }
}

function bucketOf(v: number): number {
  if (v < SUB) return v;
  if (v < 0x1_0000_0000) {
    // The common case (under ~4.3 s): integer shifts only.
    const e = 32 - Math.clz32(v) - SUB_BITS - 1;
    return SUB + e * SUB + (v >>> e) - SUB;
  }
  // v has `bits` significant bits; v / 2^e lands in [SUB, 2*SUB).
  const bits = 64 - Math.clz32(Math.floor(v / 0x1_0000_0000));
  const e = Math.min(bits - SUB_BITS - 1, MAX_EXP);
  const mant = Math.min(Math.floor(v / 2 ** e), 2 * SUB - 1) - SUB;
  return SUB + e * SUB + mant;
}

function upperEdge(i: number): number {
  if (i < SUB) return i;
  const e = Math.floor((i - SUB) / SUB);
  const mant = (i - SUB) % SUB;
  return (SUB + mant + 1) * 2 ** e - 1;
}
