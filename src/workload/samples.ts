// Running min / max / mean / standard deviation of periodic samples (bandwidth and
// IOPS per sample period, fio's bw_* and iops_* fields), in constant memory however
// long the run: Welford's update, one sample at a time.

export interface SampleSummary {
  min: number;
  max: number;
  mean: number;
  /** Sample standard deviation (n - 1), 0 below two samples. */
  stddev: number;
  samples: number;
}

export class RunningStats {
  private n = 0;
  private m = 0;
  private s = 0;
  private lo = 0;
  private hi = 0;

  add(v: number): void {
    this.n++;
    if (this.n === 1 || v < this.lo) this.lo = v;
    if (this.n === 1 || v > this.hi) this.hi = v;
    const d = v - this.m;
    this.m += d / this.n;
    this.s += d * (v - this.m);
  }

  summary(): SampleSummary {
    return { min: this.lo, max: this.hi, mean: this.m, stddev: this.n > 1 ? Math.sqrt(this.s / (this.n - 1)) : 0, samples: this.n };
  }
}
