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
import {
  type CapsuleCmd,
  type CapsuleResp,
  dataPdo,
  decodeHeader,
  encodeCapsuleCmd,
  encodeCapsuleResp,
  encodeDataHeader,
  encodeDdgst,
  encodeIcReq,
  encodeIcResp,
  encodeR2t,
  encodeTermReq,
  type Pdu,
  readCh,
} from '../../../src/protocol/pdu.ts';
import { capsuleCmdIcd, capsuleRespHdgst, identifySqe } from '../../fixtures/pdu/capsule.ts';
import { ALL_FIXTURES } from '../../fixtures/pdu/index.ts';
import { hex } from '../../helpers/hex.ts';

// ---------------------------------------------------------------- round trips

/** Encodes a decoded header object (plus the fixture's data and PDA) back to wire bytes. */
function encodeObject(p: Pdu, data: Buffer | undefined, pda: number): Buffer {
  const d = { hdgst: (p.flags & PduFlag.HDGSTF) !== 0, ddgst: (p.flags & PduFlag.DDGSTF) !== 0 };
  const tail = (b: Buffer) => (data === undefined ? [] : [b, ...(d.ddgst ? [encodeDdgst(crc32c(b))] : [])]);
  switch (p.type) {
    case PduType.ICReq:
      return encodeIcReq(p);
    case PduType.ICResp:
      return encodeIcResp(p);
    case PduType.H2CTermReq:
    case PduType.C2HTermReq:
      return encodeTermReq(p.type, p.fes, p.fei, data);
    case PduType.CapsuleCmd:
      return Buffer.concat([encodeCapsuleCmd(p.sqe, data?.length ?? 0, d, pda), ...tail(data!)]);
    case PduType.CapsuleResp:
      return encodeCapsuleResp(p.cqe, d.hdgst);
    case PduType.H2CData:
    case PduType.C2HData: {
      const flags = p.flags & (PduFlag.LAST_PDU | PduFlag.SUCCESS);
      return Buffer.concat([encodeDataHeader(p.type, { ...p, flags }, d, pda), ...tail(data!)]);
    }
    case PduType.R2T:
      return encodeR2t(p, d.hdgst);
  }
}

for (const f of ALL_FIXTURES) {
  test(`pdu - bytes -> decodeHeader -> encode gives the same bytes: ${f.name}`, () => {
    assert.equal(encodeObject(decodeHeader(f.bytes), f.data, f.pda).toString('hex'), f.bytes.toString('hex'));
  });

  test(`pdu - decodeHeader: ${f.name}`, () => {
    assert.deepEqual(decodeHeader(f.bytes), f.header);
  });
  test(`pdu - encode is byte-exact: ${f.name}`, () => {
    assert.equal(f.encode().toString('hex'), f.bytes.toString('hex'));
  });
  test(`pdu - PLEN is the wire length: ${f.name}`, () => {
    assert.equal(f.header.plen, f.bytes.length);
  });
}

test('pdu - every PDU type and digest combination has a fixture', () => {
  const seen = new Set(ALL_FIXTURES.map((f) => `${f.header.type}/${f.header.flags & 3}`));
  const want = ['0/0', '1/0', '2/0', '3/0', '4/0', '4/1', '4/2', '4/3', '5/0', '5/1', '6/0', '6/1', '6/2', '6/3'];
  want.push('7/0', '7/1', '7/2', '7/3', '9/0', '9/1');
  assert.deepEqual([...seen].sort(), want.sort());
});

