// Replay: the NIC model run on captured traffic. The capture layer (src/capture/)
// finds the NVMe/TCP connections of a pcap/pcapng file and hands out, in capture
// order, every segment and the PDUs and commands of both reassembled streams; here
// each I/O queue's controller-to-host segments go through a packet device
// (src/offload/packet-device.ts) of its own, driven the way the live host drives
// its device (src/host/queue.ts):
//   - sk_add once the queue's Connect completed (its CapsuleResp), with the C2H
//     stream position after it, the digests of the ICResp and the queue size of the
//     Connect; never for the admin queue;
//   - setup for each READ CapsuleCmd the host sent that the host would offload
//     (ddpEligible: io_threshold up to the device's largest I/O), teardown when its
//     completion (CapsuleResp, or C2HData with SUCCESS) is parsed; sk_del when the
//     connection ends (or the capture does);
//   - resync answers as nvme_tcp_resync_response: a request is confirmed when a PDU
//     starts exactly at the asked sequence number, and dropped once the host's
//     in-order stream is past it.
//
// The host's view of time is its in-order stream: what the device was fed, in
// sequence order (held ranges wait for a hole to fill; bytes the capture lacks are
// taken as received, since the real host had them). Completions and PDU starts are
// acted on once that stream has passed them, setups before the first segment that
// can hold their data reaches the device. Fed as captured, that is the moment the
// capture shows; re-cut (--mss) or impaired, the device lags the capture and the
// events wait for it, in bounded queues.
//
// Destination buffers are not kept per command: every registration is a view of one
// scratch buffer as long as the largest eligible READ (the placed bytes are not
// looked at), so memory stays constant however many commands a capture holds.
import type { DeviceOptions, NicProfile, QueueCtx } from '../offload/core.ts';
import { type Impairments, impair } from '../offload/inject.ts';
import { PacketDevice, type RxSegment, type TcpSegment } from '../offload/packet-device.ts';
import type { DdpQueue, UlpOps } from '../offload/types.ts';
import { ddpEligible } from '../host/offload.ts';
import {
  type AnalyzeOptions,
  analyzeCapture,
  type CaptureFormat,
  type CaptureSource,
  type CommandView,
  Dir,
  type PduHeaderView,
  type SegmentView,
  type TcpFlow,
} from '../capture/index.ts';
import { ConnectDataOff, FabricsOff } from '../protocol/fabrics.ts';
import { DigestOpt, FabricsType, OFF, PDU_TYPE_NAME, PduFlag, PduType } from '../protocol/constants.ts';
import { InvalidArgumentError } from '../protocol/errors.ts';
import { after, seqAdd, seqDiff } from '../protocol/seq.ts';
import { C } from '../stats/counters.ts';
import type { ChannelValues, GlobalValues } from '../stats/registry.ts';

/** The ten counters and the flow totals (rx_packets, rx_bytes). */
export type ReplayCounters = GlobalValues & ChannelValues;

/** PDU headers by type name, e.g. { CapsuleCmd: 12, C2HData: 40 }. */
export type PduCounts = Record<string, number>;

export interface ReplayImpairments extends Omit<Impairments, 'rtxDelay'> {}

export interface ReplayOptions {
  /** NIC behaviour (default mlx5). */
  profile?: NicProfile;
  /** Device limits (io_threshold, largest I/O, SGL entries); the profile's defaults otherwise. */
  device?: Pick<DeviceOptions, 'ioThreshold' | 'maxIoSize' | 'maxSgl' | 'fullCcidRange'>;
  /** Re-cut each C2H stream into segments of this many bytes, counted from the stream's first byte. */
  mss?: number;
  /** Loss, reordering and duplication applied to the C2H segments (windows of IMPAIR_WINDOW). */
  impair?: ReplayImpairments;
  /** Controller ports (a connection to one is NVMe/TCP without an ICReq). */
  ports?: readonly number[] | undefined;
  /** One JSON line per C2H segment fed to a device, per READ command, and per resync answer. */
  trace?: (line: string) => void;
  /** Input bytes consumed so far (after each chunk). */
  onProgress?: (bytes: number) => void;
  /** Resolve with no flows instead of rejecting (default: a CaptureError). */
  allowNoFlows?: boolean;
}

