// In-order reassembly: order restored, duplicates dropped, sequence wraparound, the
// hold limit turning a hole into a reported gap, snaplen cuts, and a seeded shuffle
// that must give back the exact stream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Reassembler, type StreamSink } from '../../../src/capture/reassembly.ts';
import { Prng } from '../../helpers/prng.ts';

/** Records what a reassembler delivers: bytes (gaps as '?' per byte) and the seq of each piece. */
class Recorder implements StreamSink {
  text = '';
  events: string[] = [];
  data(buf: Buffer, start: number, end: number, seq: number): void {
    this.text += buf.toString('latin1', start, end);
    this.events.push(`d${seq >>> 0}+${end - start}`);
  }
  gap(seq: number, n: number): void {
    this.text += '?'.repeat(n);
    this.events.push(`g${seq >>> 0}+${n}`);
  }
}

function setup(limit?: number): { r: Reassembler; rec: Recorder } {
  const rec = new Recorder();
  return { r: new Reassembler(rec, limit), rec };
}

/** Feeds stream[off, off+len) as a segment starting at isn-relative offset off. */
function seg(r: Reassembler, base: number, stream: string, off: number, len: number, missing = 0): void {
  const b = Buffer.from(stream.slice(off, off + len), 'latin1');
  r.segment((base + off) >>> 0, b, 0, b.length, missing);
}

const STREAM = 'abcdefghijklmnopqrstuvwxyz0123456789';

test('reassembly - a SYN sets the start; in-order segments come out as they are', () => {
  const { r, rec } = setup();
  r.syn(1000);
  assert.equal(r.startSeq, 1001);
  seg(r, 1001, STREAM, 0, 10);
  seg(r, 1001, STREAM, 10, 26);
  assert.equal(rec.text, STREAM);
  assert.deepEqual(rec.events, ['d1001+10', 'd1011+26']);
  assert.equal(r.stats.delivered, 36);
  assert.equal(r.synSeen, true);
});

test('reassembly - mid-stream: the first segment seen starts the stream', () => {
  const { r, rec } = setup();
  seg(r, 5000, STREAM, 10, 5);
  seg(r, 5000, STREAM, 15, 5);
  seg(r, 5000, STREAM, 0, 10); // older than the start: a retransmission of bytes before the capture
  assert.equal(rec.text, STREAM.slice(10, 20));
  assert.equal(r.startSeq, 5010);
  assert.equal(r.synSeen, false);
  assert.equal(r.stats.dupSegments, 1);
});

test('reassembly - out of order held and delivered in order; duplicates and overlaps dropped', () => {
  const { r, rec } = setup();
  r.syn(0);
  seg(r, 1, STREAM, 0, 5);
  seg(r, 1, STREAM, 10, 5); // early
  seg(r, 1, STREAM, 20, 16); // early
  seg(r, 1, STREAM, 10, 5); // the early one again
  seg(r, 1, STREAM, 0, 5); // a retransmission
  seg(r, 1, STREAM, 3, 9); // overlaps both sides of the hole at 5..10
  seg(r, 1, STREAM, 15, 5);
  assert.equal(rec.text, STREAM);
  assert.equal(r.stats.outOfOrder, 2);
  assert.equal(r.stats.dupSegments, 2);
  assert.equal(r.stats.dupBytes, 5 + 5 + 2 + 2); // two whole copies, the two overlapped ends of 3..12
  assert.equal(r.stats.gaps, 0);
  assert.equal(r.holding, 0);
  assert.equal(r.stats.maxHeld, 21);
});

test('reassembly - sequence numbers wrap around 2^32', () => {
  const { r, rec } = setup();
  const isn = 0xffff_fff0;
  r.syn(isn);
  const base = (isn + 1) >>> 0;
  seg(r, base, STREAM, 0, 10);
  seg(r, base, STREAM, 20, 16); // past the wrap, early
  seg(r, base, STREAM, 10, 10); // crosses 2^32
  seg(r, base, STREAM, 12, 3); // old, after the wrap
  assert.equal(rec.text, STREAM);
  assert.deepEqual(rec.events, ['d4294967281+10', 'd4294967291+10', 'd5+16']);
  assert.equal(r.stats.dupSegments, 1);
});

test('reassembly - past the hold limit the hole becomes a gap and delivery goes on', () => {
  const { r, rec } = setup(8);
  r.syn(99);
  seg(r, 100, STREAM, 0, 4);
  seg(r, 100, STREAM, 8, 5); // held: 5
  seg(r, 100, STREAM, 13, 3); // held: 8, at the limit
  assert.equal(rec.text, 'abcd');
  seg(r, 100, STREAM, 20, 4); // held 12 > 8: give up on 4..8
  assert.equal(rec.text, 'abcd????ijklmnop');
  assert.deepEqual(rec.events.slice(1), ['g104+4', 'd108+5', 'd113+3']);
  assert.equal(r.holding, 4);
  seg(r, 100, STREAM, 4, 4); // the lost bytes, too late: old now
  assert.equal(r.stats.dupSegments, 1);
  r.finish();
  assert.equal(rec.text, 'abcd????ijklmnop????uvwx');
  assert.equal(r.stats.gaps, 2);
  assert.equal(r.stats.gapBytes, 8);
});

test('reassembly - a segment cut by the snaplen delivers its captured bytes, then a gap', () => {
  const { r, rec } = setup();
  r.syn(0);
  seg(r, 1, STREAM, 0, 4, 6); // 10 bytes on the wire, 4 captured
  seg(r, 1, STREAM, 10, 3, 2);
  assert.equal(rec.text, 'abcd??????klm??');
  // Early and cut: held with its missing tail.
  seg(r, 1, STREAM, 25, 2, 3);
  seg(r, 1, STREAM, 15, 10);
  assert.equal(rec.text, 'abcd??????klm??pqrstuvwxyz0???');
  // A retransmission starting inside a cut region: only the unseen bytes count.
  seg(r, 1, STREAM, 28, 8);
  assert.equal(rec.text, `abcd??????klm??pqrstuvwxyz0???${STREAM.slice(30)}`);
});

test('reassembly - a seeded shuffle with duplicates gives back the exact stream', () => {
  const rng = new Prng(11);
  const stream = rng.bytes(50_000).toString('latin1');
  for (const isn of [0, 0x7fff_ffff, 0xffff_f000]) {
    const segs: [number, number][] = [];
    for (let off = 0; off < stream.length; ) {
      const n = rng.int(1, 1500);
      segs.push([off, Math.min(n, stream.length - off)]);
      off += n;
    }
    // Local reordering (what a network does), plus duplicates.
    for (let i = 0; i + 3 < segs.length; i++) {
      if (rng.bool(0.25)) {
        const j = i + rng.int(1, 3);
        [segs[i], segs[j]] = [segs[j], segs[i]];
      }
    }
    const order = [...segs];
    for (let k = 0; k < 50; k++) order.splice(rng.int(0, order.length - 1), 0, rng.pick(segs));
    const { r, rec } = setup();
    r.syn(isn);
    for (const [off, n] of order) seg(r, (isn + 1) >>> 0, stream, off, n);
    r.finish();
    assert.equal(rec.text.length, stream.length);
    assert.ok(rec.text === stream, `isn 0x${isn.toString(16)}: stream differs`);
    assert.equal(r.stats.gaps, 0);
    assert.equal(r.stats.delivered, stream.length);
  }
});
