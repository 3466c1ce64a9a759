// From captured packets to NVMe/TCP: decode each packet (decode.ts), find its TCP
// connection (flow-table.ts), reassemble each direction (reassembly.ts), follow the
// PDUs of both (pdu-scan.ts), and tell the caller, in capture order:
//   - flow:    a connection was found to be NVMe/TCP;
//   - segment: every TCP segment with payload of an NVMe/TCP flow, as captured (both
//              directions, retransmissions and out-of-order ones included: what a NIC
//              sees), with its sequence number; called before the segment's bytes go
//              into the reassembled stream, so before the pdu/command events they cause
//              (the segment that shows a flow is NVMe/TCP: right after the flow event);
//   - pdu:     every PDU header of the reassembled streams;
//   - command: every CapsuleCmd of the host-to-controller stream, decoded;
//   - stream:  the reassembled bytes of either direction, in order, each once (after the
//              pdu/command events of the same bytes);
//   - gap:     stream bytes missing from the capture;
//   - close:   the connection ended (FIN both ways, or RST).
//
// A connection is NVMe/TCP when the first bytes of one direction are an ICReq (that
// side is the host) or an ICResp (that side is the controller), on any port; or when
// one end's port is in `ports` (that end is the controller). With neither, the first
// bytes decide: anything else makes the flow "other" and it is not looked at again.
//
// Lifetime contract: every view handed to a handler (SegmentView, CommandView,
// PduHeaderView, and the buffers they point at) is valid only during the call and is
// reused afterwards. Copy what must outlive it.
import { AdminOpc, DEFAULT_PORT, DigestOpt, DISCOVERY_PORT, FabricsType, IoOpc, OFF, PduFlag, PduType } from '../protocol/constants.ts';
import { FabricsOff, sqeFctype } from '../protocol/fabrics.ts';
import { decodeHeader, type IcReq, type IcResp } from '../protocol/pdu.ts';
import { sqeCdw, sqeCid, sqeNsid, sqeOpc, sqeSglLen, sqeSglType, sqeSlba } from '../protocol/sqe.ts';
import { Decoded, decodeTcp, TcpFlag, TcpPacket } from './decode.ts';
import { FlowTable } from './flow-table.ts';
import { type PduHeaderView, PduScanner, Role } from './pdu-scan.ts';
import type { CapturePacket } from './reader.ts';
import { Reassembler, type StreamSink } from './reassembly.ts';

/** Direction of a stream within an NVMe/TCP flow. */
export const Dir = { H2C: 0, C2H: 1 } as const;
export type Dir = (typeof Dir)[keyof typeof Dir];

export const FlowKind = { UNKNOWN: 0, NVME: 1, OTHER: 2 } as const;
export type FlowKind = (typeof FlowKind)[keyof typeof FlowKind];

export interface SegmentView {
  dir: Dir;
  /** Sequence number of the first payload byte. */
  seq: number;
  /** The captured payload is buf[start, end). Valid during the call only. */
  buf: Buffer;
  start: number;
  end: number;
  /** Payload bytes the segment had on the wire that the capture cut off (snaplen): not placed. */
  missing: number;
  /** TCP flags (decode.ts TcpFlag) and acknowledgment number. */
  flags: number;
  ack: number;
  /** The packet's number in the capture (frame.number) and timestamp. */
  index: number;
  tsSec: number;
  tsNsec: number;
}

export interface CommandView {
  /** Sequence number of the CapsuleCmd PDU in the host-to-controller stream. */
  seq: number;
  /** Number of the packet that completed the command's header. */
  index: number;
  opc: number;
  cid: number;
  nsid: number;
  /** Fabrics command type (opc 0x7f), else -1. */
  fctype: number;
  /** SGL1 descriptor type byte and length: the command's data length. */
  sglType: number;
  sglLen: number;
  /** Read/Write-type fields: SLBA (CDW10-11) and the block count (CDW12 NLB + 1). */
  slba: number;
  nlb: number;
  /** In-capsule data bytes carried by the PDU. */
  icdLen: number;
  /** The flow's queue id (from its Connect), -1 when the Connect was not captured. */
  qid: number;
  /** A Read on an I/O queue (or on a queue whose Connect was not seen: opcode 0x02 is Get Log Page on the admin queue). */
  isRead: boolean;
  /** The 64-byte SQE. Valid during the call only. */
  sqe: Buffer;
}

