// Send path: PDUs are queued in order and flushed in one writev per event-loop
// turn: the socket stays corked until the check phase (setImmediate), so everything
// sent while handling every read of this poll phase goes out together. Flushing at
// the next microtask checkpoint instead would write once per read callback: with
// reads bounded at PDU boundaries (the offload placement) that is one write per
// command, and the peer, woken once per command, answers one at a time too.
//
// Small buffers (headers, digests, completions) are copied into a batch arena and
// reach the socket as one chunk per run between payloads, so a turn with 64
// CapsuleCmds is one socket.write instead of 64; payload buffers are never copied
// or concatenated. Arena bytes handed to the socket are never rewritten: a full
// arena is replaced by a new one, and the socket holds the old one until written.
import type { Socket } from 'node:net';

/** Buffers up to this size are copied into the arena. */
export const SMALL_PDU_PART = 512;
const ARENA_SIZE = 64 * 1024;

export class PduWriter {
  private corked = false;
  private arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
  /** arena[aStart, aEnd) holds copied bytes not yet handed to the socket. */
  private aStart = 0;
  private aEnd = 0;

  constructor(private readonly socket: Socket) {}

  /** Queues buffers for sending; they go out together with everything queued this turn. */
  send(...bufs: Buffer[]): void {
    const s = this.socket;
    if (s.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      setImmediate(this.flush);
    }
    for (const b of bufs) {
      const n = b.length;
      if (n === 0) continue;
      if (n <= SMALL_PDU_PART) {
        if (this.aEnd + n > ARENA_SIZE) this.newArena();
        this.arena.set(b, this.aEnd);
        this.aEnd += n;
      } else {
        this.pushArena();
        s.write(b);
      }
    }
  }

  /**
   * Room for a small PDU part (at most SMALL_PDU_PART bytes) that the caller fills in
   * at once at `buf[offset...]`, in send order: headers are built in place instead of
   * in a Buffer of their own. Read `buf` after this call (a full arena is replaced).
   */
  reserve(n: number): number {
    const s = this.socket;
    if (!this.corked && !s.destroyed) {
      this.corked = true;
      s.cork();
      setImmediate(this.flush);
    }
    if (this.aEnd + n > ARENA_SIZE) this.newArena();
    const at = this.aEnd;
    this.aEnd += n;
    return at;
  }

  /** The batch arena that reserve() offsets point into. */
  get buf(): Buffer {
    return this.arena;
  }

  /** Hands everything queued to the socket now (before end() or destroySoon()). */
  flushNow(): void {
    if (this.socket.destroyed) return;
    this.pushArena();
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
  }

  private readonly flush = (): void => {
    if (!this.corked) return;
    this.corked = false;
    if (this.socket.destroyed) return;
    this.pushArena();
    this.socket.uncork();
  };

  private pushArena(): void {
    if (this.aEnd === this.aStart) return;
    if (this.socket.destroyed) {
      this.aStart = this.aEnd;
      return;
    }
    this.socket.write(this.arena.subarray(this.aStart, this.aEnd));
    this.aStart = this.aEnd;
  }

  private newArena(): void {
    this.pushArena();
    this.arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
    this.aStart = 0;
    this.aEnd = 0;
  }

  /** Bytes the socket has buffered (backpressure signal). */
  get pending(): number {
    return this.socket.writableLength + this.aEnd - this.aStart;
  }
}
