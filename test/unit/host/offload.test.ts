import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IoOpc } from '../../../src/protocol/constants.ts';
import type { RxView } from '../../../src/protocol/receiver.ts';
import { type DdpLimits, type DdpQueue, type DdpQueueConfig, Errno, type UlpOps } from '../../../src/offload/types.ts';
import { type RxPlacement, StagingPlacement } from '../../../src/transport/reader.ts';
import { type HostDdpDevice, NvmeController } from '../../../src/host/index.ts';
import { Prng } from '../../helpers/prng.ts';
import { FakeTarget } from './fake-target.ts';

/** Records the ulp_ddp calls; teardown completes on a later turn, as mlx5's invalidate UMR does. */
class FakeDevice implements HostDdpDevice {
  readonly events: string[] = [];
  readonly ulps = new Map<number, UlpOps>();
  /** With manualDone: CIDs torn down whose ddpTeardownDone the test sends itself. */
  readonly tornDown: number[] = [];
  readonly rxs: RxView[] = [];
  readonly rxPlacement = (rx: RxView): RxPlacement => {
    this.rxs.push(rx);
    return new StagingPlacement(rx);
  };
  constructor(private readonly opts: { addFails?: boolean; setupResult?: number; manualDone?: boolean } = {}) {}
  limits(): DdpLimits {
    return { maxSgl: 128, ioThreshold: 32768, maxIoSize: 512 * 1024, fullCcidRange: false };
  }
  addQueue(cfg: DdpQueueConfig, ulp: UlpOps): DdpQueue | number {
    if (this.opts.addFails) {
      this.events.push(`add-fail q${cfg.queueId}`);
      return Errno.ENOSPC;
    }
    this.events.push(`add q${cfg.queueId} size ${cfg.queueSize} dgst ${cfg.dgst}`);
    this.ulps.set(cfg.queueId, ulp);
    const ev = this.events;
    const q = cfg.queueId;
    return {
      queueId: q,
      channel: 0,
      setup: (_cid, sgl) => {
        ev.push(`setup q${q} ${sgl.length}x${sgl[0].length}`);
        return this.opts.setupResult ?? 0;
      },
      teardown: (cid) => {
        ev.push(`teardown q${q}`);
        if (this.opts.manualDone) {
          this.tornDown.push(cid);
          return;
        }
        setImmediate(() => {
          ev.push(`done q${q}`);
          ulp.ddpTeardownDone(cid);
        });
      },
      resync: (seq) => {
        ev.push(`resync q${q} ${seq}`);
      },
      remove: () => ev.push(`remove q${q}`),
    };
  }
}

