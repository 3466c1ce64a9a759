// Field helpers shared by the structure codecs (fabrics, identify, discovery, admin):
// range checks, u64 as a JS number, space- or NUL-padded strings, fixed byte fields,
// and a table-driven encoder/decoder for flat structures such as Identify data.
import { InvalidArgumentError } from './errors.ts';

/** Throws InvalidArgumentError unless `v` is an integer in [0, 2^bits). */
export function checkUint(what: string, v: number, bits: number): number {
  if (!Number.isSafeInteger(v) || v < 0 || v > 2 ** bits - 1) {
    throw new InvalidArgumentError(`${what}: ${v} is not an unsigned ${bits}-bit integer`);
  }
  return v;
}

/** Throws InvalidArgumentError unless buf holds at least `need` bytes from `off`. */
export function checkLen(what: string, buf: Uint8Array, need: number, off = 0): void {
  if (!(buf instanceof Uint8Array)) throw new InvalidArgumentError(`${what}: expected a Buffer`);
  if (buf.length - off < need) {
    throw new InvalidArgumentError(`${what}: need ${need} bytes at offset ${off}, buffer has ${buf.length - off}`);
  }
}

/** Writes a u64 field from a non-negative safe integer. */
export function writeU64(buf: Buffer, v: number, off: number, what: string): void {
  checkUint(what, v, 53);
  buf.writeUInt32LE(v % 0x1_0000_0000, off);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4);
}

/** Reads a u64 field as a JS number; values above 2^53-1 are refused (RangeError). */
export function readU64(buf: Buffer, off: number, what: string): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi > 0x1f_ffff) throw new RangeError(`${what}: u64 value above 2^53-1 cannot be a JS number`);
  return hi * 0x1_0000_0000 + buf.readUInt32LE(off);
}

/**
 * ASCII string field padded with spaces (SN, MN, FR) or NULs (NQNs, addresses).
 * NUL-padded fields keep at least one NUL terminator; NQNs may be UTF-8.
 */
export function putString(buf: Buffer, off: number, len: number, s: string, pad: 'space' | 'nul', what: string): void {
  if (typeof s !== 'string') throw new InvalidArgumentError(`${what}: expected a string`);
  const bytes = Buffer.from(s, pad === 'space' ? 'latin1' : 'utf8');
  if (pad === 'space' && !/^[\x20-\x7e]*$/.test(s)) {
    throw new InvalidArgumentError(`${what}: ${JSON.stringify(s)} is not printable ASCII`);
  }
  if (bytes.includes(0)) throw new InvalidArgumentError(`${what}: must not contain NUL`);
  const max = pad === 'space' ? len : len - 1;
  if (bytes.length > max) throw new InvalidArgumentError(`${what}: ${bytes.length} bytes, at most ${max} fit`);
  bytes.copy(buf, off);
  buf.fill(pad === 'space' ? 0x20 : 0, off + bytes.length, off + len);
}

/** Reads a string field: up to the first NUL, trailing spaces removed. */
export function getString(buf: Buffer, off: number, len: number, enc: 'latin1' | 'utf8' = 'utf8'): string {
  let end = buf.indexOf(0, off);
  if (end < 0 || end > off + len) end = off + len;
  while (end > off && buf[end - 1] === 0x20) end--;
  return buf.toString(enc, off, end);
}

/** Copies a fixed-size byte field (GUIDs, host IDs); a missing value writes zeros. */
export function putBytes(buf: Buffer, off: number, len: number, v: Uint8Array | undefined, what: string): void {
  if (v === undefined) {
    buf.fill(0, off, off + len);
    return;
  }
  if (!(v instanceof Uint8Array) || v.length !== len) {
    throw new InvalidArgumentError(`${what}: expected ${len} bytes`);
  }
  buf.set(v, off);
}

// Field kinds of the layout tables below.
type Kind = 'u8' | 'u16' | 'u24' | 'u32' | 'u64' | 'ascii' | 'nqn' | 'bytes';
export type Field = readonly [name: string, off: number, kind: Kind, len?: number];

export function encodeFields(b: Buffer, table: readonly Field[], obj: object, what: string): void {
  const o = obj as Record<string, unknown>;
  for (const [name, off, kind, len = 0] of table) {
    const v = o[name];
    const label = `${what} ${name}`;
    switch (kind) {
      case 'ascii':
        putString(b, off, len, (v as string | undefined) ?? '', 'space', label);
        break;
      case 'nqn':
        putString(b, off, len, (v as string | undefined) ?? '', 'nul', label);
        break;
      case 'bytes':
        putBytes(b, off, len, v as Uint8Array | undefined, label);
        break;
      case 'u64':
        writeU64(b, (v as number | undefined) ?? 0, off, label);
        break;
      default: {
        const bits = kind === 'u8' ? 8 : kind === 'u16' ? 16 : kind === 'u24' ? 24 : 32;
        b.writeUIntLE(checkUint(label, (v as number | undefined) ?? 0, bits), off, bits / 8);
      }
    }
  }
}

export function decodeFields(b: Buffer, table: readonly Field[], what: string): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [name, off, kind, len = 0] of table) {
    switch (kind) {
      case 'ascii':
        o[name] = getString(b, off, len, 'latin1');
        break;
      case 'nqn':
        o[name] = getString(b, off, len);
        break;
      case 'bytes':
        o[name] = Buffer.from(b.subarray(off, off + len));
        break;
      case 'u64':
        o[name] = readU64(b, off, `${what} ${name}`);
        break;
      default:
        o[name] = b.readUIntLE(off, kind === 'u8' ? 1 : kind === 'u16' ? 2 : kind === 'u24' ? 3 : 4);
    }
  }
  return o;
}
