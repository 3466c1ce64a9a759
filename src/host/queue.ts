// One host queue = one TCP connection. The wire (socket, reads, ICReq/ICResp with
// the checks the Linux host makes, TermReq, teardown of the socket) is the shared
// TransportQueue; this file holds the host's half: the CID table, command dispatch,
// the handlers of CapsuleResp, C2HData and R2T, command timeouts and the offload
// attachment (sk_add, setup/teardown per READ, resync answers).
//
// Every command has one slot (its CID) from dispatch until it settles; a CID goes
// back to the end of a FIFO free list only then, so it is never reused while the
// controller may still answer for it. Commands beyond the queue depth wait in a
// FIFO. A fatal condition (socket error, protocol error, TermReq, command timeout)
// tears the whole queue down and fails every outstanding command, as Linux's
// error recovery does; a data digest error fails only its command. A queue with an
// owner (the controller's queues) tells it when it goes down and hands it every
// command that fails, which the owner may resend (error recovery, retries).
import { AdminOpc, Fes, hasHdgst, IoOpc, OFF, PduFlag, PduType, Sc } from '../protocol/constants.ts';
import { ConnectionError, NvmeStatusError, ProtocolError, TimeoutError } from '../protocol/errors.ts';
import type { CapsuleCmd, DataPdu, Pdu } from '../protocol/pdu.ts';
import type { PduReceiver } from '../protocol/receiver.ts';
import { CqeOff, makeStatus } from '../protocol/sqe.ts';
import type { DdpLimits, DdpQueue, UlpOps } from '../offload/types.ts';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, digestBits, type Negotiated, type QueueHandler, TransportQueue } from '../transport/queue.ts';
import type { TlsClientPsk } from '../transport/tls.ts';
import { ddpEligible, type HostDdpDevice } from './offload.ts';
import { DataDir, type HostCommand } from './request.ts';
import { QueueSender } from './queue-send.ts';

/** Largest in-capsule data of a fabrics command on any queue, and of any admin command (Linux NVME_TCP_ADMIN_CCSZ). */
export const FABRICS_ICD_MAX = 8192;
/** Largest transfer of one command the host ever issues (nvmet rejects SGLs above 4 MiB). */
export const MAX_XFER = 4 * 1024 * 1024;
/**
 * The host hands its queued PDUs to the socket once they reach this many bytes, not
 * only at the end of the event-loop turn (PduWriter.endPdu): a burst of completions
 * then goes back to the target as several batches, the first while the host still
 * handles the rest, instead of one convoy (see transport/writer.ts). Half of the
 * receive buffer SPDK's target gives a queue with 4 KiB in-capsule data (~65 KiB),
 * 7 such writes, and far more than a turn of commands without data (72 bytes each).
 * The bound is checked after command capsules only: H2CData PDUs answering R2Ts go
 * out with the rest of the turn (checked after each one, 128 KiB writes at QD32 went
 * from 3.7 to 2.7 GB/s: a write per data PDU), their bytes counting toward the next
 * capsule's check.
 */
export const HOST_FLUSH_AT = 32 * 1024;
/**
 * Busy polling (ConnectOptions.poll) runs only while commands of at most this many
 * bytes are outstanding: it saves the wake-up of a sleeping thread, which matters when
 * the wake-up is a good part of a command's time. A large transfer gains nothing from
 * it and loses: a loop that never sleeps reads each bit of data as it lands, in many
 * small reads instead of a few large ones (128 KiB reads QD32: 2039 MiB/s polled
 * against 2916 not).
 */
export const POLL_MAX_IO = 16 * 1024;
/** Linux waits 10 s for the ICResp. */
export const DEFAULT_CONNECT_TIMEOUT_MS = DEFAULT_HANDSHAKE_TIMEOUT_MS;

/** Who hears about a queue's failures (the controller): it decides what a failed command becomes. */
export interface QueueOwner {
  /** The queue stopped; called once, before its commands are handed to commandFailed. */
  queueDown(q: HostQueue, err: Error): void;
  /** A command failed (error status, or its queue went down); the owner settles or resends it. */
  commandFailed(cmd: HostCommand, err: Error): void;
}

