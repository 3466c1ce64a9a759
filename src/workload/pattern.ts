// Verification pattern: every logical block carries a 24-byte tag — magic, its own
// LBA, the generation of the write that produced it and a checksum of the fill —
// followed by pseudo-random fill derived from (lba, generation, seed). A read is
// checked block by block, so a misplaced, stale or torn block is named precisely.
import { endianness } from 'node:os';

let scratch = Buffer.alloc(0);

const MAGIC = 0x544f564e; // "NVOT"
const TAG_LEN = 24;

const LITTLE_ENDIAN = endianness() === 'LE';

/** The fill's 32-bit words, generated into one reused typed array (and a byte view of it). */
let words = new Uint32Array(0);
let wordBytes = Buffer.alloc(0);

function seedOf(lba: number, gen: number, seed: number): number {
  const x = ((lba * 0x9e3779b1) ^ (gen * 0x85ebca6b) ^ seed ^ 0x2545f491) >>> 0;
  return x === 0 ? 1 : x;
}

/**
 * The first `len` bytes of a block's fill (len rounded down to whole words), as a view
 * of the reused word buffer: xorshift32 seeded from the block identity, one word per
 * step, little-endian. Valid until the next call.
 */
function fillWords(len: number, lba: number, gen: number, seed: number): Buffer {
  const nw = len >>> 2;
  if (words.length < nw) {
    words = new Uint32Array(nw);
    wordBytes = Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  }
  let x = seedOf(lba, gen, seed);
  for (let i = 0; i < nw; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return wordBytes.subarray(0, nw * 4);
}

function fill(buf: Buffer, off: number, len: number, lba: number, gen: number, seed: number): void {
  const end = off + len;
  let p = off;
  if (LITTLE_ENDIAN) {
    const w = fillWords(len, lba, gen, seed);
    w.copy(buf, off);
    p += w.length;
  } else {
    let x = seedOf(lba, gen, seed);
    for (; p + 4 <= end; p += 4) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      buf.writeUInt32LE(x, p);
    }
  }
  for (; p < end; p++) buf[p] = p & 0xff;
}

/** True when buf[off, off + len) holds the block's fill. */
function fillMatches(buf: Buffer, off: number, len: number, lba: number, gen: number, seed: number): boolean {
  if (!LITTLE_ENDIAN || len % 4 !== 0) {
    if (scratch.length < len) scratch = Buffer.alloc(len);
    fill(scratch, 0, len, lba, gen, seed);
    return buf.compare(scratch, 0, len, off, off + len) === 0;
  }
  const w = fillWords(len, lba, gen, seed);
  return buf.compare(w, 0, len, off, off + len) === 0;
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
    fill(buf, o + TAG_LEN, lbaSize - TAG_LEN, lba, gen, seed);
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
    if (!fillMatches(buf, o + TAG_LEN, lbaSize - TAG_LEN, lba, gen, seed)) return `lba ${lba}: fill differs from the pattern`;
  }
  return undefined;
}
