import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatencyHistogram } from '../../../src/workload/histogram.ts';
import { checkPattern, writePattern } from '../../../src/workload/pattern.ts';
import { parseSize, runWorkload } from '../../../src/workload/workload.ts';
import { CallbackMemDevice, ClockedDevice, FakeClock, MemDevice } from '../../helpers/workload-devices.ts';

test('histogram - quantiles within 1/64 of the recorded values', () => {
  const h = new LatencyHistogram();
  for (let v = 1; v <= 100_000; v++) h.record(v * 1000);
  for (const q of [0.5, 0.99, 0.999]) {
    const want = q * 100_000 * 1000;
    const got = h.quantile(q);
    assert.ok(Math.abs(got - want) / want < 1 / 64, `q=${q}: ${got} vs ${want}`);
  }
  assert.equal(h.max, 100_000_000);
  assert.equal(h.count, 100_000);
  assert.equal(h.quantile(1), 100_000_000);
});

test('histogram - every value from 0 to 2^40 ns lands in a bucket whose upper edge is within 1/64 above it', () => {
  const values: number[] = [];
  for (let v = 0; v < 300; v++) values.push(v);
  for (let e = 8; e <= 40; e++) for (const f of [1, 1.3, 1.5, 1.99]) values.push(Math.floor(2 ** e * f) - 1, Math.floor(2 ** e * f));
  values.push(0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001);
  for (const v of values) {
    const h = new LatencyHistogram();
    h.record(v);
    h.record(2 ** 41); // a larger max, so quantile(0.5) reports v's bucket edge uncapped
    const edge = h.quantile(0.5);
    assert.ok(edge >= v && edge <= v + v / 64 + 1, `value ${v}: bucket edge ${edge}`);
  }
});

test('pattern - round trip, and a stale, misplaced or flipped block is named', () => {
  const b = Buffer.alloc(4 * 512);
  writePattern(b, 512, 100, 7, 42);
  assert.equal(checkPattern(b, 512, 100, 7, 42), undefined);
  assert.match(checkPattern(b, 512, 100, 8, 42) ?? '', /lba 100: generation 7, expected 8/);
  assert.match(checkPattern(b, 512, 101, 7, 42) ?? '', /lba 101: holds the block written for lba 100/);
  b[2 * 512 + 300] ^= 0x10;
  assert.match(checkPattern(b, 512, 100, 7, 42) ?? '', /lba 102: fill differs/);
});

test('pattern - the fill is the xorshift32 word stream of the block identity, little-endian, after the 24-byte tag', () => {
  for (const [lbaSize, lba, gen, seed] of [
    [512, 5, 2, 1],
    [4096, 2 ** 33 + 17, 0xfffffff0, 7],
  ]) {
    const b = Buffer.alloc(lbaSize * 2);
    writePattern(b, lbaSize, lba, gen, seed);
    for (let blk = 0; blk < 2; blk++) {
      const id = lba + blk;
      let x = ((id * 0x9e3779b1) ^ (gen * 0x85ebca6b) ^ seed ^ 0x2545f491) >>> 0 || 1;
      const want = Buffer.alloc(lbaSize - 24);
      for (let p = 0; p < want.length; p += 4) {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        want.writeUInt32LE(x, p);
      }
      const o = blk * lbaSize;
      assert.equal(b.readUInt32LE(o), 0x544f564e);
      assert.equal(b.readUInt32LE(o + 4) + b.readUInt32LE(o + 8) * 2 ** 32, id);
      assert.deepEqual(b.subarray(o + 24, o + lbaSize), want, `block ${id}`);
    }
    assert.equal(checkPattern(b, lbaSize, lba, gen, seed), undefined);
  }
});

test('workload - sequential write then verify reads back every block', async () => {
  const dev = new MemDevice(512, 2048);
  const r = await runWorkload(dev, { rw: 'write', bs: 4096, iodepth: 8, verify: true });
  assert.equal(r.error, undefined);
  assert.equal(r.writeOps, 256);
  assert.equal(r.writeBytes, 256 * 4096);
  assert.equal(r.verifiedBlocks, 2048);
  assert.equal(dev.reads, 256);
  assert.equal(dev.maxInflight, 8);
});

