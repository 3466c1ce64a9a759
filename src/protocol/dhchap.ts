// DH-HMAC-CHAP cryptography (NVMe Base Specification 2.0, §8.13.5): the secret
// representation nvme-cli uses, the host key transformation, the finite-field
// Diffie-Hellman groups of RFC 7919, the augmented challenge and the response values.
// Pure computation: no sockets, timers or state beyond the cached group primes.
import { createDiffieHellman, createHash, createHmac, type DiffieHellman, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { InvalidArgumentError } from './errors.ts';

/** HMAC hash function identifiers (the HashID of the Negotiate and Challenge messages). */
export const AuthHash = { Sha256: 1, Sha384: 2, Sha512: 3 } as const;
export type AuthHash = (typeof AuthHash)[keyof typeof AuthHash];

/** Diffie-Hellman group identifiers (DHGID). */
export const DhGroup = { Null: 0, Ffdhe2048: 1, Ffdhe3072: 2, Ffdhe4096: 3, Ffdhe6144: 4, Ffdhe8192: 5 } as const;
export type DhGroup = (typeof DhGroup)[keyof typeof DhGroup];

interface HashInfo {
  node: string;
  len: number;
  /** The configfs / nvme-cli name (nvmet's dhchap_hash). */
  name: string;
}
const HASHES: Readonly<Record<number, HashInfo>> = {
  [AuthHash.Sha256]: { node: 'sha256', len: 32, name: 'hmac(sha256)' },
  [AuthHash.Sha384]: { node: 'sha384', len: 48, name: 'hmac(sha384)' },
  [AuthHash.Sha512]: { node: 'sha512', len: 64, name: 'hmac(sha512)' },
};

/** RFC 7919 group size in bits, and the X of its prime formula (Appendix A). */
const GROUPS: Readonly<Record<number, { name: string; bits: number; x: bigint }>> = {
  [DhGroup.Null]: { name: 'null', bits: 0, x: 0n },
  [DhGroup.Ffdhe2048]: { name: 'ffdhe2048', bits: 2048, x: 560316n },
  [DhGroup.Ffdhe3072]: { name: 'ffdhe3072', bits: 3072, x: 2625351n },
  [DhGroup.Ffdhe4096]: { name: 'ffdhe4096', bits: 4096, x: 5736041n },
  [DhGroup.Ffdhe6144]: { name: 'ffdhe6144', bits: 6144, x: 15705020n },
  [DhGroup.Ffdhe8192]: { name: 'ffdhe8192', bits: 8192, x: 10965728n },
};

export const isAuthHash = (id: number): id is AuthHash => HASHES[id] !== undefined;
export const isDhGroup = (id: number): id is DhGroup => GROUPS[id] !== undefined;
/** Digest length of a hash function (also the challenge and response length, HL). */
export const hashLen = (h: AuthHash): number => HASHES[h]!.len;
export const hashName = (h: AuthHash): string => HASHES[h]!.name;
export const dhGroupName = (g: DhGroup): string => GROUPS[g]!.name;
/** Length of a DH value (public value and shared secret) in bytes; 0 for the null group. */
export const dhValueLen = (g: DhGroup): number => GROUPS[g]!.bits / 8;

/** Every hash and group we support, strongest last, as the Negotiate message lists them. */
export const ALL_HASHES: readonly AuthHash[] = [AuthHash.Sha256, AuthHash.Sha384, AuthHash.Sha512];
export const ALL_DH_GROUPS: readonly DhGroup[] = [0, 1, 2, 3, 4, 5];

/** Parses nvmet's dhchap_hash ("hmac(sha256)", or "sha256", or the id). */
export function parseHashName(s: string): AuthHash {
  const v = s.trim().toLowerCase();
  for (const id of ALL_HASHES) {
    const h = HASHES[id]!;
    if (v === h.name || v === h.node || v === String(id)) return id;
  }
  throw new InvalidArgumentError(`dhchap hash: ${JSON.stringify(s)} is not one of hmac(sha256), hmac(sha384), hmac(sha512)`);
}

/** Parses nvmet's dhchap_dhgroup ("null", "ffdhe2048" ... "ffdhe8192", or the id). */
export function parseDhGroupName(s: string): DhGroup {
  const v = s.trim().toLowerCase();
  for (const id of ALL_DH_GROUPS) if (v === GROUPS[id]!.name || v === String(id)) return id;
  throw new InvalidArgumentError(
    `dhchap dhgroup: ${JSON.stringify(s)} is not one of null, ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144, ffdhe8192`,
  );
}

// ---------------------------------------------------------------------------
// Secret representation (NVMe Base 2.0 §8.13.5.8; what `nvme gen-dhchap-key` prints):
//   DHHC-1:<hh>:<base64 of key || CRC-32 of key, little-endian>:
// hh: 00 = use the key as it is, 01/02/03 = transform it with SHA-256/384/512.
// The key is 32, 48 or 64 bytes; the CRC is the ISO-HDLC CRC-32 (zlib's).
// ---------------------------------------------------------------------------

export interface DhchapKey {
  /** 0 = no transformation, else the hash of the transformation. */
  hmac: 0 | AuthHash;
  key: Buffer;
}

const KEY_LENS = [32, 48, 64];

export function parseDhchapKey(s: string, what = 'dhchap key'): DhchapKey {
  const m = /^DHHC-1:(0[0-3]):([A-Za-z0-9+/]+={0,2}):?$/.exec(s.trim());
  if (m === null) throw new InvalidArgumentError(`${what}: expected DHHC-1:<00|01|02|03>:<base64>: as nvme gen-dhchap-key prints it`);
  const hmac = Number(m[1]) as 0 | AuthHash;
  const raw = Buffer.from(m[2]!, 'base64');
  const key = raw.subarray(0, raw.length - 4);
  if (!KEY_LENS.includes(key.length)) throw new InvalidArgumentError(`${what}: key length ${key.length} is not 32, 48 or 64 bytes`);
  if (crc32(key) !== raw.readUInt32LE(key.length)) throw new InvalidArgumentError(`${what}: CRC-32 does not match (a mistyped key?)`);
  if (hmac !== 0 && hashLen(hmac) > key.length) {
    throw new InvalidArgumentError(`${what}: a ${key.length}-byte key is too short for hash ${hashName(hmac)}`);
  }
  return { hmac, key: Buffer.from(key) };
}

export function formatDhchapKey(k: DhchapKey): string {
  if (!KEY_LENS.includes(k.key.length)) throw new InvalidArgumentError(`dhchap key: length ${k.key.length} is not 32, 48 or 64 bytes`);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(k.key));
  return `DHHC-1:0${k.hmac}:${Buffer.concat([k.key, crc]).toString('base64')}:`;
}

