// State-handler tests in SPDK style: a receiver in a known state gets one bad header;
// assert the exact ProtocolError (FES, FEI, PDU type), the sticky ERR state, exactly one
// onError, and the TermReq the owner would send from rx.lastHeader.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fes, OFF, PduType } from '../../../src/protocol/constants.ts';
import { crc32c } from '../../../src/protocol/crc32c.ts';
import { ProtocolError } from '../../../src/protocol/errors.ts';
import { encodeTermReq } from '../../../src/protocol/pdu.ts';
import { RecvState } from '../../../src/protocol/receiver.ts';
import { capsuleCmdIcd, capsuleCmdIcdBoth, capsuleCmdNoData, capsuleResp, capsuleRespHdgst } from '../../fixtures/pdu/capsule.ts';
import { c2hData, c2hDataBoth, c2hDataSuccess, h2cData, h2cDataBoth, r2t, r2tHdgst } from '../../fixtures/pdu/data.ts';
import { c2hTermReq, h2cTermReq, icReq, icResp } from '../../fixtures/pdu/ic-term.ts';
import { type RecorderOptions, Recorder } from '../../helpers/rx-recorder.ts';

/** A copy of `b` with `edit` applied; the header digest is recomputed when `hdgstAt` is given. */
function mutate(b: Buffer, edit: (c: Buffer) => void, hdgstAt?: number): Buffer {
  const c = Buffer.from(b);
  edit(c);
  if (hdgstAt !== undefined) c.writeUInt32LE(crc32c(c, 0, hdgstAt), hdgstAt);
  return c;
}

/** Feeds `bytes` (then a valid PDU that must be ignored) and asserts one error and state ERR. */
function expectError(opts: RecorderOptions, bytes: Buffer, fes: number, fei: number, pduType: number): Recorder {
  const r = new Recorder(opts);
  r.rx.feed(bytes);
  r.rx.feed(opts.role === 'host' ? capsuleResp.bytes : capsuleCmdNoData.bytes);
  assert.equal(r.rx.state, RecvState.ERR);
  assert.equal(r.errors.length, 1, 'exactly one onError');
  assert.ok(r.errors[0] instanceof ProtocolError);
  assert.deepEqual(r.events.at(-1), { ev: 'error', fes, fei, pduType });
  assert.equal(r.events.filter((e) => e.ev === 'error').length, 1);
  return r;
}

const host = { role: 'host', icDone: true } as const;
const target = { role: 'target', icDone: true } as const;
const setU32 = (off: number, v: number) => (c: Buffer) => c.writeUInt32LE(v, off);
const setU8 = (off: number, v: number) => (c: Buffer) => {
  c[off] = v;
};

// ---------------------------------------------------------------- PDU type and sequence

test('receiver errors - unknown type 0x08. Expect: FES=1, FEI=0, state=ERR', () => {
  expectError(host, mutate(capsuleResp.bytes, setU8(OFF.TYPE, 0x08)), Fes.InvalidHeaderField, 0, 0x08);
  expectError(target, mutate(capsuleCmdNoData.bytes, setU8(OFF.TYPE, 0x08)), Fes.InvalidHeaderField, 0, 0x08);
});

test('receiver errors - unknown type 0xff. Expect: FES=1, FEI=0', () => {
  expectError(target, mutate(capsuleCmdNoData.bytes, setU8(OFF.TYPE, 0xff)), Fes.InvalidHeaderField, 0, 0xff);
});

test('receiver errors - host gets a controller-bound type (CapsuleCmd, H2CData, ICReq, H2CTermReq). Expect: FES=1, FEI=0', () => {
  for (const f of [capsuleCmdNoData, h2cData, icReq, h2cTermReq]) {
    expectError(host, f.bytes, Fes.InvalidHeaderField, 0, f.header.type);
  }
});

test('receiver errors - target gets a host-bound type (CapsuleResp, C2HData, R2T, ICResp, C2HTermReq). Expect: FES=1, FEI=0', () => {
  for (const f of [capsuleResp, c2hData, r2t, icResp, c2hTermReq]) {
    expectError(target, f.bytes, Fes.InvalidHeaderField, 0, f.header.type);
  }
});

