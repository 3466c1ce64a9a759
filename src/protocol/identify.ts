// Identify data structures (4096 bytes each): Controller (CNS 0x01), Namespace (CNS 0x00),
// I/O-command-set-independent Namespace (CNS 0x08), Active NSID list (CNS 0x02) and
// Namespace Identification Descriptor list (CNS 0x03).
// Layouts: NVMe Base Specification 2.0, Identify data structures (Linux
// include/linux/nvme.h nvme_id_ctrl, nvme_id_ns, nvme_id_ns_cs_indep, nvme_ns_id_desc;
// SPDK include/spdk/nvme_spec.h).
import { InvalidArgumentError } from './errors.ts';
import { checkLen, checkUint, decodeFields, encodeFields, type Field, putBytes } from './fields.ts';

export const IDENTIFY_LEN = 4096;

// ---------------------------------------------------------------------------
// Identify Controller (CNS 0x01), 4096 bytes
//   @0 VID u16 | @2 SSVID u16 | @4 SN[20] ASCII space-padded | @24 MN[40] | @64 FR[8]
//   @72 RAB | @73 IEEE OUI u24 | @76 CMIC | @77 MDTS (2^n x 4 KiB, 0 = none) | @78 CNTLID u16
//   @80 VER u32 | @84 RTD3R u32 | @88 RTD3E u32 | @92 OAES u32 | @96 CTRATT u32
//   @111 CNTRLTYPE (1 I/O, 2 discovery, 3 admin) | @112 FGUID[16] | @128 CRDT1..3 u16
//   @256 OACS u16 | @258 ACL | @259 AERL | @260 FRMW | @261 LPA | @262 ELPE | @263 NPSS
//   @264 AVSCC | @265 APSTA | @266 WCTEMP u16 | @268 CCTEMP u16 | @320 KAS u16 (100 ms units)
//   @342 ANATT | @343 ANACAP | @344 ANAGRPMAX u32 | @348 NANAGRPID u32
//   @512 SQES (0x66) | @513 CQES (0x44) | @514 MAXCMD u16 | @516 NN u32 | @520 ONCS u16
//   @522 FUSES u16 | @524 FNA | @525 VWC | @526 AWUN u16 | @528 AWUPF u16 | @530 NVSCC
//   @531 NWPC | @532 ACWU u16 | @536 SGLS u32 | @540 MNAN u32 | @768 SUBNQN[256] NUL-padded
//   NVMe-oF area: @1792 IOCCSZ u32 (16-byte units) | @1796 IORCSZ u32 | @1800 ICDOFF u16
//   @1802 FCATT (CTRATTR: bit0 static model) | @1803 MSDBD | @1806 DCTYPE
//   @2048 PSD[32] (left zero) | @3072 vendor specific (zero)
// ---------------------------------------------------------------------------

export interface IdentifyController {
  vid: number;
  ssvid: number;
  sn: string;
  mn: string;
  fr: string;
  rab: number;
  /** IEEE OUI, 24 bits, little-endian as on the wire. */
  ieee: number;
  cmic: number;
  mdts: number;
  cntlid: number;
  ver: number;
  rtd3r: number;
  rtd3e: number;
  oaes: number;
  ctratt: number;
  cntrltype: number;
  fguid: Buffer;
  crdt1: number;
  crdt2: number;
  crdt3: number;
  oacs: number;
  acl: number;
  aerl: number;
  frmw: number;
  lpa: number;
  elpe: number;
  npss: number;
  avscc: number;
  apsta: number;
  wctemp: number;
  cctemp: number;
  kas: number;
  anatt: number;
  anacap: number;
  anagrpmax: number;
  nanagrpid: number;
  sqes: number;
  cqes: number;
  maxcmd: number;
  nn: number;
  oncs: number;
  fuses: number;
  fna: number;
  vwc: number;
  awun: number;
  awupf: number;
  nvscc: number;
  nwpc: number;
  acwu: number;
  sgls: number;
  mnan: number;
  subnqn: string;
  ioccsz: number;
  iorcsz: number;
  icdoff: number;
  fcatt: number;
  msdbd: number;
  dctype: number;
}

