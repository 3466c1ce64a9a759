// Prometheus text exposition (format 0.0.4), rendered from snapshots at scrape
// time.
//
// Offload counters: one family per counter, `nvmeotcp_rx_<counter>_total` for the
// seed's ten and `nvmeotcp_queue_<counter>_total` for our flow totals (rx_packets,
// rx_bytes), with its help text. Global counters carry the device labels; data-path
// counters carry them plus `ctrl`, `queue` and `channel`, one series per live queue
// and one `queue="retired"` series per channel for what no live queue owns (removed
// queues, pieces that found no queue), with the same label names (`ctrl=""` where
// there is none), so `sum by` over a device never goes backwards. `ctrl` names the
// target and subsystem, never a controller ID, so a reconnect keeps the series. The
// sums are not exported: PromQL computes them without double counting.
//
// I/O counters (stats/io.ts) of a host or target, per namespace:
// `<prefix>_io_commands_total`, `_io_bytes_total`, `_io_errors_total` and the
// histogram `<prefix>_io_latency_seconds`, labelled by the namespace's labels and
// `op` (read, write, other). A target adds its connection, controller and data
// budget gauges; a host its reconnects. Both add `nvmeotcp_build_info`.
import { CHANNEL_COUNTERS, type CounterDesc, GLOBAL_COUNTERS } from '../stats/counters.ts';
import { type BuildInfo, buildInfo } from './build-info.ts';
import { IO_OPS, type IoSnapshot, LATENCY_BOUNDS_SECONDS } from '../stats/io.ts';
import type { ChannelValues, StatsSnapshot } from '../stats/registry.ts';

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
        const l = { ...s.labels, ctrl: q.ctrl ?? '', queue: String(q.queueId), channel: String(q.channel) };
        out += `${name}${labelSet(l)} ${q.values[d.name]}\n`;
      }
      for (const c of s.perChannel) {
        const l = { ...s.labels, ctrl: '', queue: 'retired', channel: String(c.channel) };
        out += `${name}${labelSet(l)} ${retiredOf(s, c.channel, c.values)[d.name]}\n`;
      }
    }
  }
  return out;
}

/** What channel `ch` holds beyond its live queues: its removed queues and its queue-less pieces. */
function retiredOf(s: StatsSnapshot, ch: number, total: ChannelValues): ChannelValues {
  const out = { ...total };
  for (const q of s.perQueue) {
    if (q.channel !== ch) continue;
    for (const d of CHANNEL_COUNTERS) out[d.name] -= q.values[d.name];
  }
  return out;
}

