// Submission and completion queue entries, SGL descriptors and status words.
//
// SQE (64 bytes): opc u8 @0 | flags u8 @1 (PSDT in 7:6) | cid u16 @2 | nsid u32 @4 |
//   cdw2 @8 | cdw3 @12 | mptr u64 @16 | SGL1[16] @24 | cdw10..cdw15 @40..@60
// SGL descriptor (16 bytes): addr u64 @0 | length u32 @8 | rsvd[3] | type u8 @15
// CQE (16 bytes): dw0 @0 | dw1 @4 | sqhd u16 @8 | sqid u16 @10 | cid u16 @12 | status u16 @14
//   wire status = (DNR<<15 | M<<14 | CRD<<12 | SCT<<9 | SC<<1 | P); we keep the
//   Linux form status = wire >> 1 = (DNR<<14 | M<<13 | CRD<<11 | SCT<<8 | SC).
import { SQE_FLAGS_SGL, SQE_LEN, SglType } from './constants.ts';

export const SqeOff = {
  OPC: 0,
  FLAGS: 1,
  CID: 2,
  NSID: 4,
  CDW2: 8,
  CDW3: 12,
  MPTR: 16,
  SGL_ADDR: 24,
  SGL_LEN: 32,
  SGL_TYPE: 39,
  CDW10: 40,
  CDW11: 44,
  CDW12: 48,
  CDW13: 52,
  CDW14: 56,
  CDW15: 60,
} as const;

export const CqeOff = { DW0: 0, DW1: 4, SQHD: 8, SQID: 10, CID: 12, STATUS: 14 } as const;

export const STATUS_DNR = 0x4000;
export const STATUS_MORE = 0x2000;

export interface SqeFields {
  opc: number;
  cid: number;
  nsid?: number;
  /** SGL1: transport data block (0x5A) or in-capsule (0x01) with a length. */
  sglType?: number;
  sglLen?: number;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
}

/** Builds an SQE with PSDT=SGL. cdw fields are written as unsigned 32-bit. */
export function buildSqe(f: SqeFields, out: Buffer = Buffer.alloc(SQE_LEN)): Buffer {
  out.fill(0, 0, SQE_LEN);
  out[SqeOff.OPC] = f.opc;
  out[SqeOff.FLAGS] = SQE_FLAGS_SGL;
  out.writeUInt16LE(f.cid, SqeOff.CID);
  out.writeUInt32LE((f.nsid ?? 0) >>> 0, SqeOff.NSID);
  out.writeUInt32LE((f.sglLen ?? 0) >>> 0, SqeOff.SGL_LEN);
  out[SqeOff.SGL_TYPE] = f.sglType ?? SglType.TransportDataBlock;
  out.writeUInt32LE((f.cdw10 ?? 0) >>> 0, SqeOff.CDW10);
  out.writeUInt32LE((f.cdw11 ?? 0) >>> 0, SqeOff.CDW11);
  out.writeUInt32LE((f.cdw12 ?? 0) >>> 0, SqeOff.CDW12);
  out.writeUInt32LE((f.cdw13 ?? 0) >>> 0, SqeOff.CDW13);
  out.writeUInt32LE((f.cdw14 ?? 0) >>> 0, SqeOff.CDW14);
  out.writeUInt32LE((f.cdw15 ?? 0) >>> 0, SqeOff.CDW15);
  return out;
}

export const sqeOpc = (s: Buffer): number => s[SqeOff.OPC]!;
export const sqeCid = (s: Buffer): number => s.readUInt16LE(SqeOff.CID);
export const sqeNsid = (s: Buffer): number => s.readUInt32LE(SqeOff.NSID);
export const sqeCdw = (s: Buffer, n: number): number => s.readUInt32LE(SqeOff.CDW10 + (n - 10) * 4);
export const sqeSglType = (s: Buffer): number => s[SqeOff.SGL_TYPE]!;
export const sqeSglLen = (s: Buffer): number => s.readUInt32LE(SqeOff.SGL_LEN);
export const sqeSglAddr = (s: Buffer): bigint => s.readBigUInt64LE(SqeOff.SGL_ADDR);

/** SLBA (CDW10-11) of a read/write-type command. */
export function sqeSlba(s: Buffer): number {
  return s.readUInt32LE(SqeOff.CDW10) + s.readUInt32LE(SqeOff.CDW11) * 0x1_0000_0000;
}

/** Status in the Linux form: SC | SCT<<8 | DNR<<14 (0 = success). */
export function makeStatus(sct: number, sc: number, dnr = false): number {
  return ((sct & 0x7) << 8) | (sc & 0xff) | (dnr ? STATUS_DNR : 0);
}

export interface CqeFields {
  cid: number;
  status?: number;
  dw0?: number;
  dw1?: number;
  sqhd?: number;
  sqid?: number;
}

/** Writes all 16 bytes of a CQE at b[off]; `status` in the Linux form (the phase bit is 0). */
export function writeCqe(b: Buffer, off: number, cid: number, status: number, dw0: number, dw1: number, sqhd: number, sqid: number): void {
  b.writeUInt32LE(dw0 >>> 0, off + CqeOff.DW0);
  b.writeUInt32LE(dw1 >>> 0, off + CqeOff.DW1);
  b.writeUInt16LE(sqhd, off + CqeOff.SQHD);
  b.writeUInt16LE(sqid, off + CqeOff.SQID);
  b.writeUInt16LE(cid, off + CqeOff.CID);
  b.writeUInt16LE((status << 1) & 0xffff, off + CqeOff.STATUS);
}

export interface Cqe {
  dw0: number;
  dw1: number;
  sqhd: number;
  sqid: number;
  cid: number;
  /** Linux form (wire >> 1; the phase bit is dropped). */
  status: number;
}

export function parseCqe(b: Buffer, off = 0): Cqe {
  return {
    dw0: b.readUInt32LE(off + CqeOff.DW0),
    dw1: b.readUInt32LE(off + CqeOff.DW1),
    sqhd: b.readUInt16LE(off + CqeOff.SQHD),
    sqid: b.readUInt16LE(off + CqeOff.SQID),
    cid: b.readUInt16LE(off + CqeOff.CID),
    status: b.readUInt16LE(off + CqeOff.STATUS) >> 1,
  };
}
