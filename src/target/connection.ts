// One NVMe/TCP queue on the target side: a TCP connection from ICReq to close.
//
// The wire (socket and its reads, ICReq/ICResp, TermReq, back-pressure, linger and
// close) is the shared TransportQueue; this class is the target's half. A
// CapsuleCmd's in-capsule data is placed in the command's own buffer; a write whose
// data is not in the capsule gets one R2T for all of it (TTAG = command slot), and
// its H2CData PDUs must arrive in order; the command runs only once all of its data
// is in. Data buffers come from the target's data budget (budget.ts): over budget, a
// write's R2T and a file read wait for theirs. Protocol errors answer with a
// C2HTermReq that carries a copy of the offending header, stop receiving and close
// this connection only.
import type { Socket } from 'node:net';
import { isAuthFctype } from '../protocol/auth.ts';
import { AdminOpc, DIGEST_LEN, Fes, FabricsType, HLEN, IoOpc, OFF, PduFlag, PduType, Sc, ScCmd, SglType } from '../protocol/constants.ts';
import { ConnectionError, ProtocolError } from '../protocol/errors.ts';
import { sqeFctype } from '../protocol/fabrics.ts';
import type { CapsuleCmd, DataPdu, Pdu } from '../protocol/pdu.ts';
import { writeR2t } from '../protocol/pdu.ts';
import { makeStatus, SqeOff, sqeNsid } from '../protocol/sqe.ts';
import { IoOpIndex } from '../stats/io.ts';
import { type Negotiated, type QueueHandler, type SendQueueStats, TransportQueue } from '../transport/queue.ts';
import type { PduWriter } from '../transport/writer.ts';
import { adminCommand } from './admin.ts';
import type { QueueAuth } from './auth.ts';
import { Cmd, type CmdQueue, type ResumeFn } from './cmd.ts';
import { type BudgetAccount, type DataBudget, LentBuffer } from './budget.ts';
import { connectCommand, fabricsCommand } from './connect.ts';
import type { TargetContext } from './context.ts';
import type { Controller } from './controller.ts';
import { ioCommand } from './io.ts';
import type { ListenerInfo } from './port.ts';
import { sendC2hData, sendCapsuleResp } from './send.ts';
import type { TlsKeyring, TlsPeer } from './tls-keys.ts';

const DNR = true;
/** Commands a queue may have outstanding before its Connect sets SQSIZE. */
const PRE_CONNECT_DEPTH = 32;
const STATUS_CMD_SEQ = makeStatus(0, Sc.CmdSeqError, DNR);
const STATUS_AUTH_REQUIRED = makeStatus(1, ScCmd.AuthRequired, DNR);
const STATUS_TRANSIENT = makeStatus(0, Sc.TransientTransportError);
/** Data direction in opcode bits 1:0 (01 host to controller). */
const isWriteOpc = (opc: number): boolean => (opc & 3) === 1;

