// `ethtool -S` style text from one snapshot, in ethtool order: the global
// counters, then the data-path sums (the seed's four, then our flow totals
// rx_packets and rx_bytes, as mlx5 names its per-RQ totals), then (on request)
// one `rx<N>_` block per live queue and one `ch<N>_` block per channel.
//
//   NIC statistics:
//        rx_nvmeotcp_sk_add: 8
//        ...
//        rx1_nvmeotcp_bytes: 1048576
import { CHANNEL_COUNTERS, GLOBAL_COUNTERS } from '../stats/counters.ts';
import type { StatsSnapshot } from '../stats/registry.ts';

export interface EthtoolOptions {
  /** Add the live queues' counters (`rx<queueId>_nvmeotcp_*`). */
  perQueue?: boolean;
  /** Add each receive channel's counters (`ch<channel>_nvmeotcp_*`). */
  perChannel?: boolean;
}

const line = (name: string, v: number): string => `     ${name}: ${v}\n`;

/** Makes a controller label usable inside an ethtool key. */
const keyPart = (s: string): string => s.replace(/[^A-Za-z0-9_.:-]/g, '_');

export function formatEthtool(s: StatsSnapshot, o: EthtoolOptions = {}): string {
  let out = 'NIC statistics:\n';
  for (const d of GLOBAL_COUNTERS) out += line(d.name, s.global[d.name]);
  for (const d of CHANNEL_COUNTERS) out += line(d.name, s.sum[d.name]);
  if (o.perQueue) {
    // Several controllers on one device reuse queue IDs: their keys carry the controller.
    const ctrls = new Set(s.perQueue.map((q) => q.ctrl ?? ''));
    for (const q of s.perQueue) {
      const pre = ctrls.size > 1 && q.ctrl !== undefined ? `${keyPart(q.ctrl)}_` : '';
      for (const d of CHANNEL_COUNTERS) out += line(`${pre}rx${q.queueId}_${d.rq}`, q.values[d.name]);
    }
  }
  if (o.perChannel) {
    for (const c of s.perChannel) {
      for (const d of CHANNEL_COUNTERS) out += line(`ch${c.channel}_${d.rq}`, c.values[d.name]);
    }
  }
  return out;
}
