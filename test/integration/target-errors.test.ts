// Bad input from a host: each case gets its documented reaction (C2HTermReq with
// FES/FEI and a copy of the bad header, then close; or a failed command with the
// queue kept), and meanwhile another connection keeps working.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildFlushSqe, buildRwSqe, buildSetFeaturesSqe } from '../../src/protocol/admin.ts';
import { Fes, IoOpc, OFF, PduType, SglType } from '../../src/protocol/constants.ts';
import { encodeIcReq, encodeTermReq } from '../../src/protocol/pdu.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { encodeCapsuleCmd, encodeDataHeader } from '../helpers/pdu-encode.ts';
import { RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:errors';

let tgt: NvmeTarget;
let port: number;
let admin: RawClient;
let cntlid: number;
let other: RawClient;
let nextQid = 1;
let round = 0;

before(async () => {
  tgt = new NvmeTarget({
    subsystems: [{ nqn: NQN, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] }],
    inCapsuleDataSize: 8192,
    maxH2CData: 16384,
    maxIoQueues: 64,
  });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
  admin = await RawClient.open(port);
  cntlid = await admin.adminConnect(NQN);
  other = await ioQueue();
});

after(async () => {
  admin.close();
  other.close();
  await tgt.close();
});

async function ioQueue(opts: { hdgst?: boolean; ddgst?: boolean } = {}): Promise<RawClient> {
  const q = await RawClient.open(port, opts);
  const cqe = await q.connectQueue({ qid: nextQid++, subnqn: NQN, cntlid, sqsize: 31 });
  assert.equal(cqe.status, 0);
  return q;
}

/** The connection got a C2HTermReq with this FES/FEI and error data `hdr`, then closed. */
async function expectTerm(c: RawClient, fes: number, fei: number, hdr: Buffer): Promise<void> {
  const p = await c.nextPdu();
  assert.ok(p !== undefined, 'expected a C2HTermReq, the connection closed');
  assert.equal(p.hdr.type, PduType.C2HTermReq);
  assert.equal(p.raw.readUInt16LE(OFF.FES), fes);
  assert.equal(p.raw.readUInt32LE(OFF.FEI), fei);
  assert.equal(p.raw[OFF.HLEN], 24);
  assert.equal(p.raw[OFF.FLAGS], 0);
  assert.deepEqual(p.data, hdr);
  assert.equal(await c.nextPdu(), undefined);
  await c.closed;
}

/** The other connection still reads and writes. */
async function otherStillWorks(): Promise<void> {
  const data = Buffer.alloc(4096, ++round);
  assert.equal((await other.write(1, round * 8, data, 512, false)).cqe!.status, 0);
  assert.deepEqual((await other.read(1, round * 8, 8, 512)).data, data);
}

function h2c(c: RawClient, cccid: number, ttag: number, datao: number, data: Buffer): Buffer[] {
  return c.h2cData(cccid, ttag, datao, data, true);
}

test('target ICReq - PFV != 0: FES 1, FEI 8 (PFV)', async () => {
  const c = await RawClient.connect(port);
  const ic = encodeIcReq({ pfv: 1 });
  c.send(ic);
  await expectTerm(c, Fes.InvalidHeaderField, 8, ic);
  await otherStillWorks();
});

test('target ICReq - HPDA above 31: FES 1, FEI 10 (HPDA)', async () => {
  const c = await RawClient.connect(port);
  const ic = encodeIcReq({ hpda: 32 });
  c.send(ic);
  await expectTerm(c, Fes.InvalidHeaderField, 10, ic);
  await otherStillWorks();
});

test('target ICReq - a second ICReq is a PDU sequence error (FES 2)', async () => {
  const c = await RawClient.open(port);
  const ic = encodeIcReq({});
  c.send(ic);
  // Detected at the common header: the error data is the 8 bytes read so far.
  await expectTerm(c, Fes.PduSequenceError, 0, ic.subarray(0, 8));
  await otherStillWorks();
});

