// NVMe-oF fabrics commands (opcode 0x7F): Connect, Property Get / Property Set,
// and the 1024-byte Connect data.
// Layouts: NVMe over Fabrics Specification 1.1, Fabrics commands (Linux
// include/linux/nvme.h nvmf_connect_command / nvmf_connect_data /
// nvmf_property_*_command; SPDK include/spdk/nvmf_spec.h).
import { CONNECT_DATA_LEN, AdminOpc, FabricsType, SQE_LEN, SglType } from './constants.ts';
import { InvalidArgumentError } from './errors.ts';
import { checkLen, checkUint, getString, putBytes, putString } from './fields.ts';
import { buildSqe, sqeCid } from './sqe.ts';

function checkSqe(sqe: Buffer, what: string): void {
  checkLen(what, sqe, SQE_LEN);
}

// ---------------------------------------------------------------------------
// Connect data, 1024 bytes (in-capsule data of the Connect command)
//   @0    HOSTID   16 bytes (UUID)
//   @16   CNTLID   u16  0xFFFF on the admin queue (dynamic model), else the admin Connect's CNTLID
//   @18   reserved 238
//   @256  SUBNQN   256, NUL-terminated
//   @512  HOSTNQN  256, NUL-terminated
//   @768  reserved 256
// ---------------------------------------------------------------------------

export const ConnectDataOff = { HOSTID: 0, CNTLID: 16, SUBNQN: 256, HOSTNQN: 512 } as const;
const NQN_FIELD = 256;

export interface ConnectData {
  hostid: Buffer;
  cntlid: number;
  subnqn: string;
  hostnqn: string;
}

export function encodeConnectData(d: ConnectData): Buffer {
  const b = Buffer.alloc(CONNECT_DATA_LEN);
  if (d.hostid === undefined) throw new InvalidArgumentError('connect data hostid: required (16 bytes)');
  putBytes(b, ConnectDataOff.HOSTID, 16, d.hostid, 'connect data hostid');
  b.writeUInt16LE(checkUint('connect data cntlid', d.cntlid, 16), ConnectDataOff.CNTLID);
  putString(b, ConnectDataOff.SUBNQN, NQN_FIELD, d.subnqn, 'nul', 'connect data subnqn');
  putString(b, ConnectDataOff.HOSTNQN, NQN_FIELD, d.hostnqn, 'nul', 'connect data hostnqn');
  return b;
}

export function decodeConnectData(buf: Buffer): ConnectData {
  checkLen('connect data', buf, CONNECT_DATA_LEN);
  return {
    hostid: Buffer.from(buf.subarray(ConnectDataOff.HOSTID, ConnectDataOff.HOSTID + 16)),
    cntlid: buf.readUInt16LE(ConnectDataOff.CNTLID),
    subnqn: getString(buf, ConnectDataOff.SUBNQN, NQN_FIELD),
    hostnqn: getString(buf, ConnectDataOff.HOSTNQN, NQN_FIELD),
  };
}

// ---------------------------------------------------------------------------
// Fabrics SQE common part: OPC 0x7F @0 | CID u16 @2 | FCTYPE u8 @4 | SGL1 @24
//
// Connect SQE (FCTYPE 0x01):
//   @24 SGL1 0x01 in-capsule, length 1024
//   @40 RECFMT u16 (0) | @42 QID u16 | @44 SQSIZE u16 (0's based) | @46 CATTR u8
//   (bit2 = disable SQ flow control) | @48 KATO u32 (milliseconds)
// ---------------------------------------------------------------------------

export const FabricsOff = {
  FCTYPE: 4,
  RECFMT: 40,
  QID: 42,
  SQSIZE: 44,
  CATTR: 46,
  KATO: 48,
  ATTRIB: 40,
  OFST: 44,
  VALUE: 48,
} as const;

/** CATTR bit 2: the host disables SQ flow control (SQHD 0xFFFF, C2HData SUCCESS allowed). */
export const CATTR_DISABLE_SQFLOW = 0x04;

/** FCTYPE of a fabrics SQE (byte 4; the NSID field of other commands). */
export const sqeFctype = (sqe: Buffer): number => sqe[FabricsOff.FCTYPE]!;

