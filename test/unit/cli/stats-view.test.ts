// `stats` text: a target's counters are not headed "NIC statistics", and each
// `--watch` block is labelled as rates: the read's time, the interval, "/s" values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRatesText, formatStatsText, parseStatsJson, rateSnapshot } from '../../../src/cli/stats-view.ts';
import { StatsRegistry } from '../../../src/index.ts';

const opts = { perQueue: false, perChannel: false };
const URL = 'http://127.0.0.1:9100/stats';

test('stats view - a target endpoint is printed under "Target statistics:", not a NIC header', () => {
  const p = parseStatsJson({ role: 'target', counters: { target_connects: 3, target_disconnects: 1 } }, URL);
  assert.equal(formatStatsText(p, opts), 'Target statistics:\n     target_connects: 3\n     target_disconnects: 1\n');
});

test('stats view - --watch blocks of a target: rates per second with the time and the interval', () => {
  const a = parseStatsJson({ role: 'target', counters: { target_connects: 3, target_disconnects: 1 } }, URL);
  const b = parseStatsJson({ role: 'target', counters: { target_connects: 13, target_disconnects: 1 } }, URL);
  const text = formatRatesText(rateSnapshot(a, b, 2), b, opts, new Date(Date.UTC(2026, 0, 15, 9, 5, 7)), 2);
  assert.equal(
    text,
    'Target statistics per second at 2026-01-15T09:05:07.000Z (over 2.00 s):\n     target_connects: 5/s\n     target_disconnects: 0/s\n',
  );
});

test('stats view - --watch blocks of an offload device: every counter line ends in /s', () => {
  const snap = new StatsRegistry({ channels: 2 }).snapshot();
  const a = parseStatsJson(JSON.parse(JSON.stringify(snap)), URL);
  const text = formatRatesText(rateSnapshot(a, a, 1), a, opts, new Date(Date.UTC(2026, 0, 15, 9, 5, 7)), 1);
  const [header, ...lines] = text.trimEnd().split('\n');
  assert.equal(header, 'NIC statistics per second at 2026-01-15T09:05:07.000Z (over 1.00 s):');
  assert.ok(lines.length >= 12, text);
  for (const l of lines) assert.match(l, /^ {5}\w+: 0\/s$/);
});
