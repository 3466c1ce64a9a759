// Namespace storage. Synchronous backends (RAM) return plain values so the I/O path
// needs no promise; asynchronous ones (files) return a Promise. Callers test the
// result with `instanceof Promise`.

/** A namespace's byte store. Offsets and lengths are bytes, already range-checked. */
export interface Backend {
  readonly kind: 'ram' | 'file';
  /** Capacity in bytes. */
  readonly size: number;
  /** Every completed write is already durable (no volatile cache to flush). */
  readonly writeThrough: boolean;
  /** Opens the store (files); a no-op for RAM. */
  open(): Promise<void>;
  /**
   * The bytes at [off, off+len) as one or more buffers in order. RAM returns views
   * of its own memory (no copy): the caller must treat them as read-only.
   */
  read(off: number, len: number): Buffer[] | Promise<Buffer[]>;
  /**
   * Stores that copy (files) read into the caller's buffer instead: [off, off+dest.length)
   * into `dest`. The target reads through this when present, into a buffer from its data
   * budget; stores without it (RAM) cost no buffer.
   */
  readInto?(off: number, dest: Buffer): Promise<void>;
  /** Stores `data` at `off`. The caller may reuse `data` once this returned or resolved. */
  write(off: number, data: Buffer): Promise<void> | undefined;
  /** Zero-fills [off, off+len). */
  writeZeroes(off: number, len: number): Promise<void> | undefined;
  /** Deallocates [off, off+len); reads of it return zeros afterwards (DLFEAT 1). */
  deallocate(off: number, len: number): Promise<void> | undefined;
  /**
   * Changes the capacity to `size` bytes: bytes past the old end read as zeros, bytes
   * past the new end are dropped. Views handed out by read() stay valid.
   */
  resize(size: number): Promise<void> | undefined;
  /** Makes every completed write durable. */
  flush(): Promise<void> | undefined;
  /** Flushes and releases the store. */
  close(): Promise<void>;
}
