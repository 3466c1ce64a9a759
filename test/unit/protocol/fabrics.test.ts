import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FabricsType, Prop } from '../../../src/protocol/constants.ts';
import { InvalidArgumentError } from '../../../src/protocol/errors.ts';
import {
  buildConnectSqe,
  buildPropertyGetSqe,
  buildPropertySetSqe,
  CATTR_DISABLE_SQFLOW,
  decodeConnectData,
  encodeConnectData,
  parseConnectSqe,
  parsePropertySqe,
  sqeFctype,
} from '../../../src/protocol/fabrics.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex');
const isArgError = (e: unknown): boolean => e instanceof InvalidArgumentError && e.code === 'NVMEOTCP_ERR_INVALID_ARG';

const HOSTID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const SUBNQN = 'nqn.2024-01.io.nvmeotcp:test';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00112233-4455-6677-8899-aabbccddeeff';

test('connect data - byte layout: HOSTID @0, CNTLID @16, SUBNQN @256, HOSTNQN @512, NUL padded', () => {
  const b = encodeConnectData({ hostid: HOSTID, cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN });
  assert.equal(b.length, 1024);
  assert.deepEqual(b.subarray(0, 16), HOSTID);
  assert.deepEqual(b.subarray(16, 18), hex('ff ff'));
  assert.ok(b.subarray(18, 256).every((x) => x === 0));
  assert.equal(b.toString('latin1', 256, 256 + SUBNQN.length), SUBNQN);
  assert.ok(b.subarray(256 + SUBNQN.length, 512).every((x) => x === 0));
  assert.equal(b.toString('latin1', 512, 512 + HOSTNQN.length), HOSTNQN);
  assert.ok(b.subarray(512 + HOSTNQN.length, 1024).every((x) => x === 0));
});

test('connect data - round trip on an I/O queue CNTLID', () => {
  const d = { hostid: HOSTID, cntlid: 0x0012, subnqn: SUBNQN, hostnqn: HOSTNQN };
  assert.deepEqual(decodeConnectData(encodeConnectData(d)), d);
});

test('connect data - an NQN of 255 bytes fits (NUL kept), 256 bytes does not', () => {
  const n255 = `nqn.${'x'.repeat(251)}`;
  const b = encodeConnectData({ hostid: HOSTID, cntlid: 1, subnqn: n255, hostnqn: HOSTNQN });
  assert.equal(b[511], 0);
  assert.equal(decodeConnectData(b).subnqn, n255);
  assert.throws(() => encodeConnectData({ hostid: HOSTID, cntlid: 1, subnqn: `${n255}y`, hostnqn: HOSTNQN }), isArgError);
});

test('connect data - hostid must be 16 bytes, cntlid 16 bits', () => {
  assert.throws(() => encodeConnectData({ hostid: Buffer.alloc(15), cntlid: 1, subnqn: 'a', hostnqn: 'b' }), isArgError);
  assert.throws(() => encodeConnectData({ hostid: HOSTID, cntlid: 0x10000, subnqn: 'a', hostnqn: 'b' }), isArgError);
});

test('connect data - a short buffer is refused with InvalidArgumentError', () => {
  assert.throws(
    () => decodeConnectData(Buffer.alloc(1023)),
    (e: unknown) => isArgError(e) && /1024/.test(String(e)),
  );
});

test('connect sqe - byte-exact admin Connect as Linux sends it (sqsize 31, kato 5000)', () => {
  const sqe = buildConnectSqe({ cid: 0x0001, qid: 0, sqsize: 31, kato: 5000 });
  assert.deepEqual(
    sqe,
    hex(`
      7f 40 01 00  01 00 00 00   # opc 0x7f, flags SGL, cid 1, fctype Connect
      00 00 00 00  00 00 00 00   # reserved
      00 00 00 00  00 00 00 00   # reserved
      00 00 00 00  00 00 00 00   # SGL addr 0
      00 04 00 00  00 00 00 01   # SGL len 1024, type 0x01 (in-capsule)
      00 00 00 00  1f 00 00 00   # recfmt 0, qid 0, sqsize 31, cattr 0
      88 13 00 00  00 00 00 00   # kato 5000 ms
      00 00 00 00  00 00 00 00
    `),
  );
});

