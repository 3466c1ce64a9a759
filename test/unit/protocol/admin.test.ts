import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildAerSqe,
  buildDsmSqe,
  buildFlushSqe,
  buildGetFeaturesSqe,
  buildGetLogPageSqe,
  buildIdentifySqe,
  buildKeepAliveSqe,
  buildRwSqe,
  buildSetFeaturesSqe,
  buildWriteZeroesSqe,
  DsmAttr,
  decodeDsmRanges,
  encodeDsmRanges,
  parseDsmSqe,
  parseFeaturesSqe,
  parseGetLogPage,
  parseIdentifySqe,
  parseRw,
} from '../../../src/protocol/admin.ts';
import { AdminOpc, Cns, FeatureId, IoOpc, LogId } from '../../../src/protocol/constants.ts';
import { InvalidArgumentError } from '../../../src/protocol/errors.ts';
import { sqeCid, sqeNsid, sqeOpc, sqeSglLen, sqeSglType } from '../../../src/protocol/sqe.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex');
const isArgError = (e: unknown): boolean => e instanceof InvalidArgumentError && e.code === 'NVMEOTCP_ERR_INVALID_ARG';

test('identify sqe - byte-exact Identify Controller (CNS 1, 4096 bytes via SGL 0x5A)', () => {
  assert.deepEqual(
    buildIdentifySqe({ cid: 0x10, cns: Cns.Controller }),
    hex(`
      06 40 10 00  00 00 00 00   # opc Identify, flags SGL, cid 0x10, nsid 0
      00 00 00 00  00 00 00 00
      00 00 00 00  00 00 00 00
      00 00 00 00  00 00 00 00   # SGL addr 0
      00 10 00 00  00 00 00 5a   # SGL len 4096, type 0x5a
      01 00 00 00  00 00 00 00   # CDW10 CNS 1, CDW11 0
      00 00 00 00  00 00 00 00
      00 00 00 00  00 00 00 00
    `),
  );
});

test('identify sqe - CNTID @42, CSI @47, NSID @4 round trip', () => {
  const sqe = buildIdentifySqe({ cid: 1, cns: Cns.CsiNamespace, nsid: 3, cntid: 0x1234, csi: 2 });
  assert.equal(sqe[40], 0x05);
  assert.equal(sqe.readUInt16LE(42), 0x1234);
  assert.equal(sqe[47], 2);
  assert.deepEqual(parseIdentifySqe(sqe), { cns: 5, nsid: 3, cntid: 0x1234, csi: 2 });
  assert.throws(() => buildIdentifySqe({ cid: 1, cns: 256 }), isArgError);
  assert.throws(() => parseIdentifySqe(Buffer.alloc(40)), isArgError);
});

test('get log page sqe - the 20-byte discovery header read: NUMDL 4, LID 0x70, RAE', () => {
  const sqe = buildGetLogPageSqe({ cid: 2, lid: LogId.Discovery, len: 20, rae: true });
  assert.equal(sqeOpc(sqe), AdminOpc.GetLogPage);
  assert.equal(sqeSglType(sqe), 0x5a);
  assert.equal(sqeSglLen(sqe), 20);
  assert.deepEqual(sqe.subarray(40, 56), hex('70 80 04 00  00 00 00 00  00 00 00 00  00 00 00 00'));
  assert.deepEqual(parseGetLogPage(sqe), { lid: 0x70, nsid: 0, len: 20, offset: 0, lsp: 0, rae: true });
});

test('get log page sqe - NUMDU, LSP and a 64-bit LPO', () => {
  const sqe = buildGetLogPageSqe({
    cid: 3,
    nsid: 0xffffffff,
    lid: LogId.Smart,
    len: 1 << 20,
    offset: 2 ** 32 + 1024,
    lsp: 0x7f,
  });
  // NUMD = 2^18 - 1: NUMDL 0xffff @42, NUMDU 3 @44; LPOL 1024 @48, LPOU 1 @52.
  assert.deepEqual(sqe.subarray(40, 56), hex('02 7f ff ff  03 00 00 00  00 04 00 00  01 00 00 00'));
  assert.equal(sqeNsid(sqe), 0xffffffff);
  assert.deepEqual(parseGetLogPage(sqe), {
    lid: 2,
    nsid: 0xffffffff,
    len: 1 << 20,
    offset: 2 ** 32 + 1024,
    lsp: 0x7f,
    rae: false,
  });
});

test('get log page sqe - parse of the largest NUMD a peer can send', () => {
  const sqe = buildGetLogPageSqe({ cid: 1, lid: 1, len: 4 });
  sqe.writeUInt32LE(0xffff_0001, 40);
  sqe.writeUInt32LE(0x0000_ffff, 44);
  assert.equal(parseGetLogPage(sqe).len, 2 ** 34);
});