export interface ReplayFlowResult {
  /** The analyzer's flow number (1-based, in order of first packet). */
  id: number;
  /** "addr:port" of each end ("[v6]:port"). */
  host: string;
  controller: string;
  /** Queue id from the Connect (-1 not captured). */
  qid: number;
  /** Subsystem NQN from the Connect data, when captured. */
  subnqn: string | undefined;
  /** The queue was attached to its device (an I/O queue whose Connect completed). */
  offloaded: boolean;
  /** READ commands sent, and those the host would hand to the device. */
  reads: number;
  eligibleReads: number;
  counters: ReplayCounters;
  pdus: { h2c: PduCounts; c2h: PduCounts };
  /** C2H payload bytes the capture's snap length cut off (received, not placed). */
  missingBytes: number;
  /** C2H stream bytes missing from the capture after the queue was attached (lost by the capture, or cut by its snap length). */
  gapBytes: number;
}

export interface ReplayResult {
  format: CaptureFormat;
  packets: number;
  tcpFlows: number;
  /** TCP payload bytes the snap length cut off, in every flow and direction. */
  snaplenCut: number;
  flows: ReplayFlowResult[];
  total: Omit<ReplayFlowResult, 'id' | 'host' | 'controller' | 'qid' | 'subnqn' | 'offloaded'> & { offloadedFlows: number };
}

/** C2H segments impaired together: a loss is retransmitted within its window. */
export const IMPAIR_WINDOW = 64;
/** Fed ranges held ahead of a hole before the host takes the hole as lost. */
const MAX_HELD = 4096;

/** Replays a capture (a file, '-' for stdin, or a stream) through the NIC model. */
export async function replayCapture(src: CaptureSource, o: ReplayOptions = {}): Promise<ReplayResult> {
  if (o.mss !== undefined && (!Number.isInteger(o.mss) || o.mss < 1 || o.mss > 65535)) {
    throw new InvalidArgumentError(`mss must be an integer from 1 to 65535, got ${o.mss}`);
  }
  const rp = new Replayer(o);
  const ao: AnalyzeOptions = { ports: o.ports, onProgress: o.onProgress, allowNoFlows: o.allowNoFlows === true };
  const res = await analyzeCapture(
    src,
    {
      segment: (f, s) => rp.state(f).segment(s),
      pdu: (f, dir, h) => rp.state(f).pdu(dir, h),
      command: (f, c) => rp.state(f).command(c),
      stream: (f, dir, buf, start, end, seq) => rp.state(f).stream(dir, buf, start, end, seq),
      gap: (f, dir, seq, n) => rp.state(f).gap(dir, seq, n),
      close: (f) => rp.close(f),
    },
    ao,
  );
  for (const f of res.nvmeFlows) if (!f.closed) rp.close(f);
  const flows = rp.results.sort((a, b) => a.id - b.id);
  return {
    format: res.format,
    packets: res.packets,
    tcpFlows: res.tcpFlows,
    snaplenCut: res.decode.missingPayload,
    flows,
    total: sumFlows(flows),
  };
}

class Replayer {
  readonly results: ReplayFlowResult[] = [];
  private readonly flows = new Map<TcpFlow, FlowReplay>();
  /** The DMA target of every registration (see the header). */
  readonly scratch: Buffer;
  constructor(readonly o: ReplayOptions) {
    const lim = new ReplayDevice(this.deviceOptions()).limits();
    // Registrations are views of one buffer: it must bound them.
    if (lim.maxIoSize === 0) throw new InvalidArgumentError('replay needs a device with a largest I/O size (maxIoSize > 0)');
    this.scratch = Buffer.alloc(lim.maxIoSize);
  }

  deviceOptions(): DeviceOptions {
    return { ...this.o.device, profile: this.o.profile ?? 'mlx5', channels: 1 };
  }