export const IdCtrlOff = {
  VID: 0,
  SSVID: 2,
  SN: 4,
  MN: 24,
  FR: 64,
  RAB: 72,
  IEEE: 73,
  CMIC: 76,
  MDTS: 77,
  CNTLID: 78,
  VER: 80,
  RTD3R: 84,
  RTD3E: 88,
  OAES: 92,
  CTRATT: 96,
  CNTRLTYPE: 111,
  FGUID: 112,
  CRDT1: 128,
  CRDT2: 130,
  CRDT3: 132,
  OACS: 256,
  ACL: 258,
  AERL: 259,
  FRMW: 260,
  LPA: 261,
  ELPE: 262,
  NPSS: 263,
  AVSCC: 264,
  APSTA: 265,
  WCTEMP: 266,
  CCTEMP: 268,
  KAS: 320,
  ANATT: 342,
  ANACAP: 343,
  ANAGRPMAX: 344,
  NANAGRPID: 348,
  SQES: 512,
  CQES: 513,
  MAXCMD: 514,
  NN: 516,
  ONCS: 520,
  FUSES: 522,
  FNA: 524,
  VWC: 525,
  AWUN: 526,
  AWUPF: 528,
  NVSCC: 530,
  NWPC: 531,
  ACWU: 532,
  SGLS: 536,
  MNAN: 540,
  SUBNQN: 768,
  IOCCSZ: 1792,
  IORCSZ: 1796,
  ICDOFF: 1800,
  FCATT: 1802,
  MSDBD: 1803,
  DCTYPE: 1806,
} as const;

const O = IdCtrlOff;
const CTRL_FIELDS: readonly Field[] = [
  ['vid', O.VID, 'u16'],
  ['ssvid', O.SSVID, 'u16'],
  ['sn', O.SN, 'ascii', 20],
  ['mn', O.MN, 'ascii', 40],
  ['fr', O.FR, 'ascii', 8],
  ['rab', O.RAB, 'u8'],
  ['ieee', O.IEEE, 'u24'],
  ['cmic', O.CMIC, 'u8'],
  ['mdts', O.MDTS, 'u8'],
  ['cntlid', O.CNTLID, 'u16'],
  ['ver', O.VER, 'u32'],
  ['rtd3r', O.RTD3R, 'u32'],
  ['rtd3e', O.RTD3E, 'u32'],
  ['oaes', O.OAES, 'u32'],
  ['ctratt', O.CTRATT, 'u32'],
  ['cntrltype', O.CNTRLTYPE, 'u8'],
  ['fguid', O.FGUID, 'bytes', 16],
  ['crdt1', O.CRDT1, 'u16'],
  ['crdt2', O.CRDT2, 'u16'],
  ['crdt3', O.CRDT3, 'u16'],
  ['oacs', O.OACS, 'u16'],
  ['acl', O.ACL, 'u8'],
  ['aerl', O.AERL, 'u8'],
  ['frmw', O.FRMW, 'u8'],
  ['lpa', O.LPA, 'u8'],
  ['elpe', O.ELPE, 'u8'],
  ['npss', O.NPSS, 'u8'],
  ['avscc', O.AVSCC, 'u8'],
  ['apsta', O.APSTA, 'u8'],
  ['wctemp', O.WCTEMP, 'u16'],
  ['cctemp', O.CCTEMP, 'u16'],
  ['kas', O.KAS, 'u16'],
  ['anatt', O.ANATT, 'u8'],
  ['anacap', O.ANACAP, 'u8'],
  ['anagrpmax', O.ANAGRPMAX, 'u32'],
  ['nanagrpid', O.NANAGRPID, 'u32'],
  ['sqes', O.SQES, 'u8'],
  ['cqes', O.CQES, 'u8'],
  ['maxcmd', O.MAXCMD, 'u16'],
  ['nn', O.NN, 'u32'],
  ['oncs', O.ONCS, 'u16'],
  ['fuses', O.FUSES, 'u16'],
  ['fna', O.FNA, 'u8'],
  ['vwc', O.VWC, 'u8'],
  ['awun', O.AWUN, 'u16'],
  ['awupf', O.AWUPF, 'u16'],
  ['nvscc', O.NVSCC, 'u8'],
  ['nwpc', O.NWPC, 'u8'],
  ['acwu', O.ACWU, 'u16'],
  ['sgls', O.SGLS, 'u32'],
  ['mnan', O.MNAN, 'u32'],
  ['subnqn', O.SUBNQN, 'nqn', 256],
  ['ioccsz', O.IOCCSZ, 'u32'],
  ['iorcsz', O.IORCSZ, 'u32'],
  ['icdoff', O.ICDOFF, 'u16'],
  ['fcatt', O.FCATT, 'u8'],
  ['msdbd', O.MSDBD, 'u8'],
  ['dctype', O.DCTYPE, 'u8'],
];

