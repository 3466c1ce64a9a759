import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_COUNTERS, C, CHANNEL_COUNTERS, FLOW_COUNTERS, G, GLOBAL_COUNTERS } from '../../../src/stats/counters.ts';
import { StatsRegistry, seedValues } from '../../../src/stats/registry.ts';

const ZERO4 = { rx_nvmeotcp_drop: 0, rx_nvmeotcp_resync: 0, rx_nvmeotcp_packets: 0, rx_nvmeotcp_bytes: 0, rx_packets: 0, rx_bytes: 0 };

test('counters - the ten seed names, in struct ulp_ddp_stats order, with netlink spellings', () => {
  assert.deepEqual(
    GLOBAL_COUNTERS.map((d) => [d.name, d.netlink]),
    [
      ['rx_nvmeotcp_sk_add', 'rx-nvme-tcp-sk-add'],
      ['rx_nvmeotcp_sk_add_fail', 'rx-nvme-tcp-sk-add-fail'],
      ['rx_nvmeotcp_sk_del', 'rx-nvme-tcp-sk-del'],
      ['rx_nvmeotcp_ddp_setup', 'rx-nvme-tcp-setup'],
      ['rx_nvmeotcp_ddp_setup_fail', 'rx-nvme-tcp-setup-fail'],
      ['rx_nvmeotcp_ddp_teardown', 'rx-nvme-tcp-teardown'],
    ],
  );
  assert.deepEqual(
    CHANNEL_COUNTERS.map((d) => [d.name, d.rq, 'netlink' in d ? d.netlink : undefined]),
    [
      ['rx_nvmeotcp_drop', 'nvmeotcp_drop', 'rx-nvme-tcp-drop'],
      ['rx_nvmeotcp_resync', 'nvmeotcp_resync', 'rx-nvme-tcp-resync'],
      ['rx_nvmeotcp_packets', 'nvmeotcp_packets', 'rx-nvme-tcp-packets'],
      ['rx_nvmeotcp_bytes', 'nvmeotcp_bytes', 'rx-nvme-tcp-bytes'],
      // Ours, after the seed's: mlx5's per-RQ spelling, no netlink attribute.
      ['rx_packets', 'packets', undefined],
      ['rx_bytes', 'bytes', undefined],
    ],
  );
  assert.deepEqual(
    ALL_COUNTERS.map((d) => d.name),
    [...GLOBAL_COUNTERS, ...CHANNEL_COUNTERS.slice(0, 4)].map((d) => d.name),
    'get_stats: the ten, no extras',
  );
  assert.equal(FLOW_COUNTERS.length, 2);
  for (const d of [...GLOBAL_COUNTERS, ...CHANNEL_COUNTERS]) {
    assert.ok(d.help.length > 10 && !d.help.includes('\n'), `${d.name} has a one-line help`);
  }
});

test('counters - index constants point at their descriptors', () => {
  assert.equal(GLOBAL_COUNTERS[G.skAdd].name, 'rx_nvmeotcp_sk_add');
  assert.equal(GLOBAL_COUNTERS[G.skAddFail].name, 'rx_nvmeotcp_sk_add_fail');
  assert.equal(GLOBAL_COUNTERS[G.skDel].name, 'rx_nvmeotcp_sk_del');
  assert.equal(GLOBAL_COUNTERS[G.ddpSetup].name, 'rx_nvmeotcp_ddp_setup');
  assert.equal(GLOBAL_COUNTERS[G.ddpSetupFail].name, 'rx_nvmeotcp_ddp_setup_fail');
  assert.equal(GLOBAL_COUNTERS[G.ddpTeardown].name, 'rx_nvmeotcp_ddp_teardown');
  assert.equal(CHANNEL_COUNTERS[C.drop].name, 'rx_nvmeotcp_drop');
  assert.equal(CHANNEL_COUNTERS[C.resync].name, 'rx_nvmeotcp_resync');
  assert.equal(CHANNEL_COUNTERS[C.packets].name, 'rx_nvmeotcp_packets');
  assert.equal(CHANNEL_COUNTERS[C.bytes].name, 'rx_nvmeotcp_bytes');
  assert.equal(CHANNEL_COUNTERS[C.rxPackets].name, 'rx_packets');
  assert.equal(CHANNEL_COUNTERS[C.rxBytes].name, 'rx_bytes');
});

