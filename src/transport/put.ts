// The protocol writers aimed at a PduWriter's batch arena (no Buffer per PDU), for the
// parts both the host (H2CData) and the target (C2HData) send. Each reserves exactly
// the bytes its writer writes, then reads `w.buf` (reserve() may switch arenas, so
// `w.buf` must not be read before it).
import { DIGEST_LEN, type PduType } from '../protocol/constants.ts';
import { writeDataHeader, writeDdgst } from '../protocol/pdu.ts';
import type { PduWriter } from './writer.ts';

/** H2CData / C2HData header, HDGST, pad up to `pdo`: writeDataHeader. `flags`: LAST_PDU, SUCCESS. */
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
  ddgst: boolean,
): void {
  const at = w.reserve(pdo);
  writeDataHeader(w.buf, at, type, cccid, ttag, datao, datal, flags, pdo, hdgst, ddgst);
}

/** A data digest: writeDdgst. */
export function putDigest(w: PduWriter, crc: number): void {
  const at = w.reserve(DIGEST_LEN);
  writeDdgst(w.buf, at, crc);
}
