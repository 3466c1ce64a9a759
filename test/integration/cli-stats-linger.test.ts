// --stats-linger: a short perf run whose final counters can be scraped after it
// ended, until the linger time runs out or a signal ends it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { cli, startCli, startTarget } from './cli-helpers.ts';

test('cli perf --stats-linger - the final counters stay up after the results, SIGTERM ends the wait', async (t) => {
  const tg = await startTarget(['--ns', 'ram:16M'], t);
  // The linger is far longer than the test: the test ends it with SIGTERM.
  const perf = startCli(
    [
      'perf',
      '-s',
      String(tg.port),
      '-i',
      '1',
      '--rw',
      'randrw',
      '--bs',
      '64k',
      '--size',
      '8m',
      '--json',
      '--stats-listen',
      '127.0.0.1:0',
      '--stats-linger',
      '3600',
    ],
    t,
  );
  const url = (await perf.waitFor(/^stats: (http:\/\/\S+)\/metrics/m, 'stderr'))[1];
  await perf.waitFor(/^stats: serving the final counters for 3600 s more/m, 'stderr');
  // The results are printed before the linger starts.
  // fio's JSON: one job, its read and write totals.
  type Dir = { total_ios: number; io_bytes: number };
  const job = (JSON.parse(perf.stdout) as { jobs: { read: Dir; write: Dir }[] }).jobs[0]!;
  const fams = parsePrometheusTextFormat(await (await fetch(`${url}/metrics`)).text());
  const v = (name: string, op: string) => Number(fams.find((f) => f.name === name)?.metrics.find((m) => m.labels?.op === op)?.value);
  assert.equal(v('nvmeotcp_host_io_commands_total', 'read'), job.read.total_ios);
  assert.equal(v('nvmeotcp_host_io_commands_total', 'write'), job.write.total_ios);
  assert.equal(v('nvmeotcp_host_io_bytes_total', 'read'), job.read.io_bytes);
  // After the disconnect: every queue added was removed.
  const sk = (name: string) => Number(fams.find((f) => f.name === name)?.metrics[0].value);
  assert.equal(sk('nvmeotcp_rx_sk_add_total'), 1);
  assert.equal(sk('nvmeotcp_rx_sk_del_total'), 1);
  const r = await perf.stop('SIGTERM');
  assert.equal(r.code, 0, r.stderr);
});

test('cli perf/demo --stats-linger without --stats-listen - a one-line usage error', async () => {
  for (const verb of [['perf', '-s', '1'], ['demo']]) {
    const r = await cli([...verb, '--stats-linger', '5']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--stats-linger needs --stats-listen/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
