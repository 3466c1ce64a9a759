// The workload's options mean what fio's do: size is the region and io_size the
// amount of I/O, offset moves the region, runtime caps a size-bounded run unless
// time_based makes it the duration, ramp_time runs first and counts for nothing; and
// the bandwidth / IOPS samples and latency statistics fio reports. Timed cases run on
// the fake clock (1 ms per completion), so they hold on a loaded machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatencyHistogram } from '../../../src/workload/histogram.ts';
import { RunningStats } from '../../../src/workload/samples.ts';
import { type WorkloadProgress, runWorkload } from '../../../src/workload/workload.ts';
import { ClockedDevice, FakeClock, MemDevice } from '../../helpers/workload-devices.ts';

/** Records the first LBA of every I/O. */
class TracingDevice extends MemDevice {
  readonly lbas: number[] = [];
  override readInto(slba: number, buf: Buffer): Promise<unknown> {
    this.lbas.push(slba);
    return super.readInto(slba, buf);
  }
  override write(slba: number, buf: Buffer): Promise<unknown> {
    this.lbas.push(slba);
    return super.write(slba, buf);
  }
}

test('workload - size is the region, io_size the amount of I/O, offset where the region starts', async () => {
  const dev = new TracingDevice(512, 4096);
  // 16 blocks of 4 KiB from byte 64 KiB (LBA 128), 100 I/Os: the region over six times.
  const r = await runWorkload(dev, {
    rw: 'randread',
    bs: 4096,
    iodepth: 4,
    offset: 64 << 10,
    regionBytes: 64 << 10,
    totalBytes: 100 * 4096,
  });
  assert.equal(r.error, undefined);
  assert.equal(r.readOps, 100);
  assert.equal(dev.lbas.length, 100);
  assert.ok(
    dev.lbas.every((l) => l >= 128 && l < 256 && (l - 128) % 8 === 0),
    `LBAs outside the region: ${dev.lbas.filter((l) => l < 128 || l >= 256)}`,
  );
  // Without io_size: the region once (16 I/Os, sequentially every block).
  const seq = new TracingDevice(512, 4096);
  const one = await runWorkload(seq, { rw: 'read', bs: 4096, iodepth: 4, offset: 64 << 10, regionBytes: 64 << 10 });
  assert.equal(one.readOps, 16);
  assert.deepEqual(
    [...seq.lbas].sort((a, b) => a - b),
    Array.from({ length: 16 }, (_, i) => 128 + 8 * i),
  );
});

test('workload - a region past the end of the device or a misaligned offset is refused', async () => {
  const dev = new MemDevice(512, 1024);
  await assert.rejects(
    runWorkload(dev, { rw: 'read', bs: 4096, iodepth: 1, offset: 256 << 10, regionBytes: 512 << 10 }),
    /runs past the end/,
  );
  await assert.rejects(runWorkload(dev, { rw: 'read', bs: 4096, iodepth: 1, offset: 100 }), /not a multiple of the LBA size 512/);
  await assert.rejects(runWorkload(dev, { rw: 'read', bs: 4096, iodepth: 1, timeBased: true }), /time_based needs a runtime/);
});

test('workload - without time_based the runtime only caps a size-bounded run; with it, the run lasts the runtime', async (t) => {
  const clock = new FakeClock(t);
  // 8 blocks, 1 ms per completion: one pass takes 8 ms, far inside the 200 ms runtime.
  const capped = await runWorkload(new ClockedDevice(clock, 512, 64), { rw: 'randread', bs: 4096, iodepth: 2, runtimeMs: 200 });
  assert.equal(capped.readOps, 8);
  assert.equal(capped.elapsedMs, 8);
  // The same with a long io_size: the runtime stops it.
  const cut = await runWorkload(new ClockedDevice(clock, 512, 64), {
    rw: 'randread',
    bs: 4096,
    iodepth: 2,
    runtimeMs: 50,
    totalBytes: 4096 * 10_000,
  });
  assert.equal(cut.readOps, 51);
  // time_based: round the 8 blocks for all of the 200 ms (and the one still in flight).
  const timed = await runWorkload(new ClockedDevice(clock, 512, 64), {
    rw: 'randread',
    bs: 4096,
    iodepth: 2,
    runtimeMs: 200,
    timeBased: true,
  });
  assert.equal(timed.readOps, 201);
  assert.equal(timed.elapsedMs, 201);
});

