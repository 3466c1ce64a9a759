// The packet device: a model of the NIC side of NVMe/TCP receive offload, fed TCP
// segments of each offloaded flow in the order they arrive on the wire (a capture,
// or a loss/reorder injector in tests). docs/ARCHITECTURE.md (Offload engine) has the
// placement, resync and retransmission rules it follows.
//
// In sync, a segment whose sequence number is the one expected is parsed with the
// device's own PDU tracker; the payload of a C2HData whose CCID is registered is
// written into the command's buffers (the DMA) and reported as placed, and while
// DDGST_RX is on the device keeps the PDU's CRC32C and checks its digest. Anything
// else passes through untouched, as the skb it would be. Under the mlx5 profile a
// segment gets at most one placement (its CQE names one CCID, offset and length):
// the payload of a second PDU in the same segment is only checksummed. Counted per
// segment: rx_packets/rx_bytes always (the flow's totals), rx_nvmeotcp_packets once
// if any byte was placed, rx_nvmeotcp_bytes the bytes placed (cclen).
//
// A segment past the expected sequence (a loss or a reordering) loses PDU sync:
// offload stops for the flow, and every newly seen segment is searched for a
// plausible PDU header (c2h-header.ts) whose successor, if in the same segment, is
// plausible too. For the first candidate the device asks the ULP once
// (ulp.resyncRequest(seq), resync++) and follows the PDU lengths from there
// without offloading. The ULP's DdpQueue.resync(seq) resumes offload where the
// tracker then is: the rest of a PDU already under way may be placed, but its CRC
// was not followed from its first byte, so the device does not vouch for it (the
// ULP recomputes), and the first segment after the resync carries no valid CRC at
// all (mlx5 after_resync_cqe). A wrong guess is never confirmed: the tracker meets
// a header that does not check out, searches again and asks anew. The generic
// profile keeps tracking across a gap that lies inside the current PDU's data (a
// lost data-only segment): it skips the missing bytes, stops vouching for that
// PDU's CRC and needs no resync.
//
// Segments for a queue that is gone are dropped (drop++), as mlx5 frees an skb
// whose queue context is not found.
import { CH_LEN, DIGEST_LEN, DigestOpt, OFF, PduType } from '../protocol/constants.ts';
import { crc32cUpdate } from '../protocol/crc32c.ts';
import { C } from '../stats/counters.ts';
import { C2H_HLEN, checkC2hHeader, type FlowDigests, headerLen } from './c2h-header.ts';
import { type CcidEntry, CcidState, DeviceCore, type DeviceOptions, type QueueCtx } from './core.ts';
import { after, seqAdd, seqDiff } from '../protocol/seq.ts';
import { segmentAt } from './sgl.ts';
import type { DdpQueue } from './types.ts';

export interface TcpSegment {
  /** Sequence number of the first payload byte (u32). */
  seq: number;
  payload: Buffer;
}

/** A byte range of a segment's payload and what the device did with it. */
export interface RxPiece {
  start: number;
  end: number;
  /** Placed: the device wrote these payload bytes here (a view into the registered buffer). */
  dst: Buffer | undefined;
  /** The device's running CRC32C of the PDU's data after this piece, or undefined if it did not follow it. */
  crc: number | undefined;
  /** Placed: the command ID (CQE ccid) and the offset in its buffer (ccoff); else -1. */
  ccid: number;
  ccoff: number;
}

/** A segment as the device hands it up (the skb with its DDP frags and ulp_crc bit). */
export interface RxSegment {
  seq: number;
  payload: Buffer;
  /** Cover [0, payload.length) in order. */
  pieces: RxPiece[];
  /**
   * skb->ulp_crc: every data and digest byte here was followed by the device and the
   * digests matched (never for the first segment after a resync). The ULP trusts a
   * PDU's digest only if every segment with its data or digest has it.
   */
  crcOk: boolean;
  /** No queue context: dropped (rx_nvmeotcp_drop), never handed up. */
  dropped: boolean;
}

export function createPacketDevice(opts: DeviceOptions = {}): PacketDevice {
  return new PacketDevice(opts);
}

export class PacketDevice extends DeviceCore {
  private readonly flows = new Map<QueueCtx, Flow>();

  /** Process one segment of `queue`'s flow, in wire arrival order. */
  receive(queue: DdpQueue, seg: TcpSegment): RxSegment {
    const f = this.owns(queue) ? this.flows.get(queue) : undefined;
    if (f === undefined) {
      this.stats.channelBlock(queue.channel)[C.drop] += 1;
      return { seq: seg.seq >>> 0, payload: seg.payload, pieces: [], crcOk: false, dropped: true };
    }
    return f.process(seg.seq >>> 0, seg.payload);
  }

