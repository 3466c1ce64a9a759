// Per-subsystem and per-namespace attributes as nvmet has them (attr_version,
// attr_cntlid_min/max, attr_qid_max; device_uuid/device_nguid) and read-only
// namespaces, seen from the wire.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildSetFeaturesSqe, buildWriteZeroesSqe } from '../../src/protocol/admin.ts';
import { FeatureId, Prop } from '../../src/protocol/constants.ts';
import { parseIdentifyController, parseIdentifyNamespace, parseNsDescList } from '../../src/protocol/identify.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { parseNvmeVersion } from '../../src/target/subsystem.ts';
import { RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.example:attrs';
const RO = 'nqn.2024-01.io.example:ro';
const UUID = '4e1f2a3b-0c5d-4e6f-8a9b-0c1d2e3f4a5b';
const NGUID = '00112233445566778899aabbccddeeff';
let tgt: NvmeTarget;
let port = 0;
const clients: RawClient[] = [];

async function open(): Promise<RawClient> {
  const c = await RawClient.open(port);
  clients.push(c);
  return c;
}

before(async () => {
  tgt = new NvmeTarget({
    subsystems: [
      {
        nqn: NQN,
        version: '1.3',
        cntlidMin: 100,
        cntlidMax: 101,
        qidMax: 2,
        namespaces: [{ backend: { kind: 'ram', size: 1 << 20 }, uuid: UUID, nguid: NGUID }, { backend: { kind: 'ram', size: 1 << 20 } }],
      },
      { nqn: RO, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 }, readOnly: true }] },
    ],
  });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
});

after(async () => {
  for (const c of clients) c.close();
  await tgt.close();
});

test('parseNvmeVersion - major.minor[.tertiary] as VS encodes it; anything else is refused', () => {
  assert.equal(parseNvmeVersion('1.3'), 0x00010300);
  assert.equal(parseNvmeVersion('2.0'), 0x00020000);
  assert.equal(parseNvmeVersion('1.2.1'), 0x00010201);
  for (const bad of ['1', '1.300', 'v1.3', '0.9', '']) assert.throws(() => parseNvmeVersion(bad), /is not an NVMe version/);
});

test('subsystem attrs - version in VS and Identify VER, controller IDs from cntlidMin..cntlidMax, then Controller Busy', async () => {
  const a = await open();
  const id1 = await a.adminConnect(NQN);
  assert.equal(id1, 100);
  assert.equal((await a.propGet(Prop.VS)).dw0, 0x00010300);
  const id = parseIdentifyController((await a.identify(1)).data);
  assert.equal(id.ver, 0x00010300);
  assert.equal(id.cntlid, 100);
  const b = await open();
  assert.equal(await b.adminConnect(NQN), 101);
  const c = await open();
  const busy = await c.connectQueue({ qid: 0, subnqn: NQN });
  assert.equal(busy.status, 0x181);
  // Another subsystem keeps the default range.
  const d = await open();
  assert.equal(await d.adminConnect(RO), 1);
  // qidMax caps Number of Queues below the target's maxIoQueues (8).
  const nq = await a.exchange(buildSetFeaturesSqe({ cid: a.cid(), fid: FeatureId.NumQueues, dw11: 0x00070007 }));
  assert.equal(nq.cqe!.status, 0);
  assert.equal(nq.cqe!.dw0, 0x00010001);
});

test('namespace ids - the configured NGUID in Identify Namespace, NGUID and UUID in the descriptor list; derived ones without', async () => {
  // The shared target's two controller IDs of NQN are taken by the test above: a target of its own.
  const t = new NvmeTarget({
    subsystems: [
      {
        nqn: NQN,
        namespaces: [{ backend: { kind: 'ram', size: 1 << 20 }, uuid: UUID, nguid: NGUID }, { backend: { kind: 'ram', size: 1 << 20 } }],
      },
    ],
  });
  const { port: p } = await t.listen({ host: '127.0.0.1', port: 0 });
  const q = await RawClient.open(p);
  try {
    await q.adminConnect(NQN);
    assert.equal(parseIdentifyNamespace((await q.identify(0, 1)).data).nguid.toString('hex'), NGUID);
    const d1 = parseNsDescList((await q.identify(3, 1)).data);
    assert.equal(d1.nguid?.toString('hex'), NGUID);
    assert.equal(d1.uuid?.toString('hex'), UUID.replace(/-/g, ''));
    const d2 = parseNsDescList((await q.identify(3, 2)).data);
    assert.equal(d2.uuid, undefined);
    assert.equal(d2.nguid?.length, 16);
    assert.notEqual(d2.nguid?.toString('hex'), NGUID);
  } finally {
    q.close();
    await t.close();
  }
  assert.throws(
    () => new NvmeTarget({ subsystems: [{ nqn: NQN, namespaces: [{ backend: { kind: 'ram', size: 4096 }, uuid: 'xyz' }] }] }),
    /uuid: "xyz" is not 32 hex digits/,
  );
  assert.throws(
    () => new NvmeTarget({ subsystems: [{ nqn: NQN, cntlidMin: 10, cntlidMax: 5 }] }),
    /cntlidMax: 5 must be an integer in 10\.\.65519/,
  );
});

test('read-only namespace - NSATTR write protected; Write and Write Zeroes fail with Namespace Is Write Protected, Read works', async () => {
  const a = await open();
  const cntlid = await a.adminConnect(RO);
  assert.equal(parseIdentifyNamespace((await a.identify(0, 1)).data).nsattr & 1, 1);
  const q = await open();
  assert.equal((await q.connectQueue({ qid: 1, subnqn: RO, cntlid, sqsize: 31 })).status, 0);
  const w = await q.write(1, 0, Buffer.alloc(4096, 1), 512, true);
  assert.equal(w.cqe!.status, 0x4020);
  const w2 = await q.write(1, 0, Buffer.alloc(8192, 1), 512, false);
  assert.equal(w2.cqe!.status, 0x4020);
  const wz = await q.exchange(buildWriteZeroesSqe({ cid: q.cid(), nsid: 1, slba: 0, nlb: 8 }));
  assert.equal(wz.cqe!.status, 0x4020);
  const r = await q.read(1, 0, 8, 512);
  assert.equal(r.cqe!.status, 0);
  assert.deepEqual(r.data, Buffer.alloc(4096));
});
