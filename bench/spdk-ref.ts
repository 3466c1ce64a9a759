// SPDK's own figures on this machine (issue 14: SPDK v24.01 perf against its nvmf
// target with a malloc bdev, one queue pair, 2 cores, target and initiator pinned one
// each, 5 s runs, medians of 3), the reference of the bench's goal columns.
import type { CaseSpec } from './nvme-case.ts';

export interface SpdkRef {
  /** What is compared: throughput (MiB/s, 2^20 B/s), IOPS, or p50 latency (µs, lower is better). */
  metric: 'MiB/s' | 'IOPS' | 'p50 µs';
  spdk: number;
  /** The goal, as a ratio ours / SPDK: at least this (MiB/s, IOPS) or at most this (p50). */
  goal: number;
}

/** The reference for a case, if SPDK was measured on it (one queue, offload off). */
export function spdkRef(c: CaseSpec): SpdkRef | undefined {
  if (c.queues !== 1 || c.offload) return undefined;
  if (c.bs === 128 * 1024 && c.iodepth === 32) {
    if (c.rw === 'read') return { metric: 'MiB/s', spdk: c.digests ? 3914 : 3448, goal: 1 };
    if (c.rw === 'write' && !c.digests) return { metric: 'MiB/s', spdk: 3649, goal: 1 };
  }
  if (c.bs === 4096 && c.iodepth === 64) {
    if (c.rw === 'randread') return { metric: 'IOPS', spdk: c.digests ? 415_000 : 457_000, goal: 0.8 };
    if (c.rw === 'randwrite' && !c.digests) return { metric: 'IOPS', spdk: 496_000, goal: 0.8 };
  }
  if (c.bs === 4096 && c.iodepth === 1 && c.rw === 'randread' && !c.digests) {
    return { metric: 'p50 µs', spdk: 19, goal: c.poll ? 1.3 : 2 };
  }
  return undefined;
}

/** Ours / SPDK for the reference's metric, from a case's MB/s (10^6 B/s), IOPS and p50. */
export function ratioToSpdk(r: SpdkRef, mbps: number, iops: number, p50us: number): number {
  if (r.metric === 'MiB/s') return (mbps * 1e6) / 2 ** 20 / r.spdk;
  if (r.metric === 'IOPS') return iops / r.spdk;
  return p50us / r.spdk;
}

/** "0.85 (goal ≥ 1)" or, for latency, "2.37 (goal ≤ 2)". */
export function formatVsSpdk(r: SpdkRef, ratio: number): string {
  return `${ratio.toFixed(2)} (goal ${r.metric === 'p50 µs' ? '≤' : '≥'} ${r.goal})`;
}
