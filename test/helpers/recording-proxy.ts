// A TCP proxy on 127.0.0.1 that records what passes through it, per connection and
// direction, in the order it arrives, and writes that as a pcap (Ethernet, IPv4):
// a capture of the session without tshark or root. The order between the two
// directions is the causal one (a command is recorded before the proxy forwards it,
// so before any answer to it), which is all a replay needs of capture order.
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { LinkType } from '../../src/capture/reader.ts';
import { EtherType, ether, ipv4, pcapFile, type Rec } from './pcap-build.ts';

interface Chunk {
  conn: number;
  /** 0: client to server, 1: server to client. */
  dir: 0 | 1;
  data: Buffer;
}

const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
/** Payload bytes per recorded packet: an IPv4 packet holds at most 65535 bytes. */
const MAX_SEG = 65000;

export class RecordingProxy {
  private readonly chunks: Chunk[] = [];
  private conns = 0;
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1 (any free port) and forwards every connection to 127.0.0.1:`target`. */
  static async start(target: number): Promise<RecordingProxy> {
    let self: RecordingProxy | undefined;
    const server = createServer((client) => self!.accept(client, target));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    self = new RecordingProxy(server, (server.address() as AddressInfo).port);
    return self;
  }

  private accept(client: Socket, target: number): void {
    const conn = this.conns++;
    const upstream = connect({ host: '127.0.0.1', port: target });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d: Buffer) => {
      this.chunks.push({ conn, dir: 0, data: Buffer.from(d) });
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      this.chunks.push({ conn, dir: 1, data: Buffer.from(d) });
      client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server.close();
    if (this.server.listening) await once(this.server, 'close');
  }

  /** The recorded connections as a pcap: SYN handshake, the data in recorded order, FIN both ways. */
  pcap(serverPort: number): Buffer {
    const recs: Rec[] = [];
    const seq: [number, number][] = [];
    const host = (c: number) => `10.0.${c >> 8}.${(c & 0xff) + 1}`;
    const pkt = (c: number, dir: 0 | 1, flags: number, payload?: Buffer): void => {
      const [a, b] = [`${host(c)}`, '10.1.0.1'];
      const [sport, dport] = [40000 + c, serverPort];
      const s = seq[c];
      const spec = {
        src: dir === 0 ? a : b,
        dst: dir === 0 ? b : a,
        sport: dir === 0 ? sport : dport,
        dport: dir === 0 ? dport : sport,
        seq: s[dir],
        ack: s[1 - dir],
        flags,
        payload,
      };
      recs.push({ data: ether(ipv4(spec), EtherType.IPV4) });
      s[dir] = (s[dir] + (payload?.length ?? 0) + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
    };
    for (let c = 0; c < this.conns; c++) {
      seq.push([(0x10000000 * (c + 1)) >>> 0, (0xf0000000 - 0x1000 * c) >>> 0]);
      pkt(c, 0, SYN);
      pkt(c, 1, SYN | ACK);
    }
    for (const k of this.chunks) {
      for (let off = 0; off < k.data.length; off += MAX_SEG) pkt(k.conn, k.dir, ACK | 0x08, k.data.subarray(off, off + MAX_SEG));
    }
    for (let c = 0; c < this.conns; c++) {
      pkt(c, 0, FIN | ACK);
      pkt(c, 1, FIN | ACK);
    }
    return pcapFile(LinkType.ETHERNET, recs);
  }
}