export class Connection implements QueueHandler, CmdQueue {
  readonly writer: PduWriter;
  private readonly wire: TransportQueue;
  /** Queue ID once connected; -1 before the Connect command. */
  qid = -1;
  ctrl: Controller | undefined = undefined;
  auth: QueueAuth | undefined = undefined;
  /** SQSIZE from Connect (0's based). */
  sqsize = 0;
  private sqHead = 0;
  /** CATTR bit 2: SQ flow control disabled (SQHD 0xFFFF, C2HData SUCCESS). */
  sqFlowOff = false;
  hdgst = false;
  ddgst = false;
  /** The host's PDU data alignment (ICReq HPDA): C2H data is padded to it. */
  hpda = 0;
  /** Commands received and not yet completed. */
  private outstanding = 0;
  /** Closes the connection if no Connect has made it a controller's queue by then. */
  private assocTimer: NodeJS.Timeout | undefined;
  private readonly slots: (Cmd | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  /** The command whose in-capsule data is arriving. */
  private capsuleCmd: Cmd | undefined = undefined;
  /** The command whose H2CData PDU is arriving. */
  private h2cCmd: Cmd | undefined = undefined;
  private readonly budget: DataBudget;
  /** This connection's share of the budget (at most options.queueDataBudgetBytes). */
  private readonly account: BudgetAccount;
  /** Commands waiting for a data buffer (dropped when the queue goes down). */
  private readonly waiting = new Set<Cmd>();
  tlsPeer: TlsPeer | undefined = undefined;
  /** Completed commands, reused for the next ones (at most the queue depth: see Cmd). */
  private readonly freeCmds: Cmd[] = [];

  /**
   * `accepted` comes from a server created with pauseOnConnect (its reads have not
   * started; bytes read to tell TLS from plaintext were put back). With `tls` the
   * connection is TLS 1.3 with the keys of that keyring.
   */
  constructor(
    readonly ctx: TargetContext,
    accepted: Socket,
    readonly port: ListenerInfo,
    tls?: TlsKeyring,
  ) {
    const o = ctx.opts;
    this.budget = ctx.budget;
    this.account = ctx.budget.account();
    this.wire = new TransportQueue(
      {
        role: 'target',
        accepted,
        maxh2cdata: o.maxH2CData,
        maxDataLen: Math.max(o.adminInCapsuleDataSize, o.inCapsuleDataSize, o.maxH2CData),
        pauseOnBackpressure: true,
        tls: tls === undefined ? undefined : (identity) => this.tlsLookup(tls, identity),
        placement: o.rxPlacement,
      },
      this,
    );
    this.writer = this.wire.writer;
    // A socket that does not complete ICReq and Connect in time is closed: idle
    // sockets must not pile up (each holds a receive buffer and a writer arena).
    this.assocTimer = setTimeout(this.onAssocDeadline, o.handshakeTimeoutMs);
    this.assocTimer.unref();
  }

  private tlsLookup(keys: TlsKeyring, identity: string): Buffer | null {
    const found = keys.lookup(identity);
    this.tlsPeer = found?.peer;
    return found?.psk ?? null;
  }

  private readonly onAssocDeadline = (): void => {
    this.assocTimer = undefined;
    if (this.ctrl === undefined) {
      this.wire.abort(new ConnectionError(`queue ${this.qid}: no Connect within ${this.ctx.opts.handshakeTimeoutMs} ms`));
    } else if (this.auth !== undefined && !this.auth.authenticated) {
      this.wire.abort(new ConnectionError(`queue ${this.qid}: not authenticated within ${this.ctx.opts.handshakeTimeoutMs} ms`));
    }
  };

  get remoteAddress(): string {
    return this.wire.remoteAddress;
  }
  get localAddress(): string {
    return this.wire.localAddress;
  }

  /**
   * Bytes waiting to be sent: past SEND_QUEUE_LIMIT the connection takes no more PDUs
   * from its receive buffer until the socket drains (TransportQueue pauseOnBackpressure).
   */
  sendQueue(): SendQueueStats {
    return this.wire.sendQueue();
  }

  /** Closes the connection at once. */
  close(): void {
    this.wire.abort(new ConnectionError(`queue ${this.qid} closed`));
  }

  /** Fatal protocol error: C2HTermReq with a copy of the bad header, then close. */
  fatal(err: ProtocolError): void {
    this.wire.fatal(err);
  }

  // ------------------------------------------------------------ QueueHandler

  onLive(ic: Negotiated): void {
    this.hdgst = ic.hdgst;
    this.ddgst = ic.ddgst;
    this.hpda = ic.hpda;
  }

  /**
   * Nothing more is sent from here on (complete() checks wire.down). Commands waiting
   * for a buffer are dropped now; the rest of the command state once the socket has closed.
   */
  onDown(): void {
    for (const cmd of this.waiting) this.budget.cancel(cmd);
    this.waiting.clear();
  }

  onClosed(): void {
    clearTimeout(this.assocTimer);
    // Buffers of commands whose data never (fully) arrived. Every other command gives
    // its buffer back when it completes: complete() and completeData() release even
    // on a queue that is down (a file read or write still in flight finishes first).
    for (const cmd of this.slots) if (cmd !== undefined) this.releaseData(cmd);
    if (this.capsuleCmd !== undefined) this.releaseData(this.capsuleCmd);
    this.slots.length = 0;
    this.freeSlots.length = 0;
    this.freeCmds.length = 0;
    this.capsuleCmd = undefined;
    this.h2cCmd = undefined;
    this.ctrl?.queueClosed(this);
    this.ctx.connectionClosed(this);
  }

  onPdu(pdu: Pdu): ProtocolError | undefined {
    switch (pdu.type) {
      case PduType.CapsuleCmd:
        return this.onCapsule(pdu);
      case PduType.H2CData:
        return this.onH2cData(pdu);
      default:
        return new ProtocolError(`unexpected PDU type 0x${pdu.type.toString(16)}`, Fes.InvalidHeaderField, OFF.TYPE, pdu.type);
    }
  }

  onDataDone(pdu: DataPdu | CapsuleCmd, ddgstOk: boolean): void {
    if (pdu.type === PduType.CapsuleCmd) {
      const cmd = this.capsuleCmd!;
      this.capsuleCmd = undefined;
      cmd.received = cmd.dataLen;
      if (ddgstOk) this.exec(cmd);
      else {
        this.releaseData(cmd);
        this.complete(cmd, STATUS_TRANSIENT);
      }
      return;
    }
    const cmd = this.h2cCmd!;
    this.h2cCmd = undefined;
    cmd.received += pdu.datal;
    if (!ddgstOk) cmd.ddgstErr = true;
    if (cmd.received < cmd.dataLen) return;
    this.freeSlot(cmd);
    // A digest error fails the command once all its data is in; the queue stays (SPDK).
    if (cmd.ddgstErr) {
      this.releaseData(cmd);
      this.complete(cmd, STATUS_TRANSIENT);
    } else {
      cmd.resume!(cmd);
    }
  }

  // ------------------------------------------------------------ PDUs

  private onCapsule(pdu: CapsuleCmd): ProtocolError | undefined {
    // The host may not have more commands outstanding than the queue holds (SQSIZE is
    // 0's based); one that does could make us hold any number of commands and buffers.
    const depth = this.sqsize > 0 ? this.sqsize + 1 : PRE_CONNECT_DEPTH;
    if (this.outstanding >= depth) {
      return new ProtocolError(`more than ${depth} commands outstanding`, Fes.PduSequenceError, 0, pdu.type);
    }
    this.outstanding++;
    const cmd = (this.freeCmds.pop() ?? new Cmd(this)).load(pdu.sqe);
    const sqe = cmd.sqe;
    if (this.sqsize > 0) this.sqHead = this.sqHead === this.sqsize ? 0 : this.sqHead + 1;
    const hd = this.hdgst ? DIGEST_LEN : 0;
    const icd = pdu.plen > HLEN[PduType.CapsuleCmd] + hd ? pdu.plen - pdu.pdo - (pdu.flags & PduFlag.DDGSTF ? DIGEST_LEN : 0) : 0;
    const sglType = cmd.sglType;
    if (icd === 0) {
      if (sglType === SglType.InCapsuleOffset && cmd.sglLen !== 0) {
        return new ProtocolError('in-capsule SGL without in-capsule data', Fes.InvalidHeaderField, OFF.PLEN, pdu.type);
      }
      this.exec(cmd);
      return undefined;
    }
    if (sglType !== SglType.InCapsuleOffset || cmd.sglLen !== icd) {
      return new ProtocolError(
        `in-capsule data length ${icd} does not match the SGL (type 0x${sglType.toString(16)}, length ${cmd.sglLen})`,
        Fes.InvalidHeaderField,
        OFF.PLEN,
        pdu.type,
      );
    }
    if (sqe.readUInt32LE(SqeOff.SGL_ADDR) !== 0 || sqe.readUInt32LE(SqeOff.SGL_ADDR + 4) !== 0) {
      return new ProtocolError('in-capsule data offset is not 0', Fes.UnsupportedParameter, OFF.SQE + SqeOff.SGL_ADDR, pdu.type);
    }
    const o = this.ctx.opts;
    const limit = this.qid <= 0 || cmd.opc === AdminOpc.Fabrics ? o.adminInCapsuleDataSize : o.inCapsuleDataSize;
    if (icd > limit) {
      return new ProtocolError(`in-capsule data ${icd} above ${limit}`, Fes.DataLimitExceeded, 0, pdu.type);
    }
    // In-capsule data is here already: it is charged even over the budget (bounded by
    // the queue depth times the in-capsule data size; see budget.ts).
    this.setData(cmd, this.budget.takeOver(icd, this.account), icd);
    this.capsuleCmd = cmd;
    this.wire.rx.setDataDest(cmd.data!, 0);
    return undefined;
  }

  private onH2cData(pdu: DataPdu): ProtocolError | undefined {
    const t = pdu.type;
    if (pdu.ttag >= this.slots.length) {
      return new ProtocolError(`H2CData TTAG ${pdu.ttag} out of range`, Fes.PduSequenceError, 0, t);
    }
    const cmd = this.slots[pdu.ttag];
    if (cmd === undefined) {
      return new ProtocolError(`H2CData TTAG ${pdu.ttag} without an R2T`, Fes.InvalidHeaderField, OFF.TTAG, t);
    }
    if (pdu.cccid !== cmd.cid) {
      return new ProtocolError(`H2CData CCCID 0x${pdu.cccid.toString(16)} for TTAG ${pdu.ttag}`, Fes.PduSequenceError, 0, t);
    }
    if (pdu.datal > this.ctx.opts.maxH2CData) {
      return new ProtocolError(`H2CData DATAL ${pdu.datal} above MAXH2CDATA`, Fes.DataLimitExceeded, 0, t);
    }
    if (pdu.datao !== cmd.received || pdu.datao + pdu.datal > cmd.dataLen) {
      return new ProtocolError(
        `H2CData DATAO ${pdu.datao} DATAL ${pdu.datal}: expected DATAO ${cmd.received} within ${cmd.dataLen}`,
        Fes.DataOutOfRange,
        0,
        t,
      );
    }
    this.h2cCmd = cmd;
    this.wire.rx.setDataDest(cmd.data!, pdu.datao);
    return undefined;
  }

  // ------------------------------------------------------------ commands

  private exec(cmd: Cmd): void {
    const ctrl = this.ctrl;
    const fabrics = cmd.opc === AdminOpc.Fabrics;
    if (cmd.data !== undefined && !(fabrics ? (sqeFctype(cmd.sqe) & 1) === 1 : isWriteOpc(cmd.opc))) {
      // In-capsule data is only for host-to-controller commands.
      this.complete(cmd, makeStatus(0, Sc.InvalidField, DNR));
      return;
    }
    const sglType = cmd.sglType;
    if (sglType !== SglType.TransportDataBlock && sglType !== SglType.InCapsuleOffset) {
      this.complete(cmd, makeStatus(0, Sc.SglInvalidType, DNR));
      return;
    }
    if (ctrl === undefined) {
      if (fabrics && sqeFctype(cmd.sqe) === FabricsType.Connect) connectCommand(this, cmd);
      else this.complete(cmd, STATUS_CMD_SEQ);
      return;
    }
    // Until the queue has authenticated, only Authentication Send / Receive run (Linux nvmet_check_auth_status).
    if (this.auth !== undefined && !this.auth.authenticated && !(fabrics && isAuthFctype(sqeFctype(cmd.sqe)))) {
      this.complete(cmd, STATUS_AUTH_REQUIRED);
    } else if (fabrics) fabricsCommand(this, cmd);
    else if (!ctrl.ready) this.complete(cmd, STATUS_CMD_SEQ);
    else if (this.qid === 0) adminCommand(ctrl, cmd);
    else ioCommand(ctrl, cmd);
  }

  /** The SQ head as reported in completions. */
  get sqhd(): number {
    return this.sqFlowOff ? 0xffff : this.sqHead;
  }

  /** Called by Connect once the queue is installed. */
  installed(qid: number, sqsize: number, sqFlowOff: boolean, ctrl: Controller): void {
    this.qid = qid;
    this.sqsize = sqsize;
    this.sqHead = 1 % (sqsize + 1);
    this.sqFlowOff = sqFlowOff;
    this.ctrl = ctrl;
    this.ctx.queueAssociated(this);
    if (qid > 0) this.ctx.ioQueueUp(this);
  }

  /**
   * Asks the host for the command's data with one R2T for all of it, once the budget
   * has granted its buffer; `resume` runs once the data has arrived. The caller checked
   * the length against the transfer limit.
   */
  requestData(cmd: Cmd, len: number, resume: ResumeFn): void {
    if (this.wire.down) return;
    cmd.received = 0;
    cmd.resume = resume;
    this.takeData(cmd, len, this.sendR2t);
  }

  private readonly sendR2t = (cmd: Cmd): void => {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      // Bounded: a slot belongs to an outstanding command, and onCapsule caps those at the queue depth.
      slot = this.slots.length;
      this.slots.push(undefined);
    }
    this.slots[slot] = cmd;
    cmd.slot = slot;
    // Built in place in the writer's arena, as every PDU the target sends.
    const w = this.writer;
    const at = w.reserve(HLEN[PduType.R2T] + (this.hdgst ? DIGEST_LEN : 0));
    writeR2t(w.buf, at, cmd.cid, slot, 0, cmd.dataLen, this.hdgst);
  };

