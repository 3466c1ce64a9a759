// feedPlaced(): the offload seam. A device that already wrote payload bytes at the
// destination reports them with feedPlaced(n, crc?) instead of feed(); the receiver
// skips the copy and, when the device gives its running CRC, the software CRC too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fes, PduType } from '../../../src/protocol/constants.ts';
import { crc32c, crc32cUpdate } from '../../../src/protocol/crc32c.ts';
import { RecvState } from '../../../src/protocol/receiver.ts';
import { c2hData, c2hDataDdgst, c2hDataPadded, c2hDataPaddedDigests, c2hPayload } from '../../fixtures/pdu/data.ts';
import { hostStream, STREAM_OPTS, targetStream } from '../../fixtures/pdu/streams.ts';
import { Prng } from '../../helpers/prng.ts';
import { Recorder, type RxEvent } from '../../helpers/rx-recorder.ts';

const HDR = 24; // c2hDataDdgst: data at 24..36, DDGST at 36..40
const DDGST = c2hDataDdgst.bytes.subarray(36);

function ddgstHost(): Recorder {
  const r = new Recorder({ role: 'host', ddgst: true, icDone: true });
  r.rx.feed(c2hDataDdgst.bytes.subarray(0, HDR));
  assert.equal(r.rx.state, RecvState.DATA);
  return r;
}

/** What the device does: write `bytes` at the receiver's destination, then report them. */
function place(r: Recorder, bytes: Buffer, crc: 'device' | 'none' | number): void {
  const dest = r.rx.destBuf!;
  const prior = r.rx.dataCrcSoFar;
  bytes.copy(dest, r.rx.destPos);
  if (crc === 'none') r.rx.feedPlaced(bytes.length);
  else r.rx.feedPlaced(bytes.length, crc === 'device' ? crc32cUpdate(prior, bytes) : crc);
}

const doneOf = (r: Recorder) => r.events.filter((e) => e.ev === 'done');

test('receiver placed - all data placed with a device CRC: ok, crcByDevice true', () => {
  const r = ddgstHost();
  place(r, c2hPayload, 'device');
  r.rx.feed(DDGST);
  assert.deepEqual(doneOf(r), [{ ev: 'done', type: PduType.C2HData, ok: true, byDevice: true, at: 0, len: 12 }]);
  assert.ok(r.placed().equals(c2hPayload));
  assert.equal(r.rx.state, RecvState.CH);
  assert.equal(r.rx.streamPos, c2hDataDdgst.bytes.length);
});

test('receiver placed - placed bytes are not copied over and, with a device CRC, not checksummed again', () => {
  // The device reports the CRC of the real data but left other bytes in place: the
  // receiver trusts the device (no software CRC) and never writes the destination.
  const r = ddgstHost();
  const other = Buffer.alloc(12, 0x5a);
  other.copy(r.rx.destBuf!, r.rx.destPos);
  r.rx.feedPlaced(12, crc32c(c2hPayload));
  r.rx.feed(DDGST);
  assert.equal(doneOf(r)[0].ev === 'done' && doneOf(r)[0].ok, true);
  assert.ok(r.placed().equals(other));
});

test('receiver placed - placed without a device CRC: the receiver checksums the destination (crcByDevice false)', () => {
  const good = ddgstHost();
  place(good, c2hPayload, 'none');
  good.rx.feed(DDGST);
  const bad = ddgstHost();
  place(bad, Buffer.alloc(12, 0x5a), 'none');
  bad.rx.feed(DDGST);
  assert.deepEqual(
    [...doneOf(good), ...doneOf(bad)].map((e) => e.ev === 'done' && [e.ok, e.byDevice]),
    [
      [true, false],
      [false, false],
    ],
  );
});

test('receiver placed - a device CRC that disagrees with the DDGST: ok false, crcByDevice true', () => {
  const r = ddgstHost();
  place(r, c2hPayload, crc32c(c2hPayload) ^ 1);
  r.rx.feed(DDGST);
  assert.deepEqual(
    doneOf(r).map((e) => e.ev === 'done' && [e.ok, e.byDevice]),
    [[false, true]],
  );
});

test('receiver placed - copy, then placed with CRC: verdict right, crcByDevice false', () => {
  for (const ddgst of [DDGST, Buffer.from([DDGST[0] ^ 0xff, DDGST[1], DDGST[2], DDGST[3]])]) {
    const r = ddgstHost();
    r.rx.feed(c2hPayload.subarray(0, 5));
    place(r, c2hPayload.subarray(5), 'device');
    r.rx.feed(ddgst);
    assert.deepEqual(
      doneOf(r).map((e) => e.ev === 'done' && [e.ok, e.byDevice]),
      [[ddgst === DDGST, false]],
    );
    assert.ok(r.placed().equals(c2hPayload));
  }
});

