// In-band authentication on the target (DH-HMAC-CHAP, NVMe Base 2.0 §8.13): the
// per-host configuration (nvmet's configfs host attributes dhchap_key,
// dhchap_ctrl_key, dhchap_hash, dhchap_dhgroup), one transaction state per queue,
// and the Authentication Send / Receive commands.
//
// Flow on one queue (the controller's side of Linux target/fabrics-cmd-auth.c):
//   Connect → AUTHREQ.ATR in DW0 → Send(Negotiate) → Receive(Challenge) →
//   Send(Reply) → Receive(Success1, with R2 when the host asked for it) →
//   Send(Success2) when bidirectional. Anything wrong → the next Receive returns
//   Failure1 with the reason, and the queue stays unauthenticated: every other
//   command gets Authentication Required (SCT 1, SC 91h), as Linux's nvmet does.
import { randomBytes, randomInt } from 'node:crypto';
import {
  AuthId,
  decodeAuthMessage,
  encodeChallenge,
  encodeFailure,
  encodeSuccess1,
  FailureExp,
  type Negotiate,
  type Reply,
} from '../protocol/auth.ts';
import {
  type AuthHash,
  augmentChallenge,
  computeResponse,
  DhExchange,
  DhGroup,
  type DhchapKey,
  dhValueLen,
  hashLen,
  parseDhchapKey,
  parseDhGroupName,
  parseHashName,
  sameResponse,
  transformKey,
} from '../protocol/dhchap.ts';
import { InvalidArgumentError } from '../protocol/errors.ts';

/** A host the target knows, with nvmet's per-host authentication attributes. */
export interface HostConfig {
  nqn: string;
  /** dhchap_key: the host's secret, `DHHC-1:..:` as `nvme gen-dhchap-key` prints it. Authentication is required when set. */
  dhchapKey?: string | undefined;
  /** dhchap_ctrl_key: the controller's secret, for bidirectional authentication when the host asks. */
  dhchapCtrlKey?: string | undefined;
  /** dhchap_hash: hmac(sha256) (default), hmac(sha384), hmac(sha512). */
  dhchapHash?: string | undefined;
  /** dhchap_dhgroup: null (default), ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144, ffdhe8192. */
  dhchapDhgroup?: string | undefined;
}

export interface HostAuth {
  hostKey: DhchapKey;
  ctrlKey: DhchapKey | undefined;
  hash: AuthHash;
  group: DhGroup;
}

/** The hosts that must authenticate, by host NQN (hosts without a dhchap_key are left out). */
export function resolveHostAuth(hosts: readonly HostConfig[] | undefined): ReadonlyMap<string, HostAuth> {
  const out = new Map<string, HostAuth>();
  for (const h of hosts ?? []) {
    if (typeof h.nqn !== 'string' || h.nqn === '') throw new InvalidArgumentError('hosts: every host needs an nqn');
    if (out.has(h.nqn)) throw new InvalidArgumentError(`hosts: ${h.nqn} is listed twice`);
    if (h.dhchapKey === undefined) {
      if (h.dhchapCtrlKey !== undefined) throw new InvalidArgumentError(`host ${h.nqn}: dhchap_ctrl_key needs a dhchap_key`);
      continue;
    }
    out.set(h.nqn, {
      hostKey: parseDhchapKey(h.dhchapKey, `host ${h.nqn} dhchap_key`),
      ctrlKey: h.dhchapCtrlKey === undefined ? undefined : parseDhchapKey(h.dhchapCtrlKey, `host ${h.nqn} dhchap_ctrl_key`),
      hash: parseHashName(h.dhchapHash ?? 'hmac(sha256)'),
      group: parseDhGroupName(h.dhchapDhgroup ?? 'null'),
    });
  }
  return out;
}

/** Largest TL / AL accepted: every message fits (a Reply is at most 16 + 2·64 + 1024 bytes), as Linux's 4 KiB buffer. */
export const AUTH_MAX_LEN = 4096;
/** Failed transactions a queue may have; the connection is closed at the next one. */
export const AUTH_MAX_FAILURES = 3;

/** What the queue waits for next. */
const Expect = {
  /** Authentication Send with AUTH_Negotiate. */
  Negotiate: 0,
  /** Authentication Receive: a message is ready (Challenge, Success1 or Failure1). */
  Receive: 1,
  /** Authentication Send with DH-HMAC-CHAP_Reply. */
  Reply: 2,
  /** Authentication Send with DH-HMAC-CHAP_Success2 (bidirectional only). */
  Success2: 3,
} as const;
type Expect = (typeof Expect)[keyof typeof Expect];

/** One queue's authentication state: bounded (one transaction, a few small buffers). */
export class QueueAuth {
  /** True once a transaction succeeded; cleared by a failed one. */
  authenticated = false;
  failures = 0;
  private expect: Expect = Expect.Negotiate;
  /** The message the next Authentication Receive returns. */
  private pending: Buffer | undefined;
  /** After pending goes out, wait for this. */
  private next: Expect = Expect.Negotiate;
  private tid = 0;
  private scc = 0;
  private seqnum = 0;
  private c1: Buffer | undefined;
  private dh: DhExchange | undefined;
  /** The response the controller sends in Success1 when the host asked for it. */
  private r2: Buffer | undefined;

  constructor(
    readonly cfg: HostAuth,
    readonly hostnqn: string,
    readonly subnqn: string,
  ) {}

