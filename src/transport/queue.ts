// One NVMe/TCP queue on the wire: the part the host and the target share.
//
// A TransportQueue owns the TCP socket and its reads (every read goes through an
// RxPlacement: a reused staging buffer, or an offload device's placement), the
// shared PduReceiver and the PduWriter, the ICReq/ICResp exchange with the checks
// each side makes, back-pressure, the handshake deadline, and the one way a queue
// stops. The side-specific queue (host: CID table and command handlers; target:
// command slots, R2T) implements QueueHandler and sees, after the handshake, only
// the PDUs of its role that carry commands and data.
//
// Stopping, once, for any reason:
//   - a protocol error (ours to report): TermReq with FES/FEI and a copy of the bad
//     header, then FIN; the peer should close, and after `lingerMs` we do;
//   - a TermReq from the peer, a socket error, a failed negotiation, the handshake
//     deadline, an internal error: the socket is closed at once;
//   - close() by the side: pending writes go out, then FIN.
// handler.onDown(err) runs first in every case (the side fails or forgets its
// commands there); handler.onClosed() runs when the socket has closed.
//
// With TLS (tls.ts) the socket is a TLSSocket: the host sends its ICReq once the TLS
// handshake is done, the target's handshake deadline covers the TLS handshake too,
// and reads arrive as 'data' chunks (a TLSSocket has no `onread`), fed to the same
// receiver, which copies payload out of them; placements (and so the receive
// offload) do not apply. The plaintext path is unchanged.
import net from 'node:net';
import { DigestOpt, Fes, MIN_MAXH2CDATA, OFF, PDA_MAX, PduType } from '../protocol/constants.ts';
import { ConnectionError, NegotiationError, ProtocolError, TermReqError, TimeoutError } from '../protocol/errors.ts';
import {
  type CapsuleCmd,
  type DataPdu,
  encodeIcReq,
  encodeIcResp,
  encodeTermReq,
  type IcReq,
  type IcResp,
  type Pdu,
} from '../protocol/pdu.ts';
import { PduReceiver, type RecvHandler, type Role } from '../protocol/receiver.ts';
import { adoptWithOnread, onreadFor, type RxPlacement, type RxPlacementFactory, StagingPlacement } from './reader.ts';
import { type TlsClientPsk, type TlsPskLookup, tlsAccept, tlsConnect, tlsFailureReason } from './tls.ts';
import { PduWriter, type PduWriterOptions } from './writer.ts';

/** Linux waits 10 s for the ICResp. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long a queue that sent a TermReq (or a FIN) waits for the peer to close. */
export const DEFAULT_LINGER_MS = 2000;
/**
 * Target, with pauseOnBackpressure: once this many bytes wait to be sent (queued in the
 * PduWriter or the socket, not yet accepted by the kernel), the queue takes no further
 * PDU from its receive buffer, mid-read if need be, until the socket has drained.
 */
export const SEND_QUEUE_LIMIT = 1 << 20;

/** What the ICReq/ICResp exchange settled. */
export interface Negotiated {
  hdgst: boolean;
  ddgst: boolean;
  /** The host's PDU data alignment (ICReq HPDA): the controller pads C2H data to it. */
  hpda: number;
  /** The controller's (ICResp CPDA). */
  cpda: number;
  /** ICResp MAXH2CDATA: the largest H2CData PDU the controller accepts. */
  maxh2cdata: number;
}

/** The side-specific half of a queue. */
export interface QueueHandler {
  /** A PDU other than ICReq, ICResp and TermReq; see RecvHandler.onPdu. */
  onPdu(pdu: Pdu): ProtocolError | undefined;
  /** See RecvHandler.onDataDone. */
  onDataDone(pdu: DataPdu | CapsuleCmd, ddgstOk: boolean, crcByDevice: boolean): void;
  /** The handshake is done: commands may flow. */
  onLive(ic: Negotiated): void;
  /** The queue stopped (called once, before its socket closes); `err` says why. */
  onDown(err: Error): void;
  /** The socket has closed (after onDown). */
  onClosed(): void;
}

interface CommonOptions {
  /** Largest data length (DATAL or in-capsule data) accepted in one PDU. */
  maxDataLen: number;
  /** Placement of the socket's reads; default: a reused staging buffer. */
  placement?: RxPlacementFactory | undefined;
  /** After a TermReq or close(), how long to wait for the peer's FIN before closing (0: close once our bytes are out). */
  lingerMs?: number;
  /** Options of the queue's PduWriter. */
  writer?: PduWriterOptions;
}

