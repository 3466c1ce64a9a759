// The socket device driven by a simulated kernel: every read copies at most
// `maxRead()` stream bytes into the buffer the placement handed out, exactly what
// Node's onread does with a buffer generator. Deterministic, so counts are exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PduType } from '../../../src/protocol/constants.ts';
import { createSocketDevice, IDLE_GRACE, type SocketDevice, type SocketPlacement } from '../../../src/offload/socket-device.ts';
import { type DdpQueueConfig, Errno } from '../../../src/offload/types.ts';
import { Prng } from '../../helpers/prng.ts';
import { type BuiltPdu, c2hPdus, type Digests, MiniHost, packetDeviceRun, pattern, type ReadSpec } from './harness.ts';

const NONE: Digests = { hdgst: false, ddgst: false };
const BOTH: Digests = { hdgst: true, ddgst: true };
const CFG: DdpQueueConfig = { pfv: 0, cpda: 0, dgst: 0, queueSize: 64, queueId: 1, ioCpu: 0 };

interface Setup {
  dev: SocketDevice;
  host: MiniHost;
  p: SocketPlacement;
}

function setup(d: Digests, dev = createSocketDevice({ channels: 1 })): Setup {
  const host = new MiniHost(d);
  const p = dev.rxPlacement(host.rx) as SocketPlacement;
  const q = dev.addQueue({ ...CFG, dgst: (d.hdgst ? 1 : 0) | (d.ddgst ? 2 : 0) }, host, host.rx);
  if (typeof q !== 'number') host.q = q;
  return { dev, host, p };
}

interface Read {
  /** Length of the buffer handed out. */
  len: number;
  n: number;
  placed: boolean;
  /** Registered commands when the buffer was handed out. */
  outstanding: number;
}

/** The kernel under a placement: copies the stream into each handed-out buffer. */
function drive(s: Setup, stream: Buffer, maxRead: () => number): Read[] {
  const reads: Read[] = [];
  let pos = 0;
  while (pos < stream.length) {
    const outstanding = s.host.offloaded.size;
    const buf = s.p.nextBuffer();
    const n = Math.min(buf.length, stream.length - pos, maxRead());
    stream.copy(buf, 0, pos, pos + n);
    pos += n;
    reads.push({ len: buf.length, n, placed: buf.buffer !== s.p.staging.buffer, outstanding });
    s.p.onRead(n, buf);
  }
  return reads;
}

const concat = (pdus: BuiltPdu[]): Buffer => Buffer.concat(pdus.map((x) => x.bytes));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function reads(n: number, size: number, extra: Partial<ReadSpec> = {}): ReadSpec[] {
  return Array.from({ length: n }, (_, cid) => ({ cid, data: pattern(size, cid + 1), ...extra }));
}

/** The counters after the queue is removed (so sk_del is in), to compare with packetDeviceRun. */
function finalCounters(s: Setup): Pick<ReturnType<SocketDevice['snapshot']>, 'global' | 'sum'> {
  s.host.q?.remove();
  const snap = s.dev.snapshot();
  return { global: snap.global, sum: snap.sum };
}

