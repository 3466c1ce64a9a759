// `nvmeotcp demo` as a user runs it: exit code 0, the counter block, and counters
// that match the workload it describes (768 verified reads of 128 KiB placed,
// 2048 reads of 4 KiB not offloaded but their digests checked by the device).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cli } from './cli-helpers.ts';

test('cli demo - exits 0 and prints counters that match its workload', async () => {
  const r = await cli(['demo']);
  assert.equal(r.code, 0, r.stderr);
  // Only progress on stderr, each phase ending at 100%.
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 0 && lines.every((l) => /^demo: (prefill|run) [\d.]+s [\d.]+ MiB\/s \d+ IOPS \d+% eta /.test(l)), r.stderr);
  assert.equal(lines.filter((l) => / 100% eta 00m:00s$/.test(l)).length, 4, r.stderr);
  const block = /\nOffload statistics \(after disconnect\):\nNIC statistics:\n((?: {5}\w+: \d+\n)+)/.exec(r.stdout);
  assert.ok(block, r.stdout);
  const c = Object.fromEntries(
    block[1]
      .trimEnd()
      .split('\n')
      .map((l) =>
        /^ {5}(\w+): (\d+)$/
          .exec(l)!
          .slice(1, 3)
          .map((x, i) => (i ? Number(x) : x)),
      ),
  );
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
    'rx_packets',
    'rx_bytes',
  ]);
  // 4 I/O queues; 96 MiB of 128 KiB reads = 768 commands set up and torn down.
  assert.equal(c.rx_nvmeotcp_sk_add, 4);
  assert.equal(c.rx_nvmeotcp_sk_del, 4);
  assert.equal(c.rx_nvmeotcp_ddp_setup, 768);
  assert.equal(c.rx_nvmeotcp_ddp_teardown, 768);
  assert.equal(c.rx_nvmeotcp_ddp_setup_fail, 0);
  // Each READ is one 128 KiB C2HData. mlx5 places one PDU per 1448-byte packet: a
  // READ whose data starts in a packet the PDU before placed into is placed from
  // the next packet on, so each loses less than one MSS, and its placed bytes fill
  // 90 (ceil((131072 - 1447) / 1448)) to 92 packets.
  assert.ok(c.rx_nvmeotcp_bytes <= 96 << 20 && c.rx_nvmeotcp_bytes > (96 << 20) - 768 * 1448, `bytes ${c.rx_nvmeotcp_bytes}`);
  assert.ok(c.rx_nvmeotcp_packets >= 768 * 90 && c.rx_nvmeotcp_packets <= 768 * 92, `packets ${c.rx_nvmeotcp_packets}`);
  // The flow: every read byte and every header came in, placed or not.
  assert.ok(c.rx_bytes > (96 << 20) + (8 << 20), `rx_bytes ${c.rx_bytes}`);
  assert.ok(c.rx_packets > c.rx_nvmeotcp_packets + (8 << 20) / 1448, `rx_packets ${c.rx_packets}`);
  assert.match(r.stdout, /Verify: 196608 blocks checked, all match\n/);
  assert.match(r.stdout, /Verify: 16384 blocks checked, all match\n/);
  // Each phase's share, from the counters: the blktests nvme/055 expectations.
  const shares = [
    ...r.stdout.matchAll(/^Offload: offloaded (\d+\.\d)% of packets, (\d+\.\d)% of bytes received on the offloaded queues$/gm),
  ].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(shares.length, 2, r.stdout);
  assert.ok(shares[0][0] >= 95 && shares[0][1] >= 90, `128 KiB reads: ${shares[0]}`);
  assert.deepEqual(shares[1], [0, 0]);
  // Below io_threshold: copied by the host, but the device still checked every digest.
  assert.match(
    r.stdout,
    /The 2048 reads of 4 KiB \(8\.4 MB\) stayed below io_threshold: they were copied by the host, with the data digest of all 2048 data PDUs checked by the device \(CRC offload without placement\), and offloaded 0\.0% of packets, 0\.0% of bytes\./,
  );
});
