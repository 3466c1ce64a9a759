// The socket device: direct data placement on live traffic.
//
// Node lets the owner of a socket choose, before each read, the memory the kernel
// copies into (net.connect's `onread.buffer` generator, called once at start and
// then after every read callback). While the receiver waits for the payload of a
// C2HData whose CCID is registered, the placement hands out the registered buffer
// itself at the byte the payload continues at, bounded by the bytes left in the
// PDU, so the kernel's copy is the only one and a read never crosses into the next
// PDU. The device checksums the placed bytes (when DDGST_RX is on and data digests
// are negotiated) continuing the PDU's running CRC, then calls rx.feedPlaced(n, crc):
// the ULP neither copies nor checksums. Everything else (headers, digests, payload
// of unregistered commands) lands in a reused staging buffer and goes through
// rx.feed(), the software path.
//
// Reads into staging are bounded at PDU boundaries, so the payload after a C2HData
// header is never swallowed by a large staging read: the buffer of a read is chosen
// when the previous read completes, before the ULP registers the next command, so
// the bound applies while commands are registered and for IDLE_GRACE reads after
// the last one (and from the start of a queue). After that the placement reads
// big chunks again, as the software path does. A bounded read takes at most one
// header (24 + HDGST), or the rest of a PDU plus the next header; after a
// command's last C2HData it also takes the CapsuleResp expected there.
//
// CRC-rx without DDP: on a queue whose data digest the device checks, C2HData
// payload read into staging (a READ below io_threshold, or bytes the device may not
// place) is checksummed by the device too, as mlx5 does: copied to the ULP's
// destination and handed over with feedPlaced(n, crc).
//
// The link: a socket read is not a packet. The device models an Ethernet link by
// cutting the queue's byte stream into MSS-sized segments from its first byte
// (default 1448: MTU 1500), and counts as a NIC would: rx_nvmeotcp_packets the
// segments holding placed bytes, rx_packets/rx_bytes every segment and byte read
// while the queue is attached. Under the mlx5 profile a segment carries at most one
// placement, so payload of a second PDU starting inside a segment that already has
// one is read into staging up to the segment's end (copied and, with CRC-rx,
// checksummed) and placed from the next segment on; a bounded staging read that
// ends inside such a segment runs to its end, so those bytes come with the header
// before them instead of costing a read of their own. Fed the same stream cut at
// the same MSS without loss, a packet device gives the same ten counters.
import type { Socket } from 'node:net';
import { CH_LEN, DIGEST_LEN, hasHdgst, OFF, PduFlag, PduType } from '../protocol/constants.ts';
import { crc32cUpdate } from '../protocol/crc32c.ts';
import { InvalidArgumentError } from '../protocol/errors.ts';
import { RecvState, type RxView } from '../protocol/receiver.ts';
import { C } from '../stats/counters.ts';
import { allocIoBuffer } from '../transport/io-buffer.ts';
import { type CcidEntry, DeviceCore, type DeviceOptions, type QueueCtx } from './core.ts';
import { segmentAt } from './sgl.ts';
import type { RxPlacement } from '../transport/reader.ts';
import type { DdpQueue, SocketDdpDevice } from './types.ts';

export interface SocketDeviceOptions extends DeviceOptions {
  /** Staging buffer of each queue, for headers and unplaced bytes. Default 256 KiB. */
  stagingSize?: number;
  /** TCP payload bytes per segment of the modelled link. Default 1448 (Ethernet MTU 1500). */
  mss?: number;
}

export const DEFAULT_STAGING_SIZE = 256 * 1024;
/** MSS of an Ethernet link (MTU 1500, IPv4 and TCP headers with timestamps). */
export const DEFAULT_MSS = 1448;
/** Reads after the last registered command during which staging reads stay bounded. */
export const IDLE_GRACE = 64;
/** HLEN of C2HData and CapsuleResp: the header a bounded read completes. */
const DATA_HLEN = 24;

export function createSocketDevice(opts: SocketDeviceOptions = {}): SocketDevice {
  return new SocketDevice(opts);
}

export class SocketDevice extends DeviceCore implements SocketDdpDevice {
  private readonly stagingSize: number;
  readonly mss: number;
  private readonly byRx = new WeakMap<RxView, SocketPlacement>();
  private readonly byQueue = new Map<QueueCtx, SocketPlacement>();