test('workload - randrw with verify checks reads against the latest write', async () => {
  const dev = new MemDevice(4096, 256);
  const r = await runWorkload(dev, { rw: 'randrw', bs: 8192, iodepth: 16, totalBytes: 2000 * 8192, verify: true, seed: 3 });
  assert.equal(r.error, undefined);
  assert.equal(r.readOps + r.writeOps, 2000);
  assert.ok(r.readOps > 800 && r.writeOps > 800, `mix ${r.readOps}/${r.writeOps}`);
  // prefill wrote all 128 units, then every read of the run was verified
  assert.equal(r.verifiedBlocks, r.readOps * 2);
});

test('workload - a corrupted block stops the run with a verify error', async () => {
  const dev = new MemDevice(512, 1024);
  dev.corruptLba = 77;
  const r = await runWorkload(dev, { rw: 'randread', bs: 4096, iodepth: 4, totalBytes: 4096 * 500, verify: true });
  assert.match(r.error ?? '', /^verify: lba 77: fill differs/);
});

test('workload - runtime limit and progress callbacks', async (t) => {
  const clock = new FakeClock(t);
  const dev = new ClockedDevice(clock, 512, 4096);
  const seen: { elapsedMs: number; ops: number; fraction: number }[] = [];
  const r = await runWorkload(dev, {
    rw: 'randread',
    bs: 512,
    iodepth: 4,
    runtimeMs: 120,
    timeBased: true,
    progressIntervalMs: 20,
    onProgress: ({ elapsedMs, ops, fraction }) => seen.push({ elapsedMs, ops, fraction }),
  });
  assert.equal(r.error, undefined);
  // No new I/O once 120 ms have passed; the 3 still in flight then complete, 1 ms each.
  assert.equal(r.elapsedMs, 123);
  assert.equal(r.readOps, 123);
  assert.equal(dev.reads, 123);
  // A report every 20 ms of the run, with the fraction of the runtime done; the report
  // due at a completion comes before that completion is counted. The run's own last
  // report says where it ended: all of it done.
  assert.deepEqual(seen, [
    ...[20, 40, 60, 80, 100, 120].map((ms) => ({ elapsedMs: ms, ops: ms - 1, fraction: ms / 120 })),
    { elapsedMs: 123, ops: 123, fraction: 1 },
  ]);
  clock.advance(100);
  assert.equal(seen.length, 7, 'no report after the run');
  // 4 in flight, one completion per ms: the first four took 1, 2, 3 and 4 ms, every
  // later one 4 ms (µs, mean = (1 + 2 + 3 + 4 x 120) / 123 ms).
  assert.deepEqual([r.lat.p50, r.lat.p99, r.lat.max, r.lat.mean], [4000, 4000, 4000, 3951.22]);
});

test('workload - a device with callback forms is driven through them, verify included', async () => {
  const dev = new CallbackMemDevice(512, 2048);
  const r = await runWorkload(dev, { rw: 'randrw', bs: 4096, iodepth: 8, totalBytes: 600 * 4096, verify: true, seed: 5 });
  assert.equal(r.error, undefined);
  assert.equal(r.readOps + r.writeOps, 600);
  // prefill (256 writes) + the run: every I/O went through submitRead/submitWrite
  assert.equal(dev.cbSubmits, 256 + 600);
  assert.equal(dev.maxInflight, 8);
  assert.equal(r.verifiedBlocks, r.readOps * 8);
  const bad = new CallbackMemDevice(512, 2048);
  bad.failAt = 50;
  const r2 = await runWorkload(bad, { rw: 'randread', bs: 4096, iodepth: 4, totalBytes: 400 * 4096 });
  assert.equal(r2.error, 'device refused the I/O');
  assert.ok(r2.readOps >= 46 && r2.readOps <= 50, `stopped after ${r2.readOps} reads`);
});

test('workload - bad arguments are rejected', async () => {
  const dev = new MemDevice(4096, 16);
  await assert.rejects(runWorkload(dev, { rw: 'read', bs: 512, iodepth: 1 }), /multiple of the LBA size/);
  await assert.rejects(runWorkload(dev, { rw: 'read', bs: 4096, iodepth: 0 }), /iodepth/);
});

