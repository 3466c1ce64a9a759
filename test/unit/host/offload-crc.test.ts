// CRC offload through the host: a corrupted C2HData payload is caught — by the
// device's CRC when DDGST_RX is on, by the host's software CRC when it is off —
// and the command fails with the data-transfer status; it is never accepted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_RETRIES, NvmeController } from '../../../src/host/index.ts';
import { createSocketDevice } from '../../../src/offload/socket-device.ts';
import { IoOpc, Sc } from '../../../src/protocol/constants.ts';
import { NvmeStatusError } from '../../../src/protocol/errors.ts';
import { sqeCid, sqeOpc } from '../../../src/protocol/sqe.ts';
import { FakeTarget } from './fake-target.ts';

for (const crcRx of [true, false]) {
  test(`host offload crc - a corrupted placed payload fails the read with DATA_XFER_ERROR (crcRx ${crcRx})`, async () => {
    // Every send of the read (the first and its retries: no DNR) gets a bad digest.
    const sends = 1 + MAX_RETRIES;
    let corrupt = sends;
    const t = new FakeTarget({
      hook: (c, sqe) => {
        if (c.qid > 0 && sqeOpc(sqe) === IoOpc.Read && corrupt-- > 0) {
          c.sendData(sqeCid(sqe), Buffer.alloc(64 * 1024, 7), { corruptDigest: true });
          return true;
        }
        return false;
      },
    });
    const port = await t.listen();
    const dev = createSocketDevice({ profile: 'generic', hw: { ddp: true, crcRx } });
    const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, ddgst: true, offload: dev });
    try {
      const ns = ctrl.namespace(1);
      const good = Buffer.alloc(64 * 1024, 0x5c);
      await ns.write(0, good);
      const err = await ns.read(0, 128).then(
        () => assert.fail('a corrupted read must not succeed'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof NvmeStatusError);
      assert.equal(err.sc, Sc.DataXferError);
      // The queue stays up and the next read is placed and verified.
      assert.deepEqual(await ns.read(0, 128), good);
      const s = dev.getStats();
      assert.equal(s.rx_nvmeotcp_ddp_setup, sends + 1);
      assert.equal(s.rx_nvmeotcp_ddp_teardown, sends + 1);
      assert.equal(s.rx_nvmeotcp_bytes, (sends + 1) * 64 * 1024);
    } finally {
      await ctrl.disconnect();
      await t.close();
    }
  });
}

for (const crcRx of [true, false]) {
  test(`host offload crc - received data digests are counted by who verified them (crcRx ${crcRx})`, async (t) => {
    const target = new FakeTarget();
    const port = await target.listen();
    t.after(() => target.close());
    // mlx5 has DDGST_RX whenever it has DDP; a device without it is a what-if (generic).
    const dev = crcRx ? createSocketDevice() : createSocketDevice({ profile: 'generic', hw: { ddp: true, crcRx: false } });
    const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: target.subnqn, ddgst: true, offload: dev });
    // after() hooks run in order: the host disconnects before the target closes.
    t.after(() => ctrl.disconnect().finally(() => target.close()));
    const ns = ctrl.namespace(1);
    await ns.write(0, Buffer.alloc(64 * 1024, 0x3c));
    assert.deepEqual(ctrl.dataDigestChecks(), { device: 0, software: 0 }, 'writes receive no data');
    await ns.read(0, 128); // 64 KiB: placed by the device, one C2HData
    assert.deepEqual(ctrl.dataDigestChecks(), crcRx ? { device: 1, software: 0 } : { device: 0, software: 1 });
    // 4 KiB: below io_threshold, copied by the host; with DDGST_RX the device still
    // checks its digest (CRC-rx without DDP, as mlx5 does).
    await ns.read(0, 8);
    assert.deepEqual(ctrl.dataDigestChecks(), crcRx ? { device: 2, software: 0 } : { device: 0, software: 2 });
    const s = dev.getStats();
    assert.deepEqual([s.rx_nvmeotcp_ddp_setup, s.rx_nvmeotcp_ddp_teardown], [1, 1]);
  });
}

test('host offload crc - without a data digest nothing is counted', async (t) => {
  const target = new FakeTarget();
  const port = await target.listen();
  t.after(() => target.close());
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: target.subnqn, offload: createSocketDevice() });
  t.after(() => ctrl.disconnect().finally(() => target.close()));
  await ctrl.namespace(1).read(0, 128);
  assert.deepEqual(ctrl.dataDigestChecks(), { device: 0, software: 0 });
});
