// The offloaded shares perf and demo print, and the netlink replies `stats --netlink`
// takes from a /stats answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../../../src/cli/errors.ts';
import { netlinkReply, parseStatsJson } from '../../../src/cli/stats-view.ts';
import { formatOffloadShare, offloadShare, sharePct } from '../../../src/cli/workload-report.ts';
import { StatsRegistry } from '../../../src/stats/registry.ts';
import { C } from '../../../src/stats/counters.ts';

test('offload share - ratios of placed to received packets and bytes, one decimal, never rounded up to 100', () => {
  const r = new StatsRegistry({ channels: 1 });
  const q = r.addQueue(1, 0).values;
  q[C.packets] = 971;
  q[C.rxPackets] = 1000;
  q[C.bytes] = 99_449;
  q[C.rxBytes] = 100_000;
  const sum = r.snapshot().sum;
  assert.deepEqual(offloadShare(sum), { packets: 0.971, bytes: 0.99449 });
  assert.equal(formatOffloadShare(sum), 'offloaded 97.1% of packets, 99.4% of bytes');
  assert.equal(sharePct(0.99999), '99.9');
  assert.equal(sharePct(1), '100.0');
  // Nothing received: 0, not NaN.
  assert.equal(formatOffloadShare(new StatsRegistry({ channels: 1 }).snapshot().sum), 'offloaded 0.0% of packets, 0.0% of bytes');
});

test('stats view - --netlink takes the replies from an offload endpoint, and says why it cannot otherwise', () => {
  const snap = new StatsRegistry({ channels: 1 }).snapshot();
  const netlink = { 'stats-get': { ifindex: 1 }, 'caps-get': { ifindex: 1, hw: ['nvme-tcp'], active: [] } };
  const p = parseStatsJson({ ...snap, netlink }, 'u');
  assert.deepEqual(netlinkReply(p, 'caps-get', 'u'), netlink['caps-get']);
  assert.throws(
    () => netlinkReply(parseStatsJson(snap, 'u'), 'stats-get', 'u'),
    (e: unknown) => e instanceof CliError && /netlink replies/.test(e.message),
  );
  assert.throws(
    () => netlinkReply(parseStatsJson({ counters: { a: 1 } }, 'http://t/stats'), 'stats-get', 'http://t/stats'),
    (e: unknown) => e instanceof CliError && /has no offload device/.test(e.message),
  );
});
