import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildAerSqe, buildGetLogPageSqe, buildSetFeaturesSqe } from '../../src/protocol/admin.ts';
import { FeatureId, LogId, NQN_DISCOVERY, PduType } from '../../src/protocol/constants.ts';
import { parseDiscoveryLog, parseDiscoveryLogHeader } from '../../src/protocol/discovery.ts';
import { parseIdentifyController } from '../../src/protocol/identify.ts';
import { parseCqe } from '../../src/protocol/sqe.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const A = 'nqn.2024-01.io.nvmeotcp:disc-a';
const B = 'nqn.2024-01.io.nvmeotcp:disc-b';
const PRIVATE = 'nqn.2024-01.io.nvmeotcp:disc-private';

let tgt: NvmeTarget;
let port: number;
let port2: number;

before(async () => {
  tgt = new NvmeTarget({
    subsystems: [
      { nqn: A, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] },
      { nqn: B, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] },
      { nqn: PRIVATE, allowedHosts: ['nqn.2024-01.io.nvmeotcp:someone-else'] },
    ],
  });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
  ({ port: port2 } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
});

after(async () => {
  await tgt.close();
});

async function getLog(c: RawClient, len: number, offset = 0, rae = false): Promise<Buffer> {
  const r = await c.exchange(buildGetLogPageSqe({ cid: c.cid(), lid: LogId.Discovery, len, offset, rae }));
  assert.equal(r.cqe!.status, 0);
  assert.equal(r.data.length, len);
  return r.data;
}

test('target discovery - identify says discovery controller with the discovery NQN', async () => {
  const c = await RawClient.open(port);
  const cntlid = await c.adminConnect(NQN_DISCOVERY);
  const id = parseIdentifyController((await c.identify(1)).data);
  assert.equal(id.cntrltype, 2);
  assert.equal(id.subnqn, NQN_DISCOVERY);
  assert.equal(id.cntlid, cntlid);
  assert.equal(id.oaes >>> 31, 1);
  assert.equal(id.nn, 0);
  // Namespace identify has no meaning here.
  assert.equal((await c.identify(0, 1)).cqe!.status, 0x4002);
  c.close();
});

test('target discovery - log page as nvmet: this port only, the current discovery subsystem first, host allow-list honoured', async () => {
  const c = await RawClient.open(port2);
  await c.adminConnect(NQN_DISCOVERY);
  const hdr = parseDiscoveryLogHeader(await getLog(c, 20));
  assert.equal(hdr.numrec, 3);
  assert.equal(hdr.recfmt, 0);
  const log = parseDiscoveryLog(await getLog(c, 1024 + 3 * 1024));
  assert.equal(log.genctr, hdr.genctr);
  assert.deepEqual(
    log.entries.map((e) => [e.subtype, e.subnqn, `${e.traddr}:${e.trsvcid}`, e.portid, e.eflags]),
    [
      [3, NQN_DISCOVERY, `127.0.0.1:${port2}`, 2, 0],
      [2, A, `127.0.0.1:${port2}`, 2, 0],
      [2, B, `127.0.0.1:${port2}`, 2, 0],
    ],
  );
  for (const e of log.entries) {
    assert.equal(e.trtype, 3);
    assert.equal(e.adrfam, 1);
    assert.equal(e.cntlid, 0xffff);
    assert.equal(e.sectype, 0);
    assert.ok(e.asqsz >= 32);
  }
  c.close();
});

test('target discovery - log page honours LPO and short lengths (as libnvme reads it)', async () => {
  const c = await RawClient.open(port);
  await c.adminConnect(NQN_DISCOVERY);
  const whole = await getLog(c, 1024 + 3 * 1024);
  assert.deepEqual(await getLog(c, 20), whole.subarray(0, 20));
  assert.deepEqual(await getLog(c, 1024, 1024, true), whole.subarray(1024, 2048));
  assert.deepEqual(await getLog(c, 2048, 2048, true), whole.subarray(2048, 4096));
  assert.deepEqual(await getLog(c, 8, 1024 + 256), whole.subarray(1280, 1288));
  // A window running past the end is zero-filled; an offset past the end is invalid.
  const tail = await getLog(c, 2048, 3072);
  assert.deepEqual(tail.subarray(0, 1024), whole.subarray(3072, 4096));
  assert.deepEqual(tail.subarray(1024), Buffer.alloc(1024));
  const past = await c.exchange(buildGetLogPageSqe({ cid: c.cid(), lid: LogId.Discovery, len: 4, offset: 8192 }));
  assert.equal(past.cqe!.status, 0x4002);
  const other = await c.exchange(buildGetLogPageSqe({ cid: c.cid(), lid: LogId.Smart, len: 512 }));
  assert.equal(other.cqe!.status, 0x4002);
  c.close();
});