test('target PDU - a CapsuleCmd before ICReq is a PDU sequence error (FES 2)', async () => {
  const c = await RawClient.connect(port);
  const cap = encodeCapsuleCmd(buildFlushSqe({ cid: 1, nsid: 1 }), 0, { hdgst: false, ddgst: false });
  c.send(cap);
  await expectTerm(c, Fes.PduSequenceError, 0, cap.subarray(0, 8));
  await otherStillWorks();
});

test('target PDU - bad HLEN: FES 1, FEI 2', async () => {
  const c = await ioQueue();
  const cap = encodeCapsuleCmd(buildFlushSqe({ cid: 1, nsid: 1 }), 0, { hdgst: false, ddgst: false });
  cap[OFF.HLEN] = 80;
  c.send(cap);
  await expectTerm(c, Fes.InvalidHeaderField, OFF.HLEN, cap.subarray(0, 8));
  await otherStillWorks();
});

test('target PDU - a controller-to-host PDU type from the host: FES 1, FEI 0', async () => {
  const c = await ioQueue();
  const h = encodeDataHeader(PduType.C2HData, { cccid: 1, datao: 0, datal: 4 }, { hdgst: false, ddgst: false });
  c.send(h, Buffer.alloc(4));
  await expectTerm(c, Fes.InvalidHeaderField, OFF.TYPE, h.subarray(0, 8));
  await otherStillWorks();
});

test('target PDU - header digest mismatch: FES 3', async () => {
  const c = await ioQueue({ hdgst: true });
  const cap = encodeCapsuleCmd(buildFlushSqe({ cid: 1, nsid: 1 }), 0, { hdgst: true, ddgst: false });
  cap[72] ^= 0xff;
  c.send(cap);
  await expectTerm(c, Fes.HeaderDigestError, 0, cap.subarray(0, 72));
  await otherStillWorks();
});

/** Starts a 8 KiB write through R2T; returns the R2T's TTAG. */
async function startR2tWrite(c: RawClient, cid: number): Promise<number> {
  const sqe = buildRwSqe({ cid, opc: IoOpc.Write, nsid: 1, slba: 0, nlb: 16, len: 8192, inCapsule: false });
  c.send(...c.capsule(sqe));
  const p = await c.nextPdu();
  assert.equal(p?.hdr.type, PduType.R2T);
  return p.raw.readUInt16LE(OFF.TTAG);
}

test('target H2CData - DATAO other than the bytes received so far: FES 4', async () => {
  const c = await ioQueue();
  const ttag = await startR2tWrite(c, 5);
  const pdu = h2c(c, 5, ttag, 512, Buffer.alloc(512));
  c.send(...pdu);
  await expectTerm(c, Fes.DataOutOfRange, 0, pdu[0]);
  await otherStillWorks();
});

test('target H2CData - data beyond the command length: FES 4', async () => {
  const c = await ioQueue();
  const ttag = await startR2tWrite(c, 6);
  c.send(...h2c(c, 6, ttag, 0, Buffer.alloc(4096)));
  const pdu = h2c(c, 6, ttag, 4096, Buffer.alloc(8192));
  c.send(...pdu);
  await expectTerm(c, Fes.DataOutOfRange, 0, pdu[0]);
  await otherStillWorks();
});

test('target H2CData - TTAG without an R2T: FES 1 at TTAG; TTAG out of range: FES 2', async () => {
  const c = await ioQueue();
  const data = Buffer.alloc(4096, 1);
  assert.equal((await c.write(1, 0, data, 512, false)).cqe!.status, 0); // slot 0 now exists, idle
  const pdu = h2c(c, 9, 0, 0, data);
  c.send(...pdu);
  await expectTerm(c, Fes.InvalidHeaderField, OFF.TTAG, pdu[0]);
  const c2 = await ioQueue();
  const pdu2 = h2c(c2, 9, 500, 0, data);
  c2.send(...pdu2);
  await expectTerm(c2, Fes.PduSequenceError, 0, pdu2[0]);
  await otherStillWorks();
});

