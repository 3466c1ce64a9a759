import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { snapshotEndpoints, type StatsEndpoints, startStatsServer } from '../../../src/exporters/http.ts';
import { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from '../../../src/exporters/prometheus.ts';
import { crc32cImplementation } from '../../../src/protocol/crc32c.ts';
import { C, G } from '../../../src/stats/counters.ts';
import { StatsRegistry } from '../../../src/stats/registry.ts';

const LOOPBACK = { host: '127.0.0.1', port: 0 };

function fixedEndpoints(): StatsEndpoints & { calls: number } {
  const ep = {
    calls: 0,
    metrics: () => {
      ep.calls++;
      return '# TYPE x_total counter\nx_total 1\n';
    },
    stats: () => {
      ep.calls++;
      return { counters: { x: 1 } };
    },
  };
  return ep;
}

test('stats server - GET /metrics is Prometheus text, GET /stats is JSON, each rendered per request', async (t) => {
  const ep = fixedEndpoints();
  const s = await startStatsServer(LOOPBACK, ep);
  t.after(() => s.close());
  assert.equal(s.address.host, '127.0.0.1');
  assert.ok(s.address.port > 0);
  const base = `http://127.0.0.1:${s.address.port}`;

  const m = await fetch(`${base}/metrics`);
  assert.equal(m.status, 200);
  assert.equal(m.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE);
  assert.equal(await m.text(), '# TYPE x_total counter\nx_total 1\n');

  const j = await fetch(`${base}/stats?pretty=1`);
  assert.equal(j.status, 200);
  assert.equal(j.headers.get('content-type'), 'application/json');
  // The server adds which CRC32C implementation computes the digests.
  assert.deepEqual(await j.json(), { counters: { x: 1 }, crc32c: crc32cImplementation() });
  assert.equal(ep.calls, 2);
});

test('stats server - HEAD has the length but no body; other methods 405; other paths 404', async (t) => {
  const s = await startStatsServer(LOOPBACK, fixedEndpoints());
  t.after(() => s.close());
  const base = `http://127.0.0.1:${s.address.port}`;

  const h = await fetch(`${base}/metrics`, { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.headers.get('content-length'), String('# TYPE x_total counter\nx_total 1\n'.length));
  assert.equal(await h.text(), '');

  const p = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(p.status, 405);
  assert.equal(p.headers.get('allow'), 'GET, HEAD');
  await p.text();

  const n = await fetch(`${base}/nope`);
  assert.equal(n.status, 404);
  assert.match(await n.text(), /try \/metrics, \/stats or \/dashboard/);
});

test('stats server - an endpoint that throws answers 500 with its message, and the server keeps serving', async (t) => {
  const ep: StatsEndpoints = {
    metrics: () => {
      throw new Error('snapshot failed');
    },
    stats: () => ({ ok: true }),
  };
  const s = await startStatsServer(LOOPBACK, ep);
  t.after(() => s.close());
  const base = `http://127.0.0.1:${s.address.port}`;
  const r = await fetch(`${base}/metrics`);
  assert.equal(r.status, 500);
  assert.equal(await r.text(), 'snapshot failed\n');
  assert.deepEqual(await (await fetch(`${base}/stats`)).json(), { ok: true, crc32c: crc32cImplementation() });
});

test('stats server - a port in use rejects with the listen error', async (t) => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const port = (busy.address() as { port: number }).port;
  await assert.rejects(startStatsServer({ host: '127.0.0.1', port }, fixedEndpoints()), { code: 'EADDRINUSE' });
});

test('stats server - close() resolves with a keep-alive scraper connection still open', async (t) => {
  const s = await startStatsServer(LOOPBACK, fixedEndpoints());
  t.after(() => s.close()); // a second close() resolves too
  const r = await fetch(`http://127.0.0.1:${s.address.port}/metrics`, { headers: { connection: 'keep-alive' } });
  await r.text();
  await s.close();
  await assert.rejects(fetch(`http://127.0.0.1:${s.address.port}/metrics`));
});

test('snapshot endpoints - /metrics and /stats come from a fresh snapshot of the source each time', () => {
  const r = new StatsRegistry({ channels: 1, labels: { role: 'host' } });
  const q = r.addQueue(1, 0, 'c1');
  const ep = snapshotEndpoints(r);
  r.global[G.skAdd] = 1;
  q.values[C.bytes] = 4096;
  assert.equal(ep.metrics(), formatPrometheus(r.snapshot()));
  assert.deepEqual(ep.stats(), r.snapshot());
  q.values[C.bytes] += 4096;
  const fams = parsePrometheusTextFormat(ep.metrics());
  const bytes = fams.find((f) => f.name === 'nvmeotcp_rx_bytes_total');
  assert.ok(bytes, 'nvmeotcp_rx_bytes_total is exported');
  assert.equal(bytes.metrics.find((m) => m.labels?.queue === '1')?.value, '8192');
  assert.equal((ep.stats() as ReturnType<StatsRegistry['snapshot']>).sum.rx_nvmeotcp_bytes, 8192);
});

test('stats server - /dashboard is the HTML page, / redirects to it', async (t) => {
  const s = await startStatsServer(LOOPBACK, fixedEndpoints());
  t.after(() => s.close());
  const base = `http://127.0.0.1:${s.address.port}`;
  const d = await fetch(`${base}/dashboard`);
  assert.equal(d.status, 200);
  assert.equal(d.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await d.text();
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /fetch\('stats'/);
  const r = await fetch(`${base}/`, { redirect: 'manual' });
  assert.equal(r.status, 302);
  assert.equal(r.headers.get('location'), '/dashboard');
  await r.text();
});
