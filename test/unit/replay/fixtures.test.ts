// replayCapture on the committed capture fixtures (test/fixtures/captures/, made by
// scripts/make-captures.ts: our host and target on loopback, three connections: the
// admin queue and two I/O queues; 4, 32, 64 and 8 KiB reads, so one READ per I/O
// queue reaches io_threshold). Exact values, as captured and re-cut at MSS 1448.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { CaptureError } from '../../../src/capture/index.ts';
import { replayCapture } from '../../../src/replay/replay.ts';

const DIR = join(import.meta.dirname, '../../fixtures/captures');
const NQN = 'nqn.2024-01.io.nvmeotcp:capture';

/** sk_add, ddp_setup, ddp_teardown, resync, packets, bytes, rx_packets, rx_bytes of the totals. */
const pick = (c: Record<string, number>) => [
  c.rx_nvmeotcp_sk_add,
  c.rx_nvmeotcp_ddp_setup,
  c.rx_nvmeotcp_ddp_teardown,
  c.rx_nvmeotcp_resync,
  c.rx_nvmeotcp_packets,
  c.rx_nvmeotcp_bytes,
  c.rx_packets,
  c.rx_bytes,
];

const EXPECTED: Record<string, { captured: number[]; mss1448: number[] }> = {
  // No digests: the 32 KiB READ's two 16 KiB PDUs share a 32 KiB loopback segment, and
  // mlx5 places one PDU per packet: 16384 + 48 of its bytes; the 64 KiB READ 16384 + 12896.
  'plain-4420.pcap': { captured: [2, 2, 2, 0, 4, 45712, 9, 110952], mss1448: [2, 2, 2, 0, 69, 96096, 78, 110952] },
  'plain-4420.pcapng': { captured: [2, 2, 2, 0, 4, 45712, 9, 110952], mss1448: [2, 2, 2, 0, 69, 96096, 78, 110952] },
  // Digests: the capture holds one retransmitted segment of 12956 bytes (frame 76): the
  // NIC receives it twice (rx_packets, rx_bytes), it places nothing and asks no resync.
  'digests.pcapng': { captured: [2, 2, 2, 0, 4, 45752, 10, 124000], mss1448: [2, 2, 2, 0, 69, 94792, 78, 111044] },
  'digests-ns.pcap': { captured: [2, 2, 2, 0, 4, 45752, 10, 124000], mss1448: [2, 2, 2, 0, 69, 94792, 78, 111044] },
};

for (const [name, want] of Object.entries(EXPECTED)) {
  test(`replay fixtures - ${name}: counters as captured and at MSS 1448, flows, PDUs`, async () => {
    const file = join(DIR, name);
    const r = await replayCapture(file);
    assert.deepEqual(pick(r.total.counters), want.captured);
    assert.deepEqual(pick((await replayCapture(file, { mss: 1448 })).total.counters), want.mss1448);
    const c = r.total.counters;
    assert.deepEqual([c.rx_nvmeotcp_sk_add_fail, c.rx_nvmeotcp_sk_del, c.rx_nvmeotcp_ddp_setup_fail, c.rx_nvmeotcp_drop], [0, 2, 0, 0]);
    assert.deepEqual(
      r.flows.map((f) => [f.id, f.qid, f.subnqn, f.offloaded, f.reads, f.eligibleReads]),
      [
        [1, 0, NQN, false, 0, 0],
        [2, 1, NQN, true, 2, 1],
        [3, 2, NQN, true, 2, 1],
      ],
    );
    assert.equal(r.flows[1].controller.endsWith(name.startsWith('plain') ? ':4420' : ':36635'), true);
    assert.deepEqual(r.total.pdus, {
      h2c: { ICReq: 3, CapsuleCmd: 20, H2CData: 2 },
      c2h: { ICResp: 3, CapsuleResp: 20, C2HData: 11, R2T: 1 },
    });
    // Per flow sums to the total.
    assert.equal(
      r.flows.reduce((n, f) => n + f.counters.rx_nvmeotcp_bytes, 0),
      c.rx_nvmeotcp_bytes,
    );
    assert.deepEqual([r.snaplenCut, r.total.gapBytes, r.total.missingBytes], [0, 0, 0]);
  });
}

test('replay fixtures - the placement trace: one line per segment fed, with the placement of each', async () => {
  const lines: string[] = [];
  await replayCapture(join(DIR, 'plain-4420.pcap'), { trace: (l) => lines.push(l) });
  const all = lines.map((l) => JSON.parse(l) as Record<string, number | boolean>);
  // The READs, with what the host does with them (4 and 8 KiB stay below io_threshold).
  assert.deepEqual(
    all.filter((x) => 'read_cid' in x).map((x) => [x.flow, x.read_len, x.ddp]),
    [
      [2, 4096, false],
      [3, 32768, true],
      [2, 65536, true],
      [3, 8192, false],
    ],
  );
  const t = all.filter((x) => 'seq' in x);
  assert.equal(t.length, 9); // rx_packets
  // The 32 KiB READ (flow 3, CID 2): one packet holds both PDUs, only the first is placed.
  assert.deepEqual(t[4], { flow: 3, frame: 70, seq: 1849332551, len: 32768, ccid: 2, ccoff: 0, cclen: 16384, crc: false });
  assert.deepEqual(t[5], { flow: 3, frame: 71, seq: 1849332527 + 24 + 32768, len: 72, ccid: 2, ccoff: 32720, cclen: 48, crc: false });
  const placed = t.reduce((n, x) => n + ((x.cclen as number | undefined) ?? 0), 0);
  assert.equal(placed, 45712);
});

test('replay fixtures - stdin-like streams, the generic profile, and --port', async () => {
  const buf = readFileSync(join(DIR, 'plain-4420.pcapng'));
  const r = await replayCapture(Readable.from([buf.subarray(0, 1000), buf.subarray(1000)]));
  assert.deepEqual(pick(r.total.counters), EXPECTED['plain-4420.pcapng'].captured);
  // generic: several placements per packet, so both 16 KiB PDUs of a segment are placed.
  const g = await replayCapture(join(DIR, 'plain-4420.pcap'), { profile: 'generic' });
  assert.equal(g.total.counters.rx_nvmeotcp_bytes, 32768 + 65536);
  const p = await replayCapture(join(DIR, 'plain-4420.pcap'), { ports: [4420] });
  assert.deepEqual(pick(p.total.counters), EXPECTED['plain-4420.pcap'].captured);
});

test('replay fixtures - a snap length of 128 bytes: nothing offloaded (the Connect commands were cut), the cut bytes reported', async () => {
  const r = await replayCapture(join(DIR, 'digests-snap128.pcap'));
  assert.equal(r.snaplenCut, 176394);
  assert.equal(r.total.offloadedFlows, 0);
  assert.deepEqual(pick(r.total.counters), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(
    r.flows.map((f) => f.qid),
    [-1, -1, -1],
  );
});

test('replay fixtures - bad input rejects with one line: no NVMe/TCP, a bad mss', async () => {
  const empty = Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex');
  await assert.rejects(
    replayCapture(Readable.from([empty])),
    (e: unknown) => e instanceof CaptureError && /no NVMe\/TCP connection/.test((e as Error).message),
  );
  await assert.rejects(replayCapture(join(DIR, 'plain-4420.pcap'), { mss: 0 }), /mss must be an integer from 1 to 65535/);
});
