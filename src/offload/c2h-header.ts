// The NIC's view of a host-bound PDU header: after the IC exchange a host only
// receives CapsuleResp, C2HData, R2T and C2HTermReq, all with HLEN 24. The packet
// device uses one strict check both while in sync (a header that fails it means
// the device is not where it thinks) and when searching a segment for a PDU start
// after losing sync (the header "magic pattern" the series' resync design searches
// for; docs/ARCHITECTURE.md, Offload engine).
//
//   CH      : type u8 @0 | flags u8 @1 | hlen u8 @2 | pdo u8 @3 | plen u32 @4
//   C2HData : cccid u16 @8 | rsvd u16 @10 | datao u32 @12 | datal u32 @16 | rsvd u32 @20
//   R2T     : cccid u16 @8 | ttag u16 @10 | r2to u32 @12 | r2tl u32 @16 | rsvd u32 @20
import { DIGEST_LEN, OFF, PDO_MAX, PduFlag, PduType, TERM_REQ_MAX_PLEN } from '../protocol/constants.ts';
import { crc32c } from '../protocol/crc32c.ts';

export const C2H_HLEN = 24;

export interface FlowDigests {
  hdgst: boolean;
  ddgst: boolean;
}

/** Header bytes (HDGST included) of a PDU of this type. */
export function headerLen(type: number, d: FlowDigests): number {
  return C2H_HLEN + (d.hdgst && type !== PduType.C2HTermReq ? DIGEST_LEN : 0);
}

const DATA_FLAGS = PduFlag.HDGSTF | PduFlag.DDGSTF | PduFlag.LAST_PDU | PduFlag.SUCCESS;

/**
 * Checks the header at buf[off, off + headerLen(type)) — all of it must be there —
 * and returns its PLEN, or -1 when no host would accept it. `strict` (searching for
 * a PDU start in payload bytes) also wants the reserved fields zero, as Linux and
 * SPDK targets send them.
 */
export function checkC2hHeader(buf: Uint8Array, off: number, d: FlowDigests, strict: boolean): number {
  const type = buf[off + OFF.TYPE];
  const flags = buf[off + OFF.FLAGS];
  const pdo = buf[off + OFF.PDO];
  if (buf[off + OFF.HLEN] !== C2H_HLEN) return -1;
  const v = new DataView(buf.buffer, buf.byteOffset + off, C2H_HLEN);
  const plen = v.getUint32(OFF.PLEN, true);
  const hd = d.hdgst ? DIGEST_LEN : 0;
  const hdgstf = d.hdgst ? PduFlag.HDGSTF : 0;
  switch (type) {
    case PduType.CapsuleResp:
    case PduType.R2T:
      if (flags !== hdgstf || pdo !== 0 || plen !== C2H_HLEN + hd) return -1;
      if (type === PduType.R2T && (v.getUint32(OFF.R2TL, true) === 0 || (strict && v.getUint32(20, true) !== 0))) return -1;
      break;
    case PduType.C2HData: {
      const dd = d.ddgst ? DIGEST_LEN : 0;
      if ((flags & ~DATA_FLAGS) !== 0 || (flags & PduFlag.HDGSTF) !== hdgstf) return -1;
      if ((flags & PduFlag.DDGSTF) !== (d.ddgst ? PduFlag.DDGSTF : 0)) return -1;
      if ((flags & PduFlag.SUCCESS) !== 0 && (flags & PduFlag.LAST_PDU) === 0) return -1;
      if (pdo < C2H_HLEN + hd || pdo > PDO_MAX || pdo % 4 !== 0) return -1;
      const datal = v.getUint32(OFF.DATAL, true);
      if (datal === 0 || plen !== pdo + datal + dd) return -1;
      if (strict && (v.getUint16(OFF.TTAG, true) !== 0 || v.getUint32(20, true) !== 0)) return -1;
      break;
    }
    case PduType.C2HTermReq:
      // No header digest on TermReq, ever.
      return flags === 0 && plen >= C2H_HLEN && plen <= TERM_REQ_MAX_PLEN ? plen : -1;
    default:
      return -1;
  }
  if (hd > 0 && crc32c(buf, off, off + C2H_HLEN) !== new DataView(buf.buffer, buf.byteOffset + off + C2H_HLEN, 4).getUint32(0, true)) {
    return -1;
  }
  return plen;
}
