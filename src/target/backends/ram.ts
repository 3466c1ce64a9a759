// RAM namespace store, allocated lazily in 1 MiB chunks: memory is only taken for
// chunks that were written, and reads of untouched chunks return views of one
// shared zero buffer. Reads hand out views (no copy).
import type { Backend } from './types.ts';

export const RAM_CHUNK = 1 << 20;
const ZEROES = Buffer.alloc(RAM_CHUNK);

export class RamBackend implements Backend {
  readonly kind = 'ram';
  /** Memory is all there is: nothing to flush to (and nothing survives the process). */
  readonly writeThrough = true;
  private readonly chunks: (Buffer | undefined)[];

  constructor(public size: number) {
    this.chunks = new Array(Math.ceil(size / RAM_CHUNK)).fill(undefined);
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  /** Bytes of RAM actually allocated. */
  get allocatedBytes(): number {
    let n = 0;
    for (const c of this.chunks) if (c !== undefined) n += c.length;
    return n;
  }

  read(off: number, len: number): Buffer[] {
    const first = Math.floor(off / RAM_CHUNK);
    const start0 = off - first * RAM_CHUNK;
    // Within one chunk (every small read but one in 256): a literal of one view, not a
    // growing array (whose first push reserves room for 17 elements).
    if (start0 + len <= RAM_CHUNK) return [(this.chunks[first] ?? ZEROES).subarray(start0, start0 + len)];
    const out: Buffer[] = [];
    const end = off + len;
    while (off < end) {
      const i = Math.floor(off / RAM_CHUNK);
      const start = off - i * RAM_CHUNK;
      const n = Math.min(end - off, RAM_CHUNK - start);
      const c = this.chunks[i];
      out.push((c ?? ZEROES).subarray(start, start + n));
      off += n;
    }
    return out;
  }

  write(off: number, data: Buffer): undefined {
    let pos = 0;
    while (pos < data.length) {
      const i = Math.floor((off + pos) / RAM_CHUNK);
      const start = off + pos - i * RAM_CHUNK;
      const n = Math.min(data.length - pos, RAM_CHUNK - start);
      let c = this.chunks[i];
      if (c === undefined) c = this.chunks[i] = Buffer.alloc(this.chunkLen(i));
      data.copy(c, start, pos, pos + n);
      pos += n;
    }
    return undefined;
  }

  writeZeroes(off: number, len: number): undefined {
    const end = off + len;
    while (off < end) {
      const i = Math.floor(off / RAM_CHUNK);
      const start = off - i * RAM_CHUNK;
      const n = Math.min(end - off, RAM_CHUNK - start);
      const c = this.chunks[i];
      // A whole chunk is released, not zeroed: views handed to the socket stay intact.
      if (n === this.chunkLen(i)) this.chunks[i] = undefined;
      else if (c !== undefined) c.fill(0, start, start + n);
      off += n;
    }
    return undefined;
  }

  deallocate(off: number, len: number): undefined {
    return this.writeZeroes(off, len);
  }

  resize(size: number): undefined {
    const oldLast = this.chunks.length - 1;
    const n = Math.ceil(size / RAM_CHUNK);
    this.chunks.length = Math.min(this.chunks.length, n);
    while (this.chunks.length < n) this.chunks.push(undefined);
    this.size = size;
    // Only the old and the new last chunks can change length: they get a copy of what
    // they keep (never changed in place, so views of the old one stay as they were).
    this.fitChunk(Math.min(oldLast, n - 1));
    this.fitChunk(n - 1);
    return undefined;
  }

  private fitChunk(i: number): void {
    const old = this.chunks[i];
    const len = this.chunkLen(i);
    if (old === undefined || old.length === len) return;
    const c = Buffer.alloc(len);
    old.copy(c, 0, 0, Math.min(len, old.length));
    this.chunks[i] = c;
  }

  flush(): undefined {
    return undefined;
  }

  close(): Promise<void> {
    this.chunks.fill(undefined);
    return Promise.resolve();
  }

  private chunkLen(i: number): number {
    return Math.min(RAM_CHUNK, this.size - i * RAM_CHUNK);
  }
}
