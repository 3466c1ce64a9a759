// Verification pattern: every logical block carries a 24-byte tag — magic, its own
// LBA, the generation of the write that produced it and a checksum of the fill —
// followed by pseudo-random fill derived from (lba, generation, seed). A read is
// checked block by block, so a misplaced, stale or torn block is named precisely.
import { endianness } from 'node:os';

const MAGIC = 0x544f564e; // "NVOT"
const TAG_LEN = 24;

const LITTLE_ENDIAN = endianness() === 'LE';

/** A block's fill is generated into one reused word array; `fillBytes` views it. */
let words = new Uint32Array(0);
let fillBytes = Buffer.alloc(0);

/**
 * The `len` bytes of a block's fill, as a view of the reused buffer (valid until the
 * next call): xorshift32 seeded from the block identity, one little-endian word per
 * step, then (when len is not a multiple of 4) bytes counting up from the tail's offset.
 */
function blockFill(len: number, lba: number, gen: number, seed: number): Buffer {
  const nw = len >>> 2;
  if (fillBytes.length < len) {
    words = new Uint32Array(nw + 1);
    fillBytes = Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  }
  let x = ((lba * 0x9e3779b1) ^ (gen * 0x85ebca6b) ^ seed ^ 0x2545f491) >>> 0 || 1;
  for (let i = 0; i < nw; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  if (!LITTLE_ENDIAN) fillBytes.subarray(0, nw * 4).swap32();
  for (let p = nw * 4; p < len; p++) fillBytes[p] = p & 0xff;
  return fillBytes.subarray(0, len);
}

/** Writes the pattern for blocks [slba, slba + n) of generation `gen` into buf. */
export function writePattern(buf: Buffer, lbaSize: number, slba: number, gen: number, seed: number): void {
  const n = Math.floor(buf.length / lbaSize);
  for (let i = 0; i < n; i++) {
    const o = i * lbaSize;
    const lba = slba + i;
    buf.writeUInt32LE(MAGIC, o);
    buf.writeUInt32LE(lba % 0x1_0000_0000, o + 4);
    buf.writeUInt32LE(Math.floor(lba / 0x1_0000_0000), o + 8);
    buf.writeUInt32LE(gen >>> 0, o + 12);
    buf.writeUInt32LE(seed >>> 0, o + 16);
    buf.writeUInt32LE(0, o + 20);
    blockFill(lbaSize - TAG_LEN, lba, gen, seed).copy(buf, o + TAG_LEN);
  }
}

/**
 * Checks blocks [slba, slba + n) in buf against generation `gen`. Returns undefined
 * when every block matches, or a one-line description of the first bad block.
 */
export function checkPattern(buf: Buffer, lbaSize: number, slba: number, gen: number, seed: number): string | undefined {
  const n = Math.floor(buf.length / lbaSize);
  for (let i = 0; i < n; i++) {
    const o = i * lbaSize;
    const lba = slba + i;
    const magic = buf.readUInt32LE(o);
    const tagLba = buf.readUInt32LE(o + 4) + buf.readUInt32LE(o + 8) * 0x1_0000_0000;
    const tagGen = buf.readUInt32LE(o + 12);
    if (magic !== MAGIC) return `lba ${lba}: no pattern tag (magic 0x${magic.toString(16)})`;
    if (tagLba !== lba) return `lba ${lba}: holds the block written for lba ${tagLba}`;
    if (tagGen !== gen >>> 0) return `lba ${lba}: generation ${tagGen}, expected ${gen >>> 0}`;
    if (buf.compare(blockFill(lbaSize - TAG_LEN, lba, gen, seed), 0, lbaSize - TAG_LEN, o + TAG_LEN, o + lbaSize) !== 0) {
      return `lba ${lba}: fill differs from the pattern`;
    }
  }
  return undefined;
}