export interface HostQueueWire extends CommonOptions {
  role: 'host';
  host: string;
  port: number;
  /** Digests to ask for in the ICReq (the ICResp must grant exactly these). */
  hdgst: boolean;
  ddgst: boolean;
  /** Bound on TCP connect + ICResp. */
  handshakeTimeoutMs?: number;
  /** TLS 1.3 with this PSK identity and key before the ICReq (no placement then). */
  tls?: TlsClientPsk | undefined;
}

export interface TargetQueueWire extends CommonOptions {
  role: 'target';
  /** A socket accepted by a net.Server created with pauseOnConnect (its reads have not started). */
  accepted: net.Socket;
  /** MAXH2CDATA we announce in the ICResp. */
  maxh2cdata: number;
  /**
   * Stop reading while the peer does not drain what we send: a host that sends
   * commands and never reads the responses must not make us buffer without bound.
   * After a socket read that left the socket needing a drain, reading stops; and once
   * `sendQueueLimit` bytes wait to be sent, the receiver stops delivering PDUs at the
   * next PDU boundary, within the read (one read of small commands would otherwise
   * queue all of their completions). Both resume on the socket's 'drain'.
   * (Only one side may do this: if both stopped reading while their writes are
   * blocked, a full pipe each way would never drain.)
   */
  pauseOnBackpressure?: boolean;
  /** With pauseOnBackpressure: the bytes waiting to be sent that pause the receiver (default SEND_QUEUE_LIMIT). */
  sendQueueLimit?: number;
  /** TLS 1.3 server side: the TLS PSK for each identity a host sends (null refuses it). */
  tls?: TlsPskLookup | undefined;
}

export type QueueWireOptions = HostQueueWire | TargetQueueWire;

/** TransportQueue.sendQueue(). */
export interface SendQueueStats {
  /** Bytes waiting to be sent now (writer and socket, not yet accepted by the kernel). */
  queued: number;
  /** The most bytes seen waiting, at the end of a turn or when the receiver paused. */
  peak: number;
  /** Waiting bytes above which the receiver pauses (Infinity: it never does). */
  limit: number;
  /** Times the receiver paused for it. */
  pauses: number;
  /** Reading is stopped now: the socket does not drain what we send, or the receiver is paused. */
  paused: boolean;
}

const QState = {
  /** TCP connecting, or waiting for the ICReq / ICResp */
  HANDSHAKE: 0,
  /** handshake done: commands may flow */
  LIVE: 1,
  /** stopped: nothing more is received or handled */
  DOWN: 2,
} as const;
type QState = (typeof QState)[keyof typeof QState];

export class TransportQueue implements RecvHandler {
  readonly role: Role;
  readonly rx: PduReceiver;
  readonly writer: PduWriter;
  readonly socket: net.Socket;
  /** Queue ID in messages; the target learns it from Connect. */
  qid: number;
  /** Valid once live. */
  negotiated: Negotiated = { hdgst: false, ddgst: false, hpda: 0, cpda: 0, maxh2cdata: 0 };
  /** The connection runs inside TLS. */
  readonly tls: boolean;

  private state: QState = QState.HANDSHAKE;
  private failure: Error | undefined;
  private closed = false;
  private readPaused = false;
  /** Target with pauseOnBackpressure: the receiver pauses once the writer holds more (else Infinity). */
  private readonly sendLimit: number;
  /** sendLimit is finite: the send queue is checked after each PDU (the host never checks). */
  private readonly bounded: boolean;
  /** Times the receiver was paused by sendLimit. */
  private sendPauses = 0;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly lingerMs: number;
  private closeWaiters: (() => void)[] = [];
  /** TLS handshake done (always true without TLS). */
  private secured: boolean;
  private readonly afterEachRead: (() => void) | undefined;