test('receiver placed - placed with CRC, placed without, placed with: verdict right, crcByDevice false', () => {
  const r = ddgstHost();
  place(r, c2hPayload.subarray(0, 4), 'device');
  place(r, c2hPayload.subarray(4, 8), 'none');
  place(r, c2hPayload.subarray(8), 'device');
  r.rx.feed(DDGST);
  assert.deepEqual(
    doneOf(r).map((e) => e.ev === 'done' && [e.ok, e.byDevice]),
    [[true, false]],
  );
});

test('receiver placed - several placed pieces, each with a device CRC: crcByDevice true', () => {
  const r = ddgstHost();
  for (let i = 0; i < 12; i += 3) place(r, c2hPayload.subarray(i, i + 3), 'device');
  r.rx.feed(DDGST.subarray(0, 1));
  r.rx.feed(DDGST.subarray(1));
  assert.deepEqual(
    doneOf(r).map((e) => e.ev === 'done' && [e.ok, e.byDevice]),
    [[true, true]],
  );
});

test('receiver placed - without data digest the device CRC is ignored: crcByDevice false', () => {
  const r = new Recorder({ role: 'host', icDone: true });
  r.rx.feed(c2hData.bytes.subarray(0, HDR));
  place(r, c2hPayload, 0xdeadbeef);
  assert.deepEqual(
    doneOf(r).map((e) => e.ev === 'done' && [e.ok, e.byDevice]),
    [[true, false]],
  );
  assert.equal(r.rx.state, RecvState.CH);
});

test('receiver placed - pad bytes are consumed by feed() before the data phase', () => {
  const f = c2hDataPaddedDigests;
  const r = new Recorder({ role: 'host', hdgst: true, ddgst: true, pda: 1, icDone: true });
  r.rx.feed(f.bytes.subarray(0, 30)); // header, HDGST and half the pad
  assert.equal(r.rx.state, RecvState.PAD);
  r.rx.feed(f.bytes.subarray(30, 32));
  assert.equal(r.rx.state, RecvState.DATA);
  place(r, c2hPayload, 'device');
  r.rx.feed(f.bytes.subarray(44));
  assert.deepEqual(
    doneOf(r).map((e) => e.ev === 'done' && [e.ok, e.byDevice]),
    [[true, true]],
  );
});

test('receiver placed - feedPlaced during the pad. Expect: FES=2, state=ERR', () => {
  const r = new Recorder({ role: 'host', pda: 3, icDone: true });
  r.rx.feed(c2hDataPadded.bytes.subarray(0, 28));
  r.rx.feedPlaced(1);
  assert.deepEqual(r.events.at(-1), { ev: 'error', fes: Fes.PduSequenceError, fei: 0, pduType: -1 });
  assert.equal(r.rx.state, RecvState.ERR);
});

test('receiver placed - feedPlaced beyond the PDU data. Expect: FES=2, state=ERR', () => {
  const r = ddgstHost();
  r.rx.feedPlaced(13, 0);
  assert.deepEqual(r.events.at(-1), { ev: 'error', fes: Fes.PduSequenceError, fei: 0, pduType: -1 });
  assert.equal(r.errors.length, 1);
});

// Regression test for 47331ee: a negative count grew dataRemaining instead of failing.
test('receiver placed - feedPlaced with a negative count. Expect: FES=2, state=ERR', () => {
  const r = ddgstHost();
  r.rx.feedPlaced(-1);
  assert.equal(r.errors.length, 1);
  assert.equal(r.rx.state, RecvState.ERR);
});

test('receiver placed - feedPlaced when the handler chose no destination. Expect: FES=2', () => {
  const r = new Recorder({ role: 'host', ddgst: true, icDone: true, data: 'discard' });
  r.rx.feed(c2hDataDdgst.bytes.subarray(0, HDR));
  r.rx.feedPlaced(12, crc32c(c2hPayload));
  assert.deepEqual(r.events.at(-1), { ev: 'error', fes: Fes.PduSequenceError, fei: 0, pduType: -1 });
});

