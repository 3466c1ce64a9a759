// Send path of a target queue: CapsuleResp and C2HData PDUs. Headers are built in
// place in the writer's batch arena by the protocol writers (no Buffer or field object
// per PDU). Payload buffers go to the writer as they are (views of namespace memory for
// RAM reads), never concatenated: each data PDU is [header(+HDGST, +pad), data pieces..., DDGST].
// A payload the target allocated for the command (a file read) is lent to the writer
// piece by piece, so that its buffer goes back to the data budget once it has been copied
// or written.
import { DIGEST_LEN, HLEN, PduFlag, PduType } from '../protocol/constants.ts';
import { crc32cUpdate } from '../protocol/crc32c.ts';
import { dataPdo, writeCapsuleResp } from '../protocol/pdu.ts';
import { putDataHeader, putDigest } from '../transport/put.ts';
import type { PduWriter } from '../transport/writer.ts';

const RESP_HLEN = HLEN[PduType.CapsuleResp];
const DATA_HLEN = HLEN[PduType.C2HData];

/** A payload lent to the writer: `pieces` counts the pieces not yet handed off, `done` is each one's callback. */
export interface LentPayload {
  pieces: number;
  readonly done: () => void;
}

/** CapsuleResp with the CQE fields; `status` in the Linux form (makeStatus). */
export function sendCapsuleResp(
  w: PduWriter,
  cid: number,
  status: number,
  dw0: number,
  dw1: number,
  sqhd: number,
  sqid: number,
  hdgst: boolean,
): void {
  const at = w.reserve(RESP_HLEN + (hdgst ? DIGEST_LEN : 0));
  writeCapsuleResp(w.buf, at, cid, status, dw0, dw1, sqhd, sqid, hdgst);
}

/**
 * Sends the first `len` bytes of `bufs` as C2HData PDUs of at most `maxData`
 * bytes each, DATAO increasing and contiguous, LAST (and SUCCESS when asked) on
 * the final one. `hpda` pads the data to the host's alignment. With `lent`, each piece
 * is counted in lent.pieces and lent.done runs once the writer no longer needs it.
 */
export function sendC2hData(
  w: PduWriter,
  cccid: number,
  bufs: readonly Buffer[],
  len: number,
  maxData: number,
  hdgst: boolean,
  ddgst: boolean,
  hpda: number,
  success: boolean,
  lent?: LentPayload,
): void {
  const pdo = dataPdo(DATA_HLEN, hdgst, hpda);
  const lastFlags = PduFlag.LAST_PDU | (success ? PduFlag.SUCCESS : 0);
  let bi = 0;
  let bo = 0;
  let datao = 0;
  while (datao < len) {
    const datal = Math.min(maxData, len - datao);
    const flags = datao + datal === len ? lastFlags : 0;
    putDataHeader(w, PduType.C2HData, cccid, 0, datao, datal, flags, pdo, hdgst, ddgst);
    let need = datal;
    let crc = 0;
    while (need > 0) {
      const b = bufs[bi];
      const n = Math.min(need, b.length - bo);
      const piece = bo === 0 && n === b.length ? b : b.subarray(bo, bo + n);
      // With a data digest the bytes are digested now, so they are copied now; without
      // one the copy waits for the turn's batch (sendLater: the misses overlap).
      if (ddgst) crc = crc32cUpdate(crc, piece);
      if (lent !== undefined) {
        lent.pieces++;
        w.sendThen(piece, lent.done);
      } else if (ddgst) {
        w.send(piece);
      } else {
        w.sendLater(piece);
      }
      need -= n;
      bo += n;
      if (bo === b.length) {
        bi++;
        bo = 0;
      }
    }
    if (ddgst) putDigest(w, crc);
    datao += datal;
  }
}
