// One controller (dynamic model): created by an admin-queue Connect, owns its I/O
// queues, the controller properties (CAP, VS, CC, CSTS, CRTO), feature values,
// the keep-alive watchdog and the outstanding Asynchronous Event Requests.
import { Cc, Csts, FabricsType, LogId, Prop, Sc, ScCmd } from '../protocol/constants.ts';
import { parsePropertySqe } from '../protocol/fabrics.ts';
import { encodeActiveNsList, NS_LIST_MAX } from '../protocol/identify.ts';
import { makeStatus } from '../protocol/sqe.ts';
import type { Cmd, CmdQueue } from './cmd.ts';
import type { TargetContext } from './context.ts';
import type { Subsystem } from './subsystem.ts';

/** CAP.TO and CRTO: 15 × 500 ms. */
const TIMEOUT_500MS = 15;

const STATUS_INVALID_FIELD = makeStatus(0, Sc.InvalidField, true);
const STATUS_AER_LIMIT = makeStatus(1, ScCmd.AerLimitExceeded, true);

// An AEN completes an Asynchronous Event Request with DW0 = type (bits 2:0) |
// information (bits 15:8) | the log page to read (bits 23:16). Each notice has an
// Asynchronous Event Configuration bit (feature 0Bh, the same bit in Identify OAES);
// once sent, that notice is masked until the host reads its log page without RAE.
/** AEN type 2 (notice). */
const AEN_NOTICE = 0x02;
/** AEN DW0: notice, discovery log page change (F0h), log page 70h. */
export const AEN_DISCOVERY_CHANGE = AEN_NOTICE | (0xf0 << 8) | (LogId.Discovery << 16);
/** AEN DW0: notice, namespace attribute changed (00h), log page 04h (Changed Namespace List). */
export const AEN_NS_CHANGED = AEN_NOTICE | (0x00 << 8) | (LogId.ChangedNsList << 16);
/** Async Event Configuration / OAES bit 8: namespace attribute notices. */
export const AEC_NS_ATTR = 0x100;
/** Async Event Configuration / OAES bit 31: discovery log change notices. */
export const AEC_DISCOVERY_CHANGE = 0x8000_0000;
/** Changed Namespace List: at most 1024 NSIDs (4096 bytes); past that, one entry FFFFFFFFh. */
const CHANGED_NS_MAX = NS_LIST_MAX;

/** Counters behind the SMART / health log page. */
export interface HealthCounters {
  readBytes: number;
  writeBytes: number;
  readCmds: number;
  writeCmds: number;
}

export class Controller {
  cntlid = 0;
  readonly ioQueues = new Map<number, CmdQueue>();
  cc = 0;
  csts = 0;
  /** Keep Alive Timeout in ms (0 = no watchdog). */
  kato: number;
  /** I/O queues granted (Set Features Number of Queues). */
  numIoQueues: number;
  /** Async Event Configuration (feature 0x0B). */
  aec = 0;
  /** Volatile write cache enabled (feature 0x06); 0 from the start without one (options.volatileWriteCache). */
  vwc: number;
  /** Temperature threshold in kelvin (feature 0x04, composite sensor, over-temperature). */
  tempThreshold = 343;
  readonly health: HealthCounters = { readBytes: 0, writeBytes: 0, readCmds: 0, writeCmds: 0 };
  readonly createdAt = Date.now();
  gone = false;
  private readonly aers: Cmd[] = [];
  /** AENs to deliver: at most one per notice, since a notice sent is masked (below). */
  private readonly events: number[] = [];
  /** AEC bits of notices sent whose log page the host has not read (without RAE) since. */
  private masked = 0;
  /** NSIDs whose attributes changed since the host last read log page 04h (Changed Namespace List). */
  private readonly changedNs = new Set<number>();
  /** More than CHANGED_NS_MAX changed: the log reports FFFFFFFFh. */
  private changedNsOverflow = false;
  private kaTimer: NodeJS.Timeout | undefined = undefined;
  private lastKa = 0;

  constructor(
    readonly ctx: TargetContext,
    readonly subsys: Subsystem,
    readonly admin: CmdQueue,
    readonly hostnqn: string,
    readonly hostid: Buffer,
    kato: number,
  ) {
    this.kato = kato;
    this.vwc = ctx.opts.volatileWriteCache ? 1 : 0;
    this.numIoQueues = subsys.isDiscovery ? 0 : Math.min(ctx.opts.maxIoQueues, subsys.qidMax);
  }

