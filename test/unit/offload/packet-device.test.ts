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

/** The arrival order when segment `i` is lost and its retransmission comes `by` segments later. */
function delayed(segs: readonly TcpSegment[], i: number, by: number): TcpSegment[] {
  const arrivals = [...segs];
  arrivals.splice(i, 1);
  arrivals.splice(i + by, 0, segs[i]);
  return arrivals;
}

/** Records the device's resync requests (asks) and the ULP's confirmations (answers). */
function watchResync(f: Flow): { asks: number[]; answers: number[] } {
  const w = { asks: [] as number[], answers: [] as number[] };
  const ask = f.prx.resyncRequest.bind(f.prx);
  f.prx.resyncRequest = (seq: number) => {
    w.asks.push(seq);
    return ask(seq);
  };
  const confirm = f.q.resync.bind(f.q);
  f.q.resync = (seq: number) => {
    w.answers.push(seq);
    confirm(seq);
  };
  return w;
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

/** Segments an [a, b) byte range touches when the stream is cut at mss boundaries. */
function segsIn(a: number, b: number, mss: number): number {
  return b <= a ? 0 : Math.floor((b - 1) / mss) - Math.floor(a / mss) + 1;
}

// The example: one READ of 8 PDUs of 4 KiB (then its CapsuleResp) at MSS 1448.
//
// No digests: PDU k = [4120k, 4120k + 4120), its header the first 24 bytes, its
// data [4120k + 24, 4120(k+1)); the CapsuleResp [32960, 32984). 32984 bytes = 23
// segments (22 x 1448 + 1128), and every one carries data bytes: 23 packets.
// A header at r = 4120k mod 1448 with r + 24 < 1448 sits inside a segment that
// begins with PDU k-1's data: under mlx5 that segment's one placement is k-1's
// tail, and PDU k's first 1448 - r - 24 bytes there are only checksummed:
//   k    1     2     3     4     5     6     7
//   r    1224  1000  776   552   328   104   1328
//   lost 200   424   648   872   1096  1320  96     sum 4656
// mlx5 places 32768 - 4656 = 28112 bytes; generic places all 32768.
//
// Digests on: PDU = 28 + 4096 + 4 = 4128, the CapsuleResp 28: 33052 bytes, 23
// segments, all with data. PDU k's data starts at 4128k + 28 and k-1's ends at
// 4128k - 4: the same segment for every k, losing
//   k    1    2    3    4    5     6     7
//   lost 188  404  620  836  1052  1268  36     sum 4404
// so mlx5 places 32768 - 4404 = 28364 bytes.
const EXAMPLE = [
  { d: NONE, profile: 'mlx5', stream: 32984, bytes: 28112 },
  { d: NONE, profile: 'generic', stream: 32984, bytes: 32768 },
  { d: BOTH, profile: 'mlx5', stream: 33052, bytes: 28364 },
  { d: BOTH, profile: 'generic', stream: 33052, bytes: 32768 },
] as const;

for (const x of EXAMPLE) {
  const tag = `${x.profile}, ${x.d.ddgst ? 'digests' : 'no digests'}`;
  test(`packet device - 8 PDUs of 4 KiB at MSS 1448: 23 packets, exact placed bytes (${tag})`, async () => {
    const f = flow(x.d, 1000, createPacketDevice({ channels: 2, profile: x.profile }));
    const { spec, pdus } = oneRead(8, 4096, x.d);
    assert.equal(f.host.read(0, 8 * 4096, true), 0);
    const stream = Buffer.concat(pdus);
    assert.equal(stream.length, x.stream);
    const segs = segmentStream(stream, 1000, 1448);
    assert.equal(segs.length, 23);
    run(f, segs);
    await tick();
    assert.deepEqual(f.host.bufs.get(0), spec.data);
    assert.deepEqual(f.host.completed, [0]);
    // Every PDU's CRC was followed by the device, placed or only checksummed.
    for (const d of f.host.dataDone) assert.deepEqual([d.ok, d.byDevice], [true, x.d.ddgst]);
    const st = f.dev.getStats();
    assert.deepEqual([st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes, st.rx_nvmeotcp_resync, st.rx_nvmeotcp_drop], [23, x.bytes, 0, 0]);
    const sum = f.dev.snapshot().sum;
    assert.deepEqual([sum.rx_packets, sum.rx_bytes], [23, x.stream]);
    assert.equal(f.prx.placedBytes, x.bytes);
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
  // Every segment arrived once: the CapsuleResp's too.
  const sum = f.dev.snapshot().sum;
  assert.deepEqual([sum.rx_packets, sum.rx_bytes], [N + 1, pdus.reduce((a, p) => a + p.length, 0)]);
  // PDU 5 is placed but comes in the first segment after the resync, whose CRC
  // result is not valid (mlx5 after_resync_cqe): the ULP verifies it in software.
  assert.deepEqual(
    f.host.dataDone.map((x) => x.byDevice),
    [true, true, true, false, false, false, true, true, true, true],
  );
  assert.ok(f.host.dataDone.every((x) => x.ok));
  assert.deepEqual(f.host.completed, [0]);
});

test('packet device - the resync request names the PDU start, and wraps at 2^32', () => {
  const seq0 = 2 ** 32 - 3 * 4128; // PDU 3 starts exactly at 2^32 (no digests: 24 + 4104 = 4128)
  const f = flow(NONE, seq0);
  const { asks, answers } = watchResync(f);
  const { spec, pdus } = oneRead(8, 4104, NONE);
  f.host.read(0, 8 * 4104, true);
  const segs = pduSegments(pdus, seq0);
  assert.equal(segs[3].seq, 0);
  const arrivals = [...segs];
  [arrivals[2], arrivals[3]] = [arrivals[3], arrivals[2]];
  run(f, arrivals);
  assert.deepEqual(asks, [0]);
  assert.deepEqual(answers, [0], 'the ULP confirms the PDU start at sequence 0, right after 2^32 - 1');
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
  const arrivals = delayed(segs, 10, 3);
  assert.deepEqual(
    arrivals.slice(9, 15).map((s) => s.seq / 1000),
    [9, 11, 12, 13, 10, 14],
  );
  const { asks } = watchResync(f);
  run(f, arrivals);
  await tick();
  assert.deepEqual(f.host.bufs.get(0), spec.data);
  // PDU 2 starts at 16448, its header whole inside segment 16: the first candidate.
  assert.deepEqual(asks, [16448]);
  // Under mlx5 a segment places one PDU's data: where PDU k's header sits inside a
  // segment that began with PDU k-1's data, PDU k is placed from the next segment.
  const placed: [number, number][] = [
    [28, 8220], // PDU 0: segments 0..8
    [9000, 10000], // PDU 1 ([8252, 16444)): segment 8 is PDU 0's; placed in 9, up to the loss
    [17000, 24668], // PDU 2 from the segment after the confirmation: 17..24
    [25000, 32892], // PDU 3 ([24700, 32892)): segment 24 is PDU 2's; 25..32
    [33000, 41116], // PDU 4 ([32924, 41116)): segment 32 is PDU 3's; 33..41
  ];
  const st = f.dev.getStats();
  assert.equal(
    st.rx_nvmeotcp_bytes,
    placed.reduce((a, [x, y]) => a + y - x, 0),
  );
  assert.equal(st.rx_nvmeotcp_bytes, 8192 + 1000 + 7668 + 7892 + 8116);
  assert.equal(st.rx_nvmeotcp_packets, 9 + 1 + 8 + 8 + 9);
  assert.equal(
    st.rx_nvmeotcp_packets,
    placed.reduce((a, [x, y]) => a + segsIn(x, y, 1000), 0),
  );
  assert.equal(st.rx_nvmeotcp_resync, 1);
  // 41148 bytes in 42 segments, the lost one counted when its retransmission came.
  const sum = f.dev.snapshot().sum;
  assert.deepEqual([sum.rx_packets, sum.rx_bytes], [42, 41148]);
  // PDU 1 lost its tail to the software path; PDU 2 was placed only after the resync:
  // the device did not follow either CRC from the first byte. PDU 3's first data
  // bytes share segment 24 with PDU 2's unverified tail and digest, so that
  // segment is not CRC-valid and PDU 3 is verified in software too.
  assert.deepEqual(
    f.host.dataDone.map((x) => [x.datao, x.ok, x.byDevice]),
    [
      [0, true, true],
      [8192, true, false],
      [16384, true, false],
      [24576, true, false],
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
  const arrivals = delayed(segs, 16, 3);
  const { asks } = watchResync(f);
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
  const arrivals = delayed(segs, 10, 3);
  run(f, arrivals);
  // As in the lost-segment test: PDUs 1, 2 and 3 in software, PDU 2's corruption caught there.
  assert.deepEqual(
    f.host.dataDone.map((x) => [x.datao, x.ok, x.byDevice]),
    [
      [0, true, true],
      [8192, true, false],
      [16384, false, false],
      [24576, true, false],
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
  // PDU = 28 + 5000 + 4 = 5032; 6 of them and a 28-byte CapsuleResp: 30220 bytes,
  // 26 segments of 1200, each with placed data. PDU k's data (from 5032k + 28) shares
  // a segment with k-1's tail for k = 1..5, losing 940, 708, 476, 244 and 12 bytes
  // to the one-placement rule: 30000 - 2380 = 27620 placed. The duplicates are old
  // bytes: never placed again, but every arrival is a received segment.
  const st = f.dev.getStats();
  assert.deepEqual([st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes, st.rx_nvmeotcp_resync], [26, 27620, 0]);
  assert.equal(segs.length, 26);
  const sum = f.dev.snapshot().sum;
  assert.deepEqual([sum.rx_packets, sum.rx_bytes], [arrivals.length, arrivals.reduce((a, x) => a + x.payload.length, 0)]);
  assert.ok(f.host.dataDone.every((x) => x.ok && x.byDevice));
});

test('packet device - a wrong resync guess gets no answer; the device finds out, asks again and is answered', async () => {
  // PDU 1's data carries bytes that look like a C2HData header of DATAL 8000.
  const data = pattern(4 * 8192, 3);
  const fakeAt = 8192 + 3000; // data offset in the read: inside PDU 1
  const fake = c2hPdus([{ cid: 0, data: Buffer.alloc(8000) }], NONE)[0].bytes.subarray(0, 24);
  fake.copy(data, fakeAt);
  const spec: ReadSpec = { cid: 0, data, maxPdu: 8192 };
  const f = flow(NONE, 0);
  f.host.read(0, data.length, true);
  const segs = segmentStream(Buffer.concat(c2hPdus([spec], NONE).map((p) => p.bytes)), 0, 1000);
  // PDU k spans [8216k, 8216(k+1)), its data from 8216k + 24. Segment 9 arrives after
  // 11: the device loses sync at 10 and takes the fake header at 11240 (segment 11)
  // for a PDU start. Following it, the "next header" at 11240 + 8024 = 19264 lies in
  // PDU 2's data: it does not check out, the device searches again and asks about
  // PDU 3's header at 24648 (segment 24).
  const arrivals = delayed(segs, 9, 2);
  const { asks, answers } = watchResync(f);
  run(f, arrivals);
  await tick();
  assert.deepEqual(f.host.bufs.get(0), data);
  assert.deepEqual(asks, [11240, 24648]);
  // The host passed 11240 at PDU 2's start (16432) without an answer; it confirmed 24648 exactly.
  assert.deepEqual(answers, [24648]);
  const st = f.dev.getStats();
  assert.equal(st.rx_nvmeotcp_resync, 2);
  // Placed: PDU 0 whole (segments 0..8). PDU 1's data starts in segment 8, whose one
  // placement is PDU 0's tail, and segment 9 is missing. PDU 3 from segment 25, the
  // first after the confirmation, to its end at 3 * 8216 + 24 + 8192 = 32864.
  assert.equal(st.rx_nvmeotcp_bytes, 8192 + (32864 - 25000));
  assert.equal(st.rx_nvmeotcp_packets, 9 + 8);
  assert.deepEqual(f.host.errors, []);
  assert.deepEqual(f.host.completed, [0]);
});

for (const profile of ['mlx5', 'generic'] as const) {
  test(`packet device - a lost data-only segment: ${profile === 'mlx5' ? 'mlx5 resyncs' : 'generic keeps PDU sync, no resync'}`, async () => {
    // PDU = 28 + 8192 + 4 = 8224 bytes, 5 of them and a 28-byte CapsuleResp: 41148
    // bytes, 42 segments of 1000, every one with data. Segment 10 ([10000, 11000),
    // inside PDU 1's data [8252, 16444)) is lost and retransmitted 3 segments later.
    const f = flow(BOTH, 0, createPacketDevice({ channels: 2, profile }));
    const { spec, pdus } = oneRead(5, 8192, BOTH);
    f.host.read(0, 5 * 8192, true);
    const segs = segmentStream(Buffer.concat(pdus), 0, 1000);
    const arrivals = delayed(segs, 10, 3);
    run(f, arrivals);
    await tick();
    assert.deepEqual(f.host.bufs.get(0), spec.data);
    assert.deepEqual(f.host.completed, [0]);
    const st = f.dev.getStats();
    const sum = f.dev.snapshot().sum;
    assert.deepEqual([sum.rx_packets, sum.rx_bytes], [42, 41148]);
    if (profile === 'mlx5') {
      // As in the lost-segment test above: one resync, 32868 bytes in 35 packets.
      assert.deepEqual([st.rx_nvmeotcp_resync, st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes], [1, 35, 32868]);
      return;
    }
    // Generic: the device skips the 1000 missing bytes and keeps placing; the
    // retransmission is old bytes, copied by the ULP. Every other segment is placed,
    // with all the data of several PDUs: 41 packets, 5 * 8192 - 1000 bytes.
    assert.deepEqual([st.rx_nvmeotcp_resync, st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes], [0, 41, 39960]);
    // PDU 1's CRC was not followed whole; segment 16 holds its tail and digest and
    // PDU 2's first data bytes, so it is not CRC-valid and PDU 2 is verified in software too.
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
  });
}

test('packet device - the first segment after a resync is not CRC-valid (after_resync_cqe), the next one is', () => {
  const f = flow(BOTH, 0);
  const { pdus } = oneRead(6, 4096, BOTH);
  f.host.read(0, 6 * 4096, true);
  const segs = pduSegments(pdus, 0); // PDU k = segment k
  const arrivals = [...segs];
  [arrivals[2], arrivals[3]] = [arrivals[3], arrivals[2]];
  const crcOk: boolean[] = [];
  for (const s of arrivals) {
    const r = f.dev.receive(f.q, s);
    crcOk.push(r.crcOk);
    f.prx.push(r);
  }
  // Arrival order 0 1 3 2 4 5 6: segment 3 is early (search, resync request at PDU 3),
  // 2 is old bytes, PDU 3's start is confirmed while 2 and 3 are delivered; 4 is the
  // first segment after the resync.
  assert.deepEqual(crcOk, [true, true, false, false, false, true, true]);
  assert.equal(f.dev.getStats().rx_nvmeotcp_resync, 1);
  assert.deepEqual(
    f.host.dataDone.map((x) => x.byDevice),
    [true, true, false, false, false, true],
  );
});

test('packet device - a digest in a segment the device did not check: that PDU is verified in software', () => {
  // PDU 0 = 28 + 900 + 4 = 932 bytes, then PDU 1 and a CapsuleResp.
  const spec: ReadSpec = { cid: 0, data: pattern(1800, 8), maxPdu: 900 };
  const stream = Buffer.concat(c2hPdus([spec], BOTH).map((p) => p.bytes));
  for (const overlap of [false, true]) {
    const f = flow(BOTH, 0);
    f.host.read(0, 1800, true);
    // Segment A carries PDU 0's header and data; B starts with its digest, or (a
    // repacketised retransmission) 428 old bytes before it, which the device does
    // not check again: B is then not CRC-valid and PDU 0's digest is not vouched for.
    const a = { seq: 0, payload: stream.subarray(0, 928) };
    const b = overlap ? { seq: 500, payload: stream.subarray(500) } : { seq: 928, payload: stream.subarray(928) };
    run(f, [a, b]);
    assert.deepEqual(f.host.bufs.get(0), spec.data);
    assert.deepEqual(
      f.host.dataDone.map((x) => [x.ok, x.byDevice]),
      [
        [true, !overlap],
        [true, !overlap],
      ],
    );
  }
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
  const f = flow(BOTH, 0, createPacketDevice({ channels: 1, profile: 'generic', active: { crcRx: false } }));
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
    assert.ok(
      f.host.dataDone.every((x) => x.ok),
      `seed ${seed}`,
    );
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
  assert.deepEqual(
    [...new Set(a.map((s) => s.seq))].sort((x, y) => x - y),
    segs.map((s) => s.seq),
  );
  assert.ok(a.length > segs.length);
  assert.notDeepEqual(
    a.map((s) => s.seq),
    segs.map((s) => s.seq),
  );
});