  /** Handles one message from Authentication Send; never throws. */
  send(buf: Buffer): void {
    const m = decodeAuthMessage(buf);
    if (m.id === -1) {
      this.fail(m.exp);
      return;
    }
    if (m.id === AuthId.Negotiate) {
      this.negotiate(m);
      return;
    }
    if (m.id === AuthId.Failure2 && this.expect === Expect.Success2 && m.tid === this.tid) {
      // The host did not accept the controller's response.
      this.authenticated = false;
      this.failures++;
      this.expect = Expect.Negotiate;
      return;
    }
    if (m.id === AuthId.Reply && this.expect === Expect.Reply) {
      if (m.tid !== this.tid) {
        this.fail(FailureExp.IncorrectPayload);
        return;
      }
      this.reply(m);
      return;
    }
    if (m.id === AuthId.Success2 && this.expect === Expect.Success2) {
      if (m.tid !== this.tid) {
        this.fail(FailureExp.IncorrectPayload);
        return;
      }
      this.succeed();
      return;
    }
    this.fail(FailureExp.IncorrectMessage);
  }

  /**
   * The message for an Authentication Receive of `al` bytes: what is pending, or
   * Failure1 for a receive out of turn or a buffer too small for the message.
   */
  receive(al: number): Buffer {
    if (this.expect !== Expect.Receive || this.pending === undefined) this.fail(FailureExp.IncorrectMessage);
    else if (this.pending.length > al) this.fail(FailureExp.IncorrectPayload);
    const out = this.pending!;
    this.pending = undefined;
    this.expect = this.next;
    if (this.next === Expect.Negotiate && out[1] !== AuthId.Failure1) this.succeed();
    return out;
  }

  private succeed(): void {
    this.authenticated = true;
    this.expect = Expect.Negotiate;
    this.forget();
  }

  /** The transaction's secrets are dropped as soon as it ends. */
  private forget(): void {
    this.c1 = undefined;
    this.dh = undefined;
    this.r2 = undefined;
  }

  /** Failure1 is what the next Receive returns; the queue is unauthenticated until a transaction succeeds. */
  private fail(exp: FailureExp): void {
    this.authenticated = false;
    this.failures++;
    this.forget();
    this.queue(encodeFailure(AuthId.Failure1, this.tid, exp), Expect.Negotiate);
  }

  private queue(msg: Buffer, next: Expect): void {
    this.pending = msg;
    this.expect = Expect.Receive;
    this.next = next;
  }

  private negotiate(m: Negotiate): void {
    // A new transaction (the first one, or a re-authentication the host asked for).
    this.tid = m.tid;
    this.scc = m.scc;
    if (m.scc !== 0) {
      this.fail(FailureExp.ConcatMismatch);
      return;
    }
    const p = m.protocols.find((d) => d.authId === 0x01);
    if (p === undefined) {
      this.fail(FailureExp.ProtocolNotUsable);
      return;
    }
    const { hash, group } = this.cfg;
    if (!p.hashes.includes(hash)) {
      this.fail(FailureExp.HashNotUsable);
      return;
    }
    if (!p.dhGroups.includes(group)) {
      this.fail(FailureExp.DhGroupNotUsable);
      return;
    }
    // A fresh challenge and sequence number for every transaction: a recorded reply
    // from an earlier one cannot be replayed.
    this.c1 = randomBytes(hashLen(hash));
    this.seqnum = randomInt(1, 0x1_0000_0000);
    this.dh = group === DhGroup.Null ? undefined : new DhExchange(group);
    const dhv = this.dh?.publicValue ?? Buffer.alloc(0);
    this.queue(encodeChallenge({ tid: this.tid, hashId: hash, dhgid: group, seqnum: this.seqnum, c1: this.c1, dhv }), Expect.Reply);
  }

  private reply(m: Reply): void {
    const { hash, group, hostKey, ctrlKey } = this.cfg;
    if (m.hl !== hashLen(hash) || m.dhv.length !== dhValueLen(group)) {
      this.fail(FailureExp.IncorrectPayload);
      return;
    }
    let session: Buffer | undefined;
    if (this.dh !== undefined) {
      session = this.dh.sharedSecret(m.dhv);
      if (session === undefined) {
        this.fail(FailureExp.IncorrectPayload);
        return;
      }
    }
    const expected = computeResponse('host', {
      hash,
      key: transformKey(hostKey, this.hostnqn),
      challenge: augmentChallenge(hash, this.c1!, session),
      seqnum: this.seqnum,
      tid: this.tid,
      scc: this.scc,
      ownNqn: this.hostnqn,
      peerNqn: this.subnqn,
    });
    if (!sameResponse(expected, m.response)) {
      this.fail(FailureExp.Failed);
      return;
    }
    this.r2 = undefined;
    if (m.cvalid) {
      // Bidirectional: the host challenges the controller with C2 and S2.
      if (ctrlKey === undefined || m.seqnum === 0) {
        this.fail(ctrlKey === undefined ? FailureExp.Failed : FailureExp.IncorrectPayload);
        return;
      }
      this.r2 = computeResponse('controller', {
        hash,
        key: transformKey(ctrlKey, this.subnqn),
        challenge: augmentChallenge(hash, m.c2, session),
        seqnum: m.seqnum,
        tid: this.tid,
        scc: this.scc,
        ownNqn: this.subnqn,
        peerNqn: this.hostnqn,
      });
    }
    this.queue(encodeSuccess1(this.tid, hash, this.r2), this.r2 === undefined ? Expect.Negotiate : Expect.Success2);
  }
}
