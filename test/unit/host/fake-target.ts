// A small NVMe/TCP target for host tests, built straight from the codec: ICResp,
// Connect, Property Get/Set, Identify (controller, namespace, active list), Set
// Features, Keep Alive, the discovery log, and Read/Write/Flush/Write Zeroes/DSM on
// RAM namespaces. Knobs let a test misbehave on purpose (bad digests, TermReq,
// strange ICResp, split C2HData, SUCCESS) and every command is recorded.
import net from 'node:net';
import { after } from 'node:test';
import {
  AdminOpc,
  Cns,
  FabricsType,
  FeatureId,
  IoOpc,
  LogId,
  NQN_DISCOVERY,
  PduFlag,
  PduType,
  Prop,
  Sc,
  Sct,
} from '../../../src/protocol/constants.ts';
import { crc32c } from '../../../src/protocol/crc32c.ts';
import { encodeDiscoveryLog } from '../../../src/protocol/discovery.ts';
import { decodeConnectData, parseConnectSqe, parsePropertySqe } from '../../../src/protocol/fabrics.ts';
import { decodeDsmRanges, parseGetLogPage, parseRw } from '../../../src/protocol/admin.ts';
import { encodeActiveNsList, encodeIdentifyController, encodeIdentifyNamespace } from '../../../src/protocol/identify.ts';
import { type CapsuleCmd, type DataPdu, encodeIcResp, encodeTermReq, type Pdu } from '../../../src/protocol/pdu.ts';
import { PduReceiver, type RecvHandler } from '../../../src/protocol/receiver.ts';
import { makeStatus, sqeCdw, sqeCid, sqeNsid, sqeOpc, sqeSglLen, sqeSglType } from '../../../src/protocol/sqe.ts';
import { encodeCapsuleResp, encodeDataHeader, encodeDdgst, encodeR2t } from '../../helpers/pdu-encode.ts';

export interface FakeNs {
  nsid: number;
  lbaSize: number;
  nlba: number;
  /** NUSE (default nlba). */
  nuse?: number;
  /** Metadata bytes per block in the LBA format (default 0). */
  ms?: number;
}

export interface FakeTargetOptions {
  subnqn?: string;
  namespaces?: FakeNs[];
  /** IOCCSZ*16-64 (default 8192). */
  icdSize?: number;
  maxh2cdata?: number;
  /** Split C2HData into PDUs of at most this many bytes. */
  c2hMaxData?: number;
  /** Send C2HData with SUCCESS (no CapsuleResp) for successful reads. */
  c2hSuccess?: boolean;
  mdts?: number;
  mqes?: number;
  maxcmd?: number;
  kas?: number;
  /** Identify ONCS (default 0x0c: DSM and Write Zeroes). */
  oncs?: number;
  /** Identify VWC (default 1: a volatile write cache). */
  vwc?: number;
  /** Grant this many I/O queues (default 8). */
  maxIoQueues?: number;
  /** Overrides of the ICResp fields. */
  icresp?: { pfv?: number; cpda?: number; dgst?: number; maxh2cdata?: number } | undefined;
  /** CSTS.SHST reported after CC.SHN (default 2 = complete). */
  shstAfterShn?: number;
  /**
   * Called for every command before the default handling; return true when the hook
   * answered (or deliberately ignored) it.
   */
  hook?: (c: FakeConn, sqe: Buffer, data: Buffer | undefined) => boolean;
}

export interface SeenCmd {
  qid: number;
  opc: number;
  fctype?: number | undefined;
  cid: number;
  sqe: Buffer;
}

// A test that fails before its own close() must not leave a server keeping its file's
// process alive: whatever still listens when the file's last test is done is closed.
const listening = new Set<FakeTarget>();
after(() => Promise.all([...listening].map((t) => t.close())));

