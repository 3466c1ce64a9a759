// Send path: PDUs are queued as separate buffers (header, payload, digest; the
// payload is never concatenated) and flushed in one writev per event-loop turn:
// the socket stays corked until the check phase (setImmediate), so everything
// sent while handling every read of this poll phase goes out together. Flushing
// at the next microtask checkpoint instead would write once per read callback:
// with reads bounded at PDU boundaries (the offload placement) that is one write
// per command, and the peer, woken once per command, answers one at a time too.
import type { Socket } from 'node:net';

export class PduWriter {
  private corked = false;
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
    for (const b of bufs) if (b.length > 0) s.write(b);
  }

  private readonly flush = (): void => {
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  /** Bytes the socket has buffered (backpressure signal). */
  get pending(): number {
    return this.socket.writableLength;
  }
}
