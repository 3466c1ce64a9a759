// Send path of a target queue: CapsuleResp and C2HData PDUs. Payload buffers go
// to the writer as they are (views of namespace memory for RAM reads), never
// concatenated: each data PDU is [header(+HDGST, +pad), data pieces..., DDGST].
import { PduFlag, PduType } from '../protocol/constants.ts';
import { crc32cUpdate } from '../protocol/crc32c.ts';
import { encodeCapsuleResp, encodeDataHeader, encodeDdgst } from '../protocol/pdu.ts';
import type { PduWriter } from '../transport/writer.ts';

export function sendCapsuleResp(w: PduWriter, cqe: Buffer, hdgst: boolean): void {
  w.send(encodeCapsuleResp(cqe, hdgst));
}

/**
 * Sends the first `len` bytes of `bufs` as C2HData PDUs of at most `maxData`
 * bytes each, DATAO increasing and contiguous, LAST (and SUCCESS when asked) on
 * the final one. `hpda` pads the data to the host's alignment.
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
): void {
  const dg = { hdgst, ddgst };
  let bi = 0;
  let bo = 0;
  let datao = 0;
  while (datao < len) {
    const datal = Math.min(maxData, len - datao);
    const last = datao + datal === len;
    const flags = last ? PduFlag.LAST_PDU | (success ? PduFlag.SUCCESS : 0) : 0;
    w.send(encodeDataHeader(PduType.C2HData, { cccid, datao, datal, flags }, dg, hpda));
    let need = datal;
    let crc = 0;
    while (need > 0) {
      const b = bufs[bi];
      const n = Math.min(need, b.length - bo);
      const piece = bo === 0 && n === b.length ? b : b.subarray(bo, bo + n);
      if (ddgst) crc = crc32cUpdate(crc, piece);
      w.send(piece);
      need -= n;
      bo += n;
      if (bo === b.length) {
        bi++;
        bo = 0;
      }
    }
    if (ddgst) w.send(encodeDdgst(crc));
    datao += datal;
  }
}
