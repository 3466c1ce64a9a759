// The part every offload device shares: capabilities and limits, queue contexts
// (sk_add/sk_del), each queue's CCID table (setup/teardown), the mapping pool and
// the counters, counted where the mlx5e series counts them:
//   sk_add / sk_add_fail   addQueue, success / any driver error path
//   sk_del                 remove
//   ddp_setup              setup, after every check passed
//   ddp_setup_fail         setup, any error path (EINVAL, ENOSPC, EOPNOTSUPP, EBUSY)
//   ddp_teardown           teardown of a registered CCID; the done up-call follows
//                          asynchronously, as the invalidation completes
// The data-path counters (packets, bytes, resync, drop) are written by the devices.
import { availableParallelism } from 'node:os';
import { DigestOpt } from '../protocol/constants.ts';
import { InvalidArgumentError } from '../protocol/errors.ts';
import type { RxView } from '../protocol/receiver.ts';
import { G } from '../stats/counters.ts';
import { type QueueStats, type StatsSnapshot, StatsRegistry, seedValues } from '../stats/registry.ts';
import { MappingPool, type MappedSgl, placeableLayout } from './sgl.ts';
import {
  type DdpCaps,
  type DdpCapsState,
  type DdpDevice,
  type DdpLimits,
  type DdpQueue,
  type DdpQueueConfig,
  Errno,
  type UlpDdpStats,
  type UlpOps,
} from './types.ts';

/**
 * How the modelled NIC behaves where the ulp_ddp contract leaves room:
 *   mlx5     one placement per packet (a CQE names one CCID: payload of a second PDU
 *            in the same segment is not placed), resync on any loss, DDP and CRC-rx
 *            switched together (mlx5e set_caps: all or nothing); the default
 *   generic  several PDUs placed per packet, PDU tracking kept across the loss of
 *            data-only segments (the ulp-ddp documentation allows a NIC to), the
 *            two capabilities independent: for what-if comparisons
 */
export type NicProfile = 'mlx5' | 'generic';
export const NIC_PROFILES: readonly NicProfile[] = ['mlx5', 'generic'];

export interface DeviceOptions {
  /** NIC behaviour (see NicProfile). Default 'mlx5'. */
  profile?: NicProfile;
  /** Interface index reported in the ulp-ddp netlink replies. Default 1. */
  ifindex?: number;
  /** Receive channels; a queue's channel is ioCpu % channels. Default: the CPU count. */
  channels?: number;
  /** Most queues attached at once (mlx5 MAX_NUM_NVMEOTCP_QUEUES 4000). */
  maxQueues?: number;
  /** max_ddp_sgl_len (mlx5: 128). 0 = no limit. */
  maxSgl?: number;
  /** io_threshold (mlx5: 32 KiB). */
  ioThreshold?: number;
  /** Largest registration in bytes (mlx5: 128 pages, "Max PDU data will be 512K"). 0 = no limit. */
  maxIoSize?: number;
  /** Accept the whole 16-bit CID range; false (mlx5) = CIDs must be below the queue size. */
  fullCcidRange?: boolean;
  /** What the hardware can do. Default: both. */
  hw?: Partial<DdpCaps>;
  /** What is switched on at start. Default: everything the hardware can do. */
  active?: Partial<DdpCaps>;
  /** false: count into a dummy block (every snapshot reads 0). Default true. */
  stats?: boolean;
  /** Labels of this device's counters in exports. */
  labels?: Readonly<Record<string, string>>;
}

export const DEFAULT_LIMITS: Readonly<DdpLimits> = Object.freeze({
  maxSgl: 128,
  ioThreshold: 32 * 1024,
  maxIoSize: 512 * 1024,
  fullCcidRange: false,
});
export const DEFAULT_MAX_QUEUES = 4000;
/** NVME_TCP_PFV_1_0 */
const PFV_1_0 = 0;

/** State of one CCID table entry. */
export const CcidState = {
  /** buffers registered; the device may place into them */
  SET: 1,
  /** teardown requested; the mapping stays until the done up-call */
  TEARDOWN: 2,
} as const;
export type CcidState = (typeof CcidState)[keyof typeof CcidState];

