// The target's DH-HMAC-CHAP, byte by byte from a raw host: AUTHREQ, the status of a
// queue used before it authenticated, malformed messages answered with Failure1
// and the spec's explanation, replay and TID checks, a capsule split at every byte.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  AUTHREQ_ATR,
  AuthId,
  buildAuthSqe,
  decodeAuthMessage,
  encodeNegotiate,
  encodeReply,
  FailureExp,
  type Failure,
} from '../../src/protocol/auth.ts';
import { Cns, Prop } from '../../src/protocol/constants.ts';
import {
  AuthHash,
  augmentChallenge,
  computeResponse,
  DhGroup,
  formatDhchapKey,
  parseDhchapKey,
  transformKey,
} from '../../src/protocol/dhchap.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { HOSTNQN, RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:auth-raw';
const KEY = formatDhchapKey({ hmac: 1, key: randomBytes(32) });
const DH_HOST = 'nqn.2024-01.io.nvmeotcp:auth-raw-dh';
const ALL = [AuthHash.Sha256, AuthHash.Sha384, AuthHash.Sha512];
const GROUPS: DhGroup[] = [0, 1, 2, 3, 4, 5];
const STATUS_AUTH_REQUIRED = 0x4191; // DNR | SCT 1 | SC 91h
const STATUS_INVALID_FIELD = 0x4002;

let tgt: NvmeTarget;
let port: number;

before(async () => {
  tgt = new NvmeTarget({
    hosts: [
      { nqn: HOSTNQN, dhchapKey: KEY, dhchapHash: 'hmac(sha384)' },
      { nqn: DH_HOST, dhchapKey: KEY, dhchapDhgroup: 'ffdhe2048' },
    ],
    subsystems: [{ nqn: NQN, allowedHosts: [HOSTNQN, DH_HOST], namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] }],
  });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
});

after(async () => {
  await tgt.close();
});

async function adminQueue(t: { after: (fn: () => void) => void }, hostnqn = HOSTNQN): Promise<RawClient> {
  const c = await RawClient.open(port);
  t.after(() => c.close());
  const cqe = await c.connectQueue({ qid: 0, subnqn: NQN, hostnqn });
  assert.equal(cqe.status, 0);
  assert.equal(cqe.dw0 & AUTHREQ_ATR, AUTHREQ_ATR, 'AUTHREQ.ATR set in the Connect result');
  return c;
}

async function authSend(c: RawClient, msg: Buffer): Promise<number> {
  const r = await c.exchange(buildAuthSqe('send', msg.length, { cid: c.cid() }), { icd: msg });
  return r.cqe!.status;
}

async function authRecv(c: RawClient, al = 4096) {
  const r = await c.exchange(buildAuthSqe('receive', al, { cid: c.cid() }));
  assert.equal(r.cqe?.status ?? 0, 0);
  assert.equal(r.data.length, al);
  return decodeAuthMessage(r.data);
}

async function expectFailure1(c: RawClient, exp: number): Promise<void> {
  const m = await authRecv(c);
  assert.equal(m.id, AuthId.Failure1, `expected Failure1, got ${JSON.stringify(m)}`);
  assert.equal((m as Failure).reason, 1);
  assert.equal((m as Failure).exp, exp);
}

/** A correct Reply to `ch` for HOSTNQN with the null group. */
function replyTo(ch: { tid: number; c1: Buffer; seqnum: number; hashId: number }, tid = ch.tid): Buffer {
  const key = parseDhchapKey(KEY);
  const hash = ch.hashId as AuthHash;
  const r = computeResponse('host', {
    hash,
    key: transformKey(key, HOSTNQN),
    challenge: augmentChallenge(hash, ch.c1, undefined),
    seqnum: ch.seqnum,
    tid,
    scc: 0,
    ownNqn: HOSTNQN,
    peerNqn: NQN,
  });
  return encodeReply({ tid, cvalid: false, seqnum: 0, response: r, c2: Buffer.alloc(r.length), dhv: Buffer.alloc(0) });
}

