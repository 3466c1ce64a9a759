// Receive path of a live socket: every read lands in memory chosen just before the
// read (Node's `onread` with a buffer generator). The default placement reads into
// one reused staging buffer and feeds the receiver, which copies payload once
// to its destination; an offload socket device replaces it to read payload straight
// into the I/O buffer.
import net from 'node:net';
import type { RxView } from '../protocol/receiver.ts';
import { allocIoBuffer } from './io-buffer.ts';

export { allocIoBuffer };

export const STAGING_SIZE = 256 * 1024;

/**
 * Receive-side placement hook for a live socket: the socket reader asks it for the
 * memory of every read (Node's `onread.buffer` generator), so an offload device can
 * hand out the command's own I/O buffer while its C2HData payload is next on the stream.
 */
export interface RxPlacement {
  /** The buffer the next socket read lands in. */
  nextBuffer(): Buffer;
  /** The kernel wrote `n` bytes at the start of `buf` (the last nextBuffer()). */
  onRead(n: number, buf: Buffer): void;
  /**
   * The socket whose reads this placement feeds, once it exists: lets the placement
   * change the memory of a read that is already armed (see SocketPlacement.rearm).
   */
  attachSocket?(socket: net.Socket): void;
}

/** Builds the placement hook of one queue from its receiver. */
export type RxPlacementFactory = (rx: RxView) => RxPlacement;

/** Copy-mode placement: staging buffer + receiver.feed(). */
export class StagingPlacement implements RxPlacement {
  readonly staging: Buffer;
  constructor(
    private readonly rx: RxView,
    size = STAGING_SIZE,
  ) {
    this.staging = allocIoBuffer(size);
  }
  nextBuffer(): Buffer {
    return this.staging;
  }
  onRead(n: number, buf: Buffer): void {
    this.rx.feed(buf.subarray(0, n));
  }
}

/**
 * The `onread` option for net.connect / new net.Socket, driven by a placement.
 * An exception out of the placement (a bug: the receiver itself never throws) goes
 * to `onError` and stops reading; `after` runs after every read.
 */
export function onreadFor(p: RxPlacement, onError?: (err: unknown) => void, after?: () => void): OnRead {
  return {
    buffer: () => p.nextBuffer(),
    callback: (n: number, buf: Buffer) => {
      try {
        p.onRead(n, buf);
      } catch (err) {
        if (onError === undefined) throw err;
        onError(err);
        return false;
      }
      if (after !== undefined) after();
      return true;
    },
  };
}

/** The `onread` option of net.Socket: one reusable buffer and the callback that gets each read. */
export interface OnRead {
  buffer: Buffer | (() => Buffer);
  callback: (n: number, buf: Buffer) => boolean;
}

/**
 * Re-wraps a socket accepted by a net.Server created with `pauseOnConnect: true`
 * in a net.Socket that reads through `onread` (net.Server has no such option).
 * Without it Node allocates a fresh 64 KiB buffer for every read; freed in bursts
 * by the GC, those let glibc trim and regrow its heap, and every read then page-
 * faults its buffer in again (about 4 s of target CPU per GB of writes on a 2-core
 * VM, against 0.5 with one reused buffer).
 *
 * The accepted socket gives up its handle (the server's connection count drops
 * with it): the returned socket owns the connection from here on.
 */
export function adoptWithOnread(accepted: net.Socket, onread: OnRead): net.Socket {
  const a = accepted as unknown as { _handle: unknown };
  const handle = a._handle;
  const opts = { handle, onread, readable: true, writable: true } as unknown as net.SocketConstructorOpts;
  const s = new net.Socket(opts);
  a._handle = null;
  accepted.destroy();
  return s;
}
