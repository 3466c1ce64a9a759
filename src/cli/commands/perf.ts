// `nvmeotcp perf`: a workload against one namespace of a target (fio /
// spdk_nvme_perf habits), with the host's receive offload on or off, then the
// results and the offload counters.
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  type BlockDevice,
  createSocketDevice,
  formatEthtool,
  type IoDone,
  type Namespace,
  NIC_PROFILES,
  type NicProfile,
  type NvmeController,
  type RecoveryStats,
  RW_MODES,
  type RwMode,
  type SocketDevice,
  type StatsServer,
  snapshotEndpoints,
  statsToJson,
  type WorkloadOptions,
  type WorkloadResult,
} from '../../index.ts';
import { type HostPort, intArg, onOffArg, parseHostPort, positiveNumberArg, sizeArg } from '../args.ts';
import { addConnectionOptions, type ConnectionFlags, connectionFlags, targetLabel } from '../connection.ts';
import { CliError } from '../errors.ts';
import { connectController, resolveSubnqn } from '../session.ts';
import { serveStats } from '../stats-server.ts';
import {
  type CpuReport,
  cpuReport,
  formatOffloadShare,
  formatRecovery,
  formatSummary,
  type OffloadShare,
  offloadShare,
  runWithProgress,
} from '../workload-report.ts';

interface PerfOpts {
  rw: RwMode;
  bs: number;
  iodepth: number;
  runtime?: number;
  size?: number;
  rwmixread: number;
  verify: boolean;
  offload: boolean;
  nic: NicProfile;
  hipri: boolean;
  nsid?: number;
  json: boolean;
  statsListen?: HostPort;
}

