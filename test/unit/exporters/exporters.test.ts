import assert from 'node:assert/strict';
import { test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { formatEthtool } from '../../../src/exporters/ethtool.ts';
import { statsToJson } from '../../../src/exporters/json.ts';
import { formatPrometheus, PROMETHEUS_CONTENT_TYPE, promName } from '../../../src/exporters/prometheus.ts';
import { C, CHANNEL_COUNTERS, G, GLOBAL_COUNTERS } from '../../../src/stats/counters.ts';
import { type StatsSnapshot, StatsRegistry } from '../../../src/stats/registry.ts';

/** Two live queues (channels 0 and 1), one removed queue, one queue-less drop. */
function sample(labels: Record<string, string> = { role: 'host' }, ctrl = 'c1'): StatsSnapshot {
  const r = new StatsRegistry({ channels: 2, labels });
  const g = r.global;
  g[G.skAdd] = 3;
  g[G.skAddFail] = 1;
  g[G.skDel] = 1;
  g[G.ddpSetup] = 10;
  g[G.ddpSetupFail] = 2;
  g[G.ddpTeardown] = 9;
  const q1 = r.addQueue(1, 0, ctrl);
  const q2 = r.addQueue(2, 1, ctrl);
  const gone = r.addQueue(3, 1, ctrl);
  q1.values[C.packets] = 4;
  q1.values[C.bytes] = 131072;
  q2.values[C.packets] = 2;
  q2.values[C.bytes] = 65536;
  q2.values[C.resync] = 1;
  gone.values[C.packets] = 1;
  gone.values[C.bytes] = 4096;
  r.removeQueue(gone);
  r.channelBlock(1)[C.drop] += 5;
  return r.snapshot();
}

test('ethtool - global counters, then the sums, in the seed order', () => {
  assert.equal(
    formatEthtool(sample()),
    [
      'NIC statistics:',
      '     rx_nvmeotcp_sk_add: 3',
      '     rx_nvmeotcp_sk_add_fail: 1',
      '     rx_nvmeotcp_sk_del: 1',
      '     rx_nvmeotcp_ddp_setup: 10',
      '     rx_nvmeotcp_ddp_setup_fail: 2',
      '     rx_nvmeotcp_ddp_teardown: 9',
      '     rx_nvmeotcp_drop: 5',
      '     rx_nvmeotcp_resync: 1',
      '     rx_nvmeotcp_packets: 7',
      '     rx_nvmeotcp_bytes: 200704',
      '',
    ].join('\n'),
  );
});

test('ethtool - per-queue rxN_ lines and per-channel chN_ lines on request', () => {
  const text = formatEthtool(sample(), { perQueue: true, perChannel: true });
  const lines = text.split('\n').slice(11, -1);
  assert.deepEqual(lines, [
    '     rx1_nvmeotcp_drop: 0',
    '     rx1_nvmeotcp_resync: 0',
    '     rx1_nvmeotcp_packets: 4',
    '     rx1_nvmeotcp_bytes: 131072',
    '     rx2_nvmeotcp_drop: 0',
    '     rx2_nvmeotcp_resync: 1',
    '     rx2_nvmeotcp_packets: 2',
    '     rx2_nvmeotcp_bytes: 65536',
    '     ch0_nvmeotcp_drop: 0',
    '     ch0_nvmeotcp_resync: 0',
    '     ch0_nvmeotcp_packets: 4',
    '     ch0_nvmeotcp_bytes: 131072',
    '     ch1_nvmeotcp_drop: 5',
    '     ch1_nvmeotcp_resync: 1',
    '     ch1_nvmeotcp_packets: 3',
    '     ch1_nvmeotcp_bytes: 69632',
  ]);
});

test('ethtool - queues of several controllers carry the controller in their keys', () => {
  const r = new StatsRegistry({ channels: 1 });
  r.addQueue(1, 0, 'nqn.a');
  r.addQueue(1, 0, 'nqn b');
  const keys = formatEthtool(r.snapshot(), { perQueue: true })
    .split('\n')
    .filter((l) => l.includes('_bytes'))
    .map((l) => l.trim().split(':')[0]);
  assert.deepEqual(keys, ['rx_nvmeotcp_bytes', 'nqn_b_rx1_nvmeotcp_bytes', 'nqn.a_rx1_nvmeotcp_bytes']);
});

test('json - the ten counters flat under the seed names', () => {
  assert.deepEqual(statsToJson(sample()), {
    labels: { role: 'host' },
    rx_nvmeotcp_sk_add: 3,
    rx_nvmeotcp_sk_add_fail: 1,
    rx_nvmeotcp_sk_del: 1,
    rx_nvmeotcp_ddp_setup: 10,
    rx_nvmeotcp_ddp_setup_fail: 2,
    rx_nvmeotcp_ddp_teardown: 9,
    rx_nvmeotcp_drop: 5,
    rx_nvmeotcp_resync: 1,
    rx_nvmeotcp_packets: 7,
    rx_nvmeotcp_bytes: 200704,
  });
});

test('json - netlink names (ulp-ddp stats-get) with the per-queue breakdown', () => {
  const j = statsToJson(sample({}), { names: 'netlink', perQueue: true, perChannel: true });
  assert.deepEqual(
    Object.keys(j).filter((k) => k.startsWith('rx-')),
    [
      'rx-nvme-tcp-sk-add',
      'rx-nvme-tcp-sk-add-fail',
      'rx-nvme-tcp-sk-del',
      'rx-nvme-tcp-setup',
      'rx-nvme-tcp-setup-fail',
      'rx-nvme-tcp-teardown',
      'rx-nvme-tcp-drop',
      'rx-nvme-tcp-resync',
      'rx-nvme-tcp-packets',
      'rx-nvme-tcp-bytes',
    ],
  );
  assert.equal(j.labels, undefined);
  assert.equal(j['rx-nvme-tcp-bytes'], 200704);
  assert.deepEqual(j.queues, [
    { queue: 1, ctrl: 'c1', channel: 0, 'rx-nvme-tcp-drop': 0, 'rx-nvme-tcp-resync': 0, 'rx-nvme-tcp-packets': 4, 'rx-nvme-tcp-bytes': 131072 },
    { queue: 2, ctrl: 'c1', channel: 1, 'rx-nvme-tcp-drop': 0, 'rx-nvme-tcp-resync': 1, 'rx-nvme-tcp-packets': 2, 'rx-nvme-tcp-bytes': 65536 },
  ]);
  assert.deepEqual(j.channels?.[1], { channel: 1, 'rx-nvme-tcp-drop': 5, 'rx-nvme-tcp-resync': 1, 'rx-nvme-tcp-packets': 3, 'rx-nvme-tcp-bytes': 69632 });
  assert.equal(JSON.parse(JSON.stringify(j))['rx-nvme-tcp-sk-add-fail'], 1);
});

test('prometheus - parses as counters with help, global without queue label, per-queue and retired series', () => {
  const fams = parsePrometheusTextFormat(formatPrometheus(sample({ role: 'host', device: 'sock0' })));
  assert.deepEqual(
    fams.map((f) => f.name),
    [...GLOBAL_COUNTERS, ...CHANNEL_COUNTERS].map((d) => promName(d)),
  );
  assert.deepEqual(
    fams.map((f) => f.name),
    [
      'nvmeotcp_rx_sk_add_total',
      'nvmeotcp_rx_sk_add_fail_total',
      'nvmeotcp_rx_sk_del_total',
      'nvmeotcp_rx_ddp_setup_total',
      'nvmeotcp_rx_ddp_setup_fail_total',
      'nvmeotcp_rx_ddp_teardown_total',
      'nvmeotcp_rx_drop_total',
      'nvmeotcp_rx_resync_total',
      'nvmeotcp_rx_packets_total',
      'nvmeotcp_rx_bytes_total',
    ],
  );
  for (const [i, d] of [...GLOBAL_COUNTERS, ...CHANNEL_COUNTERS].entries()) {
    assert.equal(fams[i].type, 'COUNTER');
    assert.equal(fams[i].help, d.help);
  }
  assert.deepEqual(fams[0].metrics, [{ value: '3', labels: { role: 'host', device: 'sock0' } }]);
  assert.deepEqual(fams[9].metrics, [
    { value: '131072', labels: { role: 'host', device: 'sock0', ctrl: 'c1', queue: '1' } },
    { value: '65536', labels: { role: 'host', device: 'sock0', ctrl: 'c1', queue: '2' } },
    { value: '4096', labels: { role: 'host', device: 'sock0', queue: 'retired' } },
  ]);
  assert.deepEqual(
    fams[6].metrics.map((m) => [m.labels?.queue, m.value]),
    [
      ['1', '0'],
      ['2', '0'],
      ['retired', '5'],
    ],
  );
  // The series of a data-path family add up to the snapshot's sum.
  const total = fams[8].metrics.reduce((a, m) => a + Number(m.value), 0);
  assert.equal(total, 7);
  assert.equal(PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
});

test('prometheus - label values are escaped, and several devices share one family', () => {
  const a = sample({ device: 'a' }, 'nqn."x"\\y\nz');
  const b = sample({ device: 'b' });
  const fams = parsePrometheusTextFormat(formatPrometheus([a, b]));
  assert.equal(fams.length, 10);
  assert.deepEqual(
    fams[0].metrics.map((m) => m.labels),
    [{ device: 'a' }, { device: 'b' }],
  );
  assert.equal(fams[9].metrics[0].labels?.ctrl, 'nqn."x"\\y\nz');
  assert.equal(fams[9].metrics.length, 6);
});

test('prometheus - no labels at all: bare sample lines', () => {
  const r = new StatsRegistry({ channels: 1 });
  const text = formatPrometheus(r.snapshot());
  assert.match(text, /^nvmeotcp_rx_sk_add_total 0$/m);
  assert.match(text, /^nvmeotcp_rx_bytes_total\{queue="retired"\} 0$/m);
});
