// PDU header codec: decodeHeader() reads a complete header (CH + PSH); one in-place
// writer per PDU type writes one, and the send paths (host, target) use those writers.
// Payload is never copied here: the caller sends [header, data, DDGST] as separate parts.
//
// Layouts (NVMe/TCP transport specification 1.0, §3.6.2.1–§3.6.2.10):
//   CH      : type u8 @0 | flags u8 @1 | hlen u8 @2 | pdo u8 @3 | plen u32 @4
//   ICReq   : pfv u16 @8 | hpda u8 @10 | dgst u8 @11 | maxr2t u32 @12 | rsvd[112]
//   ICResp  : pfv u16 @8 | cpda u8 @10 | dgst u8 @11 | maxh2cdata u32 @12 | rsvd[112]
//   TermReq : fes u16 @8 | fei u32 @10 | rsvd[10] | data (copy of the bad header, ≤128)
//   Capsule : SQE[64] @8 (CapsuleCmd) / CQE[16] @8 (CapsuleResp)
//   Data    : cccid u16 @8 | ttag u16 @10 | datao u32 @12 | datal u32 @16 | rsvd u32 @20
//   R2T     : cccid u16 @8 | ttag u16 @10 | r2to u32 @12 | r2tl u32 @16 | rsvd u32 @20
import { CQE_LEN, DIGEST_LEN, HLEN, IC_PLEN, OFF, PduFlag, PduType, SQE_LEN, TERM_REQ_MAX_DATA } from './constants.ts';
import { crc32c } from './crc32c.ts';
import { writeCqe } from './sqe.ts';

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
  /** A 64-byte copy of the SQE (one buffer for every command with ReceiverOptions.reusePdus). */
  sqe: Buffer;
}
export interface CapsuleResp extends Ch {
  type: typeof PduType.CapsuleResp;
  /** A 16-byte copy of the CQE (one buffer for every command with ReceiverOptions.reusePdus). */
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
    type: buf[off + OFF.TYPE]!,
    flags: buf[off + OFF.FLAGS]!,
    hlen: buf[off + OFF.HLEN]!,
    pdo: buf[off + OFF.PDO]!,
    plen: buf.readUInt32LE(off + OFF.PLEN),
  };
}

/**
 * Decodes a full header at buf[off] whose CH was already validated (type known,
 * hlen matches). TermReq `data` is filled in by the caller (it follows the header).
 * One object per PDU: the CH fields are read into locals, not into a temporary Ch.
 */