for (const d of [NONE, BOTH]) {
  const tag = d.hdgst ? 'digests on' : 'no digests';
  test(`socket device - registered reads placed per MSS segment as the packet device places them (${tag}, random read sizes)`, async () => {
    const N = 4;
    const S = 64 * 1024;
    const s = setup(d);
    const specs = reads(N, S, { maxPdu: 16 * 1024 });
    for (const r of specs) assert.equal(s.host.read(r.cid, S, true), 0);
    const rng = new Prng(7);
    const stream = concat(c2hPdus(specs, d));
    const log = drive(s, stream, () => rng.int(1, 40000));
    for (const r of specs) assert.deepEqual(s.host.bufs.get(r.cid), r.data, `cid ${r.cid} data`);
    assert.deepEqual(s.host.completed, [], 'offloaded commands complete only after teardown is done');
    await tick();
    assert.deepEqual(s.host.completed, [0, 1, 2, 3]);
    assert.equal(s.host.dataDone.length, 16);
    // Placed or checksummed in staging: the device checked every digest.
    for (const x of s.host.dataDone) assert.deepEqual([x.ok, x.byDevice], [true, d.ddgst]);
    // 16 PDUs of 16 KiB and 4 CapsuleResps: 262624 bytes (262768 with digests), 182
    // segments of 1448, each holding placed bytes. A PDU whose data starts in a
    // segment the PDU before it placed into is placed from the next segment on
    // (mlx5: one placement per packet): 12432 (12748) bytes go through staging.
    const x = d.ddgst ? { len: 262768, bytes: 249396 } : { len: 262624, bytes: 249712 };
    assert.equal(stream.length, x.len);
    const st = s.dev.getStats();
    assert.deepEqual([st.rx_nvmeotcp_ddp_setup, st.rx_nvmeotcp_ddp_teardown], [N, N]);
    assert.deepEqual([st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes], [182, x.bytes]);
    assert.equal(
      log.filter((r) => r.placed).reduce((a, r) => a + r.n, 0),
      x.bytes,
    );
    const sum = s.dev.snapshot().sum;
    assert.deepEqual([sum.rx_packets, sum.rx_bytes], [182, x.len]);
    assert.equal(st.rx_nvmeotcp_drop + st.rx_nvmeotcp_resync + st.rx_nvmeotcp_ddp_setup_fail, 0);
    assert.equal(s.dev.pool.inUse, 0);
    assert.deepEqual(s.host.errors, []);
    // The invariant: the packet device fed this stream cut at the same MSS counts the same.
    assert.deepEqual(finalCounters(s), await packetDeviceRun(specs, d, 1448));
  });
}

test('socket device - byte-by-byte reads: counted per segment, not per read', async () => {
  const s = setup(BOTH);
  const specs = reads(2, 3000, { success: true });
  for (const r of specs) s.host.read(r.cid, 3000, true);
  const log = drive(s, concat(c2hPdus(specs, BOTH)), () => 1);
  await tick();
  for (const r of specs) assert.deepEqual(s.host.bufs.get(r.cid), r.data);
  assert.deepEqual(s.host.completed, [0, 1]);
  // PDU = 28 + 3000 + 4 = 3032; two of them: 6064 bytes, 5 segments of 1448. PDU 0's
  // data [28, 3028) lies in segments 0..2; PDU 1's [3060, 6060) starts in segment 2
  // ([2896, 4344)), PDU 0's placement: placed from 4344, 1716 bytes in segments 3..4.
  const st = s.dev.getStats();
  assert.deepEqual([st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes], [5, 3000 + 1716]);
  const sum = s.dev.snapshot().sum;
  assert.deepEqual([sum.rx_packets, sum.rx_bytes], [5, 6064]);
  assert.equal(log.filter((r) => r.placed).length, 4716, 'one placed read per placed byte');
  // PDU 1's first 1284 bytes were checksummed in staging: still the device's CRC.
  for (const x of s.host.dataDone) assert.deepEqual([x.ok, x.byDevice], [true, true]);
  assert.deepEqual(finalCounters(s), await packetDeviceRun(specs, BOTH, 1448));
});

