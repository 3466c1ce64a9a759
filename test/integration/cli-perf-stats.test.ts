// A running `perf --stats-listen` read from outside: /metrics parsed as Prometheus
// text, /stats as JSON, `stats --url` as ethtool -S (global, sums, per queue) and
// --watch rates; then SIGINT ends perf with its results and consistent counters.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { type Child, fileChildren } from '../helpers/subprocess.ts';
import { cli, startCli, startTarget } from './cli-helpers.ts';

// The target and perf: killed after the last test, described in the report of any test that fails.
const shared = fileChildren();
let perf: Child;
let statsUrl = '';

before(async () => {
  const t = await startTarget(['--ns', 'ram:16M'], shared);
  // Runs until the last test stops it with SIGINT: the runtime is only a backstop,
  // far longer than this file takes on the slowest machine.
  perf = startCli(
    [
      'perf',
      '-s',
      String(t.port),
      '-i',
      '2',
      '--rw',
      'randread',
      '--bs',
      '128k',
      '--runtime',
      '3600',
      '--time_based',
      '--json',
      '--stats-listen',
      '127.0.0.1:0',
    ],
    shared,
  );
  statsUrl = (await perf.waitFor(/^stats: (http:\/\/\S+)\/metrics/m, 'stderr'))[1];
});

