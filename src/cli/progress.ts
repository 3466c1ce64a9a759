// Workload progress for people and for logs: a live bar with MB/s and IOPS on a TTY,
// one plain line per tick otherwise (CI logs, pipes).
import cliProgress from 'cli-progress';
import type { WorkloadProgress } from '../index.ts';

export interface ProgressSink {
  update(p: WorkloadProgress): void;
  stop(): void;
}

interface Rate {
  mbps: number;
  iops: number;
}

/** Turns cumulative per-phase counters into rates over the last tick. */
class RateMeter {
  private phase = '';
  private t = 0;
  private ops = 0;
  private bytes = 0;
  next(p: WorkloadProgress): Rate {
    if (p.phase !== this.phase) {
      this.phase = p.phase;
      this.t = 0;
      this.ops = 0;
      this.bytes = 0;
    }
    const dt = (p.elapsedMs - this.t) / 1000;
    const r = dt > 0 ? { mbps: (p.bytes - this.bytes) / dt / 1e6, iops: (p.ops - this.ops) / dt } : { mbps: 0, iops: 0 };
    this.t = p.elapsedMs;
    this.ops = p.ops;
    this.bytes = p.bytes;
    return r;
  }
}

const PHASE_LABEL: Readonly<Record<WorkloadProgress['phase'], string>> = {
  prefill: 'prefill',
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
        format: '{phase} [{bar}] {percentage}% | {mbps} MB/s | {iops} IOPS | {secs}s',
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
      mbps: r.mbps.toFixed(1).padStart(8),
      iops: Math.round(r.iops).toString().padStart(7),
      secs: (p.elapsedMs / 1000).toFixed(1),
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

class LineProgress implements ProgressSink {
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
      `${this.label}: ${p.phase} ${(p.elapsedMs / 1000).toFixed(1)}s ${r.mbps.toFixed(1)} MB/s ${Math.round(r.iops)} IOPS ${Math.round(p.fraction * 100)}%\n`,
    );
  }
  stop(): void {}
}

class NoProgress implements ProgressSink {
  update(): void {}
  stop(): void {}
}

/**
 * A bar when `stream` is a TTY, plain lines when it is not; nothing when `quiet`
 * (--json keeps stdout for the one JSON object, so progress goes to a TTY stderr only).
 */
export function makeProgress(label: string, stream: NodeJS.WriteStream, quiet = false): ProgressSink {
  if (stream.isTTY) return new BarProgress(stream);
  if (quiet) return new NoProgress();
  return new LineProgress(stream, label);
}
