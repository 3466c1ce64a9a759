// What `nvmeotcp stats` reads back from a /stats endpoint: an offload device's
// snapshot (perf, demo) or a target's controller counters, and the per-second
// rates between two reads.
import { CHANNEL_COUNTERS, type ChannelValues, formatEthtool, GLOBAL_COUNTERS, type StatsSnapshot, statsToJson } from '../index.ts';
import { CliError } from './errors.ts';

export type ParsedStats =
  | { kind: 'offload'; raw: unknown; snapshot: StatsSnapshot; netlink?: NetlinkReplies }
  | { kind: 'counters'; raw: unknown; counters: Record<string, number> };

/** The ulp-ddp netlink replies an offload endpoint adds to its snapshot. */
export interface NetlinkReplies {
  'stats-get': Record<string, number>;
  'caps-get': { ifindex: number; hw: string[]; active: string[] };
}

export const NETLINK_OPS = ['stats-get', 'caps-get'] as const;
export type NetlinkOp = (typeof NETLINK_OPS)[number];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const allNumbers = (o: Record<string, unknown>, names: readonly string[]) => names.every((n) => typeof o[n] === 'number');

/** Accepts an offload snapshot (global + summed counters) or a `counters` map of numbers. */
export function parseStatsJson(raw: unknown, url: string): ParsedStats {
  if (!isObj(raw)) throw new CliError(`${url} did not answer with a JSON object`);
  if (
    isObj(raw.global) &&
    isObj(raw.sum) &&
    Array.isArray(raw.perQueue) &&
    allNumbers(
      raw.global,
      GLOBAL_COUNTERS.map((d) => d.name),
    ) &&
    allNumbers(
      raw.sum,
      CHANNEL_COUNTERS.map((d) => d.name),
    )
  ) {
    const nl = raw.netlink;
    const netlink = isObj(nl) && isObj(nl['stats-get']) && isObj(nl['caps-get']) ? (nl as unknown as NetlinkReplies) : undefined;
    return netlink
      ? { kind: 'offload', raw, snapshot: raw as unknown as StatsSnapshot, netlink }
      : { kind: 'offload', raw, snapshot: raw as unknown as StatsSnapshot };
  }
  if (isObj(raw.counters) && allNumbers(raw.counters, Object.keys(raw.counters))) {
    return { kind: 'counters', raw, counters: raw.counters as Record<string, number> };
  }
  throw new CliError(`${url} is not an nvmeotcp stats endpoint (no counters in its answer)`);
}

function rates<T extends Record<string, number>>(a: T | undefined, b: T, secs: number): T {
  const out: Record<string, number> = {};
  for (const k of Object.keys(b)) out[k] = Math.round((b[k] - (a?.[k] ?? 0)) / secs);
  return out as T;
}

/** Per-second change from a to b; queues that appeared since a count from 0. */
export function rateSnapshot(a: ParsedStats, b: ParsedStats, secs: number): ParsedStats {
  if (a.kind === 'counters' && b.kind === 'counters') {
    const r = rates(a.counters, b.counters, secs);
    return { kind: 'counters', raw: { counters: r }, counters: r };
  }
  if (a.kind !== 'offload' || b.kind !== 'offload') throw new CliError('the endpoint changed kind between two reads');
  const x = a.snapshot;
  const y = b.snapshot;
  const key = (q: { ctrl?: string; queueId: number }) => `${q.ctrl ?? ''}/${q.queueId}`;
  const before = new Map(x.perQueue.map((q) => [key(q), q.values]));
  const snap: StatsSnapshot = {
    labels: y.labels,
    global: rates(x.global, y.global, secs),
    sum: rates(x.sum, y.sum, secs),
    perChannel: y.perChannel.map((c) => ({
      channel: c.channel,
      values: rates<ChannelValues>(x.perChannel.find((p) => p.channel === c.channel)?.values, c.values, secs),
    })),
    perQueue: y.perQueue.map((q) => ({ ...q, values: rates<ChannelValues>(before.get(key(q)), q.values, secs) })),
    retired: rates(x.retired, y.retired, secs),
  };
  return { kind: 'offload', raw: snap, snapshot: snap };
}

export interface ViewOptions {
  perQueue: boolean;
  perChannel: boolean;
}

/** A target's endpoint serves its controller counters, not a NIC's: its own header. */
function countersHeader(raw: unknown): string {
  const role = isObj(raw) && typeof raw.role === 'string' ? raw.role : '';
  return role === 'target' ? 'Target statistics:' : 'Statistics:';
}

/** ethtool -S layout for an offload device ("NIC statistics:"); the counters of a target under their own header. */
export function formatStatsText(p: ParsedStats, o: ViewOptions): string {
  if (p.kind === 'offload') return formatEthtool(p.snapshot, o);
  let t = `${countersHeader(p.raw)}\n`;
  for (const [k, v] of Object.entries(p.counters)) t += `     ${k}: ${v}\n`;
  return t;
}

/**
 * One block of `stats --watch`: the rates between two reads, labelled as rates. The
 * header names the time of the second read and the interval ("NIC statistics per
 * second at 2026-01-15T09:05:07.000Z (over 1.00 s):"), every value ends in "/s".
 */
export function formatRatesText(rates: ParsedStats, latest: ParsedStats, o: ViewOptions, at: Date, secs: number): string {
  const body = formatStatsText(rates, o);
  const nl = body.indexOf('\n');
  const header = (rates.kind === 'offload' ? 'NIC statistics:' : countersHeader(latest.raw)).replace(/:$/, '');
  const lines = body
    .slice(nl + 1)
    .split('\n')
    .map((l) => (l === '' ? l : `${l}/s`));
  return `${header} per second at ${at.toISOString()} (over ${secs.toFixed(2)} s):\n${lines.join('\n')}`;
}

/** JSON for either kind: an offload snapshot as the exporter's seed-named JSON. */
export function statsJson(p: ParsedStats, o: ViewOptions): unknown {
  return p.kind === 'offload' ? statsToJson(p.snapshot, o) : p.raw;
}

/** The reply of a ulp-ddp netlink op, as `ynl --family ulp_ddp --do <op> --json` prints it. */
export function netlinkReply(p: ParsedStats, op: NetlinkOp, url: string): unknown {
  if (p.kind !== 'offload') throw new CliError(`${url} has no offload device: --netlink needs the endpoint of perf or demo`);
  if (p.netlink === undefined) throw new CliError(`${url} does not give the netlink replies (an older nvmeotcp?)`);
  return p.netlink[op];
}