interface Metric {
  name: string;
  type: string;
  help: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

test('cli perf --stats-listen - /metrics is Prometheus text with the ten seed counters and the flow totals', async () => {
  const res = await fetch(`${statsUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(await res.text()) as Metric[];
  const names = families.map((f) => f.name);
  // The offload device's families first, then the host's I/O, reconnects and build info.
  assert.deepEqual(names.slice(0, 12), [
    ...['sk_add', 'sk_add_fail', 'sk_del', 'ddp_setup', 'ddp_setup_fail', 'ddp_teardown', 'drop', 'resync', 'packets', 'bytes'].map(
      (seed) => `nvmeotcp_rx_${seed}_total`,
    ),
    'nvmeotcp_queue_rx_packets_total',
    'nvmeotcp_queue_rx_bytes_total',
  ]);
  assert.deepEqual(names.slice(12), [
    'nvmeotcp_host_io_commands_total',
    'nvmeotcp_host_io_bytes_total',
    'nvmeotcp_host_io_errors_total',
    'nvmeotcp_host_io_latency_seconds',
    'nvmeotcp_host_reconnects_total',
    'nvmeotcp_build_info',
  ]);
  for (const f of families.slice(0, 12)) {
    assert.equal(f.type, 'COUNTER', f.name);
    assert.ok(f.help.length > 0, f.name);
  }
  const value = (name: string) => Number(families.find((f) => f.name === name)!.metrics[0].value);
  assert.equal(value('nvmeotcp_rx_sk_add_total'), 2);
  // Data-path counters: one series per live queue plus one retired series per channel.
  const bytes = families.find((f) => f.name === 'nvmeotcp_rx_bytes_total')!;
  const queues = bytes.metrics.map((m) => m.labels?.queue);
  assert.deepEqual(
    queues.filter((q) => q !== 'retired'),
    ['1', '2'],
  );
  assert.ok(queues.includes('retired'));
  const reads = families.find((f) => f.name === 'nvmeotcp_host_io_commands_total')!.metrics.find((m) => m.labels?.op === 'read');
  assert.ok(Number(reads?.value) > 0, 'the host counts its reads');
  const missing = await fetch(`${statsUrl}/nope`);
  assert.equal(missing.status, 404);
  await missing.text();
});

test('cli stats --url - ethtool -S text with global, sums and per-queue counters', async () => {
  const r = await cli(['stats', '--url', statsUrl, '--per-queue']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[0], 'NIC statistics:');
  const kv = new Map(lines.slice(1).map((l) => /^ {5}(\w+): (\d+)$/.exec(l)!.slice(1, 3) as [string, string]));
  assert.deepEqual([...kv.keys()].slice(0, 10), [
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
  assert.equal(kv.get('rx_nvmeotcp_sk_add'), '2');
  assert.deepEqual([...kv.keys()].slice(10, 12), ['rx_packets', 'rx_bytes']);
  const perQueue = [...kv.keys()].slice(12);
  assert.deepEqual(
    perQueue,
    [1, 2].flatMap((q) => [
      `rx${q}_nvmeotcp_drop`,
      `rx${q}_nvmeotcp_resync`,
      `rx${q}_nvmeotcp_packets`,
      `rx${q}_nvmeotcp_bytes`,
      `rx${q}_packets`,
      `rx${q}_bytes`,
    ]),
  );
});

test('cli stats --netlink - the ulp-ddp stats-get and caps-get replies, as ynl --json prints them', async () => {
  const [sg, cg, bad] = await Promise.all([
    cli(['stats', '--url', statsUrl, '--netlink', 'stats-get']),
    cli(['stats', '--url', statsUrl, '--netlink', 'caps-get']),
    cli(['stats', '--url', statsUrl, '--netlink', 'stats-get', '--per-queue']),
  ]);
  assert.equal(sg.code, 0, sg.stderr);
  const reply = JSON.parse(sg.stdout) as Record<string, number>;
  // Exactly ifindex and the ten, in attribute order: no per-queue values, none of our extras.
  assert.deepEqual(Object.keys(reply), [
    'ifindex',
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
  ]);
  assert.equal(reply.ifindex, 1);
  assert.equal(reply['rx-nvme-tcp-sk-add'], 2);
  assert.equal(cg.code, 0, cg.stderr);
  assert.deepEqual(JSON.parse(cg.stdout), { ifindex: 1, hw: ['nvme-tcp', 'nvme-tcp-ddgst-rx'], active: ['nvme-tcp', 'nvme-tcp-ddgst-rx'] });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--netlink prints one reply/);
  // /stats carries the same replies beside the snapshot.
  const raw = (await (await fetch(`${statsUrl}/stats`)).json()) as { netlink: Record<string, unknown> };
  assert.deepEqual(Object.keys(raw.netlink), ['stats-get', 'caps-get']);
});

test('cli stats --watch - one rate report per interval, bounded by --count, no faster than the counters grew', async () => {
  const sums = async () => ((await (await fetch(`${statsUrl}/stats`)).json()) as { sum: Record<string, number> }).sum;
  const first = await sums();
  const r = await cli(['stats', '--url', statsUrl, '--watch', '0.5', '--count', '2', '--json']);
  const last = await sums();
  assert.equal(r.code, 0, r.stderr);
  const reports = r.stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(reports.length, 2);
  for (const rep of reports) {
    // No queue came or went: a rate of 0 per second.
    assert.equal(rep.rx_nvmeotcp_sk_add, 0);
    assert.equal(rep.rx_nvmeotcp_sk_del, 0);
  }
  // How much I/O a half second holds depends on the machine's load; what holds on any
  // machine: a rate is a counter's change over the time between two reads (at least
  // 0.4 s for --watch 0.5, allowing for a timer that fires a little early), rounded, so
  // 0.4 x the two rates is at most what the counter gained while `stats` ran.
  for (const k of ['rx_nvmeotcp_packets', 'rx_nvmeotcp_bytes']) {
    const rates = reports.map((rep) => rep[k]);
    const gained = last[k] - first[k];
    assert.ok(
      rates.every((v) => Number.isInteger(v) && v >= 0),
      `${k}: rates ${rates}`,
    );
    assert.ok(0.4 * (rates[0] + rates[1]) <= gained + 0.4, `${k}: rates ${rates}/s, gained ${gained} over the whole command`);
  }
});

test('cli stats --watch - text blocks are labelled as rates: a timestamp and interval per block, /s on every value', async () => {
  const r = await cli(['stats', '--url', statsUrl, '--watch', '0.3', '--count', '2']);
  assert.equal(r.code, 0, r.stderr);
  const blocks = r.stdout.trimEnd().split('\n\n');
  assert.equal(blocks.length, 2, r.stdout);
  for (const b of blocks) {
    const [header, ...lines] = b.split('\n');
    assert.match(header, /^NIC statistics per second at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(over \d+\.\d\d s\):$/);
    assert.ok(lines.length >= 12 && lines.every((l) => /^ {5}\w+: \d+\/s$/.test(l)), b);
  }
});

test('cli perf - SIGINT stops the workload, prints the results, counters are consistent', async () => {
  const before = (await (await fetch(`${statsUrl}/stats`)).json()) as { global: Record<string, number> };
  const r = await perf.stop('SIGINT');
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /^nvmeotcp perf: interrupted by SIGINT$/m);
  // stdout is the one JSON object, whatever went to stderr meanwhile.
  const p = JSON.parse(r.stdout) as {
    jobs: { error: number; read: { total_ios: number }; nvmeotcp: { error?: string } }[];
    nvmeotcp: { interrupted: string; offload: Record<string, number> };
  };
  assert.equal(p.nvmeotcp.interrupted, 'SIGINT');
  assert.equal(p.jobs[0].error, 0);
  assert.equal(p.jobs[0].nvmeotcp.error, undefined);
  assert.ok(p.jobs[0].read.total_ios > 0);
  const o = p.nvmeotcp.offload;
  assert.ok(o.rx_nvmeotcp_ddp_setup >= before.global.rx_nvmeotcp_ddp_setup);
  assert.equal(o.rx_nvmeotcp_ddp_teardown, o.rx_nvmeotcp_ddp_setup);
  assert.deepEqual([o.rx_nvmeotcp_sk_add, o.rx_nvmeotcp_sk_del], [2, 2]);
});