  takeData(cmd: Cmd, len: number, then: ResumeFn): void {
    if (this.wire.down) return;
    cmd.dataLen = len;
    const backing = this.budget.take(len, cmd, this.account);
    if (backing !== undefined) {
      this.setData(cmd, backing, len);
      then(cmd);
      return;
    }
    cmd.afterGrant = then;
    cmd.onGrant = this.onGrant;
    this.waiting.add(cmd);
  }

  /** The budget granted a waiting command its buffer (from a microtask). */
  private readonly onGrant = (cmd: Cmd, backing: Buffer): void => {
    this.waiting.delete(cmd);
    const then = cmd.afterGrant!;
    cmd.afterGrant = undefined;
    if (this.wire.down) {
      this.budget.release(backing, this.account);
      return;
    }
    this.setData(cmd, backing, cmd.dataLen);
    then(cmd);
  };

  private setData(cmd: Cmd, backing: Buffer, len: number): void {
    cmd.data = backing.length === len ? backing : backing.subarray(0, len);
    cmd.backing = backing;
    cmd.dataLen = len;
  }

  /** The command is done with its data buffer: it goes back to the budget. */
  releaseData(cmd: Cmd): void {
    const b = cmd.backing;
    if (b === undefined) return;
    cmd.data = undefined;
    cmd.backing = undefined;
    this.budget.release(b, this.account);
  }