  state(f: TcpFlow): FlowReplay {
    let s = this.flows.get(f);
    if (s === undefined) {
      s = new FlowReplay(this, f);
      this.flows.set(f, s);
    }
    return s;
  }

  /** The connection ended (or the capture did): its result; only the numbers are kept. */
  close(f: TcpFlow): void {
    this.results.push(this.state(f).finish());
    this.flows.delete(f);
  }
}

/** A packet device that runs teardown completions when the replay says (the capture showed them done). */
class ReplayDevice extends PacketDevice {
  private readonly dones: (() => void)[] = [];
  protected override completeLater(done: () => void): void {
    this.dones.push(done);
  }
  runCompletions(): void {
    for (let i = 0; i < this.dones.length; i++) this.dones[i]();
    this.dones.length = 0;
  }
}

/** A FIFO of host events keyed by C2H stream position: kind, sequence number, CID, generation. */
class EventQueue {
  private kind = new Uint8Array(64);
  private seq = new Float64Array(64);
  private cid = new Int32Array(64);
  private gen = new Float64Array(64);
  private arg = new Float64Array(64);
  private head = 0;
  private tail = 0;
  get size(): number {
    return this.tail - this.head;
  }
  push(kind: number, seq: number, cid: number, gen: number, arg = 0): void {
    if (this.tail === this.kind.length) this.grow();
    const i = this.tail++;
    this.kind[i] = kind;
    this.seq[i] = seq;
    this.cid[i] = cid;
    this.gen[i] = gen;
    this.arg[i] = arg;
  }
  headSeq(): number {
    return this.seq[this.head];
  }
  headKind(): number {
    return this.kind[this.head];
  }
  headCid(): number {
    return this.cid[this.head];
  }
  headGen(): number {
    return this.gen[this.head];
  }
  headArg(): number {
    return this.arg[this.head];
  }
  shift(): void {
    if (++this.head === this.tail) this.head = this.tail = 0;
  }
  private grow(): void {
    const n = this.tail - this.head;
    const cap = n * 2 > this.kind.length ? this.kind.length * 2 : this.kind.length;
    const k = new Uint8Array(cap);
    const s = new Float64Array(cap);
    const c = new Int32Array(cap);
    const g = new Float64Array(cap);
    const a = new Float64Array(cap);
    a.set(this.arg.subarray(this.head, this.tail));
    k.set(this.kind.subarray(this.head, this.tail));
    s.set(this.seq.subarray(this.head, this.tail));
    c.set(this.cid.subarray(this.head, this.tail));
    g.set(this.gen.subarray(this.head, this.tail));
    this.kind = k;
    this.seq = s;
    this.cid = c;
    this.gen = g;
    this.arg = a;
    this.head = 0;
    this.tail = n;
  }
}

/** Host events: a PDU starts (resync answers), a command completes (teardown), a READ is sent (setup). */
const Ev = { PDU: 0, DONE: 1, SETUP: 2 } as const;

class FlowReplay implements UlpOps {
  private dev: ReplayDevice | undefined;
  private q: DdpQueue | undefined;
  private readonly scratch: Buffer;
  private readonly mss: number;
  private readonly trace: ((line: string) => void) | undefined;
  private connectCid = -1;
  private connectQid = -1;
  private sqsize = -1;
  private subnqn: string | undefined;
  /** The Connect's SUBNQN field in the H2C stream: where it starts, and its bytes so far. */
  private nqnSeq = -1;
  private nqnBuf: Buffer | undefined;
  private nqnGot = 0;
  private reads = 0;
  private eligible = 0;
  private missing = 0;
  private gapBytes = 0;

