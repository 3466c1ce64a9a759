import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminOpc, FabricsType, IoOpc, Prop } from '../../../src/protocol/constants.ts';
import { parsePropertySqe } from '../../../src/protocol/fabrics.ts';
import { parseRw } from '../../../src/protocol/admin.ts';
import { sqeCid, sqeOpc } from '../../../src/protocol/sqe.ts';
import { TimeoutError } from '../../../src/protocol/errors.ts';
import { discover, discoverLog, NvmeController } from '../../../src/host/index.ts';
import { Prng } from '../../helpers/prng.ts';
import { type FakeConn, FakeTarget } from './fake-target.ts';

test('host queue - queue depth is queueSize-1, extra requests wait in FIFO order, CIDs are never reused early', async () => {
  const pending: { c: FakeConn; cid: number; slba: number }[] = [];
  const order: number[] = [];
  const live = new Set<number>();
  let maxLive = 0;
  const t = new FakeTarget({
    hook: (c, sqe) => {
      if (c.qid === 0 || sqeOpc(sqe) !== IoOpc.Read) return false;
      const cid = sqeCid(sqe);
      assert.equal(live.has(cid), false, `cid ${cid} reused while outstanding`);
      live.add(cid);
      maxLive = Math.max(maxLive, live.size);
      const slba = parseRw(sqe).slba;
      order.push(slba);
      pending.push({ c, cid, slba });
      return true;
    },
  });
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, queueSize: 4 });
  try {
    const n = ctrl.namespace(1);
    const reads = Array.from({ length: 12 }, (_, i) => n.read(i, 1));
    const rng = new Prng(11);
    const cids = new Set<number>();
    for (let answered = 0; answered < 12; answered++) {
      await t.until(() => pending.length === Math.min(3, 12 - answered));
      const p = pending.splice(rng.int(0, pending.length - 1), 1)[0];
      cids.add(p.cid);
      live.delete(p.cid);
      const data = Buffer.alloc(512, p.slba);
      p.c.sendData(p.cid, data);
    }
    const got = await Promise.all(reads);
    for (const [i, b] of got.entries()) assert.deepEqual(b, Buffer.alloc(512, i));
    assert.equal(maxLive, 3);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual([...cids].sort(), [0, 1, 2]);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

test('host queue - I/O queue size is clamped to CAP.MQES and MAXCMD', async () => {
  for (const [o, want] of [
    [{ mqes: 15 }, 15],
    [{ maxcmd: 9 }, 8],
  ] as const) {
    const t = new FakeTarget(o);
    const port = await t.listen();
    const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, queueSize: 128 });
    try {
      const io = t.seen.find((c) => c.qid === 1 && c.fctype === FabricsType.Connect)!;
      assert.equal(io.sqe.readUInt16LE(44), want);
    } finally {
      await ctrl.disconnect();
      await t.close();
    }
  }
});

test('host queue - disconnect sets CC.SHN and waits for CSTS.SHST = 2', async () => {
  const t = new FakeTarget();
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn });
  await ctrl.namespace(1).write(0, Buffer.alloc(512, 1));
  const before = t.seen.length;
  await ctrl.disconnect();
  const tail = t.seen.slice(before).map((c) => {
    assert.equal(c.opc, AdminOpc.Fabrics);
    const p = parsePropertySqe(c.sqe);
    return `${p.fctype === FabricsType.PropertySet ? 'set' : 'get'} 0x${p.ofst.toString(16)} ${p.value.toString(16)}`;
  });
  assert.deepEqual(tail, [`set 0x${Prop.CC.toString(16)} 464001`, `get 0x${Prop.CSTS.toString(16)} 0`]);
  assert.equal(ctrl.shutdownStatus, 2);
  assert.equal(t.csts & 0xc, 0x8);
  await t.until(() => t.conns.every((c) => c.socket.destroyed || c.socket.readableEnded));
  await assert.rejects(ctrl.namespace(1).read(0, 1), { code: 'NVMEOTCP_ERR_CONNECTION' });
  await ctrl.disconnect(); // idempotent
  await t.close();
});

test('host queue - disconnect waits for outstanding I/O before shutting down', async () => {
  let held: { c: FakeConn; cid: number } | undefined;
  const t = new FakeTarget({
    hook: (c, sqe) => {
      if (c.qid === 0 || sqeOpc(sqe) !== IoOpc.Read) return false;
      held = { c, cid: sqeCid(sqe) };
      return true;
    },
  });
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn });
  const read = ctrl.namespace(1).read(0, 1);
  await t.until(() => held !== undefined);
  const closing = ctrl.disconnect();
  for (let i = 0; i < 20; i++) await new Promise(setImmediate);
  assert.equal(t.cc & 0xc000, 0); // no shutdown while the read is outstanding
  held!.c.sendData(held!.cid, Buffer.alloc(512, 3));
  assert.deepEqual(await read, Buffer.alloc(512, 3));
  await closing;
  assert.equal(t.cc & 0xc000, 0x4000);
  await t.close();
});