function fabricsSqe(cid: number, fctype: number, sglType: number, sglLen: number): Buffer {
  const sqe = buildSqe({ opc: AdminOpc.Fabrics, cid: checkUint('cid', cid, 16), sglType, sglLen });
  sqe[FabricsOff.FCTYPE] = fctype;
  return sqe;
}

export interface ConnectSqe {
  cid: number;
  recfmt: number;
  qid: number;
  /** 0's based. */
  sqsize: number;
  cattr: number;
  /** Milliseconds. */
  kato: number;
}

export function buildConnectSqe(f: { cid: number; qid: number; sqsize: number; cattr?: number | undefined; kato: number }): Buffer {
  const sqe = fabricsSqe(f.cid, FabricsType.Connect, SglType.InCapsuleOffset, CONNECT_DATA_LEN);
  sqe.writeUInt16LE(checkUint('connect qid', f.qid, 16), FabricsOff.QID);
  sqe.writeUInt16LE(checkUint('connect sqsize', f.sqsize, 16), FabricsOff.SQSIZE);
  sqe[FabricsOff.CATTR] = checkUint('connect cattr', f.cattr ?? 0, 8);
  sqe.writeUInt32LE(checkUint('connect kato', f.kato, 32), FabricsOff.KATO);
  return sqe;
}

export function parseConnectSqe(sqe: Buffer): ConnectSqe {
  checkSqe(sqe, 'connect sqe');
  return {
    cid: sqeCid(sqe),
    recfmt: sqe.readUInt16LE(FabricsOff.RECFMT),
    qid: sqe.readUInt16LE(FabricsOff.QID),
    sqsize: sqe.readUInt16LE(FabricsOff.SQSIZE),
    cattr: sqe[FabricsOff.CATTR]!,
    kato: sqe.readUInt32LE(FabricsOff.KATO),
  };
}

// ---------------------------------------------------------------------------
// Property Get (FCTYPE 0x04) / Property Set (FCTYPE 0x00), no data (SGL 0x5A len 0):
//   @40 ATTRIB u8: bits 2:0 SIZE (0 = 4 bytes, 1 = 8 bytes)
//   @44 OFST u32 (register offset: CAP 0x00, VS 0x08, CC 0x14, CSTS 0x1C ...)
//   @48 VALUE u64 (Set only; a 4-byte set uses the low 32 bits)
// The Get result comes back in CQE DW0 (+DW1 for 8 bytes).
// ---------------------------------------------------------------------------

export interface PropertySqe {
  fctype: number;
  /** ATTRIB.SIZE = 1: an 8-byte property. */
  size8: boolean;
  ofst: number;
  /** VALUE field (Set: the value written; Get: reserved, 0n from a conforming host). */
  value: bigint;
}

export function buildPropertyGetSqe(f: { cid: number; ofst: number; size8: boolean }): Buffer {
  const sqe = fabricsSqe(f.cid, FabricsType.PropertyGet, SglType.TransportDataBlock, 0);
  sqe[FabricsOff.ATTRIB] = f.size8 ? 1 : 0;
  sqe.writeUInt32LE(checkUint('property ofst', f.ofst, 32), FabricsOff.OFST);
  return sqe;
}

export function buildPropertySetSqe(f: { cid: number; ofst: number; value: bigint; size8: boolean }): Buffer {
  const limit = f.size8 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn;
  if (typeof f.value !== 'bigint' || f.value < 0n || f.value > limit) {
    throw new InvalidArgumentError(`property value: ${String(f.value)} does not fit ${f.size8 ? 8 : 4} bytes`);
  }
  const sqe = fabricsSqe(f.cid, FabricsType.PropertySet, SglType.TransportDataBlock, 0);
  sqe[FabricsOff.ATTRIB] = f.size8 ? 1 : 0;
  sqe.writeUInt32LE(checkUint('property ofst', f.ofst, 32), FabricsOff.OFST);
  sqe.writeBigUInt64LE(f.value, FabricsOff.VALUE);
  return sqe;
}

export function parsePropertySqe(sqe: Buffer): PropertySqe {
  checkSqe(sqe, 'property sqe');
  return {
    fctype: sqeFctype(sqe),
    size8: (sqe[FabricsOff.ATTRIB]! & 0x7) === 1,
    ofst: sqe.readUInt32LE(FabricsOff.OFST),
    value: sqe.readBigUInt64LE(FabricsOff.VALUE),
  };
}