test('registry - snapshot sums queues and channels at read time into a new object', () => {
  const r = new StatsRegistry({ channels: 2, labels: { role: 'host' } });
  const a = r.addQueue(1, 0, 'c1');
  const b = r.addQueue(2, 1, 'c1');
  const c = r.addQueue(3, 0, 'c1');
  r.global[G.skAdd] += 3;
  a.values[C.packets] += 2;
  a.values[C.bytes] += 1000;
  a.values[C.rxPackets] += 3;
  a.values[C.rxBytes] += 1100;
  b.values[C.packets] += 1;
  b.values[C.bytes] += 24;
  b.values[C.rxPackets] += 1;
  b.values[C.rxBytes] += 52;
  c.values[C.resync] += 1;
  r.channelBlock(1)[C.drop] += 5;
  const s1 = r.snapshot();
  assert.deepEqual(s1.labels, { role: 'host' });
  assert.equal(s1.global.rx_nvmeotcp_sk_add, 3);
  assert.deepEqual(s1.sum, {
    rx_nvmeotcp_drop: 5,
    rx_nvmeotcp_resync: 1,
    rx_nvmeotcp_packets: 3,
    rx_nvmeotcp_bytes: 1024,
    rx_packets: 4,
    rx_bytes: 1152,
  });
  assert.deepEqual(s1.perChannel, [
    {
      channel: 0,
      values: { ...ZERO4, rx_nvmeotcp_resync: 1, rx_nvmeotcp_packets: 2, rx_nvmeotcp_bytes: 1000, rx_packets: 3, rx_bytes: 1100 },
    },
    { channel: 1, values: { ...ZERO4, rx_nvmeotcp_drop: 5, rx_nvmeotcp_packets: 1, rx_nvmeotcp_bytes: 24, rx_packets: 1, rx_bytes: 52 } },
  ]);
  // get_stats: exactly the ten, in struct ulp_ddp_stats order.
  assert.deepEqual(Object.entries(seedValues(s1)), [
    ['rx_nvmeotcp_sk_add', 3],
    ['rx_nvmeotcp_sk_add_fail', 0],
    ['rx_nvmeotcp_sk_del', 0],
    ['rx_nvmeotcp_ddp_setup', 0],
    ['rx_nvmeotcp_ddp_setup_fail', 0],
    ['rx_nvmeotcp_ddp_teardown', 0],
    ['rx_nvmeotcp_drop', 5],
    ['rx_nvmeotcp_resync', 1],
    ['rx_nvmeotcp_packets', 3],
    ['rx_nvmeotcp_bytes', 1024],
  ]);
  assert.deepEqual(
    s1.perQueue.map((q) => [q.queueId, q.ctrl, q.channel, q.values.rx_nvmeotcp_bytes]),
    [
      [1, 'c1', 0, 1000],
      [2, 'c1', 1, 24],
      [3, 'c1', 0, 0],
    ],
  );
  assert.deepEqual(s1.retired, { ...ZERO4, rx_nvmeotcp_drop: 5 });
  // A later write does not change an earlier snapshot.
  a.values[C.bytes] += 1;
  assert.equal(s1.sum.rx_nvmeotcp_bytes, 1024);
  assert.equal(r.snapshot().sum.rx_nvmeotcp_bytes, 1025);
  assert.notEqual(r.snapshot(), r.snapshot());
});

test('registry - a removed queue folds into its channel: totals never go backwards', () => {
  const r = new StatsRegistry({ channels: 2 });
  const a = r.addQueue(1, 1);
  a.values[C.packets] += 4;
  a.values[C.bytes] += 4096;
  const before = r.snapshot();
  r.removeQueue(a);
  r.removeQueue(a); // twice: folded once
  const after = r.snapshot();
  assert.deepEqual(after.sum, before.sum);
  assert.deepEqual(after.perChannel, before.perChannel);
  assert.deepEqual(after.perQueue, []);
  assert.deepEqual(after.retired, { ...ZERO4, rx_nvmeotcp_packets: 4, rx_nvmeotcp_bytes: 4096 });
  // Re-added under the same queue ID: a fresh block, totals keep growing.
  const a2 = r.addQueue(1, 1);
  a2.values[C.bytes] += 10;
  const again = r.snapshot();
  assert.equal(again.sum.rx_nvmeotcp_bytes, 4106);
  assert.equal(again.perQueue[0].values.rx_nvmeotcp_bytes, 10);
});

test('registry - disabled: every block is one shared dummy and snapshots read 0', () => {
  const r = new StatsRegistry({ channels: 3, enabled: false });
  const a = r.addQueue(1, 0);
  const b = r.addQueue(2, 2);
  assert.equal(a.values, b.values);
  assert.equal(a.values, r.channelBlock(1));
  r.global[G.skAdd] += 1;
  a.values[C.bytes] += 100;
  r.channelBlock(2)[C.drop] += 1;
  const s = r.snapshot();
  assert.equal(s.global.rx_nvmeotcp_sk_add, 0);
  assert.deepEqual(s.sum, ZERO4);
  assert.deepEqual(s.perQueue[0].values, ZERO4);
  r.removeQueue(a);
  assert.deepEqual(r.snapshot().retired, ZERO4);
});

test('registry - rejects bad channel counts and label names', () => {
  assert.throws(() => new StatsRegistry({ channels: 0 }), { code: 'NVMEOTCP_ERR_INVALID_ARG' });
  assert.throws(() => new StatsRegistry({ channels: 1.5 }), { code: 'NVMEOTCP_ERR_INVALID_ARG' });
  assert.throws(() => new StatsRegistry({ channels: 1, labels: { queue: 'x' } }), { code: 'NVMEOTCP_ERR_INVALID_ARG' });
  assert.throws(() => new StatsRegistry({ channels: 1, labels: { 'a-b': 'x' } }), { code: 'NVMEOTCP_ERR_INVALID_ARG' });
  assert.throws(() => new StatsRegistry({ channels: 1, labels: { __name__: 'x' } }), { code: 'NVMEOTCP_ERR_INVALID_ARG' });
});
