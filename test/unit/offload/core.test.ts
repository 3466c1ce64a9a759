// The shared device core: sk_add/sk_del, setup/teardown, limits, caps, and the
// control-path counters exactly where the seed counts them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSocketDevice, type SocketDevice } from '../../../src/offload/socket-device.ts';
import { type DdpQueue, type DdpQueueConfig, Errno, type UlpOps } from '../../../src/offload/types.ts';

const CFG: DdpQueueConfig = { pfv: 0, cpda: 0, dgst: 0, queueSize: 32, queueId: 1, ioCpu: 0 };

class Ulp implements UlpOps {
  readonly done: number[] = [];
  readonly resyncs: number[] = [];
  resyncRequest(seq: number): boolean {
    this.resyncs.push(seq);
    return true;
  }
  ddpTeardownDone(cid: number): void {
    this.done.push(cid);
  }
}

function attach(dev: SocketDevice, cfg: Partial<DdpQueueConfig> = {}): { q: DdpQueue; ulp: Ulp } {
  const ulp = new Ulp();
  const q = dev.addQueue({ ...CFG, ...cfg }, ulp);
  assert.ok(typeof q !== 'number', `addQueue failed: ${q}`);
  return { q, ulp };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('core - mlx5 default limits and both capabilities on', () => {
  const dev = createSocketDevice({ channels: 2 });
  assert.equal(dev.profile, 'mlx5');
  assert.equal(dev.ifindex, 1);
  assert.deepEqual(dev.limits(), { maxSgl: 128, ioThreshold: 32768, maxIoSize: 524288, fullCcidRange: false });
  assert.deepEqual(dev.getCaps(), { hw: { ddp: true, crcRx: true }, active: { ddp: true, crcRx: true } });
});

test('core - mlx5: DDP and CRC-rx switch together (set_caps all or nothing); a split request changes nothing', () => {
  const dev = createSocketDevice({ channels: 1 });
  const both = { ddp: true, crcRx: true };
  const none = { ddp: false, crcRx: false };
  assert.equal(dev.setCaps({ crcRx: false }), 0);
  assert.deepEqual(dev.getCaps().active, both, 'only one bit turned off: nothing changes');
  assert.equal(dev.setCaps({ ddp: false }), 0);
  assert.deepEqual(dev.getCaps().active, both);
  assert.equal(dev.setCaps({ ddp: false, crcRx: false }), 0);
  assert.deepEqual(dev.getCaps().active, none);
  assert.equal(dev.setCaps({ ddp: true }), 0);
  assert.deepEqual(dev.getCaps().active, none, 'only one bit turned on: nothing changes');
  assert.equal(dev.setCaps({ ddp: true, crcRx: true }), 0);
  assert.deepEqual(dev.getCaps().active, both);
  // mlx5 has both bits or neither, on the hardware and at start.
  assert.throws(() => createSocketDevice({ hw: { crcRx: false } }), { code: 'NVMEOTCP_ERR_INVALID_ARG', message: /profile mlx5/ });
  assert.throws(() => createSocketDevice({ active: { crcRx: false } }), { code: 'NVMEOTCP_ERR_INVALID_ARG' });
  assert.deepEqual(createSocketDevice({ active: none }).getCaps().active, none);
});

test('core - generic: the two capabilities are independent; bits the hardware lacks stay off', () => {
  const dev = createSocketDevice({ channels: 1, profile: 'generic' });
  assert.equal(dev.setCaps({ crcRx: false }), 0);
  assert.deepEqual(dev.getCaps().active, { ddp: true, crcRx: false });
  assert.equal(dev.setCaps({ ddp: false, crcRx: true }), 0);
  assert.deepEqual(dev.getCaps().active, { ddp: false, crcRx: true });
  const noCrcHw = createSocketDevice({ channels: 1, profile: 'generic', hw: { crcRx: false } });
  noCrcHw.setCaps({ crcRx: true });
  assert.deepEqual(noCrcHw.getCaps().active, { ddp: true, crcRx: false });
});

test('core - bad profile or ifindex: a clear error', () => {
  assert.throws(() => createSocketDevice({ profile: 'cx9' as 'mlx5' }), {
    code: 'NVMEOTCP_ERR_INVALID_ARG',
    message: /profile must be one of mlx5, generic/,
  });
  assert.throws(() => createSocketDevice({ ifindex: 0 }), { code: 'NVMEOTCP_ERR_INVALID_ARG' });
  assert.equal(createSocketDevice({ ifindex: 5 }).ifindex, 5);
});

test('core - addQueue counts sk_add, maps ioCpu to a channel, remove counts sk_del', () => {
  const dev = createSocketDevice({ channels: 4 });
  const { q } = attach(dev, { ioCpu: 6, queueId: 3 });
  assert.equal(q.queueId, 3);
  assert.equal(q.channel, 2);
  assert.equal(dev.getStats().rx_nvmeotcp_sk_add, 1);
  q.remove();
  q.remove(); // once only
  const s = dev.getStats();
  assert.equal(s.rx_nvmeotcp_sk_del, 1);
  assert.equal(s.rx_nvmeotcp_sk_add_fail, 0);
  assert.equal(dev.queueCount, 0);
});

test('core - queue limit overflow: addQueue returns ENOSPC and counts sk_add_fail', () => {
  const dev = createSocketDevice({ channels: 1, maxQueues: 2 });
  const a = attach(dev, { queueId: 1 });
  attach(dev, { queueId: 2 });
  assert.equal(dev.addQueue({ ...CFG, queueId: 3 }, new Ulp()), Errno.ENOSPC);
  assert.equal(dev.addQueue({ ...CFG, pfv: 1 }, new Ulp()), Errno.EOPNOTSUPP);
  assert.equal(dev.addQueue({ ...CFG, queueSize: 0 }, new Ulp()), Errno.EINVAL);
  let s = dev.getStats();
  assert.equal(s.rx_nvmeotcp_sk_add, 2);
  assert.equal(s.rx_nvmeotcp_sk_add_fail, 3);
  a.q.remove();
  attach(dev, { queueId: 3 }); // room again
  s = dev.getStats();
  assert.equal(s.rx_nvmeotcp_sk_add, 3);
  assert.equal(s.rx_nvmeotcp_sk_del, 1);
});

test('core - capability off: addQueue refused before the driver, nothing counted', () => {
  const dev = createSocketDevice({ channels: 1, active: { ddp: false, crcRx: false } });
  assert.equal(dev.addQueue(CFG, new Ulp()), Errno.EOPNOTSUPP);
  assert.deepEqual(Object.values(dev.getStats()), new Array(10).fill(0));
});

test('core - disabling is lazy: an attached queue keeps offloading, new queues are refused', () => {
  const dev = createSocketDevice({ channels: 1 });
  const { q } = attach(dev);
  dev.setCaps({ ddp: false, crcRx: false });
  assert.equal(q.setup(0, [Buffer.alloc(65536)]), 0);
  assert.equal(dev.addQueue({ ...CFG, queueId: 2 }, new Ulp()), Errno.EOPNOTSUPP);
  assert.equal(dev.getStats().rx_nvmeotcp_sk_add_fail, 0);
});

test('core - N setups and teardowns: ddp_setup = ddp_teardown = N, done delivered asynchronously', async () => {
  const dev = createSocketDevice({ channels: 1 });
  const { q, ulp } = attach(dev);
  const N = 5;
  for (let cid = 0; cid < N; cid++) assert.equal(q.setup(cid, [Buffer.alloc(128 * 1024)]), 0);
  assert.equal(dev.pool.inUse, N);
  for (let cid = 0; cid < N; cid++) q.teardown(cid);
  assert.deepEqual(ulp.done, [], 'teardown returns before the done up-call');
  assert.equal(dev.pool.inUse, N, 'buffers stay mapped until the invalidation completes');
  await tick();
  assert.deepEqual(ulp.done, [0, 1, 2, 3, 4]);
  assert.equal(dev.pool.inUse, 0);
  const s = dev.getStats();
  assert.equal(s.rx_nvmeotcp_ddp_setup, N);
  assert.equal(s.rx_nvmeotcp_ddp_teardown, N);
  assert.equal(s.rx_nvmeotcp_ddp_setup_fail, 0);
});

test('core - a CID is busy until its teardown is done (no reuse while the device may still write)', async () => {
  const dev = createSocketDevice({ channels: 1 });
  const { q, ulp } = attach(dev);
  assert.equal(q.setup(7, [Buffer.alloc(4096)]), 0);
  assert.equal(q.setup(7, [Buffer.alloc(4096)]), Errno.EBUSY);
  q.teardown(7);
  q.teardown(7); // a second teardown of the same registration: no second count or done
  assert.equal(q.setup(7, [Buffer.alloc(4096)]), Errno.EBUSY);
  await tick();
  assert.deepEqual(ulp.done, [7]);
  assert.equal(q.setup(7, [Buffer.alloc(4096)]), 0);
  const s = dev.getStats();
  assert.equal(s.rx_nvmeotcp_ddp_setup, 2);
  assert.equal(s.rx_nvmeotcp_ddp_setup_fail, 2);
  assert.equal(s.rx_nvmeotcp_ddp_teardown, 1);
});

test('core - setup failure reasons, each counted once, releasing exactly what was mapped', () => {
  const dev = createSocketDevice({ channels: 1 });
  const { q } = attach(dev);
  const fail = (cid: number, sgl: Buffer[], want: number): void => {
    const before = dev.getStats().rx_nvmeotcp_ddp_setup_fail;
    assert.equal(q.setup(cid, sgl), want);
    assert.equal(dev.getStats().rx_nvmeotcp_ddp_setup_fail, before + 1);
    assert.equal(dev.pool.inUse, 0, 'nothing left mapped');
  };
  // EINVAL: the mapping fails (empty list, zero-length entry)
  fail(0, [], Errno.EINVAL);
  fail(0, [Buffer.alloc(4096), Buffer.alloc(0)], Errno.EINVAL);
  // ENOSPC: 129 separate entries > max_ddp_sgl_len 128
  fail(
    1,
    Array.from({ length: 129 }, () => Buffer.alloc(4096)),
    Errno.ENOSPC,
  );
  // EOPNOTSUPP: a middle entry that is not whole pages
  fail(2, [Buffer.alloc(4096), Buffer.alloc(1000), Buffer.alloc(4096)], Errno.EOPNOTSUPP);
  // ENOSPC: more bytes than the device places (maxIoSize 512 KiB)
  fail(3, [Buffer.alloc(512 * 1024 + 4096)], Errno.ENOSPC);
  // EINVAL: CID outside the device's range (below the queue size without full_ccid_range)
  fail(32, [Buffer.alloc(4096)], Errno.EINVAL);
  fail(-1, [Buffer.alloc(4096)], Errno.EINVAL);
  const s = dev.getStats();
  assert.equal(s.rx_nvmeotcp_ddp_setup, 0);
  assert.equal(s.rx_nvmeotcp_ddp_setup_fail, 7);
});

// Regression test for the seed's mlx5e_nvmeotcp_ddp_setup failure path: it unmapped
// `count` (mapped segments after coalescing) instead of the `nents` it mapped.
test('core - a coalesced SGL that fails its checks gives back all nents it took', () => {
  const dev = createSocketDevice({ channels: 1 });
  const { q } = attach(dev);
  const big = Buffer.alloc(3 * 4096 + 100);
  // Entries 1 and 2 are adjacent in memory: mapped as one 4196-byte middle segment.
  const sgl = [Buffer.alloc(4096), big.subarray(0, 4096), big.subarray(4096, 4196), Buffer.alloc(4096)];
  assert.equal(q.setup(0, sgl), Errno.EOPNOTSUPP);
  assert.equal(dev.pool.inUse, 0);
  // The same adjacency is fine when it makes whole pages: 4 entries, 3 segments.
  const ok = [Buffer.alloc(100), big.subarray(0, 4096), big.subarray(4096, 8192), Buffer.alloc(10)];
  assert.equal(q.setup(1, ok), 0);
  assert.equal(dev.pool.inUse, 4);
});

test('core - 200 adjacent entries coalesce into one segment and fit max_ddp_sgl_len', () => {
  const dev = createSocketDevice({ channels: 1 });
  const { q } = attach(dev);
  const buf = Buffer.alloc(200 * 1024);
  const sgl = Array.from({ length: 200 }, (_, i) => buf.subarray(i * 1024, (i + 1) * 1024));
  assert.equal(q.setup(0, sgl), 0);
  assert.equal(dev.pool.inUse, 200);
});

test('core - fullCcidRange accepts every 16-bit CID', () => {
  const dev = createSocketDevice({ channels: 1, fullCcidRange: true });
  const { q } = attach(dev);
  assert.equal(q.setup(0xffff, [Buffer.alloc(4096)]), 0);
  assert.equal(q.setup(0x10000, [Buffer.alloc(4096)]), Errno.EINVAL);
});

test('core - remove releases registrations, later setups fail, teardowns still get their done', async () => {
  const dev = createSocketDevice({ channels: 1 });
  const { q, ulp } = attach(dev);
  assert.equal(q.setup(1, [Buffer.alloc(65536)]), 0);
  assert.equal(q.setup(2, [Buffer.alloc(65536)]), 0);
  q.teardown(2);
  q.remove();
  assert.equal(dev.pool.inUse, 1, 'the registration of CID 1 is released at once');
  assert.equal(q.setup(3, [Buffer.alloc(65536)]), Errno.EINVAL);
  q.teardown(1); // the ULP fails its commands after sk_del: nothing registered, done still delivered
  await tick();
  assert.deepEqual(ulp.done.sort(), [1, 2]);
  assert.equal(dev.pool.inUse, 0);
  const s = dev.getStats();
  assert.equal(s.rx_nvmeotcp_ddp_setup, 2);
  assert.equal(s.rx_nvmeotcp_ddp_setup_fail, 1);
  assert.equal(s.rx_nvmeotcp_ddp_teardown, 1);
});

test('core - counters stay monotonic across remove and re-add', () => {
  const dev = createSocketDevice({ channels: 2 });
  let prev = dev.getStats();
  for (let round = 0; round < 3; round++) {
    const { q } = attach(dev, { queueId: 1, ioCpu: round });
    q.setup(0, [Buffer.alloc(4096)]);
    q.setup(0, [Buffer.alloc(4096)]);
    q.remove();
    const cur = dev.getStats();
    for (const k of Object.keys(cur) as (keyof typeof cur)[]) assert.ok(cur[k] >= prev[k], `${k} went backwards`);
    prev = cur;
  }
  assert.equal(prev.rx_nvmeotcp_sk_add, 3);
  assert.equal(prev.rx_nvmeotcp_sk_del, 3);
  assert.equal(prev.rx_nvmeotcp_ddp_setup, 3);
  assert.equal(prev.rx_nvmeotcp_ddp_setup_fail, 3);
});

test('core - stats disabled: the device works and every counter reads 0', async () => {
  const dev = createSocketDevice({ channels: 1, stats: false });
  const { q, ulp } = attach(dev);
  assert.equal(q.setup(0, [Buffer.alloc(4096)]), 0);
  q.teardown(0);
  await tick();
  assert.deepEqual(ulp.done, [0]);
  assert.deepEqual(Object.values(dev.getStats()), new Array(10).fill(0));
});