  // ---- the host's in-order C2H stream ----
  /** Next C2H byte the host lacks (valid once attached). */
  private front = 0;
  private readonly heldStart: number[] = [];
  private readonly heldEnd: number[] = [];
  /** C2H position the capture's reassembled stream had reached (a READ sent now has its data after it). */
  private capFront = 0;
  private readonly events = new EventQueue();
  private readonly setups = new EventQueue();
  /** Registered CIDs, each with the number of its command (its generation). */
  private readonly registered = new Map<number, number>();
  /** Each CID's latest command (numbered in capture order). */
  private readonly lastCmd = new Map<number, number>();
  private gen = 0;
  private resyncPending = false;
  private resyncSeq = 0;
  /** Set during a receive(): the device asked this. */
  private askedSeq = -1;

  // ---- re-cutting (mss) and impairing ----
  private cut: Buffer | undefined;
  private cutLen = 0;
  /** Sequence number of the segment being cut, the next stream byte it takes, and that byte's stream offset. */
  private cutSeq = 0;
  private cutNext = 0;
  private cutPos = 0;
  private readonly window: TcpSegment[] = [];
  private windows = 0;

  constructor(
    private readonly rp: Replayer,
    readonly f: TcpFlow,
  ) {
    this.scratch = rp.scratch;
    this.mss = rp.o.mss ?? 0;
    this.trace = rp.o.trace;
  }

  // ------------------------------------------------------------ capture events

  command(c: CommandView): void {
    if (c.fctype === FabricsType.Connect) {
      this.connectCid = c.cid;
      this.connectQid = c.sqe.readUInt16LE(FabricsOff.QID);
      this.sqsize = c.sqe.readUInt16LE(FabricsOff.SQSIZE);
      this.nqnSeq = -2; // its data follows the header: set by the pdu event
      return;
    }
    const gen = ++this.gen;
    if (this.q !== undefined) this.lastCmd.set(c.cid, gen);
    if (!c.isRead) return;
    this.reads++;
    const ddp = this.q !== undefined && ddpEligible(this.dev!.limits(), c.sglLen);
    this.trace?.(JSON.stringify({ flow: this.f.id, frame: c.index, read_cid: c.cid, read_len: c.sglLen, ddp }));
    if (!ddp) return;
    this.eligible++;
    // The READ's data comes after what the C2H stream holds now.
    this.setups.push(Ev.SETUP, this.capFront, c.cid, gen, c.sglLen);
    this.runSetups(this.front, false);
  }

  pdu(dir: Dir, h: PduHeaderView): void {
    if (dir === Dir.H2C) {
      if (this.nqnSeq === -2 && h.type === PduType.CapsuleCmd && h.pdo > 0) {
        this.nqnSeq = seqAdd(h.seq, h.pdo + ConnectDataOff.SUBNQN);
        this.nqnBuf = Buffer.alloc(256);
        this.nqnGot = 0;
      }
      return;
    }
    if (h.type === PduType.CapsuleResp && this.q === undefined && this.dev === undefined) {
      const cid = h.hdr.readUInt16LE(OFF.CQE + 12);
      if (cid === this.connectCid && this.connectQid > 0) this.attach(seqAdd(h.seq, h.plen));
      return;
    }
    if (this.q === undefined) return;
    this.event(Ev.PDU, h.seq, -1, 0);
    const completion =
      h.type === PduType.CapsuleResp
        ? h.hdr.readUInt16LE(OFF.CQE + 12)
        : h.type === PduType.C2HData && (h.flags & PduFlag.SUCCESS) !== 0
          ? h.hdr.readUInt16LE(OFF.CCCID)
          : -1;
    if (completion >= 0) this.event(Ev.DONE, seqAdd(h.seq, h.plen - 1), completion, this.lastCmd.get(completion) ?? -1);
  }

  segment(s: SegmentView): void {
    if (s.dir !== Dir.C2H || this.q === undefined) return;
    if (s.missing > 0) {
      this.missing += s.missing;
      // Received by the NIC, never placed: counted in the flow's bytes.
      (this.q as QueueCtx).s[C.rxBytes] += s.missing;
    }
    if (this.mss > 0) return; // fed from the reassembled stream instead
    const payload = s.buf.subarray(s.start, s.end);
    if (this.rp.o.impair !== undefined) this.toWindow(s.seq, Buffer.from(payload));
    else this.feed(s.seq, payload, s.index);
  }

