// A workload generator with fio habits: sequential or random reads/writes/mix over a
// region of a block device (fio's size and offset), a fixed queue depth (that many
// requests always in flight), an amount of I/O (io_size) or a time (runtime,
// time_based), an unmeasured warm-up (ramp_time), optional verification of every
// read against a per-block tagged pattern, live progress, and at the end the latency
// histograms and bandwidth / IOPS samples fio reports.
import { allocIoBuffer } from '../transport/reader.ts';
import { LatencyHistogram } from './histogram.ts';
import { checkPattern, writePattern } from './pattern.ts';
import { RunningStats, type SampleSummary } from './samples.ts';

export interface BlockDevice {
  readonly lbaSize: number;
  readonly nlba: number;
  readInto(slba: number, buf: Buffer): Promise<unknown>;
  write(slba: number, buf: Buffer): Promise<unknown>;
  /** Callback forms (Namespace has them): used when present, no promise per I/O; `done` runs after the call returns. */
  submitRead?<A>(slba: number, buf: Buffer, done: (err: Error | undefined, arg: A) => void, arg: A): void;
  submitWrite?<A>(slba: number, buf: Buffer, done: (err: Error | undefined, arg: A) => void, arg: A): void;
}

type Done = (err: Error | undefined, slot: Slot) => void;

/** One queue-depth slot: its buffer and the I/O it has in flight. */
interface Slot {
  buf: Buffer;
  unit: number;
  read: boolean;
  /** Submission time (performance.now() ms). */
  t0: number;
  /** Pattern generation being written (verify). */
  gen: number;
}

/** The device's callback submission, or one built on its promise API. */
function submitter(dev: BlockDevice, read: boolean): (slba: number, buf: Buffer, done: Done, slot: Slot) => void {
  if (read && dev.submitRead) return (slba, buf, done, slot) => dev.submitRead!(slba, buf, done, slot);
  if (!read && dev.submitWrite) return (slba, buf, done, slot) => dev.submitWrite!(slba, buf, done, slot);
  return (slba, buf, done, slot) => {
    (read ? dev.readInto(slba, buf) : dev.write(slba, buf)).then(
      () => done(undefined, slot),
      (e: Error) => done(e instanceof Error ? e : new Error(String(e)), slot),
    );
  };
}

export type RwMode = 'read' | 'write' | 'randread' | 'randwrite' | 'randrw' | 'rw';
export const RW_MODES: readonly RwMode[] = ['read', 'write', 'randread', 'randwrite', 'randrw', 'rw'];

export interface WorkloadOptions {
  rw: RwMode;
  /** Block size in bytes (a multiple of the LBA size). */
  bs: number;
  iodepth: number;
  /**
   * fio's runtime (ms): with `timeBased` the run lasts this long, going round the
   * region as often as it takes; without, it caps a run bounded by `totalBytes`.
   * Either way the run ends at the deadline whatever the device does: I/O still in
   * flight then is abandoned (counted in `abandoned`, never waited for).
   */
  runtimeMs?: number;
  /** fio's time_based: run for `runtimeMs` whatever the amount of I/O (needs runtimeMs). */
  timeBased?: boolean;
  /** fio's io_size: bytes of I/O to do (default: the region once). Ignored when time-based. */
  totalBytes?: number;
  /** fio's ramp_time (ms): run this long first; nothing done then is measured or counted. */
  rampMs?: number;
  /** Region (fio's offset and size): byte offset and length (default: from offset to the end). */
  offset?: number;
  regionBytes?: number;
  /** Percentage of reads in rw/randrw (default 50). */
  rwmixread?: number;
  /** Tag every written block and check every read; read modes pre-write the region first. */
  verify?: boolean;
  seed?: number;
  /** Stop issuing when aborted (what is in flight completes); the run ends as at a size limit. */
  signal?: AbortSignal;
  /** With verify: after the run, read back and check every block written (write-only modes always do). */
  readBack?: boolean;
  /** Period of the bandwidth and IOPS samples (fio's bw_avg_time / iops_avg_time: 500 ms). */
  sampleIntervalMs?: number;
  progressIntervalMs?: number;
  /** Called every progressIntervalMs, and once at the end of each phase. */
  onProgress?: (p: WorkloadProgress) => void;
}

