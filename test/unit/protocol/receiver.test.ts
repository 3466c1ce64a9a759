// Every annotated fixture through the receiver, and the receiver's basic contract.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PduType } from '../../../src/protocol/constants.ts';
import type { CapsuleCmd, TermReq } from '../../../src/protocol/pdu.ts';
import { RecvState } from '../../../src/protocol/receiver.ts';
import { capsuleCmdIcd, capsuleResp } from '../../fixtures/pdu/capsule.ts';
import { c2hData } from '../../fixtures/pdu/data.ts';
import { ALL_FIXTURES, type PduFixture } from '../../fixtures/pdu/index.ts';
import { c2hTermReq, h2cTermReq } from '../../fixtures/pdu/ic-term.ts';
import { type RxEvent, Recorder } from '../../helpers/rx-recorder.ts';

const isIc = (f: PduFixture): boolean => f.header.type === PduType.ICReq || f.header.type === PduType.ICResp;

function recorderFor(f: PduFixture): Recorder {
  return new Recorder({ role: f.rxRole, hdgst: f.hdgst, ddgst: f.ddgst, pda: f.pda, icDone: !isIc(f) });
}

function expectedEvents(f: PduFixture): RxEvent[] {
  const isTerm = f.header.type === PduType.H2CTermReq || f.header.type === PduType.C2HTermReq;
  const pdu = isTerm ? { ...(f.header as TermReq), data: f.data ?? Buffer.alloc(0) } : f.header;
  const ev: RxEvent[] = [{ ev: 'pdu', pdu }];
  if (f.data !== undefined && !isTerm) {
    ev.push({ ev: 'done', type: f.header.type, ok: true, byDevice: false, at: 0, len: f.data.length });
  }
  return ev;
}

for (const f of ALL_FIXTURES) {
  test(`receiver - fixture in one feed and split at every index: ${f.name}`, () => {
    for (let i = 0; i < f.bytes.length; i++) {
      const r = recorderFor(f);
      r.rx.feed(f.bytes.subarray(0, i));
      r.rx.feed(f.bytes.subarray(i));
      assert.deepEqual(r.events, expectedEvents(f), `split at ${i}`);
      assert.ok(r.placed().equals(f.header.type >= PduType.CapsuleCmd ? (f.data ?? Buffer.alloc(0)) : Buffer.alloc(0)));
      assert.equal(r.rx.streamPos, f.bytes.length);
    }
  });
}

test('receiver - a data digest that does not match gives ok=false and the next PDU still parses', () => {
  const f = capsuleCmdIcd;
  const r = new Recorder({ role: 'target', ddgst: true, icDone: true });
  const bad = Buffer.from('0402484854000000', 'hex'); // CapsuleCmd flags=DDGSTF pdo=72 plen=84
  const sqe = (f.header as CapsuleCmd).sqe;
  r.rx.feed(Buffer.concat([bad, sqe, f.data!, Buffer.from('00000000', 'hex')]));
  r.rx.feed(Buffer.concat([bad, sqe, f.data!, Buffer.from('7da341d4', 'hex')]));
  const done = r.events.filter((e) => e.ev === 'done');
  assert.deepEqual(
    done.map((e) => e.ev === 'done' && e.ok),
    [false, true],
  );
  assert.equal(r.rx.state, RecvState.CH);
  assert.equal(r.errors.length, 0);
});

test('receiver - without setDataDest the data is checksummed and dropped', () => {
  const r = new Recorder({ role: 'host', icDone: true, data: 'discard' });
  r.rx.feed(Buffer.concat([c2hData.bytes, capsuleResp.bytes]));
  assert.deepEqual(
    r.events.map((e) => e.ev),
    ['pdu', 'done', 'pdu'],
  );
  assert.equal(r.memPos, 0);
  assert.ok(r.mem.every((x) => x === 0));
  assert.equal(r.rx.state, RecvState.CH);
});

// Regression test for 2b54c1c: bytes after a TermReq were parsed as further PDUs.
test('receiver - a TermReq ends the stream: later bytes are ignored, no onError', () => {
  for (const f of [h2cTermReq, c2hTermReq]) {
    const r = recorderFor(f);
    const next = f.rxRole === 'host' ? capsuleResp.bytes : capsuleCmdIcd.bytes;
    r.rx.feed(Buffer.concat([f.bytes, next]));
    assert.equal(r.events.length, 1, f.name);
    assert.equal(r.rx.state, RecvState.ERR);
    assert.equal(r.errors.length, 0);
    assert.equal(r.rx.streamPos, f.bytes.length);
  }
});

test('receiver - a TermReq with PDO 0 and error data (as SPDK sends it) is accepted', () => {
  const b = Buffer.from(c2hTermReq.bytes);
  b[3] = 0; // pdo
  const r = recorderFor(c2hTermReq);
  r.rx.feed(b);
  assert.deepEqual(r.events, [{ ev: 'pdu', pdu: { ...(c2hTermReq.header as TermReq), pdo: 0, data: c2hTermReq.data } }]);
});

test('receiver - halt() from onPdu stops the receiver at once', () => {
  const r = new Recorder({ role: 'host', icDone: true });
  const rx = r.rx;
  const origOnPdu = r.onPdu.bind(r);
  r.onPdu = (pdu) => {
    const e = origOnPdu(pdu);
    rx.halt();
    return e;
  };
  rx.feed(Buffer.concat([capsuleResp.bytes, capsuleResp.bytes]));
  assert.equal(r.events.length, 1);
  assert.equal(rx.state, RecvState.ERR);
  assert.equal(r.errors.length, 0);
});

test('receiver - a destination too small for the data is FES 4 (Data Transfer Out of Range)', () => {
  const r = new Recorder({ role: 'host', icDone: true, memSize: 11 });
  r.rx.feed(c2hData.bytes);
  assert.deepEqual(r.events.at(-1), { ev: 'error', fes: 4, fei: 0, pduType: PduType.C2HData });
  assert.equal(r.rx.state, RecvState.ERR);
});
