// PDU parts written in place in a PduWriter's batch arena (no Buffer per PDU), for
// both the host (H2CData) and the target (C2HData): a data PDU header and a digest.
import { DIGEST_LEN, type PduType } from '../protocol/constants.ts';
import { crc32c } from '../protocol/crc32c.ts';
import type { PduWriter } from './writer.ts';

const DATA_HLEN = 24;

/**
 * H2CData / C2HData header, its digest when `hdgst`, and zeroed pad up to `pdo`.
 * `flags` is the whole flags byte (HDGSTF/DDGSTF included); `dd` the data digest length.
 */
export function putDataHeader(
  w: PduWriter,
  type: typeof PduType.H2CData | typeof PduType.C2HData,
  cccid: number,
  ttag: number,
  datao: number,
  datal: number,
  flags: number,
  pdo: number,
  hdgst: boolean,
  dd: number,
): void {
  const at = w.reserve(pdo);
  const b = w.buf;
  b[at] = type;
  b[at + 1] = flags;
  b[at + 2] = DATA_HLEN;
  b[at + 3] = pdo;
  b.writeUInt32LE(pdo + datal + dd, at + 4);
  b.writeUInt16LE(cccid, at + 8);
  b.writeUInt16LE(ttag, at + 10);
  b.writeUInt32LE(datao, at + 12);
  b.writeUInt32LE(datal, at + 16);
  b.writeUInt32LE(0, at + 20);
  let p = DATA_HLEN;
  if (hdgst) {
    b.writeUInt32LE(crc32c(b, at, at + DATA_HLEN), at + DATA_HLEN);
    p += DIGEST_LEN;
  }
  for (; p < pdo; p++) b[at + p] = 0;
}

/** A 4-byte digest (little-endian CRC32C). */
export function putDigest(w: PduWriter, crc: number): void {
  const at = w.reserve(DIGEST_LEN);
  w.buf.writeUInt32LE(crc >>> 0, at);
}