/**
 * The key transformation (§8.13.5.8): HMAC(key, NQN || "NVMe-over-Fabrics") with the
 * key's own hash, or the key unchanged for hh = 00. The host key is transformed with
 * the host NQN, the controller key with the subsystem NQN (as Linux does).
 */
export function transformKey(k: DhchapKey, nqn: string): Buffer {
  if (k.hmac === 0) return k.key;
  return createHmac(HASHES[k.hmac]!.node, k.key).update(nqn).update('NVMe-over-Fabrics').digest();
}

// ---------------------------------------------------------------------------
// Diffie-Hellman (RFC 7919 groups, generator 2)
// ---------------------------------------------------------------------------

const primes = new Map<number, Buffer>();

/** e to `bits` fractional bits, floor(e * 2^bits), from the series sum 1/k!. */
function eFixed(bits: number): bigint {
  const guard = 64n;
  const one = 1n << (BigInt(bits) + guard);
  let term = one;
  let sum = 0n;
  for (let k = 1n; term > 0n; k++) {
    sum += term;
    term /= k;
  }
  return sum >> guard;
}

/**
 * The group's prime p = 2^b - 2^(b-64) + (floor(2^(b-130) * e) + X) * 2^64 - 1
 * (RFC 7919 Appendix A), as big-endian bytes of b/8.
 */
