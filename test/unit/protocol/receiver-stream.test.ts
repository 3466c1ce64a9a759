// Receiver stream tests: several PDUs back to back (data, pad and digests included),
// fed whole, split at every index, byte by byte and in seeded random chunk sizes. Each
// way must give the same events, placed bytes and digest verdicts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecvState } from '../../../src/protocol/receiver.ts';
import { hostStream, type Stream, STREAM_OPTS, targetStream } from '../../fixtures/pdu/streams.ts';
import { Prng, randomChunks } from '../../helpers/prng.ts';
import { Recorder } from '../../helpers/rx-recorder.ts';

function recorder(s: Stream): Recorder {
  return new Recorder({ role: s.role, ...s.opts });
}

function check(s: Stream, r: Recorder, how: string): void {
  assert.deepEqual(r.events, s.events, how);
  assert.ok(r.placed().equals(s.placed), `${how}: placed bytes`);
  assert.equal(r.rx.state, RecvState.ERR, `${how}: the TermReq ends the stream`);
  assert.equal(r.errors.length, 0, how);
}

const label = (s: Stream): string => `${s.role} hdgst=${s.opts.hdgst} ddgst=${s.opts.ddgst} pda=${s.opts.pda} (${s.bytes.length} bytes)`;

const STREAMS = STREAM_OPTS.flatMap((o) => [hostStream(o), targetStream(o)]);

test('receiver stream - the streams hold what they claim: digest verdicts and data', () => {
  const host = hostStream({ hdgst: true, ddgst: true, pda: 0 });
  const verdicts = host.events.flatMap((e) => (e.ev === 'done' ? [e.ok] : []));
  assert.deepEqual(verdicts, [true, false, true, true]);
  const plain = targetStream({ hdgst: false, ddgst: false, pda: 0 });
  assert.deepEqual(
    plain.events.flatMap((e) => (e.ev === 'done' ? [e.ok] : [])),
    [true, true, true],
  );
  assert.equal(plain.placed.length, 300 + 256 + 64);
});

for (const s of STREAMS) {
  test(`receiver stream - whole stream in one feed: ${label(s)}`, () => {
    const r = recorder(s).feedAll([s.bytes]);
    check(s, r, 'whole');
    assert.equal(r.rx.streamPos, s.starts[s.starts.length - 1], 'streamPos counts every PDU byte, not the trailer');
  });

  test(`receiver stream - split at every index: ${label(s)}`, () => {
    for (let i = 1; i < s.bytes.length; i++) {
      check(s, recorder(s).feedAll([s.bytes.subarray(0, i), s.bytes.subarray(i)]), `split at ${i}`);
    }
  });

  test(`receiver stream - byte by byte: ${label(s)}`, () => {
    const r = recorder(s);
    for (let i = 0; i < s.bytes.length; i++) r.rx.feed(s.bytes.subarray(i, i + 1));
    check(s, r, 'byte by byte');
  });

  test(`receiver stream - seeded random chunk sizes: ${label(s)}`, () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rng = new Prng(seed);
      const max = rng.pick([2, 5, 13, 31, 100, 700]);
      check(s, recorder(s).feedAll(randomChunks(s.bytes, rng, max)), `seed ${seed} max ${max}`);
    }
  });

  test(`receiver stream - clobber: overwriting each fed chunk changes nothing delivered: ${label(s)}`, () => {
    const rng = new Prng(0xc10b);
    for (let round = 0; round < 20; round++) {
      const r = recorder(s);
      // One reused buffer, as a socket's onread buffer is reused for every read.
      const staging = Buffer.alloc(s.bytes.length);
      for (const c of randomChunks(s.bytes, rng, rng.pick([1, 7, 64, 4096]))) {
        const view = staging.subarray(0, c.length);
        c.copy(view);
        r.rx.feed(view);
        view.fill(0xee);
      }
      check(s, r, `round ${round}`);
    }
  });
}

for (const s of [hostStream(STREAM_OPTS[5]), targetStream(STREAM_OPTS[5])]) {
  test(`receiver stream - reads bounded by unitRemaining end exactly on unit boundaries: ${label(s)}`, () => {
    const r = recorder(s);
    const states: number[] = [];
    let off = 0;
    while (off < s.bytes.length && r.rx.state !== RecvState.ERR) {
      const n = r.rx.unitRemaining;
      assert.ok(n > 0, `unitRemaining is positive outside ERR (state ${r.rx.state})`);
      const before = r.rx.state;
      r.rx.feed(s.bytes.subarray(off, off + n));
      off += n;
      // Each bounded read completes its unit: the state moves on (CH->PSH, PSH->PAD/DATA/CH, ...).
      assert.ok(r.rx.state !== before || before === RecvState.CH || before === RecvState.PSH, `state ${before} at ${off}`);
      states.push(before);
    }
    check(s, r, 'unit-bounded reads');
    assert.equal(r.rx.unitRemaining, 0, '0 in ERR');
    const visit: number[] = [RecvState.CH, RecvState.PSH, RecvState.PAD, RecvState.DATA, RecvState.DDGST];
    if (s.role === 'host') visit.push(RecvState.TERM); // only the host stream's TermReq has error data
    for (const st of visit) {
      assert.ok(states.includes(st), `visited state ${st}`);
    }
  });
}
