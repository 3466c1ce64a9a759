// Counter blocks of one offload device, and their snapshot.
//
// Writing is cheap: every counter is a slot of a Float64Array (exact for integers
// up to 2^53) written with a plain `+=` by its one writer; no maps, no labels, no
// allocation (mlx5 rq stats, SPDK poll-group stats). The blocks:
//   - global: the control path (sk_add … teardown), one per device;
//   - per queue: the data path of one offloaded queue, written by that queue's
//     receive path (it belongs to one channel);
//   - per channel: what no live queue owns: pieces that found no queue context
//     (drop) and the folded counts of queues that were removed.
// Reading is where the work goes: snapshot() returns a new plain object with the
// per-queue and per-channel values and their sums, computed then and never
// stored (mlx5e_nvmeotcp_get_stats sums channel_stats[ch]->rq). A removed queue's
// counts fold into its channel's block, so no sum ever goes backwards.
// With stats disabled every block is one shared dummy array that nobody reads
// (SPDK g_dummy_stats): the hot path stays branch-free.
import { InvalidArgumentError } from '../protocol/errors.ts';
import {
  CHANNEL_COUNTERS,
  type ChannelCounterName,
  type CounterName,
  GLOBAL_COUNTERS,
  type GlobalCounterName,
  SEED_CHANNEL_COUNTERS,
} from './counters.ts';

export interface StatsOptions {
  /** Receive channels (mlx5: one RQ per channel). */
  channels: number;
  /** false: counters are written to a dummy block and every snapshot reads 0. Default true. */
  enabled?: boolean;
  /** Labels of this device in exports, e.g. { role: 'host', device: 'sock0' }. */
  labels?: Readonly<Record<string, string>>;
}

/** One queue's block, handed to the queue's data path. */
export interface QueueStats {
  /** NVMe queue ID of the queue. */
  readonly queueId: number;
  /** Controller label (several controllers may share one device). */
  readonly ctrl: string | undefined;
  readonly channel: number;
  /** Indexed by C.*; written only by this queue's receive path. */
  readonly values: Float64Array;
}

export type GlobalValues = Record<GlobalCounterName, number>;
export type ChannelValues = Record<ChannelCounterName, number>;

export interface QueueSnapshot {
  queueId: number;
  ctrl?: string;
  channel: number;
  values: ChannelValues;
}

export interface ChannelSnapshot {
  channel: number;
  values: ChannelValues;
}

export interface StatsSnapshot {
  /** Device labels (StatsOptions.labels). */
  labels: Record<string, string>;
  global: GlobalValues;
  /** Data-path counters summed over every channel (the get_stats values). */
  sum: ChannelValues;
  perChannel: ChannelSnapshot[];
  /** Live queues, by controller label then queue ID. */
  perQueue: QueueSnapshot[];
  /** What no live queue owns: removed queues' counts and pieces that found no queue. */
  retired: ChannelValues;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Label names the exporters add themselves. */
export const RESERVED_LABELS: readonly string[] = ['queue', 'ctrl'];

const DUMMY = new Float64Array(Math.max(GLOBAL_COUNTERS.length, CHANNEL_COUNTERS.length));
const ZERO_CHANNEL = new Float64Array(CHANNEL_COUNTERS.length);
const ZERO_GLOBAL = new Float64Array(GLOBAL_COUNTERS.length);

export class StatsRegistry {
  readonly enabled: boolean;
  readonly channels: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Indexed by G.*; written by the device's control path. */
  readonly global: Float64Array;
  private readonly orphan: Float64Array[];
  private readonly live: QueueStats[] = [];

  constructor(opts: StatsOptions) {
    if (!Number.isInteger(opts.channels) || opts.channels < 1 || opts.channels > 4096) {
      throw new InvalidArgumentError(`channels must be an integer in 1..4096, got ${opts.channels}`);
    }
    const labels = { ...(opts.labels ?? {}) };
    for (const k of Object.keys(labels)) {
      if (!LABEL_NAME.test(k) || k.startsWith('__') || RESERVED_LABELS.includes(k)) {
        throw new InvalidArgumentError(`bad label name "${k}"`);
      }
    }
    this.enabled = opts.enabled ?? true;
    this.channels = opts.channels;
    this.labels = Object.freeze(labels);
    this.global = this.enabled ? new Float64Array(GLOBAL_COUNTERS.length) : DUMMY;
    this.orphan = [];
    for (let ch = 0; ch < opts.channels; ch++) {
      this.orphan.push(this.enabled ? new Float64Array(CHANNEL_COUNTERS.length) : DUMMY);
    }
  }

