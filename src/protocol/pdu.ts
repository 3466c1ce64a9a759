// PDU header codec: decode a complete header (CH + PSH) and encode headers.
// Payload is never copied here: encoders return the header (with its digest and
// pad) and the caller sends [header, data, ddgst] as separate buffers.
//
// Layouts (NVMe/TCP Transport Specification 1.0, PDU definitions; Linux
// include/linux/nvme-tcp.h, SPDK include/spdk/nvmf_spec.h):
//   CH      : type u8 @0 | flags u8 @1 | hlen u8 @2 | pdo u8 @3 | plen u32 @4
//   ICReq   : pfv u16 @8 | hpda u8 @10 | dgst u8 @11 | maxr2t u32 @12 | rsvd[112]
//   ICResp  : pfv u16 @8 | cpda u8 @10 | dgst u8 @11 | maxh2cdata u32 @12 | rsvd[112]
//   TermReq : fes u16 @8 | fei u32 @10 | rsvd[10] | data (copy of the bad header, ≤128)
//   Capsule : SQE[64] @8 (CapsuleCmd) / CQE[16] @8 (CapsuleResp)
//   Data    : cccid u16 @8 | ttag u16 @10 | datao u32 @12 | datal u32 @16 | rsvd u32 @20
//   R2T     : cccid u16 @8 | ttag u16 @10 | r2to u32 @12 | r2tl u32 @16 | rsvd u32 @20
import {
  CH_LEN,
  CQE_LEN,
  DIGEST_LEN,
  HLEN,
  IC_PLEN,
  OFF,
  PduFlag,
  PduType,
  SQE_LEN,
  TERM_REQ_MAX_DATA,
} from './constants.ts';
import { crc32c } from './crc32c.ts';

export interface Ch {
  type: number;
  flags: number;
  hlen: number;
  pdo: number;
  plen: number;
}

export interface IcReq extends Ch {
  type: typeof PduType.ICReq;
  pfv: number;
  hpda: number;
  dgst: number;
  maxr2t: number;
}
export interface IcResp extends Ch {
  type: typeof PduType.ICResp;
  pfv: number;
  cpda: number;
  dgst: number;
  maxh2cdata: number;
}
export interface TermReq extends Ch {
  type: typeof PduType.H2CTermReq | typeof PduType.C2HTermReq;
  fes: number;
  fei: number;
  /** Copy of the offending PDU header (up to 128 bytes). */
  data: Buffer;
}
export interface CapsuleCmd extends Ch {
  type: typeof PduType.CapsuleCmd;
  /** A private 64-byte copy of the SQE. */
  sqe: Buffer;
}
export interface CapsuleResp extends Ch {
  type: typeof PduType.CapsuleResp;
  /** A private 16-byte copy of the CQE. */
  cqe: Buffer;
}
export interface DataPdu extends Ch {
  type: typeof PduType.H2CData | typeof PduType.C2HData;
  cccid: number;
  ttag: number;
  datao: number;
  datal: number;
}
export interface R2t extends Ch {
  type: typeof PduType.R2T;
  cccid: number;
  ttag: number;
  r2to: number;
  r2tl: number;
}
export type Pdu = IcReq | IcResp | TermReq | CapsuleCmd | CapsuleResp | DataPdu | R2t;

export function readCh(buf: Buffer, off = 0): Ch {
  return {
    type: buf[off + OFF.TYPE],
    flags: buf[off + OFF.FLAGS],
    hlen: buf[off + OFF.HLEN],
    pdo: buf[off + OFF.PDO],
    plen: buf.readUInt32LE(off + OFF.PLEN),
  };
}

/**
 * Decodes a full header at buf[off] whose CH was already validated (type known,
 * hlen matches). TermReq `data` is filled in by the caller (it follows the header).
 * One object per PDU: the CH fields are read into locals, not into a temporary Ch.
 */
