// The shared queue engine on real loopback sockets: a host TransportQueue against a
// target TransportQueue (handshake, negotiated values, PDUs handed to the side's
// handler), and each of the ways a queue stops, seen from both ends.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { Fes, OFF, PduType } from '../../../src/protocol/constants.ts';
import { ConnectionError, NegotiationError, ProtocolError, TermReqError, TimeoutError } from '../../../src/protocol/errors.ts';
import { decodeHeader, encodeIcResp, type Pdu } from '../../../src/protocol/pdu.ts';
import { type Negotiated, type QueueHandler, TransportQueue } from '../../../src/transport/queue.ts';
import { encodeCapsuleCmd } from '../../helpers/pdu-encode.ts';

/** A handler that records what the queue tells it; `onPdu` may be replaced per test. */
class Side implements QueueHandler {
  readonly pdus: Pdu[] = [];
  readonly downs: Error[] = [];
  live: Negotiated | undefined;
  closedCount = 0;
  readonly isLive: Promise<Negotiated>;
  readonly isClosed: Promise<void>;
  private liveResolve!: (ic: Negotiated) => void;
  private closedResolve!: () => void;
  handle: (pdu: Pdu) => ProtocolError | undefined = () => undefined;
  constructor() {
    this.isLive = new Promise((r) => (this.liveResolve = r));
    this.isClosed = new Promise((r) => (this.closedResolve = r));
  }
  onPdu(pdu: Pdu): ProtocolError | undefined {
    this.pdus.push(pdu);
    return this.handle(pdu);
  }
  onDataDone(): void {}
  onLive(ic: Negotiated): void {
    this.live = ic;
    this.liveResolve(ic);
  }
  onDown(err: Error): void {
    this.downs.push(err);
  }
  onClosed(): void {
    this.closedCount++;
    this.closedResolve();
  }
}

interface Pair {
  host: TransportQueue;
  target: TransportQueue;
  hs: Side;
  ts: Side;
}

/** A loopback server whose accepted sockets are destroyed when the test ends (a paused one never sees the FIN). */
async function listen(t: { after(fn: () => void | Promise<void>): void }, onSocket: (s: Socket) => void): Promise<number> {
  const accepted: Socket[] = [];
  const server: Server = createServer({ pauseOnConnect: true }, (s) => {
    accepted.push(s);
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of accepted) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as AddressInfo).port;
}

async function pair(t: { after(fn: () => void | Promise<void>): void }, o: { hdgst?: boolean; ddgst?: boolean } = {}): Promise<Pair> {
  const ts = new Side();
  const hs = new Side();
  let target: TransportQueue | undefined;
  const accepted = new Promise<TransportQueue>((resolve) => {
    void listen(t, (s) => {
      target = new TransportQueue({ role: 'target', accepted: s, maxh2cdata: 32768, maxDataLen: 65536, pauseOnBackpressure: true }, ts);
      resolve(target);
    }).then((port) => {
      const host = new TransportQueue(
        { role: 'host', host: '127.0.0.1', port, hdgst: o.hdgst ?? false, ddgst: o.ddgst ?? false, maxDataLen: 65536 },
        hs,
        3,
      );
      hostRef = host;
    });
  });
  let hostRef: TransportQueue | undefined;
  const tq = await accepted;
  await Promise.all([hs.isLive, ts.isLive]);
  const host = hostRef!;
  t.after(() => {
    host.abort(new Error('test over'));
    tq.abort(new Error('test over'));
  });
  return { host, target: tq, hs, ts };
}

test('transport queue - ICReq/ICResp: both sides go live with the same digests, MAXH2CDATA from the target', async (t) => {
  const p = await pair(t, { hdgst: true, ddgst: true });
  assert.deepEqual(p.hs.live, { hdgst: true, ddgst: true, hpda: 0, cpda: 0, maxh2cdata: 32768 });
  assert.deepEqual(p.ts.live, { hdgst: true, ddgst: true, hpda: 0, cpda: 0, maxh2cdata: 32768 });
  assert.equal(p.host.live, true);
  assert.equal(p.target.live, true);
  assert.equal(p.host.rx.hdgst, true);
  assert.equal(p.target.rx.ddgst, true);
  // Neither handler saw the ICReq/ICResp: the engine keeps them.
  assert.equal(p.hs.pdus.length + p.ts.pdus.length, 0);
});

test('transport queue - after the handshake the side handler gets the PDUs of its role', async (t) => {
  const p = await pair(t, { hdgst: true });
  const sqe = Buffer.alloc(64);
  sqe.writeUInt16LE(0x2a, 2);
  const got = new Promise<Pdu>((resolve) => {
    p.ts.handle = (pdu) => {
      resolve(pdu);
      return undefined;
    };
  });
  p.host.writer.send(encodeCapsuleCmd(sqe, 0, { hdgst: true, ddgst: false }));
  const pdu = await got;
  assert.equal(pdu.type, PduType.CapsuleCmd);
  assert.equal((pdu as { sqe: Buffer }).sqe.readUInt16LE(2), 0x2a);
});

