// A workload generator with fio habits: sequential or random reads/writes/mix over a
// region of a block device, a fixed queue depth (that many requests always in
// flight), a time or size limit, optional verification of every read against a
// per-block tagged pattern, live progress, and latency percentiles at the end.
import { allocIoBuffer } from '../transport/reader.ts';
import { LatencyHistogram } from './histogram.ts';
import { checkPattern, writePattern } from './pattern.ts';

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
   * Stop after this long (ms), whatever the device does: I/O still in flight at the
   * deadline is abandoned (counted in `abandoned`, never waited for). With neither
   * runtime nor totalBytes, one pass over the region.
   */
  runtimeMs?: number;
  /** Stop after this many bytes of I/O. */
  totalBytes?: number;
  /** Region: byte offset and length (default: the whole device). */
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
  progressIntervalMs?: number;
  onProgress?: (p: WorkloadProgress) => void;
}

export interface WorkloadProgress {
  phase: 'prefill' | 'run' | 'verify';
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
  /** Blocks checked against the pattern (verify only). */
  verifiedBlocks: number;
  /** CPU time of this process during the measured phase (µs): user and system. */
  cpu: { user: number; system: number };
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
  if (o.bs <= 0 || o.bs % lbaSize !== 0) throw new RangeError(`bs ${o.bs} is not a multiple of the LBA size ${lbaSize}`);
  if (!Number.isInteger(o.iodepth) || o.iodepth < 1) throw new RangeError(`iodepth must be a positive integer`);
  const devBytes = dev.nlba * lbaSize;
  const offset = o.offset ?? 0;
  if (offset % lbaSize !== 0 || offset >= devBytes) throw new RangeError(`offset ${offset} is outside the device`);
  const region = Math.min(o.regionBytes ?? devBytes - offset, devBytes - offset);
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

  const timer =
    o.onProgress !== undefined
      ? setInterval(() => {
          const elapsedMs = performance.now() - phaseStart;
          let fraction = 0;
          if (phase === 'run' && o.runtimeMs) fraction = Math.min(1, elapsedMs / o.runtimeMs);
          else if (phaseLimitBytes > 0) fraction = Math.min(1, phaseBytes / phaseLimitBytes);
          o.onProgress?.({ phase, elapsedMs, ops: phaseOps, bytes: phaseBytes, fraction });
        }, o.progressIntervalMs ?? 1000)
      : undefined;

  const submitRead = submitter(dev, true);
  const submitWrite = submitter(dev, false);

  /**
   * Runs `next()`-chosen I/Os in iodepth slots until next() returns -1: each slot
   * submits its next I/O from its completion callback (no promise or closure per I/O;
   * one clock read per completion, which is also the next submission's start time).
   * At `deadline` the drive ends whatever is in flight: those slots are abandoned
   * (their blocks' contents unknown from then on, their buffers never reused).
   */
  const drive = (next: (now: number) => number, isRead: (unit: number) => boolean, timed: boolean, deadline = Infinity): Promise<void> =>
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
      if (deadline !== Infinity) {
        timer = setTimeout(
          () => {
            if (over) return;
            abandoned += active;
            for (const sl of slots) {
              if (sl.unit < 0 || inflight[sl.unit] === 0) continue;
              if (!sl.read && gens) gens[sl.unit] = 0; // may or may not land: never checked again
            }
            // The abandoned I/Os still own their buffers: a later phase gets new ones.
            bufs = Array.from({ length: iodepth }, () => allocIoBuffer(o.bs));
            end();
          },
          Math.max(0, deadline - performance.now()),
        );
      }
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
        if (timed) {
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

  const startPhase = (p: WorkloadProgress['phase'], limitBytes: number) => {
    phase = p;
    phaseStart = performance.now();
    phaseOps = 0;
    phaseBytes = 0;
    phaseLimitBytes = limitBytes;
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
    }

    startPhase('run', o.totalBytes ?? (o.runtimeMs ? 0 : units * o.bs));
    const limitOps = o.totalBytes !== undefined ? Math.ceil(o.totalBytes / o.bs) : o.runtimeMs ? Infinity : units;
    // The run's clock starts here: it ends at the deadline (or when the last I/O issued
    // before it completes), so elapsedMs is never below the runtime asked for.
    const runStart = performance.now();
    const deadline = o.runtimeMs ? runStart + o.runtimeMs : Infinity;
    let issued = 0;
    let seq = 0;
    const signal = o.signal;
    const pick = (now: number): number => {
      if (issued >= limitOps || now >= deadline || signal?.aborted === true) return -1;
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
    const cpu0 = process.cpuUsage();
    await drive(pick, readChoice, true, deadline);
    const cpu = process.cpuUsage(cpu0);
    const elapsedMs = performance.now() - runStart;

    // Write-only modes with verify (and any with readBack): read back everything written.
    if (verify && (mix === 0 || o.readBack === true) && error === undefined && gens) {
      startPhase('verify', units * o.bs);
      let u = 0;
      const nextWritten = (): number => {
        while (u < units && gens[u] === 0) u++;
        return u < units ? u++ : -1;
      };
      await drive(nextWritten, () => true, false);
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
      verifiedBlocks,
      cpu: { user: cpu.user, system: cpu.system },
      abandoned,
      ioErrors,
    };
    if (error !== undefined) result.error = error;
    return result;
  } finally {
    if (timer) clearInterval(timer);
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
