import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { buildIdentifySqe } from '../../src/protocol/admin.ts';
import { OFF, Prop } from '../../src/protocol/constants.ts';
import { buildConnectSqe, encodeConnectData } from '../../src/protocol/fabrics.ts';
import { type ControllerInfo, NvmeTarget } from '../../src/target/index.ts';
import { HOSTID, HOSTNQN, RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:connect';
const LOCKED = 'nqn.2024-01.io.nvmeotcp:locked';
const ALLOWED_HOST = 'nqn.2024-01.io.nvmeotcp:host-a';

let tgt: NvmeTarget;
let port: number;

before(async () => {
  tgt = new NvmeTarget({
    subsystems: [
      { nqn: NQN, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] },
      { nqn: LOCKED, allowedHosts: [ALLOWED_HOST], namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] },
    ],
    maxIoQueues: 2,
    mqes: 63,
    maxH2CData: 65536,
  });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
});

after(async () => {
  await tgt.close();
});

test('target ICResp - PFV 0, CPDA 0, MAXH2CDATA from the options, digest bits echoed', async () => {
  for (const [hdgst, ddgst] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    const c = await RawClient.connect(port);
    const r = await c.icreq({ hdgst, ddgst });
    assert.equal(r.plen, 128);
    assert.equal(r.hlen, 128);
    assert.equal(r.pfv, 0);
    assert.equal(r.cpda, 0);
    assert.equal(r.dgst, (hdgst ? 1 : 0) | (ddgst ? 2 : 0));
    assert.equal(r.maxh2cdata, 65536);
    c.close();
  }
});

test('target connect - admin queue gets a dynamic CNTLID in DW0 and a connect event', async () => {
  const c = await RawClient.open(port);
  const ev = once(tgt, 'connect');
  const cqe = await c.connectQueue({ qid: 0, subnqn: NQN, kato: 0 });
  assert.equal(cqe.status, 0);
  const cntlid = cqe.dw0;
  assert.ok(cntlid >= 1 && cntlid <= 0xffef);
  assert.equal(cqe.sqid, 0);
  const [info] = (await ev) as [ControllerInfo];
  assert.equal(info.cntlid, cntlid);
  assert.equal(info.subnqn, NQN);
  assert.equal(info.hostnqn, HOSTNQN);
  assert.equal(info.hostid, HOSTID.toString('hex'));
  // A second controller gets another CNTLID.
  const c2 = await RawClient.open(port);
  const cqe2 = await c2.connectQueue({ qid: 0, subnqn: NQN });
  assert.equal(cqe2.status, 0);
  assert.notEqual(cqe2.dw0, cntlid);
  const gone = once(tgt, 'disconnect');
  c.close();
  const [d] = (await gone) as [ControllerInfo];
  assert.equal(d.cntlid, cntlid);
  assert.equal(d.reason, 'admin queue closed');
  c2.close();
});

test('target properties - CAP (8 bytes), VS, CC.EN sets CSTS.RDY, CC.SHN gives SHST complete', async () => {
  const c = await RawClient.open(port);
  await c.connectQueue({ qid: 0, subnqn: NQN });
  const cap = await c.propGet(Prop.CAP, true);
  assert.equal(cap.status, 0);
  assert.equal(cap.dw0 & 0xffff, 63); // MQES
  assert.equal((cap.dw0 >>> 24) & 0xff, 15); // TO
  assert.equal(cap.dw1 & (1 << 5), 1 << 5); // CSS: NVM command set (bit 37)
  assert.equal((cap.dw1 >>> 16) & 0xf, 0); // MPSMIN
  assert.equal((await c.propGet(Prop.VS)).dw0, 0x00020000);
  assert.equal((await c.propGet(Prop.CSTS)).dw0, 0);
  assert.equal((await c.propSet(Prop.CC, 0x00460000)).status, 0);
  assert.equal((await c.propGet(Prop.CSTS)).dw0, 0);
  await c.propSet(Prop.CC, 0x00460001);
  assert.equal((await c.propGet(Prop.CC)).dw0, 0x00460001);
  assert.equal((await c.propGet(Prop.CSTS)).dw0, 0x1);
  await c.propSet(Prop.CC, 0x00464001); // SHN = normal shutdown
  assert.equal((await c.propGet(Prop.CSTS)).dw0, 0x1 | 0x8);
  c.close();
});

