// The packet device (NIC model) fed TCP segments in wire arrival order, with the
// ULP side (PacketRx: reassembly, resync answers, feed into the PduReceiver).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { impair, segmentStream } from '../../../src/offload/inject.ts';
import { createPacketDevice, type PacketDevice, type TcpSegment } from '../../../src/offload/packet-device.ts';
import { PacketRx } from '../../../src/offload/packet-rx.ts';
import type { DdpQueue } from '../../../src/offload/types.ts';
import { c2hPdus, type Digests, MiniHost, pattern, type ReadSpec } from './harness.ts';

const NONE: Digests = { hdgst: false, ddgst: false };
const BOTH: Digests = { hdgst: true, ddgst: true };

interface Flow {
  dev: PacketDevice;
  host: MiniHost;
  prx: PacketRx;
  q: DdpQueue;
}

function flow(d: Digests, seq: number, dev = createPacketDevice({ channels: 2 })): Flow {
  const host = new MiniHost(d);
  const prx = new PacketRx(host.rx, { seq, onTeardownDone: (cid) => host.ddpTeardownDone(cid) });
  const q = dev.addQueue(
    { pfv: 0, cpda: 0, dgst: (d.hdgst ? 1 : 0) | (d.ddgst ? 2 : 0), queueSize: 32, queueId: 1, ioCpu: 1, rxSeq: seq },
    prx,
  );
  assert.ok(typeof q !== 'number');
  prx.queue = q;
  host.q = q;
  return { dev, host, prx, q };
}