test('socket device - mlx5: a PDU starting in a segment already placed into reads to its end through staging', async () => {
  const s = setup(NONE);
  const specs = reads(3, 20000);
  for (const r of specs) s.host.read(r.cid, 20000, true);
  const log = drive(s, concat(c2hPdus(specs, NONE)), () => 1 << 20);
  // PDU k = 24 + 20000 bytes then a 24-byte CapsuleResp: PDU 1's data starts at
  // 20072 in segment 13 ([18824, 20272)), where PDU 0's data ended: its first 200
  // bytes go to staging, in the read of the CapsuleResp and header before them
  // (48 + 200). PDU 2's at 40120 in segment 27 ([39096, 40544)): 48 + 424. The last
  // read may run to the end of segment 41 (60816 - 60120 = 696); 24 bytes are left.
  assert.deepEqual(
    log.map((r) => (r.placed ? 'P' : r.len)),
    [24, 'P', 248, 'P', 472, 'P', 696],
  );
  await tick();
  for (const r of specs) assert.deepEqual(s.host.bufs.get(r.cid), r.data);
  // 60144 bytes, 42 segments, each with placed data (14 per READ).
  const st = s.dev.getStats();
  assert.deepEqual([st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes], [42, 60000 - 624]);
  const sum = s.dev.snapshot().sum;
  assert.deepEqual([sum.rx_packets, sum.rx_bytes], [42, 60144]);
  assert.deepEqual(finalCounters(s), await packetDeviceRun(specs, NONE, 1448));
});

test('socket device - mss option: segments of that size; a bad value is a clear error', async () => {
  const s = setup(NONE, createSocketDevice({ channels: 1, mss: 8948 })); // jumbo frames, MTU 9000
  const specs = reads(1, 100000);
  s.host.read(0, 100000, true);
  drive(s, concat(c2hPdus(specs, NONE)), () => 30000);
  await tick();
  // 24 + 100000 + 24 = 100048 bytes: 12 segments of 8948, all with placed data.
  const st = s.dev.getStats();
  assert.deepEqual([st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes], [12, 100000]);
  assert.equal(s.dev.snapshot().sum.rx_packets, 12);
  assert.throws(() => createSocketDevice({ mss: 10 }), {
    code: 'NVMEOTCP_ERR_INVALID_ARG',
    message: /mss must be an integer in 64\.\.65495/,
  });
  assert.throws(() => createSocketDevice({ mss: 1448.5 }), { code: 'NVMEOTCP_ERR_INVALID_ARG' });
});

test('socket device - staging reads stop at the next header while commands are registered', () => {
  // Generic profile: no reads to a segment's end for the one-placement rule (see the mlx5 test).
  const s = setup(BOTH, createSocketDevice({ channels: 1, profile: 'generic' }));
  const specs = reads(3, 40000, { maxPdu: 10000 });
  for (const r of specs) s.host.read(r.cid, 40000, true);
  const log = drive(s, concat(c2hPdus(specs, BOTH)), () => 1 << 20);
  const staged = log.filter((r) => !r.placed).map((r) => r.len);
  // A staging read completes one 28-byte header (24 + HDGST), or a DDGST and the next
  // header, or after a command's last C2HData its DDGST, CapsuleResp and the next header.
  const cmd = [32, 32, 32, 60];
  assert.deepEqual(staged, [28, ...cmd, ...cmd, ...cmd]);
  // With unlimited reads every PDU's payload is one placed read.
  assert.equal(log.filter((r) => r.placed).length, 12);
  assert.equal(s.dev.getStats().rx_nvmeotcp_bytes, 120000);
});

for (const d of [NONE, BOTH]) {
  test(`socket device - another command's data where the CapsuleResp was expected: one header's worth goes to software (${d.ddgst ? 'digests' : 'no digests'})`, async () => {
    const s = setup(d, createSocketDevice({ channels: 1, profile: 'generic' }));
    const a = pattern(32768, 1);
    const b = pattern(32768, 2);
    s.host.read(0, 32768, true);
    s.host.read(1, 32768, true);
    // Both commands' data first, then both responses (a target interleaving its queue).
    const [d0, r0] = c2hPdus([{ cid: 0, data: a }], d);
    const [d1, r1] = c2hPdus([{ cid: 1, data: b }], d);
    drive(s, concat([d0, d1, r0, r1]), () => 1 << 20);
    await tick();
    assert.deepEqual(s.host.bufs.get(0), a);
    assert.deepEqual(s.host.bufs.get(1), b);
    assert.deepEqual(s.host.completed, [0, 1]);
    assert.ok(s.host.dataDone.every((x) => x.ok));
    const hdr = 24 + (d.hdgst ? 4 : 0);
    assert.equal(s.dev.getStats().rx_nvmeotcp_bytes, 2 * 32768 - hdr);
  });
}