  constructor(
    private readonly o: QueueWireOptions,
    private readonly handler: QueueHandler,
    qid = -1,
  ) {
    this.role = o.role;
    this.qid = qid;
    this.lingerMs = o.lingerMs ?? (o.role === 'host' ? 0 : DEFAULT_LINGER_MS);
    // PDUs decoded into reused objects: both sides' handlers copy what they keep of them.
    this.rx = new PduReceiver({ role: o.role, maxDataLen: o.maxDataLen, reusePdus: true }, this);
    this.tls = o.tls !== undefined;
    this.secured = !this.tls;
    const pause = o.role === 'target' && o.pauseOnBackpressure === true;
    this.sendLimit = pause ? (o.sendQueueLimit ?? SEND_QUEUE_LIMIT) : Number.POSITIVE_INFINITY;
    this.bounded = pause;
    this.afterEachRead = pause ? this.afterRead : undefined;
    if (o.role === 'host') {
      this.socket = this.openHostSocket(o);
      const ms = o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
      this.handshakeTimer = setTimeout(() => {
        const connected = !this.socket.connecting;
        const what = !connected ? 'TCP connect not done' : this.secured ? 'no ICResp' : 'TLS handshake not done';
        this.abort(new TimeoutError(`queue ${this.qid}: ${what} after ${ms} ms`, connected && this.secured ? 'icresp' : 'connect'));
      }, ms);
    } else {
      this.socket = this.acceptTargetSocket(o);
    }
    this.writer = new PduWriter(this.socket, o.writer);
    this.socket.on('error', this.onSocketError);
    this.socket.on('close', this.onSocketClose);
  }

  private openHostSocket(o: HostQueueWire): net.Socket {
    if (o.tls !== undefined) {
      const s = tlsConnect(o.host, o.port, o.tls);
      s.on('secureConnect', this.onSecure);
      s.on('data', this.onData);
      return s;
    }
    const placement = this.placementFor(o);
    const s = net.connect({ host: o.host, port: o.port, noDelay: true, onread: onreadFor(placement, this.onReadError) });
    s.on('connect', this.onConnect);
    placement.attachSocket?.(s);
    return s;
  }

  private acceptTargetSocket(o: TargetQueueWire): net.Socket {
    if (o.tls !== undefined) {
      const s = tlsAccept(o.accepted, o.tls);
      s.on('secure', this.onSecure);
      s.on('data', this.onData);
      return s;
    }
    // Bytes already read from the accepted socket (a port that serves TLS and plaintext
    // looked at the first byte) go to the receiver before the socket's own reads.
    const early = o.accepted.readableLength > 0 ? (o.accepted.read() as Buffer | null) : null;
    const placement = this.placementFor(o);
    const s = adoptWithOnread(o.accepted, onreadFor(placement, this.onReadError, this.afterEachRead));
    s.setNoDelay(true);
    placement.attachSocket?.(s);
    if (early !== null) queueMicrotask(() => this.onData(early));
    return s;
  }

  private placementFor(o: QueueWireOptions): RxPlacement {
    return o.placement?.(this.rx) ?? new StagingPlacement(this.rx);
  }

  /** Handshake done and not stopped. */
  get live(): boolean {
    return this.state === QState.LIVE;
  }

  /** Stopped (or stopping): nothing more is sent or handled. */
  get down(): boolean {
    return this.state === QState.DOWN;
  }

  /** Why the queue stopped (undefined while it runs). */
  get error(): Error | undefined {
    return this.failure;
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }
  get localAddress(): string {
    return this.socket.localAddress ?? '';
  }

  /**
   * What this queue has waiting to be sent: bytes now, the most at the end of any turn
   * so far (or at a receiver pause), the limit that pauses the receiver (Infinity: none),
   * how often the receiver paused, and whether reading is stopped now.
   */
  sendQueue(): SendQueueStats {
    const w = this.writer;
    const paused = this.readPaused || this.rx.paused;
    return { queued: w.pending, peak: w.peakPending, limit: this.sendLimit, pauses: this.sendPauses, paused };
  }

  // ------------------------------------------------------------ stopping

  /** A protocol error of the peer's: TermReq with its FES/FEI and the bad header, FIN, close. */
  fatal(err: ProtocolError): void {
    this.stop(err, err);
  }

  /** Stops at once (socket destroyed). */
  abort(err: Error): void {
    this.stop(err, undefined, true);
  }

