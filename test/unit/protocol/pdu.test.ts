import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CH_LEN,
  CQE_LEN,
  DIGEST_LEN,
  DigestOpt,
  Fes,
  HLEN,
  hasHdgst,
  IC_PLEN,
  mayCarryData,
  OFF,
  PDO_MAX,
  PduFlag,
  PduType,
  SQE_LEN,
  TERM_REQ_MAX_DATA,
  TERM_REQ_MAX_PLEN,
} from '../../../src/protocol/constants.ts';
import { crc32c } from '../../../src/protocol/crc32c.ts';
import { encodeR2t } from '../../helpers/pdu-encode.ts';
import {
  type CapsuleCmd,
  type CapsuleResp,
  dataPdo,
  decodeHeader,
  encodeIcReq,
  encodeIcResp,
  encodeTermReq,
  readCh,
  termReqLen,
  writeCapsuleCmd,
  writeCapsuleResp,
  writeDataHeader,
  writeDdgst,
  writeIcReq,
  writeIcResp,
  writeR2t,
  writeTermReq,
} from '../../../src/protocol/pdu.ts';
import { capsuleCmdIcd, capsuleRespHdgst, identifySqe } from '../../fixtures/pdu/capsule.ts';
import { r2tHdgst } from '../../fixtures/pdu/data.ts';
import { c2hTermReq, h2cTermReq, icReq, icReqMax, icResp } from '../../fixtures/pdu/ic-term.ts';
import { ALL_FIXTURES } from '../../fixtures/pdu/index.ts';
import { hex } from '../../helpers/hex.ts';

/** A buffer of `n` bytes that all hold `fill` (never a value a writer would leave by accident). */
const dirty = (n: number, fill = 0xee): Buffer => Buffer.alloc(n, fill);
const every = (b: Buffer, v: number): boolean => b.every((x) => x === v);

// ---------------------------------------------------------------- fixtures: the writers that ship

for (const f of ALL_FIXTURES) {
  test(`pdu - decodeHeader: ${f.name}`, () => {
    assert.deepEqual(decodeHeader(f.bytes), f.header);
  });
  test(`pdu - PLEN is the wire length: ${f.name}`, () => {
    assert.equal(f.header.plen, f.bytes.length);
  });
  test(`pdu - the writers write exactly these bytes, every one of them: ${f.name}`, () => {
    const b = dirty(f.bytes.length);
    assert.equal(f.write(b, 0), f.bytes.length);
    assert.equal(b.toString('hex'), f.bytes.toString('hex'));
  });
  // The send path writes headers into a batch arena at whatever offset the last part ended.
  test(`pdu - written at an odd offset inside a larger buffer, nothing around it touched: ${f.name}`, () => {
    const before = 13;
    const after = 11;
    const b = dirty(before + f.bytes.length + after, 0xa5);
    assert.equal(f.write(b, before), before + f.bytes.length);
    assert.equal(b.subarray(before, before + f.bytes.length).toString('hex'), f.bytes.toString('hex'));
    assert.ok(every(b.subarray(0, before), 0xa5), 'bytes before untouched');
    assert.ok(every(b.subarray(before + f.bytes.length), 0xa5), 'bytes after untouched');
  });
}

test('pdu - every PDU type and digest combination has a fixture', () => {
  const seen = new Set(ALL_FIXTURES.map((f) => `${f.header.type}/${f.header.flags & 3}`));
  const want = ['0/0', '1/0', '2/0', '3/0', '4/0', '4/1', '4/2', '4/3', '5/0', '5/1', '6/0', '6/1', '6/2', '6/3'];
  want.push('7/0', '7/1', '7/2', '7/3', '9/0', '9/1');
  assert.deepEqual([...seen].sort(), want.sort());
});

test('pdu - fixtures cover LAST, LAST|SUCCESS, and pad after the header and after its HDGST', () => {
  const c2h = ALL_FIXTURES.filter((f) => f.header.type === PduType.C2HData);
  const flags = new Set(c2h.map((f) => f.header.flags & (PduFlag.LAST_PDU | PduFlag.SUCCESS)));
  assert.deepEqual(
    [...flags].sort((x, y) => x - y),
    [0, PduFlag.LAST_PDU, PduFlag.LAST_PDU | PduFlag.SUCCESS],
  );
  const padded = (f: (typeof c2h)[number]) => f.header.pdo > f.header.hlen + (f.header.flags & PduFlag.HDGSTF ? DIGEST_LEN : 0);
  assert.ok(c2h.some((f) => padded(f) && !(f.header.flags & PduFlag.HDGSTF)));
  assert.ok(c2h.some((f) => padded(f) && f.header.flags & PduFlag.HDGSTF));
});

