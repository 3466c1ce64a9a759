// perf's results in fio's shapes: the JSON of `fio --output-format=json` (the keys,
// nesting and units fio 3.x writes, so tools that read fio's JSON read ours) and the
// blocks of fio's normal output. Only what applies to us is filled in; nvmeotcp's own
// facts (offload counters, target, verification) go in objects named "nvmeotcp",
// never among fio's keys.
//
// Units, as fio: bw and bw_min.. in KiB/s, bw_bytes in bytes/s, runtime in ms,
// latencies in ns. Our one latency measure runs from the submission call to the
// completion, which is fio's lat; clat is the same number here (the submission call
// returns at once, nothing is measured between), and slat is not measured (N = 0, as
// fio's synchronous engines report it).
import type { LatencyHistogram, SampleSummary, WorkloadResult } from '../index.ts';
import { cpuReport } from './workload-report.ts';

export interface FioJob {
  /** fio's jobname. */
  name: string;
  /** The job's own options (fio's "job options"), as strings. */
  options: Record<string, string>;
  result: WorkloadResult;
  /** Extra facts of this job, in its "nvmeotcp" object. */
  extra: Record<string, unknown>;
}

export interface FioRun {
  /** Options shared by every job (fio's "global options"), as strings. */
  globalOptions: Record<string, string>;
  jobs: FioJob[];
  /** When the run ended (fio's timestamp). */
  end: Date;
  /** Wall time of the whole run, ramp included (fio's per-job "elapsed", in s). */
  wallMs: number;
  /** `nvmeotcp-<version>`, in fio's "fio version". */
  tool: string;
  /** Everything else: in the top-level "nvmeotcp" object. */
  extra: Record<string, unknown>;
}

/** fio's default completion-latency percentiles. */
const PERCENTILES = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];
/** Upper bounds of fio's latency_ns / latency_us / latency_ms buckets (each counts [previous, bound)). */
const LAT_BOUNDS = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000];
const LAT_MS_BOUNDS = [...LAT_BOUNDS, 2000];
/** fio's iodepth_level buckets: key k counts depths from k up to the next key. */
const DEPTH_LEVELS = [1, 2, 4, 8, 16, 32, 64];
/** fio's iodepth_submit / iodepth_complete buckets (I/Os per call; key k counts up to k). */
const DEPTH_CALLS = [0, 4, 8, 16, 32, 64];
/** fio's errno for a verification failure (EILSEQ) and for any other I/O error (EIO). */
const ERR_VERIFY = 84;
const ERR_IO = 5;

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

function latencyStats(h: LatencyHistogram | undefined, withPercentiles: boolean): Record<string, unknown> {
  const s: Record<string, unknown> = {
    min: h?.min ?? 0,
    max: h?.max ?? 0,
    mean: round6(h?.mean ?? 0),
    stddev: round6(h?.stddev ?? 0),
    N: h?.count ?? 0,
  };
  // fio leaves the percentiles out of a direction with no I/O.
  if (withPercentiles && h !== undefined && h.count > 0) {
    s.percentile = Object.fromEntries(PERCENTILES.map((p) => [p.toFixed(6), h.quantile(p / 100)]));
  }
  return s;
}

interface Direction {
  ops: number;
  hist: LatencyHistogram | undefined;
  bw: SampleSummary | undefined;
  iops: SampleSummary | undefined;
}

const NO_SAMPLES: SampleSummary = { min: 0, max: 0, mean: 0, stddev: 0, samples: 0 };

function directions(r: WorkloadResult): Record<'read' | 'write' | 'trim', Direction> {
  return {
    read: { ops: r.readOps, hist: r.readHist, bw: r.readBw, iops: r.readIops },
    write: { ops: r.writeOps, hist: r.writeHist, bw: r.writeBw, iops: r.writeIops },
    trim: { ops: 0, hist: undefined, bw: undefined, iops: undefined },
  };
}

/** Bytes per second of one direction over the run (fio's bw_bytes). */
function bwBytes(ops: number, bs: number, runtimeMs: number): number {
  return runtimeMs > 0 ? Math.floor((ops * bs * 1000) / runtimeMs) : 0;
}