test('pdu - the known header-digest vector: CapsuleResp CID=1 has HDGST 23 b8 46 54', () => {
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

// ---------------------------------------------------------------- encoder details

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

test('pdu - encodeCapsuleCmd with HDGST and CPDA 31: PDO 128, zero pad, digest over HLEN only', () => {
  const h = encodeCapsuleCmd(identifySqe, 512, { hdgst: true, ddgst: true }, 31);
  assert.equal(h.length, PDO_MAX);
  assert.deepEqual(readCh(h), { type: 4, flags: 3, hlen: 72, pdo: 128, plen: 128 + 512 + 4 });
  assert.equal(h.readUInt32LE(72), crc32c(h, 0, 72));
  assert.ok(h.subarray(76).every((x) => x === 0));
});

test('pdu - encodeCapsuleCmd without data sets neither DDGSTF nor PDO, even with data digest on', () => {
  const h = encodeCapsuleCmd(identifySqe, 0, { hdgst: false, ddgst: true }, 7);
  assert.deepEqual(readCh(h), { type: 4, flags: 0, hlen: 72, pdo: 0, plen: 72 });
});

test('pdu - encodeTermReq copies at most 128 bytes of the bad header (PLEN 152)', () => {
  const bad = Buffer.alloc(132, 0x5a);
  const t = encodeTermReq(PduType.C2HTermReq, Fes.HeaderDigestError, 0, bad);
  assert.equal(t.length, TERM_REQ_MAX_PLEN);
  assert.equal(t.readUInt32LE(OFF.PLEN), TERM_REQ_MAX_PLEN);
  assert.equal(t[OFF.FLAGS], 0);
  assert.ok(t.subarray(24).equals(bad.subarray(0, TERM_REQ_MAX_DATA)));
});

test('pdu - encodeTermReq writes FEI as u32 at offset 10 (not 12)', () => {
  const t = encodeTermReq(PduType.H2CTermReq, 1, 0x01020304);
  assert.equal(t.subarray(8, 24).toString('hex'), `010004030201${'00'.repeat(10)}`);
});

test('pdu - encodeDdgst writes the CRC little-endian', () => {
  assert.equal(encodeDdgst(0x98f94189).toString('hex'), '8941f998');
  assert.equal(encodeDdgst(crc32c(Buffer.alloc(4096))).toString('hex'), '8941f998');
});

// Regression test for bf68712: a short CQE put stale Buffer-pool bytes on the wire (allocUnsafe).
test('pdu - encodeCapsuleResp copies only 16 CQE bytes and zero-fills a short CQE', () => {
  const long = Buffer.alloc(20, 0x77);
  assert.equal(encodeCapsuleResp(long, false).subarray(8).toString('hex'), '77'.repeat(16));
  const short = Buffer.from([1, 2, 3]);
  assert.equal(encodeCapsuleResp(short, false).subarray(8).toString('hex'), `010203${'00'.repeat(13)}`);
});

// ---------------------------------------------------------------- layout self-check (NVMe/TCP 1.0 PDU definitions)

test('layout - PDU type codes', () => {
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

test('layout - HLEN by type; type 8 is undefined', () => {
  assert.deepEqual({ ...HLEN }, { 0: 128, 1: 128, 2: 24, 3: 24, 4: 72, 5: 24, 6: 24, 7: 24, 9: 24 });
  assert.equal(CH_LEN, 8);
  assert.equal(IC_PLEN, 128);
  assert.equal(CH_LEN + SQE_LEN, HLEN[PduType.CapsuleCmd]);
  assert.equal(CH_LEN + CQE_LEN, HLEN[PduType.CapsuleResp]);
});

test('layout - which types carry a header digest and which may carry data', () => {
  const hd = [0, 1, 2, 3, 4, 5, 6, 7, 9].filter(hasHdgst);
  const dd = [0, 1, 2, 3, 4, 5, 6, 7, 9].filter(mayCarryData);
  assert.deepEqual(hd, [4, 5, 6, 7, 9]);
  assert.deepEqual(dd, [4, 6, 7]);
  for (const undefinedType of [8, 0x0a, 0x7f, 0xff]) {
    assert.equal(hasHdgst(undefinedType), false, `type 0x${undefinedType.toString(16)}`);
    assert.equal(mayCarryData(undefinedType), false);
  }
});

test('layout - FLAGS bits, ICReq DGST bits, TermReq FES codes, size limits', () => {
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

test('layout - field offsets of the CH and every PDU-specific header', () => {
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

test('layout - encoders put each field at its OFF offset (distinct marker values)', () => {
  const ic = encodeIcReq({ pfv: 0x0102, hpda: 0x1f, dgst: 3, maxr2t: 0x0a0b0c0d });
  assert.equal(ic.readUInt16LE(OFF.PFV), 0x0102);
  assert.equal(ic[OFF.HPDA], 0x1f);
  assert.equal(ic[OFF.DGST], 3);
  assert.equal(ic.readUInt32LE(OFF.MAXR2T), 0x0a0b0c0d);
  assert.ok(ic.subarray(16).every((x) => x === 0), 'ICReq rsvd[112] is zero');
  const icr = encodeIcResp({ cpda: 2, dgst: 1, maxh2cdata: 0x11223344 });
  assert.equal(icr[OFF.CPDA], 2);
  assert.equal(icr.readUInt32LE(OFF.MAXH2CDATA), 0x11223344);
  const t = encodeTermReq(PduType.C2HTermReq, 0x0605, 0x44332211);
  assert.equal(t.readUInt16LE(OFF.FES), 0x0605);
  assert.equal(t.readUInt32LE(OFF.FEI), 0x44332211);
  const d = encodeDataHeader(PduType.H2CData, { cccid: 0x1112, ttag: 0x2122, datao: 0x31323334, datal: 0x100 }, {
    hdgst: false,
    ddgst: false,
  });
  assert.equal(d.readUInt16LE(OFF.CCCID), 0x1112);
  assert.equal(d.readUInt16LE(OFF.TTAG), 0x2122);
  assert.equal(d.readUInt32LE(OFF.DATAO), 0x31323334);
  assert.equal(d.readUInt32LE(OFF.DATAL), 0x100);
  assert.equal(d.readUInt32LE(20), 0, 'rsvd');
  const r = encodeR2t({ cccid: 0x1112, ttag: 0x2122, r2to: 0x31323334, r2tl: 0x41424344 }, false);
  assert.equal(r.readUInt32LE(OFF.R2TO), 0x31323334);
  assert.equal(r.readUInt32LE(OFF.R2TL), 0x41424344);
  const cqe = Buffer.alloc(CQE_LEN, 0x99);
  assert.ok(encodeCapsuleResp(cqe, false).subarray(OFF.CQE, OFF.CQE + CQE_LEN).equals(cqe));
  const sqe = Buffer.alloc(SQE_LEN, 0x98);
  assert.ok(encodeCapsuleCmd(sqe, 0, { hdgst: false, ddgst: false }).subarray(OFF.SQE, OFF.SQE + SQE_LEN).equals(sqe));
});