  stream(dir: Dir, buf: Buffer, start: number, end: number, seq: number): void {
    if (dir === Dir.H2C) {
      if (this.nqnBuf !== undefined && this.nqnGot < 256) this.takeNqn(buf, start, end, seq);
      return;
    }
    this.capFront = seqAdd(seq, end - start);
    if (this.q === undefined || this.mss === 0) return;
    // Bytes before the queue was attached are not the device's.
    const skip = seqDiff(this.cutNext, seq);
    if (skip >= end - start) return;
    const from = skip > 0 ? start + skip : start;
    this.recut(buf, from, end, seqAdd(seq, from - start));
  }

  gap(dir: Dir, seq: number, n: number): void {
    if (dir !== Dir.C2H) return;
    this.capFront = seqAdd(seq, n);
    if (this.q === undefined) return;
    this.gapBytes += n;
    if (this.mss > 0) {
      this.flushCut();
      this.cutNext = seqAdd(seq, n);
      this.cutPos += n;
    }
    // The real host had these bytes: its stream moves past them.
    this.received(seq, seqAdd(seq, n));
  }

  // ------------------------------------------------------------ UlpOps

  resyncRequest(seq: number): boolean {
    this.resyncSeq = seq >>> 0;
    this.resyncPending = true;
    this.askedSeq = this.resyncSeq;
    return true;
  }

  ddpTeardownDone(_cid: number): void {}

  // ------------------------------------------------------------ device

  private attach(rxSeq: number): void {
    const d = new ReplayDevice(this.rp.deviceOptions());
    this.dev = d;
    const f = this.f;
    const r = d.addQueue(
      {
        pfv: f.icresp?.pfv ?? 0,
        cpda: f.icresp?.cpda ?? 0,
        dgst: f.dgst & (DigestOpt.HDGST | DigestOpt.DDGST),
        queueSize: this.sqsize >= 0 ? this.sqsize + 1 : 0x10000,
        queueId: this.connectQid,
        ioCpu: this.connectQid - 1,
        rxSeq,
      },
      this,
    );
    if (typeof r === 'number') return;
    this.q = r;
    this.front = rxSeq;
    if (this.mss > 0) {
      this.cut = Buffer.allocUnsafe(this.mss);
      // Segment boundaries count from the stream's first byte, as the socket device's link model does.
      this.cutPos = (rxSeq - this.f.c2h!.reasm.startSeq) >>> 0;
      this.cutNext = rxSeq;
      this.cutLen = 0;
    }
  }

  /** Appends in-order stream bytes to the segment being cut; feeds each one that fills up. */
  private recut(buf: Buffer, start: number, end: number, seq: number): void {
    const cut = this.cut!;
    const mss = this.mss;
    let off = start;
    let at = seq;
    while (off < end) {
      if (this.cutLen === 0) this.cutSeq = at;
      const room = mss - (this.cutPos % mss);
      const n = Math.min(end - off, room);
      buf.copy(cut, this.cutLen, off, off + n);
      this.cutLen += n;
      this.cutPos += n;
      off += n;
      at = seqAdd(at, n);
      if (n === room) this.flushCut();
    }
    this.cutNext = at;
  }

  private flushCut(): void {
    if (this.cutLen === 0) return;
    const p = this.cut!.subarray(0, this.cutLen);
    const seq = this.cutSeq;
    this.cutLen = 0;
    if (this.rp.o.impair !== undefined) this.toWindow(seq, Buffer.from(p));
    else this.feed(seq, p, -1);
  }

  private toWindow(seq: number, payload: Buffer): void {
    this.window.push({ seq, payload });
    if (this.window.length >= IMPAIR_WINDOW) this.flushWindow();
  }

  private flushWindow(): void {
    if (this.window.length === 0) return;
    const im = this.rp.o.impair!;
    // Another pattern per window and per flow, repeatable from the one seed.
    const seed = (im.seed + Math.imul(++this.windows, 0x9e3779b9) + Math.imul(this.f.id, 0x85ebca6b)) >>> 0;
    const order = impair(this.window, { ...im, seed });
    this.window.length = 0;
    for (const s of order) this.feed(s.seq, s.payload, -1);
  }