function nicArg(v: string): NicProfile {
  if (!(NIC_PROFILES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${NIC_PROFILES.join(', ')}`);
  return v as NicProfile;
}

function rwArg(v: string): RwMode {
  if (!(RW_MODES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${RW_MODES.join(', ')}`);
  return v as RwMode;
}

/**
 * The namespace as the workload sees it, with a stop switch: after SIGINT/SIGTERM
 * no new I/O starts (what is in flight completes), so the workload ends at once
 * and perf still prints the results so far and the counters (fio's habit).
 */
class StoppableNamespace implements BlockDevice {
  stoppedBy: NodeJS.Signals | undefined;
  readonly lbaSize: number;
  readonly nlba: number;
  constructor(private readonly ns: Namespace) {
    this.lbaSize = ns.lbaSize;
    this.nlba = ns.nlba;
  }
  get stopMessage(): string {
    return `interrupted by ${this.stoppedBy}`;
  }
  readInto(slba: number, buf: Buffer): Promise<unknown> {
    return this.stoppedBy ? Promise.reject(new Error(this.stopMessage)) : this.ns.readInto(slba, buf);
  }
  write(slba: number, buf: Buffer): Promise<unknown> {
    return this.stoppedBy ? Promise.reject(new Error(this.stopMessage)) : this.ns.write(slba, buf);
  }
  // The callback forms the workload prefers; a stopped run refuses new I/O by throwing.
  submitRead<A>(slba: number, buf: Buffer, done: IoDone<A>, arg: A): void {
    if (this.stoppedBy) throw new Error(this.stopMessage);
    this.ns.submitRead(slba, buf, done, arg);
  }
  submitWrite<A>(slba: number, buf: Buffer, done: IoDone<A>, arg: A): void {
    if (this.stoppedBy) throw new Error(this.stopMessage);
    this.ns.submitWrite(slba, buf, done, arg);
  }
}

/** How long perf waits for the controller's shutdown at the end before dropping its queues. */
const DISCONNECT_BOUND_MS = 2000;

/** Exit codes of a run stopped by a signal (128 + signal number, as shells report). */
const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

interface PerfReport {
  workload: Record<string, unknown>;
  results: WorkloadResult;
  /** This (host) process's CPU over the run. */
  cpu: CpuReport;
  offload: Record<string, unknown> | null;
  /** rx_nvmeotcp_packets / rx_packets and rx_nvmeotcp_bytes / rx_bytes (null without offload). */
  offloadShare: OffloadShare | null;
  /** Error recovery over the run: resets, reconnects, I/O resent and retried, time reconnecting. */
  recovery: RecoveryStats;
}

function workloadDescription(o: PerfOpts, f: ConnectionFlags, subnqn: string, nsid: number, ctrl: NvmeController): Record<string, unknown> {
  const w: Record<string, unknown> = {
    target: targetLabel(f),
    subnqn,
    nsid,
    rw: o.rw,
    bs: o.bs,
    iodepth: o.iodepth,
  };
  if (o.runtime !== undefined) w.runtime = o.runtime;
  if (o.size !== undefined) w.size = o.size;
  if (o.rw === 'rw' || o.rw === 'randrw') w.rwmixread = o.rwmixread;
  Object.assign(w, {
    verify: o.verify,
    offload: o.offload,
    ...(o.offload ? { nic: o.nic } : {}),
    hipri: o.hipri,
    ioQueues: ctrl.ioQueueCount,
    queueSize: f.queueSize,
    hdrDigest: f.hdrDigest,
    dataDigest: f.dataDigest,
  });
  return w;
}

async function runPerf(o: PerfOpts, f: ConnectionFlags): Promise<number> {
  const subnqn = await resolveSubnqn(f);
  const device: SocketDevice | undefined = o.offload ? createSocketDevice({ profile: o.nic }) : undefined;
  const ctrl = await connectController(f, subnqn, device, { poll: o.hipri });
  let stats: StatsServer | undefined;
  let result: WorkloadResult;
  let cpu: CpuReport;
  let workload: Record<string, unknown>;
  let dev: StoppableNamespace | undefined;
  let recovery: RecoveryStats | undefined;
  const stop = (sig: NodeJS.Signals) => {
    if (dev) dev.stoppedBy = sig;
    // A second signal ends the process the default way.
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const nsid = o.nsid ?? ctrl.namespaces[0]?.nsid;
    if (nsid === undefined) throw new CliError(`${subnqn} has no namespace`);
    dev = new StoppableNamespace(ctrl.namespace(nsid));
    if (o.bs % dev.lbaSize !== 0) throw new CliError(`--bs ${o.bs} is not a multiple of namespace ${nsid}'s LBA size ${dev.lbaSize}`);
    workload = workloadDescription(o, f, subnqn, nsid, ctrl);
    if (o.statsListen && device) {
      stats = await serveStats(o.statsListen, snapshotEndpoints(device), (l: string) => process.stderr.write(`${l}\n`));
    }
    if (!o.json) {
      process.stdout.write(
        `perf: ${o.rw} bs=${o.bs} iodepth=${o.iodepth} on ${subnqn} nsid ${nsid} at ${targetLabel(f)}, ` +
          `${ctrl.ioQueueCount} I/O queue(s), offload ${o.offload ? 'on' : 'off'}\n`,
      );
    }
    const wo: WorkloadOptions = { rw: o.rw, bs: o.bs, iodepth: o.iodepth, rwmixread: o.rwmixread, verify: o.verify };
    if (o.runtime !== undefined) wo.runtimeMs = o.runtime * 1000;
    if (o.size !== undefined) wo.totalBytes = o.size;
    try {
      result = await runWithProgress(dev, wo, 'perf', o.json);
      cpu = cpuReport(result);
    } catch (e) {
      // Bad block size or region for this namespace: a usage error, not a crash.
      if (e instanceof RangeError) throw new CliError(e.message);
      throw e;
    }
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await stats?.close();
    recovery = ctrl.recovery;
    // Counters are read after the disconnect: every queue's sk_add has its sk_del. Bounded:
    // perf ends however the target behaves (I/O abandoned at the deadline is dropped with it).
    await ctrl.disconnect({ timeoutMs: DISCONNECT_BOUND_MS });
  }
  const stoppedBy = dev.stoppedBy;
  if (stoppedBy !== undefined && result.error === dev.stopMessage) {
    delete result.error;
    workload.interrupted = stoppedBy;
  }
  const snap = device?.snapshot();
  if (o.json) {
    const report: PerfReport = {
      workload,
      results: result,
      cpu,
      offload: snap ? statsToJson(snap) : null,
      offloadShare: snap ? offloadShare(snap.sum) : null,
      recovery: recovery!,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(formatSummary(result, cpu));
    process.stdout.write(formatRecovery(recovery!, result));
    process.stdout.write(
      snap
        ? `\nOffload statistics:\n${formatEthtool(snap)}Offload: ${formatOffloadShare(snap.sum)} received on the offloaded queues\n`
        : '\nOffload: off (software receive path)\n',
    );
  }
  if (result.error !== undefined) {
    process.stderr.write(`nvmeotcp perf: ${result.error}\n`);
    return 1;
  }
  if (stoppedBy !== undefined) {
    process.stderr.write(`nvmeotcp perf: interrupted by ${stoppedBy}\n`);
    return SIGNAL_EXIT[stoppedBy] ?? 1;
  }
  return 0;
}

export function registerPerf(program: Command): void {
  const cmd = program
    .command('perf')
    .description('run a workload against a namespace (fio / spdk_nvme_perf habits) and show the offload counters')
    .addOption(new Option('--rw <mode>', `I/O pattern: ${RW_MODES.join(', ')}`).default('randread').argParser(rwArg))
    .option('--bs <size>', 'block size (4k, 128k...)', sizeArg, 4096)
    .option('--iodepth <n>', 'requests in flight', intArg(1, 4096), 16)
    .option('--runtime <seconds>', 'stop after this long', positiveNumberArg)
    .option('--size <bytes>', 'stop after this many bytes of I/O (4g, 100m...)', sizeArg)
    .option('--rwmixread <pct>', 'percentage of reads for rw/randrw', intArg(0, 100), 50)
    .option('--verify', 'tag every written block and check every read (read modes write the region first)', false)
    .addOption(new Option('--offload <on|off>', 'host receive offload (the socket DDP device)').default(true, 'on').argParser(onOffArg))
    .addOption(
      new Option('--nic <profile>', `how the modelled NIC places and resyncs: ${NIC_PROFILES.join(', ')}`)
        .default('mlx5')
        .argParser(nicArg),
    )
    .option('--hipri', 'poll for completions (busy-poll the event loop while I/O is in flight: lower latency, a core at 100%)', false)
    .option('--nsid <n>', 'namespace ID (default: the first active one)', intArg(1, 0xfffffffe))
    .option('--json', 'print one JSON object {workload, results, offload}', false)
    .option('--stats-listen <addr:port>', 'serve /metrics and /stats of the offload device while running', parseHostPort);
  addConnectionOptions(cmd, { nqn: 'optional', ioQueues: true, recovery: true });
  cmd
    .addHelpText(
      'after',
      `
Without --runtime or --size the workload makes one pass over the namespace. Progress
shows live MB/s and IOPS (a bar on a terminal, one line per second otherwise). The
summary gives IOPS, MB/s and latency percentiles in µs, then the offload counters
(ethtool -S style) and the share of packets and bytes offloaded (the ratios blktests
nvme/055 judges). READs of at least the device's io_threshold (32 KiB) are placed
directly in the I/O buffers; smaller ones take the software path. The device counts
packets as an Ethernet link (MSS 1448) would carry them; --nic mlx5 (default) places
at most one PDU per packet, --nic generic any number. Exit code 1 if an
I/O or a verification failed. SIGINT (Ctrl-C) or SIGTERM stops the workload: I/O in
flight completes, then the results so far and the counters are printed (exit code
130 or 143; a second signal ends perf at once).

Examples:
  nvmeotcp perf -a 127.0.0.1 -s 4420 --rw randread --bs 128k --iodepth 32 --runtime 10
  nvmeotcp perf -s 4420 --rw write --bs 4k --size 64m --verify --json
  nvmeotcp perf -s 4420 --offload off -G --rw read --bs 128k --runtime 5
  nvmeotcp perf -s 4420 --rw randread --bs 4k --iodepth 64 --hipri --runtime 10`,
    )
    .action(async (opts: PerfOpts & Record<string, unknown>) => {
      if (opts.runtime !== undefined && opts.size !== undefined) throw new CliError('give --runtime or --size, not both');
      if (opts.statsListen && !opts.offload) throw new CliError('--stats-listen serves the offload counters: it needs --offload on');
      process.exitCode = await runPerf(opts, connectionFlags(opts));
    });
}