test('workload - ramp_time runs first and is left out of every result', async (t) => {
  const clock = new FakeClock(t);
  const dev = new ClockedDevice(clock, 512, 1024);
  const phases: WorkloadProgress[] = [];
  const r = await runWorkload(dev, {
    rw: 'randread',
    bs: 4096,
    iodepth: 4,
    rampMs: 30,
    runtimeMs: 100,
    timeBased: true,
    sampleIntervalMs: 25,
    progressIntervalMs: 10,
    onProgress: (p) => phases.push(p),
  });
  assert.equal(r.error, undefined);
  // The device saw the ramp's I/O; the results hold only what was submitted after it.
  assert.ok(dev.reads > r.readOps + 25, `device ${dev.reads}, measured ${r.readOps}`);
  assert.equal(r.readHist.count, r.readOps);
  // The measured run: 100 ms from the ramp's end, plus the I/O still in flight at the
  // deadline; the ramp's last I/Os complete in its first ms and are not counted.
  assert.ok(r.elapsedMs >= 100 && r.elapsedMs <= 104, `elapsed ${r.elapsedMs}`);
  assert.ok(r.readOps >= 96 && r.readOps <= 104, `measured ${r.readOps}`);
  // Every completion took 4 ms (4 in flight, 1 ms each) once the queue was full.
  assert.equal(r.readHist.min, 4e6);
  assert.equal(r.readHist.max, 4e6);
  // Progress: the ramp phase, ended at 100%, then the run.
  const ramp = phases.filter((p) => p.phase === 'ramp');
  assert.ok(ramp.length >= 3, JSON.stringify(phases));
  assert.equal(ramp.at(-1)?.fraction, 1);
  assert.equal(phases.at(-1)?.phase, 'run');
  assert.equal(phases.at(-1)?.fraction, 1);
  // Samples only of the measured run: 4 periods of 25 ms at 1000 IOPS, the first short
  // of the ramp's I/Os still in flight when it ended (4) and the tick's own completion.
  assert.equal(r.readIops.samples, 4);
  assert.ok(r.readIops.min >= 800 && r.readIops.max === 1000, JSON.stringify(r.readIops));
});

test('workload - bandwidth and IOPS samples per period, per direction the mix has', async (t) => {
  const clock = new FakeClock(t);
  const r = await runWorkload(new ClockedDevice(clock, 512, 1024), {
    rw: 'randread',
    bs: 4096,
    iodepth: 4,
    runtimeMs: 100,
    timeBased: true,
    sampleIntervalMs: 20,
  });
  // Ticks at 20, 40, 60, 80 and 100 ms; the report due at a completion comes before that
  // completion is counted, so the first period holds 19 and the others 20.
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-6 * Math.max(1, b);
  const { stddev, ...iops } = r.readIops;
  assert.deepEqual(iops, { min: 950, max: 1000, mean: 990, samples: 5 });
  assert.ok(near(stddev, Math.sqrt((40 ** 2 + 4 * 10 ** 2) / 4)), `stddev ${stddev}`);
  const { stddev: bwDev, ...bw } = r.readBw;
  assert.deepEqual(bw, { min: 950 * 4096, max: 1000 * 4096, mean: 990 * 4096, samples: 5 });
  assert.ok(near(bwDev, stddev * 4096), `bw stddev ${bwDev}`);
  assert.equal(r.writeIops.samples, 0);
  assert.equal(r.writeBw.samples, 0);
  // The process's context switches and page faults over the run are counted, not invented.
  assert.ok(Number.isInteger(r.cpu.ctx) && r.cpu.ctx >= 0 && Number.isInteger(r.cpu.minf) && r.cpu.majf >= 0);
});

test('histogram - min, sample standard deviation, counts below bounds, JSON summary', () => {
  const h = new LatencyHistogram();
  assert.deepEqual(h.toJSON(), { n: 0, min: 0, max: 0, mean: 0, stddev: 0 });
  for (const v of [10, 20, 30, 40, 1000, 5000]) h.record(v);
  assert.equal(h.min, 10);
  assert.equal(h.max, 5000);
  const mean = 6100 / 6;
  const sd = Math.sqrt([10, 20, 30, 40, 1000, 5000].reduce((a, v) => a + (v - mean) ** 2, 0) / 5);
  assert.ok(Math.abs(h.stddev - sd) < 1e-6, `${h.stddev} vs ${sd}`);
  // Below 64 ns every value has its own bucket: exact; above, within a bucket (1/64).
  assert.deepEqual(h.countsBelow([10, 11, 40, 41, 64, 990, 1100, 4900, 5200, 1e9]), [0, 1, 3, 4, 4, 4, 5, 5, 6, 6]);
  const other = new LatencyHistogram();
  other.record(3);
  h.merge(other);
  h.merge(new LatencyHistogram());
  assert.deepEqual([h.min, h.count], [3, 7]);
  assert.equal(JSON.stringify({ h }), JSON.stringify({ h: h.toJSON() }));
});

test('running stats - Welford mean and sample standard deviation', () => {
  const s = new RunningStats();
  assert.deepEqual(s.summary(), { min: 0, max: 0, mean: 0, stddev: 0, samples: 0 });
  for (const v of [4, 8, 6, 2]) s.add(v);
  assert.deepEqual(s.summary(), { min: 2, max: 8, mean: 5, stddev: Math.sqrt(20 / 3), samples: 4 });
});
