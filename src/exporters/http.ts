// The stats endpoint of a host or target process: a small node:http server answering
//   GET /metrics  Prometheus text exposition (format 0.0.4)
//   GET /stats    the same counters as JSON
//   GET /dashboard a live page charting /stats once a second (dashboard.ts); / redirects there
// Both are rendered from one fresh snapshot per request (at scrape time, never on
// a timer), so a scrape always sees the counters as they are now. `nvmeotcp target`,
// `perf` and `demo --stats-listen` serve it; a library user can serve any device.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32cImplementation } from '../protocol/crc32c.ts';
import type { IoSnapshot } from '../stats/io.ts';
import type { StatsSnapshot } from '../stats/registry.ts';
import { DASHBOARD_HTML } from './dashboard.ts';
import { type CapsState, capsGetReply, statsGetReply } from './netlink.ts';
import { formatHostPrometheus, formatPrometheus, PROMETHEUS_CONTENT_TYPE } from './prometheus.ts';

export interface StatsEndpoints {
  /** Prometheus text, rendered from a snapshot taken now. */
  metrics(): string;
  /** JSON-serialisable stats, from a snapshot taken now. */
  stats(): unknown;
}

export interface StatsServer {
  /** Where it listens (the port the system picked when asked for port 0). */
  readonly address: { host: string; port: number };
  /** Stops listening and drops open scraper connections. */
  close(): Promise<void>;
}

/** What snapshotEndpoints serves: anything with a snapshot; an offload device also has caps and an ifindex. */
export interface SnapshotSource {
  snapshot(): StatsSnapshot;
  getCaps?(): CapsState;
  readonly ifindex?: number;
}

/**
 * The endpoints of anything with offload counters (a socket or packet device, a
 * StatsRegistry): /metrics is its Prometheus text, /stats the snapshot itself (what
 * `nvmeotcp stats` reads back to print ethtool -S text and rates), for a device with
 * the ulp-ddp netlink replies beside it (`netlink: { 'stats-get', 'caps-get' }`,
 * what `nvmeotcp stats --netlink` prints). Each request takes a snapshot of its own.
 */
export function snapshotEndpoints(source: SnapshotSource): StatsEndpoints {
  return {
    metrics: () => formatPrometheus(source.snapshot()),
    stats: () => {
      const snap = source.snapshot();
      if (source.getCaps === undefined || source.ifindex === undefined) return snap;
      const netlink = { 'stats-get': statsGetReply(snap, source.ifindex), 'caps-get': capsGetReply(source.getCaps(), source.ifindex) };
      return { ...snap, netlink };
    },
  };
}

/**
 * What a host controller may count: the times it re-established its association
 * after losing it. A controller without the property counts 0 (reconnectsOf).
 */
export interface ReconnectCounter {
  readonly reconnects: number;
}

/** The controller's reconnects if it counts them (ReconnectCounter), else 0. */
export function reconnectsOf(ctrl: object): number {
  const v = (ctrl as Partial<ReconnectCounter>).reconnects;
  return typeof v === 'number' ? v : 0;
}

/** What a host process serves: its offload device (if any), its namespaces' I/O, its controllers' reconnects. */
export interface HostStatsSource {
  device?: SnapshotSource | undefined;
  /** Namespaces in use (the host's Namespace: its `stats` block). */
  namespaces: readonly { readonly stats: { snapshot(): IoSnapshot } }[];
  /** Each controller with its labels (e.g. { subsystem }). */
  controllers: readonly { labels: Record<string, string>; ctrl: object }[];
}

/**
 * The endpoints of a host: /metrics has the device's offload counters, the
 * `nvmeotcp_host_io_*` families and `nvmeotcp_host_reconnects_total`; /stats is the
 * device's /stats (snapshotEndpoints) with `io` (one IoSnapshot per namespace) and
 * `reconnects` beside it.
 */
export function hostEndpoints(src: HostStatsSource): StatsEndpoints {
  const dev = src.device !== undefined ? snapshotEndpoints(src.device) : undefined;
  const io = () => src.namespaces.map((n) => n.stats.snapshot());
  const reconnects = () => src.controllers.map((c) => ({ labels: { ...c.labels }, value: reconnectsOf(c.ctrl) }));
  return {
    metrics: () => formatHostPrometheus({ offload: src.device?.snapshot(), io: io(), reconnects: reconnects() }),
    stats: () => ({ role: 'host', ...(dev ? (dev.stats() as object) : {}), io: io(), reconnects: reconnects() }),
  };
}

function handle(ep: StatsEndpoints, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  let body: string;
  let type: string;
  try {
    if (path === '/metrics') {
      body = ep.metrics();
      type = PROMETHEUS_CONTENT_TYPE;
    } else if (path === '/stats') {
      // Which CRC32C runs the digests is part of what a reader of the figures needs.
      const v = ep.stats();
      const doc = typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...v, crc32c: crc32cImplementation() } : v;
      body = `${JSON.stringify(doc, null, 2)}\n`;
      type = 'application/json';
    } else if (path === '/dashboard') {
      body = DASHBOARD_HTML;
      type = 'text/html; charset=utf-8';
    } else if (path === '/') {
      res.writeHead(302, { location: '/dashboard', 'content-type': 'text/plain' }).end('see /dashboard, /metrics, /stats\n');
      return;
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /stats or /dashboard\n');
      return;
    }
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Listens on `at` (port 0 picks a free port); rejects with the listen error (EADDRINUSE...). */
export async function startStatsServer(at: { host: string; port: number }, ep: StatsEndpoints): Promise<StatsServer> {
  const server = createServer((req, res) => handle(ep, req, res));
  // A scraper's keep-alive connection must not hold the process open at shutdown.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: { host: a.address, port: a.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