function directionJson(d: Direction, r: WorkloadResult, groupKiBs: number): Record<string, unknown> {
  const runtime = d.ops > 0 ? Math.round(r.elapsedMs) : 0;
  const bytes = d.ops * r.bs;
  const bw = d.bw ?? NO_SAMPLES;
  const iops = d.iops ?? NO_SAMPLES;
  const kib = (v: number) => v / 1024;
  return {
    io_bytes: bytes,
    io_kbytes: Math.floor(bytes / 1024),
    bw_bytes: bwBytes(d.ops, r.bs, runtime),
    bw: Math.floor(bwBytes(d.ops, r.bs, runtime) / 1024),
    iops: round6(runtime > 0 ? (d.ops * 1000) / runtime : 0),
    runtime,
    total_ios: d.ops,
    short_ios: 0,
    drop_ios: 0,
    slat_ns: latencyStats(undefined, false),
    clat_ns: latencyStats(d.hist, true),
    lat_ns: latencyStats(d.hist, false),
    bw_min: Math.floor(kib(bw.min)),
    bw_max: Math.floor(kib(bw.max)),
    bw_agg: round6(groupKiBs > 0 ? (kib(bw.mean) / groupKiBs) * 100 : 0),
    bw_mean: round6(kib(bw.mean)),
    bw_dev: round6(kib(bw.stddev)),
    bw_samples: bw.samples,
    iops_min: Math.floor(iops.min),
    iops_max: Math.floor(iops.max),
    iops_mean: round6(iops.mean),
    iops_stddev: round6(iops.stddev),
    iops_samples: iops.samples,
  };
}

/** Percent of all I/Os whose latency fell in each of fio's buckets. */
function latencyBuckets(r: WorkloadResult): Record<'latency_ns' | 'latency_us' | 'latency_ms', Record<string, number>> {
  const bounds = [...LAT_BOUNDS, ...LAT_BOUNDS.map((b) => b * 1e3), ...LAT_MS_BOUNDS.map((b) => b * 1e6)];
  const total = r.readHist.count + r.writeHist.count;
  const w = r.writeHist.countsBelow(bounds);
  const below = r.readHist.countsBelow(bounds).map((c, i) => c + w[i]);
  const pct = (n: number) => round6(total > 0 ? (n * 100) / total : 0);
  const out: Record<string, Record<string, number>> = {};
  let i = 0;
  let prev = 0;
  for (const [k, name] of ['latency_ns', 'latency_us', 'latency_ms'].entries()) {
    const keys = k === 2 ? LAT_MS_BOUNDS : LAT_BOUNDS;
    const o: Record<string, number> = {};
    for (const b of keys) {
      o[String(b)] = pct(below[i] - prev);
      prev = below[i++];
    }
    if (k === 2) o['>=2000'] = pct(total - prev);
    out[name] = o;
  }
  return out as Record<'latency_ns' | 'latency_us' | 'latency_ms', Record<string, number>>;
}

/** One bucket at 100% (the one holding `v`), the others at 0, keyed as fio keys them. */
function oneBucket(keys: readonly number[], v: number, upTo: boolean, top: string): Record<string, number> {
  const o: Record<string, number> = {};
  let hit = false;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const inside = upTo ? v <= k : v >= k && (i + 1 === keys.length || v < keys[i + 1]);
    const key = !upTo && i + 1 === keys.length ? top : String(k);
    o[key] = !hit && inside ? 100 : 0;
    hit ||= inside;
  }
  if (upTo) o[top] = hit ? 0 : 100;
  return o;
}

function errno(r: WorkloadResult): number {
  if (r.error === undefined) return 0;
  return r.error.startsWith('verify:') ? ERR_VERIFY : ERR_IO;
}

/** The group's bandwidth per direction (KiB/s, all jobs summed): what bw_agg is a share of. */
function groupKiBs(jobs: readonly FioJob[], dir: 'read' | 'write' | 'trim'): number {
  let sum = 0;
  for (const j of jobs) {
    const d = directions(j.result)[dir];
    sum += bwBytes(d.ops, j.result.bs, d.ops > 0 ? Math.round(j.result.elapsedMs) : 0) / 1024;
  }
  return sum;
}

