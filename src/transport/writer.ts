// Send path: PDUs are queued in order and flushed in one writev per event-loop
// turn: the socket stays corked until the check phase (setImmediate), so everything
// sent while handling every read of this poll phase goes out together. Flushing at
// the next microtask checkpoint instead would write once per read callback: with
// reads bounded at PDU boundaries (the offload placement) that is one write per
// command, and the peer, woken once per command, answers one at a time too.
//
// Headers, digests, completions and payloads up to `copyMax` bytes are copied into a
// batch arena and reach the socket as one chunk per run, so a turn with 64 4 KiB
// reads is a handful of large buffers instead of ~130 iovecs of which half are
// 24-48 bytes. Measured here, that write is cheaper even counting our copy: the kernel
// copies one warm, contiguous buffer instead of walking scattered (often cold) pages
// and small iovecs, and Node handles a few chunks instead of one per piece. Larger
// payloads go to the socket as they are (their copy would only add to the kernel's).
//
// A side may also bound a batch (`flushAt`): once that many bytes are queued, the
// batch goes to the socket at the end of the PDU being queued instead of at the end of
// the turn. The host does: handling a burst of N completions resubmits N commands, and
// sent all at once at the end of the turn they reach the target as one burst after the
// host has handled the whole burst, the target answers them as one burst, and so on:
// host and target take turns instead of working at once, each idle while the other
// handles the convoy (measured against our target: 62 of QD 64 4 KiB writes per socket
// write). Bounded, the first commands are at the target while the host still handles
// the rest, whatever size of reads the target makes.
//
// Arenas are reused, never reallocated per turn (a fresh buffer is fresh memory that
// page-faults on first touch): bytes handed to the socket are never rewritten until
// the socket reports them written; an arena in use is swapped for a free one (or a
// new one, kept for reuse) when it fills.
import type { Socket } from 'node:net';

/** Buffers up to this size are always copied into the arena. */
export const SMALL_PDU_PART = 512;
/** Default: payloads up to this size are copied into the arena too. */
export const DEFAULT_COPY_MAX = 16 * 1024;
export const ARENA_SIZE = 256 * 1024;
/** Free arenas kept for reuse; more (after a burst under backpressure) are left to the GC. */
export const SPARE_ARENAS = 4;

interface Arena {
  readonly buf: Buffer;
  /** Socket writes of this arena's bytes not yet reported done. */
  writes: number;
  /** The socket's write callback for this arena (made once). */
  readonly done: () => void;
}

export interface PduWriterOptions {
  /** Payload buffers up to this many bytes are copied into the arena (at least SMALL_PDU_PART). */
  copyMax?: number;
  /** endPdu() hands the batch to the socket once it holds this many bytes (default: only at the end of the turn). */
  flushAt?: number;
}

export class PduWriter {
  private corked = false;
  private readonly copyMax: number;
  private readonly flushAt: number;
  /** Bytes queued since the batch was last handed to the socket. */
  private batchBytes = 0;
  /** Batches handed to the socket (one writev each, unless the kernel's buffer is full). */
  batches = 0;
  /** The most bytes `pending` held when a batch was handed to the socket (at the end of a turn, or flushNow()). */
  peakPending = 0;
  private arena: Arena;
  private readonly spare: Arena[] = [];
  /** arena[aStart, aEnd) holds copied bytes not yet handed to the socket. */
  private aStart = 0;
  private aEnd = 0;
  /** sendLater() sources whose bytes go to `laterAt` in the current arena when it is pushed. */
  private readonly later: Buffer[] = [];
  private readonly laterAt: number[] = [];
  /** The touch pass's loads folded together (kept so they are not optimised away). */
  touchSink = 0;

  constructor(
    private readonly socket: Socket,
    o: PduWriterOptions = {},
  ) {
    this.copyMax = Math.min(ARENA_SIZE / 4, Math.max(SMALL_PDU_PART, o.copyMax ?? DEFAULT_COPY_MAX));
    this.flushAt = o.flushAt ?? Number.POSITIVE_INFINITY;
    this.arena = this.newArena();
  }

  /**
   * Queues a buffer for sending; it goes out together with everything queued this turn.
   * One buffer per call (a rest parameter would be an array per call on the hot path).
   */
  send(b: Buffer): void {
    const s = this.socket;
    if (s.destroyed) return;
    if (!this.corked) this.startTurn();
    const n = b.length;
    if (n === 0) return;
    this.batchBytes += n;
    if (n <= this.copyMax) {
      if (this.aEnd + n > ARENA_SIZE) this.nextArena();
      if (n <= SMALL_PDU_PART) this.arena.buf.set(b, this.aEnd);
      else b.copy(this.arena.buf, this.aEnd);
      this.aEnd += n;
    } else {
      this.pushArena();
      s.write(b);
    }
  }

  /**
   * Like send(b) for one payload, then `done()` once the writer and the socket no longer
   * need `b`: at once when it was copied into the arena (or the socket is gone), else
   * when the socket reports its write finished (or failed). The caller may then reuse b.
   */
  sendThen(b: Buffer, done: () => void): void {
    const s = this.socket;
    if (s.destroyed || b.length <= this.copyMax) {
      this.send(b);
      done();
      return;
    }
    if (!this.corked) this.startTurn();
    this.batchBytes += b.length;
    this.pushArena();
    s.write(b, done);
  }

