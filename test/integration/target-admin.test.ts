import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  buildAerSqe,
  buildGetFeaturesSqe,
  buildGetLogPageSqe,
  buildIdentifySqe,
  buildKeepAliveSqe,
  buildSetFeaturesSqe,
} from '../../src/protocol/admin.ts';
import { FeatureId, LogId } from '../../src/protocol/constants.ts';
import {
  lbaSizeOf,
  parseActiveNsList,
  parseIdentifyController,
  parseIdentifyNamespace,
  parseIdentifyNsIndep,
  parseNsDescList,
} from '../../src/protocol/identify.ts';
import { buildSqe } from '../../src/protocol/sqe.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:admin';

let tgt: NvmeTarget;
let port: number;
let a: RawClient;
let cntlid: number;

before(async () => {
  tgt = new NvmeTarget({
    subsystems: [
      {
        nqn: NQN,
        serial: 'SN-ADMIN-1',
        model: 'test model',
        namespaces: [
          { nsid: 1, backend: { kind: 'ram', size: 8 << 20 } },
          { nsid: 3, backend: { kind: 'ram', size: 4 << 20 }, lbaSize: 4096 },
        ],
      },
    ],
    inCapsuleDataSize: 8192,
    mdts: 5,
    maxIoQueues: 4,
    aerl: 1,
  });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
  a = await RawClient.open(port);
  // A KATO far beyond this file's running time on any machine: `a` sends Keep Alive only when a test says so.
  cntlid = await a.adminConnect(NQN, { kato: 3_600_000 });
});

after(async () => {
  a.close();
  await tgt.close();
});

test('target identify - controller (CNS 1) fields the Linux host checks', async () => {
  const r = await a.identify(1);
  assert.equal(r.cqe!.status, 0);
  assert.equal(r.data.length, 4096);
  const id = parseIdentifyController(r.data);
  assert.equal(id.cntlid, cntlid);
  assert.equal(id.subnqn, NQN);
  assert.equal(id.sn, 'SN-ADMIN-1');
  assert.equal(id.mn, 'test model');
  assert.equal(id.ver, 0x00020000);
  assert.equal(id.cntrltype, 1);
  assert.ok(id.kas > 0);
  assert.equal(id.ioccsz, (8192 + 64) / 16);
  assert.equal(id.iorcsz, 1);
  assert.equal(id.icdoff, 0);
  assert.equal(id.sgls & 3, 1);
  assert.equal(id.mdts, 5);
  assert.equal(id.sqes, 0x66);
  assert.equal(id.cqes, 0x44);
  assert.equal(id.nn, 3);
  assert.equal(id.oncs & 0x0c, 0x0c);
  assert.equal(id.vwc & 1, 1);
  assert.equal(id.cmic & 0x0a, 0x02); // multi-controller, no ANA
  assert.equal(id.aerl, 1);
  assert.equal(id.lpa & 0x02, 0x02);
});

test('target identify - namespace (CNS 0) with 512 and 4096 byte blocks, inactive NSID is zeros', async () => {
  const r1 = await a.identify(0, 1);
  const ns1 = parseIdentifyNamespace(r1.data);
  assert.equal(ns1.nsze, (8 << 20) / 512);
  assert.equal(ns1.ncap, ns1.nsze);
  assert.equal(lbaSizeOf(ns1), 512);
  assert.equal(ns1.lbaf[0].ms, 0);
  const ns3 = parseIdentifyNamespace((await a.identify(0, 3)).data);
  assert.equal(ns3.nsze, (4 << 20) / 4096);
  assert.equal(lbaSizeOf(ns3), 4096);
  assert.notDeepEqual(ns1.nguid, ns3.nguid);
  const inactive = await a.identify(0, 2);
  assert.equal(inactive.cqe!.status, 0);
  assert.deepEqual(inactive.data, Buffer.alloc(4096));
  assert.equal((await a.identify(0, 4)).cqe!.status, 0x400b);
});

