// End to end: our host against our target over 127.0.0.1.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { IoOpc, Sc } from '../../src/protocol/constants.ts';
import { InvalidArgumentError, NvmeStatusError } from '../../src/protocol/errors.ts';
import { buildRwSqe } from '../../src/protocol/admin.ts';
import { type ControllerInfo, NvmeTarget, type TargetOptions } from '../../src/target/index.ts';
import { type ConnectOptions, discover, NvmeController } from '../../src/host/index.ts';
import { DataDir, HostCommand } from '../../src/host/request.ts';
import { Prng } from '../helpers/prng.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:e2e';

interface E2e {
  port: number;
  tgt: NvmeTarget;
  /** A controller of NQN on this target, disconnected when the test ends. */
  connect(o?: Partial<ConnectOptions>): Promise<NvmeController>;
}

/** A target with two namespaces (512- and 4096-byte LBAs) on 127.0.0.1; when `t` ends, its controllers disconnect and it closes. */
async function e2eTarget(t: TestContext, o: Omit<TargetOptions, 'subsystems'>): Promise<E2e> {
  const tgt = new NvmeTarget({
    ...o,
    subsystems: [
      {
        nqn: NQN,
        namespaces: [
          { nsid: 1, backend: { kind: 'ram', size: 8 << 20 }, lbaSize: 512 },
          { nsid: 2, backend: { kind: 'ram', size: 8 << 20 }, lbaSize: 4096 },
        ],
      },
    ],
  });
  const ctrls: NvmeController[] = [];
  t.after(async () => {
    await Promise.allSettled(ctrls.map((c) => c.disconnect()));
    await tgt.close();
  });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  const connect = async (c: Partial<ConnectOptions> = {}) => {
    const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, ...c });
    ctrls.push(ctrl);
    return ctrl;
  };
  return { port, tgt, connect };
}

const KATO_MS = 1000;
const turn = () => new Promise<void>((r) => setImmediate(r));

test('e2e - connect, identify, namespaces of 512 and 4096 bytes, clean shutdown', async (t) => {
  const { tgt, connect } = await e2eTarget(t, {});
  const events: string[] = [];
  tgt.on('connect', (i: ControllerInfo) => events.push(`connect ${i.cntlid}`));
  tgt.on('disconnect', (i: ControllerInfo) => events.push(`disconnect ${i.cntlid}`));
  const ctrl = await connect({ nrIoQueues: 2 });
  assert.equal(ctrl.identify.subnqn, NQN);
  assert.equal(ctrl.identify.cntlid, ctrl.cntlid);
  assert.equal(ctrl.ioQueueCount, 2);
  assert.deepEqual(ctrl.namespaces, [
    { nsid: 1, lbaSize: 512, nlba: 16384, nuse: 16384, ms: 0, bytes: 8 << 20 },
    { nsid: 2, lbaSize: 4096, nlba: 2048, nuse: 2048, ms: 0, bytes: 8 << 20 },
  ]);
  const gone = once(tgt, 'disconnect');
  await ctrl.disconnect();
  assert.equal(ctrl.shutdownStatus, 2);
  await gone;
  assert.deepEqual(events, [`connect ${ctrl.cntlid}`, `disconnect ${ctrl.cntlid}`]);
});

const DIGESTS = [
  { hdgst: false, ddgst: false },
  { hdgst: true, ddgst: false },
  { hdgst: false, ddgst: true },
  { hdgst: true, ddgst: true },
];

for (const d of DIGESTS) {
  test(`e2e - in-capsule, R2T and split C2HData transfers, hdgst=${d.hdgst} ddgst=${d.ddgst}`, async (t) => {
    // 4 KiB in-capsule limit, 4 KiB H2CData PDUs, 8 KiB C2HData PDUs.
    const { tgt, connect } = await e2eTarget(t, { inCapsuleDataSize: 4096, maxH2CData: 4096, c2hMaxData: 8192 });
    const ctrl = await connect(d);
    const rng = new Prng(100 + (d.hdgst ? 1 : 0) + (d.ddgst ? 2 : 0));
    for (const nsid of [1, 2]) {
      const ns = ctrl.namespace(nsid);
      const small = rng.bytes(4096); // in-capsule
      const big = rng.bytes(98304); // R2T: 24 H2CData PDUs; read back in 12 C2HData PDUs
      await ns.write(0, small);
      await ns.write(16, big.subarray(0, 65536));
      await ns.write(16 + 65536 / ns.lbaSize, big.subarray(65536));
      assert.deepEqual(await ns.read(0, 4096 / ns.lbaSize), small);
      assert.deepEqual(await ns.read(16, big.length / ns.lbaSize), big);
      assert.deepEqual(await tgt.namespaceBytes(NQN, nsid, 16 * ns.lbaSize, big.length), big);
    }
  });
}

test('e2e - random pattern write-then-read across 4 queues at queue depth 32 each', async (t) => {
  const { tgt, connect } = await e2eTarget(t, { mdts: 3 });
  const ctrl = await connect({ nrIoQueues: 4, queueSize: 64, ddgst: true });
  assert.equal(ctrl.maxXfer, 32768);
  const ns = ctrl.namespace(1);
  const rng = new Prng(0xc0ffee);
  const model = Buffer.alloc(ns.bytes);
  for (let round = 0; round < 2; round++) {
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 128; i++) {
      const slba = (round * 128 + i) * 64 + rng.int(0, 15);
      const data = rng.bytes(rng.int(1, 48) * 512); // up to 24 KiB: in-capsule and R2T
      data.copy(model, slba * 512);
      ps.push(ns.write(slba, data));
    }
    await Promise.all(ps);
  }
  const reads: Promise<void>[] = [];
  for (let i = 0; i < 128; i++) {
    const slba = rng.int(0, ns.nlba - 512);
    const nlb = rng.int(1, 512); // up to 256 KiB: split at MDTS (32 KiB)
    reads.push(ns.read(slba, nlb).then((b) => assert.deepEqual(b, model.subarray(slba * 512, (slba + nlb) * 512))));
  }
  await Promise.all(reads);
  assert.deepEqual(await tgt.namespaceBytes(NQN, 1, 0, ns.bytes), model);
});

