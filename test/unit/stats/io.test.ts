import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IO_OPS, IoOpIndex, IoStats, LATENCY_BOUNDS_SECONDS } from '../../../src/stats/io.ts';

test('io stats - commands, bytes of the successful ones, errors, per kind', () => {
  const io = new IoStats({ subsystem: 's', namespace: '1' });
  io.record(IoOpIndex.read, 4096, true, 1e-4);
  io.record(IoOpIndex.read, 4096, false, 2e-4);
  io.record(IoOpIndex.write, 8192, true, 3e-3);
  const s = io.snapshot();
  assert.deepEqual(s.labels, { subsystem: 's', namespace: '1' });
  assert.deepEqual(Object.keys(s.ops), [...IO_OPS]);
  assert.equal(s.ops.read.commands, 2);
  assert.equal(s.ops.read.bytes, 4096);
  assert.equal(s.ops.read.errors, 1);
  assert.equal(s.ops.write.commands, 1);
  assert.equal(s.ops.write.bytes, 8192);
  assert.equal(s.ops.other.commands, 0);
  assert.ok(Math.abs(s.ops.read.latencySum - 3e-4) < 1e-12);
});

test('io stats - buckets are cumulative on read, a bound is inclusive (le), the last one is +Inf', () => {
  const io = new IoStats({});
  const bounds = LATENCY_BOUNDS_SECONDS;
  io.record(IoOpIndex.read, 1, true, bounds[0]); // exactly on the first bound
  io.record(IoOpIndex.read, 1, true, bounds[0] * 1.01); // just above it
  io.record(IoOpIndex.read, 1, true, -1); // a clock step backwards counts as 0
  io.record(IoOpIndex.read, 1, true, bounds[bounds.length - 1] * 10); // beyond the last bound
  const b = io.snapshot().ops.read.buckets;
  assert.equal(b.length, bounds.length + 1);
  assert.equal(b[0], 2);
  assert.equal(b[1], 3);
  assert.equal(b[bounds.length - 1], 3);
  assert.equal(b[bounds.length], 4);
  for (let i = 1; i < b.length; i++) assert.ok(b[i] >= b[i - 1]);
  // A snapshot is a copy: later records do not change it.
  const before = io.snapshot();
  io.record(IoOpIndex.read, 1, true, 1);
  assert.equal(before.ops.read.commands, 4);
  assert.equal(io.snapshot().ops.read.commands, 5);
});

test('io stats - the bounds ascend', () => {
  for (let i = 1; i < LATENCY_BOUNDS_SECONDS.length; i++) assert.ok(LATENCY_BOUNDS_SECONDS[i] > LATENCY_BOUNDS_SECONDS[i - 1]);
});