  /** CSTS.RDY: the host enabled the controller. */
  get ready(): boolean {
    return (this.csts & Csts.RDY) !== 0;
  }

  // ------------------------------------------------------------ keep alive

  /** (Re)starts the keep-alive watchdog with the current KATO. */
  startKeepAlive(): void {
    if (this.kaTimer !== undefined) clearTimeout(this.kaTimer);
    this.kaTimer = undefined;
    if (this.kato === 0 || this.gone) return;
    this.lastKa = Date.now();
    this.armKa(this.kato);
  }

  private armKa(ms: number): void {
    this.kaTimer = setTimeout(this.kaCheck, ms);
    this.kaTimer.unref();
  }

  private readonly kaCheck = (): void => {
    this.kaTimer = undefined;
    const idle = Date.now() - this.lastKa;
    if (idle >= this.kato) this.destroy('keep-alive timeout');
    else this.armKa(this.kato - idle);
  };

  keepAlive(): void {
    this.lastKa = Date.now();
  }

  // ------------------------------------------------------------ lifetime

  /** A queue's connection closed. The admin queue takes the controller with it. */
  queueClosed(q: CmdQueue): void {
    if (q === this.admin) {
      this.destroy('admin queue closed');
      return;
    }
    if (this.ioQueues.get(q.qid) === q) this.ioQueues.delete(q.qid);
  }

  /** Tears the controller down: every queue is closed. */
  destroy(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    if (this.kaTimer !== undefined) clearTimeout(this.kaTimer);
    this.kaTimer = undefined;
    this.aers.length = 0;
    this.ctx.controllerGone(this, reason);
    for (const q of this.ioQueues.values()) q.close();
    this.ioQueues.clear();
    this.admin.close();
  }

  // ------------------------------------------------------------ properties

  /** CAP low and high dwords: MQES, CQR, TO; CSS bit 37 (NVM command set); MPSMIN = MPSMAX = 0. */
  capDwords(): [number, number] {
    const lo = (this.ctx.opts.mqes | (1 << 16) | (TIMEOUT_500MS << 24)) >>> 0;
    const hi = 1 << (37 - 32);
    return [lo, hi];
  }

  propertyCommand(cmd: Cmd): void {
    const p = parsePropertySqe(cmd.sqe);
    const q = cmd.q;
    if (p.fctype === FabricsType.PropertyGet) {
      if (p.ofst === Prop.CAP) {
        if (!p.size8) {
          q.complete(cmd, STATUS_INVALID_FIELD);
          return;
        }
        const [lo, hi] = this.capDwords();
        q.complete(cmd, 0, lo, hi);
        return;
      }
      if (p.size8) {
        q.complete(cmd, STATUS_INVALID_FIELD);
        return;
      }
      switch (p.ofst) {
        case Prop.VS:
          q.complete(cmd, 0, this.subsys.version);
          return;
        case Prop.CC:
          q.complete(cmd, 0, this.cc);
          return;
        case Prop.CSTS:
          q.complete(cmd, 0, this.csts);
          return;
        case Prop.CRTO:
          q.complete(cmd, 0, TIMEOUT_500MS | (TIMEOUT_500MS << 16));
          return;
        default:
          q.complete(cmd, STATUS_INVALID_FIELD);
          return;
      }
    }
    // Property Set: only CC, 4 bytes.
    if (p.size8 || p.ofst !== Prop.CC) {
      q.complete(cmd, STATUS_INVALID_FIELD);
      return;
    }
    this.writeCc(Number(p.value & 0xffff_ffffn));
    q.complete(cmd, 0);
  }

  private writeCc(v: number): void {
    const old = this.cc;
    this.cc = v;
    const en = (v & Cc.EN) !== 0;
    if (en && (old & Cc.EN) === 0) {
      this.csts |= this.ccValid(v) ? Csts.RDY : Csts.CFS;
    } else if (!en && (old & Cc.EN) !== 0) {
      // Controller reset: not ready, no shutdown status.
      this.csts = 0;
    }
    const shn = v & Cc.SHN_MASK;
    if (shn !== 0 && (old & Cc.SHN_MASK) === 0) this.shutdown();
    else if (shn === 0 && (old & Cc.SHN_MASK) !== 0) this.csts &= ~Csts.SHST_MASK;
  }