test('target CapsuleCmd - in-capsule length differs from the SGL: FES 1 at PLEN', async () => {
  const c = await ioQueue();
  const sqe = buildRwSqe({ cid: 3, opc: IoOpc.Write, nsid: 1, slba: 0, nlb: 8, len: 4096, inCapsule: true });
  const parts = c.capsule(sqe, Buffer.alloc(2048));
  c.send(...parts);
  await expectTerm(c, Fes.InvalidHeaderField, OFF.PLEN, parts[0]);
  await otherStillWorks();
});

test('target CapsuleCmd - in-capsule data above IOCCSZ: FES 5', async () => {
  const c = await ioQueue();
  const sqe = buildRwSqe({ cid: 3, opc: IoOpc.Write, nsid: 1, slba: 0, nlb: 24, len: 12288, inCapsule: true });
  const parts = c.capsule(sqe, Buffer.alloc(12288));
  c.send(...parts);
  await expectTerm(c, Fes.DataLimitExceeded, 0, parts[0]);
  await otherStillWorks();
});

test('target data digest - bad DDGST on H2CData fails the command (SC 0x22) and keeps the queue', async () => {
  const c = await ioQueue({ ddgst: true });
  const before = Buffer.from(tgt.namespaceBytes(NQN, 1, 0, 8192));
  const ttag = await startR2tWrite(c, 7);
  const first = c.h2cData(7, ttag, 0, Buffer.alloc(4096, 0xee), false);
  first[2] = Buffer.from([1, 2, 3, 4]); // wrong digest
  c.send(...first, ...c.h2cData(7, ttag, 4096, Buffer.alloc(4096, 0xee), true));
  const p = await c.nextPdu();
  assert.equal(p?.hdr.type, PduType.CapsuleResp);
  assert.equal(p.raw.readUInt16LE(8 + 14) >> 1, 0x22);
  assert.deepEqual(tgt.namespaceBytes(NQN, 1, 0, 8192), before);
  // Same queue, next command: fine.
  const data = Buffer.alloc(4096, 0x5a);
  assert.equal((await c.write(1, 64, data, 512, false)).cqe!.status, 0);
  assert.deepEqual((await c.read(1, 64, 8, 512)).data, data);
  c.close();
});

test('target data digest - bad DDGST on in-capsule data fails the command (SC 0x22)', async () => {
  const c = await ioQueue({ ddgst: true });
  const sqe = buildRwSqe({ cid: 8, opc: IoOpc.Write, nsid: 1, slba: 128, nlb: 8, len: 4096, inCapsule: true });
  const parts = c.capsule(sqe, Buffer.alloc(4096, 0x11));
  parts[2] = Buffer.from([9, 9, 9, 9]);
  c.send(...parts);
  const p = await c.nextPdu();
  assert.equal(p?.hdr.type, PduType.CapsuleResp);
  assert.equal(p.raw.readUInt16LE(8 + 14) >> 1, 0x22);
  assert.deepEqual(tgt.namespaceBytes(NQN, 1, 128 * 512, 4096), Buffer.alloc(4096));
  assert.equal((await c.exchange(buildFlushSqe({ cid: c.cid(), nsid: 1 }))).cqe!.status, 0);
  c.close();
});

test('target H2CTermReq - the target closes the connection without answering', async () => {
  const c = await ioQueue();
  c.send(encodeTermReq(PduType.H2CTermReq, Fes.InvalidHeaderField, 0));
  assert.equal(await c.nextPdu(), undefined);
  await c.closed;
  await otherStillWorks();
});

test('target PDU - a valid PDU right after a bad one gets no answer (receive stops at the first error)', async () => {
  const c = await ioQueue();
  const cap = encodeCapsuleCmd(buildFlushSqe({ cid: 1, nsid: 1 }), 0, { hdgst: false, ddgst: false });
  cap[OFF.HLEN] = 16;
  const good = encodeCapsuleCmd(buildFlushSqe({ cid: 2, nsid: 1 }), 0, { hdgst: false, ddgst: false });
  c.send(cap, good);
  await expectTerm(c, Fes.InvalidHeaderField, OFF.HLEN, cap.subarray(0, 8));
  await otherStillWorks();
});