export interface CcidEntry {
  readonly cid: number;
  state: CcidState;
  readonly sgl: MappedSgl;
  /** Teardown waits for a socket read still armed inside these buffers. */
  deferred: boolean;
}

/** One attached queue (the kernel's offloaded socket). */
export class QueueCtx implements DdpQueue {
  readonly queueId: number;
  readonly channel: number;
  readonly cfg: Readonly<DdpQueueConfig>;
  readonly ulp: UlpOps;
  readonly stats: QueueStats;
  /** The queue's data-path block (indexed by C.*). */
  readonly s: Float64Array;
  /** The device checks data digests for this queue (DDGST_RX active and data digest negotiated). */
  readonly crcRx: boolean;
  /** CCIDs with registered buffers or a teardown in flight. */
  readonly ccids = new Map<number, CcidEntry>();
  /** Entries in state SET. */
  outstanding = 0;
  removed = false;
  private readonly ccidLimit: number;

  constructor(
    private readonly dev: DeviceCore,
    cfg: DdpQueueConfig,
    ulp: UlpOps,
    stats: QueueStats,
    crcRx: boolean,
    fullCcidRange: boolean,
  ) {
    this.cfg = Object.freeze({ ...cfg });
    this.queueId = cfg.queueId;
    this.ulp = ulp;
    this.stats = stats;
    this.s = stats.values;
    this.channel = stats.channel;
    this.crcRx = crcRx;
    this.ccidLimit = fullCcidRange ? 0x10000 : cfg.queueSize;
  }

  /** The registered entry of `cid` if the device may place into it now. */
  placeable(cid: number): CcidEntry | undefined {
    const e = this.ccids.get(cid);
    return e !== undefined && e.state === CcidState.SET ? e : undefined;
  }

  validCid(cid: number): boolean {
    return Number.isInteger(cid) && cid >= 0 && cid < this.ccidLimit;
  }

  setup(cid: number, sgl: readonly Buffer[]): number {
    return this.dev.setup(this, cid, sgl);
  }

  teardown(cid: number): void {
    this.dev.teardown(this, cid);
  }

  resync(seq: number): void {
    if (!this.removed) this.dev.resyncResponse(this, seq >>> 0);
  }

  remove(): void {
    this.dev.removeQueue(this);
  }
}

/** Shared device model; SocketDevice and PacketDevice add the data path. */
export abstract class DeviceCore implements DdpDevice {
  readonly stats: StatsRegistry;
  readonly pool = new MappingPool();
  readonly profile: NicProfile;
  readonly ifindex: number;
  protected readonly lim: DdpLimits;
  protected readonly maxQueues: number;
  private readonly hw: DdpCaps;
  private active: DdpCaps;
  private readonly queues = new Set<QueueCtx>();

