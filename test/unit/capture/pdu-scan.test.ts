// The PDU scanner over reassembled streams: every header found at the right place
// whatever the digests, padding and chunking; search after lost sync; gaps inside a
// PDU keep sync; the ICReq-first rule that tells NVMe/TCP flows from others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PduScanner, type PduHeaderView, Role } from '../../../src/capture/pdu-scan.ts';
import { PduType } from '../../../src/protocol/constants.ts';
import { hostStream, STREAM_OPTS, type Stream, targetStream } from '../../fixtures/pdu/streams.ts';

interface Found {
  seq: number;
  type: number;
  plen: number;
}

function scanner(o: { role?: (typeof Role)[keyof typeof Role]; icFirst?: boolean; inSync?: boolean } = {}) {
  const found: Found[] = [];
  const lost: number[] = [];
  const s = new PduScanner(
    (h: PduHeaderView) => found.push({ seq: h.seq, type: h.type, plen: h.plen }),
    (seq) => lost.push(seq),
    { role: o.role, icFirst: o.icFirst },
  );
  s.start(o.inSync ?? true);
  return { s, found, lost };
}

/** The PDUs a stream holds: its starts (seq = offset + base) and their types. */
function expected(st: Stream, base: number, from = 0): Found[] {
  const out: Found[] = [];
  let i = 0;
  for (const e of st.events) {
    if (e.ev !== 'pdu') continue;
    const at = st.starts[i];
    const plen = st.starts[i + 1] - at;
    if (at >= from) out.push({ seq: (base + at) >>> 0, type: e.pdu.type, plen });
    i++;
  }
  return out;
}

const STREAMS: [string, (o: (typeof STREAM_OPTS)[number]) => Stream, (typeof Role)[keyof typeof Role]][] = [
  ['controller-to-host', hostStream, Role.C2H],
  ['host-to-controller', targetStream, Role.H2C],
];

for (const [name, make, role] of STREAMS) {
  test(`pdu-scan - ${name}: every PDU at its place, any digests and padding, split at every byte`, () => {
    for (const o of STREAM_OPTS) {
      const st = make(o);
      const base = 0xffff_ff00; // the stream crosses 2^32
      const want = expected(st, base);
      for (const r of [Role.ANY, role]) {
        const whole = scanner({ role: r });
        whole.s.data(st.bytes, 0, st.bytes.length, base);
        assert.deepEqual(whole.found, want, `${JSON.stringify(o)} role ${r}`);
        assert.deepEqual(whole.lost, []);
      }
      for (let cut = 1; cut < st.bytes.length; cut++) {
        const sp = scanner({ role });
        sp.s.data(st.bytes, 0, cut, base);
        sp.s.data(st.bytes, cut, st.bytes.length, (base + cut) >>> 0);
        assert.deepEqual(sp.found, want, `${JSON.stringify(o)} split at ${cut}`);
      }
      const bytewise = scanner({ role });
      for (let i = 0; i < st.bytes.length; i++) bytewise.s.data(st.bytes, i, i + 1, (base + i) >>> 0);
      assert.deepEqual(bytewise.found, want, 'byte by byte');
      const counts = Array.from(bytewise.s.counts);
      for (const f of want) counts[f.type]--;
      assert.ok(
        counts.every((c) => c === 0),
        'counts by type',
      );
    }
  });

  test(`pdu-scan - ${name}: started anywhere, the search finds the next PDU and keeps sync after it`, () => {
    for (const o of STREAM_OPTS) {
      const st = make(o);
      for (let k = 0; k < st.bytes.length; k++) {
        const sc = scanner({ role, inSync: false });
        sc.s.data(st.bytes, k, st.bytes.length, k);
        assert.deepEqual(sc.found, expected(st, 0, k), `${JSON.stringify(o)} from ${k}`);
      }
    }
  });
}