export interface QueueOptions {
  qid: number;
  host: string;
  port: number;
  hdgst: boolean;
  ddgst: boolean;
  /** 0's based SQ size sent in Connect; at most this many commands are outstanding. */
  sqsize: number;
  /** Bound on TCP connect + ICResp. */
  connectTimeoutMs?: number | undefined;
  /** I/O queues only: the offload device (its placement drives the socket reads). Not used with TLS. */
  offload?: HostDdpDevice | undefined;
  owner?: QueueOwner | undefined;
  /** TLS 1.3 with this PSK before the ICReq. */
  tls?: TlsClientPsk | undefined;
}

export class HostQueue implements QueueHandler, UlpOps {
  readonly qid: number;
  readonly hdgst: boolean;
  readonly ddgst: boolean;
  readonly sqsize: number;
  /** MAXH2CDATA from the ICResp. */
  maxh2cdata = 0;
  /** In-capsule limit for non-fabrics commands with data; the controller lowers it to IOCCSZ*16-64 on I/O queues. */
  icdMax = FABRICS_ICD_MAX;
  /**
   * Data digests of received data PDUs (data digest negotiated), by who verified
   * them: the offload device, for every byte of the PDU, or the host in software.
   */
  readonly ddgstChecks: DigestChecks = { device: 0, software: 0 };

  private readonly wire: TransportQueue;
  private readonly sender: QueueSender;
  private readonly owner: QueueOwner | undefined;

  // ---- CID table ----
  private readonly slots: (HostCommand | undefined)[];
  private readonly freeCids: Uint16Array;
  private freeHead = 0;
  private freeCount: number;
  private readonly waiting: (HostCommand | undefined)[] = [];
  private waitHead = 0;
  private inflightCount = 0;
  /** Commands of at most POLL_MAX_IO bytes submitted and not yet settled (busy polling runs while there are any). */
  private smallCount = 0;

  // ---- timers and waiters ----
  private tickTimer: NodeJS.Timeout | undefined;
  private tickMs = 1000;
  private handshakeResolve: ((q: HostQueue) => void) | undefined;
  private handshakeReject: ((e: Error) => void) | undefined;
  private idleWaiters: (() => void)[] | undefined;
  /** Set by the command timeout: that command fails with its own TimeoutError. */
  private culprit: HostCommand | undefined;
  private culpritErr: Error | undefined;

  // ---- offload ----
  private readonly device: HostDdpDevice | undefined;
  private ddpQ: DdpQueue | undefined;
  private ddpLimits: DdpLimits | undefined;
  /** Stream position the device asked about (resync request), or -1. */
  private resyncSeq = -1;

  private constructor(o: QueueOptions) {
    this.qid = o.qid;
    this.hdgst = o.hdgst;
    this.ddgst = o.ddgst;
    this.sqsize = o.sqsize;
    // The NIC cannot place payload inside TLS records (the series' limits.tls is false).
    this.device = o.qid === 0 || o.tls !== undefined ? undefined : o.offload;
    this.owner = o.owner;
    this.slots = new Array<HostCommand | undefined>(o.sqsize).fill(undefined);
    this.freeCids = new Uint16Array(o.sqsize);
    for (let i = 0; i < o.sqsize; i++) this.freeCids[i] = i;
    this.freeCount = o.sqsize;
    this.wire = new TransportQueue(
      {
        role: 'host',
        host: o.host,
        port: o.port,
        hdgst: o.hdgst,
        ddgst: o.ddgst,
        maxDataLen: MAX_XFER,
        placement: this.device?.rxPlacement,
        handshakeTimeoutMs: o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        tls: o.tls,
        writer: { flushAt: HOST_FLUSH_AT },
      },
      this,
      o.qid,
    );
    this.sender = new QueueSender(this.wire.writer, o.hdgst, o.ddgst);
  }