test('receiver errors - target gets a CapsuleCmd before ICReq. Expect: FES=2, FEI=0', () => {
  expectError({ role: 'target' }, capsuleCmdNoData.bytes, Fes.PduSequenceError, 0, PduType.CapsuleCmd);
});

test('receiver errors - host gets a CapsuleResp before ICResp. Expect: FES=2, FEI=0', () => {
  expectError({ role: 'host' }, capsuleResp.bytes, Fes.PduSequenceError, 0, PduType.CapsuleResp);
});

test('receiver errors - a TermReq before the IC exchange is a sequence error too (as SPDK). Expect: FES=2', () => {
  expectError({ role: 'host' }, c2hTermReq.bytes, Fes.PduSequenceError, 0, PduType.C2HTermReq);
});

test('receiver errors - second ICReq. Expect: FES=2, FEI=0, after one good ICReq event', () => {
  const r = expectError({ role: 'target' }, Buffer.concat([icReq.bytes, icReq.bytes]), Fes.PduSequenceError, 0, 0);
  assert.deepEqual(
    r.events.map((e) => e.ev),
    ['pdu', 'error'],
  );
});

test('receiver errors - second ICResp. Expect: FES=2, FEI=0', () => {
  expectError(host, icResp.bytes, Fes.PduSequenceError, 0, PduType.ICResp);
});

// ---------------------------------------------------------------- HLEN, PLEN, PDO

test('receiver errors - CapsuleCmd with HLEN 24. Expect: FES=1, FEI=2', () => {
  expectError(target, mutate(capsuleCmdNoData.bytes, setU8(OFF.HLEN, 24)), Fes.InvalidHeaderField, OFF.HLEN, 4);
});

test('receiver errors - H2CData with HLEN 72. Expect: FES=1, FEI=2', () => {
  expectError(target, mutate(h2cData.bytes, setU8(OFF.HLEN, 72)), Fes.InvalidHeaderField, OFF.HLEN, 6);
});

test('receiver errors - ICReq with HLEN 127. Expect: FES=1, FEI=2', () => {
  expectError({ role: 'target' }, mutate(icReq.bytes, setU8(OFF.HLEN, 127)), Fes.InvalidHeaderField, OFF.HLEN, 0);
});

test('receiver errors - C2HTermReq with HLEN 0. Expect: FES=1, FEI=2', () => {
  expectError(host, mutate(c2hTermReq.bytes, setU8(OFF.HLEN, 0)), Fes.InvalidHeaderField, OFF.HLEN, 3);
});

test('receiver errors - ICResp with PLEN 129. Expect: FES=1, FEI=4', () => {
  expectError({ role: 'host' }, mutate(icResp.bytes, setU32(OFF.PLEN, 129)), Fes.InvalidHeaderField, OFF.PLEN, 1);
});

test('receiver errors - CapsuleResp with PLEN 28 but no header digest. Expect: FES=1, FEI=4', () => {
  expectError(host, mutate(capsuleResp.bytes, setU32(OFF.PLEN, 28)), Fes.InvalidHeaderField, OFF.PLEN, 5);
});

test('receiver errors - R2T with PLEN 24 while header digest is on. Expect: FES=1, FEI=4', () => {
  const b = mutate(r2tHdgst.bytes, setU32(OFF.PLEN, 24));
  expectError({ ...host, hdgst: true }, b, Fes.InvalidHeaderField, OFF.PLEN, PduType.R2T);
});

test('receiver errors - C2HData with PLEN = HLEN (no data). Expect: FES=1, FEI=4', () => {
  expectError(host, mutate(c2hData.bytes, setU32(OFF.PLEN, 24)), Fes.InvalidHeaderField, OFF.PLEN, 7);
});

test('receiver errors - CapsuleCmd with PLEN between the header and HLEN+HDGST. Expect: FES=1, FEI=4', () => {
  const b = mutate(capsuleCmdNoData.bytes, (c) => {
    c[OFF.FLAGS] = 0x01;
    c.writeUInt32LE(74, OFF.PLEN);
  });
  expectError({ ...target, hdgst: true }, Buffer.concat([b, Buffer.alloc(2)]), Fes.InvalidHeaderField, OFF.PLEN, 4);
});