  /**
   * The block of channel `ch` for pieces that found no queue context (drop):
   * written by that channel's receive path.
   */
  channelBlock(ch: number): Float64Array {
    return this.orphan[ch % this.channels];
  }

  /** A new block for a queue attached on `channel`. */
  addQueue(queueId: number, channel: number, ctrl?: string): QueueStats {
    const q: QueueStats = {
      queueId,
      ctrl,
      channel: channel % this.channels,
      values: this.enabled ? new Float64Array(CHANNEL_COUNTERS.length) : DUMMY,
    };
    this.live.push(q);
    return q;
  }

  /** The queue is gone: its counts fold into its channel so no total goes backwards. */
  removeQueue(q: QueueStats): void {
    const i = this.live.indexOf(q);
    if (i < 0) return;
    this.live.splice(i, 1);
    if (!this.enabled) return;
    const dst = this.orphan[q.channel];
    for (let k = 0; k < CHANNEL_COUNTERS.length; k++) dst[k] += q.values[k];
  }

  /** A new object with every value as of now; sums are computed here. */
  snapshot(): StatsSnapshot {
    const perChannel: ChannelSnapshot[] = [];
    const chanAcc: Float64Array[] = [];
    const retired = new Float64Array(CHANNEL_COUNTERS.length);
    for (let ch = 0; ch < this.channels; ch++) {
      const o = this.read(this.orphan[ch], ZERO_CHANNEL);
      chanAcc.push(Float64Array.from(o));
      for (let k = 0; k < o.length; k++) retired[k] += o[k];
    }
    const perQueue: QueueSnapshot[] = [];
    for (const q of this.live) {
      const v = this.read(q.values, ZERO_CHANNEL);
      const acc = chanAcc[q.channel];
      for (let k = 0; k < acc.length; k++) acc[k] += v[k];
      const qs: QueueSnapshot = { queueId: q.queueId, channel: q.channel, values: channelValues(v) };
      if (q.ctrl !== undefined) qs.ctrl = q.ctrl;
      perQueue.push(qs);
    }
    perQueue.sort((a, b) => cmp(a.ctrl ?? '', b.ctrl ?? '') || a.queueId - b.queueId);
    const sum = new Float64Array(CHANNEL_COUNTERS.length);
    for (let ch = 0; ch < this.channels; ch++) {
      const acc = chanAcc[ch];
      for (let k = 0; k < acc.length; k++) sum[k] += acc[k];
      perChannel.push({ channel: ch, values: channelValues(acc) });
    }
    const g = this.read(this.global, ZERO_GLOBAL);
    const global = {} as GlobalValues;
    GLOBAL_COUNTERS.forEach((d, i) => {
      global[d.name] = g[i];
    });
    return {
      labels: { ...this.labels },
      global,
      sum: channelValues(sum),
      perChannel,
      perQueue,
      retired: channelValues(retired),
    };
  }

  private read(block: Float64Array, zero: Float64Array): Float64Array {
    return this.enabled ? block : zero;
  }
}

/** The ten counters of struct ulp_ddp_stats from a snapshot (get_stats): global, then the seed's sums; no extras. */
export function seedValues(s: StatsSnapshot): Record<CounterName, number> {
  const out = { ...s.global } as Record<CounterName, number>;
  for (const d of SEED_CHANNEL_COUNTERS) out[d.name] = s.sum[d.name];
  return out;
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function channelValues(v: Float64Array): ChannelValues {
  const out = {} as ChannelValues;
  CHANNEL_COUNTERS.forEach((d, i) => {
    out[d.name] = v[i];
  });
  return out;
}
