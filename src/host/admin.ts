// Admin and fabrics commands on a host queue: Connect, Property Get/Set, Identify,
// Set Features, Get Log Page, Keep Alive, Asynchronous Event Request. Thin wrappers that build the SQE with
// the protocol/ builders and wait for the completion; the queue patches the CID.
import { AUTHREQ_ASCR, AUTHREQ_ATR } from '../protocol/auth.ts';
import { FeatureId } from '../protocol/constants.ts';
import { NegotiationError } from '../protocol/errors.ts';
import { buildAerSqe, buildGetLogPageSqe, buildIdentifySqe, buildKeepAliveSqe, buildSetFeaturesSqe } from '../protocol/admin.ts';
import { buildConnectSqe, buildPropertyGetSqe, buildPropertySetSqe, encodeConnectData } from '../protocol/fabrics.ts';
import { IDENTIFY_LEN } from '../protocol/identify.ts';
import { authenticateQueue, type HostSecrets } from './auth.ts';
import type { HostQueue } from './queue.ts';
import { DataDir, HostCommand } from './request.ts';

export interface ConnectParams {
  qid: number;
  sqsize: number;
  /** CATTR (bit 2: disable SQ flow control). */
  cattr: number;
  kato: number;
  cntlid: number;
  hostid: Buffer;
  subnqn: string;
  hostnqn: string;
  /** DH-HMAC-CHAP secrets (ConnectOptions.dhchapSecret / dhchapCtrlSecret). */
  auth?: HostSecrets | undefined;
}

/**
 * Fabrics Connect (data in-capsule, 1024 bytes), then DH-HMAC-CHAP authentication of
 * the queue when the Connect result asks for it (AUTHREQ.ATR, DW0 bit 17) or when a
 * controller secret is given (the host wants the controller authenticated). Resolves
 * with the CNTLID (DW0 15:0). Every queue, and every reconnect of one, comes through here.
 */
export async function fabricsConnect(q: HostQueue, p: ConnectParams, timeoutMs: number): Promise<number> {
  const sqe = buildConnectSqe({ cid: 0, qid: p.qid, sqsize: p.sqsize, cattr: p.cattr, kato: p.kato });
  const data = encodeConnectData({ hostid: p.hostid, cntlid: p.cntlid, subnqn: p.subnqn, hostnqn: p.hostnqn });
  const c = await q.submit(new HostCommand(sqe, data, DataDir.H2C, timeoutMs));
  if ((c.dw0 & AUTHREQ_ASCR) !== 0) {
    throw new NegotiationError(`queue ${p.qid}: the controller requires secure channel concatenation (AUTHREQ.ASCR), not supported`);
  }
  const atr = (c.dw0 & AUTHREQ_ATR) !== 0;
  if (atr && p.auth === undefined) {
    throw new NegotiationError(`queue ${p.qid}: the controller requires authentication: give a DH-HMAC-CHAP secret (dhchapSecret)`);
  }
  if (p.auth !== undefined && (atr || p.auth.ctrlKey !== undefined)) {
    await authenticateQueue(q, p.auth, { host: p.hostnqn, subsys: p.subnqn }, timeoutMs);
  }
  return c.dw0 & 0xffff;
}

/** Issues admin commands on queue 0 with one timeout. */
export class AdminClient {
  constructor(
    readonly q: HostQueue,
    public timeoutMs: number,
  ) {}

  private run(sqe: Buffer, data?: Buffer, dir: DataDir = DataDir.None): Promise<HostCommand> {
    return this.q.submit(new HostCommand(sqe, data, dir, this.timeoutMs));
  }

  /** Property Get: 8-byte properties (CAP) as DW1:DW0. */
  async propGet(ofst: number, size8 = false): Promise<bigint> {
    const c = await this.run(buildPropertyGetSqe({ cid: 0, ofst, size8 }));
    return size8 ? (BigInt(c.dw1) << 32n) | BigInt(c.dw0) : BigInt(c.dw0);
  }

  async propGet32(ofst: number): Promise<number> {
    return Number(await this.propGet(ofst, false));
  }

  async propSet(ofst: number, value: number): Promise<void> {
    await this.run(buildPropertySetSqe({ cid: 0, ofst, value: BigInt(value >>> 0), size8: false }));
  }

  async identify(cns: number, nsid = 0): Promise<Buffer> {
    const buf = Buffer.alloc(IDENTIFY_LEN);
    await this.run(buildIdentifySqe({ cid: 0, cns, nsid }), buf, DataDir.C2H);
    return buf;
  }

  /** Set Features; resolves with the completion's DW0. */
  async setFeatures(fid: number, dw11: number): Promise<number> {
    const c = await this.run(buildSetFeaturesSqe({ cid: 0, fid, dw11 }));
    return c.dw0;
  }

  /** Number of Queues: asks for n I/O queues, resolves with how many the controller grants. */
  async setNumQueues(n: number): Promise<number> {
    const dw0 = await this.setFeatures(FeatureId.NumQueues, ((n - 1) & 0xffff) | (((n - 1) & 0xffff) << 16));
    return Math.min(dw0 & 0xffff, dw0 >>> 16) + 1;
  }

  async getLogPage(lid: number, len: number, offset = 0, nsid = 0, rae = false): Promise<Buffer> {
    const buf = Buffer.alloc(len);
    await this.run(buildGetLogPageSqe({ cid: 0, nsid, lid, len, offset, rae }), buf, DataDir.C2H);
    return buf;
  }

  /** Asynchronous Event Request: completes only when the controller has an event for us, so it never times out. */
  asyncEventRequest(): Promise<HostCommand> {
    return this.q.submit(new HostCommand(buildAerSqe(0), undefined, DataDir.None, Number.POSITIVE_INFINITY));
  }

  keepAlive(timeoutMs: number): Promise<HostCommand> {
    return this.q.submit(new HostCommand(buildKeepAliveSqe(0), undefined, DataDir.None, timeoutMs, 'kato'));
  }
}
