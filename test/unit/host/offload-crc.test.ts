// CRC offload through the host: a corrupted C2HData payload is caught — by the
// device's CRC when DDGST_RX is on, by the host's software CRC when it is off —
// and the command fails with the data-transfer status; it is never accepted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NvmeController } from '../../../src/host/index.ts';
import { createSocketDevice } from '../../../src/offload/socket-device.ts';
import { IoOpc, Sc } from '../../../src/protocol/constants.ts';
import { NvmeStatusError } from '../../../src/protocol/errors.ts';
import { sqeCid, sqeOpc } from '../../../src/protocol/sqe.ts';
import { FakeTarget } from './fake-target.ts';

for (const crcRx of [true, false]) {
  test(`host offload crc - a corrupted placed payload fails the read with DATA_XFER_ERROR (crcRx ${crcRx})`, async () => {
    let corrupt = 1;
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
      assert.equal(s.rx_nvmeotcp_ddp_setup, 2);
      assert.equal(s.rx_nvmeotcp_ddp_teardown, 2);
      assert.equal(s.rx_nvmeotcp_bytes, 2 * 64 * 1024);
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
    const dev = createSocketDevice({ profile: 'generic', hw: { ddp: true, crcRx } });
    const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: target.subnqn, ddgst: true, offload: dev });
    // after() hooks run in order: the host disconnects before the target closes.
    t.after(() => ctrl.disconnect().finally(() => target.close()));
    const ns = ctrl.namespace(1);
    await ns.write(0, Buffer.alloc(64 * 1024, 0x3c));
    assert.deepEqual(ctrl.dataDigestChecks(), { device: 0, software: 0 }, 'writes receive no data');
    await ns.read(0, 128); // 64 KiB: placed by the device
    await ns.read(0, 8); // 4 KiB: below io_threshold, copied by the host
    const c = ctrl.dataDigestChecks();
    const pdus = c.device + c.software;
    assert.ok(pdus >= 2, `one data PDU per read at least, got ${pdus}`);
    if (crcRx) {
      assert.ok(c.device >= 1, 'the placed read was verified by the device');
      assert.ok(c.software >= 1, 'the 4 KiB read was verified in software');
    } else {
      assert.deepEqual(c, { device: 0, software: pdus }, 'without DDGST_RX the host verifies every digest');
    }
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
