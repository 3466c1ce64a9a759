import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IoOpc, Sc } from '../../../src/protocol/constants.ts';
import { ConnectionError, InvalidArgumentError, NvmeStatusError } from '../../../src/protocol/errors.ts';
import { buildRwSqe } from '../../../src/protocol/admin.ts';
import { MAX_RETRIES, NvmeController } from '../../../src/host/index.ts';
import { DataDir, HostCommand } from '../../../src/host/request.ts';
import { Prng } from '../../helpers/prng.ts';
import { FakeTarget, type FakeTargetOptions } from './fake-target.ts';

async function withCtrl(
  o: FakeTargetOptions,
  c: { hdgst?: boolean; ddgst?: boolean; nrIoQueues?: number; queueSize?: number },
  fn: (ctrl: NvmeController, t: FakeTarget) => Promise<void>,
): Promise<void> {
  const t = new FakeTarget(o);
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, ...c });
  try {
    await fn(ctrl, t);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
}

const DIGESTS = [
  { hdgst: false, ddgst: false },
  { hdgst: true, ddgst: false },
  { hdgst: false, ddgst: true },
  { hdgst: true, ddgst: true },
];

for (const d of DIGESTS) {
  for (const lbaSize of [512, 4096]) {
    test(`host io - write/read round trip, hdgst=${d.hdgst} ddgst=${d.ddgst}, ${lbaSize}-byte blocks`, async () => {
      const ns = { nsid: 1, lbaSize, nlba: (1 << 20) / lbaSize };
      await withCtrl({ namespaces: [ns], icdSize: 8192, maxh2cdata: 8192, c2hMaxData: 16384 }, d, async (ctrl, t) => {
        const n = ctrl.namespace(1);
        const rng = new Prng(lbaSize + (d.hdgst ? 1 : 0) + (d.ddgst ? 2 : 0));
        const small = rng.bytes(4096); // in-capsule (≤ 8192)
        const big = rng.bytes(65536); // R2T: 8 H2CData PDUs of 8192
        await n.write(0, small);
        assert.equal(t.r2ts, 0);
        await n.write(64, big.subarray(0, 65536));
        assert.equal(t.r2ts, 1);
        assert.equal(t.h2cPdus, 8);
        assert.deepEqual(await n.read(0, 4096 / lbaSize), small);
        const back = await n.read(64, 65536 / lbaSize);
        assert.deepEqual(back, big);
        assert.equal(t.c2hPdus, 1 + 4 + 3); // identify x3 (ctrl, list, ns) + 4096 read + 65536 read in 16 KiB PDUs
        assert.deepEqual(t.ram.get(1)!.subarray(64 * lbaSize, 64 * lbaSize + 65536), big);
      });
    });
  }
}

test('host io - C2HData SUCCESS flag completes reads without a CapsuleResp', async () => {
  await withCtrl({ c2hSuccess: true, c2hMaxData: 1024 }, { ddgst: true }, async (ctrl, t) => {
    const n = ctrl.namespace(1);
    const data = new Prng(5).bytes(8192);
    await n.write(10, data);
    const resps = t.resps;
    assert.deepEqual(await n.read(10, 16), data);
    assert.deepEqual(await n.read(10, 1), data.subarray(0, 512));
    assert.equal(t.resps, resps);
    assert.equal(t.count(IoOpc.Read), 2);
  });
});

test('host io - transfers above MDTS are split into several commands', async () => {
  await withCtrl({ mdts: 1 }, {}, async (ctrl, t) => {
    assert.equal(ctrl.maxXfer, 8192);
    const n = ctrl.namespace(1);
    const data = new Prng(9).bytes(40960);
    await n.write(100, data);
    assert.equal(t.count(IoOpc.Write), 5);
    const back = Buffer.alloc(40960);
    await n.readInto(100, back);
    assert.equal(t.count(IoOpc.Read), 5);
    assert.deepEqual(back, data);
  });
});

test('host io - flush, write zeroes and deallocate', async () => {
  await withCtrl({}, {}, async (ctrl, t) => {
    const n = ctrl.namespace(1);
    await n.write(0, Buffer.alloc(8192, 0xaa));
    await n.flush();
    await n.writeZeroes(2, 2);
    await n.deallocate([
      { slba: 8, nlb: 4 },
      { slba: 14, nlb: 1 },
    ]);
    const back = await n.read(0, 16);
    const want = Buffer.alloc(8192, 0xaa);
    want.fill(0, 2 * 512, 4 * 512);
    want.fill(0, 8 * 512, 12 * 512);
    want.fill(0, 14 * 512, 15 * 512);
    assert.deepEqual(back, want);
    assert.deepEqual([t.count(IoOpc.Flush), t.count(IoOpc.WriteZeroes), t.count(IoOpc.DatasetMgmt)], [1, 1, 1]);
  });
});