  constructor(opts: SocketDeviceOptions = {}) {
    super(opts);
    const size = opts.stagingSize ?? DEFAULT_STAGING_SIZE;
    if (!Number.isInteger(size) || size < 4096) throw new InvalidArgumentError(`stagingSize must be ≥ 4096, got ${size}`);
    this.stagingSize = size;
    const mss = opts.mss ?? DEFAULT_MSS;
    if (!Number.isInteger(mss) || mss < 64 || mss > 65495)
      throw new InvalidArgumentError(`mss must be an integer in 64..65495, got ${mss}`);
    this.mss = mss;
  }

  readonly rxPlacement = (rx: RxView): RxPlacement => {
    const p = this.newPlacement(rx, this.getCaps().active.ddp);
    this.byRx.set(rx, p);
    return p;
  };

  private newPlacement(rx: RxView, expectQueue: boolean): SocketPlacement {
    return new SocketPlacement(this, rx, this.stagingSize, expectQueue, this.mss, this.profile === 'mlx5');
  }

  placementFor(queue: DdpQueue | undefined, rx: RxView): RxPlacement {
    if (queue !== undefined && !this.owns(queue)) {
      throw new InvalidArgumentError(`queue ${queue.queueId} is not attached to this device`);
    }
    const p = this.newPlacement(rx, queue !== undefined);
    this.byRx.set(rx, p);
    if (queue !== undefined) this.bind(queue, p);
    return p;
  }

  protected queueAdded(q: QueueCtx, rx: RxView | undefined): void {
    const p = rx === undefined ? undefined : this.byRx.get(rx);
    if (p !== undefined) this.bind(q, p);
  }

  private bind(q: QueueCtx, p: SocketPlacement): void {
    this.byQueue.get(q)?.unbind();
    this.byQueue.set(q, p);
    p.bind(q);
  }

  protected queueRemoved(q: QueueCtx): void {
    this.byQueue.get(q)?.unbind();
    this.byQueue.delete(q);
  }

  /** The socket is read in order, so PDU sync is never lost and no resync is ever requested. */
  resyncResponse(): void {}

  protected placementHolds(q: QueueCtx, e: CcidEntry): boolean {
    return this.byQueue.get(q)?.holds(e) ?? false;
  }

  protected override registered(q: QueueCtx): void {
    this.byQueue.get(q)?.rearm();
  }
}

/**
 * A C2HData with LAST_PDU and without SUCCESS is followed by its command's
 * CapsuleResp (Linux nvmet sends a command's response right behind its data): a bounded
 * read takes that response and the next header at once, one read per command less.
 * If another PDU comes instead, a few payload bytes of it go the software way.
 */
function respFollows(flags: number): boolean {
  return (flags & PduFlag.LAST_PDU) !== 0 && (flags & PduFlag.SUCCESS) === 0;
}

/** The RxPlacement of one queue's socket. */
export class SocketPlacement implements RxPlacement {
  readonly staging: Buffer;
  private q: QueueCtx | undefined;
  /** The entry the last handed-out buffer points into (a placed read is armed). */
  private armed: CcidEntry | undefined;
  private armedQ: QueueCtx | undefined;
  private idleReads: number;
  /** The data of a command's last C2HData just ended: its CapsuleResp should be next. */
  private respNext = false;
  /** The memory the armed read lands in (what nextBuffer or rearm handed out last). */
  private pending: Buffer | undefined;
  private socket: Socket | undefined;

  // ---- the modelled link: the stream cut into MSS segments from its first byte ----
  /** Bytes read on this socket so far (the next read's stream position). */
  private wirePos = 0;
  /** Last segment counted in rx_packets / in rx_nvmeotcp_packets (-1: none yet). */
  private lastSeg = -1;
  private lastPlacedSeg = -1;
  /** Stream position right after the last placed byte: a placed read starting here continues that placement. */
  private placedEnd = -1;

  constructor(
    private readonly dev: DeviceCore,
    private readonly rx: RxView,
    stagingSize: number,
    expectQueue: boolean,
    private readonly mss: number,
    /** mlx5: at most one placement per segment. */
    private readonly onePlacement: boolean,
  ) {
    this.staging = allocIoBuffer(stagingSize);
    // A placement that will never get a queue (capability off) reads like the software path.
    this.idleReads = expectQueue ? 0 : IDLE_GRACE;
  }

  bind(q: QueueCtx): void {
    this.q = q;
    this.idleReads = 0;
  }

  unbind(): void {
    this.q = undefined;
  }

  holds(e: CcidEntry): boolean {
    return this.armed === e;
  }

  attachSocket(socket: Socket): void {
    this.socket = socket;
  }

  nextBuffer(): Buffer {
    this.pending = this.choose();
    return this.pending;
  }

