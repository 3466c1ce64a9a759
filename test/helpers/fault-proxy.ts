// A loopback TCP proxy between a host and a target that breaks the stream on demand:
//   cut    both sides are closed at once (what is buffered in the proxy is dropped)
//   reset  both sides get a TCP RST
//   stall  nothing more is forwarded, either way, until the pair is cut or reset
// A fault applies to every connection open now, or, armed with `after`, to the pair
// that next forwards that many more bytes (a random point inside a PDU). `refuse`
// makes new connections close at once (a target that is gone), `accept` undoes it.
import net from 'node:net';

export type Fault = 'cut' | 'reset' | 'stall';

interface Pair {
  host: net.Socket;
  target: net.Socket;
  stalled: boolean;
}

interface Armed {
  fault: Fault;
  /** Bytes still to forward (either direction, any pair) before the fault hits. */
  left: number;
  resolve: () => void;
}

export class FaultProxy {
  readonly server: net.Server;
  /** Connections accepted (and forwarded) so far. */
  accepted = 0;
  /** Faults applied so far (each counts once, however many pairs it hit). */
  faults = 0;
  private readonly pairs = new Set<Pair>();
  private refusing = false;
  private armed: Armed | undefined;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {
    this.server = net.createServer((host) => this.onConnection(host));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Connections forwarding now. */
  get open(): number {
    return this.pairs.size;
  }

  refuse(): void {
    this.refusing = true;
  }

  accept(): void {
    this.refusing = false;
  }

  /** Applies `fault` to every open pair now. */
  inject(fault: Fault): void {
    this.faults++;
    for (const p of [...this.pairs]) this.apply(p, fault);
  }

  /** Applies `fault` to the pair that forwards the `after`-th byte from now; resolves once it did. */
  arm(fault: Fault, after: number): Promise<void> {
    this.armed?.resolve();
    return new Promise<void>((resolve) => {
      this.armed = { fault, left: after, resolve };
    });
  }

  async close(): Promise<void> {
    this.armed?.resolve();
    this.armed = undefined;
    for (const p of [...this.pairs]) this.apply(p, 'cut');
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private onConnection(host: net.Socket): void {
    host.on('error', () => {});
    if (this.refusing) {
      host.destroy();
      return;
    }
    this.accepted++;
    const target = net.connect({ host: this.targetHost, port: this.targetPort, noDelay: true });
    target.on('error', () => {});
    host.setNoDelay(true);
    const p: Pair = { host, target, stalled: false };
    this.pairs.add(p);
    const drop = (): void => {
      if (!this.pairs.delete(p)) return;
      host.destroy();
      target.destroy();
    };
    host.on('close', drop);
    target.on('close', drop);
    this.pipe(p, host, target);
    this.pipe(p, target, host);
  }

  /** Forwards from → to with back-pressure; a stalled pair forwards nothing more; an armed fault may hit mid-chunk. */
  private pipe(p: Pair, from: net.Socket, to: net.Socket): void {
    from.on('data', (d: Buffer) => {
      if (p.stalled || !this.pairs.has(p)) return;
      const a = this.armed;
      if (a !== undefined && d.length >= a.left) {
        // The bytes before the fault point still go through, then the fault hits.
        if (a.left > 0) to.write(d.subarray(0, a.left));
        this.armed = undefined;
        this.faults++;
        this.apply(p, a.fault);
        a.resolve();
        return;
      }
      if (a !== undefined) a.left -= d.length;
      if (!to.write(d)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
  }

  private apply(p: Pair, fault: Fault): void {
    if (fault === 'stall') {
      p.stalled = true;
      return;
    }
    this.pairs.delete(p);
    if (fault === 'reset') {
      p.host.resetAndDestroy();
      p.target.resetAndDestroy();
    } else {
      p.host.destroy();
      p.target.destroy();
    }
  }
}
