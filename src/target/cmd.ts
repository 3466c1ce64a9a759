// One target command from its CapsuleCmd to its completion, and what the command
// handlers (admin, I/O, fabrics) may do with the queue it arrived on. The queue
// itself (target/connection.ts) implements CmdQueue; the handlers never see it.
import { SQE_LEN } from '../protocol/constants.ts';
import { sqeCid, sqeOpc, sqeSglLen, sqeSglType } from '../protocol/sqe.ts';
import type { SendQueueStats } from '../transport/queue.ts';
import { BudgetWaiter } from './budget.ts';
import type { QueueAuth } from './auth.ts';
import type { TargetContext } from './context.ts';
import type { Controller } from './controller.ts';
import type { TlsPeer } from './tls-keys.ts';
import type { ListenerInfo } from './port.ts';

/** Called once the data of a host-to-controller command has arrived. */
export type ResumeFn = (cmd: Cmd) => void;

/** The queue a command arrived on, as the command handlers use it. */
export interface CmdQueue {
  /** Queue ID once connected; -1 before the Connect command. */
  qid: number;
  ctrl: Controller | undefined;
  /** In-band authentication of this queue, when its host must authenticate (set by Connect). */
  auth: QueueAuth | undefined;
  readonly ctx: TargetContext;
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** With TLS: the host and subsystem of the PSK identity the handshake authenticated. */
  readonly tlsPeer: TlsPeer | undefined;
  /** The listener (port) the connection was accepted on. */
  readonly port: ListenerInfo;
  /** Completes a command with a CapsuleResp. `status` is in the Linux form (makeStatus). */
  complete(cmd: Cmd, status: number, dw0?: number, dw1?: number): void;
  /**
   * Completes a successful controller-to-host command with `len` bytes of `bufs`. When
   * `bufs` is the command's own buffer (from takeData), that buffer is given back once
   * the bytes have been handed off to the socket.
   */
  completeData(cmd: Cmd, bufs: readonly Buffer[], len: number, dw0?: number): void;
  /**
   * Asks the host for the command's `len` bytes of data (R2T); `resume` runs once it is
   * in. The R2T goes out once the target's data budget grants the buffer.
   */
  requestData(cmd: Cmd, len: number, resume: ResumeFn): void;
  /**
   * Gives the command a buffer of `len` bytes (cmd.data) from the target's data budget,
   * then runs `then`: at once, or once the budget has room (commands wait in order).
   * Nothing runs if the queue goes away meanwhile.
   */
  takeData(cmd: Cmd, len: number, then: ResumeFn): void;
  /** The command is done with its data buffer (completions release it too). */
  releaseData(cmd: Cmd): void;
  /** Connect installed the queue as `qid` of `ctrl`. */
  installed(qid: number, sqsize: number, sqFlowOff: boolean, ctrl: Controller): void;
  /** Closes the queue's connection at once. */
  close(): void;
  /** What the connection has waiting to be sent (its bound: SEND_QUEUE_LIMIT). */
  sendQueue(): SendQueueStats;
}

/**
 * A command slot of a queue, reused: the queue keeps its completed commands and loads
 * the next CapsuleCmd into one (load), so that a command costs no object or SQE buffer.
 * Bounded by the queue depth (a new one is made only when all are outstanding).
 */
export class Cmd extends BudgetWaiter {
  cid = 0;
  opc = 0;
  /** This command's copy of its SQE (the receiver's is overwritten by the next capsule). */
  readonly sqe = Buffer.alloc(SQE_LEN);
  /** R2T transfer tag (index in the queue's slot table), -1 when none. */
  slot = -1;
  /** Host-to-controller data (in-capsule or collected from H2CData PDUs). */
  data: Buffer | undefined = undefined;
  /** The budget's buffer `data` is a view of (the queue's releaseData gives it back). */
  backing: Buffer | undefined = undefined;
  /** Bytes of data expected. */
  dataLen = 0;
  /** Bytes of data received so far. */
  received = 0;
  /** A data digest error hit one of the command's data PDUs. */
  ddgstErr = false;
  resume: ResumeFn | undefined = undefined;
  /** What runs once a buffer the command waits for is granted (takeData). */
  afterGrant: ResumeFn | undefined = undefined;
  /** The queue's handler of a grant (set with afterGrant). */
  onGrant: ((cmd: Cmd, backing: Buffer) => void) | undefined = undefined;
  /** Arrival time (performance.now(), ms): the start of the command's latency. */
  t0 = 0;
  /** Completed and kept by its queue for the next command (guards against a second completion reusing it twice). */
  free = false;

  constructor(readonly q: CmdQueue) {
    super();
  }

  /** Makes this the command of `sqe` (copied), as it arrives. */
  load(sqe: Buffer): this {
    sqe.copy(this.sqe, 0, 0, SQE_LEN);
    this.cid = sqeCid(sqe);
    this.opc = sqeOpc(sqe);
    this.slot = -1;
    this.data = undefined;
    this.backing = undefined;
    this.dataLen = 0;
    this.received = 0;
    this.ddgstErr = false;
    this.resume = undefined;
    this.afterGrant = undefined;
    this.onGrant = undefined;
    this.t0 = performance.now();
    this.free = false;
    return this;
  }

  budgetGranted(backing: Buffer): void {
    this.onGrant!(this, backing);
  }

  get sglType(): number {
    return sqeSglType(this.sqe);
  }
  get sglLen(): number {
    return sqeSglLen(this.sqe);
  }
}
