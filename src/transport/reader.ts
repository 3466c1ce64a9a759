// Receive path of a live socket: every read lands in memory chosen just before the
// read (Node's `onread` with a buffer generator). The default placement reads into
// one reused staging buffer and feeds the receiver, which copies payload once
// to its destination; an offload socket device replaces it to read payload straight
// into the I/O buffer.
import net from 'node:net';
import { allocIoBuffer } from '../offload/io-buffer.ts';
import type { RxPlacement } from '../offload/types.ts';
import type { PduReceiver } from '../protocol/receiver.ts';

export { allocIoBuffer };

export const STAGING_SIZE = 256 * 1024;

/** Copy-mode placement: staging buffer + receiver.feed(). */
export class StagingPlacement implements RxPlacement {
  readonly staging: Buffer;
  constructor(
    private readonly rx: PduReceiver,
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

/** The `onread` option for net.connect / new net.Socket, driven by a placement. */
export function onreadFor(p: RxPlacement): { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean } {
  return {
    buffer: () => p.nextBuffer(),
    callback: (n: number, buf: Buffer) => {
      p.onRead(n, buf);
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
