// JSON from one snapshot: the ten counters flat, in struct ulp_ddp_stats order,
// then our flow totals (rx_packets, rx_bytes), under the seed's names
// (rx_nvmeotcp_*) or the ulp-ddp netlink family's spelling (rx-nvme-tcp-*; the
// extras, which the family lacks, dashed the same way: rx-packets), plus optional
// per-queue and per-channel breakdowns under the same names. The exact stats-get
// reply (the ten and nothing else) is netlink.ts.
import { CHANNEL_COUNTERS, GLOBAL_COUNTERS } from '../stats/counters.ts';
import type { ChannelValues, StatsSnapshot } from '../stats/registry.ts';

export interface JsonOptions {
  /** Key spelling. Default 'seed'. */
  names?: 'seed' | 'netlink';
  perQueue?: boolean;
  perChannel?: boolean;
}

export interface StatsJson {
  [counter: string]: unknown;
  labels?: Record<string, string>;
  queues?: Record<string, number | string>[];
  channels?: Record<string, number>[];
}

export function statsToJson(s: StatsSnapshot, o: JsonOptions = {}): StatsJson {
  const key = (d: { name: string; netlink?: string }): string =>
    o.names !== 'netlink' ? d.name : (d.netlink ?? d.name.replace(/_/g, '-'));
  const channelValues = (v: ChannelValues, into: Record<string, number | string>): void => {
    for (const d of CHANNEL_COUNTERS) into[key(d)] = v[d.name];
  };
  const out: StatsJson = {};
  if (Object.keys(s.labels).length > 0) out.labels = { ...s.labels };
  for (const d of GLOBAL_COUNTERS) out[key(d)] = s.global[d.name];
  for (const d of CHANNEL_COUNTERS) out[key(d)] = s.sum[d.name];
  if (o.perQueue) {
    out.queues = s.perQueue.map((q) => {
      const e: Record<string, number | string> = { queue: q.queueId };
      if (q.ctrl !== undefined) e.ctrl = q.ctrl;
      e.channel = q.channel;
      channelValues(q.values, e);
      return e;
    });
  }
  if (o.perChannel) {
    out.channels = s.perChannel.map((c) => {
      const e: Record<string, number> = { channel: c.channel };
      channelValues(c.values, e);
      return e;
    });
  }
  return out;
}
