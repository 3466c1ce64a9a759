// Prometheus text exposition (format 0.0.4), rendered from snapshots at scrape
// time. One family per counter, `nvmeotcp_rx_<counter>_total` for the seed's
// ten and `nvmeotcp_queue_<counter>_total` for our flow totals (rx_packets,
// rx_bytes), with its help text. Global counters carry the device labels; data-path counters carry them
// plus `ctrl` (when the queue has one) and `queue`, one series per live queue and
// one `queue="retired"` series for what no live queue owns (removed queues, pieces
// that found no queue), so `sum by` over a device never goes backwards. The sums
// are not exported: PromQL computes them without double counting.
import { CHANNEL_COUNTERS, type CounterDesc, GLOBAL_COUNTERS } from '../stats/counters.ts';
import type { StatsSnapshot } from '../stats/registry.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** nvmeotcp_rx_<name without rx_nvmeotcp_>_total; ours (rx_packets): nvmeotcp_queue_rx_packets_total. */
export function promName(d: CounterDesc): string {
  const seed = /^rx_nvmeotcp_(.*)$/.exec(d.name);
  return seed ? `nvmeotcp_rx_${seed[1]}_total` : `nvmeotcp_queue_${d.name}_total`;
}

const escLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelSet(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/**
 * The exposition text for one device's snapshot, or several devices' (their label
 * sets must differ, e.g. by a `device` label).
 */
export function formatPrometheus(snaps: StatsSnapshot | readonly StatsSnapshot[]): string {
  const list: readonly StatsSnapshot[] = Array.isArray(snaps) ? snaps : [snaps as StatsSnapshot];
  let out = '';
  for (const d of GLOBAL_COUNTERS) {
    const name = promName(d);
    out += `# HELP ${name} ${escHelp(d.help)}\n# TYPE ${name} counter\n`;
    for (const s of list) out += `${name}${labelSet(s.labels)} ${s.global[d.name]}\n`;
  }
  for (const d of CHANNEL_COUNTERS) {
    const name = promName(d);
    out += `# HELP ${name} ${escHelp(d.help)}\n# TYPE ${name} counter\n`;
    for (const s of list) {
      for (const q of s.perQueue) {
        const l: Record<string, string> = { ...s.labels };
        if (q.ctrl !== undefined) l.ctrl = q.ctrl;
        l.queue = String(q.queueId);
        out += `${name}${labelSet(l)} ${q.values[d.name]}\n`;
      }
      out += `${name}${labelSet({ ...s.labels, queue: 'retired' })} ${s.retired[d.name]}\n`;
    }
  }
  return out;
}