  /** IOSQES 6, IOCQES 4, MPS 0 (4 KiB), AMS 0 (round robin), CSS 0 (NVM) or 7 (admin only). */
  private ccValid(v: number): boolean {
    const css = v & Cc.CSS_MASK;
    if ((v & Cc.MPS_MASK) !== 0 || (v & Cc.AMS_MASK) !== 0) return false;
    if (css !== Cc.CSS_NVM && css !== Cc.CSS_ADMIN_ONLY) return false;
    if (this.subsys.isDiscovery) return true;
    return (v & Cc.IOSQES_MASK) === Cc.IOSQES_64 && (v & Cc.IOCQES_MASK) === Cc.IOCQES_16;
  }

  /** CC.SHN: flush every namespace, then report CSTS.SHST = complete. */
  private shutdown(): void {
    this.csts = (this.csts & ~Csts.SHST_MASK) | Csts.SHST_OCCURRING;
    const pending = this.subsys.flushAll();
    const done = (): void => {
      if ((this.csts & Csts.SHST_MASK) === Csts.SHST_OCCURRING) {
        this.csts = (this.csts & ~Csts.SHST_MASK) | Csts.SHST_COMPLETE;
      }
    };
    if (pending.length === 0) done();
    else Promise.allSettled(pending).then(done);
  }

  // ------------------------------------------------------------ asynchronous events

  /** Asynchronous Event Request: held until an event, at most AERL + 1 outstanding. */
  asyncEventRequest(cmd: Cmd): void {
    if (this.aers.length > this.ctx.opts.aerl) {
      cmd.q.complete(cmd, STATUS_AER_LIMIT);
      return;
    }
    this.aers.push(cmd);
    this.deliverEvents();
  }

  /** The discovery log changed: notify a discovery controller that asked for it. */
  discoveryChanged(): void {
    if (this.subsys.isDiscovery) this.notify(AEC_DISCOVERY_CHANGE, AEN_DISCOVERY_CHANGE);
  }

  /** The host read the discovery log: with RAE clear, discovery-change notices resume. */
  discoveryLogRead(rae: boolean): void {
    if (!rae) this.masked &= ~AEC_DISCOVERY_CHANGE;
  }

  /**
   * Namespace `nsid` was added, resized or removed: it joins the Changed Namespace
   * List, and a Namespace Attribute Changed notice goes out if the host enabled it.
   */
  namespaceChanged(nsid: number): void {
    if (this.subsys.isDiscovery || this.gone) return;
    if (!this.changedNsOverflow) {
      this.changedNs.add(nsid);
      if (this.changedNs.size > CHANGED_NS_MAX) {
        this.changedNsOverflow = true;
        this.changedNs.clear();
      }
    }
    this.notify(AEC_NS_ATTR, AEN_NS_CHANGED);
  }

  /**
   * Log page 04h: the NSIDs changed since the last read, ascending, zero-filled (or
   * FFFFFFFFh first when more than 1024 changed). Reading clears the list; with RAE
   * clear it also unmasks the Namespace Attribute Changed notice.
   */
  changedNsLog(rae: boolean): Buffer {
    // The same layout as an Identify NSID list: ascending u32s, zero-filled to 4096 bytes.
    const b = encodeActiveNsList(this.changedNsOverflow ? [] : [...this.changedNs], 0);
    if (this.changedNsOverflow) b.writeUInt32LE(0xffff_ffff, 0);
    this.changedNs.clear();
    this.changedNsOverflow = false;
    if (!rae) this.masked &= ~AEC_NS_ATTR;
    return b;
  }

  /** Queues notice `dw0` unless the host did not enable it (AEC `bit`) or it is masked. */
  private notify(bit: number, dw0: number): void {
    if ((this.aec & bit) === 0 || (this.masked & bit) !== 0 || this.gone) return;
    this.masked |= bit;
    this.events.push(dw0);
    this.deliverEvents();
  }

  private deliverEvents(): void {
    while (this.aers.length > 0 && this.events.length > 0) {
      const cmd = this.aers.shift()!;
      cmd.q.complete(cmd, 0, this.events.shift()!);
    }
  }
}
