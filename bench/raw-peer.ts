// The raw-socket peer for the baselines, run as its own process:
//   stream   <bytes-per-write>  : on connect, write that many bytes per write, as fast as the socket drains
//   pingpong <req> <resp> <qd>  : answer every <req>-byte request with a <resp>-byte response
// Prints "port <n>" once listening, then reports its CPU time on stdin close.
import net from 'node:net';
import { adoptWithOnread, allocIoBuffer } from '../src/transport/reader.ts';
import { servePeerControl } from './proc.ts';

const mode = process.argv[2];
const chunk = Number(process.argv[3] ?? 131072);
const REQ = Number(process.argv[3] ?? 72);
const RESP = Number(process.argv[4] ?? 24);
const QD = Number(process.argv[5] ?? 64);

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
        if (n > 0) s.write(resps.subarray(0, n * RESP));
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