async function withDevice(dev: FakeDevice, nrIoQueues: number, fn: (ctrl: NvmeController, t: FakeTarget) => Promise<void>): Promise<void> {
  const t = new FakeTarget({ namespaces: [{ nsid: 1, lbaSize: 4096, nlba: 1024 }], c2hMaxData: 16384 });
  const port = await t.listen();
  const ctrl = await NvmeController.connect({
    traddr: '127.0.0.1',
    trsvcid: port,
    subnqn: t.subnqn,
    nrIoQueues,
    queueSize: 32,
    ddgst: true,
    offload: dev,
  });
  try {
    await fn(ctrl, t);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
}

test('host offload - I/O queues only are added; setup only for reads at or above the threshold', async () => {
  const dev = new FakeDevice();
  await withDevice(dev, 2, async (ctrl) => {
    assert.deepEqual(dev.events.sort(), ['add q1 size 32 dgst 2', 'add q2 size 32 dgst 2']);
    assert.equal(dev.rxs.length, 2); // the device placement drives the I/O sockets only
    dev.events.length = 0;
    const n = ctrl.namespace(1);
    const data = new Prng(3).bytes(65536);
    await n.write(0, data); // writes: never set up
    assert.deepEqual(await n.read(0, 4), data.subarray(0, 16384)); // 16 KiB < 32 KiB: software
    assert.deepEqual(dev.events, []);
    let settledAfter: string[] = [];
    const big = await n.read(0, 16).then((b) => {
      settledAfter = [...dev.events];
      return b;
    });
    assert.deepEqual(big, data);
    assert.deepEqual(settledAfter, ['setup q1 1x65536', 'teardown q1', 'done q1']);
  });
  assert.deepEqual(dev.events.slice(-2).sort(), ['remove q1', 'remove q2']);
});

test('host offload - the command completes only after ddpTeardownDone', async () => {
  const dev = new FakeDevice({ manualDone: true });
  await withDevice(dev, 1, async (ctrl, t) => {
    const n = ctrl.namespace(1);
    await n.write(0, Buffer.alloc(65536, 0x33));
    let settled = false;
    const read = n.read(0, 16).then((b) => {
      settled = true;
      return b;
    });
    await t.until(() => dev.tornDown.length === 1);
    // The CapsuleResp is in and teardown was called: the read must still be pending.
    for (let i = 0; i < 20; i++) await new Promise(setImmediate);
    assert.equal(settled, false);
    dev.ulps.get(1)!.ddpTeardownDone(dev.tornDown[0]);
    assert.deepEqual(await read, Buffer.alloc(65536, 0x33));
    // A late or unknown teardown-done is ignored.
    dev.ulps.get(1)!.ddpTeardownDone(dev.tornDown[0]);
    dev.ulps.get(1)!.ddpTeardownDone(999);
    assert.deepEqual(await n.read(0, 1), Buffer.alloc(4096, 0x33));
  });
});

test('host offload - a refused setup or sk_add leaves the I/O in software', async () => {
  const refused = new FakeDevice({ setupResult: Errno.EOPNOTSUPP });
  await withDevice(refused, 1, async (ctrl) => {
    const n = ctrl.namespace(1);
    await n.write(0, Buffer.alloc(65536, 9));
    assert.deepEqual(await n.read(0, 16), Buffer.alloc(65536, 9));
    assert.deepEqual(refused.events.slice(1), ['setup q1 1x65536']); // no teardown for a failed setup
  });
  const noQueue = new FakeDevice({ addFails: true });
  await withDevice(noQueue, 2, async (ctrl, t) => {
    const n = ctrl.namespace(1);
    await n.write(0, Buffer.alloc(65536, 5));
    assert.deepEqual(await n.read(0, 16), Buffer.alloc(65536, 5));
    assert.equal(t.count(IoOpc.Read), 1);
  });
  assert.deepEqual(noQueue.events.sort(), ['add-fail q1', 'add-fail q2']); // and no remove
});

test('host offload - a resync request is confirmed only at an exact PDU start; a wrong guess gets no answer', async () => {
  const dev = new FakeDevice();
  await withDevice(dev, 1, async (ctrl) => {
    const n = ctrl.namespace(1);
    const rx = dev.rxs[0];
    const ulp = dev.ulps.get(1)!;
    dev.events.length = 0;
    const resyncs = () => dev.events.filter((e) => e.startsWith('resync'));
    const at = rx.streamPos; // between PDUs: the next PDU starts here
    assert.equal(ulp.resyncRequest(at), true);
    await n.read(0, 1);
    assert.deepEqual(resyncs(), [`resync q1 ${at}`]);
    const mid = rx.streamPos + 10; // inside the next PDU's header: never a start
    ulp.resyncRequest(mid);
    await n.read(0, 1);
    await n.read(0, 1);
    assert.deepEqual(resyncs(), [`resync q1 ${at}`], 'no answer for a wrong guess, now or later');
    // The device's next request replaces it and is answered.
    const next = rx.streamPos;
    ulp.resyncRequest(next);
    await n.read(0, 1);
    assert.deepEqual(resyncs(), [`resync q1 ${at}`, `resync q1 ${next}`]);
  });
});