test('receiver errors - H2CData with data digest on and PLEN = PDO + 4 (no room for data). Expect: FES=1, FEI=4', () => {
  const b = mutate(h2cData.bytes, (c) => {
    c[OFF.FLAGS] |= 2;
    c.writeUInt32LE(28, OFF.PLEN);
  });
  expectError({ ...target, ddgst: true }, b, Fes.InvalidHeaderField, OFF.PLEN, 6);
});

test('receiver errors - H2CData with PDO 20 (inside the header). Expect: FES=1, FEI=3', () => {
  expectError(target, mutate(h2cData.bytes, setU8(OFF.PDO, 20)), Fes.InvalidHeaderField, OFF.PDO, 6);
});

test('receiver errors - C2HData with PDO 24 while header digest is on (PDO inside the HDGST). Expect: FES=1, FEI=3', () => {
  const b = mutate(c2hDataBoth.bytes, setU8(OFF.PDO, 24), 24);
  expectError({ ...host, hdgst: true, ddgst: true }, b, Fes.InvalidHeaderField, OFF.PDO, 7);
});

test('receiver errors - C2HData with PDO 132 (> 128). Expect: FES=1, FEI=3', () => {
  const b = mutate(c2hData.bytes, (c) => {
    c[OFF.PDO] = 132;
    c.writeUInt32LE(132 + 12, OFF.PLEN);
  });
  expectError(host, b, Fes.InvalidHeaderField, OFF.PDO, 7);
});

test('receiver errors - C2HData with PDO = PLEN. Expect: FES=1, FEI=3', () => {
  const b = mutate(c2hData.bytes, (c) => {
    c[OFF.PDO] = 36;
  });
  expectError(host, b, Fes.InvalidHeaderField, OFF.PDO, 7);
});

test('receiver errors - CapsuleCmd with in-capsule data and PDO 0. Expect: FES=1, FEI=3', () => {
  expectError(target, mutate(capsuleCmdIcd.bytes, setU8(OFF.PDO, 0)), Fes.InvalidHeaderField, OFF.PDO, 4);
});

test('receiver errors - C2HData PDO 28 not aligned to our HPDA 3 (16 bytes). Expect: FES=1, FEI=3', () => {
  const b = mutate(c2hData.bytes, (c) => {
    c[OFF.PDO] = 28;
    c.writeUInt32LE(28 + 12, OFF.PLEN);
  });
  expectError({ ...host, pda: 3 }, b, Fes.InvalidHeaderField, OFF.PDO, 7);
});

// ---------------------------------------------------------------- digests and flags

test('receiver errors - header digest on, HDGSTF missing. Expect: FES=1, FEI=1', () => {
  const b = mutate(capsuleRespHdgst.bytes, setU8(OFF.FLAGS, 0));
  expectError({ ...host, hdgst: true }, b, Fes.InvalidHeaderField, OFF.FLAGS, 5);
});

test('receiver errors - header digest off, HDGSTF set. Expect: FES=1, FEI=1', () => {
  expectError(host, capsuleRespHdgst.bytes, Fes.InvalidHeaderField, OFF.FLAGS, 5);
});

test('receiver errors - header digest mismatch (last digest byte flipped). Expect: FES=3, FEI=0', () => {
  const b = mutate(capsuleRespHdgst.bytes, (c) => {
    c[27] ^= 0x80;
  });
  expectError({ ...host, hdgst: true }, b, Fes.HeaderDigestError, 0, 5);
});

test('receiver errors - header digest mismatch (one CQE bit flipped). Expect: FES=3, FEI=0', () => {
  const b = mutate(capsuleRespHdgst.bytes, (c) => {
    c[8 + 14] ^= 0x02;
  });
  expectError({ ...host, hdgst: true }, b, Fes.HeaderDigestError, 0, 5);
});

test('receiver errors - data digest on, DDGSTF clear on a C2HData. Expect: FES=1, FEI=1', () => {
  const b = mutate(c2hDataBoth.bytes, setU8(OFF.FLAGS, 0x05), 24);
  expectError({ ...host, hdgst: true, ddgst: true }, b, Fes.InvalidHeaderField, OFF.FLAGS, 7);
});