export interface WorkloadProgress {
  phase: 'prefill' | 'ramp' | 'run' | 'verify';
  elapsedMs: number;
  ops: number;
  bytes: number;
  /** Fraction done (0..1) when a limit is known. */
  fraction: number;
}

export interface LatencySummary {
  /** All in microseconds. */
  mean: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export interface WorkloadResult {
  rw: RwMode;
  bs: number;
  iodepth: number;
  elapsedMs: number;
  readOps: number;
  writeOps: number;
  readBytes: number;
  writeBytes: number;
  iops: number;
  /** Decimal megabytes per second (1 MB = 10^6 bytes), as fio prints MB/s. */
  mbps: number;
  lat: LatencySummary;
  readLat: LatencySummary;
  writeLat: LatencySummary;
  /** Completion latency of every measured read / write, in ns (JSON shows its summary). */
  readHist: LatencyHistogram;
  writeHist: LatencyHistogram;
  /** Bytes per second and I/Os per second of each sample period (sampleIntervalMs). */
  readBw: SampleSummary;
  writeBw: SampleSummary;
  readIops: SampleSummary;
  writeIops: SampleSummary;
  /** Blocks checked against the pattern (verify only). */
  verifiedBlocks: number;
  /**
   * This process during the measured phase: CPU time (µs, user and system), context
   * switches (voluntary and not), major and minor page faults.
   */
  cpu: { user: number; system: number; ctx: number; majf: number; minf: number };
  /** I/O in flight at the runtime deadline, abandoned (not counted in ops, bytes or latency). */
  abandoned: number;
  /** I/Os that failed (the first stops the workload; others may have been in flight with it). */
  ioErrors: number;
  /** The first error (I/O or verification); the workload stops at it. */
  error?: string;
}

/** xorshift32: a small seeded PRNG so runs repeat. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

function summarize(h: LatencyHistogram): LatencySummary {
  const us = (ns: number) => Math.round(ns / 10) / 100;
  return { mean: us(h.mean), p50: us(h.quantile(0.5)), p99: us(h.quantile(0.99)), p999: us(h.quantile(0.999)), max: us(h.max) };
}

export async function runWorkload(dev: BlockDevice, o: WorkloadOptions): Promise<WorkloadResult> {
  const lbaSize = dev.lbaSize;
  if (o.timeBased && !o.runtimeMs) throw new RangeError('time_based needs a runtime');
  if (o.bs <= 0 || o.bs % lbaSize !== 0) throw new RangeError(`bs ${o.bs} is not a multiple of the LBA size ${lbaSize}`);
  if (!Number.isInteger(o.iodepth) || o.iodepth < 1) throw new RangeError(`iodepth must be a positive integer`);
  const devBytes = dev.nlba * lbaSize;
  const offset = o.offset ?? 0;
  if (offset % lbaSize !== 0) throw new RangeError(`offset ${offset} is not a multiple of the LBA size ${lbaSize}`);
  if (offset >= devBytes) throw new RangeError(`offset ${offset} is outside the device (${devBytes} bytes)`);
  if (o.regionBytes !== undefined && o.regionBytes > devBytes - offset) {
    throw new RangeError(`a region of ${o.regionBytes} bytes at offset ${offset} runs past the end of the device (${devBytes} bytes)`);
  }
  const region = o.regionBytes ?? devBytes - offset;
  const units = Math.floor(region / o.bs);
  if (units < 1) throw new RangeError(`region of ${region} bytes holds no block of ${o.bs} bytes`);
  const baseLba = offset / lbaSize;
  const lbasPerUnit = o.bs / lbaSize;
  const seed = o.seed ?? 1;
  const rand = prng(seed);
  const isRandom = o.rw.startsWith('rand');
  const mix = o.rw === 'read' || o.rw === 'randread' ? 100 : o.rw === 'write' || o.rw === 'randwrite' ? 0 : (o.rwmixread ?? 50);
  const verify = o.verify === true;
  const gens = verify ? new Uint32Array(units) : undefined;
  const inflight = new Uint8Array(units);
  let nextGen = 1;
  let verifiedBlocks = 0;
  const iodepth = Math.min(o.iodepth, units);
  let bufs = Array.from({ length: iodepth }, () => allocIoBuffer(o.bs));
  let abandoned = 0;
  let ioErrors = 0;

  const rh = new LatencyHistogram();
  const wh = new LatencyHistogram();
  let readOps = 0;
  let writeOps = 0;
  let error: string | undefined;
  let phase: WorkloadProgress['phase'] = 'run';
  let phaseStart = performance.now();
  let phaseOps = 0;
  let phaseBytes = 0;
  let phaseLimitBytes = 0;
  let phaseLimitMs = 0;
  // Completions of I/O submitted before this time are not measured (the ramp).
  let measureFrom = 0;

  const report = (): void => {
    const elapsedMs = performance.now() - phaseStart;
    let fraction = 0;
    if (phaseLimitMs > 0) fraction = elapsedMs / phaseLimitMs;
    if (phaseLimitBytes > 0) fraction = Math.max(fraction, phaseBytes / phaseLimitBytes);
    o.onProgress?.({ phase, elapsedMs, ops: phaseOps, bytes: phaseBytes, fraction: Math.min(1, fraction) });
  };
  const timer = o.onProgress !== undefined ? setInterval(report, o.progressIntervalMs ?? 1000) : undefined;

  // Bandwidth and IOPS per sample period of the measured run, per direction it has.
  const samples = { rBw: new RunningStats(), wBw: new RunningStats(), rIops: new RunningStats(), wIops: new RunningStats() };
  let sampleAt = -1;
  let sampleR = 0;
  let sampleW = 0;
  const sample = (): void => {
    if (phase !== 'run') return;
    const now = performance.now();
    if (sampleAt >= 0 && now > sampleAt) {
      const secs = (now - sampleAt) / 1000;
      if (mix > 0) {
        samples.rIops.add((readOps - sampleR) / secs);
        samples.rBw.add(((readOps - sampleR) * o.bs) / secs);
      }
      if (mix < 100) {
        samples.wIops.add((writeOps - sampleW) / secs);
        samples.wBw.add(((writeOps - sampleW) * o.bs) / secs);
      }
    }
    sampleAt = now;
    sampleR = readOps;
    sampleW = writeOps;
  };
  let sampler: ReturnType<typeof setInterval> | undefined;

  const submitRead = submitter(dev, true);
  const submitWrite = submitter(dev, false);

  /**
   * Runs `next()`-chosen I/Os in iodepth slots until next() returns -1: each slot
   * submits its next I/O from its completion callback (no promise or closure per I/O;
   * one clock read per completion, which is also the next submission's start time).
   * At `deadline` the drive ends whatever is in flight: those slots are abandoned
   * (their blocks' contents unknown from then on, their buffers never reused).
   */
  const drive = (
    next: (now: number) => number,
    isRead: (unit: number) => boolean,
    timed: boolean,
    deadlineOf: () => number = () => Infinity,
  ): Promise<void> =>
    new Promise<void>((resolve) => {
      let active = iodepth;
      let over = false;
      let timer: NodeJS.Timeout | undefined;
      const slots: Slot[] = [];
      const end = (): void => {
        over = true;
        clearTimeout(timer);
        resolve();
      };
      const retire = (): void => {
        if (--active === 0) end();
      };
      // The deadline may move later (a ramp ending): the timer checks it again when it fires.
      const onDeadline = (): void => {
        if (over) return;
        const left = deadlineOf() - performance.now();
        if (left > 0) {
          timer = setTimeout(onDeadline, left);
          return;
        }
        abandoned += active;
        for (const sl of slots) {
          if (sl.unit < 0 || inflight[sl.unit] === 0) continue;
          if (!sl.read && gens) gens[sl.unit] = 0; // may or may not land: never checked again
        }
        // The abandoned I/Os still own their buffers: a later phase gets new ones.
        bufs = Array.from({ length: iodepth }, () => allocIoBuffer(o.bs));
        end();
      };
      const first = deadlineOf();
      if (first !== Infinity) timer = setTimeout(onDeadline, Math.max(0, first - performance.now()));
      const issue = (slot: Slot, now: number): void => {
        const unit = error === undefined ? next(now) : -1;
        if (unit < 0) {
          retire();
          return;
        }
        inflight[unit] = 1;
        slot.unit = unit;
        slot.read = isRead(unit);
        slot.t0 = now;
        const slba = baseLba + unit * lbasPerUnit;
        try {
          if (slot.read) {
            submitRead(slba, slot.buf, onDone, slot);
          } else {
            if (gens) {
              slot.gen = nextGen++;
              writePattern(slot.buf, lbaSize, slba, slot.gen, seed);
            }
            submitWrite(slba, slot.buf, onDone, slot);
          }
        } catch (e) {
          inflight[unit] = 0;
          error ??= e instanceof Error ? e.message : String(e);
          retire();
        }
      };
      const onDone: Done = (err, slot) => {
        if (over) return; // abandoned at the deadline
        const now = performance.now();
        const unit = slot.unit;
        inflight[unit] = 0;
        if (err !== undefined) {
          ioErrors++;
          error ??= err.message;
          retire();
          return;
        }
        if (gens) {
          const slba = baseLba + unit * lbasPerUnit;
          if (!slot.read) {
            gens[unit] = slot.gen;
          } else if (gens[unit] !== 0) {
            const bad = checkPattern(slot.buf, lbaSize, slba, gens[unit], seed);
            if (bad !== undefined) {
              error ??= `verify: ${bad}`;
              retire();
              return;
            }
            verifiedBlocks += lbasPerUnit;
          }
        }
        phaseOps++;
        phaseBytes += o.bs;
        if (timed && slot.t0 >= measureFrom) {
          const ns = (now - slot.t0) * 1e6;
          if (slot.read) {
            rh.record(ns);
            readOps++;
          } else {
            wh.record(ns);
            writeOps++;
          }
        }
        issue(slot, now);
      };
      const t = performance.now();
      for (const buf of bufs) slots.push({ buf, unit: -1, read: false, t0: t, gen: 0 });
      for (const sl of slots) issue(sl, t);
    });

