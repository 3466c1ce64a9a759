// A tiny raw NVMe/TCP host for target tests: it writes PDUs byte by byte as told
// (good or deliberately bad) and hands back every PDU the target sends, whole.
// Commands run one at a time (exchange() waits for the response of its CID).
import { connect, type Socket } from 'node:net';
import { buildIdentifySqe, buildRwSqe } from '../../src/protocol/admin.ts';
import { DigestOpt, IoOpc, OFF, PduFlag, PduType, Prop } from '../../src/protocol/constants.ts';
import { crc32c } from '../../src/protocol/crc32c.ts';
import { buildConnectSqe, buildPropertyGetSqe, buildPropertySetSqe, encodeConnectData } from '../../src/protocol/fabrics.ts';
import { decodeHeader, encodeIcReq, type IcResp, type Pdu } from '../../src/protocol/pdu.ts';
import { type Cqe, parseCqe } from '../../src/protocol/sqe.ts';
import { encodeCapsuleCmd, encodeDataHeader, encodeDdgst } from './pdu-encode.ts';

export interface RawPdu {
  /** The whole PDU as received. */
  raw: Buffer;
  hdr: Pdu;
  /** Data bytes (C2HData, C2HTermReq error data), digests and pad removed. */
  data: Buffer;
}

export interface Exchange {
  /** The completion, or undefined when C2HData SUCCESS ended the command. */
  cqe: Cqe | undefined;
  /** C2HData payloads concatenated. */
  data: Buffer;
  c2h: RawPdu[];
  r2t: RawPdu[];
}

export const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001';
export const HOSTID = Buffer.from('000000000000400080000000000000aa', 'hex');

