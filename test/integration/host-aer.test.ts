// The host keeps an AER outstanding and rescans on Namespace Attribute Changed:
// namespaces added, resized and removed on a running target show up in
// ctrl.namespaces and in the Namespace objects (bounds checks, NamespaceGoneError);
// other notices surface as 'aen' events. And the host honours the controller's VWC:
// no Flush on the wire without a volatile write cache.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import type { AsyncEvent, RescanResult } from '../../src/host/aer.ts';
import { NvmeController } from '../../src/host/index.ts';
import type { HostCommand } from '../../src/host/request.ts';
import { NQN_DISCOVERY } from '../../src/protocol/constants.ts';
import { InvalidArgumentError, NamespaceGoneError } from '../../src/protocol/errors.ts';
import { NvmeTarget, type TargetOptions } from '../../src/target/index.ts';
import { Prng } from '../helpers/prng.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:host-aer';
const MiB = 1 << 20;

async function setup(t: TestContext, o: Omit<TargetOptions, 'subsystems'> = {}, subnqn = NQN) {
  const tgt = new NvmeTarget({ ...o, subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: MiB } }] }] });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn });
  t.after(async () => {
    await ctrl.disconnect();
    await tgt.close();
  });
  return { tgt, ctrl };
}

/** The next 'rescan' event (resolves with what it found). */
const nextRescan = (ctrl: NvmeController): Promise<RescanResult> => once(ctrl, 'rescan').then(([r]) => r as RescanResult);

test('host AER - a namespace added on the running target appears after the rescan, with its size, and takes I/O', async (t) => {
  const { tgt, ctrl } = await setup(t);
  assert.deepEqual(
    ctrl.namespaces.map((n) => n.nsid),
    [1],
  );
  const changed = once(ctrl, 'nsChanged');
  const rescan = nextRescan(ctrl);
  assert.equal(await tgt.addNamespace(NQN, { nsid: 5, backend: { kind: 'ram', size: 2 * MiB }, lbaSize: 4096 }), 5);
  assert.deepEqual(await changed, [[5]]);
  assert.deepEqual(await rescan, { added: [5], removed: [], resized: [] });
  assert.deepEqual(
    ctrl.namespaces.map((n) => [n.nsid, n.lbaSize, n.nlba]),
    [
      [1, 512, 2048],
      [5, 4096, 512],
    ],
  );
  const ns = ctrl.namespace(5);
  const data = new Prng(1).bytes(8192);
  await ns.write(510, data);
  assert.deepEqual(await ns.read(510, 2), data);
  // The AER was submitted again: a second change is seen too.
  const again = nextRescan(ctrl);
  await tgt.addNamespace(NQN, { nsid: 2, backend: { kind: 'ram', size: MiB } });
  assert.deepEqual((await again).added, [2]);
});

test('host AER - a resized namespace: the same Namespace object checks I/O against the new size; a removed one fails with NamespaceGoneError', async (t) => {
  const { tgt, ctrl } = await setup(t);
  const ns = ctrl.namespace(1);
  const block = Buffer.alloc(512, 0xa5);
  await assert.rejects(ns.write(2048, block), InvalidArgumentError);
  const grown = nextRescan(ctrl);
  await tgt.resizeNamespace(NQN, 1, 4 * MiB);
  assert.deepEqual(await grown, { added: [], removed: [], resized: [1] });
  assert.equal(ns.nlba, 8192);
  assert.equal(ns.bytes, 4 * MiB);
  assert.equal(ctrl.namespaces[0].nlba, 8192);
  await ns.write(8191, block);
  assert.deepEqual(await ns.read(8191, 1), block);
  const shrunk = nextRescan(ctrl);
  await tgt.resizeNamespace(NQN, 1, MiB / 2);
  assert.deepEqual((await shrunk).resized, [1]);
  assert.equal(ns.nlba, 1024);
  await assert.rejects(ns.read(1024, 1), /beyond the end of namespace 1 \(1024 blocks\)/);
  await ns.read(1023, 1);
  const gone = nextRescan(ctrl);
  await tgt.removeNamespace(NQN, 1);
  assert.deepEqual(await gone, { added: [], removed: [1], resized: [] });
  assert.deepEqual(ctrl.namespaces, []);
  await assert.rejects(
    ns.read(0, 1),
    (e: unknown) => e instanceof NamespaceGoneError && e.nsid === 1 && /no longer active/.test(e.message),
  );
  assert.throws(() => ns.submitRead(0, Buffer.alloc(512), () => undefined, 0), NamespaceGoneError);
  await assert.rejects(ns.flush(), NamespaceGoneError);
  assert.throws(() => ctrl.namespace(1), InvalidArgumentError);
  // Back with the same NSID: a new Namespace object; the old one stays gone.
  const back = nextRescan(ctrl);
  await tgt.addNamespace(NQN, { nsid: 1, backend: { kind: 'ram', size: MiB } });
  assert.deepEqual((await back).added, [1]);
  assert.notEqual(ctrl.namespace(1), ns);
  assert.equal(ns.active, false);
  await ctrl.namespace(1).write(0, block);
});

test('host AER - other notices are "aen" events (a discovery controller hears of a new listener)', async (t) => {
  const { tgt, ctrl } = await setup(t, {}, NQN_DISCOVERY);
  const ev = once(ctrl, 'aen');
  const l = await tgt.listen({ host: '127.0.0.1', port: 0 });
  assert.ok(l.port > 0);
  const [e] = (await ev) as [AsyncEvent];
  assert.deepEqual(e, { type: 2, info: 0xf0, lid: 0x70, dw0: 0x7_0f002 });
});

/** Counts the commands namespaces submit through the controller. */
function countSubmits(ctrl: NvmeController): { n: number } {
  const c = { n: 0 };
  const orig = ctrl.submitIo.bind(ctrl);
  ctrl.submitIo = (cmd: HostCommand) => {
    c.n++;
    return orig(cmd);
  };
  return c;
}

test('host VWC - a controller without a volatile write cache: Flush completes on the host, nothing on the wire; with one it is sent', async (t) => {
  const none = await setup(t, { volatileWriteCache: false });
  assert.equal(none.ctrl.identify.vwc & 1, 0);
  assert.equal(none.ctrl.volatileWriteCache, false);
  const c0 = countSubmits(none.ctrl);
  await none.ctrl.namespace(1).flush();
  assert.equal(c0.n, 0);
  const cache = await setup(t);
  assert.equal(cache.ctrl.volatileWriteCache, true);
  const c1 = countSubmits(cache.ctrl);
  await cache.ctrl.namespace(1).flush();
  assert.equal(c1.n, 1);
});

test('host ONCS - the Write Zeroes and DSM our target lists in ONCS go out', async (t) => {
  const { ctrl } = await setup(t);
  const ns = ctrl.namespace(1);
  const c = countSubmits(ctrl);
  await ns.writeZeroes(0, 8);
  await ns.deallocate([{ slba: 8, nlb: 8 }]);
  assert.equal(c.n, 2);
  assert.equal(ctrl.oncs & 0x0c, 0x0c);
});
