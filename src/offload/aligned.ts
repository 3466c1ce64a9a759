// Page-aligned buffers for socket reads. glibc copies 4–128 KiB slowly when the
// destination sits a few bytes past the source modulo 4096, so staging buffers
// start on a page boundary: payload read at a page-aligned offset copies fast.

/** A Buffer whose first byte sits on an `align`-byte boundary (default 4096). */
export function allocAligned(size: number, align = 4096): Buffer {
  const raw = Buffer.allocUnsafeSlow(size + align);
  const mis = raw.byteOffset % align;
  const start = mis === 0 ? 0 : align - mis;
  return raw.subarray(start, start + size);
}
