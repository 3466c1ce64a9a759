// End to end with the socket offload device: C2HData payload of large reads is
// placed straight into the caller's buffer; the counters follow the blktests
// nvme/055 invariants (one sk_add/sk_del per I/O queue, setup == teardown).
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
      assert.ok(s.rx_nvmeotcp_bytes >= 0.9 * eligibleBytes && s.rx_nvmeotcp_bytes <= eligibleBytes, `${s.rx_nvmeotcp_bytes} of ${eligibleBytes}`);
    } finally {
      await ctrl.disconnect();
      await tgt.close();
    }
    assert.equal(dev.getStats().rx_nvmeotcp_sk_del, 2);
  });
}