test('pdu - the allocating forms (ICReq, ICResp, TermReq, R2T) give the fixture bytes', () => {
  assert.equal(encodeIcReq({ pfv: 0, hpda: 0, dgst: 3, maxr2t: 0 }).toString('hex'), icReq.bytes.toString('hex'));
  assert.equal(encodeIcReq({ hpda: 31, maxr2t: 0xffffffff }).toString('hex'), icReqMax.bytes.toString('hex'));
  assert.equal(encodeIcResp({ cpda: 0, dgst: 3, maxh2cdata: 0x20000 }).toString('hex'), icResp.bytes.toString('hex'));
  assert.equal(encodeTermReq(PduType.H2CTermReq, 1, 16).toString('hex'), h2cTermReq.bytes.toString('hex'));
  assert.equal(encodeTermReq(PduType.C2HTermReq, 1, 2, c2hTermReq.data).toString('hex'), c2hTermReq.bytes.toString('hex'));
  assert.equal(encodeR2t({ cccid: 2, ttag: 5, r2to: 0, r2tl: 0x10000 }, true).toString('hex'), r2tHdgst.bytes.toString('hex'));
});

test('pdu - the known HDGST vector: CapsuleResp CID=1 has HDGST 23 b8 46 54', () => {
  assert.equal(capsuleRespHdgst.bytes.subarray(24).toString('hex'), '23b84654');
  assert.equal(crc32c(capsuleRespHdgst.bytes, 0, 24), 0x5446b823);
});

test('pdu - decodeHeader reads at an offset inside a larger buffer', () => {
  const b = Buffer.concat([Buffer.from([0xee, 0xee, 0xee]), capsuleCmdIcd.bytes]);
  assert.deepEqual(decodeHeader(b, 3), capsuleCmdIcd.header);
});

test('pdu - decodeHeader gives private SQE/CQE copies', () => {
  const cmdBytes = Buffer.from(capsuleCmdIcd.bytes);
  const cmd = decodeHeader(cmdBytes) as CapsuleCmd;
  const respBytes = Buffer.from(capsuleRespHdgst.bytes);
  const resp = decodeHeader(respBytes) as CapsuleResp;
  cmdBytes.fill(0xaa);
  respBytes.fill(0xaa);
  assert.deepEqual(cmd.sqe, (capsuleCmdIcd.header as CapsuleCmd).sqe);
  assert.deepEqual(resp.cqe, (capsuleRespHdgst.header as CapsuleResp).cqe);
  assert.equal(cmd.sqe.length, SQE_LEN);
  assert.equal(resp.cqe.length, CQE_LEN);
});

test('pdu - decodeHeader throws RangeError on an unknown type (the receiver never calls it with one)', () => {
  const b = Buffer.alloc(24);
  b[0] = 0x08;
  assert.throws(() => decodeHeader(b), RangeError);
});

test('pdu - readCh decodes the common header, PLEN as u32', () => {
  assert.deepEqual(readCh(hex`07 0c 18 1c  ff ff ff ff`), { type: 7, flags: 0x0c, hlen: 24, pdo: 28, plen: 0xffffffff });
});

// ---------------------------------------------------------------- writer details

test('pdu - dataPdo: header (+HDGST) rounded up to (PDA+1)*4', () => {
  const cases: [number, boolean, number, number][] = [
    [24, false, 0, 24],
    [24, true, 0, 28],
    [72, false, 0, 72],
    [72, true, 0, 76],
    [24, false, 1, 24],
    [24, true, 1, 32],
    [24, false, 3, 32],
    [24, true, 3, 32],
    [72, true, 3, 80],
    [72, true, 31, 128],
    [24, false, 31, 128],
  ];
  for (const [hlen, hd, pda, pdo] of cases) assert.equal(dataPdo(hlen, hd, pda), pdo, `hlen ${hlen} hdgst ${hd} pda ${pda}`);
});

test('pdu - writeCapsuleCmd with HDGST and CPDA 31: PDO 128, zero pad, digest over HLEN only', () => {
  const h = dirty(PDO_MAX);
  assert.equal(writeCapsuleCmd(h, 0, identifySqe, 512, dataPdo(72, true, 31), true, true), PDO_MAX);
  assert.deepEqual(readCh(h), { type: 4, flags: 3, hlen: 72, pdo: 128, plen: 128 + 512 + 4 });
  assert.equal(h.readUInt32LE(72), crc32c(h, 0, 72));
  assert.ok(every(h.subarray(76), 0));
});

test('pdu - writeCapsuleCmd without data sets neither DDGSTF nor PDO, even with data digest on', () => {
  const h = dirty(PDO_MAX);
  assert.equal(writeCapsuleCmd(h, 0, identifySqe, 0, 128, false, true), 72);
  assert.deepEqual(readCh(h), { type: 4, flags: 0, hlen: 72, pdo: 0, plen: 72 });
  assert.ok(every(h.subarray(72), 0xee), 'nothing written past the header');
});

