// Buffers for host-to-controller data (in-capsule data and R2T + H2CData), reused
// per connection. A fresh Buffer.allocUnsafe of 128 KiB per write is fresh mmap'd
// memory: the receiver's copy into it then page-faults on every 4 KiB and runs at
// about 1 GB/s. Pooled buffers are standalone (see transport/io-buffer.ts) and stay mapped.
import { allocIoBuffer } from '../transport/reader.ts';

/** Smallest pooled buffer; sizes go up in powers of two. */
const MIN_CLASS = 4096;

export class DataPool {
  /** Free buffers per size class (index = log2(size / MIN_CLASS)). */
  private readonly free: Buffer[][] = [];
  private freeBytes = 0;

  /** @param maxFreeBytes bytes kept for reuse at most; more released buffers go to the GC. */
  constructor(private readonly maxFreeBytes: number) {}

  /** A pooled buffer of at least `len` bytes (the caller views its first `len`); give it back with put(). */
  take(len: number): Buffer {
    const cls = classOf(len);
    const backing = this.free[cls]?.pop();
    if (backing === undefined) return allocIoBuffer(MIN_CLASS << cls);
    this.freeBytes -= backing.length;
    return backing;
  }

  put(backing: Buffer): void {
    if (this.freeBytes + backing.length > this.maxFreeBytes) return;
    const cls = classOf(backing.length);
    (this.free[cls] ??= []).push(backing);
    this.freeBytes += backing.length;
  }

  /** Drops every pooled buffer. */
  clear(): void {
    this.free.length = 0;
    this.freeBytes = 0;
  }
}

function classOf(len: number): number {
  let cls = 0;
  while (MIN_CLASS << cls < len) cls++;
  return cls;
}
