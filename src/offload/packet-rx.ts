// The ULP side of a packet device flow: what the TCP stack and nvme-tcp do with
// the segments the device hands up. Segments are reassembled into stream order
// (duplicates dropped, early ones held), then fed to the queue's PduReceiver:
//   - placed payload (the device wrote it where the receiver would copy it) goes
//     through rx.feedPlaced(n, crc): no copy, and no CRC when the device followed it;
//   - payload the device only checksummed is copied here, then feedPlaced(n, crc);
//   - everything else through rx.feed(), the software path.
// A segment without crcOk (no skb->ulp_crc) vouches for nothing: its data pieces
// go in without the device's CRC and its digest bytes make the receiver verify
// that PDU in software (nvme-tcp ANDs ulp_crc over every skb of a PDU).
// It also answers the device's resync requests the way nvme-tcp does
// (nvme_tcp_resync_response): confirm when a PDU starts exactly at the asked
// sequence number; once past it the guess was wrong and gets no answer.
import { CH_LEN } from '../protocol/constants.ts';
import { RecvState, type RxView } from '../protocol/receiver.ts';
import type { RxPiece, RxSegment } from './packet-device.ts';
import { after, seqAdd, seqDiff } from '../protocol/seq.ts';
import type { DdpQueue, UlpOps } from './types.ts';

export interface PacketRxOptions {
  /** Sequence number of the next stream byte the receiver expects (the flow's rxSeq). */
  seq: number;
  /** Called for the device's teardown-done up-call (the command may complete). */
  onTeardownDone?: (cid: number) => void;
}

export class PacketRx implements UlpOps {
  /** The device's queue context, once added: resync answers go to it. */
  queue: DdpQueue | undefined;
  /** Sequence number of the next byte to deliver. */
  nextSeq: number;
  /** Payload bytes delivered through feedPlaced with no copy (placed by the device). */
  placedBytes = 0;
  private held: RxSegment[] = [];
  private resyncPending = false;
  private resyncSeq = 0;
  private readonly onTeardownDone: ((cid: number) => void) | undefined;

  constructor(
    readonly rx: RxView,
    o: PacketRxOptions,
  ) {
    this.nextSeq = o.seq >>> 0;
    this.onTeardownDone = o.onTeardownDone;
  }

  // ------------------------------------------------------------ UlpOps

  resyncRequest(seq: number): boolean {
    this.resyncSeq = seq >>> 0;
    this.resyncPending = true;
    return true;
  }

  ddpTeardownDone(cid: number): void {
    this.onTeardownDone?.(cid);
  }

  // ------------------------------------------------------------ TCP reassembly

  /** A segment from the device, in arrival order. */
  push(seg: RxSegment): void {
    if (seg.dropped) return; // never reached the stack; the sender retransmits
    const end = seqAdd(seg.seq, seg.payload.length);
    if (!after(end, this.nextSeq)) return; // all old: a duplicate
    if (after(seg.seq, this.nextSeq)) {
      this.hold(seg);
      return;
    }
    this.deliver(seg);
    while (this.held.length > 0 && !after(this.held[0].seq, this.nextSeq)) {
      const s = this.held.shift()!;
      if (after(seqAdd(s.seq, s.payload.length), this.nextSeq)) this.deliver(s);
    }
  }

  /** Segments waiting for a gap before them to fill. */
  get heldCount(): number {
    return this.held.length;
  }

  private hold(seg: RxSegment): void {
    const h = this.held;
    let i = h.length;
    while (i > 0 && after(h[i - 1].seq, seg.seq)) i--;
    if (i > 0 && h[i - 1].seq === seg.seq) return; // same start held already
    h.splice(i, 0, seg);
  }

  /** Delivers the part of `seg` from nextSeq on. */
  private deliver(seg: RxSegment): void {
    const from = seqDiff(this.nextSeq, seg.seq);
    for (const pc of seg.pieces) {
      if (pc.end <= from) continue;
      const a = Math.max(pc.start, from);
      if (pc.dst === undefined && (pc.crc === undefined || !seg.crcOk)) this.feedStream(seg.payload, a, pc.end, seg.crcOk);
      else this.feedData(seg.payload, a, pc, seg.crcOk);
    }
  }

  // ------------------------------------------------------------ receiver

  private feedData(p: Buffer, a: number, pc: RxPiece, crcOk: boolean): void {
    const rx = this.rx;
    const n = pc.end - a;
    const dest = rx.destBuf;
    const crc = crcOk ? pc.crc : undefined;
    if (rx.state !== RecvState.DATA || dest === undefined || n > rx.dataRemaining) {
      this.feedStream(p, a, pc.end, crcOk);
      return;
    }
    if (pc.dst !== undefined) {
      const at = pc.dst.byteOffset + (a - pc.start);
      if (pc.dst.buffer === dest.buffer && at === dest.byteOffset + rx.destPos) {
        this.placedBytes += n;
        this.advance(n);
        rx.feedPlaced(n, crc);
        return;
      }
      if (crc === undefined) {
        this.feedStream(p, a, pc.end, crcOk);
        return;
      }
    }
    // Checksummed by the device, not placed where the receiver wants it: copy, keep the CRC.
    this.advance(n);
    rx.feedChecked(p, a, n, crc);
  }

  /**
   * Feeds stream bytes. Unit by unit while a resync request is pending (to stop at
   * each PDU start) or when the segment's CRC is not valid (to catch its digest bytes).
   */
  private feedStream(p: Buffer, a: number, end: number, crcOk: boolean): void {
    const rx = this.rx;
    const unitWise = !crcOk && rx.ddgst;
    while (a < end) {
      if (this.resyncPending && rx.state === RecvState.CH && rx.unitRemaining === CH_LEN) this.answer();
      if (unitWise && rx.state === RecvState.DDGST) rx.distrustDeviceCrc();
      const n = (this.resyncPending || unitWise) && rx.state !== RecvState.ERR ? Math.min(end - a, rx.unitRemaining) : end - a;
      this.advance(n);
      rx.feed(p.subarray(a, a + n));
      a += n;
    }
  }

  /** A PDU starts at nextSeq: confirm the pending request if it is exactly there; drop it once past. */
  private answer(): void {
    const d = seqDiff(this.nextSeq, this.resyncSeq);
    if (d < 0) return;
    this.resyncPending = false;
    if (d === 0) this.queue?.resync(this.resyncSeq);
  }

  private advance(n: number): void {
    this.nextSeq = seqAdd(this.nextSeq, n);
  }
}
