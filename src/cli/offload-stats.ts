// The /metrics + /stats endpoint of an offload device (the verbs print its counters
// with the exporters directly: statsToJson, formatEthtool).
import { capsGetReply, statsGetReply } from '../exporters/netlink.ts';
import { formatPrometheus } from '../exporters/prometheus.ts';
import type { SocketDevice } from '../offload/socket-device.ts';
import type { StatsEndpoints } from './stats-server.ts';

/**
 * /metrics: Prometheus text; /stats: the snapshot itself (what `nvmeotcp stats`
 * reads back to print ethtool -S text, per queue or per channel, and rates) plus
 * the ulp-ddp netlink replies (`netlink: { 'stats-get', 'caps-get' }`).
 * Each request takes a snapshot of its own.
 */
export function offloadEndpoints(device: SocketDevice): StatsEndpoints {
  return {
    metrics: () => formatPrometheus(device.snapshot()),
    stats: () => {
      const snap = device.snapshot();
      const netlink = { 'stats-get': statsGetReply(snap, device.ifindex), 'caps-get': capsGetReply(device.getCaps(), device.ifindex) };
      return { ...snap, netlink };
    },
  };
}
