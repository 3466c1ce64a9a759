// Admin and NVM I/O command SQE builders and parsers (64-byte SQE, PSDT = SGL; the common
// layout is in sqe.ts). All fields are JS numbers; 64-bit fields are safe integers when
// built. Layouts: NVMe Base Specification 2.0 (Identify, Get Log Page, Get/Set Features)
// and NVM Command Set Specification 1.0 (Read/Write, Dataset Management), as Linux
// declares them in include/linux/nvme.h (nvme_identify, nvme_get_log_page_command,
// nvme_features, nvme_rw_command, nvme_dsm_cmd).
import { AdminOpc, IoOpc, SQE_FLAGS_SGL, SQE_LEN, SglType } from './constants.ts';
import { InvalidArgumentError } from './errors.ts';
import { checkLen, checkUint } from './fields.ts';
import { IDENTIFY_LEN } from './identify.ts';
import { buildSqe, SqeOff, sqeCdw, sqeNsid, sqeSlba } from './sqe.ts';

const cid16 = (cid: number): number => checkUint('cid', cid, 16);
const nsid32 = (nsid: number | undefined): number => checkUint('nsid', nsid ?? 0, 32);

function checkSqe(sqe: Buffer, what: string): void {
  checkLen(what, sqe, SQE_LEN);
}

/** A u64 field from a peer, as a number: above 2^53 it loses precision but stays huge. */
function readU64Loose(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x1_0000_0000;
}

function splitU64(v: number, what: string): [lo: number, hi: number] {
  checkUint(what, v, 53);
  return [v % 0x1_0000_0000, Math.floor(v / 0x1_0000_0000)];
}

// ---------------------------------------------------------------------------
// Identify (0x06): SGL 0x5A, length 4096
//   CDW10 @40: CNS 7:0 | CNTID 31:16      CDW11 @44: CNSSID 15:0 | CSI 31:24 (byte 47)
//   NSID @4 (CNS 0x00/0x03/0x05/0x08: the namespace; CNS 0x02: list NSIDs above it)
// ---------------------------------------------------------------------------

export interface IdentifySqe {
  cns: number;
  nsid: number;
  cntid: number;
  csi: number;
}

export function buildIdentifySqe(f: { cid: number; cns: number; nsid?: number; cntid?: number; csi?: number }): Buffer {
  return buildSqe({
    opc: AdminOpc.Identify,
    cid: cid16(f.cid),
    nsid: nsid32(f.nsid),
    sglType: SglType.TransportDataBlock,
    sglLen: IDENTIFY_LEN,
    cdw10: checkUint('identify cns', f.cns, 8) | (checkUint('identify cntid', f.cntid ?? 0, 16) << 16),
    cdw11: checkUint('identify csi', f.csi ?? 0, 8) * 0x100_0000,
  });
}

export function parseIdentifySqe(sqe: Buffer): IdentifySqe {
  checkSqe(sqe, 'identify sqe');
  const cdw10 = sqeCdw(sqe, 10);
  return { cns: cdw10 & 0xff, nsid: sqeNsid(sqe), cntid: cdw10 >>> 16, csi: sqe[SqeOff.CDW11 + 3]! };
}

// ---------------------------------------------------------------------------
// Get Log Page (0x02): SGL 0x5A, length = len
//   CDW10 @40: LID 7:0 | LSP 14:8 | RAE bit 15 | NUMDL 31:16
//   CDW11 @44: NUMDU 15:0 | LSI 31:16
//   CDW12 @48 / CDW13 @52: LPOL / LPOU, byte offset into the log (dword aligned)
//   NUMD = NUMDU:NUMDL = len / 4 - 1 (dwords, 0's based)
// ---------------------------------------------------------------------------

export interface GetLogPageSqe {
  lid: number;
  nsid: number;
  /** Bytes: (NUMD + 1) * 4. */
  len: number;
  /** Byte offset (LPO). */
  offset: number;
  lsp: number;
  /** Retain Asynchronous Event. */
  rae: boolean;
}

/** Largest log transfer one SQE can describe (the SGL length is a u32). */
export const LOG_PAGE_MAX_LEN = 0xffff_fffc;