  /** One segment to the device, then to the host's stream. */
  private feed(seq: number, payload: Buffer, frame: number): void {
    const q = this.q!;
    const end = seqAdd(seq, payload.length);
    this.runSetups(end, true);
    this.askedSeq = -1;
    const r = this.dev!.receive(q, { seq, payload });
    if (this.trace !== undefined) this.traceSegment(r, frame);
    this.received(seq, end);
  }

  private traceSegment(r: RxSegment, frame: number): void {
    let ccid = -1;
    let ccoff = -1;
    let cclen = 0;
    for (const pc of r.pieces) {
      if (pc.dst === undefined) continue;
      if (ccid < 0) {
        ccid = pc.ccid;
        ccoff = pc.ccoff;
      }
      cclen += pc.end - pc.start;
    }
    const t: Record<string, number | boolean> = { flow: this.f.id };
    if (frame >= 0) t.frame = frame;
    t.seq = r.seq;
    t.len = r.payload.length;
    if (ccid >= 0) {
      t.ccid = ccid;
      t.ccoff = ccoff;
      t.cclen = cclen;
    }
    t.crc = r.crcOk;
    if (this.askedSeq >= 0) t.resync_req = this.askedSeq;
    this.trace!(JSON.stringify(t));
  }

  // ------------------------------------------------------------ the host

  /** The host's stream got [seq, end): advance its in-order front and act on what it passed. */
  private received(seq: number, end: number): void {
    if (!after(end, this.front)) return;
    if (after(seq, this.front)) {
      this.hold(seq, end);
      return;
    }
    this.front = end;
    const hs = this.heldStart;
    const he = this.heldEnd;
    let k = 0;
    while (k < hs.length && !after(hs[k], this.front)) {
      if (after(he[k], this.front)) this.front = he[k];
      k++;
    }
    if (k > 0) {
      hs.splice(0, k);
      he.splice(0, k);
    }
    this.runEvents();
    this.runSetups(this.front, false);
  }

  private hold(seq: number, end: number): void {
    const hs = this.heldStart;
    let i = hs.length;
    while (i > 0 && after(hs[i - 1], seq)) i--;
    hs.splice(i, 0, seq);
    this.heldEnd.splice(i, 0, end);
    // A hole that never fills (bounded): take it as lost, as a host's stack gives up on it.
    if (hs.length > MAX_HELD) this.received(this.front, hs[0]);
  }

  /** Events queued, or acted on at once when the host's stream is already past them. */
  private event(kind: number, seq: number, cid: number, gen: number): void {
    if (this.events.size === 0 && after(this.front, seq)) this.act(kind, seq, cid, gen);
    else this.events.push(kind, seq, cid, gen);
  }

  private runEvents(): void {
    const e = this.events;
    while (e.size > 0 && after(this.front, e.headSeq())) {
      this.act(e.headKind(), e.headSeq(), e.headCid(), e.headGen());
      e.shift();
    }
  }

  private act(kind: number, seq: number, cid: number, gen: number): void {
    if (kind === Ev.PDU) {
      if (!this.resyncPending) return;
      const d = seqDiff(seq, this.resyncSeq);
      if (d < 0) return;
      this.resyncPending = false;
      if (d === 0) {
        this.q!.resync(seq);
        this.trace?.(JSON.stringify({ flow: this.f.id, resync_resp: seq }));
      }
    } else if (this.registered.get(cid) === gen) {
      this.teardown(cid);
    }
  }

  private teardown(cid: number): void {
    this.registered.delete(cid);
    this.q!.teardown(cid);
    this.dev!.runCompletions();
  }

