// Receiver pause: a handler that pauses stops the receiver at the next PDU boundary,
// mid-chunk; resume() goes on from the byte where it stopped. Paused after every PDU,
// fed whole or in random chunks, the receiver gives the same events and placed bytes
// as without pauses, one PDU per resume.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PduType } from '../../../src/protocol/constants.ts';
import type { ProtocolError } from '../../../src/protocol/errors.ts';
import type { CapsuleCmd, DataPdu, Pdu } from '../../../src/protocol/pdu.ts';
import { RecvState } from '../../../src/protocol/receiver.ts';
import { type Stream, STREAM_OPTS, targetStream } from '../../fixtures/pdu/streams.ts';
import { Prng, randomChunks } from '../../helpers/prng.ts';
import { Recorder } from '../../helpers/rx-recorder.ts';

/** Pauses the receiver after every PDU header and every end of data. */
class Pauser extends Recorder {
  override onPdu(pdu: Pdu): ProtocolError | undefined {
    const err = super.onPdu(pdu);
    this.rx.pause();
    return err;
  }
  override onDataDone(pdu: DataPdu | CapsuleCmd, ddgstOk: boolean, crcByDevice: boolean): void {
    super.onDataDone(pdu, ddgstOk, crcByDevice);
    this.rx.pause();
  }
}

const pauser = (s: Stream): Pauser => new Pauser({ role: s.role, ...s.opts });
const label = (s: Stream): string => `hdgst=${s.opts.hdgst} ddgst=${s.opts.ddgst} pda=${s.opts.pda}`;
const pduEvents = (r: Recorder): number => r.events.filter((e) => e.ev === 'pdu').length;

for (const s of STREAM_OPTS.map(targetStream)) {
  test(`receiver pause - one feed, paused after every PDU: one PDU per resume, same events: ${label(s)}`, () => {
    const r = pauser(s);
    r.rx.feed(s.bytes);
    let steps = 0;
    while (r.rx.paused) {
      steps++;
      assert.equal(pduEvents(r), steps, `step ${steps}: exactly one more PDU delivered`);
      const last = r.events[r.events.length - 1]!;
      // A PDU with data is finished (its done event) before the pause takes effect.
      if (last.ev === 'pdu' && last.pdu.type !== PduType.H2CTermReq) {
        assert.equal(r.rx.state, RecvState.CH, `step ${steps}: stopped at a PDU boundary`);
      }
      assert.ok(r.rx.heldBytes > 0, `step ${steps}: the rest of the chunk is kept`);
      assert.equal(r.rx.streamPos + r.rx.heldBytes, s.bytes.length, `step ${steps}: held bytes are exactly the unparsed rest`);
      assert.throws(() => r.rx.feed(Buffer.alloc(1)), /while paused/);
      r.rx.resume();
      if (r.rx.state === RecvState.ERR) break;
    }
    assert.deepEqual(r.events, s.events);
    assert.ok(r.placed().equals(s.placed), 'placed bytes');
    assert.equal(r.rx.state, RecvState.ERR, 'the TermReq ends the stream');
    assert.equal(r.rx.heldBytes, 0, 'nothing kept once the stream ended');
  });

  test(`receiver pause - random chunks, each fed only once the last is consumed: same events: ${label(s)}`, () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rng = new Prng(seed);
      const r = pauser(s);
      for (const c of randomChunks(s.bytes, rng, rng.pick([3, 17, 64, 500]))) {
        r.rx.feed(c);
        while (r.rx.heldBytes > 0) r.rx.resume();
      }
      assert.deepEqual(r.events, s.events, `seed ${seed}`);
      assert.ok(r.placed().equals(s.placed), `seed ${seed}: placed bytes`);
    }
  });
}

test('receiver pause - halt() drops what a pause kept; resume() without held bytes only clears the pause', () => {
  const s = targetStream(STREAM_OPTS[0]!);
  const r = pauser(s);
  r.rx.feed(s.bytes);
  assert.ok(r.rx.heldBytes > 0);
  r.rx.halt();
  assert.equal(r.rx.heldBytes, 0);
  assert.equal(r.rx.paused, false);
  r.rx.pause();
  assert.equal(r.rx.paused, false, 'a halted receiver does not pause');
  const q = pauser(s);
  q.rx.pause();
  q.rx.resume();
  assert.equal(q.rx.paused, false);
  q.rx.feed(s.bytes);
  assert.equal(pduEvents(q), 1, 'paused again after the first PDU');
});