test('target identify - active NS list (CNS 2), descriptors (CNS 3), CNS 5/6 zeros, CNS 8 ready', async () => {
  assert.deepEqual(parseActiveNsList((await a.identify(2, 0)).data), [1, 3]);
  assert.deepEqual(parseActiveNsList((await a.identify(2, 1)).data), [3]);
  assert.deepEqual(parseActiveNsList((await a.identify(2, 3)).data), []);
  assert.equal((await a.identify(2, 0xfffffffe)).cqe!.status, 0x400b);
  const ns1 = parseIdentifyNamespace((await a.identify(0, 1)).data);
  const desc = parseNsDescList((await a.identify(3, 1)).data);
  assert.deepEqual(desc.nguid, ns1.nguid);
  assert.deepEqual(desc.eui64, ns1.eui64);
  assert.equal(desc.csi, 0);
  assert.equal((await a.identify(3, 2)).cqe!.status, 0x400b);
  const cns5 = await a.identify(5, 1, 0);
  assert.equal(cns5.cqe!.status, 0);
  assert.deepEqual(cns5.data, Buffer.alloc(4096));
  const cns6 = await a.identify(6, 0, 0);
  assert.deepEqual(cns6.data, Buffer.alloc(4096));
  assert.equal((await a.identify(6, 0, 2)).cqe!.status, 0x4002);
  const indep = parseIdentifyNsIndep((await a.identify(8, 3)).data);
  assert.equal(indep.nstat & 1, 1);
  assert.equal((await a.identify(0x1f, 0)).cqe!.status, 0x4002);
});

test('target identify - a shorter SGL gets only that many bytes', async () => {
  const sqe = buildIdentifySqe({ cid: a.cid(), cns: 1 });
  sqe.writeUInt32LE(512, 32);
  const r = await a.exchange(sqe);
  assert.equal(r.cqe!.status, 0);
  assert.equal(r.data.length, 512);
  assert.equal(r.data.readUInt16LE(78), cntlid);
});

test('target features - number of queues, async event config, keep-alive timer, volatile write cache, temperature threshold', async () => {
  const nq = await a.exchange(buildSetFeaturesSqe({ cid: a.cid(), fid: FeatureId.NumQueues, dw11: (7 << 16) | 7 }));
  assert.equal(nq.cqe!.status, 0);
  assert.equal(nq.cqe!.dw0, (3 << 16) | 3);
  assert.equal((await a.exchange(buildGetFeaturesSqe({ cid: a.cid(), fid: FeatureId.NumQueues }))).cqe!.dw0, (3 << 16) | 3);
  const bad = await a.exchange(buildSetFeaturesSqe({ cid: a.cid(), fid: FeatureId.NumQueues, dw11: 0xffff }));
  assert.equal(bad.cqe!.status, 0x4002);
  await a.exchange(buildSetFeaturesSqe({ cid: a.cid(), fid: FeatureId.AsyncEventConfig, dw11: 0x100 }));
  assert.equal((await a.exchange(buildGetFeaturesSqe({ cid: a.cid(), fid: FeatureId.AsyncEventConfig }))).cqe!.dw0, 0x100);
  assert.equal((await a.exchange(buildGetFeaturesSqe({ cid: a.cid(), fid: FeatureId.KeepAliveTimer }))).cqe!.dw0, 3_600_000);
  await a.exchange(buildSetFeaturesSqe({ cid: a.cid(), fid: FeatureId.KeepAliveTimer, dw11: 7_200_000 }));
  assert.equal((await a.exchange(buildGetFeaturesSqe({ cid: a.cid(), fid: FeatureId.KeepAliveTimer }))).cqe!.dw0, 7_200_000);
  assert.equal((await a.exchange(buildGetFeaturesSqe({ cid: a.cid(), fid: FeatureId.VolatileWriteCache }))).cqe!.dw0, 1);
  await a.exchange(buildSetFeaturesSqe({ cid: a.cid(), fid: FeatureId.TempThreshold, dw11: 350 }));
  assert.equal((await a.exchange(buildGetFeaturesSqe({ cid: a.cid(), fid: FeatureId.TempThreshold }))).cqe!.dw0, 350);
  const unknown = await a.exchange(buildGetFeaturesSqe({ cid: a.cid(), fid: FeatureId.Arbitration }));
  assert.equal(unknown.cqe!.status, 0x4002);
});

