// In-band authentication on the wire (NVMe Base Specification 2.0, §8.13 and the
// Authentication Send / Receive fabrics commands; the layouts match Linux
// include/linux/nvme.h nvmf_auth_*): the two commands, the AUTHREQ bits of the
// Connect response, and the DH-HMAC-CHAP messages. All integers little-endian.
import { AdminOpc, FabricsType, SglType } from './constants.ts';
import { type AuthHash, type DhGroup, hashLen } from './dhchap.ts';
import { checkUint } from './fields.ts';
import { buildSqe } from './sqe.ts';

/** Connect response DW0: AUTHREQ.ATR (bit 17, authentication required), AUTHREQ.ASCR (bit 18, secure channel concatenation). */
export const AUTHREQ_ATR = 1 << 17;
export const AUTHREQ_ASCR = 1 << 18;

/** SECP of the DH-HMAC-CHAP protocol; SPSP0 and SPSP1 are both 01h for it. */
export const SECP_DHCHAP = 0xe9;
export const SPSP_DHCHAP = 0x01;

// ---------------------------------------------------------------------------
// Authentication Send (FCTYPE 05h) / Authentication Receive (FCTYPE 06h) SQE:
//   @24 SGL1 | @41 SPSP0 u8 | @42 SPSP1 u8 | @43 SECP u8 | @44 TL (Send) / AL (Receive) u32
// ---------------------------------------------------------------------------

/** Authentication Send (05h) or Receive (06h): the fabrics commands an unauthenticated queue may still issue. */
export const isAuthFctype = (fctype: number): boolean => fctype === FabricsType.AuthSend || fctype === FabricsType.AuthRecv;

export const AuthSqeOff = { SPSP0: 41, SPSP1: 42, SECP: 43, LEN: 44 } as const;

export interface AuthSqe {
  secp: number;
  spsp0: number;
  spsp1: number;
  /** TL (Send) or AL (Receive). */
  len: number;
}

/** Authentication Send with `tl` bytes of in-capsule data, or Authentication Receive of up to `al` bytes. */
export function buildAuthSqe(kind: 'send' | 'receive', len: number, f: Partial<AuthSqe> & { cid?: number } = {}): Buffer {
  const send = kind === 'send';
  const sqe = buildSqe({
    opc: AdminOpc.Fabrics,
    cid: checkUint('cid', f.cid ?? 0, 16),
    sglType: send ? SglType.InCapsuleOffset : SglType.TransportDataBlock,
    sglLen: checkUint('auth length', len, 32),
  });
  sqe[4] = send ? FabricsType.AuthSend : FabricsType.AuthRecv;
  sqe[AuthSqeOff.SPSP0] = f.spsp0 ?? SPSP_DHCHAP;
  sqe[AuthSqeOff.SPSP1] = f.spsp1 ?? SPSP_DHCHAP;
  sqe[AuthSqeOff.SECP] = f.secp ?? SECP_DHCHAP;
  sqe.writeUInt32LE(f.len ?? len, AuthSqeOff.LEN);
  return sqe;
}

export function parseAuthSqe(sqe: Buffer): AuthSqe {
  return {
    secp: sqe[AuthSqeOff.SECP]!,
    spsp0: sqe[AuthSqeOff.SPSP0]!,
    spsp1: sqe[AuthSqeOff.SPSP1]!,
    len: sqe.readUInt32LE(AuthSqeOff.LEN),
  };
}

// ---------------------------------------------------------------------------
// Messages. Common header: @0 AUTH_TYPE (00h common, 01h DH-HMAC-CHAP) | @1 AUTH_ID |
// @2 reserved u16 | @4 T_ID u16 (transaction identifier)
// ---------------------------------------------------------------------------

export const AuthType = { Common: 0x00, Dhchap: 0x01 } as const;
export const AuthId = {
  Negotiate: 0x00,
  Challenge: 0x01,
  Reply: 0x02,
  Success1: 0x03,
  Success2: 0x04,
  Failure2: 0xf0,
  Failure1: 0xf1,
} as const;

