// The offload counters as the verbs show them, all from the exporters: seed-named
// JSON, the ethtool -S block, and the /metrics + /stats endpoint of a device.
import { formatEthtool } from '../exporters/ethtool.ts';
import { statsToJson } from '../exporters/json.ts';
import { formatPrometheus } from '../exporters/prometheus.ts';
import type { SocketDevice } from '../offload/socket-device.ts';
import type { StatsSnapshot } from '../stats/registry.ts';
import type { StatsEndpoints } from './stats-server.ts';

/** The ten seed counters by their ethtool names: global, then the data path summed over channels. */
export function offloadCounters(s: StatsSnapshot): Record<string, unknown> {
  return statsToJson(s);
}

/** ethtool -S text of the summed counters. */
export function formatOffloadBlock(s: StatsSnapshot): string {
  return formatEthtool(s);
}

/**
 * /metrics: Prometheus text; /stats: the snapshot itself (what `nvmeotcp stats`
 * reads back to print ethtool -S text, per queue or per channel, and rates).
 * Each request takes a snapshot of its own.
 */
export function offloadEndpoints(device: SocketDevice): StatsEndpoints {
  return {
    metrics: () => formatPrometheus(device.snapshot()),
    stats: () => device.snapshot(),
  };
}
