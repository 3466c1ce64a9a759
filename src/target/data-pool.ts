// Free data buffers kept for reuse, in power-of-two size classes. A fresh
// Buffer.allocUnsafe of 128 KiB per command is fresh mmap'd memory: the receiver's
// copy into it (or a file read into it) then page-faults on every 4 KiB and runs at
// about 1 GB/s. Pooled buffers are standalone (see transport/io-buffer.ts) and stay
// mapped. The pool only keeps and hands out buffers; what may be kept, and when it is
// trimmed, is the target's data budget's decision (budget.ts).
import { allocIoBuffer } from '../transport/reader.ts';

/** Smallest pooled buffer; sizes go up in powers of two. */
const MIN_CLASS = 4096;

/** The size of the buffer that holds `len` bytes: its size class. */
export function classSize(len: number): number {
  return MIN_CLASS << classOf(len);
}

export class DataPool {
  /** Free buffers per size class (index = log2(size / MIN_CLASS)). */
  private readonly free: Buffer[][] = [];
  /** Bytes in the free buffers. */
  bytes = 0;

  /** A free buffer of exactly `size` bytes (a class size), or undefined when there is none. */
  take(size: number): Buffer | undefined {
    const b = this.free[classOf(size)]?.pop();
    if (b !== undefined) this.bytes -= b.length;
    return b;
  }

  /** A new buffer of `size` bytes (a class size). */
  alloc(size: number): Buffer {
    return allocIoBuffer(size);
  }

  put(backing: Buffer): void {
    (this.free[classOf(backing.length)] ??= []).push(backing);
    this.bytes += backing.length;
  }

  /** Drops free buffers, largest first, until at least `n` bytes went (or none is left). */
  trim(n: number): void {
    for (let cls = this.free.length - 1; cls >= 0 && n > 0; cls--) {
      const list = this.free[cls];
      while (list !== undefined && list.length > 0 && n > 0) {
        const b = list.pop()!;
        this.bytes -= b.length;
        n -= b.length;
      }
    }
  }
}

/** log2(classSize(len) / MIN_CLASS): the bit length of len - 1, less MIN_CLASS's 12 bits. */
function classOf(len: number): number {
  return len <= MIN_CLASS ? 0 : 20 - Math.clz32(len - 1);
}