/** AUTH_Failure reason code: 01h "authentication failure"; the explanation says why. */
export const FAILURE_REASON = 0x01;
/** Reason code explanations (§8.13.4.6, Figure "AUTH_Failure1/2 reason code explanations"). */
export const FailureExp = {
  Failed: 0x01,
  ProtocolNotUsable: 0x02,
  ConcatMismatch: 0x03,
  HashNotUsable: 0x04,
  DhGroupNotUsable: 0x05,
  IncorrectPayload: 0x06,
  IncorrectMessage: 0x07,
} as const;
export type FailureExp = (typeof FailureExp)[keyof typeof FailureExp];

export const FAILURE_EXP_TEXT: Readonly<Record<number, string>> = {
  [FailureExp.Failed]: 'authentication failed',
  [FailureExp.ProtocolNotUsable]: 'authentication protocol not usable',
  [FailureExp.ConcatMismatch]: 'secure channel concatenation mismatch',
  [FailureExp.HashNotUsable]: 'hash function not usable',
  [FailureExp.DhGroupNotUsable]: 'DH group not usable',
  [FailureExp.IncorrectPayload]: 'incorrect payload',
  [FailureExp.IncorrectMessage]: 'incorrect protocol message',
};

/** DH-HMAC-CHAP AUTH_ID in the Negotiate protocol descriptor. */
const DHCHAP_AUTH_ID = 0x01;
const HDR = 8;
const DESC = 64;
/** In the descriptor's 60-byte ID list, hash IDs start at 0 and DH group IDs at 30. */
const DH_IDS_AT = 30;
const BODY = 16;

export interface Negotiate {
  id: typeof AuthId.Negotiate;
  tid: number;
  scc: number;
  /** Protocol descriptors by AUTH_ID; only DH-HMAC-CHAP (01h) is defined. */
  protocols: { authId: number; hashes: number[]; dhGroups: number[] }[];
}
export interface Challenge {
  id: typeof AuthId.Challenge;
  tid: number;
  hashId: number;
  dhgid: number;
  seqnum: number;
  c1: Buffer;
  dhv: Buffer;
}
export interface Reply {
  id: typeof AuthId.Reply;
  tid: number;
  hl: number;
  cvalid: boolean;
  seqnum: number;
  response: Buffer;
  c2: Buffer;
  dhv: Buffer;
}
export interface Success1 {
  id: typeof AuthId.Success1;
  tid: number;
  hl: number;
  rvalid: boolean;
  response: Buffer;
}
export interface Success2 {
  id: typeof AuthId.Success2;
  tid: number;
}
export interface Failure {
  id: typeof AuthId.Failure1 | typeof AuthId.Failure2;
  tid: number;
  reason: number;
  exp: number;
}
export type AuthMessage = Negotiate | Challenge | Reply | Success1 | Success2 | Failure;

function header(len: number, type: number, id: number, tid: number): Buffer {
  const b = Buffer.alloc(len);
  b[0] = type;
  b[1] = id;
  b.writeUInt16LE(checkUint('auth t_id', tid, 16), 4);
  return b;
}

// Negotiate: @6 SC_C | @7 NAPD | @8 descriptors, 64 bytes each:
//   @0 AUTHID (01h) | @1 reserved | @2 HALEN | @3 DHLEN | @4 ID list[60]
export function encodeNegotiate(tid: number, hashes: readonly AuthHash[], groups: readonly DhGroup[], scc = 0): Buffer {
  const b = header(HDR + DESC, AuthType.Common, AuthId.Negotiate, tid);
  b[6] = scc;
  b[7] = 1;
  b[HDR] = DHCHAP_AUTH_ID;
  b[HDR + 2] = hashes.length;
  b[HDR + 3] = groups.length;
  for (let i = 0; i < hashes.length; i++) b[HDR + 4 + i] = hashes[i]!;
  for (let i = 0; i < groups.length; i++) b[HDR + 4 + DH_IDS_AT + i] = groups[i]!;
  return b;
}