test('pdu-scan - a gap inside a PDU body keeps sync; a gap over a header loses it until the next piece', () => {
  const st = hostStream({ hdgst: true, ddgst: true, pda: 0 });
  const want = expected(st, 0);
  const c2h = want.find((f) => f.type === PduType.C2HData)!;
  // Lose 50 bytes in the middle of the first C2HData's data.
  const holeAt = c2h.seq + 24 + 4 + 20;
  const a = scanner({ role: Role.C2H });
  a.s.data(st.bytes, 0, holeAt, 0);
  a.s.gap(holeAt, 50);
  a.s.data(st.bytes, holeAt + 50, st.bytes.length, holeAt + 50);
  assert.deepEqual(a.found, want);
  assert.equal(a.s.gapInBody, 50);
  assert.equal(a.s.desyncs, 0);

  // Lose the bytes from inside the first C2HData's header to inside the next PDU.
  const next = want[want.indexOf(c2h) + 1];
  const b = scanner({ role: Role.C2H });
  b.s.data(st.bytes, 0, c2h.seq + 4, 0);
  b.s.gap(c2h.seq + 4, next.seq + 10 - (c2h.seq + 4));
  b.s.data(st.bytes, next.seq + 10, st.bytes.length, next.seq + 10);
  assert.deepEqual(b.lost, [c2h.seq + 4], 'sync lost where the gap starts');
  assert.equal(b.s.desyncs, 1);
  assert.deepEqual(
    b.found,
    want.filter((f) => f.seq < c2h.seq || f.seq > next.seq),
  );
});

test('pdu-scan - a header cut after its CH (snaplen) is skipped by PLEN: sync kept, PDU not reported', () => {
  const st = targetStream({ hdgst: false, ddgst: false, pda: 0 });
  const want = expected(st, 0);
  const cmd = want.find((f) => f.type === PduType.CapsuleCmd)!;
  const sc = scanner({ role: Role.H2C });
  sc.s.data(st.bytes, 0, cmd.seq + 20, 0); // CH and 12 bytes of the SQE
  sc.s.gap(cmd.seq + 20, cmd.plen - 20);
  sc.s.data(st.bytes, cmd.seq + cmd.plen, st.bytes.length, cmd.seq + cmd.plen);
  assert.deepEqual(
    sc.found,
    want.filter((f) => f !== cmd),
  );
  assert.equal(sc.s.cutHeaders, 1);
  assert.equal(sc.s.desyncs, 0);
});

test('pdu-scan - icFirst: an ICReq/ICResp CH is announced at once; anything else stops the scanner', () => {
  for (const [st, type] of [
    [targetStream({ hdgst: false, ddgst: false, pda: 0 }), PduType.ICReq],
    [hostStream({ hdgst: true, ddgst: false, pda: 0 }), PduType.ICResp],
  ] as const) {
    const sc = scanner({ icFirst: true });
    const seen: number[] = [];
    sc.s.onIcCh = (t) => seen.push(sc.found.length, t);
    sc.s.data(st.bytes, 0, 8, 0);
    assert.deepEqual(seen, [0, type], 'announced before the header is complete');
    sc.s.data(st.bytes, 8, st.bytes.length, 8);
    assert.deepEqual(sc.found, expected(st, 0));
  }
  // An HTTP request, and a stream that starts with a CapsuleCmd instead of an ICReq.
  const http = scanner({ icFirst: true });
  const req = Buffer.from('GET / HTTP/1.1\r\n\r\n');
  http.s.data(req, 0, req.length, 100);
  assert.deepEqual(http.lost, [100]);
  assert.equal(http.s.stopped, true);
  const st = targetStream({ hdgst: false, ddgst: false, pda: 0 });
  const noIc = scanner({ icFirst: true });
  noIc.s.data(st.bytes, st.starts[1], st.bytes.length, 0);
  assert.deepEqual(noIc.found, []);
  assert.equal(noIc.s.stopped, true);
});

test('pdu-scan - known digests make the check stricter: a header without HDGSTF is then refused', () => {
  const plain = targetStream({ hdgst: false, ddgst: false, pda: 0 });
  const sc = scanner({ role: Role.H2C });
  sc.s.hdgst = 1;
  sc.s.ddgst = 0;
  sc.s.data(plain.bytes, 0, plain.bytes.length, 0);
  // The ICReq (no digests ever) passes; the first CapsuleCmd without HDGSTF loses sync, and the
  // search skips every other one, up to the H2CTermReq (which never has digests).
  assert.deepEqual(
    sc.found.map((f) => f.type),
    [PduType.ICReq, PduType.H2CTermReq],
  );
  assert.equal(sc.lost.length, 1);
});