// A device driver over whole streams: in every data phase it takes the next piece of the
// stream and randomly copies it (feed), places it with its CRC, or places it without.
for (const o of STREAM_OPTS) {
  for (const s of [hostStream(o), targetStream(o)]) {
    test(`receiver placed - random copy/placed mix over a ${s.role} stream (hdgst=${o.hdgst} ddgst=${o.ddgst} pda=${o.pda})`, () => {
      for (let seed = 1; seed <= 25; seed++) {
        const rng = new Prng(seed * 7919);
        const r = new Recorder({ role: s.role, ...o });
        const rx = r.rx;
        let allDevice = true;
        const expectByDevice: boolean[] = [];
        let off = 0;
        while (off < s.bytes.length && rx.state !== RecvState.ERR) {
          if (rx.state === RecvState.DATA && rx.destBuf !== undefined) {
            const n = Math.min(rng.int(1, 90), rx.dataRemaining);
            const piece = s.bytes.subarray(off, off + n);
            const mode = rng.pick(['copy', 'device', 'none'] as const);
            if (mode !== 'device') allDevice = false;
            const last = n === rx.dataRemaining;
            if (last) expectByDevice.push(allDevice && (rx.currentPdu!.flags & 2) !== 0);
            if (last) allDevice = true;
            if (mode === 'copy') rx.feed(piece);
            else place(r, piece, mode);
            off += n;
          } else {
            // Outside data: up to 40 bytes, one at a time, stopping where data begins
            // (so every data byte goes through the device branch above).
            for (let k = rng.int(1, 40); k > 0 && off < s.bytes.length && rx.state !== RecvState.DATA; k--) {
              rx.feed(s.bytes.subarray(off, ++off));
            }
          }
        }
        const strip = (ev: RxEvent[]) => ev.map((e) => (e.ev === 'done' ? { ...e, byDevice: false } : e));
        assert.deepEqual(strip(r.events), strip(s.events), `seed ${seed}`);
        assert.deepEqual(
          r.events.flatMap((e) => (e.ev === 'done' ? [e.byDevice] : [])),
          expectByDevice,
          `seed ${seed}`,
        );
        assert.ok(r.placed().equals(s.placed), `seed ${seed}: placed bytes`);
        assert.equal(r.errors.length, 0);
      }
    });
  }
}

test('receiver placed - distrustDeviceCrc: the digest is verified in software over the destination', () => {
  // Every data byte came with the device's CRC, then its digest came in a segment the
  // device did not check: the receiver recomputes the data CRC from the destination.
  const good = ddgstHost();
  place(good, c2hPayload, 'device');
  good.rx.distrustDeviceCrc();
  good.rx.feed(DDGST);
  assert.deepEqual(doneOf(good), [{ ev: 'done', type: PduType.C2HData, ok: true, byDevice: false, at: 0, len: 12 }]);
  // The device vouched for bytes that are not what is in the destination: software finds out.
  const bad = ddgstHost();
  Buffer.alloc(12, 0x5a).copy(bad.rx.destBuf!, bad.rx.destPos);
  bad.rx.feedPlaced(12, crc32c(c2hPayload));
  bad.rx.distrustDeviceCrc();
  bad.rx.feed(DDGST);
  assert.equal(doneOf(bad)[0].ev === 'done' && doneOf(bad)[0].ok, false);
});

test('receiver placed - after distrustDeviceCrc mid-PDU, later device CRCs are not taken on trust', () => {
  const r = ddgstHost();
  place(r, c2hPayload.subarray(0, 5), 'device');
  r.rx.distrustDeviceCrc();
  // A wrong device CRC for the rest is ignored: the receiver checksums those bytes itself.
  c2hPayload.subarray(5).copy(r.rx.destBuf!, r.rx.destPos);
  r.rx.feedPlaced(7, 0x1234);
  r.rx.feed(DDGST);
  assert.deepEqual(doneOf(r), [{ ev: 'done', type: PduType.C2HData, ok: true, byDevice: false, at: 0, len: 12 }]);
  // Outside DATA/DDGST it does nothing.
  r.rx.distrustDeviceCrc();
  assert.equal(r.rx.state, RecvState.CH);
});

test('receiver placed - feedChecked: bytes the device checksummed but did not place are copied, its CRC kept', () => {
  const r = ddgstHost();
  // Split in two pieces from a larger chunk at an offset, each with the device's running CRC.
  const chunk = Buffer.concat([Buffer.alloc(5, 0xee), c2hPayload, Buffer.alloc(3, 0xee)]);
  r.rx.feedChecked(chunk, 5, 7, crc32cUpdate(r.rx.dataCrcSoFar, c2hPayload.subarray(0, 7)));
  r.rx.feedChecked(chunk, 12, 5, crc32cUpdate(r.rx.dataCrcSoFar, c2hPayload.subarray(7)));
  r.rx.feed(DDGST);
  assert.deepEqual(doneOf(r), [{ ev: 'done', type: PduType.C2HData, ok: true, byDevice: true, at: 0, len: 12 }]);
  assert.ok(r.placed().equals(c2hPayload));
  // A wrong device CRC is caught by the digest, the bytes are still where they belong.
  const bad = ddgstHost();
  bad.rx.feedChecked(c2hPayload, 0, 12, 0x1234);
  bad.rx.feed(DDGST);
  assert.deepEqual(
    doneOf(bad).map((e) => e.ev === 'done' && [e.ok, e.byDevice]),
    [[false, true]],
  );
  assert.ok(bad.placed().equals(c2hPayload));
});

test('receiver placed - feedChecked outside a data phase is a protocol error, nothing copied', () => {
  const r = new Recorder({ role: 'host', ddgst: true, icDone: true });
  r.rx.feedChecked(c2hPayload, 0, 4, 0);
  assert.equal(r.rx.state, RecvState.ERR);
  assert.equal(r.events.filter((e) => e.ev === 'error').length, 1);
});
