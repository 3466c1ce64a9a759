// Host error recovery against our target: a cut connection, a stalled one (command
// timeout), a target restarted on the same port with a file namespace, and the
// offload counters across the reconnect. Delays are tens of milliseconds; nothing
// asserts on durations.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type ConnectOptions, NvmeController } from '../../src/host/index.ts';
import { createSocketDevice } from '../../src/offload/socket-device.ts';
import { type NamespaceConfig, NvmeTarget } from '../../src/target/index.ts';
import { FaultProxy } from '../helpers/fault-proxy.ts';
import { Prng } from '../helpers/prng.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:reconnect';
const LBA = 512;
const RECOVERY = { reconnectDelayMs: 20, ctrlLossTmoMs: 60_000, kato: 0 } satisfies Partial<ConnectOptions>;

function target(ns: NamespaceConfig = { nsid: 1, backend: { kind: 'ram', size: 8 << 20 }, lbaSize: LBA }): NvmeTarget {
  return new NvmeTarget({ subsystems: [{ nqn: NQN, namespaces: [ns] }] });
}

/** A target, a fault proxy in front of it and a controller through the proxy; closed when `t` ends. */
async function rig(t: TestContext, c: Partial<ConnectOptions> = {}) {
  const tgt = target();
  t.after(() => tgt.close());
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  const proxy = new FaultProxy(port);
  t.after(() => proxy.close());
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: await proxy.listen(), subnqn: NQN, ...RECOVERY, ...c });
  t.after(() => ctrl.disconnect({ timeoutMs: 2000 }));
  return { tgt, proxy, ctrl };
}

test('host reconnect - after a cut, I/O in flight and I/O submitted meanwhile complete on the new association', async (t) => {
  const { proxy, ctrl } = await rig(t, { nrIoQueues: 2 });
  const ns = ctrl.namespace(1);
  const data = new Prng(3).bytes(256 * LBA);
  await ns.write(0, data);
  const reconnected = once(ctrl, 'reconnected');
  // Writes of new data and reads, in flight when the cut comes.
  const fresh = new Prng(4).bytes(64 * LBA);
  const writes = [ns.write(256, fresh.subarray(0, 32 * LBA)), ns.write(288, fresh.subarray(32 * LBA))];
  const reads = [ns.read(0, 128), ns.read(128, 128)];
  proxy.inject('cut');
  const late = ns.read(0, 64); // submitted during the outage
  await Promise.all(writes);
  assert.deepEqual(Buffer.concat(await Promise.all(reads)), data);
  assert.deepEqual(await late, data.subarray(0, 64 * LBA));
  assert.deepEqual(await ns.read(256, 64), fresh);
  await reconnected;
  assert.equal(ctrl.state, 'live');
  assert.equal(ctrl.ioQueueCount, 2);
  assert.equal(ctrl.recovery.reconnects, 1);
});

test('host reconnect - a stalled connection: the command timeout resets the association and the I/O is resent', async (t) => {
  const { proxy, ctrl } = await rig(t, { ioTimeoutMs: 150 });
  const ns = ctrl.namespace(1);
  await ns.write(0, Buffer.alloc(4 * LBA, 0x61));
  proxy.inject('stall');
  const reconnecting = once(ctrl, 'reconnecting');
  const read = ns.read(0, 4);
  const [ev] = (await reconnecting) as [{ error: Error }];
  assert.match(ev.error.message, /command timeout/);
  assert.deepEqual(await read, Buffer.alloc(4 * LBA, 0x61));
  assert.equal(ctrl.recovery.requeued, 1);
});

test('host reconnect - a target restarted on the same port: data written before is read back after', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-reconnect-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ns: NamespaceConfig = { nsid: 1, backend: { kind: 'file', path: join(dir, 'ns.img'), size: 4 << 20 }, lbaSize: LBA };
  const first = target(ns);
  const { port } = await first.listen({ host: '127.0.0.1', port: 0 });
  let second: NvmeTarget | undefined;
  t.after(() => second?.close());
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, ...RECOVERY });
  t.after(() => ctrl.disconnect({ timeoutMs: 2000 }));
  const n = ctrl.namespace(1);
  const before = new Prng(9).bytes(128 * LBA);
  await n.write(64, before);
  const reconnecting = once(ctrl, 'reconnecting');
  await first.close();
  await reconnecting;
  // Submitted while the target is down: waits for it.
  const after = new Prng(10).bytes(16 * LBA);
  const write = n.write(512, after);
  second = target(ns);
  await second.listen({ host: '127.0.0.1', port });
  await write;
  assert.deepEqual(await n.read(64, 128), before);
  assert.deepEqual(await n.read(512, 16), after);
  assert.equal(ctrl.state, 'live');
});

test('host reconnect - offload queues are removed and added again; the counters never go backwards', async (t) => {
  const dev = createSocketDevice({ channels: 2, profile: 'generic' });
  const { proxy, ctrl } = await rig(t, { nrIoQueues: 2, offload: dev });
  const ns = ctrl.namespace(1);
  const data = new Prng(11).bytes(1 << 20);
  await ns.write(0, data);
  const readAll = async (): Promise<void> => {
    const parts = await Promise.all(Array.from({ length: 8 }, (_, i) => ns.read(i * 256, 256)));
    assert.deepEqual(Buffer.concat(parts), data);
  };
  await readAll();
  const s1 = dev.snapshot();
  assert.equal(s1.global.rx_nvmeotcp_sk_add, 2);
  assert.ok(s1.sum.rx_nvmeotcp_bytes > 0);
  const reconnected = once(ctrl, 'reconnected');
  proxy.inject('reset');
  await reconnected;
  const s2 = dev.snapshot();
  // sk_del for each old queue, then sk_add for each new one.
  assert.equal(s2.global.rx_nvmeotcp_sk_del, 2);
  assert.equal(s2.global.rx_nvmeotcp_sk_add, 4);
  await readAll();
  const s3 = dev.snapshot();
  for (const [a, b] of [
    [s1, s2],
    [s2, s3],
  ] as const) {
    for (const k of Object.keys(a.global) as (keyof typeof a.global)[]) assert.ok(b.global[k] >= a.global[k], `global ${k}`);
    for (const k of Object.keys(a.sum) as (keyof typeof a.sum)[]) assert.ok(b.sum[k] >= a.sum[k], `sum ${k}`);
    for (const k of Object.keys(a.retired) as (keyof typeof a.retired)[]) assert.ok(b.retired[k] >= a.retired[k], `retired ${k}`);
  }
  assert.ok(s3.sum.rx_nvmeotcp_bytes > s2.sum.rx_nvmeotcp_bytes, 'the new queues are offloaded');
  assert.equal(s3.perQueue.length, 2);
});
