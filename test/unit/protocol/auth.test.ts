// DH-HMAC-CHAP messages: byte-exact layouts (Linux include/linux/nvme.h nvmf_auth_*)
// and decoding of every truncation without a throw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AuthId,
  buildAuthSqe,
  decodeAuthMessage,
  encodeChallenge,
  encodeFailure,
  encodeNegotiate,
  encodeReply,
  encodeSuccess1,
  encodeSuccess2,
  FailureExp,
  parseAuthSqe,
} from '../../../src/protocol/auth.ts';
import { AuthHash } from '../../../src/protocol/dhchap.ts';
import { hex } from '../../helpers/hex.ts';

test('auth sqe - Authentication Send: FCTYPE 05h, SPSP0/1 01h, SECP E9h at byte 43, TL at 44, in-capsule SGL', () => {
  const sqe = buildAuthSqe('send', 72, { cid: 9 });
  assert.equal(sqe[0], 0x7f);
  assert.equal(sqe.readUInt16LE(2), 9);
  assert.equal(sqe[4], 0x05);
  assert.equal(sqe[39], 0x01);
  assert.equal(sqe.readUInt32LE(32), 72);
  assert.deepEqual([sqe[41], sqe[42], sqe[43]], [0x01, 0x01, 0xe9]);
  assert.deepEqual(parseAuthSqe(sqe), { secp: 0xe9, spsp0: 1, spsp1: 1, len: 72 });
  const rcv = buildAuthSqe('receive', 4096);
  assert.equal(rcv[4], 0x06);
  assert.equal(rcv[39], 0x5a);
  assert.equal(rcv.readUInt32LE(44), 4096);
});

test('auth negotiate - 8-byte header and one 64-byte DH-HMAC-CHAP descriptor, hash IDs at 0, group IDs at 30', () => {
  const b = encodeNegotiate(0x1234, [1, 2, 3], [0, 1, 2, 3, 4, 5]);
  const want = hex`
    00 00 00 00 34 12 00 01   # AUTH_TYPE common, AUTH_ID negotiate, T_ID 0x1234, SC_C 0, NAPD 1
    01 00 03 06               # AUTHID DH-HMAC-CHAP, HALEN 3, DHLEN 6
    01 02 03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 01 02 03 04 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  `;
  assert.deepEqual(b, want);
  assert.deepEqual(decodeAuthMessage(b), {
    id: AuthId.Negotiate,
    tid: 0x1234,
    scc: 0,
    protocols: [{ authId: 1, hashes: [1, 2, 3], dhGroups: [0, 1, 2, 3, 4, 5] }],
  });
});

test('auth messages - challenge, reply, success1/2, failure: layouts and round trips', () => {
  const c1 = Buffer.alloc(32, 0xc1);
  const dhv = Buffer.alloc(256, 0xd4);
  const ch = encodeChallenge({ tid: 2, hashId: 1, dhgid: 1, seqnum: 0x11223344, c1, dhv });
  assert.deepEqual(ch.subarray(0, 16), hex`01 01 00 00 02 00 20 00 01 01 00 01 44 33 22 11`);
  assert.equal(ch.length, 16 + 32 + 256);
  assert.deepEqual(decodeAuthMessage(ch), { id: AuthId.Challenge, tid: 2, hashId: 1, dhgid: 1, seqnum: 0x11223344, c1, dhv });
  const response = Buffer.alloc(32, 0x71);
  const c2 = Buffer.alloc(32, 0xc2);
  const rep = encodeReply({ tid: 2, cvalid: true, seqnum: 5, response, c2, dhv });
  assert.deepEqual(rep.subarray(0, 16), hex`01 02 00 00 02 00 20 00 01 00 00 01 05 00 00 00`);
  assert.deepEqual(decodeAuthMessage(rep), { id: AuthId.Reply, tid: 2, hl: 32, cvalid: true, seqnum: 5, response, c2, dhv });
  const s1 = encodeSuccess1(2, AuthHash.Sha256, response);
  assert.deepEqual(s1.subarray(0, 16), hex`01 03 00 00 02 00 20 00 01 00 00 00 00 00 00 00`);
  assert.deepEqual(decodeAuthMessage(s1), { id: AuthId.Success1, tid: 2, hl: 32, rvalid: true, response });
  assert.deepEqual(encodeSuccess2(2), hex`01 04 00 00 02 00 00 00 00 00 00 00 00 00 00 00`);
  assert.deepEqual(encodeFailure(AuthId.Failure1, 2, FailureExp.IncorrectPayload), hex`00 f1 00 00 02 00 01 06`);
  assert.deepEqual(encodeFailure(AuthId.Failure2, 2, FailureExp.Failed), hex`00 f0 00 00 02 00 01 01`);
});

test('auth decode - every truncation of every message is an incorrect-payload error, never a throw', () => {
  const msgs = [
    encodeNegotiate(1, [1, 2, 3], [0, 1]),
    encodeChallenge({ tid: 1, hashId: 3, dhgid: 5, seqnum: 1, c1: Buffer.alloc(64, 1), dhv: Buffer.alloc(1024, 2) }),
    encodeReply({ tid: 1, cvalid: false, seqnum: 0, response: Buffer.alloc(48, 3), c2: Buffer.alloc(48), dhv: Buffer.alloc(384, 4) }),
    encodeSuccess1(1, AuthHash.Sha512, undefined),
    encodeSuccess2(1),
  ];
  for (const m of msgs) {
    for (let n = 0; n < m.length; n++) {
      const d = decodeAuthMessage(m.subarray(0, n));
      assert.equal(d.id, -1, `${n} of ${m.length} bytes of message 0x${m[1]!.toString(16)}`);
      if (d.id === -1) assert.equal(d.exp, FailureExp.IncorrectPayload);
    }
    assert.notEqual(decodeAuthMessage(m).id, -1);
  }
});