test('target auth - before authenticating, Identify and Property Get are refused with Authentication Required', async (t) => {
  const c = await adminQueue(t);
  assert.equal((await c.propGet(Prop.CAP, true)).status, STATUS_AUTH_REQUIRED);
  assert.equal((await c.propSet(Prop.CC, 0x00460001)).status, STATUS_AUTH_REQUIRED);
  const id = await c.identify(Cns.Controller);
  assert.equal(id.cqe!.status, STATUS_AUTH_REQUIRED);
  assert.equal(id.data.length, 0, 'nothing readable');
});

test('target auth - a full transaction: Challenge with the configured hash, Success1, then commands run', async (t) => {
  const c = await adminQueue(t);
  assert.equal(await authSend(c, encodeNegotiate(7, ALL, GROUPS)), 0);
  const ch = await authRecv(c);
  assert.equal(ch.id, AuthId.Challenge);
  if (ch.id !== AuthId.Challenge) return;
  assert.equal(ch.tid, 7);
  assert.equal(ch.hashId, AuthHash.Sha384);
  assert.equal(ch.dhgid, DhGroup.Null);
  assert.equal(ch.c1.length, 48);
  assert.notEqual(ch.seqnum, 0);
  assert.equal(await authSend(c, replyTo(ch)), 0);
  const ok = await authRecv(c);
  assert.equal(ok.id, AuthId.Success1);
  assert.equal((await c.propGet(Prop.CAP, true)).status, 0);
});

test('target auth - a replayed reply from an earlier transaction is refused: fresh challenge each time', async (t) => {
  const c = await adminQueue(t);
  await authSend(c, encodeNegotiate(1, ALL, GROUPS));
  const ch1 = await authRecv(c);
  assert.equal(ch1.id, AuthId.Challenge);
  if (ch1.id !== AuthId.Challenge) return;
  const recorded = replyTo(ch1);
  await authSend(c, recorded);
  assert.equal((await authRecv(c)).id, AuthId.Success1);
  // The host asks again (re-authentication) with the same TID; the recorded reply no longer fits.
  await authSend(c, encodeNegotiate(1, ALL, GROUPS));
  const ch2 = await authRecv(c);
  assert.equal(ch2.id, AuthId.Challenge);
  if (ch2.id !== AuthId.Challenge) return;
  assert.notDeepEqual(ch2.c1, ch1.c1);
  await authSend(c, recorded);
  await expectFailure1(c, FailureExp.Failed);
  assert.equal((await c.propGet(Prop.CAP, true)).status, STATUS_AUTH_REQUIRED, 'a failed transaction leaves the queue unauthenticated');
});

test('target auth - a reply with another transaction ID: Failure1 incorrect payload', async (t) => {
  const c = await adminQueue(t);
  await authSend(c, encodeNegotiate(5, ALL, GROUPS));
  const ch = await authRecv(c);
  if (ch.id !== AuthId.Challenge) assert.fail('no challenge');
  await authSend(c, replyTo(ch, 6));
  await expectFailure1(c, FailureExp.IncorrectPayload);
});

test('target auth - malformed and unusable messages are answered with Failure1 and the spec explanation', async (t) => {
  const neg = encodeNegotiate(3, ALL, GROUPS);
  const withDesc = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(neg);
    f(b);
    return b;
  };
  const cases: [string, Buffer, number][] = [
    ['negotiate cut in its descriptor', neg.subarray(0, 40), FailureExp.IncorrectPayload],
    ['negotiate header only', neg.subarray(0, 6), FailureExp.IncorrectPayload],
    ['NAPD 0', withDesc((b) => (b[7] = 0)), FailureExp.IncorrectPayload],
    ['HALEN 31', withDesc((b) => (b[10] = 31)), FailureExp.IncorrectPayload],
    ['unknown protocol AUTHID', withDesc((b) => (b[8] = 0x7)), FailureExp.ProtocolNotUsable],
    ['only unknown hash IDs', encodeNegotiate(3, [0x7 as AuthHash, 0xff as AuthHash], GROUPS), FailureExp.HashNotUsable],
    ['only SHA-256 (the host wants SHA-384)', encodeNegotiate(3, [AuthHash.Sha256], GROUPS), FailureExp.HashNotUsable],
    ['only unknown DH group IDs', encodeNegotiate(3, ALL, [0x9 as DhGroup]), FailureExp.DhGroupNotUsable],
    ['secure channel concatenation asked', encodeNegotiate(3, ALL, GROUPS, 1), FailureExp.ConcatMismatch],
    ['unknown AUTH_TYPE', withDesc((b) => (b[0] = 0x5)), FailureExp.IncorrectMessage],
    [
      'a reply before any challenge',
      replyTo({ tid: 3, c1: Buffer.alloc(48), seqnum: 1, hashId: AuthHash.Sha384 }),
      FailureExp.IncorrectMessage,
    ],
  ];
  for (const [what, msg, exp] of cases) {
    const c = await adminQueue(t);
    assert.equal(await authSend(c, msg), 0, what);
    await expectFailure1(c, exp).catch((e: Error) => assert.fail(`${what}: ${e.message}`));
    c.close();
  }
});

