// `nvmeotcp demo` as a user runs it: exit code 0, the counter block, and counters
// that match the workload it describes (768 verified reads of 128 KiB placed,
// 2048 reads of 4 KiB not offloaded).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cli } from './cli-helpers.ts';

test('cli demo - exits 0 and prints counters that match its workload', async () => {
  const r = await cli(['demo']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const block = /\nOffload statistics \(after disconnect\):\nNIC statistics:\n((?: {5}\w+: \d+\n)+)/.exec(r.stdout);
  assert.ok(block, r.stdout);
  const c = Object.fromEntries(block[1].trimEnd().split('\n').map((l) => /^ {5}(\w+): (\d+)$/.exec(l)!.slice(1, 3).map((x, i) => (i ? Number(x) : x))));
  assert.deepEqual(Object.keys(c), [
    'rx_nvmeotcp_sk_add',
    'rx_nvmeotcp_sk_add_fail',
    'rx_nvmeotcp_sk_del',
    'rx_nvmeotcp_ddp_setup',
    'rx_nvmeotcp_ddp_setup_fail',
    'rx_nvmeotcp_ddp_teardown',
    'rx_nvmeotcp_drop',
    'rx_nvmeotcp_resync',
    'rx_nvmeotcp_packets',
    'rx_nvmeotcp_bytes',
  ]);
  // 4 I/O queues; 96 MiB of 128 KiB reads = 768 commands set up, torn down, fully placed.
  assert.equal(c.rx_nvmeotcp_sk_add, 4);
  assert.equal(c.rx_nvmeotcp_sk_del, 4);
  assert.equal(c.rx_nvmeotcp_ddp_setup, 768);
  assert.equal(c.rx_nvmeotcp_ddp_teardown, 768);
  assert.equal(c.rx_nvmeotcp_ddp_setup_fail, 0);
  assert.equal(c.rx_nvmeotcp_bytes, 96 << 20);
  assert.ok(c.rx_nvmeotcp_packets >= 768);
  assert.match(r.stdout, /Verify: 196608 blocks checked, all match\n/);
  assert.match(r.stdout, /Verify: 16384 blocks checked, all match\n/);
  assert.match(r.stdout, /The 2048 reads of 4 KiB \(8\.4 MB\) stayed below io_threshold/);
});
