// In-order reassembly of one direction of a TCP connection, as a receiver's stack
// does it: stream bytes come out once, in sequence order, whatever order the
// segments were captured in.
//
// - The stream starts after the SYN (ISN + 1) when the SYN is seen, else at the first
//   sequence number seen (a capture that starts mid-connection).
// - Sequence numbers are compared modulo 2^32 (protocol/seq.ts), so a stream may wrap.
// - Bytes already delivered (retransmissions, duplicates, keep-alive probes) are
//   dropped and counted.
// - A segment beyond the next expected byte is copied and held (out of order). Held
//   bytes are bounded by `limit`: past it, the bytes missing before the first held
//   segment are declared a gap (the sink is told how many) and delivery goes on.
// - A segment the capture cut short (snaplen) delivers its captured bytes, then a gap
//   for the rest.
// - finish() (end of capture or of the connection) declares the remaining holes gaps
//   and delivers everything held.
//
// Views handed to the sink are valid only during the call (they point into the
// capture reader's buffers or into a held copy that is released afterwards).
import { after, seqAdd, seqDiff } from '../protocol/seq.ts';

export interface StreamSink {
  /** Stream bytes buf[start, end), the first at sequence number `seq`, in order and each once. */
  data(buf: Buffer, start: number, end: number, seq: number): void;
  /** `n` stream bytes from `seq` on are missing from the capture. */
  gap(seq: number, n: number): void;
}

interface Held {
  seq: number;
  data: Buffer;
  /** Bytes after `data` that the capture cut off. */
  missing: number;
}

export interface ReassemblyStats {
  /** Stream bytes delivered (captured ones). */
  delivered: number;
  /** Bytes declared missing (lost in the capture, cut by the snaplen, or skipped past the hold limit). */
  gapBytes: number;
  gaps: number;
  /** Segments and bytes that were already delivered: retransmissions and duplicates. */
  dupSegments: number;
  dupBytes: number;
  /** Segments that arrived ahead of a hole and were held. */
  outOfOrder: number;
  /** Most bytes held at once. */
  maxHeld: number;
}

export class Reassembler {
  readonly stats: ReassemblyStats = {
    delivered: 0,
    gapBytes: 0,
    gaps: 0,
    dupSegments: 0,
    dupBytes: 0,
    outOfOrder: 0,
    maxHeld: 0,
  };
  /** Sequence number of the stream's first byte (valid once started). */
  startSeq = 0;
  /** Sequence number of the next byte to deliver. */
  next = 0;
  started = false;
  /** The stream began at a SYN (so it is known to start at its first byte). */
  synSeen = false;
  private held: Held[] = [];
  private heldBytes = 0;

  constructor(
    private readonly sink: StreamSink,
    /** Most out-of-order bytes held before a gap is declared. */
    readonly limit = 4 << 20,
  ) {}

  /** A SYN with sequence number `isn`: the stream's first byte is isn + 1. */
  syn(isn: number): void {
    if (this.started) return;
    this.started = true;
    this.synSeen = true;
    this.startSeq = this.next = seqAdd(isn, 1);
  }

  /** Without a SYN, the first segment seen starts the stream: startSeq is set here (segment() does it too). */
  startAt(seq: number): void {
    if (this.started) return;
    this.started = true;
    this.startSeq = this.next = seq >>> 0;
  }

  /** A segment: captured payload buf[start, end) from `seq`, then `missing` bytes the capture lacks. */
  segment(seq: number, buf: Buffer, start: number, end: number, missing: number): void {
    const total = end - start + missing;
    if (total === 0) return;
    seq >>>= 0;
    this.startAt(seq);
    if (!after(seqAdd(seq, total), this.next)) {
      this.stats.dupSegments++;
      this.stats.dupBytes += total;
      return;
    }
    if (after(seq, this.next)) {
      this.hold(seq, buf, start, end, missing);
      return;
    }
    this.deliver(seq, buf, start, end, missing);
    this.drain();
  }

  /** Declares the holes before held data as gaps and delivers all of it. */
  finish(): void {
    while (this.held.length > 0) this.skipToHeld();
  }

  /** Drops held data without delivering it (the stream is no longer followed). */
  discard(): void {
    this.held = [];
    this.heldBytes = 0;
  }

  /** Bytes currently held out of order. */
  get holding(): number {
    return this.heldBytes;
  }

  /** Delivers the part of a segment at or after `next` (the segment starts at or before it). */
  private deliver(seq: number, buf: Buffer, start: number, end: number, missing: number): void {
    const skip = seqDiff(this.next, seq);
    if (skip > 0) this.stats.dupBytes += skip;
    const from = start + skip;
    if (from < end) {
      this.sink.data(buf, from, end, this.next);
      this.stats.delivered += end - from;
      this.next = seqAdd(this.next, end - from);
    }
    const lost = from > end ? missing - (from - end) : missing;
    if (lost > 0) this.declareGap(lost);
  }

  private declareGap(n: number): void {
    this.stats.gaps++;
    this.stats.gapBytes += n;
    this.sink.gap(this.next, n);
    this.next = seqAdd(this.next, n);
  }

  private hold(seq: number, buf: Buffer, start: number, end: number, missing: number): void {
    const h = this.held;
    let i = h.length;
    while (i > 0 && after(h[i - 1].seq, seq)) i--;
    const n = end - start;
    if (i > 0 && h[i - 1].seq === seq) {
      const old = h[i - 1];
      if (old.data.length + old.missing >= n + missing) {
        // The same segment again (a retransmission of an early one).
        this.stats.dupSegments++;
        this.stats.dupBytes += n + missing;
        return;
      }
      this.heldBytes -= old.data.length;
      h.splice(i - 1, 1);
      i--;
    }
    this.stats.outOfOrder++;
    const data = Buffer.allocUnsafe(n); // out of order only: the in-order path never copies
    buf.copy(data, 0, start, end);
    h.splice(i, 0, { seq, data, missing });
    this.heldBytes += n;
    if (this.heldBytes > this.stats.maxHeld) this.stats.maxHeld = this.heldBytes;
    while (this.heldBytes > this.limit && h.length > 0) this.skipToHeld();
  }

  /** Gives up on the hole before the first held segment, then delivers what follows it. */
  private skipToHeld(): void {
    const first = this.held[0];
    const hole = seqDiff(first.seq, this.next);
    if (hole > 0) this.declareGap(hole);
    this.drain();
  }

  /** Delivers held segments that the stream has reached. */
  private drain(): void {
    const h = this.held;
    while (h.length > 0 && !after(h[0].seq, this.next)) {
      const s = h.shift()!;
      this.heldBytes -= s.data.length;
      const total = s.data.length + s.missing;
      if (after(seqAdd(s.seq, total), this.next)) this.deliver(s.seq, s.data, 0, s.data.length, s.missing);
      else {
        this.stats.dupSegments++;
        this.stats.dupBytes += total;
      }
    }
  }
}
