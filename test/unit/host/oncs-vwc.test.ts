// The host honours Identify ONCS and VWC as the Linux host does: no Write Zeroes or
// Dataset Management the controller does not list (a typed error, nothing sent), and
// no Flush without a volatile write cache (it completes on the host).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NvmeController } from '../../../src/host/index.ts';
import { IoOpc } from '../../../src/protocol/constants.ts';
import { UnsupportedError } from '../../../src/protocol/errors.ts';
import { FakeTarget, type FakeTargetOptions } from './fake-target.ts';

async function connect(t: { after(fn: () => unknown): void }, o: FakeTargetOptions): Promise<{ ctrl: NvmeController; fake: FakeTarget }> {
  const fake = new FakeTarget(o);
  const port = await fake.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: fake.subnqn });
  t.after(async () => {
    await ctrl.disconnect();
    await fake.close();
  });
  return { ctrl, fake };
}

const wire = (f: FakeTarget) => [f.count(IoOpc.Flush), f.count(IoOpc.WriteZeroes), f.count(IoOpc.DatasetMgmt)];

test('host ONCS/VWC - ONCS 0 and VWC 0: Write Zeroes and DSM fail with UnsupportedError, Flush completes locally; none reaches the wire', async (t) => {
  const { ctrl, fake } = await connect(t, { oncs: 0, vwc: 0 });
  const ns = ctrl.namespace(1);
  await assert.rejects(
    ns.writeZeroes(0, 8),
    (e: unknown) =>
      e instanceof UnsupportedError && e.code === 'NVMEOTCP_ERR_UNSUPPORTED' && /does not support Write Zeroes/.test(e.message),
  );
  await assert.rejects(ns.deallocate([{ slba: 0, nlb: 8 }]), /does not support Dataset Management/);
  await ns.flush();
  // Reads and writes still work, and the queue is fine.
  await ns.write(0, Buffer.alloc(512, 1));
  assert.deepEqual(await ns.read(0, 1), Buffer.alloc(512, 1));
  assert.deepEqual(wire(fake), [0, 0, 0]);
});

test('host ONCS/VWC - each bit on its own: only what the controller lists is sent', async (t) => {
  const wz = await connect(t, { oncs: 0x08, vwc: 1 });
  const a = wz.ctrl.namespace(1);
  await a.writeZeroes(0, 8);
  await assert.rejects(a.deallocate([{ slba: 0, nlb: 8 }]), UnsupportedError);
  await a.flush();
  assert.deepEqual(wire(wz.fake), [1, 1, 0]);
  const dsm = await connect(t, { oncs: 0x04, vwc: 0 });
  const b = dsm.ctrl.namespace(1);
  await assert.rejects(b.writeZeroes(0, 8), UnsupportedError);
  await b.deallocate([{ slba: 0, nlb: 8 }]);
  await b.flush();
  assert.deepEqual(wire(dsm.fake), [0, 0, 1]);
});