export class FakeTarget {
  readonly server: net.Server;
  readonly seen: SeenCmd[] = [];
  readonly conns: FakeConn[] = [];
  readonly ram = new Map<number, Buffer>();
  readonly o: FakeTargetOptions;
  readonly subnqn: string;
  cc = 0;
  csts = 0;
  /** C2HData PDUs sent (data PDUs, over all connections). */
  c2hPdus = 0;
  /** H2CTermReqs received: [FES, FEI]. */
  readonly termReqs: [number, number][] = [];
  r2ts = 0;
  h2cPdus = 0;
  /** CapsuleResps sent. */
  resps = 0;

  constructor(o: FakeTargetOptions = {}) {
    this.o = o;
    this.subnqn = o.subnqn ?? 'nqn.2024-01.io.nvmeotcp:fake';
    for (const ns of o.namespaces ?? [{ nsid: 1, lbaSize: 512, nlba: 8192 }]) {
      this.ram.set(ns.nsid, Buffer.alloc(ns.lbaSize * ns.nlba));
    }
    this.server = net.createServer((s) => {
      s.setNoDelay(true);
      this.conns.push(new FakeConn(this, s));
    });
  }

  get namespaces(): FakeNs[] {
    return this.o.namespaces ?? [{ nsid: 1, lbaSize: 512, nlba: 8192 }];
  }