test('target discovery - a new listener bumps GENCTR and completes the held AER with a discovery-change notice', async () => {
  const c = await RawClient.open(port);
  await c.adminConnect(NQN_DISCOVERY);
  const g0 = parseDiscoveryLogHeader(await getLog(c, 20)).genctr;
  const set = buildSetFeaturesSqe({ cid: c.cid(), fid: FeatureId.AsyncEventConfig, dw11: 0x8000_0000 });
  assert.equal((await c.exchange(set)).cqe!.status, 0);
  c.send(...c.capsule(buildAerSqe(31)));
  const extra = await tgt.listen({ host: '127.0.0.1', port: 0 });
  const p = await c.nextPdu();
  assert.equal(p?.hdr.type, PduType.CapsuleResp);
  const cqe = parseCqe(p.hdr.cqe);
  assert.equal(cqe.cid, 31);
  assert.equal(cqe.status, 0);
  assert.equal(cqe.dw0, 0x02 | (0xf0 << 8) | (0x70 << 16));
  const log = parseDiscoveryLog(await getLog(c, 1024 + 3 * 1024));
  assert.equal(log.genctr, g0 + 1);
  // This port's log does not list the new port (nvmet's is per port too); the new port's does.
  assert.deepEqual(
    log.entries.map((e) => e.trsvcid),
    [String(port), String(port), String(port)],
  );
  c.close();
  const d = await RawClient.open(extra.port);
  await d.adminConnect(NQN_DISCOVERY);
  const there = parseDiscoveryLog(await getLog(d, 1024 + 3 * 1024));
  assert.deepEqual(
    there.entries.map((e) => [e.subnqn, e.trsvcid]),
    [NQN_DISCOVERY, A, B].map((n) => [n, String(extra.port)]),
  );
  d.close();
});

test('target discovery - an allowed host sees its private subsystem', async () => {
  const c = await RawClient.open(port);
  await c.adminConnect(NQN_DISCOVERY, { hostnqn: 'nqn.2024-01.io.nvmeotcp:someone-else' });
  const log = parseDiscoveryLog(await getLog(c, 1024 + 4 * 1024));
  assert.deepEqual(
    log.entries.map((e) => e.subnqn),
    [NQN_DISCOVERY, A, B, PRIVATE],
  );
  c.close();
});

test('target discovery - port links: a subsystem is served and listed only on the ports it is linked to', async (t) => {
  const linkedTgt = new NvmeTarget({
    subsystems: [
      { nqn: A, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] },
      { nqn: B, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] },
    ],
  });
  t.after(() => linkedTgt.close());
  const pa = (await linkedTgt.listen({ host: '127.0.0.1', port: 0, subsystems: [A] })).port;
  const none = (await linkedTgt.listen({ host: '127.0.0.1', port: 0, subsystems: [] })).port;
  await assert.rejects(
    linkedTgt.listen({ host: '127.0.0.1', port: 0, subsystems: ['nqn.2024-01.io.nvmeotcp:nope'] }),
    /listen: no subsystem/,
  );

  const c = await RawClient.open(pa);
  t.after(() => c.close());
  await c.adminConnect(NQN_DISCOVERY);
  const log = parseDiscoveryLog(await getLog(c, 1024 + 2 * 1024));
  assert.deepEqual(
    log.entries.map((e) => [e.subtype, e.subnqn]),
    [
      [3, NQN_DISCOVERY],
      [2, A],
    ],
  );
  // B exists but is not linked to this port: Connect Invalid Parameters naming SUBNQN, as for an unknown NQN.
  const toB = await RawClient.open(pa);
  t.after(() => toB.close());
  const cqe = await toB.connectQueue({ qid: 0, subnqn: B });
  assert.equal(cqe.status, 0x4182);
  assert.equal(cqe.dw0, 256 | (1 << 16));
  const toA = await RawClient.open(pa);
  t.after(() => toA.close());
  assert.ok((await toA.adminConnect(A)) > 0);

  const d = await RawClient.open(none);
  t.after(() => d.close());
  await d.adminConnect(NQN_DISCOVERY);
  assert.deepEqual(
    parseDiscoveryLog(await getLog(d, 1024 + 1024)).entries.map((e) => e.subnqn),
    [NQN_DISCOVERY],
  );
});