  private freeSlot(cmd: Cmd): void {
    if (cmd.slot < 0) return;
    this.slots[cmd.slot] = undefined;
    this.freeSlots.push(cmd.slot);
    cmd.slot = -1;
  }

  /** Completes a command with a CapsuleResp. `status` is in the Linux form (makeStatus). */
  complete(cmd: Cmd, status: number, dw0 = 0, dw1 = 0): void {
    this.releaseData(cmd);
    if (this.wire.down) return;
    this.outstanding--;
    if (this.qid > 0) this.countIo(cmd, status);
    sendCapsuleResp(this.writer, cmd.cid, status, dw0, dw1, this.sqhd, Math.max(0, this.qid), this.hdgst);
    this.recycle(cmd);
  }

  /** The command has completed: it carries the next one. */
  private recycle(cmd: Cmd): void {
    if (cmd.free) return;
    cmd.free = true;
    this.freeCmds.push(cmd);
  }

  /** Counts an I/O command in its namespace's I/O stats as its completion goes out (one unknown to the subsystem is not counted). */
  private countIo(cmd: Cmd, status: number): void {
    const ns = this.ctrl?.subsys.namespaces.get(sqeNsid(cmd.sqe));
    if (ns === undefined) return;
    const op = cmd.opc === IoOpc.Read ? IoOpIndex.read : cmd.opc === IoOpc.Write ? IoOpIndex.write : IoOpIndex.other;
    ns.io.record(op, op === IoOpIndex.other ? 0 : cmd.sglLen, status === 0, (performance.now() - cmd.t0) / 1000);
  }

