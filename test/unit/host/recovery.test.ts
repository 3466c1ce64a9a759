// Host error recovery against the fake target: retries of error statuses (DNR or
// not), keep-alive loss, a target that is gone (connections refused): fast_io_fail
// and ctrl_loss_tmo, the events, disconnect while reconnecting. Delays are tens of
// milliseconds; nothing asserts on durations.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { AdminOpc, IoOpc, Sc, Sct } from '../../../src/protocol/constants.ts';
import { ConnectionError, ControllerLostError, FastIoFailError, NvmeStatusError } from '../../../src/protocol/errors.ts';
import { makeStatus, sqeCid, sqeOpc } from '../../../src/protocol/sqe.ts';
import {
  type ConnectOptions,
  MAX_RETRIES,
  NvmeController,
  type ReconnectedEvent,
  type ReconnectingEvent,
} from '../../../src/host/index.ts';
import { FaultProxy } from '../../helpers/fault-proxy.ts';
import { FakeTarget, type FakeTargetOptions } from './fake-target.ts';

const FAST = { reconnectDelayMs: 20, kato: 0 } satisfies Partial<ConnectOptions>;

/** A fake target behind a fault proxy, and a controller through the proxy; all closed when `t` ends. */
async function rig(t: TestContext, o: FakeTargetOptions, c: Partial<ConnectOptions>) {
  const target = new FakeTarget(o);
  const proxy = new FaultProxy(await target.listen());
  const port = await proxy.listen();
  t.after(() => target.close());
  t.after(() => proxy.close());
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: target.subnqn, ...FAST, ...c });
  t.after(() => ctrl.disconnect({ timeoutMs: 1000 }));
  return { target, proxy, ctrl };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

test('host recovery - an error status without DNR is retried until it succeeds', async (t) => {
  let fail = 2;
  const { target, ctrl } = await rig(
    t,
    {
      hook: (c, sqe) => {
        if (c.qid === 0 || sqeOpc(sqe) !== IoOpc.Read || fail-- <= 0) return false;
        c.respond(sqeCid(sqe), makeStatus(Sct.Generic, Sc.InternalError, false));
        return true;
      },
    },
    {},
  );
  const ns = ctrl.namespace(1);
  await ns.write(0, Buffer.alloc(512, 0x33));
  assert.deepEqual(await ns.read(0, 1), Buffer.alloc(512, 0x33));
  assert.equal(target.count(IoOpc.Read), 3);
  assert.equal(ctrl.recovery.retried, 2);
  assert.equal(ctrl.recovery.resets, 0);
});

test('host recovery - an error status with DNR fails at once; one without fails after MAX_RETRIES resends', async (t) => {
  let dnr = true;
  const { target, ctrl } = await rig(
    t,
    {
      hook: (c, sqe) => {
        if (c.qid === 0 || sqeOpc(sqe) !== IoOpc.Read) return false;
        c.respond(sqeCid(sqe), makeStatus(Sct.Generic, Sc.InternalError, dnr));
        return true;
      },
    },
    {},
  );
  const ns = ctrl.namespace(1);
  const e1 = await rejection(ns.read(0, 1));
  assert.ok(e1 instanceof NvmeStatusError && e1.dnr);
  assert.equal(target.count(IoOpc.Read), 1);
  dnr = false;
  const e2 = await rejection(ns.read(0, 1));
  assert.ok(e2 instanceof NvmeStatusError && !e2.dnr);
  assert.equal(target.count(IoOpc.Read), 1 + 1 + MAX_RETRIES);
  assert.equal(ctrl.state, 'live');
});

test('host recovery - a lost keep-alive resets the association; I/O waits and completes on the new one', async (t) => {
  let drop = true;
  const { target, ctrl } = await rig(
    t,
    {
      hook: (c, sqe) => {
        if (c.qid === 0 && sqeOpc(sqe) === AdminOpc.KeepAlive && drop) return true; // never answered
        // While the keep-alive is lost, hold reads too: they are in flight when the reset comes.
        return c.qid > 0 && sqeOpc(sqe) === IoOpc.Read && drop;
      },
    },
    { kato: 80 },
  );
  const ns = ctrl.namespace(1);
  await ns.write(8, Buffer.alloc(512, 0x44));
  const reconnecting = once(ctrl, 'reconnecting') as Promise<[ReconnectingEvent]>;
  const reconnected = once(ctrl, 'reconnected') as Promise<[ReconnectedEvent]>;
  const read = ns.read(8, 1);
  const [ev] = await reconnecting;
  assert.equal(ev.attempt, 1);
  assert.equal(ev.delayMs, FAST.reconnectDelayMs);
  assert.match(ev.error.message, /queue 0 torn down after a command timeout/);
  drop = false;
  const [done] = await reconnected;
  assert.equal(done.attempts, 1);
  assert.equal(done.resent, 1);
  assert.deepEqual(await read, Buffer.alloc(512, 0x44));
  assert.equal(ctrl.state, 'live');
  const r = ctrl.recovery;
  assert.equal(r.resets, 1);
  assert.equal(r.reconnects, 1);
  assert.equal(r.requeued, 1);
  assert.ok(r.reconnectingMs > 0);
  // Two admin Connects: the first association and the new one.
  assert.equal(target.seen.filter((c) => c.qid === 0 && c.opc === AdminOpc.Fabrics && c.fctype === 1).length, 2);
});

