// NVMe/TCP TLS 1.3 pre-shared keys: the PSK interchange format, the retained PSK, the
// PSK identity and the TLS PSK (NVMe TCP Transport 1.0 §3.6.1.3 and §3.6.1.5; the
// version-1 identity with its PSK digest is TP 8018, in TCP Transport 1.1).
//
//   interchange   NVMeTLSkey-1:<hh>:<base64(configured PSK || CRC-32 little-endian)>:
//                 hh 00 no transform, 01 SHA-256 (32-byte key), 02 SHA-384 (48-byte key)
//   retained PSK  HKDF-Expand-Label(HKDF-Extract(0, configured), "HostNQN", <hostnqn>, len(configured)),
//                 with the hash hh names (hh 00: the configured PSK itself)
//   identity v0   "NVMe0R<cc> <hostnqn> <subnqn>"
//   identity v1   "NVMe1R<cc> <hostnqn> <subnqn> <digest>",
//                 digest = base64(HMAC(retained, "<hostnqn> <subnqn> NVMe-over-Fabrics"))
//   TLS PSK       HKDF-Expand-Label(HKDF-Extract(0, retained), "nvme-tls-psk", context, L),
//                 context = the identity (v0) or "<cc> <digest>" (v1), L = 32 or 48
// where cc is the hash of the TLS cipher suite the PSK is used with (01 SHA-256 for
// TLS_AES_128_GCM_SHA256, 02 SHA-384 for TLS_AES_256_GCM_SHA384); it need not be hh.
//
// HKDF-Expand-Label is RFC 8446 §7.1: info = uint16 length (big-endian) || uint8 len ||
// "tls13 " + label || uint8 len || context. libnvme (nvme-cli) before its 2025 fix
// (linux-nvme/libnvme PR #1051) wrote the length in host byte order and left out the
// two length bytes; `compat: true` derives as it did, so that keys such nvme-cli
// versions put in a Linux keyring can be matched.
import { createHmac, hkdfSync } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { InvalidArgumentError } from './errors.ts';

/** The interchange format's hh: how the configured PSK becomes the retained PSK. */
export const PskHash = { None: 0, Sha256: 1, Sha384: 2 } as const;
export type PskHash = (typeof PskHash)[keyof typeof PskHash];
/** The hash of a TLS 1.3 cipher suite, as a PSK identity names it. */
export type CipherHash = typeof PskHash.Sha256 | typeof PskHash.Sha384;

const PREFIX = 'NVMeTLSkey-1:';
const HASH_NAME = { 1: 'sha256', 2: 'sha384' } as const;
const HASH_LEN = { 1: 32, 2: 48 } as const;
const CRC_LEN = 4;
/** A configured key's length for each hh (00: either). */
const KEY_LENS: Record<PskHash, readonly number[]> = { 0: [32, 48], 1: [32], 2: [48] };
const DIGEST_SEED = 'NVMe-over-Fabrics';

/** A configured PSK as the interchange format carries it. */
export interface ConfiguredPsk {
  hash: PskHash;
  /** 32 or 48 bytes. */
  key: Buffer;
}

/** A {TLS PSK, PSK identity} pair for one cipher suite hash. */
export interface TlsPsk {
  identity: string;
  psk: Buffer;
}

const hh = (h: number): string => h.toString(16).padStart(2, '0');

/** Parses `NVMeTLSkey-1:<hh>:<base64>:`, checking the hash, the key length and the CRC-32. */
export function parsePskInterchange(text: string): ConfiguredPsk {
  const bad = (why: string) => new InvalidArgumentError(`TLS key: ${why} (expected NVMeTLSkey-1:<hh>:<base64>:)`);
  const s = typeof text === 'string' ? text.trim() : '';
  if (!s.startsWith(PREFIX) || !s.endsWith(':')) throw bad('not in the PSK interchange format');
  const m = /^(\d\d):([A-Za-z0-9+/]+={0,2}):$/.exec(s.slice(PREFIX.length));
  if (m === null) throw bad('malformed');
  const hash = Number(m[1]);
  if (hash !== 0 && hash !== 1 && hash !== 2) throw bad(`unknown hash ${m[1]}`);
  const raw = Buffer.from(m[2]!, 'base64');
  if (raw.toString('base64') !== m[2]) throw bad('invalid base64');
  const len = raw.length - CRC_LEN;
  if (!KEY_LENS[hash].includes(len)) throw bad(`a ${len}-byte key does not go with hash ${m[1]}`);
  const key = Buffer.from(raw.subarray(0, len));
  const want = raw.readUInt32LE(len);
  const got = crc32(key);
  if (want !== got) throw bad(`CRC-32 mismatch (key says ${want.toString(16)}, computed ${got.toString(16)})`);
  return { hash, key };
}