  async listen(): Promise<number> {
    listening.add(this);
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    listening.delete(this);
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Resolves once pred() holds (checked every few ms; rejects after 5 s). */
  async until(pred: () => boolean): Promise<void> {
    for (let i = 0; !pred(); i++) {
      if (i > 2500) throw new Error('fake target: condition not reached');
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Commands seen with this opcode on I/O (qid > 0) or admin queues. */
  count(opc: number, io = true): number {
    return this.seen.filter((c) => c.opc === opc && (io ? c.qid > 0 : c.qid === 0)).length;
  }
}

interface WriteState {
  sqe: Buffer;
  buf: Buffer;
  got: number;
}

export class FakeConn implements RecvHandler {
  readonly rx: PduReceiver;
  qid = -1;
  subnqn = '';
  hdgst = false;
  ddgst = false;
  private readonly writes = new Map<number, WriteState>();
  private icd: Buffer | undefined;
  private ttag = 0;

  constructor(
    readonly t: FakeTarget,
    readonly socket: net.Socket,
  ) {
    this.rx = new PduReceiver({ role: 'target', maxDataLen: 8 << 20 }, this);
    socket.on('data', (d: Buffer) => this.rx.feed(d));
    socket.on('error', () => {});
  }

  send(...bufs: Buffer[]): void {
    if (this.socket.destroyed) return;
    for (const b of bufs) if (b.length > 0) this.socket.write(b);
  }

  onPdu(pdu: Pdu): undefined {
    switch (pdu.type) {
      case PduType.ICReq: {
        const o = this.t.o.icresp ?? {};
        this.hdgst = (pdu.dgst & 1) !== 0;
        this.ddgst = (pdu.dgst & 2) !== 0;
        this.send(
          encodeIcResp({
            pfv: o.pfv ?? 0,
            cpda: o.cpda ?? 0,
            dgst: o.dgst ?? pdu.dgst,
            maxh2cdata: o.maxh2cdata ?? this.t.o.maxh2cdata ?? 131072,
          }),
        );
        this.rx.setNegotiated(this.hdgst, this.ddgst, 0);
        return undefined;
      }
      case PduType.CapsuleCmd: {
        const icdLen = pdu.plen > pdu.hlen + (this.hdgst ? 4 : 0) ? pdu.plen - pdu.pdo - (this.ddgst ? 4 : 0) : 0;
        if (icdLen > 0) {
          this.icd = Buffer.alloc(icdLen);
          this.rx.setDataDest(this.icd, 0);
          return undefined;
        }
        this.command(pdu.sqe, undefined);
        return undefined;
      }
      case PduType.H2CData: {
        this.t.h2cPdus++;
        const w = this.writes.get(pdu.cccid);
        if (w === undefined) {
          this.rx.halt();
          this.socket.destroy();
          return undefined;
        }
        this.rx.setDataDest(w.buf, pdu.datao);
        return undefined;
      }
      case PduType.H2CTermReq:
        this.t.termReqs.push([pdu.fes, pdu.fei]);
        this.socket.destroy();
        return undefined;
      default:
        this.socket.destroy();
        return undefined;
    }
  }

  onDataDone(pdu: DataPdu | CapsuleCmd, ok: boolean): void {
    if (!ok) {
      this.socket.destroy();
      return;
    }
    if (pdu.type === PduType.CapsuleCmd) {
      const d = this.icd!;
      this.icd = undefined;
      this.command(pdu.sqe, d);
      return;
    }
    const w = this.writes.get(pdu.cccid)!;
    w.got += pdu.datal;
    if (w.got === w.buf.length) {
      this.writes.delete(pdu.cccid);
      this.command(w.sqe, w.buf, true);
    }
  }

  onError(): void {
    this.socket.destroy();
  }

  // ------------------------------------------------------------ responses

  respond(cid: number, status = 0, dw0 = 0, dw1 = 0): void {
    this.t.resps++;
    this.send(encodeCapsuleResp({ cid, status, dw0, dw1, sqid: Math.max(this.qid, 0) }, this.hdgst));
  }

  /** C2HData in PDUs of at most c2hMaxData, then a CapsuleResp (or SUCCESS on the last PDU). */
  sendData(cid: number, data: Buffer, o: { corruptDigest?: boolean; success?: boolean } = {}): void {
    const max = this.t.o.c2hMaxData ?? data.length;
    const success = o.success ?? this.t.o.c2hSuccess === true;
    for (let off = 0; off < data.length; ) {
      const n = Math.min(max, data.length - off);
      const last = off + n === data.length;
      const flags = last ? PduFlag.LAST_PDU | (success ? PduFlag.SUCCESS : 0) : 0;
      const hdr = encodeDataHeader(PduType.C2HData, { cccid: cid, datao: off, datal: n, flags }, { hdgst: this.hdgst, ddgst: this.ddgst });
      const chunk = data.subarray(off, off + n);
      this.t.c2hPdus++;
      if (this.ddgst) this.send(hdr, chunk, encodeDdgst((crc32c(chunk) ^ (o.corruptDigest ? 1 : 0)) >>> 0));
      else this.send(hdr, chunk);
      off += n;
    }
    if (!success) this.respond(cid);
  }

  sendTermReq(fes: number, fei = 0): void {
    this.send(encodeTermReq(PduType.C2HTermReq, fes, fei));
    this.socket.end();
  }

  /** Accept H2CData for this command (its R2Ts are sent by the caller). */
  expectWrite(sqe: Buffer, len: number): void {
    this.writes.set(sqeCid(sqe), { sqe, buf: Buffer.alloc(len), got: 0 });
  }

  /** R2T for a write that did not come in-capsule. */
  private r2t(sqe: Buffer, len: number): void {
    const cid = sqeCid(sqe);
    this.expectWrite(sqe, len);
    this.t.r2ts++;
    this.send(encodeR2t({ cccid: cid, ttag: this.ttag++ & 0xffff, r2to: 0, r2tl: len }, this.hdgst));
  }

  // ------------------------------------------------------------ commands

  private command(sqe: Buffer, data: Buffer | undefined, afterR2t = false): void {
    const t = this.t;
    const opc = sqeOpc(sqe);
    const cid = sqeCid(sqe);
    const isConnect = opc === AdminOpc.Fabrics && sqe[4] === FabricsType.Connect;
    const qid = isConnect ? parseConnectSqe(sqe).qid : this.qid;
    if (!afterR2t) {
      t.seen.push({ qid, opc, fctype: opc === AdminOpc.Fabrics ? sqe[4] : undefined, cid, sqe });
      if (t.o.hook?.(this, sqe, data)) return;
    }
    // A write whose data is not here yet: fetch it with an R2T first.
    const needsData = (qid > 0 && (opc === IoOpc.Write || opc === IoOpc.DatasetMgmt)) || isConnect;
    if (needsData && data === undefined && sqeSglLen(sqe) > 0) {
      this.r2t(sqe, sqeSglLen(sqe));
      return;
    }
    if (opc === AdminOpc.Fabrics) this.fabrics(sqe, cid, data);
    else if (this.qid === 0) this.admin(sqe, cid);
    else this.io(sqe, cid, data);
  }

  private fabrics(sqe: Buffer, cid: number, data: Buffer | undefined): void {
    const t = this.t;
    switch (sqe[4]) {
      case FabricsType.Connect: {
        const c = parseConnectSqe(sqe);
        const d = decodeConnectData(data!);
        if (d.subnqn !== t.subnqn && d.subnqn !== NQN_DISCOVERY) {
          this.respond(cid, makeStatus(Sct.CommandSpecific, 0x84, true));
          return;
        }
        this.qid = c.qid;
        this.subnqn = d.subnqn;
        this.respond(cid, 0, 1);
        return;
      }
      case FabricsType.PropertyGet: {
        const p = parsePropertySqe(sqe);
        const mqes = t.o.mqes ?? 127;
        const vals: Record<number, bigint> = {
          [Prop.CAP]: BigInt(mqes) | (1n << 16n) | (1n << 24n) | (1n << 37n),
          [Prop.VS]: 0x10400n,
          [Prop.CC]: BigInt(t.cc),
          [Prop.CSTS]: BigInt(t.csts),
        };
        const v = vals[p.ofst] ?? 0n;
        this.respond(cid, 0, Number(v & 0xffff_ffffn), Number(v >> 32n));
        return;
      }
      case FabricsType.PropertySet: {
        const p = parsePropertySqe(sqe);
        if (p.ofst === Prop.CC) {
          t.cc = Number(p.value);
          if (t.cc & 1) t.csts |= 1;
          else t.csts &= ~1;
          if ((t.cc >> 14) & 3) t.csts = (t.csts & ~0xc) | ((t.o.shstAfterShn ?? 2) << 2);
        }
        this.respond(cid);
        return;
      }
      default:
        this.respond(cid, makeStatus(Sct.Generic, Sc.InvalidOpcode, true));
    }
  }

  private admin(sqe: Buffer, cid: number): void {
    const t = this.t;
    switch (sqeOpc(sqe)) {
      case AdminOpc.Identify: {
        const cns = sqeCdw(sqe, 10) & 0xff;
        const nsid = sqeNsid(sqe);
        if (cns === Cns.Controller) {
          const disc = this.subnqn === NQN_DISCOVERY;
          this.sendData(
            cid,
            encodeIdentifyController({
              cntlid: 1,
              ver: 0x10400,
              mdts: t.o.mdts ?? 0,
              kas: disc ? 0 : (t.o.kas ?? 50),
              maxcmd: t.o.maxcmd ?? 128,
              nn: Math.max(0, ...t.namespaces.map((n) => n.nsid)),
              oncs: t.o.oncs ?? 0x0c,
              vwc: t.o.vwc ?? 1,
              sgls: 0x00100001,
              subnqn: disc ? NQN_DISCOVERY : t.subnqn,
              ioccsz: ((t.o.icdSize ?? 8192) + 64) / 16,
              iorcsz: 1,
              cntrltype: disc ? 2 : 1,
              sqes: 0x66,
              cqes: 0x44,
            }),
          );
        } else if (cns === Cns.ActiveNsList) {
          this.sendData(
            cid,
            encodeActiveNsList(
              t.namespaces.map((n) => n.nsid).filter((n) => n > nsid),
              nsid,
            ),
          );
        } else if (cns === Cns.Namespace) {
          const ns = t.namespaces.find((n) => n.nsid === nsid);
          if (ns === undefined) {
            this.respond(cid, makeStatus(Sct.Generic, Sc.InvalidNamespace, true));
            return;
          }
          const lbads = Math.log2(ns.lbaSize);
          this.sendData(
            cid,
            encodeIdentifyNamespace({
              nsze: ns.nlba,
              ncap: ns.nlba,
              nuse: ns.nuse ?? ns.nlba,
              nlbaf: 0,
              flbas: 0,
              lbaf: [{ ms: ns.ms ?? 0, lbads, rp: 0 }],
            }),
          );
        } else {
          this.respond(cid, makeStatus(Sct.Generic, Sc.InvalidField, true));
        }
        return;
      }
      case AdminOpc.SetFeatures: {
        const fid = sqeCdw(sqe, 10) & 0xff;
        if (fid === FeatureId.NumQueues) {
          const n = (t.o.maxIoQueues ?? 8) - 1;
          this.respond(cid, 0, n | (n << 16));
          return;
        }
        this.respond(cid);
        return;
      }
      case AdminOpc.KeepAlive:
        this.respond(cid);
        return;
      case AdminOpc.GetLogPage: {
        const g = parseGetLogPage(sqe);
        if (g.lid !== LogId.Discovery) {
          this.respond(cid, makeStatus(Sct.Generic, Sc.InvalidField, true));
          return;
        }
        const port = (t.server.address() as net.AddressInfo).port;
        const log = encodeDiscoveryLog(7, [
          {
            trtype: 3,
            adrfam: 1,
            subtype: 2,
            treq: 0,
            portid: 1,
            cntlid: 0xffff,
            asqsz: 32,
            eflags: 0,
            trsvcid: String(port),
            subnqn: t.subnqn,
            traddr: '127.0.0.1',
            sectype: 0,
          },
        ]);
        const out = Buffer.alloc(g.len);
        log.copy(out, 0, g.offset, Math.min(log.length, g.offset + g.len));
        this.sendData(cid, out);
        return;
      }
      default:
        this.respond(cid, makeStatus(Sct.Generic, Sc.InvalidOpcode, true));
    }
  }

  private io(sqe: Buffer, cid: number, data: Buffer | undefined): void {
    const t = this.t;
    const nsid = sqeNsid(sqe);
    const ns = t.namespaces.find((n) => n.nsid === nsid);
    const mem = t.ram.get(nsid);
    if (ns === undefined || mem === undefined) {
      this.respond(cid, makeStatus(Sct.Generic, Sc.InvalidNamespace, true));
      return;
    }
    const opc = sqeOpc(sqe);
    if (opc === IoOpc.Flush) {
      this.respond(cid);
      return;
    }
    if (opc === IoOpc.DatasetMgmt) {
      for (const r of decodeDsmRanges(data!, (sqeCdw(sqe, 10) & 0xff) + 1)) {
        mem.fill(0, r.slba * ns.lbaSize, (r.slba + r.nlb) * ns.lbaSize);
      }
      this.respond(cid);
      return;
    }
    const { slba, nlb } = parseRw(sqe);
    if (slba + nlb > ns.nlba) {
      this.respond(cid, makeStatus(Sct.Generic, Sc.LbaOutOfRange, true));
      return;
    }
    const start = slba * ns.lbaSize;
    const len = nlb * ns.lbaSize;
    if (opc === IoOpc.Read) {
      this.sendData(cid, Buffer.from(mem.subarray(start, start + len)));
    } else if (opc === IoOpc.Write) {
      if (data === undefined || data.length !== len || sqeSglType(sqe) === 0) {
        this.respond(cid, makeStatus(Sct.Generic, Sc.SglInvalidDataLength, true));
        return;
      }
      data.copy(mem, start);
      this.respond(cid);
    } else if (opc === IoOpc.WriteZeroes) {
      mem.fill(0, start, start + len);
      this.respond(cid);
    } else {
      this.respond(cid, makeStatus(Sct.Generic, Sc.InvalidOpcode, true));
    }
  }
}