test('socket device - generic, no digests: the CapsuleResp and the next header come in one read, every PDU placed whole', async () => {
  // The same stream as the mlx5 test (a PDU starting in a segment already placed into).
  const s = setup(NONE, createSocketDevice({ channels: 1, profile: 'generic' }));
  const specs = reads(3, 20000);
  for (const r of specs) s.host.read(r.cid, 20000, true);
  const log = drive(s, concat(c2hPdus(specs, NONE)), () => 1 << 20);
  assert.deepEqual(
    log.map((r) => (r.placed ? 'P' : r.len)),
    [24, 'P', 48, 'P', 48, 'P', 48],
  );
  await tick();
  const st = s.dev.getStats();
  assert.deepEqual([st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes], [42, 60000]);
  assert.deepEqual(finalCounters(s), await packetDeviceRun(specs, NONE, 1448, 'generic'));
});

test('socket device - reads stay bounded for IDLE_GRACE reads after the last command, then batch', () => {
  const s = setup(NONE);
  const first = reads(1, 32768);
  s.host.read(0, 32768, true);
  // A burst of small unregistered reads after the offloaded one.
  const small = Array.from({ length: 100 }, (_, i) => ({ cid: 100 + i, data: pattern(512, i) }));
  for (const r of small) s.host.read(r.cid, 512, false);
  const stream = concat([...c2hPdus(first, NONE), ...c2hPdus(small, NONE)]);
  const log = drive(s, stream, () => 1 << 20);
  const idle = log.filter((r) => r.outstanding === 0);
  const bounded = idle.filter((r) => r.len < s.p.staging.length);
  assert.equal(bounded.length, IDLE_GRACE);
  assert.equal(idle[IDLE_GRACE].len, s.p.staging.length);
  assert.equal(s.dev.getStats().rx_nvmeotcp_bytes, 32768);
  for (const r of small) assert.deepEqual(s.host.bufs.get(r.cid), r.data);
});

test('socket device - a failed setup leaves the read to the software path, data intact', async () => {
  const s = setup(BOTH);
  const data = pattern(65536, 3);
  // Registered on a different buffer layout the device cannot place: EOPNOTSUPP.
  const buf = Buffer.alloc(65536);
  const r = s.host.q!.setup(0, [buf.subarray(0, 4096), buf.subarray(4096, 5000), Buffer.alloc(60536), buf.subarray(5000)]);
  assert.equal(r, Errno.EOPNOTSUPP);
  s.host.bufs.set(0, buf);
  drive(s, concat(c2hPdus([{ cid: 0, data }], BOTH)), () => 9000);
  await tick();
  assert.deepEqual(buf, data);
  assert.deepEqual(s.host.completed, [0]);
  // Not placed, but its digest is still checked by the device (CRC-rx without DDP).
  assert.deepEqual(s.host.dataDone, [{ cid: 0, datao: 0, ok: true, byDevice: true }]);
  const st = s.dev.getStats();
  assert.deepEqual([st.rx_nvmeotcp_ddp_setup, st.rx_nvmeotcp_ddp_setup_fail], [0, 1]);
  assert.deepEqual([st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes], [0, 0]);
  assert.equal(s.dev.pool.inUse, 0);
});

