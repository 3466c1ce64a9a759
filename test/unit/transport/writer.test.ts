import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { ARENA_SIZE, PduWriter, SPARE_ARENAS } from '../../../src/transport/writer.ts';
import { Prng } from '../../helpers/prng.ts';

/**
 * A socket stand-in: records every chunk written (with a snapshot of its bytes at
 * write time) and holds the write callbacks until release() — as a socket does while
 * the kernel's buffer is full.
 */
class FakeSocket {
  destroyed = false;
  corks = 0;
  readonly chunks: { buf: Buffer; snap: Buffer; pending: boolean }[] = [];
  private held: (() => void)[] = [];
  writableLength = 0;
  cork(): void {
    this.corks++;
  }
  uncork(): void {
    this.corks--;
  }
  write(buf: Buffer, cb?: () => void): boolean {
    const c = { buf, snap: Buffer.from(buf), pending: true };
    this.chunks.push(c);
    this.held.push(() => {
      c.pending = false;
      cb?.();
    });
    return true;
  }
  release(): void {
    const h = this.held;
    this.held = [];
    for (const f of h) f();
  }
  /** Everything written, in order, as it was when written. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks.map((c) => c.snap));
  }
  /** True when no chunk whose write is still pending changed since it was written. */
  intact(): boolean {
    return this.chunks.every((c) => !c.pending || c.buf.equals(c.snap));
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

test('writer - one turn: bytes in order, small and mid-size parts copied into one chunk, large payloads passed as they are', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s as unknown as Socket, { copyMax: 8192 });
  const rng = new Prng(1);
  const parts = [rng.bytes(24), rng.bytes(4096), rng.bytes(48), rng.bytes(65536), rng.bytes(24), rng.bytes(8192), rng.bytes(4)];
  for (const b of parts.slice(0, 3)) w.send(b);
  const at = w.reserve(8);
  w.buf.write('RESERVED', at, 'latin1');
  for (const b of parts.slice(3)) w.send(b);
  assert.equal(s.chunks.length, 2, 'the copied run before the large payload went out with the payload');
  await turn();
  assert.equal(s.corks, 0);
  assert.deepEqual(s.bytes(), Buffer.concat([...parts.slice(0, 3), Buffer.from('RESERVED'), ...parts.slice(3)]));
  // [24 + 4096 + 48 + 8 copied] [64 KiB as is] [24 + 8192 + 4 copied]
  assert.deepEqual(
    s.chunks.map((c) => c.buf.length),
    [24 + 4096 + 48 + 8, 65536, 24 + 8192 + 4],
  );
  assert.equal(s.chunks[1].buf, parts[3]);
});

test('writer - bytes handed to the socket are never rewritten while their write is pending; arenas are reused once written', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s as unknown as Socket);
  const rng = new Prng(2);
  const want: Buffer[] = [];
  // 40 turns of 64 × (24-byte header in place + 4 KiB payload + 24 bytes): ~265 KB a
  // turn, more than one arena. Callbacks are held for two turns at a time.
  for (let t = 0; t < 40; t++) {
    for (let i = 0; i < 64; i++) {
      const h = rng.bytes(24);
      const at = w.reserve(24);
      h.copy(w.buf, at);
      const p = rng.bytes(4096);
      const r = rng.bytes(24);
      w.send(p);
      w.send(r);
      want.push(h, p, r);
    }
    await turn();
    assert.ok(s.intact(), `turn ${t}: a pending chunk was overwritten`);
    if (t % 2 === 1) s.release();
  }
  s.release();
  assert.deepEqual(s.bytes(), Buffer.concat(want));
  // Reused, not reallocated: a handful of distinct arenas for 10 MB of writes.
  const arenas = new Set(s.chunks.map((c) => c.buf.buffer));
  assert.ok(arenas.size <= 4, `${arenas.size} arenas`);
  for (const c of s.chunks) assert.ok(c.buf.length <= ARENA_SIZE);
});

test('writer - flushNow hands everything over at once; nothing is written after the socket is destroyed', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s as unknown as Socket);
  w.send(Buffer.from('abc'));
  assert.equal(w.pending, 3);
  w.flushNow();
  assert.equal(s.corks, 0);
  assert.equal(s.bytes().toString(), 'abc');
  s.destroyed = true;
  w.send(Buffer.from('def'));
  w.flushNow();
  await turn();
  assert.equal(s.bytes().toString(), 'abc');
});

