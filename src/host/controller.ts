// The host controller: connects the admin queue and the I/O queues the way the
// Linux host does (drivers/nvme/host/core.c nvme_enable_ctrl / nvme_wait_ready,
// drivers/nvme/host/tcp.c nvme_tcp_setup_ctrl), keeps the association alive
// with Keep Alive every KATO/2, scans the namespaces, routes block I/O to the I/O
// queues, and shuts the controller down cleanly (CC.SHN, CSTS.SHST).
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
import { Cc, Cns, Csts, NQN_DISCOVERY, Prop } from '../protocol/constants.ts';
import { ConnectionError, InvalidArgumentError, NegotiationError, NvmeStatusError, TimeoutError } from '../protocol/errors.ts';
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
import { AsyncEvents, type RescanResult } from './aer.ts';
import { authenticateQueue } from './auth.ts';
import { type IoPath, Namespace, type NamespaceInfo } from './namespace.ts';
import { type ConnectOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import { BusyPoller } from '../transport/poller.ts';
import { type DigestChecks, HostQueue, MAX_XFER } from './queue.ts';
import type { HostCommand } from './request.ts';

const ADMIN_SQSIZE = 31;
/** CC before enabling (0x00460000): IOCQES 4, IOSQES 6; SHN 0, AMS round robin, MPS 0 (4 KiB), CSS NVM all zero. */
const CC_ENABLE_BASE = Cc.IOCQES_16 | Cc.IOSQES_64;
const SHUTDOWN_TIMEOUT_MIN_MS = 5000;
const SHUTDOWN_TIMEOUT_MAX_MS = 60_000;

export class NvmeController extends EventEmitter implements IoPath {
  readonly cntlid: number;
  /** Controller Capabilities (CAP) as read at connect. */
  readonly cap: bigint;
  /** Version (VS). */
  readonly vs: number;
  readonly ioTimeoutMs: number;

  private readonly o: ResolvedOptions;
  private readonly admin: AdminClient;
  private io: HostQueue[] = [];
  private id: IdentifyController | undefined;
  private nsInfo: NamespaceInfo[] = [];
  private readonly nsCache = new Map<number, Namespace>();
  private rr = 0;
  private kaTimer: NodeJS.Timeout | undefined;
  private kaBusy = false;
  private closing = false;
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
    emit: (event: string, arg: unknown) => {
      // Off the receive path: a listener that throws is the application's own uncaught exception.
      process.nextTick(() => this.emit(event, arg));
    },
    warn: (message) => process.emitWarning(`nvmeotcp host: controller ${this.cntlid}: ${message}`),
  });

  private constructor(o: ResolvedOptions, admin: HostQueue, cntlid: number, cap: bigint, vs: number) {
    super();
    this.o = o;
    this.admin = new AdminClient(admin, o.ioTimeoutMs);
    this.cntlid = cntlid;
    this.cap = cap;
    this.vs = vs;
    this.ioTimeoutMs = o.ioTimeoutMs;
    this.poller = o.poll ? new BusyPoller(() => this.smallIoOutstanding()) : undefined;
  }

  /** True while the event loop is being busy-polled for this controller's I/O. */
  get polling(): boolean {
    return this.poller?.polling === true;
  }

  /** Closes every queue, I/O and admin (FIN; anything outstanding fails). */
  private async closeQueues(): Promise<void> {
    await Promise.all([...this.io.map((q) => q.close()), this.admin.q.close()]);
  }

  /** Busy polling runs while these are outstanding (POLL_MAX_IO). */
  private smallIoOutstanding(): boolean {
    const qs = this.io;
    for (let i = 0; i < qs.length; i++) if (qs[i].smallLoad > 0) return true;
    return false;
  }

  /** Connects, enables and identifies a controller; resolves once its namespaces are known. */
  static async connect(opts: ConnectOptions): Promise<NvmeController> {
    const o = resolveOptions(opts);
    const admin = await HostQueue.open({
      qid: 0,
      host: o.host,
      port: o.port,
      hdgst: o.hdgst,
      ddgst: o.ddgst,
      sqsize: ADMIN_SQSIZE,
      connectTimeoutMs: o.connectTimeoutMs,
      tls: o.tls,
    });
    let ctrl: NvmeController | undefined;
    try {
      admin.setTimeoutGranularity(Math.min(o.ioTimeoutMs, o.kato || Number.POSITIVE_INFINITY) / 4);
      const cntlid = await fabricsConnect(
        admin,
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
      const a = new AdminClient(admin, o.ioTimeoutMs);
      const cap = await a.propGet(Prop.CAP, true);
      const mpsmin = Number((cap >> 48n) & 0xfn);
      if (mpsmin !== 0) throw new NegotiationError(`minimum memory page size 2^${12 + mpsmin} too large (CAP.MPSMIN ${mpsmin})`);
      await a.propSet(Prop.CC, CC_ENABLE_BASE);
      await a.propSet(Prop.CC, CC_ENABLE_BASE | Cc.EN);
      await waitReady(a, Number((cap >> 24n) & 0xffn));
      const vs = await a.propGet32(Prop.VS);
      ctrl = new NvmeController(o, admin, cntlid, cap, vs);
      ctrl.startKeepAlive();
      await ctrl.init();
      // AER hook: one AER outstanding once the association is live. A reconnect calls this again.
      await ctrl.aen.arm(ctrl.admin, ctrl.identify.oaes);
      return ctrl;
    } catch (e) {
      if (ctrl !== undefined) await ctrl.abort();
      else await admin.close();
      throw e;
    }
  }

  // ------------------------------------------------------------ public API

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

  /** Why the controller failed (keep-alive), undefined while healthy. */
  get error(): Error | undefined {
    return this.failure;
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
   * Shuts the controller down: waits for outstanding I/O, sets CC.SHN = 1 and polls
   * CSTS until SHST = 2 (bounded by RTD3E, 5..60 s), then closes every queue.
   */
  disconnect(): Promise<void> {
    if (this.closed === undefined) {
      this.closing = true;
      this.aen.stop();
      this.closed = this.shutdown();
    }
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.stopKeepAlive();
    await Promise.all(this.io.map((q) => q.idle()));
    if (this.admin.q.live) {
      try {
        const rtd3eMs = Math.ceil((this.id?.rtd3e ?? 0) / 1000);
        const bound = Math.min(SHUTDOWN_TIMEOUT_MAX_MS, Math.max(SHUTDOWN_TIMEOUT_MIN_MS, rtd3eMs));
        await this.admin.propSet(Prop.CC, CC_ENABLE_BASE | Cc.EN | Cc.SHN_NORMAL);
        const deadline = performance.now() + bound;
        for (;;) {
          const csts = await this.admin.propGet32(Prop.CSTS);
          this.shst = (csts & Csts.SHST_MASK) >> Csts.SHST_SHIFT;
          if ((csts & Csts.SHST_MASK) === Csts.SHST_COMPLETE || performance.now() > deadline) break;
          await sleep(1);
        }
      } catch {
        // The controller is going away either way; closing the queues is all that is left.
      }
    }
    await this.closeQueues();
  }

  /** Get Log Page on the admin queue (the discovery log, SMART...). */
  getLogPage(lid: number, len: number, offset = 0, opts: { nsid?: number; rae?: boolean } = {}): Promise<Buffer> {
    return this.admin.getLogPage(lid, len, offset, opts.nsid ?? 0, opts.rae ?? false);
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
    const qs = [this.admin.q, ...this.io].filter((q) => q.live);
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
    const q = this.pickQueue();
    if (q === undefined) {
      cmd.reject(
        new ConnectionError(
          this.closing ? `controller ${this.cntlid} is disconnected` : `controller ${this.cntlid} has no live I/O queue`,
          { cause: this.failure },
        ),
      );
      return;
    }
    q.start(cmd);
    this.poller?.kick();
  }

  private pickQueue(): HostQueue | undefined {
    if (this.closing) return undefined;
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

  // ------------------------------------------------------------ setup

  private async init(): Promise<void> {
    const a = this.admin;
    const o = this.o;
    const id = parseIdentifyController(await a.identify(Cns.Controller));
    this.id = id;
    checkIdentify(id, this.cntlid, o.discovery);
    if (o.discovery) return;

    const granted = await a.setNumQueues(o.nrIoQueues);
    const nq = Math.min(o.nrIoQueues, granted);
    const mqes = Number(this.cap & 0xffffn);
    let sqsize = Math.min(o.queueSize - 1, mqes);
    if (id.maxcmd > 0) sqsize = Math.min(sqsize, id.maxcmd - 1);
    const mdtsBytes = id.mdts === 0 ? MAX_XFER : 2 ** id.mdts * 4096;
    this.xferMax = Math.min(MAX_XFER, mdtsBytes);
    // With an offload device the largest I/O is what the device can place, as
    // nvme_tcp_ddp_apply_limits sets max_hw_sectors from max_ddp_sgl_len: every
    // large READ is split into commands the device can take.
    if (o.offload !== undefined && o.tls !== undefined) {
      // As nvme-tcp gives up the device when TLS is configured and !limits.tls: no
      // sk_add, nothing counted. Said once per controller.
      process.emitWarning(
        `nvmeotcp host: controller ${this.cntlid}: receive offload not attached: the NIC cannot place payload inside TLS records`,
        { code: 'NVMEOTCP_OFFLOAD_TLS' },
      );
    } else if (o.offload !== undefined) {
      const l = o.offload.limits();
      if (l.maxSgl > 0) this.xferMax = Math.min(this.xferMax, l.maxSgl * 4096);
      if (l.maxIoSize > 0) this.xferMax = Math.min(this.xferMax, l.maxIoSize);
    }

    const opened = await Promise.allSettled(Array.from({ length: nq }, (_, i) => this.openIoQueue(i + 1, sqsize, id.ioccsz * 16 - 64)));
    for (const r of opened) if (r.status === 'fulfilled') this.io.push(r.value);
    const bad = opened.find((r) => r.status === 'rejected');
    if (bad !== undefined) throw (bad as PromiseRejectedResult).reason;

    await this.scanNamespaces(id.nn);
  }

  private async openIoQueue(qid: number, sqsize: number, icdMax: number): Promise<HostQueue> {
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
    });
    try {
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
    } catch (e) {
      await q.close();
      throw e;
    }
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
    let nsids: number[] = [];
    try {
      for (let after = 0; ; ) {
        const list = parseActiveNsList(await this.admin.identify(Cns.ActiveNsList, after));
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
      const ns = parseIdentifyNamespace(await this.admin.identify(Cns.Namespace, nsid));
      if (ns.ncap === 0) continue; // not allocated
      const lbaSize = lbaSizeOf(ns);
      const ms = ns.lbaf[flbasIndex(ns.flbas)].ms;
      out.push({ nsid, lbaSize, nlba: ns.nsze, nuse: ns.nuse, ms, bytes: ns.nsze * lbaSize });
    }
    this.nsInfo = out;
  }

  // ------------------------------------------------------------ keep-alive

  private startKeepAlive(): void {
    if (this.o.kato === 0) return;
    this.kaTimer = setInterval(this.keepAliveTick, Math.max(1, Math.floor(this.o.kato / 2)));
    this.kaTimer.unref();
  }

  private stopKeepAlive(): void {
    clearInterval(this.kaTimer);
    this.kaTimer = undefined;
  }

  private readonly keepAliveTick = (): void => {
    if (this.kaBusy || this.closing) return;
    this.kaBusy = true;
    this.admin.keepAlive(this.o.kato).then(this.keepAliveDone, this.keepAliveFailed);
  };

  private readonly keepAliveDone = (): void => {
    this.kaBusy = false;
  };

  /** A failed Keep Alive ends the association: the controller drops it too once KATO expires. */
  private readonly keepAliveFailed = (e: Error): void => {
    this.kaBusy = false;
    if (this.closing) return;
    this.failure = new ConnectionError(`controller ${this.cntlid}: keep-alive failed: ${e.message}`, { cause: e });
    void this.abort();
  };

  /** Closes every queue at once (failed connect, lost keep-alive). */
  private abort(): Promise<void> {
    this.closing = true;
    this.aen.stop();
    this.stopKeepAlive();
    this.closed ??= this.closeQueues();
    return this.closed;
  }
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
