// End to end with the socket offload device: C2HData payload of large reads is
// placed straight into the caller's buffer; the counters follow the blktests
// nvme/055 invariants (one sk_add/sk_del per I/O queue, setup == teardown).
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { createSocketDevice } from '../../src/offload/socket-device.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { NvmeController } from '../../src/host/index.ts';
import { Prng } from '../helpers/prng.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:e2e-offload';

for (const ddgst of [false, true]) {
  test(`e2e offload - socket device places large reads, ddgst=${ddgst}`, async (t) => {
    const tgt = new NvmeTarget({
      subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 16 << 20 }, lbaSize: 4096 }] }],
      c2hMaxData: 65536,
    });
    t.after(() => tgt.close()); // also when connect fails (close is idempotent)
    const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
    const dev = createSocketDevice({ channels: 2 });
    const ctrl = await NvmeController.connect({
      traddr: '127.0.0.1',
      trsvcid: port,
      subnqn: NQN,
      nrIoQueues: 2,
      ddgst,
      hdgst: true,
      offload: dev,
    });
    try {
      const ns = ctrl.namespace(1);
      const rng = new Prng(ddgst ? 2 : 1);
      const data = rng.bytes(4 << 20);
      await ns.write(0, data);
      const reads: Promise<void>[] = [];
      const { ioThreshold } = dev.limits();
      const per = ctrl.maxXfer / 4096;
      let eligibleCmds = 0;
      let eligibleBytes = 0;
      for (let i = 0; i < 64; i++) {
        const slba = rng.int(0, 1024 - 64);
        const nlb = rng.bool() ? rng.int(8, 64) : rng.int(1, 4); // 32..256 KiB offloaded, 4..16 KiB not
        for (let done = 0; done < nlb; done += per) {
          const bytes = Math.min(per, nlb - done) * 4096;
          if (bytes >= ioThreshold) {
            eligibleCmds++;
            eligibleBytes += bytes;
          }
        }
        reads.push(ns.read(slba, nlb).then((b) => assert.deepEqual(b, data.subarray(slba * 4096, (slba + nlb) * 4096))));
      }
      await Promise.all(reads);
      const s = dev.getStats();
      assert.equal(s.rx_nvmeotcp_sk_add, 2);
      assert.equal(s.rx_nvmeotcp_sk_add_fail, 0);
      assert.ok(eligibleCmds > 0);
      assert.equal(s.rx_nvmeotcp_ddp_setup, eligibleCmds);
      assert.equal(s.rx_nvmeotcp_ddp_setup_fail, 0);
      assert.equal(s.rx_nvmeotcp_ddp_teardown, eligibleCmds);
      // blktests nvme/055: at least 90% of the offloaded reads' bytes placed.
      assert.ok(
        s.rx_nvmeotcp_bytes >= 0.9 * eligibleBytes && s.rx_nvmeotcp_bytes <= eligibleBytes,
        `${s.rx_nvmeotcp_bytes} of ${eligibleBytes}`,
      );
    } finally {
      await ctrl.disconnect();
      await tgt.close();
    }
    assert.equal(dev.getStats().rx_nvmeotcp_sk_del, 2);
  });
}

// blktests nvme/055 ("nvme-tcp zero-copy offload", blktests v5, Dec 2024) through the socket device: fio
// --rw=randrw with 32k-1M I/Os expects at least 95% of the received packets and 90% of
// the received bytes offloaded, 4k-16k none, and with the capability off every
// counter stays 0; "Offloaded sockets" = one sk_add and one sk_del per I/O queue,
// "Offload packet leaked" (setup - teardown) 0, "Failed packet setup" 0.
const NVME055_NQN = 'nqn.2024-01.io.nvmeotcp:nvme055';
const IO_QUEUES = 4;

interface Nvme055Run {
  stats: ReturnType<ReturnType<typeof createSocketDevice>['getStats']>;
  flow: { rx_packets: number; rx_bytes: number };
  readOps: number;
}