export function ffdhePrime(g: DhGroup): Buffer {
  let p = primes.get(g);
  if (p !== undefined) return p;
  const { bits, x } = GROUPS[g]!;
  if (bits === 0) throw new InvalidArgumentError('the null DH group has no prime');
  const b = BigInt(bits);
  const v = (1n << b) - (1n << (b - 64n)) + (eFixed(bits - 130) + x) * (1n << 64n) - 1n;
  p = Buffer.from(v.toString(16).padStart(bits / 4, '0'), 'hex');
  primes.set(g, p);
  return p;
}

/** One side's ephemeral DH key pair for group `g` (not the null group). */
export class DhExchange {
  private readonly dh: DiffieHellman;
  /** Our public value g^x mod p, left-padded to the prime's length. */
  readonly publicValue: Buffer;

  constructor(readonly group: DhGroup) {
    const len = dhValueLen(group);
    this.dh = createDiffieHellman(ffdhePrime(group), 2);
    this.publicValue = leftPad(this.dh.generateKeys(), len);
  }

  /**
   * The shared secret (g^xy mod p, the prime's length) from the peer's public value,
   * or undefined when that value is out of range (not in 2..p-2, RFC 7919 §5.1).
   */
  sharedSecret(peer: Buffer): Buffer | undefined {
    const len = dhValueLen(this.group);
    if (peer.length !== len) return undefined;
    const p = BigInt(`0x${ffdhePrime(this.group).toString('hex')}`);
    const y = BigInt(`0x${peer.toString('hex')}`);
    if (y < 2n || y > p - 2n) return undefined;
    try {
      return leftPad(this.dh.computeSecret(peer), len);
    } catch {
      return undefined;
    }
  }
}

function leftPad(b: Buffer, len: number): Buffer {
  if (b.length >= len) return b;
  const out = Buffer.alloc(len);
  b.copy(out, len - b.length);
  return out;
}

/**
 * The augmented challenge (§8.13.5.6): HMAC(H(session key), challenge). With the null
 * group the challenge is used as it is.
 */
export function augmentChallenge(h: AuthHash, challenge: Buffer, sessionKey: Buffer | undefined): Buffer {
  if (sessionKey === undefined) return challenge;
  const node = HASHES[h]!.node;
  const hk = createHash(node).update(sessionKey).digest();
  return createHmac(node, hk).update(challenge).digest();
}

export interface ResponseInput {
  hash: AuthHash;
  /** The transformed key (transformKey). */
  key: Buffer;
  /** The (augmented) challenge. */
  challenge: Buffer;
  seqnum: number;
  tid: number;
  /** SC_C from the Negotiate message (0: no secure channel concatenation). */
  scc: number;
  /** The NQN of the side that answers (host: host NQN; controller: subsystem NQN). */
  ownNqn: string;
  peerNqn: string;
}

/**
 * The response value R (§8.13.5.2-3): HMAC(Kx, Cx || le32(seqnum) || le16(TID) ||
 * SC_C || "HostHost" | "Controller" || own NQN || 00h || peer NQN).
 */
export function computeResponse(role: 'host' | 'controller', r: ResponseInput): Buffer {
  const b = Buffer.alloc(7);
  b.writeUInt32LE(r.seqnum >>> 0, 0);
  b.writeUInt16LE(r.tid & 0xffff, 4);
  b[6] = r.scc;
  return createHmac(HASHES[r.hash]!.node, r.key)
    .update(r.challenge)
    .update(b)
    .update(role === 'host' ? 'HostHost' : 'Controller')
    .update(r.ownNqn)
    .update(Buffer.alloc(1))
    .update(r.peerNqn)
    .digest();
}

/** Constant-time comparison of two response values. */
export const sameResponse = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);