  /**
   * Like send(buf) for one payload, but a payload that is copied into the arena is
   * copied only when the arena is handed to the socket (at the latest at the end of
   * the turn): all of a turn's sources are first touched one byte each, then copied.
   * Random blocks of a large RAM namespace miss the TLB and the caches; touching them
   * together lets those misses overlap instead of stalling one copy after another
   * (64 random 4 KiB blocks of 256 MiB: ~850-1100 → ~610-650 ns per block here). The
   * bytes sent are the source's at that moment, so the caller must not change it
   * before (a Read racing a Write of the same blocks may see either, as NVMe allows)
   * and must not use this when it has already digested the bytes.
   */
  sendLater(b: Buffer): void {
    const n = b.length;
    if (n === 0 || this.socket.destroyed) return;
    if (n > this.copyMax) {
      this.send(b);
      return;
    }
    if (!this.corked) this.startTurn();
    if (this.aEnd + n > ARENA_SIZE) this.nextArena();
    this.batchBytes += n;
    this.later.push(b);
    this.laterAt.push(this.aEnd);
    this.aEnd += n;
  }

  /**
   * Room for a small PDU part (at most SMALL_PDU_PART bytes) that the caller fills in
   * at once at `buf[offset...]`, in send order: headers are built in place instead of
   * in a Buffer of their own. Read `buf` after this call (a full arena is replaced).
   */
  reserve(n: number): number {
    if (!this.corked && !this.socket.destroyed) this.startTurn();
    if (this.aEnd + n > ARENA_SIZE) this.nextArena();
    const at = this.aEnd;
    this.aEnd += n;
    this.batchBytes += n;
    return at;
  }

  /**
   * A PDU is complete: if the batch has reached `flushAt` bytes, it goes to the socket
   * now (the rest of the turn starts a new batch, still sent at the end of the turn).
   */
  endPdu(): void {
    if (this.batchBytes < this.flushAt || !this.corked || this.socket.destroyed) return;
    this.batchBytes = 0;
    this.batches++;
    this.pushArena();
    this.socket.uncork();
    this.socket.cork();
  }

  /** The batch arena that reserve() offsets point into. */
  get buf(): Buffer {
    return this.arena.buf;
  }

  /** Hands everything queued to the socket now (before end() or destroySoon()). */
  flushNow(): void {
    const corked = this.corked;
    this.corked = false;
    if (this.socket.destroyed) return;
    if (this.batchBytes > 0) this.batches++;
    this.batchBytes = 0;
    const p = this.pending;
    if (p > this.peakPending) this.peakPending = p;
    this.pushArena();
    if (corked) this.socket.uncork();
  }

  /** Bytes queued and not yet accepted by the kernel: the socket's buffer and the arena's unsent bytes (backpressure signal). */
  get pending(): number {
    return this.socket.writableLength + this.aEnd - this.aStart;
  }

  private startTurn(): void {
    this.corked = true;
    this.socket.cork();
    setImmediate(this.flush);
    // Everything this arena handed out was written: start again at its beginning,
    // where its memory is most likely still in the cache.
    if (this.arena.writes === 0 && this.aStart === this.aEnd) this.aStart = this.aEnd = 0;
  }

  /** The end of a turn (setImmediate). */
  private readonly flush = (): void => {
    if (this.corked) this.flushNow();
  };

  /** Copies the sendLater() sources into their places: a touch pass, then the copies. */
  private fillLater(): void {
    const srcs = this.later;
    const n = srcs.length;
    if (n === 0) return;
    const at = this.laterAt;
    const buf = this.arena.buf;
    let t = 0;
    for (let i = 0; i < n; i++) t ^= srcs[i][0];
    this.touchSink = t;
    for (let i = 0; i < n; i++) srcs[i].copy(buf, at[i]);
    srcs.length = 0;
    at.length = 0;
  }

  private pushArena(): void {
    this.fillLater();
    if (this.aEnd === this.aStart) return;
    if (this.socket.destroyed) {
      this.aStart = this.aEnd;
      return;
    }
    const a = this.arena;
    a.writes++;
    this.socket.write(a.buf.subarray(this.aStart, this.aEnd), a.done);
    this.aStart = this.aEnd;
  }

  /** The current arena is full: hand its bytes over and continue in a free one. */
  private nextArena(): void {
    this.pushArena();
    const old = this.arena;
    this.arena = this.spare.pop() ?? this.newArena();
    this.aStart = 0;
    this.aEnd = 0;
    if (old.writes === 0) this.release(old);
  }

  private release(a: Arena): void {
    if (this.spare.length < SPARE_ARENAS) this.spare.push(a);
  }

  private newArena(): Arena {
    const a: Arena = {
      buf: Buffer.allocUnsafeSlow(ARENA_SIZE),
      writes: 0,
      done: () => {
        a.writes--;
        // A retired arena is free again once all of its writes are done.
        if (a.writes === 0 && a !== this.arena) this.release(a);
      },
    };
    return a;
  }
}
