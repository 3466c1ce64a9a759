import assert from 'node:assert/strict';
import { test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { formatEthtool } from '../../../src/exporters/ethtool.ts';
import { statsToJson } from '../../../src/exporters/json.ts';
import { capsGetReply, statsGetReply } from '../../../src/exporters/netlink.ts';
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
  q1.values[C.rxPackets] = 5;
  q1.values[C.rxBytes] = 131200;
  q2.values[C.packets] = 2;
  q2.values[C.bytes] = 65536;
  q2.values[C.resync] = 1;
  q2.values[C.rxPackets] = 3;
  q2.values[C.rxBytes] = 65600;
  gone.values[C.packets] = 1;
  gone.values[C.bytes] = 4096;
  gone.values[C.rxPackets] = 1;
  gone.values[C.rxBytes] = 4124;
  r.removeQueue(gone);
  r.channelBlock(1)[C.drop] += 5;
  return r.snapshot();
}

test('ethtool - global counters, then the sums in the seed order, then the flow totals', () => {
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
      '     rx_packets: 9',
      '     rx_bytes: 200924',
      '',
    ].join('\n'),
  );
});

test('ethtool - per-queue rxN_ lines and per-channel chN_ lines on request', () => {
  const text = formatEthtool(sample(), { perQueue: true, perChannel: true });
  const lines = text.split('\n').slice(13, -1);
  assert.deepEqual(lines, [
    '     rx1_nvmeotcp_drop: 0',
    '     rx1_nvmeotcp_resync: 0',
    '     rx1_nvmeotcp_packets: 4',
    '     rx1_nvmeotcp_bytes: 131072',
    '     rx1_packets: 5',
    '     rx1_bytes: 131200',
    '     rx2_nvmeotcp_drop: 0',
    '     rx2_nvmeotcp_resync: 1',
    '     rx2_nvmeotcp_packets: 2',
    '     rx2_nvmeotcp_bytes: 65536',
    '     rx2_packets: 3',
    '     rx2_bytes: 65600',
    '     ch0_nvmeotcp_drop: 0',
    '     ch0_nvmeotcp_resync: 0',
    '     ch0_nvmeotcp_packets: 4',
    '     ch0_nvmeotcp_bytes: 131072',
    '     ch0_packets: 5',
    '     ch0_bytes: 131200',
    '     ch1_nvmeotcp_drop: 5',
    '     ch1_nvmeotcp_resync: 1',
    '     ch1_nvmeotcp_packets: 3',
    '     ch1_nvmeotcp_bytes: 69632',
    '     ch1_packets: 4',
    '     ch1_bytes: 69724',
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
  assert.deepEqual(keys, [
    'rx_nvmeotcp_bytes',
    'rx_bytes',
    'nqn_b_rx1_nvmeotcp_bytes',
    'nqn_b_rx1_bytes',
    'nqn.a_rx1_nvmeotcp_bytes',
    'nqn.a_rx1_bytes',
  ]);
});

test('json - the ten counters flat under the seed names, then the flow totals', () => {
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
    rx_packets: 9,
    rx_bytes: 200924,
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
      'rx-packets',
      'rx-bytes',
    ],
  );
  assert.equal(j.labels, undefined);
  assert.equal(j['rx-nvme-tcp-bytes'], 200704);
  const dp = (drop: number, resync: number, packets: number, bytes: number, rxPackets: number, rxBytes: number) => ({
    'rx-nvme-tcp-drop': drop,
    'rx-nvme-tcp-resync': resync,
    'rx-nvme-tcp-packets': packets,
    'rx-nvme-tcp-bytes': bytes,
    'rx-packets': rxPackets,
    'rx-bytes': rxBytes,
  });
  assert.deepEqual(j.queues, [
    { queue: 1, ctrl: 'c1', channel: 0, ...dp(0, 0, 4, 131072, 5, 131200) },
    { queue: 2, ctrl: 'c1', channel: 1, ...dp(0, 1, 2, 65536, 3, 65600) },
  ]);
  assert.deepEqual(j.channels?.[1], { channel: 1, ...dp(5, 1, 3, 69632, 4, 69724) });
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
      'nvmeotcp_queue_rx_packets_total',
      'nvmeotcp_queue_rx_bytes_total',
    ],
  );
  assert.equal(new Set(fams.map((f) => f.name)).size, fams.length, 'family names are unique');
  for (const [i, d] of [...GLOBAL_COUNTERS, ...CHANNEL_COUNTERS].entries()) {
    assert.equal(fams[i].type, 'COUNTER');
    assert.equal(fams[i].help, d.help);
  }
  assert.deepEqual(fams[0].metrics, [{ value: '3', labels: { role: 'host', device: 'sock0' } }]);
  // Every data-path series has the same label names; the retired ones, one per channel, carry ctrl="".
  assert.deepEqual(fams[9].metrics, [
    { value: '131072', labels: { role: 'host', device: 'sock0', ctrl: 'c1', queue: '1', channel: '0' } },
    { value: '65536', labels: { role: 'host', device: 'sock0', ctrl: 'c1', queue: '2', channel: '1' } },
    { value: '0', labels: { role: 'host', device: 'sock0', ctrl: '', queue: 'retired', channel: '0' } },
    { value: '4096', labels: { role: 'host', device: 'sock0', ctrl: '', queue: 'retired', channel: '1' } },
  ]);
  assert.deepEqual(
    fams[6].metrics.map((m) => [m.labels?.queue, m.labels?.channel, m.value]),
    [
      ['1', '0', '0'],
      ['2', '1', '0'],
      ['retired', '0', '0'],
      ['retired', '1', '5'],
    ],
  );
  // The series of a data-path family add up to the snapshot's sum.
  const total = fams[8].metrics.reduce((a, m) => a + Number(m.value), 0);
  assert.equal(total, 7);
  assert.deepEqual(
    fams[10].metrics.map((m) => [m.labels?.queue, m.value]),
    [
      ['1', '5'],
      ['2', '3'],
      ['retired', '0'],
      ['retired', '1'],
    ],
  );
  assert.equal(PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
});

