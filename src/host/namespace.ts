// Block API of one namespace. Arguments are checked against the namespace before
// anything is sent (InvalidArgumentError); transfers larger than the controller's
// limit (2^MDTS pages, at most 4 MiB, and 65536 blocks) are split into several
// commands that run in parallel.
import { IoOpc } from '../protocol/constants.ts';
import { InvalidArgumentError, NamespaceGoneError, UnsupportedError } from '../protocol/errors.ts';
import { Oncs } from '../protocol/identify.ts';
import {
  buildDsmSqe,
  buildFlushSqe,
  buildRwSqe,
  buildWriteZeroesSqe,
  DSM_MAX_RANGES,
  DSM_PAYLOAD_LEN,
  DsmAttr,
  encodeDsmRanges,
  NLB_MAX,
  writeRwSqe,
} from '../protocol/admin.ts';
import { IoOpIndex, IoStats } from '../stats/io.ts';
import { DataDir, HostCommand } from './request.ts';

/**
 * Completion callback of the callback API: `err` is undefined on success, else the
 * same typed error the promise API would reject with; `arg` is what was passed in.
 */
export type IoDone<A> = (err: Error | undefined, arg: A) => void;

/**
 * A Read/Write command reused across I/Os (its SQE buffer too): it goes back to its
 * namespace's pool as it settles, before its callback runs, so an I/O submitted from
 * the callback takes it again. Nothing per I/O is allocated on this path.
 */
class PooledCommand extends HostCommand {
  done: IoDone<unknown> = noop;
  arg: unknown = undefined;
  /** Inside submit(): a command refused at once (no live queue) calls back on the next tick, never from within the call. */
  submitting = false;
  /** Submission time (performance.now(), ms) and kind (IoOpIndex) of the I/O, for the namespace's I/O stats. */
  t0 = 0;
  op = 0;

  constructor(
    private readonly pool: PooledCommand[],
    private readonly io: IoStats,
  ) {
    super(Buffer.alloc(64), undefined, DataDir.None, 0);
    this.resolve = () => this.settle(undefined);
    this.reject = (e: Error) => this.settle(e);
  }

  private settle(err: Error | undefined): void {
    this.io.record(this.op, this.data?.length ?? 0, err === undefined, (performance.now() - this.t0) / 1000);
    const done = this.done;
    const arg = this.arg;
    this.done = noop;
    this.arg = undefined;
    this.pool.push(this);
    if (this.submitting) process.nextTick(callBack, done, err, arg);
    else callBack(done, err, arg);
  }
}

function noop(): void {}

/**
 * Runs a completion callback. It runs inside the receive path (the queue's state is
 * consistent by then, but the socket read is not finished): an exception it throws is
 * re-thrown on the next tick, as an uncaught exception of its own, instead of
 * unwinding through the receiver.
 */
function callBack<A>(done: IoDone<A>, err: Error | undefined, arg: A): void {
  try {
    done(err, arg);
  } catch (e) {
    process.nextTick(() => {
      throw e;
    });
  }
}

export interface NamespaceInfo {
  nsid: number;
  /** Bytes per logical block. */
  lbaSize: number;
  /** Size in logical blocks (NSZE). */
  nlba: number;
  /** Logical blocks in use (NUSE), as identified at connect. */
  nuse: number;
  /** Metadata bytes per logical block (MS of the LBA format in use). */
  ms: number;
  bytes: number;
}

/** What a namespace needs from its controller. */
export interface IoPath {
  readonly cntlid: number;
  /** Largest transfer of one command, in bytes. */
  readonly maxXfer: number;
  /** Identify VWC bit 0: without a volatile write cache a Flush has nothing to do (it completes here, as on Linux). */
  readonly volatileWriteCache: boolean;
  /** Identify ONCS: Write Zeroes and Dataset Management are sent only when it lists them. */
  readonly oncs: number;
  readonly ioTimeoutMs: number;
  submitIo(cmd: HostCommand): Promise<HostCommand>;
  /** Starts a command whose resolve/reject are set; exactly one of them is called once. */
  startIo(cmd: HostCommand): void;
}