export class RawClient {
  hdgst = false;
  ddgst = false;
  hpda = 0;
  maxh2cdata = 0;
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: RawPdu[] = [];
  private waiter: ((p: RawPdu | undefined) => void) | undefined;
  private ended = false;
  private nextCid = 1;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    this.closed.then(() => {
      this.ended = true;
      this.waiter?.(undefined);
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  /** ICReq + ICResp; digests as asked (the target echoes them). */
  static async open(port: number, opts: { hdgst?: boolean; ddgst?: boolean; hpda?: number } = {}): Promise<RawClient> {
    const c = await RawClient.connect(port);
    await c.icreq(opts);
    return c;
  }

  cid(): number {
    const c = this.nextCid;
    this.nextCid = (this.nextCid + 1) & 0xfff || 1;
    return c;
  }

  send(...bufs: Buffer[]): void {
    this.socket.cork();
    for (const b of bufs) this.socket.write(b);
    this.socket.uncork();
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const plen = this.buf.readUInt32LE(OFF.PLEN);
      if (this.buf.length < plen) break;
      const raw = Buffer.from(this.buf.subarray(0, plen));
      this.buf = this.buf.subarray(plen);
      const p = this.parse(raw);
      if (this.waiter !== undefined) {
        const w = this.waiter;
        this.waiter = undefined;
        w(p);
      } else {
        this.queue.push(p);
      }
    }
  }

  private parse(raw: Buffer): RawPdu {
    const hdr = decodeHeader(raw);
    const hd = (hdr.flags & PduFlag.HDGSTF) !== 0 ? 4 : 0;
    if (hd && raw.readUInt32LE(hdr.hlen) !== crc32c(raw, 0, hdr.hlen)) throw new Error('bad header digest from target');
    let data: Buffer = Buffer.alloc(0);
    if (hdr.type === PduType.C2HTermReq) data = raw.subarray(24);
    else if (hdr.type === PduType.C2HData) {
      const dd = (hdr.flags & PduFlag.DDGSTF) !== 0 ? 4 : 0;
      data = raw.subarray(hdr.pdo, hdr.plen - dd);
      if (dd && raw.readUInt32LE(hdr.plen - 4) !== crc32c(data)) throw new Error('bad data digest from target');
    }
    return { raw, hdr, data };
  }

  /** The next PDU from the target; undefined once the connection closed. */
  nextPdu(timeoutMs = 5000): Promise<RawPdu | undefined> {
    const q = this.queue.shift();
    if (q !== undefined) return Promise.resolve(q);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no PDU from the target within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (p) => {
        clearTimeout(t);
        resolve(p);
      };
    });
  }

  async icreq(opts: { hdgst?: boolean; ddgst?: boolean; hpda?: number; pfv?: number } = {}): Promise<IcResp> {
    const dgst = (opts.hdgst ? DigestOpt.HDGST : 0) | (opts.ddgst ? DigestOpt.DDGST : 0);
    this.send(encodeIcReq({ pfv: opts.pfv ?? 0, hpda: opts.hpda ?? 0, dgst }));
    const p = await this.nextPdu();
    if (p?.hdr.type !== PduType.ICResp) throw new Error(`expected ICResp, got ${p?.hdr.type}`);
    this.hdgst = (p.hdr.dgst & DigestOpt.HDGST) !== 0;
    this.ddgst = (p.hdr.dgst & DigestOpt.DDGST) !== 0;
    this.hpda = opts.hpda ?? 0;
    this.maxh2cdata = p.hdr.maxh2cdata;
    return p.hdr;
  }

  /** A CapsuleCmd PDU (header, data, digest) as buffers. */
  capsule(sqe: Buffer, icd?: Buffer): Buffer[] {
    const dg = { hdgst: this.hdgst, ddgst: this.ddgst };
    const n = icd?.length ?? 0;
    const out = [encodeCapsuleCmd(sqe, n, dg)];
    if (icd !== undefined && n > 0) {
      out.push(icd);
      if (this.ddgst) out.push(encodeDdgst(crc32c(icd)));
    }
    return out;
  }

  /** H2CData PDU buffers for `data` at `datao`. */
  h2cData(cccid: number, ttag: number, datao: number, data: Buffer, last: boolean): Buffer[] {
    const dg = { hdgst: this.hdgst, ddgst: this.ddgst };
    const h = encodeDataHeader(PduType.H2CData, { cccid, ttag, datao, datal: data.length, flags: last ? PduFlag.LAST_PDU : 0 }, dg);
    return this.ddgst ? [h, data, encodeDdgst(crc32c(data))] : [h, data];
  }

  /**
   * Sends one command and collects what comes back for it: answers R2Ts with
   * `writeData` (H2CData PDUs of at most MAXH2CDATA), gathers C2HData, and ends at
   * the CapsuleResp or at a C2HData with SUCCESS.
   */
  async exchange(sqe: Buffer, opts: { icd?: Buffer; writeData?: Buffer } = {}): Promise<Exchange> {
    const cid = sqe.readUInt16LE(2);
    this.send(...this.capsule(sqe, opts.icd));
    const out: Exchange = { cqe: undefined, data: Buffer.alloc(0), c2h: [], r2t: [] };
    const parts: Buffer[] = [];
    for (;;) {
      const p = await this.nextPdu();
      if (p === undefined) throw new Error('connection closed before the response');
      const h = p.hdr;
      if (h.type === PduType.R2T) {
        out.r2t.push(p);
        const wd = opts.writeData;
        if (wd === undefined) throw new Error('unexpected R2T');
        for (let off = h.r2to; off < h.r2to + h.r2tl; off += this.maxh2cdata) {
          const end = Math.min(h.r2to + h.r2tl, off + this.maxh2cdata);
          this.send(...this.h2cData(cid, h.ttag, off, wd.subarray(off, end), end === h.r2to + h.r2tl));
        }
        continue;
      }
      if (h.type === PduType.C2HData && h.cccid === cid) {
        out.c2h.push(p);
        parts.push(p.data);
        if (h.flags & PduFlag.SUCCESS) break;
        continue;
      }
      if (h.type === PduType.CapsuleResp) {
        const cqe = parseCqe(h.cqe);
        if (cqe.cid !== cid) throw new Error(`response for cid ${cqe.cid}, expected ${cid}`);
        out.cqe = cqe;
        break;
      }
      throw new Error(`unexpected PDU type ${h.type}`);
    }
    out.data = Buffer.concat(parts);
    return out;
  }

  /** Fabrics Connect; returns the completion. */
  async connectQueue(f: {
    qid: number;
    subnqn: string;
    hostnqn?: string | undefined;
    hostid?: Buffer;
    cntlid?: number;
    sqsize?: number;
    kato?: number;
    cattr?: number | undefined;
  }): Promise<Cqe> {
    const sqe = buildConnectSqe({ cid: this.cid(), qid: f.qid, sqsize: f.sqsize ?? 31, kato: f.kato ?? 0, cattr: f.cattr });
    const data = encodeConnectData({
      hostid: f.hostid ?? HOSTID,
      cntlid: f.cntlid ?? 0xffff,
      subnqn: f.subnqn,
      hostnqn: f.hostnqn ?? HOSTNQN,
    });
    const r = await this.exchange(sqe, { icd: data });
    return r.cqe!;
  }

  async propGet(ofst: number, size8 = false): Promise<Cqe> {
    return (await this.exchange(buildPropertyGetSqe({ cid: this.cid(), ofst, size8 }))).cqe!;
  }

  async propSet(ofst: number, value: number, size8 = false): Promise<Cqe> {
    return (await this.exchange(buildPropertySetSqe({ cid: this.cid(), ofst, value: BigInt(value), size8 }))).cqe!;
  }

  /** Connect the admin queue and enable the controller (CC.EN, as the Linux host writes it). */
  async adminConnect(subnqn: string, opts: { kato?: number; hostnqn?: string; cattr?: number } = {}): Promise<number> {
    const cqe = await this.connectQueue({ qid: 0, subnqn, kato: opts.kato ?? 0, hostnqn: opts.hostnqn, cattr: opts.cattr });
    if (cqe.status !== 0) throw new Error(`admin connect failed: status 0x${cqe.status.toString(16)}`);
    await this.propSet(Prop.CC, 0x00460000);
    await this.propSet(Prop.CC, 0x00460001);
    return cqe.dw0 & 0xffff;
  }

  async identify(cns: number, nsid = 0, csi = 0): Promise<Exchange> {
    return this.exchange(buildIdentifySqe({ cid: this.cid(), cns, nsid, csi }));
  }

  async read(nsid: number, slba: number, nlb: number, lbaSize: number): Promise<Exchange> {
    const sqe = buildRwSqe({ cid: this.cid(), opc: IoOpc.Read, nsid, slba, nlb, len: nlb * lbaSize, inCapsule: false });
    return this.exchange(sqe);
  }

  async write(nsid: number, slba: number, data: Buffer, lbaSize: number, inCapsule: boolean): Promise<Exchange> {
    const nlb = data.length / lbaSize;
    const sqe = buildRwSqe({ cid: this.cid(), opc: IoOpc.Write, nsid, slba, nlb, len: data.length, inCapsule });
    return inCapsule ? this.exchange(sqe, { icd: data }) : this.exchange(sqe, { writeData: data });
  }
}