  protected queueAdded(q: QueueCtx): void {
    this.flows.set(q, new Flow(q, (q.cfg.rxSeq ?? 0) >>> 0, this.profile === 'mlx5'));
  }

  protected queueRemoved(q: QueueCtx): void {
    this.flows.delete(q);
  }

  resyncResponse(q: QueueCtx, seq: number): void {
    this.flows.get(q)?.resyncResponse(seq);
  }

  /** Placement happens inside receive(): no buffer is held between calls. */
  protected placementHolds(): boolean {
    return false;
  }
}

/** Where the flow's tracker is. */
const Mode = {
  /** following PDUs from a known start; offloading */
  SYNC: 0,
  /** lost: searching new segments for a PDU header */
  SEARCH: 1,
  /** a candidate was found and the ULP asked; following it without offloading */
  PENDING: 2,
} as const;
type Mode = (typeof Mode)[keyof typeof Mode];

/** What the tracker waits for inside the current PDU. */
const Phase = { HDR: 0, PAD: 1, DATA: 2, DDGST: 3, SKIP: 4 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** Collects a segment's pieces, merging neighbouring pass-through ranges. */
class Pieces {
  readonly list: RxPiece[] = [];
  plain(start: number, end: number): void {
    if (end <= start) return;
    const last = this.list[this.list.length - 1];
    if (last !== undefined && last.dst === undefined && last.crc === undefined && last.end === start) last.end = end;
    else this.list.push({ start, end, dst: undefined, crc: undefined, ccid: -1, ccoff: -1 });
  }
  data(start: number, end: number, dst: Buffer | undefined, crc: number | undefined, ccid = -1, ccoff = -1): void {
    if (dst === undefined && crc === undefined) this.plain(start, end);
    else this.list.push({ start, end, dst, crc, ccid, ccoff });
  }
}

class Flow {
  private mode: Mode = Mode.SYNC;
  /** Next sequence number the tracker expects (SYNC, PENDING). */
  private next: number;
  /** End of the furthest byte seen: SEARCH only looks at bytes past it. */
  private maxSeen: number;
  private pendingSeq = 0;
  /** A resync was just confirmed: the next segment's CRC result is not valid (mlx5 after_resync_cqe). */
  private afterResync = false;
  private readonly d: FlowDigests;

  // ---- the segment being processed ----
  /** The device checks this segment's CRC: DDGST_RX on, in sync at its start, not right after a resync. */
  private crcSeg = false;
  private segCrcOk = false;
  /** Some payload of this segment was placed. */
  private segPlaced = false;

  // ---- PDU tracker ----
  private phase: Phase = Phase.HDR;
  private readonly hdr = Buffer.alloc(C2H_HLEN + DIGEST_LEN);
  private hdrGot = 0;
  private hdrNeed = 0;
  private left = 0;
  private padLeft = 0;
  private cccid = 0;
  private cmdOff = 0;
  private entry: CcidEntry | undefined;
  private crcTracked = false;
  private crc = 0;

  constructor(
    private readonly q: QueueCtx,
    seq: number,
    /** mlx5: one placement per segment, resync on any gap; else generic. */
    private readonly mlx5: boolean,
  ) {
    this.next = seq;
    this.maxSeen = seq;
    this.d = { hdgst: (q.cfg.dgst & DigestOpt.HDGST) !== 0, ddgst: (q.cfg.dgst & DigestOpt.DDGST) !== 0 };
  }

  process(seq: number, payload: Buffer): RxSegment {
    const len = payload.length;
    const end = seqAdd(seq, len);
    const out = new Pieces();
    const s = this.q.s;
    s[C.rxPackets] += 1;
    s[C.rxBytes] += len;
    this.segPlaced = false;
    this.crcSeg = this.mode === Mode.SYNC && this.q.crcRx && !this.afterResync;
    this.afterResync = false;
    this.segCrcOk = this.crcSeg;
    let off = 0;
    if (this.mode !== Mode.SEARCH) {
      if (!after(end, this.next)) {
        // Entirely old: a duplicate or a retransmission of bytes already followed.
        out.plain(0, len);
        off = len;
        this.segCrcOk = false;
      } else if (!after(seq, this.next)) {
        // In order (or overlapping old bytes, which the device does not check again).
        off = seqDiff(this.next, seq);
        if (off > 0) this.segCrcOk = false;
        out.plain(0, off);
        off = this.track(payload, off, out);
      } else if (!this.mlx5 && this.mode === Mode.SYNC && this.phase === Phase.DATA && seqDiff(seq, this.next) <= this.left) {
        // Generic: the missing bytes are the current PDU's data only; keep tracking.
        this.skipData(seqDiff(seq, this.next));
        off = this.track(payload, 0, out);
      } else {
        this.loseSync(); // bytes are missing before this segment
      }
    }
    if (this.mode === Mode.SEARCH && off < len) this.search(seq, payload, off, out);
    else out.plain(off, len);
    if (after(end, this.maxSeen)) this.maxSeen = end;
    if (this.segPlaced) s[C.packets] += 1;
    const crcOk = this.segCrcOk && this.mode === Mode.SYNC;
    return { seq, payload, pieces: out.list, crcOk, dropped: false };
  }

  resyncResponse(seq: number): void {
    if (this.mode !== Mode.PENDING || seq !== this.pendingSeq) return; // stale: an older request
    this.mode = Mode.SYNC;
    this.afterResync = true;
    // Resume inside a PDU already under way: its rest may be placed, its CRC is not vouched for.
    if ((this.phase === Phase.PAD || this.phase === Phase.DATA) && this.hdr[OFF.TYPE] === PduType.C2HData) {
      this.entry = this.lookup(this.hdr.readUInt32LE(OFF.DATAL));
    }
  }

  private loseSync(): void {
    this.mode = Mode.SEARCH;
    this.resetPdu();
  }

  private resetPdu(): void {
    this.phase = Phase.HDR;
    this.hdrGot = 0;
    this.entry = undefined;
    this.crcTracked = false;
  }

  /** Searches payload[from...] (bytes not seen before only) for a PDU start; follows it if found. */
  private search(seq: number, payload: Buffer, from: number, out: Pieces): void {
    const len = payload.length;
    const fresh = after(this.maxSeen, seq) ? Math.min(len, seqDiff(this.maxSeen, seq)) : 0;
    const start = Math.max(from, fresh);
    for (let c = start; c + C2H_HLEN <= len; c++) {
      if (!this.candidate(payload, c)) continue;
      out.plain(from, c);
      this.resetPdu();
      this.next = seqAdd(seq, c);
      this.mode = Mode.PENDING;
      this.pendingSeq = this.next;
      this.q.s[C.resync] += 1;
      this.q.ulp.resyncRequest(this.next);
      const stop = this.track(payload, c, out);
      out.plain(stop, len);
      return;
    }
    out.plain(from, len);
  }

  /** A header at c, and the next one too when it starts inside this segment. */
  private candidate(p: Buffer, c: number): boolean {
    const type = p[c];
    if (type !== PduType.C2HData && type !== PduType.CapsuleResp && type !== PduType.R2T) return false;
    if (c + headerLen(type, this.d) > p.length) return false;
    const plen = checkC2hHeader(p, c, this.d, true);
    if (plen < 0) return false;
    const n = c + plen;
    if (n + CH_LEN > p.length) return true;
    if (n + headerLen(p[n], this.d) > p.length) return p[n + OFF.HLEN] === C2H_HLEN;
    return checkC2hHeader(p, n, this.d, true) >= 0;
  }

  /** Follows the PDU stream through payload[off...]; returns where it stopped (len, or where sync was lost). */
  private track(p: Buffer, off: number, out: Pieces): number {
    const len = p.length;
    while (off < len) {
      switch (this.phase) {
        case Phase.HDR: {
          if (this.hdrGot === 0) this.hdrNeed = headerLen(p[off], this.d);
          const n = Math.min(len - off, this.hdrNeed - this.hdrGot);
          p.copy(this.hdr, this.hdrGot, off, off + n);
          out.plain(off, off + n);
          this.advance(n);
          off += n;
          this.hdrGot += n;
          if (this.hdrGot === this.hdrNeed && !this.onHeader()) {
            this.loseSync();
            return off;
          }
          break;
        }
        case Phase.PAD:
        case Phase.SKIP: {
          const n = Math.min(len - off, this.phase === Phase.PAD ? this.padLeft : this.left);
          out.plain(off, off + n);
          this.advance(n);
          off += n;
          if (this.phase === Phase.PAD) {
            this.padLeft -= n;
            if (this.padLeft === 0) this.phase = Phase.DATA;
          } else {
            this.left -= n;
            if (this.left === 0) this.resetPdu();
          }
          break;
        }
        case Phase.DATA:
          off = this.data(p, off, out);
          break;
        default: {
          // DDGST
          const n = Math.min(len - off, DIGEST_LEN - this.hdrGot);
          p.copy(this.hdr, this.hdrGot, off, off + n);
          out.plain(off, off + n);
          this.advance(n);
          off += n;
          this.hdrGot += n;
          if (!this.crcTracked) this.segCrcOk = false;
          if (this.hdrGot === DIGEST_LEN) {
            if (this.crcTracked && this.hdr.readUInt32LE(0) !== this.crc >>> 0) this.segCrcOk = false;
            this.resetPdu();
          }
        }
      }
    }
    return off;
  }

  private advance(n: number): void {
    this.next = seqAdd(this.next, n);
  }

  /** A complete header is in `hdr`: check it and set up the PDU's body. */
  private onHeader(): boolean {
    const h = this.hdr;
    const plen = checkC2hHeader(h, 0, this.d, false);
    if (plen < 0) return false;
    const type = h[OFF.TYPE];
    const hl = this.hdrNeed;
    this.hdrGot = 0;
    if (type === PduType.C2HTermReq) {
      this.left = plen - C2H_HLEN;
      if (this.left > 0) this.phase = Phase.SKIP;
      return true;
    }
    if (type !== PduType.C2HData) return true;
    const datal = h.readUInt32LE(OFF.DATAL);
    this.cccid = h.readUInt16LE(OFF.CCCID);
    this.cmdOff = h.readUInt32LE(OFF.DATAO);
    this.left = datal;
    this.padLeft = h[OFF.PDO] - hl;
    const offloading = this.mode === Mode.SYNC;
    this.entry = offloading ? this.lookup(datal) : undefined;
    this.crcTracked = offloading && this.q.crcRx;
    this.crc = 0;
    this.phase = this.padLeft > 0 ? Phase.PAD : Phase.DATA;
    return true;
  }

  /** The registration the current C2HData's data fits in, if the device may place it. */
  private lookup(datal: number): CcidEntry | undefined {
    const e = this.q.placeable(this.cccid);
    const start = this.hdr.readUInt32LE(OFF.DATAO);
    return e !== undefined && start + datal <= e.sgl.size ? e : undefined;
  }

  private data(p: Buffer, off: number, out: Pieces): number {
    const n = Math.min(p.length - off, this.left);
    const end = off + n;
    if (!this.crcSeg) this.crcTracked = false; // data in a segment whose CRC result is not valid
    if (!this.crcTracked) this.segCrcOk = false;
    const e = this.entry;
    if (e !== undefined && e.state !== CcidState.SET) this.entry = undefined; // torn down meanwhile: stop placing
    if (this.entry === undefined || (this.mlx5 && this.segPlaced)) {
      // Not placed: no registration, or (mlx5) this segment's one placement is taken.
      if (this.crcTracked) this.crc = crc32cUpdate(this.crc, p, off, end);
      out.data(off, end, undefined, this.crcTracked ? this.crc : undefined);
      this.cmdOff += n;
    } else {
      // The DMA: one piece per contiguous destination segment.
      const m = this.entry.sgl;
      for (let a = off; a < end; ) {
        const i = segmentAt(m, this.cmdOff);
        const seg = m.segs[i];
        const so = this.cmdOff - m.starts[i];
        const k = Math.min(end - a, seg.length - so);
        seg.set(p.subarray(a, a + k), so);
        if (this.crcTracked) this.crc = crc32cUpdate(this.crc, p, a, a + k);
        out.data(a, a + k, seg.subarray(so, so + k), this.crcTracked ? this.crc : undefined, this.cccid, this.cmdOff);
        this.cmdOff += k;
        a += k;
      }
      this.q.s[C.bytes] += n;
      this.segPlaced = true;
    }
    this.advance(n);
    this.left -= n;
    if (this.left === 0) this.endData();
    return end;
  }

  /** Generic profile: `n` data bytes of the current PDU never arrived; track on past them. */
  private skipData(n: number): void {
    this.cmdOff += n;
    this.advance(n);
    this.left -= n;
    // The device did not see all of this PDU's data: it cannot vouch for its CRC.
    this.crcTracked = false;
    this.segCrcOk = false;
    if (this.left === 0) this.endData();
  }

  private endData(): void {
    if (this.d.ddgst) {
      this.phase = Phase.DDGST;
      this.hdrGot = 0;
    } else {
      this.resetPdu();
    }
  }
}