/**
 * Encodes Identify Controller. Every field is optional here: a missing number is 0,
 * a missing SN/MN/FR is all spaces, a missing SUBNQN or FGUID is zeros. The codec
 * sets no policy values (SQES, CQES, KAS ... are the target's choice).
 */
export function encodeIdentifyController(c: Partial<IdentifyController>): Buffer {
  const b = Buffer.alloc(IDENTIFY_LEN);
  encodeFields(b, CTRL_FIELDS, c, 'identify controller');
  return b;
}

export function parseIdentifyController(buf: Buffer): IdentifyController {
  checkLen('identify controller', buf, IDENTIFY_LEN);
  return decodeFields(buf, CTRL_FIELDS, 'identify controller') as unknown as IdentifyController;
}

// ---------------------------------------------------------------------------
// Identify Namespace (CNS 0x00), 4096 bytes
//   @0 NSZE u64 | @8 NCAP u64 (0 = not allocated) | @16 NUSE u64 | @24 NSFEAT | @25 NLBAF (0's based)
//   @26 FLBAS (3:0 format index, 6:5 upper index bits, bit4 extended metadata) | @27 MC | @28 DPC
//   @29 DPS | @30 NMIC (bit0 shared) | @31 RESCAP | @32 FPI | @33 DLFEAT (2:0 = 1: deallocated
//   reads return zeros; bit3 Write Zeroes may deallocate) | @34 NAWUN u16 | @36 NAWUPF u16
//   @38 NACWU u16 | @46 NOIOB u16 | @64 NPWG u16 | @66 NPWA u16 | @68 NPDG u16 | @70 NPDA u16
//   @72 NOWS u16 | @92 ANAGRPID u32 | @99 NSATTR (bit0 write protected) | @100 NVMSETID u16
//   @102 ENDGID u16 | @104 NGUID[16] | @120 EUI64[8]
//   @128 LBAF[64], 4 bytes each: MS u16 @+0 | LBADS u8 @+2 (log2 block size) | RP u8 @+3 (bits 1:0)
// ---------------------------------------------------------------------------

export interface LbaFormat {
  /** Metadata bytes per LBA (report 0 on fabrics). */
  ms: number;
  /** log2 of the LBA data size: 9 = 512, 12 = 4096. */
  lbads: number;
  /** Relative performance, 2 bits. */
  rp: number;
}

export interface IdentifyNamespace {
  nsze: number;
  ncap: number;
  nuse: number;
  nsfeat: number;
  /** Number of LBA formats - 1. */
  nlbaf: number;
  flbas: number;
  mc: number;
  dpc: number;
  dps: number;
  nmic: number;
  rescap: number;
  fpi: number;
  dlfeat: number;
  nawun: number;
  nawupf: number;
  nacwu: number;
  noiob: number;
  npwg: number;
  npwa: number;
  npdg: number;
  npda: number;
  nows: number;
  anagrpid: number;
  nsattr: number;
  nvmsetid: number;
  endgid: number;
  nguid: Buffer;
  eui64: Buffer;
  /** nlbaf + 1 entries. */
  lbaf: LbaFormat[];
}

