// Workload progress for people and for logs, always on stderr (stdout carries only
// results): a live bar with MiB/s, IOPS and an ETA on a terminal, one plain line per
// tick otherwise (CI logs, pipes). Each phase ends with its own last report, so a run
// that reached its limit shows 100%.
import cliProgress from 'cli-progress';
import type { WorkloadProgress } from '../index.ts';

export interface ProgressSink {
  update(p: WorkloadProgress): void;
  stop(): void;
}

interface Rate {
  mibps: number;
  iops: number;
}

/** Ticks closer together than this keep the last rate (a phase's last report can follow a tick by a few ms). */
const MIN_RATE_SPAN_MS = 50;

/** Turns cumulative per-phase counters into rates over the last tick. */
class RateMeter {
  private phase = '';
  private t = 0;
  private ops = 0;
  private bytes = 0;
  private last: Rate = { mibps: 0, iops: 0 };
  next(p: WorkloadProgress): Rate {
    if (p.phase !== this.phase) {
      this.phase = p.phase;
      this.t = 0;
      this.ops = 0;
      this.bytes = 0;
      this.last = { mibps: 0, iops: 0 };
    }
    const dtMs = p.elapsedMs - this.t;
    if (dtMs < MIN_RATE_SPAN_MS) return this.last;
    this.last = { mibps: (p.bytes - this.bytes) / (dtMs / 1000) / 2 ** 20, iops: (p.ops - this.ops) / (dtMs / 1000) };
    this.t = p.elapsedMs;
    this.ops = p.ops;
    this.bytes = p.bytes;
    return this.last;
  }
}

/** Time left in the phase, as fio's status line gives it ("01m:05s"); "--m:--s" before anything is known. */
export function formatEta(p: Pick<WorkloadProgress, 'elapsedMs' | 'fraction'>): string {
  if (p.fraction >= 1) return '00m:00s';
  if (p.fraction <= 0) return '--m:--s';
  const left = Math.round((p.elapsedMs * (1 - p.fraction)) / p.fraction / 1000);
  const m = Math.floor(left / 60);
  return `${String(m).padStart(2, '0')}m:${String(left % 60).padStart(2, '0')}s`;
}

const PHASE_LABEL: Readonly<Record<WorkloadProgress['phase'], string>> = {
  prefill: 'prefill',
  ramp: 'ramp   ',
  run: 'run    ',
  verify: 'verify ',
};

class BarProgress implements ProgressSink {
  private readonly bar: cliProgress.SingleBar;
  private readonly meter = new RateMeter();
  private started = false;
  constructor(stream: NodeJS.WritableStream) {
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{phase} [{bar}] {percentage}% | {mibps} MiB/s | {iops} IOPS | {secs}s | eta {left}',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: false,
        forceRedraw: true,
      },
      cliProgress.Presets.shades_classic,
    );
  }
  update(p: WorkloadProgress): void {
    const r = this.meter.next(p);
    const payload = {
      phase: PHASE_LABEL[p.phase],
      mibps: r.mibps.toFixed(1).padStart(8),
      iops: Math.round(r.iops).toString().padStart(7),
      secs: (p.elapsedMs / 1000).toFixed(1),
      left: formatEta(p),
    };
    const pct = Math.round(p.fraction * 1000) / 10;
    if (!this.started) {
      this.bar.start(100, pct, payload);
      this.started = true;
    } else this.bar.update(pct, payload);
  }
  stop(): void {
    if (this.started) this.bar.stop();
  }
}

/** One line per report: "perf: run 3.0s 63.9 MiB/s 16362 IOPS 100% eta 00m:00s". */
export class LineProgress implements ProgressSink {
  private readonly meter = new RateMeter();
  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly label: string,
  ) {}
  update(p: WorkloadProgress): void {
    // A tick that lands just as a phase starts has nothing to say.
    if (p.ops === 0 && p.elapsedMs < 100) return;
    const r = this.meter.next(p);
    this.stream.write(
      `${this.label}: ${p.phase} ${(p.elapsedMs / 1000).toFixed(1)}s ${r.mibps.toFixed(1)} MiB/s ${Math.round(r.iops)} IOPS ` +
        `${Math.floor(p.fraction * 100)}% eta ${formatEta(p)}\n`,
    );
  }
  stop(): void {}
}

class NoProgress implements ProgressSink {
  update(): void {}
  stop(): void {}
}

/**
 * A bar when `stream` is a TTY, plain lines when it is not; nothing on a non-TTY when
 * `quiet` (JSON output: a log of progress lines is only noise beside it).
 */
export function makeProgress(label: string, stream: NodeJS.WriteStream, quiet = false): ProgressSink {
  if (stream.isTTY) return new BarProgress(stream);
  if (quiet) return new NoProgress();
  return new LineProgress(stream, label);
}