test('e2e - flush, write zeroes, deallocate', async (t) => {
  const { connect } = await e2eTarget(t, {});
  const ns = (await connect()).namespace(2);
  await ns.write(0, Buffer.alloc(8 * 4096, 0xee));
  await ns.flush();
  await ns.writeZeroes(1, 2);
  await ns.deallocate([{ slba: 5, nlb: 1 }]);
  const want = Buffer.alloc(8 * 4096, 0xee);
  want.fill(0, 4096, 3 * 4096);
  want.fill(0, 5 * 4096, 6 * 4096);
  assert.deepEqual(await ns.read(0, 8), want);
});

test('e2e - LBA beyond the end: refused by the host, and LBA Out of Range from the target when sent raw', async (t) => {
  const { connect } = await e2eTarget(t, {});
  const ctrl = await connect();
  const ns = ctrl.namespace(1);
  await assert.rejects(ns.read(ns.nlba - 1, 2), InvalidArgumentError);
  const sqe = buildRwSqe({ cid: 0, opc: IoOpc.Read, nsid: 1, slba: ns.nlba - 1, nlb: 2, len: 1024, inCapsule: false });
  await assert.rejects(ctrl.submitIo(new HostCommand(sqe, Buffer.alloc(1024), DataDir.C2H, 5000)), (e: unknown) => {
    assert.ok(e instanceof NvmeStatusError);
    assert.deepEqual([e.sct, e.sc], [0, Sc.LbaOutOfRange]);
    return true;
  });
  // The queue is still fine.
  assert.equal((await ns.read(0, 1)).length, 512);
});

test('e2e - discovery lists the subsystem on the listener, and nothing else', async (t) => {
  const { port } = await e2eTarget(t, {});
  const entries = await discover({ traddr: '127.0.0.1', trsvcid: port });
  assert.deepEqual(
    entries.map((e) => [e.subtype, e.subnqn, e.trtype, e.adrfam, e.traddr, e.trsvcid]),
    [
      [3, 'nqn.2014-08.org.nvmexpress.discovery', 3, 1, '127.0.0.1', String(port)],
      [2, NQN, 3, 1, '127.0.0.1', String(port)],
    ],
  );
});

test('e2e - keep-alive keeps an idle controller alive past KATO', async (t) => {
  const { tgt, connect } = await e2eTarget(t, {});
  const gone: string[] = [];
  tgt.on('disconnect', (i: ControllerInfo) => gone.push(i.reason ?? ''));
  // The host sends Keep Alive every KATO/2 and the target drops a controller idle for
  // KATO, so a stall of the process longer than KATO/2 can end it: KATO_MS is kept
  // well above the stalls of a loaded machine. Idle for more than twice KATO.
  const ctrl = await connect({ kato: KATO_MS });
  await new Promise((r) => setTimeout(r, 2.5 * KATO_MS));
  assert.deepEqual(gone, []);
  assert.equal((await ctrl.namespace(1).read(0, 1)).length, 512);
});

test('e2e - SQ flow control disabled: reads end with C2HData SUCCESS and stay correct', async (t) => {
  const { connect } = await e2eTarget(t, { c2hMaxData: 16384 });
  const ns = (await connect({ disableSqFlow: true, ddgst: true, nrIoQueues: 2 })).namespace(2);
  const data = new Prng(77).bytes(256 * 1024);
  await ns.write(3, data);
  const reads = [0, 1, 2, 3].map((i) => ns.read(3 + i * 16, 16));
  assert.deepEqual(Buffer.concat(await Promise.all(reads)), data);
});

test('e2e - busy polling on both sides: the host polls only while small I/O is in flight, the target while I/O queues are connected', async (t) => {
  const { tgt, connect } = await e2eTarget(t, { poll: true });
  assert.equal(tgt.polling, false, 'no I/O queue yet');
  const ctrl = await connect({ nrIoQueues: 2, poll: true });
  assert.equal(tgt.polling, true);
  assert.equal(ctrl.polling, false, 'nothing in flight');
  const ns = ctrl.namespace(1);
  const data = new Prng(12).bytes(64 * 1024);
  const big = ns.write(8, data);
  assert.equal(ctrl.polling, false, `a ${data.length}-byte write alone: no polling (above POLL_MAX_IO)`);
  const w = ns.write(8, data.subarray(0, 4096));
  assert.equal(ctrl.polling, true, 'polling while a 4 KiB write is in flight');
  await Promise.all([big, w]);
  const reads = Array.from({ length: 16 }, (_, i) => ns.read(8 + i * 8, 8));
  assert.deepEqual(Buffer.concat(await Promise.all(reads)), data);
  await turn();
  await turn();
  assert.equal(ctrl.polling, false, 'stopped once idle');
  // The target stops polling once the host's I/O queues are gone: when the controller
  // goes, its I/O queues are closed, and their sockets report it within a few turns.
  const gone = once(tgt, 'disconnect');
  await ctrl.disconnect();
  await gone;
  for (let i = 0; i < 100 && tgt.polling; i++) await turn();
  assert.equal(tgt.polling, false);
});