test('host io - LBA range beyond the namespace is refused before sending', async () => {
  await withCtrl({ namespaces: [{ nsid: 1, lbaSize: 512, nlba: 100 }] }, {}, async (ctrl, t) => {
    const n = ctrl.namespace(1);
    await assert.rejects(n.read(99, 2), InvalidArgumentError);
    await assert.rejects(n.read(-1, 1), InvalidArgumentError);
    await assert.rejects(n.read(0, 0), InvalidArgumentError);
    await assert.rejects(n.write(100, Buffer.alloc(512)), InvalidArgumentError);
    await assert.rejects(n.write(0, Buffer.alloc(100)), InvalidArgumentError);
    await assert.rejects(n.writeZeroes(50, 51), InvalidArgumentError);
    await assert.rejects(n.deallocate([{ slba: 99, nlb: 2 }]), InvalidArgumentError);
    assert.throws(() => ctrl.namespace(2), InvalidArgumentError);
    assert.equal(t.seen.filter((c) => c.qid > 0 && c.opc !== 0x7f).length, 0);
    // The same command sent raw (bypassing the check) gets the controller's LBA Out of Range.
    const sqe = buildRwSqe({ cid: 0, opc: IoOpc.Read, nsid: 1, slba: 99, nlb: 2, len: 1024, inCapsule: false });
    const err = await ctrl.submitIo(new HostCommand(sqe, Buffer.alloc(1024), DataDir.C2H, 5000)).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NvmeStatusError);
    assert.equal(err.sc, Sc.LbaOutOfRange);
    assert.equal(err.sct, 0);
    assert.equal(err.dnr, true);
    assert.equal(err.qid, 1);
  });
});

test('host io - random pattern across 4 queues at queue depth 32 each', async () => {
  const nlba = 16384;
  await withCtrl(
    { namespaces: [{ nsid: 1, lbaSize: 512, nlba }], c2hMaxData: 8192, maxh2cdata: 4096 },
    { nrIoQueues: 4, ddgst: true },
    async (ctrl, t) => {
      const n = ctrl.namespace(1);
      const rng = new Prng(0x5eed);
      const model = Buffer.alloc(nlba * 512);
      // 256 writes of 1..32 blocks in disjoint 64-block slots, 128 in flight (32 per queue).
      for (let round = 0; round < 2; round++) {
        const ps: Promise<void>[] = [];
        for (let i = 0; i < 128; i++) {
          const slba = (round * 128 + i) * 64 + rng.int(0, 31);
          const data = rng.bytes(rng.int(1, 32) * 512);
          data.copy(model, slba * 512);
          ps.push(n.write(slba, data));
        }
        await Promise.all(ps);
      }
      const reads: Promise<void>[] = [];
      for (let i = 0; i < 128; i++) {
        const slba = rng.int(0, nlba - 256);
        const nlb = rng.int(1, 256);
        reads.push(
          n.read(slba, nlb).then((b) => assert.deepEqual(b, model.subarray(slba * 512, (slba + nlb) * 512), `read ${slba}+${nlb}`)),
        );
      }
      await Promise.all(reads);
      const perQueue = new Map<number, number>();
      for (const c of t.seen) if (c.qid > 0 && c.opc !== 0x7f) perQueue.set(c.qid, (perQueue.get(c.qid) ?? 0) + 1);
      assert.deepEqual([...perQueue.entries()].sort(), [
        [1, 96],
        [2, 96],
        [3, 96],
        [4, 96],
      ]);
      assert.deepEqual(t.ram.get(1), model);
    },
  );
});

/** Promise over one callback-API I/O: resolves with [err, arg]. */
function cbIo<A>(submit: (done: (err: Error | undefined, arg: A) => void) => void): Promise<[Error | undefined, A]> {
  return new Promise((resolve) => submit((err, arg) => resolve([err, arg])));
}