test('pdu - writeCapsuleCmd zero-fills the rest of a short SQE (no stale arena bytes on the wire)', () => {
  const h = dirty(72);
  writeCapsuleCmd(h, 0, Buffer.from([1, 2, 3]), 0, 0, false, false);
  assert.equal(h.subarray(OFF.SQE).toString('hex'), `010203${'00'.repeat(61)}`);
});

test('pdu - writeTermReq copies at most 128 bytes of the bad header (PLEN 152)', () => {
  const bad = Buffer.alloc(132, 0x5a);
  assert.equal(termReqLen(bad.length), TERM_REQ_MAX_PLEN);
  assert.equal(termReqLen(0), 24);
  const t = dirty(TERM_REQ_MAX_PLEN + 4);
  assert.equal(writeTermReq(t, 0, PduType.C2HTermReq, Fes.HeaderDigestError, 0, bad), TERM_REQ_MAX_PLEN);
  assert.equal(t.readUInt32LE(OFF.PLEN), TERM_REQ_MAX_PLEN);
  assert.equal(t[OFF.FLAGS], 0);
  assert.ok(t.subarray(24, TERM_REQ_MAX_PLEN).equals(bad.subarray(0, TERM_REQ_MAX_DATA)));
  assert.ok(every(t.subarray(TERM_REQ_MAX_PLEN), 0xee), 'nothing written past PLEN');
});

test('pdu - writeTermReq writes FEI as u32 at offset 10 (not 12)', () => {
  const t = dirty(24);
  writeTermReq(t, 0, PduType.H2CTermReq, 1, 0x01020304, Buffer.alloc(0));
  assert.equal(t.subarray(8, 24).toString('hex'), `010004030201${'00'.repeat(10)}`);
});

test('pdu - writeDdgst writes the CRC little-endian and returns the end', () => {
  const b = dirty(6);
  assert.equal(writeDdgst(b, 1, 0x98f94189), 5);
  assert.equal(b.toString('hex'), 'ee8941f998ee');
  writeDdgst(b, 1, crc32c(Buffer.alloc(4096)));
  assert.equal(b.toString('hex'), 'ee8941f998ee');
});

test('pdu - writeDataHeader adds HDGSTF/DDGSTF to the flags it is given; PLEN counts the DDGST', () => {
  const h = dirty(28);
  writeDataHeader(h, 0, PduType.C2HData, 1, 0, 0, 100, PduFlag.LAST_PDU | PduFlag.SUCCESS, 28, true, true);
  assert.deepEqual(readCh(h), { type: 7, flags: 0x0f, hlen: 24, pdo: 28, plen: 28 + 100 + 4 });
  writeDataHeader(h, 0, PduType.H2CData, 1, 0, 0, 100, 0, 24, false, false);
  assert.deepEqual(readCh(h), { type: 6, flags: 0, hlen: 24, pdo: 24, plen: 124 });
});

// ---------------------------------------------------------------- layout self-check (NVMe/TCP 1.0 Figures 10, 19–28)

test('layout - PDU type codes (NVMe/TCP 1.0 Figure 10)', () => {
  assert.deepEqual(
    { ...PduType },
    {
      ICReq: 0,
      ICResp: 1,
      H2CTermReq: 2,
      C2HTermReq: 3,
      CapsuleCmd: 4,
      CapsuleResp: 5,
      H2CData: 6,
      C2HData: 7,
      R2T: 9,
    },
  );
});

test('layout - HLEN by type (§3.6.2.2–§3.6.2.10); type 8 is undefined', () => {
  assert.deepEqual({ ...HLEN }, { 0: 128, 1: 128, 2: 24, 3: 24, 4: 72, 5: 24, 6: 24, 7: 24, 9: 24 });
  assert.equal(CH_LEN, 8);
  assert.equal(IC_PLEN, 128);
  assert.equal(CH_LEN + SQE_LEN, HLEN[PduType.CapsuleCmd]);
  assert.equal(CH_LEN + CQE_LEN, HLEN[PduType.CapsuleResp]);
});

test('layout - which types carry a header digest and which may carry data (Figures 12, 13)', () => {
  const hd = [0, 1, 2, 3, 4, 5, 6, 7, 9].filter(hasHdgst);
  const dd = [0, 1, 2, 3, 4, 5, 6, 7, 9].filter(mayCarryData);
  assert.deepEqual(hd, [4, 5, 6, 7, 9]);
  assert.deepEqual(dd, [4, 6, 7]);
  for (const undefinedType of [8, 0x0a, 0x7f, 0xff]) {
    assert.equal(hasHdgst(undefinedType), false, `type 0x${undefinedType.toString(16)}`);
    assert.equal(mayCarryData(undefinedType), false);
  }
});

