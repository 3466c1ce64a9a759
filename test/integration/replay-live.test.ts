// The differential test of `nvmeotcp replay`: our host with the socket offload device
// (MSS 1448) against our target on 127.0.0.1, through a proxy that records the session
// as a pcap (test/helpers/recording-proxy.ts); the socket device's live counters must
// equal replayCapture of that capture re-cut at the same MSS, all ten and the flow
// totals. Then the same capture under impairments: resyncs, and nothing placed twice.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { NvmeController } from '../../src/host/index.ts';
import { createSocketDevice } from '../../src/offload/socket-device.ts';
import { replayCapture } from '../../src/replay/replay.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { Prng } from '../helpers/prng.ts';
import { RecordingProxy } from '../helpers/recording-proxy.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:replay-live';

interface LiveRun {
  file: string;
  live: Record<string, number>;
  eligible: number;
}

async function liveRun(t: TestContext, d: { hdgst: boolean; ddgst: boolean }, seed: number): Promise<LiveRun> {
  const tgt = new NvmeTarget({
    subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 8 << 20 }, lbaSize: 4096 }] }],
    c2hMaxData: 65536,
  });
  t.after(() => tgt.close());
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  const proxy = await RecordingProxy.start(port);
  t.after(() => proxy.close());
  const dev = createSocketDevice({ channels: 2, mss: 1448 });
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: proxy.port, subnqn: NQN, nrIoQueues: 2, ...d, offload: dev });
  let eligible = 0;
  try {
    const ns = ctrl.namespace(1);
    const rng = new Prng(seed);
    await ns.write(0, rng.bytes(2 << 20));
    // Eligible (32 KiB..256 KiB) and small reads, several in flight on both queues.
    for (let round = 0; round < 6; round++) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 8; i++) {
        const nlb = rng.bool() ? rng.int(8, 64) : rng.int(1, 4);
        // The host splits a read at its largest transfer; each command of 32 KiB or more is offloaded.
        const per = ctrl.maxXfer / 4096;
        for (let done = 0; done < nlb; done += per) if (Math.min(per, nlb - done) * 4096 >= dev.limits().ioThreshold) eligible++;
        batch.push(ns.read(rng.int(0, 512 - 64), nlb));
      }
      await Promise.all(batch);
    }
  } finally {
    await ctrl.disconnect();
  }
  await tgt.close();
  await proxy.close();
  const snap = dev.snapshot();
  const dir = mkdtempSync(join(tmpdir(), 'replay-live-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'session.pcap');
  writeFileSync(file, proxy.pcap(port));
  return { file, live: { ...snap.global, ...snap.sum }, eligible };
}

for (const d of [
  { hdgst: false, ddgst: false },
  { hdgst: true, ddgst: true },
]) {
  test(`replay live - the socket device's counters equal the replay of the session's capture at MSS 1448 (digests ${d.ddgst ? 'on' : 'off'})`, async (t) => {
    const run = await liveRun(t, d, d.ddgst ? 11 : 10);
    assert.equal(run.live.rx_nvmeotcp_sk_add, 2);
    assert.equal(run.live.rx_nvmeotcp_ddp_setup, run.eligible);
    assert.ok(run.live.rx_nvmeotcp_packets > 0);
    const r = await replayCapture(run.file, { mss: 1448 });
    assert.deepEqual(r.total.counters, run.live);
    assert.equal(r.total.eligibleReads, run.eligible);
    assert.equal(r.flows.length, 3);
    assert.deepEqual(
      r.flows.map((f) => [f.qid, f.subnqn, f.offloaded]),
      [
        [0, NQN, false],
        [1, NQN, true],
        [2, NQN, true],
      ],
    );
    // Fed as captured instead (segments of up to 65000 bytes, loopback-sized): far fewer
    // packets, each with at most one placement under mlx5; the same control path.
    const asCaptured = await replayCapture(run.file);
    assert.ok(asCaptured.total.counters.rx_packets < run.live.rx_packets);
    assert.equal(asCaptured.total.counters.rx_bytes, run.live.rx_bytes);
    assert.equal(asCaptured.total.counters.rx_nvmeotcp_ddp_setup, run.eligible);
    assert.equal(asCaptured.total.counters.rx_nvmeotcp_ddp_teardown, run.eligible);

    // What if the link lost 2% and reordered 2%: resyncs, fewer bytes placed, never more; and repeatable.
    const im = { loss: 0.02, reorder: 0.02, seed: 5 };
    const a = await replayCapture(run.file, { mss: 1448, impair: im });
    const b = await replayCapture(run.file, { mss: 1448, impair: im });
    assert.deepEqual(a.total, b.total);
    const c = a.total.counters;
    assert.ok(c.rx_nvmeotcp_resync > 0, 'losses cause resync requests');
    assert.ok(c.rx_nvmeotcp_bytes < run.live.rx_nvmeotcp_bytes);
    assert.equal(c.rx_bytes, run.live.rx_bytes, 'every byte arrives once (plus nothing duplicated)');
    assert.equal(c.rx_nvmeotcp_ddp_setup, run.eligible);
    assert.equal(c.rx_nvmeotcp_ddp_teardown, run.eligible);
    // The generic profile keeps tracking across lost data-only segments: it places more.
    const g = await replayCapture(run.file, { mss: 1448, impair: im, profile: 'generic' });
    assert.ok(g.total.counters.rx_nvmeotcp_bytes > c.rx_nvmeotcp_bytes);
  });
}
