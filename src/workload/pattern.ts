// Verification pattern: every logical block carries a 24-byte tag — magic, its own
// LBA, the generation of the write that produced it and a checksum of the fill —
// followed by pseudo-random fill derived from (lba, generation, seed). A read is
// checked block by block, so a misplaced, stale or torn block is named precisely.

const MAGIC = 0x544f564e; // "NVOT"
const TAG_LEN = 24;

function fill(buf: Buffer, off: number, len: number, lba: number, gen: number, seed: number): void {
  // xorshift32 seeded from the block identity; 4 bytes per step.
  let x = (lba * 0x9e3779b1) ^ (gen * 0x85ebca6b) ^ seed ^ 0x2545f491;
  x >>>= 0;
  if (x === 0) x = 1;
  const end = off + len;
  let p = off;
  for (; p + 4 <= end; p += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, p);
  }
  for (; p < end; p++) buf[p] = p & 0xff;
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

let scratch = Buffer.alloc(0);

/**
 * Checks blocks [slba, slba + n) in buf against generation `gen`. Returns undefined
 * when every block matches, or a one-line description of the first bad block.
 */
export function checkPattern(buf: Buffer, lbaSize: number, slba: number, gen: number, seed: number): string | undefined {
  if (scratch.length < lbaSize) scratch = Buffer.alloc(lbaSize);
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
    fill(scratch, 0, lbaSize - TAG_LEN, lba, gen, seed);
    if (buf.compare(scratch, 0, lbaSize - TAG_LEN, o + TAG_LEN, o + lbaSize) !== 0) {
      return `lba ${lba}: fill differs from the pattern`;
    }
  }
  return undefined;
}