test('host recovery - ctrl_loss_tmo expiry fails waiting and new I/O with ControllerLostError', async (t) => {
  const { proxy, ctrl } = await rig(t, { hook: (c, sqe) => c.qid > 0 && sqeOpc(sqe) === IoOpc.Read }, { ctrlLossTmoMs: 150 });
  const ns = ctrl.namespace(1);
  proxy.refuse();
  const lost = once(ctrl, 'lost');
  const reads = [rejection(ns.read(0, 1)), rejection(ns.read(1, 1))];
  await new Promise((r) => setImmediate(r));
  proxy.inject('cut');
  const [ev] = (await lost) as [{ attempts: number; error: Error }];
  assert.ok(ev.attempts >= 1);
  for (const e of await Promise.all(reads)) {
    assert.ok(e instanceof ControllerLostError, String(e));
    assert.equal(e.code, 'NVMEOTCP_ERR_CTRL_LOST');
    assert.ok(e instanceof ConnectionError);
  }
  assert.equal(ctrl.state, 'lost');
  assert.ok((await rejection(ns.write(0, Buffer.alloc(512)))) instanceof ControllerLostError);
  await assert.rejects(ctrl.getLogPage(2, 512), ControllerLostError);
});

test('host recovery - fast_io_fail_tmo fails waiting I/O early; after the reconnect I/O works again', async (t) => {
  const { proxy, ctrl } = await rig(t, {}, { ctrlLossTmoMs: -1, fastIoFailTmoMs: 40 });
  const ns = ctrl.namespace(1);
  await ns.write(0, Buffer.alloc(512, 0x55));
  proxy.refuse();
  proxy.inject('reset');
  const e = await rejection(ns.read(0, 1));
  assert.ok(e instanceof FastIoFailError, String(e));
  assert.equal(ctrl.state, 'connecting');
  // Still reconnecting: new I/O fails at once too.
  assert.ok((await rejection(ns.read(0, 1))) instanceof FastIoFailError);
  const reconnected = once(ctrl, 'reconnected');
  proxy.accept();
  await reconnected;
  assert.deepEqual(await ns.read(0, 1), Buffer.alloc(512, 0x55));
});

test('host recovery - a Connect refused with DNR ends the recovery at once (the controller is lost)', async (t) => {
  let refuse = false;
  const { proxy, ctrl } = await rig(
    t,
    {
      hook: (c, sqe) => {
        if (!refuse || sqeOpc(sqe) !== AdminOpc.Fabrics || sqe[4] !== 1) return false;
        c.respond(sqeCid(sqe), makeStatus(Sct.CommandSpecific, 0x84, true));
        return true;
      },
    },
    { ctrlLossTmoMs: -1 },
  );
  refuse = true;
  const lost = once(ctrl, 'lost');
  proxy.inject('cut');
  const [ev] = (await lost) as [{ attempts: number; error: ControllerLostError }];
  assert.equal(ev.attempts, 1);
  assert.ok(ev.error.cause instanceof NvmeStatusError);
});

test('host recovery - disconnect while reconnecting fails what waits and stops the attempts', async (t) => {
  const { proxy, ctrl } = await rig(t, {}, { ctrlLossTmoMs: -1 });
  proxy.refuse();
  const reconnecting = once(ctrl, 'reconnecting');
  proxy.inject('cut');
  await reconnecting;
  const read = rejection(ctrl.namespace(1).read(0, 1));
  await ctrl.disconnect();
  const e = await read;
  assert.ok(e instanceof ConnectionError && !(e instanceof ControllerLostError), String(e));
  assert.equal(ctrl.state, 'deleted');
  const accepted = proxy.accepted;
  await new Promise((r) => setTimeout(r, 5 * FAST.reconnectDelayMs));
  assert.equal(proxy.accepted, accepted, 'no attempt after disconnect');
});

test('host recovery - ctrlLossTmoMs 0: the first error ends the controller; what it cut off fails with that error', async (t) => {
  const { proxy, ctrl } = await rig(t, { hook: (c, sqe) => c.qid > 0 && sqeOpc(sqe) === IoOpc.Read }, { ctrlLossTmoMs: 0 });
  const read = rejection(ctrl.namespace(1).read(0, 1));
  await new Promise((r) => setImmediate(r));
  proxy.inject('cut');
  const e = await read;
  assert.ok(e instanceof ConnectionError && !(e instanceof ControllerLostError), String(e));
  assert.equal(ctrl.state, 'lost');
  assert.ok(ctrl.error instanceof ControllerLostError);
});