test('target admin - Keep Alive succeeds, unknown opcode is INVALID_OPCODE with DNR', async () => {
  assert.equal((await a.exchange(buildKeepAliveSqe(a.cid()))).cqe!.status, 0);
  assert.equal((await a.exchange(buildSqe({ opc: 0x80, cid: a.cid() }))).cqe!.status, 0x4001);
  // Create I/O SQ makes no sense on fabrics.
  assert.equal((await a.exchange(buildSqe({ opc: 0x01, cid: a.cid() }))).cqe!.status, 0x4001);
});

test('target logs - SMART is 512 bytes, firmware slot log, effects log marks write as LBA-changing, windows honour the offset', async () => {
  const smart = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), nsid: 0xffffffff, lid: LogId.Smart, len: 512 }));
  assert.equal(smart.cqe!.status, 0);
  assert.equal(smart.data.length, 512);
  assert.equal(smart.data[3], 100); // available spare
  assert.ok(smart.data.readUInt16LE(1) > 273);
  const eff = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), lid: LogId.CmdEffects, len: 4096 }));
  assert.equal(eff.data.length, 4096);
  assert.equal(eff.data.readUInt32LE(0x06 * 4), 1); // identify supported
  assert.equal(eff.data.readUInt32LE(1024 + 0x01 * 4), 3); // write: CSUPP | LBCC
  assert.equal(eff.data.readUInt32LE(1024 + 0x02 * 4), 1); // read: CSUPP
  const win = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), lid: LogId.CmdEffects, len: 8, offset: 1024 + 4 }));
  assert.deepEqual(win.data, eff.data.subarray(1028, 1036));
  const err = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), lid: LogId.Error, len: 64 }));
  assert.deepEqual(err.data, Buffer.alloc(64));
  const past = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), lid: LogId.Smart, len: 4, offset: 512 }));
  assert.equal(past.cqe!.status, 0x4002);
  const sup = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), lid: 0x00, len: 1024 }));
  assert.deepEqual(
    [0, 1, 2, 3, 5, 0x70].map((lid) => sup.data.readUInt32LE(lid * 4)),
    [1, 1, 1, 1, 1, 0],
  );
  // Firmware slot log (nvme fw-log): slot 1 active, holding the Identify FR revision.
  const fw = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), lid: LogId.FwSlot, len: 512 }));
  assert.equal(fw.cqe!.status, 0);
  assert.equal(fw.data.length, 512);
  assert.equal(fw.data[0], 1);
  assert.equal(fw.data.toString('latin1', 8, 16), '0.1.0   ');
  assert.deepEqual(fw.data.subarray(16), Buffer.alloc(496));
  const unknown = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), lid: 0xc0, len: 4 }));
  assert.equal(unknown.cqe!.status, 0x4109);
});

test('target AER - held until an event; more than AERL+1 get AER Limit Exceeded', async () => {
  const c = await RawClient.open(port);
  await c.adminConnect(NQN);
  // AERL = 1: two may be outstanding; they get no answer.
  c.send(...c.capsule(buildAerSqe(31)), ...c.capsule(buildAerSqe(30)));
  const third = await c.exchange(buildAerSqe(29));
  assert.equal(third.cqe!.status, 0x4105);
  // The held AERs did not block other commands, and were not answered.
  assert.equal((await c.exchange(buildKeepAliveSqe(c.cid()))).cqe!.status, 0x401a);
  c.close();
});