test('target H2CData - DATAL above MAXH2CDATA: FES 5', async () => {
  const c = await ioQueue();
  const sqe = buildRwSqe({ cid: 4, opc: IoOpc.Write, nsid: 1, slba: 0, nlb: 64, len: 32768, inCapsule: false });
  c.send(...c.capsule(sqe));
  const r2t = await c.nextPdu();
  assert.equal(r2t?.hdr.type, PduType.R2T);
  const pdu = h2c(c, 4, r2t.raw.readUInt16LE(OFF.TTAG), 0, Buffer.alloc(32768));
  c.send(...pdu);
  // PLEN gives it away at the common header.
  await expectTerm(c, Fes.DataLimitExceeded, 0, pdu[0].subarray(0, 8));
  await otherStillWorks();
});

test('target CapsuleCmd - the admin queue takes 8 KiB of in-capsule data, not more', async () => {
  const c = await RawClient.open(port);
  await c.adminConnect(NQN);
  // Set Features with an 8 KiB payload for a feature this target does not have: a status, no error.
  const sqe = buildSetFeaturesSqe({ cid: c.cid(), fid: 0x16, dw11: 0 });
  sqe[39] = SglType.InCapsuleOffset;
  sqe.writeUInt32LE(8192, 32);
  assert.equal((await c.exchange(sqe, { icd: Buffer.alloc(8192) })).cqe!.status, 0x4002);
  const big = buildSetFeaturesSqe({ cid: c.cid(), fid: 0x16, dw11: 0 });
  big[39] = SglType.InCapsuleOffset;
  big.writeUInt32LE(8196, 32);
  const parts = c.capsule(big, Buffer.alloc(8196));
  c.send(...parts);
  await expectTerm(c, Fes.DataLimitExceeded, 0, parts[0]);
  await otherStillWorks();
});

test('target CapsuleCmd - in-capsule data on a read is INVALID_FIELD, the queue goes on', async () => {
  const c = await ioQueue();
  const sqe = buildRwSqe({ cid: 11, opc: IoOpc.Read, nsid: 1, slba: 0, nlb: 1, len: 512, inCapsule: false });
  sqe[39] = SglType.InCapsuleOffset;
  const r = await c.exchange(sqe, { icd: Buffer.alloc(512) });
  assert.equal(r.cqe!.status, 0x4002);
  assert.equal(r.c2h.length, 0);
  assert.equal((await c.exchange(buildFlushSqe({ cid: c.cid(), nsid: 1 }))).cqe!.status, 0);
  c.close();
});

// Regression test: a host could keep any number of commands outstanding (and so make
// the target hold their data buffers), far beyond the queue size it connected with.
test('target CapsuleCmd - more commands outstanding than SQSIZE+1: FES 2 (PDU sequence error)', async () => {
  const c = await ioQueue(); // sqsize 31: 32 commands may be outstanding
  for (let cid = 1; cid <= 32; cid++) await startR2tWrite(c, cid); // each waits for its data
  const sqe = buildRwSqe({ cid: 33, opc: IoOpc.Write, nsid: 1, slba: 0, nlb: 16, len: 8192, inCapsule: false });
  const parts = c.capsule(sqe);
  c.send(...parts);
  await expectTerm(c, Fes.PduSequenceError, 0, parts[0]!.subarray(0, 72));
  await otherStillWorks();
});

test('target CapsuleCmd - completions make room: 32 outstanding, one completes, one more is accepted', async () => {
  const c = await ioQueue();
  const ttags: number[] = [];
  for (let cid = 1; cid <= 32; cid++) ttags.push(await startR2tWrite(c, cid));
  c.send(...c.h2cData(1, ttags[0]!, 0, Buffer.alloc(8192, 1), true));
  const done = await c.nextPdu();
  assert.equal(done?.hdr.type, PduType.CapsuleResp);
  await startR2tWrite(c, 40);
  c.close();
  await otherStillWorks();
});