export interface CaptureHandlers {
  flow?(f: TcpFlow): void;
  segment?(f: TcpFlow, s: SegmentView): void;
  pdu?(f: TcpFlow, dir: Dir, h: PduHeaderView): void;
  command?(f: TcpFlow, c: CommandView): void;
  /** Reassembled stream bytes buf[start, end), the first at `seq`. Valid during the call only. */
  stream?(f: TcpFlow, dir: Dir, buf: Buffer, start: number, end: number, seq: number): void;
  gap?(f: TcpFlow, dir: Dir, seq: number, n: number): void;
  close?(f: TcpFlow): void;
}

/** Ports whose connections are NVMe/TCP without an ICReq: the well-known I/O and discovery ports. */
export const DEFAULT_CAPTURE_PORTS: readonly number[] = [DEFAULT_PORT, DISCOVERY_PORT];

export interface AnalyzerOptions {
  /** Controller ports: a connection to one is NVMe/TCP without an ICReq (default 4420 and 8009). */
  ports?: readonly number[] | undefined;
  /** Out-of-order bytes held per direction before a gap is declared (default 4 MiB). */
  reorderLimit?: number;
  /** Largest PDU length believed while scanning (default 16 MiB + 256). */
  maxPlen?: number;
  /** Packets after which a closed connection, or a flow that is not NVMe/TCP, is forgotten (default 65536). */
  flowIdlePackets?: number;
}

export interface IcReqInfo {
  pfv: number;
  hpda: number;
  dgst: number;
  maxr2t: number;
}

export interface IcRespInfo {
  pfv: number;
  cpda: number;
  dgst: number;
  maxh2cdata: number;
}

/** One direction of a connection. */
export class FlowSide {
  /** Segments with payload, captured payload bytes, and bytes the snaplen cut off. */
  segments = 0;
  bytes = 0;
  missing = 0;
  fin = false;
  /** The stream has had its first data (the scanner was started). */
  begun = false;
  /** A 64-byte view of the scanner's header scratch at the SQE, made on the first CapsuleCmd. */
  sqe: Buffer | undefined;
  constructor(
    readonly reasm: Reassembler,
    readonly scan: PduScanner,
  ) {}

  /** PDU headers seen in this direction, by type (index = PDU type). */
  get pduCounts(): Float64Array {
    return this.scan.counts;
  }
}

/** A TCP connection; side 0 is the source of its first captured packet. */
export class TcpFlow {
  nextInBucket: TcpFlow | undefined = undefined;
  kind: FlowKind = FlowKind.UNKNOWN;
  /** Side of the host (NVMe/TCP initiator), -1 unknown. */
  hostSide = -1;
  detectedBy: 'icreq' | 'icresp' | 'port' | undefined;
  packets = 0;
  lastIndex = 0;
  /** One end's port is a controller port (AnalyzerOptions.ports). */
  byPort = false;
  rst = false;
  closed = false;
  icreq: IcReqInfo | undefined;
  icresp: IcRespInfo | undefined;
  /** Queue id from the Connect command, -1 until seen. */
  qid = -1;
  commands = 0;
  reads = 0;
  sides!: [FlowSide, FlowSide];

  constructor(
    /** 1-based, in order of first packet (every TCP connection gets one). */
    readonly id: number,
    readonly addr: readonly [Buffer, Buffer],
    readonly port: readonly [number, number],
    readonly firstIndex: number,
  ) {}