test('target properties - wrong size or unknown offset is INVALID_FIELD with DNR', async () => {
  const c = await RawClient.open(port);
  await c.connectQueue({ qid: 0, subnqn: NQN });
  assert.equal((await c.propGet(Prop.CAP, false)).status, 0x4002);
  assert.equal((await c.propGet(Prop.VS, true)).status, 0x4002);
  assert.equal((await c.propSet(Prop.CC, 0x00460001, true)).status, 0x4002);
  assert.equal((await c.propSet(Prop.CSTS, 1)).status, 0x4002);
  assert.equal((await c.propGet(0x40)).status, 0x4002);
  // Nothing was enabled by the rejected 8-byte set.
  assert.equal((await c.propGet(Prop.CSTS)).dw0, 0);
  c.close();
});

test('target properties - bad IOSQES on enable sets CSTS.CFS, not RDY', async () => {
  const c = await RawClient.open(port);
  await c.connectQueue({ qid: 0, subnqn: NQN });
  await c.propSet(Prop.CC, 0x00470001);
  assert.equal((await c.propGet(Prop.CSTS)).dw0, 0x2);
  c.close();
});

test('target commands - before Connect and before CC.EN they fail with CMD_SEQ_ERROR', async () => {
  const c = await RawClient.open(port);
  const r = await c.exchange(buildIdentifySqe({ cid: c.cid(), cns: 1 }));
  assert.equal(r.cqe!.status, 0x400c);
  assert.equal(r.data.length, 0);
  await c.connectQueue({ qid: 0, subnqn: NQN });
  const r2 = await c.exchange(buildIdentifySqe({ cid: c.cid(), cns: 1 }));
  assert.equal(r2.cqe!.status, 0x400c);
  // A second Connect on a connected queue is a sequence error too.
  assert.equal((await c.connectQueue({ qid: 0, subnqn: NQN })).status, 0x400c);
  c.close();
});

test('target connect - parameter checks answer SCT 1 SC 0x82 with IPO/IATTR in DW0', async () => {
  const c = await RawClient.open(port);
  const unknown = await c.connectQueue({ qid: 0, subnqn: 'nqn.2024-01.io.nvmeotcp:nope' });
  assert.equal(unknown.status, 0x4182);
  assert.equal(unknown.dw0, 256 | (1 << 16));
  const cntlid = await c.connectQueue({ qid: 0, subnqn: NQN, cntlid: 5 });
  assert.equal(cntlid.status, 0x4182);
  assert.equal(cntlid.dw0, 16 | (1 << 16));
  const sq0 = await c.connectQueue({ qid: 0, subnqn: NQN, sqsize: 0 });
  assert.equal(sq0.status, 0x4182);
  assert.equal(sq0.dw0, 44);
  const sqBig = await c.connectQueue({ qid: 0, subnqn: NQN, sqsize: 64 });
  assert.equal(sqBig.status, 0x4182);
  assert.equal(sqBig.dw0, 44);
  // RECFMT != 0: Incompatible Format.
  const sqe = buildConnectSqe({ cid: c.cid(), qid: 0, sqsize: 31, kato: 0 });
  sqe.writeUInt16LE(1, 40);
  const data = encodeConnectData({ hostid: HOSTID, cntlid: 0xffff, subnqn: NQN, hostnqn: HOSTNQN });
  assert.equal((await c.exchange(sqe, { icd: data })).cqe!.status, 0x4180);
  // The queue is still unconnected and usable.
  assert.equal((await c.connectQueue({ qid: 0, subnqn: NQN })).status, 0);
  c.close();
});

