// The CLI's error recovery flags: perf keeps running across a reconnect and reports
// it; perf --runtime ends at its deadline against a target that went quiet, with the
// I/O in flight counted as abandoned; bad values are one-line usage errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NvmeTarget } from '../../src/target/index.ts';
import { FaultProxy } from '../helpers/fault-proxy.ts';
import { cli, errLines, startCli } from './cli-helpers.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:cli-recovery';

async function proxied(t: { after(fn: () => unknown): void }): Promise<FaultProxy> {
  const tgt = new NvmeTarget({
    subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 8 << 20 }, lbaSize: 512 }] }],
  });
  t.after(() => tgt.close());
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  const proxy = new FaultProxy(port);
  t.after(() => proxy.close());
  await proxy.listen();
  return proxy;
}

/** Resolves once perf has its admin and I/O connections up and some I/O has gone by. */
async function running(proxy: FaultProxy): Promise<void> {
  while (proxy.open < 2) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 200));
}

/** What these tests read of perf's fio-shaped JSON. */
interface FioOut {
  jobs: { error: number; nvmeotcp: { abandoned: number; ioErrors: number } }[];
  nvmeotcp: { recovery: Record<string, number> };
}

const PERF = ['perf', '-n', NQN, '-i', '1', '--offload', 'off', '--bs', '4k', '--iodepth', '8', '--json'];

test('cli perf - a cut mid-run: perf reconnects, keeps going, and reports the recovery', async (t) => {
  const proxy = await proxied(t);
  const perf = startCli([...PERF, '-s', String(proxy.port), '--rw', 'randrw', '--verify', '--runtime', '3', '-c', '0.02', '-l', '30'], t);
  await running(proxy);
  proxy.inject('cut');
  const r = await perf.wait();
  assert.equal(r.code, 0, r.stderr);
  // fio's JSON: the job's error (errno, 0 = none); our recovery figures in the "nvmeotcp" object.
  const j = JSON.parse(r.stdout) as FioOut;
  assert.equal(j.jobs[0]!.error, 0);
  assert.equal(j.jobs[0]!.nvmeotcp.ioErrors, 0);
  assert.equal(j.nvmeotcp.recovery.resets, 1);
  assert.equal(j.nvmeotcp.recovery.reconnects, 1);
  assert.ok(j.nvmeotcp.recovery.reconnectingMs > 0);
});

test('cli perf --runtime - ends at its deadline against a target gone quiet; I/O in flight is abandoned and counted', async (t) => {
  const proxy = await proxied(t);
  // A command timeout far beyond the runtime: nothing but the deadline ends the run.
  const perf = startCli(
    [...PERF, '-s', String(proxy.port), '--rw', 'randread', '--runtime', '1', '--io-timeout', '600', '--fast-io-fail-tmo', '5'],
    t,
  );
  await running(proxy);
  proxy.inject('stall');
  const r = await perf.wait();
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as FioOut;
  assert.equal(j.jobs[0]!.nvmeotcp.abandoned, 8);
  assert.equal(j.nvmeotcp.recovery.resets, 0);
});

test('cli connect - bad recovery values are one-line usage errors', async () => {
  for (const [flag, v] of [
    ['--ctrl-loss-tmo', '-2'],
    ['--fast_io_fail_tmo', 'soon'],
    ['--reconnect-delay', '0'],
    ['--io-timeout', '-1'],
  ]) {
    const r = await cli(['connect', '-s', '1', flag, v]);
    assert.equal(r.code, 1);
    const lines = errLines(r);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`${flag}.*invalid.*seconds`));
  }
});
