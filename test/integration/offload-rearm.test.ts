// Exact placement through the real host, target and socket device.
//
// Regression test for lost placement after an idle stretch: once a queue had seen
// more than IDLE_GRACE reads with nothing registered, the read armed when the next
// READ was registered was a full staging read, and the first C2HData payload of
// that READ landed in staging (copied, not placed). Registering a command now
// re-arms that read bounded, so every payload byte of every set-up READ is placed.
// The devices use the generic profile: under mlx5 a READ whose data starts in a
// segment the previous one placed into is placed from the next segment on, which
// would hide a lost placement among those bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NvmeController } from '../../src/host/index.ts';
import { createSocketDevice, IDLE_GRACE } from '../../src/offload/socket-device.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { Prng } from '../helpers/prng.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:rearm';

for (const ddgst of [false, true]) {
  test(`offload rearm - reads after ${4 * IDLE_GRACE} writes per queue are placed exactly, ddgst=${ddgst}`, async () => {
    const tgt = new NvmeTarget({
      subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 8 << 20 }, lbaSize: 512 }] }],
    });
    const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
    const dev = createSocketDevice({ channels: 2, profile: 'generic' });
    const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, nrIoQueues: 2, ddgst, offload: dev });
    try {
      const ns = ctrl.namespace(1);
      const rng = new Prng(7);
      const data = rng.bytes(4 << 20);
      // Many small writes: every queue sees far more than IDLE_GRACE responses with
      // nothing registered, so its reads go back to full staging reads.
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 8 * IDLE_GRACE; i++) {
        const slba = (i * 8) % 8192;
        writes.push(ns.write(slba, data.subarray(slba * 512, slba * 512 + 4096)));
      }
      await Promise.all(writes);
      await ns.write(0, data);
      const before = dev.getStats();
      assert.equal(before.rx_nvmeotcp_bytes, 0);
      const n = 24;
      const reads: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const slba = i * 256; // 128 KiB each
        reads.push(ns.read(slba, 256).then((b) => assert.deepEqual(b, data.subarray(slba * 512, (slba + 256) * 512))));
      }
      await Promise.all(reads);
      const s = dev.getStats();
      assert.equal(s.rx_nvmeotcp_ddp_setup, n);
      assert.equal(s.rx_nvmeotcp_ddp_teardown, n);
      assert.equal(s.rx_nvmeotcp_bytes, n * 128 * 1024);
      assert.equal(s.rx_nvmeotcp_drop, 0);
    } finally {
      await ctrl.disconnect();
      await tgt.close();
    }
  });
}

test('offload limits - reads larger than the device max I/O are split so every byte is placed', async () => {
  const tgt = new NvmeTarget({
    subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 8 << 20 }, lbaSize: 4096 }] }],
    mdts: 0,
  });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  const dev = createSocketDevice({ maxIoSize: 256 * 1024, profile: 'generic' });
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, offload: dev });
  try {
    assert.equal(ctrl.maxXfer, 256 * 1024);
    const ns = ctrl.namespace(1);
    const data = new Prng(9).bytes(1 << 20);
    await ns.write(0, data);
    assert.deepEqual(await ns.read(0, 256), data);
    const s = dev.getStats();
    assert.equal(s.rx_nvmeotcp_ddp_setup, 4);
    assert.equal(s.rx_nvmeotcp_ddp_setup_fail, 0);
    assert.equal(s.rx_nvmeotcp_bytes, 1 << 20);
  } finally {
    await ctrl.disconnect();
    await tgt.close();
  }
});
