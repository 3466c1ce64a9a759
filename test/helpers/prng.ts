// A small deterministic PRNG (mulberry32) for seeded random tests: same seed, same run.

export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + (this.u32() % (hi - lo + 1));
  }
  bool(pTrue = 0.5): boolean {
    return this.u32() / 0x1_0000_0000 < pTrue;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.u32() % items.length];
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** Cuts `buf` into chunks whose sizes are drawn from [1, maxChunk]. Chunks are views. */
export function randomChunks(buf: Buffer, rng: Prng, maxChunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; ) {
    const n = Math.min(rng.int(1, maxChunk), buf.length - off);
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}
