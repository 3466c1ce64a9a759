// NVMe/TCP and NVMe-oF constants. Values follow the NVMe/TCP Transport Specification
// 1.0, the NVMe over Fabrics 1.1 and NVMe Base 2.0 specifications, as implemented by
// Linux (include/linux/nvme-tcp.h, include/linux/nvme.h) and SPDK
// (include/spdk/nvmf_spec.h, include/spdk/nvme_spec.h).

/** PDU-Type, CH byte 0. Type 0x08 is not defined. */
export const PduType = {
  ICReq: 0x00,
  ICResp: 0x01,
  H2CTermReq: 0x02,
  C2HTermReq: 0x03,
  CapsuleCmd: 0x04,
  CapsuleResp: 0x05,
  H2CData: 0x06,
  C2HData: 0x07,
  R2T: 0x09,
} as const;
export type PduType = (typeof PduType)[keyof typeof PduType];

export const PDU_TYPE_NAME: Readonly<Record<number, string>> = {
  0: 'ICReq',
  1: 'ICResp',
  2: 'H2CTermReq',
  3: 'C2HTermReq',
  4: 'CapsuleCmd',
  5: 'CapsuleResp',
  6: 'H2CData',
  7: 'C2HData',
  9: 'R2T',
};

/** CH byte 1. */
export const PduFlag = {
  HDGSTF: 0x01,
  DDGSTF: 0x02,
  /** H2CData: last PDU for this R2T; C2HData: last PDU of the command's data. */
  LAST_PDU: 0x04,
  /** C2HData only: the command succeeded and no CapsuleResp follows. */
  SUCCESS: 0x08,
} as const;

/** HLEN by PDU type (CH + PDU-specific header, header digest excluded). */
export const HLEN: Readonly<Record<number, number>> = {
  0: 128,
  1: 128,
  2: 24,
  3: 24,
  4: 72,
  5: 24,
  6: 24,
  7: 24,
  9: 24,
};

/** Types that carry a header digest once it is negotiated (CapsuleCmd..R2T; never an undefined type). */
export function hasHdgst(type: number): boolean {
  return type >= PduType.CapsuleCmd && type <= PduType.R2T && type !== 8;
}

/** Types that may carry data (and then a data digest). TermReq data is never digested. */
export function mayCarryData(type: number): boolean {
  return type === PduType.CapsuleCmd || type === PduType.H2CData || type === PduType.C2HData;
}

export const CH_LEN = 8;
export const DIGEST_LEN = 4;
export const TERM_REQ_MAX_PLEN = 152;
export const TERM_REQ_MAX_DATA = 128;
export const IC_PLEN = 128;
export const SQE_LEN = 64;
export const CQE_LEN = 16;
/** Largest PDO a PDU can have: (HPDA/CPDA max 31 + 1) * 4. */
export const PDO_MAX = 128;
export const PDA_MAX = 31;
/** Smallest MAXH2CDATA a host accepts (Linux NVME_TCP_MIN_MAXH2CDATA). */
export const MIN_MAXH2CDATA = 4096;

/** ICReq/ICResp DGST byte. */
export const DigestOpt = { HDGST: 0x01, DDGST: 0x02 } as const;

/** Fatal Error Status of H2CTermReq / C2HTermReq. */
export const Fes = {
  InvalidHeaderField: 0x01,
  PduSequenceError: 0x02,
  HeaderDigestError: 0x03,
  DataOutOfRange: 0x04,
  DataLimitExceeded: 0x05,
  UnsupportedParameter: 0x06,
} as const;
export type Fes = (typeof Fes)[keyof typeof Fes];

export const FES_NAME: Readonly<Record<number, string>> = {
  1: 'Invalid PDU Header Field',
  2: 'PDU Sequence Error',
  3: 'Header Digest Error',
  4: 'Data Transfer Out of Range',
  5: 'Data Transfer Limit Exceeded',
  6: 'Unsupported Parameter',
};

// ---- byte offsets inside PDUs (from the start of the PDU) ----
export const OFF = {
  TYPE: 0,
  FLAGS: 1,
  HLEN: 2,
  PDO: 3,
  PLEN: 4,
  // ICReq / ICResp
  PFV: 8,
  HPDA: 10, // ICReq
  CPDA: 10, // ICResp
  DGST: 11,
  MAXR2T: 12, // ICReq
  MAXH2CDATA: 12, // ICResp
  // TermReq
  FES: 8,
  FEI: 10,
  // CapsuleCmd / CapsuleResp
  SQE: 8,
  CQE: 8,
  // H2CData / C2HData / R2T
  CCCID: 8,
  TTAG: 10,
  DATAO: 12,
  DATAL: 16,
  R2TO: 12,
  R2TL: 16,
} as const;

// ---- NVMe command set ----
export const AdminOpc = {
  DeleteSq: 0x00,
  CreateSq: 0x01,
  GetLogPage: 0x02,
  DeleteCq: 0x04,
  CreateCq: 0x05,
  Identify: 0x06,
  Abort: 0x08,
  SetFeatures: 0x09,
  GetFeatures: 0x0a,
  AsyncEventRequest: 0x0c,
  KeepAlive: 0x18,
  Fabrics: 0x7f,
} as const;

export const IoOpc = {
  Flush: 0x00,
  Write: 0x01,
  Read: 0x02,
  WriteZeroes: 0x08,
  DatasetMgmt: 0x09,
} as const;

export const FabricsType = {
  PropertySet: 0x00,
  Connect: 0x01,
  PropertyGet: 0x04,
  AuthSend: 0x05,
  AuthRecv: 0x06,
  Disconnect: 0x08,
} as const;