test('parseSize - fio-style suffixes', () => {
  assert.equal(parseSize('4k'), 4096);
  assert.equal(parseSize('128K'), 131072);
  assert.equal(parseSize('1m'), 1 << 20);
  assert.equal(parseSize('2G'), 2 * 1024 ** 3);
  assert.equal(parseSize('512'), 512);
  assert.throws(() => parseSize('12q'), /bad size/);
});

test('workload - the measured phase reports its own CPU time (prefill excluded)', async () => {
  const dev = new MemDevice(512, 4096);
  const c0 = process.cpuUsage();
  const r = await runWorkload(dev, { rw: 'randread', bs: 4096, iodepth: 4, totalBytes: 300 * 4096, verify: true });
  const all = process.cpuUsage(c0);
  assert.equal(r.error, undefined);
  // CPU time is what the kernel accounts; how it splits between user and system (by
  // clock tick) and how long it takes vary with the machine's load. The sums do not lie.
  assert.ok(r.cpu.user + r.cpu.system > 0, JSON.stringify(r.cpu));
  // The prefill (a write of the whole region) ran before the window: not counted.
  assert.ok(r.cpu.user + r.cpu.system < all.user + all.system, `${JSON.stringify(r.cpu)} vs ${JSON.stringify(all)}`);
});

/** A device whose I/O stops completing once `hang` is set (a target that went quiet). */
class HangingDevice extends MemDevice {
  hang = false;
  override readInto(slba: number, buf: Buffer): Promise<unknown> {
    return this.hang ? new Promise(() => {}) : super.readInto(slba, buf);
  }
  override write(slba: number, buf: Buffer): Promise<unknown> {
    return this.hang ? new Promise(() => {}) : super.write(slba, buf);
  }
}

test('workload - runtime: I/O still in flight at the deadline is abandoned and counted, never waited for', async () => {
  const dev = new HangingDevice(512, 1024);
  const r = await runWorkload(dev, {
    rw: 'randrw',
    bs: 512,
    iodepth: 4,
    runtimeMs: 40,
    onProgress: (p) => {
      if (p.phase === 'run' && p.ops >= 20) dev.hang = true;
    },
    progressIntervalMs: 1,
  });
  assert.equal(r.abandoned, 4);
  assert.equal(r.ioErrors, 0);
  assert.equal(r.error, undefined);
  assert.ok(r.readOps + r.writeOps >= 20);
});

test('workload - signal: an aborted run stops issuing and ends with what completed', async () => {
  const dev = new MemDevice(512, 1024);
  const ac = new AbortController();
  let seen = 0;
  const r = await runWorkload(dev, {
    rw: 'randread',
    bs: 512,
    iodepth: 2,
    runtimeMs: 600_000,
    signal: ac.signal,
    onProgress: (p) => {
      seen = p.ops;
      if (seen >= 10) ac.abort();
    },
    progressIntervalMs: 1,
  });
  assert.ok(r.readOps >= 10);
  assert.equal(r.abandoned, 0);
});

test('workload - readBack: a mixed verify run reads back every block it wrote, and catches a lost write', async () => {
  const ok = await runWorkload(new MemDevice(512, 64), {
    rw: 'randrw',
    bs: 512,
    iodepth: 4,
    totalBytes: 512 * 200,
    verify: true,
    readBack: true,
  });
  assert.equal(ok.error, undefined);
  // Prefill (64) + reads checked during the run + the read-back of all 64 blocks.
  assert.ok(ok.verifiedBlocks >= 64 + ok.readOps);
  // A device that drops every write after the prefill: the read-back sees old data.
  const lossy = new MemDevice(512, 64);
  let writes = 0;
  const write = lossy.write.bind(lossy);
  lossy.write = (slba, buf) => (++writes <= 64 ? write(slba, buf) : Promise.resolve());
  const bad = await runWorkload(lossy, { rw: 'randwrite', bs: 512, iodepth: 4, totalBytes: 512 * 100, verify: true, readBack: true });
  assert.match(bad.error ?? '', /^verify: /);
});
