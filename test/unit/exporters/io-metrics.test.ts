import assert from 'node:assert/strict';
import { test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { buildInfo, packageVersion } from '../../../src/exporters/build-info.ts';
import { reconnectsOf } from '../../../src/exporters/http.ts';
import { formatHostPrometheus, formatIoPrometheus, formatTargetPrometheus } from '../../../src/exporters/prometheus.ts';
import { crc32cImplementation } from '../../../src/protocol/crc32c.ts';
import { IoOpIndex, IoStats, LATENCY_BOUNDS_SECONDS } from '../../../src/stats/io.ts';
import { StatsRegistry } from '../../../src/stats/registry.ts';
import { promtoolCheck } from '../../helpers/promtool.ts';

function io(nsid: string): IoStats {
  const s = new IoStats({ subsystem: 'nqn.2024-01.io.test:a', namespace: nsid });
  s.record(IoOpIndex.read, 4096, true, 2e-5);
  s.record(IoOpIndex.read, 4096, true, 3e-3);
  s.record(IoOpIndex.write, 4096, false, 1e-4);
  return s;
}

const TARGET = {
  connects: 3,
  disconnects: 1,
  controllers: 2,
  connections: 5,
  ioQueues: 3,
  budget: { limit: 1 << 20, used: 4096, peak: 65536, waiting: 0, pooled: 8192 },
  io: [io('1').snapshot(), io('2').snapshot()],
};

test('io metrics - counters per namespace and op, a histogram with cumulative buckets, +Inf, _sum and _count', () => {
  const fams = parsePrometheusTextFormat(formatIoPrometheus('nvmeotcp_target', [io('1').snapshot()]));
  assert.deepEqual(
    fams.map((f) => [f.name, f.type]),
    [
      ['nvmeotcp_target_io_commands_total', 'COUNTER'],
      ['nvmeotcp_target_io_bytes_total', 'COUNTER'],
      ['nvmeotcp_target_io_errors_total', 'COUNTER'],
      ['nvmeotcp_target_io_latency_seconds', 'HISTOGRAM'],
    ],
  );
  const cmds = fams[0].metrics.map((m) => [m.labels?.op, m.value]);
  assert.deepEqual(cmds, [
    ['read', '2'],
    ['write', '1'],
    ['other', '0'],
  ]);
  assert.deepEqual(fams[0].metrics[0].labels, { subsystem: 'nqn.2024-01.io.test:a', namespace: '1', op: 'read' });
  assert.equal(fams[1].metrics[1].value, '0', 'a failed write moves no bytes');
  assert.equal(fams[2].metrics[1].value, '1');
  // The test parser folds histogram series together: read the lines of the read series.
  const text = formatIoPrometheus('nvmeotcp_target', [io('1').snapshot()]);
  const sel = '{subsystem="nqn.2024-01.io.test:a",namespace="1",op="read"';
  const bucket = (le: string) => new RegExp(`^nvmeotcp_target_io_latency_seconds_bucket${sel},le="${le}"} (\\S+)$`, 'm').exec(text)?.[1];
  const buckets = text.split('\n').filter((l) => l.startsWith(`nvmeotcp_target_io_latency_seconds_bucket${sel},`));
  assert.equal(buckets.length, LATENCY_BOUNDS_SECONDS.length + 1);
  assert.equal(bucket('0.00001'), '0');
  assert.equal(bucket('0.000025'), '1');
  assert.equal(bucket('0.0025'), '1');
  assert.equal(bucket('0.005'), '2');
  assert.equal(bucket('\\+Inf'), '2');
  assert.match(text, new RegExp(`^nvmeotcp_target_io_latency_seconds_count${sel}} 2$`, 'm'));
  assert.match(text, new RegExp(`^nvmeotcp_target_io_latency_seconds_sum${sel}} 0\\.00302`, 'm'));
});

test('target metrics - gauges, counters, per-namespace I/O and build info; promtool clean', (t) => {
  const text = formatTargetPrometheus(TARGET);
  const fams = parsePrometheusTextFormat(text);
  const byName = new Map(fams.map((f) => [f.name, f]));
  assert.equal(byName.get('nvmeotcp_target_connects_total')?.metrics[0].value, '3');
  assert.equal(byName.get('nvmeotcp_target_controllers')?.type, 'GAUGE');
  assert.equal(byName.get('nvmeotcp_target_io_queues')?.metrics[0].value, '3');
  assert.equal(byName.get('nvmeotcp_target_connections')?.metrics[0].value, '5');
  assert.equal(byName.get('nvmeotcp_target_data_budget_used_bytes')?.metrics[0].value, '4096');
  assert.equal(byName.get('nvmeotcp_target_data_budget_limit_bytes')?.metrics[0].value, String(1 << 20));
  assert.equal(byName.get('nvmeotcp_target_io_commands_total')?.metrics.length, 6, 'two namespaces × three ops');
  assert.deepEqual(byName.get('nvmeotcp_build_info')?.metrics, [
    { value: '1', labels: { version: packageVersion(), crc32c: crc32cImplementation() } },
  ]);
  assert.equal(new Set(fams.map((f) => f.name)).size, fams.length, 'family names are unique');
  promtoolCheck(t, text);
});

test('host metrics - offload counters, I/O, reconnects (0 for a controller that does not count them); promtool clean', (t) => {
  const r = new StatsRegistry({ channels: 2, labels: { role: 'host' } });
  r.addQueue(1, 0, '127.0.0.1:4420/nqn.2024-01.io.test:a');
  const text = formatHostPrometheus({
    offload: r.snapshot(),
    io: [io('1').snapshot()],
    reconnects: [
      { labels: { subsystem: 'a' }, value: reconnectsOf({ reconnects: 4 }) },
      { labels: { subsystem: 'b' }, value: reconnectsOf({}) },
    ],
  });
  const fams = parsePrometheusTextFormat(text);
  const byName = new Map(fams.map((f) => [f.name, f]));
  assert.deepEqual(
    byName.get('nvmeotcp_host_reconnects_total')?.metrics.map((m) => m.value),
    ['4', '0'],
  );
  assert.ok(byName.has('nvmeotcp_rx_packets_total'));
  assert.ok(byName.has('nvmeotcp_host_io_latency_seconds'));
  assert.ok(byName.has('nvmeotcp_build_info'));
  // Without offload: no offload families, the rest stays.
  const bare = parsePrometheusTextFormat(formatHostPrometheus({ io: [], reconnects: [] }));
  assert.equal(
    bare.some((f) => f.name.startsWith('nvmeotcp_rx_')),
    false,
  );
  promtoolCheck(t, text);
});

test('build info - the package version and the CRC32C implementation', () => {
  assert.match(packageVersion(), /^\d+\.\d+\.\d+/);
  assert.deepEqual(buildInfo(), { version: packageVersion(), crc32c: crc32cImplementation() });
});