/** A target, a host with digests on, `ops` random I/Os of minKiB..maxKiB at queue depth 32, disconnect. */
async function nvme055(
  t: TestContext,
  o: { rw: 'randread' | 'randrw'; minKiB: number; maxKiB: number; ops: number; caps?: boolean },
): Promise<Nvme055Run> {
  const tgt = new NvmeTarget({
    subsystems: [{ nqn: NVME055_NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 32 << 20 }, lbaSize: 4096 }] }],
    mdts: 8, // 1 MiB
  });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => tgt.close());
  const on = o.caps ?? true;
  const dev = createSocketDevice({ channels: 2, active: { ddp: on, crcRx: on } });
  const ctrl = await NvmeController.connect({
    traddr: '127.0.0.1',
    trsvcid: port,
    subnqn: NVME055_NQN,
    nrIoQueues: IO_QUEUES,
    hdgst: true,
    ddgst: true,
    offload: dev,
  });
  // after() hooks run in order: the host disconnects before the target closes.
  t.after(() => ctrl.disconnect().finally(() => tgt.close()));
  const ns = ctrl.namespace(1);
  const rng = new Prng(55);
  const pattern = rng.bytes(4 << 20);
  await ns.write(0, pattern);
  // The phase's own flow: what the fill above received is taken off.
  const before = dev.snapshot().sum;
  let readOps = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < o.ops) {
      next++;
      const nlb = rng.int(o.minKiB / 4, o.maxKiB / 4);
      const slba = rng.int(0, 1024 - nlb);
      if (o.rw === 'randrw' && rng.bool()) {
        await ns.write(slba, pattern.subarray(slba * 4096, (slba + nlb) * 4096));
      } else {
        readOps++;
        assert.deepEqual(await ns.read(slba, nlb), pattern.subarray(slba * 4096, (slba + nlb) * 4096));
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const after = dev.snapshot().sum;
  await ctrl.disconnect();
  return {
    stats: dev.getStats(),
    flow: { rx_packets: after.rx_packets - before.rx_packets, rx_bytes: after.rx_bytes - before.rx_bytes },
    readOps,
  };
}

function checkControlPath(s: Nvme055Run['stats']): void {
  assert.deepEqual([s.rx_nvmeotcp_sk_add, s.rx_nvmeotcp_sk_add_fail, s.rx_nvmeotcp_sk_del], [IO_QUEUES, 0, IO_QUEUES]);
  assert.equal(s.rx_nvmeotcp_ddp_setup - s.rx_nvmeotcp_ddp_teardown, 0, 'offload packet leaked');
  assert.equal(s.rx_nvmeotcp_ddp_setup_fail, 0);
  assert.deepEqual([s.rx_nvmeotcp_drop, s.rx_nvmeotcp_resync], [0, 0]);
}

for (const rw of ['randread', 'randrw'] as const) {
  test(`e2e offload - blktests nvme/055 ${rw} 32k-1M: ≥ 95% of packets and ≥ 90% of bytes offloaded`, async (t) => {
    const r = await nvme055(t, { rw, minKiB: 32, maxKiB: 1024, ops: 96 });
    checkControlPath(r.stats);
    assert.ok(r.readOps > 0 && r.stats.rx_nvmeotcp_ddp_setup >= r.readOps, 'every READ set up (the large ones split at 512 KiB)');
    const packets = r.stats.rx_nvmeotcp_packets / r.flow.rx_packets;
    const bytes = r.stats.rx_nvmeotcp_bytes / r.flow.rx_bytes;
    assert.ok(r.stats.rx_nvmeotcp_packets >= 100 && r.stats.rx_nvmeotcp_bytes >= 32 * 1024, 'blktests wants ≥ 100 packets, ≥ 32 KiB');
    assert.ok(packets >= 0.95, `packets offloaded ${r.stats.rx_nvmeotcp_packets} of ${r.flow.rx_packets}`);
    assert.ok(bytes >= 0.9, `bytes offloaded ${r.stats.rx_nvmeotcp_bytes} of ${r.flow.rx_bytes}`);
  });
}

test('e2e offload - blktests nvme/055 randrw 4k-16k: below io_threshold, nothing set up or placed', async (t) => {
  const r = await nvme055(t, { rw: 'randrw', minKiB: 4, maxKiB: 16, ops: 400 });
  checkControlPath(r.stats);
  assert.deepEqual([r.stats.rx_nvmeotcp_ddp_setup, r.stats.rx_nvmeotcp_packets, r.stats.rx_nvmeotcp_bytes], [0, 0, 0]);
  assert.ok(r.readOps > 0 && r.flow.rx_bytes > r.readOps * 4096, 'the queues did receive the reads');
});

test('e2e offload - blktests nvme/055 with the capability off: every counter 0', async (t) => {
  const r = await nvme055(t, { rw: 'randrw', minKiB: 32, maxKiB: 1024, ops: 32, caps: false });
  assert.deepEqual(Object.values(r.stats), new Array(10).fill(0));
  assert.deepEqual(r.flow, { rx_packets: 0, rx_bytes: 0 });
});