export function buildGetLogPageSqe(f: {
  cid: number;
  nsid?: number;
  lid: number;
  len: number;
  offset?: number;
  lsp?: number;
  rae?: boolean;
}): Buffer {
  if (!Number.isSafeInteger(f.len) || f.len < 4 || f.len > LOG_PAGE_MAX_LEN || f.len % 4 !== 0) {
    throw new InvalidArgumentError(`get log page len: ${f.len} is not a dword multiple in 4..${LOG_PAGE_MAX_LEN}`);
  }
  const [lpol, lpou] = splitU64(f.offset ?? 0, 'get log page offset');
  if (lpol % 4 !== 0) throw new InvalidArgumentError(`get log page offset: ${f.offset} is not dword aligned`);
  const numd = f.len / 4 - 1;
  return buildSqe({
    opc: AdminOpc.GetLogPage,
    cid: cid16(f.cid),
    nsid: nsid32(f.nsid),
    sglType: SglType.TransportDataBlock,
    sglLen: f.len,
    cdw10:
      checkUint('get log page lid', f.lid, 8) |
      (checkUint('get log page lsp', f.lsp ?? 0, 7) << 8) |
      (f.rae ? 0x8000 : 0) |
      ((numd & 0xffff) << 16),
    cdw11: numd >>> 16,
    cdw12: lpol,
    cdw13: lpou,
  });
}

export function parseGetLogPage(sqe: Buffer): GetLogPageSqe {
  checkSqe(sqe, 'get log page sqe');
  const cdw10 = sqeCdw(sqe, 10);
  const numd = (cdw10 >>> 16) + (sqeCdw(sqe, 11) & 0xffff) * 0x1_0000;
  return {
    lid: cdw10 & 0xff,
    nsid: sqeNsid(sqe),
    len: (numd + 1) * 4,
    offset: readU64Loose(sqe, SqeOff.CDW12),
    lsp: (cdw10 >>> 8) & 0x7f,
    rae: (cdw10 & 0x8000) !== 0,
  };
}

// ---------------------------------------------------------------------------
// Set Features (0x09) / Get Features (0x0A): no data (SGL 0x5A, length 0)
//   CDW10 @40: FID 7:0 | Get: SEL 10:8 | Set: SV bit 31      CDW11 @44: value
// The result comes back in CQE DW0.
// ---------------------------------------------------------------------------

export interface FeaturesSqe {
  fid: number;
  nsid: number;
  sel: number;
  sv: boolean;
  dw11: number;
}

export function buildSetFeaturesSqe(f: { cid: number; fid: number; dw11: number; nsid?: number; sv?: boolean }): Buffer {
  return buildSqe({
    opc: AdminOpc.SetFeatures,
    cid: cid16(f.cid),
    nsid: nsid32(f.nsid),
    cdw10: checkUint('set features fid', f.fid, 8) | (f.sv ? 0x8000_0000 : 0),
    cdw11: checkUint('set features dw11', f.dw11, 32),
  });
}

export function buildGetFeaturesSqe(f: { cid: number; fid: number; sel?: number; nsid?: number }): Buffer {
  return buildSqe({
    opc: AdminOpc.GetFeatures,
    cid: cid16(f.cid),
    nsid: nsid32(f.nsid),
    cdw10: checkUint('get features fid', f.fid, 8) | (checkUint('get features sel', f.sel ?? 0, 3) << 8),
  });
}

/** Decodes either Set or Get Features (SEL is meaningful for Get, SV for Set). */
export function parseFeaturesSqe(sqe: Buffer): FeaturesSqe {
  checkSqe(sqe, 'features sqe');
  const cdw10 = sqeCdw(sqe, 10);
  return {
    fid: cdw10 & 0xff,
    nsid: sqeNsid(sqe),
    sel: (cdw10 >>> 8) & 0x7,
    sv: (cdw10 & 0x8000_0000) !== 0,
    dw11: sqeCdw(sqe, 11),
  };
}

// ---------------------------------------------------------------------------
// Keep Alive (0x18) and Asynchronous Event Request (0x0C): no data, no fields.
// (Linux submits its AER with CID 31; the CID is the caller's choice here.)
// ---------------------------------------------------------------------------

export function buildKeepAliveSqe(cid: number): Buffer {
  return buildSqe({ opc: AdminOpc.KeepAlive, cid: cid16(cid) });
}

export function buildAerSqe(cid: number): Buffer {
  return buildSqe({ opc: AdminOpc.AsyncEventRequest, cid: cid16(cid) });
}

// ---------------------------------------------------------------------------
// Read (0x02) / Write (0x01) / Write Zeroes (0x08):
//   NSID @4 | SGL1 @24 | SLBA u64 @40 (CDW10-11) | NLB u16 @48 (CDW12 15:0, 0's based)
//   CONTROL u16 @50 (CDW12 31:16): bit14 FUA, bit15 LR, bit9 DEAC (Write Zeroes)
// Read/Write data: SGL 0x5A (C2HData, or R2T + H2CData) or 0x01 (in-capsule write).
// Write Zeroes and Flush (0x00) move no data (SGL 0x5A, length 0).
// ---------------------------------------------------------------------------