  private choose(): Buffer {
    const q = this.q;
    if (q !== undefined && q.outstanding > 0) {
      this.idleReads = 0;
      if (this.rx.state === RecvState.DATA) {
        const v = this.placedView(q);
        if (v !== undefined) return v;
      }
    } else if (this.idleReads < IDLE_GRACE && this.handle() === undefined) {
      this.idleReads++;
    } else {
      return this.staging;
    }
    return this.boundedStaging();
  }

  /**
   * A command was just registered. Its data cannot have been read yet (the ULP sends
   * the command after setup), but the read armed now may be a full staging read,
   * chosen while nothing was registered, that would swallow the payload. Node has no
   * public way to change the memory of an armed read; the stream handle's
   * useUserBuffer does it (Node's own onread code uses it), after which the read
   * callback still names the old buffer, so onRead goes by `pending`. Without that
   * handle method, reads stay bounded for IDLE_GRACE reads after the last command.
   */
  rearm(): void {
    this.idleReads = 0;
    if (this.pending !== this.staging) return;
    const h = this.handle();
    if (h === undefined) return;
    const b = this.boundedStaging();
    if (b === this.staging) return;
    h.useUserBuffer(b);
    this.pending = b;
  }

  private handle(): { useUserBuffer(b: Uint8Array): void } | undefined {
    const h = (this.socket as { _handle?: { useUserBuffer?: unknown } } | undefined)?._handle;
    return typeof h?.useUserBuffer === 'function' ? (h as { useUserBuffer(b: Uint8Array): void }) : undefined;
  }

  onRead(n: number, buf: Buffer): void {
    const respAt = this.respPos();
    const at = this.wirePos;
    this.wirePos = at + n;
    const q = this.q;
    if (q !== undefined && n > 0) {
      // The flow's totals: every segment this read touches (once) and every byte.
      const s = q.s;
      s[C.rxPackets] += this.newSegments(at, n, this.lastSeg);
      s[C.rxBytes] += n;
      this.lastSeg = this.segOf(at + n - 1);
    }
    this.consume(at, n, this.pending ?? buf);
    this.respNext = respAt >= 0 && this.rx.streamPos === respAt;
  }

  /** The modelled segment (MSS cut from the stream's first byte) of stream byte `pos`. */
  private segOf(pos: number): number {
    return Math.floor(pos / this.mss);
  }

  /** Segments the `n` > 0 bytes at `at` touch, less the one already counted (`counted`). */
  private newSegments(at: number, n: number, counted: number): number {
    const first = this.segOf(at);
    return this.segOf(at + n - 1) - first + (first === counted ? 0 : 1);
  }

  private consume(at: number, n: number, buf: Buffer): void {
    const e = this.armed;
    const rx = this.rx;
    if (e === undefined) {
      if (this.q?.crcRx === true) this.feedChecksummed(buf, n);
      else rx.feed(n === buf.length ? buf : buf.subarray(0, n));
      return;
    }
    const q = this.armedQ!;
    this.armed = undefined;
    this.armedQ = undefined;
    if (q.removed) {
      // The queue context went away while the read was armed: the piece is not
      // offloaded. The bytes are where the ULP wants them; its copy is a no-op move.
      this.dev.stats.channelBlock(q.channel)[C.drop] += 1;
      rx.feed(buf.subarray(0, n));
      return;
    }
    const crc = q.crcRx && rx.ddgst ? crc32cUpdate(rx.dataCrcSoFar, buf, 0, n) : undefined;
    if (n > 0) {
      // One packet per segment holding placed bytes, counted once across reads.
      const s = q.s;
      s[C.packets] += this.newSegments(at, n, this.lastPlacedSeg);
      s[C.bytes] += n;
      this.lastPlacedSeg = this.segOf(at + n - 1);
      this.placedEnd = at + n;
    }
    rx.feedPlaced(n, crc);
    if (e.deferred) this.dev.releaseDeferred(q, e);
  }

