// A real PduWriter over a stand-in socket that keeps every byte written, with its arena
// dirtied first: a reused arena holds earlier PDUs, so a header byte its writer skipped
// would go out stale. bytes() flushes and returns everything sent so far.
import type { Socket } from 'node:net';
import { PduWriter } from '../../src/transport/writer.ts';

export function captureWriter(): { w: PduWriter; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const socket = {
    destroyed: false,
    writableLength: 0,
    cork() {},
    uncork() {},
    write(b: Buffer, cb?: () => void): boolean {
      chunks.push(Buffer.from(b));
      cb?.();
      return true;
    },
  };
  const w = new PduWriter(socket as unknown as Socket);
  w.buf.fill(0xee);
  return {
    w,
    bytes() {
      w.flushNow();
      return Buffer.concat(chunks);
    },
  };
}
