// /metrics of a real target and host: the I/O counters match the I/O done, the text
// is promtool clean, and the offload series keep their labels across a reconnect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { hostEndpoints } from '../../src/exporters/http.ts';
import type { SocketDevice } from '../../src/offload/socket-device.ts';
import { runWorkload } from '../../src/workload/workload.ts';
import { startMetricsRig } from '../helpers/metrics-rig.ts';
import { promtoolCheck } from '../helpers/promtool.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:metrics';

const value = (text: string, name: string, labels: Record<string, string>): number => {
  const fam = parsePrometheusTextFormat(text).find((f) => f.name === name);
  const m = fam?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  assert.ok(m, `${name}${JSON.stringify(labels)} missing`);
  return Number(m.value);
};

test('metrics - target and host /metrics count the I/O done, promtool clean, labels stable across a reconnect', async (t) => {
  const { ctrl, ns, dev, connect, targetStats: tsrv, hostStats: hsrv } = await startMetricsRig(t, NQN, 8);

  const r = await runWorkload(ns, { rw: 'randrw', bs: 65536, iodepth: 4, totalBytes: 4 << 20, seed: 7 });
  assert.equal(r.error, undefined);
  const get = async (s: { address: { port: number } }) => (await fetch(`http://127.0.0.1:${s.address.port}/metrics`)).text();

  const ttext = await get(tsrv);
  const sel = { subsystem: NQN, namespace: '1' };
  assert.equal(value(ttext, 'nvmeotcp_target_io_commands_total', { ...sel, op: 'read' }), r.readOps);
  assert.equal(value(ttext, 'nvmeotcp_target_io_commands_total', { ...sel, op: 'write' }), r.writeOps);
  assert.equal(value(ttext, 'nvmeotcp_target_io_bytes_total', { ...sel, op: 'read' }), r.readBytes);
  assert.equal(value(ttext, 'nvmeotcp_target_io_bytes_total', { ...sel, op: 'write' }), r.writeBytes);
  assert.equal(value(ttext, 'nvmeotcp_target_io_errors_total', { ...sel, op: 'read' }), 0);
  assert.equal(value(ttext, 'nvmeotcp_target_io_queues', {}), 2);
  assert.equal(value(ttext, 'nvmeotcp_target_controllers', {}), 1);
  assert.match(
    ttext,
    new RegExp(`^nvmeotcp_target_io_latency_seconds_count\\{subsystem="${NQN}",namespace="1",op="read"\\} ${r.readOps}$`, 'm'),
  );
  promtoolCheck(t, ttext);

  const htext = await get(hsrv);
  assert.equal(value(htext, 'nvmeotcp_host_io_commands_total', { ...sel, op: 'read' }), r.readOps);
  assert.equal(value(htext, 'nvmeotcp_host_io_bytes_total', { ...sel, op: 'write' }), r.writeBytes);
  assert.equal(value(htext, 'nvmeotcp_host_reconnects_total', { subsystem: NQN }), 0);
  const hostJson = (await (await fetch(`http://127.0.0.1:${hsrv.address.port}/stats`)).json()) as { role: string; io: unknown[] };
  assert.equal(hostJson.role, 'host');
  assert.equal(hostJson.io.length, 1);
  promtoolCheck(t, htext);

  // The offload series of a new controller (a reconnect) have the same label sets as before.
  const series = (text: string) =>
    parsePrometheusTextFormat(text)
      .find((f) => f.name === 'nvmeotcp_rx_packets_total')!
      .metrics.map((m) => JSON.stringify(m.labels))
      .sort();
  const before = series(htext);
  assert.ok(before.some((l) => l.includes('"queue":"1"')));
  for (const l of before) assert.doesNotMatch(l, new RegExp(`/${ctrl.cntlid}"`), 'no controller ID in a label value');
  const again = await connect();
  assert.notEqual(again.cntlid, ctrl.cntlid);
  await ctrl.disconnect();
  const after = series(formatAfter(dev));
  assert.deepEqual(after, before);
});

function formatAfter(dev: SocketDevice): string {
  return hostEndpoints({ device: dev, namespaces: [], controllers: [] }).metrics();
}
