// The offload counters as the verbs show them: seed-named values for JSON, the
// ethtool -S block and the stats endpoint of a device.
import type { SocketDevice } from '../offload/socket-device.ts';
import { CHANNEL_COUNTERS, GLOBAL_COUNTERS } from '../stats/counters.ts';
import type { StatsSnapshot } from '../stats/registry.ts';
import type { StatsEndpoints } from './stats-server.ts';

/** The ten seed counters by their ethtool names: global, then the data path summed over channels. */
export function offloadCounters(s: StatsSnapshot): Record<string, number> {
  return { ...s.global, ...s.sum };
}

const line = (name: string, v: number) => `     ${name}: ${v}\n`;

/** ethtool -S text: global counters, their channel sums, and with perQueue rx<N>_ lines per queue. */
export function ethtoolText(s: StatsSnapshot, perQueue: boolean): string {
  let t = 'NIC statistics:\n';
  for (const d of GLOBAL_COUNTERS) t += line(d.name, s.global[d.name]);
  for (const d of CHANNEL_COUNTERS) t += line(d.name, s.sum[d.name]);
  if (perQueue) {
    for (const q of s.perQueue) {
      for (const d of CHANNEL_COUNTERS) t += line(`rx${q.queueId}_${d.rq}`, q.values[d.name]);
    }
  }
  return t;
}

/** ethtool -S text of the summed counters. */
export function formatOffloadBlock(s: StatsSnapshot): string {
  return ethtoolText(s, false);
}

function prometheusText(s: StatsSnapshot): string {
  let t = '';
  for (const d of GLOBAL_COUNTERS) {
    t += `# HELP nvmeotcp_${d.name}_total ${d.help}\n# TYPE nvmeotcp_${d.name}_total counter\n`;
    t += `nvmeotcp_${d.name}_total ${s.global[d.name]}\n`;
  }
  for (const d of CHANNEL_COUNTERS) {
    t += `# HELP nvmeotcp_${d.name}_total ${d.help}\n# TYPE nvmeotcp_${d.name}_total counter\n`;
    for (const q of s.perQueue) t += `nvmeotcp_${d.name}_total{queue="${q.queueId}"} ${q.values[d.name]}\n`;
    t += `nvmeotcp_${d.name}_total{queue="retired"} ${s.retired[d.name]}\n`;
  }
  return t;
}

/** /metrics and /stats of one device, each rendered from a snapshot taken at request time. */
export function offloadEndpoints(device: SocketDevice): StatsEndpoints {
  return {
    metrics: () => prometheusText(device.snapshot()),
    stats: () => device.snapshot(),
  };
}