  /** The host-to-controller (H2C) or controller-to-host (C2H) side; undefined while the roles are unknown. */
  side(dir: Dir): FlowSide | undefined {
    return this.hostSide < 0 ? undefined : this.sides[dir === Dir.H2C ? this.hostSide : 1 - this.hostSide];
  }

  get h2c(): FlowSide | undefined {
    return this.side(Dir.H2C);
  }

  get c2h(): FlowSide | undefined {
    return this.side(Dir.C2H);
  }

  /** Negotiated digests: the ICResp's DGST (what the controller enabled), else the ICReq's. */
  get dgst(): number {
    return this.icresp?.dgst ?? this.icreq?.dgst ?? 0;
  }

  /** "host 127.0.0.1:40000 -> controller 127.0.0.1:4420" (or the two ends as captured). */
  describe(): string {
    const h = this.hostSide;
    return h < 0 ? `${this.endpoint(0)} <-> ${this.endpoint(1)}` : `host ${this.endpoint(h)} -> controller ${this.endpoint(1 - h)}`;
  }

  /** "127.0.0.1:4420" or "[::1]:4420" of side 0 or 1. */
  endpoint(side: number): string {
    const a = formatAddr(this.addr[side]);
    return `${a.includes(':') ? `[${a}]` : a}:${this.port[side]}`;
  }
}