function family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): string {
  return `# HELP ${name} ${escHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/** Shortest exact decimal of a bucket bound ("5e-06" is valid for Prometheus, and so is "0.000005"). */
const le = (v: number): string => String(v);

/** The I/O families of `prefix` (nvmeotcp_host, nvmeotcp_target) for these namespaces' snapshots. */
export function formatIoPrometheus(prefix: string, snaps: readonly IoSnapshot[]): string {
  const counters = [
    ['commands', 'I/O commands completed, failed ones included.'],
    ['bytes', 'Data bytes of the I/O commands that succeeded.'],
    ['errors', 'I/O commands completed with an error.'],
  ] as const;
  let out = '';
  for (const [k, help] of counters) {
    const name = `${prefix}_io_${k}_total`;
    out += family(name, 'counter', help);
    for (const s of snaps) for (const op of IO_OPS) out += `${name}${labelSet({ ...s.labels, op })} ${s.ops[op][k]}\n`;
  }
  const h = `${prefix}_io_latency_seconds`;
  out += family(h, 'histogram', 'I/O command latency, from submission (host) or arrival (target) to completion.');
  for (const s of snaps) {
    for (const op of IO_OPS) {
      const v = s.ops[op];
      const l = { ...s.labels, op };
      LATENCY_BOUNDS_SECONDS.forEach((b, i) => {
        out += `${h}_bucket${labelSet({ ...l, le: le(b) })} ${v.buckets[i]}\n`;
      });
      out += `${h}_bucket${labelSet({ ...l, le: '+Inf' })} ${v.commands}\n`;
      out += `${h}_sum${labelSet(l)} ${v.latencySum}\n`;
      out += `${h}_count${labelSet(l)} ${v.commands}\n`;
    }
  }
  return out;
}

/** `nvmeotcp_build_info{version,crc32c} 1`: the package version and the CRC32C implementation in use. */
export function formatBuildInfo(info: BuildInfo): string {
  return `${family('nvmeotcp_build_info', 'gauge', 'Version of nvmeotcp and the CRC32C implementation in use (always 1).')}nvmeotcp_build_info${labelSet({ version: info.version, crc32c: info.crc32c })} 1\n`;
}

/** What a target's /metrics shows besides its I/O (the CLI's target counters and NvmeTarget's own figures). */
export interface TargetMetrics {
  connects: number;
  disconnects: number;
  /** Live controllers, discovery ones included. */
  controllers: number;
  /** Open connections (one per queue, admin queues included) and the I/O queues among them. */
  connections: number;
  ioQueues: number;
  /** The data buffer budget (NvmeTarget.bufferBudget()). */
  budget: { limit: number; used: number; peak: number; waiting: number; pooled: number };
  io: readonly IoSnapshot[];
}

/** A target's exposition text: connects/disconnects, live controllers and queues, the data budget, per-namespace I/O. */
export function formatTargetPrometheus(t: TargetMetrics): string {
  let out = '';
  const one = (name: string, type: 'counter' | 'gauge', help: string, v: number) => {
    out += `${family(name, type, help)}${name} ${v}\n`;
  };
  one(
    'nvmeotcp_target_connects_total',
    'counter',
    'Controllers created by an accepted admin-queue Connect (discovery controllers included).',
    t.connects,
  );
  one(
    'nvmeotcp_target_disconnects_total',
    'counter',
    'Controllers that went away (shutdown, keep-alive expiry, connection loss).',
    t.disconnects,
  );
  one('nvmeotcp_target_controllers', 'gauge', 'Live controllers.', t.controllers);
  one('nvmeotcp_target_connections', 'gauge', 'Open connections (one per queue, admin queues included).', t.connections);
  one('nvmeotcp_target_io_queues', 'gauge', 'Connected I/O queues.', t.ioQueues);
  one('nvmeotcp_target_data_budget_limit_bytes', 'gauge', 'Bytes the data buffers of all connections may take.', t.budget.limit);
  one('nvmeotcp_target_data_budget_used_bytes', 'gauge', 'Bytes in data buffers that commands hold now.', t.budget.used);
  one('nvmeotcp_target_data_budget_peak_bytes', 'gauge', 'Highest data budget use so far.', t.budget.peak);
  one('nvmeotcp_target_data_budget_pooled_bytes', 'gauge', 'Bytes in free data buffers kept for reuse.', t.budget.pooled);
  one('nvmeotcp_target_data_budget_waiting_commands', 'gauge', 'Commands waiting for a data buffer.', t.budget.waiting);
  return out + formatIoPrometheus('nvmeotcp_target', t.io) + formatBuildInfo(buildInfo());
}

/** What a host's /metrics shows besides its offload device: its namespaces' I/O and its reconnects. */
export interface HostMetrics {
  /** The offload device's snapshot (none when offload is off). */
  offload?: StatsSnapshot | undefined;
  io: readonly IoSnapshot[];
  /** Reconnects of the controller(s), with their labels. */
  reconnects: readonly { labels: Record<string, string>; value: number }[];
}

/** A host's exposition text: the offload counters (if any), per-namespace I/O, reconnects. */
export function formatHostPrometheus(h: HostMetrics): string {
  let out = h.offload !== undefined ? formatPrometheus(h.offload) : '';
  out += formatIoPrometheus('nvmeotcp_host', h.io);
  const r = 'nvmeotcp_host_reconnects_total';
  out += family(r, 'counter', 'Times the host re-established a controller association after losing it.');
  for (const c of h.reconnects) out += `${r}${labelSet(c.labels)} ${c.value}\n`;
  return out + formatBuildInfo(buildInfo());
}