test('layout - FLAGS bits (§3.6.2.6–§3.6.2.9), DGST bits (§3.6.2.2), FES codes (§3.6.2.4, §3.6.2.5), size limits', () => {
  assert.deepEqual({ ...PduFlag }, { HDGSTF: 1, DDGSTF: 2, LAST_PDU: 4, SUCCESS: 8 });
  assert.deepEqual({ ...DigestOpt }, { HDGST: 1, DDGST: 2 });
  assert.deepEqual(
    { ...Fes },
    {
      InvalidHeaderField: 1,
      PduSequenceError: 2,
      HeaderDigestError: 3,
      DataOutOfRange: 4,
      DataLimitExceeded: 5,
      UnsupportedParameter: 6,
    },
  );
  assert.equal(DIGEST_LEN, 4);
  assert.equal(TERM_REQ_MAX_DATA, 128);
  assert.equal(TERM_REQ_MAX_PLEN, 24 + 128);
  assert.equal(PDO_MAX, (31 + 1) * 4);
});

test('layout - field offsets (§3.6.2.1–§3.6.2.10)', () => {
  assert.deepEqual(
    { ...OFF },
    {
      TYPE: 0,
      FLAGS: 1,
      HLEN: 2,
      PDO: 3,
      PLEN: 4,
      PFV: 8,
      HPDA: 10,
      CPDA: 10,
      DGST: 11,
      MAXR2T: 12,
      MAXH2CDATA: 12,
      FES: 8,
      FEI: 10,
      SQE: 8,
      CQE: 8,
      CCCID: 8,
      TTAG: 10,
      DATAO: 12,
      DATAL: 16,
      R2TO: 12,
      R2TL: 16,
    },
  );
});

test('layout - the writers put each field at its OFF offset (distinct marker values, written at an offset)', () => {
  const at = 5;
  const b = dirty(at + 128);
  const v = b.subarray(at);
  writeIcReq(b, at, 0x0102, 0x1f, 3, 0x0a0b0c0d);
  assert.equal(v.readUInt16LE(OFF.PFV), 0x0102);
  assert.equal(v[OFF.HPDA], 0x1f);
  assert.equal(v[OFF.DGST], 3);
  assert.equal(v.readUInt32LE(OFF.MAXR2T), 0x0a0b0c0d);
  assert.ok(every(v.subarray(16, 128), 0), 'ICReq rsvd[112] is zero');
  writeIcResp(b, at, 0, 2, 1, 0x11223344);
  assert.equal(v[OFF.TYPE], PduType.ICResp);
  assert.equal(v[OFF.CPDA], 2);
  assert.equal(v[OFF.DGST], 1);
  assert.equal(v.readUInt32LE(OFF.MAXH2CDATA), 0x11223344);
  writeTermReq(b, at, PduType.C2HTermReq, 0x0605, 0x44332211, Buffer.alloc(0));
  assert.equal(v.readUInt16LE(OFF.FES), 0x0605);
  assert.equal(v.readUInt32LE(OFF.FEI), 0x44332211);
  writeDataHeader(b, at, PduType.H2CData, 0x1112, 0x2122, 0x31323334, 0x100, 0, 24, false, false);
  assert.equal(v.readUInt16LE(OFF.CCCID), 0x1112);
  assert.equal(v.readUInt16LE(OFF.TTAG), 0x2122);
  assert.equal(v.readUInt32LE(OFF.DATAO), 0x31323334);
  assert.equal(v.readUInt32LE(OFF.DATAL), 0x100);
  assert.equal(v.readUInt32LE(20), 0, 'rsvd');
  b.fill(0xee);
  writeR2t(b, at, 0x1112, 0x2122, 0x31323334, 0x41424344, false);
  assert.equal(v.readUInt16LE(OFF.CCCID), 0x1112);
  assert.equal(v.readUInt16LE(OFF.TTAG), 0x2122);
  assert.equal(v.readUInt32LE(OFF.R2TO), 0x31323334);
  assert.equal(v.readUInt32LE(OFF.R2TL), 0x41424344);
  assert.equal(v.readUInt32LE(20), 0, 'rsvd');
  // CQE: dw0 @0 | dw1 @4 | sqhd @8 | sqid @10 | cid @12 | status @14 (Linux form << 1).
  writeCapsuleResp(b, at, 0x0d0e, 0x0f10, 0x01020304, 0x05060708, 0x090a, 0x0b0c, false);
  assert.equal(v.subarray(OFF.CQE, OFF.CQE + CQE_LEN).toString('hex'), '04030201080706050a090c0b0e0d201e');
  const sqe = Buffer.alloc(SQE_LEN, 0x98);
  writeCapsuleCmd(b, at, sqe, 0, 0, false, false);
  assert.ok(v.subarray(OFF.SQE, OFF.SQE + SQE_LEN).equals(sqe));
});