export function decodeHeader(buf: Buffer, off = 0): Pdu {
  const type = buf[off + OFF.TYPE];
  const flags = buf[off + OFF.FLAGS];
  const hlen = buf[off + OFF.HLEN];
  const pdo = buf[off + OFF.PDO];
  const plen = buf.readUInt32LE(off + OFF.PLEN);
  switch (type) {
    case PduType.ICReq:
      return {
        type,
        flags,
        hlen,
        pdo,
        plen,
        pfv: buf.readUInt16LE(off + OFF.PFV),
        hpda: buf[off + OFF.HPDA],
        dgst: buf[off + OFF.DGST],
        maxr2t: buf.readUInt32LE(off + OFF.MAXR2T),
      };
    case PduType.ICResp:
      return {
        type,
        flags,
        hlen,
        pdo,
        plen,
        pfv: buf.readUInt16LE(off + OFF.PFV),
        cpda: buf[off + OFF.CPDA],
        dgst: buf[off + OFF.DGST],
        maxh2cdata: buf.readUInt32LE(off + OFF.MAXH2CDATA),
      };
    case PduType.H2CTermReq:
    case PduType.C2HTermReq:
      return {
        type,
        flags,
        hlen,
        pdo,
        plen,
        fes: buf.readUInt16LE(off + OFF.FES),
        fei: buf.readUInt32LE(off + OFF.FEI),
        data: EMPTY,
      };
    case PduType.CapsuleCmd: {
      const sqe = Buffer.allocUnsafe(SQE_LEN);
      buf.copy(sqe, 0, off + OFF.SQE, off + OFF.SQE + SQE_LEN);
      return { type, flags, hlen, pdo, plen, sqe };
    }
    case PduType.CapsuleResp: {
      const cqe = Buffer.allocUnsafe(CQE_LEN);
      for (let i = 0; i < CQE_LEN; i++) cqe[i] = buf[off + OFF.CQE + i]; // 16 bytes: a loop beats Buffer#copy's view
      return { type, flags, hlen, pdo, plen, cqe };
    }
    case PduType.H2CData:
    case PduType.C2HData:
      return {
        type,
        flags,
        hlen,
        pdo,
        plen,
        cccid: buf.readUInt16LE(off + OFF.CCCID),
        ttag: buf.readUInt16LE(off + OFF.TTAG),
        datao: buf.readUInt32LE(off + OFF.DATAO),
        datal: buf.readUInt32LE(off + OFF.DATAL),
      };
    case PduType.R2T:
      return {
        type,
        flags,
        hlen,
        pdo,
        plen,
        cccid: buf.readUInt16LE(off + OFF.CCCID),
        ttag: buf.readUInt16LE(off + OFF.TTAG),
        r2to: buf.readUInt32LE(off + OFF.R2TO),
        r2tl: buf.readUInt32LE(off + OFF.R2TL),
      };
    default:
      throw new RangeError(`decodeHeader: unknown PDU type 0x${type.toString(16)}`);
  }
}

/** A TermReq without error data shares this (a zero-length buffer cannot be written). */
const EMPTY = Buffer.alloc(0);

// ---------------------------------------------------------------- encoding

/** PDO for a PDU with data: header (+digest) rounded up to the peer's PDA. */
export function dataPdo(hlen: number, hdgst: boolean, pda: number): number {
  const h = hlen + (hdgst ? DIGEST_LEN : 0);
  const align = (pda + 1) * 4;
  // PDA 0 (4-byte alignment) never pads: every header length is a multiple of 4.
  return Math.ceil(h / align) * align;
}

function writeCh(b: Buffer, type: number, flags: number, hlen: number, pdo: number, plen: number): void {
  b[0] = type;
  b[1] = flags;
  b[2] = hlen;
  b[3] = pdo;
  b.writeUInt32LE(plen, 4);
}

function sealHeader(b: Buffer, hlen: number, hdgst: boolean): void {
  if (hdgst) b.writeUInt32LE(crc32c(b, 0, hlen), hlen);
}

export function encodeIcReq(f: { pfv?: number; hpda?: number; dgst?: number; maxr2t?: number }): Buffer {
  const b = Buffer.alloc(IC_PLEN);
  writeCh(b, PduType.ICReq, 0, IC_PLEN, 0, IC_PLEN);
  b.writeUInt16LE(f.pfv ?? 0, OFF.PFV);
  b[OFF.HPDA] = f.hpda ?? 0;
  b[OFF.DGST] = f.dgst ?? 0;
  b.writeUInt32LE(f.maxr2t ?? 0, OFF.MAXR2T);
  return b;
}

export function encodeIcResp(f: { pfv?: number; cpda?: number; dgst?: number; maxh2cdata: number }): Buffer {
  const b = Buffer.alloc(IC_PLEN);
  writeCh(b, PduType.ICResp, 0, IC_PLEN, 0, IC_PLEN);
  b.writeUInt16LE(f.pfv ?? 0, OFF.PFV);
  b[OFF.CPDA] = f.cpda ?? 0;
  b[OFF.DGST] = f.dgst ?? 0;
  b.writeUInt32LE(f.maxh2cdata, OFF.MAXH2CDATA);
  return b;
}

