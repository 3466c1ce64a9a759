// I/O counters of one namespace, as a host or a target sees it: commands, bytes and
// errors per kind of command, and a latency histogram in seconds with fixed bucket
// bounds (Prometheus `_seconds` buckets).
//
// Writing is cheap, as for the offload counters (registry.ts): one Float64Array per
// namespace written with a plain `+=` by the one thread that completes its commands;
// the histogram keeps a count per bucket (not cumulative), found by a short scan of
// the bounds. No maps, no labels, no allocation. Reading does the work: snapshot()
// returns new objects with the cumulative bucket counts that the exposition format
// wants, computed then and never stored.

/** Kinds of command counted apart: `op` label values, in block order. */
export const IO_OPS = ['read', 'write', 'other'] as const;
export type IoOp = (typeof IO_OPS)[number];
/** Block indexes of the kinds: `io.record(IoOpIndex.read, ...)`. */
export const IoOpIndex = { read: 0, write: 1, other: 2 } as const satisfies Record<IoOp, number>;

/**
 * Upper bounds (seconds) of the latency buckets; a last `+Inf` bucket follows. From
 * 5 µs (a RAM read on loopback) to 10 s (an I/O timeout), 1-2.5-5 steps.
 */
export const LATENCY_BOUNDS_SECONDS: readonly number[] = Object.freeze([
  5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

const F_COMMANDS = 0;
const F_BYTES = 1;
const F_ERRORS = 2;
const F_LATENCY_SUM = 3;
const F_BUCKETS = 4;
const NBUCKETS = LATENCY_BOUNDS_SECONDS.length + 1;
const STRIDE = F_BUCKETS + NBUCKETS;
const BOUNDS = Float64Array.from(LATENCY_BOUNDS_SECONDS);

/** One kind of command as of a snapshot. */
export interface IoOpValues {
  /** Commands completed, failed ones included. */
  commands: number;
  /** Data bytes of the commands that succeeded. */
  bytes: number;
  /** Commands completed with an error status (or failed on the host). */
  errors: number;
  /** Sum of the latencies, seconds. */
  latencySum: number;
  /** Cumulative counts: [i] is the number of latencies <= LATENCY_BOUNDS_SECONDS[i]; the last is +Inf (= commands). */
  buckets: number[];
}

export interface IoSnapshot {
  /** Labels of the block, e.g. { subsystem, namespace }. */
  labels: Record<string, string>;
  ops: Record<IoOp, IoOpValues>;
}

export class IoStats {
  /** Per kind (IO_OPS order): commands, bytes, errors, latency sum, then one count per bucket. */
  readonly values = new Float64Array(IO_OPS.length * STRIDE);
  readonly labels: Readonly<Record<string, string>>;

  constructor(labels: Readonly<Record<string, string>>) {
    this.labels = Object.freeze({ ...labels });
  }

  /** One completed command: `op` an IoOpIndex, `bytes` counted only when `ok`, `seconds` from submission to completion. */
  record(op: number, bytes: number, ok: boolean, seconds: number): void {
    const v = this.values;
    const at = op * STRIDE;
    v[at + F_COMMANDS] += 1;
    if (ok) v[at + F_BYTES] += bytes;
    else v[at + F_ERRORS] += 1;
    const s = Math.max(seconds, 0);
    v[at + F_LATENCY_SUM] += s;
    let b = 0;
    while (b < BOUNDS.length && s > BOUNDS[b]) b++;
    v[at + F_BUCKETS + b] += 1;
  }

  snapshot(): IoSnapshot {
    const ops = {} as Record<IoOp, IoOpValues>;
    IO_OPS.forEach((op, i) => {
      const at = i * STRIDE;
      const v = this.values;
      const buckets: number[] = [];
      let acc = 0;
      for (let b = 0; b < NBUCKETS; b++) {
        acc += v[at + F_BUCKETS + b];
        buckets.push(acc);
      }
      ops[op] = {
        commands: v[at + F_COMMANDS],
        bytes: v[at + F_BYTES],
        errors: v[at + F_ERRORS],
        latencySum: v[at + F_LATENCY_SUM],
        buckets,
      };
    });
    return { labels: { ...this.labels }, ops };
  }
}
