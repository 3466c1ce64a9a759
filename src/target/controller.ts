// One controller (dynamic model): created by an admin-queue Connect, owns its I/O
// queues, the controller properties (CAP, VS, CC, CSTS, CRTO), feature values,
// the keep-alive watchdog and the outstanding Asynchronous Event Requests.
import { Cc, Csts, FabricsType, Prop, Sc, ScCmd } from '../protocol/constants.ts';
import { parsePropertySqe } from '../protocol/fabrics.ts';
import { makeStatus } from '../protocol/sqe.ts';
import type { Cmd, CmdQueue } from './cmd.ts';
import type { TargetContext } from './context.ts';
import type { Subsystem } from './subsystem.ts';

/** CAP.TO and CRTO: 15 × 500 ms. */
const TIMEOUT_500MS = 15;

const STATUS_INVALID_FIELD = makeStatus(0, Sc.InvalidField, true);
const STATUS_AER_LIMIT = makeStatus(1, ScCmd.AerLimitExceeded, true);

/** AEN completion DW0 (type | info << 8 | log page << 16): discovery log page change. */
export const AEN_DISCOVERY_CHANGE = 0x02 | (0xf0 << 8) | (0x70 << 16);
/** Async Event Configuration bit 31: discovery log change notices. */
const AEC_DISCOVERY_CHANGE = 0x8000_0000;

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
  /** Volatile write cache enabled (feature 0x06). */
  vwc = 1;
  /** Temperature threshold in kelvin (feature 0x04, composite sensor, over-temperature). */
  tempThreshold = 343;
  readonly health: HealthCounters = { readBytes: 0, writeBytes: 0, readCmds: 0, writeCmds: 0 };
  readonly createdAt = Date.now();
  gone = false;
  private readonly aers: Cmd[] = [];
  private readonly events: number[] = [];
  /** A discovery-change notice was sent and the host has not read the log since. */
  private discMasked = false;
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
    if (!this.subsys.isDiscovery || (this.aec & AEC_DISCOVERY_CHANGE) === 0 || this.discMasked) return;
    this.discMasked = true;
    this.events.push(AEN_DISCOVERY_CHANGE);
    this.deliverEvents();
  }

  /** The host read the discovery log without RAE: discovery-change notices resume. */
  discoveryLogRead(rae: boolean): void {
    if (!rae) this.discMasked = false;
  }

  private deliverEvents(): void {
    while (this.aers.length > 0 && this.events.length > 0) {
      const cmd = this.aers.shift()!;
      cmd.q.complete(cmd, 0, this.events.shift()!);
    }
  }
}