test('receiver errors - data digest off, DDGSTF set on a CapsuleCmd with data. Expect: FES=1, FEI=1', () => {
  const b = mutate(capsuleCmdIcd.bytes, (c) => {
    c[OFF.FLAGS] = 0x02;
    c.writeUInt32LE(84, OFF.PLEN);
  });
  expectError(target, Buffer.concat([b, Buffer.alloc(4)]), Fes.InvalidHeaderField, OFF.FLAGS, 4);
});

// Regression test for 2b54c1c: SUCCESS without LAST was passed on to the handler unchecked.
test('receiver errors - C2HData SUCCESS without LAST_PDU. Expect: FES=1, FEI=1', () => {
  expectError(host, mutate(c2hDataSuccess.bytes, setU8(OFF.FLAGS, 0x08)), Fes.InvalidHeaderField, OFF.FLAGS, 7);
});

// Regression test for 2b54c1c: DDGSTF was checked before the header digest verified the header.
test('receiver errors - a bad header digest is reported before the flag and DATAL checks. Expect: FES=3', () => {
  // DDGSTF cleared and DATAL wrong, digest left as it was: the digest check wins.
  const b = mutate(h2cDataBoth.bytes, (c) => {
    c[OFF.FLAGS] = 0x05;
    c.writeUInt32LE(9, OFF.DATAL);
  });
  expectError({ ...target, hdgst: true, ddgst: true }, b, Fes.HeaderDigestError, 0, 6);
});

// ---------------------------------------------------------------- lengths

test('receiver errors - C2HData longer than maxDataLen. Expect: FES=5, FEI=0', () => {
  expectError({ ...host, maxDataLen: 11 }, c2hData.bytes, Fes.DataLimitExceeded, 0, 7);
});

test('receiver errors - CapsuleCmd in-capsule data longer than maxDataLen. Expect: FES=5, FEI=0', () => {
  expectError({ ...target, maxDataLen: 7 }, capsuleCmdIcd.bytes, Fes.DataLimitExceeded, 0, 4);
});

test('receiver errors - H2CData claiming PLEN 0xffffffff is refused from the CH, nothing sized by it. Expect: FES=5', () => {
  const b = mutate(h2cData.bytes, setU32(OFF.PLEN, 0xffffffff)).subarray(0, 8);
  expectError({ ...target, maxDataLen: 1 << 20 }, b, Fes.DataLimitExceeded, 0, 6);
});

test('receiver errors - H2CData DATAL 9 but PLEN says 8. Expect: FES=1, FEI=16', () => {
  expectError(target, mutate(h2cData.bytes, setU32(OFF.DATAL, 9)), Fes.InvalidHeaderField, OFF.DATAL, 6);
});

test('receiver errors - C2HData DATAL 0 with digests on (resealed header). Expect: FES=1, FEI=16', () => {
  const b = mutate(c2hDataBoth.bytes, setU32(OFF.DATAL, 0), 24);
  expectError({ ...host, hdgst: true, ddgst: true }, b, Fes.InvalidHeaderField, OFF.DATAL, 7);
});

test('receiver errors - C2HTermReq PLEN 23 (below 24). Expect: FES=1, FEI=4', () => {
  expectError(host, mutate(c2hTermReq.bytes, setU32(OFF.PLEN, 23)), Fes.InvalidHeaderField, OFF.PLEN, 3);
});

test('receiver errors - H2CTermReq PLEN 153 (above 152). Expect: FES=1, FEI=4', () => {
  const b = Buffer.concat([mutate(h2cTermReq.bytes, setU32(OFF.PLEN, 153)), Buffer.alloc(129)]);
  expectError(target, b, Fes.InvalidHeaderField, OFF.PLEN, 2);
});

test('receiver errors - TermReq PLEN 24 and 152 are the accepted bounds', () => {
  for (const plen of [24, 152]) {
    const b = Buffer.concat([mutate(h2cTermReq.bytes, setU32(OFF.PLEN, plen)), Buffer.alloc(plen - 24, 0x3c)]);
    const r = new Recorder(target);
    r.rx.feed(b);
    assert.equal(r.errors.length, 0);
    const ev = r.events[0];
    assert.ok(ev.ev === 'pdu' && ev.pdu.type === PduType.H2CTermReq && ev.pdu.data.equals(Buffer.alloc(plen - 24, 0x3c)));
  }
});