export const IdNsOff = {
  NSZE: 0,
  NCAP: 8,
  NUSE: 16,
  NSFEAT: 24,
  NLBAF: 25,
  FLBAS: 26,
  MC: 27,
  DPC: 28,
  DPS: 29,
  NMIC: 30,
  RESCAP: 31,
  FPI: 32,
  DLFEAT: 33,
  NAWUN: 34,
  NAWUPF: 36,
  NACWU: 38,
  NOIOB: 46,
  NPWG: 64,
  NPWA: 66,
  NPDG: 68,
  NPDA: 70,
  NOWS: 72,
  ANAGRPID: 92,
  NSATTR: 99,
  NVMSETID: 100,
  ENDGID: 102,
  NGUID: 104,
  EUI64: 120,
  LBAF: 128,
} as const;
export const LBAF_MAX = 64;

const N = IdNsOff;
const NS_FIELDS: readonly Field[] = [
  ['nsze', N.NSZE, 'u64'],
  ['ncap', N.NCAP, 'u64'],
  ['nuse', N.NUSE, 'u64'],
  ['nsfeat', N.NSFEAT, 'u8'],
  ['flbas', N.FLBAS, 'u8'],
  ['mc', N.MC, 'u8'],
  ['dpc', N.DPC, 'u8'],
  ['dps', N.DPS, 'u8'],
  ['nmic', N.NMIC, 'u8'],
  ['rescap', N.RESCAP, 'u8'],
  ['fpi', N.FPI, 'u8'],
  ['dlfeat', N.DLFEAT, 'u8'],
  ['nawun', N.NAWUN, 'u16'],
  ['nawupf', N.NAWUPF, 'u16'],
  ['nacwu', N.NACWU, 'u16'],
  ['noiob', N.NOIOB, 'u16'],
  ['npwg', N.NPWG, 'u16'],
  ['npwa', N.NPWA, 'u16'],
  ['npdg', N.NPDG, 'u16'],
  ['npda', N.NPDA, 'u16'],
  ['nows', N.NOWS, 'u16'],
  ['anagrpid', N.ANAGRPID, 'u32'],
  ['nsattr', N.NSATTR, 'u8'],
  ['nvmsetid', N.NVMSETID, 'u16'],
  ['endgid', N.ENDGID, 'u16'],
  ['nguid', N.NGUID, 'bytes', 16],
  ['eui64', N.EUI64, 'bytes', 8],
];

/**
 * Encodes Identify Namespace. `lbaf` is required (1..64 entries); `nlbaf` defaults to
 * lbaf.length - 1 and must agree with it. Other missing fields are 0 / zeros.
 */
export function encodeIdentifyNamespace(ns: Partial<IdentifyNamespace> & { lbaf: LbaFormat[] }): Buffer {
  const { lbaf } = ns;
  if (!Array.isArray(lbaf) || lbaf.length < 1 || lbaf.length > LBAF_MAX) {
    throw new InvalidArgumentError(`identify namespace lbaf: 1..${LBAF_MAX} formats required`);
  }
  const nlbaf = ns.nlbaf ?? lbaf.length - 1;
  if (nlbaf !== lbaf.length - 1) {
    throw new InvalidArgumentError(`identify namespace nlbaf ${nlbaf} disagrees with ${lbaf.length} lbaf entries`);
  }
  const b = Buffer.alloc(IDENTIFY_LEN);
  encodeFields(b, NS_FIELDS, ns, 'identify namespace');
  b[N.NLBAF] = nlbaf;
  lbaf.forEach((f, i) => {
    const off = N.LBAF + i * 4;
    b.writeUInt16LE(checkUint(`lbaf[${i}].ms`, f.ms, 16), off);
    b[off + 2] = checkUint(`lbaf[${i}].lbads`, f.lbads, 8);
    b[off + 3] = checkUint(`lbaf[${i}].rp`, f.rp, 2);
  });
  return b;
}

