// File namespace store through an fs.promises FileHandle. A missing file is created
// at the namespace size (sparse); an existing file is never grown: one shorter than
// the namespace is refused. A read-only store opens the file O_RDONLY and never creates it.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { InvalidArgumentError } from '../../protocol/errors.ts';
import type { Backend } from './types.ts';

const ZERO_CHUNK = 1 << 20;

export class FileBackend implements Backend {
  readonly kind = 'file';
  private fh: FileHandle | undefined;
  private opening: Promise<void> | undefined;
  private zeroes: Buffer | undefined;

  /**
   * `size`: the namespace size; a shorter file is extended (sparse) to it when opened.
   * `writeThrough`: opened with O_DSYNC, so a write returns once its data is on stable storage.
   * `readOnly`: opened O_RDONLY (the namespace is served write-protected).
   */
  constructor(
    readonly path: string,
    public size: number,
    readonly writeThrough = false,
    readonly readOnly = false,
  ) {}

  /** The size of an existing file, for a namespace declared without a size. */
  static existingSize(path: string): number {
    const fd = openSync(path, 'r');
    try {
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  }

  /** Opens the file once (later calls share the first one's promise). */
  open(): Promise<void> {
    this.opening ??= this.openFile();
    return this.opening;
  }

  private async openFile(): Promise<void> {
    const sync = this.writeThrough ? constants.O_DSYNC : 0;
    const mode = this.readOnly ? constants.O_RDONLY : constants.O_RDWR | sync;
    let fh: FileHandle;
    let created = false;
    try {
      fh = await open(this.path, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || this.readOnly) throw err;
      fh = await open(this.path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | sync, 0o644);
      created = true;
    }
    const st = await fh.stat();
    if (st.isFile() && st.size < this.size) {
      if (!created) {
        await fh.close();
        throw new InvalidArgumentError(
          `${this.path} is ${st.size} bytes, less than the namespace size ${this.size}: it is not grown (give no size, or grow the file yourself)`,
        );
      }
      await fh.truncate(this.size);
    }
    this.fh = fh;
  }

  private handle(): FileHandle {
    if (this.fh === undefined) throw new Error(`file namespace ${this.path} is not open`);
    return this.fh;
  }

  async read(off: number, len: number): Promise<Buffer[]> {
    const buf = Buffer.allocUnsafe(len);
    await this.readInto(off, buf);
    return [buf];
  }

  async readInto(off: number, dest: Buffer): Promise<void> {
    const len = dest.length;
    let got = 0;
    const fh = this.handle();
    while (got < len) {
      const { bytesRead } = await fh.read(dest, got, len - got, off + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < len) dest.fill(0, got);
  }

  async write(off: number, data: Buffer): Promise<void> {
    const fh = this.handle();
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, off + done);
      done += bytesWritten;
    }
  }

  async writeZeroes(off: number, len: number): Promise<void> {
    this.zeroes ??= Buffer.alloc(ZERO_CHUNK);
    const end = off + len;
    while (off < end) {
      const n = Math.min(ZERO_CHUNK, end - off);
      await this.write(off, this.zeroes.subarray(0, n));
      off += n;
    }
  }

  deallocate(off: number, len: number): Promise<void> {
    return this.writeZeroes(off, len);
  }

  /** Truncates or extends (sparse) the file; the new size counts once that is done. */
  async resize(size: number): Promise<void> {
    await this.handle().truncate(size);
    this.size = size;
  }

  flush(): Promise<void> {
    return this.handle().datasync();
  }

  async close(): Promise<void> {
    const fh = this.fh;
    if (fh === undefined) return;
    this.fh = undefined;
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }
}