test('writer - after a burst under backpressure, at most SPARE_ARENAS free arenas are kept', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s as unknown as Socket);
  // ~2.6 MB in one turn with every write held: ten or more arenas in use at once.
  for (let i = 0; i < 640; i++) {
    w.send(Buffer.alloc(24));
    w.send(Buffer.alloc(4096, i & 0xff));
  }
  await turn();
  const used = new Set(s.chunks.map((c) => c.buf.buffer)).size;
  assert.ok(used >= 10, `${used} arenas`);
  s.release();
  const spare = (w as unknown as { spare: unknown[] }).spare.length;
  assert.equal(spare, SPARE_ARENAS);
  // The next turns reuse them: no new arena while writes complete promptly.
  const before = new Set(s.chunks.map((c) => c.buf.buffer));
  for (let t = 0; t < 10; t++) {
    for (let i = 0; i < 64; i++) w.send(Buffer.alloc(4120));
    await turn();
    s.release();
  }
  const fresh = s.chunks.map((c) => c.buf.buffer).filter((b) => !before.has(b));
  assert.equal(new Set(fresh).size, 0);
});

test('writer - sendLater: copied when the arena goes out, in order with send() and reserve(); large payloads pass as they are', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s as unknown as Socket, { copyMax: 8192 });
  const rng = new Prng(7);
  const want: Buffer[] = [];
  const blocks: Buffer[] = [];
  for (let i = 0; i < 100; i++) {
    const h = rng.bytes(24);
    const at = w.reserve(24);
    h.copy(w.buf, at);
    const block = rng.bytes(4096);
    w.sendLater(block);
    const tail = rng.bytes(24);
    w.send(tail);
    want.push(h, block, tail);
    blocks.push(block);
  }
  const big = rng.bytes(65536);
  w.sendLater(big); // above copyMax: handed over as it is, after everything before it
  want.push(big);
  // ~420 KB: the first arena filled and went out mid-turn, its blocks copied then.
  assert.ok(s.chunks.length >= 1);
  await turn();
  assert.deepEqual(s.bytes(), Buffer.concat(want));
  assert.equal(s.chunks.at(-1)!.buf, big);
});

test('writer - sendLater sends the bytes the source holds when the turn ends (the documented contract)', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s as unknown as Socket);
  const block = Buffer.alloc(4096, 1);
  w.sendLater(block);
  block.fill(2); // before the end of the turn: what goes out is the new content
  await turn();
  assert.deepEqual(s.bytes(), Buffer.alloc(4096, 2));
  block.fill(3); // after: no effect on what was written
  assert.deepEqual(s.chunks[0].snap, Buffer.alloc(4096, 2));
});

test('writer - sendThen: done once the writer no longer needs the buffer (copied: at once; passed as is: when its write is done)', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s as unknown as Socket, { copyMax: 8192 });
  const rng = new Prng(3);
  const small = rng.bytes(4096);
  const big = rng.bytes(65536);
  const want = [Buffer.from(small), Buffer.from(big)];
  let smallDone = 0;
  let bigDone = 0;
  w.sendThen(small, () => smallDone++);
  assert.equal(smallDone, 1, 'copied into the arena: free at once');
  small.fill(0); // the caller may reuse it now
  w.sendThen(big, () => bigDone++);
  await turn();
  assert.equal(bigDone, 0, 'the socket still has it');
  assert.equal(s.chunks.at(-1)!.buf, big);
  s.release();
  assert.equal(bigDone, 1);
  assert.equal(smallDone, 1);
  assert.deepEqual(s.bytes(), Buffer.concat(want));
  // A socket that is gone needs nothing: done at once, nothing written.
  s.destroyed = true;
  const n = s.chunks.length;
  w.sendThen(rng.bytes(65536), () => bigDone++);
  assert.equal(bigDone, 2);
  assert.equal(s.chunks.length, n);
});

test('writer - flushAt: endPdu hands the batch over once it holds flushAt bytes, only at a PDU end; without it only the turn ends a batch', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s as unknown as Socket, { flushAt: 10_000 });
  const rng = new Prng(7);
  const pdus = Array.from({ length: 6 }, () => [rng.bytes(72), rng.bytes(4096)]);
  for (const [hdr, data] of pdus) {
    const at = w.reserve(hdr.length);
    hdr.copy(w.buf, at);
    w.send(data);
    w.endPdu();
  }
  // 4168 bytes per PDU: the third PDU reaches 10 000 bytes, and so does the sixth.
  assert.equal(w.batches, 2, 'two batches reached flushAt');
  assert.equal(s.chunks.length, 2);
  assert.equal(s.chunks[0].snap.length, 3 * 4168, 'the batch ends with a whole PDU');
  assert.equal(s.corks, 1, 'still corked for the rest of the turn');
  await turn();
  assert.equal(s.corks, 0);
  assert.deepEqual(s.bytes(), Buffer.concat(pdus.flat()), 'the bytes in order');

  const s2 = new FakeSocket();
  const w2 = new PduWriter(s2 as unknown as Socket);
  for (const [hdr, data] of pdus) {
    w2.send(hdr);
    w2.send(data);
    w2.endPdu();
  }
  assert.equal(s2.chunks.length, 0, 'no flushAt: nothing before the end of the turn');
  await turn();
  assert.equal(w2.batches, 1);
  assert.deepEqual(s2.bytes(), Buffer.concat(pdus.flat()));
});