test('host io - callback API: round trip, arg passed back, a chain of I/Os submitted from callbacks', async () => {
  await withCtrl({ c2hMaxData: 2048 }, { ddgst: true }, async (ctrl, t) => {
    const n = ctrl.namespace(1);
    const data = new Prng(21).bytes(8192);
    const tag = { which: 'w' };
    const [werr, warg] = await cbIo<typeof tag>((done) => n.submitWrite(40, data, done, tag));
    assert.equal(werr, undefined);
    assert.equal(warg, tag);
    const back = Buffer.alloc(8192);
    const [rerr, rarg] = await cbIo<number>((done) => n.submitRead(40, back, done, 7));
    assert.equal(rerr, undefined);
    assert.equal(rarg, 7);
    assert.deepEqual(back, data);
    // 200 reads, each submitted from the previous one's callback (pooled commands are
    // reused while the receive path is still running); every one lands in its own buffer.
    const bufs = Array.from({ length: 200 }, () => Buffer.alloc(512));
    await new Promise<void>((resolve, reject) => {
      const next = (err: Error | undefined, i: number): void => {
        if (err !== undefined) reject(err);
        else if (i + 1 === bufs.length) resolve();
        else n.submitRead(40 + ((i + 1) % 16), bufs[i + 1], next, i + 1);
      };
      n.submitRead(40, bufs[0], next, 0);
    });
    for (let i = 0; i < bufs.length; i++) assert.deepEqual(bufs[i], data.subarray((i % 16) * 512, (i % 16) * 512 + 512), `read ${i}`);
    assert.equal(t.count(IoOpc.Read), 201);
  });
});

test('host io - callback API: bad arguments throw before sending; split transfers call back once', async () => {
  await withCtrl({ mdts: 1, namespaces: [{ nsid: 1, lbaSize: 512, nlba: 100 }] }, {}, async (ctrl, t) => {
    const n = ctrl.namespace(1);
    let called = 0;
    const done = () => {
      called++;
    };
    assert.throws(() => n.submitRead(99, Buffer.alloc(1024), done, 0), InvalidArgumentError);
    assert.throws(() => n.submitWrite(0, Buffer.alloc(100), done, 0), InvalidArgumentError);
    assert.equal(called, 0);
    assert.equal(t.seen.filter((c) => c.qid > 0 && c.opc !== 0x7f).length, 0);
    const data = new Prng(3).bytes(20480); // 8 KiB per command: 3 commands
    assert.deepEqual(await cbIo((d) => n.submitWrite(10, data, d, 'w')), [undefined, 'w']);
    assert.equal(t.count(IoOpc.Write), 3);
    const back = Buffer.alloc(20480);
    assert.deepEqual(await cbIo((d) => n.submitRead(10, back, d, 'r')), [undefined, 'r']);
    assert.equal(t.count(IoOpc.Read), 3);
    assert.deepEqual(back, data);
  });
});

test('host io - callback API: a command error reaches the callback; a throwing callback leaves the queue working', async () => {
  // Every send of the read (the first and its retries: no DNR) gets a bad digest.
  let corrupt = 1 + MAX_RETRIES;
  await withCtrl(
    {
      c2hMaxData: 2048,
      hook: (c, sqe) => {
        if (c.qid > 0 && sqe[0] === IoOpc.Read && corrupt-- > 0) {
          c.sendData(sqe.readUInt16LE(2), Buffer.alloc(4096, 7), { corruptDigest: true });
          return true;
        }
        return false;
      },
    },
    { ddgst: true },
    async (ctrl) => {
      const n = ctrl.namespace(1);
      await n.write(0, Buffer.alloc(4096, 0x42));
      const [err] = await cbIo((d) => n.submitRead(0, Buffer.alloc(4096), d, 0));
      assert.ok(err instanceof NvmeStatusError);
      assert.equal(err.sc, Sc.DataXferError);
      // A callback that throws: the exception surfaces on its own (uncaught, next tick),
      // not inside the receive path, and the queue keeps serving.
      const listeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      const caught = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
      try {
        // Two reads answered in one turn: the first callback throws, the second must still run.
        n.submitRead(
          0,
          Buffer.alloc(4096),
          () => {
            throw new Error('boom from a callback');
          },
          0,
        );
        const second = cbIo((d) => n.submitRead(0, Buffer.alloc(4096), d, 1));
        const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('second read never completed')), 60_000).unref());
        assert.deepEqual(await Promise.race([second, timeout]), [undefined, 1]);
        assert.equal(((await caught) as Error).message, 'boom from a callback');
      } finally {
        for (const l of listeners) process.on('uncaughtException', l);
      }
      assert.deepEqual(await n.read(0, 8), Buffer.alloc(4096, 0x42));
      assert.equal(ctrl.ioQueueCount, 1);
    },
  );
});

test('host io - callback API: with no queue up, the callback runs on a later tick with ConnectionError, never inside the call', async () => {
  await withCtrl({}, {}, async (ctrl) => {
    const n = ctrl.namespace(1);
    await ctrl.disconnect();
    let ran = false;
    const got = new Promise<Error | undefined>((resolve) => {
      n.submitRead(
        0,
        Buffer.alloc(512),
        (err) => {
          ran = true;
          resolve(err);
        },
        0,
      );
    });
    assert.equal(ran, false, 'called back from within submitRead');
    const err = await got;
    assert.ok(err instanceof ConnectionError, String(err));
  });
});