test('prometheus - label values are escaped, and several devices share one family', () => {
  const a = sample({ device: 'a' }, 'nqn."x"\\y\nz');
  const b = sample({ device: 'b' });
  const fams = parsePrometheusTextFormat(formatPrometheus([a, b]));
  assert.equal(fams.length, 12);
  assert.deepEqual(
    fams[0].metrics.map((m) => m.labels),
    [{ device: 'a' }, { device: 'b' }],
  );
  assert.equal(fams[9].metrics[0].labels?.ctrl, 'nqn."x"\\y\nz');
  assert.equal(fams[9].metrics.length, 8);
});

test('prometheus - no labels at all: bare sample lines', () => {
  const r = new StatsRegistry({ channels: 1 });
  const text = formatPrometheus(r.snapshot());
  assert.match(text, /^nvmeotcp_rx_sk_add_total 0$/m);
  assert.match(text, /^nvmeotcp_rx_bytes_total\{ctrl="",queue="retired",channel="0"\} 0$/m);
});

test('netlink - stats-get reply: ifindex and exactly the ten rx-nvme-tcp-* attributes, in order', () => {
  assert.deepEqual(Object.entries(statsGetReply(sample(), 7)), [
    ['ifindex', 7],
    ['rx-nvme-tcp-sk-add', 3],
    ['rx-nvme-tcp-sk-add-fail', 1],
    ['rx-nvme-tcp-sk-del', 1],
    ['rx-nvme-tcp-setup', 10],
    ['rx-nvme-tcp-setup-fail', 2],
    ['rx-nvme-tcp-teardown', 9],
    ['rx-nvme-tcp-drop', 5],
    ['rx-nvme-tcp-resync', 1],
    ['rx-nvme-tcp-packets', 7],
    ['rx-nvme-tcp-bytes', 200704],
  ]);
});

test('netlink - caps-get reply: hw and active as flag-name lists', () => {
  assert.deepEqual(capsGetReply({ hw: { ddp: true, crcRx: true }, active: { ddp: true, crcRx: true } }, 3), {
    ifindex: 3,
    hw: ['nvme-tcp', 'nvme-tcp-ddgst-rx'],
    active: ['nvme-tcp', 'nvme-tcp-ddgst-rx'],
  });
  assert.deepEqual(capsGetReply({ hw: { ddp: true, crcRx: false }, active: { ddp: false, crcRx: false } }, 1), {
    ifindex: 1,
    hw: ['nvme-tcp'],
    active: [],
  });
});
