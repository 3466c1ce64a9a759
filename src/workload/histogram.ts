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
  /** Sum of squares, for the standard deviation (one multiply-add per record). */
  private sumSq = 0;
  max = 0;
  /** Smallest value recorded (0 while empty). */
  min = 0;

  /** Records one value in nanoseconds (non-negative integer). */
  record(ns: number): void {
    const v = ns < 0 ? 0 : Math.floor(ns);
    this.counts[bucketOf(v)]++;
    if (v < this.min || this.count === 0) this.min = v;
    this.count++;
    this.sum += v;
    this.sumSq += v * v;
    if (v > this.max) this.max = v;
  }

  merge(o: LatencyHistogram): void {
    if (o.count === 0) return;
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += o.counts[i];
    if (o.min < this.min || this.count === 0) this.min = o.min;
    this.count += o.count;
    this.sum += o.sum;
    this.sumSq += o.sumSq;
    if (o.max > this.max) this.max = o.max;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** Sample standard deviation (n - 1 in the divisor, as fio reports it; 0 below two values). */
  get stddev(): number {
    if (this.count < 2) return 0;
    const v = (this.sumSq - (this.sum * this.sum) / this.count) / (this.count - 1);
    return v > 0 ? Math.sqrt(v) : 0;
  }

  /**
   * How many values lie below each of `bounds` (ascending, ns): one pass over the
   * buckets. A bucket counts as below a bound when its upper edge is, so a count is
   * exact for bounds under 64 ns and within one bucket (1/64) above.
   */
  countsBelow(bounds: readonly number[]): number[] {
    const out = new Array<number>(bounds.length).fill(0);
    let seen = 0;
    let b = 0;
    for (let i = 0; i < this.counts.length && b < bounds.length; i++) {
      while (b < bounds.length && upperEdge(i) >= bounds[b]) out[b++] = seen;
      seen += this.counts[i];
    }
    for (; b < bounds.length; b++) out[b] = seen;
    return out;
  }

  /** What JSON.stringify shows of a histogram: its summary, not its buckets. */
  toJSON(): { n: number; min: number; max: number; mean: number; stddev: number } {
    return { n: this.count, min: this.min, max: this.max, mean: this.mean, stddev: this.stddev };
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