  /** Stops after the queued writes went out (FIN); resolves once the socket has closed. */
  close(err: Error): Promise<void> {
    if (this.closed) {
      this.stop(err, undefined, true);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.closeWaiters.push(resolve);
      this.stop(err);
    });
  }

  private stop(err: Error, term?: ProtocolError, now = false): void {
    if (this.state === QState.DOWN) return;
    this.state = QState.DOWN;
    this.failure = err;
    this.rx.halt();
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.handler.onDown(err);
    const w = this.writer;
    if (term !== undefined) {
      const type = this.role === 'host' ? PduType.H2CTermReq : PduType.C2HTermReq;
      w.send(encodeTermReq(type, term.fes, term.fei, this.rx.lastHeader));
    }
    w.flushNow();
    const s = this.socket;
    if (now || s.destroyed) {
      s.destroy();
    } else if (this.lingerMs === 0) {
      s.destroySoon();
    } else {
      s.end();
      // The peer should close; if it does not, drop the socket after a grace period.
      this.lingerTimer = setTimeout(() => s.destroy(), this.lingerMs);
      this.lingerTimer.unref();
    }
  }

  // ------------------------------------------------------------ socket events

  private readonly onConnect = (): void => {
    this.writer.send(encodeIcReq({ pfv: 0, hpda: 0, dgst: digestBits(this.o as HostQueueWire), maxr2t: 0 }));
  };

  /** The TLS handshake is done: the host sends its ICReq now. */
  private readonly onSecure = (): void => {
    this.secured = true;
    if (this.role === 'host') this.onConnect();
  };

  /** A read without placement (TLS, or bytes read before the socket was adopted). */
  private readonly onData = (chunk: Buffer): void => {
    if (this.state === QState.DOWN) return;
    try {
      this.rx.feed(chunk);
    } catch (err) {
      this.onReadError(err);
      return;
    }
    this.afterEachRead?.();
  };

  /** A bug of ours costs this queue only, never the process. */
  private readonly onReadError = (err: unknown): void => {
    process.emitWarning(`nvmeotcp ${this.role}: queue ${this.qid} closed after an internal error: ${String(err)}`);
    this.abort(new ConnectionError(`queue ${this.qid}: internal error: ${String(err)}`, { cause: err }));
  };

  /**
   * Back-pressure (target): stop reading while the host does not drain what we send,
   * or while the receiver is paused (it may hold the rest of this read: no read may
   * land in that memory before it resumes).
   */
  private readonly afterRead = (): void => {
    const s = this.socket;
    if ((s.writableNeedDrain || this.rx.paused) && !this.readPaused && !this.closed) {
      this.readPaused = true;
      s.pause();
      s.once('drain', this.onDrain);
    }
  };

  /**
   * After each PDU the side handled (target): more than sendLimit bytes waiting to be
   * sent pause the receiver at the next PDU boundary. A few loads per PDU, no allocation.
   */
  private checkSendQueue(): void {
    const p = this.writer.pending;
    if (p > this.sendLimit && !this.rx.paused) {
      if (p > this.writer.peakPending) this.writer.peakPending = p;
      this.sendPauses++;
      this.rx.pause();
    }
  }

  private readonly onDrain = (): void => {
    this.readPaused = false;
    if (this.closed) return;
    // What a pause kept is handled first; it may fill the send queue again. (A queue
    // that stopped has halted its receiver: nothing is kept, reading resumes for the FIN.)
    const rx = this.rx;
    if (rx.paused && this.writer.pending <= this.sendLimit) rx.resume();
    if (rx.paused) {
      this.readPaused = true;
      this.socket.once('drain', this.onDrain);
      return;
    }
    this.socket.resume();
  };

  private readonly onSocketError = (e: Error): void => {
    if (!this.secured) {
      this.abort(new ConnectionError(`queue ${this.qid}: TLS handshake failed: ${tlsFailureReason(e)}${this.tlsHint()}`, { cause: e }));
      return;
    }
    this.abort(new ConnectionError(`queue ${this.qid}: socket error: ${e.message}`, { cause: e }));
  };

  /** What a host can check after a failed TLS handshake. */
  private tlsHint(): string {
    const o = this.o;
    if (o.role !== 'host' || o.tls === undefined) return '';
    return ` (does the target have this host's key, and TLS on its port? identity "${o.tls.identity}")`;
  }

  private readonly onSocketClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    const during = !this.secured
      ? ` during the TLS handshake${this.tlsHint()}`
      : this.role === 'host' && this.state === QState.HANDSHAKE
        ? ' before the ICResp (does the target port require TLS?)'
        : '';
    this.abort(new ConnectionError(`queue ${this.qid}: connection closed${during}`));
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.handler.onClosed();
    const w = this.closeWaiters;
    this.closeWaiters = [];
    for (const f of w) f();
  };

  // ------------------------------------------------------------ RecvHandler

  onPdu(pdu: Pdu): ProtocolError | undefined {
    switch (pdu.type) {
      case PduType.ICResp:
        this.onIcResp(pdu);
        return undefined;
      case PduType.ICReq:
        return this.onIcReq(pdu);
      case PduType.C2HTermReq:
      case PduType.H2CTermReq:
        // The peer ends the connection; nothing is sent back.
        this.abort(new TermReqError(pdu.fes, pdu.fei));
        return undefined;
      default: {
        const err = this.handler.onPdu(pdu);
        if (this.bounded) this.checkSendQueue();
        return err;
      }
    }
  }

  onDataDone(pdu: DataPdu | CapsuleCmd, ddgstOk: boolean, crcByDevice: boolean): void {
    this.handler.onDataDone(pdu, ddgstOk, crcByDevice);
    if (this.bounded) this.checkSendQueue();
  }

  onError(err: ProtocolError): void {
    this.fatal(err);
  }

  // ------------------------------------------------------------ handshake

  /** Host: the checks the Linux host makes on an ICResp; a mismatch ends the queue. */
  private onIcResp(pdu: IcResp): void {
    const o = this.o as HostQueueWire;
    const asked = digestBits(o);
    let why: string | undefined;
    if (pdu.pfv !== 0) why = `unsupported PFV ${pdu.pfv}`;
    else if ((pdu.dgst & 3) !== asked) why = `digest bits 0x${pdu.dgst.toString(16)} differ from the requested 0x${asked.toString(16)}`;
    else if (pdu.cpda !== 0) why = `unsupported CPDA ${pdu.cpda}`;
    else if (pdu.maxh2cdata < MIN_MAXH2CDATA || pdu.maxh2cdata % 4 !== 0) why = `invalid MAXH2CDATA ${pdu.maxh2cdata}`;
    if (why !== undefined) {
      this.abort(new NegotiationError(`queue ${this.qid}: ICResp ${why}`));
      return;
    }
    this.goLive({ hdgst: o.hdgst, ddgst: o.ddgst, hpda: 0, cpda: pdu.cpda, maxh2cdata: pdu.maxh2cdata });
  }

  /** Target: accept the host's digests as asked, announce CPDA 0 and our MAXH2CDATA. */
  private onIcReq(pdu: IcReq): ProtocolError | undefined {
    if (pdu.pfv !== 0) return new ProtocolError(`unsupported PFV ${pdu.pfv}`, Fes.InvalidHeaderField, OFF.PFV, pdu.type);
    if (pdu.hpda > PDA_MAX) {
      return new ProtocolError(`HPDA ${pdu.hpda} above ${PDA_MAX}`, Fes.InvalidHeaderField, OFF.HPDA, pdu.type);
    }
    const maxh2cdata = (this.o as TargetQueueWire).maxh2cdata;
    const dgst = pdu.dgst & (DigestOpt.HDGST | DigestOpt.DDGST);
    this.writer.send(encodeIcResp({ pfv: 0, cpda: 0, dgst, maxh2cdata }));
    this.goLive({
      hdgst: (dgst & DigestOpt.HDGST) !== 0,
      ddgst: (dgst & DigestOpt.DDGST) !== 0,
      hpda: pdu.hpda,
      cpda: 0,
      maxh2cdata,
    });
    return undefined;
  }

  private goLive(ic: Negotiated): void {
    this.negotiated = ic;
    // The PDA we announced: HPDA 0 as host, CPDA 0 as target (no alignment check).
    this.rx.setNegotiated(ic.hdgst, ic.ddgst, 0);
    this.state = QState.LIVE;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.handler.onLive(ic);
  }
}

/** The ICReq/ICResp DGST bits of a set of digests. */
export function digestBits(d: { hdgst: boolean; ddgst: boolean }): number {
  return (d.hdgst ? DigestOpt.HDGST : 0) | (d.ddgst ? DigestOpt.DDGST : 0);
}