  /**
   * A staging read on a queue whose data digest the device checks: C2HData payload
   * is checksummed by the device (continuing the PDU's CRC), copied to the ULP's
   * destination and handed over as placed; everything else goes to the receiver one
   * unit at a time (a whole header at once), so no payload byte passes it unseen.
   */
  private feedChecksummed(buf: Buffer, n: number): void {
    const rx = this.rx;
    let off = 0;
    while (off < n) {
      const state = rx.state;
      const dest = rx.destBuf;
      if (state === RecvState.DATA && dest !== undefined && rx.currentPdu?.type === PduType.C2HData) {
        const k = Math.min(n - off, rx.dataRemaining);
        rx.feedChecked(buf, off, k, crc32cUpdate(rx.dataCrcSoFar, buf, off, off + k));
        off += k;
        continue;
      }
      if (state === RecvState.ERR) return; // the receiver takes nothing more
      let k = rx.unitRemaining;
      if (state === RecvState.CH && k === CH_LEN && n - off >= CH_LEN) {
        // A header starts here: its length is in its HLEN byte (plus the header digest).
        k = Math.max(CH_LEN, buf[off + OFF.HLEN] + (rx.hdgst && hasHdgst(buf[off]) ? DIGEST_LEN : 0));
      }
      k = Math.min(n - off, k);
      rx.feed(buf.subarray(off, off + k));
      off += k;
    }
  }

  /**
   * Stream position right after the current C2HData (its digest included) when it is
   * its command's last without SUCCESS, so a CapsuleResp should follow; else -1.
   */
  private respPos(): number {
    const rx = this.rx;
    const pdu = rx.currentPdu;
    if (pdu === undefined || !respFollows(pdu.flags)) return -1;
    if (rx.state === RecvState.DATA) return rx.streamPos + rx.unitRemaining + (rx.ddgst ? DIGEST_LEN : 0);
    if (rx.state === RecvState.DDGST) return rx.streamPos + rx.unitRemaining;
    return -1;
  }

  /**
   * The registered buffer at the byte the current C2HData payload continues at; or,
   * when that byte is in a segment whose one placement another PDU took (mlx5),
   * staging up to the segment's end; undefined when the payload is not placeable.
   */
  private placedView(q: QueueCtx): Buffer | undefined {
    const rx = this.rx;
    const pdu = rx.currentPdu;
    const dest = rx.destBuf;
    if (pdu === undefined || pdu.type !== PduType.C2HData || dest === undefined) return undefined;
    const e = q.placeable(pdu.cccid);
    if (e === undefined) return undefined;
    const m = e.sgl;
    const off = pdu.datao + (pdu.datal - rx.dataRemaining);
    const i = segmentAt(m, off);
    if (i < 0) return undefined;
    const seg = m.segs[i];
    const so = off - m.starts[i];
    const n = Math.min(seg.length - so, rx.dataRemaining);
    // Place only where the ULP would have copied the bytes itself.
    if (seg.buffer !== dest.buffer || seg.byteOffset + so !== dest.byteOffset + rx.destPos) return undefined;
    const at = this.wirePos;
    if (this.onePlacement && at !== this.placedEnd && this.segOf(at) === this.lastPlacedSeg) {
      const k = Math.min((this.lastPlacedSeg + 1) * this.mss - at, rx.dataRemaining, this.staging.length);
      return this.staging.subarray(0, k);
    }
    this.armed = e;
    this.armedQ = q;
    return seg.subarray(so, so + n);
  }

  /** Header bytes to read after the current PDU's data: the next header, after a CapsuleResp if one should follow. */
  private afterData(hdr: number): number {
    const pdu = this.rx.currentPdu;
    return pdu !== undefined && respFollows(pdu.flags) ? 2 * hdr : hdr;
  }

  /** Staging, bounded so the read ends at the end of the next 24-byte header at the latest. */
  private boundedStaging(): Buffer {
    const rx = this.rx;
    const hdr = DATA_HLEN + (rx.hdgst ? DIGEST_LEN : 0);
    let n: number;
    switch (rx.state) {
      case RecvState.CH:
        n = rx.unitRemaining + hdr - CH_LEN + (this.respNext ? hdr : 0);
        break;
      case RecvState.PSH:
      case RecvState.PAD:
        n = rx.unitRemaining;
        break;
      case RecvState.DATA: // payload the device does not place: through its digest and the next header
        n = rx.unitRemaining + (rx.ddgst ? DIGEST_LEN : 0) + this.afterData(hdr);
        break;
      case RecvState.DDGST:
        n = rx.unitRemaining + this.afterData(hdr);
        break;
      default:
        return this.staging;
    }
    if (this.onePlacement) {
      // The rest of a segment whose one placement is taken can never be placed
      // (mlx5): read it now, not in a read of its own after the next header.
      const at = this.wirePos;
      const seg = this.segOf(at + n);
      if (seg === this.lastPlacedSeg) n = (seg + 1) * this.mss - at;
    }
    return n < this.staging.length ? this.staging.subarray(0, n) : this.staging;
  }
}