test('get log page sqe - lengths and offsets that are not dwords are refused', () => {
  assert.throws(() => buildGetLogPageSqe({ cid: 1, lid: 2, len: 0 }), isArgError);
  assert.throws(() => buildGetLogPageSqe({ cid: 1, lid: 2, len: 6 }), isArgError);
  assert.throws(() => buildGetLogPageSqe({ cid: 1, lid: 2, len: 2 ** 32 }), isArgError);
  assert.throws(() => buildGetLogPageSqe({ cid: 1, lid: 2, len: 8, offset: 2 }), isArgError);
  assert.throws(() => buildGetLogPageSqe({ cid: 1, lid: 2, len: 8, lsp: 0x80 }), isArgError);
  assert.throws(() => parseGetLogPage(Buffer.alloc(63)), isArgError);
});

test('features sqe - Set Features Number of Queues and Get Features KATO', () => {
  const set = buildSetFeaturesSqe({ cid: 4, fid: FeatureId.NumQueues, dw11: 0x0003_0003 });
  assert.equal(sqeOpc(set), AdminOpc.SetFeatures);
  assert.deepEqual(set.subarray(40, 48), hex('07 00 00 00  03 00 03 00'));
  assert.equal(sqeSglLen(set), 0);
  assert.deepEqual(parseFeaturesSqe(set), { fid: 7, nsid: 0, sel: 0, sv: false, dw11: 0x0003_0003 });
  const get = buildGetFeaturesSqe({ cid: 5, fid: FeatureId.KeepAliveTimer, sel: 3 });
  assert.equal(sqeOpc(get), AdminOpc.GetFeatures);
  assert.deepEqual(get.subarray(40, 44), hex('0f 03 00 00'));
  assert.equal(parseFeaturesSqe(get).sel, 3);
});

test('features sqe - SV bit 31 and the full dw11 range', () => {
  const set = buildSetFeaturesSqe({ cid: 1, fid: FeatureId.AsyncEventConfig, dw11: 0x8000_0000, nsid: 1, sv: true });
  assert.equal(set[43], 0x80);
  assert.deepEqual(parseFeaturesSqe(set), { fid: 0x0b, nsid: 1, sel: 0, sv: true, dw11: 0x8000_0000 });
  assert.throws(() => buildSetFeaturesSqe({ cid: 1, fid: 7, dw11: 2 ** 32 }), isArgError);
  assert.throws(() => buildGetFeaturesSqe({ cid: 1, fid: 7, sel: 8 }), isArgError);
});

test('keep alive and AER sqe - opcode and CID only, SGL 0x5A length 0', () => {
  const ka = buildKeepAliveSqe(9);
  assert.deepEqual(ka.subarray(0, 4), hex('18 40 09 00'));
  assert.equal(sqeSglType(ka), 0x5a);
  assert.ok(ka.subarray(40).every((x) => x === 0));
  const aer = buildAerSqe(31);
  assert.deepEqual(aer.subarray(0, 4), hex('0c 40 1f 00'));
  assert.equal(sqeSglLen(aer), 0);
});

test('rw sqe - byte-exact Read: SLBA u64 @40, NLB 0-based @48, SGL 0x5A', () => {
  const sqe = buildRwSqe({ cid: 0x0102, opc: IoOpc.Read, nsid: 1, slba: 2 ** 32 + 2, nlb: 8, len: 4096, inCapsule: false });
  assert.deepEqual(
    sqe,
    hex(`
      02 40 02 01  01 00 00 00   # opc Read, cid 0x0102, nsid 1
      00 00 00 00  00 00 00 00
      00 00 00 00  00 00 00 00
      00 00 00 00  00 00 00 00   # SGL addr 0
      00 10 00 00  00 00 00 5a   # SGL len 4096, type 0x5a
      02 00 00 00  01 00 00 00   # SLBA 2^32 + 2
      07 00 00 00  00 00 00 00   # NLB 7 (8 blocks), CONTROL 0
      00 00 00 00  00 00 00 00
    `),
  );
  assert.deepEqual(parseRw(sqe), { slba: 2 ** 32 + 2, nlb: 8, fua: false, deac: false });
});

test('rw sqe - in-capsule Write with FUA: SGL 0x01, CONTROL bit 14', () => {
  const sqe = buildRwSqe({ cid: 1, opc: IoOpc.Write, nsid: 2, slba: 0, nlb: 65536, len: 512, inCapsule: true, fua: true });
  assert.equal(sqeSglType(sqe), 0x01);
  assert.equal(sqeSglLen(sqe), 512);
  assert.deepEqual(sqe.subarray(48, 52), hex('ff ff 00 40'));
  assert.deepEqual(parseRw(sqe), { slba: 0, nlb: 65536, fua: true, deac: false });
  assert.equal(sqeCid(sqe), 1);
});