// ---------------------------------------------------------------- handler errors, stickiness, TermReq bytes

test('receiver errors - an error returned by onPdu is reported once, as given', () => {
  const err = new ProtocolError('unknown cid', Fes.InvalidHeaderField, OFF.CCCID, PduType.R2T);
  const r = expectError({ ...host, rejectType: { type: PduType.R2T, err } }, r2t.bytes, 1, OFF.CCCID, PduType.R2T);
  assert.equal(r.errors[0], err);
});

test('receiver errors - ERR is sticky: more bytes, even valid PDUs, give no event', () => {
  const r = expectError(host, mutate(capsuleResp.bytes, setU8(OFF.HLEN, 25)), 1, OFF.HLEN, 5);
  const n = r.events.length;
  for (let i = 0; i < 3; i++) r.rx.feed(capsuleResp.bytes);
  r.rx.feedPlaced(4);
  assert.equal(r.events.length, n);
  assert.equal(r.errors.length, 1);
});

test('receiver errors - TermReq error data after a bad CH is the 8-byte CH', () => {
  const bad = mutate(capsuleCmdNoData.bytes, setU8(OFF.HLEN, 24));
  const r = expectError(target, bad, 1, OFF.HLEN, 4);
  const term = encodeTermReq(PduType.C2HTermReq, r.errors[0].fes, r.errors[0].fei, r.rx.lastHeader);
  assert.equal(term.toString('hex'), `0300181820000000010002000000${'00'.repeat(10)}${bad.subarray(0, 8).toString('hex')}`);
});

// Regression test for 2b54c1c: lastHeader included the header digest.
test('receiver errors - TermReq error data after a header digest error is the HLEN header, without the digest', () => {
  const bad = mutate(capsuleCmdIcdBoth.bytes, (c) => {
    c[75] ^= 1;
  });
  const r = expectError({ ...target, hdgst: true, ddgst: true }, bad, Fes.HeaderDigestError, 0, 4);
  assert.ok(r.rx.lastHeader.equals(bad.subarray(0, 72)));
  const term = encodeTermReq(PduType.C2HTermReq, 3, 0, r.rx.lastHeader);
  assert.equal(term.readUInt32LE(OFF.PLEN), 24 + 72);
});

test('receiver errors - feedPlaced outside a data phase. Expect: FES=2', () => {
  const r = new Recorder(host);
  r.rx.feedPlaced(1);
  assert.deepEqual(r.events, [{ ev: 'error', fes: Fes.PduSequenceError, fei: 0, pduType: -1 }]);
  assert.equal(r.rx.state, RecvState.ERR);
});

// Headers that arrive whole are read where they lie in the chunk (no copy); the chunk
// (a reused staging buffer) is overwritten after feed() returns, so lastHeader must not
// point into it.
test('receiver errors - lastHeader survives the chunk being reused (header read in place)', () => {
  const staging = Buffer.from(mutate(capsuleResp.bytes, setU8(OFF.HLEN, 25)));
  const want = Buffer.from(staging.subarray(0, 8));
  const r = new Recorder(host);
  r.rx.feed(staging);
  staging.fill(0xee);
  assert.equal(r.errors[0].fes, Fes.InvalidHeaderField);
  assert.ok(r.rx.lastHeader.equals(want));
});

test('receiver errors - a data-phase error names the data PDU header even after its chunk was reused', () => {
  const staging = Buffer.from(c2hData.bytes);
  const hdr = Buffer.from(staging.subarray(0, 24));
  const r = new Recorder(host);
  r.rx.feed(staging.subarray(0, 26)); // header + 2 data bytes, read in place
  assert.equal(r.rx.state, RecvState.DATA);
  staging.fill(0xee);
  r.rx.feedPlaced(c2hData.bytes.length); // more than the data left: an error in the data phase
  assert.equal(r.errors.length, 1);
  assert.ok(r.rx.lastHeader.equals(hdr));
});