// Challenge: @6 HL | @8 HASHID | @9 DHGID | @10 DHVLEN u16 | @12 SEQNUM u32 | @16 C1[HL] | DH value[DHVLEN]
export function encodeChallenge(m: Omit<Challenge, 'id'>): Buffer {
  const b = header(BODY + m.c1.length + m.dhv.length, AuthType.Dhchap, AuthId.Challenge, m.tid);
  b[6] = m.c1.length;
  b[8] = m.hashId;
  b[9] = m.dhgid;
  b.writeUInt16LE(m.dhv.length, 10);
  b.writeUInt32LE(m.seqnum >>> 0, 12);
  m.c1.copy(b, BODY);
  m.dhv.copy(b, BODY + m.c1.length);
  return b;
}

// Reply: @6 HL | @8 CVALID | @10 DHVLEN u16 | @12 SEQNUM u32 (S2, 0 without C2) | @16 R1[HL] | C2[HL] | DH value[DHVLEN]
export function encodeReply(m: Omit<Reply, 'id' | 'hl'>): Buffer {
  const hl = m.response.length;
  const b = header(BODY + 2 * hl + m.dhv.length, AuthType.Dhchap, AuthId.Reply, m.tid);
  b[6] = hl;
  b[8] = m.cvalid ? 1 : 0;
  b.writeUInt16LE(m.dhv.length, 10);
  b.writeUInt32LE(m.seqnum >>> 0, 12);
  m.response.copy(b, BODY);
  if (m.cvalid) m.c2.copy(b, BODY + hl);
  m.dhv.copy(b, BODY + 2 * hl);
  return b;
}

// Success1: @6 HL | @8 RVALID | @16 R2[HL] (zero unless RVALID)
export function encodeSuccess1(tid: number, hash: AuthHash, response: Buffer | undefined): Buffer {
  const hl = hashLen(hash);
  const b = header(BODY + hl, AuthType.Dhchap, AuthId.Success1, tid);
  b[6] = hl;
  if (response !== undefined) {
    b[8] = 1;
    response.copy(b, BODY);
  }
  return b;
}

// Success2: header and 10 reserved bytes.
export const encodeSuccess2 = (tid: number): Buffer => header(BODY, AuthType.Dhchap, AuthId.Success2, tid);

// Failure1 / Failure2 (common messages): @6 REASON CODE | @7 REASON CODE EXPLANATION
export function encodeFailure(id: Failure['id'], tid: number, exp: number): Buffer {
  const b = header(HDR, AuthType.Common, id, tid);
  b[6] = FAILURE_REASON;
  b[7] = exp;
  return b;
}

/** Why a message could not be decoded: the failure explanation to answer it with. */
export interface AuthDecodeError {
  id: -1;
  exp: FailureExp;
  why: string;
}

const bad = (exp: FailureExp, why: string): AuthDecodeError => ({ id: -1, exp, why });

/**
 * Decodes one message of `buf` (exactly TL bytes, or the AL bytes of a receive
 * buffer: bytes past the message are ignored). Lengths and type/ID pairs are checked
 * here; whether the IDs and values are acceptable is for the caller.
 */