  /** The queue's receiver (read-only use: stream position, state). */
  get rx(): PduReceiver {
    return this.wire.rx;
  }

  /** TCP connect + ICReq/ICResp. Rejects with ConnectionError, TimeoutError or NegotiationError. */
  static open(o: QueueOptions): Promise<HostQueue> {
    if (!Number.isInteger(o.sqsize) || o.sqsize < 1 || o.sqsize > 0xffff) {
      throw new RangeError(`queue ${o.qid}: sqsize ${o.sqsize} out of range`);
    }
    const q = new HostQueue(o);
    return new Promise((resolve, reject) => {
      q.handshakeResolve = resolve;
      q.handshakeReject = reject;
    });
  }

  // ------------------------------------------------------------ public state

  get live(): boolean {
    return this.wire.live;
  }

  /** Commands holding a CID plus those waiting for one. */
  get load(): number {
    return this.inflightCount + this.waiting.length - this.waitHead;
  }

  /** Commands of at most POLL_MAX_IO bytes holding a CID or waiting for one. */
  get smallLoad(): number {
    return this.smallCount;
  }

  /** Why the queue is down (undefined while it is up). */
  get error(): Error | undefined {
    return this.culpritErr ?? this.wire.error;
  }

  /** Socket writes (batches of PDUs) this queue has made so far. */
  get writeBatches(): number {
    return this.wire.writer.batches;
  }

  /** True once a DdpQueue is attached. */
  get offloaded(): boolean {
    return this.ddpQ !== undefined;
  }