export interface LbaRange {
  slba: number;
  nlb: number;
}

const NLB32_MAX = 0xffff_ffff;

export class Namespace implements NamespaceInfo {
  readonly nsid: number;
  readonly lbaSize: number;
  /** Size in blocks: updated by a rescan (a resized namespace), and every bounds check uses it. */
  nlba: number;
  nuse: number;
  readonly ms: number;
  bytes: number;
  /** A rescan found the namespace no longer active: every call fails with NamespaceGoneError. */
  private gone = false;

  /** Commands, bytes, errors and latency of the reads and writes of this namespace (labels as given). */
  readonly stats: IoStats;
  private readonly pool: PooledCommand[] = [];

  constructor(
    private readonly io: IoPath,
    info: NamespaceInfo,
    labels: Readonly<Record<string, string>> = { namespace: String(info.nsid) },
  ) {
    this.stats = new IoStats(labels);
    this.nsid = info.nsid;
    this.lbaSize = info.lbaSize;
    this.nlba = info.nlba;
    this.nuse = info.nuse;
    this.ms = info.ms;
    this.bytes = info.bytes;
  }

  /** A rescan found a new size (the controller's rescan calls this). */
  resized(info: NamespaceInfo): void {
    this.nlba = info.nlba;
    this.nuse = info.nuse;
    this.bytes = info.bytes;
  }

  /** A rescan found the namespace gone (the controller's rescan calls this). */
  removed(): void {
    this.gone = true;
  }

  /** False once a rescan found the namespace removed. */
  get active(): boolean {
    return !this.gone;
  }

  // read/readInto/write are not async functions: one promise per call, settled by the
  // queue itself (no await frames in between); argument errors still reject.

  /** Reads nlb blocks from slba into a new buffer. */
  read(slba: number, nlb: number): Promise<Buffer> {
    try {
      this.checkRange('read', slba, nlb);
    } catch (e) {
      return Promise.reject(e);
    }
    const buf = Buffer.allocUnsafe(nlb * this.lbaSize);
    return this.rw(IoOpc.Read, slba, buf, buf);
  }