export function decodeAuthMessage(buf: Buffer): AuthMessage | AuthDecodeError {
  if (buf.length < HDR) return bad(FailureExp.IncorrectPayload, `message of ${buf.length} bytes is shorter than its header`);
  const type = buf[0]!;
  const id = buf[1]!;
  const tid = buf.readUInt16LE(4);
  if (type === AuthType.Common) {
    if (id === AuthId.Failure1 || id === AuthId.Failure2) return { id, tid, reason: buf[6]!, exp: buf[7]! };
    if (id !== AuthId.Negotiate) return bad(FailureExp.IncorrectMessage, `unknown common message 0x${id.toString(16)}`);
    const napd = buf[7]!;
    if (napd === 0) return bad(FailureExp.IncorrectPayload, 'negotiate without a protocol descriptor');
    if (buf.length < HDR + napd * DESC)
      return bad(FailureExp.IncorrectPayload, `negotiate: ${napd} descriptors do not fit ${buf.length} bytes`);
    const protocols: Negotiate['protocols'] = [];
    for (let i = 0; i < napd; i++) {
      const d = HDR + i * DESC;
      const halen = buf[d + 2]!;
      const dhlen = buf[d + 3]!;
      if (halen > DH_IDS_AT || dhlen > DESC - 4 - DH_IDS_AT) {
        return bad(FailureExp.IncorrectPayload, `negotiate: HALEN ${halen} / DHLEN ${dhlen} exceed the ID list`);
      }
      const ids = buf.subarray(d + 4, d + DESC);
      protocols.push({ authId: buf[d]!, hashes: [...ids.subarray(0, halen)], dhGroups: [...ids.subarray(DH_IDS_AT, DH_IDS_AT + dhlen)] });
    }
    return { id, tid, scc: buf[6]!, protocols };
  }
  if (type !== AuthType.Dhchap) return bad(FailureExp.IncorrectMessage, `unknown AUTH_TYPE 0x${type.toString(16)}`);
  if (id === AuthId.Success2) {
    if (buf.length < BODY) return bad(FailureExp.IncorrectPayload, 'success2 shorter than 16 bytes');
    return { id, tid };
  }
  if (id !== AuthId.Challenge && id !== AuthId.Reply && id !== AuthId.Success1) {
    return bad(FailureExp.IncorrectMessage, `unknown DH-HMAC-CHAP message 0x${id.toString(16)}`);
  }
  if (buf.length < BODY) return bad(FailureExp.IncorrectPayload, `message 0x${id.toString(16)} shorter than 16 bytes`);
  const hl = buf[6]!;
  if (hl === 0) return bad(FailureExp.IncorrectPayload, 'HL is 0');
  if (id === AuthId.Success1) {
    if (buf.length < BODY + hl) return bad(FailureExp.IncorrectPayload, `success1: HL ${hl} does not fit ${buf.length} bytes`);
    return { id, tid, hl, rvalid: (buf[8]! & 1) === 1, response: Buffer.from(buf.subarray(BODY, BODY + hl)) };
  }
  const dhvlen = buf.readUInt16LE(10);
  const seqnum = buf.readUInt32LE(12);
  const values = id === AuthId.Challenge ? hl : 2 * hl;
  if (buf.length < BODY + values + dhvlen) {
    return bad(FailureExp.IncorrectPayload, `HL ${hl} and DHVLEN ${dhvlen} do not fit ${buf.length} bytes`);
  }
  const dhv = Buffer.from(buf.subarray(BODY + values, BODY + values + dhvlen));
  if (id === AuthId.Challenge) {
    return { id, tid, hashId: buf[8]!, dhgid: buf[9]!, seqnum, c1: Buffer.from(buf.subarray(BODY, BODY + hl)), dhv };
  }
  return {
    id,
    tid,
    hl,
    cvalid: (buf[8]! & 1) === 1,
    seqnum,
    response: Buffer.from(buf.subarray(BODY, BODY + hl)),
    c2: Buffer.from(buf.subarray(BODY + hl, BODY + 2 * hl)),
    dhv,
  };
}

/** One line for a failure message: "authentication failed (reason 0x01, explanation 0x06 incorrect payload)". */
export function describeFailure(f: { reason: number; exp: number }): string {
  return `reason 0x${f.reason.toString(16).padStart(2, '0')}, explanation 0x${f.exp.toString(16).padStart(2, '0')} ${FAILURE_EXP_TEXT[f.exp] ?? 'unknown'}`;
}