for (const crcRx of [true, false]) {
  test(`socket device - reads below io_threshold: copied by the host, digest checked ${crcRx ? 'by the device (CRC-rx without DDP)' : 'in software (DDGST_RX off)'}`, async () => {
    const dev = createSocketDevice({ channels: 1, profile: 'generic', active: { ddp: true, crcRx } });
    const s = setup(BOTH, dev);
    const specs: ReadSpec[] = [
      { cid: 0, data: pattern(4096, 1) },
      { cid: 1, data: pattern(16384, 2), maxPdu: 8192 },
      { cid: 2, data: pattern(4096, 3), corruptAt: 100 },
      { cid: 3, data: pattern(8192, 4), success: true },
    ];
    for (const r of specs) s.host.read(r.cid, r.data.length, false);
    const rng = new Prng(5);
    drive(s, concat(c2hPdus(specs, BOTH)), () => rng.int(1, 9000));
    await tick();
    for (const r of specs) if (r.corruptAt === undefined) assert.deepEqual(s.host.bufs.get(r.cid), r.data);
    assert.deepEqual(
      s.host.dataDone.map((x) => [x.cid, x.ok, x.byDevice]),
      [
        [0, true, crcRx],
        [1, true, crcRx],
        [1, true, crcRx],
        [2, false, crcRx],
        [3, true, crcRx],
      ],
    );
    assert.deepEqual(s.host.completed, [0, 1, 2, 3]);
    const st = s.dev.getStats();
    assert.deepEqual([st.rx_nvmeotcp_ddp_setup, st.rx_nvmeotcp_packets, st.rx_nvmeotcp_bytes], [0, 0, 0]);
  });
}

test('socket device - only registered commands are placed; small reads go through staging', async () => {
  const s = setup(NONE);
  const specs: ReadSpec[] = [
    { cid: 0, data: pattern(4096, 1) },
    { cid: 1, data: pattern(65536, 2) },
    { cid: 2, data: pattern(16384, 3) },
    { cid: 3, data: pattern(32768, 4) },
  ];
  s.host.read(0, 4096, false);
  s.host.read(1, 65536, true);
  s.host.read(2, 16384, false);
  s.host.read(3, 32768, true);
  const rng = new Prng(11);
  drive(s, concat(c2hPdus(specs, NONE)), () => rng.int(100, 20000));
  await tick();
  for (const r of specs) assert.deepEqual(s.host.bufs.get(r.cid), r.data);
  assert.deepEqual(
    s.host.completed.sort((a, b) => a - b),
    [0, 1, 2, 3],
  );
  assert.equal(s.dev.getStats().rx_nvmeotcp_bytes, 65536 + 32768);
});

test('socket device - a ULP destination other than the registered buffer is never placed into', () => {
  const s = setup(NONE);
  const data = pattern(40000, 5);
  const registered = Buffer.alloc(40000);
  assert.equal(s.host.q!.setup(0, [registered]), 0);
  const elsewhere = Buffer.alloc(40000);
  s.host.bufs.set(0, elsewhere);
  drive(s, concat(c2hPdus([{ cid: 0, data, success: true }], NONE)), () => 5000);
  assert.deepEqual(elsewhere, data);
  assert.deepEqual(registered, Buffer.alloc(40000));
  assert.equal(s.dev.getStats().rx_nvmeotcp_packets, 0);
});

test('socket device - a corrupted payload is caught by the device CRC (ddgstOk false)', () => {
  const s = setup(BOTH);
  s.host.read(0, 50000, true);
  drive(s, concat(c2hPdus([{ cid: 0, data: pattern(50000, 9), corruptAt: 33333 }], BOTH)), () => 7000);
  assert.deepEqual(s.host.dataDone, [{ cid: 0, datao: 0, ok: false, byDevice: true }]);
});

test('socket device - DDGST_RX off: placed, but the ULP checksums (and still catches corruption)', () => {
  const s = setup(BOTH, createSocketDevice({ channels: 1, profile: 'generic', active: { crcRx: false } }));
  s.host.read(0, 50000, true);
  s.host.read(1, 50000, true);
  const specs = [
    { cid: 0, data: pattern(50000, 1) },
    { cid: 1, data: pattern(50000, 2), corruptAt: 10 },
  ];
  drive(s, concat(c2hPdus(specs, BOTH)), () => 7000);
  assert.deepEqual(s.host.dataDone, [
    { cid: 0, datao: 0, ok: true, byDevice: false },
    { cid: 1, datao: 0, ok: false, byDevice: false },
  ]);
  assert.equal(s.dev.getStats().rx_nvmeotcp_bytes, 100000);
});