/** TermReq with a copy of (at most 128 bytes of) the offending header. No digests, ever. */
export function encodeTermReq(
  type: typeof PduType.H2CTermReq | typeof PduType.C2HTermReq,
  fes: number,
  fei: number,
  badHeader: Uint8Array = Buffer.alloc(0),
): Buffer {
  const n = Math.min(badHeader.length, TERM_REQ_MAX_DATA);
  const b = Buffer.alloc(24 + n);
  writeCh(b, type, 0, 24, n > 0 ? 24 : 0, 24 + n);
  b.writeUInt16LE(fes, OFF.FES);
  b.writeUInt32LE(fei >>> 0, OFF.FEI);
  if (n > 0) b.set(badHeader.subarray(0, n), 24);
  return b;
}

export interface DigestOpts {
  hdgst: boolean;
  ddgst: boolean;
}

/**
 * CapsuleCmd header (+HDGST, +pad) for an SQE and `icdLen` bytes of in-capsule data.
 * The caller sends the data and, when ddgst is on and icdLen > 0, its digest.
 */
export function encodeCapsuleCmd(sqe: Uint8Array, icdLen: number, d: DigestOpts, cpda = 0): Buffer {
  const hlen = HLEN[PduType.CapsuleCmd];
  const hd = d.hdgst ? DIGEST_LEN : 0;
  const pdo = icdLen > 0 ? dataPdo(hlen, d.hdgst, cpda) : 0;
  const dd = icdLen > 0 && d.ddgst ? DIGEST_LEN : 0;
  const plen = icdLen > 0 ? pdo + icdLen + dd : hlen + hd;
  const flags = (d.hdgst ? PduFlag.HDGSTF : 0) | (dd ? PduFlag.DDGSTF : 0);
  const b = Buffer.alloc(icdLen > 0 ? pdo : hlen + hd);
  writeCh(b, PduType.CapsuleCmd, flags, hlen, pdo, plen);
  b.set(sqe.subarray(0, SQE_LEN), OFF.SQE);
  sealHeader(b, hlen, d.hdgst);
  return b;
}

export function encodeCapsuleResp(cqe: Uint8Array, hdgst: boolean): Buffer {
  const hlen = HLEN[PduType.CapsuleResp];
  // Zero-filled: a CQE shorter than 16 bytes must not put stale pool memory on the wire.
  const b = Buffer.alloc(hlen + (hdgst ? DIGEST_LEN : 0));
  writeCh(b, PduType.CapsuleResp, hdgst ? PduFlag.HDGSTF : 0, hlen, 0, b.length);
  b.set(cqe.subarray(0, CQE_LEN), OFF.CQE);
  sealHeader(b, hlen, hdgst);
  return b;
}

/**
 * H2CData / C2HData header (+HDGST, +pad to the receiver's PDA). `extraFlags` may add
 * LAST_PDU and SUCCESS. The caller sends `datal` data bytes and then the DDGST if on.
 */
export function encodeDataHeader(
  type: typeof PduType.H2CData | typeof PduType.C2HData,
  f: { cccid: number; ttag?: number; datao: number; datal: number; flags?: number },
  d: DigestOpts,
  pda = 0,
): Buffer {
  const hlen = 24;
  const pdo = dataPdo(hlen, d.hdgst, pda);
  const dd = d.ddgst ? DIGEST_LEN : 0;
  const flags = (f.flags ?? 0) | (d.hdgst ? PduFlag.HDGSTF : 0) | (dd ? PduFlag.DDGSTF : 0);
  const b = Buffer.alloc(pdo);
  writeCh(b, type, flags, hlen, pdo, pdo + f.datal + dd);
  b.writeUInt16LE(f.cccid, OFF.CCCID);
  b.writeUInt16LE(f.ttag ?? 0, OFF.TTAG);
  b.writeUInt32LE(f.datao, OFF.DATAO);
  b.writeUInt32LE(f.datal, OFF.DATAL);
  sealHeader(b, hlen, d.hdgst);
  return b;
}

export function encodeR2t(f: { cccid: number; ttag: number; r2to: number; r2tl: number }, hdgst: boolean): Buffer {
  const hlen = 24;
  const b = Buffer.alloc(hlen + (hdgst ? DIGEST_LEN : 0));
  writeCh(b, PduType.R2T, hdgst ? PduFlag.HDGSTF : 0, hlen, 0, b.length);
  b.writeUInt16LE(f.cccid, OFF.CCCID);
  b.writeUInt16LE(f.ttag, OFF.TTAG);
  b.writeUInt32LE(f.r2to, OFF.R2TO);
  b.writeUInt32LE(f.r2tl, OFF.R2TL);
  sealHeader(b, hlen, hdgst);
  return b;
}

/** The 4-byte DDGST trailer for a data buffer (or several pieces of one PDU). */
export function encodeDdgst(crc: number): Buffer {
  const b = Buffer.allocUnsafe(DIGEST_LEN);
  b.writeUInt32LE(crc >>> 0, 0);
  return b;
}

export { CH_LEN };