export function parseIdentifyNamespace(buf: Buffer): IdentifyNamespace {
  checkLen('identify namespace', buf, IDENTIFY_LEN);
  const ns = decodeFields(buf, NS_FIELDS, 'identify namespace') as unknown as IdentifyNamespace;
  ns.nlbaf = buf[N.NLBAF]!;
  if (ns.nlbaf >= LBAF_MAX) throw new RangeError(`identify namespace: NLBAF ${ns.nlbaf} exceeds ${LBAF_MAX - 1}`);
  ns.lbaf = [];
  for (let i = 0; i <= ns.nlbaf; i++) {
    const off = N.LBAF + i * 4;
    ns.lbaf.push({ ms: buf.readUInt16LE(off), lbads: buf[off + 2]!, rp: buf[off + 3]! & 0x3 });
  }
  return ns;
}

/** Index of the formatted LBA format: FLBAS bits 3:0, plus bits 6:5 as index bits 5:4. */
export function flbasIndex(flbas: number): number {
  return (flbas & 0xf) | ((flbas & 0x60) >> 1);
}

/** LBA data size in bytes of the namespace's current format. */
export function lbaSizeOf(ns: Pick<IdentifyNamespace, 'flbas' | 'lbaf'>): number {
  const f = ns.lbaf[flbasIndex(ns.flbas)]!;
  if (f === undefined) throw new InvalidArgumentError(`FLBAS 0x${ns.flbas.toString(16)} selects no LBA format`);
  if (f.lbads < 9 || f.lbads > 30) throw new RangeError(`LBADS ${f.lbads} is not a usable block size`);
  return 2 ** f.lbads;
}

// ---------------------------------------------------------------------------
// I/O Command Set Independent Identify Namespace (CNS 0x08), 4096 bytes
//   @0 NSFEAT | @1 NMIC | @2 RESCAP | @3 FPI | @4 ANAGRPID u32 | @8 NSATTR | @10 NVMSETID u16
//   @12 ENDGID u16 | @14 NSTAT (bit0 ready: Linux ignores the namespace without it)
// ---------------------------------------------------------------------------

export interface IdentifyNsIndep {
  nsfeat: number;
  nmic: number;
  rescap: number;
  fpi: number;
  anagrpid: number;
  nsattr: number;
  nvmsetid: number;
  endgid: number;
  nstat: number;
}

const INDEP_FIELDS: readonly Field[] = [
  ['nsfeat', 0, 'u8'],
  ['nmic', 1, 'u8'],
  ['rescap', 2, 'u8'],
  ['fpi', 3, 'u8'],
  ['anagrpid', 4, 'u32'],
  ['nsattr', 8, 'u8'],
  ['nvmsetid', 10, 'u16'],
  ['endgid', 12, 'u16'],
  ['nstat', 14, 'u8'],
];
export const NSTAT_READY = 0x01;

export function encodeIdentifyNsIndep(ns: Partial<IdentifyNsIndep>): Buffer {
  const b = Buffer.alloc(IDENTIFY_LEN);
  encodeFields(b, INDEP_FIELDS, ns, 'identify ns (cs indep)');
  return b;
}

export function parseIdentifyNsIndep(buf: Buffer): IdentifyNsIndep {
  checkLen('identify ns (cs indep)', buf, IDENTIFY_LEN);
  return decodeFields(buf, INDEP_FIELDS, 'identify ns (cs indep)') as unknown as IdentifyNsIndep;
}

// ---------------------------------------------------------------------------
// Active Namespace ID list (CNS 0x02), 4096 bytes: up to 1024 u32 NSIDs greater than
// the command's NSID, ascending, the rest zero.
// ---------------------------------------------------------------------------

export const NS_LIST_MAX = 1024;

/** Identify Controller ONCS (optional NVM command support) bits a host checks before sending. */
export const Oncs = {
  /** bit 2: Dataset Management. */
  Dsm: 0x04,
  /** bit 3: Write Zeroes. */
  WriteZeroes: 0x08,
} as const;
/** Identify Controller VWC bit 0: a volatile write cache is present (Flush means something). */
export const VWC_PRESENT = 0x01;