test('connect sqe - round trip of an I/O queue Connect with CATTR disable-sqflow', () => {
  const sqe = buildConnectSqe({ cid: 0xabcd, qid: 3, sqsize: 127, cattr: CATTR_DISABLE_SQFLOW, kato: 0 });
  assert.equal(sqe[46], 0x04);
  assert.equal(sqeFctype(sqe), FabricsType.Connect);
  assert.deepEqual(parseConnectSqe(sqe), { cid: 0xabcd, recfmt: 0, qid: 3, sqsize: 127, cattr: 4, kato: 0 });
});

test('connect sqe - parse reads RECFMT @40 as sent', () => {
  const sqe = buildConnectSqe({ cid: 1, qid: 0, sqsize: 31, kato: 0 });
  sqe.writeUInt16LE(1, 40);
  assert.equal(parseConnectSqe(sqe).recfmt, 1);
});

test('connect sqe - out-of-range fields and short SQEs are refused', () => {
  assert.throws(() => buildConnectSqe({ cid: 1, qid: 0x10000, sqsize: 31, kato: 0 }), isArgError);
  assert.throws(() => buildConnectSqe({ cid: -1, qid: 0, sqsize: 31, kato: 0 }), isArgError);
  assert.throws(() => buildConnectSqe({ cid: 1, qid: 0, sqsize: 31, kato: 2 ** 32 }), isArgError);
  assert.throws(() => parseConnectSqe(Buffer.alloc(63)), isArgError);
});

test('property get sqe - byte-exact 8-byte CAP get', () => {
  const sqe = buildPropertyGetSqe({ cid: 2, ofst: Prop.CAP, size8: true });
  assert.deepEqual(
    sqe,
    hex(`
      7f 40 02 00  04 00 00 00   # opc 0x7f, cid 2, fctype Property Get
      00 00 00 00  00 00 00 00
      00 00 00 00  00 00 00 00
      00 00 00 00  00 00 00 00   # SGL addr 0
      00 00 00 00  00 00 00 5a   # SGL len 0, type 0x5a
      01 00 00 00  00 00 00 00   # attrib size 8 bytes, ofst 0 (CAP)
      00 00 00 00  00 00 00 00
      00 00 00 00  00 00 00 00
    `),
  );
  assert.deepEqual(parsePropertySqe(sqe), { fctype: FabricsType.PropertyGet, size8: true, ofst: 0, value: 0n });
});

test('property get sqe - 4-byte CSTS get has ATTRIB 0 and OFST 0x1c @44', () => {
  const sqe = buildPropertyGetSqe({ cid: 3, ofst: Prop.CSTS, size8: false });
  assert.equal(sqe[40], 0);
  assert.equal(sqe.readUInt32LE(44), 0x1c);
  assert.equal(sqeFctype(sqe), FabricsType.PropertyGet);
});

test('property set sqe - CC = 0x00460001 lands as a u64 @48', () => {
  const sqe = buildPropertySetSqe({ cid: 4, ofst: Prop.CC, value: 0x00460001n, size8: false });
  assert.equal(sqe[4], FabricsType.PropertySet);
  assert.equal(sqe.readUInt32LE(44), 0x14);
  assert.deepEqual(sqe.subarray(48, 56), hex('01 00 46 00 00 00 00 00'));
  assert.deepEqual(parsePropertySqe(sqe), { fctype: FabricsType.PropertySet, size8: false, ofst: 0x14, value: 0x00460001n });
});

test('property set sqe - 8-byte values round trip, too-large values are refused', () => {
  const v = 0xfedc_ba98_7654_3210n;
  assert.equal(parsePropertySqe(buildPropertySetSqe({ cid: 5, ofst: 0x28, value: v, size8: true })).value, v);
  assert.throws(() => buildPropertySetSqe({ cid: 5, ofst: 0x14, value: 0x1_0000_0000n, size8: false }), isArgError);
  assert.throws(() => buildPropertySetSqe({ cid: 5, ofst: 0x14, value: -1n, size8: true }), isArgError);
});

test('property sqe - a short SQE is refused', () => {
  assert.throws(() => parsePropertySqe(Buffer.alloc(48)), isArgError);
});