test('host queue - keep-alive goes out periodically on the admin queue only', async () => {
  const t = new FakeTarget();
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, kato: 40, nrIoQueues: 2 });
  try {
    await t.until(() => t.count(AdminOpc.KeepAlive, false) >= 3);
    assert.equal(t.count(AdminOpc.KeepAlive, true), 0);
    await ctrl.namespace(1).write(0, Buffer.alloc(512));
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

test('host queue - discoverLog reads the discovery log (header, entries, header again) with its GENCTR', async () => {
  const t = new FakeTarget();
  const port = await t.listen();
  try {
    const log = await discoverLog({ traddr: '127.0.0.1', trsvcid: port });
    assert.equal(log.genctr, 7);
    assert.equal(log.numrec, 1);
    assert.deepEqual(await discover({ traddr: '127.0.0.1', trsvcid: port }), log.entries);
    assert.deepEqual(log.entries, [
      {
        trtype: 3,
        adrfam: 1,
        subtype: 2,
        treq: 0,
        portid: 1,
        cntlid: 0xffff,
        asqsz: 32,
        eflags: 0,
        trsvcid: String(port),
        subnqn: t.subnqn,
        traddr: '127.0.0.1',
        sectype: 0,
      },
    ]);
    const logs = t.seen
      .filter((c) => c.opc === AdminOpc.GetLogPage)
      .map((c) => {
        const numd = (c.sqe.readUInt16LE(42) | (c.sqe.readUInt16LE(44) << 16)) + 1;
        return [numd * 4, c.sqe.readUInt32LE(48)];
      });
    assert.deepEqual(logs, [
      [20, 0],
      [1024, 1024],
      [20, 0],
      [20, 0],
      [1024, 1024],
      [20, 0],
    ]);
    assert.equal(t.count(AdminOpc.KeepAlive, false), 0);
    assert.equal(t.seen.filter((c) => c.qid > 0).length, 0);
  } finally {
    await t.close();
  }
});

test('host queue - thousands of requests beyond the queue depth all complete', async () => {
  const t = new FakeTarget({ namespaces: [{ nsid: 1, lbaSize: 512, nlba: 4096 }] });
  const order: number[] = [];
  t.o.hook = (c, sqe) => {
    if (c.qid > 0 && sqeOpc(sqe) === IoOpc.Read) order.push(parseRw(sqe).slba);
    return false;
  };
  const ram = t.ram.get(1)!;
  for (let i = 0; i < 4096; i++) ram.fill(i & 0xff, i * 512, (i + 1) * 512);
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, queueSize: 8 });
  try {
    const n = ctrl.namespace(1);
    const reads = Array.from({ length: 2500 }, (_, i) => n.read(i, 1));
    const got = await Promise.all(reads);
    for (const [i, b] of got.entries()) assert.deepEqual(b, Buffer.alloc(512, i & 0xff));
    assert.deepEqual(
      order,
      Array.from({ length: 2500 }, (_, i) => i),
    );
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

test('host queue - least-loaded policy spreads concurrent requests over the queues', async () => {
  const t = new FakeTarget();
  const port = await t.listen();
  const ctrl = await NvmeController.connect({
    traddr: '127.0.0.1',
    trsvcid: port,
    subnqn: t.subnqn,
    nrIoQueues: 4,
    queuePolicy: 'least-loaded',
  });
  try {
    const n = ctrl.namespace(1);
    await Promise.all(Array.from({ length: 8 }, (_, i) => n.read(i, 1)));
    await n.read(0, 1); // alone: the first idle queue
    const perQueue = [1, 2, 3, 4].map((q) => t.seen.filter((c) => c.qid === q && c.opc === IoOpc.Read).length);
    assert.deepEqual(perQueue, [3, 2, 2, 2]);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

test('host queue - an unanswered keep-alive ends the controller (reconnect off)', async () => {
  const t = new FakeTarget({ hook: (c, sqe) => c.qid === 0 && sqeOpc(sqe) === AdminOpc.KeepAlive });
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, kato: 60, ctrlLossTmoMs: 0 });
  try {
    await t.until(() => ctrl.error !== undefined);
    assert.equal(ctrl.error?.name, 'ControllerLostError');
    assert.equal(ctrl.state, 'lost');
    // The queue teardown's error, caused by the Keep Alive's timeout.
    const lost = ctrl.error;
    assert.ok(lost?.cause instanceof Error);
    const cause = lost.cause.cause;
    assert.ok(cause instanceof TimeoutError);
    assert.equal(cause.kind, 'kato');
    await assert.rejects(ctrl.namespace(1).read(0, 1), { name: 'ControllerLostError' });
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});
