// The raw-socket peer for the baselines, run as its own process:
//   stream   <bytes-per-write>  : on connect, write that many bytes per write, as fast as the socket drains
//   pingpong <req> <resp> <qd> [region]
//                               : answer every <req>-byte request with a <resp>-byte response;
//                                 with a region size, each response carries 4096 bytes copied
//                                 from a random 4 KiB block of that much memory (a RAM disk's
//                                 random reads: the memory cost our target pays, no protocol)
// Prints "port <n>" once listening, then reports its CPU time on stdin close.
import net from 'node:net';
import { adoptWithOnread, allocIoBuffer } from '../src/transport/reader.ts';
import { servePeerControl } from './proc.ts';

const mode = process.argv[2];
const chunk = Number(process.argv[3] ?? 131072);
const REQ = Number(process.argv[3] ?? 72);
const RESP = Number(process.argv[4] ?? 24);
const QD = Number(process.argv[5] ?? 64);
const REGION = Number(process.argv[6] ?? 0);
const BLOCK = 4096;

/** The region in 1 MiB buffers, written once (as the bench writes the namespace before reading). */
const ram: Buffer[] = Array.from({ length: Math.ceil(REGION / (1 << 20)) }, (_, i) => Buffer.alloc(1 << 20, i & 0xff));
let seed = 0x2545f491;
const randomBlock = (): number => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % (REGION / BLOCK);
};

const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (accepted) => {
  if (mode === 'stream') {
    const s = accepted;
    s.resume();
    const buf = Buffer.alloc(chunk, 0x5a);
    const pump = () => {
      while (!s.destroyed && s.write(buf));
    };
    s.on('drain', pump);
    s.on('error', () => {});
    pump();
  } else {
    // One prebuilt buffer of QD responses; each read event answers what it completed.
    const resps = Buffer.alloc(RESP * QD, 1);
    let pending = 0;
    const s: net.Socket = adoptWithOnread(accepted, {
      buffer: allocIoBuffer(256 * 1024),
      callback: (len: number) => {
        pending += len;
        const n = Math.floor(pending / REQ);
        pending -= n * REQ;
        if (n === 0) return true;
        if (REGION > 0) {
          // Copy each response's block in (its first 24 bytes stand for a header). The
          // buffer is reused per read event: the bytes are never checked, only moved.
          for (let i = 0; i < n; i++) {
            const b = randomBlock();
            const src = ram[b >> 8];
            const at = (b & 255) * BLOCK;
            src.copy(resps, i * RESP + 24, at, at + BLOCK);
          }
        }
        s.write(resps.subarray(0, n * RESP));
        return true;
      },
    });
    s.on('error', () => {});
  }
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(`port ${a.port}\n`);
});
servePeerControl();
