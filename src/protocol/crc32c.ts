// CRC-32C (Castagnoli), the NVMe/TCP header and data digest: reflected polynomial
// 0x82F63B78, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF, sent little-endian.
//
// The running value is the *finalised* CRC of the bytes so far (0 before any byte),
// which is what @node-rs/crc32 takes and returns, so pieces chain:
//   crc32cUpdate(crc32cUpdate(0, a), b) === crc32c(a ++ b)
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export const CRC32C_INIT = 0;

/** Continue a CRC32C over buf[start, end). */
export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  if (end <= start) return crc;
  const view =
    start === 0 && end === buf.length
      ? buf
      : buf.subarray(start, end);
  return nativeCrc32c(view as Buffer, crc);
}

/** CRC32C of buf[start, end). */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return crc32cUpdate(CRC32C_INIT, buf, start, end);
}

/** Writes a digest in wire order (little-endian) at buf[off]. */
export function writeDigest(buf: Buffer, off: number, crc: number): void {
  buf.writeUInt32LE(crc >>> 0, off);
}

export function readDigest(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off);
}
