import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { buildKeepAliveSqe } from '../../src/protocol/admin.ts';
import { PduType } from '../../src/protocol/constants.ts';
import { parseCqe } from '../../src/protocol/sqe.ts';
import { type ControllerInfo, NvmeTarget } from '../../src/target/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:kato';

let tgt: NvmeTarget;
let port: number;

before(async () => {
  tgt = new NvmeTarget({ subsystems: [{ nqn: NQN, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] }] });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
});

after(async () => {
  await tgt.close();
});

test('target KATO - a silent host loses its controller: disconnect event, every queue closed', async (t) => {
  const a = await RawClient.open(port);
  t.after(() => a.close());
  const gone = once(tgt, 'disconnect');
  const cntlid = await a.adminConnect(NQN, { kato: 300 });
  const q = await RawClient.open(port);
  t.after(() => q.close());
  assert.equal((await q.connectQueue({ qid: 1, subnqn: NQN, cntlid })).status, 0);
  const [info] = (await gone) as [ControllerInfo];
  assert.equal(info.cntlid, cntlid);
  assert.equal(info.reason, 'keep-alive timeout');
  await a.closed;
  await q.closed;
  assert.equal(tgt.controllerCount, 0);
});

test('target KATO - Keep Alive commands keep a controller alive past its KATO while a silent one expires', async (t) => {
  // The live host has a KATO of 500 ms and sends a Keep Alive every 100 ms (a stall of
  // the process up to 400 ms is harmless); the silent one has 1500 ms and sends none.
  // When the silent controller expires, the live one has lived three times its KATO.
  const live = await RawClient.open(port);
  t.after(() => live.close());
  const liveId = await live.adminConnect(NQN, { kato: 500 });
  let sent = 0;
  const ka = setInterval(() => {
    live.send(...live.capsule(buildKeepAliveSqe(live.cid())));
    sent++;
  }, 100);
  t.after(() => clearInterval(ka));
  const silent = await RawClient.open(port);
  t.after(() => silent.close());
  const gone = once(tgt, 'disconnect');
  const silentId = await silent.adminConnect(NQN, { kato: 1500 });
  const [info] = (await gone) as [ControllerInfo];
  clearInterval(ka);
  assert.equal(info.cntlid, silentId, `the controller that expired (${info.reason}) is the silent one`);
  await silent.closed;
  assert.ok(sent > 0);
  for (let i = 0; i < sent; i++) {
    const p = await live.nextPdu();
    assert.equal(p?.hdr.type, PduType.CapsuleResp);
    assert.equal(parseCqe(p.hdr.cqe).status, 0);
  }
  const r = await live.identify(1);
  assert.equal(r.cqe!.status, 0);
  assert.equal(r.data.readUInt16LE(78), liveId);
});
