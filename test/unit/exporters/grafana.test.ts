// docs/grafana/nvmeotcp.json works with what the exporters produce: every metric a
// panel's expression names is one our /metrics text has (host, with offload, and
// target), and every expression is valid PromQL (promtool check rules, with
// Grafana's $__ macros and variables replaced by plain values).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatHostPrometheus, formatTargetPrometheus } from '../../../src/exporters/prometheus.ts';
import { IoOpIndex, IoStats } from '../../../src/stats/io.ts';
import { StatsRegistry } from '../../../src/stats/registry.ts';

const DASHBOARD = new URL('../../../docs/grafana/nvmeotcp.json', import.meta.url);

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

function exprs(): { panel: string; expr: string }[] {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: { list: { query: unknown }[] } };
  const out = d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
  for (const v of d.templating.list)
    if (typeof v.query === 'string' && v.query.includes('(')) out.push({ panel: 'variable', expr: v.query });
  return out;
}

/** Every sample name our exporters write (histogram series with their suffixes). */
function produced(): Set<string> {
  const io = new IoStats({ subsystem: 's', namespace: '1' });
  io.record(IoOpIndex.read, 4096, true, 1e-4);
  const reg = new StatsRegistry({ channels: 1 });
  reg.addQueue(1, 0, 'c');
  const text =
    formatHostPrometheus({ offload: reg.snapshot(), io: [io.snapshot()], reconnects: [{ labels: { subsystem: 's' }, value: 0 }] }) +
    formatTargetPrometheus({
      connects: 1,
      disconnects: 0,
      controllers: 1,
      connections: 2,
      ioQueues: 1,
      budget: { limit: 1, used: 0, peak: 0, waiting: 0, pooled: 0 },
      io: [io.snapshot()],
    });
  return new Set(
    text
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0]),
  );
}

test('grafana dashboard - every metric its expressions name is one the exporters produce', () => {
  const have = produced();
  const all = exprs();
  assert.ok(all.length >= 10, 'the dashboard has its panels');
  const titles = new Set(all.map((e) => e.panel));
  for (const want of [
    'Offloaded share of packets and bytes',
    'Placement rate per queue',
    'Resyncs and drops',
    'IOPS',
    'Host latency (p50, p99)',
  ]) {
    assert.ok(titles.has(want), `panel ${want}`);
  }
  for (const { panel, expr } of all) {
    const names = expr.match(/\bnvmeotcp_[a-z0-9_]+\b/g) ?? [];
    assert.ok(names.length > 0, `${panel}: ${expr} names no nvmeotcp metric`);
    for (const n of names) assert.ok(have.has(n), `${panel}: ${n} is not produced by the exporters`);
  }
  assert.ok(all.some((e) => /histogram_quantile\(0\.99, sum by \(le/.test(e.expr)));
});

test('grafana dashboard - every expression is valid PromQL (promtool check rules)', (t) => {
  if (spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status !== 0) {
    assert.ok(process.env.CI !== 'true', 'promtool is missing in CI: .ci/run must install the prometheus package');
    t.skip('promtool not installed (apt-get install prometheus)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-grafana-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const plain = (e: string) => e.replace(/\$__rate_interval|\$__range|\$__interval/g, '5m').replace(/\$instance/g, '.*');
  const rules = exprs()
    .filter((e) => e.panel !== 'variable')
    .map((e, i) => `      - record: nvmeotcp:dashboard_${i}\n        expr: ${JSON.stringify(plain(e.expr))}\n`)
    .join('');
  const file = join(dir, 'rules.yml');
  writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}`);
  const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