  /** Reads buf.length bytes (a multiple of the block size) from slba into buf. */
  readInto(slba: number, buf: Uint8Array): Promise<Buffer> {
    let b: Buffer;
    try {
      b = this.checkBuf('readInto', slba, buf);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.rw(IoOpc.Read, slba, b, b);
  }

  /** Writes buf (a multiple of the block size) at slba. The buffer must stay unchanged until this settles. */
  write(slba: number, buf: Uint8Array): Promise<void> {
    let b: Buffer;
    try {
      b = this.checkBuf('write', slba, buf);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.rw(IoOpc.Write, slba, b, undefined);
  }

  /**
   * Callback form of readInto, for hot loops (SPDK's habit): no promise, and no object
   * allocated per I/O. `done(err, arg)` runs once, always after this call has returned
   * (from the receive path, or on the next tick when no queue is up); a bad argument
   * throws (InvalidArgumentError) before anything is sent.
   */
  submitRead<A>(slba: number, buf: Uint8Array, done: IoDone<A>, arg: A): void {
    this.submit(IoOpc.Read, this.checkBuf('submitRead', slba, buf), slba, done, arg);
  }

  /** Callback form of write (see submitRead). The buffer must stay unchanged until `done` runs. */
  submitWrite<A>(slba: number, buf: Uint8Array, done: IoDone<A>, arg: A): void {
    this.submit(IoOpc.Write, this.checkBuf('submitWrite', slba, buf), slba, done, arg);
  }

  /** Flush; without a volatile write cache (Identify VWC 0) it completes at once, nothing is sent (as on Linux). */
  async flush(): Promise<void> {
    this.checkActive('flush');
    if (!this.io.volatileWriteCache) return;
    await this.io.submitIo(this.cmd(buildFlushSqe({ cid: 0, nsid: this.nsid })));
  }

  /** Write Zeroes; UnsupportedError, before anything is sent, when the controller's ONCS does not list it. */
  async writeZeroes(slba: number, nlb: number, opts: { deac?: boolean } = {}): Promise<void> {
    this.checkRange('writeZeroes', slba, nlb);
    this.checkOncs('writeZeroes', Oncs.WriteZeroes, 'Write Zeroes (ONCS bit 3)');
    const ps: Promise<HostCommand>[] = [];
    for (let done = 0; done < nlb; ) {
      const n = Math.min(nlb - done, NLB_MAX);
      const sqe = buildWriteZeroesSqe({ cid: 0, nsid: this.nsid, slba: slba + done, nlb: n, deac: opts.deac });
      ps.push(this.io.submitIo(this.cmd(sqe)));
      done += n;
    }
    await Promise.all(ps);
  }

  /**
   * Dataset Management with the Deallocate attribute, 256 ranges per command (4096-byte
   * payload, as Linux sends); UnsupportedError when the controller's ONCS does not list it.
   */
  async deallocate(ranges: readonly LbaRange[]): Promise<void> {
    if (!Array.isArray(ranges) || ranges.length === 0) throw new InvalidArgumentError('deallocate: no ranges');
    this.checkOncs('deallocate', Oncs.Dsm, 'Dataset Management (ONCS bit 2)');
    for (const r of ranges) {
      this.checkRange('deallocate', r.slba, r.nlb);
      if (r.nlb > NLB32_MAX) throw new InvalidArgumentError(`deallocate: nlb ${r.nlb} exceeds a DSM range`);
    }
    const ps: Promise<HostCommand>[] = [];
    for (let i = 0; i < ranges.length; i += DSM_MAX_RANGES) {
      const part = ranges.slice(i, i + DSM_MAX_RANGES);
      const sqe = buildDsmSqe({ cid: 0, nsid: this.nsid, nr: part.length, attr: DsmAttr.AD, len: DSM_PAYLOAD_LEN });
      ps.push(this.io.submitIo(this.cmd(sqe, encodeDsmRanges(part), DataDir.H2C)));
    }
    await Promise.all(ps);
  }

  // ------------------------------------------------------------ internals

  private cmd(sqe: Buffer, data?: Buffer, dir: DataDir = DataDir.None): HostCommand {
    return new HostCommand(sqe, data, dir, this.io.ioTimeoutMs);
  }

  /** One command per chunk of at most maxXfer bytes (and NLB_MAX blocks); resolves with `value`. */
  private rw<T>(opc: number, slba: number, buf: Buffer, value: T): Promise<T> {
    const lbas = buf.length / this.lbaSize;
    const per = this.lbasPerCommand();
    const dir = opc === IoOpc.Read ? DataDir.C2H : DataDir.H2C;
    if (lbas <= per) {
      return new Promise<T>((resolve, reject) => {
        const cmd = this.rwCmd(opc, dir, slba, lbas, buf);
        const op = opc === IoOpc.Read ? IoOpIndex.read : IoOpIndex.write;
        const t0 = performance.now();
        cmd.resolve = () => {
          this.stats.record(op, buf.length, true, (performance.now() - t0) / 1000);
          resolve(value);
        };
        cmd.reject = (e: Error) => {
          this.stats.record(op, 0, false, (performance.now() - t0) / 1000);
          reject(e);
        };
        this.io.startIo(cmd);
      });
    }
    const ps: Promise<HostCommand>[] = [];
    const t0 = performance.now();
    try {
      for (let done = 0; done < lbas; done += per) {
        const n = Math.min(per, lbas - done);
        const part = buf.subarray(done * this.lbaSize, (done + n) * this.lbaSize);
        ps.push(this.io.submitIo(this.rwCmd(opc, dir, slba + done, n, part)));
      }
    } catch (e) {
      return Promise.reject(e);
    }
    // A split transfer counts as one I/O of its whole length, as its caller sees it.
    const op = opc === IoOpc.Read ? IoOpIndex.read : IoOpIndex.write;
    return Promise.all(ps).then(
      () => {
        this.stats.record(op, buf.length, true, (performance.now() - t0) / 1000);
        return value;
      },
      (e: unknown) => {
        this.stats.record(op, 0, false, (performance.now() - t0) / 1000);
        throw e;
      },
    );
  }

  private submit<A>(opc: number, buf: Buffer, slba: number, done: IoDone<A>, arg: A): void {
    const lbas = buf.length / this.lbaSize;
    if (lbas > this.lbasPerCommand()) {
      // Split transfers take the promise path (one callback once every part settled).
      this.rw(opc, slba, buf, undefined).then(
        () => callBack(done, undefined, arg),
        (e: Error) => callBack(done, e, arg),
      );
      return;
    }
    const cmd = this.pool.pop() ?? new PooledCommand(this.pool, this.stats);
    const dir = opc === IoOpc.Read ? DataDir.C2H : DataDir.H2C;
    cmd.op = opc === IoOpc.Read ? IoOpIndex.read : IoOpIndex.write;
    cmd.t0 = performance.now();
    cmd.reuse(buf, dir, this.io.ioTimeoutMs);
    writeRwSqe(cmd.sqe, opc, this.nsid, slba, lbas, buf.length, false, false);
    cmd.done = done as IoDone<unknown>;
    cmd.arg = arg;
    cmd.submitting = true;
    this.io.startIo(cmd);
    cmd.submitting = false;
  }

  /** Blocks one command may carry: the controller's transfer limit, at most NLB_MAX. */
  private lbasPerCommand(): number {
    return Math.max(1, Math.min(NLB_MAX, Math.floor(this.io.maxXfer / this.lbaSize)));
  }

  private rwCmd(opc: number, dir: DataDir, slba: number, nlb: number, buf: Buffer): HostCommand {
    const sqe = buildRwSqe({ cid: 0, opc, nsid: this.nsid, slba, nlb, len: buf.length, inCapsule: false });
    return new HostCommand(sqe, buf, dir, this.io.ioTimeoutMs);
  }

  private checkActive(what: string): void {
    if (this.gone) {
      throw new NamespaceGoneError(`${what}: namespace ${this.nsid} is no longer active on controller ${this.io.cntlid}`, this.nsid);
    }
  }

  private checkOncs(what: string, bit: number, name: string): void {
    if ((this.io.oncs & bit) === 0) throw new UnsupportedError(`${what}: controller ${this.io.cntlid} does not support ${name}`);
  }

  private checkRange(what: string, slba: number, nlb: number): void {
    this.checkActive(what);
    if (!Number.isSafeInteger(slba) || slba < 0) throw new InvalidArgumentError(`${what}: slba ${slba} is not a block number`);
    if (!Number.isSafeInteger(nlb) || nlb < 1) throw new InvalidArgumentError(`${what}: nlb ${nlb} is not a block count ≥ 1`);
    if (slba + nlb > this.nlba) {
      throw new InvalidArgumentError(
        `${what}: blocks ${slba}..${slba + nlb - 1} beyond the end of namespace ${this.nsid} (${this.nlba} blocks)`,
      );
    }
  }

  private checkBuf(what: string, slba: number, buf: Uint8Array): Buffer {
    if (!(buf instanceof Uint8Array)) throw new InvalidArgumentError(`${what}: expected a Buffer`);
    if (buf.length === 0 || buf.length % this.lbaSize !== 0) {
      throw new InvalidArgumentError(`${what}: length ${buf.length} is not a non-zero multiple of ${this.lbaSize}`);
    }
    this.checkRange(what, slba, buf.length / this.lbaSize);
    return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  }
}
