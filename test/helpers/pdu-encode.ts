// Allocating forms of the shipping PDU writers, for tests that build PDUs to send or
// feed (fake targets, raw clients, receiver streams). Each one allocates and calls the
// very writer the host and target use, so these bytes are the ones the codec tests pin.
import { DIGEST_LEN, HLEN, PDO_MAX, PduType } from '../../src/protocol/constants.ts';
import { dataPdo, writeCapsuleCmd, writeCapsuleResp, writeDataHeader, writeDdgst, writeR2t } from '../../src/protocol/pdu.ts';
import type { CqeFields } from '../../src/protocol/sqe.ts';

export interface DigestOpts {
  hdgst: boolean;
  ddgst: boolean;
}

/** CapsuleCmd header (+HDGST, +pad to CPDA) for an SQE and `icdLen` bytes of in-capsule data to follow. */
export function encodeCapsuleCmd(sqe: Buffer, icdLen: number, d: DigestOpts, cpda = 0): Buffer {
  const b = Buffer.alloc(PDO_MAX);
  const end = writeCapsuleCmd(b, 0, sqe, icdLen, dataPdo(HLEN[PduType.CapsuleCmd], d.hdgst, cpda), d.hdgst, d.ddgst);
  return b.subarray(0, end);
}

/** CapsuleResp (+HDGST) with these CQE fields (`status` in the Linux form). */
export function encodeCapsuleResp(f: CqeFields, hdgst: boolean): Buffer {
  const b = Buffer.alloc(HLEN[PduType.CapsuleResp] + DIGEST_LEN);
  const end = writeCapsuleResp(b, 0, f.cid, f.status ?? 0, f.dw0 ?? 0, f.dw1 ?? 0, f.sqhd ?? 0, f.sqid ?? 0, hdgst);
  return b.subarray(0, end);
}

/** H2CData / C2HData header (+HDGST, +pad to the receiver's PDA); `flags` may add LAST_PDU and SUCCESS. */
export function encodeDataHeader(
  type: typeof PduType.H2CData | typeof PduType.C2HData,
  f: { cccid: number; ttag?: number; datao: number; datal: number; flags?: number },
  d: DigestOpts,
  pda = 0,
): Buffer {
  const pdo = dataPdo(HLEN[type], d.hdgst, pda);
  const b = Buffer.alloc(pdo);
  writeDataHeader(b, 0, type, f.cccid, f.ttag ?? 0, f.datao, f.datal, f.flags ?? 0, pdo, d.hdgst, d.ddgst);
  return b;
}

/** The 4-byte DDGST trailer for a CRC. */
export function encodeDdgst(crc: number): Buffer {
  const b = Buffer.alloc(DIGEST_LEN);
  writeDdgst(b, 0, crc);
  return b;
}

/** An R2T (the target builds its own in place: writeR2t). */
export function encodeR2t(f: { cccid: number; ttag: number; r2to: number; r2tl: number }, hdgst: boolean): Buffer {
  const b = Buffer.allocUnsafe(HLEN[PduType.R2T] + (hdgst ? DIGEST_LEN : 0));
  writeR2t(b, 0, f.cccid, f.ttag, f.r2to, f.r2tl, hdgst);
  return b;
}
