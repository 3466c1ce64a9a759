// Running workloads with live progress on stderr, and their summary as text (fio /
// spdk_nvme_perf habits: IOPS, MB/s, latency percentiles in µs).
import {
  type BlockDevice,
  type ChannelValues,
  type RecoveryStats,
  runWorkload,
  type WorkloadOptions,
  type WorkloadProgress,
  type WorkloadResult,
} from '../index.ts';
import { makeProgress } from './progress.ts';

/**
 * Runs the jobs side by side on one device (fio's numjobs), with one progress display
 * on stderr for all of them: their ops and bytes summed, the least advanced job's
 * fraction. `quiet` leaves a non-TTY stderr alone (JSON output).
 */
export async function runJobs(
  dev: BlockDevice,
  jobs: readonly WorkloadOptions[],
  label: string,
  quiet: boolean,
): Promise<WorkloadResult[]> {
  const sink = makeProgress(label, process.stderr, quiet);
  const latest: (WorkloadProgress | undefined)[] = jobs.map(() => undefined);
  const running = jobs.map(() => true);
  const combined = (): WorkloadProgress | undefined => {
    const lead = latest[0];
    if (lead === undefined) return undefined;
    const p: WorkloadProgress = { phase: lead.phase, elapsedMs: 0, ops: 0, bytes: 0, fraction: 1 };
    for (const l of latest) {
      if (l === undefined || l.phase !== lead.phase) {
        p.fraction = 0;
        continue;
      }
      p.elapsedMs = Math.max(p.elapsedMs, l.elapsedMs);
      p.ops += l.ops;
      p.bytes += l.bytes;
      p.fraction = Math.min(p.fraction, l.fraction);
    }
    return p;
  };
  // The jobs' timers were started in order and fire in order: the last job still
  // running reports last in a tick, when every other job's report of it is in.
  const onProgress = (i: number) => (p: WorkloadProgress) => {
    latest[i] = p;
    if (running.lastIndexOf(true) !== i) return;
    const c = combined();
    if (c) sink.update(c);
  };
  try {
    return await Promise.all(
      jobs.map((o, i) =>
        runWorkload(dev, { ...o, progressIntervalMs: o.progressIntervalMs ?? 1000, onProgress: onProgress(i) }).finally(() => {
          running[i] = false;
        }),
      ),
    );
  } finally {
    // Every job's last report is in: show where the run ended (100% when it ran to its limit).
    const c = combined();
    if (c && jobs.length > 1) sink.update(c);
    sink.stop();
  }
}

/** Decimal bytes as fio prints them (kB, MB, GB: powers of 1000). */
export function humanBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

const us = (v: number) => v.toFixed(1);

/** The host process's CPU over a run, as fio reports it (percent of wall time) and per I/O. */
export interface CpuReport {
  usrPct: number;
  sysPct: number;
  usPerIo: number;
}

/** The measured phase's CPU (WorkloadResult.cpu) in percent of its wall time and per I/O. */
export function cpuReport(r: WorkloadResult): CpuReport {
  const u = r.cpu;
  const ios = r.readOps + r.writeOps;
  const wallUs = Math.max(1, r.elapsedMs * 1000);
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    usrPct: round((u.user / wallUs) * 100),
    sysPct: round((u.system / wallUs) * 100),
    usPerIo: round(ios > 0 ? (u.user + u.system) / ios : 0),
  };
}

export function formatSummary(r: WorkloadResult, cpu?: CpuReport): string {
  const lat = (name: string, l: WorkloadResult['lat']) =>
    `  ${name.padEnd(10)} p50 ${us(l.p50)}  p99 ${us(l.p99)}  p99.9 ${us(l.p999)}  max ${us(l.max)}  mean ${us(l.mean)}`;
  const lines = [
    `Results: ${r.rw}, bs ${r.bs}, iodepth ${r.iodepth}, ${(r.elapsedMs / 1000).toFixed(2)} s`,
    `  IOPS       ${r.iops.toFixed(1)}`,
    `  MB/s       ${r.mbps.toFixed(2)}`,
    `  reads      ${r.readOps} (${humanBytes(r.readBytes)})`,
    `  writes     ${r.writeOps} (${humanBytes(r.writeBytes)})`,
    ...(cpu ? [`  cpu        usr=${cpu.usrPct.toFixed(1)}%, sys=${cpu.sysPct.toFixed(1)}%, ${cpu.usPerIo.toFixed(1)} µs per I/O`] : []),
    'Latency (µs):',
    lat('all', r.lat),
  ];
  if (r.readOps > 0 && r.writeOps > 0) lines.push(lat('read', r.readLat), lat('write', r.writeLat));
  if (r.verifiedBlocks > 0 && r.error === undefined) lines.push(`Verify: ${r.verifiedBlocks} blocks checked, all match`);
  if (r.error !== undefined) lines.push(`Error: ${r.error}`);
  return `${lines.join('\n')}\n`;
}

/** Error recovery and the run's end, one line each when anything happened ("" otherwise). */
export function formatRecovery(rec: RecoveryStats, results: readonly WorkloadResult[]): string {
  const lines: string[] = [];
  if (rec.resets > 0 || rec.retried > 0) {
    lines.push(
      `Recovery: ${rec.resets} reset(s), ${rec.reconnects} reconnect(s) in ${rec.attempts} attempt(s), ` +
        `${rec.requeued} I/O resent, ${rec.retried} retried, ${(rec.reconnectingMs / 1000).toFixed(2)} s reconnecting`,
    );
  }
  const ioErrors = results.reduce((a, r) => a + r.ioErrors, 0);
  const abandoned = results.reduce((a, r) => a + r.abandoned, 0);
  if (ioErrors > 0) lines.push(`I/O errors: ${ioErrors}`);
  if (abandoned > 0) lines.push(`Abandoned at the deadline: ${abandoned} I/O in flight (not counted)`);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** What the offload took of the flow on offloaded queues: the ratios blktests nvme/055 judges. */
export interface OffloadShare {
  /** rx_nvmeotcp_packets / rx_packets (0 without traffic). */
  packets: number;
  /** rx_nvmeotcp_bytes / rx_bytes (0 without traffic). */
  bytes: number;
}

export function offloadShare(v: ChannelValues): OffloadShare {
  const ratio = (part: number, whole: number) => (whole > 0 ? part / whole : 0);
  return { packets: ratio(v.rx_nvmeotcp_packets, v.rx_packets), bytes: ratio(v.rx_nvmeotcp_bytes, v.rx_bytes) };
}

/** A ratio as a percentage with one decimal, never rounded up to 100.0 unless it is 1. */
export function sharePct(r: number): string {
  const p = Math.floor(r * 1000 + 1e-9) / 10;
  return p.toFixed(1);
}

/** "offloaded 97.1% of packets, 99.4% of bytes" */
export function formatOffloadShare(v: ChannelValues): string {
  const s = offloadShare(v);
  return `offloaded ${sharePct(s.packets)}% of packets, ${sharePct(s.bytes)}% of bytes`;
}
