// The live dashboard the stats endpoint serves at /dashboard: one self-contained HTML
// page (no build step, no chart library) that reads /stats once a second and draws
// per-queue and per-namespace rates as SVG line charts.
//
// Plain SVG rather than a vendored chart library: a line chart of a few series over
// two minutes is a polyline per series, which takes less code than wiring a library
// in; and the page being a string in a module means it ships wherever the compiled
// JavaScript does (no asset file to copy, no path into node_modules to resolve when
// the package is installed as a dependency).
//
// The page keeps its state in the DOM for tools and tests: <body data-polls> counts
// the answers read, data-error holds the last failure; each chart is a
// <figure data-chart=ID data-series=N data-points=M> (M: points over all series).

const SCRIPT = `
'use strict';
const KEEP = 120;
const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
// Each chart: what it shows, and how to read its series from one /stats answer.
// rate: per-second change of a counter; ratio: change of a over change of b; gauge: the value.
const queueKey = (q) => (q.ctrl ? q.ctrl + ' ' : '') + 'q' + q.queueId;
const nsKey = (n) => (n.labels.subsystem ? n.labels.subsystem + ' ' : '') + 'ns' + n.labels.namespace;
const perQueue = (s, f) => (Array.isArray(s.perQueue) ? s.perQueue.map((q) => [queueKey(q), f(q.values)]) : []);
const perNs = (s, f) => (Array.isArray(s.io) ? s.io.map((n) => [nsKey(n), f(n.ops)]) : []);
const CHARTS = [
  { id: 'iops', title: 'IOPS per namespace', unit: '/s', kind: 'rate', read: (s) => perNs(s, (o) => o.read.commands + o.write.commands + o.other.commands) },
  { id: 'io-bytes', title: 'I/O bytes per namespace', unit: 'B/s', kind: 'rate', read: (s) => perNs(s, (o) => o.read.bytes + o.write.bytes) },
  { id: 'io-latency', title: 'Mean I/O latency per namespace', unit: 's', kind: 'ratio', read: (s) => perNs(s, (o) => [o.read.latencySum + o.write.latencySum, o.read.commands + o.write.commands]) },
  { id: 'placed-bytes', title: 'Bytes placed directly per queue', unit: 'B/s', kind: 'rate', read: (s) => perQueue(s, (v) => v.rx_nvmeotcp_bytes) },
  { id: 'rx-bytes', title: 'Bytes received per queue', unit: 'B/s', kind: 'rate', read: (s) => perQueue(s, (v) => v.rx_bytes) },
  { id: 'placed-packets', title: 'Packets placed per queue', unit: '/s', kind: 'rate', read: (s) => perQueue(s, (v) => v.rx_nvmeotcp_packets) },
  { id: 'share', title: 'Offloaded share of bytes per queue', unit: '%', kind: 'ratio', scale: 100, read: (s) => perQueue(s, (v) => [v.rx_nvmeotcp_bytes, v.rx_bytes]) },
  { id: 'resync', title: 'Resyncs per queue', unit: '/s', kind: 'rate', read: (s) => perQueue(s, (v) => v.rx_nvmeotcp_resync) },
  { id: 'budget', title: 'Target data budget in use', unit: 'B', kind: 'gauge', read: (s) => (s.data_budget ? [['used', s.data_budget.used]] : []) },
  { id: 'controllers', title: 'Target connects per second', unit: '/s', kind: 'rate', read: (s) => (s.counters && typeof s.counters.target_connects === 'number' ? [['connects', s.counters.target_connects]] : []) },
];
const state = new Map(CHARTS.map((c) => [c.id, { prev: new Map(), series: new Map() }]));
let polls = 0;
let t0 = 0;

function human(v, unit) {
  if (!Number.isFinite(v)) return '-';
  if (unit === 's') return v >= 1 ? v.toFixed(2) + ' s' : v >= 1e-3 ? (v * 1e3).toFixed(2) + ' ms' : (v * 1e6).toFixed(1) + ' µs';
  if (unit === '%') return v.toFixed(1) + ' %';
  const k = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (Math.abs(v) >= 1000 && i < k.length - 1) { v /= 1000; i++; }
  const digits = Math.abs(v) >= 100 || Number.isInteger(v) ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return v.toFixed(digits) + ' ' + k[i] + unit;
}

function update(s, now) {
  for (const c of CHARTS) {
    const st = state.get(c.id);
    for (const [key, raw] of c.read(s)) {
      const prev = st.prev.get(key);
      st.prev.set(key, { t: now, raw });
      let y;
      if (c.kind === 'gauge') y = raw;
      else if (prev === undefined || now <= prev.t) continue;
      else if (c.kind === 'rate') y = Math.max(0, (raw - prev.raw) / (now - prev.t));
      else {
        const db = raw[1] - prev.raw[1];
        if (db <= 0) continue;
        y = ((raw[0] - prev.raw[0]) / db) * (c.scale || 1);
      }
      let pts = st.series.get(key);
      if (pts === undefined) st.series.set(key, (pts = []));
      pts.push([now - t0, y]);
      if (pts.length > KEEP) pts.shift();
    }
  }
}

const NS = 'http://www.w3.org/2000/svg';
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function draw(c) {
  const st = state.get(c.id);
  const grid = document.getElementById('charts');
  let fig = document.querySelector('figure[data-chart="' + c.id + '"]');
  if (st.series.size === 0) return;
  if (fig === null) {
    fig = document.createElement('figure');
    fig.dataset.chart = c.id;
    fig.className = 'chart';
    grid.appendChild(fig);
  }
  const W = 400, H = 180, L = 64, R = 8, T = 8, B = 22;
  let xmin = Infinity, xmax = -Infinity, ymax = 0, points = 0;
  for (const pts of st.series.values()) for (const [x, y] of pts) { xmin = Math.min(xmin, x); xmax = Math.max(xmax, x); ymax = Math.max(ymax, y); points++; }
  if (!(xmax > xmin)) xmax = xmin + 1;
  if (!(ymax > 0)) ymax = 1;
  fig.dataset.series = String(st.series.size);
  fig.dataset.points = String(points);
  fig.textContent = '';
  const cap = document.createElement('figcaption');
  cap.textContent = c.title;
  fig.appendChild(cap);
  const svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H }, fig);
  const sx = (x) => L + ((x - xmin) / (xmax - xmin)) * (W - L - R);
  const sy = (y) => T + (1 - y / ymax) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = (ymax * i) / 4;
    el('line', { x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: 'grid' }, svg);
    el('text', { x: L - 4, y: sy(y) + 4, 'text-anchor': 'end' }, svg).textContent = human(y, c.unit);
  }
  el('text', { x: L, y: H - 6 }, svg).textContent = Math.round(xmin) + ' s';
  el('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, svg).textContent = Math.round(xmax) + ' s';
  const legend = document.createElement('ul');
  let i = 0;
  for (const [key, pts] of st.series) {
    const color = palette[i++ % palette.length];
    el('polyline', { points: pts.map(([x, y]) => sx(x).toFixed(1) + ',' + sy(y).toFixed(1)).join(' '), stroke: color, class: 'line' }, svg);
    const li = document.createElement('li');
    li.style.setProperty('--c', color);
    li.textContent = key + ': ' + human(pts[pts.length - 1][1], c.unit);
    legend.appendChild(li);
  }
  fig.appendChild(legend);
}

async function poll() {
  const now = performance.now() / 1000;
  if (t0 === 0) t0 = now;
  try {
    const r = await fetch('stats', { cache: 'no-store' });
    if (!r.ok) throw new Error('/stats answered ' + r.status);
    const s = await r.json();
    update(s, now);
    polls++;
    document.body.dataset.polls = String(polls);
    delete document.body.dataset.error;
    const who = [s.role || 'offload device', s.crc32c ? 'CRC32C ' + s.crc32c : ''].filter(Boolean).join(', ');
    document.getElementById('status').textContent = who + ' · ' + new Date().toLocaleTimeString() + ' · ' + polls + ' reads';
    for (const c of CHARTS) draw(c);
  } catch (e) {
    document.body.dataset.error = String(e && e.message ? e.message : e);
    document.getElementById('status').textContent = 'error: ' + document.body.dataset.error;
  }
}
poll();
setInterval(poll, 1000);
`;

const STYLE = `
body { font: 13px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px; }
#status { color: #666; margin-bottom: 12px; }
#charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure.chart { margin: 0; padding: 8px; background: #fff; border: 1px solid #ddd; border-radius: 4px; width: 400px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg text { font-size: 10px; fill: #666; }
line.grid { stroke: #eee; }
polyline.line { fill: none; stroke-width: 1.5; }
ul { list-style: none; padding: 0; margin: 4px 0 0; display: flex; flex-wrap: wrap; gap: 2px 12px; }
li::before { content: ''; display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; background: var(--c); }
`;

/** The page served at /dashboard. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nvmeotcp dashboard</title>
<style>${STYLE}</style>
</head>
<body data-polls="0">
<h1>nvmeotcp</h1>
<div id="status">reading /stats…</div>
<div id="charts"></div>
<script>${SCRIPT}</script>
</body>
</html>
`;