test('transport queue - a protocol error from the handler: C2HTermReq with FES/FEI, both sides down once', async (t) => {
  const p = await pair(t);
  p.ts.handle = () => new ProtocolError('test: bad field', Fes.InvalidHeaderField, OFF.PLEN, PduType.CapsuleCmd);
  p.host.writer.send(encodeCapsuleCmd(Buffer.alloc(64), 0, { hdgst: false, ddgst: false }));
  await Promise.all([p.hs.isClosed, p.ts.isClosed]);
  assert.equal(p.ts.downs.length, 1);
  assert.ok(p.ts.downs[0] instanceof ProtocolError);
  assert.equal(p.hs.downs.length, 1);
  const err = p.hs.downs[0];
  assert.ok(err instanceof TermReqError, String(err));
  assert.equal((err as TermReqError).fes, Fes.InvalidHeaderField);
  assert.equal((err as TermReqError).fei, OFF.PLEN);
  assert.equal(p.hs.closedCount, 1);
  assert.equal(p.ts.closedCount, 1);
});

test('transport queue - an exception out of a handler closes that queue only, with a warning', async (t) => {
  const warnings: string[] = [];
  const onWarn = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarn);
  t.after(() => process.off('warning', onWarn));
  const p = await pair(t);
  p.ts.handle = () => {
    throw new Error('boom');
  };
  p.host.writer.send(encodeCapsuleCmd(Buffer.alloc(64), 0, { hdgst: false, ddgst: false }));
  await Promise.all([p.hs.isClosed, p.ts.isClosed]);
  assert.equal(p.ts.downs.length, 1);
  assert.ok(p.ts.downs[0] instanceof ConnectionError);
  assert.match(p.ts.downs[0]!.message, /internal error: Error: boom/);
  await new Promise((r) => setImmediate(r));
  assert.ok(
    warnings.some((w) => /queue -1 closed after an internal error/.test(w)),
    warnings.join('; '),
  );
});

test('transport queue - close(): FIN after the queued bytes, resolves once closed, the peer sees a closed connection', async (t) => {
  const p = await pair(t);
  await p.host.close(new ConnectionError('bye'));
  assert.equal(p.host.down, true);
  assert.equal(p.hs.downs[0]!.message, 'bye');
  await p.ts.isClosed;
  assert.ok(p.ts.downs[0] instanceof ConnectionError);
  assert.match(p.ts.downs[0]!.message, /connection closed/);
  // A second stop is ignored: onDown ran once.
  p.host.abort(new Error('again'));
  assert.equal(p.hs.downs.length, 1);
});

test('transport queue - host: an ICResp granting other digests is a NegotiationError, the socket closes', async (t) => {
  const port = await listen(t, (s) => {
    s.resume();
    s.once('data', () => s.write(encodeIcResp({ pfv: 0, cpda: 0, dgst: 1, maxh2cdata: 32768 })));
    s.on('error', () => undefined);
  });
  const hs = new Side();
  const host = new TransportQueue({ role: 'host', host: '127.0.0.1', port, hdgst: false, ddgst: false, maxDataLen: 4096 }, hs, 1);
  t.after(() => host.abort(new Error('test over')));
  await hs.isClosed;
  assert.equal(hs.live, undefined);
  assert.ok(hs.downs[0] instanceof NegotiationError);
  assert.match(hs.downs[0]!.message, /queue 1: ICResp digest bits 0x1 differ from the requested 0x0/);
});

test('transport queue - host: no ICResp within the deadline is a TimeoutError (icresp)', async (t) => {
  const port = await listen(t, (s) => {
    s.on('error', () => undefined);
  });
  const hs = new Side();
  // One deadline covers the TCP connect and the ICResp: it must not run out before the
  // connect is seen, which a loaded machine can delay past 50 ms; 1 s leaves room for that.
  const host = new TransportQueue(
    { role: 'host', host: '127.0.0.1', port, hdgst: false, ddgst: false, maxDataLen: 4096, handshakeTimeoutMs: 1000 },
    hs,
    2,
  );
  t.after(() => host.abort(new Error('test over')));
  await hs.isClosed;
  const err = hs.downs[0];
  assert.ok(err instanceof TimeoutError, String(err));
  assert.equal((err as TimeoutError).kind, 'icresp');
});

test('transport queue - target: a PDU before the ICReq gets a C2HTermReq (PDU sequence error) echoing the header', async (t) => {
  const ts = new Side();
  const port = await listen(t, (s) => {
    new TransportQueue({ role: 'target', accepted: s, maxh2cdata: 32768, maxDataLen: 65536 }, ts);
  });
  const { connect } = await import('node:net');
  const c = connect({ host: '127.0.0.1', port });
  t.after(() => c.destroy());
  const chunks: Buffer[] = [];
  c.on('data', (b: Buffer) => chunks.push(b));
  const ended = once(c, 'end');
  const capsule = encodeCapsuleCmd(Buffer.alloc(64), 0, { hdgst: false, ddgst: false });
  c.write(capsule);
  await ended;
  const reply = Buffer.concat(chunks);
  const term = decodeHeader(reply, 0);
  assert.equal(term.type, PduType.C2HTermReq);
  assert.equal((term as { fes: number }).fes, Fes.PduSequenceError);
  // Error data: the offending header's first bytes.
  assert.deepEqual(reply.subarray(24, 24 + 8), capsule.subarray(0, 8));
  await ts.isClosed;
  assert.ok(ts.downs[0] instanceof ProtocolError);
});
