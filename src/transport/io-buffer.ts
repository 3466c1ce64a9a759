// Buffers for socket reads and I/O data: each one standalone (its own ArrayBuffer,
// never a slice of Node's shared 8 KiB pool), allocated once and reused.
//
// JavaScript cannot see or choose addresses, so a staging buffer cannot be "page
// aligned" from here: a Buffer's byteOffset is relative to its ArrayBuffer, and the
// allocator puts that wherever it likes (large ones in their own mapping, 16 bytes
// past a page boundary with glibc). What we control is the offset *within* these
// buffers, so copies between two of them keep the relative alignment of those
// offsets. Measured here, the glibc slow case (destination 8–24 bytes past the
// source modulo 4096) costs 70–150 ns on a warm 4 KiB copy: small next to a read.

/** A standalone, uninitialised Buffer of `size` bytes for reads or I/O data. */
export function allocIoBuffer(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}
