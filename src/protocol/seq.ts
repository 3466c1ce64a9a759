// TCP sequence arithmetic, modulo 2^32 (RFC 1982 style, as the kernel's before()/after()).

/** a + n, wrapped to 32 bits. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** Signed distance a - b; valid while the two are less than 2^31 apart. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** a comes after b. */
export function after(a: number, b: number): boolean {
  return seqDiff(b, a) < 0;
}