export const CDW12_FUA = 1 << 30;
const CDW12_DEAC = 1 << 25;
/** Largest NLB one command can carry (a 16-bit 0's based count). */
export const NLB_MAX = 0x1_0000;

function lbaRange(slba: number, nlb: number, what: string): [lo: number, hi: number, cdw12: number] {
  if (!Number.isSafeInteger(nlb) || nlb < 1 || nlb > NLB_MAX) {
    throw new InvalidArgumentError(`${what} nlb: ${nlb} is not a block count in 1..${NLB_MAX}`);
  }
  const [lo, hi] = splitU64(slba, `${what} slba`);
  return [lo, hi, nlb - 1];
}

export interface RwSqe {
  slba: number;
  /** Block count, 1-based (NLB + 1). */
  nlb: number;
  fua: boolean;
  /** CONTROL bit 9: Write Zeroes may deallocate (DEAC); reserved in Read/Write. */
  deac: boolean;
}

export function buildRwSqe(f: {
  cid: number;
  opc: number;
  nsid: number;
  slba: number;
  nlb: number;
  len: number;
  inCapsule: boolean;
  fua?: boolean;
}): Buffer {
  if (f.opc !== IoOpc.Read && f.opc !== IoOpc.Write) {
    throw new InvalidArgumentError(`rw opc: 0x${Number(f.opc).toString(16)} is neither Read nor Write`);
  }
  if (f.inCapsule && f.opc !== IoOpc.Write) throw new InvalidArgumentError('rw: only a Write carries in-capsule data');
  const nlb = f.nlb;
  if (!Number.isSafeInteger(nlb) || nlb < 1 || nlb > NLB_MAX) {
    throw new InvalidArgumentError(`rw nlb: ${nlb} is not a block count in 1..${NLB_MAX}`);
  }
  const slba = checkUint('rw slba', f.slba, 53);
  const out = Buffer.allocUnsafe(SQE_LEN).fill(0);
  writeRwSqe(out, f.opc, nsid32(f.nsid), slba, nlb, checkUint('rw len', f.len, 32), f.inCapsule, f.fua === true);
  out.writeUInt16LE(cid16(f.cid), SqeOff.CID);
  return out;
}

/**
 * Writes a Read/Write SQE's fields into `out` (64 bytes, zero outside these fields, CID
 * left to the queue), unchecked: the caller validated every value. A reused SQE of a
 * pooled command is refilled with it per I/O (every field it sets is rewritten).
 */
export function writeRwSqe(
  out: Buffer,
  opc: number,
  nsid: number,
  slba: number,
  nlb: number,
  len: number,
  inCapsule: boolean,
  fua: boolean,
): void {
  out[SqeOff.OPC] = opc;
  out[SqeOff.FLAGS] = SQE_FLAGS_SGL;
  out.writeUInt32LE(nsid, SqeOff.NSID);
  out.writeUInt32LE(len, SqeOff.SGL_LEN);
  out[SqeOff.SGL_TYPE] = inCapsule ? SglType.InCapsuleOffset : SglType.TransportDataBlock;
  out.writeUInt32LE(slba % 0x1_0000_0000, SqeOff.CDW10);
  out.writeUInt32LE(Math.floor(slba / 0x1_0000_0000), SqeOff.CDW11);
  out.writeUInt32LE(((nlb - 1) | (fua ? CDW12_FUA : 0)) >>> 0, SqeOff.CDW12);
}

export function parseRw(sqe: Buffer): RwSqe {
  checkSqe(sqe, 'rw sqe');
  const cdw12 = sqeCdw(sqe, 12);
  return {
    slba: sqeSlba(sqe),
    nlb: (cdw12 & 0xffff) + 1,
    fua: (cdw12 & CDW12_FUA) !== 0,
    deac: (cdw12 & CDW12_DEAC) !== 0,
  };
}

export function buildFlushSqe(f: { cid: number; nsid: number }): Buffer {
  return buildSqe({ opc: IoOpc.Flush, cid: cid16(f.cid), nsid: nsid32(f.nsid) });
}

export function buildWriteZeroesSqe(f: { cid: number; nsid: number; slba: number; nlb: number; deac?: boolean | undefined }): Buffer {
  const [lo, hi, nlb0] = lbaRange(f.slba, f.nlb, 'write zeroes');
  return buildSqe({
    opc: IoOpc.WriteZeroes,
    cid: cid16(f.cid),
    nsid: nsid32(f.nsid),
    cdw10: lo,
    cdw11: hi,
    cdw12: nlb0 | (f.deac ? CDW12_DEAC : 0),
  });
}