  constructor(o: DeviceOptions = {}) {
    const int = (v: number | undefined, dflt: number, name: string, min = 0): number => {
      const x = v ?? dflt;
      if (!Number.isInteger(x) || x < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got ${x}`);
      return x;
    };
    this.lim = Object.freeze({
      maxSgl: int(o.maxSgl, DEFAULT_LIMITS.maxSgl, 'maxSgl'),
      ioThreshold: int(o.ioThreshold, DEFAULT_LIMITS.ioThreshold, 'ioThreshold'),
      maxIoSize: int(o.maxIoSize, DEFAULT_LIMITS.maxIoSize, 'maxIoSize'),
      fullCcidRange: o.fullCcidRange ?? DEFAULT_LIMITS.fullCcidRange,
    });
    this.maxQueues = int(o.maxQueues, DEFAULT_MAX_QUEUES, 'maxQueues');
    this.ifindex = int(o.ifindex, 1, 'ifindex', 1);
    const profile = o.profile ?? 'mlx5';
    if (!NIC_PROFILES.includes(profile)) {
      throw new InvalidArgumentError(`profile must be one of ${NIC_PROFILES.join(', ')}, got ${String(profile)}`);
    }
    this.profile = profile;
    this.hw = { ddp: o.hw?.ddp ?? true, crcRx: o.hw?.crcRx ?? true };
    const want = { ddp: o.active?.ddp ?? this.hw.ddp, crcRx: o.active?.crcRx ?? this.hw.crcRx };
    if (profile === 'mlx5' && (this.hw.ddp !== this.hw.crcRx || want.ddp !== want.crcRx)) {
      // mlx5 offers both bits or neither, and switches them together.
      throw new InvalidArgumentError("profile mlx5: DDP and CRC-rx go together (hw and active); use profile 'generic' to split them");
    }
    this.active = { ddp: false, crcRx: false };
    this.setCaps(want);
    this.stats = new StatsRegistry({
      channels: int(o.channels, availableParallelism(), 'channels', 1),
      enabled: o.stats ?? true,
      labels: o.labels ?? {},
    });
  }

  // ------------------------------------------------------------ control path

  limits(): DdpLimits {
    return { ...this.lim };
  }

  getCaps(): DdpCapsState {
    return { hw: { ...this.hw }, active: { ...this.active } };
  }

  setCaps(wanted: Partial<DdpCaps>): number {
    // ulp_ddp_apply_bits: new_active = wanted, masked by what the hardware has.
    const ddp = (wanted.ddp ?? this.active.ddp) && this.hw.ddp;
    const crcRx = (wanted.crcRx ?? this.active.crcRx) && this.hw.crcRx;
    // mlx5e_ulp_ddp_set_caps acts only when both bits turn on or both turn off;
    // any other request changes nothing and still succeeds (caps-get tells).
    if (this.profile === 'mlx5' && ddp !== crcRx) return 0;
    this.active = { ddp, crcRx };
    return 0;
  }

  addQueue(cfg: DdpQueueConfig, ulp: UlpOps, rx?: RxView): DdpQueue | number {
    // nvme-tcp asks ulp_ddp_is_cap_active() before sk_add: with the capability off
    // the driver is never called, so nothing is counted.
    if (!this.active.ddp) return Errno.EOPNOTSUPP;
    const g = this.stats.global;
    let err = 0;
    if (cfg.pfv !== PFV_1_0) err = Errno.EOPNOTSUPP;
    else if (!Number.isInteger(cfg.queueSize) || cfg.queueSize < 1 || cfg.queueSize > 0x10000) err = Errno.EINVAL;
    else if (this.queues.size >= this.maxQueues) err = Errno.ENOSPC;
    if (err !== 0) {
      g[G.skAddFail] += 1;
      return err;
    }
    const ch = ((cfg.ioCpu % this.stats.channels) + this.stats.channels) % this.stats.channels;
    const crcRx = this.active.crcRx && (cfg.dgst & DigestOpt.DDGST) !== 0;
    const st = this.stats.addQueue(cfg.queueId, ch, cfg.ctrl);
    const q = new QueueCtx(this, cfg, ulp, st, crcRx, this.lim.fullCcidRange);
    this.queues.add(q);
    this.queueAdded(q, rx);
    g[G.skAdd] += 1;
    return q;
  }

  /** Queues attached now. */
  get queueCount(): number {
    return this.queues.size;
  }

  removeQueue(q: QueueCtx): void {
    if (q.removed || !this.queues.has(q)) return;
    q.removed = true;
    this.stats.global[G.skDel] += 1;
    this.queueRemoved(q);
    // Pending placements end: registered buffers are released; teardowns already
    // requested still deliver their done up-call.
    for (const [cid, e] of q.ccids) {
      if (e.state === CcidState.SET) {
        this.pool.unmap(e.sgl);
        q.ccids.delete(cid);
      } else if (e.deferred) {
        e.deferred = false;
        this.scheduleDone(q, cid, e);
      }
    }
    q.outstanding = 0;
    this.queues.delete(q);
    this.stats.removeQueue(q.stats);
  }

  setup(q: QueueCtx, cid: number, sgl: readonly Uint8Array[]): number {
    const r = this.register(q, cid, sgl);
    this.stats.global[r === 0 ? G.ddpSetup : G.ddpSetupFail] += 1;
    if (r === 0) this.registered(q);
    return r;
  }

  private register(q: QueueCtx, cid: number, sgl: readonly Uint8Array[]): number {
    if (q.removed || !q.validCid(cid)) return Errno.EINVAL;
    if (q.ccids.has(cid)) return Errno.EBUSY; // the CID is still mapped or being invalidated
    const m = this.pool.map(sgl);
    if (m === undefined) return Errno.EINVAL; // mapping failed: nothing taken, nothing to release
    let err = 0;
    if (this.lim.maxSgl > 0 && m.segs.length > this.lim.maxSgl) err = Errno.ENOSPC;
    else if (!placeableLayout(m)) err = Errno.EOPNOTSUPP;
    else if (this.lim.maxIoSize > 0 && m.size > this.lim.maxIoSize) err = Errno.ENOSPC;
    if (err !== 0) {
      this.pool.unmap(m); // exactly what map() took
      return err;
    }
    q.ccids.set(cid, { cid, state: CcidState.SET, sgl: m, deferred: false });
    q.outstanding++;
    return 0;
  }

  teardown(q: QueueCtx, cid: number): void {
    const e = q.ccids.get(cid);
    if (e === undefined) {
      // Nothing registered (or the queue is gone): nothing to invalidate, but the ULP
      // completes its command in the done up-call, so it still gets one.
      this.completeLater(() => q.ulp.ddpTeardownDone(cid));
      return;
    }
    if (e.state !== CcidState.SET) return; // already being torn down: one done per teardown
    e.state = CcidState.TEARDOWN;
    q.outstanding--;
    this.stats.global[G.ddpTeardown] += 1;
    if (this.placementHolds(q, e)) e.deferred = true;
    else this.scheduleDone(q, cid, e);
  }

  /** The data path let go of the entry's buffers: a deferred teardown may finish now. */
  releaseDeferred(q: QueueCtx, e: CcidEntry): void {
    if (!e.deferred) return;
    e.deferred = false;
    this.scheduleDone(q, e.cid, e);
  }

  /** True if `q` is a live queue of this device. */
  protected owns(q: DdpQueue): q is QueueCtx {
    return q instanceof QueueCtx && this.queues.has(q);
  }

  private scheduleDone(q: QueueCtx, cid: number, e: CcidEntry): void {
    // The invalidation completes later (mlx5: an ICOSQ completion); only then may
    // the command complete and its buffers and CID be reused.
    this.completeLater(() => {
      if (q.ccids.get(cid) === e) q.ccids.delete(cid);
      this.pool.unmap(e.sgl);
      q.ulp.ddpTeardownDone(cid);
    });
  }

  getStats(): UlpDdpStats {
    return seedValues(this.stats.snapshot());
  }

  snapshot(): StatsSnapshot {
    return this.stats.snapshot();
  }

  // ------------------------------------------------------------ device hooks

  /**
   * Runs a teardown's completion (the invalidation finishing) later: as a microtask.
   * A replay of captured traffic runs them itself, at the point of the capture where
   * the host had its completion (src/replay/).
   */
  protected completeLater(done: () => void): void {
    queueMicrotask(done);
  }

  /** A queue was attached (counted after this returns). */
  protected abstract queueAdded(q: QueueCtx, rx: RxView | undefined): void;
  /** A queue is being detached. */
  protected abstract queueRemoved(q: QueueCtx): void;
  /** The ULP confirmed that a PDU starts at `seq` (a resync request it matched exactly). */
  abstract resyncResponse(q: QueueCtx, seq: number): void;
  /** True while the data path may still write into this entry's buffers. */
  protected abstract placementHolds(q: QueueCtx, e: CcidEntry): boolean;

  /** A command was registered on `q` (its data is not on the wire yet: the ULP sends it next). */
  protected registered(_q: QueueCtx): void {}
}