  /** Setups whose data may start before `upTo` (a segment ending there is next, or the host's stream is there). */
  private runSetups(upTo: number, feeding: boolean): void {
    const s = this.setups;
    while (s.size > 0 && (feeding ? after(upTo, s.headSeq()) : !after(s.headSeq(), upTo))) {
      const cid = s.headCid();
      const gen = s.headGen();
      const len = s.headArg();
      s.shift();
      // The capture shows the host reused the CID, so its earlier command was complete by then.
      if (this.registered.has(cid)) this.teardown(cid);
      if (this.q!.setup(cid, [this.scratch.subarray(0, len)]) === 0) this.registered.set(cid, gen);
    }
  }

  private takeNqn(buf: Buffer, start: number, end: number, seq: number): void {
    const skip = seqDiff(seqAdd(this.nqnSeq, this.nqnGot), seq);
    if (skip < 0 || skip >= end - start) return;
    const n = Math.min(end - start - skip, 256 - this.nqnGot);
    buf.copy(this.nqnBuf!, this.nqnGot, start + skip, start + skip + n);
    this.nqnGot += n;
    if (this.nqnGot === 256) {
      const z = this.nqnBuf!.indexOf(0);
      this.subnqn = this.nqnBuf!.toString('utf8', 0, z < 0 ? 256 : z);
      this.nqnBuf = undefined;
    }
  }

  // ------------------------------------------------------------ the end

  finish(): ReplayFlowResult {
    const f = this.f;
    if (this.q !== undefined) {
      if (this.mss > 0) this.flushCut();
      if (this.rp.o.impair !== undefined) this.flushWindow();
      // Whatever is left happened before the connection ended.
      this.front = seqAdd(this.front, 0x7fffffff);
      this.runEvents();
      this.runSetups(this.front, false);
      // As the host stops a queue: tear down what is still registered, then sk_del.
      for (const cid of [...this.registered.keys()]) this.teardown(cid);
      this.q.remove();
      this.dev!.runCompletions();
    }
    const snap = this.dev?.snapshot();
    const counters = snap === undefined ? zeroCounters() : { ...snap.global, ...snap.sum };
    const offloaded = this.q !== undefined;
    this.dev = undefined;
    this.q = undefined;
    const h = Math.max(f.hostSide, 0);
    return {
      id: f.id,
      host: f.endpoint(h),
      controller: f.endpoint(1 - h),
      qid: f.qid,
      subnqn: this.subnqn,
      offloaded,
      reads: this.reads,
      eligibleReads: this.eligible,
      counters,
      pdus: { h2c: namedCounts(f.h2c?.pduCounts), c2h: namedCounts(f.c2h?.pduCounts) },
      missingBytes: this.missing,
      gapBytes: this.gapBytes,
    };
  }
}

function namedCounts(c: Float64Array | undefined): PduCounts {
  const out: PduCounts = {};
  if (c === undefined) return out;
  c.forEach((n, t) => {
    if (n > 0) out[PDU_TYPE_NAME[t] ?? `0x${t.toString(16)}`] = n;
  });
  return out;
}

function zeroCounters(): ReplayCounters {
  const s = new ReplayDevice({ channels: 1 }).snapshot();
  return { ...s.global, ...s.sum };
}

function addCounts(into: PduCounts, from: PduCounts): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function sumFlows(flows: readonly ReplayFlowResult[]): ReplayResult['total'] {
  const counters = zeroCounters();
  const t: ReplayResult['total'] = {
    offloadedFlows: 0,
    reads: 0,
    eligibleReads: 0,
    counters,
    pdus: { h2c: {}, c2h: {} },
    missingBytes: 0,
    gapBytes: 0,
  };
  for (const f of flows) {
    if (f.offloaded) t.offloadedFlows++;
    t.reads += f.reads;
    t.eligibleReads += f.eligibleReads;
    t.missingBytes += f.missingBytes;
    t.gapBytes += f.gapBytes;
    for (const k of Object.keys(counters) as (keyof ReplayCounters)[]) counters[k] += f.counters[k];
    addCounts(t.pdus.h2c, f.pdus.h2c);
    addCounts(t.pdus.c2h, f.pdus.c2h);
  }
  return t;
}