// ---------------------------------------------------------------------------
// Dataset Management (0x09):
//   CDW10 @40: NR 7:0 (ranges - 1)    CDW11 @44: attributes: bit0 IDR, bit1 IDW, bit2 AD (deallocate)
// Data: ranges of 16 bytes: CATTR u32 @0 | NLB u32 @4 (a count, NOT 0's based) | SLBA u64 @8.
// Linux always sends 4096 bytes (256 ranges' worth) whatever NR is.
// ---------------------------------------------------------------------------

export const DSM_RANGE_LEN = 16;
export const DSM_MAX_RANGES = 256;
export const DSM_PAYLOAD_LEN = DSM_RANGE_LEN * DSM_MAX_RANGES;
export const DsmAttr = { IDR: 0x1, IDW: 0x2, AD: 0x4 } as const;

export interface DsmRange {
  slba: number;
  /** Block count (not 0's based). */
  nlb: number;
  cattr: number;
}

export interface DsmSqe {
  /** Number of ranges, 1-based (NR + 1). */
  nr: number;
  attr: number;
}

/**
 * `nr` is the number of ranges (1..256), written as NR = nr - 1. The payload is
 * in-capsule (SGL 0x01) unless `inCapsule` is false (SGL 0x5A, R2T + H2CData).
 */
export function buildDsmSqe(f: { cid: number; nsid: number; nr: number; attr: number; len: number; inCapsule?: boolean }): Buffer {
  if (!Number.isSafeInteger(f.nr) || f.nr < 1 || f.nr > DSM_MAX_RANGES) {
    throw new InvalidArgumentError(`dsm nr: ${f.nr} is not a range count in 1..${DSM_MAX_RANGES}`);
  }
  if (f.len < f.nr * DSM_RANGE_LEN) throw new InvalidArgumentError(`dsm len: ${f.len} bytes cannot hold ${f.nr} ranges`);
  return buildSqe({
    opc: IoOpc.DatasetMgmt,
    cid: cid16(f.cid),
    nsid: nsid32(f.nsid),
    sglType: f.inCapsule === false ? SglType.TransportDataBlock : SglType.InCapsuleOffset,
    sglLen: checkUint('dsm len', f.len, 32),
    cdw10: f.nr - 1,
    cdw11: checkUint('dsm attr', f.attr, 32),
  });
}

export function parseDsmSqe(sqe: Buffer): DsmSqe {
  checkSqe(sqe, 'dsm sqe');
  return { nr: (sqeCdw(sqe, 10) & 0xff) + 1, attr: sqeCdw(sqe, 11) };
}

/** 4096-byte DSM payload, as Linux sends it; unused ranges are zero. */
export function encodeDsmRanges(ranges: readonly { slba: number; nlb: number; cattr?: number }[]): Buffer {
  if (ranges.length < 1 || ranges.length > DSM_MAX_RANGES) {
    throw new InvalidArgumentError(`dsm ranges: ${ranges.length} given, 1..${DSM_MAX_RANGES} allowed`);
  }
  const b = Buffer.alloc(DSM_PAYLOAD_LEN);
  ranges.forEach((r, i) => {
    const off = i * DSM_RANGE_LEN;
    const [lo, hi] = splitU64(r.slba, `dsm range ${i} slba`);
    b.writeUInt32LE(checkUint(`dsm range ${i} cattr`, r.cattr ?? 0, 32), off);
    b.writeUInt32LE(checkUint(`dsm range ${i} nlb`, r.nlb, 32), off + 4);
    b.writeUInt32LE(lo, off + 8);
    b.writeUInt32LE(hi, off + 12);
  });
  return b;
}

/** The first `nr` ranges (1..256) of a DSM payload. */
export function decodeDsmRanges(buf: Buffer, nr: number): DsmRange[] {
  if (!Number.isSafeInteger(nr) || nr < 1 || nr > DSM_MAX_RANGES) {
    throw new InvalidArgumentError(`dsm nr: ${nr} is not a range count in 1..${DSM_MAX_RANGES}`);
  }
  checkLen('dsm ranges', buf, nr * DSM_RANGE_LEN);
  const out: DsmRange[] = [];
  for (let i = 0; i < nr; i++) {
    const off = i * DSM_RANGE_LEN;
    out.push({ cattr: buf.readUInt32LE(off), nlb: buf.readUInt32LE(off + 4), slba: readU64Loose(buf, off + 8) });
  }
  return out;
}