test('rw sqe - bad arguments are refused', () => {
  const ok = { cid: 1, opc: IoOpc.Read, nsid: 1, slba: 0, nlb: 1, len: 512, inCapsule: false };
  assert.throws(() => buildRwSqe({ ...ok, nlb: 0 }), isArgError);
  assert.throws(() => buildRwSqe({ ...ok, nlb: 65537 }), isArgError);
  assert.throws(() => buildRwSqe({ ...ok, slba: 2 ** 53 }), isArgError);
  assert.throws(() => buildRwSqe({ ...ok, opc: IoOpc.Flush }), isArgError);
  assert.throws(() => buildRwSqe({ ...ok, inCapsule: true }), isArgError);
  assert.throws(() => buildRwSqe({ ...ok, len: -1 }), isArgError);
  assert.throws(() => parseRw(Buffer.alloc(50)), isArgError);
});

test('flush sqe - opcode 0, NSID, no data', () => {
  const sqe = buildFlushSqe({ cid: 6, nsid: 1 });
  assert.deepEqual(sqe.subarray(0, 8), hex('00 40 06 00  01 00 00 00'));
  assert.equal(sqeSglType(sqe), 0x5a);
  assert.equal(sqeSglLen(sqe), 0);
});

test('write zeroes sqe - DEAC is CONTROL bit 9 (byte 51 = 0x02), no data', () => {
  const sqe = buildWriteZeroesSqe({ cid: 7, nsid: 1, slba: 100, nlb: 16, deac: true });
  assert.equal(sqeOpc(sqe), IoOpc.WriteZeroes);
  assert.equal(sqeSglLen(sqe), 0);
  assert.deepEqual(sqe.subarray(40, 52), hex('64 00 00 00  00 00 00 00  0f 00 00 02'));
  assert.deepEqual(parseRw(sqe), { slba: 100, nlb: 16, fua: false, deac: true });
});

test('dsm sqe - NR 0-based @40, attributes @44, 4096 bytes in-capsule by default', () => {
  const sqe = buildDsmSqe({ cid: 8, nsid: 1, nr: 3, attr: DsmAttr.AD, len: 4096 });
  assert.equal(sqeOpc(sqe), IoOpc.DatasetMgmt);
  assert.deepEqual(sqe.subarray(40, 48), hex('02 00 00 00  04 00 00 00'));
  assert.equal(sqeSglType(sqe), 0x01);
  assert.equal(sqeSglLen(sqe), 4096);
  assert.deepEqual(parseDsmSqe(sqe), { nr: 3, attr: 4 });
  assert.equal(sqeSglType(buildDsmSqe({ cid: 8, nsid: 1, nr: 1, attr: 4, len: 4096, inCapsule: false })), 0x5a);
  assert.throws(() => buildDsmSqe({ cid: 8, nsid: 1, nr: 0, attr: 4, len: 4096 }), isArgError);
  assert.throws(() => buildDsmSqe({ cid: 8, nsid: 1, nr: 257, attr: 4, len: 8192 }), isArgError);
  assert.throws(() => buildDsmSqe({ cid: 8, nsid: 1, nr: 2, attr: 4, len: 16 }), isArgError);
});

test('dsm ranges - CATTR @0, NLB count @4, SLBA u64 @8; 4096 bytes; round trip', () => {
  const ranges = [
    { slba: 2 ** 32 + 7, nlb: 8, cattr: 0x11 },
    { slba: 0, nlb: 0x10000, cattr: 0 },
  ];
  const b = encodeDsmRanges(ranges);
  assert.equal(b.length, 4096);
  assert.deepEqual(b.subarray(0, 16), hex('11 00 00 00  08 00 00 00  07 00 00 00  01 00 00 00'));
  assert.deepEqual(b.subarray(16, 32), hex('00 00 00 00  00 00 01 00  00 00 00 00  00 00 00 00'));
  assert.ok(b.subarray(32).every((x) => x === 0));
  assert.deepEqual(decodeDsmRanges(b, 2), ranges);
  assert.deepEqual(decodeDsmRanges(encodeDsmRanges([{ slba: 5, nlb: 1 }]), 1), [{ cattr: 0, nlb: 1, slba: 5 }]);
});

test('dsm ranges - bad input', () => {
  assert.throws(() => encodeDsmRanges([]), isArgError);
  assert.throws(() => encodeDsmRanges(Array.from({ length: 257 }, () => ({ slba: 0, nlb: 1 }))), isArgError);
  assert.throws(() => encodeDsmRanges([{ slba: 0, nlb: 2 ** 32 }]), isArgError);
  assert.throws(() => decodeDsmRanges(Buffer.alloc(31), 2), isArgError);
  assert.throws(() => decodeDsmRanges(Buffer.alloc(4096), 0), isArgError);
  assert.throws(() => decodeDsmRanges(Buffer.alloc(8192), 257), isArgError);
});