export function decodeHeader(buf: Buffer, off = 0): Pdu {
  const type = buf[off + OFF.TYPE]!;
  const flags = buf[off + OFF.FLAGS]!;
  const hlen = buf[off + OFF.HLEN]!;
  const pdo = buf[off + OFF.PDO]!;
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
        hpda: buf[off + OFF.HPDA]!,
        dgst: buf[off + OFF.DGST]!,
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
        cpda: buf[off + OFF.CPDA]!,
        dgst: buf[off + OFF.DGST]!,
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
    case PduType.CapsuleCmd:
    case PduType.CapsuleResp:
      return decodeInto(buf, off, newReusable(type));
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

/** PDUs a receiver may decode into one reused object (decodeInto). */
export type ReusablePdu = CapsuleCmd | CapsuleResp | DataPdu;

/** An object (with its own SQE or CQE buffer) for decodeInto to fill with PDUs of `type`. */
export function newReusable(type: ReusablePdu['type']): ReusablePdu {
  const ch = { flags: 0, hlen: 0, pdo: 0, plen: 0 };
  switch (type) {
    case PduType.CapsuleCmd:
      return { ...ch, type, sqe: Buffer.allocUnsafe(SQE_LEN) };
    case PduType.CapsuleResp:
      return { ...ch, type, cqe: Buffer.allocUnsafe(CQE_LEN) };
    default:
      return { ...ch, type, cccid: 0, ttag: 0, datao: 0, datal: 0 };
  }
}

/**
 * Decodes the header at buf[off] (CH validated, of the type of `into`) into `into`,
 * copying an SQE or CQE into its buffer: a receiver reuses one object per type instead
 * of allocating an object (and a buffer) per command or data PDU.
 */
export function decodeInto(buf: Buffer, off: number, into: ReusablePdu): ReusablePdu {
  into.flags = buf[off + OFF.FLAGS]!;
  into.hlen = buf[off + OFF.HLEN]!;
  into.pdo = buf[off + OFF.PDO]!;
  into.plen = buf.readUInt32LE(off + OFF.PLEN);
  switch (into.type) {
    case PduType.CapsuleCmd:
      // Buffer#copy makes a typed-array view of the source (it starts at an offset), still
      // cheaper for 64 bytes than a loop or word-by-word reads (measured: the loop costs more CPU).
      buf.copy(into.sqe, 0, off + OFF.SQE, off + OFF.SQE + SQE_LEN);
      break;
    case PduType.CapsuleResp:
      for (let i = 0; i < CQE_LEN; i++) into.cqe[i] = buf[off + OFF.CQE + i]!; // 16 bytes: a loop beats Buffer#copy's view
      break;
    default:
      into.cccid = buf.readUInt16LE(off + OFF.CCCID);
      into.ttag = buf.readUInt16LE(off + OFF.TTAG);
      into.datao = buf.readUInt32LE(off + OFF.DATAO);
      into.datal = buf.readUInt32LE(off + OFF.DATAL);
  }
  return into;
}

/** A TermReq without error data shares this (a zero-length buffer cannot be written). */
const EMPTY = Buffer.alloc(0);

// ---------------------------------------------------------------- writing
//
// One in-place writer per PDU type: it writes the header, its digest and pad (and a
// TermReq's error data) into `b` at `at` and returns the end offset. It writes every
// byte of that range (reserved fields and pad are zeroed): the send path writes into a
// reused arena. Payload is never copied: the caller sends the data and then its DDGST
// (writeDdgst) as parts of their own. Field names and offsets: OFF; lengths: HLEN.

const IC_HLEN = HLEN[PduType.ICReq]!;
const TERM_HLEN = HLEN[PduType.H2CTermReq]!;
const CMD_HLEN = HLEN[PduType.CapsuleCmd]!;
const RESP_HLEN = HLEN[PduType.CapsuleResp]!;
const DATA_HLEN = HLEN[PduType.H2CData]!;
const R2T_HLEN = HLEN[PduType.R2T]!;
/** End of the ICReq/ICResp fields: rsvd[112] follows. */
const IC_RSVD = OFF.MAXR2T + 4;
/** End of the TermReq fields: rsvd[10] follows. */
const TERM_RSVD = OFF.FEI + 4;
/** The rsvd u32 of H2CData, C2HData and R2T. */
const DATA_RSVD = OFF.DATAL + 4;

/** PDO for a PDU with data: header (+digest) rounded up to the receiver's PDA. */
export function dataPdo(hlen: number, hdgst: boolean, pda: number): number {
  const h = hlen + (hdgst ? DIGEST_LEN : 0);
  const align = (pda + 1) * 4;
  // PDA 0 (4-byte alignment) never pads: every header length is a multiple of 4.
  return Math.ceil(h / align) * align;
}

/** Common header, NVMe/TCP 1.0 §3.6.2.1: type u8 @0 | flags u8 @1 | hlen u8 @2 | pdo u8 @3 | plen u32 @4. */
function writeCh(b: Buffer, at: number, type: number, flags: number, hlen: number, pdo: number, plen: number): void {
  b[at + OFF.TYPE] = type;
  b[at + OFF.FLAGS] = flags;
  b[at + OFF.HLEN] = hlen;
  b[at + OFF.PDO] = pdo;
  b.writeUInt32LE(plen, at + OFF.PLEN);
}

/** CH of a PDU without data (CapsuleResp, R2T): PDO 0, PLEN = HLEN + HDGST. Returns the end offset. */
function writeChNoData(b: Buffer, at: number, type: number, hlen: number, hdgst: boolean): number {
  const plen = hlen + (hdgst ? DIGEST_LEN : 0);
  writeCh(b, at, type, hdgst ? PduFlag.HDGSTF : 0, hlen, 0, plen);
  return at + plen;
}

/**
 * HDGST (NVMe/TCP 1.0 §3.3.1.1: CRC32C of the HLEN header bytes, little-endian, at
 * HLEN) when `hdgst`, then zero pad up to `end`, which it returns.
 */
function sealHeader(b: Buffer, at: number, hlen: number, hdgst: boolean, end: number): number {
  let p = at + hlen;
  if (hdgst) {
    b.writeUInt32LE(crc32c(b, at, p), p);
    p += DIGEST_LEN;
  }
  for (; p < end; p++) b[p] = 0;
  return end;
}

/** ICReq and ICResp share a layout: PFV, a PDA byte, DGST, then a u32 (MAXR2T / MAXH2CDATA). */
function writeIc(b: Buffer, at: number, type: number, pfv: number, pda: number, dgst: number, word: number): number {
  writeCh(b, at, type, 0, IC_HLEN, 0, IC_PLEN);
  b.writeUInt16LE(pfv, at + OFF.PFV);
  b[at + OFF.HPDA] = pda;
  b[at + OFF.DGST] = dgst;
  b.writeUInt32LE(word >>> 0, at + OFF.MAXR2T);
  b.fill(0, at + IC_RSVD, at + IC_PLEN);
  return at + IC_PLEN;
}

/**
 * ICReq, NVMe/TCP 1.0 §3.6.2.2 (128 bytes, never digested):
 *   CH type 00h flags 0 hlen 128 pdo 0 plen 128 | pfv u16 @8 | hpda u8 @10 |
 *   dgst u8 @11 (HDGST_ENABLE bit 0, DDGST_ENABLE bit 1) | maxr2t u32 @12 (0's based) | rsvd[112] @16
 */
export function writeIcReq(b: Buffer, at: number, pfv: number, hpda: number, dgst: number, maxr2t: number): number {
  return writeIc(b, at, PduType.ICReq, pfv, hpda, dgst, maxr2t);
}

/**
 * ICResp, NVMe/TCP 1.0 §3.6.2.3 (128 bytes, never digested):
 *   CH type 01h flags 0 hlen 128 pdo 0 plen 128 | pfv u16 @8 | cpda u8 @10 |
 *   dgst u8 @11 (the digests in use) | maxh2cdata u32 @12 | rsvd[112] @16
 */
export function writeIcResp(b: Buffer, at: number, pfv: number, cpda: number, dgst: number, maxh2cdata: number): number {
  return writeIc(b, at, PduType.ICResp, pfv, cpda, dgst, maxh2cdata);
}

/** Wire length of a TermReq carrying (the first 128 bytes of) `dataLen` bytes of error data. */
export function termReqLen(dataLen: number): number {
  return TERM_HLEN + Math.min(dataLen, TERM_REQ_MAX_DATA);
}

/**
 * H2CTermReq / C2HTermReq, NVMe/TCP 1.0 §3.6.2.4 / §3.6.2.5 (never digested):
 *   CH type 02h/03h flags 0 hlen 24 pdo 24 (0 without data) plen 24+n | fes u16 @8 |
 *   fei u32 @10 | rsvd[10] @14 | data @24: the first n = min(length, 128) bytes of `data`
 *   (the offending PDU header).
 */
export function writeTermReq(
  b: Buffer,
  at: number,
  type: typeof PduType.H2CTermReq | typeof PduType.C2HTermReq,
  fes: number,
  fei: number,
  data: Uint8Array,
): number {
  const n = Math.min(data.length, TERM_REQ_MAX_DATA);
  writeCh(b, at, type, 0, TERM_HLEN, n > 0 ? TERM_HLEN : 0, TERM_HLEN + n);
  b.writeUInt16LE(fes, at + OFF.FES);
  b.writeUInt32LE(fei >>> 0, at + OFF.FEI);
  b.fill(0, at + TERM_RSVD, at + TERM_HLEN);
  if (n > 0) b.set(n === data.length ? data : data.subarray(0, n), at + TERM_HLEN);
  return at + TERM_HLEN + n;
}

/**
 * CapsuleCmd, NVMe/TCP 1.0 §3.6.2.6:
 *   CH type 04h | flags HDGSTF (hdgst), DDGSTF (ddgst, only with in-capsule data) | hlen 72 |
 *   pdo (0 without in-capsule data) | plen = pdo + icdLen + DDGST, or 72 + HDGST without data |
 *   SQE[64] @8 | HDGST @72 | pad up to pdo. In-capsule data and its DDGST follow (caller).
 * `pdo` = dataPdo(72, hdgst, cpda); unused when `icdLen` is 0. Ends at `at + pdo` with
 * in-capsule data, at `at + 72 + HDGST` without.
 */
export function writeCapsuleCmd(b: Buffer, at: number, sqe: Buffer, icdLen: number, pdo: number, hdgst: boolean, ddgst: boolean): number {
  const hd = hdgst ? DIGEST_LEN : 0;
  let flags = hdgst ? PduFlag.HDGSTF : 0;
  let plen = CMD_HLEN + hd;
  if (icdLen > 0) {
    if (ddgst) flags |= PduFlag.DDGSTF;
    plen = pdo + icdLen + (ddgst ? DIGEST_LEN : 0);
  } else {
    pdo = 0;
  }
  writeCh(b, at, PduType.CapsuleCmd, flags, CMD_HLEN, pdo, plen);
  const n = sqe.copy(b, at + OFF.SQE, 0, SQE_LEN);
  if (n < SQE_LEN) b.fill(0, at + OFF.SQE + n, at + CMD_HLEN);
  return sealHeader(b, at, CMD_HLEN, hdgst, pdo > 0 ? at + pdo : at + CMD_HLEN + hd);
}

/**
 * CapsuleResp, NVMe/TCP 1.0 §3.6.2.7:
 *   CH type 05h flags HDGSTF (hdgst) hlen 24 pdo 0 plen 24 + HDGST | CQE[16] @8 | HDGST @24
 *   CQE: dw0 u32 @8 | dw1 u32 @12 | sqhd u16 @16 | sqid u16 @18 | cid u16 @20 | status u16 @22
 * `status` in the Linux form (makeStatus: the wire field shifted right by the phase bit).
 */
export function writeCapsuleResp(
  b: Buffer,
  at: number,
  cid: number,
  status: number,
  dw0: number,
  dw1: number,
  sqhd: number,
  sqid: number,
  hdgst: boolean,
): number {
  const end = writeChNoData(b, at, PduType.CapsuleResp, RESP_HLEN, hdgst);
  writeCqe(b, at + OFF.CQE, cid, status, dw0, dw1, sqhd, sqid);
  return sealHeader(b, at, RESP_HLEN, hdgst, end);
}

/**
 * H2CData / C2HData, NVMe/TCP 1.0 §3.6.2.8 / §3.6.2.9:
 *   CH type 06h/07h | flags `flags` (LAST_PDU, SUCCESS for C2HData) | HDGSTF | DDGSTF |
 *   hlen 24 | pdo | plen = pdo + datal + DDGST |
 *   cccid u16 @8 | ttag u16 @10 (H2CData; rsvd, 0, in C2HData) | datao u32 @12 | datal u32 @16 |
 *   rsvd u32 @20 | HDGST @24 | pad up to pdo. The datal data bytes and their DDGST follow (caller).
 * `pdo` = dataPdo(24, hdgst, pda of the receiver). Ends at `at + pdo`.
 */
export function writeDataHeader(
  b: Buffer,
  at: number,
  type: typeof PduType.H2CData | typeof PduType.C2HData,
  cccid: number,
  ttag: number,
  datao: number,
  datal: number,
  flags: number,
  pdo: number,
  hdgst: boolean,
  ddgst: boolean,
): number {
  const f = flags | (hdgst ? PduFlag.HDGSTF : 0) | (ddgst ? PduFlag.DDGSTF : 0);
  writeCh(b, at, type, f, DATA_HLEN, pdo, pdo + datal + (ddgst ? DIGEST_LEN : 0));
  b.writeUInt16LE(cccid, at + OFF.CCCID);
  b.writeUInt16LE(ttag, at + OFF.TTAG);
  b.writeUInt32LE(datao, at + OFF.DATAO);
  b.writeUInt32LE(datal, at + OFF.DATAL);
  b.writeUInt32LE(0, at + DATA_RSVD);
  return sealHeader(b, at, DATA_HLEN, hdgst, at + pdo);
}

/**
 * R2T, NVMe/TCP 1.0 §3.6.2.10:
 *   CH type 09h flags HDGSTF (hdgst) hlen 24 pdo 0 plen 24 + HDGST |
 *   cccid u16 @8 | ttag u16 @10 | r2to u32 @12 | r2tl u32 @16 | rsvd u32 @20 | HDGST @24
 */
export function writeR2t(b: Buffer, at: number, cccid: number, ttag: number, r2to: number, r2tl: number, hdgst: boolean): number {
  const end = writeChNoData(b, at, PduType.R2T, R2T_HLEN, hdgst);
  b.writeUInt16LE(cccid, at + OFF.CCCID);
  b.writeUInt16LE(ttag, at + OFF.TTAG);
  b.writeUInt32LE(r2to, at + OFF.R2TO);
  b.writeUInt32LE(r2tl, at + OFF.R2TL);
  b.writeUInt32LE(0, at + DATA_RSVD);
  return sealHeader(b, at, R2T_HLEN, hdgst, end);
}

/**
 * DDGST, NVMe/TCP 1.0 §3.3.1.1: the CRC32C of one PDU's data bytes (not its header,
 * HDGST or pad), little-endian, right after the data.
 */
export function writeDdgst(b: Buffer, at: number, crc: number): number {
  b.writeUInt32LE(crc >>> 0, at);
  return at + DIGEST_LEN;
}

// ---------------------------------------------------------------- allocating forms
// For the PDUs sent once per connection or on an error path: a Buffer of their own,
// filled by the writer above (which writes every byte, hence allocUnsafe).

export function encodeIcReq(f: { pfv?: number; hpda?: number; dgst?: number; maxr2t?: number }): Buffer {
  const b = Buffer.allocUnsafe(IC_PLEN);
  writeIcReq(b, 0, f.pfv ?? 0, f.hpda ?? 0, f.dgst ?? 0, f.maxr2t ?? 0);
  return b;
}

export function encodeIcResp(f: { pfv?: number; cpda?: number; dgst?: number; maxh2cdata: number }): Buffer {
  const b = Buffer.allocUnsafe(IC_PLEN);
  writeIcResp(b, 0, f.pfv ?? 0, f.cpda ?? 0, f.dgst ?? 0, f.maxh2cdata);
  return b;
}

/** TermReq with a copy of (at most 128 bytes of) the offending header. */
export function encodeTermReq(
  type: typeof PduType.H2CTermReq | typeof PduType.C2HTermReq,
  fes: number,
  fei: number,
  badHeader: Uint8Array = EMPTY,
): Buffer {
  const b = Buffer.allocUnsafe(termReqLen(badHeader.length));
  writeTermReq(b, 0, type, fes, fei, badHeader);
  return b;
}