/** ctime(3) style, as fio's "time": "Fri Dec  4 03:18:27 2026" (local time). */
export function ctime(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`
  );
}

export function fioJson(run: FioRun): Record<string, unknown> {
  const group = { read: groupKiBs(run.jobs, 'read'), write: groupKiBs(run.jobs, 'write'), trim: 0 };
  const jobs = run.jobs.map((j) => {
    const r = j.result;
    const dirs = directions(r);
    const cpu = cpuReport(r);
    const zero = latencyStats(undefined, false);
    return {
      jobname: j.name,
      groupid: 0,
      error: errno(r),
      eta: 0,
      elapsed: Math.ceil(run.wallMs / 1000),
      'job options': j.options,
      read: directionJson(dirs.read, r, group.read),
      write: directionJson(dirs.write, r, group.write),
      trim: directionJson(dirs.trim, r, group.trim),
      sync: { total_ios: 0, lat_ns: zero },
      job_runtime: Math.round(r.elapsedMs),
      usr_cpu: cpu.usrPct,
      sys_cpu: cpu.sysPct,
      ctx: r.cpu.ctx,
      majf: r.cpu.majf,
      minf: r.cpu.minf,
      // Every slot resubmits from its completion: the queue stays at iodepth, one I/O per call.
      iodepth_level: oneBucket(DEPTH_LEVELS, r.iodepth, false, '>=64'),
      iodepth_submit: oneBucket(DEPTH_CALLS, 1, true, '>=64'),
      iodepth_complete: oneBucket(DEPTH_CALLS, 1, true, '>=64'),
      ...latencyBuckets(r),
      latency_depth: r.iodepth,
      latency_target: 0,
      latency_percentile: 100,
      latency_window: 0,
      nvmeotcp: j.extra,
    };
  });
  return {
    'fio version': run.tool,
    timestamp: Math.floor(run.end.getTime() / 1000),
    timestamp_ms: run.end.getTime(),
    time: ctime(run.end),
    'global options': run.globalOptions,
    jobs,
    nvmeotcp: run.extra,
  };
}

// ---- fio's normal output -------------------------------------------------------

/** Three significant digits with a unit prefix, as fio prints rates and sizes ("80.7Mi", "20.7k"). */
function sig3(v: number, base: 1000 | 1024, units: readonly string[]): string {
  let i = 0;
  let x = v;
  while (x >= 1000 && i < units.length - 1) {
    x /= base;
    i++;
  }
  const s = i === 0 && Number.isInteger(x) ? String(x) : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
  return `${s}${units[i]}`;
}
const IEC = ['', 'Ki', 'Mi', 'Gi', 'Ti'];
const SI = ['', 'k', 'M', 'G', 'T'];
/** "80.7MiB/s (84.7MB/s)" for bytes per second. */
const rate = (bps: number) => `${sig3(bps, 1024, IEC)}B/s (${sig3(bps, 1000, SI)}B/s)`;
const size = (b: number) => `${sig3(b, 1024, IEC)}B`;

function latUnit(h: LatencyHistogram): [string, number] {
  if (h.min < 10_000) return ['nsec', 1];
  if (h.min < 10_000_000) return ['usec', 1e3];
  return ['msec', 1e6];
}

function directionText(name: string, d: Direction, r: WorkloadResult, groupKiBsOfDir: number): string[] {
  const h = d.hist;
  if (h === undefined || d.ops === 0) return [];
  const runtime = Math.round(r.elapsedMs);
  const bps = bwBytes(d.ops, r.bs, runtime);
  const [unit, div] = latUnit(h);
  const num = (v: number) => (div === 1 ? String(Math.round(v)) : String(Math.round(v / div)));
  const two = (v: number) => (v / div).toFixed(2);
  const lines = [
    `  ${name}: IOPS=${sig3(Math.round((d.ops * 1000) / Math.max(1, runtime)), 1000, SI)}, BW=${rate(bps)}(${size(d.ops * r.bs)}/${runtime}msec)`,
    `    clat (${unit}): min=${num(h.min)}, max=${num(h.max)}, avg=${two(h.mean)}, stdev=${two(h.stddev)}`,
    `     lat (${unit}): min=${num(h.min)}, max=${num(h.max)}, avg=${two(h.mean)}, stdev=${two(h.stddev)}`,
    `    clat percentiles (${unit}):`,
  ];
  const cells = PERCENTILES.map((p) => `${p.toFixed(2).padStart(5)}th=[${num(h.quantile(p / 100)).padStart(5)}]`);
  for (let i = 0; i < cells.length; i += 4) lines.push(`     | ${cells.slice(i, i + 4).join(', ')}${i + 4 < cells.length ? ',' : ''}`);
  const bw = d.bw ?? NO_SAMPLES;
  const io = d.iops ?? NO_SAMPLES;
  const per = groupKiBsOfDir > 0 ? ((bw.mean / 1024 / groupKiBsOfDir) * 100).toFixed(2) : '0.00';
  lines.push(
    `   bw (  KiB/s): min=${Math.floor(bw.min / 1024)}, max=${Math.floor(bw.max / 1024)}, per=${per}%, avg=${(bw.mean / 1024).toFixed(2)}, ` +
      `stdev=${(bw.stddev / 1024).toFixed(2)}, samples=${bw.samples}`,
    `   iops        : min=${Math.floor(io.min)}, max=${Math.floor(io.max)}, avg=${io.mean.toFixed(2)}, stdev=${io.stddev.toFixed(2)}, samples=${io.samples}`,
  );
  return lines;
}

function latencyBucketText(r: WorkloadResult): string[] {
  const b = latencyBuckets(r);
  const lines: string[] = [];
  for (const [name, unit] of [
    ['latency_ns', 'nsec'],
    ['latency_us', 'usec'],
    ['latency_ms', 'msec'],
  ] as const) {
    // fio lists only the buckets with at least 0.01%.
    const cells = Object.entries(b[name])
      .filter(([, v]) => v >= 0.01)
      .map(([k, v]) => `${k}=${v.toFixed(2)}%`);
    for (let i = 0; i < cells.length; i += 5) lines.push(`  lat (${unit})   : ${cells.slice(i, i + 5).join(', ')}`);
  }
  return lines;
}

/** fio's normal output: one block per job, then the group's status lines. */
export function fioText(run: FioRun): string {
  const group = { read: groupKiBs(run.jobs, 'read'), write: groupKiBs(run.jobs, 'write') };
  const out: string[] = [];
  for (const j of run.jobs) {
    const r = j.result;
    const dirs = directions(r);
    const cpu = cpuReport(r);
    out.push(`${j.name}: (groupid=0, jobs=1): err=${String(errno(r)).padStart(2)}: pid=${process.pid}: ${ctime(run.end)}`);
    out.push(...directionText('read', dirs.read, r, group.read), ...directionText('write', dirs.write, r, group.write));
    out.push(...latencyBucketText(r));
    out.push(
      `  cpu          : usr=${cpu.usrPct.toFixed(2)}%, sys=${cpu.sysPct.toFixed(2)}%, ctx=${r.cpu.ctx}, majf=${r.cpu.majf}, minf=${r.cpu.minf}`,
    );
    const depth = oneBucket(DEPTH_LEVELS, r.iodepth, false, '>=64');
    out.push(
      `  IO depths    : ${Object.entries(depth)
        .map(([k, v]) => `${k}=${v.toFixed(1)}%`)
        .join(', ')}`,
    );
    out.push(`     issued rwts: total=${r.readOps},${r.writeOps},0,0 short=0,0,0,0 dropped=0,0,0,0`);
    out.push(`     latency   : target=0, window=0, percentile=100.00%, depth=${r.iodepth}`);
  }
  out.push('', 'Run status group 0 (all jobs):');
  for (const [label, dir] of [
    ['   READ', 'read'],
    ['  WRITE', 'write'],
  ] as const) {
    const per = run.jobs.map((j) => {
      const d = directions(j.result)[dir];
      const runtime = Math.round(j.result.elapsedMs);
      return { ops: d.ops, bytes: d.ops * j.result.bs, bps: bwBytes(d.ops, j.result.bs, runtime), runtime };
    });
    if (per.every((p) => p.ops === 0)) continue;
    const bpsList = per.map((p) => p.bps);
    const runs = per.map((p) => p.runtime);
    const io = per.reduce((a, p) => a + p.bytes, 0);
    const lo = Math.min(...bpsList);
    const hi = Math.max(...bpsList);
    out.push(
      `${label}: bw=${rate(group[dir] * 1024)}, ${sig3(lo, 1024, IEC)}B/s-${sig3(hi, 1024, IEC)}B/s ` +
        `(${sig3(lo, 1000, SI)}B/s-${sig3(hi, 1000, SI)}B/s), io=${size(io)} (${sig3(io, 1000, SI)}B), ` +
        `run=${Math.min(...runs)}-${Math.max(...runs)}msec`,
    );
  }
  return `${out.join('\n')}\n`;
}