  /**
   * Completes a successful controller-to-host command: C2HData PDUs carrying `len`
   * bytes of `bufs`, then a CapsuleResp, or the SUCCESS flag on the last data PDU
   * when SQ flow control is disabled and the result is 0.
   */
  completeData(cmd: Cmd, bufs: readonly Buffer[], len: number, dw0 = 0): void {
    if (this.wire.down) {
      this.releaseData(cmd);
      return;
    }
    const success = this.sqFlowOff && dw0 === 0 && len > 0;
    // The command's own buffer (a file read) is lent to the writer: it goes back to the
    // budget once every piece has been copied or written (not when complete() runs).
    const backing = cmd.backing;
    let lent: LentBuffer | undefined;
    if (backing !== undefined && bufs.length === 1 && bufs[0] === cmd.data) {
      cmd.data = undefined;
      cmd.backing = undefined;
      lent = new LentBuffer(this.budget, backing, this.account);
    }
    sendC2hData(this.writer, cmd.cid, bufs, len, this.ctx.opts.c2hMaxData, this.hdgst, this.ddgst, this.hpda, success, lent);
    lent?.done();
    if (success) {
      this.outstanding--;
      this.countIo(cmd, 0);
      this.recycle(cmd);
    } else this.complete(cmd, 0, dw0);
  }
}
