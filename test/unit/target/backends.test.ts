import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileBackend } from '../../../src/target/backends/file.ts';
import { RAM_CHUNK, RamBackend } from '../../../src/target/backends/ram.ts';

/** A copy of [off, off+len) of a RAM store (its reads are views, in chunk-sized pieces). */
const bytes = (be: RamBackend, off: number, len: number): Buffer => Buffer.concat(be.read(off, len));
/** The same from a file store. */
const fileBytes = async (be: FileBackend, off: number, len: number): Promise<Buffer> => Buffer.concat(await be.read(off, len));

test('ram backend - allocates only the chunks that were written; untouched bytes read as zero', () => {
  const be = new RamBackend(8 * RAM_CHUNK);
  assert.equal(be.allocatedBytes, 0);
  assert.deepEqual(bytes(be, 0, 4096), Buffer.alloc(4096));
  be.write(3 * RAM_CHUNK + 10, Buffer.from('abc'));
  assert.equal(be.allocatedBytes, RAM_CHUNK);
  assert.equal(bytes(be, 3 * RAM_CHUNK + 9, 5).toString('latin1'), '\0abc\0');
});

test('ram backend - reads are views (no copy), split at chunk boundaries', () => {
  const be = new RamBackend(4 * RAM_CHUNK);
  const data = Buffer.alloc(8192, 7);
  be.write(RAM_CHUNK - 4096, data);
  const views = be.read(RAM_CHUNK - 4096, 8192);
  assert.equal(views.length, 2);
  assert.deepEqual(
    views.map((v) => v.length),
    [4096, 4096],
  );
  assert.deepEqual(Buffer.concat(views), data);
  // A later write to the same place shows through the earlier view: it is the namespace memory.
  be.write(RAM_CHUNK - 4096, Buffer.alloc(1, 9));
  assert.equal(views[0][0], 9);
});

test('ram backend - writes across chunks, write zeroes and deallocate', () => {
  const be = new RamBackend(3 * RAM_CHUNK + 512);
  const data = Buffer.alloc(RAM_CHUNK + 1024, 5);
  be.write(RAM_CHUNK - 512, data);
  assert.deepEqual(bytes(be, RAM_CHUNK - 512, data.length), data);
  be.writeZeroes(RAM_CHUNK - 256, 512);
  const got = bytes(be, RAM_CHUNK - 512, 1024);
  assert.deepEqual(got, Buffer.concat([Buffer.alloc(256, 5), Buffer.alloc(512), Buffer.alloc(256, 5)]));
  // A whole chunk released: memory goes back, data reads as zero.
  const before = be.allocatedBytes;
  be.deallocate(RAM_CHUNK, RAM_CHUNK);
  assert.equal(be.allocatedBytes, before - RAM_CHUNK);
  assert.deepEqual(bytes(be, RAM_CHUNK, 16), Buffer.alloc(16));
  // The last, short chunk.
  be.write(3 * RAM_CHUNK, Buffer.alloc(512, 1));
  assert.deepEqual(bytes(be, 3 * RAM_CHUNK, 512), Buffer.alloc(512, 1));
});

test('file backend - creates and sizes the file, reads back what was written, zero-fills', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-be-'));
  try {
    const path = join(dir, 'a.img');
    const be = new FileBackend(path, 65536);
    await be.open();
    await be.write(4096, Buffer.alloc(4096, 0xab));
    const [r] = await be.read(4096, 8192);
    assert.deepEqual(r, Buffer.concat([Buffer.alloc(4096, 0xab), Buffer.alloc(4096)]));
    await be.writeZeroes(4096, 512);
    assert.deepEqual(await fileBytes(be, 4096, 1024), Buffer.concat([Buffer.alloc(512), Buffer.alloc(512, 0xab)]));
    await be.flush();
    await be.close();
    const f = readFileSync(path);
    assert.equal(f.length, 65536);
    assert.equal(f[4096 + 512], 0xab);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('file backend - an existing file keeps its contents and gives the size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-be-'));
  try {
    const path = join(dir, 'b.img');
    writeFileSync(path, Buffer.alloc(8192, 3));
    assert.equal(FileBackend.existingSize(path), 8192);
    const be = new FileBackend(path, 8192);
    await be.open();
    assert.deepEqual(await fileBytes(be, 0, 8192), Buffer.alloc(8192, 3));
    await be.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
