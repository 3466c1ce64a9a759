import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminOpc, FabricsType, IoOpc, Prop } from '../../../src/protocol/constants.ts';
import { parseConnectSqe, parsePropertySqe } from '../../../src/protocol/fabrics.ts';
import { NvmeController } from '../../../src/host/index.ts';
import { FakeTarget } from './fake-target.ts';

test('host connect - Linux connect sequence, identify and namespaces', async () => {
  const t = new FakeTarget({
    namespaces: [
      { nsid: 1, lbaSize: 512, nlba: 4096 },
      { nsid: 3, lbaSize: 4096, nlba: 100, nuse: 37, ms: 8 },
    ],
  });
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, nrIoQueues: 2 });
  try {
    assert.equal(ctrl.cntlid, 1);
    assert.equal(ctrl.identify.subnqn, t.subnqn);
    assert.deepEqual(ctrl.namespaces, [
      { nsid: 1, lbaSize: 512, nlba: 4096, nuse: 4096, ms: 0, bytes: 4096 * 512 },
      { nsid: 3, lbaSize: 4096, nlba: 100, nuse: 37, ms: 8, bytes: 409600 },
    ]);
    assert.equal(ctrl.ioQueueCount, 2);
    const admin = t.seen.filter((c) => c.qid === 0).map((c) => (c.opc === AdminOpc.Fabrics ? `F${c.fctype}` : `A${c.opc}`));
    // Connect, Get CAP, Set CC, Set CC(EN), Get CSTS.., Get VS, Identify, Set Features, Identify list, Identify NS x2
    assert.equal(admin[0], `F${FabricsType.Connect}`);
    const props = t.seen
      .filter((c) => c.qid === 0 && c.opc === AdminOpc.Fabrics && c.fctype !== FabricsType.Connect)
      .map((c) => {
        const p = parsePropertySqe(c.sqe);
        return `${p.fctype === FabricsType.PropertySet ? 'set' : 'get'}:${p.ofst}:${p.size8 ? 8 : 4}${p.fctype === FabricsType.PropertySet ? `=${p.value.toString(16)}` : ''}`;
      });
    assert.deepEqual(props, [
      `get:${Prop.CAP}:8`,
      `set:${Prop.CC}:4=460000`,
      `set:${Prop.CC}:4=460001`,
      `get:${Prop.CSTS}:4`,
      `get:${Prop.VS}:4`,
    ]);
    const ac = parseConnectSqe(t.seen[0].sqe);
    assert.deepEqual([ac.qid, ac.sqsize, ac.kato], [0, 31, 5000]);
    const ioConnects = t.seen.filter((c) => c.qid > 0 && c.fctype === FabricsType.Connect).map((c) => parseConnectSqe(c.sqe));
    assert.deepEqual(ioConnects.map((c) => [c.qid, c.sqsize, c.kato]).sort(), [
      [1, 127, 0],
      [2, 127, 0],
    ]);
    assert.equal(t.count(IoOpc.Read), 0);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

test('host connect - disableSqFlow sets CATTR bit 2 on every Connect', async () => {
  const t = new FakeTarget();
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, nrIoQueues: 2, disableSqFlow: true });
  try {
    const cattrs = t.seen.filter((c) => c.fctype === FabricsType.Connect).map((c) => parseConnectSqe(c.sqe).cattr);
    assert.deepEqual(cattrs, [4, 4, 4]);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});
