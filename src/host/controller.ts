// The host controller: connects the admin queue and the I/O queues the way the
// Linux host does (drivers/nvme/host/core.c nvme_enable_ctrl / nvme_wait_ready,
// drivers/nvme/host/tcp.c nvme_tcp_setup_ctrl), keeps the association alive
// with Keep Alive every KATO/2, scans the namespaces, routes block I/O to the I/O
// queues, and shuts the controller down cleanly (CC.SHN, CSTS.SHST).
//
// Error recovery, as nvme_tcp_error_recovery_work / nvme_tcp_reconnect_ctrl_work:
//   live --(queue error: socket error, TermReq, keep-alive or command timeout)-->
//   resetting (keep-alive stops, every queue is torn down; the commands they held
//   wait) --> connecting (a new association, the whole connect sequence below, every
//   reconnectDelayMs) --> live (the waiting commands are resent). ctrlLossTmoMs after
//   the error, or at a Connect refused with DNR, the controller is lost: everything
//   waiting fails with ControllerLostError. disconnect() from any state: deleting.
//
// Connect sequence:
//   TCP + ICReq/ICResp → Connect (qid 0, sqsize 31, KATO, CNTLID 0xFFFF) →
//   Property Get CAP → Property Set CC = 0x00460000 → CC.EN = 1 → poll CSTS.RDY
//   (bounded by CAP.TO) → Property Get VS → Identify Controller → Set Features
//   Number of Queues → one TCP connection + Connect per I/O queue (KATO 0, the
//   admin CNTLID) → Identify active NS list → Identify Namespace for each →
//   Set Features Async Event Configuration + one AER outstanding (host/aer.ts).
//
// Events: 'nsChanged' (NSIDs), 'rescan' (RescanResult), 'aen' (AsyncEvent); see aer.ts.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdminOpc, Cc, Cns, Csts, NQN_DISCOVERY, Prop } from '../protocol/constants.ts';
import {
  ConnectionError,
  ControllerLostError,
  FastIoFailError,
  InvalidArgumentError,
  NegotiationError,
  NvmeStatusError,
  TimeoutError,
} from '../protocol/errors.ts';
import {
  flbasIndex,
  type IdentifyController,
  lbaSizeOf,
  NS_LIST_MAX,
  parseActiveNsList,
  parseIdentifyController,
  parseIdentifyNamespace,
  VWC_PRESENT,
} from '../protocol/identify.ts';
import { parseDhchapKey } from '../protocol/dhchap.ts';
import { AdminClient, fabricsConnect } from './admin.ts';
import { type AsyncEvent, AsyncEvents, type RescanResult } from './aer.ts';
import { authenticateQueue } from './auth.ts';
import { type IoPath, Namespace, type NamespaceInfo } from './namespace.ts';
import { type ConnectOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import { BusyPoller } from '../transport/poller.ts';
import { type DigestChecks, HostQueue, MAX_XFER, type QueueOwner } from './queue.ts';
import type { HostCommand } from './request.ts';

const ADMIN_SQSIZE = 31;
/** CC before enabling (0x00460000): IOCQES 4, IOSQES 6; SHN 0, AMS round robin, MPS 0 (4 KiB), CSS NVM all zero. */
const CC_ENABLE_BASE = Cc.IOCQES_16 | Cc.IOSQES_64;
const SHUTDOWN_TIMEOUT_MIN_MS = 5000;
const SHUTDOWN_TIMEOUT_MAX_MS = 60_000;
/** A command the controller fails without DNR is sent again at most this often (the kernel's nvme_core.max_retries). */
export const MAX_RETRIES = 5;

/**
 * Where the controller stands (the Linux host's states): `connecting` (first connect,
 * or between reconnect attempts), `live`, `resetting` (tearing an association down
 * after an error), `deleting` (disconnect() under way), `deleted`, `lost` (recovery
 * gave up).
 */
export type ControllerState = 'connecting' | 'live' | 'resetting' | 'deleting' | 'deleted' | 'lost';

/** Error recovery started, or an attempt failed: the next attempt starts in delayMs. */
export interface ReconnectingEvent {
  /** Number of the attempt to come (1 for the first after an error). */
  attempt: number;
  delayMs: number;
  /** What started the recovery (first event) or why the last attempt failed. */
  error: Error;
}

export interface ReconnectedEvent {
  /** Attempts this recovery took. */
  attempts: number;
  /** From the error to the new association being live. */
  durationMs: number;
  /** Commands resent on the new association. */
  resent: number;
}

export interface LostEvent {
  attempts: number;
  durationMs: number;
  error: ControllerLostError;
}

export interface ControllerEvents {
  reconnecting: [ReconnectingEvent];
  reconnected: [ReconnectedEvent];
  lost: [LostEvent];
  /** Namespace Attribute Changed: the NSIDs of the Changed Namespace List (host/aer.ts). */
  nsChanged: [number[]];
  /** The rescan that followed it. */
  rescan: [RescanResult];
  /** Any other asynchronous event. */
  aen: [AsyncEvent];
}

/** Error recovery so far (monotonic over the controller's life). */
export interface RecoveryStats {
  /** Associations torn down after an error. */
  resets: number;
  /** Reconnect attempts made. */
  attempts: number;
  /** Recoveries that ended live again. */
  reconnects: number;
  /** Commands cut off by a reset that waited for a new association. */
  requeued: number;
  /** Commands sent again after an error status without DNR. */
  retried: number;
  /** Time spent not live after an error (ms), the current outage included. */
  reconnectingMs: number;
}

export class NvmeController extends EventEmitter<ControllerEvents> implements IoPath, QueueOwner {
  readonly ioTimeoutMs: number;

  private readonly o: ResolvedOptions;
  private st: ControllerState = 'connecting';
  /** The association's admin queue and what its Connect and registers said. */
  private admin: AdminClient | undefined;
  private ctrlId = 0xffff;
  private capReg = 0n;
  private vsReg = 0;
  private io: HostQueue[] = [];
  /** Bumped at every teardown: an attempt that sees it change was superseded. */
  private gen = 0;
  private id: IdentifyController | undefined;
  private nsInfo: NamespaceInfo[] = [];
  private readonly nsCache = new Map<number, Namespace>();
  private rr = 0;
  private kaTimer: NodeJS.Timeout | undefined;
  private kaBusy = false;
  private closed: Promise<void> | undefined;
  private failure: Error | undefined;
  /** CSTS.SHST seen at the end of disconnect(): 2 = shutdown complete. */
  private shst = -1;
  private xferMax = MAX_XFER;
  /** Busy poller while small I/O is outstanding (ConnectOptions.poll, POLL_MAX_IO). */
  private readonly poller: BusyPoller | undefined;
  /** The outstanding AER and what its events start (rescan). */
  private readonly aen = new AsyncEvents({
    rescan: () => this.rescan(),
    emit: (event: 'nsChanged' | 'rescan' | 'aen', arg: unknown) => {
      // Off the receive path: a listener that throws is the application's own uncaught exception.
      process.nextTick(() => (this.emit as (e: string, a: unknown) => boolean)(event, arg));
    },
    warn: (message) => process.emitWarning(`nvmeotcp host: controller ${this.cntlid}: ${message}`),
  });

  // ---- error recovery ----
  /** Commands waiting for the next association, in the order they were cut off or submitted. */
  private parked: HostCommand[] = [];
  private recoveryStart = 0;
  private attemptsNow = 0;
  private attemptTimer: NodeJS.Timeout | undefined;
  private lossTimer: NodeJS.Timeout | undefined;
  private fastFailTimer: NodeJS.Timeout | undefined;
  private fastFailed: FastIoFailError | undefined;
  private lostError: ControllerLostError | undefined;
  private readonly rstats: RecoveryStats = { resets: 0, attempts: 0, reconnects: 0, requeued: 0, retried: 0, reconnectingMs: 0 };
  /** The admin queue's owner: its commands (Connect, Identify, Keep Alive...) fail as they are. */
  private readonly adminOwner: QueueOwner = {
    queueDown: (q, err) => this.queueDown(q, err),
    commandFailed: (cmd, err) => cmd.reject(err),
  };

  private constructor(o: ResolvedOptions) {
    super();
    this.o = o;
    this.ioTimeoutMs = o.ioTimeoutMs;
    this.poller = o.poll ? new BusyPoller(() => this.smallIoOutstanding()) : undefined;
  }

  /** True while the event loop is being busy-polled for this controller's I/O. */
  get polling(): boolean {
    return this.poller?.polling === true;
  }

  /** Busy polling runs while these are outstanding (POLL_MAX_IO). */
  private smallIoOutstanding(): boolean {
    const qs = this.io;
    for (let i = 0; i < qs.length; i++) if (qs[i].smallLoad > 0) return true;
    return false;
  }

  /** Connects, enables and identifies a controller; resolves once its namespaces are known. */
  static async connect(opts: ConnectOptions): Promise<NvmeController> {
    const ctrl = new NvmeController(resolveOptions(opts));
    try {
      await ctrl.associate(true);
    } catch (e) {
      ctrl.st = 'deleted';
      ctrl.teardown(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
    ctrl.established(true);
    return ctrl;
  }

  // ------------------------------------------------------------ public API

  /** Controller ID of the current association (a reconnect may get another). */
  get cntlid(): number {
    return this.ctrlId;
  }

  /** Controller Capabilities (CAP) as read at the last connect. */
  get cap(): bigint {
    return this.capReg;
  }

  /** Version (VS). */
  get vs(): number {
    return this.vsReg;
  }

  get state(): ControllerState {
    return this.st;
  }

  get identify(): IdentifyController {
    return this.id!;
  }

  get namespaces(): readonly NamespaceInfo[] {
    return this.nsInfo;
  }

  /** Largest transfer of one command: 2^MDTS pages, at most 4 MiB. */
  get maxXfer(): number {
    return this.xferMax;
  }

  /** Identify VWC bit 0: the controller has a volatile write cache (otherwise Flush completes on the host). */
  get volatileWriteCache(): boolean {
    return ((this.id?.vwc ?? 0) & VWC_PRESENT) !== 0;
  }

  /** Identify ONCS: optional NVM commands the controller supports. */
  get oncs(): number {
    return this.id?.oncs ?? 0;
  }

  /** Number of connected I/O queues. */
  get ioQueueCount(): number {
    return this.io.length;
  }

  /** Error recovery counts so far (a new object). */
  get recovery(): RecoveryStats {
    const r = { ...this.rstats };
    if (this.st === 'resetting' || this.st === 'connecting') {
      if (this.recoveryStart > 0) r.reconnectingMs += performance.now() - this.recoveryStart;
    }
    return r;
  }

  /** Received data digests over the I/O queues so far, by who verified them (the device or the host). */
  dataDigestChecks(): DigestChecks {
    const sum: DigestChecks = { device: 0, software: 0 };
    for (const q of this.io) {
      sum.device += q.ddgstChecks.device;
      sum.software += q.ddgstChecks.software;
    }
    return sum;
  }

  /** Socket writes (batches of PDUs) the I/O queues have made so far. */
  ioWriteBatches(): number {
    let n = 0;
    for (const q of this.io) n += q.writeBatches;
    return n;
  }

  /** CSTS.SHST read at the end of disconnect() (2 = shutdown complete), -1 before. */
  get shutdownStatus(): number {
    return this.shst;
  }

  /** Why the controller is not live (the error that started recovery, or ControllerLostError), undefined while healthy. */
  get error(): Error | undefined {
    return this.st === 'live' ? undefined : (this.lostError ?? this.failure);
  }

  namespace(nsid: number): Namespace {
    let ns = this.nsCache.get(nsid);
    if (ns !== undefined) return ns;
    const info = this.nsInfo.find((n) => n.nsid === nsid);
    if (info === undefined) throw new InvalidArgumentError(`namespace ${nsid} is not active on controller ${this.cntlid}`);
    ns = new Namespace(this, info, { subsystem: this.o.subnqn, namespace: String(nsid) });
    this.nsCache.set(nsid, ns);
    return ns;
  }

  /**
   * Shuts the controller down: when live, waits for outstanding I/O, sets CC.SHN = 1
   * and polls CSTS until SHST = 2 (bounded by RTD3E, 5..60 s), then closes every
   * queue; while reconnecting, stops and fails what waits. With `timeoutMs`, resolves
   * within about that long whatever the target does: what is still outstanding then
   * fails and the queues are dropped.
   */
  disconnect(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closed === undefined) {
      this.aen.stop();
      this.closed = this.shutdown();
    }
    const ms = opts.timeoutMs;
    if (ms === undefined) return this.closed;
    const done = this.closed;
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => this.teardown(new ConnectionError(`controller ${this.cntlid}: disconnect took over ${ms} ms`)), ms);
      void done.then(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private async shutdown(): Promise<void> {
    const wasLive = this.st === 'live';
    this.st = 'deleting';
    // A reconnect attempt under way is superseded: a queue it opens from now on is dropped.
    if (!wasLive) this.gen++;
    this.stopRecovery();
    this.failParked(new ConnectionError(`controller ${this.cntlid} is disconnected`, { cause: this.error }));
    this.stopKeepAlive();
    if (wasLive) {
      await Promise.all(this.io.map((q) => q.idle()));
      const a = this.admin;
      if (a?.q.live) {
        try {
          const rtd3eMs = Math.ceil((this.id?.rtd3e ?? 0) / 1000);
          const bound = Math.min(SHUTDOWN_TIMEOUT_MAX_MS, Math.max(SHUTDOWN_TIMEOUT_MIN_MS, rtd3eMs));
          await a.propSet(Prop.CC, CC_ENABLE_BASE | Cc.EN | Cc.SHN_NORMAL);
          const deadline = performance.now() + bound;
          for (;;) {
            const csts = await a.propGet32(Prop.CSTS);
            this.shst = (csts & Csts.SHST_MASK) >> Csts.SHST_SHIFT;
            if ((csts & Csts.SHST_MASK) === Csts.SHST_COMPLETE || performance.now() > deadline) break;
            await sleep(1);
          }
        } catch {
          // The controller is going away either way; closing the queues is all that is left.
        }
      }
    }
    const qs: HostQueue[] = [...this.io];
    if (this.admin !== undefined) qs.push(this.admin.q);
    await Promise.all(qs.map((q) => q.close()));
    this.st = 'deleted';
  }

  /** Get Log Page on the admin queue (the discovery log, SMART...). */
  getLogPage(lid: number, len: number, offset = 0, opts: { nsid?: number; rae?: boolean } = {}): Promise<Buffer> {
    const a = this.liveAdmin();
    if (a instanceof Error) return Promise.reject(a);
    return a.getLogPage(lid, len, offset, opts.nsid ?? 0, opts.rae ?? false);
  }

  /** The admin client while live; else the error an admin command fails with (admin commands do not wait for a reconnect). */
  private liveAdmin(): AdminClient | Error {
    if (this.st === 'live' && this.admin !== undefined) return this.admin;
    return this.lostError ?? new ConnectionError(`controller ${this.cntlid} is ${this.st}`, { cause: this.failure });
  }

  /**
   * Authenticates every live queue again (DH-HMAC-CHAP), with new secrets when given,
   * as writing Linux's dhchap_secret / dhchap_ctrl_secret does. The new secrets are
   * kept for later queues and reconnects. Rejects with AuthenticationError when a
   * queue fails; the controller then refuses that queue's commands.
   */
  async reauthenticate(secrets: { dhchapSecret?: string; dhchapCtrlSecret?: string } = {}): Promise<void> {
    const cur = this.o.auth;
    const hostKey = secrets.dhchapSecret === undefined ? cur?.hostKey : parseDhchapKey(secrets.dhchapSecret, 'dhchapSecret');
    if (hostKey === undefined) throw new InvalidArgumentError('reauthenticate: the controller was connected without a DH-HMAC-CHAP secret');
    const ctrlKey = secrets.dhchapCtrlSecret === undefined ? cur?.ctrlKey : parseDhchapKey(secrets.dhchapCtrlSecret, 'dhchapCtrlSecret');
    const auth = { hostKey, ctrlKey };
    this.o.auth = auth;
    const nqn = { host: this.o.hostnqn, subsys: this.o.subnqn };
    const a = this.liveAdmin();
    if (a instanceof Error) throw a;
    const qs = [a.q, ...this.io].filter((q) => q.live);
    await Promise.all(qs.map((q) => authenticateQueue(q, auth, nqn, this.o.ioTimeoutMs)));
  }

  // ------------------------------------------------------------ I/O routing (IoPath)

  submitIo(cmd: HostCommand): Promise<HostCommand> {
    return new Promise<HostCommand>((resolve, reject) => {
      cmd.resolve = resolve;
      cmd.reject = reject;
      this.startIo(cmd);
    });
  }

  startIo(cmd: HostCommand): void {
    if (this.st === 'live') {
      const q = this.pickQueue();
      if (q !== undefined) {
        q.start(cmd);
        this.poller?.kick();
        return;
      }
    }
    if (this.st === 'resetting' || this.st === 'connecting') {
      if (this.fastFailed !== undefined) cmd.reject(this.fastFailed);
      else this.parked.push(cmd);
      return;
    }
    cmd.reject(
      this.lostError ??
        new ConnectionError(
          this.st === 'live' ? `controller ${this.cntlid} has no live I/O queue` : `controller ${this.cntlid} is disconnected`,
          { cause: this.failure },
        ),
    );
  }

  private pickQueue(): HostQueue | undefined {
    const qs = this.io;
    const n = qs.length;
    if (this.o.leastLoaded) {
      let best: HostQueue | undefined;
      for (const q of qs) if (q.live && (best === undefined || q.load < best.load)) best = q;
      return best;
    }
    for (let i = 0; i < n; i++) {
      const q = qs[this.rr++ % n];
      if (q.live) return q;
    }
    return undefined;
  }

  // ------------------------------------------------------------ QueueOwner (I/O queues)

  /**
   * An I/O command failed. An error status without DNR is retried (at most
   * MAX_RETRIES times); a command cut off by a reset waits for the next association
   * (nvme_decide_disposition / nvmf_fail_nonready_command). A Connect belongs to the
   * association being built and fails as it is.
   */
  commandFailed(cmd: HostCommand, err: Error): void {
    if (cmd.opc === AdminOpc.Fabrics) {
      cmd.reject(err);
      return;
    }
    const recovering = this.st === 'resetting' || this.st === 'connecting';
    if (err instanceof NvmeStatusError) {
      if (err.dnr || cmd.retries >= MAX_RETRIES || !(this.st === 'live' || recovering)) {
        cmd.reject(err);
        return;
      }
      cmd.retries++;
      this.rstats.retried++;
      cmd.rearm();
      this.startIo(cmd);
      return;
    }
    if (recovering) {
      this.rstats.requeued++;
      cmd.rearm();
      this.startIo(cmd);
      return;
    }
    // Cut off by the failure that ended the controller (or by disconnect): that failure is the answer.
    cmd.reject(err);
  }

  queueDown(_q: HostQueue, err: Error): void {
    if (this.st === 'live') this.startRecovery(err);
  }

  // ------------------------------------------------------------ error recovery

  private startRecovery(err: Error): void {
    this.failure = err;
    this.recoveryStart = performance.now();
    this.attemptsNow = 0;
    this.rstats.resets++;
    if (this.o.ctrlLossTmoMs === 0) {
      // No reconnect: what the error cut off fails with it, as the queues go down.
      this.lose(err);
      return;
    }
    this.st = 'resetting';
    this.teardown(new ConnectionError(`controller ${this.cntlid}: queue torn down for error recovery`, { cause: err }));
    this.st = 'connecting';
    if (this.o.ctrlLossTmoMs > 0) {
      this.lossTimer = setTimeout(() => this.lose(this.failure ?? err), this.o.ctrlLossTmoMs);
    }
    if (this.o.fastIoFailTmoMs >= 0) this.fastFailTimer = setTimeout(this.fastFail, this.o.fastIoFailTmoMs);
    this.scheduleAttempt(err);
  }

  /** The next attempt in reconnectDelayMs, unless it would start after ctrlLossTmoMs. */
  private scheduleAttempt(err: Error): void {
    const delay = this.o.reconnectDelayMs;
    const tmo = this.o.ctrlLossTmoMs;
    if (tmo >= 0 && performance.now() + delay - this.recoveryStart > tmo) {
      this.lose(err);
      return;
    }
    this.attemptTimer = setTimeout(this.attempt, delay);
    this.emit('reconnecting', { attempt: this.attemptsNow + 1, delayMs: delay, error: err });
  }

  private readonly attempt = (): void => {
    this.attemptTimer = undefined;
    if (this.st !== 'connecting') return;
    this.attemptsNow++;
    this.rstats.attempts++;
    const gen = this.gen;
    this.associate(false).then(
      () => {
        if (gen === this.gen && this.st === 'connecting') this.established(false);
      },
      (e: unknown) => {
        if (gen !== this.gen || this.st !== 'connecting') return; // lost or disconnected meanwhile
        const err = e instanceof Error ? e : new Error(String(e));
        this.teardown(new ConnectionError(`controller ${this.cntlid}: reconnect attempt failed`, { cause: err }));
        // A Connect refused with DNR will be refused again (nvmf_should_reconnect).
        if (err instanceof NvmeStatusError && err.dnr) this.lose(err);
        else this.scheduleAttempt(err);
      },
    );
  };

  private readonly fastFail = (): void => {
    this.fastFailTimer = undefined;
    this.fastFailed = new FastIoFailError(
      `controller ${this.cntlid}: not reconnected within fast_io_fail_tmo (${this.o.fastIoFailTmoMs} ms)`,
      { cause: this.failure },
    );
    this.failParked(this.fastFailed);
  };

  /** Recovery gives up: every waiting command, and every later one, fails with ControllerLostError. */
  private lose(cause: Error): void {
    if (this.st === 'lost' || this.st === 'deleting' || this.st === 'deleted') return;
    this.st = 'lost';
    this.stopRecovery();
    const why =
      this.o.ctrlLossTmoMs === 0 ? 'reconnect is off' : cause instanceof NvmeStatusError ? 'Connect refused' : 'ctrl_loss_tmo expired';
    const lost = new ControllerLostError(`controller ${this.cntlid} lost (${why}): ${cause.message}`, { cause });
    this.lostError = lost;
    this.teardown(cause);
    this.failParked(lost);
    this.emit('lost', { attempts: this.attemptsNow, durationMs: performance.now() - this.recoveryStart, error: lost });
  }

  private stopRecovery(): void {
    clearTimeout(this.attemptTimer);
    clearTimeout(this.lossTimer);
    clearTimeout(this.fastFailTimer);
    this.attemptTimer = undefined;
    this.lossTimer = undefined;
    this.fastFailTimer = undefined;
    this.fastFailed = undefined;
  }

  private failParked(err: Error): void {
    const p = this.parked;
    this.parked = [];
    for (const cmd of p) cmd.reject(err);
  }

  /** Drops the association at once: keep-alive stops, every queue is aborted (its commands go to commandFailed). */
  private teardown(err: Error): void {
    this.gen++;
    this.stopKeepAlive();
    // The outstanding AER fails with its queue; the next association arms again.
    this.aen.stop();
    const qs = this.io;
    const a = this.admin;
    this.io = [];
    this.admin = undefined;
    for (const q of qs) q.abort(err);
    a?.q.abort(err);
  }

  /**
   * The association is up (first connect or reconnect). Per-association setup runs
   * here, after the queues and before any waiting command is resent.
   */
  private established(first: boolean): void {
    this.st = 'live';
    this.startKeepAlive();
    if (first) return;
    const durationMs = performance.now() - this.recoveryStart;
    this.stopRecovery();
    this.rstats.reconnects++;
    this.rstats.reconnectingMs += durationMs;
    this.recoveryStart = 0;
    this.failure = undefined;
    const p = this.parked;
    this.parked = [];
    for (const cmd of p) this.startIo(cmd);
    this.emit('reconnected', { attempts: this.attemptsNow, durationMs, resent: p.length });
  }

  // ------------------------------------------------------------ setup

  /**
   * One association: admin queue (Connect, CAP, CC.EN, CSTS.RDY, VS), Identify
   * Controller, Number of Queues, the I/O queues; at the first connect the
   * namespaces too. Each queue is owned by the controller as soon as it exists, so a
   * teardown meanwhile drops it; an attempt superseded by one fails.
   */
  private async associate(first: boolean): Promise<void> {
    const o = this.o;
    const gen = this.gen;
    const current = (q: HostQueue): HostQueue => {
      if (gen === this.gen) return q;
      q.abort(new ConnectionError('reconnect attempt superseded'));
      throw new ConnectionError(`controller ${this.cntlid}: reconnect attempt superseded`);
    };
    const adminQ = current(
      await HostQueue.open({
        qid: 0,
        host: o.host,
        port: o.port,
        hdgst: o.hdgst,
        ddgst: o.ddgst,
        sqsize: ADMIN_SQSIZE,
        connectTimeoutMs: o.connectTimeoutMs,
        tls: o.tls,
        owner: this.adminOwner,
      }),
    );
    const a = new AdminClient(adminQ, o.ioTimeoutMs);
    this.admin = a;
    adminQ.setTimeoutGranularity(Math.min(o.ioTimeoutMs, o.kato || Number.POSITIVE_INFINITY) / 4);
    const cntlid = await fabricsConnect(
      adminQ,
      {
        qid: 0,
        sqsize: ADMIN_SQSIZE,
        cattr: o.cattr,
        kato: o.kato,
        cntlid: 0xffff,
        hostid: o.hostid,
        subnqn: o.subnqn,
        hostnqn: o.hostnqn,
        auth: o.auth,
      },
      o.ioTimeoutMs,
    );
    const cap = await a.propGet(Prop.CAP, true);
    const mpsmin = Number((cap >> 48n) & 0xfn);
    if (mpsmin !== 0) throw new NegotiationError(`minimum memory page size 2^${12 + mpsmin} too large (CAP.MPSMIN ${mpsmin})`);
    await a.propSet(Prop.CC, CC_ENABLE_BASE);
    await a.propSet(Prop.CC, CC_ENABLE_BASE | Cc.EN);
    await waitReady(a, Number((cap >> 24n) & 0xffn));
    const vs = await a.propGet32(Prop.VS);
    this.ctrlId = cntlid;
    this.capReg = cap;
    this.vsReg = vs;
    // Keep-alive runs while the rest is set up (the controller counts KATO from Connect).
    this.startKeepAlive();
    const id = parseIdentifyController(await a.identify(Cns.Controller));
    this.id = id;
    checkIdentify(id, cntlid, o.discovery);
    if (o.discovery) {
      // AER hook: one AER outstanding on every association (discovery log changes here).
      await this.aen.arm(a, id.oaes);
      return;
    }

    const granted = await a.setNumQueues(o.nrIoQueues);
    const nq = Math.min(o.nrIoQueues, granted);
    const mqes = Number(cap & 0xffffn);
    let sqsize = Math.min(o.queueSize - 1, mqes);
    if (id.maxcmd > 0) sqsize = Math.min(sqsize, id.maxcmd - 1);
    const mdtsBytes = id.mdts === 0 ? MAX_XFER : 2 ** id.mdts * 4096;
    this.xferMax = Math.min(MAX_XFER, mdtsBytes);
    // With an offload device the largest I/O is what the device can place, as
    // nvme_tcp_ddp_apply_limits sets max_hw_sectors from max_ddp_sgl_len: every
    // large READ is split into commands the device can take.
    if (o.offload !== undefined && o.tls !== undefined) {
      // As nvme-tcp gives up the device when TLS is configured and !limits.tls: no
      // sk_add, nothing counted. Said once per controller (at its first connect).
      if (first)
        process.emitWarning(
          `nvmeotcp host: controller ${this.cntlid}: receive offload not attached: the NIC cannot place payload inside TLS records`,
          { code: 'NVMEOTCP_OFFLOAD_TLS' },
        );
    } else if (o.offload !== undefined) {
      const l = o.offload.limits();
      if (l.maxSgl > 0) this.xferMax = Math.min(this.xferMax, l.maxSgl * 4096);
      if (l.maxIoSize > 0) this.xferMax = Math.min(this.xferMax, l.maxIoSize);
    }

    const opened = await Promise.allSettled(
      Array.from({ length: nq }, (_, i) => this.openIoQueue(i + 1, sqsize, id.ioccsz * 16 - 64, gen)),
    );
    const bad = opened.find((r) => r.status === 'rejected');
    if (bad !== undefined) throw (bad as PromiseRejectedResult).reason;
    current(adminQ);
    // The namespaces: read at the first connect; after a reconnect re-read as a rescan
    // (as the Linux host scans again once live), so sizes and removals are seen.
    if (first) await this.scanNamespaces(id.nn);
    else await this.rescan();
    // AER hook: one AER outstanding on every association (first connect and reconnects).
    await this.aen.arm(a, id.oaes);
  }

  private async openIoQueue(qid: number, sqsize: number, icdMax: number, gen: number): Promise<HostQueue> {
    const o = this.o;
    const q = await HostQueue.open({
      qid,
      host: o.host,
      port: o.port,
      hdgst: o.hdgst,
      ddgst: o.ddgst,
      sqsize,
      connectTimeoutMs: o.connectTimeoutMs,
      offload: o.offload,
      tls: o.tls,
      owner: this,
    });
    if (gen !== this.gen) {
      q.abort(new ConnectionError('reconnect attempt superseded'));
      throw new ConnectionError(`controller ${this.cntlid}: reconnect attempt superseded`);
    }
    // Owned from here: a teardown aborts it, a failed Connect is aborted with the rest.
    this.io.push(q);
    q.setTimeoutGranularity(o.ioTimeoutMs / 4);
    q.icdMax = icdMax;
    const p = {
      qid,
      sqsize,
      cattr: o.cattr,
      kato: 0,
      cntlid: this.cntlid,
      hostid: o.hostid,
      subnqn: o.subnqn,
      hostnqn: o.hostnqn,
      auth: o.auth,
    };
    await fabricsConnect(q, p, o.ioTimeoutMs);
    // The target and subsystem, not the controller ID: the label stays the same across a reconnect.
    q.attachOffload(`${o.host}:${o.port}/${o.subnqn}`);
    return q;
  }

  /**
   * Re-reads the active namespace list and the size of every namespace (the AER does
   * on Namespace Attribute Changed; an application may too). Namespace objects follow:
   * a resized one checks I/O against its new size, a removed one fails every call with
   * NamespaceGoneError (a later one with the same NSID is a new Namespace object).
   */
  async rescan(): Promise<RescanResult> {
    const before = new Map(this.nsInfo.map((n) => [n.nsid, n]));
    await this.scanNamespaces(this.identify.nn);
    const r: RescanResult = { added: [], removed: [], resized: [] };
    const now = new Set<number>();
    for (const info of this.nsInfo) {
      now.add(info.nsid);
      const old = before.get(info.nsid);
      if (old === undefined) r.added.push(info.nsid);
      else if (old.lbaSize !== info.lbaSize) {
        // Reformatted: the old object's block numbers mean nothing any more.
        r.resized.push(info.nsid);
        this.nsCache.get(info.nsid)?.removed();
        this.nsCache.delete(info.nsid);
      } else if (old.nlba !== info.nlba) {
        r.resized.push(info.nsid);
        this.nsCache.get(info.nsid)?.resized(info);
      }
    }
    for (const nsid of before.keys()) {
      if (now.has(nsid)) continue;
      r.removed.push(nsid);
      this.nsCache.get(nsid)?.removed();
      this.nsCache.delete(nsid);
    }
    return r;
  }

  private async scanNamespaces(nn: number): Promise<void> {
    const a = this.admin!;
    let nsids: number[] = [];
    try {
      for (let after = 0; ; ) {
        const list = parseActiveNsList(await a.identify(Cns.ActiveNsList, after));
        nsids.push(...list);
        if (list.length < NS_LIST_MAX) break;
        after = list[list.length - 1];
      }
    } catch (e) {
      if (!(e instanceof NvmeStatusError)) throw e;
      // No active-namespace list (VS < 1.2): try every NSID up to NN, as Linux does.
      nsids = Array.from({ length: nn }, (_, i) => i + 1);
    }
    const out: NamespaceInfo[] = [];
    for (const nsid of nsids) {
      const ns = parseIdentifyNamespace(await a.identify(Cns.Namespace, nsid));
      if (ns.ncap === 0) continue; // not allocated
      const lbaSize = lbaSizeOf(ns);
      const ms = ns.lbaf[flbasIndex(ns.flbas)].ms;
      out.push({ nsid, lbaSize, nlba: ns.nsze, nuse: ns.nuse, ms, bytes: ns.nsze * lbaSize });
    }
    this.nsInfo = out;
  }

  // ------------------------------------------------------------ keep-alive

  private startKeepAlive(): void {
    if (this.o.kato === 0 || this.kaTimer !== undefined) return;
    this.kaTimer = setInterval(this.keepAliveTick, Math.max(1, Math.floor(this.o.kato / 2)));
    this.kaTimer.unref();
  }

  private stopKeepAlive(): void {
    clearInterval(this.kaTimer);
    this.kaTimer = undefined;
  }

  private readonly keepAliveTick = (): void => {
    const a = this.admin;
    if (this.kaBusy || a === undefined || !a.q.live) return;
    this.kaBusy = true;
    a.keepAlive(this.o.kato).then(this.keepAliveDone, this.keepAliveFailed);
  };

  private readonly keepAliveDone = (): void => {
    this.kaBusy = false;
  };

  /** A failed Keep Alive ends the association (the controller drops it too once KATO expires): error recovery. */
  private readonly keepAliveFailed = (e: Error): void => {
    this.kaBusy = false;
    if (this.st !== 'live') return;
    this.startRecovery(new ConnectionError(`controller ${this.cntlid}: keep-alive failed: ${e.message}`, { cause: e }));
  };
}

/** The Identify Controller checks of the Linux host (nvme_init_identify, nvme_tcp_setup_ctrl). */
function checkIdentify(id: IdentifyController, cntlid: number, discovery: boolean): void {
  const bad = (why: string): never => {
    throw new NegotiationError(`controller ${cntlid}: ${why}`);
  };
  if (id.cntlid !== cntlid) bad(`Identify CNTLID ${id.cntlid} differs from the Connect CNTLID`);
  if (discovery) {
    if (id.cntrltype !== 2 && id.subnqn !== NQN_DISCOVERY) bad('is not a discovery controller');
    return;
  }
  if (id.kas === 0) bad('keep-alive support (KAS) is mandatory for fabrics');
  if (id.ioccsz < 4) bad(`IOCCSZ ${id.ioccsz} < 4`);
  if (id.iorcsz < 1) bad(`IORCSZ ${id.iorcsz} < 1`);
  if (id.icdoff !== 0) bad(`ICDOFF ${id.icdoff} is not supported`);
  if ((id.sgls & 3) === 0) bad('mandatory SGLs are not supported');
}

/** Polls CSTS until RDY = 1; the bound is CAP.TO (500 ms units), as Linux computes it. */
async function waitReady(a: AdminClient, to: number): Promise<void> {
  const boundMs = (to + 1) * 500;
  const deadline = performance.now() + boundMs;
  for (;;) {
    const csts = await a.propGet32(Prop.CSTS);
    if (csts === 0xffff_ffff) throw new ConnectionError('CSTS reads 0xffffffff: controller gone');
    if (csts & Csts.CFS) throw new ConnectionError('controller fatal status (CSTS.CFS) while enabling');
    if (csts & Csts.RDY) return;
    if (performance.now() > deadline) throw new TimeoutError(`CSTS.RDY not set after ${boundMs} ms`, 'ready');
    await sleep(1);
  }
}