function run(f: Flow, arrivals: readonly TcpSegment[]): void {
  for (const s of arrivals) f.prx.push(f.dev.receive(f.q, s));
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** One read of `n` PDUs of `size` data bytes on CID 0, ending with a CapsuleResp. */
function oneRead(n: number, size: number, d: Digests, seed = 1): { spec: ReadSpec; pdus: Buffer[] } {
  const spec: ReadSpec = { cid: 0, data: pattern(n * size, seed), maxPdu: size };
  return { spec, pdus: c2hPdus([spec], d).map((p) => p.bytes) };
}

/** One segment per PDU. */
function pduSegments(pdus: Buffer[], seq: number): TcpSegment[] {
  const out: TcpSegment[] = [];
  let s = seq;
  for (const p of pdus) {
    out.push({ seq: s, payload: p });
    s = (s + p.length) >>> 0;
  }
  return out;
}

/** Placed pieces an [a, b) data range gives when cut at mss boundaries. */
function piecesIn(a: number, b: number, mss: number): number {
  return b <= a ? 0 : Math.floor((b - 1) / mss) - Math.floor(a / mss) + 1;
}

for (const d of [NONE, BOTH]) {
  const tag = d.ddgst ? 'digests' : 'no digests';
  test(`packet device - in-order segments: every data byte placed, no resync (${tag})`, async () => {
    const f = flow(d, 1000);
    const { spec, pdus } = oneRead(8, 4096, d);
    assert.equal(f.host.read(0, 8 * 4096, true), 0);
    const stream = Buffer.concat(pdus);
    run(f, segmentStream(stream, 1000, 1448));
    await tick();
    assert.deepEqual(f.host.bufs.get(0), spec.data);
    assert.deepEqual(f.host.completed, [0]);
    for (const x of f.host.dataDone) assert.deepEqual([x.ok, x.byDevice], [true, d.ddgst]);
    const hl = 24 + (d.hdgst ? 4 : 0);
    const pduLen = hl + 4096 + (d.ddgst ? 4 : 0);
    let packets = 0;
    for (let i = 0; i < 8; i++) packets += piecesIn(i * pduLen + hl, i * pduLen + hl + 4096, 1448);
    const st = f.dev.getStats();
    assert.deepEqual(
      [st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes, st.rx_nvmeotcp_resync, st.rx_nvmeotcp_drop],
      [packets, 8 * 4096, 0, 0],
    );
    assert.equal(f.prx.placedBytes, 8 * 4096);
    assert.deepEqual([st.rx_nvmeotcp_ddp_setup, st.rx_nvmeotcp_ddp_teardown], [1, 1]);
  });
}

test('packet device - one reordered segment: exactly one resync, offload resumes after the answer', async () => {
  const N = 10;
  const f = flow(BOTH, 5000);
  const { spec, pdus } = oneRead(N, 4096, BOTH);
  f.host.read(0, N * 4096, true);
  const segs = pduSegments(pdus, 5000); // PDU k = segment k; the CapsuleResp is segment N
  const arrivals = [...segs];
  [arrivals[3], arrivals[4]] = [arrivals[4], arrivals[3]];
  run(f, arrivals);
  await tick();
  assert.deepEqual(f.host.bufs.get(0), spec.data);
  assert.deepEqual(f.host.errors, []);
  const st = f.dev.getStats();
  assert.equal(st.rx_nvmeotcp_resync, 1);
  // PDUs 3 (arrived late: old bytes) and 4 (followed without offloading) pass through.
  assert.equal(st.rx_nvmeotcp_bytes, (N - 2) * 4096);
  assert.equal(st.rx_nvmeotcp_packets, N - 2);
  assert.deepEqual(
    f.host.dataDone.map((x) => x.byDevice),
    [true, true, true, false, false, true, true, true, true, true],
  );
  assert.ok(f.host.dataDone.every((x) => x.ok));
  assert.deepEqual(f.host.completed, [0]);
});

test('packet device - the resync request names the PDU start, and wraps at 2^32', () => {
  const seq0 = 2 ** 32 - 3 * 4128; // PDU 3 starts exactly at 2^32 (no digests: 24 + 4104 = 4128)
  const f = flow(NONE, seq0);
  const asks: number[] = [];
  const ask = f.prx.resyncRequest.bind(f.prx);
  f.prx.resyncRequest = (s: number) => {
    asks.push(s);
    return ask(s);
  };
  const { spec, pdus } = oneRead(8, 4104, NONE);
  f.host.read(0, 8 * 4104, true);
  const segs = pduSegments(pdus, seq0);
  assert.equal(segs[3].seq, 0);
  const arrivals = [...segs];
  [arrivals[2], arrivals[3]] = [arrivals[3], arrivals[2]];
  run(f, arrivals);
  assert.deepEqual(asks, [0]);
  assert.deepEqual(f.host.bufs.get(0), spec.data);
  const st = f.dev.getStats();
  assert.equal(st.rx_nvmeotcp_resync, 1);
  assert.equal(st.rx_nvmeotcp_bytes, 6 * 4104);
  assert.equal(f.prx.nextSeq, (seq0 + pdus.reduce((a, p) => a + p.length, 0)) >>> 0);
});

test('packet device - a lost segment: resync at the next header, partial PDUs recomputed by the ULP', async () => {
  // PDU = 28 (header+HDGST) + 8192 + 4 (DDGST) = 8224 bytes; MSS 1000.
  const f = flow(BOTH, 0);
  const { spec, pdus } = oneRead(5, 8192, BOTH);
  f.host.read(0, 5 * 8192, true);
  const segs = segmentStream(Buffer.concat(pdus), 0, 1000);
  // Segment 10 ([10000, 11000), inside PDU 1's data) is lost and retransmitted 3 segments later.
  const arrivals = [...segs];
  arrivals.splice(10, 1);
  arrivals.splice(13, 0, segs[10]);
  assert.deepEqual(
    arrivals.slice(9, 15).map((s) => s.seq / 1000),
    [9, 11, 12, 13, 10, 14],
  );
  const asks: number[] = [];
  const ask = f.prx.resyncRequest.bind(f.prx);
  f.prx.resyncRequest = (s: number) => {
    asks.push(s);
    return ask(s);
  };
  run(f, arrivals);
  await tick();
  assert.deepEqual(f.host.bufs.get(0), spec.data);
  // PDU 2 starts at 16448, its header whole inside segment 16: the first candidate.
  assert.deepEqual(asks, [16448]);
  const P = 8224;
  const placed: [number, number][] = [
    [28, 28 + 8192], // PDU 0
    [P + 28, 10000], // PDU 1 up to the loss
    [17000, 2 * P + 28 + 8192], // PDU 2 from the segment after the confirmation
    [3 * P + 28, 3 * P + 28 + 8192],
    [4 * P + 28, 4 * P + 28 + 8192],
  ];
  const st = f.dev.getStats();
  assert.equal(
    st.rx_nvmeotcp_bytes,
    placed.reduce((a, [x, y]) => a + y - x, 0),
  );
  assert.equal(
    st.rx_nvmeotcp_packets,
    placed.reduce((a, [x, y]) => a + piecesIn(x, y, 1000), 0),
  );
  assert.equal(st.rx_nvmeotcp_resync, 1);
  // PDU 1 lost its tail to the software path; PDU 2 was placed only after the resync:
  // the device did not follow either CRC from the first byte, so the ULP computed it.
  assert.deepEqual(
    f.host.dataDone.map((x) => [x.datao, x.ok, x.byDevice]),
    [
      [0, true, true],
      [8192, true, false],
      [16384, true, false],
      [24576, true, true],
      [32768, true, true],
    ],
  );
  assert.equal(f.prx.placedBytes, st.rx_nvmeotcp_bytes);
});

test('packet device - a late retransmission is not searched: only bytes never seen are', () => {
  const f = flow(BOTH, 0);
  const { spec, pdus } = oneRead(5, 8192, BOTH);
  f.host.read(0, 5 * 8192, true);
  const segs = segmentStream(Buffer.concat(pdus), 0, 1000);
  // Segment 16 holds PDU 2's header (16448); it is lost and arrives after segment 19.
  const arrivals = [...segs];
  arrivals.splice(16, 1);
  arrivals.splice(19, 0, segs[16]);
  const asks: number[] = [];
  const ask = f.prx.resyncRequest.bind(f.prx);
  f.prx.resyncRequest = (s: number) => {
    asks.push(s);
    return ask(s);
  };
  run(f, arrivals);
  assert.deepEqual(f.host.bufs.get(0), spec.data);
  // PDU 3's header (24672, segment 24) is the first one in a segment not seen before.
  assert.deepEqual(asks, [24672]);
  assert.equal(f.dev.getStats().rx_nvmeotcp_resync, 1);
});

test('packet device - after a resync a corrupted partially-placed PDU is still caught in software', () => {
  const f = flow(BOTH, 0);
  const spec: ReadSpec = { cid: 0, data: pattern(5 * 8192, 1), maxPdu: 8192, corruptAt: 2 * 8192 + 5000 };
  f.host.read(0, 5 * 8192, true);
  const segs = segmentStream(Buffer.concat(c2hPdus([spec], BOTH).map((p) => p.bytes)), 0, 1000);
  const arrivals = [...segs];
  arrivals.splice(10, 1);
  arrivals.splice(13, 0, segs[10]);
  run(f, arrivals);
  assert.deepEqual(
    f.host.dataDone.map((x) => [x.datao, x.ok, x.byDevice]),
    [
      [0, true, true],
      [8192, true, false],
      [16384, false, false],
      [24576, true, true],
      [32768, true, true],
    ],
  );
});

test('packet device - duplicates change nothing: same placement, no resync', () => {
  const f = flow(BOTH, 77);
  const { spec, pdus } = oneRead(6, 5000, BOTH);
  f.host.read(0, 30000, true);
  const segs = segmentStream(Buffer.concat(pdus), 77, 1200);
  const arrivals: TcpSegment[] = [];
  segs.forEach((s, i) => {
    arrivals.push(s);
    if (i % 3 === 0) arrivals.push(s);
    if (i % 4 === 1 && i > 1) arrivals.push(segs[i - 2]);
  });
  run(f, arrivals);
  assert.deepEqual(f.host.bufs.get(0), spec.data);
  const st = f.dev.getStats();
  assert.deepEqual([st.rx_nvmeotcp_bytes, st.rx_nvmeotcp_resync], [30000, 0]);
  assert.ok(f.host.dataDone.every((x) => x.ok && x.byDevice));
});

test('packet device - a false PDU candidate is denied, the device searches on', async () => {
  // PDU 1's data carries bytes that look like a C2HData header (plen far beyond the segment).
  const data = pattern(4 * 8192, 3);
  const fakeAt = 8192 + 3000; // data offset in the read: inside PDU 1
  const fake = c2hPdus([{ cid: 0, data: Buffer.alloc(100000) }], NONE)[0].bytes.subarray(0, 24);
  fake.copy(data, fakeAt);
  const spec: ReadSpec = { cid: 0, data, maxPdu: 8192 };
  const f = flow(NONE, 0);
  f.host.read(0, data.length, true);
  const segs = segmentStream(Buffer.concat(c2hPdus([spec], NONE).map((p) => p.bytes)), 0, 1000);
  // PDU 1 spans [8216, 16432); its data starts at 8240; the fake header sits at 11240 (segment 11).
  const arrivals = [...segs];
  arrivals.splice(9, 1);
  arrivals.splice(11, 0, segs[9]);
  const asks: number[] = [];
  const ask = f.prx.resyncRequest.bind(f.prx);
  f.prx.resyncRequest = (s: number) => {
    asks.push(s);
    return ask(s);
  };
  run(f, arrivals);
  await tick();
  assert.deepEqual(f.host.bufs.get(0), data);
  // Denied at PDU 2's start (16432, segment 16); PDU 3's header (24648, segment 24) is confirmed.
  assert.deepEqual(asks, [11240, 24648]);
  const st = f.dev.getStats();
  assert.equal(st.rx_nvmeotcp_resync, 2);
  const placed = 8192 + (9000 - 8240) + (3 * 8216 + 24 + 8192 - 25000);
  assert.equal(st.rx_nvmeotcp_bytes, placed);
  assert.deepEqual(f.host.errors, []);
  assert.deepEqual(f.host.completed, [0]);
});

test('packet device - segments of a removed queue are dropped and counted', () => {
  const f = flow(NONE, 0);
  const { pdus } = oneRead(2, 4096, NONE);
  f.host.read(0, 8192, true);
  const segs = segmentStream(Buffer.concat(pdus), 0, 1000);
  run(f, segs.slice(0, 3));
  f.q.remove();
  const rest = segs.slice(3).map((s) => f.dev.receive(f.q, s));
  assert.ok(rest.every((r) => r.dropped && r.pieces.length === 0));
  const st = f.dev.getStats();
  assert.equal(st.rx_nvmeotcp_drop, segs.length - 3);
  assert.equal(st.rx_nvmeotcp_sk_del, 1);
  const snap = f.dev.snapshot();
  assert.equal(snap.perChannel[1].values.rx_nvmeotcp_drop, segs.length - 3);
  assert.equal(snap.retired.rx_nvmeotcp_bytes, st.rx_nvmeotcp_bytes, 'the removed queue folded into the retired total');
});

test('packet device - a torn-down CCID is no longer placed into', async () => {
  const f = flow(NONE, 0);
  const { spec, pdus } = oneRead(2, 4096, NONE);
  f.host.read(0, 8192, true);
  const segs = pduSegments(pdus, 0);
  run(f, segs.slice(0, 1));
  f.q.teardown(0); // e.g. an abort: the ULP keeps the buffer, the device must stop writing
  f.host.offloaded.delete(0);
  run(f, segs.slice(1));
  await tick();
  assert.deepEqual(f.host.bufs.get(0), spec.data);
  assert.equal(f.dev.getStats().rx_nvmeotcp_bytes, 4096);
});

test('packet device - DDGST_RX off: placed, but no CRC from the device', () => {
  const f = flow(BOTH, 0, createPacketDevice({ channels: 1, active: { crcRx: false } }));
  const { spec, pdus } = oneRead(3, 4096, BOTH);
  f.host.read(0, 3 * 4096, true);
  const out = segmentStream(Buffer.concat(pdus), 0, 1500).map((s) => f.dev.receive(f.q, s));
  assert.ok(out.every((r) => !r.crcOk && r.pieces.every((p) => p.crc === undefined)));
  for (const r of out) f.prx.push(r);
  assert.deepEqual(f.host.bufs.get(0), spec.data);
  assert.ok(f.host.dataDone.every((x) => x.ok && !x.byDevice));
  assert.equal(f.dev.getStats().rx_nvmeotcp_bytes, 3 * 4096);
});

test('packet device - seeded loss/reorder/duplicate runs: data intact, placed bytes all reach the ULP', async () => {
  for (let seed = 1; seed <= 12; seed++) {
    const d = seed % 2 === 0 ? BOTH : NONE;
    const f = flow(d, (seed * 0x3c6ef372) >>> 0);
    const specs: ReadSpec[] = [0, 1, 2].map((cid) => ({ cid, data: pattern(40000 + cid * 7000, seed * 10 + cid), maxPdu: 9000 }));
    for (const s of specs) f.host.read(s.cid, s.data.length, true);
    const stream = Buffer.concat(c2hPdus(specs, d).map((p) => p.bytes));
    const segs = segmentStream(stream, f.prx.nextSeq, 1460);
    run(f, impair(segs, { seed, loss: 0.05, reorder: 0.05, duplicate: 0.05 }));
    await tick();
    for (const s of specs) assert.deepEqual(f.host.bufs.get(s.cid), s.data, `seed ${seed} cid ${s.cid}`);
    assert.deepEqual(f.host.errors, [], `seed ${seed}`);
    assert.ok(f.host.dataDone.every((x) => x.ok), `seed ${seed}`);
    assert.deepEqual(
      f.host.completed.sort((a, b) => a - b),
      [0, 1, 2],
    );
    const st = f.dev.getStats();
    assert.equal(st.rx_nvmeotcp_bytes, f.prx.placedBytes, `seed ${seed}`);
    assert.equal(st.rx_nvmeotcp_ddp_setup, st.rx_nvmeotcp_ddp_teardown);
    assert.equal(f.prx.heldCount, 0);
  }
});

test('inject - every segment arrives at least once, and the same seed gives the same order', () => {
  const segs = segmentStream(Buffer.alloc(100000), 10, 1000);
  const a = impair(segs, { seed: 42, loss: 0.1, reorder: 0.1, duplicate: 0.1 });
  const b = impair(segs, { seed: 42, loss: 0.1, reorder: 0.1, duplicate: 0.1 });
  assert.deepEqual(
    a.map((s) => s.seq),
    b.map((s) => s.seq),
  );
  assert.deepEqual([...new Set(a.map((s) => s.seq))].sort((x, y) => x - y), segs.map((s) => s.seq));
  assert.ok(a.length > segs.length);
  assert.notDeepEqual(
    a.map((s) => s.seq),
    segs.map((s) => s.seq),
  );
});