/** SGL descriptor TYPE byte (descriptor type << 4 | subtype). */
export const SglType = {
  /** Transport SGL Data Block, transport specific: data moved by C2HData / R2T+H2CData. */
  TransportDataBlock: 0x5a,
  /** Data Block with offset: in-capsule data. */
  InCapsuleOffset: 0x01,
} as const;

/** SQE FLAGS byte: PSDT=01 (SGL for data). */
export const SQE_FLAGS_SGL = 0x40;

/** Status Code Types. */
export const Sct = { Generic: 0, CommandSpecific: 1, MediaError: 2, Path: 3 } as const;

/** Generic (SCT 0) status codes. */
export const Sc = {
  Success: 0x00,
  InvalidOpcode: 0x01,
  InvalidField: 0x02,
  CidConflict: 0x03,
  DataXferError: 0x04,
  InternalError: 0x06,
  AbortRequested: 0x07,
  InvalidNamespace: 0x0b,
  CmdSeqError: 0x0c,
  SglInvalidLastDesc: 0x0d,
  SglInvalidCount: 0x0e,
  SglInvalidDataLength: 0x0f,
  SglInvalidType: 0x11,
  SglInvalidOffset: 0x16,
  KatoInvalid: 0x1a,
  NsWriteProtected: 0x20,
  TransientTransportError: 0x22,
  LbaOutOfRange: 0x80,
  CapacityExceeded: 0x81,
  NsNotReady: 0x82,
} as const;

/** Command-specific (SCT 1) status codes we use. */
export const ScCmd = {
  InvalidQueueId: 0x01,
  InvalidQueueSize: 0x02,
  AerLimitExceeded: 0x05,
  InvalidLogPage: 0x09,
  InvalidFormat: 0x0a,
  ConnectIncompatibleFormat: 0x80,
  ConnectControllerBusy: 0x81,
  ConnectInvalidParam: 0x82,
  ConnectRestartDisc: 0x83,
  ConnectInvalidHost: 0x84,
  /** The queue must complete in-band authentication first (Linux NVME_SC_AUTH_REQUIRED). */
  AuthRequired: 0x91,
} as const;

export const NQN_DISCOVERY = 'nqn.2014-08.org.nvmexpress.discovery';
export const CONNECT_DATA_LEN = 1024;
export const DEFAULT_PORT = 4420;
export const DISCOVERY_PORT = 8009;

/** Controller property offsets (Property Get/Set OFST). */
export const Prop = {
  CAP: 0x00,
  VS: 0x08,
  INTMS: 0x0c,
  INTMC: 0x10,
  CC: 0x14,
  CSTS: 0x1c,
  NSSR: 0x20,
  CRTO: 0x68,
} as const;

/**
 * Controller Configuration (CC, property 14h) fields as masks and values (NVMe Base
 * 2.0, Controller Properties; Linux NVME_CC_* in include/linux/nvme.h): EN bit 0,
 * CSS bits 6:4, MPS bits 10:7, AMS bits 13:11, SHN bits 15:14, IOSQES bits 19:16,
 * IOCQES bits 23:20. The host writes them, the target checks them.
 */
export const Cc = {
  EN: 0x0000_0001,
  CSS_MASK: 0x0000_0070,
  /** CSS 000b: the NVM command set. */
  CSS_NVM: 0x0000_0000,
  /** CSS 111b: admin command set only (a discovery controller may be enabled so). */
  CSS_ADMIN_ONLY: 0x0000_0070,
  /** MPS: memory page size 2^(12 + MPS); 0 is 4 KiB. */
  MPS_MASK: 0x0000_0780,
  /** AMS: arbitration; 0 is round robin. */
  AMS_MASK: 0x0000_3800,
  SHN_MASK: 0x0000_c000,
  /** SHN 01b: normal shutdown notification. */
  SHN_NORMAL: 0x0000_4000,
  IOSQES_MASK: 0x000f_0000,
  /** IOSQES 6: 2^6 = 64-byte submission queue entries. */
  IOSQES_64: 0x0006_0000,
  IOCQES_MASK: 0x00f0_0000,
  /** IOCQES 4: 2^4 = 16-byte completion queue entries. */
  IOCQES_16: 0x0040_0000,
} as const;

/** Controller Status (CSTS, property 1Ch) fields (NVMe Base 2.0; Linux NVME_CSTS_*). */
export const Csts = {
  /** Ready: set once CC.EN = 1 has taken effect. */
  RDY: 0x1,
  /** Controller fatal status. */
  CFS: 0x2,
  /** Shutdown status, bits 3:2: 00b normal operation, 01b occurring, 10b complete. */
  SHST_MASK: 0xc,
  SHST_SHIFT: 2,
  SHST_OCCURRING: 0x4,
  SHST_COMPLETE: 0x8,
} as const;

export const FeatureId = {
  Arbitration: 0x01,
  PowerMgmt: 0x02,
  TempThreshold: 0x04,
  ErrorRecovery: 0x05,
  VolatileWriteCache: 0x06,
  NumQueues: 0x07,
  IrqCoalescing: 0x08,
  WriteAtomicity: 0x0a,
  AsyncEventConfig: 0x0b,
  KeepAliveTimer: 0x0f,
} as const;

export const LogId = {
  Error: 0x01,
  Smart: 0x02,
  FwSlot: 0x03,
  ChangedNsList: 0x04,
  CmdEffects: 0x05,
  Discovery: 0x70,
} as const;

export const Cns = {
  Namespace: 0x00,
  Controller: 0x01,
  ActiveNsList: 0x02,
  NsDescList: 0x03,
  CsiNamespace: 0x05,
  CsiController: 0x06,
  IndepNamespace: 0x08,
} as const;
