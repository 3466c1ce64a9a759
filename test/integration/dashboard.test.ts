// The live dashboard in a real browser: a target and a host running I/O in this
// process, their stats endpoints, and headless Chromium loading /dashboard from
// each. The charts must have received data (the page's own state in the DOM), and
// a screenshot is taken: to a temp file, or to $DASHBOARD_PNG
// (scripts/dashboard-screenshot.sh regenerates docs/dashboard.png that way).
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { runWorkload } from '../../src/workload/workload.ts';
import { Browser, type Page } from '../helpers/chromium.ts';
import { startMetricsRig } from '../helpers/metrics-rig.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:dashboard';

interface ChartState {
  id: string;
  series: number;
  points: number;
}

const charts = (p: Page) =>
  p.eval<ChartState[]>(
    `[...document.querySelectorAll('figure.chart')].map((f) => ({ id: f.dataset.chart, series: Number(f.dataset.series), points: Number(f.dataset.points) }))`,
  );

/** Waits (a hang guard of a few minutes, not a speed limit) until `done` holds for the page's charts. */
async function waitCharts(p: Page, done: (c: ChartState[], polls: number) => boolean): Promise<ChartState[]> {
  for (let i = 0; ; i++) {
    const c = await charts(p);
    const polls = Number(await p.eval<string>("document.body?.dataset.polls ?? '0'"));
    if (done(c, polls)) return c;
    if (i === 1200) {
      const err = await p.eval<string | undefined>('document.body?.dataset.error');
      assert.fail(`dashboard charts never filled: ${JSON.stringify(c)}, ${polls} polls, error ${err}`);
    }
    await sleep(250);
  }
}

test('dashboard - charts per queue and per namespace fill from /stats in headless chromium; screenshot', async (t) => {
  const browser = await Browser.launch(t, { width: 1320, height: 1280 });
  if (browser === undefined) return;
  // After hooks run in the order they were added: the I/O stops before the rig closes.
  let stop = false;
  let io: Promise<void> = Promise.resolve();
  t.after(async () => {
    stop = true;
    await io;
  });
  const { ns, targetStats: tsrv, hostStats: hsrv } = await startMetricsRig(t, NQN, 16);

  // I/O until the test is done: 128 KiB reads are placed (above io_threshold), with writes mixed in.
  io = (async () => {
    while (!stop) {
      const r = await runWorkload(ns, { rw: 'randrw', rwmixread: 80, bs: 128 << 10, iodepth: 4, totalBytes: 8 << 20 });
      if (r.error !== undefined) throw new Error(r.error);
    }
  })();

  const page = await browser.open(`http://127.0.0.1:${hsrv.address.port}/`);
  const c = await waitCharts(page, (cs, polls) => {
    const placed = cs.find((x) => x.id === 'placed-bytes');
    const iops = cs.find((x) => x.id === 'iops');
    // For the committed screenshot, a longer history (per queue: points = 2 × seconds).
    const want = process.env.DASHBOARD_PNG === undefined ? 6 : 40;
    return polls >= 4 && placed !== undefined && placed.series === 2 && placed.points >= want && iops !== undefined && iops.points >= 3;
  });
  const byId = new Map(c.map((x) => [x.id, x]));
  for (const id of ['rx-bytes', 'placed-packets', 'share', 'io-bytes', 'io-latency']) assert.ok(byId.has(id), `chart ${id} drawn`);
  assert.equal(byId.get('rx-bytes')?.series, 2, 'one series per I/O queue');
  // The queue rates are real rates: the legend shows a non-zero placed rate for some queue.
  const legend = await page.eval<string>(`document.querySelector('figure[data-chart="placed-bytes"] ul').textContent`);
  assert.match(legend, /q1: \d/);
  assert.match(legend, /q2: \d/);
  assert.equal(await page.eval<string>('location.pathname'), '/dashboard', '/ redirects to the dashboard');

  const png = await page.screenshot();
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  const out = process.env.DASHBOARD_PNG ?? join(tmpdir(), `nvmeotcp-dashboard-${process.pid}.png`);
  writeFileSync(out, png);
  if (process.env.DASHBOARD_PNG === undefined) t.after(() => rmSync(out, { force: true }));

  // The target's endpoint serves the same page: its namespace I/O is charted too.
  const tpage = await browser.open(`http://127.0.0.1:${tsrv.address.port}/dashboard`);
  const tc = await waitCharts(tpage, (cs, polls) => polls >= 3 && (cs.find((x) => x.id === 'iops')?.points ?? 0) >= 2);
  assert.equal(
    tc.some((x) => x.id === 'placed-bytes'),
    false,
    'a target has no offload queues',
  );
});