export function encodeActiveNsList(nsids: readonly number[], afterNsid: number): Buffer {
  checkUint('active ns list afterNsid', afterNsid, 32);
  const list = nsids
    .map((n) => checkUint('active ns list nsid', n, 32))
    .filter((n) => n > afterNsid && n !== 0)
    .sort((a, b) => a - b)
    .filter((n, i, a) => i === 0 || a[i - 1]! !== n)
    .slice(0, NS_LIST_MAX);
  const b = Buffer.alloc(IDENTIFY_LEN);
  for (let i = 0; i < list.length; i++) b.writeUInt32LE(list[i]!, i * 4);
  return b;
}

/** NSIDs up to the first zero entry. */
export function parseActiveNsList(buf: Buffer): number[] {
  checkLen('active ns list', buf, IDENTIFY_LEN);
  const out: number[] = [];
  for (let i = 0; i < NS_LIST_MAX; i++) {
    const n = buf.readUInt32LE(i * 4);
    if (n === 0) break;
    out.push(n);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Namespace Identification Descriptor list (CNS 0x03), 4096 bytes: descriptors
//   NIDT u8 @0 | NIDL u8 @1 | reserved u16 @2 | NID[NIDL] @4
// ended by NIDL = 0. NIDT 1 EUI64 (8), 2 NGUID (16), 3 UUID (16), 4 CSI (1).
// ---------------------------------------------------------------------------

export const Nidt = { EUI64: 1, NGUID: 2, UUID: 3, CSI: 4 } as const;
const NIDL: Readonly<Record<number, number>> = { 1: 8, 2: 16, 3: 16, 4: 1 };

export interface NsDescList {
  eui64?: Buffer;
  nguid?: Buffer;
  uuid?: Buffer;
  csi?: number;
}

/** Emits the descriptors present, in NIDT order (EUI64, NGUID, UUID, CSI). */
export function encodeNsDescList(d: NsDescList): Buffer {
  const b = Buffer.alloc(IDENTIFY_LEN);
  let off = 0;
  const put = (nidt: number, v: Uint8Array): void => {
    b[off] = nidt;
    b[off + 1] = NIDL[nidt]!;
    putBytes(b, off + 4, NIDL[nidt]!, v, `ns descriptor ${nidt}`);
    off += 4 + NIDL[nidt]!;
  };
  if (d.eui64 !== undefined) put(Nidt.EUI64, d.eui64);
  if (d.nguid !== undefined) put(Nidt.NGUID, d.nguid);
  if (d.uuid !== undefined) put(Nidt.UUID, d.uuid);
  if (d.csi !== undefined) put(Nidt.CSI, Uint8Array.of(checkUint('ns descriptor csi', d.csi, 8)));
  return b;
}

/**
 * Decodes descriptors up to NIDL = 0 (or the end of the buffer). Unknown NIDT values
 * are skipped. A known type with the wrong NIDL, or a descriptor running past the
 * buffer, is a RangeError (Linux rejects the former too).
 */
export function parseNsDescList(buf: Buffer): NsDescList {
  checkLen('ns descriptor list', buf, 4);
  const out: NsDescList = {};
  let off = 0;
  while (off + 4 <= buf.length) {
    const nidt = buf[off]!;
    const nidl = buf[off + 1]!;
    if (nidl === 0) break;
    if (off + 4 + nidl > buf.length) throw new RangeError(`ns descriptor at ${off}: NIDL ${nidl} runs past the buffer`);
    const want = NIDL[nidt];
    if (want !== undefined && want !== nidl) {
      throw new RangeError(`ns descriptor at ${off}: NIDT ${nidt} needs NIDL ${want}, got ${nidl}`);
    }
    const v = Buffer.from(buf.subarray(off + 4, off + 4 + nidl));
    if (nidt === Nidt.EUI64) out.eui64 = v;
    else if (nidt === Nidt.NGUID) out.nguid = v;
    else if (nidt === Nidt.UUID) out.uuid = v;
    else if (nidt === Nidt.CSI) out.csi = v[0]!;
    off += 4 + nidl;
  }
  return out;
}