  const startPhase = (p: WorkloadProgress['phase'], limitBytes: number, limitMs = 0, now = performance.now()) => {
    phase = p;
    phaseStart = now;
    phaseOps = 0;
    phaseBytes = 0;
    phaseLimitBytes = limitBytes;
    phaseLimitMs = limitMs;
  };
  /** Ends a phase: its last progress report (fraction 1 when it ran to its limit). */
  const endPhase = () => {
    if (o.onProgress !== undefined) report();
  };

  try {
    // Read modes with verify need known contents: write the region first (untimed).
    if (verify && mix > 0) {
      startPhase('prefill', units * o.bs);
      let u = 0;
      await drive(
        () => (u < units ? u++ : -1),
        () => false,
        false,
      );
      endPhase();
    }

    const runtimeMs = o.runtimeMs ?? 0;
    const rampMs = o.rampMs ?? 0;
    const limitBytes = o.timeBased ? 0 : (o.totalBytes ?? units * o.bs);
    const limitOps = o.timeBased ? Infinity : Math.ceil(limitBytes / o.bs);
    // No limit on the amount of I/O while ramping.
    let opsCap = rampMs > 0 ? Infinity : limitOps;
    let issued = 0;
    let seq = 0;
    const signal = o.signal;
    // The measured run's clock starts when the ramp ends (now, without one): the last
    // I/O completes at or after the deadline, so elapsedMs is never below the runtime.
    let runStart = 0;
    let deadline = Infinity;
    let ru0 = process.resourceUsage();
    const startRun = (now: number) => {
      startPhase('run', limitBytes, runtimeMs, now);
      runStart = now;
      measureFrom = now;
      deadline = runtimeMs > 0 ? now + runtimeMs : Infinity;
      opsCap = limitOps;
      sampleAt = now;
      ru0 = process.resourceUsage();
    };
    let rampEnd = -1;
    if (rampMs > 0) {
      startPhase('ramp', 0, rampMs);
      rampEnd = phaseStart + rampMs;
      measureFrom = Infinity;
    } else startRun(performance.now());
    // The hard end, however the device behaves: the run's deadline, or while ramping
    // (no I/O has completed past the ramp's end yet) the ramp's end plus the runtime.
    const hardDeadline = (): number => (deadline !== Infinity || rampEnd < 0 || runtimeMs <= 0 ? deadline : rampEnd + runtimeMs);
    const pick = (now: number): number => {
      if (rampEnd >= 0 && now >= rampEnd) {
        // The ramp is over: nothing done so far counts towards the limits.
        rampEnd = -1;
        endPhase();
        startRun(now);
        issued = 0;
      }
      if (issued >= opsCap || now >= deadline || signal?.aborted === true) return -1;
      let unit: number;
      if (isRandom) {
        unit = Math.floor(rand() * units);
      } else {
        unit = seq;
        seq = seq + 1 === units ? 0 : seq + 1;
      }
      // Never two requests on one block at once (a read racing a write would not verify).
      for (let i = 0; inflight[unit] !== 0 && i < units; i++) unit = unit + 1 === units ? 0 : unit + 1;
      issued++;
      return unit;
    };
    const readChoice = mix === 100 ? () => true : mix === 0 ? () => false : () => rand() * 100 < mix;
    sampler = setInterval(sample, o.sampleIntervalMs ?? 500);
    await drive(pick, readChoice, true, hardDeadline);
    // The ramp was never seen to end (no completion after it): stopped by an error before
    // its end (nothing measured), or by the hard deadline (the run, by the clock, began
    // when the ramp ended and nothing completed in it).
    if (rampEnd >= 0) startRun(Math.min(performance.now(), rampEnd));
    const ru1 = process.resourceUsage();
    clearInterval(sampler);
    sampler = undefined;
    const elapsedMs = performance.now() - runStart;
    endPhase();

    // Write-only modes with verify (and any with readBack): read back everything written.
    if (verify && (mix === 0 || o.readBack === true) && error === undefined && gens) {
      startPhase('verify', units * o.bs);
      let u = 0;
      const nextWritten = (): number => {
        while (u < units && gens[u] === 0) u++;
        return u < units ? u++ : -1;
      };
      await drive(nextWritten, () => true, false);
      endPhase();
    }

    // One record per I/O in the hot loop; the combined histogram is built once here.
    const all = new LatencyHistogram();
    all.merge(rh);
    all.merge(wh);
    const ops = readOps + writeOps;
    const secs = elapsedMs / 1000;
    const result: WorkloadResult = {
      rw: o.rw,
      bs: o.bs,
      iodepth,
      elapsedMs,
      readOps,
      writeOps,
      readBytes: readOps * o.bs,
      writeBytes: writeOps * o.bs,
      iops: secs > 0 ? ops / secs : 0,
      mbps: secs > 0 ? (ops * o.bs) / secs / 1e6 : 0,
      lat: summarize(all),
      readLat: summarize(rh),
      writeLat: summarize(wh),
      readHist: rh,
      writeHist: wh,
      readBw: samples.rBw.summary(),
      writeBw: samples.wBw.summary(),
      readIops: samples.rIops.summary(),
      writeIops: samples.wIops.summary(),
      verifiedBlocks,
      cpu: {
        user: ru1.userCPUTime - ru0.userCPUTime,
        system: ru1.systemCPUTime - ru0.systemCPUTime,
        ctx: ru1.voluntaryContextSwitches - ru0.voluntaryContextSwitches + ru1.involuntaryContextSwitches - ru0.involuntaryContextSwitches,
        majf: ru1.majorPageFault - ru0.majorPageFault,
        minf: ru1.minorPageFault - ru0.minorPageFault,
      },
      abandoned,
      ioErrors,
    };
    if (error !== undefined) result.error = error;
    return result;
  } finally {
    if (timer) clearInterval(timer);
    if (sampler) clearInterval(sampler);
  }
}

/** Parses fio-style sizes: 4k, 128K, 1m, 2g, 512 (bytes); k = 1024. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)$/i.exec(s.trim());
  if (!m) throw new RangeError(`bad size "${s}"`);
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  const v = Number(m[1]) * mult[m[2].toLowerCase()];
  if (!Number.isFinite(v) || v !== Math.floor(v)) throw new RangeError(`bad size "${s}"`);
  return v;
}
