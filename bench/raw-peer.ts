// The raw-socket peer for the baselines, run as its own process:
//   stream   <bytes-per-write>  : on connect, write that many bytes per write, as fast as the socket drains
//   pingpong                   : answer every 72-byte request with a 24-byte response
// Prints "port <n>" once listening, then reports its CPU time on stdin close.
import net from 'node:net';
import { servePeerControl } from './proc.ts';

const mode = process.argv[2];
const chunk = Number(process.argv[3] ?? 131072);
const REQ = 72;
const RESP = 24;

const server = net.createServer((s) => {
  s.setNoDelay(true);
  if (mode === 'stream') {
    const buf = Buffer.alloc(chunk, 0x5a);
    const pump = () => {
      while (!s.destroyed && s.write(buf));
    };
    s.on('drain', pump);
    s.on('error', () => {});
    pump();
  } else {
    const resp = Buffer.alloc(RESP, 1);
    let pending = 0;
    s.on('data', (d: Buffer) => {
      pending += d.length;
      let n = 0;
      while (pending >= REQ) {
        pending -= REQ;
        n++;
      }
      if (n === 1) s.write(resp);
      else if (n > 1) s.write(Buffer.concat(Array.from({ length: n }, () => resp)));
    });
    s.on('error', () => {});
  }
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(`port ${a.port}\n`);
});
servePeerControl();