/** The interchange form of a configured PSK (what `nvme gen-tls-key` prints). */
export function formatPskInterchange(c: ConfiguredPsk): string {
  if (!KEY_LENS[c.hash]?.includes(c.key.length)) {
    throw new InvalidArgumentError(`TLS key: a ${c.key.length}-byte key does not go with hash ${hh(c.hash)}`);
  }
  const crc = Buffer.alloc(CRC_LEN);
  crc.writeUInt32LE(crc32(c.key));
  return `${PREFIX}${hh(c.hash)}:${Buffer.concat([c.key, crc]).toString('base64')}:`;
}

/** RFC 8446 §7.1 HkdfLabel (or libnvme's former layout, see the top of the file). */
export function hkdfLabel(length: number, label: string, context: string | Buffer, compat = false): Buffer {
  const l = Buffer.from(`tls13 ${label}`);
  const c = typeof context === 'string' ? Buffer.from(context) : context;
  if (l.length > 255 || c.length > 255) throw new InvalidArgumentError('HKDF label or context longer than 255 bytes');
  const len = Buffer.alloc(2);
  if (compat) {
    len.writeUInt16LE(length);
    return Buffer.concat([len, l, c]);
  }
  len.writeUInt16BE(length);
  return Buffer.concat([len, Buffer.from([l.length]), l, Buffer.from([c.length]), c]);
}

/** HKDF-Expand-Label(HKDF-Extract(0, secret), label, context, length). */
export function hkdfExpandLabel(
  hash: CipherHash,
  secret: Buffer,
  label: string,
  context: string | Buffer,
  length: number,
  compat = false,
): Buffer {
  // HKDF-Extract with a zero-length salt is HKDF-Extract with HashLen zero bytes (RFC 5869 §2.2).
  return Buffer.from(hkdfSync(HASH_NAME[hash], secret, Buffer.alloc(0), hkdfLabel(length, label, context, compat), length));
}

/** The retained PSK of a configured PSK for one host. */
export function deriveRetainedPsk(c: ConfiguredPsk, hostnqn: string, compat = false): Buffer {
  if (c.hash === PskHash.None) return Buffer.from(c.key);
  return hkdfExpandLabel(c.hash, c.key, 'HostNQN', hostnqn, c.key.length, compat);
}

/** The PSK digest of a version-1 identity (base64). */
export function pskDigest(retained: Buffer, cipher: CipherHash, hostnqn: string, subnqn: string): string {
  return createHmac(HASH_NAME[cipher], retained).update(`${hostnqn} ${subnqn} ${DIGEST_SEED}`).digest('base64');
}

/** The PSK identity of a retained PSK. */
export function pskIdentity(version: 0 | 1, cipher: CipherHash, hostnqn: string, subnqn: string, digest?: string): string {
  const base = `NVMe${version}R${hh(cipher)} ${hostnqn} ${subnqn}`;
  if (version === 0) return base;
  if (digest === undefined) throw new InvalidArgumentError('a version-1 PSK identity needs the PSK digest');
  return `${base} ${digest}`;
}

/** The TLS PSK and identity of a retained PSK, for one cipher suite hash. */
export function deriveTlsPsk(
  retained: Buffer,
  o: { version: 0 | 1; cipher: CipherHash; hostnqn: string; subnqn: string; compat?: boolean },
): TlsPsk {
  const digest = o.version === 1 ? pskDigest(retained, o.cipher, o.hostnqn, o.subnqn) : undefined;
  const identity = pskIdentity(o.version, o.cipher, o.hostnqn, o.subnqn, digest);
  const context = o.version === 1 ? `${hh(o.cipher)} ${digest}` : identity;
  return { identity, psk: hkdfExpandLabel(o.cipher, retained, 'nvme-tls-psk', context, HASH_LEN[o.cipher], o.compat) };
}

/** A PSK identity taken apart. */
export interface PskIdentity {
  version: 0 | 1;
  /** R: retained PSK; G: generated by DH-HMAC-CHAP (secure channel concatenation). */
  type: 'R' | 'G';
  cipher: CipherHash;
  hostnqn: string;
  subnqn: string;
  /** Version 1 only. */
  digest?: string;
}

/** Parses an identity a host sent; undefined if it is not an NVMe/TCP PSK identity. */
export function parsePskIdentity(identity: string): PskIdentity | undefined {
  const m = /^NVMe([01])([RG])(0[12]) (\S+) (\S+)(?: (\S+))?$/.exec(identity.replace(/\0$/, ''));
  if (m === null) return undefined;
  const version = m[1] === '1' ? 1 : 0;
  if ((version === 1) !== (m[6] !== undefined)) return undefined;
  const id: PskIdentity = {
    version,
    type: m[2] as 'R' | 'G',
    cipher: m[3] === '02' ? PskHash.Sha384 : PskHash.Sha256,
    hostnqn: m[4]!,
    subnqn: m[5]!,
  };
  if (m[6] !== undefined) id.digest = m[6];
  return id;
}