/** Dotted IPv4, or IPv6 with the longest run of zero groups written "::". */
export function formatAddr(a: Buffer): string {
  if (a.length === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(a.readUInt16BE(i));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export interface DecodeCounts {
  /** Packets decoded to a TCP segment. */
  tcp: number;
  /** Packets of a link type the decoder does not know (skipped), and which types those were. */
  unknownLink: number;
  unknownLinkTypes: number[];
  notIp: number;
  notTcp: number;
  /** Non-first IP fragments (skipped), and first fragments (their payload continues in those). */
  fragments: number;
  firstFragments: number;
  /** Packets cut by the snaplen before the end of their TCP header (skipped). */
  truncated: number;
  malformed: number;
  /** TCP payload bytes cut off by the snaplen (in all flows). */
  missingPayload: number;
}

export interface CaptureSummary {
  packets: number;
  decode: DecodeCounts;
  /** TCP connections seen, and those that are NVMe/TCP (in order of their first packet). */
  tcpFlows: number;
  nvmeFlows: TcpFlow[];
}

export class CaptureAnalyzer {
  readonly decode: DecodeCounts = {
    tcp: 0,
    unknownLink: 0,
    unknownLinkTypes: [],
    notIp: 0,
    notTcp: 0,
    fragments: 0,
    firstFragments: 0,
    truncated: 0,
    malformed: 0,
    missingPayload: 0,
  };
  packets = 0;
  tcpFlows = 0;
  readonly nvmeFlows: TcpFlow[] = [];
  private readonly table = new FlowTable<TcpFlow>();
  private readonly tcp = new TcpPacket();
  private readonly ports: ReadonlySet<number>;
  private readonly reorderLimit: number;
  private readonly maxPlen: number;
  private readonly idle: number;
  private readonly h: CaptureHandlers;
  /** The packet being processed (for the index in command views). */
  private pkt: CapturePacket | undefined;
  /** The segment being reassembled in a flow not yet known as NVMe/TCP. */
  private revealing: { f: TcpFlow; side: number; seq: number; p: CapturePacket } | undefined;
  private readonly seg: SegmentView = {
    dir: Dir.H2C,
    seq: 0,
    buf: Buffer.alloc(0),
    start: 0,
    end: 0,
    missing: 0,
    flags: 0,
    ack: 0,
    index: 0,
    tsSec: 0,
    tsNsec: 0,
  };
  private readonly cmd: CommandView = {
    seq: 0,
    index: 0,
    opc: 0,
    cid: 0,
    nsid: 0,
    fctype: -1,
    sglType: 0,
    sglLen: 0,
    slba: 0,
    nlb: 0,
    icdLen: 0,
    qid: -1,
    isRead: false,
    sqe: Buffer.alloc(0),
  };

  constructor(handlers: CaptureHandlers = {}, o: AnalyzerOptions = {}) {
    this.h = handlers;
    this.ports = new Set(o.ports ?? DEFAULT_CAPTURE_PORTS);
    this.reorderLimit = o.reorderLimit ?? 4 << 20;
    this.maxPlen = o.maxPlen ?? (16 << 20) + 256;
    this.idle = o.flowIdlePackets ?? 1 << 16;
  }

  /**
   * Forgets connections that ended, and flows that are not NVMe/TCP, once no packet of
   * theirs came for `idle` packets: the table stays bounded however many connections a
   * capture holds. A later packet of a forgotten one starts a new flow (its first data decides).
   */
  private sweep(): void {
    const old = this.packets - this.idle;
    this.table.removeIf((f) => f.lastIndex <= old && (f.closed || f.kind !== FlowKind.NVME));
  }

  /** Connections in the flow table now (closed and idle ones are swept out, see flowIdlePackets). */
  get liveFlows(): number {
    return this.table.size;
  }

  /** One captured packet (a CaptureReader callback). */
  packet(p: CapturePacket): void {
    if (++this.packets % this.idle === 0) this.sweep();
    const t = this.tcp;
    const d = this.decode;
    switch (decodeTcp(p.linkType, p.buf, p.off, p.caplen, p.origLen, t)) {
      case Decoded.TCP:
        break;
      case Decoded.UNKNOWN_LINK:
        d.unknownLink++;
        if (!d.unknownLinkTypes.includes(p.linkType)) d.unknownLinkTypes.push(p.linkType);
        return;
      case Decoded.NOT_IP:
        d.notIp++;
        return;
      case Decoded.NOT_TCP:
        d.notTcp++;
        return;
      case Decoded.FRAGMENT:
        d.fragments++;
        return;
      case Decoded.TRUNCATED:
        d.truncated++;
        return;
      default:
        d.malformed++;
        return;
    }
    d.tcp++;
    if (t.firstFragment) d.firstFragments++;
    d.missingPayload += t.missing;
    const syn = (t.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
    let f = this.table.find(t);
    let side = this.table.side;
    if (f !== undefined && syn && this.isNewConnection(f, side, t.seq)) {
      this.retire(f);
      f = undefined;
    }
    if (f === undefined) {
      f = this.newFlow(t, p.index);
      side = 0;
    }
    f.packets++;
    f.lastIndex = p.index;
    if (f.kind === FlowKind.OTHER) {
      if (t.flags & (TcpFlag.FIN | TcpFlag.RST)) this.endOf(f, side, t.flags);
      return;
    }
    const s = f.sides[side];
    let seq = t.seq;
    if (t.flags & TcpFlag.SYN) {
      if (syn && f.hostSide < 0) this.setHost(f, side);
      s.reasm.syn(seq);
      seq = (seq + 1) >>> 0;
    }
    const n = t.payloadLen;
    if (n + t.missing > 0) {
      if (f.byPort && f.kind === FlowKind.UNKNOWN) this.becomeNvme(f, 'port');
      s.segments++;
      s.bytes += n;
      s.missing += t.missing;
      this.pkt = p;
      s.reasm.startAt(seq);
      // The segment as the NIC sees it comes first, then what the stack makes of it (PDUs,
      // commands). A segment that reveals the flow as NVMe/TCP is handed out on the flow event.
      if (f.kind === FlowKind.NVME) this.emitSegment(f, side, seq, p);
      else this.revealing = { f, side, seq, p };
      s.reasm.segment(seq, t.buf, t.payloadOff, t.payloadOff + n, t.missing);
      this.revealing = undefined;
    }
    if (t.flags & (TcpFlag.FIN | TcpFlag.RST)) this.endOf(f, side, t.flags);
  }

  private emitSegment(f: TcpFlow, side: number, seq: number, p: CapturePacket): void {
    if (this.h.segment === undefined) return;
    const t = this.tcp;
    const v = this.seg;
    v.dir = side === f.hostSide ? Dir.H2C : Dir.C2H;
    v.seq = seq;
    v.buf = t.buf;
    v.start = t.payloadOff;
    v.end = t.payloadOff + t.payloadLen;
    v.missing = t.missing;
    v.flags = t.flags;
    v.ack = t.ack;
    v.index = p.index;
    v.tsSec = p.tsSec;
    v.tsNsec = p.tsNsec;
    this.h.segment(f, v);
  }

  /** The input is over: flushes held data of open connections and returns the totals. */
  finish(): CaptureSummary {
    for (const f of this.nvmeFlows) if (!f.closed) this.flush(f);
    return { packets: this.packets, decode: this.decode, tcpFlows: this.tcpFlows, nvmeFlows: this.nvmeFlows };
  }

  // ------------------------------------------------------------ flows

  private newFlow(t: TcpPacket, index: number): TcpFlow {
    const f = new TcpFlow(++this.tcpFlows, FlowTable.endpoints(t), [t.sport, t.dport], index);
    f.sides = [this.newSide(f, 0), this.newSide(f, 1)];
    this.table.add(t, f);
    // A controller port gives the roles now; the flow counts as NVMe/TCP from its first data.
    if (this.ports.has(t.dport)) this.setHost(f, 0);
    else if (this.ports.has(t.sport)) this.setHost(f, 1);
    f.byPort = f.hostSide >= 0;
    return f;
  }

  private newSide(f: TcpFlow, side: number): FlowSide {
    const scan = new PduScanner(
      (h) => this.onPdu(f, side, h),
      () => this.onLost(f),
      { icFirst: true, maxPlen: this.maxPlen },
    );
    // An ICReq/ICResp CH starts the stream: NVMe/TCP, even if the capture cuts the rest of that header.
    scan.onIcCh = (type) => {
      if (f.kind !== FlowKind.UNKNOWN) return;
      this.setHost(f, type === PduType.ICReq ? side : 1 - side);
      this.becomeNvme(f, type === PduType.ICReq ? 'icreq' : 'icresp');
    };
    const sink: StreamSink = {
      data: (buf, start, end, seq) => {
        const s = f.sides[side];
        if (!s.begun) {
          s.begun = true;
          // A stream is followed from its first byte if it began at a SYN, or if the flow
          // is still to be told by its first PDU; a flow known by its port may start mid-PDU.
          scan.start(s.reasm.synSeen || f.kind === FlowKind.UNKNOWN);
        }
        scan.data(buf, start, end, seq);
        if (f.kind === FlowKind.NVME && this.h.stream !== undefined)
          this.h.stream(f, side === f.hostSide ? Dir.H2C : Dir.C2H, buf, start, end, seq);
      },
      gap: (seq, n) => {
        scan.gap(seq, n);
        if (f.kind === FlowKind.NVME) this.h.gap?.(f, side === f.hostSide ? Dir.H2C : Dir.C2H, seq, n);
      },
    };
    return new FlowSide(new Reassembler(sink, this.reorderLimit), scan);
  }

  private setHost(f: TcpFlow, side: number): void {
    f.hostSide = side;
    f.sides[side].scan.role = Role.H2C;
    f.sides[1 - side].scan.role = Role.C2H;
  }

  private becomeNvme(f: TcpFlow, by: 'icreq' | 'icresp' | 'port'): void {
    f.kind = FlowKind.NVME;
    f.detectedBy = by;
    for (const s of f.sides) s.scan.acceptAny();
    this.nvmeFlows.push(f);
    this.h.flow?.(f);
    const r = this.revealing;
    if (r !== undefined && r.f === f) {
      this.revealing = undefined;
      this.emitSegment(f, r.side, r.seq, r.p);
    }
  }

  /** A SYN on a known 4-tuple: a new connection if the old one ended or this is another ISN. */
  private isNewConnection(f: TcpFlow, side: number, isn: number): boolean {
    if (f.closed) return true;
    const r = f.sides[side].reasm;
    return r.started && (!r.synSeen || r.startSeq !== (isn + 1) >>> 0);
  }

  private retire(f: TcpFlow): void {
    if (!f.closed) this.close(f);
    this.table.remove(f);
  }

  private endOf(f: TcpFlow, side: number, flags: number): void {
    if (flags & TcpFlag.RST) f.rst = true;
    if (flags & TcpFlag.FIN) f.sides[side].fin = true;
    if (!f.closed && (f.rst || (f.sides[0].fin && f.sides[1].fin))) this.close(f);
  }

  private close(f: TcpFlow): void {
    f.closed = true;
    if (f.kind === FlowKind.OTHER) return;
    this.flush(f);
    if (f.kind === FlowKind.NVME) this.h.close?.(f);
  }

  private flush(f: TcpFlow): void {
    for (const s of f.sides) s.reasm.finish();
  }

  // ------------------------------------------------------------ PDUs

  private onLost(f: TcpFlow): void {
    if (f.kind !== FlowKind.UNKNOWN) return;
    // The first bytes were no ICReq/ICResp and no port says NVMe/TCP: another protocol.
    f.kind = FlowKind.OTHER;
    for (const s of f.sides) {
      s.scan.stop();
      s.reasm.discard();
    }
  }

  private onPdu(f: TcpFlow, side: number, h: PduHeaderView): void {
    const hdr = h.hdr;
    if (h.type === PduType.ICReq) {
      const { pfv, hpda, dgst, maxr2t } = decodeHeader(hdr) as IcReq;
      f.icreq = { pfv, hpda, dgst, maxr2t };
    } else if (h.type === PduType.ICResp) {
      const { pfv, cpda, dgst, maxh2cdata } = decodeHeader(hdr) as IcResp;
      f.icresp = { pfv, cpda, dgst, maxh2cdata };
      // The digests are settled: the scanners may insist on them.
      for (const s of f.sides) {
        s.scan.hdgst = dgst & DigestOpt.HDGST ? 1 : 0;
        s.scan.ddgst = dgst & DigestOpt.DDGST ? 1 : 0;
      }
    }
    if (f.kind !== FlowKind.NVME) return;
    const dir = side === f.hostSide ? Dir.H2C : Dir.C2H;
    if (h.type === PduType.CapsuleCmd && dir === Dir.H2C) this.onCommand(f, f.sides[side], h);
    this.h.pdu?.(f, dir, h);
  }

  private onCommand(f: TcpFlow, s: FlowSide, h: PduHeaderView): void {
    if (s.sqe === undefined) s.sqe = h.hdr.subarray(OFF.SQE, OFF.SQE + 64);
    const q = s.sqe;
    const c = this.cmd;
    const opc = sqeOpc(q);
    c.seq = h.seq;
    c.index = this.pkt?.index ?? 0;
    c.opc = opc;
    c.cid = sqeCid(q);
    c.nsid = sqeNsid(q);
    c.fctype = opc === AdminOpc.Fabrics ? sqeFctype(q) : -1;
    c.sglType = sqeSglType(q);
    c.sglLen = sqeSglLen(q);
    c.slba = sqeSlba(q);
    c.nlb = (sqeCdw(q, 12) & 0xffff) + 1;
    c.icdLen = h.pdo > 0 ? h.plen - h.pdo - (h.flags & PduFlag.DDGSTF ? 4 : 0) : 0;
    if (c.fctype === FabricsType.Connect) f.qid = q.readUInt16LE(FabricsOff.QID);
    c.qid = f.qid;
    c.isRead = opc === IoOpc.Read && f.qid !== 0;
    c.sqe = q;
    f.commands++;
    if (c.isRead) f.reads++;
    this.h.command?.(f, c);
  }
}
