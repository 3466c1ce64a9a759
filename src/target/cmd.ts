// One target command from its CapsuleCmd to its completion, and what the command
// handlers (admin, I/O, fabrics) may do with the queue it arrived on. The queue
// itself (target/connection.ts) implements CmdQueue; the handlers never see it.
import { sqeCid, sqeOpc, sqeSglLen, sqeSglType } from '../protocol/sqe.ts';
import type { TargetContext } from './context.ts';
import type { Controller } from './controller.ts';

/** Called once the data of a host-to-controller command has arrived. */
export type ResumeFn = (cmd: Cmd) => void;

/** The queue a command arrived on, as the command handlers use it. */
export interface CmdQueue {
  /** Queue ID once connected; -1 before the Connect command. */
  qid: number;
  ctrl: Controller | undefined;
  readonly ctx: TargetContext;
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** Completes a command with a CapsuleResp. `status` is in the Linux form (makeStatus). */
  complete(cmd: Cmd, status: number, dw0?: number, dw1?: number): void;
  /** Completes a successful controller-to-host command with `len` bytes of `bufs`. */
  completeData(cmd: Cmd, bufs: readonly Buffer[], len: number, dw0?: number): void;
  /** Asks the host for the command's `len` bytes of data (R2T); `resume` runs once it is in. */
  requestData(cmd: Cmd, len: number, resume: ResumeFn): void;
  /** The command is done with its host-to-controller data. */
  releaseData(cmd: Cmd): void;
  /** Connect installed the queue as `qid` of `ctrl`. */
  installed(qid: number, sqsize: number, sqFlowOff: boolean, ctrl: Controller): void;
  /** Closes the queue's connection at once. */
  close(): void;
}

export class Cmd {
  readonly cid: number;
  readonly opc: number;
  /** R2T transfer tag (index in the queue's slot table), -1 when none. */
  slot = -1;
  /** Host-to-controller data (in-capsule or collected from H2CData PDUs). */
  data: Buffer | undefined = undefined;
  /** The pooled buffer `data` is a view of (the queue's releaseData gives it back). */
  backing: Buffer | undefined = undefined;
  /** Bytes of data expected. */
  dataLen = 0;
  /** Bytes of data received so far. */
  received = 0;
  /** A data digest error hit one of the command's data PDUs. */
  ddgstErr = false;
  resume: ResumeFn | undefined = undefined;

  constructor(
    readonly q: CmdQueue,
    readonly sqe: Buffer,
  ) {
    this.cid = sqeCid(sqe);
    this.opc = sqeOpc(sqe);
  }

  get sglType(): number {
    return sqeSglType(this.sqe);
  }
  get sglLen(): number {
    return sqeSglLen(this.sqe);
  }
}