  /** Resolves once no command is outstanding or waiting (or the queue is down). */
  idle(): Promise<void> {
    if (this.load === 0 || this.wire.down) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.idleWaiters ??= [];
      this.idleWaiters.push(resolve);
    });
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    if (w === undefined) return;
    this.idleWaiters = undefined;
    for (const f of w) f();
  }

  /** Command timeouts are checked on this period (ms). */
  setTimeoutGranularity(ms: number): void {
    this.tickMs = Math.max(5, Math.min(1000, Math.floor(ms)));
    if (this.tickTimer !== undefined) {
      clearInterval(this.tickTimer);
      this.tickTimer = undefined;
    }
    this.armTick();
  }

  // ------------------------------------------------------------ submission

  /** Queues a command; the promise settles once, with the command or a typed error. */
  submit(cmd: HostCommand): Promise<HostCommand> {
    return new Promise<HostCommand>((resolve, reject) => {
      cmd.resolve = resolve;
      cmd.reject = reject;
      this.start(cmd);
    });
  }

  /** Queues a command whose resolve/reject the caller set; exactly one of them is called once. */
  start(cmd: HostCommand): void {
    if (!this.wire.live) {
      this.fail(cmd, this.downError());
      return;
    }
    if (cmd.len <= POLL_MAX_IO) this.smallCount++;
    if (this.freeCount > 0 && this.waitHead === this.waiting.length) this.dispatch(cmd);
    else this.waiting.push(cmd);
  }

  private dispatch(cmd: HostCommand): void {
    const cid = this.freeCids[this.freeHead];
    this.freeHead = (this.freeHead + 1) % this.freeCids.length;
    this.freeCount--;
    this.slots[cid] = cmd;
    this.inflightCount++;
    cmd.cid = cid;
    cmd.deadline = performance.now() + cmd.timeoutMs;
    if (cmd.dir === DataDir.H2C) {
      cmd.inCapsule = cmd.len <= (cmd.opc === AdminOpc.Fabrics || this.qid === 0 ? FABRICS_ICD_MAX : this.icdMax);
    } else if (cmd.dir === DataDir.C2H && this.ddpQ !== undefined && cmd.opc === IoOpc.Read) {
      // DDP offload is best-effort: a refused setup (counted by the device) means software placement.
      if (ddpEligible(this.ddpLimits!, cmd.len)) cmd.ddp = this.ddpQ.setup(cid, [cmd.data!]) >= 0;
    }
    this.sender.sendCapsule(cmd);
  }

  /** Frees the command's CID, settles it and starts the next waiting command. */
  private release(cmd: HostCommand): void {
    const cid = cmd.cid;
    this.slots[cid] = undefined;
    this.freeCids[(this.freeHead + this.freeCount) % this.freeCids.length] = cid;
    this.freeCount++;
    this.inflightCount--;
    if (cmd.len <= POLL_MAX_IO) this.smallCount--;
    if (cmd.status === 0) cmd.resolve(cmd);
    else this.fail(cmd, new NvmeStatusError(cmd.status, cid, this.qid, cmd.describe(this.qid)));
    if (this.waitHead < this.waiting.length && this.wire.live) {
      const next = this.waiting[this.waitHead]!;
      this.waiting[this.waitHead++] = undefined;
      if (this.waitHead === this.waiting.length) {
        this.waiting.length = 0;
        this.waitHead = 0;
      } else if (this.waitHead >= 1024 && this.waitHead * 2 >= this.waiting.length) {
        // Under sustained overload the FIFO never drains: drop the consumed head now and then.
        this.waiting.splice(0, this.waitHead);
        this.waitHead = 0;
      }
      this.dispatch(next);
    } else if (this.idleWaiters !== undefined && this.inflightCount === 0) {
      this.wakeIdle();
    }
  }

  /** The command is done on the wire. With a device placement, complete only after its teardown. */
  private finish(cmd: HostCommand, status: number, dw0: number, dw1: number): void {
    cmd.status = status;
    cmd.dw0 = dw0;
    cmd.dw1 = dw1;
    if (cmd.ddp) {
      cmd.ddp = false;
      cmd.tearingDown = true;
      this.ddpQ!.teardown(cmd.cid);
      return;
    }
    this.release(cmd);
  }

  // ------------------------------------------------------------ UlpOps (device up-calls)

  ddpTeardownDone(cid: number): void {
    if (this.wire.down) return;
    const cmd = this.slots[cid];
    if (cmd === undefined || !cmd.tearingDown) return;
    cmd.tearingDown = false;
    this.release(cmd);
  }

  resyncRequest(seq: number): boolean {
    this.resyncSeq = seq;
    return true;
  }

  /**
   * nvme_tcp_resync_response: confirms a pending resync request when a PDU starts
   * exactly at the asked position. Once the PDUs are past it the guess was wrong: no
   * answer (the kernel has no denial), and no later PDU can match it, so stop looking
   * until the device asks again.
   */
  private checkResync(pdu: Pdu): void {
    const hd = this.rx.hdgst && hasHdgst(pdu.type) ? 4 : 0;
    const start = this.rx.streamPos - pdu.hlen - hd;
    const d = (start - this.resyncSeq) | 0; // 32-bit sequence arithmetic
    if (d < 0) return;
    const seq = this.resyncSeq;
    this.resyncSeq = -1;
    if (d === 0) this.ddpQ?.resync(seq);
  }

  // ------------------------------------------------------------ receive

  // ------------------------------------------------------------ QueueHandler

  onLive(ic: Negotiated): void {
    this.maxh2cdata = ic.maxh2cdata;
    this.armTick();
    const resolve = this.handshakeResolve!;
    this.handshakeResolve = undefined;
    this.handshakeReject = undefined;
    resolve(this);
  }

  onPdu(pdu: Pdu): ProtocolError | undefined {
    if (this.resyncSeq >= 0) this.checkResync(pdu);
    switch (pdu.type) {
      case PduType.CapsuleResp:
        return this.onCapsuleResp(pdu.cqe);
      case PduType.C2HData:
        return this.onC2hData(pdu);
      case PduType.R2T: {
        const cmd = this.slots[pdu.cccid];
        if (cmd === undefined || cmd.tearingDown) {
          return new ProtocolError(`R2T for unknown cid 0x${pdu.cccid.toString(16)}`, Fes.InvalidHeaderField, OFF.CCCID, pdu.type);
        }
        return this.sender.onR2t(cmd, pdu, this.maxh2cdata);
      }
      default:
        return new ProtocolError(`unexpected PDU type 0x${pdu.type.toString(16)}`, Fes.InvalidHeaderField, OFF.TYPE, pdu.type);
    }
  }

  private onCapsuleResp(cqe: Buffer): ProtocolError | undefined {
    const cid = cqe.readUInt16LE(CqeOff.CID);
    const cmd = this.slots[cid];
    if (cmd === undefined || cmd.tearingDown) {
      return new ProtocolError(
        `CapsuleResp for unknown cid 0x${cid.toString(16)}`,
        Fes.InvalidHeaderField,
        OFF.CQE + CqeOff.CID,
        PduType.CapsuleResp,
      );
    }
    let status = cqe.readUInt16LE(CqeOff.STATUS) >> 1;
    if (status === 0 && cmd.dir === DataDir.C2H && cmd.received !== cmd.len) {
      return new ProtocolError(
        `queue ${this.qid} cid 0x${cid.toString(16)}: short data-in (${cmd.received} of ${cmd.len} bytes)`,
        Fes.PduSequenceError,
        0,
        PduType.CapsuleResp,
      );
    }
    // A data digest error seen on the way in overrides the controller's status (Linux does the same).
    if (cmd.xferError) status = DATA_XFER_ERROR;
    this.finish(cmd, status, cqe.readUInt32LE(CqeOff.DW0), cqe.readUInt32LE(CqeOff.DW1));
    return undefined;
  }

  private onC2hData(pdu: DataPdu): ProtocolError | undefined {
    const cmd = this.slots[pdu.cccid];
    const t = pdu.type;
    if (cmd === undefined || cmd.tearingDown) {
      return new ProtocolError(`C2HData for unknown cid 0x${pdu.cccid.toString(16)}`, Fes.InvalidHeaderField, OFF.CCCID, t);
    }
    if (cmd.dir !== DataDir.C2H) {
      return new ProtocolError(`C2HData for cid 0x${pdu.cccid.toString(16)}, which reads no data`, Fes.InvalidHeaderField, OFF.CCCID, t);
    }
    if (pdu.datao !== cmd.received) {
      return new ProtocolError(`C2HData DATAO ${pdu.datao}, expected ${cmd.received}`, Fes.DataOutOfRange, OFF.DATAO, t);
    }
    if (pdu.datao + pdu.datal > cmd.len) {
      return new ProtocolError(`C2HData beyond the command's ${cmd.len} bytes`, Fes.DataOutOfRange, OFF.DATAL, t);
    }
    this.rx.setDataDest(cmd.data!, pdu.datao);
    return undefined;
  }

  onDataDone(pdu: DataPdu | CapsuleCmd, ddgstOk: boolean, crcByDevice: boolean): void {
    if (pdu.type !== PduType.C2HData) return; // the receiver never lets a host see CapsuleCmd
    if (this.ddgst) {
      if (crcByDevice) this.ddgstChecks.device++;
      else this.ddgstChecks.software++;
    }
    const cmd = this.slots[pdu.cccid]!;
    cmd.received += pdu.datal;
    if (!ddgstOk) cmd.xferError = true;
    if ((pdu.flags & PduFlag.SUCCESS) === 0) return;
    if (cmd.received !== cmd.len) {
      this.wire.fatal(
        new ProtocolError(
          `queue ${this.qid} cid 0x${cmd.cid.toString(16)}: SUCCESS with short data-in (${cmd.received} of ${cmd.len} bytes)`,
          Fes.PduSequenceError,
          0,
          pdu.type,
        ),
      );
      return;
    }
    this.finish(cmd, cmd.xferError ? DATA_XFER_ERROR : 0, 0, 0);
  }

  // ------------------------------------------------------------ offload attach

  /**
   * sk_add for this I/O queue, once Connect is done (nothing else is in flight, so the
   * receiver sits at a PDU boundary: that is rxSeq). A failure leaves the queue in software.
   */
  attachOffload(ctrlLabel: string): void {
    const dev = this.device;
    if (dev === undefined || !this.wire.live) return;
    const r = dev.addQueue(
      {
        pfv: 0,
        cpda: 0,
        dgst: digestBits(this),
        queueSize: this.sqsize + 1,
        queueId: this.qid,
        ioCpu: this.qid - 1,
        ctrl: ctrlLabel,
        rxSeq: this.rx.streamPos % 0x1_0000_0000,
      },
      this,
      this.rx,
    );
    if (typeof r === 'number') return;
    this.ddpQ = r;
    this.ddpLimits = dev.limits();
  }

  // ------------------------------------------------------------ timeouts

  private armTick(): void {
    if (this.tickTimer !== undefined || !this.wire.live) return;
    this.tickTimer = setInterval(this.tick, this.tickMs);
    this.tickTimer.unref();
  }

  private readonly tick = (): void => {
    if (this.inflightCount === 0) return;
    const now = performance.now();
    for (const cmd of this.slots) {
      if (cmd !== undefined && cmd.deadline <= now) {
        const err = new TimeoutError(
          `queue ${this.qid} cid 0x${cmd.cid.toString(16)}: ${cmd.describe(this.qid)} timed out after ${cmd.timeoutMs} ms`,
          cmd.timeoutKind,
        );
        this.culprit = cmd;
        this.culpritErr = err;
        this.wire.abort(new ConnectionError(`queue ${this.qid} torn down after a command timeout`, { cause: err }));
        return;
      }
    }
  };

  // ------------------------------------------------------------ teardown

  /** A failed command goes to the owner, if any, else its promise rejects. */
  private fail(cmd: HostCommand, err: Error): void {
    if (this.owner !== undefined) this.owner.commandFailed(cmd, err);
    else cmd.reject(err);
  }

  private downError(): Error {
    return new ConnectionError(`queue ${this.qid} is down`, { cause: this.error });
  }

  /**
   * The queue stopped (the wire tells, once): every outstanding and waiting command
   * fails with `err` (the command that timed out with its own error), and the offload
   * context is removed.
   */
  onDown(err: Error): void {
    clearInterval(this.tickTimer);
    this.tickTimer = undefined;
    const hsReject = this.handshakeReject;
    this.handshakeResolve = undefined;
    this.handshakeReject = undefined;
    hsReject?.(err);
    this.owner?.queueDown(this, err);
    if (this.ddpQ !== undefined) {
      // Release every placement still registered (commands not yet torn down), then sk_del.
      for (const cmd of this.slots) if (cmd?.ddp) this.ddpQ.teardown(cmd.cid);
      this.ddpQ.remove();
      this.ddpQ = undefined;
    }
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const cmd = slots[i];
      if (cmd === undefined) continue;
      slots[i] = undefined;
      this.fail(cmd, cmd === this.culprit ? this.culpritErr! : err);
    }
    this.culprit = undefined;
    this.inflightCount = 0;
    this.smallCount = 0;
    const waiting = this.waiting.splice(this.waitHead);
    this.waiting.length = 0;
    this.waitHead = 0;
    for (const cmd of waiting) this.fail(cmd!, err);
    this.wakeIdle();
  }

  onClosed(): void {}

  /** Drops the connection at once (socket destroyed); outstanding commands fail with `err`. */
  abort(err: Error): void {
    this.wire.abort(err);
  }

  /** Closes the connection (FIN); outstanding commands, if any, fail with ConnectionError. */
  close(): Promise<void> {
    return this.wire.close(new ConnectionError(`queue ${this.qid} closed`));
  }
}

/** Received data digests by who verified them. */
export interface DigestChecks {
  /** by the offload device (every piece of the PDU's data checksummed as it was placed) */
  device: number;
  /** by the host in software */
  software: number;
}

/** Status a host gives a command whose C2H data failed its digest (SCT 0, SC 4). */
export const DATA_XFER_ERROR = makeStatus(0, Sc.DataXferError);