test('socket device - capability off: plain staging reads, every counter 0', async () => {
  const dev = createSocketDevice({ channels: 1, active: { ddp: false, crcRx: false } });
  const s = setup(BOTH, dev);
  assert.equal(s.host.q, undefined);
  const specs = reads(3, 65536);
  for (const r of specs) s.host.read(r.cid, 65536, true);
  const log = drive(s, concat(c2hPdus(specs, BOTH)), () => 30000);
  for (const r of specs) assert.deepEqual(s.host.bufs.get(r.cid), r.data);
  assert.ok(log.every((r) => !r.placed && r.len === s.p.staging.length));
  assert.deepEqual(Object.values(dev.getStats()), new Array(10).fill(0));
});

test('socket device - placementFor(undefined) is a plain staging placement', () => {
  const dev = createSocketDevice({ channels: 1 });
  const host = new MiniHost(NONE);
  const p = dev.placementFor(undefined, host.rx) as SocketPlacement;
  assert.equal(p.nextBuffer(), p.staging);
  const other = createSocketDevice({ channels: 1 });
  const q = other.addQueue(CFG, host);
  assert.ok(typeof q !== 'number');
  assert.throws(() => dev.placementFor(q, host.rx), { code: 'NVMEOTCP_ERR_INVALID_ARG' });
});

test('socket device - teardown while a placed read is armed: done waits for that read', async () => {
  const s = setup(NONE);
  const data = pattern(32768, 4);
  s.host.read(0, 32768, true);
  const stream = concat(c2hPdus([{ cid: 0, data }], NONE));
  const hdr = s.p.nextBuffer();
  stream.copy(hdr, 0, 0, hdr.length);
  s.p.onRead(hdr.length, hdr);
  const armed = s.p.nextBuffer();
  assert.notEqual(armed.buffer, s.p.staging.buffer);
  s.host.q!.teardown(0); // an abort while the kernel may still write into the buffer
  await tick();
  assert.deepEqual(s.host.completed, [], 'no done while the read is armed');
  stream.copy(armed, 0, hdr.length, hdr.length + 1000);
  s.p.onRead(1000, armed);
  await tick();
  assert.deepEqual(s.host.completed, [0]);
  assert.equal(s.dev.pool.inUse, 0);
  assert.deepEqual(s.host.bufs.get(0)!.subarray(0, 1000), data.subarray(0, 1000));
});

test('socket device - queue removed while a placed read is armed: the piece counts as a drop', () => {
  const s = setup(NONE);
  const data = pattern(32768, 4);
  s.host.read(0, 32768, true);
  const stream = concat(c2hPdus([{ cid: 0, data }], NONE));
  const hdr = s.p.nextBuffer();
  stream.copy(hdr, 0, 0, hdr.length);
  s.p.onRead(hdr.length, hdr);
  const armed = s.p.nextBuffer();
  s.host.q!.remove();
  stream.copy(armed, 0, hdr.length, hdr.length + 2000);
  s.p.onRead(2000, armed);
  assert.deepEqual(s.host.bufs.get(0)!.subarray(0, 2000), data.subarray(0, 2000));
  const st = s.dev.getStats();
  assert.deepEqual([st.rx_nvmeotcp_drop, st.rx_nvmeotcp_packets, st.rx_nvmeotcp_sk_del], [1, 0, 1]);
  // After removal the placement is plain staging.
  assert.equal(s.p.nextBuffer().buffer, s.p.staging.buffer);
  assert.equal(s.host.rx.currentPdu?.type, PduType.C2HData);
});
