// `nvmeotcp replay FILE|-`: the NIC model on captured traffic. Reads a pcap/pcapng
// capture (or stdin), runs every NVMe/TCP I/O queue's controller-to-host segments
// through a packet device as the host would drive it, and prints per flow and in
// total the ten offload counters, the flow totals, the offloaded shares and the PDUs
// by type (replayCapture in src/replay/ does the work).
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  GLOBAL_COUNTERS,
  NIC_PROFILES,
  type NicProfile,
  type PduCounts,
  type ReplayCounters,
  type ReplayFlowResult,
  type ReplayImpairments,
  type ReplayResult,
  replayCapture,
  SEED_CHANNEL_COUNTERS,
  FLOW_COUNTERS,
} from '../../index.ts';
import { collect, intArg } from '../args.ts';
import { CliError } from '../errors.ts';
import { formatOffloadShare } from '../workload-report.ts';

interface ReplayOpts {
  json: boolean;
  trace?: string;
  profile: NicProfile;
  mss?: number;
  impair?: ReplayImpairments;
  port?: number[];
}

/** "loss=0.001,reorder=0.01,dup=0,seed=7": probabilities from 0 to 1, a 32-bit seed (default 1). */
export function impairArg(v: string): ReplayImpairments {
  const out: ReplayImpairments = { seed: 1 };
  for (const part of v.split(',')) {
    const m = /^\s*(loss|reorder|dup|seed)\s*=\s*([0-9.eE+-]+)\s*$/.exec(part);
    if (!m) throw new InvalidArgumentError('expected loss=P,reorder=P,dup=P,seed=N (any of them)');
    const n = Number(m[2]);
    if (m[1] === 'seed') {
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('seed must be an integer from 0 to 4294967295');
      out.seed = n;
    } else {
      if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${m[1]} must be a probability from 0 to 1`);
      if (m[1] === 'loss') out.loss = n;
      else if (m[1] === 'reorder') out.reorder = n;
      else out.duplicate = n;
    }
  }
  return out;
}

/** Trace lines, written in batches (bounded memory whatever the capture's size). */
class TraceFile {
  private fd: number;
  private buf = '';
  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new CliError(`cannot write trace ${path}: ${(e as Error).message}`);
    }
  }
  line = (s: string): void => {
    this.buf += `${s}\n`;
    if (this.buf.length >= 1 << 16) this.flush();
  };
  flush(): void {
    if (this.buf.length > 0) writeSync(this.fd, this.buf);
    this.buf = '';
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Files at least this big get a progress bar (on a terminal). */
const PROGRESS_MIN = 16 << 20;

function progressBar(src: string): { update(bytes: number): void; stop(): void } | undefined {
  if (src === '-' || !process.stderr.isTTY) return undefined;
  let size = 0;
  try {
    size = statSync(src).size;
  } catch {
    return undefined; // replayCapture names the problem
  }
  if (size < PROGRESS_MIN) return undefined;
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'replay [{bar}] {percentage}% | {value}/{total} MiB', barsize: 30, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.ceil(size / 2 ** 20), 0);
  return { update: (b) => bar.update(Math.floor(b / 2 ** 20)), stop: () => bar.stop() };
}

const COUNTER_NAMES = [...GLOBAL_COUNTERS, ...SEED_CHANNEL_COUNTERS, ...FLOW_COUNTERS].map((d) => d.name) as (keyof ReplayCounters)[];

function pduLine(p: { h2c: PduCounts; c2h: PduCounts }): string {
  const side = (c: PduCounts) =>
    Object.entries(c)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  return `PDUs host->controller: ${side(p.h2c)}; controller->host: ${side(p.c2h)}`;
}

function counterLines(c: ReplayCounters): string[] {
  return COUNTER_NAMES.map((n) => `    ${n}: ${c[n]}`);
}

function flowText(f: ReplayFlowResult): string[] {
  const nqn = f.subnqn === undefined ? '' : `, ${f.subnqn}`;
  const qid = f.qid < 0 ? 'queue id not captured' : f.qid === 0 ? 'admin queue' : `qid ${f.qid}`;
  const lines = [`flow ${f.id}: host ${f.host} -> controller ${f.controller}, ${qid}${nqn}`];
  lines.push(`  ${pduLine(f.pdus)}`);
  if (!f.offloaded) {
    lines.push(`  not offloaded (${f.qid === 0 ? 'the admin queue never is' : 'no completed I/O queue Connect in the capture'})`);
    return lines;
  }
  lines.push(`  READs ${f.reads}, ${f.eligibleReads} offloadable; ${formatOffloadShare(f.counters)}`);
  if (f.gapBytes > 0) lines.push(`  ${f.gapBytes} stream bytes missing from the capture (${f.missingBytes} cut by the snap length)`);
  lines.push(...counterLines(f.counters));
  return lines;
}

export function formatReplay(r: ReplayResult): string {
  const lines: string[] = [];
  for (const f of r.flows) lines.push(...flowText(f));
  const t = r.total;
  lines.push(
    `total: ${r.packets} packets, ${r.flows.length} NVMe/TCP connections (${t.offloadedFlows} offloaded I/O queues), READs ${t.reads}, ${t.eligibleReads} offloadable`,
    `  ${pduLine(t.pdus)}`,
    `  ${formatOffloadShare(t.counters)}`,
    ...counterLines(t.counters),
  );
  return `${lines.join('\n')}\n`;
}

async function runReplay(src: string, o: ReplayOpts): Promise<void> {
  const trace = o.trace === undefined ? undefined : new TraceFile(o.trace);
  const bar = progressBar(src);
  let r: ReplayResult;
  try {
    r = await replayCapture(src, {
      profile: o.profile,
      ...(o.mss !== undefined ? { mss: o.mss } : {}),
      ...(o.impair !== undefined ? { impair: o.impair } : {}),
      ...(o.port !== undefined ? { ports: o.port } : {}),
      ...(trace !== undefined ? { trace: trace.line } : {}),
      ...(bar !== undefined ? { onProgress: bar.update } : {}),
    });
  } finally {
    bar?.stop();
    trace?.close();
  }
  process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : formatReplay(r));
  if (r.snaplenCut > 0) {
    throw new CliError(`the capture's snap length cut ${r.snaplenCut} bytes of TCP payload (counted as not placed); capture with -s 0`);
  }
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('run the NIC offload model (ulp_ddp, mlx5e profile) on a pcap/pcapng capture of NVMe/TCP traffic')
    .argument('<file>', "capture file, or '-' for stdin (dumpcap -w - | nvmeotcp replay -)")
    .option('--json', 'print the result as JSON', false)
    .option('--trace <file>', 'write the placement trace (one JSON line per controller-to-host segment)')
    .addOption(new Option('--profile <name>', 'NIC behaviour').choices(NIC_PROFILES).default('mlx5'))
    .option('--mss <bytes>', 're-cut each controller-to-host stream into segments of this size', intArg(1, 65535))
    .option('--impair <spec>', 'impair the segments: loss=P,reorder=P,dup=P,seed=N', impairArg)
    .option('--port <port>', 'a controller port (repeatable; default 4420 and 8009)', collect(intArg(1, 65535)))
    .action((file: string, o: ReplayOpts) => runReplay(file, o));
}
