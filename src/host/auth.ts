// In-band authentication on the host (DH-HMAC-CHAP, NVMe Base 2.0 §8.13), the host's
// side of Linux host/auth.c: one transaction on one queue, run after its Connect
// when the Connect result has AUTHREQ.ATR set, and again whenever the host asks
// (NvmeController.reauthenticate, as writing Linux's dhchap_secret does).
//
//   Send(Negotiate: every hash, every group) → Receive(Challenge) →
//   Send(Reply: R1, and C2/S2 when a controller secret is given) →
//   Receive(Success1) → verify R2 → Send(Success2), or Send(Failure2) if R2 is wrong.
import { randomBytes, randomInt } from 'node:crypto';
import {
  AuthId,
  buildAuthSqe,
  decodeAuthMessage,
  describeFailure,
  encodeFailure,
  encodeNegotiate,
  encodeReply,
  encodeSuccess2,
  FailureExp,
} from '../protocol/auth.ts';
import {
  ALL_DH_GROUPS,
  ALL_HASHES,
  augmentChallenge,
  computeResponse,
  DhExchange,
  DhGroup,
  type DhchapKey,
  dhValueLen,
  hashLen,
  isAuthHash,
  isDhGroup,
  sameResponse,
  transformKey,
} from '../protocol/dhchap.ts';
import { AuthenticationError } from '../protocol/errors.ts';
import type { HostQueue } from './queue.ts';
import { DataDir, HostCommand } from './request.ts';

/** The secrets a host authenticates with (ConnectOptions.dhchapSecret / dhchapCtrlSecret, parsed). */
export interface HostSecrets {
  hostKey: DhchapKey;
  /** Set: bidirectional, the controller must prove it knows this secret too. */
  ctrlKey: DhchapKey | undefined;
}

/** Receive buffer (AL) for every Authentication Receive, as Linux's CHAP_BUF_SIZE. */
const AUTH_AL = 4096;

let nextTid = randomInt(0, 0x1_0000);

/**
 * Authenticates queue `q` (after its Connect asked for it). Resolves once the
 * controller accepted the host (and, bidirectional, the host the controller);
 * rejects with AuthenticationError naming the reason otherwise.
 */
export async function authenticateQueue(
  q: HostQueue,
  s: HostSecrets,
  nqn: { host: string; subsys: string },
  timeoutMs: number,
): Promise<void> {
  const tid = nextTid++ & 0xffff;
  const qid = q.qid;
  const fail = (exp: number, why: string): AuthenticationError =>
    new AuthenticationError(`queue ${qid}: authentication failed: ${why} (${describeFailure({ reason: 1, exp })})`, exp);

  const send = (msg: Buffer): Promise<HostCommand> =>
    q.submit(new HostCommand(buildAuthSqe('send', msg.length), msg, DataDir.H2C, timeoutMs));
  const receive = async () => {
    const buf = Buffer.alloc(AUTH_AL);
    await q.submit(new HostCommand(buildAuthSqe('receive', AUTH_AL), buf, DataDir.C2H, timeoutMs));
    const m = decodeAuthMessage(buf);
    if (m.id === AuthId.Failure1) {
      throw new AuthenticationError(`queue ${qid}: the controller refused authentication (${describeFailure(m)})`, m.exp);
    }
    return m;
  };
  /** The host ends the transaction with Failure2 (as Linux does) and fails. */
  const abandon = async (exp: number, why: string): Promise<never> => {
    await send(encodeFailure(AuthId.Failure2, tid, exp)).catch(() => undefined);
    throw fail(exp, why);
  };

  await send(encodeNegotiate(tid, ALL_HASHES, ALL_DH_GROUPS));
  const ch = await receive();
  if (ch.id !== AuthId.Challenge) return abandon(ch.id === -1 ? ch.exp : FailureExp.IncorrectMessage, 'expected a challenge');
  if (ch.tid !== tid) return abandon(FailureExp.IncorrectPayload, `challenge for transaction ${ch.tid}, not ${tid}`);
  if (!isAuthHash(ch.hashId)) return abandon(FailureExp.HashNotUsable, `hash 0x${ch.hashId.toString(16)} was not offered`);
  if (!isDhGroup(ch.dhgid)) return abandon(FailureExp.DhGroupNotUsable, `DH group 0x${ch.dhgid.toString(16)} was not offered`);
  const hash = ch.hashId;
  const group = ch.dhgid;
  if (ch.c1.length !== hashLen(hash) || ch.dhv.length !== dhValueLen(group)) {
    return abandon(FailureExp.IncorrectPayload, `challenge HL ${ch.c1.length} / DHVLEN ${ch.dhv.length} do not fit the hash and group`);
  }
  let session: Buffer | undefined;
  let dhv: Buffer = Buffer.alloc(0);
  if (group !== DhGroup.Null) {
    const dh = new DhExchange(group);
    session = dh.sharedSecret(ch.dhv);
    if (session === undefined) return abandon(FailureExp.IncorrectPayload, 'the controller DH value is out of range');
    dhv = dh.publicValue;
  }
  const r1 = computeResponse('host', {
    hash,
    key: transformKey(s.hostKey, nqn.host),
    challenge: augmentChallenge(hash, ch.c1, session),
    seqnum: ch.seqnum,
    tid,
    scc: 0,
    ownNqn: nqn.host,
    peerNqn: nqn.subsys,
  });
  const bidi = s.ctrlKey !== undefined;
  const c2 = bidi ? randomBytes(hashLen(hash)) : Buffer.alloc(hashLen(hash));
  const s2 = bidi ? randomInt(1, 0x1_0000_0000) : 0;
  await send(encodeReply({ tid, cvalid: bidi, seqnum: s2, response: r1, c2, dhv }));

  const ok = await receive();
  if (ok.id !== AuthId.Success1) return abandon(ok.id === -1 ? ok.exp : FailureExp.IncorrectMessage, 'expected success1');
  if (ok.tid !== tid || ok.hl !== hashLen(hash)) return abandon(FailureExp.IncorrectPayload, 'success1 does not match the transaction');
  if (!bidi) return;
  if (!ok.rvalid) return abandon(FailureExp.Failed, 'the controller sent no response to the host challenge');
  const r2 = computeResponse('controller', {
    hash,
    key: transformKey(s.ctrlKey!, nqn.subsys),
    challenge: augmentChallenge(hash, c2, session),
    seqnum: s2,
    tid,
    scc: 0,
    ownNqn: nqn.subsys,
    peerNqn: nqn.host,
  });
  if (!sameResponse(r2, ok.response)) return abandon(FailureExp.Failed, 'the controller does not know the controller secret');
  await send(encodeSuccess2(tid));
}