test('target auth - reply with a wrong HL, or a DH value cut short, or out of range: Failure1 incorrect payload', async (t) => {
  const dh = async () => {
    const c = await adminQueue(t, DH_HOST);
    await authSend(c, encodeNegotiate(9, ALL, GROUPS));
    const ch = await authRecv(c);
    if (ch.id !== AuthId.Challenge) assert.fail('no challenge');
    assert.equal(ch.dhgid, DhGroup.Ffdhe2048);
    assert.equal(ch.dhv.length, 256);
    return c;
  };
  const r = Buffer.alloc(32, 1);
  const bad = [
    encodeReply({ tid: 9, cvalid: false, seqnum: 0, response: Buffer.alloc(48), c2: Buffer.alloc(48), dhv: randomBytes(256) }),
    encodeReply({ tid: 9, cvalid: false, seqnum: 0, response: r, c2: Buffer.alloc(32), dhv: randomBytes(255) }),
    encodeReply({ tid: 9, cvalid: false, seqnum: 0, response: r, c2: Buffer.alloc(32), dhv: Buffer.alloc(256) }),
    encodeReply({ tid: 9, cvalid: false, seqnum: 0, response: r, c2: Buffer.alloc(32), dhv: randomBytes(256) }).subarray(0, 200),
  ];
  for (const msg of bad) {
    const c = await dh();
    await authSend(c, msg);
    await expectFailure1(c, FailureExp.IncorrectPayload);
    c.close();
  }
});

test('target auth - command field errors: SECP, SPSP, TL 0, AL above 4 KiB → Invalid Field', async (t) => {
  const c = await adminQueue(t);
  const msg = encodeNegotiate(1, ALL, GROUPS);
  for (const f of [{ secp: 0xea }, { spsp0: 0 }, { spsp1: 2 }, { len: 0 }]) {
    const r = await c.exchange(buildAuthSqe('send', msg.length, { cid: c.cid(), ...f }), { icd: msg });
    assert.equal(r.cqe!.status, STATUS_INVALID_FIELD, JSON.stringify(f));
  }
  const big = await c.exchange(buildAuthSqe('receive', 8192, { cid: c.cid() }));
  assert.equal(big.cqe!.status, STATUS_INVALID_FIELD);
});

test('target auth - a receive out of turn gets Failure1 incorrect protocol message', async (t) => {
  const c = await adminQueue(t);
  await expectFailure1(c, FailureExp.IncorrectMessage);
});

test('target auth - after 3 failed transactions the connection is closed', async (t) => {
  const c = await adminQueue(t);
  for (let i = 0; i < 3; i++) {
    await authSend(c, encodeNegotiate(i, [AuthHash.Sha256], GROUPS));
    await expectFailure1(c, FailureExp.HashNotUsable);
  }
  c.send(...c.capsule(buildAuthSqe('send', 72, { cid: c.cid() }), encodeNegotiate(4, ALL, GROUPS)));
  await c.closed;
});

test('target auth - the Negotiate capsule sent one byte per write gives the same Challenge', async (t) => {
  const c = await adminQueue(t);
  const sqe = buildAuthSqe('send', 72, { cid: c.cid() });
  const wire = Buffer.concat(c.capsule(sqe, encodeNegotiate(2, ALL, GROUPS)));
  for (let i = 0; i < wire.length; i++) {
    c.send(wire.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
  const resp = await c.nextPdu();
  assert.ok(resp !== undefined);
  const ch = await authRecv(c);
  assert.equal(ch.id, AuthId.Challenge);
  assert.equal(ch.id === AuthId.Challenge && ch.tid, 2);
});
