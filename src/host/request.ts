// One NVMe command as the host queue sees it: the SQE (its CID is patched in when
// the queue gives it a slot), the data buffer and direction, and the state the
// receive path builds up (C2H bytes placed, R2T progress, data digest errors,
// offload placement). The queue settles the command's one promise exactly once.
import { AdminOpc, FabricsType, IoOpc } from '../protocol/constants.ts';
import { SqeOff } from '../protocol/sqe.ts';

/** Which way the command's data moves. */
export const DataDir = {
  None: 0,
  /** host to controller: in-capsule or R2T + H2CData */
  H2C: 1,
  /** controller to host: C2HData */
  C2H: 2,
} as const;
export type DataDir = (typeof DataDir)[keyof typeof DataDir];

export type TimeoutKind = 'io' | 'kato';

export class HostCommand {
  /** The 64-byte SQE; bytes 2..3 (CID) and the SGL are filled in by the queue. */
  readonly sqe: Buffer;
  /** Exactly the bytes moved: the read destination or the write source (reset by reuse()). */
  data: Buffer | undefined;
  dir: DataDir;
  timeoutMs: number;
  readonly timeoutKind: TimeoutKind;

  // ---- set by the queue when it dispatches the command ----
  cid = -1;
  /** Absolute deadline (performance.now() ms). */
  deadline = 0;
  /** The data travels inside the CapsuleCmd. */
  inCapsule = false;
  /** The offload device holds a placement for this CID (setup succeeded). */
  ddp = false;
  /** Completed on the wire; waiting for the device's ddpTeardownDone before settling. */
  tearingDown = false;

  // ---- receive-side progress ----
  /** C2H data bytes received so far (in order: DATAO must equal this). */
  received = 0;
  /** End of the highest R2T range accepted (bytes requested so far). */
  r2tEnd = 0;
  /** A C2HData digest mismatch happened: the command fails with DATA_XFER_ERROR. */
  xferError = false;

  /** Times the controller resent this command after an error status without DNR. */
  retries = 0;

  // ---- completion ----
  status = 0;
  dw0 = 0;
  dw1 = 0;
  resolve: (c: HostCommand) => void = noop;
  reject: (e: Error) => void = noop;

  constructor(sqe: Buffer, data: Buffer | undefined, dir: DataDir, timeoutMs: number, timeoutKind: TimeoutKind = 'io') {
    this.sqe = sqe;
    this.data = data;
    this.dir = data === undefined || data.length === 0 ? DataDir.None : dir;
    this.timeoutMs = timeoutMs;
    this.timeoutKind = timeoutKind;
  }

  /**
   * Makes a settled command new again for another I/O with the same SQE buffer (a
   * pooled command): the caller rewrites the SQE fields; every per-dispatch field resets.
   */
  reuse(data: Buffer, dir: DataDir, timeoutMs: number): void {
    this.data = data;
    this.dir = data.length === 0 ? DataDir.None : dir;
    this.timeoutMs = timeoutMs;
    this.retries = 0;
    this.rearm();
  }

  /** Every per-dispatch field back to its start, for another dispatch of the same I/O (a retry). */
  rearm(): void {
    this.cid = -1;
    this.deadline = 0;
    this.inCapsule = false;
    this.ddp = false;
    this.tearingDown = false;
    this.received = 0;
    this.r2tEnd = 0;
    this.xferError = false;
    this.status = 0;
    this.dw0 = 0;
    this.dw1 = 0;
  }

  get opc(): number {
    return this.sqe[SqeOff.OPC];
  }

  get len(): number {
    return this.dir === DataDir.None ? 0 : this.data!.length;
  }

  /** A short name for messages: "Read", "Identify", "Connect"... */
  describe(qid: number): string {
    return commandName(this.sqe, qid);
  }
}

function noop(): void {}

const ADMIN_NAMES: Readonly<Record<number, string>> = {
  [AdminOpc.GetLogPage]: 'Get Log Page',
  [AdminOpc.Identify]: 'Identify',
  [AdminOpc.Abort]: 'Abort',
  [AdminOpc.SetFeatures]: 'Set Features',
  [AdminOpc.GetFeatures]: 'Get Features',
  [AdminOpc.AsyncEventRequest]: 'Asynchronous Event Request',
  [AdminOpc.KeepAlive]: 'Keep Alive',
};
const IO_NAMES: Readonly<Record<number, string>> = {
  [IoOpc.Flush]: 'Flush',
  [IoOpc.Write]: 'Write',
  [IoOpc.Read]: 'Read',
  [IoOpc.WriteZeroes]: 'Write Zeroes',
  [IoOpc.DatasetMgmt]: 'Dataset Management',
};
const FABRICS_NAMES: Readonly<Record<number, string>> = {
  [FabricsType.PropertySet]: 'Property Set',
  [FabricsType.Connect]: 'Connect',
  [FabricsType.PropertyGet]: 'Property Get',
};

export function commandName(sqe: Buffer, qid: number): string {
  const opc = sqe[SqeOff.OPC];
  if (opc === AdminOpc.Fabrics) return FABRICS_NAMES[sqe[4]] ?? `Fabrics 0x${sqe[4].toString(16)}`;
  const name = qid === 0 ? ADMIN_NAMES[opc] : IO_NAMES[opc];
  return name ?? `opcode 0x${opc.toString(16)}`;
}