test('target connect - I/O queue checks: CNTLID, QID within the granted queues, duplicate QID, SQSIZE', async () => {
  const a = await RawClient.open(port);
  const cntlid = await a.adminConnect(NQN);
  const q = await RawClient.open(port);
  const bad = await q.connectQueue({ qid: 1, subnqn: NQN, cntlid: (cntlid + 100) & 0xffff });
  assert.equal(bad.status, 0x4182);
  assert.equal(bad.dw0, 16 | (1 << 16));
  const qid3 = await q.connectQueue({ qid: 3, subnqn: NQN, cntlid });
  assert.equal(qid3.status, 0x4182);
  assert.equal(qid3.dw0, 42);
  const big = await q.connectQueue({ qid: 1, subnqn: NQN, cntlid, sqsize: 64 });
  assert.equal(big.status, 0x4182);
  assert.equal(big.dw0, 44);
  const ok = await q.connectQueue({ qid: 1, subnqn: NQN, cntlid, sqsize: 63 });
  assert.equal(ok.status, 0);
  assert.equal(ok.sqid, 1);
  const q2 = await RawClient.open(port);
  const dup = await q2.connectQueue({ qid: 1, subnqn: NQN, cntlid });
  assert.equal(dup.status, 0x4182);
  assert.equal(dup.dw0, 42);
  a.close();
  q.close();
  q2.close();
});

// Regression test: a host that claimed another host's NQN (or kept the NQN with another
// HOSTID) could attach I/O queues to that host's live controller by guessing its CNTLID.
test("target connect - an I/O queue must name its controller's HOSTNQN and HOSTID: else Connect Invalid Host", async (t) => {
  const a = await RawClient.open(port);
  t.after(() => a.close());
  const cntlid = await a.adminConnect(NQN);
  const q = await RawClient.open(port);
  t.after(() => q.close());
  const otherNqn = await q.connectQueue({ qid: 1, subnqn: NQN, cntlid, hostnqn: ALLOWED_HOST });
  assert.equal(otherNqn.status, 0x4184);
  assert.equal(otherNqn.dw0, 512 | (1 << 16), 'DW0 names HOSTNQN in the connect data');
  const otherId = Buffer.from(HOSTID);
  otherId[15] ^= 0xff;
  const wrongId = await q.connectQueue({ qid: 1, subnqn: NQN, cntlid, hostid: otherId });
  assert.equal(wrongId.status, 0x4184);
  assert.equal(wrongId.dw0, 0 | (1 << 16), 'DW0 names HOSTID in the connect data');
  // The queue is still unconnected: the right host's Connect on it succeeds.
  const ok = await q.connectQueue({ qid: 1, subnqn: NQN, cntlid });
  assert.equal(ok.status, 0);
});

test('target connect - I/O queue before CC.EN is a sequence error', async () => {
  const a = await RawClient.open(port);
  const cqe = await a.connectQueue({ qid: 0, subnqn: NQN });
  const q = await RawClient.open(port);
  assert.equal((await q.connectQueue({ qid: 1, subnqn: NQN, cntlid: cqe.dw0 })).status, 0x400c);
  a.close();
  q.close();
});

test('target connect - host allow-list: other hosts get Connect Invalid Host (SC 0x84)', async () => {
  const c = await RawClient.open(port);
  const no = await c.connectQueue({ qid: 0, subnqn: LOCKED });
  assert.equal(no.status, 0x4184);
  assert.equal(no.dw0, 512 | (1 << 16));
  const yes = await c.connectQueue({ qid: 0, subnqn: LOCKED, hostnqn: ALLOWED_HOST });
  assert.equal(yes.status, 0);
  c.close();
});

test('target connect - Connect data fetched with an R2T when not in the capsule', async () => {
  const c = await RawClient.open(port);
  const sqe = buildConnectSqe({ cid: c.cid(), qid: 0, sqsize: 31, kato: 0 });
  sqe[39] = 0x5a; // transport data block: the target asks for the data
  const data = encodeConnectData({ hostid: HOSTID, cntlid: 0xffff, subnqn: NQN, hostnqn: HOSTNQN });
  const r = await c.exchange(sqe, { writeData: data });
  assert.equal(r.r2t.length, 1);
  const h = r.r2t[0].raw;
  assert.equal(h.readUInt32LE(OFF.R2TO), 0);
  assert.equal(h.readUInt32LE(OFF.R2TL), 1024);
  assert.equal(r.cqe!.status, 0);
  c.close();
});
